//! The reference controllers of `rollout` and `eval`, and the episode loops that record them.

use super::mpc::MpcPolicy;
use super::task::Task;
use anyhow::{bail, Context, Result};
use clap::ValueEnum;
use diffop::envs::voltage::network::N_CTRL;
use diffop::envs::voltage::{GradientFlow, VoltageController, VoltageEnv, ZeroController};
use diffop::envs::{Env, NonlinearEnv};
use diffop::learn::evaluate::PolicyController;
use diffop::model::tasks::VoltagePolicy;
use diffop::policy::{OptPolicy, PolicyError};
use diffop::solver::SolverSettings;
use serde::Serialize;

/// A reference controller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Controller {
    /// u = 0.
    Zero,
    /// TASRL's safe gradient flow (voltage only, α = 0.5).
    GradientFlow,
    /// Step-mode MPC (h = 1, receding horizon) with the true model: the mpc-true θ.
    MpcTrue,
}

impl Controller {
    /// Name as on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Controller::Zero => "zero",
            Controller::GradientFlow => "gradient-flow",
            Controller::MpcTrue => "mpc-true",
        }
    }
}

/// A voltage controller chosen on the command line.
#[derive(Debug)]
pub enum VoltageCtl {
    /// u = 0.
    Zero(ZeroController),
    /// Safe gradient flow.
    Flow(GradientFlow),
    /// Step-mode MPC with horizon `horizon`; the policy is built at the first reset.
    Mpc {
        /// Planning horizon.
        horizon: usize,
        /// The policy (None before the first reset).
        policy: Option<Box<OptPolicy<VoltagePolicy>>>,
    },
    /// A trained (or untrained) DiffOP policy of a run: H, h and θ from its checkpoint.
    Trained(Box<PolicyController>),
}

impl VoltageCtl {
    /// The controller `c` (MPC with horizon `horizon`).
    pub fn new(c: Controller, horizon: usize) -> Self {
        match c {
            Controller::Zero => VoltageCtl::Zero(ZeroController),
            Controller::GradientFlow => VoltageCtl::Flow(GradientFlow::default()),
            Controller::MpcTrue => VoltageCtl::Mpc {
                horizon,
                policy: None,
            },
        }
    }
}

impl VoltageController for VoltageCtl {
    type Error = PolicyError;

    fn reset(&mut self, env: &VoltageEnv) -> Result<(), PolicyError> {
        if let VoltageCtl::Trained(c) = self {
            return c.reset(env);
        }
        if let VoltageCtl::Mpc { horizon, policy } = self {
            let p = match policy {
                Some(p) => p,
                None => policy.insert(Box::new(OptPolicy::new(
                    VoltagePolicy::default(),
                    *horizon,
                    1,
                    Task::Voltage.mpc_true_theta(),
                    SolverSettings::default(),
                )?)),
            };
            p.reset();
            p.set_context(&env.policy_context())?;
        }
        Ok(())
    }

    fn act(&mut self, env: &VoltageEnv) -> Result<[f64; N_CTRL], PolicyError> {
        match self {
            VoltageCtl::Zero(c) => Ok(c.act(env).unwrap_or([0.0; N_CTRL])),
            VoltageCtl::Flow(c) => Ok(c.increment(&env.q(), &env.v(), &env.q_min(), &env.q_max())),
            VoltageCtl::Trained(c) => c.act(env),
            VoltageCtl::Mpc { policy, .. } => {
                let p = policy
                    .as_mut()
                    .ok_or_else(|| PolicyError::Settings("controller used before reset".into()))?;
                let u = &p.plan(&env.policy_state())?.u[0];
                Ok([u[0], u[1], u[2]])
            }
        }
    }
}

/// One recorded step of a voltage episode (after the step).
#[derive(Serialize, Debug, Clone)]
pub struct VoltageStepRec {
    /// Time step t (1 … T).
    pub t: usize,
    /// |V| at buses 2, 7, 9 [p.u.].
    pub v: [f64; N_CTRL],
    /// Set-points q_t \[MVar\].
    pub q: [f64; N_CTRL],
    /// Increment u_t requested by the controller \[MVar\].
    pub u: [f64; N_CTRL],
    /// F(q_t).
    pub cost: f64,
}

