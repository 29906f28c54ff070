//! Sensitivities (issue 3): full Jacobian vs central finite differences of re-solved problems,
//! structured vs dense Proposition 1, vᵀJ vs VJP, ∇θV vs finite differences of V.

use crate::common;

use common::{err, random_nonlinear, random_voltage, rng};
use diffop::model::tasks::{NonlinearTask, Table1Policy, VoltagePolicy};
use diffop::model::OcpModel;
use diffop::sensitivity::{self, dense::DenseKkt, Seed};
use diffop::solver::{Solution, SolverSettings, WarmStart, Workspace};
use nalgebra::DMatrix;
use rand::Rng;

/// Stack the controls of a solution (H·m).
fn controls(sol: &Solution) -> Vec<f64> {
    sol.u.iter().flat_map(|v| v.iter().copied()).collect()
}

fn active_pattern(sol: &Solution) -> Vec<Vec<bool>> {
    sol.active.clone()
}

/// Central finite differences of u*(θ) with the nominal solution as the common guess.
/// Returns None when the active set changes at θ ± h e_j.
fn fd_jacobian<M: OcpModel>(
    ws: &mut Workspace,
    model: &M,
    x0: &[f64],
    theta: &[f64],
    ctx: &[f64],
) -> Option<DMatrix<f64>> {
    let sol = ws
        .solve(model, x0, theta, ctx, WarmStart::Cold)
        .unwrap()
        .clone();
    assert!(
        sol.status.is_polished(),
        "nominal solve failed: {:?}",
        sol.status
    );
    let xg: Vec<f64> = sol.x.iter().flat_map(|v| v.iter().copied()).collect();
    let ug = controls(&sol);
    let act = active_pattern(&sol);
    let d = theta.len();
    let mut jac = DMatrix::zeros(ug.len(), d);
    for j in 0..d {
        let h = 1e-5 * theta[j].abs().max(1.0);
        let mut cols = Vec::new();
        for sgn in [1.0, -1.0] {
            let mut th = theta.to_vec();
            th[j] += sgn * h;
            ws.set_guess(&xg, &ug).unwrap();
            let s = ws.solve(model, x0, &th, ctx, WarmStart::Current).unwrap();
            assert!(
                s.status.is_polished(),
                "perturbed solve failed: {:?}",
                s.status
            );
            if active_pattern(s) != act {
                return None;
            }
            cols.push(controls(s));
        }
        for r in 0..ug.len() {
            jac[(r, j)] = (cols[0][r] - cols[1][r]) / (2.0 * h);
        }
    }
    // restore the nominal solution in the workspace
    ws.set_guess(&xg, &ug).unwrap();
    ws.solve(model, x0, theta, ctx, WarmStart::Current).unwrap();
    Some(jac)
}

fn structured_u(jac: &sensitivity::Jacobian) -> DMatrix<f64> {
    let h = jac.u.len();
    let (m, d) = jac.u[0].shape();
    let mut out = DMatrix::zeros(h * m, d);
    for i in 0..h {
        out.view_mut((i * m, 0), (m, d)).copy_from(&jac.u[i]);
    }
    out
}

