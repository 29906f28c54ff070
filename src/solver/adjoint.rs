//! The narrow interface of a solved workspace for the sensitivity routines
//! ([`crate::sensitivity`]): the solution's stage points, the kept KKT factorization's solves
//! (an adjoint solve, a column solve) and read access to their result. The sensitivity routines
//! use these methods only, never the workspace's fields.

use super::kkt::Row;
use super::workspace::Workspace;
use crate::linalg::{dot, is_zero};
use crate::model::derivs::{Differentiator, StageBlock};
use nalgebra::DVector;

/// Which system of a KKT solve turned out singular.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KktSingular {
    /// The KKT system with the active rows.
    ActiveRows,
    /// The Schur complement over the active rows.
    SchurComplement,
}

/// Stage i of the solution as the θ-derivative evaluations take it.
pub(crate) struct StagePoint<'a> {
    /// `Some(i)` for a path stage, `None` for the terminal stage.
    pub stage: Option<usize>,
    pub x: &'a [f64],
    /// u_i (empty at the terminal stage).
    pub u: &'a [f64],
    pub theta: &'a [f64],
    pub ctx: &'a [f64],
    /// λ_{i+1} of the solution (empty at the terminal stage).
    pub lam_next: &'a [f64],
    /// μ_i of the solution.
    pub mu: &'a [f64],
}

/// Stage i of the last adjoint solve, with the solution's stage point.
pub(crate) struct AdjointStage<'a> {
    pub point: StagePoint<'a>,
    /// w_i = (Δx_i, Δu_i) (length n + m; terminal: n).
    pub wz: &'a [f64],
    /// λ^w_{i+1} (empty at the terminal stage).
    pub fw: &'a [f64],
    /// The active rows' multipliers ν on this stage's rows (length q_i, zero on inactive rows).
    pub gw: &'a [f64],
    /// Scratch of length d for the stage's contraction.
    pub part: &'a mut [f64],
}

/// The result of the last KKT solve: the step and its costates.
pub(crate) struct KktStep<'a> {
    pub dx: &'a [DVector<f64>],
    pub du: &'a [DVector<f64>],
    pub lam: &'a [DVector<f64>],
}

impl Workspace {
    /// The active rows of the kept factorization.
    pub(crate) fn active_rows(&self) -> &[Row] {
        &self.kkt.rows
    }

    /// The derivative blocks at the solution (valid once the factorization is in place).
    pub(crate) fn stage_blocks(&self) -> &[StageBlock] {
        &self.lq.blocks
    }

