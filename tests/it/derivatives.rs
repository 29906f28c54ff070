//! Derivative blocks of every built-in model against central finite differences
//! (`docs/spec/ALGORITHMS.md` §13 item 1).
//!
//! * first derivatives (f_x, f_u, c_x, c_u, g_x, g_u and the terminal c_x, g_x) against central
//!   differences of `f64` evaluations;
//! * the Lagrangian Hessian against central differences of the *analytic* gradient
//!   ∇_z ℓ = ∇_z c + f_zᵀλ + g_zᵀμ (values are never differenced twice);
//! * the curvature hint against the full evaluation;
//! * the θ-blocks (`stage_theta`) against central differences in θ;
//! * golden dynamics: the cart-pole at rest hanging down and the quadrotor in hover.
//!
//! Step h = 1e-6, error err(X, X̂) = ‖X − X̂‖_F / max(‖X̂‖_F, 1) ≤ 1e-6.

use diffop::dynamics::{cartpole, quadrotor};
use diffop::model::derivs::{Differentiator, StageBlock, ThetaBlock};
use diffop::model::tasks::init::{theta0_nonlinear, theta0_voltage};
use diffop::model::tasks::{NonlinearTask, Table1Policy, VoltagePolicy};
use diffop::model::{check_hints, Dims, HintPoint, OcpModel, Scalar};
use diffop::rng::{stream, Stream};
use nalgebra::{DMatrix, DVector};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::common::elementary;
use crate::common::no_hint;
use elementary::elementary;
use no_hint::NoHint;

const H: f64 = 1e-6;
const TOL: f64 = 1e-6;

/// err(X, X̂) = ‖X − X̂‖_F / max(‖X̂‖_F, 1).
fn err(x: &DMatrix<f64>, xhat: &DMatrix<f64>) -> f64 {
    assert_eq!(x.shape(), xhat.shape(), "shape mismatch");
    (x - xhat).norm() / xhat.norm().max(1.0)
}

fn col(v: &DVector<f64>) -> DMatrix<f64> {
    DMatrix::from_column_slice(v.len(), 1, v.as_slice())
}

fn row(v: &DVector<f64>) -> DMatrix<f64> {
    DMatrix::from_row_slice(1, v.len(), v.as_slice())
}

fn check(what: &str, x: &DMatrix<f64>, xhat: &DMatrix<f64>, tol: f64) {
    let e = err(x, xhat);
    if std::env::var_os("DIFFOP_DERIV_REPORT").is_some() {
        eprintln!("{e:9.2e}  {what}");
    }
    assert!(
        e <= tol,
        "{what}: err = {e:e} > {tol:e}\nanalytic {x}\nreference {xhat}"
    );
}

/// Central-difference Jacobian of `f` at `z0` (columns = ∂f/∂z_j).
fn fd_jac(z0: &[f64], mut f: impl FnMut(&[f64]) -> DVector<f64>) -> DMatrix<f64> {
    let mut z = z0.to_vec();
    let cols: Vec<DVector<f64>> = (0..z0.len())
        .map(|j| {
            z[j] = z0[j] + H;
            let p = f(&z);
            z[j] = z0[j] - H;
            let m = f(&z);
            z[j] = z0[j];
            (p - m) / (2.0 * H)
        })
        .collect();
    DMatrix::from_columns(&cols)
}

/// An evaluation point of a model.
#[derive(Clone, Debug)]
struct Point {
    i: usize,
    x: Vec<f64>,
    u: Vec<f64>,
    theta: Vec<f64>,
    ctx: Vec<f64>,
    /// λ_{i+1} (n).
    lam: Vec<f64>,
    /// Stage multipliers μ_i (n_path(i)).
    mu: Vec<f64>,
    /// Terminal multipliers (n_terminal).
    mu_h: Vec<f64>,
    /// Direction in z = (x, u) for the mixed θ-term (n + m).
    w: Vec<f64>,
}

/// Stage values (f, c, g) stacked as [f; c; g] in `f64`.
fn stage_vals<M: OcpModel>(model: &M, p: &Point, x: &[f64], u: &[f64], th: &[f64]) -> DVector<f64> {
    let Dims { n, .. } = model.dims();
    let q = model.n_path(p.i);
    let mut f = vec![0.0; n];
    let mut g = vec![0.0; q];
    model.dynamics(p.i, x, u, th, &p.ctx, &mut f);
    // Like the differentiator, only ask for constraints where the stage has some.
    if q > 0 {
        model.path_constraints(p.i, x, u, th, &p.ctx, &mut g);
    }
    let c = model.stage_cost(p.i, x, u, th, &p.ctx);
    let mut v = f;
    v.push(c);
    v.extend(g);
    DVector::from_vec(v)
}

/// Terminal values [c_H; g_H] in `f64`.
fn terminal_vals<M: OcpModel>(model: &M, p: &Point, x: &[f64], th: &[f64]) -> DVector<f64> {
    let mut g = vec![0.0; model.n_terminal()];
    model.terminal_constraints(x, th, &p.ctx, &mut g);
    let mut v = vec![model.terminal_cost(x, th, &p.ctx)];
    v.extend(g);
    DVector::from_vec(v)
}

