//! The solver workspace: allocated once per (problem, H), reused by every solve and by the
//! sensitivity pass.

use super::fingerprint::ModelFingerprint;
use super::kkt::{KktFactor, KktFactorization, KktState};
use super::lq::LqData;
use super::residuals::Residuals;
use super::variables::{Iterate, Step, Trial};
use super::{check_vec, Solution, SolverError, SolverSettings};
use crate::model::derivs::{Differentiator, MAX_VARS};
use crate::model::{Dims, OcpModel};
use nalgebra::DVector;

/// Initial guess of a solve (`docs/spec/ALGORITHMS.md` §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WarmStart {
    /// u = 0 and x from the forward rollout of the model; multipliers zero.
    Cold,
    /// The previous solution shifted by one stage (last control repeated, last state
    /// propagated by the model); x_0 replaced by x_init.
    Shift,
    /// The trajectory currently held by the workspace (previous solution or
    /// [`Workspace::set_guess`]), with x_0 replaced by x_init.
    Current,
}

/// Solver workspace for one problem size. `Send`: give each rollout thread its own.
///
/// Allocated once, updated in place by every solve and reused by the sensitivity pass: the
/// problem data of the last solve, the iterate ([`Iterate`]), the line search's trial point
/// ([`Trial`]), the Newton step ([`Step`]), the LQ subproblem ([`LqData`]) and the KKT
/// factorization with its state ([`KktFactor`]).
#[derive(Debug)]
pub struct Workspace {
    pub(crate) n: usize,
    pub(crate) m: usize,
    pub(crate) d: usize,
    pub(crate) h: usize,
    pub(crate) n_ctx: usize,
    /// Constraint counts: q[i] for path stage i < H, q[H] terminal.
    pub(crate) q: Vec<usize>,
    pub(crate) settings: SolverSettings,
    pub(crate) theta: Vec<f64>,
    pub(crate) ctx: Vec<f64>,
    pub(crate) x_init: DVector<f64>,
    /// The model of the last solve (the sensitivity routines refuse any other).
    pub(crate) model: ModelFingerprint,
    pub(crate) it: Iterate,
    pub(crate) trial: Trial,
    pub(crate) step: Step,
    pub(crate) lq: LqData,
    pub(crate) kkt: KktFactor,
    pub(crate) diff: Differentiator,
    /// Active set of the polish (kept for the sensitivity pass).
    pub(crate) act: Vec<Vec<bool>>,
    /// Residuals of the polish's last iterate.
    pub(crate) polish_res: Residuals,
    /// The residuals of the point the solve returns, when the polish ended there.
    pub(crate) final_res: Option<Residuals>,
    /// The residuals the interior-point loop computed at the current iterate, while neither
    /// the iterate nor its blocks changed since (cleared by every block evaluation).
    pub(crate) ipm_res: Option<Residuals>,
    /// True when the Riccati factorization is the unregularized one of the last
    /// interior-point step (problems without inequalities: the KKT matrix at the previous
    /// iterate).
    pub(crate) ipm_factor_exact: bool,
    /// Scaled residual at the start of the last interior-point step.
    pub(crate) ipm_last_stat: f64,
    /// The workspace holds a trajectory a warm start can use.
    pub(crate) has_solution: bool,
    /// Scratch of the sensitivity pass (`Workspace::for_each_adjoint_stage`).
    pub(crate) vjp_scratch: VjpScratch,
    // scratch for plain evaluations
    pub(crate) fbuf: Vec<f64>,
    pub(crate) gbuf: Vec<f64>,
    pub(crate) sol: Solution,
}

/// Scratch of the VJP contraction: z-direction, active-row weights and one stage's
/// θ-contraction.
#[derive(Clone, Debug, Default)]
pub(crate) struct VjpScratch {
    pub wz: Vec<f64>,
    pub gw: Vec<f64>,
    pub part: Vec<f64>,
}

