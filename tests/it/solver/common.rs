//! Shared helpers of the solver tests: an independent KKT check, a staged convex QP model, and
//! dense / Clarabel reference solutions of that QP.

use diffop::model::derivs::{Differentiator, StageBlock};
use diffop::model::{cst, Dims, OcpModel, Scalar};
use diffop::solver::Solution;
use nalgebra::{DMatrix, DVector};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Norm-wise error of `docs/spec/ALGORITHMS.md` §13: ‖a − b‖ / max(‖b‖, 1).
pub fn err(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let d: f64 = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>();
    let nb: f64 = b.iter().map(|y| y * y).sum::<f64>();
    d.sqrt() / nb.sqrt().max(1.0)
}

/// Stack a list of vectors.
pub fn stack(v: &[DVector<f64>]) -> Vec<f64> {
    v.iter().flat_map(|a| a.iter().copied()).collect()
}

/// The independently evaluated KKT residuals of a returned solution.
#[derive(Clone, Debug)]
pub struct KktReport {
    /// ‖∇_ζJ + Σ λ/μ terms‖_∞ / max(1, ‖∇_ζJ‖_∞).
    pub stat: f64,
    /// Dynamics, x_0 and active-row violation / max(1, ‖ζ‖_∞).
    pub feas: f64,
    /// Worst relative mismatch between `Solution::g` and g evaluated here.
    pub g_mismatch: f64,
    /// Relative mismatch of the reported objective.
    pub obj_mismatch: f64,
}

/// Evaluate the KKT conditions of `sol` with the paper's convention (λ_{i+1} multiplies
/// x_{i+1} − f_i, μ ≥ 0 multiplies g ≤ 0) and check the multiplier signs; panics with a
/// message on a sign or complementarity violation.
pub fn kkt_check<M: OcpModel>(
    model: &M,
    x_init: &[f64],
    theta: &[f64],
    ctx: &[f64],
    sol: &Solution,
) -> KktReport {
    let Dims { n, m, .. } = model.dims();
    let h = sol.u.len();
    let mut diff = Differentiator::new();
    let mut blocks: Vec<StageBlock> = (0..h)
        .map(|i| StageBlock::new(n, m, model.n_path(i)))
        .collect();
    blocks.push(StageBlock::new(n, 0, model.n_terminal()));
    let mut obj = 0.0;
    for i in 0..h {
        diff.stage(
            model,
            i,
            sol.x[i].as_slice(),
            sol.u[i].as_slice(),
            theta,
            ctx,
            sol.costates[i].as_slice(),
            sol.mu[i].as_slice(),
            &mut blocks[i],
        );
        obj += blocks[i].c;
    }
    diff.terminal(
        model,
        sol.x[h].as_slice(),
        theta,
        ctx,
        sol.mu[h].as_slice(),
        &mut blocks[h],
    );
    obj += blocks[h].c;
    let zeta_scale = stack(&sol.x)
        .iter()
        .chain(stack(&sol.u).iter())
        .fold(0.0f64, |a, v| a.max(v.abs()));
    let lam = |i: usize| -> &DVector<f64> {
        if i == 0 {
            &sol.lambda0
        } else {
            &sol.costates[i - 1]
        }
    };
    let mut grad_scale = 0.0f64;
    let mut rmax = 0.0f64;
    let mut feas = 0.0f64;
    for i in 0..=h {
        let b = &blocks[i];
        grad_scale = grad_scale.max(b.cx.amax());
        let mut rx = &b.cx - lam(i) + b.gx.transpose() * &sol.mu[i];
        if i < h {
            grad_scale = grad_scale.max(b.cu.amax());
            rx += b.fx.transpose() * lam(i + 1);
            let ru = &b.cu + b.fu.transpose() * lam(i + 1) + b.gu.transpose() * &sol.mu[i];
            rmax = rmax.max(ru.amax());
            feas = feas.max((&sol.x[i + 1] - &b.f).amax());
        }
        rmax = rmax.max(rx.amax());
    }
    for j in 0..n {
        feas = feas.max((sol.x[0][j] - x_init[j]).abs());
    }
    // signs, complementarity, stored g
    let mut g_mismatch = 0.0f64;
    for i in 0..=h {
        let b = &blocks[i];
        assert_eq!(sol.g[i].len(), b.g.len(), "stage {i}: g length");
        for j in 0..b.g.len() {
            let (g, mu) = (b.g[j], sol.mu[i][j]);
            g_mismatch = g_mismatch.max((g - sol.g[i][j]).abs() / zeta_scale.max(1.0));
            if sol.active[i][j] {
                feas = feas.max(g.abs());
                assert!(mu >= 0.0, "stage {i} row {j}: active with μ = {mu}");
            } else {
                assert_eq!(mu, 0.0, "stage {i} row {j}: inactive with μ = {mu}");
                assert!(
                    g <= 1e-9 * zeta_scale.max(1.0),
                    "stage {i} row {j}: inactive row violated, g = {g}"
                );
            }
        }
    }
    KktReport {
        stat: rmax / grad_scale.max(1.0),
        feas: feas / zeta_scale.max(1.0),
        g_mismatch,
        obj_mismatch: (obj - sol.objective).abs() / obj.abs().max(1.0),
    }
}

