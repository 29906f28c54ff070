//! Solver settings (serde, validated once).

use serde::{Deserialize, Serialize};

/// Settings of the interior-point solver and of the active-set polish (`docs/spec/ALGORITHMS.md` §3).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SolverSettings {
    /// Convergence tolerance of the interior-point phase on the scaled KKT residual.
    pub tol: f64,
    /// Iteration limit of the interior-point phase.
    pub max_iter: usize,
    /// "Acceptable" level (as in IPOPT): when the scaled residuals stay below it for
    /// `acceptable_iter` consecutive iterations without reaching `tol` (a stalled line search
    /// at the round-off floor), or when the line search fails at an acceptable iterate, the
    /// interior-point phase stops and the polish finishes the solve. If that polish fails,
    /// the solve reports `MaxIterations`.
    pub acceptable_tol: f64,
    /// Consecutive acceptable iterations before the early hand-over to the polish (0: never).
    pub acceptable_iter: usize,
    /// Run the active-set Newton polish after convergence (required for exact derivatives).
    pub polish: bool,
    /// Target scaled KKT residual of the polish.
    pub polish_tol: f64,
    /// A polish that stalls below this residual is accepted (round-off floor); above it the
    /// solve has failed.
    pub polish_accept_tol: f64,
    /// Newton iterations per polish round.
    pub polish_max_iter: usize,
    /// Rounds of active-set correction (sign check, §3 step 3).
    pub max_active_rounds: usize,
    /// Weak-activity threshold τ_w (relative, §3 step 4).
    pub weak_tol: f64,
    /// Linear–quadratic models with inequalities (`OcpModel::is_linear_quadratic`), warm
    /// starts: start from the previous active set (shifted for [`super::WarmStart::Shift`])
    /// and correct it with primal–dual active-set rounds before falling back to the
    /// interior-point method. Requires `polish`. PROJECT DEFAULT: on (voltage H = 30 closed
    /// loop: median solve 582 → 133 µs).
    pub active_set_start: bool,
    /// Rounds of the active-set start before the fallback.
    pub active_set_rounds: usize,
    /// Factorize the active-set KKT system (polish and sensitivities) by the stage-wise
    /// equality-constrained Riccati recursion ([`super::eq_riccati`]): O(H) whatever the
    /// number of active rows. Off, or when the rows are degenerate, the Schur complement over
    /// the active rows is used (one Riccati solve per row and a dense LU: O(k³) for k rows).
    /// PROJECT DEFAULT: on.
    pub constrained_riccati: bool,
    /// Problems without inequalities: when the interior-point phase is converging
    /// quadratically (last step from a scaled residual ≤ 1e-4), evaluate its last iterate
    /// without Hessians and take the polish's first step on the previous factorization (a
    /// chord step; its error ≈ residual × last step, checked before it is taken). Saves one
    /// Hessian evaluation and one factorization per warm-started solve; the returned point
    /// and the kept factorization are exact as always. PROJECT DEFAULT: on (closed loop:
    /// quadrotor −10 %, cart-pole −13 %, arm unchanged).
    pub polish_chord_step: bool,
    /// Evaluate the derivative blocks of models that opt in
    /// ([`OcpModel::symbolic_key`](crate::model::OcpModel::symbolic_key): the built-in
    /// nonlinear tasks) with compiled derivative programs ([`crate::model::symbolic`])
    /// instead of the tape. Same derivatives up to rounding. PROJECT DEFAULT: on.
    pub symbolic_derivatives: bool,
    /// When a polished solve ends without active rows, leave the KKT factorization at the
    /// solution (one Hessian evaluation and one Riccati factorization) to the first
    /// sensitivity call ([`super::Workspace::ensure_kkt`]): solves that are only acted on
    /// (evaluation rollouts, demonstrations, receding-horizon control) skip it, a solve
    /// followed by a VJP costs the same. A singular reduced Hessian at the solution then
    /// shows up as a sensitivity error instead of a `NumericalError` status. PROJECT
    /// DEFAULT: on.
    pub defer_kkt_factorization: bool,
    /// Initial barrier parameter used to initialise the inequality multipliers.
    pub mu_init: f64,
    /// Smallest initial slack.
    pub slack_min: f64,
    /// First Hessian regularisation tried when the inertia test fails.
    pub reg_init: f64,
    /// Largest Hessian regularisation before giving up.
    pub reg_max: f64,
    /// Armijo constant of the merit line search.
    pub armijo: f64,
    /// Maximum number of step halvings in the line search.
    pub max_backtracks: usize,
}

