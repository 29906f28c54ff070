//! The primal–dual interior-point iteration (Riccati Newton steps, Mehrotra predictor–corrector,
//! inertia correction, ℓ1 merit line search).

use super::riccati::{FactorOutcome, StageHessians};
use super::workspace::{WarmStart, Workspace};
use super::{Solution, SolverError, Status};
use crate::linalg::{gemv_tr_acc, norm_inf};
use crate::model::derivs::MAX_VARS;
use crate::model::OcpModel;

/// Residual summary at the current iterate.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Residuals {
    /// ‖∇_ζ L‖_∞ / max(1, ‖∇_ζ J‖_∞).
    pub stat: f64,
    /// ‖∇_ζ J‖_∞.
    pub grad_scale: f64,
    /// Dynamics and x_0 defects, ∞-norm.
    pub dyn_feas: f64,
    /// ‖g + s‖_∞ (IPM) or ‖g_active‖_∞ (polish).
    pub ineq: f64,
    /// max_j s_j μ_j.
    pub comp: f64,
    /// max_j g_j (violation of the inequalities).
    pub gmax: f64,
}

impl Workspace {
    /// Solve the OCP from `x_init` with parameters `theta` and context `ctx`.
    ///
    /// Returns the solution (also kept in the workspace); `Err` only for misuse (dimensions,
    /// non-finite input, invalid context, warm start without a previous solution). A solve that
    /// fails numerically returns a solution whose `status` says why.
    pub fn solve<M: OcpModel>(
        &mut self,
        model: &M,
        x_init: &[f64],
        theta: &[f64],
        ctx: &[f64],
        start: WarmStart,
    ) -> Result<&Solution, SolverError> {
        self.load_inputs(model, x_init, theta, ctx)?;
        self.initial_guess(model, start)?;
        self.kkt_ready = false;
        self.kkt_deferred = false;
        self.polish_res_final = false;
        let status = self.run(model, start);
        self.finish(model, status);
        Ok(&self.sol)
    }