fn stage_block<M: OcpModel>(model: &M, p: &Point, x: &[f64], u: &[f64], th: &[f64]) -> StageBlock {
    let Dims { n, m, .. } = model.dims();
    let mut out = StageBlock::new(n, m, model.n_path(p.i));
    Differentiator::new().stage(model, p.i, x, u, th, &p.ctx, &p.lam, &p.mu, &mut out);
    out
}

fn terminal_block<M: OcpModel>(model: &M, p: &Point, x: &[f64], th: &[f64]) -> StageBlock {
    // The terminal stage has no control: its Hessian is n×n.
    let n = model.dims().n;
    let mut out = StageBlock::new(n, 0, model.n_terminal());
    Differentiator::new().terminal(model, x, th, &p.ctx, &p.mu_h, &mut out);
    out
}

/// Analytic ∇_z ℓ = (c_x + f_xᵀλ + g_xᵀμ, c_u + f_uᵀλ + g_uᵀμ) from the first-derivative blocks.
fn stage_grad(b: &StageBlock, lam: &[f64], mu: &[f64]) -> DVector<f64> {
    let lam = DVector::from_column_slice(lam);
    let mu = DVector::from_column_slice(mu);
    let gx = &b.cx + b.fx.tr_mul(&lam) + b.gx.tr_mul(&mu);
    let gu = &b.cu + b.fu.tr_mul(&lam) + b.gu.tr_mul(&mu);
    DVector::from_iterator(gx.len() + gu.len(), gx.iter().chain(gu.iter()).copied())
}

/// Analytic ∇_x (c_H + μᵀg_H).
fn terminal_grad(b: &StageBlock, mu: &[f64]) -> DVector<f64> {
    &b.cx + b.gx.tr_mul(&DVector::from_column_slice(mu))
}

fn split(z: &[f64], n: usize) -> (&[f64], &[f64]) {
    z.split_at(n)
}

fn zvec(p: &Point) -> Vec<f64> {
    p.x.iter().chain(&p.u).copied().collect()
}

/// First derivatives and values of stage `p.i` and of the terminal stage against differences.
fn check_first<M: OcpModel>(model: &M, name: &str, p: &Point) {
    let Dims { n, m, .. } = model.dims();
    let q = model.n_path(p.i);
    let b = stage_block(model, p, &p.x, &p.u, &p.theta);
    let v = stage_vals(model, p, &p.x, &p.u, &p.theta);
    check(
        &format!("{name}: f"),
        &col(&b.f),
        &col(&v.rows(0, n).into_owned()),
        1e-14,
    );
    assert!(
        (b.c - v[n]).abs() <= 1e-14 * v[n].abs().max(1.0),
        "{name}: c"
    );
    check(
        &format!("{name}: g"),
        &col(&b.g),
        &col(&v.rows(n + 1, q).into_owned()),
        1e-14,
    );

    let j = fd_jac(&zvec(p), |z| {
        let (x, u) = split(z, n);
        stage_vals(model, p, x, u, &p.theta)
    });
    check(
        &format!("{name}: f_x"),
        &b.fx,
        &j.view((0, 0), (n, n)).into_owned(),
        TOL,
    );
    check(
        &format!("{name}: f_u"),
        &b.fu,
        &j.view((0, n), (n, m)).into_owned(),
        TOL,
    );
    check(
        &format!("{name}: c_x"),
        &row(&b.cx),
        &j.view((n, 0), (1, n)).into_owned(),
        TOL,
    );
    check(
        &format!("{name}: c_u"),
        &row(&b.cu),
        &j.view((n, n), (1, m)).into_owned(),
        TOL,
    );
    check(
        &format!("{name}: g_x"),
        &b.gx,
        &j.view((n + 1, 0), (q, n)).into_owned(),
        TOL,
    );
    check(
        &format!("{name}: g_u"),
        &b.gu,
        &j.view((n + 1, n), (q, m)).into_owned(),
        TOL,
    );

    let qh = model.n_terminal();
    let t = terminal_block(model, p, &p.x, &p.theta);
    let tv = terminal_vals(model, p, &p.x, &p.theta);
    assert!(
        (t.c - tv[0]).abs() <= 1e-14 * tv[0].abs().max(1.0),
        "{name}: c_H"
    );
    check(
        &format!("{name}: g_H"),
        &col(&t.g),
        &col(&tv.rows(1, qh).into_owned()),
        1e-14,
    );
    let jt = fd_jac(&p.x, |x| terminal_vals(model, p, x, &p.theta));
    check(
        &format!("{name}: c_H,x"),
        &row(&t.cx),
        &jt.view((0, 0), (1, n)).into_owned(),
        TOL,
    );
    check(
        &format!("{name}: g_H,x"),
        &t.gx,
        &jt.view((1, 0), (qh, n)).into_owned(),
        TOL,
    );
}

