//! Riccati recursion for the stage-structured linear–quadratic subproblems.
//!
//! Every Newton step of the solver, the active-set polish and every sensitivity solve is the
//! LQ problem
//!
//! ```text
//! minimise   Σ_{i<H} ½ zᵢᵀ Hᵢ zᵢ + lᵢᵀ zᵢ + ½ x_Hᵀ H_H x_H + l_Hᵀ x_H,   zᵢ = (xᵢ, uᵢ)
//! subject to x_0 = x̄,   x_{i+1} = Aᵢ xᵢ + Bᵢ uᵢ + bᵢ
//! ```
//!
//! [`Riccati::factor`] runs the backward recursion on the matrices only (O(H(n+m)³)); the
//! factorization is then reused by any number of [`Riccati::solve`] calls with different linear
//! terms, defects and x̄ (O(H(n+m)²) each). The costates returned satisfy the paper's sign
//! convention: λ_{i+1} = P_{i+1} x_{i+1} + p_{i+1} is the multiplier of x_{i+1} − f(xᵢ, uᵢ) = 0.
//!
//! With `allow_indefinite = false` the recursion is also an inertia test: every reduced Hessian
//! R̃ᵢ = Rᵢ + BᵢᵀP_{i+1}Bᵢ must be positive definite, which holds iff the LQ problem is strictly
//! convex on the affine subspace of its constraints.

use crate::linalg::{
    gemv_acc, gemv_into, gemv_mask_into, gemv_mask_zero, gemv_tr_acc, gemv_tr_into, is_zero,
    mirror_lower, nonzero_mask, FactorKind, SmallFactor,
};
use crate::model::derivs::StageBlock;
use nalgebra::{DMatrix, DVector};

/// From this state dimension on, the factorization skips the zero entries of the columns of
/// [A B] (below it the scan costs more than it saves).
const SPARSE_MIN_N: usize = 8;

/// Where a factorization reads the stage Hessians from: entry i is the column-major
/// (n+m)² Hessian of stage i (n² for the terminal stage); only lower triangles are read.
///
/// Implemented for a list of matrices and for the solver's derivative blocks (their `hess`),
/// so a Newton step without barrier terms factors the blocks' Hessians in place, without a
/// copy.
pub trait StageHessians {
    /// The Hessian of stage `i`, column-major.
    fn stage_hessian(&self, i: usize) -> &[f64];
}

impl StageHessians for [DMatrix<f64>] {
    fn stage_hessian(&self, i: usize) -> &[f64] {
        self[i].as_slice()
    }
}

impl StageHessians for Vec<DMatrix<f64>> {
    fn stage_hessian(&self, i: usize) -> &[f64] {
        self[i].as_slice()
    }
}

impl StageHessians for [StageBlock] {
    fn stage_hessian(&self, i: usize) -> &[f64] {
        self[i].hess.as_slice()
    }
}

impl StageHessians for Vec<StageBlock> {
    fn stage_hessian(&self, i: usize) -> &[f64] {
        self[i].hess.as_slice()
    }
}

/// Outcome of a factorization.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FactorOutcome {
    /// Every reduced Hessian was positive definite.
    PositiveDefinite,
    /// Some reduced Hessian was indefinite but nonsingular (LU used; only when allowed).
    Indefinite,
    /// A reduced Hessian was not positive definite at this stage (inertia test failed).
    NotPositiveDefinite(usize),
    /// A reduced Hessian was singular at this stage.
    Singular(usize),
}

