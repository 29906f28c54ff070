//! Riccati recursion with stage-wise equality rows: the KKT system of the active-set polish and
//! of the sensitivity pass in O(H (n + m + q)³), whatever the number of active rows.
//!
//! The LQ problem of [`super::riccati`] with, in addition, equality rows on single stages
//! (the active inequality rows; terminal rows act on x_H):
//!
//! ```text
//! G_a z_{s(a)} + e_a = 0        for every row a of the list `rows` (stage s(a), row r(a))
//! ```
//!
//! **Backward.** The cost-to-go of stage i+1 is the quadratic ½xᵀP x + pᵀx restricted to the
//! affine set {x : C x + c = 0} of the rows the later stages could not absorb. Stage i stacks
//! its own rows with the propagated ones, D z + e = 0 with D = [G_i; C_{i+1}[A B]] and
//! e = [e_i; C_{i+1} b + c_{i+1}]. A column-pivoted Householder QR of the control part D_u
//! gives an orthogonal row transform T with T D_u = [U; 0], U of full row rank ρ: the first ρ
//! rows fix ρ control directions, u = L x + l⁰ + Z w with U Y = I, U Z = 0, L = −Y D̂_x1,
//! l⁰ = −Y ê_1; the other rows act on x_i alone and are propagated to stage i − 1. The usual
//! Riccati step is then taken in (x, w) on the reduced Hessian Zᵀ M_uu Z, whose Cholesky
//! factorization is the inertia test of the constrained problem (positive definite on the
//! null space of the active rows). Rows left at stage 0 would constrain the fixed x_0: the
//! rows are linearly dependent (LICQ fails) and the factorization reports it.
//!
//! **Forward.** u_i = K_i x_i + k_i with K = L + Z K_w, k = l⁰ + Z k_w. The multipliers come
//! forward: with ν_i those of the rows propagated into stage i (none at stage 0),
//! π₁ = −Yᵀ(∂Q_i/∂u), π = Tᵀ[π₁; ν_i] splits into the stage's own multipliers μ_i and ν_{i+1},
//! and λ_{i+1} = P_{i+1} x_{i+1} + p_{i+1} + C_{i+1}ᵀ ν_{i+1}.
//!
//! This is the constraint elimination of structure-exploiting OCP solvers (the generalised
//! Riccati recursion of FATROP; Laine & Tomlin's constrained LQR). Signs are those of
//! [`super::riccati`]: the Lagrangian carries + μᵀ(G z + e) and λ_{i+1} multiplies
//! x_{i+1} − A x_i − B u_i − b_i.

use super::householder::{back_upper, householder_u, ix};
use super::riccati::StageHessians;
use crate::linalg::{gemv_acc, gemv_tr_acc, is_zero, mirror_lower, SmallFactor};
use crate::model::derivs::StageBlock;
use nalgebra::{DMatrix, DVector};

/// Why [`EqRiccati::factor`] failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EqFactorError {
    /// The active rows are linearly dependent together with x_0 = x̄ and the dynamics
    /// (rows would remain on x_0, or more rows than states reach a stage).
    Degenerate,
    /// The reduced Hessian of this stage is singular.
    Singular(usize),
}

/// Factorization of one path stage.
#[derive(Clone, Debug)]
struct Stage {
    /// Own rows of the stage and the offset of the first in the row list.
    k: usize,
    off: usize,
    /// Stacked rows r = k + (rows propagated from stage i + 1) and the rank ρ of D_u.
    r: usize,
    rho: usize,
    /// Row transform T (r×r, leading dimension `rcap`).
    t: Vec<f64>,
    /// Y (m×ρ), Z (m×(m − ρ)), L (m×n), all with leading dimension m.
    y: Vec<f64>,
    z: Vec<f64>,
    l: Vec<f64>,
    /// M_uu (m×m) and M_xu (n×m) of M = H + [A B]ᵀ P [A B].
    muu: Vec<f64>,
    mxu: Vec<f64>,
    /// Zᵀ(M_ux + M_uu L) ((m − ρ)×n, leading dimension m).
    mwx: Vec<f64>,
    /// Factor of Zᵀ M_uu Z, padded to m×m with a scaled identity.
    fac: SmallFactor,
    /// Gain K (m×n).
    kg: Vec<f64>,
}