/// Lagrangian Hessians (stage and terminal) against differences of the analytic gradients.
fn check_hessian<M: OcpModel>(model: &M, name: &str, p: &Point) {
    let n = model.dims().n;
    let b = stage_block(model, p, &p.x, &p.u, &p.theta);
    let jh = fd_jac(&zvec(p), |z| {
        let (x, u) = split(z, n);
        stage_grad(&stage_block(model, p, x, u, &p.theta), &p.lam, &p.mu)
    });
    check(&format!("{name}: ∇²ℓ"), &b.hess, &jh, TOL);
    check(
        &format!("{name}: ∇²ℓ symmetric"),
        &b.hess,
        &b.hess.transpose(),
        1e-12,
    );

    let t = terminal_block(model, p, &p.x, &p.theta);
    let jt = fd_jac(&p.x, |x| {
        terminal_grad(&terminal_block(model, p, x, &p.theta), &p.mu_h)
    });
    check(&format!("{name}: ∇²ℓ_H"), &t.hess, &jt, TOL);
}

/// θ-blocks of the stage and of the terminal stage against differences in θ.
fn check_theta<M: OcpModel>(model: &M, name: &str, p: &Point) {
    let Dims { n, m, d, .. } = model.dims();
    let q = model.n_path(p.i);
    let lam = DVector::from_column_slice(&p.lam);
    let mu = DVector::from_column_slice(&p.mu);
    let w = DVector::from_column_slice(&p.w);

    let mut tb = ThetaBlock::new(n, q, d);
    let mut diff = Differentiator::new();
    diff.stage_theta(
        model,
        Some(p.i),
        &p.x,
        &p.u,
        &p.theta,
        &p.ctx,
        &p.lam,
        &p.mu,
        &p.w,
        &mut tb,
    );
    let jv = fd_jac(&p.theta, |th| stage_vals(model, p, &p.x, &p.u, th));
    check(
        &format!("{name}: f_θ"),
        &tb.f_theta,
        &jv.rows(0, n).into_owned(),
        TOL,
    );
    check(
        &format!("{name}: g_θ"),
        &tb.g_theta,
        &jv.rows(n + 1, q).into_owned(),
        TOL,
    );
    // ∇_θ ℓ = ∇_θ c + λᵀ f_θ + μᵀ g_θ, as the θ-derivative of the scalar ℓ.
    let jl = fd_jac(&p.theta, |th| {
        let v = stage_vals(model, p, &p.x, &p.u, th);
        let l = v[n] + v.rows(0, n).dot(&lam) + v.rows(n + 1, q).dot(&mu);
        DVector::from_element(1, l)
    });
    check(&format!("{name}: ℓ_θ"), &row(&tb.l_theta), &jl, TOL);
    let jw = fd_jac(&p.theta, |th| {
        let g = stage_grad(&stage_block(model, p, &p.x, &p.u, th), &p.lam, &p.mu);
        DVector::from_element(1, g.dot(&w))
    });
    check(&format!("{name}: (∇_zℓ·w)_θ"), &row(&tb.lw_theta), &jw, TOL);

    let qh = model.n_terminal();
    let wx = &p.w[..n];
    let mut th_b = ThetaBlock::new(n, qh, d);
    diff.stage_theta(
        model,
        None,
        &p.x,
        &[],
        &p.theta,
        &p.ctx,
        &[],
        &p.mu_h,
        wx,
        &mut th_b,
    );
    let muh = DVector::from_column_slice(&p.mu_h);
    let jt = fd_jac(&p.theta, |th| terminal_vals(model, p, &p.x, th));
    check(
        &format!("{name}: g_H,θ"),
        &th_b.g_theta,
        &jt.rows(1, qh).into_owned(),
        TOL,
    );
    assert!(
        th_b.f_theta.iter().all(|&v| v == 0.0),
        "{name}: terminal f_θ not zero"
    );
    let jlt = fd_jac(&p.theta, |th| {
        let v = terminal_vals(model, p, &p.x, th);
        DVector::from_element(1, v[0] + v.rows(1, qh).dot(&muh))
    });
    check(&format!("{name}: ℓ_H,θ"), &row(&th_b.l_theta), &jlt, TOL);
    let wxv = DVector::from_column_slice(wx);
    let jwt = fd_jac(&p.theta, |th| {
        let g = terminal_grad(&terminal_block(model, p, &p.x, th), &p.mu_h);
        DVector::from_element(1, g.dot(&wxv))
    });
    check(
        &format!("{name}: (∇_xℓ_H·w)_θ"),
        &row(&th_b.lw_theta),
        &jwt,
        TOL,
    );
    let _ = m;
}

/// The hinted evaluation gives the same blocks as the full one (the library's hint checker:
/// curvature hint on the tape and dual paths, compiled programs, linear–quadratic structure).
fn check_hint<M: OcpModel + Clone>(model: &M, name: &str, p: &Point) {
    assert!(
        model.stage_curvature_vars().is_some(),
        "{name}: no hint to check"
    );
    let point = HintPoint {
        stage: p.i,
        x: p.x.clone(),
        u: p.u.clone(),
        lam: p.lam.clone(),
        mu: p.mu.clone(),
        mu_terminal: p.mu_h.clone(),
    };
    let report = check_hints(model, &p.theta, &p.ctx, p.i + 1, &[point], 1e-12)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(report.curvature && report.points == 1, "{name}");
}

