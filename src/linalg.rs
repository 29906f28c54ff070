//! Thin dense linear-algebra layer: in-place factorizations and column-major kernels on
//! preallocated nalgebra storage.
//!
//! The solver's stage blocks are small (n, m ≤ a few dozen), so plain loops over the
//! column-major slices beat calling into a general library (nalgebra's `gemm` goes through
//! matrixmultiply's packing, which dominates at these sizes) and never allocate. Everything the
//! solver and the sensitivity code need goes through here, so a version change stays local.
//!
//! Storage convention of the slice kernels: an r×c matrix is a column-major slice of length
//! r·c (element (i, j) at `j·r + i`), exactly `DMatrix::as_slice`.

use nalgebra::DMatrix;

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
    /// Reciprocals of the factor's diagonal (L_jj for Cholesky, U_jj for LU): the triangular
    /// solves multiply instead of divide (a division on every step of the dependency chain
    /// dominated them at these sizes).
    inv_diag: Vec<f64>,
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
            inv_diag: vec![0.0; k],
        }
    }

    /// Dimension k.
    pub fn dim(&self) -> usize {
        self.lu.nrows()
    }

    /// Try a Cholesky factorization of the leading k×k block of `a` (k = self.dim()).
    /// Returns false (and leaves the factor unusable) when `a` is not numerically positive
    /// definite. (Tests; the solver factors slices with `cholesky_lower`.)
    #[cfg(test)]
    pub fn cholesky(&mut self, a: &DMatrix<f64>) -> bool {
        self.cholesky_lower(a.as_slice(), a.nrows())
    }

    /// Cholesky factorization A = L Lᵀ of the k×k matrix whose lower triangle (diagonal
    /// included) is read from the column-major slice `a` with leading dimension `lda` ≥ k; the
    /// strict upper triangle of `a` is never read. Returns false (factor unusable) when A is not
    /// numerically positive definite: a pivot ≤ 1e-13·max|A_jj| or non-finite.
    pub fn cholesky_lower(&mut self, a: &[f64], lda: usize) -> bool {
        let k = self.dim();
        macro_rules! fixed {
            ($($n:literal)*) => {
                match k {
                    $($n => return self.cholesky_fixed::<$n>(a, lda),)*
                    _ => {}
                }
            };
        }
        fixed!(1 2 3 4 5 6 7 8);
        let l = self.lu.as_mut_slice();
        let mut max_diag = 0.0f64;
        for j in 0..k {
            l[j * k..j * k + j].fill(0.0);
            l[j * k + j..(j + 1) * k].copy_from_slice(&a[j * lda + j..j * lda + k]);
            max_diag = max_diag.max(a[j * lda + j].abs());
        }
        let floor = 1e-13 * max_diag.max(1e-300);
        // Left-looking, column-oriented: L[j.., j] = (A[j.., j] − Σ_{p<j} L[j.., p] L[j, p]) / L_jj.
        for j in 0..k {
            let (done, rest) = l.split_at_mut(j * k);
            let colj = &mut rest[j..k];
            for p in 0..j {
                let colp = &done[p * k + j..p * k + k];
                let ljp = colp[0];
                for (c, &v) in colj.iter_mut().zip(colp) {
                    *c -= v * ljp;
                }
            }
            let d = colj[0];
            if d <= floor || !d.is_finite() {
                self.kind = FactorKind::Empty;
                return false;
            }
            let d = d.sqrt();
            colj[0] = d;
            for c in &mut colj[1..] {
                *c /= d;
            }
            self.inv_diag[j] = 1.0 / d;
        }
        self.kind = FactorKind::Cholesky;
        true
    }

    /// [`SmallFactor::cholesky_lower`] of fixed order K, in registers, with the same
    /// operations in the same order (same factor, same failures).
    fn cholesky_fixed<const K: usize>(&mut self, a: &[f64], lda: usize) -> bool {
        // col[j][i]: entry (i, j) of the lower triangle (zeros above the diagonal).
        let mut col = [[0.0f64; K]; K];
        let mut max_diag = 0.0f64;
        for (j, cj) in col.iter_mut().enumerate() {
            cj[j..].copy_from_slice(&a[j * lda + j..j * lda + K]);
            max_diag = max_diag.max(a[j * lda + j].abs());
        }
        let floor = 1e-13 * max_diag.max(1e-300);
        let mut inv = [0.0f64; K];
        for j in 0..K {
            for p in 0..j {
                let ljp = col[p][j];
                for i in j..K {
                    col[j][i] -= col[p][i] * ljp;
                }
            }
            let d = col[j][j];
            if d <= floor || !d.is_finite() {
                self.kind = FactorKind::Empty;
                return false;
            }
            let d = d.sqrt();
            col[j][j] = d;
            for i in j + 1..K {
                col[j][i] /= d;
            }
            inv[j] = 1.0 / d;
        }
        for (dst, cj) in self.lu.as_mut_slice().chunks_exact_mut(K).zip(&col) {
            dst.copy_from_slice(cj);
        }
        self.inv_diag[..K].copy_from_slice(&inv);
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
            // Scale the multipliers, then a column-oriented rank-1 update of the trailing block.
            let s = lu.as_mut_slice();
            let d = s[j * k + j];
            self.inv_diag[j] = 1.0 / d;
            for v in &mut s[j * k + j + 1..(j + 1) * k] {
                *v /= d;
            }
            let (left, right) = s.split_at_mut((j + 1) * k);
            let mult = &left[j * k + j + 1..(j + 1) * k];
            for c in (j + 1)..k {
                let col = &mut right[(c - j - 1) * k..(c - j) * k];
                let v = col[j];
                if v != 0.0 {
                    for (x, &f) in col[j + 1..].iter_mut().zip(mult) {
                        *x -= f * v;
                    }
                }
            }
        }
        self.kind = FactorKind::Lu;
        true
    }

    /// Cholesky only: solve L y = b in place (column-oriented forward substitution).
    #[inline]
    pub fn forward_l(&self, b: &mut [f64]) {
        let k = self.dim();
        let l = self.lu.as_slice();
        for p in 0..k {
            let col = &l[p * k + p..(p + 1) * k];
            let v = b[p] * self.inv_diag[p];
            b[p] = v;
            for (x, &c) in b[p + 1..k].iter_mut().zip(&col[1..]) {
                *x -= c * v;
            }
        }
    }

    /// Cholesky only: solve Lᵀ x = y in place (back substitution with dots over columns of L).
    #[inline]
    pub fn backward_lt(&self, b: &mut [f64]) {
        let k = self.dim();
        let l = self.lu.as_slice();
        for i in (0..k).rev() {
            let col = &l[i * k + i..(i + 1) * k];
            let s = b[i] - dot(&col[1..], &b[i + 1..k]);
            b[i] = s * self.inv_diag[i];
        }
    }

    /// Solve A x = b in place (`b` holds x on return). `tmp` needs length ≥ k.
    #[inline]
    pub fn solve_in_place(&self, b: &mut [f64], tmp: &mut [f64]) {
        let k = self.dim();
        match self.kind {
            FactorKind::Cholesky => {
                self.forward_l(b);
                self.backward_lt(b);
            }
            FactorKind::Lu => {
                let lu = self.lu.as_slice();
                let y = &mut tmp[..k];
                for (yi, &p) in y.iter_mut().zip(&self.piv) {
                    *yi = b[p];
                }
                // Unit lower triangle, column-oriented.
                for p in 0..k {
                    let v = y[p];
                    if v != 0.0 {
                        let col = &lu[p * k + p + 1..(p + 1) * k];
                        for (x, &c) in y[p + 1..].iter_mut().zip(col) {
                            *x -= c * v;
                        }
                    }
                }
                // Upper triangle, column-oriented.
                for i in (0..k).rev() {
                    let col = &lu[i * k..i * k + i];
                    let v = y[i] * self.inv_diag[i];
                    y[i] = v;
                    if v != 0.0 {
                        for (x, &c) in y[..i].iter_mut().zip(col) {
                            *x -= c * v;
                        }
                    }
                }
                b[..k].copy_from_slice(y);
            }
            FactorKind::Empty => {
                for v in b.iter_mut().take(k) {
                    *v = f64::NAN;
                }
            }
        }
    }

    /// Solve A X = B in place on the column-major k×c matrix `b` (c = `b.len() / k`). Same
    /// numbers as [`SmallFactor::solve_in_place`] on each column; the Cholesky substitutions
    /// sweep all columns at each step, so the columns' dependency chains interleave instead
    /// of running one after another. `tmp` needs length ≥ k.
    pub fn solve_columns_in_place(&self, b: &mut [f64], tmp: &mut [f64]) {
        let k = self.dim();
        if k == 0 {
            return;
        }
        if self.kind != FactorKind::Cholesky {
            for col in b.chunks_exact_mut(k) {
                self.solve_in_place(col, tmp);
            }
            return;
        }
        let l = self.lu.as_slice();
        macro_rules! fixed {
            ($($n:literal)*) => {
                match k {
                    $($n => return cholesky_solve_columns::<$n>(l, &self.inv_diag, b),)*
                    _ => {}
                }
            };
        }
        fixed!(1 2 3 4 5 6 7 8);
        // L Y = B (as in `forward_l`).
        for p in 0..k {
            let lc = &l[p * k + p..(p + 1) * k];
            for col in b.chunks_exact_mut(k) {
                let v = col[p] * self.inv_diag[p];
                col[p] = v;
                for (x, &c) in col[p + 1..].iter_mut().zip(&lc[1..]) {
                    *x -= c * v;
                }
            }
        }
        // Lᵀ X = Y (as in `backward_lt`: the same dot-product order).
        for i in (0..k).rev() {
            let lc = &l[i * k + i + 1..(i + 1) * k];
            for col in b.chunks_exact_mut(k) {
                let s = col[i] - dot(lc, &col[i + 1..]);
                col[i] = s * self.inv_diag[i];
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

/// [`SmallFactor::solve_columns_in_place`] for a Cholesky factor of fixed order K (`l` the
/// K×K column-major factor, `inv` its reciprocal diagonal): each column of `b` is solved in
/// registers, with the operations of the general loop in the same order (same results).
fn cholesky_solve_columns<const K: usize>(l: &[f64], inv: &[f64], b: &mut [f64]) {
    let (l, inv) = (&l[..K * K], &inv[..K]);
    for col in b.chunks_exact_mut(K) {
        let mut y = [0.0; K];
        y.copy_from_slice(col);
        for p in 0..K {
            let v = y[p] * inv[p];
            y[p] = v;
            for q in p + 1..K {
                y[q] -= l[p * K + q] * v;
            }
        }
        for i in (0..K).rev() {
            let s = y[i] - dot(&l[i * K + i + 1..(i + 1) * K], &y[i + 1..]);
            y[i] = s * inv[i];
        }
        col.copy_from_slice(&y);
    }
}

/// Copy the strict lower triangle of the k×k column-major `a` onto its upper triangle.
pub fn mirror_lower(a: &mut [f64], k: usize) {
    for j in 0..k {
        for i in (j + 1)..k {
            a[i * k + j] = a[j * k + i];
        }
    }
}

/// x · y over the common length.
#[inline]
pub fn dot(x: &[f64], y: &[f64]) -> f64 {
    x.iter().zip(y).map(|(a, b)| a * b).sum()
}

/// y += α x over the common length.
#[inline]
pub fn axpy(y: &mut [f64], alpha: f64, x: &[f64]) {
    for (a, &b) in y.iter_mut().zip(x) {
        *a += alpha * b;
    }
}

/// y += A x for the column-major matrix `a` with leading dimension `lda` (A is y.len()×x.len(),
/// column j at `a[j·lda..]`).
///
/// Up to 17 rows the whole of y is accumulated in registers; longer y in register blocks of
/// 4/2/1 rows. Either way the sum over columns stays in registers instead of a store/reload
/// per column (the axpy form), which is what matters at the solver's sizes.
#[inline]
pub fn gemv_acc(y: &mut [f64], a: &[f64], lda: usize, x: &[f64]) {
    gemv(y, Base::Acc, a, lda, x);
}

/// y = y₀ + A x ([`gemv_acc`] from a separate base, no copy).
///
/// # Panics
/// If `y0.len() != y.len()` (a caller's indexing error, like a slice copy's).
#[inline]
pub fn gemv_into(y: &mut [f64], y0: &[f64], a: &[f64], lda: usize, x: &[f64]) {
    gemv(y, Base::From(y0), a, lda, x);
}

#[inline(always)]
fn gemv(y: &mut [f64], base: Base, a: &[f64], lda: usize, x: &[f64]) {
    let r = y.len();
    // At the solver's sizes the whole of y fits in registers: one accumulator per row gives
    // that many independent addition chains per column (instead of 4-row blocks, each looping
    // over every column with a short chain), with the same order of operations per entry.
    macro_rules! whole {
        ($($k:literal)*) => {
            match r {
                $($k => return gemv_rows_whole::<$k>(y, base, a, lda, x),)*
                _ => {}
            }
        };
    }
    whole!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17);
    base.apply(y);
    let mut i = 0;
    while i + 4 <= r {
        gemv_rows::<4>(y, i, a, lda, x);
        i += 4;
    }
    if i + 2 <= r {
        gemv_rows::<2>(y, i, a, lda, x);
        i += 2;
    }
    if i < r {
        gemv_rows::<1>(y, i, a, lda, x);
    }
}

/// y += Σ_{j ∈ mask} A[:, j] x_j for the column-major `a` with leading dimension `lda` (column
/// j at `a[j·lda..]`, y.len() rows): [`gemv_acc`] over the columns whose bit is set in `mask`
/// (j < 64), in increasing order — a sparse x whose non-zero positions are known.
#[cfg(test)]
#[inline]
pub fn gemv_mask_acc(y: &mut [f64], a: &[f64], lda: usize, mask: u64, x: &[f64]) {
    gemv_mask(y, Base::Acc, a, lda, mask, x);
}

/// y = y₀ + Σ_{j ∈ mask} A[:, j] x_j (`gemv_mask_acc` from a separate base, no copy).
///
/// # Panics
/// If `y0.len() != y.len()` (a caller's indexing error, like a slice copy's).
#[inline]
pub fn gemv_mask_into(y: &mut [f64], y0: &[f64], a: &[f64], lda: usize, mask: u64, x: &[f64]) {
    gemv_mask(y, Base::From(y0), a, lda, mask, x);
}

/// y = Σ_{j ∈ mask} A[:, j] x_j (`gemv_mask_acc` from zero, no fill).
#[inline]
pub fn gemv_mask_zero(y: &mut [f64], a: &[f64], lda: usize, mask: u64, x: &[f64]) {
    gemv_mask(y, Base::Zero, a, lda, mask, x);
}

/// What a matrix–vector product adds to.
#[derive(Clone, Copy)]
enum Base<'a> {
    /// y itself.
    Acc,
    /// A separate vector of y's length.
    From(&'a [f64]),
    /// Zero.
    Zero,
}

impl Base<'_> {
    /// Put the base into y (the general-length paths, which accumulate in place).
    #[inline(always)]
    fn apply(self, y: &mut [f64]) {
        match self {
            Base::Acc => {}
            Base::From(b) => y.copy_from_slice(b),
            Base::Zero => y.fill(0.0),
        }
    }

    /// The base as R register accumulators (`y` is the output, read for [`Base::Acc`]).
    #[inline(always)]
    fn load<const R: usize>(self, y: &[f64; R]) -> [f64; R] {
        // The `expect` cannot fire: a separate base has y's length (the public functions'
        // documented contract, like a slice copy's).
        match self {
            Base::Acc => *y,
            Base::From(b) => *<&[f64; R]>::try_from(b).expect("a base of y's length"),
            Base::Zero => [0.0; R],
        }
    }
}

#[inline(always)]
fn gemv_mask(y: &mut [f64], base: Base, a: &[f64], lda: usize, mask: u64, x: &[f64]) {
    macro_rules! whole {
        ($($k:literal)*) => {
            match y.len() {
                $($k => return gemv_mask_whole::<$k>(y, base, a, lda, mask, x),)*
                _ => {}
            }
        };
    }
    whole!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17);
    base.apply(y);
    let r = y.len();
    let mut bits = mask;
    while bits != 0 {
        let j = bits.trailing_zeros() as usize;
        bits &= bits - 1;
        axpy(y, x[j], &a[j * lda..j * lda + r]);
    }
}

