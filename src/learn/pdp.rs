//! PDP (Offline): imitation of optimal demonstrations through the full optimal-control layer
//! (Jin et al. 2020; `ALGORITHMS.md` §11.1).
//!
//! The policy is PDP's own parameterisation ([`TrueFormPolicy`], θ_PDP = (φ_f, w)) solved over
//! the whole episode (H = T), or, with [`PdpParameterisation::Table1`] (the spec's option),
//! DiffOP's Table-1 policy ([`Table1Policy`], θ = (θ_c, θ_H, θ_f)) started from DiffOP's θ(0)
//! of the same run seed — apples-to-apples with DiffOP (Traj). Demonstrations are the true optimal trajectories from the demo
//! initial states. The loss and its gradient are
//!
//! ```text
//! ℓ(θ) = (1/K) Σ_k [ Σ_{t=0}^{T} ‖x_t(θ) − x^d_t‖² + Σ_{t<T} ‖u_t(θ) − u^d_t‖² ]
//! ĝ    = ½ ∇ℓ = (1/K) Σ_k (∂ζ*/∂θ)ᵀ (ζ* − ζ^d)          (one VJP per demonstration)
//! θ   ← θ − lr · ĝ
//! ```
//!
//! The reported "PDP (Offline)" cost is the true cost of the open-loop (Traj) policy with the
//! learned θ_PDP, executed on the true plant from every demo state.
//!
//! **Checkpoints.** [`Pdp::checkpoint`] captures θ, the iteration and the loss history (plain
//! gradient descent has no optimiser state; the demonstrations are recomputed, deterministically,
//! from the task and the solver settings), with exact IEEE-754 copies of every value;
//! [`Pdp::resume`] continues it bit-identically. With `warm_start` (off by default) the first
//! solves after a resume start cold, so such a run then matches only to the solver tolerance.

use crate::envs::nonlinear::{demo_states, NonlinearEnv};
use crate::envs::{Env, EnvError};
use crate::learn::checkpoint::{bits, differing_fields, unbits, write_atomic};
use crate::model::tasks::init::theta0_nonlinear_with;
use crate::model::tasks::{NonlinearTask, Table1Policy, TrueFormPolicy};
use crate::model::OcpModel;
use crate::sensitivity::{self, Seed, SensitivityError};
use crate::solver::{SolverError, SolverSettings, Status, WarmStart, Workspace};
use rand::Rng;
use rayon::prelude::*;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::path::Path;
use thiserror::Error;

