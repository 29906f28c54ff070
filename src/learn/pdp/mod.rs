//! PDP (Offline): imitation of optimal demonstrations through the full optimal-control layer
//! (Jin et al. 2020; `docs/spec/ALGORITHMS.md` §11.1).
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
use crate::model::tasks::init::theta0_nonlinear_with;
use crate::model::tasks::{NonlinearTask, Table1Policy, TrueFormPolicy};
use crate::model::OcpModel;
use crate::sensitivity::{self, Seed, SensitivityError};
use crate::solver::{SolverError, SolverSettings, Status, WarmStart, Workspace};
use rand::Rng;

mod checkpoint;
pub mod init;
pub(crate) use checkpoint::{average_terms, replace_theta, PdpProgress};
pub use checkpoint::{PdpCheckpoint, PdpRunSettings, PdpState, PDP_CHECKPOINT_VERSION};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// What is wrong with PDP settings.
#[derive(Debug, Error)]
pub enum PdpSettingsError {
    /// A scalar setting is outside its range.
    #[error("{field} must be {expected}, got {value}")]
    OutOfRange {
        /// The setting.
        field: &'static str,
        /// The allowed range, in words.
        expected: &'static str,
        /// The given value.
        value: f64,
    },
    /// Voltage demonstrations must have at least two steps (H = steps).
    #[error("demonstrations need at least 2 steps (H = steps ≥ 2), got {steps}")]
    DemoSteps {
        /// The configured steps.
        steps: usize,
    },
    /// An explicit initial θ was given for a parameterisation other than Table 1.
    #[error("an explicit initial θ needs the Table-1 parameterisation")]
    InitialThetaNeedsTable1,
    /// A θ vector has the wrong length or non-finite entries.
    #[error("{what} needs {expected} finite entries, got {got}")]
    Theta {
        /// The vector.
        what: String,
        /// Entries expected.
        expected: usize,
        /// Entries given.
        got: usize,
    },
    /// The solver settings are invalid.
    #[error("solver: {0}")]
    Solver(crate::solver::SettingsError),
}

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
    Settings(PdpSettingsError),
    /// θ(0) could not be drawn or projected.
    #[error(transparent)]
    Init(#[from] crate::model::tasks::init::InitError),
    /// The shared DiffOP configuration (voltage θ(0), evaluation) failed.
    #[error(transparent)]
    Learn(#[from] Box<crate::learn::LearnError>),
    /// The imitation loss or its gradient became non-finite.
    #[error("non-finite loss or gradient at iteration {iteration}")]
    NonFinite {
        /// Iteration.
        iteration: usize,
    },
    /// A checkpoint is unusable (wrong version, incompatible settings, corrupt, unreadable).
    #[error("PDP checkpoint: {0}")]
    Checkpoint(crate::learn::CheckpointError),
}

/// The parameters PDP (Offline) learns (`docs/spec/ALGORITHMS.md` §11.1).
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
            return Err(PdpError::Settings(PdpSettingsError::OutOfRange {
                field: "lr",
                expected: "> 0",
                value: self.lr,
            }));
        }
        if !(self.phi_floor.is_finite() && self.phi_floor > 0.0) {
            return Err(PdpError::Settings(PdpSettingsError::OutOfRange {
                field: "phi_floor",
                expected: "finite and > 0",
                value: self.phi_floor,
            }));
        }
        if !(self.sigma0.is_finite() && self.sigma0 >= 0.0) {
            return Err(PdpError::Settings(PdpSettingsError::OutOfRange {
                field: "sigma0",
                expected: "≥ 0",
                value: self.sigma0,
            }));
        }
        self.solver
            .validate()
            .map_err(|e| PdpError::Settings(PdpSettingsError::Solver(e)))
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
                theta0_nonlinear_with(task, settings.sigma0, settings.phi_floor, &mut rng)?
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

    /// A Table-1 run started from a given θ⁽⁰⁾ instead of the seed's draw (e.g. a DiffOP run's
    /// explicit `theta0`; [`init`]). `theta` must have d finite entries; the θ_f floor is
    /// applied to it.
    pub fn with_initial_theta(
        task: NonlinearTask,
        settings: PdpSettings,
        mut theta: Vec<f64>,
    ) -> Result<Self, PdpError> {
        if settings.parameterisation != PdpParameterisation::Table1 {
            return Err(PdpError::Settings(
                PdpSettingsError::InitialThetaNeedsTable1,
            ));
        }
        let mut pdp = Self::new(task, settings)?;
        let d = pdp.progress.state.theta.len();
        if theta.len() != d || theta.iter().any(|v| !v.is_finite()) {
            return Err(PdpError::Settings(PdpSettingsError::Theta {
                what: "the initial θ".to_string(),
                expected: d,
                got: theta.len(),
            }));
        }
        let floor = pdp.settings.phi_floor;
        for v in &mut theta[pdp.model.physical()] {
            *v = v.max(floor);
        }
        pdp.progress = PdpProgress::new(theta);
        Ok(pdp)
    }

    /// The settings of the run.
    pub fn settings(&self) -> &PdpSettings {
        &self.settings
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