/// All checks at one problem instance. Returns false when the FD test point was skipped.
fn check_instance<M: OcpModel>(
    ws: &mut Workspace,
    model: &M,
    x0: &[f64],
    theta: &[f64],
    ctx: &[f64],
    seed: u64,
) -> bool {
    let Some(fd) = fd_jacobian(ws, model, x0, theta, ctx) else {
        return false;
    };
    let jac = sensitivity::jacobian(ws, model).unwrap();
    let ju = structured_u(&jac);
    let e_fd = err(&ju, &fd);
    assert!(
        e_fd <= 1e-6,
        "{}: Jacobian vs FD err {e_fd:e} (seed {seed}, active {}, weak {})",
        model.name(),
        ws.solution().n_active(),
        ws.solution().weakly_active
    );
    // dense KKT reference on the whole ζ
    let dk = DenseKkt::assemble(ws, model).unwrap();
    let z = dk.solve_kkt().unwrap();
    let zu = dk.controls(&z);
    let e_dense = err(&ju, &zu);
    assert!(
        e_dense <= 1e-9,
        "{}: structured vs dense err {e_dense:e}",
        model.name()
    );
    // VJP vs vᵀJ with a random seed on all controls and states
    let (n, m, d) = ws.dims();
    let h = ws.horizon();
    let mut r = rng(seed);
    let su: Vec<f64> = (0..h * m).map(|_| r.random::<f64>() - 0.5).collect();
    let sx: Vec<f64> = (0..(h + 1) * n).map(|_| r.random::<f64>() - 0.5).collect();
    let mut v = vec![0.0; d];
    sensitivity::vjp(
        ws,
        model,
        Seed {
            x: Some(&sx),
            u: Some(&su),
        },
        &mut v,
    )
    .unwrap();
    let mut vref = vec![0.0; d];
    for k in 0..d {
        for i in 0..h {
            for j in 0..m {
                vref[k] += su[i * m + j] * jac.u[i][(j, k)];
            }
        }
        for i in 0..=h {
            for j in 0..n {
                vref[k] += sx[i * n + j] * jac.x[i][(j, k)];
            }
        }
    }
    let num: f64 = v
        .iter()
        .zip(&vref)
        .map(|(a, b)| (a - b).powi(2))
        .sum::<f64>()
        .sqrt();
    let den: f64 = vref.iter().map(|b| b * b).sum::<f64>().sqrt().max(1e-300);
    assert!(
        num / den <= 1e-12,
        "{}: VJP vs vᵀJ rel {:e}",
        model.name(),
        num / den
    );
    true
}

fn run_nonlinear(task: NonlinearTask, samples: usize) {
    let model = Table1Policy::new(task);
    let mut ws = Workspace::new(&model, task.step_horizon(), SolverSettings::default()).unwrap();
    let mut r = rng(17 + task as u64);
    let mut ok = 0;
    for s in 0..samples {
        let (x0, theta) = random_nonlinear(task, &mut r);
        if check_instance(&mut ws, &model, &x0, &theta, &[], s as u64) {
            ok += 1;
        }
    }
    assert!(
        ok * 10 >= samples * 9,
        "{:?}: only {ok}/{samples} usable points",
        task
    );
}

#[test]
fn cartpole_jacobian_fd_dense_vjp() {
    run_nonlinear(NonlinearTask::Cartpole, 50);
}

#[test]
fn arm_jacobian_fd_dense_vjp() {
    run_nonlinear(NonlinearTask::Arm, 50);
}

#[test]
fn quadrotor_jacobian_fd_dense_vjp() {
    run_nonlinear(NonlinearTask::Quadrotor, 50);
}

fn run_voltage(h: usize, samples: usize) -> usize {
    let model = VoltagePolicy::default();
    let mut ws = Workspace::new(&model, h, SolverSettings::default()).unwrap();
    let mut r = rng(99 + h as u64);
    let mut ok = 0;
    let mut with_active = 0;
    let mut last_stage_active = 0;
    let mut weak = 0;
    for s in 0..samples {
        let (x0, theta, ctx) = random_voltage(&mut r);
        if check_instance(&mut ws, &model, &x0, &theta, &ctx, s as u64) {
            ok += 1;
            let sol = ws.solution();
            if sol.n_active() > 0 {
                with_active += 1;
            }
            if sol.active[h - 1].iter().any(|&a| a) || sol.active[h].iter().any(|&a| a) {
                last_stage_active += 1;
            }
            weak += sol.weakly_active;
        }
    }
    assert!(
        ok * 10 >= samples * 8,
        "voltage H{h}: only {ok}/{samples} usable points"
    );
    assert!(with_active > 0, "voltage H{h}: no case with active limits");
    assert!(
        last_stage_active > 0,
        "voltage H{h}: no case active at the last stages"
    );
    // q_H = q_{H−1} (u*_{H−1} = 0 by the lag), so a bound active at stage H−1 repeats at the
    // terminal stage with zero multiplier: a weakly active row. The ratio test classifies it
    // either way; when it is classified active the polish finds μ = 0 and drops it (counted).
    println!("voltage H{h}: {ok} points, {with_active} with active limits, {last_stage_active} active at the last stages, {weak} weakly active rows");
    ok
}