    fn run<M: OcpModel>(&mut self, model: &M, start: WarmStart) -> Status {
        let h = self.h;
        let q_total: usize = self.q.iter().sum();
        self.ipm_res = None;
        self.sol.iterations = 0;
        self.sol.polish_iterations = 0;
        self.sol.chord_steps = 0;
        self.sol.weakly_active = 0;
        self.sol.max_regularization = 0.0;
        if q_total > 0
            && self.settings.polish
            && self.settings.active_set_start
            && model.is_linear_quadratic()
        {
            if let Some(status) = self.active_set_start(model, start) {
                return status;
            }
        }
        // slacks and multipliers
        if q_total > 0 {
            if !self.eval_g(model) {
                return Status::NumericalError;
            }
            for i in 0..=h {
                for j in 0..self.q[i] {
                    let g = self.blocks[i].g[j];
                    let s = (-g).max(self.settings.slack_min);
                    self.s[i][j] = s;
                    self.mu[i][j] = self.settings.mu_init / s;
                }
            }
        }
        if q_total == 0 {
            // Start from a dynamically feasible rollout of the guessed controls.
            self.rollout_current(model);
        }
        let mut nu = 1.0f64;
        // The objective at the current iterate, when known (see the line search).
        let mut objective_here: Option<f64> = None;
        let mut reg_last = 0.0f64;
        let mut iter = 0;
        let mut acceptable_run = 0usize;
        let mut early = false;
        let mut handover = false;
        let acceptable = self.settings.acceptable_tol;
        let polish_on = self.settings.polish;
        let barrier_handover = |q: usize, ok: bool| q > 0 && ok && polish_on;
        // Without inequalities, once Newton's method converges quadratically (the last
        // unregularized step started from a residual r ≤ 1e-3), the next iterate is expected
        // to pass the test with a residual ~ r² small enough for the polish to take its first
        // step on the last factorization (`ipm_factor_exact`, see `chord_step`): evaluate it
        // without Hessians, saving a Hessian evaluation and a factorization.
        self.ipm_last_stat = f64::INFINITY;
        self.ipm_factor_exact = false;
        loop {
            let predict = q_total == 0 && self.settings.polish && self.settings.polish_chord_step;
            let predict = predict && self.ipm_factor_exact;
            let predict = predict && self.ipm_last_stat <= 1e-3;
            if !self.eval_blocks_with(model, !predict) {
                return Status::NumericalError;
            }
            let r = self.residuals(true);
            self.ipm_res = Some(r);
            let below = |tol: f64| {
                r.stat <= tol
                    && r.dyn_feas <= tol
                    && (q_total == 0 || (r.ineq <= tol && r.comp <= tol))
            };
            if below(self.settings.tol) {
                break;
            }
            if !self.hess_fresh && !self.eval_blocks_with(model, true) {
                return Status::NumericalError;
            }
            self.ipm_last_stat = r.stat.max(r.dyn_feas);
            acceptable_run = if below(self.settings.acceptable_tol) {
                acceptable_run + 1
            } else {
                0
            };
            let limit = self.settings.acceptable_iter;
            if self.settings.polish && limit > 0 && acceptable_run >= limit {
                early = true;
                break;
            }
            if iter >= self.settings.max_iter {
                self.sol.iterations = iter;
                return if r.gmax > 1e-6 && q_total > 0 {
                    Status::Infeasible
                } else {
                    Status::MaxIterations
                };
            }
            iter += 1;
            // factorize with inertia correction
            self.build_hessians(true);
            let mut reg = 0.0;
            loop {
                let hess: &dyn StageHessians = if self.hm_barrier {
                    &self.hm
                } else {
                    &self.blocks
                };
                match self.riccati.factor(hess, &self.blocks, reg, false) {
                    FactorOutcome::PositiveDefinite | FactorOutcome::Indefinite => break,
                    _ if reg == 0.0 && barrier_handover(q_total, below(acceptable)) => {
                        // At the acceptable level with inequalities, a failed inertia test is
                        // usually the barrier terms μ/s of nearly active rows (s → 0) swamping
                        // the relative pivot floor, and regularising would wreck the iterate:
                        // hand over to the polish, which solves the active-set KKT system
                        // without barrier terms and must find it positive definite.
                        if trace_enabled() {
                            eprintln!(
                                "it {iter:3}: inertia test failed at the acceptable level: polish"
                            );
                        }
                        self.sol.iterations = iter;
                        handover = true;
                        break;
                    }
                    _ => {
                        reg = if reg == 0.0 {
                            (reg_last / 3.0).max(self.settings.reg_init)
                        } else {
                            reg * 10.0
                        };
                        if reg > self.settings.reg_max {
                            self.sol.iterations = iter;
                            return Status::NumericalError;
                        }
                    }
                }
            }
            if handover {
                early = true;
                break;
            }
            reg_last = reg;
            self.ipm_factor_exact = reg == 0.0;
            self.sol.max_regularization = self.sol.max_regularization.max(reg);
            // barrier parameter: Mehrotra predictor–corrector
            let tau = if q_total > 0 {
                let mu_avg = self.complementarity_avg(q_total);
                self.build_linear(0.0, false);
                self.newton_solve();
                self.recover_ineq_step(0.0, false);
                let (ap, ad) = self.max_steps();
                let mut aff = 0.0;
                for i in 0..=h {
                    for j in 0..self.q[i] {
                        let s = self.s[i][j] + ap * self.ds[i][j];
                        let m = self.mu[i][j] + ad * (self.mu_new[i][j] - self.mu[i][j]);
                        aff += s * m;
                        self.ds_aff[i][j] = self.ds[i][j];
                        self.dmu_aff[i][j] = self.mu_new[i][j] - self.mu[i][j];
                    }
                }
                aff /= q_total as f64;
                let sigma = (aff / mu_avg.max(1e-300)).powi(3).clamp(0.0, 1.0);
                let tau = sigma * mu_avg;
                self.build_linear(tau, true);
                self.newton_solve();
                self.recover_ineq_step(tau, true);
                tau
            } else {
                self.build_linear(0.0, false);
                self.newton_solve();
                0.0
            };
            // step sizes
            let (ap_max, ad_max) = if q_total > 0 {
                self.max_steps()
            } else {
                (1.0, 1.0)
            };
            let lam_norm = self
                .lam_new
                .iter()
                .map(|v| norm_inf(v.as_slice()))
                .fold(0.0, f64::max);
            let mu_norm = self
                .mu_new
                .iter()
                .map(|v| norm_inf(v.as_slice()))
                .fold(0.0, f64::max);
            // Penalty update (Nocedal & Wright 18.36): ν ≥ (∇φᵀd + ½dᵀHd)/((1 − ρ)‖c‖₁) makes
            // the step a descent direction of the merit even where the Hessian is indefinite
            // off the constraints' null space; ν also dominates the multipliers.
            let (obj_slope, viol) = self.merit_parts(tau);
            // (Only for a violation above round-off: dividing by a rounding-level ‖c‖₁ would
            // blow ν up and stall the line search.)
            let infeasible = viol > 1e-9 * (1.0 + self.zeta_scale());
            if infeasible {
                let quad = self.step_curvature().max(0.0);
                nu = nu.max((obj_slope + 0.5 * quad) / (0.9 * viol));
            }
            nu = nu.max(1.5 * lam_norm.max(mu_norm) + 1e-3);
            let mut alpha = ap_max;
            let mut accepted = false;
            // Round-off relaxation of the Armijo test (as in IPOPT): near a solution the
            // merit changes by less than its rounding error, and the multipliers must still
            // take the full Newton update.
            let feasible_search = q_total == 0;
            let (phi0, dphi) = if feasible_search {
                // Without inequalities every iterate is a dynamically feasible rollout, and
                // the trial points are nonlinear rollouts with the Riccati feedback (as in
                // DDP): the merit is the objective itself and the Newton step is a descent
                // direction whenever the reduced Hessian is positive definite. (The objective
                // at the current iterate is the accepted trial's of the last iteration.)
                let phi0 = match objective_here.take() {
                    Some(v) => v,
                    None => self.objective(model, false),
                };
                (phi0, obj_slope)
            } else {
                (self.merit(model, false, tau, nu), obj_slope - nu * viol)
            };
            let mut phi_accepted = f64::NAN;
            let slack = 10.0 * f64::EPSILON * phi0.abs().max(1.0);
            for _ in 0..self.settings.max_backtracks {
                let phi = if feasible_search {
                    self.rollout_trial(model, alpha);
                    self.objective(model, true)
                } else {
                    self.trial_point(alpha);
                    self.merit(model, true, tau, nu)
                };
                if phi.is_finite()
                    && (dphi >= -slack || phi <= phi0 + self.settings.armijo * alpha * dphi + slack)
                {
                    accepted = true;
                    phi_accepted = phi;
                    break;
                }
                alpha *= 0.5;
            }
            let mut feasible_search = feasible_search;
            if !accepted && feasible_search && infeasible {
                // The one iterate that is not a rollout (a cold rollout that left the finite
                // range was replaced by x_init at every stage) and no finite, lower rollout
                // along the step (an unstable model): take a multiple-shooting step instead,
                // x + αdx and u + αdu on the ℓ1 merit φ + ν‖c‖₁, which closes the defects.
                feasible_search = false;
                let phi0 = self.merit(model, false, tau, nu);
                let dphi = obj_slope - nu * viol;
                let slack = 10.0 * f64::EPSILON * phi0.abs().max(1.0);
                alpha = 1.0;
                for _ in 0..self.settings.max_backtracks {
                    self.trial_point(alpha);
                    let phi = self.merit(model, true, tau, nu);
                    if phi.is_finite() && phi <= phi0 + self.settings.armijo * alpha * dphi + slack
                    {
                        accepted = true;
                        break;
                    }
                    alpha *= 0.5;
                }
            }
            if trace_enabled() {
                eprintln!(
                    "it {iter:3} stat {:.2e} feas {:.2e} ineq {:.2e} reg {reg:.1e} tau {tau:.1e} nu {nu:.2e} dphi {dphi:.3e} alpha {alpha:.2e} ok {accepted}",
                    r.stat, r.dyn_feas, r.ineq
                );
            }
            if !accepted {
                self.sol.iterations = iter;
                // A line search that fails at the acceptable level (round-off floor) hands
                // over to the polish, from the current iterate.
                let limit = self.settings.acceptable_iter;
                if self.settings.polish && limit > 0 && below(self.settings.acceptable_tol) {
                    if !self.eval_blocks(model, true) {
                        return Status::NumericalError;
                    }
                    self.residuals(true);
                    early = true;
                    break;
                }
                return Status::NumericalError;
            }
            // accept
            self.ipm_res = None;
            for i in 0..=h {
                std::mem::swap(&mut self.x[i], &mut self.xt[i]);
                self.lam[i].axpy(alpha, &self.lam_new[i], 1.0 - alpha);
                if self.q[i] > 0 {
                    std::mem::swap(&mut self.s[i], &mut self.st[i]);
                    let a_d = ad_max.min(1.0);
                    for j in 0..self.q[i] {
                        let m = self.mu[i][j] + a_d * (self.mu_new[i][j] - self.mu[i][j]);
                        self.mu[i][j] = m.max(1e-20);
                    }
                }
            }
            for i in 0..h {
                std::mem::swap(&mut self.u[i], &mut self.ut[i]);
            }
            if feasible_search {
                objective_here = Some(phi_accepted);
            }
        }
        self.sol.iterations = iter;
        if !self.settings.polish {
            return Status::SolvedUnpolished;
        }
        // Keep the interior-point solution: if the polish fails, the solve falls back to it
        // (usable for acting, not for exact sensitivities).
        for i in 0..=h {
            self.xt[i].copy_from(&self.x[i]);
            self.lam_ipm[i].copy_from(&self.lam[i]);
            self.mu_new[i].copy_from(&self.mu[i]);
            if i < h {
                self.ut[i].copy_from(&self.u[i]);
            }
        }
        if handover {
            self.kkt_pd = true;
        }
        self.defer_ok = !handover;
        let status = self.polish(model);
        if status != Status::NumericalError && (!handover || self.kkt_pd) {
            return status;
        }
        if early {
            // Stopped at the acceptable level and the polish could not finish: not a solution.
            self.kkt_ready = false;
            return Status::MaxIterations;
        }
        for i in 0..=h {
            std::mem::swap(&mut self.x[i], &mut self.xt[i]);
            std::mem::swap(&mut self.lam[i], &mut self.lam_ipm[i]);
            std::mem::swap(&mut self.mu[i], &mut self.mu_new[i]);
            self.act[i].iter_mut().for_each(|a| *a = false);
            if i < h {
                std::mem::swap(&mut self.u[i], &mut self.ut[i]);
            }
        }
        self.kkt_ready = false;
        self.sol.weakly_active = 0;
        if !self.eval_blocks(model, true) {
            return Status::NumericalError;
        }
        Status::SolvedUnpolished
    }