/// Stage-wise equality-constrained Riccati factorization for one (n, m, H, row counts).
#[derive(Clone, Debug)]
pub struct EqRiccati {
    n: usize,
    m: usize,
    h: usize,
    /// Row capacity per stage: its own rows plus n propagated ones.
    rcap: Vec<usize>,
    st: Vec<Stage>,
    /// P_0 … P_H (n×n, symmetric).
    p: Vec<Vec<f64>>,
    /// Propagated rows C_0 … C_H (rp_i × n, leading dimension n) and their counts.
    c: Vec<Vec<f64>>,
    rp: Vec<usize>,
    /// Terminal rows: offset of the first in the row list.
    term_off: usize,
    indefinite: bool,
    // factorization scratch
    /// Reduced Hessian as a full matrix (LU fallback only).
    rt: DMatrix<f64>,
    f: Vec<f64>,
    pf: Vec<f64>,
    mt: Vec<f64>,
    d: Vec<f64>,
    v: Vec<f64>,
    perm: Vec<usize>,
    tmp: Vec<f64>,
    // solve storage
    pv: Vec<DVector<f64>>,
    kv: Vec<DVector<f64>>,
    cv: Vec<Vec<f64>>,
    mu_lin: Vec<Vec<f64>>,
    ev: Vec<f64>,
    ev2: Vec<f64>,
    wv: Vec<f64>,
    ub: Vec<f64>,
    nu: Vec<f64>,
    t_n: Vec<f64>,
}

impl EqRiccati {
    /// Storage for n states, m controls, horizon h and `q[i]` inequality rows per stage
    /// (`q[h]`: terminal rows).
    pub fn new(n: usize, m: usize, h: usize, q: &[usize]) -> Self {
        let nm = n + m;
        let rcap: Vec<usize> = q.iter().map(|&k| k + n).collect();
        let st = (0..h)
            .map(|i| Stage {
                k: 0,
                off: 0,
                r: 0,
                rho: 0,
                t: vec![0.0; rcap[i] * rcap[i]],
                y: vec![0.0; m * m],
                z: vec![0.0; m * m],
                l: vec![0.0; m * n],
                muu: vec![0.0; m * m],
                mxu: vec![0.0; n * m],
                mwx: vec![0.0; m * n],
                fac: SmallFactor::new(m),
                kg: vec![0.0; m * n],
            })
            .collect();
        let rmax = rcap.iter().copied().max().unwrap_or(n);
        Self {
            n,
            m,
            h,
            rcap,
            st,
            p: vec![vec![0.0; n * n]; h + 1],
            c: vec![vec![0.0; n * n]; h + 1],
            rp: vec![0; h + 1],
            term_off: 0,
            indefinite: false,
            rt: DMatrix::zeros(m, m),
            f: vec![0.0; n * nm],
            pf: vec![0.0; n * nm],
            mt: vec![0.0; nm * nm],
            d: vec![0.0; rmax * nm],
            v: vec![0.0; m * n],
            perm: vec![0; m],
            tmp: vec![0.0; rmax.max(nm)],
            pv: vec![DVector::zeros(n); h + 1],
            kv: vec![DVector::zeros(m); h],
            cv: vec![vec![0.0; n]; h + 1],
            mu_lin: vec![vec![0.0; m]; h],
            ev: vec![0.0; rmax],
            ev2: vec![0.0; rmax],
            wv: vec![0.0; m],
            ub: vec![0.0; m],
            nu: vec![0.0; rmax],
            t_n: vec![0.0; n],
        }
    }

    /// True when some reduced Hessian of the last factorization was indefinite (LU used).
    pub fn is_indefinite(&self) -> bool {
        self.indefinite
    }

