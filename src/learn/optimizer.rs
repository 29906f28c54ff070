//! First-order updates of θ: plain gradient descent (the paper) or Adam, with optional
//! gradient-norm clipping.
//!
//! ```text
//! clip:  ĝ ← ĝ · min(1, c/‖ĝ‖)
//! SGD:   θ ← θ − η ĝ
//! Adam:  m ← β₁m + (1−β₁)ĝ,  v ← β₂v + (1−β₂)ĝ²,  θ ← θ − η m̂/(√v̂ + ε),
//!        m̂ = m/(1−β₁ᵗ), v̂ = v/(1−β₂ᵗ)
//! ```

use serde::{Deserialize, Serialize};

use super::config::OptimizerConfig;

/// The optimiser's state (saved in checkpoints, exactly).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct OptimizerState {
    /// Adam first moment m (empty for SGD).
    pub m: Vec<f64>,
    /// Adam second moment v (empty for SGD).
    pub v: Vec<f64>,
    /// Number of updates taken.
    pub t: u64,
}

/// ‖g‖₂.
pub fn norm(g: &[f64]) -> f64 {
    g.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// Scale `g` down to norm `max` if it is longer; returns true if it was clipped.
pub fn clip(g: &mut [f64], max: f64) -> bool {
    let n = norm(g);
    if n > max && n.is_finite() {
        let s = max / n;
        g.iter_mut().for_each(|x| *x *= s);
        true
    } else {
        false
    }
}

/// One update θ ← θ − step(ĝ) of rule `config` with step size `eta`.
pub fn update(
    config: &OptimizerConfig,
    state: &mut OptimizerState,
    eta: f64,
    theta: &mut [f64],
    g: &[f64],
) {
    state.t += 1;
    match *config {
        OptimizerConfig::Sgd => {
            for (th, gi) in theta.iter_mut().zip(g) {
                *th -= eta * gi;
            }
        }
        OptimizerConfig::Adam { beta1, beta2, eps } => {
            if state.m.len() != theta.len() {
                state.m = vec![0.0; theta.len()];
                state.v = vec![0.0; theta.len()];
            }
            let t = i32::try_from(state.t).unwrap_or(i32::MAX);
            let c1 = 1.0 - beta1.powi(t);
            let c2 = 1.0 - beta2.powi(t);
            for i in 0..theta.len() {
                state.m[i] = beta1 * state.m[i] + (1.0 - beta1) * g[i];
                state.v[i] = beta2 * state.v[i] + (1.0 - beta2) * g[i] * g[i];
                let mh = state.m[i] / c1;
                let vh = state.v[i] / c2;
                theta[i] -= eta * mh / (vh.sqrt() + eps);
            }
        }
    }
}