#[test]
fn voltage_h6_jacobian_fd_dense_vjp() {
    run_voltage(6, 50);
}

#[test]
fn voltage_h30_jacobian_fd_dense_vjp() {
    run_voltage(30, 50);
}

#[test]
fn quadrotor_singular_terminal_hessian() {
    // Oracle weights: θ on q0 is 0, so the terminal Hessian is singular in q0.
    let task = NonlinearTask::Quadrotor;
    let model = Table1Policy::new(task);
    let theta = task.oracle_theta().unwrap();
    let mut ws = Workspace::new(&model, 12, SolverSettings::default()).unwrap();
    let mut x0 = vec![0.0; 13];
    x0[0] = -8.0;
    x0[1] = -6.0;
    x0[2] = 9.0;
    x0[6] = 1.0;
    assert!(check_instance(&mut ws, &model, &x0, &theta, &[], 5));
    let dk = DenseKkt::assemble(&mut ws, &model).unwrap();
    // D is singular (q0 column of the terminal block), so only the KKT route applies.
    let off = dk.x_offsets[12] + 6;
    assert_eq!(dk.d.column(off).norm(), 0.0);
}

#[test]
fn prop1_formula_matches_kkt_when_d_invertible() {
    let task = NonlinearTask::Cartpole;
    let model = Table1Policy::new(task);
    let mut ws = Workspace::new(&model, 6, SolverSettings::default()).unwrap();
    let mut r = rng(3);
    for _ in 0..5 {
        let (x0, theta) = random_nonlinear(task, &mut r);
        ws.solve(&model, &x0, &theta, &[], WarmStart::Cold).unwrap();
        let dk = DenseKkt::assemble(&mut ws, &model).unwrap();
        let z1 = dk.solve_kkt().unwrap();
        let z2 = dk.solve_prop1().unwrap();
        assert!(
            err(&z2, &z1) < 1e-8,
            "Prop. 1 formula vs KKT {:e}",
            err(&z2, &z1)
        );
    }
}

#[test]
fn value_gradient_matches_fd() {
    let mut r = rng(11);
    let task = NonlinearTask::Arm;
    let model = Table1Policy::new(task);
    let mut ws = Workspace::new(&model, 12, SolverSettings::default()).unwrap();
    let (x0, theta) = random_nonlinear(task, &mut r);
    check_value(&mut ws, &model, &x0, &theta, &[]);
    let vm = VoltagePolicy::default();
    let mut wv = Workspace::new(&vm, 6, SolverSettings::default()).unwrap();
    for _ in 0..5 {
        let (x0, theta, ctx) = random_voltage(&mut r);
        check_value(&mut wv, &vm, &x0, &theta, &ctx);
    }
}

