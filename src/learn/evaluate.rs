//! Deterministic evaluation (σ = 0) and the reference controllers (`docs/spec/RESULTS.md` §6.2,
//! `docs/spec/ENVIRONMENTS.md` §7.10).
//!
//! * Nonlinear tasks: the mean true episode cost over the unperturbed demonstration states
//!   x̄_k, the policy re-planning every h steps (Step: receding horizon with its H; Traj: open
//!   loop over H = T).
//! * Voltage: the 500-scenario Table-2 metric (transient and steady-state cost) with the
//!   evaluation limits, re-planning every h steps (Traj: h = H = 30, at t = 0, 30, 60, 90), the
//!   policy context (v^env, limits) taken from the evaluation plant.
//!
//! [`ControllerKind`] names the policies the CLI can evaluate: the learned θ, the untrained θ(0)
//! and `mpc-true` (true θ_f with the oracle weights, or unit weights when the true cost has no
//! Table-1 form; voltage: the true A with θ_v = 1).

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::config::TrainConfig;
use super::{Failure, LearnError};
use crate::envs::voltage::metrics::{evaluate, EvalSettings, VoltageController};
use crate::envs::voltage::{network::N_CTRL, VoltageEnv};
use crate::envs::{Env, NonlinearEnv};
use crate::model::tasks::init::{project_theta_f, theta0_nonlinear_with, theta0_voltage};
use crate::model::tasks::{NonlinearTask, Table1Policy, VoltagePolicy};
use crate::policy::{OptPolicy, PolicyError};
use crate::rng::{stream, Stream};

/// Which policy to evaluate.
#[derive(Clone, Debug, PartialEq)]
pub enum ControllerKind {
    /// True model: θ_f = φ_true with the oracle weights where they exist, else unit weights
    /// (voltage: A of §7.11, θ_v = 1).
    MpcTrue,
    /// θ⁽⁰⁾ of the run seed.
    Untrained,
    /// An explicit θ (e.g. from a checkpoint).
    Theta(Vec<f64>),
}

/// The result of one deterministic evaluation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalOutcome {
    /// Nonlinear: mean true episode cost over the demonstration states; voltage: the transient
    /// cost.
    pub cost: f64,
    /// Voltage: transient cost (mean Σ_t 0.99ᵗ F_t).
    pub transient: Option<f64>,
    /// Voltage: steady-state cost (mean F_100).
    pub steady: Option<f64>,
    /// Nonlinear: the cost from every demonstration state, in order (empty for voltage).
    pub per_state: Vec<f64>,
}

/// θ⁽⁰⁾ of `config`: `config.theta0` (projected) when given, else drawn from the run seed's θ(0)
/// stream.
pub fn initial_theta(config: &TrainConfig) -> Result<Vec<f64>, LearnError> {
    if let Some(t) = &config.theta0 {
        config.validate()?;
        let mut t = t.clone();
        project(config, &mut t)?;
        return Ok(t);
    }
    let mut rng = stream(config.seed, Stream::ThetaInit);
    match config.task.nonlinear() {
        Some(task) => Ok(theta0_nonlinear_with(
            task,
            task.sigma0(),
            config.theta_f_floor,
            &mut rng,
        )?),
        None => Ok(theta0_voltage(&mut rng)),
    }
}

/// The θ of a controller kind for `config`'s task.
pub fn theta_for(config: &TrainConfig, kind: &ControllerKind) -> Result<Vec<f64>, LearnError> {
    match kind {
        ControllerKind::Theta(t) => Ok(t.clone()),
        ControllerKind::Untrained => initial_theta(config),
        ControllerKind::MpcTrue => Ok(config.task.mpc_true_theta()),
    }
}

/// Project θ onto the admissible set (θ_f ≥ floor for the nonlinear tasks; voltage: none).
pub fn project(config: &TrainConfig, theta: &mut [f64]) -> Result<usize, LearnError> {
    match config.task.nonlinear() {
        Some(task) => Ok(project_theta_f(task, theta, config.theta_f_floor)?),
        None => Ok(0),
    }
}

/// Evaluate the deterministic policy with parameters θ (module docs).
pub fn evaluate_theta(config: &TrainConfig, theta: &[f64]) -> Result<EvalOutcome, LearnError> {
    config.validate()?;
    let d = initial_theta(config)?.len();
    if theta.len() != d {
        return Err(LearnError::Config(format!(
            "θ has {} entries, the {} policy has d = {d}",
            theta.len(),
            config.task
        )));
    }
    match config.task.nonlinear() {
        Some(task) => evaluate_nonlinear(config, task, theta),
        None => evaluate_voltage(config, theta),
    }
}

/// Evaluate a controller kind (see [`theta_for`]).
pub fn evaluate_kind(
    config: &TrainConfig,
    kind: &ControllerKind,
) -> Result<EvalOutcome, LearnError> {
    evaluate_theta(config, &theta_for(config, kind)?)
}

fn eval_policy_error(e: PolicyError) -> LearnError {
    match e {
        PolicyError::SolveFailed(_) | PolicyError::Sensitivity(_) => {
            LearnError::Evaluation(Failure::Policy(e))
        }
        other => other.into(),
    }
}