impl Workspace {
    /// Allocate a workspace for `model` with horizon `horizon`.
    pub fn new<M: OcpModel>(
        model: &M,
        horizon: usize,
        settings: SolverSettings,
    ) -> Result<Self, SolverError> {
        settings.validate()?;
        let symbolic = settings.symbolic_derivatives;
        let dims = model.dims();
        let (n, m, d, h) = (dims.n, dims.m, dims.d, horizon);
        if h == 0 {
            return Err(SolverError::ZeroHorizon);
        }
        if n == 0 || m == 0 {
            return Err(SolverError::EmptyDimension { n, m });
        }
        if n + m > MAX_VARS || d > MAX_VARS {
            return Err(SolverError::TooLarge {
                vars: n + m,
                d,
                max: MAX_VARS,
            });
        }
        let mut q: Vec<usize> = (0..h).map(|i| model.n_path(i)).collect();
        q.push(model.n_terminal());
        let qmax = q.iter().copied().max().unwrap_or(0);
        let lq = LqData::new(n, m, h, &q);
        let kkt = KktFactor::new(n, m, h, &q, &lq.blocks);
        let sol = Solution::new(n, m, h, &q);
        let mut diff = Differentiator::new();
        diff.set_symbolic(symbolic);
        Ok(Self {
            n,
            m,
            d,
            h,
            n_ctx: dims.n_ctx,
            settings,
            theta: vec![0.0; d],
            ctx: vec![0.0; dims.n_ctx],
            x_init: DVector::zeros(n),
            model: ModelFingerprint::of(model),
            it: Iterate::new(n, m, h, &q),
            trial: Trial::new(n, m, h, &q),
            step: Step::new(n, m, h, &q),
            lq,
            kkt,
            diff,
            act: q.iter().map(|&k| vec![false; k]).collect(),
            polish_res: Residuals::default(),
            final_res: None,
            ipm_res: None,
            ipm_factor_exact: false,
            ipm_last_stat: f64::INFINITY,
            has_solution: false,
            vjp_scratch: VjpScratch::default(),
            fbuf: vec![0.0; n],
            gbuf: vec![0.0; qmax],
            q,
            sol,
        })
    }

    /// Horizon H.
    pub fn horizon(&self) -> usize {
        self.h
    }

    /// (n, m, d).
    pub fn dims(&self) -> (usize, usize, usize) {
        (self.n, self.m, self.d)
    }

    /// Constraint counts per stage (H path stages, then the terminal stage).
    pub fn constraint_counts(&self) -> &[usize] {
        &self.q
    }

    /// The model of the last solve (at allocation: the model the workspace was sized for).
    pub fn model_fingerprint(&self) -> &ModelFingerprint {
        &self.model
    }

    /// Solver settings.
    pub fn settings(&self) -> &SolverSettings {
        &self.settings
    }

    /// Replace the settings (validated).
    pub fn set_settings(&mut self, settings: SolverSettings) -> Result<(), SolverError> {
        settings.validate()?;
        self.diff.set_symbolic(settings.symbolic_derivatives);
        self.settings = settings;
        Ok(())
    }

    /// The last solution (also returned by [`Workspace::solve`]).
    pub fn solution(&self) -> &Solution {
        &self.sol
    }

    /// θ of the last solve.
    pub fn theta(&self) -> &[f64] {
        &self.theta
    }

    /// Context of the last solve.
    pub fn context(&self) -> &[f64] {
        &self.ctx
    }

    /// True when the sensitivity routines can run on the last solution (the solve was
    /// polished): the workspace holds the exact KKT factorization at it, or computes it on
    /// first use ([`Workspace::ensure_kkt`]).
    pub fn kkt_ready(&self) -> bool {
        self.kkt.state != KktState::Invalid
    }

    /// True when the last solve left its KKT factorization for the first sensitivity call
    /// ([`SolverSettings::defer_kkt_factorization`]).
    pub fn kkt_pending(&self) -> bool {
        self.kkt.state == KktState::Pending
    }

    /// Make sure the KKT factorization at the last solution is in the workspace: a solve
    /// that ended without active rows leaves it for the first call of a sensitivity routine
    /// (one evaluation with Hessians and one factorization, about a Newton iteration);
    /// afterwards every routine reuses it. False when no polished solution is held, or when
    /// the factorization at the solution failed (a singular reduced Hessian).
    pub fn ensure_kkt<M: OcpModel>(&mut self, model: &M) -> bool {
        if self.kkt.state == KktState::Pending {
            self.kkt.state = KktState::Invalid;
            if self.eval_blocks_with(model, true) {
                self.factor_kkt();
            }
        }
        matches!(self.kkt.state, KktState::Factorized(_))
    }

