//! The Newton step of the interior-point method on the Riccati factorization: the LQ
//! Hessians with barrier terms, the linear terms of predictor and corrector, the solve and
//! the recovered slack and multiplier steps.

use super::riccati::StageHessians;
use super::workspace::Workspace;

impl Workspace {
    /// The LQ Hessians of the Newton step: ∇²ℓ_i + GᵀΣG in the interior-point phase with
    /// inequalities (into `hm`), else the blocks' own ∇²ℓ_i, used in place (see
    /// [`Workspace::lq_hessians`]).
    pub(crate) fn build_hessians(&mut self, ipm: bool) {
        let (n, h) = (self.n, self.h);
        self.lq.hm_barrier = ipm && self.q.iter().any(|&q| q > 0);
        if !self.lq.hm_barrier {
            return;
        }
        for i in 0..=h {
            let b = &self.lq.blocks[i];
            let hm = &mut self.lq.hm[i];
            hm.copy_from(&b.hess);
            let k = if i < h { n + self.m } else { n };
            for r in 0..self.q[i] {
                let sig = self.it.mu[i][r] / self.it.s[i][r];
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
        if self.lq.hm_barrier {
            &self.lq.hm
        } else {
            &self.lq.blocks
        }
    }

    /// Linear terms of the IPM Newton step: ∇J + Gᵀ(τ̃/s + Σ(g + s)), with τ̃ = τ − Δs_aff Δμ_aff
    /// in the corrector.
    pub(super) fn build_linear(&mut self, tau: f64, corrector: bool) {
        let (n, h) = (self.n, self.h);
        for i in 0..=h {
            let b = &self.lq.blocks[i];
            let l = &mut self.lq.lin[i];
            for j in 0..n {
                l[j] = b.cx[j];
            }
            if i < h {
                for j in 0..self.m {
                    l[n + j] = b.cu[j];
                }
            }
            for r in 0..self.q[i] {
                let s = self.it.s[i][r];
                let mut t = tau;
                if corrector {
                    t -= self.step.ds_aff[i][r] * self.step.dmu_aff[i][r];
                }
                let nu = t / s + self.it.mu[i][r] / s * (b.g[r] + s);
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
        self.kkt.riccati.solve(
            &self.lq.blocks,
            &self.lq.lin,
            Some(&self.lq.defect),
            Some(&self.lq.x0_defect),
            &mut self.step.dx,
            &mut self.step.du,
            &mut self.step.lam,
        );
    }

    /// Δs = −(g + s) − GΔζ and μ⁺ = τ̃/s + Σ(g + s + GΔζ).
    pub(super) fn recover_ineq_step(&mut self, tau: f64, corrector: bool) {
        let (n, h) = (self.n, self.h);
        for i in 0..=h {
            let b = &self.lq.blocks[i];
            for r in 0..self.q[i] {
                let mut gd = 0.0;
                for j in 0..n {
                    gd += b.gx[(r, j)] * self.step.dx[i][j];
                }
                if i < h {
                    for j in 0..self.m {
                        gd += b.gu[(r, j)] * self.step.du[i][j];
                    }
                }
                self.step.gd[i][r] = gd;
                let s = self.it.s[i][r];
                let mut t = tau;
                if corrector {
                    t -= self.step.ds_aff[i][r] * self.step.dmu_aff[i][r];
                }
                self.step.ds[i][r] = -(b.g[r] + s) - gd;
                self.step.mu[i][r] = t / s + self.it.mu[i][r] / s * (b.g[r] + s + gd);
            }
        }
    }
}
