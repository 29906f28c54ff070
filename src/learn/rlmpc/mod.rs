//! The RLMPC baselines: RLMPC-TD, RLMPC-DPG and the TD+DPG project proxy (`docs/spec/ALGORITHMS.md`
//! §11.2–11.3, `docs/spec/RESULTS.md` §6.2).
//!
//! The MPC is the DiffOP Step-mode policy (same policy class, θ(0), horizon H and projection Π):
//! V_θ(s) is the OCP optimum from s, Q_θ(s, a) the same problem with u_0 = a (eliminated, not
//! pinned by bounds), π_θ(s) = u*_0. One iteration collects N exploring episodes with
//! a_t = π_θ(s_t) + e_t, e_t ~ 𝒩(0, σ²I) (σ = DiffOP's σ of the task), then makes one update:
//!
//! ```text
//! TD      δ_t = c_t + γ V_θ(s_{t+1}) − Q_θ(s_t, a_t)     (last: V_θ(s_T) → h(s_T), voltage 0)
//!         θ ← Π(θ + α_TD mean_t δ_t ∇_θQ_θ(s_t, a_t))
//! DPG     ψ = ∇_θπ (a − π),  V_v = Φ(s)ᵀv,  pooled LSTD → (v, w)
//!         ∇_θJ = (1/N) Σ_{n,k} ∇_θπ ∇_θπᵀ w,   θ ← Π(θ − α_DPG ∇_θJ)   (natural: θ − α_DPG w)
//! TD+DPG  θ ← Π(θ − α_DPG ∇_θJ − α_TD g_Q),  g_Q = −mean_t δ_t ∇_θQ_t     [PROJECT PROXY]
//! ```
//!
//! The TD+DPG rule is a **project proxy** for the paper's "variant of RLMPC-TD that also employs
//! DPG" (Seel et al.'s exact combination is not public); label it as such in any report.
//!
//! Files: [`episode`] (exploring episodes, the MPC's V, Q, ∇_θQ, ∇_θπ), [`td`] (TD errors and
//! the semi-gradient), [`lstd`] (features Φ and the LSTD critic), [`dpg`] (compatible features
//! and the DPG gradient), [`run`] (run directories for the CLI).
//!
//! **Records.** Every iteration yields an [`IterationRecord`] as DiffOP's trainer does:
//! `batch_mean_cost` is the mean true cost of the N exploring episodes, `eval_cost` the
//! deterministic evaluation of θ⁽ᵏ⁾ ([`crate::learn::evaluate_theta`], every `eval_every`
//! iterations), `grad_norm` the norm of the update direction (TD: ‖mean δ∇Q‖; DPG: ‖∇_θJ‖, or
//! ‖w‖ with the natural gradient; TD+DPG: ‖step‖/α_DPG), `failed_solves` the discarded episode
//! attempts plus the transitions skipped because their Q solve or ∇_θπ failed.
//!
//! **Reproducibility.** Episode attempt j (a counter over the run) draws its initial state and
//! noise from the ChaCha8 streams of the run seed switched to stream j (voltage: scenario seed
//! 10000 + j), exactly like DiffOP's trainer; sums run in episode order. θ is therefore
//! bit-identical for any thread count, and a run resumed from an [`RlmpcCheckpoint`] finishes
//! with exactly the θ and history of an uninterrupted one.

pub mod bounds;
pub mod checkpoint;
pub mod dpg;
pub mod episode;
pub mod lstd;
pub mod run;
pub mod td;
pub mod transition;

use nalgebra::DVector;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use std::time::Instant;

use super::batch::collect_batch;
use super::config::{Mode, Preset, Task, TrainConfig};
use super::evaluate::{evaluate_point, initial_theta, project, EvalPoint};
use super::trainer::IterationRecord;
use super::LearnError;
use crate::solver::SolverSettings;
use episode::{collect, Episode};

pub use bounds::ThetaConstraints;
pub use checkpoint::{CriticWeights, RlmpcCheckpoint, RlmpcState};
pub use episode::{collect_episode, MpcFunctions, Transition};
pub use lstd::{LstdSolution, LstdSystem};
pub use run::{rlmpc_checkpoint_config, run_rlmpc, RlmpcRunOptions, RlmpcSummary};

