//! One interface over the optimization-based policies of all tasks (Table-1 and voltage), so
//! that the commands do not repeat themselves per model.

use super::task::Task;
use anyhow::Result;
use diffop::model::tasks::{Table1Policy, VoltagePolicy};
use diffop::policy::{OptPolicy, PolicyError};
use diffop::sensitivity::{self, Jacobian};
use diffop::solver::{SolverSettings, Status};

/// An [`OptPolicy`] of any built-in task.
#[derive(Debug)]
pub enum MpcPolicy {
    /// A nonlinear task's Table-1 policy.
    Nonlinear(OptPolicy<Table1Policy>),
    /// The voltage policy.
    Voltage(OptPolicy<VoltagePolicy>),
}

macro_rules! each {
    ($self:expr, $p:ident => $e:expr) => {
        match $self {
            MpcPolicy::Nonlinear($p) => $e,
            MpcPolicy::Voltage($p) => $e,
        }
    };
}

impl MpcPolicy {
    /// The policy of `task` with horizon `horizon`, executing `h_exec` actions per solve, with
    /// parameters `theta` and default solver settings.
    pub fn new(task: Task, horizon: usize, h_exec: usize, theta: Vec<f64>) -> Result<Self> {
        let s = SolverSettings::default();
        Ok(match task.nonlinear() {
            Some(t) => Self::Nonlinear(OptPolicy::new(
                Table1Policy::new(t),
                horizon,
                h_exec,
                theta,
                s,
            )?),
            None => Self::Voltage(OptPolicy::new(
                VoltagePolicy::default(),
                horizon,
                h_exec,
                theta,
                s,
            )?),
        })
    }

    /// The Step-mode (h = 1) policy of `task` with the mpc-true θ.
    pub fn mpc_true(task: Task, horizon: usize) -> Result<Self> {
        Self::new(task, horizon, 1, task.mpc_true_theta())
    }

    /// Forget the previous plan: the next solve is a cold start.
    pub fn reset(&mut self) {
        each!(self, p => p.reset())
    }

    /// Replace θ.
    pub fn set_theta(&mut self, theta: &[f64]) -> Result<()> {
        each!(self, p => p.set_theta(theta))?;
        Ok(())
    }

    /// Replace the context (voltage: v_env, q_min, q_max; nonlinear: empty).
    pub fn set_context(&mut self, ctx: &[f64]) -> Result<()> {
        each!(self, p => p.set_context(ctx))?;
        Ok(())
    }

    /// Solve from state `x`. `Ok(false)` when the solve did not converge (the policy's warm
    /// start is then dropped); misuse (dimensions, non-finite input) is an error.
    pub fn plan(&mut self, x: &[f64]) -> Result<bool> {
        match each!(self, p => p.plan(x).map(|_| ())) {
            Ok(()) => Ok(true),
            Err(PolicyError::SolveFailed(_)) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Status of the last solve.
    pub fn status(&self) -> Status {
        each!(self, p => p.solution().status)
    }

    /// The first planned action u*_0 of the last plan.
    pub fn first_action(&self) -> Vec<f64> {
        each!(self, p => p.solution().u[0].as_slice().to_vec())
    }

    /// The first min(k, H) planned actions u*_0 … of the last plan.
    pub fn planned_actions(&self, k: usize) -> Vec<Vec<f64>> {
        each!(self, p => {
            let u = &p.solution().u;
            u.iter().take(k.min(u.len())).map(|v| v.as_slice().to_vec()).collect()
        })
    }

    /// gᵀ ∂u*_0/∂θ for a seed on the first action (length m), written into `out` (d).
    pub fn vjp_first(&mut self, seed: &[f64], out: &mut [f64]) -> Result<()> {
        each!(self, p => p.vjp_controls(seed, out))?;
        Ok(())
    }

    /// The full Jacobian ∂ζ*/∂θ of the last plan.
    pub fn jacobian(&mut self) -> Result<Jacobian> {
        let jac = each!(self, p => {
            let (model, ws) = p.workspace_mut();
            sensitivity::jacobian(ws, model)
        })?;
        Ok(jac)
    }
}
