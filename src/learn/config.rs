//! Training configuration, presets and validation (`docs/spec/ALGORITHMS.md` §5, §14).
//!
//! A [`TrainConfig`] is fully resolved: every field has a value. [`TrainConfig::preset`] builds
//! the defaults of a (task, mode, preset) triple; [`TrainConfig::from_toml`] reads a TOML file in
//! which only `task` is required: the preset of (`task`, `mode`, `preset`) is the base and every
//! key of the file overrides it (nested tables key by key). Unknown keys are rejected.
//!
//! | preset | baseline | cost scaling | truncation |
//! |---|---|---|---|
//! | `default` | deterministic rollout, Adam (η cosine-decayed on the nonlinear tasks) | ÷ L_ref (frozen at k = 0) | b = 3σ; ‖ĝ‖ clipped at 2 (nonlinear tasks); Traj σ/5; arm: Step σ = 0.05, Traj 0.005 |
//! | `paper_faithful` | none | none | R1, b = 0.01·σ² |

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use super::pdp::init::InitMethod;
use super::LearnError;
use crate::envs::voltage::TRAINING_HORIZON;
use crate::model::tasks::init::{A_LINEAR, THETA_F_FLOOR};
use crate::model::tasks::{NonlinearTask, Table1Policy, VoltagePolicy};
use crate::model::OcpModel;
use crate::policy::sampler::{ExplorationConfig, Truncation};
use crate::solver::SolverSettings;

/// The training task.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// Cart-pole swing-up.
    Cartpole,
    /// Two-link robot arm.
    Arm,
    /// 6-DoF quadrotor.
    Quadrotor,
    /// 6-DoF rocket powered landing.
    Rocket,
    /// IEEE 13-bus voltage control.
    Voltage,
}

impl Task {
    /// All tasks.
    pub const ALL: [Task; 5] = [
        Task::Cartpole,
        Task::Arm,
        Task::Quadrotor,
        Task::Rocket,
        Task::Voltage,
    ];

    /// The nonlinear task, or `None` for the voltage task.
    pub fn nonlinear(self) -> Option<NonlinearTask> {
        match self {
            Task::Cartpole => Some(NonlinearTask::Cartpole),
            Task::Arm => Some(NonlinearTask::Arm),
            Task::Quadrotor => Some(NonlinearTask::Quadrotor),
            Task::Rocket => Some(NonlinearTask::Rocket),
            Task::Voltage => None,
        }
    }

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Task::Cartpole => "cartpole",
            Task::Arm => "arm",
            Task::Quadrotor => "quadrotor",
            Task::Rocket => "rocket",
            Task::Voltage => "voltage",
        }
    }

    /// Training episode length T (voltage: 30 steps).
    pub fn episode_len(self) -> usize {
        self.nonlinear()
            .map_or(TRAINING_HORIZON, NonlinearTask::episode_len)
    }

    /// Exploration scale σ **[PROJECT DEFAULT]** (§4.4).
    pub fn default_sigma(self) -> f64 {
        match self {
            Task::Cartpole | Task::Arm => 0.5,
            Task::Quadrotor | Task::Rocket => 0.25,
            Task::Voltage => 0.02,
        }
    }

    /// Default planning horizon H of `mode`: Step 6 (cart-pole, voltage) or 12; Traj H = T.
    pub fn default_horizon(self, mode: Mode) -> usize {
        match (mode, self.nonlinear()) {
            (Mode::Step, Some(t)) => t.step_horizon(),
            (Mode::Step, None) => 6,
            (Mode::Traj, _) => self.episode_len(),
        }
    }

    /// State and control dimensions (n, m) of the policy problem.
    pub fn nm(self) -> (usize, usize) {
        self.nonlinear().map_or((6, 3), NonlinearTask::nm)
    }

    /// Number of policy parameters d.
    pub fn d(self) -> usize {
        match self.nonlinear() {
            Some(t) => Table1Policy::new(t).dims().d,
            None => VoltagePolicy::default().dims().d,
        }
    }

    /// Step-mode horizon H (voltage: 6, the short-horizon configuration).
    pub fn step_horizon(self) -> usize {
        self.default_horizon(Mode::Step)
    }

    /// Traj-mode horizon H = T.
    pub fn traj_horizon(self) -> usize {
        self.default_horizon(Mode::Traj)
    }

    /// The "mpc-true" θ: true φ_f with the oracle weights (rocket: unit weights, its true cost
    /// has no Table-1 form); voltage: θ_v = 1 and the LinDistFlow A.
    pub fn mpc_true_theta(self) -> Vec<f64> {
        match self.nonlinear() {
            Some(t) => t.oracle_theta().unwrap_or_else(|| {
                let (n, _) = t.nm();
                let mut th = vec![1.0; 2 * n];
                th.extend(t.phi_true());
                th
            }),
            None => {
                let mut th = vec![1.0; 3];
                th.extend(A_LINEAR.iter().flatten());
                th
            }
        }
    }

    /// Default iteration count K: 500 nonlinear, 1000 voltage.
    pub fn default_iterations(self) -> usize {
        if self == Task::Voltage {
            1000
        } else {
            500
        }
    }
}