/// Which RLMPC baseline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RlmpcMethod {
    /// RLMPC-TD: semi-gradient Q-learning (§11.2).
    Td,
    /// RLMPC-DPG: deterministic policy gradient with a compatible LSTD critic (§11.3).
    Dpg,
    /// TD and DPG steps combined: the **project proxy** of §11.3.
    TdDpg,
}

impl RlmpcMethod {
    /// All methods.
    pub const ALL: [RlmpcMethod; 3] = [RlmpcMethod::Td, RlmpcMethod::Dpg, RlmpcMethod::TdDpg];

    /// The CLI name: `rlmpc-td`, `rlmpc-dpg`, `rlmpc-td-dpg`.
    pub fn name(self) -> &'static str {
        match self {
            RlmpcMethod::Td => "rlmpc-td",
            RlmpcMethod::Dpg => "rlmpc-dpg",
            RlmpcMethod::TdDpg => "rlmpc-td-dpg",
        }
    }
}

impl fmt::Display for RlmpcMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for RlmpcMethod {
    type Err = LearnError;
    /// Accepts `rlmpc-td`, `rlmpc-dpg`, `rlmpc-td-dpg` (case-insensitive; the `rlmpc-` prefix
    /// and `_` for `-` are optional).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm = s.to_ascii_lowercase().replace('_', "-");
        let short = norm.strip_prefix("rlmpc-").unwrap_or(&norm);
        match short {
            "td" => Ok(RlmpcMethod::Td),
            "dpg" => Ok(RlmpcMethod::Dpg),
            "td-dpg" => Ok(RlmpcMethod::TdDpg),
            _ => Err(LearnError::Config(format!(
                "unknown RLMPC method `{s}`; expected rlmpc-td, rlmpc-dpg or rlmpc-td-dpg"
            ))),
        }
    }
}

/// Settings of an RLMPC run. [`RlmpcConfig::new`] gives the project defaults of §11.2–11.3.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RlmpcConfig {
    /// Task.
    pub task: Task,
    /// Method.
    pub method: RlmpcMethod,
    /// Planning horizon H ≥ 2 (default: DiffOP Step mode's H).
    pub horizon: usize,
    /// Iterations K (default 500 nonlinear, 1000 voltage).
    pub iterations: usize,
    /// Episodes per iteration N (default 10).
    pub batch: usize,
    /// Exploration scale σ > 0 of e ~ 𝒩(0, σ²I) (default: DiffOP's σ of the task).
    pub sigma: f64,
    /// Discount γ ∈ (0, 1] (default 0.99).
    pub gamma: f64,
    /// TD step α_TD > 0 (default 1e-4).
    pub alpha_td: f64,
    /// DPG step α_DPG > 0 (default 1e-4).
    pub alpha_dpg: f64,
    /// DPG natural-gradient option: step along w instead of ∇_θJ (default false).
    pub natural_gradient: bool,
    /// Ridge ρ > 0 of both LSTD solves (default 1e-6).
    pub ridge: f64,
    /// Run seed (θ(0), initial states and noise streams).
    pub seed: u64,
    /// Evaluate the deterministic policy every this many iterations (0 = only at the end;
    /// default 10 nonlinear, 250 voltage as DiffOP).
    pub eval_every: usize,
    /// Voltage: evaluation scenarios (seeds 0 … n−1; default 500, Table 2).
    pub eval_scenarios: usize,
    /// Largest allowed fraction of failed episode attempts in one batch (default 0.2).
    pub max_failure_fraction: f64,
    /// Solver settings of the MPC.
    pub solver: SolverSettings,
    /// The valid set θ is projected onto after every update ([`bounds`]; default: the task's
    /// [`ThetaConstraints::for_task`]; None — also what a checkpoint without the key reads as
    /// — only the θ_f floor).
    #[serde(default)]
    pub constraints: Option<ThetaConstraints>,
}