/// Errors of PDP (Offline).
#[derive(Debug, Error)]
pub enum PdpError {
    /// Solver misuse.
    #[error(transparent)]
    Solver(#[from] SolverError),
    /// A forward solve failed.
    #[error("PDP solve from demonstration {demo} failed with status {status:?}")]
    SolveFailed {
        /// Demonstration index.
        demo: usize,
        /// Solver status.
        status: Status,
    },
    /// Sensitivity failure.
    #[error(transparent)]
    Sensitivity(#[from] SensitivityError),
    /// Environment failure while evaluating.
    #[error(transparent)]
    Env(#[from] EnvError),
    /// Invalid settings.
    #[error("invalid PDP settings: {0}")]
    Settings(String),
    /// A checkpoint is unusable (wrong version, incompatible settings, corrupt, unreadable).
    #[error("PDP checkpoint: {0}")]
    Checkpoint(String),
}

/// The parameters PDP (Offline) learns (`ALGORITHMS.md` §11.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PdpParameterisation {
    /// PDP's own (default): θ_PDP = (φ_f, w), the physical parameters and the true-form cost
    /// weights ([`TrueFormPolicy`]); θ⁰ = θ_true + σ₀(U − ½) on all entries. It contains the
    /// true model and cost, so imitation of optimal demonstrations can reach the optimum.
    #[default]
    TrueForm,
    /// DiffOP's Table-1 parameterisation θ = (θ_c, θ_H, θ_f) ([`Table1Policy`]), from DiffOP's
    /// θ(0) of the run seed (unit weights, θ_f = φ_true + σ₀(U − ½)); the floor applies to θ_f.
    Table1,
}

/// Settings of PDP (Offline).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PdpSettings {
    /// Learning rate.
    pub lr: f64,
    /// Gradient iterations.
    pub iterations: usize,
    /// Scale σ₀ of the initial perturbation θ⁰ = θ_true + σ₀(U − ½).
    pub sigma0: f64,
    /// Run seed (θ⁰ is drawn from its θ(0) stream).
    pub seed: u64,
    /// Floor on the physical parameters after each update (keeps the model regular).
    pub phi_floor: f64,
    /// Warm-start each iteration's solves from the previous iteration's solutions. The spec
    /// default is a cold start for every PDP solve.
    pub warm_start: bool,
    /// Solver settings.
    pub solver: SolverSettings,
    /// Which parameters are learned (default: PDP's own).
    pub parameterisation: PdpParameterisation,
}

impl Default for PdpSettings {
    fn default() -> Self {
        Self::for_task(NonlinearTask::Cartpole)
    }
}

impl PdpSettings {
    /// The §11.1 settings of a task (lr, iterations, σ₀).
    pub fn for_task(task: NonlinearTask) -> Self {
        let (lr, iterations) = match task {
            NonlinearTask::Cartpole | NonlinearTask::Arm => (1e-4, 10_000),
            NonlinearTask::Quadrotor => (3e-4, 10_000),
            NonlinearTask::Rocket => (3e-4, 5_000),
        };
        Self {
            lr,
            iterations,
            sigma0: task.sigma0(),
            seed: 0,
            phi_floor: 0.05,
            warm_start: false,
            solver: SolverSettings::default(),
            parameterisation: PdpParameterisation::TrueForm,
        }
    }

    /// Check the settings.
    pub fn validate(&self) -> Result<(), PdpError> {
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(PdpError::Settings(format!(
                "lr must be > 0, got {}",
                self.lr
            )));
        }
        if !(self.phi_floor.is_finite() && self.phi_floor > 0.0) {
            return Err(PdpError::Settings(format!(
                "phi_floor must be finite and > 0, got {}",
                self.phi_floor
            )));
        }
        if !(self.sigma0.is_finite() && self.sigma0 >= 0.0) {
            return Err(PdpError::Settings(format!(
                "sigma0 must be ≥ 0, got {}",
                self.sigma0
            )));
        }
        self.solver.validate().map_err(PdpError::Settings)
    }
}

/// One demonstration: the true optimal trajectory from a demo state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Demo {
    /// States x_0 … x_T, stage-major ((T+1)·n).
    pub x: Vec<f64>,
    /// Controls u_0 … u_{T−1} (T·m).
    pub u: Vec<f64>,
    /// True cost Σ c + h of the demonstration.
    pub cost: f64,
}

/// Solve the true OCP (H = T) from every demo state of `task`.
pub fn demonstrations(task: NonlinearTask, solver: &SolverSettings) -> Result<Vec<Demo>, PdpError> {
    let model = TrueFormPolicy::new(task);
    let theta = model.true_theta();
    let mut ws = Workspace::new(&model, task.episode_len(), solver.clone())?;
    let mut demos = Vec::new();
    for (k, x0) in demo_states(task).iter().enumerate() {
        let sol = ws.solve(&model, x0, &theta, &[], WarmStart::Cold)?;
        if !sol.status.is_solved() {
            return Err(PdpError::SolveFailed {
                demo: k,
                status: sol.status,
            });
        }
        demos.push(Demo {
            x: sol.x.iter().flat_map(|v| v.iter().copied()).collect(),
            u: sol.u.iter().flat_map(|v| v.iter().copied()).collect(),
            cost: sol.objective,
        });
    }
    Ok(demos)
}