impl fmt::Display for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Task {
    type Err = LearnError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Task::ALL
            .into_iter()
            .find(|t| t.name() == s.to_ascii_lowercase())
            .ok_or_else(|| {
                LearnError::Config(format!(
                    "unknown task `{s}`; expected one of cartpole, arm, quadrotor, rocket, voltage"
                ))
            })
    }
}

/// Execution mode (`docs/spec/ALGORITHMS.md` §2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Receding horizon: h = 1 by default.
    Step,
    /// Open loop: h = H = T by default.
    Traj,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Step => "step",
            Mode::Traj => "traj",
        })
    }
}

impl FromStr for Mode {
    type Err = LearnError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "step" => Ok(Mode::Step),
            "traj" => Ok(Mode::Traj),
            _ => Err(LearnError::Config(format!(
                "unknown mode `{s}`; expected step or traj"
            ))),
        }
    }
}

/// Hyperparameter preset (`docs/spec/ALGORITHMS.md` §14).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    /// Leave-one-out baseline, cost ÷ L_ref, b = 3σ.
    #[default]
    Default,
    /// No baseline, no scaling, truncation R1 with β = 0.01.
    PaperFaithful,
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Preset::Default => "default",
            Preset::PaperFaithful => "paper_faithful",
        })
    }
}

impl FromStr for Preset {
    type Err = LearnError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().replace('-', "_").as_str() {
            "default" => Ok(Preset::Default),
            "paper_faithful" => Ok(Preset::PaperFaithful),
            _ => Err(LearnError::Config(format!(
                "unknown preset `{s}`; expected default or paper_faithful"
            ))),
        }
    }
}

/// Baseline subtracted from the episode cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Baseline {
    /// None: w_n = L_n (paper).
    None,
    /// Leave-one-out mean b_n = (1/(N−1)) Σ_{m≠n} L_m (needs N ≥ 2).
    LeaveOneOut,
    /// b_n = the true cost of the deterministic policy (σ = 0, same θ) from the same initial
    /// state or scenario. It depends on the trajectory's start but not on its exploration
    /// noise, so E[b_n s_n] = 0 and the estimator's mean is unchanged, while the cost spread
    /// between scenarios (large on the voltage task) leaves the weights. Costs one extra
    /// noise-free episode per trajectory (no adjoint solves).
    Deterministic,
}

/// The first-order update rule.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum OptimizerConfig {
    /// Plain gradient descent θ ← θ − η ĝ (paper).
    Sgd,
    /// Adam (Kingma & Ba) with step η.
    Adam {
        /// First-moment decay β₁ ∈ [0, 1).
        beta1: f64,
        /// Second-moment decay β₂ ∈ [0, 1).
        beta2: f64,
        /// Denominator offset ε > 0.
        eps: f64,
    },
}