    /// Evaluate only the constraint values g (f64) into the blocks.
    fn eval_g<M: OcpModel>(&mut self, model: &M) -> bool {
        let h = self.h;
        for i in 0..h {
            let qi = self.q[i];
            if qi == 0 {
                continue;
            }
            model.path_constraints(
                i,
                self.x[i].as_slice(),
                self.u[i].as_slice(),
                &self.theta,
                &self.ctx,
                &mut self.gbuf[..qi],
            );
            self.blocks[i].g.copy_from_slice(&self.gbuf[..qi]);
            self.blocks[i].touch();
        }
        let qh = self.q[h];
        if qh > 0 {
            model.terminal_constraints(
                self.x[h].as_slice(),
                &self.theta,
                &self.ctx,
                &mut self.gbuf[..qh],
            );
            self.blocks[h].g.copy_from_slice(&self.gbuf[..qh]);
            self.blocks[h].touch();
        }
        self.blocks
            .iter()
            .all(|b| b.g.iter().all(|v| v.is_finite()))
    }

    /// Evaluate every derivative block at the current iterate. `use_mu`: weight the constraint
    /// curvature with μ (always true; inactive rows carry μ = 0 during the polish).
    pub(crate) fn eval_blocks<M: OcpModel>(&mut self, model: &M, _use_mu: bool) -> bool {
        self.eval_blocks_with(model, true)
    }

