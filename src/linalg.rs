//! Thin dense linear-algebra layer: in-place factorizations on preallocated nalgebra matrices.
//!
//! The solver's stage blocks are small (n, m ≤ a few dozen), so plain loops beat calling into a
//! general library and, more importantly, never allocate. Everything the solver and the
//! sensitivity code need from nalgebra goes through here or through nalgebra's in-place
//! `gemm`/`gemv` kernels, so a version change stays local.

use nalgebra::{DMatrix, DVector};

/// Factorization of a small square matrix: Cholesky when positive definite, else LU with
/// partial pivoting. Stored in place, allocation-free after construction.
#[derive(Clone, Debug)]
pub struct SmallFactor {
    /// Factor storage (L for Cholesky, combined L\U for LU).
    pub lu: DMatrix<f64>,
    /// Row permutation of the LU factorization.
    pub piv: Vec<usize>,
    /// Which factorization is stored.
    pub kind: FactorKind,
}

/// Kind of a [`SmallFactor`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FactorKind {
    /// Nothing factorized yet.
    Empty,
    /// Cholesky factor of a positive definite matrix.
    Cholesky,
    /// LU with partial pivoting of a nonsingular (possibly indefinite) matrix.
    Lu,
}

impl SmallFactor {
    /// Storage for a k×k matrix.
    pub fn new(k: usize) -> Self {
        Self {
            lu: DMatrix::zeros(k, k),
            piv: (0..k).collect(),
            kind: FactorKind::Empty,
        }
    }

    /// Dimension k.
    pub fn dim(&self) -> usize {
        self.lu.nrows()
    }

    /// Try a Cholesky factorization of the leading k×k block of `a` (k = self.dim()).
    /// Returns false (and leaves the factor unusable) when `a` is not numerically positive
    /// definite.
    pub fn cholesky(&mut self, a: &DMatrix<f64>) -> bool {
        let k = self.dim();
        let l = &mut self.lu;
        for j in 0..k {
            for i in j..k {
                l[(i, j)] = a[(i, j)];
            }
        }
        let mut max_diag = 0.0f64;
        for j in 0..k {
            max_diag = max_diag.max(a[(j, j)].abs());
        }
        let floor = 1e-13 * max_diag.max(1e-300);
        for j in 0..k {
            let mut d = l[(j, j)];
            for p in 0..j {
                d -= l[(j, p)] * l[(j, p)];
            }
            if d <= floor || !d.is_finite() {
                self.kind = FactorKind::Empty;
                return false;
            }
            let d = d.sqrt();
            l[(j, j)] = d;
            for i in (j + 1)..k {
                let mut s = l[(i, j)];
                for p in 0..j {
                    s -= l[(i, p)] * l[(j, p)];
                }
                l[(i, j)] = s / d;
            }
        }
        for j in 0..k {
            for i in 0..j {
                l[(i, j)] = 0.0;
            }
        }
        self.kind = FactorKind::Cholesky;
        true
    }

    /// LU factorization with partial pivoting. Returns false when a pivot is (numerically)
    /// zero relative to `rel_tol · max|a|`.
    pub fn lu(&mut self, a: &DMatrix<f64>, rel_tol: f64) -> bool {
        let k = self.dim();
        let lu = &mut self.lu;
        let mut amax = 0.0f64;
        for j in 0..k {
            for i in 0..k {
                lu[(i, j)] = a[(i, j)];
                amax = amax.max(a[(i, j)].abs());
            }
        }
        for (i, p) in self.piv.iter_mut().enumerate() {
            *p = i;
        }
        let tol = rel_tol * amax.max(1e-300);
        for j in 0..k {
            let mut p = j;
            let mut best = lu[(j, j)].abs();
            for i in (j + 1)..k {
                if lu[(i, j)].abs() > best {
                    best = lu[(i, j)].abs();
                    p = i;
                }
            }
            if best <= tol || !best.is_finite() {
                self.kind = FactorKind::Empty;
                return false;
            }
            if p != j {
                lu.swap_rows(p, j);
                self.piv.swap(p, j);
            }
            let d = lu[(j, j)];
            for i in (j + 1)..k {
                let f = lu[(i, j)] / d;
                lu[(i, j)] = f;
                if f != 0.0 {
                    for c in (j + 1)..k {
                        let v = lu[(j, c)];
                        lu[(i, c)] -= f * v;
                    }
                }
            }
        }
        self.kind = FactorKind::Lu;
        true
    }

    /// Solve A x = b in place (`b` holds x on return). `tmp` needs length ≥ k.
    pub fn solve_in_place(&self, b: &mut [f64], tmp: &mut [f64]) {
        let k = self.dim();
        let l = &self.lu;
        match self.kind {
            FactorKind::Cholesky => {
                for i in 0..k {
                    let mut s = b[i];
                    for p in 0..i {
                        s -= l[(i, p)] * b[p];
                    }
                    b[i] = s / l[(i, i)];
                }
                for i in (0..k).rev() {
                    let mut s = b[i];
                    for p in (i + 1)..k {
                        s -= l[(p, i)] * b[p];
                    }
                    b[i] = s / l[(i, i)];
                }
            }
            FactorKind::Lu => {
                for i in 0..k {
                    tmp[i] = b[self.piv[i]];
                }
                for i in 0..k {
                    let mut s = tmp[i];
                    for p in 0..i {
                        s -= l[(i, p)] * tmp[p];
                    }
                    tmp[i] = s;
                }
                for i in (0..k).rev() {
                    let mut s = tmp[i];
                    for p in (i + 1)..k {
                        s -= l[(i, p)] * tmp[p];
                    }
                    tmp[i] = s / l[(i, i)];
                }
                b[..k].copy_from_slice(&tmp[..k]);
            }
            FactorKind::Empty => {
                for v in b.iter_mut().take(k) {
                    *v = f64::NAN;
                }
            }
        }
    }

    /// Solve A X = B column by column, in place on the k×c matrix `b`.
    pub fn solve_matrix_in_place(&self, b: &mut DMatrix<f64>, tmp: &mut [f64], col: &mut [f64]) {
        let k = self.dim();
        for c in 0..b.ncols() {
            for i in 0..k {
                col[i] = b[(i, c)];
            }
            self.solve_in_place(&mut col[..k], tmp);
            for i in 0..k {
                b[(i, c)] = col[i];
            }
        }
    }
}

/// Symmetrize a square matrix in place: A ← (A + Aᵀ)/2.
pub fn symmetrize(a: &mut DMatrix<f64>) {
    let k = a.nrows();
    for j in 0..k {
        for i in (j + 1)..k {
            let v = 0.5 * (a[(i, j)] + a[(j, i)]);
            a[(i, j)] = v;
            a[(j, i)] = v;
        }
    }
}

/// ‖v‖_∞ of a slice (NaN propagates as +∞).
pub fn norm_inf(v: &[f64]) -> f64 {
    v.iter().fold(0.0f64, |m, &x| {
        if x.is_nan() {
            f64::INFINITY
        } else {
            m.max(x.abs())
        }
    })
}

/// ‖v‖_∞ of a vector.
pub fn vnorm_inf(v: &DVector<f64>) -> f64 {
    norm_inf(v.as_slice())
}