/// The bit mask of the non-zero entries of `v` (v.len() ≤ 64), for `gemv_mask_acc`.
#[inline]
pub fn nonzero_mask(v: &[f64]) -> u64 {
    v.iter()
        .enumerate()
        .fold(0u64, |m, (r, &x)| m | (u64::from(x != 0.0) << r))
}

/// `gemv_mask_acc` with y of exactly R rows, all accumulated in registers.
#[inline(always)]
fn gemv_mask_whole<const R: usize>(
    y: &mut [f64],
    base: Base,
    a: &[f64],
    lda: usize,
    mask: u64,
    x: &[f64],
) {
    // The `expect`s cannot fire: the caller dispatches on y.len() == R and every column slice
    // is taken with exactly R entries (the indexing itself checks the bounds).
    let yb: &mut [f64; R] = y.try_into().expect("R rows");
    let mut acc = base.load(yb);
    let mut bits = mask;
    while bits != 0 {
        let j = bits.trailing_zeros() as usize;
        bits &= bits - 1;
        let col: &[f64; R] = a[j * lda..j * lda + R].try_into().expect("R rows");
        let xj = x[j];
        for t in 0..R {
            acc[t] += col[t] * xj;
        }
    }
    *yb = acc;
}

/// y = (base) + A x with y of exactly R rows, all accumulated in registers.
#[inline(always)]
fn gemv_rows_whole<const R: usize>(y: &mut [f64], base: Base, a: &[f64], lda: usize, x: &[f64]) {
    // The `expect`s cannot fire: the caller dispatches on y.len() == R and every column slice
    // is taken with exactly R entries (the indexing itself checks the bounds).
    let yb: &mut [f64; R] = y.try_into().expect("R rows");
    let mut acc = base.load(yb);
    for (j, &xj) in x.iter().enumerate() {
        let col: &[f64; R] = a[j * lda..j * lda + R].try_into().expect("R rows");
        for t in 0..R {
            acc[t] += col[t] * xj;
        }
    }
    *yb = acc;
}