/// Assert the KKT report of a polished solution.
pub fn assert_kkt(label: &str, r: &KktReport, tol: f64) {
    assert!(
        r.stat <= tol,
        "{label}: stationarity {:e} > {tol:e}",
        r.stat
    );
    assert!(r.feas <= tol, "{label}: feasibility {:e} > {tol:e}", r.feas);
    assert!(
        r.g_mismatch <= 1e-12,
        "{label}: stored g off by {:e}",
        r.g_mismatch
    );
    assert!(
        r.obj_mismatch <= 1e-12,
        "{label}: objective off by {:e}",
        r.obj_mismatch
    );
}

/// Linear inequality rows Gx x + Gu u ≤ rhs of one stage.
#[derive(Clone, Debug)]
pub struct Rows {
    /// ∂g/∂x (q×n).
    pub gx: DMatrix<f64>,
    /// ∂g/∂u (q×m); zero columns at the terminal stage (m = 0 there).
    pub gu: DMatrix<f64>,
    /// Right-hand side (q).
    pub rhs: DVector<f64>,
}

impl Rows {
    /// No rows.
    pub fn none(n: usize, m: usize) -> Self {
        Self {
            gx: DMatrix::zeros(0, n),
            gu: DMatrix::zeros(0, m),
            rhs: DVector::zeros(0),
        }
    }
}

/// A time-varying convex QP in OCP form, with every matrix explicit:
///
/// ```text
/// c_i = ½xᵀQ_i x + ½uᵀR_i u + xᵀS_i u + q_iᵀx + r_iᵀu,   c_H = ½xᵀPx + pᵀx
/// x_{i+1} = A_i x_i + B_i u_i + c_i,   Gx_i x_i + Gu_i u_i ≤ rhs_i
/// ```
#[derive(Clone, Debug)]
pub struct StagedQp {
    pub n: usize,
    pub m: usize,
    pub h: usize,
    pub q: Vec<DMatrix<f64>>,
    pub r: Vec<DMatrix<f64>>,
    pub s: Vec<DMatrix<f64>>,
    pub ql: Vec<DVector<f64>>,
    pub rl: Vec<DVector<f64>>,
    pub p: DMatrix<f64>,
    pub pl: DVector<f64>,
    pub a: Vec<DMatrix<f64>>,
    pub b: Vec<DMatrix<f64>>,
    pub c: Vec<DVector<f64>>,
    /// H path stages then the terminal stage.
    pub rows: Vec<Rows>,
}

fn quad<S: Scalar>(mat: &DMatrix<f64>, a: &[S], b: &[S]) -> S {
    let mut v = cst::<S>(0.0);
    for (r, &ar) in a.iter().enumerate() {
        for (c, &bc) in b.iter().enumerate() {
            let k = mat[(r, c)];
            if k != 0.0 {
                v += ar * bc * k;
            }
        }
    }
    v
}

fn lin<S: Scalar>(v: &DVector<f64>, a: &[S]) -> S {
    let mut s = cst::<S>(0.0);
    for (j, &aj) in a.iter().enumerate() {
        s += aj * v[j];
    }
    s
}