    /// The result of the last KKT solve.
    pub(crate) fn kkt_step(&self) -> KktStep<'_> {
        KktStep {
            dx: &self.step.dx,
            du: &self.step.du,
            lam: &self.step.lam,
        }
    }

    /// Stage i of the solution (i = H: terminal) and the workspace's differentiator.
    pub(crate) fn stage_point(&mut self, i: usize) -> (StagePoint<'_>, &mut Differentiator) {
        let h = self.h;
        let (stage, u, lam_next) = if i < h {
            (
                Some(i),
                self.it.u[i].as_slice(),
                self.it.lam[i + 1].as_slice(),
            )
        } else {
            (None, &[][..], &[][..])
        };
        let point = StagePoint {
            stage,
            x: self.it.x[i].as_slice(),
            u,
            theta: &self.theta,
            ctx: &self.ctx,
            lam_next,
            mu: self.it.mu[i].as_slice(),
        };
        (point, &mut self.diff)
    }

    /// Call `f` on every stage i = 0 … H of the last adjoint solve ([`Workspace::solve_adjoint`])
    /// with the differentiator; the scratch is the workspace's (no allocation after the first
    /// call).
    pub(crate) fn for_each_adjoint_stage(
        &mut self,
        mut f: impl FnMut(usize, AdjointStage<'_>, &mut Differentiator),
    ) {
        let (n, m, d, h) = (self.n, self.m, self.d, self.h);
        let qmax = self.q.iter().copied().max().unwrap_or(0);
        let sc = &mut self.vjp_scratch;
        sc.wz.resize(n + m, 0.0);
        sc.gw.resize(qmax, 0.0);
        sc.part.resize(d, 0.0);
        let k = self.kkt.rows.len();
        for i in 0..=h {
            let qi = self.q[i];
            sc.wz[..n].copy_from_slice(self.step.dx[i].as_slice());
            if i < h {
                sc.wz[n..].copy_from_slice(self.step.du[i].as_slice());
            }
            sc.gw[..qi].fill(0.0);
            if k > 0 {
                for (a, &(st, row)) in self.kkt.rows.iter().enumerate() {
                    if st == i {
                        sc.gw[row] = self.kkt.nu[a];
                    }
                }
            }
            let (stage, u, lam_next, fw) = if i < h {
                (
                    Some(i),
                    self.it.u[i].as_slice(),
                    self.it.lam[i + 1].as_slice(),
                    self.step.lam[i + 1].as_slice(),
                )
            } else {
                (None, &[][..], &[][..], &[][..])
            };
            let point = StagePoint {
                stage,
                x: self.it.x[i].as_slice(),
                u,
                theta: &self.theta,
                ctx: &self.ctx,
                lam_next,
                mu: self.it.mu[i].as_slice(),
            };
            let stage = AdjointStage {
                point,
                wz: &sc.wz[..if i < h { n + m } else { n }],
                fw,
                gw: &sc.gw[..qi],
                part: &mut sc.part,
            };
            f(i, stage, &mut self.diff);
        }
    }

    /// The adjoint solve of a VJP on the kept factorization: the LQ problem with linear term
    /// −g for the seed g = (`seed_x`, `seed_u`) (`None`: zero) and homogeneous constraints.
    /// The solution is read with [`Workspace::kkt_step`] and [`Workspace::for_each_adjoint_stage`].
    /// The factorization must be in place ([`Workspace::ensure_kkt`]).
    pub(crate) fn solve_adjoint(
        &mut self,
        seed_x: Option<&[f64]>,
        seed_u: Option<&[f64]>,
    ) -> Result<(), KktSingular> {
        let (n, m, h) = (self.n, self.m, self.h);
        for i in 0..=h {
            let l = &mut self.lq.lin[i];
            l.fill(0.0);
            if let Some(sx) = seed_x {
                for j in 0..n {
                    l[j] = -sx[i * n + j];
                }
            }
            if i < h {
                if let Some(su) = seed_u {
                    for j in 0..m {
                        l[n + j] = -su[i * m + j];
                    }
                }
            }
        }
        let k = self.kkt.rows.len();
        if self.kkt.is_constrained_riccati() {
            // One solve of the equality-constrained recursion gives the step and ν.
            if !self.kkt_solve(None, None, false) {
                return Err(KktSingular::ActiveRows);
            }
        } else {
            if k > 0 {
                self.active_multipliers_by_symmetry()?;
            }
            self.kkt.riccati.solve(
                &self.lq.blocks,
                &self.lq.lin,
                None,
                None,
                &mut self.step.dx,
                &mut self.step.du,
                &mut self.step.lam,
            );
        }
        Ok(())
    }

    /// Active-row multipliers of the VJP without the unconstrained solve, then the LQ linear
    /// term of the constrained one.
    ///
    /// With homogeneous constraints the LQ solution is linear and symmetric in its linear term:
    /// z(l) = −M l with M = Mᵀ. The kept columns are W_a = z(G_a), so for Δ = z(l)
    ///
    /// ```text
    /// G_a·Δ = −G_aᵀ M l = ⟨W_a, l⟩,        ν = S⁻¹(−G Δ),        Δ + Σ_a ν_a W_a = z(l + Σ_a ν_a G_a).
    /// ```
    ///
    /// ⟨W_a, l⟩ only runs over the stages where l ≠ 0 (a control seed: one stage), and the
    /// corrected step is a single Riccati solve instead of k axpys over the whole horizon. On
    /// return `lin` holds l + Gᵀν and `nu` holds ν.
    fn active_multipliers_by_symmetry(&mut self) -> Result<(), KktSingular> {
        let (n, h) = (self.n, self.h);
        let k = self.kkt.rows.len();
        let rhs = &mut self.kkt.nu[..k];
        rhs.fill(0.0);
        for i in 0..=h {
            let l = self.lq.lin[i].as_slice();
            if is_zero(l) {
                continue;
            }
            for (a, r) in rhs.iter_mut().enumerate() {
                *r -= dot(self.kkt.wx[a][i].as_slice(), &l[..n]);
                if i < h {
                    *r -= dot(self.kkt.wu[a][i].as_slice(), &l[n..]);
                }
            }
        }
        self.kkt
            .schur_fac
            .solve_in_place(&mut self.kkt.nu[..k], &mut self.kkt.tmp);
        if self.kkt.nu[..k].iter().any(|v| !v.is_finite()) {
            return Err(KktSingular::SchurComplement);
        }
        for a in 0..k {
            let (st, row) = self.kkt.rows[a];
            let nu = self.kkt.nu[a];
            let b = &self.lq.blocks[st];
            let l = &mut self.lq.lin[st];
            for j in 0..n {
                l[j] += nu * b.gx[(row, j)];
            }
            if st < h {
                for j in 0..self.m {
                    l[n + j] += nu * b.gu[(row, j)];
                }
            }
        }
        Ok(())
    }

    /// One column solve on the kept factorization: linear term `lin(i, r)` (stage i, entry r of
    /// its n + m, terminal n), dynamics offsets `defect`, x_0 offset `x0` and the active rows'
    /// constants `row_e(row)` (`None`: zero). The result is read with [`Workspace::kkt_step`].
    pub(crate) fn solve_column(
        &mut self,
        lin: impl Fn(usize, usize) -> f64,
        defect: Option<&[DVector<f64>]>,
        x0: Option<&DVector<f64>>,
        row_e: Option<&dyn Fn(Row) -> f64>,
    ) -> Result<(), KktSingular> {
        for (i, l) in self.lq.lin.iter_mut().enumerate() {
            for (r, v) in l.iter_mut().enumerate() {
                *v = lin(i, r);
            }
        }
        if let Some(e) = row_e {
            for (a, &row) in self.kkt.rows.iter().enumerate() {
                self.kkt.row_e[a] = e(row);
            }
        }
        if self.kkt_solve(defect, x0, row_e.is_some()) {
            Ok(())
        } else {
            Err(KktSingular::ActiveRows)
        }
    }
}
