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

use crate::linalg::{symmetrize, FactorKind, SmallFactor};
use crate::model::derivs::StageBlock;
use nalgebra::{DMatrix, DVector};

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
#[derive(Clone, Debug)]
pub struct Riccati {
    n: usize,
    m: usize,
    h: usize,
    /// Value-function Hessians P_0 … P_H.
    p: Vec<DMatrix<f64>>,
    /// Feedback gains K_0 … K_{H−1} (m×n).
    k: Vec<DMatrix<f64>>,
    /// Factorizations of R̃_i.
    rfac: Vec<SmallFactor>,
    // temporaries
    pa: DMatrix<f64>,
    pb: DMatrix<f64>,
    rt: DMatrix<f64>,
    st: DMatrix<f64>,
    // solve storage
    pv: Vec<DVector<f64>>,
    kv: Vec<DVector<f64>>,
    t: DVector<f64>,
    rtil: DVector<f64>,
    tmp: Vec<f64>,
    col: Vec<f64>,
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
            pa: DMatrix::zeros(n, n),
            pb: DMatrix::zeros(n, m),
            rt: DMatrix::zeros(m, m),
            st: DMatrix::zeros(m, n),
            pv: vec![DVector::zeros(n); h + 1],
            kv: vec![DVector::zeros(m); h],
            t: DVector::zeros(n),
            rtil: DVector::zeros(m),
            tmp: vec![0.0; m.max(n)],
            col: vec![0.0; m.max(n)],
        }
    }

    /// Horizon H.
    pub fn horizon(&self) -> usize {
        self.h
    }

    /// Backward recursion on the matrices. `hess[i]` is the (n+m)² stage Hessian for i < H and
    /// `hess[H]` the n×n terminal one; `blocks[i].fx`, `blocks[i].fu` are the dynamics Jacobians; `reg` is added to
    /// the diagonal of every Hessian block (0 for the exact factorization).
    pub fn factor(
        &mut self,
        hess: &[DMatrix<f64>],
        blocks: &[StageBlock],
        reg: f64,
        allow_indefinite: bool,
    ) -> FactorOutcome {
        let (n, m, h) = (self.n, self.m, self.h);
        let mut outcome = FactorOutcome::PositiveDefinite;
        self.p[h].copy_from(&hess[h].view((0, 0), (n, n)));
        for j in 0..n {
            self.p[h][(j, j)] += reg;
        }
        for i in (0..h).rev() {
            let (pn, pi) = split_pair(&mut self.p, i);
            let ai = &blocks[i].fx;
            let bi = &blocks[i].fu;
            let hi = &hess[i];
            self.pa.gemm(1.0, pn, ai, 0.0);
            self.pb.gemm(1.0, pn, bi, 0.0);
            // R̃ = R + Bᵀ P B
            self.rt.copy_from(&hi.view((n, n), (m, m)));
            self.rt.gemm_tr(1.0, bi, &self.pb, 1.0);
            for j in 0..m {
                self.rt[(j, j)] += reg;
            }
            symmetrize(&mut self.rt);
            // S̃ = S + Bᵀ P A
            self.st.copy_from(&hi.view((n, 0), (m, n)));
            self.st.gemm_tr(1.0, bi, &self.pa, 1.0);
            // Q̃ = Q + Aᵀ P A
            pi.copy_from(&hi.view((0, 0), (n, n)));
            pi.gemm_tr(1.0, ai, &self.pa, 1.0);
            for j in 0..n {
                pi[(j, j)] += reg;
            }
            let fac = &mut self.rfac[i];
            if !fac.cholesky(&self.rt) {
                if !allow_indefinite {
                    return FactorOutcome::NotPositiveDefinite(i);
                }
                if !fac.lu(&self.rt, 1e-13) {
                    return FactorOutcome::Singular(i);
                }
                outcome = FactorOutcome::Indefinite;
            }
            // K = −R̃⁻¹ S̃
            let ki = &mut self.k[i];
            ki.copy_from(&self.st);
            fac.solve_matrix_in_place(ki, &mut self.tmp, &mut self.col);
            ki.neg_mut();
            // P = Q̃ + S̃ᵀ K
            pi.gemm_tr(1.0, &self.st, ki, 1.0);
            symmetrize(pi);
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
        for i in (0..h).rev() {
            let (pn, pi) = split_pair(&mut self.pv, i);
            // t = P_{i+1} b_i + p_{i+1}
            self.t.copy_from(pn);
            if let Some(d) = defect {
                self.t.gemv(1.0, &self.p[i + 1], &d[i], 1.0);
            }
            // r̃ = r + Bᵀ t ; q̃ = q + Aᵀ t
            self.rtil.copy_from(&lin[i].rows(n, m));
            self.rtil.gemv_tr(1.0, &blocks[i].fu, &self.t, 1.0);
            pi.copy_from(&lin[i].rows(0, n));
            pi.gemv_tr(1.0, &blocks[i].fx, &self.t, 1.0);
            // k = −R̃⁻¹ r̃ ; p = q̃ + Kᵀ r̃
            pi.gemv_tr(1.0, &self.k[i], &self.rtil, 1.0);
            let kv = &mut self.kv[i];
            kv.copy_from(&self.rtil);
            self.rfac[i].solve_in_place(kv.as_mut_slice(), &mut self.tmp);
            kv.neg_mut();
        }
        match x0 {
            Some(v) => x[0].copy_from(v),
            None => x[0].fill(0.0),
        }
        lam[0].copy_from(&self.pv[0]);
        lam[0].gemv(1.0, &self.p[0], &x[0], 1.0);
        for i in 0..h {
            let (xi, xn) = split_pair_ref(x, i);
            let ui = &mut u[i];
            ui.copy_from(&self.kv[i]);
            ui.gemv(1.0, &self.k[i], xi, 1.0);
            match defect {
                Some(d) => xn.copy_from(&d[i]),
                None => xn.fill(0.0),
            }
            xn.gemv(1.0, &blocks[i].fx, xi, 1.0);
            xn.gemv(1.0, &blocks[i].fu, ui, 1.0);
            let l = &mut lam[i + 1];
            l.copy_from(&self.pv[i + 1]);
            l.gemv(1.0, &self.p[i + 1], xn, 1.0);
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