impl OcpModel for StagedQp {
    fn name(&self) -> &str {
        "staged-qp"
    }
    fn dims(&self) -> Dims {
        Dims {
            n: self.n,
            m: self.m,
            d: 1,
            n_ctx: 0,
        }
    }
    fn dynamics<S: Scalar>(
        &self,
        i: usize,
        x: &[S],
        u: &[S],
        _th: &[S],
        _c: &[f64],
        out: &mut [S],
    ) {
        for (r, o) in out.iter_mut().enumerate() {
            let mut v = cst::<S>(self.c[i][r]);
            for (j, &xj) in x.iter().enumerate() {
                v += xj * self.a[i][(r, j)];
            }
            for (j, &uj) in u.iter().enumerate() {
                v += uj * self.b[i][(r, j)];
            }
            *o = v;
        }
    }
    fn stage_cost<S: Scalar>(&self, i: usize, x: &[S], u: &[S], _th: &[S], _c: &[f64]) -> S {
        quad(&self.q[i], x, x) * 0.5
            + quad(&self.r[i], u, u) * 0.5
            + quad(&self.s[i], x, u)
            + lin(&self.ql[i], x)
            + lin(&self.rl[i], u)
    }
    fn terminal_cost<S: Scalar>(&self, x: &[S], _th: &[S], _c: &[f64]) -> S {
        quad(&self.p, x, x) * 0.5 + lin(&self.pl, x)
    }
    // affine dynamics and constraints, quadratic costs: the solver's LQ shortcut is exercised
    fn is_linear_quadratic(&self) -> bool {
        true
    }
    fn n_path(&self, i: usize) -> usize {
        self.rows[i].rhs.len()
    }
    fn path_constraints<S: Scalar>(
        &self,
        i: usize,
        x: &[S],
        u: &[S],
        _th: &[S],
        _c: &[f64],
        out: &mut [S],
    ) {
        let rw = &self.rows[i];
        for (k, o) in out.iter_mut().enumerate() {
            let mut v = cst::<S>(-rw.rhs[k]);
            for (j, &xj) in x.iter().enumerate() {
                v += xj * rw.gx[(k, j)];
            }
            for (j, &uj) in u.iter().enumerate() {
                v += uj * rw.gu[(k, j)];
            }
            *o = v;
        }
    }
    fn n_terminal(&self) -> usize {
        self.rows[self.h].rhs.len()
    }
    fn terminal_constraints<S: Scalar>(&self, x: &[S], _th: &[S], _c: &[f64], out: &mut [S]) {
        let rw = &self.rows[self.h];
        for (k, o) in out.iter_mut().enumerate() {
            let mut v = cst::<S>(-rw.rhs[k]);
            for (j, &xj) in x.iter().enumerate() {
                v += xj * rw.gx[(k, j)];
            }
            *o = v;
        }
    }
}

fn rand_mat(rng: &mut ChaCha8Rng, r: usize, c: usize, s: f64) -> DMatrix<f64> {
    DMatrix::from_fn(r, c, |_, _| s * (2.0 * rng.random::<f64>() - 1.0))
}

fn rand_vec(rng: &mut ChaCha8Rng, r: usize, s: f64) -> DVector<f64> {
    DVector::from_fn(r, |_, _| s * (2.0 * rng.random::<f64>() - 1.0))
}

fn rand_pd(rng: &mut ChaCha8Rng, k: usize, shift: f64) -> DMatrix<f64> {
    let l = rand_mat(rng, k, k, 1.0);
    &l * l.transpose() + DMatrix::identity(k, k) * shift
}

/// Box description for [`StagedQp::random`].
#[derive(Clone, Copy, Debug)]
pub struct Boxes {
    /// |u_j| ≤ this on every stage.
    pub u: Option<f64>,
    /// |x_j| ≤ this on stages 1 … H−1 (path rows on x) and on the terminal state.
    pub x: Option<f64>,
}