    /// Factorize. `hess`, `blocks` as in [`super::riccati::Riccati::factor`] (lower triangles
    /// of the Hessians are read); `rows` lists the equality rows (stage, row of that stage's
    /// g), sorted by stage; the row vectors G_a are read from `blocks[stage].gx/gu`.
    pub fn factor<S: StageHessians + ?Sized>(
        &mut self,
        hess: &S,
        blocks: &[StageBlock],
        rows: &[(usize, usize)],
    ) -> Result<(), EqFactorError> {
        let (n, h) = (self.n, self.h);
        self.indefinite = false;
        // Row offsets per stage.
        let mut a = 0;
        for i in 0..h {
            let s = &mut self.st[i];
            s.off = a;
            while a < rows.len() && rows[a].0 == i {
                a += 1;
            }
            s.k = a - s.off;
        }
        self.term_off = a;
        let kh = rows.len() - a;
        if kh > n {
            return Err(EqFactorError::Degenerate);
        }
        // Terminal: P_H = H_H, C_H = G_H.
        {
            let ph = &mut self.p[h];
            let hh = hess.stage_hessian(h);
            for c in 0..n {
                ph[c * n + c..(c + 1) * n].copy_from_slice(&hh[c * n + c..(c + 1) * n]);
            }
            mirror_lower(ph, n);
            let gx = &blocks[h].gx;
            for (j, &(_, row)) in rows[self.term_off..].iter().enumerate() {
                for col in 0..n {
                    self.c[h][ix(n, j, col)] = gx[(row, col)];
                }
            }
            self.rp[h] = kh;
        }
        for i in (0..h).rev() {
            self.factor_stage(i, hess, blocks, rows)?;
        }
        if self.rp[0] > 0 {
            return Err(EqFactorError::Degenerate);
        }
        Ok(())
    }

    /// One backward step: stage i from P_{i+1}, C_{i+1} — the stacked rows, their null space
    /// in the controls, the reduced Hessian (the inertia test) and the gains.
    fn factor_stage<S: StageHessians + ?Sized>(
        &mut self,
        i: usize,
        hess: &S,
        blocks: &[StageBlock],
        rows: &[(usize, usize)],
    ) -> Result<(), EqFactorError> {
        let r = self.stack_stage(i, hess, blocks, rows)?;
        self.control_null_space(i, r)?;
        self.factor_reduced_hessian(i)?;
        self.stage_gains(i);
        Ok(())
    }

    /// M = H + Fᵀ P_{i+1} F into `mt` and the stacked rows D = [G_i; C_{i+1} F] into `d`;
    /// returns their number r.
    fn stack_stage<S: StageHessians + ?Sized>(
        &mut self,
        i: usize,
        hess: &S,
        blocks: &[StageBlock],
        rows: &[(usize, usize)],
    ) -> Result<usize, EqFactorError> {
        let (n, m) = (self.n, self.m);
        let nm = n + m;
        let rp_next = self.rp[i + 1];
        let (k, off) = (self.st[i].k, self.st[i].off);
        let r = k + rp_next;
        if r > self.rcap[i] {
            return Err(EqFactorError::Degenerate);
        }
        // M = H + Fᵀ P F (full, symmetric), F = [A B].
        let blk = &blocks[i];
        self.f[..n * n].copy_from_slice(blk.fx.as_slice());
        self.f[n * n..].copy_from_slice(blk.fu.as_slice());
        {
            let pn = &self.p[i + 1];
            for (out, fc) in self.pf.chunks_exact_mut(n).zip(self.f.chunks_exact(n)) {
                out.fill(0.0);
                gemv_acc(out, pn, n, fc);
            }
        }
        let hi = hess.stage_hessian(i);
        for c in 0..nm {
            let col = &mut self.mt[c * nm + c..(c + 1) * nm];
            col.copy_from_slice(&hi[c * nm + c..(c + 1) * nm]);
            gemv_tr_acc(col, &self.f[c * n..], n, &self.pf[c * n..(c + 1) * n]);
        }
        mirror_lower(&mut self.mt, nm);
        // D = [G_i; C_{i+1} F] (r × nm, leading dimension r).
        for (j, &(_, row)) in rows[off..off + k].iter().enumerate() {
            for col in 0..n {
                self.d[ix(r, j, col)] = blk.gx[(row, col)];
            }
            for col in 0..m {
                self.d[ix(r, j, n + col)] = blk.gu[(row, col)];
            }
        }
        {
            let cn = &self.c[i + 1];
            for col in 0..nm {
                let fc = &self.f[col * n..(col + 1) * n];
                for j in 0..rp_next {
                    let mut v = 0.0;
                    for l in 0..n {
                        v += cn[ix(n, j, l)] * fc[l];
                    }
                    self.d[ix(r, k + j, col)] = v;
                }
            }
        }
        self.st[i].r = r;
        Ok(r)
    }