fn check_value<M: OcpModel>(ws: &mut Workspace, model: &M, x0: &[f64], theta: &[f64], ctx: &[f64]) {
    ws.solve(model, x0, theta, ctx, WarmStart::Cold).unwrap();
    let vg = sensitivity::value_gradient(ws, model).unwrap();
    let sol = ws.solution().clone();
    let xg: Vec<f64> = sol.x.iter().flat_map(|v| v.iter().copied()).collect();
    let ug = controls(&sol);
    let mut fd = vec![0.0; theta.len()];
    for j in 0..theta.len() {
        let h = 1e-5 * theta[j].abs().max(1.0);
        let mut vals = [0.0; 2];
        for (k, sgn) in [1.0, -1.0].into_iter().enumerate() {
            let mut th = theta.to_vec();
            th[j] += sgn * h;
            ws.set_guess(&xg, &ug).unwrap();
            vals[k] = ws
                .solve(model, x0, &th, ctx, WarmStart::Current)
                .unwrap()
                .objective;
        }
        fd[j] = (vals[0] - vals[1]) / (2.0 * h);
    }
    let a = DMatrix::from_column_slice(fd.len(), 1, vg.theta.as_slice());
    let b = DMatrix::from_column_slice(fd.len(), 1, &fd);
    assert!(err(&a, &b) < 1e-6, "∇θV vs FD {:e}", err(&a, &b));
    // ∂V/∂x_init = λ_0
    let mut fdx = vec![0.0; x0.len()];
    for j in 0..x0.len() {
        let h = 1e-6;
        let mut vals = [0.0; 2];
        for (k, sgn) in [1.0, -1.0].into_iter().enumerate() {
            let mut xx = x0.to_vec();
            xx[j] += sgn * h;
            ws.set_guess(&xg, &ug).unwrap();
            vals[k] = ws
                .solve(model, &xx, theta, ctx, WarmStart::Current)
                .unwrap()
                .objective;
        }
        fdx[j] = (vals[0] - vals[1]) / (2.0 * h);
    }
    let a = DMatrix::from_column_slice(fdx.len(), 1, vg.x0.as_slice());
    let b = DMatrix::from_column_slice(fdx.len(), 1, &fdx);
    assert!(err(&a, &b) < 1e-6, "∂V/∂x_init vs FD {:e}", err(&a, &b));
}

#[test]
fn jacobian_x0_matches_fd() {
    let task = NonlinearTask::Cartpole;
    let model = Table1Policy::new(task);
    let mut ws = Workspace::new(&model, 6, SolverSettings::default()).unwrap();
    let mut r = rng(5);
    let (x0, theta) = random_nonlinear(task, &mut r);
    ws.solve(&model, &x0, &theta, &[], WarmStart::Cold).unwrap();
    let jx = sensitivity::jacobian_x0(&mut ws, &model).unwrap();
    let ju = structured_u(&jx);
    let sol = ws.solution().clone();
    let xg: Vec<f64> = sol.x.iter().flat_map(|v| v.iter().copied()).collect();
    let ug = controls(&sol);
    let mut fd = DMatrix::zeros(ug.len(), 4);
    for j in 0..4 {
        let h = 1e-6;
        let mut cols = Vec::new();
        for sgn in [1.0, -1.0] {
            let mut xx = x0.clone();
            xx[j] += sgn * h;
            ws.set_guess(&xg, &ug).unwrap();
            cols.push(controls(
                ws.solve(&model, &xx, &theta, &[], WarmStart::Current)
                    .unwrap(),
            ));
        }
        for r in 0..ug.len() {
            fd[(r, j)] = (cols[0][r] - cols[1][r]) / (2.0 * h);
        }
    }
    assert!(err(&ju, &fd) < 1e-6, "∂u/∂x_init vs FD {:e}", err(&ju, &fd));
}

