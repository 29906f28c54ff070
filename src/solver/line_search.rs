//! Steps and merit of the interior-point line search: fraction-to-the-boundary step limits,
//! the model rollouts (the current guess and the feasible trials with Riccati feedback), the
//! trial points of a multiple-shooting step, the objective and the ℓ1 merit with its slope.

use super::workspace::Workspace;
use crate::linalg::{all_finite, norm_inf};
use crate::model::OcpModel;

/// Fraction-to-the-boundary parameter.
const FTB: f64 = 0.995;

impl Workspace {
    /// Largest primal and dual steps keeping s and μ positive (fraction to the boundary).
    pub(super) fn max_steps(&self) -> (f64, f64) {
        let mut ap = 1.0f64;
        let mut ad = 1.0f64;
        for i in 0..=self.h {
            for j in 0..self.q[i] {
                let ds = self.step.ds[i][j];
                if ds < 0.0 {
                    ap = ap.min(-FTB * self.it.s[i][j] / ds);
                }
                let dm = self.step.mu[i][j] - self.it.mu[i][j];
                if dm < 0.0 {
                    ad = ad.min(-FTB * self.it.mu[i][j] / dm);
                }
            }
        }
        (ap, ad)
    }

    /// x ← rollout of the current controls from x_init (x_{i+1} = f(x_i, u_i)).
    ///
    /// An unstable model (learned parameters, say) can leave the finite range along the
    /// rollout of the guessed controls. When a state is not finite or exceeds
    /// `ROLLOUT_LIMIT` × max(1, ‖x_init‖∞), the rollout is discarded and every state is set to
    /// x_init (a linearization far out along a diverging rollout gives gains that cannot
    /// bring the closed loop back). The guess then has dynamics defects, which the first
    /// Newton step closes: its forward pass simulates the closed loop with the Riccati gains.
    pub(super) fn rollout_current<M: OcpModel>(&mut self, model: &M) {
        const ROLLOUT_LIMIT: f64 = 1e8;
        self.it.x[0].copy_from(&self.x_init);
        let limit = ROLLOUT_LIMIT * norm_inf(self.x_init.as_slice()).max(1.0);
        for i in 0..self.h {
            let (lo, hi) = self.it.x.split_at_mut(i + 1);
            model.dynamics(
                i,
                lo[i].as_slice(),
                self.it.u[i].as_slice(),
                &self.theta,
                &self.ctx,
                hi[0].as_mut_slice(),
            );
            let next = hi[0].as_slice();
            if !all_finite(next) || norm_inf(next) > limit {
                for xj in &mut self.it.x[1..] {
                    xj.copy_from(&self.x_init);
                }
                break;
            }
        }
    }

    /// Nonlinear rollout trial (DDP forward pass): u_i = ū_i + α du_i + K_i (x_i − x̄_i − α dx_i).
    pub(super) fn rollout_trial<M: OcpModel>(&mut self, model: &M, alpha: f64) {
        let n = self.n;
        self.trial.x[0].copy_from(&self.x_init);
        for i in 0..self.h {
            // e = x_t − x̄ − α dx
            for j in 0..n {
                self.fbuf[j] = self.trial.x[i][j] - self.it.x[i][j] - alpha * self.step.dx[i][j];
            }
            let ut = &mut self.trial.u[i];
            ut.copy_from(&self.it.u[i]);
            ut.axpy(alpha, &self.step.du[i], 1.0);
            let k = self.kkt.riccati.gain(i);
            for r in 0..self.m {
                let mut v = 0.0;
                for j in 0..n {
                    v += k[(r, j)] * self.fbuf[j];
                }
                ut[r] += v;
            }
            let (lo, hi) = self.trial.x.split_at_mut(i + 1);
            model.dynamics(
                i,
                lo[i].as_slice(),
                self.trial.u[i].as_slice(),
                &self.theta,
                &self.ctx,
                hi[0].as_mut_slice(),
            );
        }
    }

    /// Objective J at the current or trial point (+∞ if not finite).
    pub(super) fn objective<M: OcpModel>(&self, model: &M, trial: bool) -> f64 {
        let (xs, us) = if trial {
            (&self.trial.x, &self.trial.u)
        } else {
            (&self.it.x, &self.it.u)
        };
        let mut j = 0.0;
        for i in 0..self.h {
            j += model.stage_cost(
                i,
                xs[i].as_slice(),
                us[i].as_slice(),
                &self.theta,
                &self.ctx,
            );
        }
        j += model.terminal_cost(xs[self.h].as_slice(), &self.theta, &self.ctx);
        let finite = j.is_finite() && xs.iter().all(|v| v.iter().all(|a| a.is_finite()));
        if finite {
            j
        } else {
            f64::INFINITY
        }
    }

