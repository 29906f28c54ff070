//! The optimization-based policy π_θ(x) = (u*_0, …, u*_{h−1}) (paper eq. 2, `docs/spec/ALGORITHMS.md` §2).
//!
//! [`OptPolicy`] owns a policy problem, its solver workspace and the current θ and context. It
//! solves the OCP from the observed state and exposes the first h planned actions and their
//! vector–Jacobian products. Initial guesses follow §3: a cold start (u = 0, rollout) at the
//! first decision of an episode and whenever h > 1; in Step mode (h = 1) later decisions are
//! warm-started from the previous plan shifted by one stage. A warm-started solve that fails is
//! retried once from a cold start before the failure is reported.

use crate::model::OcpModel;
use crate::sensitivity::{self, Seed, SensitivityError};
use crate::solver::{Solution, SolverError, SolverSettings, WarmStart, Workspace};
use thiserror::Error;

/// What is wrong with a policy's settings or arguments.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum PolicySettingsError {
    /// The number of actions executed per solve is outside 1 … H.
    #[error("actions per solve h = {h} must satisfy 1 ≤ h ≤ H = {horizon}")]
    ActionsPerSolve {
        /// h.
        h: usize,
        /// The horizon H.
        horizon: usize,
    },
    /// A vector argument has the wrong length.
    #[error("{what} has {got} entries, expected {expected}")]
    Length {
        /// The argument, with its context (e.g. "θ of the `arm` policy").
        what: String,
        /// Entries expected.
        expected: usize,
        /// Entries given.
        got: usize,
    },
    /// The Q-function needs a tail after the pinned first action.
    #[error("Q needs a horizon H ≥ 2, got {horizon}")]
    QHorizon {
        /// The horizon given.
        horizon: usize,
    },
    /// A control seed is not k whole actions with k ≤ H.
    #[error("control seed has {got} entries; expected a multiple of m = {m}, at most H·m = {max}")]
    ControlSeed {
        /// Entries given.
        got: usize,
        /// Control dimension m.
        m: usize,
        /// H·m.
        max: usize,
    },
    /// Per-action seeds and output rows do not match.
    #[error(
        "per-action seed: {entries} seed entries and {rows} output rows; expected k·m entries \
         (m = {m}, k ≤ H = {horizon}) and k rows of d = {d}"
    )]
    PerActionSeed {
        /// Seed entries given.
        entries: usize,
        /// Output rows given.
        rows: usize,
        /// Control dimension m.
        m: usize,
        /// Horizon H.
        horizon: usize,
        /// Parameter dimension d.
        d: usize,
    },
    /// A call out of order (e.g. an action before `reset`); the message names it.
    #[error("{0}")]
    Usage(&'static str),
}

impl From<&'static str> for PolicySettingsError {
    fn from(msg: &'static str) -> Self {
        Self::Usage(msg)
    }
}

