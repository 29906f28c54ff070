//! The valid set of the RLMPC parameters: box bounds on every θ entry and a per-update trust
//! region, applied after each update (`docs/spec/ALGORITHMS.md` §11.2–11.3 leave Π to the
//! implementation; the RL-MPC tools — mpcrl's learnable-parameter bounds and
//! `max_percentage_update`, MPC4RL's constrained updates — keep the MPC parameters in such a set).
//!
//! ```text
//! trust region   θ'_i ← clamp(θ'_i, θ_i − ρ|θ_i|, θ_i + ρ|θ_i|)        (ρ = max_relative_update)
//! box            θ'_i ← clamp(θ'_i, lower_i, upper_i)
//! ```
//!
//! **Bounds per task [PROJECT DEFAULT]** ([`ThetaConstraints::for_task`]):
//!
//! | task | cost weights θ_c, θ_H | physical θ_f | ρ |
//! |---|---|---|---|
//! | cart-pole, arm, quadrotor, rocket | [0.01, 100] (positive: weight = θ², so θ > 0 is the unique representative; the oracle weights are ≤ 14.2) | [0.05, 5] (the θ(0) floor; 5 ≥ 3× every θ_f(0) ≤ 1.45) | 0.1 |
//! | voltage | θ_v ∈ [0.01, 100] | A ∈ [−1, 1] (10× the largest true entry 0.098) | none |
//!
//! On the voltage task the bounds never bind in the published runs and there is no trust
//! region, so Table 2 is unchanged; on the nonlinear tasks the unconstrained TD steps
//! (‖mean δ∇Q‖ ~ 1e4) drove θ out of the region where the MPC can be solved and the runs
//! aborted.

use serde::{Deserialize, Serialize};

use crate::learn::config::Task;
use crate::learn::LearnError;
use crate::model::tasks::init::THETA_F_FLOOR;

/// Lower bound of every cost weight θ_c, θ_H (and the voltage θ_v) **[PROJECT DEFAULT]**.
pub const WEIGHT_MIN: f64 = 0.01;
/// Upper bound of every cost weight **[PROJECT DEFAULT]**.
pub const WEIGHT_MAX: f64 = 100.0;
/// Upper bound of every physical parameter θ_f of the nonlinear tasks **[PROJECT DEFAULT]**.
pub const PHYSICAL_MAX: f64 = 5.0;
/// Largest relative change of one θ entry in one update on the nonlinear tasks
/// **[PROJECT DEFAULT]**.
pub const MAX_RELATIVE_UPDATE: f64 = 0.1;

/// Box bounds and trust region of the RLMPC parameters (module docs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThetaConstraints {
    /// Lower bound of each θ entry (length d).
    pub lower: Vec<f64>,
    /// Upper bound of each θ entry (length d, ≥ `lower`).
    pub upper: Vec<f64>,
    /// Trust region ρ > 0: one update changes entry i by at most ρ·|θ_i| (None: no limit).
    pub max_relative_update: Option<f64>,
}

impl ThetaConstraints {
    /// The project defaults of `task` (module docs).
    ///
    /// ```
    /// use diffop::learn::rlmpc::ThetaConstraints;
    /// use diffop::learn::Task;
    /// let c = ThetaConstraints::for_task(Task::Cartpole);
    /// assert_eq!(c.lower.len(), 11);
    /// assert_eq!((c.lower[0], c.upper[0], c.lower[8], c.upper[8]), (0.01, 100.0, 0.05, 5.0));
    /// ```
    pub fn for_task(task: Task) -> Self {
        match task.nonlinear() {
            Some(t) => {
                let (n, _) = t.nm();
                let p = t.phi_true().len();
                let mut lower = vec![WEIGHT_MIN; 2 * n];
                let mut upper = vec![WEIGHT_MAX; 2 * n];
                lower.extend(std::iter::repeat_n(THETA_F_FLOOR, p));
                upper.extend(std::iter::repeat_n(PHYSICAL_MAX, p));
                Self {
                    lower,
                    upper,
                    max_relative_update: Some(MAX_RELATIVE_UPDATE),
                }
            }
            None => {
                let mut lower = vec![WEIGHT_MIN; 3];
                let mut upper = vec![WEIGHT_MAX; 3];
                lower.extend([-1.0; 9]);
                upper.extend([1.0; 9]);
                Self {
                    lower,
                    upper,
                    max_relative_update: None,
                }
            }
        }
    }

    /// Check the settings against the parameter dimension d.
    pub fn validate(&self, d: usize) -> Result<(), LearnError> {
        let bad = |msg: String| Err(LearnError::Config(msg));
        if self.lower.len() != d || self.upper.len() != d {
            return bad(format!(
                "theta bounds have {} lower and {} upper entries, the policy has d = {d}",
                self.lower.len(),
                self.upper.len()
            ));
        }
        for (i, (&lo, &hi)) in self.lower.iter().zip(&self.upper).enumerate() {
            if !(lo.is_finite() && hi.is_finite() && lo <= hi) {
                return bad(format!(
                    "theta bound {i} must be finite with lower ≤ upper, got [{lo}, {hi}]"
                ));
            }
        }
        if let Some(r) = self.max_relative_update {
            if !(r.is_finite() && r > 0.0) {
                return bad(format!(
                    "max_relative_update must be finite and > 0, got {r}"
                ));
            }
        }
        Ok(())
    }

    /// Project the proposed `next` onto the valid set around the current `prev` (trust region,
    /// then box). Returns the number of entries that were changed. A non-finite proposal is an
    /// error (never silently replaced); `prev` and `next` must have length d.
    pub fn apply(&self, prev: &[f64], next: &mut [f64]) -> Result<usize, LearnError> {
        if prev.len() != self.lower.len() || next.len() != self.lower.len() {
            return Err(LearnError::Config(format!(
                "θ has {} / {} entries, the bounds have {}",
                prev.len(),
                next.len(),
                self.lower.len()
            )));
        }
        let mut changed = 0;
        for (i, v) in next.iter_mut().enumerate() {
            if !v.is_finite() {
                return Err(LearnError::Config(format!(
                    "proposed θ entry {i} is not finite ({v})"
                )));
            }
            let mut w = *v;
            if let Some(r) = self.max_relative_update {
                let radius = r * prev[i].abs();
                w = w.clamp(prev[i] - radius, prev[i] + radius);
            }
            w = w.clamp(self.lower[i], self.upper[i]);
            if w != *v {
                changed += 1;
                *v = w;
            }
        }
        Ok(changed)
    }
}