/// θ⁰ = θ_true + σ₀(U − ½) on all entries, then the physical floor.
pub fn initial_theta<R: Rng + ?Sized>(
    task: NonlinearTask,
    settings: &PdpSettings,
    rng: &mut R,
) -> Vec<f64> {
    let model = TrueFormPolicy::new(task);
    let mut th = model.true_theta();
    for v in th.iter_mut() {
        *v += settings.sigma0 * (rng.random::<f64>() - 0.5);
    }
    for v in th.iter_mut().take(model.n_phi()) {
        *v = v.max(settings.phi_floor);
    }
    th
}

/// The policy problem PDP differentiates.
#[derive(Clone, Debug)]
enum PdpModel {
    TrueForm(TrueFormPolicy),
    Table1(Table1Policy),
}

impl PdpModel {
    fn new(task: NonlinearTask, p: PdpParameterisation) -> Self {
        match p {
            PdpParameterisation::TrueForm => PdpModel::TrueForm(TrueFormPolicy::new(task)),
            PdpParameterisation::Table1 => PdpModel::Table1(Table1Policy::new(task)),
        }
    }

    /// The entries of θ that are physical parameters (floored after every update).
    fn physical(&self) -> std::ops::Range<usize> {
        match self {
            PdpModel::TrueForm(m) => 0..m.n_phi(),
            PdpModel::Table1(m) => 2 * m.task.nm().0..m.n_theta(),
        }
    }

    fn workspace(&self, horizon: usize, solver: &SolverSettings) -> Result<Workspace, PdpError> {
        Ok(match self {
            PdpModel::TrueForm(m) => Workspace::new(m, horizon, solver.clone())?,
            PdpModel::Table1(m) => Workspace::new(m, horizon, solver.clone())?,
        })
    }
}

/// PDP (Offline) state: demonstrations, one workspace per demonstration and θ.
#[derive(Debug)]
pub struct Pdp {
    task: NonlinearTask,
    model: PdpModel,
    demos: Vec<Demo>,
    workspaces: Vec<Workspace>,
    settings: PdpSettings,
    progress: PdpProgress,
}