fn uniform(rng: &mut ChaCha8Rng, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * rng.random::<f64>()
}

fn uniform_vec(rng: &mut ChaCha8Rng, k: usize, lo: f64, hi: f64) -> Vec<f64> {
    (0..k).map(|_| uniform(rng, lo, hi)).collect()
}

/// A random state of a nonlinear task in a sensible range; quaternions are near unit length
/// (but not normalised: the models must not assume it).
fn random_state(task: NonlinearTask, rng: &mut ChaCha8Rng) -> Vec<f64> {
    match task {
        NonlinearTask::Cartpole => {
            vec![
                uniform(rng, -2.0, 2.0),
                uniform(rng, -1.0, 4.0),
                uniform(rng, -3.0, 3.0),
                uniform(rng, -4.0, 4.0),
            ]
        }
        NonlinearTask::Arm => {
            let mut x = uniform_vec(rng, 2, -3.0, 3.0);
            x.extend(uniform_vec(rng, 2, -2.0, 2.0));
            x
        }
        NonlinearTask::Quadrotor | NonlinearTask::Rocket => {
            let mut x = uniform_vec(rng, 3, -10.0, 10.0);
            x.extend(uniform_vec(rng, 3, -3.0, 3.0));
            let q = uniform_vec(rng, 4, -1.0, 1.0);
            let s = uniform(rng, 0.9, 1.1) / q.iter().map(|v| v * v).sum::<f64>().sqrt();
            x.extend(q.iter().map(|v| v * s));
            x.extend(uniform_vec(rng, 3, -1.5, 1.5));
            x
        }
    }
}

fn random_control(task: NonlinearTask, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let (_, m) = task.nm();
    match task {
        NonlinearTask::Cartpole | NonlinearTask::Arm => uniform_vec(rng, m, -10.0, 10.0),
        NonlinearTask::Quadrotor => uniform_vec(rng, m, 0.0, 6.0),
        NonlinearTask::Rocket => {
            let mut u = vec![uniform(rng, 5.0, 20.0)];
            u.extend(uniform_vec(rng, 2, -3.0, 3.0));
            u
        }
    }
}

fn table1_point(task: NonlinearTask, theta: &[f64], rng: &mut ChaCha8Rng) -> Point {
    let (n, m) = task.nm();
    Point {
        i: rng.random_range(0..5),
        x: random_state(task, rng),
        u: random_control(task, rng),
        theta: theta.to_vec(),
        ctx: vec![],
        lam: uniform_vec(rng, n, -1.0, 1.0),
        mu: vec![],
        mu_h: vec![],
        w: uniform_vec(rng, n + m, -1.0, 1.0),
    }
}

/// (θ label, θ) pairs of a task: θ(0) of run seed 0 and, where it exists, the oracle θ.
fn table1_thetas(task: NonlinearTask) -> Vec<(&'static str, Vec<f64>)> {
    let mut v = vec![(
        "θ(0)",
        theta0_nonlinear(task, &mut stream(0, Stream::ThetaInit)),
    )];
    if let Some(o) = task.oracle_theta() {
        v.push(("oracle θ", o));
    }
    v
}

fn voltage_point(model: &VoltagePolicy, i: usize, rng: &mut ChaCha8Rng) -> Point {
    let ctx = VoltagePolicy::context(&[0.81, 0.74, 0.75], &[-1.0; 3], &[1.0; 3]);
    let mut x = uniform_vec(rng, 3, 0.7, 1.1);
    x.extend(uniform_vec(rng, 3, -1.0, 1.0));
    let mut theta = theta0_voltage(&mut stream(0, Stream::ThetaInit));
    theta[..3].copy_from_slice(&uniform_vec(rng, 3, 0.5, 3.0));
    Point {
        i,
        x,
        u: uniform_vec(rng, 3, -0.5, 0.5),
        theta,
        ctx,
        lam: uniform_vec(rng, 6, -1.0, 1.0),
        mu: uniform_vec(rng, model.n_path(i), 0.0, 1.0),
        mu_h: uniform_vec(rng, model.n_terminal(), 0.0, 1.0),
        w: uniform_vec(rng, 9, -1.0, 1.0),
    }
}

fn voltage_models() -> Vec<(&'static str, VoltagePolicy)> {
    vec![
        ("voltage", VoltagePolicy::default()),
        (
            "voltage (lag-free)",
            VoltagePolicy {
                lag_free: true,
                ..VoltagePolicy::default()
            },
        ),
    ]
}

#[test]
fn table1_first_derivatives() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    for task in NonlinearTask::ALL {
        let model = Table1Policy::new(task);
        for (label, theta) in table1_thetas(task) {
            for _ in 0..3 {
                let p = table1_point(task, &theta, &mut rng);
                check_first(&model, &format!("{} at {label}", task.name()), &p);
            }
        }
    }
}