impl OptimizerConfig {
    /// Adam with the usual constants (0.9, 0.999, 1e-8).
    pub fn adam() -> Self {
        OptimizerConfig::Adam {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }
}

/// Largest planning horizon H of a training run: 1000 steps, ten times the longest episode
/// (a policy solve costs O(H) time and memory per step, and H > T only repeats the terminal
/// part of the plan).
pub const MAX_HORIZON: usize = 1000;

/// Largest number of worker threads of a run.
pub const MAX_THREADS: usize = 1024;

/// A fully resolved training configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Task.
    pub task: Task,
    /// Execution mode.
    pub mode: Mode,
    /// Preset the defaults came from (recorded for reference).
    pub preset: Preset,
    /// Planning horizon H.
    pub horizon: usize,
    /// Actions executed per solve h, 1 ≤ h ≤ H.
    pub h: usize,
    /// Iterations K.
    pub iterations: usize,
    /// Trajectories per iteration N.
    pub batch: usize,
    /// Learning rate η (the first iteration's when a final rate is set).
    pub learning_rate: f64,
    /// Final learning rate η_K of a cosine schedule η_k = η_K + ½(η − η_K)(1 + cos(πk/K));
    /// `None` (default): constant η.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learning_rate_final: Option<f64>,
    /// Exploration scale σ (control units).
    pub sigma: f64,
    /// θ⁽⁰⁾ given explicitly (d entries) instead of the run seed's draw (`docs/spec/ENVIRONMENTS.md`
    /// §1.4); θ_f entries below `theta_f_floor` are projected up. `None` (default): the draw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub theta0: Option<Vec<f64>>,
    /// Where θ⁽⁰⁾ comes from: `"theta0"` (default: the draw or `theta0`) or `"pdp"` (PDP
    /// (Offline) imitation in the Table-1 parameterisation from that θ(0), then DiffOP;
    /// [`super::pdp::init`]).
    #[serde(default, skip_serializing_if = "InitMethod::is_default")]
    pub init: InitMethod,
    /// PDP iterations of `init = "pdp"` (default
    /// [`super::pdp::init::DEFAULT_INIT_PDP_ITERATIONS`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_pdp_iterations: Option<usize>,
    /// Truncation rule of the exploration window.
    pub truncation: Truncation,
    /// Baseline of the REINFORCE weight.
    pub baseline: Baseline,
    /// Causal ("reward-to-go") weights: the score of the action executed at step t is weighted
    /// by the cost from t on, G_t = Σ_{τ≥t} c_τ, minus the baseline's cost from t on, instead
    /// of by the whole episode cost. Unbiased (the costs before t do not depend on the noise at
    /// t) and of lower variance; costs one full Jacobian per decision with h > 1 (one VJP when
    /// h = 1). `false` (default): the paper's eq. (8).
    #[serde(default)]
    pub reward_to_go: bool,
    /// Antithetic pairs: trajectories 2p and 2p + 1 share their initial state (scenario) and
    /// exploration stream, the second drawing −ε where the first draws ε (same law: the window
    /// is symmetric). Each trajectory is still an exact REINFORCE sample, so ĝ stays unbiased;
    /// in a pair the terms of the cost even in ε cancel, ε(L(u*+ε) − L(u*−ε)) = 2ε∇L·ε + O(ε⁴),
    /// which removes the second-order noise left near an optimum (open-loop Traj: exactly, the
    /// baseline cancels too). Needs an even N and no leave-one-out baseline (the partner's cost
    /// depends on the own noise). `false` (default): independent trajectories, as the paper.
    #[serde(default)]
    pub antithetic: bool,
    /// Divide the weight by L_ref = max(|mean L at k = 0|, 1e-8), frozen.
    pub normalize_cost: bool,
    /// Update rule.
    pub optimizer: OptimizerConfig,
    /// Rescale ĝ to this norm when it is larger (none by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip_grad_norm: Option<f64>,
    /// Lower bound of every θ_f entry (nonlinear tasks).
    pub theta_f_floor: f64,
    /// Evaluate the deterministic policy every this many iterations (0 = only at the end).
    pub eval_every: usize,
    /// Voltage task: number of evaluation scenarios (seeds 0 … n−1; Table 2 uses 500).
    pub eval_scenarios: usize,
    /// Write a checkpoint every this many iterations (and always at the end).
    pub checkpoint_every: usize,
    /// Run seed s.
    pub seed: u64,
    /// Worker threads (0 = rayon default).
    pub threads: usize,
    /// Largest allowed fraction of failed trajectory attempts in one batch.
    pub max_failure_fraction: f64,
    /// Solver settings of the policy.
    pub solver: SolverSettings,
}