fn box_rows(n: usize, m: usize, on_x: Option<f64>, on_u: Option<f64>) -> Rows {
    let mut gx = Vec::new();
    let mut gu = Vec::new();
    let mut rhs = Vec::new();
    if let Some(b) = on_u {
        for sign in [1.0, -1.0] {
            for j in 0..m {
                let mut ru = vec![0.0; m];
                ru[j] = sign;
                gx.push(vec![0.0; n]);
                gu.push(ru);
                rhs.push(b);
            }
        }
    }
    if let Some(b) = on_x {
        for sign in [1.0, -1.0] {
            for j in 0..n {
                let mut rx = vec![0.0; n];
                rx[j] = sign;
                gx.push(rx);
                gu.push(vec![0.0; m]);
                rhs.push(b);
            }
        }
    }
    let k = rhs.len();
    Rows {
        gx: DMatrix::from_fn(k, n, |r, c| gx[r][c]),
        gu: DMatrix::from_fn(k, m, |r, c| gu[r][c]),
        rhs: DVector::from_vec(rhs),
    }
}

impl StagedQp {
    /// A random, time-invariant, strictly convex LQ problem with optional boxes.
    pub fn random(seed: u64, n: usize, m: usize, h: usize, boxes: Boxes) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let a = DMatrix::identity(n, n) * 0.95 + rand_mat(&mut rng, n, n, 0.25);
        let b = rand_mat(&mut rng, n, m, 1.0);
        let c = rand_vec(&mut rng, n, 0.1);
        let q = rand_pd(&mut rng, n, 0.2);
        let r = rand_pd(&mut rng, m, 0.5);
        let s = rand_mat(&mut rng, n, m, 0.05);
        let ql = rand_vec(&mut rng, n, 0.5);
        let rl = rand_vec(&mut rng, m, 0.5);
        let p = rand_pd(&mut rng, n, 1.0);
        let pl = rand_vec(&mut rng, n, 0.5);
        let mut rows: Vec<Rows> = (0..h)
            .map(|i| box_rows(n, m, if i == 0 { None } else { boxes.x }, boxes.u))
            .collect();
        rows.push(box_rows(n, 0, boxes.x, None));
        Self {
            n,
            m,
            h,
            q: vec![q; h],
            r: vec![r; h],
            s: vec![s; h],
            ql: vec![ql; h],
            rl: vec![rl; h],
            p,
            pl,
            a: vec![a; h],
            b: vec![b; h],
            c: vec![c; h],
            rows,
        }
    }

    /// Number of stacked variables (H+1)n + Hm.
    pub fn nz(&self) -> usize {
        (self.h + 1) * self.n + self.h * self.m
    }
    /// Offset of x_i in ζ.
    pub fn xi(&self, i: usize) -> usize {
        (self.n + self.m) * i
    }
    /// Offset of u_i in ζ.
    pub fn ui(&self, i: usize) -> usize {
        (self.n + self.m) * i + self.n
    }

    /// Dense Hessian and gradient of J over ζ.
    pub fn dense_cost(&self) -> (DMatrix<f64>, DVector<f64>) {
        let nz = self.nz();
        let (n, m) = (self.n, self.m);
        let mut hh = DMatrix::zeros(nz, nz);
        let mut g = DVector::zeros(nz);
        for i in 0..self.h {
            let (xo, uo) = (self.xi(i), self.ui(i));
            hh.view_mut((xo, xo), (n, n)).copy_from(&self.q[i]);
            hh.view_mut((uo, uo), (m, m)).copy_from(&self.r[i]);
            hh.view_mut((xo, uo), (n, m)).copy_from(&self.s[i]);
            hh.view_mut((uo, xo), (m, n))
                .copy_from(&self.s[i].transpose());
            g.rows_mut(xo, n).copy_from(&self.ql[i]);
            g.rows_mut(uo, m).copy_from(&self.rl[i]);
        }
        let xo = self.xi(self.h);
        hh.view_mut((xo, xo), (n, n)).copy_from(&self.p);
        g.rows_mut(xo, n).copy_from(&self.pl);
        (hh, g)
    }

    /// Dense equality constraints C ζ = d: x_0 = x_init, then x_{i+1} − A x_i − B u_i = c_i.
    pub fn dense_eq(&self, x_init: &[f64]) -> (DMatrix<f64>, DVector<f64>) {
        let (n, m, h) = (self.n, self.m, self.h);
        let mut cm = DMatrix::zeros((h + 1) * n, self.nz());
        let mut d = DVector::zeros((h + 1) * n);
        for j in 0..n {
            cm[(j, j)] = 1.0;
            d[j] = x_init[j];
        }
        for i in 0..h {
            let r0 = (i + 1) * n;
            let nxt = self.xi(i + 1);
            for j in 0..n {
                cm[(r0 + j, nxt + j)] = 1.0;
            }
            cm.view_mut((r0, self.xi(i)), (n, n))
                .copy_from(&(-&self.a[i]));
            cm.view_mut((r0, self.ui(i)), (n, m))
                .copy_from(&(-&self.b[i]));
            d.rows_mut(r0, n).copy_from(&self.c[i]);
        }
        (cm, d)
    }

    /// Dense inequality rows G ζ ≤ e, in the model's (stage, row) order.
    pub fn dense_ineq(&self) -> (DMatrix<f64>, DVector<f64>) {
        let (n, m) = (self.n, self.m);
        let k: usize = self.rows.iter().map(|r| r.rhs.len()).sum();
        let mut gm = DMatrix::zeros(k, self.nz());
        let mut e = DVector::zeros(k);
        let mut r0 = 0;
        for (i, rw) in self.rows.iter().enumerate() {
            let q = rw.rhs.len();
            gm.view_mut((r0, self.xi(i)), (q, n)).copy_from(&rw.gx);
            if i < self.h {
                gm.view_mut((r0, self.ui(i)), (q, m)).copy_from(&rw.gu);
            }
            e.rows_mut(r0, q).copy_from(&rw.rhs);
            r0 += q;
        }
        (gm, e)
    }
}