#[test]
fn table1_lagrangian_hessians() {
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    for task in NonlinearTask::ALL {
        let model = Table1Policy::new(task);
        for (label, theta) in table1_thetas(task) {
            for _ in 0..3 {
                let p = table1_point(task, &theta, &mut rng);
                check_hessian(&model, &format!("{} at {label}", task.name()), &p);
            }
        }
    }
}

/// The Table-1 curvature hints (coupled and diagonal-only variables) give exactly the full
/// evaluation's blocks, and the full Hessian has no curvature outside the hint.
#[test]
fn table1_hints_match_full_evaluation() {
    let mut rng = ChaCha8Rng::seed_from_u64(16);
    for task in NonlinearTask::ALL {
        let model = Table1Policy::new(task);
        let (coupled, diag) = task.curvature_structure();
        let full = NoHint(model.clone());
        for (label, theta) in table1_thetas(task) {
            for _ in 0..3 {
                let p = table1_point(task, &theta, &mut rng);
                let name = format!("{} at {label}", task.name());
                check_hint(&model, &name, &p);
                let b = stage_block(&full, &p, &p.x, &p.u, &p.theta);
                assert_hint_covers(&b.hess, coupled, diag, &name);
            }
        }
    }
}

/// Every Hessian entry outside coupled×coupled and the diagonal of `diag` is exactly zero.
fn assert_hint_covers(h: &DMatrix<f64>, coupled: &[usize], diag: &[usize], name: &str) {
    for r in 0..h.nrows() {
        for c in 0..h.ncols() {
            let inside =
                (coupled.contains(&r) && coupled.contains(&c)) || (r == c && diag.contains(&r));
            if !inside {
                assert_eq!(
                    h[(r, c)],
                    0.0,
                    "{name}: curvature outside the hint at ({r}, {c})"
                );
            }
        }
    }
}

#[test]
fn table1_theta_blocks() {
    let mut rng = ChaCha8Rng::seed_from_u64(13);
    for task in NonlinearTask::ALL {
        let model = Table1Policy::new(task);
        for (label, theta) in table1_thetas(task) {
            for _ in 0..2 {
                let p = table1_point(task, &theta, &mut rng);
                check_theta(&model, &format!("{} at {label}", task.name()), &p);
            }
        }
    }
}

#[test]
fn voltage_derivatives() {
    let mut rng = ChaCha8Rng::seed_from_u64(14);
    for (name, model) in voltage_models() {
        assert!(model
            .check_context(&voltage_point(&model, 0, &mut rng).ctx)
            .is_ok());
        // Stage 0 has no path constraints, later stages have the six q bounds.
        for i in [0, 1, 4] {
            for _ in 0..2 {
                let p = voltage_point(&model, i, &mut rng);
                let name = format!("{name} stage {i}");
                check_first(&model, &name, &p);
                check_hessian(&model, &name, &p);
                check_theta(&model, &name, &p);
                check_hint(&model, &name, &p);
            }
        }
    }
}

/// The voltage hint also holds on the no-hint wrapper's own derivative tests, and every
/// Hessian entry outside the hinted variables is exactly zero in the full evaluation.
#[test]
fn voltage_hint_covers_all_curvature() {
    let mut rng = ChaCha8Rng::seed_from_u64(15);
    for (name, model) in voltage_models() {
        let vars = model
            .stage_curvature_vars()
            .map(<[usize]>::to_vec)
            .unwrap_or_default();
        let diag = model.stage_diagonal_vars().to_vec();
        let full = NoHint(model.clone());
        for i in [0, 2] {
            let p = voltage_point(&model, i, &mut rng);
            check_hessian(&full, &format!("{name} (no hint) stage {i}"), &p);
            let b = stage_block(&full, &p, &p.x, &p.u, &p.theta);
            assert_hint_covers(&b.hess, &vars, &diag, name);
        }
    }
}

/// The Hessian check can see the dynamics curvature: dropping λ changes ∇²ℓ by more than 100×
/// the tolerance for every task (so a missing or wrong fᵀλ term would fail the test).
#[test]
fn hessian_check_sees_the_dynamics_curvature() {
    let mut rng = ChaCha8Rng::seed_from_u64(16);
    for task in NonlinearTask::ALL {
        let model = Table1Policy::new(task);
        for (label, theta) in table1_thetas(task) {
            let p = table1_point(task, &theta, &mut rng);
            let mut p0 = p.clone();
            p0.lam.fill(0.0);
            let with = stage_block(&model, &p, &p.x, &p.u, &p.theta).hess;
            let without = stage_block(&model, &p0, &p.x, &p.u, &p.theta).hess;
            let e = err(&with, &without);
            assert!(
                e > 1e2 * TOL,
                "{} at {label}: λ-curvature only {e:e}",
                task.name()
            );
        }
    }
}