    /// Column-pivoted QR of the stacked rows' control part: the row transform T, rank ρ,
    /// Y, Z, L = −Y D̂_x1, and the rows C_i propagated to stage i − 1.
    fn control_null_space(&mut self, i: usize, r: usize) -> Result<(), EqFactorError> {
        let (n, m) = (self.n, self.m);
        let s = &mut self.st[i];
        let ldt = self.rcap[i];
        let rho = householder_u(
            &mut self.d,
            (r, n, m),
            (&mut s.t, ldt),
            &mut self.perm,
            &mut self.tmp,
        );
        s.rho = rho;
        let nw = m - rho;
        // Y = P[R11⁻¹; 0], Z = P[−R11⁻¹R12; I]   (R = D̂[..ρ, n..], columns in pivot order).
        let rr = |a: usize, b: usize| self.d[ix(r, a, n + b)];
        s.y[..m * rho].fill(0.0);
        s.z[..m * nw].fill(0.0);
        for c in 0..rho {
            // R11 y = e_c
            let w = &mut self.tmp[..rho];
            w.fill(0.0);
            w[c] = 1.0;
            back_upper(&rr, rho, w);
            for j in 0..rho {
                s.y[ix(m, self.perm[j], c)] = w[j];
            }
        }
        for c in 0..nw {
            let w = &mut self.tmp[..rho];
            for (j, wj) in w.iter_mut().enumerate() {
                *wj = -rr(j, rho + c);
            }
            back_upper(&rr, rho, w);
            for j in 0..rho {
                s.z[ix(m, self.perm[j], c)] = w[j];
            }
            s.z[ix(m, self.perm[rho + c], c)] = 1.0;
        }
        // L = −Y D̂_x1 (m×n).
        for col in 0..n {
            for row in 0..m {
                let mut v = 0.0;
                for j in 0..rho {
                    v -= s.y[ix(m, row, j)] * self.d[ix(r, j, col)];
                }
                s.l[ix(m, row, col)] = v;
            }
        }
        // Propagated rows C_i = D̂[ρ.., ..n].
        let rp = r - rho;
        if rp > n {
            return Err(EqFactorError::Degenerate);
        }
        self.rp[i] = rp;
        for col in 0..n {
            for j in 0..rp {
                self.c[i][ix(n, j, col)] = self.d[ix(r, rho + j, col)];
            }
        }
        Ok(())
    }