/// Stack a solution's ζ = (x_0, u_0, …, x_H).
pub fn zeta(sol: &Solution) -> Vec<f64> {
    let h = sol.u.len();
    let mut z = Vec::new();
    for i in 0..h {
        z.extend(sol.x[i].iter());
        z.extend(sol.u[i].iter());
    }
    z.extend(sol.x[h].iter());
    z
}

/// Stack (λ_0, λ_1, …, λ_H).
pub fn all_costates(sol: &Solution) -> Vec<f64> {
    let mut v: Vec<f64> = sol.lambda0.iter().copied().collect();
    v.extend(stack(&sol.costates));
    v
}

/// Reference solution of an equality-constrained QP: [H −Cᵀ; C 0][ζ; λ] = [−g; d] by LU.
pub fn dense_eq_qp(qp: &StagedQp, x_init: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let (hh, g) = qp.dense_cost();
    let (cm, d) = qp.dense_eq(x_init);
    let (nz, ne) = (qp.nz(), cm.nrows());
    let mut k = DMatrix::zeros(nz + ne, nz + ne);
    k.view_mut((0, 0), (nz, nz)).copy_from(&hh);
    k.view_mut((0, nz), (nz, ne)).copy_from(&(-cm.transpose()));
    k.view_mut((nz, 0), (ne, nz)).copy_from(&cm);
    let mut rhs = DVector::zeros(nz + ne);
    rhs.rows_mut(0, nz).copy_from(&(-g));
    rhs.rows_mut(nz, ne).copy_from(&d);
    let sol = k.lu().solve(&rhs).expect("KKT matrix nonsingular");
    (
        sol.rows(0, nz).iter().copied().collect(),
        sol.rows(nz, ne).iter().copied().collect(),
    )
}

fn csc(mat: &DMatrix<f64>, upper_only: bool) -> clarabel::algebra::CscMatrix<f64> {
    let (r, c) = mat.shape();
    let mut colptr = vec![0usize];
    let mut rowval = Vec::new();
    let mut nzval = Vec::new();
    for j in 0..c {
        for i in 0..r {
            if upper_only && i > j {
                break;
            }
            let v = mat[(i, j)];
            if v != 0.0 {
                rowval.push(i);
                nzval.push(v);
            }
        }
        colptr.push(rowval.len());
    }
    clarabel::algebra::CscMatrix::new(r, c, colptr, rowval, nzval)
}