impl TrainConfig {
    /// The defaults of `task` in `mode` under `preset`.
    ///
    /// ```
    /// use diffop::learn::{Mode, Preset, Task, TrainConfig};
    /// let c = TrainConfig::preset(Task::Cartpole, Mode::Step, Preset::Default);
    /// assert_eq!((c.horizon, c.h, c.iterations, c.batch), (6, 1, 500, 10));
    /// assert!(c.validate().is_ok());
    /// ```
    pub fn preset(task: Task, mode: Mode, preset: Preset) -> Self {
        let horizon = task.default_horizon(mode);
        let h = match mode {
            Mode::Step => 1,
            Mode::Traj => horizon,
        };
        let (truncation, baseline, normalize_cost) = match preset {
            Preset::Default => (Truncation::default(), Baseline::LeaveOneOut, true),
            Preset::PaperFaithful => (Truncation::paper_faithful(), Baseline::None, false),
        };
        // `default` preset: the deterministic-rollout baseline and Adam on every task.
        // Voltage (1e-2 → 1e-3, cosine; seed 0: Step −6.799 → −6.811; Traj, with σ/2,
        // −6.721 → −6.808): with the leave-one-out baseline the cost spread between
        // scenarios (low- vs high-voltage) swamps the exploration signal, and plain gradient
        // descent with η = 0.1 moves the entries of A (≈ 0.05) by O(10) in one step: measured,
        // 50 iterations took the 500-scenario transient cost from −2.70 to −0.44.
        // Nonlinear tasks (PROJECT DEFAULT, measured on seed 0, README "Reproducing the
        // paper"): Step η 0.1 → 0.005 (cosine) — the arm reached 155.6 after 300 iterations
        // where SGD η = 0.1 with the leave-one-out baseline spiked to 2× its start and ended
        // at 185; Traj η 0.05 → 0.002 and σ/5 — the open-loop score has T·m noise components
        // and the weight's second-order term grows with σ² (arm at the optimum: ±50 at σ = 0.17).
        // `paper_faithful` keeps the paper's rule (plain descent, no baseline).
        let (baseline, optimizer, learning_rate, learning_rate_final) = match (preset, task, mode) {
            (Preset::PaperFaithful, ..) => (baseline, OptimizerConfig::Sgd, 0.1, None),
            (Preset::Default, Task::Voltage, _) => (
                Baseline::Deterministic,
                OptimizerConfig::adam(),
                1e-2,
                Some(1e-3),
            ),
            (Preset::Default, _, Mode::Step) => (
                Baseline::Deterministic,
                OptimizerConfig::adam(),
                0.1,
                Some(0.005),
            ),
            // Arm Traj: see the σ below.
            (Preset::Default, Task::Arm, Mode::Traj) => (
                Baseline::Deterministic,
                OptimizerConfig::adam(),
                0.1,
                Some(0.004),
            ),
            (Preset::Default, _, Mode::Traj) => (
                Baseline::Deterministic,
                OptimizerConfig::adam(),
                0.05,
                Some(0.002),
            ),
        };
        // Arm Traj (PROJECT DEFAULT, σ = 0.005 and η 0.1 → 0.004): at the optimum the plant's
        // ∇_uL vanishes, so what is left of the REINFORCE noise is the second-order term
        // ½εᵀ∇²L ε, which grows with σ. Final evaluation over seeds 0–4 (K = 500, N = 10):
        // 171.6 (σ = 0.1, η 0.05 → 0.002) → 162.7 with σ = 0.005 (seeds 0–2) → 158.9 with
        // σ = 0.005 and η 0.1 → 0.004 (150.8 / 159.8 / 161.6 / 163.4 / 158.8). The same
        // change did not help the cart-pole (solve failures) nor the quadrotor (3427 / 3290 vs
        // 3386 / 3343 on seeds 0–1).
        // Arm Step (PROJECT DEFAULT, σ = 0.05): seeds 0–4 end at 142.4 / 143.4 / 143.7 / 144.5 /
        // 146.0 (mean 144.0, 1.04× the optimum) instead of 149.6 with σ = 0.5; σ = 0.02 / 0.1 give
        // the same. The quadrotor does not follow (σ = 0.05: 4092 vs 3221 on seed 0).
        let sigma = match (preset, mode, task) {
            (Preset::Default, Mode::Step, Task::Arm) => 0.05,
            (Preset::Default, Mode::Traj, Task::Arm) => 0.005,
            (Preset::Default, Mode::Traj, Task::Voltage) => task.default_sigma() / 2.0,
            (Preset::Default, Mode::Traj, _) => task.default_sigma() / 5.0,
            _ => task.default_sigma(),
        };
        // A 500-scenario evaluation costs ~15 s: evaluate the voltage task less often.
        let eval_every = if task == Task::Voltage { 250 } else { 10 };
        Self {
            task,
            mode,
            preset,
            horizon,
            h,
            iterations: task.default_iterations(),
            batch: 10,
            learning_rate,
            learning_rate_final,
            sigma,
            theta0: None,
            init: InitMethod::Theta0,
            init_pdp_iterations: None,
            truncation,
            baseline,
            // PROJECT DEFAULT: causal weights on the voltage Step task. With the same 10,000
            // trajectories the 500-scenario transient cost of seeds 0–2 went from −6.811 /
            // −6.765 / −6.816 to −6.818 / −6.819 / −6.818 (seeds 3, 4: −6.819, −6.822; seed 1
            // had stalled near −6.75 from iteration 250 on): each of the 100 first actions is
            // weighted by its own cost-to-go instead of the whole scenario's cost. No gain on
            // voltage Traj (h = 30: −6.807 / −6.757 / −6.810 / −6.806 / −6.804, unchanged) nor
            // on the arm (Step 164.9 vs 165.1 after 300 iterations).
            reward_to_go: preset == Preset::Default && task == Task::Voltage && mode == Mode::Step,
            antithetic: false,
            normalize_cost,
            optimizer,
            // PROJECT DEFAULT: on the arm, unclipped η = 0.1 steps (‖ĝ‖ spikes to ~25) threw θ
            // into a region where the policy stalls at 2–3× the starting cost; clipping at 2
            // keeps the descent (cart-pole's ‖ĝ‖ stays below 1.4, so it is unaffected).
            clip_grad_norm: (preset == Preset::Default && task != Task::Voltage).then_some(2.0),
            theta_f_floor: THETA_F_FLOOR,
            eval_every,
            eval_scenarios: 500,
            checkpoint_every: 1,
            seed: 0,
            threads: 0,
            max_failure_fraction: 0.2,
            solver: SolverSettings::default(),
        }
    }

