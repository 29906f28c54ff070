//! The solver workspace: allocated once per (problem, H), reused by every solve and by the
//! sensitivity pass.

use super::eq_riccati::EqRiccati;
use super::riccati::Riccati;
use super::{check_vec, Solution, SolverError, SolverSettings};
use crate::linalg::SmallFactor;
use crate::model::derivs::{Differentiator, StageBlock, MAX_VARS};
use crate::model::OcpModel;
use nalgebra::{DMatrix, DVector};

/// Initial guess of a solve (`ALGORITHMS.md` §3).
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

/// How the kept KKT factorization of the last polished solve treats its active rows
/// ([`Workspace::kkt_factorization`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KktFactorization {
    /// No active rows: the plain Riccati factorization.
    Riccati,
    /// The stage-wise equality-constrained Riccati recursion over this many active rows.
    ConstrainedRiccati(usize),
    /// Riccati with a Schur complement over this many active rows.
    SchurComplement(usize),
}

/// A Newton step's active inequality row: (stage, row). Stage H is the terminal stage.
pub(crate) type Row = (usize, usize);

/// Solver workspace for one problem size. `Send`: give each rollout thread its own.
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
    // iterate
    pub(crate) x: Vec<DVector<f64>>,
    pub(crate) u: Vec<DVector<f64>>,
    /// λ_0 … λ_H.
    pub(crate) lam: Vec<DVector<f64>>,
    pub(crate) s: Vec<DVector<f64>>,
    pub(crate) mu: Vec<DVector<f64>>,
    // trial iterate
    pub(crate) xt: Vec<DVector<f64>>,
    pub(crate) ut: Vec<DVector<f64>>,
    pub(crate) st: Vec<DVector<f64>>,
    // derivative blocks and LQ data
    pub(crate) blocks: Vec<StageBlock>,
    /// Snapshot of the blocks at the last KKT factorization.
    pub(crate) factored: Vec<StageBlock>,
    /// Hessians of the LQ subproblem with barrier terms, ∇²ℓ_i + GᵀΣG (valid while
    /// `hm_barrier`; without barrier terms the blocks' `hess` are used directly).
    pub(crate) hm: Vec<DMatrix<f64>>,
    /// True when the LQ Hessians are `hm` (interior-point step with inequalities), false when
    /// they are the blocks' own Hessians.
    pub(crate) hm_barrier: bool,
    pub(crate) lin: Vec<DVector<f64>>,
    pub(crate) lin_w: Vec<DVector<f64>>,
    pub(crate) defect: Vec<DVector<f64>>,
    pub(crate) x0_defect: DVector<f64>,
    // Newton step
    pub(crate) dx: Vec<DVector<f64>>,
    pub(crate) du: Vec<DVector<f64>>,
    pub(crate) lam_new: Vec<DVector<f64>>,
    /// Costates of the interior-point solution, kept while the polish runs (fallback).
    pub(crate) lam_ipm: Vec<DVector<f64>>,
    pub(crate) ds: Vec<DVector<f64>>,
    pub(crate) mu_new: Vec<DVector<f64>>,
    pub(crate) ds_aff: Vec<DVector<f64>>,
    pub(crate) dmu_aff: Vec<DVector<f64>>,
    pub(crate) gd: Vec<DVector<f64>>,
    pub(crate) riccati: Riccati,
    pub(crate) diff: Differentiator,
    /// VJP scratch: z-direction, active-row weights and one stage's θ-contraction.
    pub(crate) vjp_wz: Vec<f64>,
    pub(crate) vjp_gw: Vec<f64>,
    pub(crate) vjp_part: Vec<f64>,
    // active-set polish (kept for the sensitivity pass)
    pub(crate) act: Vec<Vec<bool>>,
    pub(crate) rows: Vec<Row>,
    pub(crate) wx: Vec<Vec<DVector<f64>>>,
    pub(crate) wu: Vec<Vec<DVector<f64>>>,
    pub(crate) wl: Vec<Vec<DVector<f64>>>,
    pub(crate) schur: DMatrix<f64>,
    pub(crate) schur_fac: SmallFactor,
    pub(crate) schur_rhs: Vec<f64>,
    pub(crate) schur_tmp: Vec<f64>,
    /// Stage-wise equality-constrained Riccati factorization of the active rows (used instead
    /// of `wx/wu/wl` and the Schur complement when `kkt_eq`).
    pub(crate) eq: EqRiccati,
    /// True when the kept KKT factorization is `eq` (else `riccati` with the Schur complement).
    pub(crate) kkt_eq: bool,
    /// Constants e_a of the active rows G_a z + e_a = 0 for [`Workspace::kkt_solve`].
    pub(crate) row_e: Vec<f64>,
    /// True when `riccati`, `wx/wu/wl` and `schur_fac` hold the exact KKT factorization at
    /// the solution.
    pub(crate) kkt_ready: bool,
    /// The solve ended polished without active rows, but the KKT factorization at the
    /// solution (and its Hessians) was left for the first sensitivity call
    /// ([`Workspace::ensure_kkt`]): solves whose solution is only acted on skip it.
    pub(crate) kkt_deferred: bool,
    /// The polish may leave the final factorization for later (not when its inertia decides
    /// the outcome: the interior-point hand-over and the active-set start).
    pub(crate) defer_ok: bool,
    /// Residuals of the polish's last iterate.
    pub(crate) polish_res: super::ipm::Residuals,
    /// The residuals the interior-point loop computed at the current iterate, while neither
    /// the iterate nor its blocks changed since (cleared by every block evaluation).
    pub(crate) ipm_res: Option<super::ipm::Residuals>,
    /// `polish_res` belongs to the point the solve returns (set when the polish ends there).
    pub(crate) polish_res_final: bool,
    /// False once a KKT factorization since the last reset met an indefinite reduced Hessian
    /// (the active-set start then leaves the solve to the interior-point method).
    pub(crate) kkt_pd: bool,
    /// True when the Hessians in `blocks` belong to the current point (false after a
    /// Jacobians-only evaluation).
    pub(crate) hess_fresh: bool,
    /// True when `riccati` holds the unregularized factorization of the last interior-point
    /// step (problems without inequalities: the KKT matrix at the previous iterate).
    pub(crate) ipm_factor_exact: bool,
    /// Scaled residual at the start of the last interior-point step.
    pub(crate) ipm_last_stat: f64,
    pub(crate) has_solution: bool,
    /// Linear–quadratic models ([`OcpModel::is_linear_quadratic`]): true once this solve's
    /// Jacobians and Hessians are in `blocks`, with the point `lq_z` and cost gradients
    /// `lq_grad` they were taken at (stage i: length n + m; terminal: n).
    pub(crate) lq_ready: bool,
    pub(crate) lq_z: Vec<DVector<f64>>,
    pub(crate) lq_grad: Vec<DVector<f64>>,
    pub(crate) lq_dz: Vec<f64>,
    // scratch for plain evaluations
    pub(crate) fbuf: Vec<f64>,
    pub(crate) gbuf: Vec<f64>,
    pub(crate) sol: Solution,
}