/// Riccati factorization storage for one (n, m, H).
///
/// Matrices are nalgebra `DMatrix` (column-major); the recursion works on their slices with the
/// kernels of [`crate::linalg`] (no gemm dispatch on these tiny blocks, no allocation).
#[derive(Clone, Debug)]
pub struct Riccati {
    n: usize,
    m: usize,
    h: usize,
    /// Value-function Hessians P_0 … P_H (exactly symmetric).
    p: Vec<DMatrix<f64>>,
    /// Feedback gains K_0 … K_{H−1} (m×n).
    k: Vec<DMatrix<f64>>,
    /// Factorizations of R̃_i.
    rfac: Vec<SmallFactor>,
    // temporaries of the factorization
    /// (PF)ᵀ ((n+m)×n, column-major: column k is row k of PF), for M = H + (PF)ᵀF.
    pft: Vec<f64>,
    /// P_{i+1} F (n×(n+m), column-major).
    pf: Vec<f64>,
    /// Skip the exact zeros of F's columns ([`SPARSE_MIN_N`] ≤ n ≤ 64): A = I + dt·J_c of an
    /// Euler model is mostly sparse (a state that no derivative depends on has a unit column).
    sparse: bool,
    /// Per column of F: the bit mask of its non-zero rows.
    fmask: Vec<u64>,
    /// Lower triangle of H_i + [A_i B_i]ᵀ P_{i+1} [A_i B_i] ((n+m)², column-major).
    mt: Vec<f64>,
    /// R̃_i as a full m×m matrix (LU fallback only).
    rt: DMatrix<f64>,
    // solve storage
    pv: Vec<DVector<f64>>,
    kv: Vec<DVector<f64>>,
    t: DVector<f64>,
    tmp: Vec<f64>,
}

impl Riccati {
    /// Storage for n states, m controls and horizon h.
    pub fn new(n: usize, m: usize, h: usize) -> Self {
        Self {
            n,
            m,
            h,
            p: vec![DMatrix::zeros(n, n); h + 1],
            k: vec![DMatrix::zeros(m, n); h],
            rfac: (0..h).map(|_| SmallFactor::new(m)).collect(),
            pft: vec![0.0; n * (n + m)],
            pf: vec![0.0; n * (n + m)],
            sparse: (SPARSE_MIN_N..=64).contains(&n),
            fmask: vec![0; n + m],
            mt: vec![0.0; (n + m) * (n + m)],
            rt: DMatrix::zeros(m, m),
            pv: vec![DVector::zeros(n); h + 1],
            kv: vec![DVector::zeros(m); h],
            t: DVector::zeros(n),
            tmp: vec![0.0; m.max(n)],
        }
    }

    /// Horizon H.
    pub fn horizon(&self) -> usize {
        self.h
    }