    /// Which factorization the sensitivity routines will reuse (`None` when the workspace
    /// holds no polished solution).
    pub fn kkt_factorization(&self) -> Option<KktFactorization> {
        match self.kkt.state {
            KktState::Invalid => None,
            // Deferred only without active rows.
            KktState::Pending => Some(KktFactorization::Riccati),
            KktState::Factorized(kind) => Some(kind),
        }
    }

    /// Set the primal guess used by [`WarmStart::Current`]: `x` ((H+1)·n, row-major by stage)
    /// and `u` (H·m). Multipliers are reset to zero. The workspace no longer holds a solution
    /// the sensitivity routines can use (they return `NotReady` until the next solve).
    pub fn set_guess(&mut self, x: &[f64], u: &[f64]) -> Result<(), SolverError> {
        check_vec("guess x", x, (self.h + 1) * self.n)?;
        check_vec("guess u", u, self.h * self.m)?;
        for (i, xi) in self.it.x.iter_mut().enumerate() {
            xi.copy_from_slice(&x[i * self.n..(i + 1) * self.n]);
        }
        for (i, ui) in self.it.u.iter_mut().enumerate() {
            ui.copy_from_slice(&u[i * self.m..(i + 1) * self.m]);
        }
        for l in &mut self.it.lam {
            l.fill(0.0);
        }
        for v in &mut self.it.mu {
            v.fill(0.0);
        }
        self.has_solution = true;
        self.kkt.state = KktState::Invalid;
        Ok(())
    }

    /// Validate and store the inputs of a solve.
    pub(crate) fn load_inputs<M: OcpModel>(
        &mut self,
        model: &M,
        x_init: &[f64],
        theta: &[f64],
        ctx: &[f64],
    ) -> Result<(), SolverError> {
        self.lq.ready = false;
        let dims = model.dims();
        if dims.n != self.n || dims.m != self.m || dims.d != self.d || dims.n_ctx != self.n_ctx {
            return Err(SolverError::ModelDims {
                model: model.name().to_string(),
                expected: Dims {
                    n: self.n,
                    m: self.m,
                    d: self.d,
                    n_ctx: self.n_ctx,
                },
                got: dims,
            });
        }
        check_vec("x_init", x_init, self.n)?;
        check_vec("theta", theta, self.d)?;
        check_vec("ctx", ctx, self.n_ctx)?;
        model.check_context(ctx)?;
        self.model.set(model);
        self.x_init.copy_from_slice(x_init);
        self.theta.copy_from_slice(theta);
        self.ctx.copy_from_slice(ctx);
        Ok(())
    }

    /// Build the initial guess.
    pub(crate) fn initial_guess<M: OcpModel>(
        &mut self,
        model: &M,
        start: WarmStart,
    ) -> Result<(), SolverError> {
        let h = self.h;
        match start {
            WarmStart::Cold => {
                self.it.x[0].copy_from(&self.x_init);
                for i in 0..h {
                    self.it.u[i].fill(0.0);
                    let (lo, hi) = self.it.x.split_at_mut(i + 1);
                    model.dynamics(
                        i,
                        lo[i].as_slice(),
                        self.it.u[i].as_slice(),
                        &self.theta,
                        &self.ctx,
                        hi[0].as_mut_slice(),
                    );
                }
                for l in &mut self.it.lam {
                    l.fill(0.0);
                }
            }
            WarmStart::Shift => {
                if !self.has_solution {
                    return Err(SolverError::NoWarmStart);
                }
                for i in 0..h - 1 {
                    let (lo, hi) = self.it.u.split_at_mut(i + 1);
                    lo[i].copy_from(&hi[0]);
                }
                for i in 0..h {
                    let (lo, hi) = self.it.x.split_at_mut(i + 1);
                    lo[i].copy_from(&hi[0]);
                    let (lo, hi) = self.it.lam.split_at_mut(i + 1);
                    lo[i].copy_from(&hi[0]);
                }
                let (lo, hi) = self.it.x.split_at_mut(h);
                model.dynamics(
                    h - 1,
                    lo[h - 1].as_slice(),
                    self.it.u[h - 1].as_slice(),
                    &self.theta,
                    &self.ctx,
                    hi[0].as_mut_slice(),
                );
                self.it.x[0].copy_from(&self.x_init);
            }
            WarmStart::Current => {
                if !self.has_solution {
                    return Err(SolverError::NoWarmStart);
                }
                self.it.x[0].copy_from(&self.x_init);
            }
        }
        Ok(())
    }
}
