//! Evaluation of the model at the current iterate: constraint values, the derivative blocks
//! (AD or compiled symbolic programs, [`crate::model::derivs`]) and, for linear–quadratic
//! models, the cheap re-evaluation on cached blocks; the KKT residuals at the iterate.

use super::residuals::Residuals;
use super::workspace::Workspace;
use crate::linalg::{gemv_tr_acc, norm_inf};
use crate::model::derivs::MAX_VARS;
use crate::model::OcpModel;

impl Workspace {
    /// Evaluate only the constraint values g (f64) into the blocks.
    pub(super) fn eval_g<M: OcpModel>(&mut self, model: &M) -> bool {
        let h = self.h;
        for i in 0..h {
            let qi = self.q[i];
            if qi == 0 {
                continue;
            }
            model.path_constraints(
                i,
                self.it.x[i].as_slice(),
                self.it.u[i].as_slice(),
                &self.theta,
                &self.ctx,
                &mut self.gbuf[..qi],
            );
            self.lq.blocks[i].g.copy_from_slice(&self.gbuf[..qi]);
            self.lq.blocks[i].touch();
        }
        let qh = self.q[h];
        if qh > 0 {
            model.terminal_constraints(
                self.it.x[h].as_slice(),
                &self.theta,
                &self.ctx,
                &mut self.gbuf[..qh],
            );
            self.lq.blocks[h].g.copy_from_slice(&self.gbuf[..qh]);
            self.lq.blocks[h].touch();
        }
        self.lq
            .blocks
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
        let finite = if lq && self.lq.ready {
            self.lq.hess_fresh = true;
            self.eval_values_lq(model)
        } else {
            let mut finite = true;
            for i in 0..h {
                let (x, u, lam, mu) = (
                    &self.it.x[i],
                    &self.it.u[i],
                    &self.it.lam[i + 1],
                    &self.it.mu[i],
                );
                finite &= self.diff.stage_with(
                    model,
                    i,
                    (x.as_slice(), u.as_slice(), &self.theta, &self.ctx),
                    lam.as_slice(),
                    mu.as_slice(),
                    hessian,
                    &mut self.lq.blocks[i],
                );
            }
            finite &= self.diff.terminal_with(
                model,
                (self.it.x[h].as_slice(), &self.theta, &self.ctx),
                self.it.mu[h].as_slice(),
                hessian,
                &mut self.lq.blocks[h],
            );
            self.lq.hess_fresh = hessian;
            if finite && lq {
                self.store_lq_reference();
            }
            finite
        };
        if finite {
            for i in 0..h {
                self.lq.defect[i].copy_from(&self.lq.blocks[i].f);
                self.lq.defect[i] -= &self.it.x[i + 1];
            }
            self.lq.x0_defect.copy_from(&self.x_init);
            self.lq.x0_defect -= &self.it.x[0];
        }
        finite
    }

    /// Remember the point and cost gradients of the blocks just evaluated (LQ models).
    fn store_lq_reference(&mut self) {
        let (n, m, h) = (self.n, self.m, self.h);
        for i in 0..=h {
            let (z, g, b) = (&mut self.lq.z[i], &mut self.lq.grad[i], &self.lq.blocks[i]);
            z.rows_mut(0, n).copy_from(&self.it.x[i]);
            g.rows_mut(0, n).copy_from(&b.cx);
            if i < h {
                z.rows_mut(n, m).copy_from(&self.it.u[i]);
                g.rows_mut(n, m).copy_from(&b.cu);
            }
        }
        self.lq.ready = true;
    }

    /// Linear–quadratic models after the first evaluation of a solve: the Jacobians and
    /// Hessians in `blocks` are exact everywhere, so only the values (plain evaluations) and
    /// the cost gradients ∇c(z) = ∇c(z₀) + ∇²c (z − z₀) change. False on a non-finite value.
    fn eval_values_lq<M: OcpModel>(&mut self, model: &M) -> bool {
        let (n, m, h) = (self.n, self.m, self.h);
        let mut finite = true;
        for i in 0..=h {
            let b = &mut self.lq.blocks[i];
            b.touch();
            let k = if i < h { n + m } else { n };
            b.c = if i < h {
                self.diff.stage_values(
                    model,
                    i,
                    self.it.x[i].as_slice(),
                    self.it.u[i].as_slice(),
                    &self.theta,
                    &self.ctx,
                    b.f.as_mut_slice(),
                    b.g.as_mut_slice(),
                )
            } else {
                self.diff.terminal_values(
                    model,
                    self.it.x[h].as_slice(),
                    &self.theta,
                    &self.ctx,
                    b.g.as_mut_slice(),
                )
            };
            let (z0, g0, dz) = (&self.lq.z[i], &self.lq.grad[i], &mut self.lq.dz);
            for j in 0..n {
                dz[j] = self.it.x[i][j] - z0[j];
            }
            if i < h {
                for j in 0..m {
                    dz[n + j] = self.it.u[i][j] - z0[n + j];
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
            let b = &self.lq.blocks[i];
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
            let mu = self.it.mu[i].as_slice();
            if i > 0 {
                let v = &mut buf[..n];
                for ((v, &c), &l) in v.iter_mut().zip(b.cx.iter()).zip(self.it.lam[i].iter()) {
                    *v = c - l;
                }
                if i < h {
                    gemv_tr_acc(v, b.fx.as_slice(), n, self.it.lam[i + 1].as_slice());
                }
                if q > 0 {
                    gemv_tr_acc(v, b.gx.as_slice(), q, mu);
                }
                stat = stat.max(norm_inf(v));
            }
            if i < h {
                let v = &mut buf[..self.m];
                v.copy_from_slice(b.cu.as_slice());
                gemv_tr_acc(v, b.fu.as_slice(), n, self.it.lam[i + 1].as_slice());
                if q > 0 {
                    gemv_tr_acc(v, b.gu.as_slice(), q, mu);
                }
                stat = stat.max(norm_inf(v));
            }
            for k in 0..self.q[i] {
                let g = b.g[k];
                r.gmax = r.gmax.max(g);
                if ipm {
                    r.ineq = r.ineq.max((g + self.it.s[i][k]).abs());
                    r.comp = r.comp.max((self.it.s[i][k] * self.it.mu[i][k]).abs());
                } else if self.act[i][k] {
                    r.ineq = r.ineq.max(g.abs());
                }
            }
        }
        let mut feas = norm_inf(self.lq.x0_defect.as_slice());
        for d in &self.lq.defect {
            feas = feas.max(norm_inf(d.as_slice()));
        }
        r.grad_scale = gs;
        r.stat = stat / gs.max(1.0);
        r.dyn_feas = feas;
        r
    }

    pub(crate) fn complementarity_avg(&self, q_total: usize) -> f64 {
        let mut s = 0.0;
        for i in 0..=self.h {
            for j in 0..self.q[i] {
                s += self.it.s[i][j] * self.it.mu[i][j];
            }
        }
        s / q_total as f64
    }
}