    /// Parse a TOML configuration: `task` is required; `mode` (default step) and `preset`
    /// (default `default`) select the base; every other key overrides it. An `[optimizer]`
    /// table with `kind = "adam"` takes the Adam defaults (β₁ 0.9, β₂ 0.999, ε 1e-8) for the
    /// keys it omits; `kind = "sgd"` takes no other keys. (Feature `toml`.)
    #[cfg(feature = "toml")]
    pub fn from_toml(text: &str) -> Result<Self, LearnError> {
        let user: toml::Table =
            toml::from_str(text).map_err(|e| LearnError::Config(format!("TOML: {e}")))?;
        let get = |key: &str| -> Result<Option<String>, LearnError> {
            match user.get(key) {
                None => Ok(None),
                Some(toml::Value::String(s)) => Ok(Some(s.clone())),
                Some(v) => Err(LearnError::Config(format!(
                    "`{key}` must be a string, got {v}"
                ))),
            }
        };
        let task: Task = get("task")?
            .ok_or_else(|| LearnError::Config("`task` is required".into()))?
            .parse()?;
        let mode: Mode = get("mode")?.map_or(Ok(Mode::Step), |s| s.parse())?;
        let preset: Preset = get("preset")?.map_or(Ok(Preset::Default), |s| s.parse())?;
        let mut base = Self::preset(task, mode, preset);
        // An explicit horizon in Traj mode also moves the default h = H.
        if mode == Mode::Traj && !user.contains_key("h") {
            if let Some(toml::Value::Integer(hz)) = user.get("horizon") {
                base.h = usize::try_from(*hz).unwrap_or(0);
            }
        }
        let mut merged = toml::Table::try_from(&base)
            .map_err(|e| LearnError::Format(format!("serialising the preset: {e}")))?;
        merge(&mut merged, user);
        if let Some(toml::Value::Table(opt)) = merged.get_mut("optimizer") {
            complete_optimizer(opt)?;
        }
        let config: TrainConfig = toml::Value::Table(merged)
            .try_into()
            .map_err(|e| LearnError::Config(format!("{e}")))?;
        config.validate()?;
        Ok(config)
    }