/// A voltage episode: reset magnitudes and the recorded steps.
#[derive(Debug, Clone)]
pub struct VoltageTrace {
    /// v_0 [p.u.].
    pub v0: [f64; N_CTRL],
    /// Steps t = 1 … T.
    pub steps: Vec<VoltageStepRec>,
}

/// Run one voltage episode of `env.settings().horizon` steps from reset seed `seed`.
pub fn voltage_episode(
    env: &mut VoltageEnv,
    ctl: &mut VoltageCtl,
    seed: u32,
) -> Result<VoltageTrace> {
    env.reset_seed(seed)
        .with_context(|| format!("reset with seed {seed}"))?;
    ctl.reset(env).context("controller reset")?;
    let mut steps = Vec::with_capacity(env.settings().horizon);
    for t in 1..=env.settings().horizon {
        let u = ctl
            .act(env)
            .with_context(|| format!("controller failed at t = {t}"))?;
        let s = env
            .step_u(u)
            .with_context(|| format!("plant failed at t = {t}"))?;
        steps.push(VoltageStepRec {
            t,
            v: s.v,
            q: s.q,
            u,
            cost: s.cost,
        });
    }
    Ok(VoltageTrace {
        v0: env.v0(),
        steps,
    })
}

/// A nonlinear episode: states x_0 … x_T, actions and per-step true costs (the last includes
/// the terminal cost).
#[derive(Debug, Clone)]
pub struct NonlinearTrace {
    /// States x_0 … x_T.
    pub xs: Vec<Vec<f64>>,
    /// Actions u_0 … u_{T−1}.
    pub us: Vec<Vec<f64>>,
    /// Costs c(x_t, u_t) (+ h(x_T) on the last step).
    pub costs: Vec<f64>,
}

/// Run one episode of a nonlinear task from the env's current state (after a reset) with a
/// reference controller.
pub fn nonlinear_episode(
    env: &mut NonlinearEnv,
    task: Task,
    controller: Controller,
    horizon: usize,
) -> Result<NonlinearTrace> {
    let policy = match controller {
        Controller::Zero => None,
        Controller::MpcTrue => Some(MpcPolicy::mpc_true(task, horizon)?),
        Controller::GradientFlow => {
            bail!("the gradient-flow controller exists for the voltage task only")
        }
    };
    policy_episode(env, task, policy, 1)
}

/// Run one episode of a nonlinear task from the env's current state with `policy` (None: u = 0),
/// re-planning every `h_exec` steps and executing the first `h_exec` planned actions.
pub fn policy_episode(
    env: &mut NonlinearEnv,
    task: Task,
    mut policy: Option<MpcPolicy>,
    h_exec: usize,
) -> Result<NonlinearTrace> {
    let (_, m) = task.nm();
    let h_exec = h_exec.max(1);
    let mut trace = NonlinearTrace {
        xs: vec![env.state().to_vec()],
        us: Vec::new(),
        costs: Vec::new(),
    };
    let mut plan: Vec<Vec<f64>> = Vec::new();
    let mut next = 0;
    for t in 0..env.horizon() {
        let u = match &mut policy {
            None => vec![0.0; m],
            Some(p) => {
                if next >= plan.len() {
                    if !p.plan(env.state())? {
                        bail!("the MPC solve failed at t = {t} (status {:?})", p.status());
                    }
                    plan = p.planned_actions(h_exec);
                    next = 0;
                }
                next += 1;
                plan[next - 1].clone()
            }
        };
        let s = env
            .step(&u)
            .with_context(|| format!("plant failed at t = {t}"))?;
        trace.xs.push(s.observation);
        trace.us.push(u);
        trace.costs.push(s.cost);
        if s.done {
            break;
        }
    }
    Ok(trace)
}
