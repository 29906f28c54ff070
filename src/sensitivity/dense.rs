//! Dense reference implementations of Proposition 1 (`docs/spec/ALGORITHMS.md` §7.2–7.3), for tests.
//!
//! [`DenseKkt::assemble`] builds D, A, B, C of §7.2 explicitly at a polished solution, with
//! ζ = (x_0, u_0, …, x_{H−1}, u_{H−1}, x_H) and κ = (x_0 − x_init; active rows of stage 0,
//! dynamics rows of stage 0; …; active terminal rows). [`DenseKkt::solve_kkt`] solves the full
//! KKT system (works when D is singular); [`DenseKkt::solve_prop1`] evaluates the paper's
//! formula ∇_θζ* = D⁻¹Aᵀ(AD⁻¹Aᵀ)⁻¹(AD⁻¹B − C) − D⁻¹B (needs D and AD⁻¹Aᵀ invertible).
//! Cost O((N_ζ + n_κ)³): use the structured routes of [`super`] in real work.

use super::routes::{factorized, theta_blocks};
use super::{SensitivityError, SingularSystem};
use crate::model::OcpModel;
use crate::solver::Workspace;
use nalgebra::DMatrix;

/// The dense blocks of §7.2 at a polished solution.
#[derive(Clone, Debug)]
pub struct DenseKkt {
    /// ∇²_ζζ of the Lagrangian (N_ζ × N_ζ).
    pub d: DMatrix<f64>,
    /// ∇_ζ κ (n_κ × N_ζ).
    pub a: DMatrix<f64>,
    /// ∇²_ζθ of the Lagrangian (N_ζ × d).
    pub b: DMatrix<f64>,
    /// ∇_θ κ (n_κ × d).
    pub c: DMatrix<f64>,
    /// Row offset of u_i in ζ, for extracting control blocks.
    pub u_offsets: Vec<usize>,
    /// Row offset of x_i in ζ.
    pub x_offsets: Vec<usize>,
}

impl DenseKkt {
    /// Assemble D, A, B, C from the workspace's polished solution of `model`.
    pub fn assemble<M: OcpModel>(ws: &mut Workspace, model: &M) -> Result<Self, SensitivityError> {
        // A polished solution of this model and the KKT factorization at it (the Hessians
        // and active rows; a deferred factorization is computed now).
        factorized(ws, model)?;
        let (n, m, dd) = ws.dims();
        let h = ws.horizon();
        let nz = (h + 1) * n + h * m;
        let n_act = ws.active_rows().len();
        let nk = (h + 1) * n + n_act;
        let tb = theta_blocks(ws, model);
        let xo: Vec<usize> = (0..=h).map(|i| (n + m) * i).collect();
        let uo: Vec<usize> = (0..h).map(|i| (n + m) * i + n).collect();
        let mut d = DMatrix::zeros(nz, nz);
        let mut a = DMatrix::zeros(nk, nz);
        let mut b = DMatrix::zeros(nz, dd);
        let mut c = DMatrix::zeros(nk, dd);
        for i in 0..=h {
            let k = if i < h { n + m } else { n };
            let o = xo[i];
            let hs = &ws.stage_blocks()[i].hess;
            for r in 0..k {
                for s in 0..k {
                    d[(o + r, o + s)] = hs[(r, s)];
                }
                for j in 0..dd {
                    b[(o + r, j)] = tb.b[i][(r, j)];
                }
            }
        }
        let mut row = 0;
        for j in 0..n {
            a[(row + j, j)] = 1.0;
        }
        row += n;
        for i in 0..=h {
            let blk = &ws.stage_blocks()[i];
            for (st, r) in ws.active_rows().iter().copied() {
                if st != i {
                    continue;
                }
                for j in 0..n {
                    a[(row, xo[i] + j)] = blk.gx[(r, j)];
                }
                if i < h {
                    for j in 0..m {
                        a[(row, uo[i] + j)] = blk.gu[(r, j)];
                    }
                }
                for j in 0..dd {
                    c[(row, j)] = tb.gth[i][(r, j)];
                }
                row += 1;
            }
            if i < h {
                for r in 0..n {
                    for j in 0..n {
                        a[(row + r, xo[i] + j)] = -blk.fx[(r, j)];
                    }
                    for j in 0..m {
                        a[(row + r, uo[i] + j)] = -blk.fu[(r, j)];
                    }
                    a[(row + r, xo[i + 1] + r)] = 1.0;
                    for j in 0..dd {
                        c[(row + r, j)] = -tb.e[i][(r, j)];
                    }
                }
                row += n;
            }
        }
        debug_assert_eq!(row, nk);
        Ok(Self {
            d,
            a,
            b,
            c,
            u_offsets: uo,
            x_offsets: xo,
        })
    }

    /// The KKT matrix K = [D Aᵀ; A 0].
    pub fn kkt_matrix(&self) -> DMatrix<f64> {
        let nz = self.d.nrows();
        let nk = self.a.nrows();
        let mut k = DMatrix::zeros(nz + nk, nz + nk);
        k.view_mut((0, 0), (nz, nz)).copy_from(&self.d);
        k.view_mut((nz, 0), (nk, nz)).copy_from(&self.a);
        k.view_mut((0, nz), (nz, nk)).copy_from(&self.a.transpose());
        k
    }

    /// Z = ∇_θζ* from the full KKT solve K [Z; Y] = −[B; C].
    pub fn solve_kkt(&self) -> Result<DMatrix<f64>, SensitivityError> {
        let nz = self.d.nrows();
        let nk = self.a.nrows();
        let k = self.kkt_matrix();
        let mut rhs = DMatrix::zeros(nz + nk, self.b.ncols());
        rhs.view_mut((0, 0), (nz, self.b.ncols()))
            .copy_from(&(-&self.b));
        rhs.view_mut((nz, 0), (nk, self.b.ncols()))
            .copy_from(&(-&self.c));
        let lu = k.lu();
        let sol = lu
            .solve(&rhs)
            .ok_or(SensitivityError::Singular(SingularSystem::DenseKkt))?;
        Ok(sol.rows(0, nz).into_owned())
    }

    /// Z from the paper's Proposition 1 formula (requires D and A D⁻¹ Aᵀ invertible).
    pub fn solve_prop1(&self) -> Result<DMatrix<f64>, SensitivityError> {
        let dinv = self
            .d
            .clone()
            .try_inverse()
            .ok_or(SensitivityError::Singular(SingularSystem::DenseHessian))?;
        let at = self.a.transpose();
        let s = &self.a * &dinv * &at;
        let sinv = s
            .try_inverse()
            .ok_or(SensitivityError::Singular(SingularSystem::DenseReduced))?;
        let db = &dinv * &self.b;
        Ok(&dinv * &at * sinv * (&self.a * &db - &self.c) - db)
    }

    /// Rows of Z belonging to the controls: the (H·m) × d matrix of ∂u_i/∂θ, stage-major.
    pub fn controls(&self, z: &DMatrix<f64>) -> DMatrix<f64> {
        // x_offsets has H + 1 ≥ 2 entries: m = (n + m) − n.
        let m = self.x_offsets[1] - self.u_offsets[0];
        let h = self.u_offsets.len();
        let mut out = DMatrix::zeros(h * m, z.ncols());
        for (i, &o) in self.u_offsets.iter().enumerate() {
            out.view_mut((i * m, 0), (m, z.ncols()))
                .copy_from(&z.view((o, 0), (m, z.ncols())));
        }
        out
    }
}