impl RlmpcConfig {
    /// The project defaults for `task` and `method`.
    ///
    /// ```
    /// use diffop::learn::rlmpc::{RlmpcConfig, RlmpcMethod};
    /// use diffop::learn::Task;
    /// let c = RlmpcConfig::new(Task::Cartpole, RlmpcMethod::Td);
    /// assert_eq!((c.horizon, c.batch, c.gamma, c.alpha_td), (6, 10, 0.99, 1e-4));
    /// assert!(c.validate().is_ok());
    /// ```
    pub fn new(task: Task, method: RlmpcMethod) -> Self {
        Self {
            task,
            method,
            horizon: task.default_horizon(Mode::Step),
            iterations: task.default_iterations(),
            batch: 10,
            sigma: task.default_sigma(),
            gamma: 0.99,
            alpha_td: 1e-4,
            alpha_dpg: 1e-4,
            natural_gradient: false,
            ridge: 1e-6,
            seed: 0,
            eval_every: if task == Task::Voltage { 250 } else { 10 },
            eval_scenarios: 500,
            max_failure_fraction: 0.2,
            solver: SolverSettings::default(),
            constraints: Some(ThetaConstraints::for_task(task)),
        }
    }

    /// Set both step sizes α_TD = α_DPG = α.
    pub fn with_alpha(mut self, alpha: f64) -> Self {
        self.alpha_td = alpha;
        self.alpha_dpg = alpha;
        self
    }

    /// Check every field; the message names the first bad one.
    pub fn validate(&self) -> Result<(), LearnError> {
        let bad = |msg: String| Err(LearnError::Config(msg));
        if self.horizon < 2 {
            return bad(format!(
                "horizon H = {} must be at least 2 (Q eliminates u_0 and keeps a tail)",
                self.horizon
            ));
        }
        if self.iterations == 0 {
            return bad("iterations K must be at least 1".into());
        }
        if self.batch == 0 {
            return bad("batch size N must be at least 1".into());
        }
        if !(self.sigma.is_finite() && self.sigma > 0.0) {
            return bad(format!(
                "exploration scale σ must be finite and > 0 (exploration is mandatory), got {}",
                self.sigma
            ));
        }
        if !(self.gamma.is_finite() && self.gamma > 0.0 && self.gamma <= 1.0) {
            return bad(format!("discount γ must be in (0, 1], got {}", self.gamma));
        }
        for (name, a) in [("alpha_td", self.alpha_td), ("alpha_dpg", self.alpha_dpg)] {
            if !(a.is_finite() && a > 0.0) {
                return bad(format!("step size {name} must be finite and > 0, got {a}"));
            }
        }
        if !(self.ridge.is_finite() && self.ridge > 0.0) {
            return bad(format!(
                "LSTD ridge ρ must be finite and > 0, got {}",
                self.ridge
            ));
        }
        if self.eval_scenarios == 0 {
            return bad("eval_scenarios must be at least 1".into());
        }
        if !(self.max_failure_fraction.is_finite()
            && (0.0..1.0).contains(&self.max_failure_fraction))
        {
            return bad(format!(
                "max_failure_fraction must be in [0, 1), got {}",
                self.max_failure_fraction
            ));
        }
        self.solver
            .validate()
            .map_err(|e| LearnError::Config(e.to_string()))?;
        Ok(())
    }

    /// The DiffOP Step-mode configuration with this task, horizon, seed and solver: the source
    /// of θ(0), the projection Π and the deterministic evaluation.
    pub fn train_config(&self) -> TrainConfig {
        let mut c = TrainConfig::preset(self.task, Mode::Step, Preset::Default);
        c.horizon = self.horizon;
        c.h = 1;
        c.seed = self.seed;
        c.solver = self.solver.clone();
        c.eval_scenarios = self.eval_scenarios;
        c
    }

    /// The default run directory name `<method>-<task>-seed<S>`.
    pub fn default_run_name(&self) -> String {
        format!("{}-{}-seed{}", self.method, self.task, self.seed)
    }
}

/// The RLMPC learner: θ, counters and the log.
#[derive(Debug)]
pub struct Rlmpc {
    config: RlmpcConfig,
    train: TrainConfig,
    theta: Vec<f64>,
    iteration: usize,
    episodes: u64,
    history: Vec<IterationRecord>,
    last_critic: Option<LstdSolution>,
    elapsed_s: f64,
}

