//! Adam (PyTorch defaults) and the soft target update of DDPG.
//!
//! ```text
//! Adam   t ← t + 1,  m ← β₁m + (1−β₁)g,  v ← β₂v + (1−β₂)g²,
//!        θ ← θ − lr · m̂ / (√v̂ + ε),   m̂ = m/(1−β₁ᵗ),  v̂ = v/(1−β₂ᵗ)
//!        (β₁, β₂, ε) = (0.9, 0.999, 10⁻⁸)
//! soft   θ′ ← τ θ + (1 − τ) θ′
//! ```

use serde::{Deserialize, Serialize};

/// Adam's state for one parameter vector.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Adam {
    /// Learning rate.
    pub lr: f64,
    /// First-moment decay β₁.
    pub beta1: f64,
    /// Second-moment decay β₂.
    pub beta2: f64,
    /// ε of the denominator.
    pub eps: f64,
    /// First moment m.
    pub m: Vec<f64>,
    /// Second moment v.
    pub v: Vec<f64>,
    /// Steps taken t.
    pub t: u64,
}

impl Adam {
    /// Adam with PyTorch's defaults for `n` parameters.
    pub fn new(lr: f64, n: usize) -> Self {
        Self {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            m: vec![0.0; n],
            v: vec![0.0; n],
            t: 0,
        }
    }

    /// One step θ ← θ − lr · m̂/(√v̂ + ε) along gradient `g` (same length as θ).
    pub fn step(&mut self, theta: &mut [f64], g: &[f64]) {
        self.t += 1;
        let t = self.t as i32;
        let bc1 = 1.0 - self.beta1.powi(t);
        let bc2 = 1.0 - self.beta2.powi(t);
        for i in 0..theta.len() {
            self.m[i] = self.beta1 * self.m[i] + (1.0 - self.beta1) * g[i];
            self.v[i] = self.beta2 * self.v[i] + (1.0 - self.beta2) * g[i] * g[i];
            let m_hat = self.m[i] / bc1;
            let v_hat = self.v[i] / bc2;
            theta[i] -= self.lr * m_hat / (v_hat.sqrt() + self.eps);
        }
    }
}

/// Soft target update θ′ ← τ θ + (1 − τ) θ′.
pub fn soft_update(target: &mut [f64], online: &[f64], tau: f64) {
    for (t, o) in target.iter_mut().zip(online) {
        *t = tau * o + (1.0 - tau) * *t;
    }
}
