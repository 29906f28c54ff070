//! Reference controllers: TASRL's safe gradient flow (`docs/spec/ENVIRONMENTS.md` §7.13) and the zero
//! controller.
//!
//! ```text
//! u_t = clip( −(C q_{t−1} + v_{t−1}² − 1),  α(q̲ − q_{t−1}),  α(q̄ − q_{t−1}) )
//! ```
//!
//! elementwise, with the plant's limits and C = diag(0.105, 0.075, 0.09). With α ≤ 1 the
//! set-point never leaves the box, so the plant's saturation never acts.

use std::convert::Infallible;

use serde::{Deserialize, Serialize};

use super::metrics::VoltageController;
use super::network::{COST_WEIGHTS, N_CTRL};
use super::VoltageEnv;
use crate::envs::{EnvError, InputError};

/// Default safe-flow step α at evaluation (TASRL trains with 0.2).
pub const DEFAULT_ALPHA: f64 = 0.5;

/// The safe gradient-flow controller.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct GradientFlow {
    alpha: f64,
}

impl Default for GradientFlow {
    fn default() -> Self {
        Self {
            alpha: DEFAULT_ALPHA,
        }
    }
}

impl GradientFlow {
    /// A controller with step `alpha` ∈ (0, 1] (α > 1 could leave the box).
    pub fn new(alpha: f64) -> Result<Self, EnvError> {
        if !(alpha.is_finite() && alpha > 0.0 && alpha <= 1.0) {
            return Err(EnvError::InvalidState(InputError::OutOfRange {
                what: "gradient-flow step".into(),
                expected: "in (0, 1]",
                value: alpha,
            }));
        }
        Ok(Self { alpha })
    }

    /// The step α.
    pub fn alpha(&self) -> f64 {
        self.alpha
    }

    /// The increment for set-point `q`, measured magnitudes `v` and limits [q_min, q_max].
    pub fn increment(
        &self,
        q: &[f64; N_CTRL],
        v: &[f64; N_CTRL],
        q_min: &[f64; N_CTRL],
        q_max: &[f64; N_CTRL],
    ) -> [f64; N_CTRL] {
        std::array::from_fn(|i| {
            let z = -(COST_WEIGHTS[i] * q[i] + v[i] * v[i] - 1.0);
            let lo = self.alpha * (q_min[i] - q[i]);
            let hi = self.alpha * (q_max[i] - q[i]);
            z.max(lo).min(hi)
        })
    }
}

impl VoltageController for GradientFlow {
    type Error = Infallible;

    fn reset(&mut self, _env: &VoltageEnv) -> Result<(), Infallible> {
        Ok(())
    }

    fn act(&mut self, env: &VoltageEnv) -> Result<[f64; N_CTRL], Infallible> {
        Ok(self.increment(&env.q(), &env.v(), &env.q_min(), &env.q_max()))
    }
}

/// The controller that never moves the set-points (u = 0).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZeroController;

impl VoltageController for ZeroController {
    type Error = Infallible;

    fn reset(&mut self, _env: &VoltageEnv) -> Result<(), Infallible> {
        Ok(())
    }

    fn act(&mut self, _env: &VoltageEnv) -> Result<[f64; N_CTRL], Infallible> {
        Ok([0.0; N_CTRL])
    }
}