/// One differentiator reused across models, stages and sizes (its dual scratch is kept between
/// calls) gives the same blocks as fresh ones.
#[test]
fn differentiator_reuse_matches_fresh() {
    let mut rng = ChaCha8Rng::seed_from_u64(17);
    let mut shared = Differentiator::new();
    let volt = VoltagePolicy::default();
    for round in 0..2 {
        for i in [1, 0, 3] {
            let p = voltage_point(&volt, i, &mut rng);
            let mut a = StageBlock::new(6, 3, volt.n_path(i));
            shared.stage(
                &volt, i, &p.x, &p.u, &p.theta, &p.ctx, &p.lam, &p.mu, &mut a,
            );
            let b = stage_block(&volt, &p, &p.x, &p.u, &p.theta);
            assert_eq!(
                (&a.hess, &a.fx, &a.gx, &a.cu),
                (&b.hess, &b.fx, &b.gx, &b.cu),
                "round {round}"
            );
            let mut t = StageBlock::new(6, 0, 6);
            shared.terminal(&volt, &p.x, &p.theta, &p.ctx, &p.mu_h, &mut t);
            assert_eq!(t.hess, terminal_block(&volt, &p, &p.x, &p.theta).hess);
        }
        for task in [NonlinearTask::Quadrotor, NonlinearTask::Cartpole] {
            let model = Table1Policy::new(task);
            let (n, m) = task.nm();
            let theta = theta0_nonlinear(task, &mut stream(round, Stream::ThetaInit));
            let p = table1_point(task, &theta, &mut rng);
            let mut a = StageBlock::new(n, m, 0);
            shared.stage(&model, p.i, &p.x, &p.u, &p.theta, &[], &p.lam, &[], &mut a);
            let b = stage_block(&model, &p, &p.x, &p.u, &p.theta);
            assert_eq!(
                (&a.hess, &a.fx, &a.fu, &a.cx),
                (&b.hess, &b.fx, &b.fu, &b.cx)
            );
            let mut ta = ThetaBlock::new(n, 0, model.n_theta());
            let mut tb = ta.clone();
            shared.stage_theta(
                &model,
                Some(p.i),
                &p.x,
                &p.u,
                &p.theta,
                &[],
                &p.lam,
                &[],
                &p.w,
                &mut ta,
            );
            Differentiator::new().stage_theta(
                &model,
                Some(p.i),
                &p.x,
                &p.u,
                &p.theta,
                &[],
                &p.lam,
                &[],
                &p.w,
                &mut tb,
            );
            assert_eq!(
                (&ta.l_theta, &ta.lw_theta, &ta.f_theta),
                (&tb.l_theta, &tb.lw_theta, &tb.f_theta)
            );
        }
    }
}

#[test]
fn golden_cartpole_hanging_at_rest_stays_at_rest() {
    let x = [0.0; 4];
    let mut next = [1.0; 4];
    NonlinearTask::Cartpole.step(&x, &[0.0], &cartpole::PHI_TRUE, &mut next);
    assert_eq!(next, x);
    // The same through the policy model at θ_f = φ_f,true.
    let model = Table1Policy::new(NonlinearTask::Cartpole);
    let theta = NonlinearTask::Cartpole.oracle_theta().unwrap_or_default();
    model.dynamics(0, &x, &[0.0], &theta, &[], &mut next);
    assert_eq!(next, x);
}

#[test]
fn golden_quadrotor_hover_keeps_velocity() {
    let mut x = [0.0; 13];
    x[..3].copy_from_slice(&[1.0, -2.0, 3.0]);
    x[3..6].copy_from_slice(&[0.3, -0.2, 0.1]);
    x[6] = 1.0;
    let u = [2.5; 4];
    assert_eq!(quadrotor::PHI_TRUE[3], 1.0, "hover thrust assumes m = 1");
    let mut next = [0.0; 13];
    NonlinearTask::Quadrotor.step(&x, &u, &quadrotor::PHI_TRUE, &mut next);
    assert_eq!(&next[3..6], &x[3..6], "v changed in hover");
    assert_eq!(&next[6..13], &x[6..13], "attitude or rate changed in hover");
    for k in 0..3 {
        assert!((next[k] - (x[k] + 0.1 * x[3 + k])).abs() < 1e-15);
    }
}

fn cartpole_point() -> impl Strategy<Value = Point> {
    (
        prop::collection::vec(-3.0..3.0f64, 4),
        -10.0..10.0f64,
        prop::collection::vec(0.0..6.0f64, 8),
        prop::collection::vec(0.2..2.0f64, 3),
        prop::collection::vec(-1.0..1.0f64, 9),
    )
        .prop_map(|(x, u, wts, phi, r)| {
            let mut theta = wts;
            theta.extend(phi);
            Point {
                i: 0,
                x,
                u: vec![u],
                theta,
                ctx: vec![],
                lam: r[..4].to_vec(),
                mu: vec![],
                mu_h: vec![],
                w: r[4..].to_vec(),
            }
        })
}