    pub(super) fn trial_point(&mut self, alpha: f64) {
        let h = self.h;
        for i in 0..=h {
            self.trial.x[i].copy_from(&self.it.x[i]);
            self.trial.x[i].axpy(alpha, &self.step.dx[i], 1.0);
            if self.q[i] > 0 {
                self.trial.s[i].copy_from(&self.it.s[i]);
                self.trial.s[i].axpy(alpha, &self.step.ds[i], 1.0);
            }
        }
        for i in 0..h {
            self.trial.u[i].copy_from(&self.it.u[i]);
            self.trial.u[i].axpy(alpha, &self.step.du[i], 1.0);
        }
    }

    /// ℓ1 merit φ = J − τ Σ ln s + ν (‖defects‖₁ + ‖g + s‖₁) at the current (`trial = false`)
    /// or trial point. +∞ when the model returns non-finite values.
    pub(super) fn merit<M: OcpModel>(&mut self, model: &M, trial: bool, tau: f64, nu: f64) -> f64 {
        let h = self.h;
        let (xs, us, ss) = if trial {
            (&self.trial.x, &self.trial.u, &self.trial.s)
        } else {
            (&self.it.x, &self.it.u, &self.it.s)
        };
        let mut phi = 0.0;
        let mut viol = norm1_diff(self.x_init.as_slice(), xs[0].as_slice());
        for i in 0..h {
            phi += model.stage_cost(
                i,
                xs[i].as_slice(),
                us[i].as_slice(),
                &self.theta,
                &self.ctx,
            );
            model.dynamics(
                i,
                xs[i].as_slice(),
                us[i].as_slice(),
                &self.theta,
                &self.ctx,
                &mut self.fbuf,
            );
            viol += norm1_diff(&self.fbuf, xs[i + 1].as_slice());
            let qi = self.q[i];
            if qi > 0 {
                model.path_constraints(
                    i,
                    xs[i].as_slice(),
                    us[i].as_slice(),
                    &self.theta,
                    &self.ctx,
                    &mut self.gbuf[..qi],
                );
                if !add_slack_terms(
                    &self.gbuf[..qi],
                    &ss[i].as_slice()[..qi],
                    tau,
                    &mut phi,
                    &mut viol,
                ) {
                    return f64::INFINITY;
                }
            }
        }
        phi += model.terminal_cost(xs[h].as_slice(), &self.theta, &self.ctx);
        let qh = self.q[h];
        if qh > 0 {
            model.terminal_constraints(
                xs[h].as_slice(),
                &self.theta,
                &self.ctx,
                &mut self.gbuf[..qh],
            );
            if !add_slack_terms(
                &self.gbuf[..qh],
                &ss[h].as_slice()[..qh],
                tau,
                &mut phi,
                &mut viol,
            ) {
                return f64::INFINITY;
            }
        }
        let v = phi + nu * viol;
        if v.is_finite() {
            v
        } else {
            f64::INFINITY
        }
    }

    /// dᵀ H d of the Newton step with the LQ Hessians.
    pub(super) fn step_curvature(&self) -> f64 {
        let (n, h) = (self.n, self.h);
        let mut q = 0.0;
        for i in 0..=h {
            let k = if i < h { n + self.m } else { n };
            let hm = self.lq_hessians().stage_hessian(i);
            let z = |j: usize| {
                if j < n {
                    self.step.dx[i][j]
                } else {
                    self.step.du[i][j - n]
                }
            };
            for a in 0..k {
                let za = z(a);
                if za == 0.0 {
                    continue;
                }
                for b in 0..k {
                    q += za * hm[b * k + a] * z(b);
                }
            }
        }
        q
    }

    /// (∇φ_τᵀ d, ‖c‖₁): the slope of the barrier objective along the step and the ℓ1 norm of
    /// the constraint violation (dynamics, x_0, g + s).
    pub(super) fn merit_parts(&self, tau: f64) -> (f64, f64) {
        let (n, h) = (self.n, self.h);
        let mut d = 0.0;
        let mut viol = self.lq.x0_defect.iter().map(|v| v.abs()).sum::<f64>();
        for i in 0..=h {
            let b = &self.lq.blocks[i];
            for j in 0..n {
                d += b.cx[j] * self.step.dx[i][j];
            }
            if i < h {
                for j in 0..self.m {
                    d += b.cu[j] * self.step.du[i][j];
                }
                viol += self.lq.defect[i].iter().map(|v| v.abs()).sum::<f64>();
            }
            for j in 0..self.q[i] {
                d -= tau * self.step.ds[i][j] / self.it.s[i][j];
                viol += (b.g[j] + self.it.s[i][j]).abs();
            }
        }
        (d, viol)
    }
}

fn norm1_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum()
}

/// Add one constraint block's barrier −τ Σ ln s_j to `phi` and its violation Σ |g_j + s_j| to
/// `viol`, in order; false (nothing meaningful added) when a slack is not positive.
fn add_slack_terms(g: &[f64], s: &[f64], tau: f64, phi: &mut f64, viol: &mut f64) -> bool {
    for (&gj, &sj) in g.iter().zip(s) {
        if sj <= 0.0 {
            return false;
        }
        *phi -= tau * sj.ln();
        *viol += (gj + sj).abs();
    }
    true
}