#[test]
fn sensitivity_requires_polished_solution() {
    let model = Table1Policy::new(NonlinearTask::Cartpole);
    let mut ws = Workspace::new(&model, 6, SolverSettings::default()).unwrap();
    let mut out = vec![0.0; 11];
    assert!(sensitivity::vjp(&mut ws, &model, Seed::default(), &mut out).is_err());
    let theta = NonlinearTask::Cartpole.oracle_theta().unwrap();
    ws.solve(&model, &[0.1, 0.2, 0.0, 0.0], &theta, &[], WarmStart::Cold)
        .unwrap();
    let bad = vec![0.0; 3];
    assert!(sensitivity::vjp(
        &mut ws,
        &model,
        Seed {
            x: None,
            u: Some(&bad)
        },
        &mut out
    )
    .is_err());
    let nan = vec![f64::NAN; 6];
    assert!(sensitivity::vjp(
        &mut ws,
        &model,
        Seed {
            x: None,
            u: Some(&nan)
        },
        &mut out
    )
    .is_err());
    // A new guess replaces the solution: no sensitivities from it until the next solve.
    let seed = vec![1.0; 6];
    let u_seed = Seed {
        x: None,
        u: Some(&seed),
    };
    assert!(sensitivity::vjp(&mut ws, &model, u_seed, &mut out).is_ok());
    ws.set_guess(&[0.0; 28], &[0.0; 6]).unwrap();
    assert!(!ws.kkt_ready());
    assert!(matches!(
        sensitivity::vjp(&mut ws, &model, u_seed, &mut out),
        Err(sensitivity::SensitivityError::NotReady(_))
    ));
    ws.solve(
        &model,
        &[0.1, 0.2, 0.0, 0.0],
        &theta,
        &[],
        WarmStart::Current,
    )
    .unwrap();
    assert!(sensitivity::vjp(&mut ws, &model, u_seed, &mut out).is_ok());
}

/// Q(s, π(s)) = V(s), ∇θQ(s, π(s)) = ∇θV(s) (envelope) and ∇θQ vs finite differences of Q at a
/// non-optimal action.
fn check_q<M: OcpModel>(
    model: &M,
    h: usize,
    drop_first: bool,
    x0: &[f64],
    theta: &[f64],
    ctx: &[f64],
) {
    use diffop::sensitivity::{q_value, TailProblem};
    let mut ws = Workspace::new(model, h, SolverSettings::default()).unwrap();
    ws.solve(model, x0, theta, ctx, WarmStart::Cold).unwrap();
    let vg = sensitivity::value_gradient(&mut ws, model).unwrap();
    let a: Vec<f64> = ws.solution().u[0].iter().copied().collect();
    let tail = TailProblem {
        inner: model,
        drop_first_constraints: drop_first,
    };
    let mut wt = Workspace::new(&tail, h - 1, SolverSettings::default()).unwrap();
    let q = q_value(
        &mut wt,
        model,
        drop_first,
        x0,
        &a,
        theta,
        ctx,
        WarmStart::Cold,
    )
    .unwrap();
    assert!(
        (q.value - vg.value).abs() <= 1e-9 * vg.value.abs().max(1.0),
        "{}: Q(s, π(s)) = {} vs V(s) = {}",
        model.name(),
        q.value,
        vg.value
    );
    let qa = DMatrix::from_column_slice(theta.len(), 1, q.theta.as_slice());
    let va = DMatrix::from_column_slice(theta.len(), 1, vg.theta.as_slice());
    assert!(
        err(&qa, &va) < 1e-8,
        "{}: ∇θQ(s, π(s)) vs ∇θV {:e}",
        model.name(),
        err(&qa, &va)
    );
    // a non-optimal action
    let a2: Vec<f64> = a.iter().map(|v| v + 0.05).collect();
    let q2 = q_value(
        &mut wt,
        model,
        drop_first,
        x0,
        &a2,
        theta,
        ctx,
        WarmStart::Cold,
    )
    .unwrap();
    let mut fd = vec![0.0; theta.len()];
    for j in 0..theta.len() {
        let hh = 1e-5 * theta[j].abs().max(1.0);
        let mut v = [0.0; 2];
        for (k, sgn) in [1.0, -1.0].into_iter().enumerate() {
            let mut th = theta.to_vec();
            th[j] += sgn * hh;
            v[k] = q_value(
                &mut wt,
                model,
                drop_first,
                x0,
                &a2,
                &th,
                ctx,
                WarmStart::Cold,
            )
            .unwrap()
            .value;
        }
        fd[j] = (v[0] - v[1]) / (2.0 * hh);
    }
    let qa = DMatrix::from_column_slice(theta.len(), 1, q2.theta.as_slice());
    let fa = DMatrix::from_column_slice(theta.len(), 1, &fd);
    assert!(
        err(&qa, &fa) < 1e-6,
        "{}: ∇θQ vs FD {:e}",
        model.name(),
        err(&qa, &fa)
    );
}