impl Pdp {
    /// Generate the demonstrations and θ⁰ for `task`.
    pub fn new(task: NonlinearTask, settings: PdpSettings) -> Result<Self, PdpError> {
        settings.validate()?;
        let demos = demonstrations(task, &settings.solver)?;
        let mut rng = crate::rng::stream(settings.seed, crate::rng::Stream::ThetaInit);
        let theta = match settings.parameterisation {
            PdpParameterisation::TrueForm => initial_theta(task, &settings, &mut rng),
            // DiffOP's θ(0) of the same seed (the trainer draws it from the same stream).
            PdpParameterisation::Table1 => {
                theta0_nonlinear_with(task, settings.sigma0, settings.phi_floor, &mut rng)
                    .map_err(|e| PdpError::Settings(e.to_string()))?
            }
        };
        let model = PdpModel::new(task, settings.parameterisation);
        let workspaces = demos
            .iter()
            .map(|_| model.workspace(task.episode_len(), &settings.solver))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            task,
            model,
            demos,
            workspaces,
            settings,
            progress: PdpProgress::new(theta),
        })
    }

    /// Continue a checkpoint of a run of `task` with `settings` (which must match the
    /// checkpoint's up to `iterations`): the demonstrations are recomputed, θ, the iteration and
    /// the loss history restored exactly.
    pub fn resume(
        task: NonlinearTask,
        settings: PdpSettings,
        checkpoint: &PdpCheckpoint<PdpSettings>,
    ) -> Result<Self, PdpError> {
        checkpoint.check_compatible(task.name(), &settings)?;
        let state = checkpoint.exact_state()?;
        let mut pdp = Self::new(task, settings)?;
        pdp.progress.restore(state)?;
        Ok(pdp)
    }

    /// A checkpoint of the current state.
    pub fn checkpoint(&self) -> PdpCheckpoint<PdpSettings> {
        PdpCheckpoint::new(
            self.task.name(),
            &self.settings,
            self.progress.state.clone(),
        )
    }

    /// The initial θ⁽⁰⁾ of the run.
    pub fn initial_theta(&self) -> &[f64] {
        &self.progress.theta0
    }

    /// The loss before each update so far (entry k: ℓ(θ⁽ᵏ⁾)).
    pub fn losses(&self) -> &[f64] {
        &self.progress.state.losses
    }

    /// Current θ_PDP.
    pub fn theta(&self) -> &[f64] {
        &self.progress.state.theta
    }

    /// Replace θ_PDP (same length, finite).
    pub fn set_theta(&mut self, theta: &[f64]) -> Result<(), PdpError> {
        replace_theta(&mut self.progress.state.theta, theta, "θ_PDP")
    }

    /// The demonstrations.
    pub fn demos(&self) -> &[Demo] {
        &self.demos
    }

    /// Iterations done.
    pub fn iteration(&self) -> usize {
        self.progress.state.iteration
    }

    /// Imitation loss ℓ(θ) and ĝ = ½∇ℓ at the current θ (one solve and one VJP per demo, in
    /// parallel; the sum is taken in demo order, so the result does not depend on threads).
    pub fn loss_and_grad(&mut self) -> Result<(f64, Vec<f64>), PdpError> {
        let start = self.progress.start(self.settings.warm_start);
        let (theta, demos) = (&self.progress.state.theta, &self.demos);
        match &self.model {
            PdpModel::TrueForm(m) => batch_terms(m, &mut self.workspaces, demos, theta, start),
            PdpModel::Table1(m) => batch_terms(m, &mut self.workspaces, demos, theta, start),
        }
    }

    /// One gradient step; returns the loss before the update.
    pub fn step(&mut self) -> Result<f64, PdpError> {
        let (loss, grad) = self.loss_and_grad()?;
        self.progress.descend(loss, &grad, self.settings.lr)?;
        let floor = self.settings.phi_floor;
        for v in &mut self.progress.state.theta[self.model.physical()] {
            *v = v.max(floor);
        }
        Ok(loss)
    }

    /// The true cost of the Traj policy with the current θ, averaged over the demo states.
    pub fn evaluate(&self) -> Result<f64, PdpError> {
        let (theta, solver) = (&self.progress.state.theta, &self.settings.solver);
        match &self.model {
            PdpModel::TrueForm(m) => evaluate_traj_with(self.task, m, theta, solver),
            PdpModel::Table1(m) => evaluate_traj_with(self.task, m, theta, solver),
        }
    }
}

/// The loss and ĝ of every demonstration (in parallel), averaged in demo order.
fn batch_terms<M: OcpModel + Sync>(
    model: &M,
    workspaces: &mut [Workspace],
    demos: &[Demo],
    theta: &[f64],
    start: WarmStart,
) -> Result<(f64, Vec<f64>), PdpError> {
    let parts: Vec<Result<(f64, Vec<f64>), PdpError>> = workspaces
        .par_iter_mut()
        .zip(demos.par_iter())
        .enumerate()
        .map(|(k, (ws, demo))| {
            let x0 = &demo.x[..model.dims().n];
            imitation_term(ws, model, k, x0, theta, &[], start, &demo.x, &demo.u)
        })
        .collect();
    average_terms(parts, theta.len())
}