    /// [`Workspace::eval_blocks`], with the Lagrangian Hessians only when `hessian` (else the
    /// Hessians in `blocks` are stale and `hess_fresh` is false).
    pub(crate) fn eval_blocks_with<M: OcpModel>(&mut self, model: &M, hessian: bool) -> bool {
        let h = self.h;
        self.ipm_res = None;
        let lq = model.is_linear_quadratic();
        let finite = if lq && self.lq_ready {
            self.hess_fresh = true;
            self.eval_values_lq(model)
        } else {
            let mut finite = true;
            for i in 0..h {
                let (x, u, lam, mu) = (&self.x[i], &self.u[i], &self.lam[i + 1], &self.mu[i]);
                finite &= self.diff.stage_with(
                    model,
                    i,
                    (x.as_slice(), u.as_slice(), &self.theta, &self.ctx),
                    lam.as_slice(),
                    mu.as_slice(),
                    hessian,
                    &mut self.blocks[i],
                );
            }
            finite &= self.diff.terminal_with(
                model,
                (self.x[h].as_slice(), &self.theta, &self.ctx),
                self.mu[h].as_slice(),
                hessian,
                &mut self.blocks[h],
            );
            self.hess_fresh = hessian;
            if finite && lq {
                self.store_lq_reference();
            }
            finite
        };
        if finite {
            for i in 0..h {
                self.defect[i].copy_from(&self.blocks[i].f);
                self.defect[i] -= &self.x[i + 1];
            }
            self.x0_defect.copy_from(&self.x_init);
            self.x0_defect -= &self.x[0];
        }
        finite
    }