    /// The configuration as TOML (every field). (Feature `toml`.)
    #[cfg(feature = "toml")]
    pub fn to_toml(&self) -> Result<String, LearnError> {
        toml::to_string_pretty(self).map_err(|e| LearnError::Format(format!("TOML: {e}")))
    }

    /// Set the horizon and keep Traj mode open loop (h = H); Step mode keeps h.
    pub fn set_horizon(&mut self, horizon: usize) {
        self.horizon = horizon;
        if self.mode == Mode::Traj {
            self.h = horizon;
        }
    }

    /// The exploration settings (σ and the truncation rule).
    pub fn exploration(&self) -> ExplorationConfig {
        ExplorationConfig {
            sigma: self.sigma,
            truncation: self.truncation,
        }
    }

    /// Check every field; the message names the first bad one.
    pub fn validate(&self) -> Result<(), LearnError> {
        let bad = |msg: String| Err(LearnError::Config(msg));
        if self.horizon == 0 || self.horizon > MAX_HORIZON {
            return bad(format!(
                "horizon H must be between 1 and {MAX_HORIZON}, got {}",
                self.horizon
            ));
        }
        if self.threads > MAX_THREADS {
            return bad(format!(
                "threads must be at most {MAX_THREADS} (0 = one per core), got {}",
                self.threads
            ));
        }
        if self.h == 0 || self.h > self.horizon {
            return bad(format!(
                "actions per solve h = {} must satisfy 1 ≤ h ≤ H = {}",
                self.h, self.horizon
            ));
        }
        if self.iterations == 0 {
            return bad("iterations K must be at least 1".into());
        }
        if let Some(t) = &self.theta0 {
            let d = self.task.d();
            if t.len() != d {
                return bad(format!(
                    "theta0 has {} entries, the {} policy has d = {d}",
                    t.len(),
                    self.task
                ));
            }
            if let Some(j) = t.iter().position(|v| !v.is_finite()) {
                return bad(format!("theta0[{j}] = {} is not finite", t[j]));
            }
        }
        if self.init == InitMethod::Pdp && self.task.nonlinear().is_none() {
            return bad(format!(
                "init = \"pdp\" needs a nonlinear task, got {}",
                self.task
            ));
        }
        if self.batch == 0 {
            return bad("batch size N must be at least 1".into());
        }
        if self.antithetic && self.batch % 2 == 1 {
            return bad(format!(
                "antithetic pairs need an even batch size N, got {}",
                self.batch
            ));
        }
        if self.antithetic && self.baseline == Baseline::LeaveOneOut {
            return bad(
                "antithetic pairs cannot use the leave-one-out baseline (a trajectory's \
                 partner depends on its noise, which biases ĝ); use `deterministic` or `none`"
                    .into(),
            );
        }
        if self.baseline == Baseline::LeaveOneOut && self.batch < 2 {
            return bad("the leave-one-out baseline needs a batch size N ≥ 2".into());
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return bad(format!(
                "learning rate η must be finite and > 0, got {}",
                self.learning_rate
            ));
        }
        if let Some(f) = self.learning_rate_final {
            if !(f.is_finite() && f > 0.0) {
                return bad(format!(
                    "final learning rate η_K must be finite and > 0, got {f}"
                ));
            }
        }
        if !(self.sigma.is_finite() && self.sigma > 0.0) {
            return bad(format!(
                "exploration scale σ must be finite and > 0, got {}",
                self.sigma
            ));
        }
        self.exploration()
            .validate()
            .map_err(|e| LearnError::Config(format!("exploration: {e}")))?;
        if let Some(c) = self.clip_grad_norm {
            if !(c.is_finite() && c > 0.0) {
                return bad(format!("clip_grad_norm must be finite and > 0, got {c}"));
            }
        }
        if let OptimizerConfig::Adam { beta1, beta2, eps } = self.optimizer {
            let unit = |b: f64| b.is_finite() && (0.0..1.0).contains(&b);
            if !(unit(beta1) && unit(beta2) && eps.is_finite() && eps > 0.0) {
                return bad(format!(
                    "Adam needs β₁, β₂ ∈ [0, 1) and ε > 0, got ({beta1}, {beta2}, {eps})"
                ));
            }
        }
        if !(self.theta_f_floor.is_finite() && self.theta_f_floor >= 0.0) {
            return bad(format!(
                "theta_f_floor must be finite and ≥ 0 (a lower bound of physical \
                 parameters), got {}",
                self.theta_f_floor
            ));
        }
        if self.eval_scenarios == 0 {
            return bad("eval_scenarios must be at least 1".into());
        }
        if self.checkpoint_every == 0 {
            return bad("checkpoint_every must be at least 1".into());
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

    /// The step size of iteration k: η, or the cosine schedule from η to η_K over K iterations.
    pub fn learning_rate_at(&self, k: usize) -> f64 {
        match self.learning_rate_final {
            None => self.learning_rate,
            Some(end) => {
                let frac = (k as f64 / self.iterations.max(1) as f64).min(1.0);
                end + 0.5 * (self.learning_rate - end) * (1.0 + (std::f64::consts::PI * frac).cos())
            }
        }
    }

    /// The default run directory name `<task>-<mode>-seed<S>`.
    pub fn default_run_name(&self) -> String {
        format!("{}-{}-seed{}", self.task, self.mode, self.seed)
    }
}

/// Check an `[optimizer]` table and fill in the Adam defaults it omits.
#[cfg(feature = "toml")]
fn complete_optimizer(opt: &mut toml::Table) -> Result<(), LearnError> {
    let kind = match opt.get("kind") {
        Some(toml::Value::String(k)) => k.clone(),
        _ => return Ok(()), // serde reports the missing or mistyped tag
    };
    let extra: Vec<&str> = opt
        .keys()
        .map(String::as_str)
        .filter(|k| *k != "kind")
        .collect();
    match kind.as_str() {
        "sgd" if !extra.is_empty() => Err(LearnError::Config(format!(
            "[optimizer] kind = \"sgd\" takes no other keys, got {} (β₁, β₂, ε are Adam's: \
             set kind = \"adam\" or remove them)",
            extra.join(", ")
        ))),
        "adam" => {
            let defaults = toml::Table::try_from(OptimizerConfig::adam())
                .map_err(|e| LearnError::Format(format!("serialising Adam defaults: {e}")))?;
            for (k, v) in defaults {
                opt.entry(k).or_insert(v);
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Recursively overlay `user` on `base` (tables merge key by key, other values replace).
#[cfg(feature = "toml")]
fn merge(base: &mut toml::Table, user: toml::Table) {
    for (k, v) in user {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(u))
                if !u.contains_key("rule") && !u.contains_key("kind") =>
            {
                merge(b, u)
            }
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}
