//! The data of an exploring episode ([`Transition`], [`Episode`]): produced by
//! [`super::episode`], consumed by the TD and DPG updates; its own file so that neither
//! side imports the other.

use crate::sensitivity::QValue;
use nalgebra::{DMatrix, DVector};

/// One transition (s_t, a_t, c_t, s_{t+1}) with the MPC quantities the updates need.
#[derive(Clone, Debug)]
pub struct Transition {
    /// s_t (nonlinear: the plant state; voltage: the policy state (v², q)).
    pub state: Vec<f64>,
    /// a_t, the action the plant applied (voltage: the effective increment).
    pub action: Vec<f64>,
    /// π_θ(s_t) = u*_0.
    pub pi: Vec<f64>,
    /// Stage cost c(s_t, a_t) (without the terminal cost).
    pub cost: f64,
    /// s_{t+1}.
    pub next_state: Vec<f64>,
    /// True on the last transition of the episode.
    pub terminal: bool,
    /// V_θ(s_{t+1}), or on the last transition h(s_T) (nonlinear) / 0 (voltage).
    pub target: f64,
    /// Q_θ(s_t, a_t) and ∇_θQ (TD methods; `None` when not computed or when the solve failed).
    pub q: Option<QValue>,
    /// ∇_θπ(s_t), d×m (DPG methods; `None` when not computed or failed).
    pub jacobian: Option<DMatrix<f64>>,
    /// ψ = ∇_θπ (a_t − π(s_t)) (DPG methods).
    pub psi: Option<DVector<f64>>,
}

/// One exploring episode.
#[derive(Clone, Debug)]
pub struct Episode {
    /// The transitions t = 0 … T−1.
    pub transitions: Vec<Transition>,
    /// True episode cost L(τ) (nonlinear: Σ c + h(s_T); voltage: Σ F(q_t)).
    pub cost: f64,
    /// Policy context of the episode (voltage: v^env and the limits; empty otherwise).
    pub context: Vec<f64>,
    /// Transitions whose Q solve or policy Jacobian failed.
    pub skipped: usize,
    /// Weakly active constraints over the action solves.
    pub weakly_active: usize,
}