/// Errors of the policy layer.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum PolicyError {
    /// Invalid execution settings or arguments (h = 0, h > H, wrong lengths, …).
    #[error("invalid policy settings: {0}")]
    Settings(PolicySettingsError),
    /// The exploration sampler rejected its input.
    #[error(transparent)]
    Sampler(#[from] crate::policy::sampler::SamplerError),
    /// Misuse reported by the solver (dimensions, non-finite input, context).
    #[error(transparent)]
    Solver(#[from] SolverError),
    /// The OCP solve failed (status given).
    #[error("policy solve failed with status {0:?}")]
    SolveFailed(crate::solver::Status),
    /// Sensitivity failure.
    #[error(transparent)]
    Sensitivity(#[from] SensitivityError),
}

/// An optimization-based policy with horizon H executing h actions per solve.
#[derive(Debug)]
pub struct OptPolicy<M: OcpModel> {
    model: M,
    ws: Workspace,
    h_exec: usize,
    theta: Vec<f64>,
    ctx: Vec<f64>,
    has_plan: bool,
}

impl<M: OcpModel> OptPolicy<M> {
    /// A policy for `model` with planning horizon `horizon`, executing `h_exec` actions per
    /// solve (1 = Step, H = Traj), starting from parameters `theta`.
    pub fn new(
        model: M,
        horizon: usize,
        h_exec: usize,
        theta: Vec<f64>,
        settings: SolverSettings,
    ) -> Result<Self, PolicyError> {
        if h_exec == 0 || h_exec > horizon {
            return Err(PolicyError::Settings(
                PolicySettingsError::ActionsPerSolve { h: h_exec, horizon },
            ));
        }
        let ws = Workspace::new(&model, horizon, settings)?;
        let dims = model.dims();
        if theta.len() != dims.d {
            return Err(PolicyError::Settings(PolicySettingsError::Length {
                what: format!("θ of the `{}` policy", model.name()),
                expected: dims.d,
                got: theta.len(),
            }));
        }
        Ok(Self {
            ctx: vec![0.0; dims.n_ctx],
            model,
            ws,
            h_exec,
            theta,
            has_plan: false,
        })
    }

    /// The policy problem.
    pub fn model(&self) -> &M {
        &self.model
    }

    /// Planning horizon H.
    pub fn horizon(&self) -> usize {
        self.ws.horizon()
    }

    /// Actions executed per solve h.
    pub fn actions_per_solve(&self) -> usize {
        self.h_exec
    }

    /// Current θ.
    pub fn theta(&self) -> &[f64] {
        &self.theta
    }

    /// Replace θ.
    pub fn set_theta(&mut self, theta: &[f64]) -> Result<(), PolicyError> {
        if theta.len() != self.theta.len() {
            return Err(PolicyError::Settings(PolicySettingsError::Length {
                what: "θ".into(),
                expected: self.theta.len(),
                got: theta.len(),
            }));
        }
        self.theta.copy_from_slice(theta);
        Ok(())
    }

    /// Replace the per-call context (e.g. the voltage task's v_env and limits).
    pub fn set_context(&mut self, ctx: &[f64]) -> Result<(), PolicyError> {
        if ctx.len() != self.ctx.len() {
            return Err(PolicyError::Settings(PolicySettingsError::Length {
                what: "context".into(),
                expected: self.ctx.len(),
                got: ctx.len(),
            }));
        }
        self.ctx.copy_from_slice(ctx);
        Ok(())
    }

    /// Forget the previous plan (the next decision is a cold start).
    pub fn reset(&mut self) {
        self.has_plan = false;
    }

    /// Solve the OCP from state `x`. Returns the solution; a failed solve is an error.
    ///
    /// A warm start that does not end polished is retried cold. A solve whose interior-point
    /// phase converged but whose polish failed ([`Status::SolvedUnpolished`]) is accepted as a
    /// plan (its actions are a 1e-8 solution); [`Self::vjp_controls`] then reports that the
    /// solution is not fit for differentiation.
    ///
    /// [`Status::SolvedUnpolished`]: crate::solver::Status::SolvedUnpolished
    pub fn plan(&mut self, x: &[f64]) -> Result<&Solution, PolicyError> {
        let warm = self.has_plan && self.h_exec == 1;
        let start = if warm {
            WarmStart::Shift
        } else {
            WarmStart::Cold
        };
        let mut ok = self
            .ws
            .solve(&self.model, x, &self.theta, &self.ctx, start)?
            .status
            .is_polished();
        if !ok && warm {
            ok = self
                .ws
                .solve(&self.model, x, &self.theta, &self.ctx, WarmStart::Cold)?
                .status
                .is_polished();
        }
        if !ok && !self.ws.solution().status.is_solved() {
            self.has_plan = false;
            return Err(PolicyError::SolveFailed(self.ws.solution().status));
        }
        self.has_plan = true;
        Ok(self.ws.solution())
    }

    /// The last plan.
    pub fn solution(&self) -> &Solution {
        self.ws.solution()
    }

    /// The first `k ≤ h` planned actions of the last plan, stacked (k·m).
    pub fn planned_actions(&self, k: usize) -> Vec<f64> {
        self.ws.solution().u[..k.min(self.h_exec)]
            .iter()
            .flat_map(|v| v.iter().copied())
            .collect()
    }

    /// gᵀ ∂u*/∂θ for a seed on the first controls of the last plan (`seed_u` has k·m entries,
    /// k ≤ H; the remaining controls get zero seed). Written into `out` (d).
    pub fn vjp_controls(&mut self, seed_u: &[f64], out: &mut [f64]) -> Result<(), PolicyError> {
        let (_, m, _) = self.ws.dims();
        let h = self.ws.horizon();
        if seed_u.len() % m != 0 || seed_u.len() > h * m {
            return Err(PolicyError::Settings(PolicySettingsError::ControlSeed {
                got: seed_u.len(),
                m,
                max: h * m,
            }));
        }
        let mut full = vec![0.0; h * m];
        full[..seed_u.len()].copy_from_slice(seed_u);
        sensitivity::vjp(
            &mut self.ws,
            &self.model,
            Seed {
                x: None,
                u: Some(&full),
            },
            out,
        )?;
        Ok(())
    }

    /// Per-action vector–Jacobian products of the last plan: for a seed g on the first k
    /// controls (`seed_u`, k·m entries, k ≤ H), row j of `out` (k rows of d) becomes
    /// (∂u*_j/∂θ)ᵀ g_j. Their sum is [`Self::vjp_controls`]. One VJP when k = 1, otherwise one
    /// full Jacobian (d right-hand sides on the kept factorization).
    pub fn vjp_controls_per_action(
        &mut self,
        seed_u: &[f64],
        out: &mut [Vec<f64>],
    ) -> Result<(), PolicyError> {
        let (_, m, d) = self.ws.dims();
        let h = self.ws.horizon();
        let k = seed_u.len() / m.max(1);
        if seed_u.len() % m != 0 || k > h || out.len() != k || out.iter().any(|r| r.len() != d) {
            return Err(PolicyError::Settings(PolicySettingsError::PerActionSeed {
                entries: seed_u.len(),
                rows: out.len(),
                m,
                horizon: h,
                d,
            }));
        }
        if k == 1 {
            return self.vjp_controls(seed_u, &mut out[0]);
        }
        let jac = sensitivity::jacobian(&mut self.ws, &self.model)?;
        for (j, row) in out.iter_mut().enumerate() {
            let g = &seed_u[j * m..(j + 1) * m];
            let ju = &jac.u[j];
            for (c, r) in row.iter_mut().enumerate() {
                *r = (0..m).map(|a| ju[(a, c)] * g[a]).sum();
            }
        }
        Ok(())
    }

    /// Mutable access to the workspace (for the full Jacobian or value gradients).
    pub fn workspace_mut(&mut self) -> (&M, &mut Workspace) {
        (&self.model, &mut self.ws)
    }
}
