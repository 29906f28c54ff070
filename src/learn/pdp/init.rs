//! Imitation, then DiffOP: θ⁽⁰⁾ of a DiffOP run learned by PDP (Offline) in the policy's own
//! Table-1 parameterisation (`init = "pdp"`, `diffop train --init pdp`).
//!
//! ```text
//! θ_draw  = DiffOP's θ(0) of the run (the seed's draw, or `theta0`)      (docs/spec/ENVIRONMENTS.md §1.4)
//! θ_PDP   = PDP (Offline, Table 1) from θ_draw, `init_pdp_iterations` plain gradient steps on
//!           the imitation loss of the task's demonstrations (docs/spec/ALGORITHMS.md §11.1; lr and
//!           σ₀ of PdpSettings::for_task, cold solves, H = T)
//! θ⁽⁰⁾    = Π(θ_PDP)                                                      (the θ_f floor)
//! ```
//!
//! The PDP phase is deterministic (no random draw besides θ(0)), so θ⁽⁰⁾ — and the whole run —
//! is bit-identical for any thread count; a resumed DiffOP run restores θ from its checkpoint
//! and does not repeat the PDP phase. Budget: the PDP phase costs `init_pdp_iterations` ×
//! (one H = T solve and one VJP per demonstration) and no plant rollouts; the DiffOP phase
//! the usual K × N rollouts.

use serde::{Deserialize, Serialize};

use super::{Pdp, PdpParameterisation, PdpSettings};
use crate::learn::config::TrainConfig;
use crate::learn::evaluate::{initial_theta, project};
use crate::learn::LearnError;

/// PDP iterations of the imitation phase when `init_pdp_iterations` is not given: the §11.1
/// count of PDP (Offline) on the nonlinear tasks, so that the phase ends where the
/// "PDP (Offline, Table 1)" baseline ends **[PROJECT DEFAULT]**.
pub const DEFAULT_INIT_PDP_ITERATIONS: usize = 10_000;

/// Where a DiffOP run's θ⁽⁰⁾ comes from (`init` in the configuration).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InitMethod {
    /// The run seed's θ(0) draw, or `theta0` when given (default).
    #[default]
    Theta0,
    /// PDP (Offline) imitation in the Table-1 parameterisation, started from that θ(0)
    /// (nonlinear tasks).
    Pdp,
}

impl InitMethod {
    /// True for the default ([`InitMethod::Theta0`]); used to leave it out of saved configs.
    pub fn is_default(&self) -> bool {
        *self == InitMethod::Theta0
    }

    /// The CLI / TOML name: `theta0` or `pdp`.
    pub fn name(self) -> &'static str {
        match self {
            InitMethod::Theta0 => "theta0",
            InitMethod::Pdp => "pdp",
        }
    }
}

impl std::str::FromStr for InitMethod {
    type Err = LearnError;
    /// `theta0` or `pdp` (case-insensitive).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "theta0" => Ok(InitMethod::Theta0),
            "pdp" => Ok(InitMethod::Pdp),
            _ => Err(LearnError::Config(format!(
                "unknown init `{s}`; expected theta0 or pdp"
            ))),
        }
    }
}

/// The PDP settings of the imitation phase of `config` (module docs).
pub fn init_pdp_settings(config: &TrainConfig) -> Result<PdpSettings, LearnError> {
    let task = config.task.nonlinear().ok_or_else(|| {
        LearnError::Config(format!(
            "init = \"pdp\" needs a nonlinear task (cartpole, arm, quadrotor, rocket), got {}",
            config.task
        ))
    })?;
    Ok(PdpSettings {
        seed: config.seed,
        iterations: config
            .init_pdp_iterations
            .unwrap_or(DEFAULT_INIT_PDP_ITERATIONS),
        parameterisation: PdpParameterisation::Table1,
        phi_floor: config.theta_f_floor,
        solver: config.solver.clone(),
        ..PdpSettings::for_task(task)
    })
}

/// The PDP learner of the imitation phase, at iteration 0, started from DiffOP's θ(0) of
/// `config` (so the two agree even with an explicit `theta0`).
pub fn init_pdp(config: &TrainConfig) -> Result<Pdp, LearnError> {
    let settings = init_pdp_settings(config)?;
    let task = config
        .task
        .nonlinear()
        .ok_or_else(|| LearnError::Config("init = \"pdp\" needs a nonlinear task".to_string()))?;
    let theta0 = initial_theta(config)?;
    Pdp::with_initial_theta(task, settings, theta0).map_err(pdp_error)
}

/// θ⁽⁰⁾ of a DiffOP run with `init = "pdp"`: run the imitation phase and project.
pub fn pdp_initial_theta(config: &TrainConfig) -> Result<Vec<f64>, LearnError> {
    let mut pdp = init_pdp(config)?;
    let iterations = pdp.settings().iterations;
    while pdp.iteration() < iterations {
        pdp.step().map_err(pdp_error)?;
    }
    let mut theta = pdp.theta().to_vec();
    project(config, &mut theta)?;
    Ok(theta)
}

fn pdp_error(e: super::PdpError) -> LearnError {
    LearnError::PdpInit(Box::new(e))
}