/// Rows i..i+B of y += A x.
#[inline(always)]
fn gemv_rows<const B: usize>(y: &mut [f64], i: usize, a: &[f64], lda: usize, x: &[f64]) {
    // The `expect`s cannot fire: each slice is taken with exactly B entries (the indexing
    // itself checks the bounds); the conversion to arrays lets the compiler unroll over B.
    let yb: &mut [f64; B] = (&mut y[i..i + B]).try_into().expect("block of B rows");
    let mut acc = *yb;
    for (j, &xj) in x.iter().enumerate() {
        let col: &[f64; B] = a[j * lda + i..j * lda + i + B]
            .try_into()
            .expect("block of B rows");
        for t in 0..B {
            acc[t] += col[t] * xj;
        }
    }
    *yb = acc;
}

/// y += Aᵀ x for the column-major matrix `a` with leading dimension `lda` (A is x.len()×y.len(),
/// column j at `a[j·lda..]`): y_j += A[:, j]·x, eight (then four, two, one) independent dot products at a time.
#[inline]
pub fn gemv_tr_acc(y: &mut [f64], a: &[f64], lda: usize, x: &[f64]) {
    gemv_tr(y, None, a, lda, x);
}

/// y = y₀ + Aᵀ x ([`gemv_tr_acc`] from a separate base `y0`, same operations, no copy).
///
/// # Panics
/// If `y0` is shorter than `y` (a caller's indexing error, like a slice copy's).
#[inline]
pub fn gemv_tr_into(y: &mut [f64], y0: &[f64], a: &[f64], lda: usize, x: &[f64]) {
    gemv_tr(y, Some(y0), a, lda, x);
}