    /// Backward recursion on the matrices. `hess` gives the (n+m)² stage Hessian for i < H and
    /// the n×n terminal one for H (only their lower triangles are read: they are symmetric);
    /// `blocks[i].fx`, `blocks[i].fu` are the dynamics Jacobians; `reg` is added to the diagonal
    /// of every Hessian block (0 for the exact factorization).
    ///
    /// Per stage, with F = [A B] and P = P_{i+1}:
    ///
    /// ```text
    /// M = H_i + Fᵀ P F = [Q̃ S̃ᵀ; S̃ R̃]     (lower triangle only, from PF = P F)
    /// K = −R̃⁻¹ S̃,   P_i = Q̃ + S̃ᵀ K       (R̃ by Cholesky, or LU when indefinite)
    /// ```
    ///
    /// P_i is formed on its lower triangle and mirrored, so it is exactly symmetric.
    pub fn factor<S: StageHessians + ?Sized>(
        &mut self,
        hess: &S,
        blocks: &[StageBlock],
        reg: f64,
        allow_indefinite: bool,
    ) -> FactorOutcome {
        let (n, m, h) = (self.n, self.m, self.h);
        let nm = n + m;
        let mut outcome = FactorOutcome::PositiveDefinite;
        {
            let ph = self.p[h].as_mut_slice();
            let hh = hess.stage_hessian(h);
            for c in 0..n {
                ph[c * n + c..(c + 1) * n].copy_from_slice(&hh[c * n + c..(c + 1) * n]);
                ph[c * n + c] += reg;
            }
            mirror_lower(ph, n);
        }
        for i in (0..h).rev() {
            let (pn, pi) = split_pair(&mut self.p, i);
            let (pn, pi) = (pn.as_slice(), pi.as_mut_slice());
            let hi = hess.stage_hessian(i);
            // F = [A B] (n×(n+m), column c of A or B), then PF = P F column by column, each
            // over the rows where its F column is non-zero (the skipped terms add exact zeros).
            let (fx, fu) = (blocks[i].fx.as_slice(), blocks[i].fu.as_slice());
            let fcol = |c: usize| {
                if c < n {
                    &fx[c * n..(c + 1) * n]
                } else {
                    &fu[(c - n) * n..(c - n + 1) * n]
                }
            };
            for (c, out) in self.pf.chunks_exact_mut(n).enumerate() {
                let fc = fcol(c);
                if self.sparse {
                    let mask = nonzero_mask(fc);
                    self.fmask[c] = mask;
                    gemv_mask_zero(out, pn, n, mask, fc);
                } else {
                    out.fill(0.0);
                    gemv_acc(out, pn, n, fc);
                }
                // Row c of (PF)ᵀ (column-major, stride n+m), written while the column is in cache.
                for (dst, &v) in self.pft[c..].iter_mut().step_by(nm).zip(out.iter()) {
                    *dst = v;
                }
            }
            // Lower triangle of M = H + Fᵀ P F by the symmetry of P: M[c.., c] = H[c.., c] +
            // (PF)ᵀ[c.., :] F[:, c], a matrix–vector product on the transpose of PF over the
            // non-zero rows of F's column c.
            for c in 0..nm {
                let col = &mut self.mt[c * nm + c..(c + 1) * nm];
                let hc = &hi[c * nm + c..(c + 1) * nm];
                if self.sparse {
                    gemv_mask_into(col, hc, &self.pft[c..], nm, self.fmask[c], fcol(c));
                } else {
                    col.copy_from_slice(hc);
                    gemv_acc(col, &self.pft[c..], nm, fcol(c));
                }
                col[0] += reg;
            }
            // Factor R̃ = M[n.., n..]: Cholesky, else (when allowed) LU of the full matrix.
            let fac = &mut self.rfac[i];
            if !fac.cholesky_lower(&self.mt[n * nm + n..], nm) {
                if !allow_indefinite {
                    return FactorOutcome::NotPositiveDefinite(i);
                }
                let rt = self.rt.as_mut_slice();
                for c in 0..m {
                    rt[c * m + c..(c + 1) * m]
                        .copy_from_slice(&self.mt[(n + c) * nm + n + c..(n + c + 1) * nm]);
                }
                mirror_lower(rt, m);
                if !fac.lu(&self.rt, 1e-13) {
                    return FactorOutcome::Singular(i);
                }
                outcome = FactorOutcome::Indefinite;
            }
            // K = −R̃⁻¹ S̃, S̃ = M[n.., ..n] (all n right-hand sides in one solve).
            let ki = self.k[i].as_mut_slice();
            for (c, kc) in ki.chunks_exact_mut(m).enumerate() {
                for (kv, &sv) in kc.iter_mut().zip(&self.mt[c * nm + n..(c + 1) * nm]) {
                    *kv = -sv;
                }
            }
            fac.solve_columns_in_place(ki, &mut self.tmp);
            // P_i = Q̃ + S̃ᵀ K on the lower triangle: P[c.., c] = Q̃[c.., c] + S̃[:, c..]ᵀ K[:, c].
            for c in 0..n {
                let (q, s) = (&self.mt[c * nm + c..c * nm + n], &self.mt[c * nm + n..]);
                gemv_tr_into(
                    &mut pi[c * n + c..(c + 1) * n],
                    q,
                    s,
                    nm,
                    &ki[c * m..(c + 1) * m],
                );
            }
            mirror_lower(pi, n);
        }
        outcome
    }

    /// Feedback gain K_i (m×n) of the last factorization: u_i = K_i x_i + k_i.
    pub fn gain(&self, i: usize) -> &DMatrix<f64> {
        &self.k[i]
    }

    /// True when the last factorization succeeded.
    pub fn is_factored(&self) -> bool {
        self.rfac
            .iter()
            .all(|f| f.kind != FactorKind::Empty || self.m == 0)
    }

