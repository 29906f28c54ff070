//! The trained actors as a deterministic [`VoltageController`] for the Table-2 evaluation
//! (`docs/spec/ALGORITHMS.md` §12: α = 0.5, the plant's limits, dead-band offset 0.005).

use std::convert::Infallible;

use super::monotone::{BusInput, ExecutionRule, MonotoneLayer};
use super::DdpgError;
use crate::envs::voltage::network::COST_WEIGHTS;
use crate::envs::voltage::{VoltageController, VoltageEnv, N_CTRL};

/// Three monotone actors (buses 0, 1, 2) with one execution rule and step α.
#[derive(Clone, Debug, PartialEq)]
pub struct DdpgController {
    rule: ExecutionRule,
    actors: Vec<MonotoneLayer>,
    alpha: f64,
}

impl DdpgController {
    /// A controller from `N_CTRL` actors (their ξ is projected here, as a forward pass does)
    /// and α ∈ (0, 1].
    pub fn new(
        rule: ExecutionRule,
        mut actors: Vec<MonotoneLayer>,
        alpha: f64,
    ) -> Result<Self, DdpgError> {
        if actors.len() != N_CTRL {
            return Err(DdpgError::Shape(format!(
                "{} actors, expected {N_CTRL}",
                actors.len()
            )));
        }
        if !(alpha.is_finite() && alpha > 0.0 && alpha <= 1.0) {
            return Err(DdpgError::Config(format!(
                "α must be in (0, 1], got {alpha}"
            )));
        }
        for a in &mut actors {
            if a.is_empty() || a.xi.len() != a.rho.len() {
                return Err(DdpgError::Shape("actor ξ and ρ lengths differ".into()));
            }
            a.normalise()?;
        }
        Ok(Self {
            rule,
            actors,
            alpha,
        })
    }

    /// The increments for voltages `v`, set-points `q` and limits [q_min, q_max].
    pub fn increment(
        &self,
        v: &[f64; N_CTRL],
        q: &[f64; N_CTRL],
        q_min: &[f64; N_CTRL],
        q_max: &[f64; N_CTRL],
    ) -> [f64; N_CTRL] {
        std::array::from_fn(|i| {
            let x = BusInput {
                v: v[i],
                q: q[i],
                q_min: q_min[i],
                q_max: q_max[i],
                c: COST_WEIGHTS[i],
                alpha: self.alpha,
            };
            self.actors[i].increment(self.rule, &x)
        })
    }
}

impl VoltageController for DdpgController {
    type Error = Infallible;

    fn reset(&mut self, _env: &VoltageEnv) -> Result<(), Infallible> {
        Ok(())
    }

    fn act(&mut self, env: &VoltageEnv) -> Result<[f64; N_CTRL], Infallible> {
        Ok(self.increment(&env.v(), &env.q(), &env.q_min(), &env.q_max()))
    }
}