    /// The blocks of M, M̄_xx (into P_i), M̄_wx and the factorization of the reduced Hessian
    /// M̄_ww = Zᵀ M_uu Z: Cholesky, or LU when indefinite (recorded).
    fn factor_reduced_hessian(&mut self, i: usize) -> Result<(), EqFactorError> {
        let (n, m) = (self.n, self.m);
        let nm = n + m;
        let s = &mut self.st[i];
        let nw = m - s.rho;
        // Blocks of M.
        for c in 0..m {
            for rw in 0..m {
                s.muu[ix(m, rw, c)] = self.mt[ix(nm, n + rw, n + c)];
            }
            for rw in 0..n {
                s.mxu[ix(n, rw, c)] = self.mt[ix(nm, rw, n + c)];
            }
        }
        // V = M_ux + M_uu L (m×n).
        for col in 0..n {
            for rw in 0..m {
                let mut v = self.mt[ix(nm, n + rw, col)];
                for j in 0..m {
                    v += s.muu[ix(m, rw, j)] * s.l[ix(m, j, col)];
                }
                self.v[ix(m, rw, col)] = v;
            }
        }
        // M̄_xx = M_xx + M_xu L + Lᵀ V   (into P_i, symmetrized below).
        {
            let pi = &mut self.p[i];
            for col in 0..n {
                for rw in 0..n {
                    let mut v = self.mt[ix(nm, rw, col)];
                    for j in 0..m {
                        v += s.mxu[ix(n, rw, j)] * s.l[ix(m, j, col)]
                            + s.l[ix(m, j, rw)] * self.v[ix(m, j, col)];
                    }
                    pi[ix(n, rw, col)] = v;
                }
            }
        }
        // M̄_wx = Zᵀ V, M̄_ww = Zᵀ M_uu Z (padded to m×m with a scaled identity).
        for col in 0..n {
            for w in 0..nw {
                let mut v = 0.0;
                for j in 0..m {
                    v += s.z[ix(m, j, w)] * self.v[ix(m, j, col)];
                }
                s.mwx[ix(m, w, col)] = v;
            }
        }
        let mw = &mut self.mt[..m * m];
        let mut dmax = 0.0f64;
        for c in 0..nw {
            for rw in 0..nw {
                let mut v = 0.0;
                for a in 0..m {
                    let za = s.z[ix(m, a, rw)];
                    if za == 0.0 {
                        continue;
                    }
                    for b in 0..m {
                        v += za * s.muu[ix(m, a, b)] * s.z[ix(m, b, c)];
                    }
                }
                mw[ix(m, rw, c)] = v;
            }
            dmax = dmax.max(mw[ix(m, c, c)].abs());
        }
        let pad = if dmax > 0.0 { dmax } else { 1.0 };
        for c in 0..m {
            for rw in 0..m {
                if rw >= nw || c >= nw {
                    mw[ix(m, rw, c)] = if rw == c { pad } else { 0.0 };
                }
            }
        }
        if !s.fac.cholesky_lower(mw, m) {
            mirror_lower(mw, m);
            self.rt.as_mut_slice().copy_from_slice(mw);
            if !s.fac.lu(&self.rt, 1e-13) {
                return Err(EqFactorError::Singular(i));
            }
            self.indefinite = true;
        }
        Ok(())
    }

    /// K_w = −M̄_ww⁻¹ M̄_wx, P_i += M̄_wxᵀ K_w and the gain K = L + Z K_w.
    fn stage_gains(&mut self, i: usize) {
        let (n, m) = (self.n, self.m);
        let s = &mut self.st[i];
        let nw = m - s.rho;
        // K_w = −M̄_ww⁻¹ M̄_wx, P_i += M̄_wxᵀ K_w, K = L + Z K_w.
        let kw = &mut self.v; // reuse: V is no longer needed
        for col in 0..n {
            let w = &mut kw[col * m..(col + 1) * m];
            for (a, wa) in w.iter_mut().enumerate() {
                *wa = if a < nw { -s.mwx[ix(m, a, col)] } else { 0.0 };
            }
            s.fac.solve_in_place(w, &mut self.tmp);
        }
        {
            let pi = &mut self.p[i];
            for col in 0..n {
                for rw in col..n {
                    let mut v = 0.0;
                    for w in 0..nw {
                        v += s.mwx[ix(m, w, rw)] * kw[ix(m, w, col)];
                    }
                    let sym = 0.5 * (pi[ix(n, rw, col)] + pi[ix(n, col, rw)]);
                    pi[ix(n, rw, col)] = sym + v;
                }
            }
            mirror_lower(pi, n);
        }
        for col in 0..n {
            for rw in 0..m {
                let mut v = s.l[ix(m, rw, col)];
                for w in 0..nw {
                    v += s.z[ix(m, rw, w)] * kw[ix(m, w, col)];
                }
                s.kg[ix(m, rw, col)] = v;
            }
        }
    }