    /// Solve the LQ problem with the stored factorization.
    ///
    /// `lin[i]` (length n+m) and `lin[H]` (length n) are the linear terms, `defect[i]` the
    /// dynamics offsets bᵢ, `x0` the initial state x̄. Outputs: `x` (H+1), `u` (H) and the
    /// costates `lam` (H+1: λ_0 is the multiplier of x_0 = x̄).
    ///
    /// Backward, with t = P_{i+1} bᵢ + p_{i+1}: r̃ = r + Bᵀt, k = −R̃⁻¹ r̃, p_i = q + Aᵀt + Kᵀr̃.
    /// Stages after the last nonzero linear term (and defect) have p = 0, k = 0 and are skipped
    /// (sensitivity seeds and the polish's active-row columns are nonzero on few stages).
    #[allow(clippy::too_many_arguments)]
    pub fn solve(
        &mut self,
        blocks: &[StageBlock],
        lin: &[DVector<f64>],
        defect: Option<&[DVector<f64>]>,
        x0: Option<&DVector<f64>>,
        x: &mut [DVector<f64>],
        u: &mut [DVector<f64>],
        lam: &mut [DVector<f64>],
    ) {
        let (n, m, h) = (self.n, self.m, self.h);
        self.pv[h].copy_from(&lin[h].rows(0, n));
        let mut tail_zero = is_zero(self.pv[h].as_slice());
        for i in (0..h).rev() {
            let (pn, pi) = split_pair(&mut self.pv, i);
            let (pi, kv) = (pi.as_mut_slice(), self.kv[i].as_mut_slice());
            let li = lin[i].as_slice();
            let di = defect.map(|d| d[i].as_slice());
            if tail_zero && is_zero(li) && di.is_none_or(is_zero) {
                pi.fill(0.0);
                kv.fill(0.0);
                continue;
            }
            tail_zero = false;
            // t = P_{i+1} b_i + p_{i+1}
            let t = self.t.as_mut_slice();
            match di {
                Some(d) => gemv_into(t, pn.as_slice(), self.p[i + 1].as_slice(), n, d),
                None => t.copy_from_slice(pn.as_slice()),
            }
            // r̃ = r + Bᵀ t (kept in kv, solved in place below)
            gemv_tr_into(kv, &li[n..], blocks[i].fu.as_slice(), n, t);
            // p = q + Aᵀ t + Kᵀ r̃
            gemv_tr_into(pi, &li[..n], blocks[i].fx.as_slice(), n, t);
            gemv_tr_acc(pi, self.k[i].as_slice(), m, kv);
            // k = −R̃⁻¹ r̃
            self.rfac[i].solve_in_place(kv, &mut self.tmp);
            for v in kv.iter_mut() {
                *v = -*v;
            }
        }
        match x0 {
            Some(v) => x[0].copy_from(v),
            None => x[0].fill(0.0),
        }
        gemv_into(
            lam[0].as_mut_slice(),
            self.pv[0].as_slice(),
            self.p[0].as_slice(),
            n,
            x[0].as_slice(),
        );
        for i in 0..h {
            let (xi, xn) = split_pair_ref(x, i);
            let (xi, xn) = (xi.as_slice(), xn.as_mut_slice());
            // u = K x + k
            let ui = u[i].as_mut_slice();
            gemv_into(ui, self.kv[i].as_slice(), self.k[i].as_slice(), m, xi);
            // x⁺ = A x + B u + b
            match defect {
                Some(d) => gemv_into(xn, d[i].as_slice(), blocks[i].fx.as_slice(), n, xi),
                None => {
                    xn.fill(0.0);
                    gemv_acc(xn, blocks[i].fx.as_slice(), n, xi);
                }
            }
            gemv_acc(xn, blocks[i].fu.as_slice(), n, ui);
            // λ⁺ = P x⁺ + p
            let l = lam[i + 1].as_mut_slice();
            gemv_into(
                l,
                self.pv[i + 1].as_slice(),
                self.p[i + 1].as_slice(),
                n,
                xn,
            );
        }
    }
}

/// Borrow v[i+1] immutably and v[i] mutably.
fn split_pair<T>(v: &mut [T], i: usize) -> (&T, &mut T) {
    let (lo, hi) = v.split_at_mut(i + 1);
    (&hi[0], &mut lo[i])
}

/// Borrow v[i] immutably and v[i+1] mutably.
fn split_pair_ref<T>(v: &mut [T], i: usize) -> (&T, &mut T) {
    let (lo, hi) = v.split_at_mut(i + 1);
    (&lo[i], &mut hi[0])
}