impl Default for SolverSettings {
    fn default() -> Self {
        Self {
            tol: 1e-8,
            max_iter: 200,
            acceptable_tol: 1e-6,
            acceptable_iter: 10,
            polish: true,
            polish_tol: 1e-12,
            polish_accept_tol: 1e-10,
            polish_max_iter: 8,
            max_active_rounds: 30,
            weak_tol: 1e-9,
            active_set_start: true,
            active_set_rounds: 6,
            constrained_riccati: true,
            polish_chord_step: true,
            symbolic_derivatives: true,
            defer_kkt_factorization: true,
            mu_init: 0.1,
            slack_min: 1e-2,
            reg_init: 1e-8,
            reg_max: 1e12,
            armijo: 1e-4,
            max_backtracks: 40,
        }
    }
}

impl SolverSettings {
    /// Check every field; returns a message naming the first bad one.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let pos = |field: &'static str, value: f64| {
            if value.is_finite() && value > 0.0 {
                Ok(())
            } else {
                Err(SettingsError::NotPositive { field, value })
            }
        };
        pos("tol", self.tol)?;
        pos("polish_tol", self.polish_tol)?;
        pos("polish_accept_tol", self.polish_accept_tol)?;
        pos("weak_tol", self.weak_tol)?;
        pos("mu_init", self.mu_init)?;
        pos("slack_min", self.slack_min)?;
        pos("reg_init", self.reg_init)?;
        pos("reg_max", self.reg_max)?;
        pos("armijo", self.armijo)?;
        if self.armijo >= 0.5 {
            return Err(SettingsError::NotBelow {
                field: "armijo",
                value: self.armijo,
                bound: 0.5,
            });
        }
        if self.max_iter == 0 {
            return Err(SettingsError::ZeroIterations);
        }
        pos("acceptable_tol", self.acceptable_tol)?;
        if self.acceptable_tol < self.tol {
            return Err(SettingsError::BelowOther {
                field: "acceptable_tol",
                value: self.acceptable_tol,
                other: "tol",
                bound: self.tol,
            });
        }
        if self.polish_accept_tol < self.polish_tol {
            return Err(SettingsError::BelowOther {
                field: "polish_accept_tol",
                value: self.polish_accept_tol,
                other: "polish_tol",
                bound: self.polish_tol,
            });
        }
        Ok(())
    }
}

/// An invalid [`SolverSettings`] field: which one, its value and the rule it breaks.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum SettingsError {
    /// A tolerance, step or regularization that must be finite and positive.
    #[error("solver setting `{field}` must be finite and > 0, got {value}")]
    NotPositive {
        /// The setting.
        field: &'static str,
        /// Its value.
        value: f64,
    },
    /// A setting at or above its upper limit.
    #[error("solver setting `{field}` must be < {bound}, got {value}")]
    NotBelow {
        /// The setting.
        field: &'static str,
        /// Its value.
        value: f64,
        /// The (exclusive) upper limit.
        bound: f64,
    },
    /// `max_iter` is zero.
    #[error("solver setting `max_iter` must be ≥ 1")]
    ZeroIterations,
    /// A setting below another one it must not undercut.
    #[error("`{field}` = {value} must be ≥ `{other}` = {bound}")]
    BelowOther {
        /// The setting.
        field: &'static str,
        /// Its value.
        value: f64,
        /// The setting it is compared with.
        other: &'static str,
        /// That setting's value.
        bound: f64,
    },
}