    /// Solve the equality-constrained LQ problem with the stored factorization.
    ///
    /// `lin`, `defect`, `x0`, outputs `x`, `u`, `lam` as in
    /// [`super::riccati::Riccati::solve`]; `e[a]` is the constant of row a (G_a z + e_a = 0;
    /// `None`: all zero) and `mu[a]` receives its multiplier.
    #[allow(clippy::too_many_arguments)]
    pub fn solve(
        &mut self,
        blocks: &[StageBlock],
        lin: &[DVector<f64>],
        defect: Option<&[DVector<f64>]>,
        x0: Option<&DVector<f64>>,
        e: Option<&[f64]>,
        x: &mut [DVector<f64>],
        u: &mut [DVector<f64>],
        lam: &mut [DVector<f64>],
        mu: &mut [f64],
    ) {
        self.backward_solve(blocks, lin, defect, e);
        self.forward_solve(blocks, defect, x0, x, u, lam, mu);
    }

    /// The backward pass of [`EqRiccati::solve`]: the affine terms p_i, c_i, k_i and the
    /// linear parts of the stage multipliers.
    fn backward_solve(
        &mut self,
        blocks: &[StageBlock],
        lin: &[DVector<f64>],
        defect: Option<&[DVector<f64>]>,
        e: Option<&[f64]>,
    ) {
        let (n, m, h) = (self.n, self.m, self.h);
        let ecoef = |a: usize| e.map_or(0.0, |e| e[a]);
        // Backward. Stages after the last nonzero linear term, defect and row constant have
        // p = 0, c = 0 and k = 0 (a VJP seeded on u_0 touches one stage) and are skipped.
        self.pv[h].copy_from(&lin[h].rows(0, n));
        for j in 0..self.rp[h] {
            self.cv[h][j] = ecoef(self.term_off + j);
        }
        let mut tail_zero = is_zero(self.pv[h].as_slice()) && is_zero(&self.cv[h][..self.rp[h]]);
        for i in (0..h).rev() {
            let s = &self.st[i];
            let (r, rho, k) = (s.r, s.rho, s.k);
            let nw = m - rho;
            let li = lin[i].as_slice();
            let blk = &blocks[i];
            if tail_zero
                && is_zero(li)
                && defect.is_none_or(|d| is_zero(d[i].as_slice()))
                && (0..k).all(|a| ecoef(s.off + a) == 0.0)
            {
                self.pv[i].fill(0.0);
                self.kv[i].fill(0.0);
                self.mu_lin[i].fill(0.0);
                self.cv[i][..r - rho].fill(0.0);
                continue;
            }
            tail_zero = false;
            // t = P_{i+1} b + p_{i+1}
            let t = &mut self.t_n;
            t.copy_from_slice(self.pv[i + 1].as_slice());
            if let Some(d) = defect {
                gemv_acc(t, &self.p[i + 1], n, d[i].as_slice());
            }
            // m_u = l_u + Bᵀ t, m_x = l_x + Aᵀ t (into p_i, completed below)
            let mu_l = &mut self.mu_lin[i];
            mu_l.copy_from_slice(&li[n..]);
            gemv_tr_acc(mu_l, blk.fu.as_slice(), n, t);
            // e stacked: [e_i; C_{i+1} b + c_{i+1}], then ê = T e.
            let rp_next = self.rp[i + 1];
            for a in 0..k {
                self.ev[a] = ecoef(s.off + a);
            }
            let ep = &mut self.ev[k..r];
            ep.copy_from_slice(&self.cv[i + 1][..rp_next]);
            if let Some(d) = defect {
                gemv_acc(ep, &self.c[i + 1], n, d[i].as_slice());
            }
            self.ev2[..r].fill(0.0);
            gemv_acc(&mut self.ev2[..r], &s.t, self.rcap[i], &self.ev[..r]);
            for j in 0..r - rho {
                self.cv[i][j] = self.ev2[rho + j];
            }
            // l⁰ = −Y ê₁ (in kv), ū = m_u + M_uu l⁰
            let kv = self.kv[i].as_mut_slice();
            kv.fill(0.0);
            gemv_acc(kv, &s.y, m, &self.ev2[..rho]);
            kv.iter_mut().for_each(|v| *v = -*v);
            let ub = &mut self.ub;
            ub.copy_from_slice(mu_l);
            gemv_acc(ub, &s.muu, m, kv);
            // k_w = −M̄_ww⁻¹ Zᵀ ū
            let w = &mut self.wv;
            w.fill(0.0);
            gemv_tr_acc(&mut w[..nw], &s.z, m, ub);
            w.iter_mut().for_each(|v| *v = -*v);
            s.fac.solve_in_place(w, &mut self.tmp);
            // p_i = l_x + Aᵀ t + M_xu l⁰ + Lᵀ ū + M̄_wxᵀ k_w
            let pi = self.pv[i].as_mut_slice();
            pi.copy_from_slice(&li[..n]);
            gemv_tr_acc(pi, blk.fx.as_slice(), n, t);
            gemv_acc(pi, &s.mxu, n, kv);
            gemv_tr_acc(pi, &s.l, m, ub);
            gemv_tr_acc(pi, &s.mwx, m, &w[..nw]);
            // k = l⁰ + Z k_w
            gemv_acc(kv, &s.z, m, &w[..nw]);
        }
    }