fn evaluate_nonlinear(
    config: &TrainConfig,
    task: NonlinearTask,
    theta: &[f64],
) -> Result<EvalOutcome, LearnError> {
    let states = NonlinearEnv::new(task).evaluation_states();
    let per_state = states
        .par_iter()
        .map(|x0| episode_nonlinear(config, task, theta, x0))
        .collect::<Result<Vec<f64>, LearnError>>()?;
    let cost = per_state.iter().sum::<f64>() / per_state.len() as f64;
    Ok(EvalOutcome {
        cost,
        transient: None,
        steady: None,
        per_state,
    })
}

/// The true cost of one deterministic episode from `x0`.
fn episode_nonlinear(
    config: &TrainConfig,
    task: NonlinearTask,
    theta: &[f64],
    x0: &[f64],
) -> Result<f64, LearnError> {
    let mut env = NonlinearEnv::new(task);
    let mut x = env.reset_to(x0)?;
    let mut policy = OptPolicy::new(
        Table1Policy::new(task),
        config.horizon,
        config.h,
        theta.to_vec(),
        config.solver.clone(),
    )?;
    let m = env.action_dim();
    let big_t = env.horizon();
    let (mut cost, mut t) = (0.0, 0);
    while t < big_t {
        let k = config.h.min(big_t - t);
        policy.plan(&x).map_err(eval_policy_error)?;
        let u = policy.planned_actions(k);
        for ui in u.chunks(m) {
            let step = env
                .step(ui)
                .map_err(|e| LearnError::Evaluation(Failure::Plant(e)))?;
            cost += step.cost;
            x = step.observation;
        }
        t += k;
    }
    Ok(cost)
}

/// The DiffOP policy as a deterministic voltage controller: re-plans every h steps from the
/// plant's policy state, with the plant's context.
#[derive(Debug)]
pub struct PolicyController {
    horizon: usize,
    h: usize,
    theta: Vec<f64>,
    solver: crate::solver::SolverSettings,
    policy: Option<OptPolicy<VoltagePolicy>>,
    plan: Vec<[f64; N_CTRL]>,
    next: usize,
}

impl PolicyController {
    /// A controller with horizon H, h actions per solve and parameters θ.
    pub fn new(config: &TrainConfig, theta: &[f64]) -> Self {
        Self {
            horizon: config.horizon,
            h: config.h,
            theta: theta.to_vec(),
            solver: config.solver.clone(),
            policy: None,
            plan: Vec::new(),
            next: 0,
        }
    }
}

impl VoltageController for PolicyController {
    type Error = PolicyError;

    fn reset(&mut self, env: &VoltageEnv) -> Result<(), Self::Error> {
        if self.policy.is_none() {
            self.policy = Some(OptPolicy::new(
                VoltagePolicy::default(),
                self.horizon,
                self.h,
                self.theta.clone(),
                self.solver.clone(),
            )?);
        }
        if let Some(p) = self.policy.as_mut() {
            p.reset();
            p.set_context(&env.policy_context())?;
        }
        self.plan.clear();
        self.next = 0;
        Ok(())
    }

    fn act(&mut self, env: &VoltageEnv) -> Result<[f64; N_CTRL], Self::Error> {
        if self.next >= self.plan.len() {
            let policy = self
                .policy
                .as_mut()
                .ok_or_else(|| PolicyError::Settings("act called before reset".into()))?;
            policy.plan(&env.policy_state())?;
            let u = policy.planned_actions(self.h);
            self.plan = u.chunks(N_CTRL).map(|c| [c[0], c[1], c[2]]).collect();
            self.next = 0;
        }
        let u = self.plan[self.next];
        self.next += 1;
        Ok(u)
    }
}

fn evaluate_voltage(config: &TrainConfig, theta: &[f64]) -> Result<EvalOutcome, LearnError> {
    let settings = EvalSettings {
        scenarios: config.eval_scenarios,
        ..EvalSettings::default()
    };
    let m = evaluate(&settings, || PolicyController::new(config, theta))
        .map_err(|e| LearnError::Evaluation(Failure::Voltage(Box::new(e))))?;
    Ok(EvalOutcome {
        cost: m.transient,
        transient: Some(m.transient),
        steady: Some(m.steady),
        per_state: Vec::new(),
    })
}

/// One training-time evaluation: the metrics, or why the evaluation failed.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct EvalPoint {
    pub cost: Option<f64>,
    pub transient: Option<f64>,
    pub steady: Option<f64>,
    /// The failure (a solve or plant failure on one evaluation state), when there was one.
    pub error: Option<String>,
}

/// Evaluate θ during training: a failed evaluation ([`LearnError::Evaluation`]) is recorded with
/// its reason instead of stopping the run; any other error is returned.
pub(crate) fn evaluate_point(config: &TrainConfig, theta: &[f64]) -> Result<EvalPoint, LearnError> {
    match evaluate_theta(config, theta) {
        Ok(e) => Ok(EvalPoint {
            cost: Some(e.cost),
            transient: e.transient,
            steady: e.steady,
            error: None,
        }),
        Err(LearnError::Evaluation(why)) => Ok(EvalPoint {
            error: Some(why.to_string()),
            ..EvalPoint::default()
        }),
        Err(e) => Err(e),
    }
}