/// y = (y₀ or y) + Aᵀ x.
#[inline(always)]
fn gemv_tr(y: &mut [f64], y0: Option<&[f64]>, a: &[f64], lda: usize, x: &[f64]) {
    let c = y.len();
    let mut j = 0;
    while j + 8 <= c {
        gemv_tr_cols::<8>(y, y0, j, a, lda, x);
        j += 8;
    }
    if j + 4 <= c {
        gemv_tr_cols::<4>(y, y0, j, a, lda, x);
        j += 4;
    }
    if j + 2 <= c {
        gemv_tr_cols::<2>(y, y0, j, a, lda, x);
        j += 2;
    }
    if j < c {
        gemv_tr_cols::<1>(y, y0, j, a, lda, x);
    }
}

/// Entries j..j+B of y = (y₀ or y) + Aᵀ x.
#[inline(always)]
fn gemv_tr_cols<const B: usize>(
    y: &mut [f64],
    y0: Option<&[f64]>,
    j: usize,
    a: &[f64],
    lda: usize,
    x: &[f64],
) {
    let r = x.len();
    let cols: [&[f64]; B] = std::array::from_fn(|t| &a[(j + t) * lda..(j + t) * lda + r]);
    let mut acc = [0.0; B];
    for (l, &xl) in x.iter().enumerate() {
        for t in 0..B {
            acc[t] += cols[t][l] * xl;
        }
    }
    for t in 0..B {
        let base = match y0 {
            Some(b) => b[j + t],
            None => y[j + t],
        };
        y[j + t] = base + acc[t];
    }
}

