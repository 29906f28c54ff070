//! PDP (Offline) on the voltage task (`docs/spec/ALGORITHMS.md` §11.1, voltage part; every setting is a
//! PROJECT DEFAULT: the paper gives no demonstrations).
//!
//! The policy is eq. 11 with H = 30 and θ = (θ_v, vec A), started from DiffOP's θ(0) of the run
//! seed. The demonstrations are 20 safe-gradient-flow trajectories (α = 0.5, training limits,
//! reset seeds 20000–20019, 30 steps; [`crate::envs::voltage::demos`]). Each demonstration is
//! imitated from its own initial state x^d_0 and with its scenario's context (v^env and the
//! training limits). Loss and update are those of the nonlinear tasks:
//!
//! ```text
//! ℓ(θ) = (1/K) Σ_k [ Σ_{t=0}^{30} ‖x_t(θ) − x^d_t‖² + Σ_{t<30} ‖u_t(θ) − u^d_t‖² ]
//! ĝ    = ½ ∇ℓ = (1/K) Σ_k (∂ζ*/∂θ)ᵀ (ζ* − ζ^d),     θ ← θ − lr · ĝ   (lr = 3e-3, 2000 iterations)
//! ```
//!
//! The learned θ is evaluated as DiffOP (Traj) is: the 100-step Table-2 metric with the open-loop
//! plan re-planned every 30 steps.
//!
//! Checkpoints ([`VoltagePdp::checkpoint`], [`VoltagePdp::resume`]) work as for the nonlinear
//! tasks ([`super::pdp`]).

use super::config::{Mode, Preset, Task, TrainConfig};
use super::evaluate::{evaluate_theta, initial_theta, EvalOutcome};
use super::pdp::{
    average_terms, imitation_term, PdpCheckpoint, PdpError, PdpProgress, PdpRunSettings,
    PdpSettingsError,
};
use super::LearnError;
use crate::envs::voltage::demos::{voltage_demos, DemoSettings, VoltageDemo};
use crate::envs::voltage::{VoltageEnv, VoltageEnvSettings};
use crate::model::tasks::VoltagePolicy;
use crate::solver::{SolverSettings, Workspace};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Settings of voltage PDP (Offline).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VoltagePdpSettings {
    /// Learning rate. PROJECT DEFAULT 3e-3 (the spec's 1e-2 diverges on run seeds 3 and 4: the
    /// imitation loss rises from 31.6 / 11.9 to 18.3 / 18.9 and the 500-scenario transient
    /// cost ends at −0.39 / −0.13; with 3e-3 the loss falls to 0.46–1.2 on seeds 0–4 and the
    /// transient cost is −6.659 / −6.677 / −6.650 / −6.679 / −6.306, against −6.388 / −6.600 /
    /// −6.566 on seeds 0–2 with 1e-2).
    pub lr: f64,
    /// Gradient iterations (2000).
    pub iterations: usize,
    /// Run seed: θ⁽⁰⁾ is DiffOP's θ(0) of this seed.
    pub seed: u64,
    /// The demonstration set (20 gradient-flow trajectories of 30 steps; H = steps).
    pub demos: DemoSettings,
    /// Warm-start each iteration's solves from the previous iteration (default: cold).
    pub warm_start: bool,
    /// Solver settings.
    pub solver: SolverSettings,
}

impl Default for VoltagePdpSettings {
    fn default() -> Self {
        Self {
            lr: 3e-3,
            iterations: 2000,
            seed: 0,
            demos: DemoSettings::default(),
            warm_start: false,
            solver: SolverSettings::default(),
        }
    }
}

impl VoltagePdpSettings {
    /// Check the settings.
    pub fn validate(&self) -> Result<(), PdpError> {
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(PdpError::Settings(PdpSettingsError::OutOfRange {
                field: "lr",
                expected: "> 0",
                value: self.lr,
            }));
        }
        if self.demos.steps < 2 {
            return Err(PdpError::Settings(PdpSettingsError::DemoSteps {
                steps: self.demos.steps,
            }));
        }
        self.solver
            .validate()
            .map_err(|e| PdpError::Settings(PdpSettingsError::Solver(e)))
    }

    /// The DiffOP (Traj) configuration whose θ(0) and evaluation PDP shares.
    pub fn train_config(&self) -> TrainConfig {
        let mut c = TrainConfig::preset(Task::Voltage, Mode::Traj, Preset::Default);
        c.seed = self.seed;
        c.set_horizon(self.demos.steps);
        c.solver = self.solver.clone();
        c
    }
}

impl PdpRunSettings for VoltagePdpSettings {
    fn without_budget(&self) -> Self {
        Self {
            iterations: 0,
            ..self.clone()
        }
    }

    fn iterations(&self) -> usize {
        self.iterations
    }
}

/// The task name stored in voltage PDP checkpoints.
const TASK_NAME: &str = "voltage";