/// One demonstration's part of the imitation loss and of ĝ = ½∇ℓ: solve from `x0` (H = the
/// demonstration's length) and return (‖ζ* − ζ^d‖², (∂ζ*/∂θ)ᵀ(ζ* − ζ^d)) with one VJP.
/// `demo_x` and `demo_u` are stacked stage-major ((H+1)·n and H·m entries).
///
/// A cold solve that fails (a cold swing-up with a poor model can end `NumericalError`) is
/// retried once from the demonstration itself as the primal guess, which is always at hand; a
/// run whose cold solves all succeed is unaffected.
#[allow(clippy::too_many_arguments)]
pub(crate) fn imitation_term<M: OcpModel>(
    ws: &mut Workspace,
    model: &M,
    demo: usize,
    x0: &[f64],
    theta: &[f64],
    ctx: &[f64],
    start: WarmStart,
    demo_x: &[f64],
    demo_u: &[f64],
) -> Result<(f64, Vec<f64>), PdpError> {
    let mut sol = ws.solve(model, x0, theta, ctx, start)?;
    if !sol.status.is_polished() && start == WarmStart::Cold {
        ws.set_guess(demo_x, demo_u)?;
        sol = ws.solve(model, x0, theta, ctx, WarmStart::Current)?;
    }
    if !sol.status.is_polished() {
        return Err(PdpError::SolveFailed {
            demo,
            status: sol.status,
        });
    }
    let ex: Vec<f64> = sol
        .x
        .iter()
        .flat_map(|v| v.iter().copied())
        .zip(demo_x)
        .map(|(a, b)| a - b)
        .collect();
    let eu: Vec<f64> = sol
        .u
        .iter()
        .flat_map(|v| v.iter().copied())
        .zip(demo_u)
        .map(|(a, b)| a - b)
        .collect();
    let loss = ex.iter().chain(&eu).map(|e| e * e).sum::<f64>();
    let mut g = vec![0.0; theta.len()];
    sensitivity::vjp(
        ws,
        model,
        Seed {
            x: Some(&ex),
            u: Some(&eu),
        },
        &mut g,
    )?;
    Ok((loss, g))
}

/// Mean true episode cost of the open-loop (H = T) plan of the true-form policy with
/// parameters `theta_pdp`, executed on the true plant from every demo state.
pub fn evaluate_traj(
    task: NonlinearTask,
    theta_pdp: &[f64],
    solver: &SolverSettings,
) -> Result<f64, PdpError> {
    evaluate_traj_with(task, &TrueFormPolicy::new(task), theta_pdp, solver)
}

/// Mean true episode cost of the open-loop (H = T) plan of `model` with parameters `theta`,
/// executed on the true plant of `task` from every demo state (cold solves).
pub fn evaluate_traj_with<M: OcpModel>(
    task: NonlinearTask,
    model: &M,
    theta: &[f64],
    solver: &SolverSettings,
) -> Result<f64, PdpError> {
    let t_len = task.episode_len();
    let mut ws = Workspace::new(model, t_len, solver.clone())?;
    let mut env = NonlinearEnv::new(task);
    let states = demo_states(task);
    let mut total = 0.0;
    for (k, x0) in states.iter().enumerate() {
        let sol = ws.solve(model, x0, theta, &[], WarmStart::Cold)?;
        if !sol.status.is_solved() {
            return Err(PdpError::SolveFailed {
                demo: k,
                status: sol.status,
            });
        }
        env.reset_to(x0)?;
        let mut cost = 0.0;
        for t in 0..t_len {
            let step = env.step(sol.u[t].as_slice())?;
            cost += step.cost;
        }
        total += cost;
    }
    Ok(total / states.len() as f64)
}

/// Format version of [`PdpCheckpoint`].
pub const PDP_CHECKPOINT_VERSION: u32 = 1;

/// Settings of a PDP run that can be checkpointed.
pub trait PdpRunSettings: Clone + PartialEq + Serialize + DeserializeOwned {
    /// The settings with the iteration budget cleared (the one setting that may change on
    /// resume).
    fn without_budget(&self) -> Self;

    /// The iteration budget.
    fn iterations(&self) -> usize;
}

impl PdpRunSettings for PdpSettings {
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

/// The mutable state of a PDP run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PdpState {
    /// Current θ.
    pub theta: Vec<f64>,
    /// Iterations done.
    pub iteration: usize,
    /// The loss before each update (one per iteration done).
    pub losses: Vec<f64>,
}