impl Workspace {
    /// Allocate a workspace for `model` with horizon `horizon`.
    pub fn new<M: OcpModel>(
        model: &M,
        horizon: usize,
        settings: SolverSettings,
    ) -> Result<Self, SolverError> {
        settings.validate().map_err(SolverError::Settings)?;
        let symbolic = settings.symbolic_derivatives;
        let dims = model.dims();
        let (n, m, d, h) = (dims.n, dims.m, dims.d, horizon);
        if h == 0 {
            return Err(SolverError::Size("horizon must be ≥ 1".into()));
        }
        if n == 0 || m == 0 {
            return Err(SolverError::Size(format!(
                "state and control dimensions must be ≥ 1 (n = {n}, m = {m})"
            )));
        }
        if n + m > MAX_VARS || d > MAX_VARS {
            return Err(SolverError::Size(format!(
                "n + m = {} and d = {d} must not exceed {MAX_VARS}",
                n + m
            )));
        }
        let mut q: Vec<usize> = (0..h).map(|i| model.n_path(i)).collect();
        q.push(model.n_terminal());
        let qmax = q.iter().copied().max().unwrap_or(0);
        let vn = |k: usize| vec![DVector::<f64>::zeros(n); k];
        let vm = |k: usize| vec![DVector::<f64>::zeros(m); k];
        let vq = || {
            q.iter()
                .map(|&k| DVector::<f64>::zeros(k))
                .collect::<Vec<_>>()
        };
        let mut blocks: Vec<StageBlock> = (0..h).map(|i| StageBlock::new(n, m, q[i])).collect();
        blocks.push(StageBlock::new(n, 0, q[h]));
        let mut hm: Vec<DMatrix<f64>> = (0..h).map(|_| DMatrix::zeros(n + m, n + m)).collect();
        hm.push(DMatrix::zeros(n, n));
        let mut lin: Vec<DVector<f64>> = (0..h).map(|_| DVector::zeros(n + m)).collect();
        lin.push(DVector::zeros(n));
        let lq_vectors = lin.clone();
        let sol = Solution::new(n, m, h, &q);
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
            x: vn(h + 1),
            u: vm(h),
            lam: vn(h + 1),
            s: vq(),
            mu: vq(),
            xt: vn(h + 1),
            ut: vm(h),
            st: vq(),
            factored: blocks.clone(),
            blocks,
            hm,
            hm_barrier: false,
            lin_w: lin.clone(),
            lin,
            defect: vn(h),
            x0_defect: DVector::zeros(n),
            dx: vn(h + 1),
            du: vm(h),
            lam_new: vn(h + 1),
            lam_ipm: vn(h + 1),
            ds: vq(),
            mu_new: vq(),
            ds_aff: vq(),
            dmu_aff: vq(),
            gd: vq(),
            riccati: Riccati::new(n, m, h),
            diff: {
                let mut d = Differentiator::new();
                d.set_symbolic(symbolic);
                d
            },
            vjp_wz: Vec::new(),
            vjp_gw: Vec::new(),
            vjp_part: Vec::new(),
            act: q.iter().map(|&k| vec![false; k]).collect(),
            rows: Vec::new(),
            wx: Vec::new(),
            wu: Vec::new(),
            wl: Vec::new(),
            schur: DMatrix::zeros(0, 0),
            schur_fac: SmallFactor::new(0),
            schur_rhs: Vec::new(),
            schur_tmp: Vec::new(),
            eq: EqRiccati::new(n, m, h, &q),
            kkt_eq: false,
            row_e: Vec::new(),
            kkt_ready: false,
            kkt_deferred: false,
            defer_ok: false,
            polish_res: Default::default(),
            ipm_res: None,
            polish_res_final: false,
            kkt_pd: true,
            hess_fresh: false,
            ipm_factor_exact: false,
            ipm_last_stat: f64::INFINITY,
            has_solution: false,
            lq_ready: false,
            lq_z: lq_vectors.clone(),
            lq_grad: lq_vectors,
            lq_dz: vec![0.0; n + m],
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

    /// Solver settings.
    pub fn settings(&self) -> &SolverSettings {
        &self.settings
    }

    /// Replace the settings (validated).
    pub fn set_settings(&mut self, settings: SolverSettings) -> Result<(), SolverError> {
        settings.validate().map_err(SolverError::Settings)?;
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
        self.kkt_ready || self.kkt_deferred
    }

    /// True when the last solve left its KKT factorization for the first sensitivity call
    /// ([`SolverSettings::defer_kkt_factorization`]).
    pub fn kkt_pending(&self) -> bool {
        self.kkt_deferred
    }

    /// Make sure the KKT factorization at the last solution is in the workspace: a solve
    /// that ended without active rows leaves it for the first call of a sensitivity routine
    /// (one evaluation with Hessians and one factorization, about a Newton iteration);
    /// afterwards every routine reuses it. False when no polished solution is held, or when
    /// the factorization at the solution failed (a singular reduced Hessian).
    pub fn ensure_kkt<M: OcpModel>(&mut self, model: &M) -> bool {
        if self.kkt_deferred {
            self.kkt_deferred = false;
            if self.eval_blocks_with(model, true) {
                self.factor_kkt();
            }
        }
        self.kkt_ready
    }

    /// Which factorization the sensitivity routines will reuse (`None` when the workspace
    /// holds no polished solution).
    pub fn kkt_factorization(&self) -> Option<KktFactorization> {
        if self.kkt_deferred {
            // Deferred only without active rows.
            return Some(KktFactorization::Riccati);
        }
        if !self.kkt_ready {
            return None;
        }
        let k = self.rows.len();
        Some(if k == 0 {
            KktFactorization::Riccati
        } else if self.kkt_eq {
            KktFactorization::ConstrainedRiccati(k)
        } else {
            KktFactorization::SchurComplement(k)
        })
    }

    /// Set the primal guess used by [`WarmStart::Current`]: `x` ((H+1)·n, row-major by stage)
    /// and `u` (H·m). Multipliers are reset to zero. The workspace no longer holds a solution
    /// the sensitivity routines can use (they return `NotReady` until the next solve).
    pub fn set_guess(&mut self, x: &[f64], u: &[f64]) -> Result<(), SolverError> {
        check_vec("guess x", x, (self.h + 1) * self.n)?;
        check_vec("guess u", u, self.h * self.m)?;
        for (i, xi) in self.x.iter_mut().enumerate() {
            xi.copy_from_slice(&x[i * self.n..(i + 1) * self.n]);
        }
        for (i, ui) in self.u.iter_mut().enumerate() {
            ui.copy_from_slice(&u[i * self.m..(i + 1) * self.m]);
        }
        for l in &mut self.lam {
            l.fill(0.0);
        }
        for v in &mut self.mu {
            v.fill(0.0);
        }
        self.has_solution = true;
        self.kkt_ready = false;
        self.kkt_deferred = false;
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
        self.lq_ready = false;
        let dims = model.dims();
        if dims.n != self.n || dims.m != self.m || dims.d != self.d || dims.n_ctx != self.n_ctx {
            return Err(SolverError::Size(format!(
                "model `{}` does not match the workspace dimensions",
                model.name()
            )));
        }
        check_vec("x_init", x_init, self.n)?;
        check_vec("theta", theta, self.d)?;
        check_vec("ctx", ctx, self.n_ctx)?;
        model.check_context(ctx).map_err(SolverError::Context)?;
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
                self.x[0].copy_from(&self.x_init);
                for i in 0..h {
                    self.u[i].fill(0.0);
                    let (lo, hi) = self.x.split_at_mut(i + 1);
                    model.dynamics(
                        i,
                        lo[i].as_slice(),
                        self.u[i].as_slice(),
                        &self.theta,
                        &self.ctx,
                        hi[0].as_mut_slice(),
                    );
                }
                for l in &mut self.lam {
                    l.fill(0.0);
                }
            }
            WarmStart::Shift => {
                if !self.has_solution {
                    return Err(SolverError::NoWarmStart);
                }
                for i in 0..h - 1 {
                    let (lo, hi) = self.u.split_at_mut(i + 1);
                    lo[i].copy_from(&hi[0]);
                }
                for i in 0..h {
                    let (lo, hi) = self.x.split_at_mut(i + 1);
                    lo[i].copy_from(&hi[0]);
                    let (lo, hi) = self.lam.split_at_mut(i + 1);
                    lo[i].copy_from(&hi[0]);
                }
                let (lo, hi) = self.x.split_at_mut(h);
                model.dynamics(
                    h - 1,
                    lo[h - 1].as_slice(),
                    self.u[h - 1].as_slice(),
                    &self.theta,
                    &self.ctx,
                    hi[0].as_mut_slice(),
                );
                self.x[0].copy_from(&self.x_init);
            }
            WarmStart::Current => {
                if !self.has_solution {
                    return Err(SolverError::NoWarmStart);
                }
                self.x[0].copy_from(&self.x_init);
            }
        }
        Ok(())
    }

    /// Make sure the row multiplier and constant buffers hold `k` active rows.
    pub(crate) fn reserve_row_vectors(&mut self, k: usize) {
        if self.schur_rhs.len() < k {
            self.schur_rhs.resize(k, 0.0);
            self.schur_tmp.resize(k, 0.0);
        }
        if self.row_e.len() < k {
            self.row_e.resize(k, 0.0);
        }
    }

    /// Make sure the Schur-complement storage holds at least `k` active-row columns.
    pub(crate) fn reserve_rows(&mut self, k: usize) {
        let (n, m, h) = (self.n, self.m, self.h);
        self.reserve_row_vectors(k);
        while self.wx.len() < k {
            self.wx.push(vec![DVector::zeros(n); h + 1]);
            self.wu.push(vec![DVector::zeros(m); h]);
            self.wl.push(vec![DVector::zeros(n); h + 1]);
        }
        if self.schur.nrows() != k {
            self.schur = DMatrix::zeros(k, k);
            self.schur_fac = SmallFactor::new(k);
        }
    }
}