fn quadrotor_point() -> impl Strategy<Value = Point> {
    (
        prop::collection::vec(-4.0..4.0f64, 6),
        prop::collection::vec(-1.2..1.2f64, 4),
        prop::collection::vec(-2.0..2.0f64, 3),
        prop::collection::vec(0.0..8.0f64, 4),
        prop::collection::vec(0.0..5.0f64, 26),
        prop::collection::vec(0.2..2.0f64, 5),
        prop::collection::vec(-1.0..1.0f64, 30),
    )
        .prop_map(|(rv, q, w, u, wts, phi, r)| {
            let mut x = rv;
            x.extend(q);
            x.extend(w);
            let mut theta = wts;
            theta.extend(phi);
            Point {
                i: 0,
                x,
                u,
                theta,
                ctx: vec![],
                lam: r[..13].to_vec(),
                mu: vec![],
                mu_h: vec![],
                w: r[13..].to_vec(),
            }
        })
}

// Ranges keep c below ~3e3, so the round-off of a central difference, ≈ ulp(c)/h ≤ 5e-7 even
// where the gradient is tiny (the error floor is absolute there), stays under the 1e-6 bound.
proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn prop_cartpole_first_derivatives(p in cartpole_point()) {
        let model = Table1Policy::new(NonlinearTask::Cartpole);
        check_first(&model, "cartpole (proptest)", &p);
        let mut tb = ThetaBlock::new(4, 0, 11);
        Differentiator::new().stage_theta(&model, Some(0), &p.x, &p.u, &p.theta, &p.ctx, &p.lam, &p.mu, &p.w, &mut tb);
        let jv = fd_jac(&p.theta, |th| stage_vals(&model, &p, &p.x, &p.u, th));
        check("cartpole (proptest): f_θ", &tb.f_theta, &jv.rows(0, 4).into_owned(), TOL);
    }

    #[test]
    fn prop_quadrotor_first_derivatives(p in quadrotor_point()) {
        let model = Table1Policy::new(NonlinearTask::Quadrotor);
        check_first(&model, "quadrotor (proptest)", &p);
        let mut tb = ThetaBlock::new(13, 0, 31);
        Differentiator::new().stage_theta(&model, Some(0), &p.x, &p.u, &p.theta, &p.ctx, &p.lam, &p.mu, &p.w, &mut tb);
        let jv = fd_jac(&p.theta, |th| stage_vals(&model, &p, &p.x, &p.u, th));
        check("quadrotor (proptest): f_θ", &tb.f_theta, &jv.rows(0, 13).into_owned(), TOL);
    }
}

/// err with a 1e-12 relative floor: the tape and the dual numbers compute the same exact
/// derivatives in a different order of operations, so they agree to round-off.
fn check_same(what: &str, a: &DMatrix<f64>, b: &DMatrix<f64>) {
    let e = (a - b).norm() / b.norm().max(1.0);
    assert!(
        e <= 1e-12,
        "{what}: tape vs num-dual err = {e:e}\ntape {a}\nnum-dual {b}"
    );
}