/// Exact bit patterns of a [`PdpState`]'s values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct PdpExact {
    theta: Vec<u64>,
    losses: Vec<u64>,
}

/// A saved PDP (Offline) run, nonlinear (`S` = [`PdpSettings`]) or voltage
/// (`S` = [`crate::learn::pdp_voltage::VoltagePdpSettings`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PdpCheckpoint<S> {
    /// Format version.
    pub version: u32,
    /// Task name.
    pub task: String,
    /// The settings of the run.
    pub settings: S,
    /// The state (readable; [`PdpCheckpoint::exact_state`] restores the exact one).
    pub state: PdpState,
    exact: PdpExact,
}

impl<S: PdpRunSettings> PdpCheckpoint<S> {
    /// Capture a state.
    pub fn new(task: &str, settings: &S, state: PdpState) -> Self {
        Self {
            version: PDP_CHECKPOINT_VERSION,
            task: task.to_string(),
            settings: settings.clone(),
            exact: PdpExact {
                theta: bits(&state.theta),
                losses: bits(&state.losses),
            },
            state,
        }
    }

    /// Check the format version, the task and the settings (equal up to `iterations`, which
    /// must not be below the iterations already done); the error names the differing settings.
    pub fn check_compatible(&self, task: &str, settings: &S) -> Result<(), PdpError> {
        if self.version != PDP_CHECKPOINT_VERSION {
            return Err(PdpError::Checkpoint(format!(
                "format version {} is not supported (expected {PDP_CHECKPOINT_VERSION})",
                self.version
            )));
        }
        if self.task != task {
            return Err(PdpError::Checkpoint(format!(
                "the checkpoint is of task `{}`, not `{task}`",
                self.task
            )));
        }
        let (saved, wanted) = (self.settings.without_budget(), settings.without_budget());
        if saved != wanted {
            return Err(PdpError::Checkpoint(format!(
                "the checkpoint was written with different PDP settings (differing: {}); only \
                 iterations may change on resume",
                differing_fields(&saved, &wanted).join(", ")
            )));
        }
        if self.state.iteration > settings.iterations() {
            return Err(PdpError::Checkpoint(format!(
                "the checkpoint is at iteration {}, beyond the configured {} iterations",
                self.state.iteration,
                settings.iterations()
            )));
        }
        Ok(())
    }

    /// The state with its exact values restored.
    pub fn exact_state(&self) -> Result<PdpState, PdpError> {
        let s = &self.state;
        if self.exact.theta.len() != s.theta.len() || self.exact.losses.len() != s.losses.len() {
            return Err(PdpError::Checkpoint(
                "the state and its exact copy differ in length".into(),
            ));
        }
        if s.losses.len() != s.iteration {
            return Err(PdpError::Checkpoint(format!(
                "{} losses recorded for {} iterations",
                s.losses.len(),
                s.iteration
            )));
        }
        Ok(PdpState {
            theta: unbits(&self.exact.theta),
            iteration: s.iteration,
            losses: unbits(&self.exact.losses),
        })
    }

    /// Write atomically to `path` (JSON).
    pub fn save(&self, path: &Path) -> Result<(), PdpError> {
        let json = serde_json::to_string_pretty(self)
            .map_err(|e| PdpError::Checkpoint(format!("JSON: {e}")))?;
        write_atomic(path, json.as_bytes()).map_err(|e| PdpError::Checkpoint(e.to_string()))
    }

    /// Read from `path`.
    pub fn load(path: &Path) -> Result<Self, PdpError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| PdpError::Checkpoint(format!("{}: {e}", path.display())))?;
        serde_json::from_str(&text)
            .map_err(|e| PdpError::Checkpoint(format!("{}: corrupt JSON: {e}", path.display())))
    }
}