#[test]
fn q_value_identities_and_gradient() {
    let mut r = rng(21);
    let task = NonlinearTask::Cartpole;
    let (x0, theta) = random_nonlinear(task, &mut r);
    check_q(&Table1Policy::new(task), 6, false, &x0, &theta, &[]);
    for _ in 0..3 {
        let (x0, theta, ctx) = random_voltage(&mut r);
        check_q(&VoltagePolicy::default(), 6, true, &x0, &theta, &ctx);
    }
}

/// A solve that ends without active rows leaves the KKT factorization to the first
/// sensitivity call (`SolverSettings::defer_kkt_factorization`): the solution, the value
/// gradient, the VJP and the Jacobian are bitwise those of the eager path, along a
/// warm-started closed loop.
#[test]
fn deferred_factorization_matches_eager() {
    for task in [
        NonlinearTask::Cartpole,
        NonlinearTask::Arm,
        NonlinearTask::Quadrotor,
    ] {
        let model = Table1Policy::new(task);
        let h = task.step_horizon();
        let eager = SolverSettings {
            defer_kkt_factorization: false,
            ..SolverSettings::default()
        };
        let mut ws_lazy = Workspace::new(&model, h, SolverSettings::default()).unwrap();
        let mut ws_eager = Workspace::new(&model, h, eager).unwrap();
        let mut r = rng(41 + task as u64);
        let (x0, theta) = random_nonlinear(task, &mut r);
        let (n, m, d) = ws_lazy.dims();
        let mut x = x0.clone();
        let mut warm = WarmStart::Cold;
        let mut deferred = 0;
        for step in 0..5 {
            let label = format!("{task:?} step {step}");
            let a = ws_lazy
                .solve(&model, &x, &theta, &[], warm)
                .unwrap()
                .clone();
            let b = ws_eager
                .solve(&model, &x, &theta, &[], warm)
                .unwrap()
                .clone();
            assert!(a.status.is_polished(), "{label}: {:?}", a.status);
            assert!(!ws_eager.kkt_pending(), "{label}");
            deferred += usize::from(ws_lazy.kkt_pending());
            assert_eq!(a.x, b.x, "{label}: states");
            assert_eq!(a.u, b.u, "{label}: controls");
            assert_eq!(a.costates, b.costates, "{label}: costates");
            assert_eq!(
                ws_lazy.kkt_factorization(),
                ws_eager.kkt_factorization(),
                "{label}"
            );
            let va = sensitivity::value_gradient(&mut ws_lazy, &model).unwrap();
            let vb = sensitivity::value_gradient(&mut ws_eager, &model).unwrap();
            assert_eq!(va.theta, vb.theta, "{label}: value gradient");
            let su: Vec<f64> = (0..h * m).map(|_| r.random::<f64>() - 0.5).collect();
            let sx: Vec<f64> = (0..(h + 1) * n).map(|_| r.random::<f64>() - 0.5).collect();
            let seed = Seed {
                x: Some(&sx),
                u: Some(&su),
            };
            let (mut ga, mut gb) = (vec![0.0; d], vec![0.0; d]);
            sensitivity::vjp(&mut ws_lazy, &model, seed, &mut ga).unwrap();
            sensitivity::vjp(&mut ws_eager, &model, seed, &mut gb).unwrap();
            assert_eq!(ga, gb, "{label}: VJP");
            let ja = sensitivity::jacobian(&mut ws_lazy, &model).unwrap();
            let jb = sensitivity::jacobian(&mut ws_eager, &model).unwrap();
            assert_eq!(ja.u, jb.u, "{label}: Jacobian");
            assert!(!ws_lazy.kkt_pending(), "{label}: factorized by the VJP");
            x = a.x[1].iter().copied().collect();
            warm = WarmStart::Shift;
        }
        assert!(deferred >= 4, "{task:?}: deferred in {deferred}/5 solves");
    }
}