    /// Remember the point and cost gradients of the blocks just evaluated (LQ models).
    fn store_lq_reference(&mut self) {
        let (n, m, h) = (self.n, self.m, self.h);
        for i in 0..=h {
            let (z, g, b) = (&mut self.lq_z[i], &mut self.lq_grad[i], &self.blocks[i]);
            z.rows_mut(0, n).copy_from(&self.x[i]);
            g.rows_mut(0, n).copy_from(&b.cx);
            if i < h {
                z.rows_mut(n, m).copy_from(&self.u[i]);
                g.rows_mut(n, m).copy_from(&b.cu);
            }
        }
        self.lq_ready = true;
    }

    /// Linear–quadratic models after the first evaluation of a solve: the Jacobians and
    /// Hessians in `blocks` are exact everywhere, so only the values (plain evaluations) and
    /// the cost gradients ∇c(z) = ∇c(z₀) + ∇²c (z − z₀) change. False on a non-finite value.
    fn eval_values_lq<M: OcpModel>(&mut self, model: &M) -> bool {
        let (n, m, h) = (self.n, self.m, self.h);
        let mut finite = true;
        for i in 0..=h {
            let b = &mut self.blocks[i];
            b.touch();
            let k = if i < h { n + m } else { n };
            b.c = if i < h {
                self.diff.stage_values(
                    model,
                    i,
                    self.x[i].as_slice(),
                    self.u[i].as_slice(),
                    &self.theta,
                    &self.ctx,
                    b.f.as_mut_slice(),
                    b.g.as_mut_slice(),
                )
            } else {
                self.diff.terminal_values(
                    model,
                    self.x[h].as_slice(),
                    &self.theta,
                    &self.ctx,
                    b.g.as_mut_slice(),
                )
            };
            let (z0, g0, dz) = (&self.lq_z[i], &self.lq_grad[i], &mut self.lq_dz);
            for j in 0..n {
                dz[j] = self.x[i][j] - z0[j];
            }
            if i < h {
                for j in 0..m {
                    dz[n + j] = self.u[i][j] - z0[n + j];
                }
            }
            // ∇c = g₀ + H dz, H symmetric: accumulate column by column.
            for r in 0..k {
                let v = g0[r];
                if r < n {
                    b.cx[r] = v;
                } else {
                    b.cu[r - n] = v;
                }
            }
            for (c, &w) in dz[..k].iter().enumerate() {
                if w == 0.0 {
                    continue;
                }
                let col = b.hess.column(c);
                for r in 0..n {
                    b.cx[r] += col[r] * w;
                }
                for r in n..k {
                    b.cu[r - n] += col[r] * w;
                }
            }
            finite &= b.c.is_finite()
                && b.f.iter().all(|v| v.is_finite())
                && b.g.iter().all(|v| v.is_finite())
                && b.cx.iter().all(|v| v.is_finite())
                && b.cu.iter().all(|v| v.is_finite());
        }
        finite
    }