impl Rlmpc {
    /// A fresh run from DiffOP's θ(0) of the run seed.
    pub fn new(config: RlmpcConfig) -> Result<Self, LearnError> {
        config.validate()?;
        let train = config.train_config();
        train.validate()?;
        let theta = initial_theta(&train)?;
        if let Some(c) = &config.constraints {
            c.validate(theta.len())?;
        }
        Ok(Self {
            config,
            train,
            theta,
            iteration: 0,
            episodes: 0,
            history: Vec::new(),
            last_critic: None,
            elapsed_s: 0.0,
        })
    }

    /// Continue from a saved state under `config` (normally through
    /// [`RlmpcCheckpoint::resume`], which also checks that `config` matches the checkpoint's).
    /// K may exceed the state's; a final evaluation-only row of a shorter run is dropped so the
    /// history stays ordered.
    pub fn from_state(config: RlmpcConfig, state: RlmpcState) -> Result<Self, LearnError> {
        let mut learner = Self::new(config)?;
        let d = learner.theta.len();
        if state.theta.len() != d {
            return Err(LearnError::Checkpoint(format!(
                "θ has {} entries, the {} policy has d = {d}",
                state.theta.len(),
                learner.config.task
            )));
        }
        if state.iteration > learner.config.iterations {
            return Err(LearnError::Checkpoint(format!(
                "the checkpoint is at iteration {}, beyond the configured K = {}",
                state.iteration, learner.config.iterations
            )));
        }
        learner.theta = state.theta;
        learner.iteration = state.iteration;
        learner.episodes = state.episodes;
        learner.history = state.history;
        learner.last_critic = state.last_critic.as_ref().map(LstdSolution::from);
        learner.elapsed_s = state.elapsed_s;
        if let Some(last) = learner.history.last() {
            if last.batch_mean_cost.is_none() && last.iteration < learner.config.iterations {
                learner.history.pop();
            }
        }
        Ok(learner)
    }

