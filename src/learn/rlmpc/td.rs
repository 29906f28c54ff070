//! RLMPC-TD: episode-batch semi-gradient Q-learning with the MPC as function approximator
//! (`docs/spec/ALGORITHMS.md` §11.2).
//!
//! ```text
//! δ_t = c(s_t, a_t) + γ V_θ(s_{t+1}) − Q_θ(s_t, a_t)      (last transition: V_θ(s_T) → h(s_T), or 0)
//! d_TD = mean_t δ_t ∇_θQ_θ(s_t, a_t) = −∇_θ ½ mean_t δ_t²   (target frozen)
//! θ ← Π(θ + α_TD d_TD)
//! ```
//!
//! Transitions whose Q solve failed carry no Q value and are left out of the mean.

use nalgebra::DVector;

use super::episode::Episode;

/// The TD error δ = c + γ·target − Q of one transition (`target` = V_θ(s_{t+1}), or the
/// terminal value on the last transition).
pub fn td_error(cost: f64, gamma: f64, target: f64, q: f64) -> f64 {
    cost + gamma * target - q
}

/// The semi-gradient direction d_TD = mean_t δ_t ∇_θQ_t over every transition of `episodes`
/// with a Q value, in episode then time order, and the number of transitions used. `d` is the
/// parameter count (a zero direction when no transition is usable).
pub fn td_direction(episodes: &[Episode], gamma: f64, d: usize) -> (DVector<f64>, usize) {
    let mut g = DVector::zeros(d);
    let mut used = 0usize;
    for tr in episodes.iter().flat_map(|e| e.transitions.iter()) {
        if let Some(q) = &tr.q {
            let delta = td_error(tr.cost, gamma, tr.target, q.value);
            g.axpy(delta, &q.theta, 1.0);
            used += 1;
        }
    }
    if used > 0 {
        g /= used as f64;
    }
    (g, used)
}

/// ½ mean_t δ_t² over the transitions with a Q value (the loss whose frozen-target gradient is
/// −d_TD), or `None` when no transition is usable.
pub fn td_loss(episodes: &[Episode], gamma: f64) -> Option<f64> {
    let (mut sum, mut used) = (0.0, 0usize);
    for tr in episodes.iter().flat_map(|e| e.transitions.iter()) {
        if let Some(q) = &tr.q {
            let delta = td_error(tr.cost, gamma, tr.target, q.value);
            sum += 0.5 * delta * delta;
            used += 1;
        }
    }
    (used > 0).then(|| sum / used as f64)
}