    /// KKT residuals at the current iterate (`ipm`: slack form; otherwise active-set form).
    pub(crate) fn residuals(&self, ipm: bool) -> Residuals {
        let (n, h) = (self.n, self.h);
        let mut r = Residuals::default();
        let mut stat = 0.0f64;
        let mut gs = 0.0f64;
        let mut buf = [0.0f64; MAX_VARS];
        for i in 0..=h {
            let b = &self.blocks[i];
            gs = gs.max(norm_inf(b.cx.as_slice()));
            if i < h {
                gs = gs.max(norm_inf(b.cu.as_slice()));
            }
            // x part (not for x_0, whose multiplier λ_0 absorbs it)
            // ∂ℓ/∂x_j = c_x + f_xᵀλ_{i+1} + g_xᵀμ − λ_i: column j of the (column-major)
            // Jacobians dotted with the multipliers.
            // (As matrix–vector products on the transposed Jacobians: four independent dot
            // products at a time, into a stack buffer; n + m ≤ MAX_VARS.)
            let q = self.q[i];
            let mu = self.mu[i].as_slice();
            if i > 0 {
                let v = &mut buf[..n];
                for ((v, &c), &l) in v.iter_mut().zip(b.cx.iter()).zip(self.lam[i].iter()) {
                    *v = c - l;
                }
                if i < h {
                    gemv_tr_acc(v, b.fx.as_slice(), n, self.lam[i + 1].as_slice());
                }
                if q > 0 {
                    gemv_tr_acc(v, b.gx.as_slice(), q, mu);
                }
                stat = stat.max(norm_inf(v));
            }
            if i < h {
                let v = &mut buf[..self.m];
                v.copy_from_slice(b.cu.as_slice());
                gemv_tr_acc(v, b.fu.as_slice(), n, self.lam[i + 1].as_slice());
                if q > 0 {
                    gemv_tr_acc(v, b.gu.as_slice(), q, mu);
                }
                stat = stat.max(norm_inf(v));
            }
            for k in 0..self.q[i] {
                let g = b.g[k];
                r.gmax = r.gmax.max(g);
                if ipm {
                    r.ineq = r.ineq.max((g + self.s[i][k]).abs());
                    r.comp = r.comp.max((self.s[i][k] * self.mu[i][k]).abs());
                } else if self.act[i][k] {
                    r.ineq = r.ineq.max(g.abs());
                }
            }
        }
        let mut feas = norm_inf(self.x0_defect.as_slice());
        for d in &self.defect {
            feas = feas.max(norm_inf(d.as_slice()));
        }
        r.grad_scale = gs;
        r.stat = stat / gs.max(1.0);
        r.dyn_feas = feas;
        r
    }

    fn complementarity_avg(&self, q_total: usize) -> f64 {
        let mut s = 0.0;
        for i in 0..=self.h {
            for j in 0..self.q[i] {
                s += self.s[i][j] * self.mu[i][j];
            }
        }
        s / q_total as f64
    }

    /// The LQ Hessians of the Newton step: ∇²ℓ_i + GᵀΣG in the interior-point phase with
    /// inequalities (into `hm`), else the blocks' own ∇²ℓ_i, used in place (see
    /// [`Workspace::lq_hessians`]).
    pub(crate) fn build_hessians(&mut self, ipm: bool) {
        let (n, h) = (self.n, self.h);
        self.hm_barrier = ipm && self.q.iter().any(|&q| q > 0);
        if !self.hm_barrier {
            return;
        }
        for i in 0..=h {
            let b = &self.blocks[i];
            let hm = &mut self.hm[i];
            hm.copy_from(&b.hess);
            let k = if i < h { n + self.m } else { n };
            for r in 0..self.q[i] {
                let sig = self.mu[i][r] / self.s[i][r];
                for a in 0..k {
                    let ga = if a < n {
                        b.gx[(r, a)]
                    } else {
                        b.gu[(r, a - n)]
                    };
                    if ga == 0.0 {
                        continue;
                    }
                    for c in 0..k {
                        let gc = if c < n {
                            b.gx[(r, c)]
                        } else {
                            b.gu[(r, c - n)]
                        };
                        hm[(a, c)] += sig * ga * gc;
                    }
                }
            }
        }
    }

    /// The Hessians of the last [`Workspace::build_hessians`]: `hm` or the blocks' own.
    pub(crate) fn lq_hessians(&self) -> &dyn StageHessians {
        if self.hm_barrier {
            &self.hm
        } else {
            &self.blocks
        }
    }