/// True when every entry is exactly zero.
#[inline]
pub fn is_zero(v: &[f64]) -> bool {
    v.iter().all(|&x| x == 0.0)
}

/// True when no entry is NaN or ±∞. Branch-free over the whole slice (no early exit), so it
/// vectorizes: the check runs on every derivative block of every solver iteration.
#[inline]
pub fn all_finite(v: &[f64]) -> bool {
    // 0·x is 0 for finite x and NaN for NaN or ±∞; NaN never compares equal.
    let mut acc = [0.0f64; 4];
    let mut chunks = v.chunks_exact(4);
    for c in &mut chunks {
        for t in 0..4 {
            acc[t] += 0.0 * c[t];
        }
    }
    for &x in chunks.remainder() {
        acc[0] += 0.0 * x;
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) == 0.0
}

/// ‖v‖_∞ of a slice (NaN propagates as +∞).
pub fn norm_inf(v: &[f64]) -> f64 {
    // Four independent running maxima and a NaN flag, branch-free (the maximum does not
    // depend on the order): the solver takes this norm of every residual block.
    let mut acc = [0.0f64; 4];
    let mut nan = false;
    let chunks = v.chunks_exact(4);
    let rest = chunks.remainder();
    for c in chunks {
        for t in 0..4 {
            let a = c[t].abs();
            nan |= a.is_nan();
            acc[t] = if a > acc[t] { a } else { acc[t] };
        }
    }
    for &x in rest {
        let a = x.abs();
        nan |= a.is_nan();
        acc[0] = if a > acc[0] { a } else { acc[0] };
    }
    if nan {
        return f64::INFINITY;
    }
    let (m01, m23) = (acc[0].max(acc[1]), acc[2].max(acc[3]));
    m01.max(m23)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::DVector;

    /// Deterministic pseudo-random entries in [−1, 1).
    fn fill(seed: u64, len: usize) -> Vec<f64> {
        let mut s = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..len)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn all_finite_flags_nan_and_infinities_anywhere() {
        for len in 0..11 {
            let v: Vec<f64> = (0..len).map(|i| 1e300 * (i as f64 - 4.5)).collect();
            assert!(all_finite(&v));
            for pos in 0..len {
                for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
                    let mut w = v.clone();
                    w[pos] = bad;
                    assert!(!all_finite(&w), "len {len} pos {pos} {bad}");
                }
            }
        }
    }

    #[test]
    fn gemv_kernels_match_nalgebra_for_every_block_remainder() {
        for (r, c) in [
            (1, 1),
            (2, 3),
            (3, 2),
            (4, 4),
            (5, 7),
            (6, 3),
            (7, 1),
            (9, 13),
            (13, 9),
            (17, 4),
            (18, 3),
            (23, 6),
        ] {
            let lda = r + 2;
            let a = fill(1, lda * c);
            let x = fill(2, c);
            let y0 = fill(3, r);
            let am = DMatrix::from_fn(r, c, |i, j| a[j * lda + i]);
            let mut y = y0.clone();
            gemv_acc(&mut y, &a, lda, &x);
            let want = DVector::from_vec(y0.clone()) + &am * DVector::from_vec(x.clone());
            assert!(y
                .iter()
                .zip(want.iter())
                .all(|(u, v)| (u - v).abs() < 1e-13));
            let xt = fill(4, r);
            let z0 = fill(5, c);
            let mut z = z0.clone();
            gemv_tr_acc(&mut z, &a, lda, &xt);
            let want = DVector::from_vec(z0) + am.transpose() * DVector::from_vec(xt);
            assert!(z
                .iter()
                .zip(want.iter())
                .all(|(u, v)| (u - v).abs() < 1e-13));
        }
    }

    #[test]
    fn masked_gemv_equals_the_dense_product_with_the_zeros() {
        for (r, c) in [(1, 1), (4, 6), (13, 17), (17, 13), (20, 9)] {
            let lda = r + 1;
            let a = fill(7, lda * c);
            let y0 = fill(8, r);
            for seed in 0..6u64 {
                // zero out a pseudo-random subset of x, and mark the rest in the mask
                let mut x = fill(9 + seed, c);
                for (j, v) in x.iter_mut().enumerate() {
                    if (j as u64 * 7 + seed) % 3 == 0 {
                        *v = 0.0;
                    }
                }
                let mask = nonzero_mask(&x);
                assert_eq!(
                    mask.count_ones() as usize,
                    x.iter().filter(|v| **v != 0.0).count()
                );
                let mut dense = y0.clone();
                gemv_acc(&mut dense, &a, lda, &x);
                let mut sparse = y0.clone();
                gemv_mask_acc(&mut sparse, &a, lda, mask, &x);
                assert_eq!(sparse, dense, "r = {r}, c = {c}, seed {seed}");
            }
        }
    }

    #[test]
    fn norm_inf_is_the_largest_magnitude_and_infinite_on_nan() {
        for len in 0..11 {
            let v = fill(30 + len as u64, len);
            let want = v.iter().fold(0.0f64, |m, x| m.max(x.abs()));
            assert_eq!(norm_inf(&v), want, "len {len}");
            for bad in 0..len {
                let mut w = v.clone();
                w[bad] = f64::NAN;
                assert_eq!(norm_inf(&w), f64::INFINITY);
                w[bad] = f64::NEG_INFINITY;
                assert_eq!(norm_inf(&w), f64::INFINITY);
            }
        }
    }

    #[test]
    fn multi_column_solve_matches_column_by_column_bitwise() {
        for k in 1..=9 {
            for c in [1, 2, 5, 13] {
                let g = DMatrix::from_vec(k, k, fill(k as u64, k * k));
                let spd = &g * g.transpose() + DMatrix::identity(k, k);
                let mut indef = spd.clone();
                indef[(0, 0)] = -3.0;
                let b = fill(200 + (k * c) as u64, k * c);
                let mut tmp = vec![0.0; k];
                let mut f = SmallFactor::new(k);
                for (a, chol) in [(&spd, true), (&indef, false)] {
                    if chol {
                        assert!(f.cholesky(a));
                    } else {
                        assert!(f.lu(a, 1e-13));
                    }
                    let mut want = b.clone();
                    for col in want.chunks_exact_mut(k) {
                        f.solve_in_place(col, &mut tmp);
                    }
                    let mut got = b.clone();
                    f.solve_columns_in_place(&mut got, &mut tmp);
                    assert_eq!(got, want, "k = {k}, c = {c}, cholesky {chol}");
                }
            }
        }
    }

    #[test]
    fn small_factor_solves_spd_and_indefinite_systems() {
        for k in 1..=9 {
            let g = DMatrix::from_vec(k, k, fill(k as u64, k * k));
            let spd = &g * g.transpose() + DMatrix::identity(k, k);
            let mut indef = spd.clone();
            indef[(0, 0)] = -3.0;
            let b = fill(100 + k as u64, k);
            let mut tmp = vec![0.0; k];
            let mut f = SmallFactor::new(k);
            assert!(f.cholesky(&spd));
            let mut x = b.clone();
            f.solve_in_place(&mut x, &mut tmp);
            let res = &spd * DVector::from_vec(x) - DVector::from_vec(b.clone());
            assert!(
                res.amax() < 1e-12,
                "Cholesky k = {k}: residual {}",
                res.amax()
            );
            for a in [&spd, &indef] {
                assert!(f.lu(a, 1e-13));
                let mut x = b.clone();
                f.solve_in_place(&mut x, &mut tmp);
                let res = a * DVector::from_vec(x) - DVector::from_vec(b.clone());
                assert!(res.amax() < 1e-11, "LU k = {k}: residual {}", res.amax());
            }
            if k > 1 {
                assert!(!f.cholesky(&indef));
            }
        }
    }
}