    /// The forward pass of [`EqRiccati::solve`]: the trajectory, costates and row multipliers.
    #[allow(clippy::too_many_arguments)]
    fn forward_solve(
        &mut self,
        blocks: &[StageBlock],
        defect: Option<&[DVector<f64>]>,
        x0: Option<&DVector<f64>>,
        x: &mut [DVector<f64>],
        u: &mut [DVector<f64>],
        lam: &mut [DVector<f64>],
        mu: &mut [f64],
    ) {
        let (n, m, h) = (self.n, self.m, self.h);
        // Forward.
        match x0 {
            Some(v) => x[0].copy_from(v),
            None => x[0].fill(0.0),
        }
        lam[0].copy_from(&self.pv[0]);
        gemv_acc(lam[0].as_mut_slice(), &self.p[0], n, x[0].as_slice());
        let mut nu_len = 0; // rp_0 = 0
        for i in 0..h {
            let s = &self.st[i];
            let (r, rho, k) = (s.r, s.rho, s.k);
            let (lo, hi) = x.split_at_mut(i + 1);
            let (xi, xn) = (lo[i].as_slice(), hi[0].as_mut_slice());
            let ui = u[i].as_mut_slice();
            ui.copy_from_slice(self.kv[i].as_slice());
            gemv_acc(ui, &s.kg, m, xi);
            match defect {
                Some(d) => xn.copy_from_slice(d[i].as_slice()),
                None => xn.fill(0.0),
            }
            gemv_acc(xn, blocks[i].fx.as_slice(), n, xi);
            gemv_acc(xn, blocks[i].fu.as_slice(), n, ui);
            // g_u = M_ux x + M_uu u + m_u;  π₁ = −Yᵀ g_u
            let gu = &mut self.ub;
            gu.copy_from_slice(&self.mu_lin[i]);
            gemv_tr_acc(gu, &s.mxu, n, xi);
            gemv_acc(gu, &s.muu, m, ui);
            let p1 = &mut self.ev[..rho];
            p1.fill(0.0);
            gemv_tr_acc(p1, &s.y, m, gu);
            p1.iter_mut().for_each(|v| *v = -*v);
            debug_assert_eq!(nu_len, r - rho);
            self.ev[rho..r].copy_from_slice(&self.nu[..r - rho]);
            // π = Tᵀ [π₁; ν_i]
            self.ev2[..r].fill(0.0);
            gemv_tr_acc(&mut self.ev2[..r], &s.t, self.rcap[i], &self.ev[..r]);
            mu[s.off..s.off + k].copy_from_slice(&self.ev2[..k]);
            nu_len = r - k;
            self.nu[..nu_len].copy_from_slice(&self.ev2[k..r]);
            // λ_{i+1} = P x⁺ + p + Cᵀ ν
            let l = lam[i + 1].as_mut_slice();
            l.copy_from_slice(self.pv[i + 1].as_slice());
            gemv_acc(l, &self.p[i + 1], n, xn);
            gemv_tr_acc(l, &self.c[i + 1], n, &self.nu[..nu_len]);
        }
        let kh = self.rp[h];
        mu[self.term_off..self.term_off + kh].copy_from_slice(&self.nu[..kh]);
    }
}