    /// Linear terms of the IPM Newton step: ∇J + Gᵀ(τ̃/s + Σ(g + s)), with τ̃ = τ − Δs_aff Δμ_aff
    /// in the corrector.
    fn build_linear(&mut self, tau: f64, corrector: bool) {
        let (n, h) = (self.n, self.h);
        for i in 0..=h {
            let b = &self.blocks[i];
            let l = &mut self.lin[i];
            for j in 0..n {
                l[j] = b.cx[j];
            }
            if i < h {
                for j in 0..self.m {
                    l[n + j] = b.cu[j];
                }
            }
            for r in 0..self.q[i] {
                let s = self.s[i][r];
                let mut t = tau;
                if corrector {
                    t -= self.ds_aff[i][r] * self.dmu_aff[i][r];
                }
                let nu = t / s + self.mu[i][r] / s * (b.g[r] + s);
                for j in 0..n {
                    l[j] += b.gx[(r, j)] * nu;
                }
                if i < h {
                    for j in 0..self.m {
                        l[n + j] += b.gu[(r, j)] * nu;
                    }
                }
            }
        }
    }

    /// Riccati solve of the Newton step into dx, du, lam_new.
    pub(crate) fn newton_solve(&mut self) {
        self.riccati.solve(
            &self.blocks,
            &self.lin,
            Some(&self.defect),
            Some(&self.x0_defect),
            &mut self.dx,
            &mut self.du,
            &mut self.lam_new,
        );
    }

    /// Δs = −(g + s) − GΔζ and μ⁺ = τ̃/s + Σ(g + s + GΔζ).
    fn recover_ineq_step(&mut self, tau: f64, corrector: bool) {
        let (n, h) = (self.n, self.h);
        for i in 0..=h {
            let b = &self.blocks[i];
            for r in 0..self.q[i] {
                let mut gd = 0.0;
                for j in 0..n {
                    gd += b.gx[(r, j)] * self.dx[i][j];
                }
                if i < h {
                    for j in 0..self.m {
                        gd += b.gu[(r, j)] * self.du[i][j];
                    }
                }
                self.gd[i][r] = gd;
                let s = self.s[i][r];
                let mut t = tau;
                if corrector {
                    t -= self.ds_aff[i][r] * self.dmu_aff[i][r];
                }
                self.ds[i][r] = -(b.g[r] + s) - gd;
                self.mu_new[i][r] = t / s + self.mu[i][r] / s * (b.g[r] + s + gd);
            }
        }
    }

    /// Fill the solution struct from the workspace iterate.
    fn finish<M: OcpModel>(&mut self, model: &M, status: Status) {
        let h = self.h;
        let sol = &mut self.sol;
        for i in 0..=h {
            sol.x[i].copy_from(&self.x[i]);
            if i < h {
                sol.u[i].copy_from(&self.u[i]);
                sol.costates[i].copy_from(&self.lam[i + 1]);
            }
            sol.mu[i].copy_from(&self.mu[i]);
            sol.g[i].copy_from(&self.blocks[i].g);
            for j in 0..self.q[i] {
                sol.active[i][j] = self.act[i][j];
            }
        }
        sol.lambda0.copy_from(&self.lam[0]);
        let mut obj = 0.0;
        for i in 0..h {
            obj += model.stage_cost(
                i,
                self.x[i].as_slice(),
                self.u[i].as_slice(),
                &self.theta,
                &self.ctx,
            );
        }
        obj += model.terminal_cost(self.x[h].as_slice(), &self.theta, &self.ctx);
        sol.objective = obj;
        let finite = obj.is_finite()
            && sol.x.iter().all(|v| v.iter().all(|a| a.is_finite()))
            && sol.u.iter().all(|v| v.iter().all(|a| a.is_finite()))
            && sol.costates.iter().all(|v| v.iter().all(|a| a.is_finite()));
        sol.status = if status.is_solved() && !finite {
            Status::NumericalError
        } else {
            status
        };
        if !sol.status.is_polished() {
            self.kkt_ready = false;
            self.kkt_deferred = false;
        }
        self.has_solution = finite;
        let r = if status.is_polished() && self.polish_res_final {
            self.polish_res
        } else {
            self.residuals(!status.is_polished())
        };
        self.sol.stationarity = r.stat;
        self.sol.feasibility = r.dyn_feas.max(r.ineq);
    }
}

/// Per-iteration trace on stderr when the environment variable `DIFFOP_TRACE` is set.
pub(crate) fn trace_enabled() -> bool {
    use std::sync::OnceLock;
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("DIFFOP_TRACE").is_some())
}
