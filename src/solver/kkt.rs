//! The KKT factorization kept at a polished solution (`docs/spec/ALGORITHMS.md` §3, §7.3): the plain
//! Riccati recursion, the equality-constrained Riccati recursion over the active rows
//! ([`super::eq_riccati`]), or Riccati with a Schur complement over them — with the rows it
//! was taken for and whether it is still valid ([`KktState`]).
//!
//! The polish factorizes and solves here; the sensitivity routines reuse the factorization
//! through the narrow interface of `adjoint.rs`; the factorization and solves themselves are
//! in `factorize.rs`.

use super::eq_riccati::EqRiccati;
use super::riccati::Riccati;
use crate::linalg::SmallFactor;
use crate::model::derivs::StageBlock;
use nalgebra::{DMatrix, DVector};

/// How the kept KKT factorization of the last polished solve treats its active rows
/// ([`super::Workspace::kkt_factorization`]).
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

/// Whether the workspace holds the KKT factorization at its current point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KktState {
    /// No factorization at a solution: no solve yet, a solve under way, failed or
    /// unpolished, or a guess set since.
    Invalid,
    /// A polished solution without active rows whose factorization (and Hessian evaluation)
    /// was left for the first sensitivity call ([`super::Workspace::ensure_kkt`]): solves whose
    /// solution is only acted on skip it.
    Pending,
    /// The exact KKT factorization at the current point, of this kind.
    Factorized(KktFactorization),
}

/// The KKT factorization and the active rows it was taken for.
#[derive(Debug)]
pub(crate) struct KktFactor {
    /// Validity of the factorization at the current point.
    pub state: KktState,
    /// The kind of the last factorization (what `riccati`, `eq` and the W columns hold,
    /// valid or not).
    pub kind: KktFactorization,
    /// The Riccati factorization (also the interior-point method's Newton step).
    pub riccati: Riccati,
    /// Stage-wise equality-constrained Riccati factorization of the active rows (used instead
    /// of the W columns and the Schur complement for [`KktFactorization::ConstrainedRiccati`]).
    pub eq: EqRiccati,
    /// The active rows (stage, row), sorted by stage.
    pub rows: Vec<Row>,
    /// W_a = LQ(G_aᵀ, 0) per active row: x, u and costate parts (Schur complement only).
    pub wx: Vec<Vec<DVector<f64>>>,
    pub wu: Vec<Vec<DVector<f64>>>,
    pub wl: Vec<Vec<DVector<f64>>>,
    /// The Schur complement S_ab = G_a W_b and its factorization.
    pub schur: DMatrix<f64>,
    pub schur_fac: SmallFactor,
    /// The active rows' multipliers ν of the last solve (first k entries) and scratch.
    pub nu: Vec<f64>,
    pub tmp: Vec<f64>,
    /// Constants e_a of the active rows G_a z + e_a = 0 for `Workspace::kkt_solve`.
    pub row_e: Vec<f64>,
    /// Linear term of one W column.
    pub lin_w: Vec<DVector<f64>>,
    /// Snapshot of the blocks at the last factorization.
    pub factored: Vec<StageBlock>,
    /// False once a factorization since the last reset met an indefinite reduced Hessian
    /// (the active-set start then leaves the solve to the interior-point method).
    pub pd: bool,
}

impl KktFactor {
    pub(crate) fn new(n: usize, m: usize, h: usize, q: &[usize], blocks: &[StageBlock]) -> Self {
        Self {
            state: KktState::Invalid,
            kind: KktFactorization::Riccati,
            riccati: Riccati::new(n, m, h),
            eq: EqRiccati::new(n, m, h, q),
            rows: Vec::new(),
            wx: Vec::new(),
            wu: Vec::new(),
            wl: Vec::new(),
            schur: DMatrix::zeros(0, 0),
            schur_fac: SmallFactor::new(0),
            nu: Vec::new(),
            tmp: Vec::new(),
            row_e: Vec::new(),
            lin_w: super::lq::stage_vectors(n, m, h),
            factored: blocks.to_vec(),
            pd: true,
        }
    }

    /// The last factorization is the equality-constrained Riccati recursion.
    pub(crate) fn is_constrained_riccati(&self) -> bool {
        matches!(self.kind, KktFactorization::ConstrainedRiccati(_))
    }

    /// Make sure the row multiplier and constant buffers hold `k` active rows.
    pub(crate) fn reserve_row_vectors(&mut self, k: usize) {
        if self.nu.len() < k {
            self.nu.resize(k, 0.0);
            self.tmp.resize(k, 0.0);
        }
        if self.row_e.len() < k {
            self.row_e.resize(k, 0.0);
        }
    }

    /// Make sure the Schur-complement storage holds at least `k` active-row columns.
    pub(crate) fn reserve_rows(&mut self, k: usize, (n, m, h): (usize, usize, usize)) {
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

    /// Remember the blocks the factorization was taken at.
    pub(crate) fn snapshot(&mut self, blocks: &[StageBlock]) {
        for (snap, b) in self.factored.iter_mut().zip(blocks) {
            snap.fx.copy_from(&b.fx);
            snap.fu.copy_from(&b.fu);
            snap.gx.copy_from(&b.gx);
            snap.gu.copy_from(&b.gu);
            snap.hess.copy_from(&b.hess);
        }
    }

    /// True when `blocks` (Jacobians and Hessians) are bitwise those of the last
    /// factorization.
    pub(crate) fn blocks_match(&self, blocks: &[StageBlock]) -> bool {
        self.factored.iter().zip(blocks).all(|(a, b)| {
            a.fx == b.fx && a.fu == b.fu && a.gx == b.gx && a.gu == b.gu && a.hess == b.hess
        })
    }
}