/// Copy a restored state's θ into `theta` after checking its length and finiteness.
/// The iterate of a PDP learner, shared by [`Pdp`] and
/// [`VoltagePdp`](super::pdp_voltage::VoltagePdp): θ⁽⁰⁾, the checkpointed state (θ, iterations
/// done, the loss before each update) and whether the workspaces hold the previous iteration's
/// solutions.
#[derive(Clone, Debug)]
pub(crate) struct PdpProgress {
    /// θ⁽⁰⁾.
    pub(crate) theta0: Vec<f64>,
    /// θ, iteration and losses (what a checkpoint stores).
    pub(crate) state: PdpState,
    /// The workspaces hold no solution of the previous iteration (set on resume), so the next
    /// solves start cold even with `warm_start`.
    cold_workspaces: bool,
}

impl PdpProgress {
    /// A fresh run from θ⁽⁰⁾ = `theta`.
    pub(crate) fn new(theta: Vec<f64>) -> Self {
        Self {
            theta0: theta.clone(),
            state: PdpState {
                theta,
                iteration: 0,
                losses: Vec::new(),
            },
            cold_workspaces: false,
        }
    }

    /// Continue from a checkpoint's exact state (θ must have the run's length and be finite);
    /// the next solves start cold.
    pub(crate) fn restore(&mut self, state: PdpState) -> Result<(), PdpError> {
        let d = self.state.theta.len();
        if state.theta.len() != d || state.theta.iter().any(|v| !v.is_finite()) {
            return Err(PdpError::Checkpoint(format!(
                "θ needs {d} finite entries, the checkpoint has {}",
                state.theta.len()
            )));
        }
        self.state = state;
        self.cold_workspaces = true;
        Ok(())
    }

    /// The start of this iteration's demonstration solves: warm from the previous iteration's
    /// solutions when `warm_start` allows and the workspaces hold them, cold otherwise.
    pub(crate) fn start(&mut self, warm_start: bool) -> WarmStart {
        let warm = warm_start && self.state.iteration > 0 && !self.cold_workspaces;
        self.cold_workspaces = false;
        if warm {
            WarmStart::Current
        } else {
            WarmStart::Cold
        }
    }

    /// θ ← θ − lr ĝ and record `loss` (the loss before the update). A non-finite loss or
    /// gradient is an error and leaves θ unchanged.
    pub(crate) fn descend(&mut self, loss: f64, grad: &[f64], lr: f64) -> Result<(), PdpError> {
        if !loss.is_finite() || grad.iter().any(|g| !g.is_finite()) {
            return Err(PdpError::Settings(format!(
                "non-finite loss or gradient at iteration {}",
                self.state.iteration
            )));
        }
        for (t, g) in self.state.theta.iter_mut().zip(grad) {
            *t -= lr * g;
        }
        self.state.iteration += 1;
        self.state.losses.push(loss);
        Ok(())
    }
}

/// The mean of the per-demonstration (loss, ½∇loss) terms, summed in demonstration order (so
/// the result does not depend on the thread count); the first failed term is the error.
pub(crate) fn average_terms(
    parts: Vec<Result<(f64, Vec<f64>), PdpError>>,
    d: usize,
) -> Result<(f64, Vec<f64>), PdpError> {
    let k = parts.len() as f64;
    let mut loss = 0.0;
    let mut grad = vec![0.0; d];
    for p in parts {
        let (l, g) = p?;
        loss += l / k;
        for (a, b) in grad.iter_mut().zip(&g) {
            *a += b / k;
        }
    }
    Ok((loss, grad))
}

/// Copy `src` into `dst` when it has the same length and only finite entries (`what` names θ
/// in the error).
pub(crate) fn replace_theta(dst: &mut [f64], src: &[f64], what: &str) -> Result<(), PdpError> {
    if src.len() != dst.len() || src.iter().any(|v| !v.is_finite()) {
        return Err(PdpError::Settings(format!(
            "{what} needs {} finite entries, got {}",
            dst.len(),
            src.len()
        )));
    }
    dst.copy_from_slice(src);
    Ok(())
}