/// Clarabel's solution of the QP, mapped to our conventions: (ζ, λ in paper convention for the
/// equality rows (λ = −z_eq), μ = z_ineq ≥ 0). `None` when Clarabel proves infeasibility.
pub fn clarabel_qp(qp: &StagedQp, x_init: &[f64]) -> Option<(Vec<f64>, Vec<f64>, Vec<f64>)> {
    use clarabel::solver::{
        DefaultSettings, DefaultSolver, IPSolver, NonnegativeConeT, SolverStatus, ZeroConeT,
    };
    let (hh, g) = qp.dense_cost();
    let (cm, d) = qp.dense_eq(x_init);
    let (gm, e) = qp.dense_ineq();
    let (ne, ni) = (cm.nrows(), gm.nrows());
    let mut am = DMatrix::zeros(ne + ni, qp.nz());
    am.view_mut((0, 0), (ne, qp.nz())).copy_from(&cm);
    am.view_mut((ne, 0), (ni, qp.nz())).copy_from(&gm);
    let mut b: Vec<f64> = d.iter().copied().collect();
    b.extend(e.iter());
    let mut cones = vec![ZeroConeT(ne)];
    if ni > 0 {
        cones.push(NonnegativeConeT(ni));
    }
    let settings = DefaultSettings {
        verbose: false,
        tol_gap_abs: 1e-13,
        tol_gap_rel: 1e-13,
        tol_feas: 1e-13,
        tol_ktratio: 1e-10,
        max_iter: 400,
        static_regularization_constant: 1e-12,
        iterative_refinement_reltol: 1e-16,
        iterative_refinement_abstol: 1e-16,
        iterative_refinement_max_iter: 50,
        ..Default::default()
    };
    let gv: Vec<f64> = g.iter().copied().collect();
    let mut solver =
        DefaultSolver::new(&csc(&hh, true), &gv, &csc(&am, false), &b, &cones, settings)
            .expect("clarabel setup");
    solver.solve();
    if matches!(
        solver.solution.status,
        SolverStatus::PrimalInfeasible | SolverStatus::AlmostPrimalInfeasible
    ) {
        return None;
    }
    assert!(
        matches!(
            solver.solution.status,
            SolverStatus::Solved | SolverStatus::AlmostSolved
        ),
        "clarabel status {:?}",
        solver.solution.status
    );
    let z = &solver.solution.z;
    Some((
        solver.solution.x.clone(),
        z[..ne].iter().map(|v| -v).collect(),
        z[ne..].to_vec(),
    ))
}

/// Exact solution of the QP with a given set of inequality rows held as equalities (dense LU
/// on [H −Cᵀ G_aᵀ; C 0 0; G_a 0 0]): (ζ, λ, μ with zeros on the other rows).
pub fn dense_active_qp(
    qp: &StagedQp,
    x_init: &[f64],
    active: &[bool],
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (hh, g) = qp.dense_cost();
    let (cm, d) = qp.dense_eq(x_init);
    let (gm, e) = qp.dense_ineq();
    let rows: Vec<usize> = (0..gm.nrows()).filter(|&k| active[k]).collect();
    let (nz, ne, na) = (qp.nz(), cm.nrows(), rows.len());
    let mut k = DMatrix::zeros(nz + ne + na, nz + ne + na);
    k.view_mut((0, 0), (nz, nz)).copy_from(&hh);
    k.view_mut((0, nz), (nz, ne)).copy_from(&(-cm.transpose()));
    k.view_mut((nz, 0), (ne, nz)).copy_from(&cm);
    let mut rhs = DVector::zeros(nz + ne + na);
    rhs.rows_mut(0, nz).copy_from(&(-g));
    rhs.rows_mut(nz, ne).copy_from(&d);
    for (a, &r) in rows.iter().enumerate() {
        for j in 0..nz {
            k[(j, nz + ne + a)] = gm[(r, j)];
            k[(nz + ne + a, j)] = gm[(r, j)];
        }
        rhs[nz + ne + a] = e[r];
    }
    let sol = k
        .lu()
        .solve(&rhs)
        .expect("active-set KKT matrix nonsingular");
    let mut mu = vec![0.0; gm.nrows()];
    for (a, &r) in rows.iter().enumerate() {
        mu[r] = sol[nz + ne + a];
    }
    (
        sol.rows(0, nz).iter().copied().collect(),
        sol.rows(nz, ne).iter().copied().collect(),
        mu,
    )
}