/// Voltage PDP (Offline) state.
#[derive(Debug)]
pub struct VoltagePdp {
    model: VoltagePolicy,
    demos: Vec<VoltageDemo>,
    contexts: Vec<Vec<f64>>,
    workspaces: Vec<Workspace>,
    settings: VoltagePdpSettings,
    progress: PdpProgress,
}

impl VoltagePdp {
    /// Generate the demonstrations and θ⁽⁰⁾.
    pub fn new(settings: VoltagePdpSettings) -> Result<Self, PdpError> {
        settings.validate()?;
        let demos = voltage_demos(&settings.demos)?;
        let env_settings = VoltageEnvSettings {
            limits: settings.demos.limits,
            ..VoltageEnvSettings::training()
        };
        let mut env = VoltageEnv::new(env_settings)?;
        let mut contexts = Vec::with_capacity(demos.len());
        for d in &demos {
            env.reset_seed(d.seed)?;
            contexts.push(env.policy_context().to_vec());
        }
        let theta = initial_theta(&settings.train_config()).map_err(Box::new)?;
        let model = VoltagePolicy::default();
        let workspaces = demos
            .iter()
            .map(|_| Workspace::new(&model, settings.demos.steps, settings.solver.clone()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            model,
            demos,
            contexts,
            workspaces,
            settings,
            progress: PdpProgress::new(theta),
        })
    }

    /// Continue a checkpoint of a run with `settings` (which must match the checkpoint's up to
    /// `iterations`): the demonstrations are recomputed, θ, the iteration and the loss history
    /// restored exactly.
    pub fn resume(
        settings: VoltagePdpSettings,
        checkpoint: &PdpCheckpoint<VoltagePdpSettings>,
    ) -> Result<Self, PdpError> {
        checkpoint.check_compatible(TASK_NAME, &settings)?;
        let state = checkpoint.exact_state()?;
        let mut pdp = Self::new(settings)?;
        pdp.progress.restore(state)?;
        Ok(pdp)
    }

    /// A checkpoint of the current state.
    pub fn checkpoint(&self) -> PdpCheckpoint<VoltagePdpSettings> {
        PdpCheckpoint::new(TASK_NAME, &self.settings, self.progress.state.clone())
    }

    /// The initial θ⁽⁰⁾ of the run.
    pub fn initial_theta(&self) -> &[f64] {
        &self.progress.theta0
    }

    /// The loss before each update so far (entry k: ℓ(θ⁽ᵏ⁾)).
    pub fn losses(&self) -> &[f64] {
        &self.progress.state.losses
    }

    /// Current θ.
    pub fn theta(&self) -> &[f64] {
        &self.progress.state.theta
    }

    /// Replace θ (same length, finite).
    pub fn set_theta(&mut self, theta: &[f64]) -> Result<(), PdpError> {
        super::pdp::replace_theta(&mut self.progress.state.theta, theta, "θ")
    }

    /// The demonstrations.
    pub fn demos(&self) -> &[VoltageDemo] {
        &self.demos
    }

    /// Iterations done.
    pub fn iteration(&self) -> usize {
        self.progress.state.iteration
    }

    /// The settings.
    pub fn settings(&self) -> &VoltagePdpSettings {
        &self.settings
    }

    /// Imitation loss ℓ(θ) and ĝ = ½∇ℓ (one solve and one VJP per demonstration, in parallel;
    /// summed in demonstration order, so the result does not depend on the thread count).
    pub fn loss_and_grad(&mut self) -> Result<(f64, Vec<f64>), PdpError> {
        let start = self.progress.start(self.settings.warm_start);
        let (model, theta) = (&self.model, &self.progress.state.theta);
        let parts: Vec<Result<(f64, Vec<f64>), PdpError>> = self
            .workspaces
            .par_iter_mut()
            .zip(self.demos.par_iter().zip(self.contexts.par_iter()))
            .enumerate()
            .map(|(k, (ws, (demo, ctx)))| {
                let dx: Vec<f64> = demo.x.iter().flatten().copied().collect();
                let du: Vec<f64> = demo.u.iter().flatten().copied().collect();
                imitation_term(ws, model, k, &demo.x[0], theta, ctx, start, &dx, &du)
            })
            .collect();
        average_terms(parts, theta.len())
    }

    /// One gradient step; returns the loss before the update.
    pub fn step(&mut self) -> Result<f64, PdpError> {
        let (loss, grad) = self.loss_and_grad()?;
        self.progress.descend(loss, &grad, self.settings.lr)?;
        Ok(loss)
    }

    /// Table-2 metrics of the learned θ as an open-loop (Traj) policy re-planned every H steps,
    /// over test scenarios 0 … `scenarios`−1.
    pub fn evaluate(&self, scenarios: usize) -> Result<EvalOutcome, LearnError> {
        let mut c = self.settings.train_config();
        c.eval_scenarios = scenarios;
        evaluate_theta(&c, &self.progress.state.theta)
    }
}