fn compare_tape_with_dual<M: OcpModel>(model: &M, name: &str, p: &Point) {
    let Dims { n, m, d, .. } = model.dims();
    let q = model.n_path(p.i);
    let mut a = StageBlock::new(n, m, q);
    let mut b = StageBlock::new(n, m, q);
    let mut diff = Differentiator::new();
    diff.stage(
        model, p.i, &p.x, &p.u, &p.theta, &p.ctx, &p.lam, &p.mu, &mut a,
    );
    diff.stage_dual(
        model, p.i, &p.x, &p.u, &p.theta, &p.ctx, &p.lam, &p.mu, &mut b,
    );
    assert_eq!(a.c, b.c, "{name}: c");
    check_same(&format!("{name} f"), &col(&a.f), &col(&b.f));
    check_same(&format!("{name} g"), &col(&a.g), &col(&b.g));
    check_same(&format!("{name} cx"), &col(&a.cx), &col(&b.cx));
    check_same(&format!("{name} cu"), &col(&a.cu), &col(&b.cu));
    check_same(&format!("{name} fx"), &a.fx, &b.fx);
    check_same(&format!("{name} fu"), &a.fu, &b.fu);
    check_same(&format!("{name} gx"), &a.gx, &b.gx);
    check_same(&format!("{name} gu"), &a.gu, &b.gu);
    check_same(&format!("{name} hess"), &a.hess, &b.hess);
    let qh = model.n_terminal();
    let mut ta = StageBlock::new(n, 0, qh);
    let mut tb = StageBlock::new(n, 0, qh);
    diff.terminal(model, &p.x, &p.theta, &p.ctx, &p.mu_h, &mut ta);
    diff.terminal_dual(model, &p.x, &p.theta, &p.ctx, &p.mu_h, &mut tb);
    assert_eq!(ta.c, tb.c, "{name}: c_H");
    check_same(&format!("{name} terminal cx"), &col(&ta.cx), &col(&tb.cx));
    check_same(&format!("{name} terminal gx"), &ta.gx, &tb.gx);
    check_same(&format!("{name} terminal hess"), &ta.hess, &tb.hess);
    for stage in [Some(p.i), None] {
        let (qq, w) = match stage {
            Some(_) => (q, &p.w[..]),
            None => (qh, &p.w[..n]),
        };
        let mut ha = ThetaBlock::new(n, qq, d);
        let mut hb = ThetaBlock::new(n, qq, d);
        let mu = if stage.is_some() { &p.mu } else { &p.mu_h };
        diff.stage_theta(
            model, stage, &p.x, &p.u, &p.theta, &p.ctx, &p.lam, mu, w, &mut ha,
        );
        diff.stage_theta_dual(
            model, stage, &p.x, &p.u, &p.theta, &p.ctx, &p.lam, mu, w, &mut hb,
        );
        let what = format!("{name} theta {stage:?}");
        check_same(
            &format!("{what} l_theta"),
            &col(&ha.l_theta),
            &col(&hb.l_theta),
        );
        check_same(
            &format!("{what} lw_theta"),
            &col(&ha.lw_theta),
            &col(&hb.lw_theta),
        );
        check_same(&format!("{what} f_theta"), &ha.f_theta, &hb.f_theta);
        check_same(&format!("{what} g_theta"), &ha.g_theta, &hb.g_theta);
        // all unit directions at once
        let k = if stage.is_some() { n + m } else { n };
        let mut ball = DMatrix::zeros(k, d);
        let mut hall = ThetaBlock::new(n, qq, d);
        diff.stage_theta_all(
            model, stage, &p.x, &p.u, &p.theta, &p.ctx, &p.lam, mu, &mut ball, &mut hall,
        );
        check_same(
            &format!("{what} all l_theta"),
            &col(&hall.l_theta),
            &col(&hb.l_theta),
        );
        check_same(&format!("{what} all f_theta"), &hall.f_theta, &hb.f_theta);
        check_same(&format!("{what} all g_theta"), &hall.g_theta, &hb.g_theta);
        let mut bref = DMatrix::zeros(k, d);
        for r in 0..k {
            let mut e = vec![0.0; k];
            e[r] = 1.0;
            diff.stage_theta_dual(
                model, stage, &p.x, &p.u, &p.theta, &p.ctx, &p.lam, mu, &e, &mut hb,
            );
            for j in 0..d {
                bref[(r, j)] = hb.lw_theta[j];
            }
        }
        check_same(&format!("{what} all B"), &ball, &bref);
    }
}

/// The tape-based derivative path (`stage`, `terminal`, `stage_theta`) against the num-dual
/// reference path on every built-in model, at random points, reusing one differentiator.
#[test]
fn tape_matches_num_dual_reference() {
    let mut rng = ChaCha8Rng::seed_from_u64(23);
    for task in NonlinearTask::ALL {
        let model = Table1Policy::new(task);
        for (label, theta) in table1_thetas(task) {
            for _ in 0..5 {
                let p = table1_point(task, &theta, &mut rng);
                compare_tape_with_dual(&model, &format!("{} {label}", task.name()), &p);
            }
        }
    }
    for (label, model) in voltage_models() {
        for i in 0..4 {
            let p = voltage_point(&model, i, &mut rng);
            compare_tape_with_dual(&model, &format!("voltage {label} stage {i}"), &p);
        }
    }
}

/// Elementary operations of the tape scalar against num-dual's second-order duals.
#[test]
fn tape_scalar_elementary_operations() {
    use diffop::model::tape::{AVar, Tape};
    type D2 = num_dual::Dual2SVec64<2>;
    fn f<S: Scalar>(a: S, b: S) -> S {
        elementary(a, b) + a.sph_j0() + b.sph_j1() + a.sph_j2()
    }
    for &(a, b) in &[(0.7, 1.3), (0.2, 0.9), (1.1, 2.4)] {
        let mut tape = Tape::new();
        tape.begin();
        let (ta, tb): (AVar, AVar) = (tape.input(a), tape.input(b));
        let y = f(ta, tb);
        tape.end();
        tape.forward(2, &[1.0, 0.0, 0.0, 1.0]);
        let mut g = [0.0; 2];
        tape.tangent(y, &mut g);
        tape.reverse_second(&[(y, 1.0)], false);
        let da = D2::from_re(a).derivative(0);
        let db = D2::from_re(b).derivative(1);
        let yd = f(da, db);
        assert!((y.value() - yd.re).abs() <= 1e-12 * yd.re.abs().max(1.0));
        let v1 = yd.v1.0.unwrap();
        let v2 = yd.v2.0.unwrap();
        for j in 0..2 {
            assert!(
                (g[j] - v1[j]).abs() <= 1e-11 * v1[j].abs().max(1.0),
                "grad {j}"
            );
            assert!(
                (tape.grad(j) - v1[j]).abs() <= 1e-11 * v1[j].abs().max(1.0),
                "rev grad {j}"
            );
            for l in 0..2 {
                let h = tape.hess_row(j)[l];
                assert!(
                    (h - v2[(j, l)]).abs() <= 1e-10 * v2[(j, l)].abs().max(1.0),
                    "hess {j}{l}: {h} vs {}",
                    v2[(j, l)]
                );
            }
        }
    }
}