    /// A copy of the mutable state (what [`RlmpcCheckpoint`] saves).
    pub fn state(&self) -> RlmpcState {
        RlmpcState {
            theta: self.theta.clone(),
            iteration: self.iteration,
            episodes: self.episodes,
            history: self.history.clone(),
            last_critic: self.last_critic.as_ref().map(CriticWeights::from),
            elapsed_s: self.elapsed_s,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &RlmpcConfig {
        &self.config
    }

    /// Current θ⁽ᵏ⁾.
    pub fn theta(&self) -> &[f64] {
        &self.theta
    }

    /// Every record so far.
    pub fn history(&self) -> &[IterationRecord] {
        &self.history
    }

    /// True when all K iterations have run.
    pub fn is_done(&self) -> bool {
        self.iteration >= self.config.iterations
    }

    /// Next iteration k.
    pub fn iteration(&self) -> usize {
        self.iteration
    }

    /// Episode attempts so far (the next one is number j = `episodes`).
    pub fn episodes(&self) -> u64 {
        self.episodes
    }

    /// Accumulated wall time \[s\].
    pub fn elapsed_s(&self) -> f64 {
        self.elapsed_s
    }

    /// The LSTD critic (v, w) of the last DPG update (None for TD or before the first update).
    pub fn last_critic(&self) -> Option<&LstdSolution> {
        self.last_critic.as_ref()
    }

    /// The evaluation of θ⁽ᵏ⁾; a failed evaluation is recorded with its reason.
    fn evaluate_now(&self) -> Result<EvalPoint, LearnError> {
        evaluate_point(&self.train, &self.theta)
    }

    /// Collect N episodes with θ⁽ᵏ⁾ in parallel, redrawing failed attempts. Returns the
    /// episodes (in batch order) and the number of failed attempts.
    fn collect_batch(&mut self) -> Result<(Vec<Episode>, usize), LearnError> {
        let (config, theta) = (&self.config, &self.theta);
        collect_batch(
            config.batch,
            &mut self.episodes,
            config.max_failure_fraction,
            self.iteration,
            |j| collect(config, theta, j),
        )
    }

    /// One iteration: evaluate when due, N exploring episodes, one update. Returns its record
    /// (also appended to the history).
    pub fn step(&mut self) -> Result<IterationRecord, LearnError> {
        let start = Instant::now();
        let k = self.iteration;
        let ev = if self.config.eval_every > 0 && k % self.config.eval_every == 0 {
            self.evaluate_now()?
        } else {
            EvalPoint::default()
        };
        let (episodes, failed) = self.collect_batch()?;
        let batch_mean = episodes.iter().map(|e| e.cost).sum::<f64>() / episodes.len() as f64;
        if !batch_mean.is_finite() {
            return Err(LearnError::NonFinite {
                iteration: k,
                what: "the batch cost",
            });
        }
        let (step, grad_norm) = self.update_step(&episodes)?;
        let theta = self.theta.clone();
        let mut next = theta.clone();
        for (t, s) in next.iter_mut().zip(step.iter()) {
            *t -= s;
        }
        if !grad_norm.is_finite() || next.iter().any(|v| !v.is_finite()) {
            return Err(LearnError::NonFinite {
                iteration: k,
                what: "the update direction",
            });
        }
        if let Some(c) = &self.config.constraints {
            c.apply(&theta, &mut next)?;
        }
        project(&self.train, &mut next)?;
        self.theta = next;
        self.iteration += 1;
        let wall = start.elapsed().as_secs_f64();
        self.elapsed_s += wall;
        let record = IterationRecord {
            iteration: k,
            batch_mean_cost: Some(batch_mean),
            eval_cost: ev.cost,
            transient: ev.transient,
            steady: ev.steady,
            eval_error: ev.error,
            grad_norm: Some(grad_norm),
            failed_solves: failed + episodes.iter().map(|e| e.skipped).sum::<usize>(),
            weakly_active: episodes.iter().map(|e| e.weakly_active).sum(),
            wall_time_s: wall,
            theta,
        };
        self.history.push(record.clone());
        Ok(record)
    }

    /// The step Δ (θ ← Π(θ − Δ)) of the configured method and the logged direction norm.
    fn update_step(&mut self, episodes: &[Episode]) -> Result<(DVector<f64>, f64), LearnError> {
        let c = &self.config;
        let d = self.theta.len();
        let td_dir = |eps: &[Episode]| td::td_direction(eps, c.gamma, d).0;
        let mut dpg_dir = |eps: &[Episode]| -> Result<DVector<f64>, LearnError> {
            let (sol, g, _) = dpg::dpg_step(eps, c.gamma, c.ridge, d).map_err(|e| match e {
                LearnError::NonFinite { what, .. } => LearnError::NonFinite {
                    iteration: self.iteration,
                    what,
                },
                e => e,
            })?;
            let dir = if c.natural_gradient { sol.w.clone() } else { g };
            self.last_critic = Some(sol);
            Ok(dir)
        };
        Ok(match c.method {
            RlmpcMethod::Td => {
                // θ + α d_TD  ⇔  Δ = −α d_TD
                let g = td_dir(episodes);
                let norm = g.norm();
                (g * (-c.alpha_td), norm)
            }
            RlmpcMethod::Dpg => {
                let g = dpg_dir(episodes)?;
                let norm = g.norm();
                (g * c.alpha_dpg, norm)
            }
            RlmpcMethod::TdDpg => {
                let (alpha_td, alpha_dpg) = (c.alpha_td, c.alpha_dpg);
                let g_q = -td_dir(episodes);
                let step = dpg_dir(episodes)? * alpha_dpg + g_q * alpha_td;
                let norm = step.norm() / alpha_dpg;
                (step, norm)
            }
        })
    }

    /// Evaluate the final θ⁽ᴷ⁾ and append an evaluation-only record (once).
    pub fn finish(&mut self) -> Result<IterationRecord, LearnError> {
        if let Some(last) = self.history.last() {
            if last.batch_mean_cost.is_none() && last.iteration == self.iteration {
                return Ok(last.clone());
            }
        }
        let start = Instant::now();
        let ev = self.evaluate_now()?;
        let wall = start.elapsed().as_secs_f64();
        self.elapsed_s += wall;
        let record = IterationRecord {
            iteration: self.iteration,
            batch_mean_cost: None,
            eval_cost: ev.cost,
            transient: ev.transient,
            steady: ev.steady,
            eval_error: ev.error,
            grad_norm: None,
            failed_solves: 0,
            weakly_active: 0,
            wall_time_s: wall,
            theta: self.theta.clone(),
        };
        self.history.push(record.clone());
        Ok(record)
    }
}
