//! Built-in tasks: independent KKT residuals and multiplier signs (§13 item 2), warm start,
//! determinism, inertia correction, weak activity.

use super::common::{assert_kkt, err, kkt_check, stack, zeta};
use super::no_hint::NoHint;
use diffop::model::derivs::{Differentiator, StageBlock};
use diffop::model::tasks::{NonlinearTask, Table1Policy, VoltagePolicy};
use diffop::model::{cst, Dims, OcpModel, Scalar};
use diffop::sensitivity::jacobian;
use diffop::solver::{Solution, SolverSettings, Status, WarmStart, Workspace};
use nalgebra::{DMatrix, DVector};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// θ(0)-like parameters: cost weights w, φ_f perturbed as in `docs/spec/ENVIRONMENTS.md` §1.4.
pub fn theta_perturbed(task: NonlinearTask, w: f64, seed: u64) -> Vec<f64> {
    let (n, _) = task.nm();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut th = vec![w; 2 * n];
    th.extend(
        task.phi_true()
            .iter()
            .map(|p| (p + task.sigma0() * (rng.random::<f64>() - 0.5)).max(0.05)),
    );
    th
}

/// Demonstration initial states of a task.
pub fn demo_states(task: NonlinearTask) -> Vec<Vec<f64>> {
    use std::f64::consts::PI;
    match task {
        NonlinearTask::Cartpole => [0.0, -0.5, -0.25, 0.25, 0.5]
            .iter()
            .map(|&q| vec![0.0, q, 0.0, 0.0])
            .collect(),
        NonlinearTask::Arm => [
            (-PI / 2.0, 0.0),
            (-3.0 * PI / 4.0, -PI / 2.0),
            (-PI / 4.0, PI / 2.0),
            (-PI / 2.0, PI),
        ]
        .iter()
        .map(|&(a, b)| vec![a, b, 0.0, 0.0])
        .collect(),
        NonlinearTask::Quadrotor => [[-8.0, -6.0, 9.0], [8.0, 6.0, 9.0]]
            .iter()
            .map(|r| {
                let mut x = vec![0.0; 13];
                x[..3].copy_from_slice(r);
                x[6] = 1.0;
                x
            })
            .collect(),
        NonlinearTask::Rocket => {
            let s = 0.5f64.sin() / 2f64.sqrt();
            vec![vec![
                10.0,
                -8.0,
                5.0,
                -0.5,
                0.0,
                0.0,
                0.5f64.cos(),
                0.0,
                s,
                -s,
                0.0,
                0.0,
                0.0,
            ]]
        }
    }
}

/// Voltage test data: (θ, ctx, x_init).
pub fn voltage_case(k: usize) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let a = [
        0.05931028, 0.04456361, 0.04456361, 0.04456361, 0.09803763, 0.08912722, 0.04456361,
        0.08912722, 0.09401581,
    ];
    let mut theta = vec![1.0, 1.3, 0.8];
    theta.extend(a);
    let (v_env, q_min, q_max, q0) = match k {
        0 => (
            [0.81, 0.74, 0.75],
            [-1.5, -1.4, -1.0],
            [1.5, 1.4, 0.6],
            [0.0, 0.0, 0.0],
        ),
        1 => (
            [1.21, 1.17, 1.1],
            [-1.0, -0.7, -0.5],
            [1.0, 0.7, 0.5],
            [0.3, -0.2, 0.1],
        ),
        _ => (
            [0.95, 1.02, 0.98],
            [-2.0, -2.0, -2.0],
            [2.0, 2.0, 2.0],
            [0.5, 0.0, -0.5],
        ),
    };
    let ctx = VoltagePolicy::context(&v_env, &q_min, &q_max);
    let mut x0 = v_env.to_vec();
    x0.extend(q0);
    (theta, ctx, x0)
}

fn check_solved<M: OcpModel>(
    label: &str,
    model: &M,
    ws: &mut Workspace,
    x0: &[f64],
    th: &[f64],
    ctx: &[f64],
) -> Solution {
    let sol = ws
        .solve(model, x0, th, ctx, WarmStart::Cold)
        .unwrap()
        .clone();
    assert_eq!(sol.status, Status::Solved, "{label}: status");
    assert!(ws.kkt_ready(), "{label}: factorization kept");
    let r = kkt_check(model, x0, th, ctx, &sol);
    assert_kkt(label, &r, 1e-9);
    // the spec's polish target, with the solver's own acceptance floor
    assert!(r.stat.max(r.feas) <= 1e-10, "{label}: {r:?}");
    sol
}

#[test]
fn kkt_residual_nonlinear_tasks_step_horizon() {
    for task in NonlinearTask::ALL {
        let model = Table1Policy::new(task);
        let h = task.step_horizon();
        let mut ws = Workspace::new(&model, h, SolverSettings::default()).unwrap();
        let mut thetas = vec![theta_perturbed(task, 1.0, 7), theta_perturbed(task, 2.5, 8)];
        if let Some(o) = task.oracle_theta() {
            thetas.push(o);
        }
        for (k, th) in thetas.iter().enumerate() {
            for (s, x0) in demo_states(task).iter().enumerate() {
                let label = format!("{} θ#{k} x0#{s}", task.name());
                let sol = check_solved(&label, &model, &mut ws, x0, th, &[]);
                assert_eq!(sol.n_active(), 0);
            }
        }
    }
}

#[test]
fn kkt_residual_voltage_with_active_bounds() {
    let model = VoltagePolicy::default();
    let mut total_active = 0;
    for h in [6, 30] {
        let mut ws = Workspace::new(&model, h, SolverSettings::default()).unwrap();
        for k in 0..3 {
            let (th, ctx, x0) = voltage_case(k);
            let label = format!("voltage H={h} case {k}");
            let sol = check_solved(&label, &model, &mut ws, &x0, &th, &ctx);
            total_active += sol.n_active();
            // lag: the last control is exactly zero
            assert!(
                sol.u[h - 1].amax() <= 1e-12,
                "{label}: u_H-1 = {}",
                sol.u[h - 1]
            );
            // the model never lets q leave the box
            for i in 1..=h {
                for b in 0..3 {
                    let q = sol.x[i][3 + b];
                    assert!(q <= ctx[6 + b] + 1e-12 && q >= ctx[3 + b] - 1e-12);
                }
            }
            eprintln!(
                "{label}: it {} polish {} active {} weak {}",
                sol.iterations,
                sol.polish_iterations,
                sol.n_active(),
                sol.weakly_active
            );
        }
    }
    assert!(total_active > 0, "some bound must be active");
}

/// ζ, costates, λ_0 and μ stacked: the whole primal–dual solution.
/// Norm-wise difference of ∂u*/∂θ between the last solutions of two workspaces.
fn control_jacobian_err<A: OcpModel, B: OcpModel>(
    ws_a: &mut Workspace,
    a: &A,
    ws_b: &mut Workspace,
    b: &B,
) -> f64 {
    let flat = |j: &[DMatrix<f64>]| j.iter().flat_map(|m| m.iter().copied()).collect::<Vec<_>>();
    let ja = jacobian(ws_a, a).unwrap();
    let jb = jacobian(ws_b, b).unwrap();
    err(&flat(&ja.u), &flat(&jb.u))
}

fn primal_dual(sol: &Solution) -> Vec<f64> {
    let mut v = zeta(sol);
    v.extend(stack(&sol.costates));
    v.extend(sol.lambda0.iter());
    v.extend(stack(&sol.mu));
    v
}

#[test]
fn warm_start_equals_cold_start() {
    // arm (unconstrained, non-convex) and voltage (active bounds)
    let arm = Table1Policy::new(NonlinearTask::Arm);
    let th = theta_perturbed(NonlinearTask::Arm, 1.0, 3);
    let x0 = &demo_states(NonlinearTask::Arm)[1];
    warm_vs_cold("arm", &arm, 12, x0, &th, &[]);
    let volt = VoltagePolicy::default();
    for k in 0..2 {
        let (th, ctx, x0) = voltage_case(k);
        warm_vs_cold(&format!("voltage {k}"), &volt, 6, &x0, &th, &ctx);
    }
    let quad = Table1Policy::new(NonlinearTask::Quadrotor);
    let th = NonlinearTask::Quadrotor.oracle_theta().unwrap();
    warm_vs_cold(
        "quadrotor",
        &quad,
        12,
        &demo_states(NonlinearTask::Quadrotor)[0],
        &th,
        &[],
    );
}

fn warm_vs_cold<M: OcpModel>(
    label: &str,
    model: &M,
    h: usize,
    x0: &[f64],
    th: &[f64],
    ctx: &[f64],
) {
    let set = SolverSettings::default();
    let mut ws = Workspace::new(model, h, set.clone()).unwrap();
    let cold = ws
        .solve(model, x0, th, ctx, WarmStart::Cold)
        .unwrap()
        .clone();
    assert_eq!(cold.status, Status::Solved);
    let warm = ws
        .solve(model, x0, th, ctx, WarmStart::Current)
        .unwrap()
        .clone();
    assert_eq!(warm.status, Status::Solved);
    let e = err(&primal_dual(&warm), &primal_dual(&cold));
    assert!(e <= 1e-10, "{label}: Current vs Cold err {e:e}");
    assert_eq!(warm.active, cold.active, "{label}: active set");
    // the shifted problem: next state of the plan
    let x1: Vec<f64> = cold.x[1].iter().copied().collect();
    let shifted = ws
        .solve(model, &x1, th, ctx, WarmStart::Shift)
        .unwrap()
        .clone();
    assert_eq!(shifted.status, Status::Solved);
    let mut ws2 = Workspace::new(model, h, set).unwrap();
    let cold1 = ws2
        .solve(model, &x1, th, ctx, WarmStart::Cold)
        .unwrap()
        .clone();
    assert_eq!(cold1.status, Status::Solved);
    let e = err(&primal_dual(&shifted), &primal_dual(&cold1));
    assert!(e <= 1e-10, "{label}: Shift vs Cold err {e:e}");
    assert_eq!(shifted.active, cold1.active, "{label}: active set (shift)");
    eprintln!(
        "{label}: cold {} it, current {} it, shift {} it vs cold {} it",
        cold.iterations, warm.iterations, shifted.iterations, cold1.iterations
    );
}

fn bits(sol: &Solution) -> Vec<u64> {
    let mut v: Vec<u64> = primal_dual(sol).iter().map(|a| a.to_bits()).collect();
    v.push(sol.objective.to_bits());
    v.push(sol.iterations as u64);
    v.push(sol.polish_iterations as u64);
    v
}

#[test]
fn repeated_solves_are_bit_identical() {
    let model = Table1Policy::new(NonlinearTask::Cartpole);
    let th = NonlinearTask::Cartpole.oracle_theta().unwrap();
    let x0 = [0.0, 0.3, 0.0, 0.0];
    let mut ws = Workspace::new(&model, 30, SolverSettings::default()).unwrap();
    let a = bits(ws.solve(&model, &x0, &th, &[], WarmStart::Cold).unwrap());
    // pollute the workspace with another problem, then repeat
    ws.solve(&model, &[0.1, -0.2, 0.3, 0.0], &th, &[], WarmStart::Cold)
        .unwrap();
    let b = bits(ws.solve(&model, &x0, &th, &[], WarmStart::Cold).unwrap());
    let mut ws2 = Workspace::new(&model, 30, SolverSettings::default()).unwrap();
    let c = bits(ws2.solve(&model, &x0, &th, &[], WarmStart::Cold).unwrap());
    assert_eq!(a, b);
    assert_eq!(a, c);
    // from another thread
    let d = std::thread::spawn(move || {
        let mut ws3 = Workspace::new(&model, 30, SolverSettings::default()).unwrap();
        bits(ws3.solve(&model, &x0, &th, &[], WarmStart::Cold).unwrap())
    })
    .join()
    .unwrap();
    assert_eq!(a, d);
    let volt = VoltagePolicy::default();
    let (th, ctx, x0) = voltage_case(0);
    let mut ws = Workspace::new(&volt, 30, SolverSettings::default()).unwrap();
    let a = bits(ws.solve(&volt, &x0, &th, &ctx, WarmStart::Cold).unwrap());
    let b = bits(ws.solve(&volt, &x0, &th, &ctx, WarmStart::Cold).unwrap());
    assert_eq!(a, b);
}

/// Reduced Hessian Zᵀ ∇²L Z of an unconstrained solution, with Z the linearised rollout map
/// from the controls to ζ.
fn reduced_hessian<M: OcpModel>(
    model: &M,
    th: &[f64],
    ctx: &[f64],
    sol: &Solution,
) -> DMatrix<f64> {
    let Dims { n, m, .. } = model.dims();
    let h = sol.u.len();
    let mut diff = Differentiator::new();
    let mut blocks: Vec<StageBlock> = (0..h).map(|_| StageBlock::new(n, m, 0)).collect();
    blocks.push(StageBlock::new(n, 0, 0));
    for i in 0..h {
        diff.stage(
            model,
            i,
            sol.x[i].as_slice(),
            sol.u[i].as_slice(),
            th,
            ctx,
            sol.costates[i].as_slice(),
            &[],
            &mut blocks[i],
        );
    }
    diff.terminal(model, sol.x[h].as_slice(), th, ctx, &[], &mut blocks[h]);
    let nu = h * m;
    // columns: dζ/du_k, stored per stage as (dx_i, du_i)
    let mut cols: Vec<Vec<DVector<f64>>> = Vec::with_capacity(nu);
    for k in 0..nu {
        let mut dz = Vec::with_capacity(h + 1);
        let mut dx = DVector::zeros(n);
        for i in 0..h {
            let mut du = DVector::zeros(m);
            if k / m == i {
                du[k % m] = 1.0;
            }
            let next = &blocks[i].fx * &dx + &blocks[i].fu * &du;
            let mut z = DVector::zeros(n + m);
            z.rows_mut(0, n).copy_from(&dx);
            z.rows_mut(n, m).copy_from(&du);
            dz.push(z);
            dx = next;
        }
        dz.push(dx);
        cols.push(dz);
    }
    DMatrix::from_fn(nu, nu, |a, b| {
        (0..=h)
            .map(|i| cols[a][i].dot(&(&blocks[i].hess * &cols[b][i])))
            .sum()
    })
}

/// The cold-start swing-up (x₀ = 0, u = 0) needs inertia correction and converges to a
/// strict local minimum.
#[test]
fn cartpole_swing_up_needs_inertia_correction_and_reaches_a_local_minimum() {
    let model = Table1Policy::new(NonlinearTask::Cartpole);
    let th = NonlinearTask::Cartpole.oracle_theta().unwrap();
    let x0 = [0.0; 4];
    let mut ws = Workspace::new(&model, 30, SolverSettings::default()).unwrap();
    let sol = check_solved("swing-up", &model, &mut ws, &x0, &th, &[]);
    eprintln!(
        "swing-up: it {} reg {:e} objective {}",
        sol.iterations, sol.max_regularization, sol.objective
    );
    assert!(sol.max_regularization > 0.0, "expected inertia correction");
    let red = reduced_hessian(&model, &th, &[], &sol);
    let ev = red.symmetric_eigenvalues();
    let min = ev.min();
    eprintln!(
        "swing-up reduced Hessian eigenvalues: min {min:e} max {:e}",
        ev.max()
    );
    // The reduced Hessian is badly scaled (max ≈ 5e8 from the 30-step sensitivity chain),
    // but its smallest eigenvalue (≈ 1.7) is far from zero: a strict local minimum.
    assert!(min > 1e-3, "reduced Hessian not PD: min eig {min:e}");
}

/// x⁺ = x + u, c = u⁴ − 2u² + 0.3u + x²: concave at the cold start u = 0.
struct DoubleWell;

impl OcpModel for DoubleWell {
    fn name(&self) -> &str {
        "double-well"
    }
    fn dims(&self) -> Dims {
        Dims {
            n: 1,
            m: 1,
            d: 1,
            n_ctx: 0,
        }
    }
    fn dynamics<S: Scalar>(&self, _i: usize, x: &[S], u: &[S], _t: &[S], _c: &[f64], o: &mut [S]) {
        o[0] = x[0] + u[0];
    }
    fn stage_cost<S: Scalar>(&self, _i: usize, x: &[S], u: &[S], _t: &[S], _c: &[f64]) -> S {
        let u2 = u[0] * u[0];
        u2 * u2 - u2 * 2.0 + u[0] * 0.3 + x[0] * x[0] * 0.1
    }
    fn terminal_cost<S: Scalar>(&self, x: &[S], _t: &[S], _c: &[f64]) -> S {
        x[0] * x[0] * cst::<S>(0.1)
    }
}

#[test]
fn concave_start_uses_inertia_correction() {
    let h = 4;
    let mut ws = Workspace::new(&DoubleWell, h, SolverSettings::default()).unwrap();
    let sol = check_solved("double well", &DoubleWell, &mut ws, &[0.0], &[0.0], &[]);
    assert!(sol.max_regularization > 0.0);
    let red = reduced_hessian(&DoubleWell, &[0.0], &[], &sol);
    let min = red.symmetric_eigenvalues().min();
    assert!(min > 0.1, "reduced Hessian min eigenvalue {min}");
    for u in &sol.u {
        assert!(
            u[0].abs() > 0.5,
            "stuck near the concave region: u = {}",
            u[0]
        );
    }
}

/// x⁺ = x + u, c = 5(u − θ)², g = u − 1 ≤ 0: at θ = 1 the bound holds with equality and a
/// zero multiplier.
struct Degenerate;

impl OcpModel for Degenerate {
    fn name(&self) -> &str {
        "degenerate"
    }
    fn dims(&self) -> Dims {
        Dims {
            n: 1,
            m: 1,
            d: 1,
            n_ctx: 0,
        }
    }
    fn dynamics<S: Scalar>(&self, _i: usize, x: &[S], u: &[S], _t: &[S], _c: &[f64], o: &mut [S]) {
        o[0] = x[0] + u[0];
    }
    fn stage_cost<S: Scalar>(&self, _i: usize, x: &[S], u: &[S], t: &[S], _c: &[f64]) -> S {
        let e = u[0] - t[0];
        e * e * 5.0 + x[0] * x[0] * 0.0
    }
    fn terminal_cost<S: Scalar>(&self, x: &[S], _t: &[S], _c: &[f64]) -> S {
        x[0] * cst::<S>(0.0)
    }
    fn n_path(&self, _i: usize) -> usize {
        1
    }
    fn path_constraints<S: Scalar>(
        &self,
        _i: usize,
        _x: &[S],
        u: &[S],
        _t: &[S],
        _c: &[f64],
        o: &mut [S],
    ) {
        o[0] = u[0] - 1.0;
    }
}

#[test]
fn weakly_active_bound_is_counted_and_treated_as_inactive() {
    let h = 3;
    let mut ws = Workspace::new(&Degenerate, h, SolverSettings::default()).unwrap();
    let sol = check_solved("degenerate", &Degenerate, &mut ws, &[0.0], &[1.0], &[]);
    eprintln!(
        "degenerate: weak {} active {} g {:?} mu {:?}",
        sol.weakly_active,
        sol.n_active(),
        sol.g,
        sol.mu
    );
    assert!(sol.weakly_active > 0, "weakly active rows not counted");
    assert_eq!(sol.n_active(), 0, "weak rows must be dropped");
    for i in 0..h {
        assert!((sol.u[i][0] - 1.0).abs() <= 1e-12);
        assert_eq!(sol.mu[i][0], 0.0);
    }
    // derivative of the inactive side: ∂u_i/∂θ = 1 (the active side would give 0)
    let jac = jacobian(&mut ws, &Degenerate).unwrap();
    for i in 0..h {
        assert!(
            (jac.u[i][(0, 0)] - 1.0).abs() <= 1e-12,
            "∂u_{i}/∂θ = {}",
            jac.u[i]
        );
    }
    // strictly active case for contrast: θ = 2 gives μ = 10 > 0 and ∂u/∂θ = 0
    let sol = check_solved("active", &Degenerate, &mut ws, &[0.0], &[2.0], &[]);
    assert_eq!(sol.weakly_active, 0);
    assert_eq!(sol.n_active(), h);
    let jac = jacobian(&mut ws, &Degenerate).unwrap();
    for i in 0..h {
        assert!((sol.mu[i][0] - 10.0).abs() <= 1e-10);
        assert!(jac.u[i][(0, 0)].abs() <= 1e-12);
    }
}

#[test]
fn linear_quadratic_hint_matches_the_full_evaluation() {
    let hinted = VoltagePolicy::default();
    assert!(hinted.is_linear_quadratic());
    let plain = NoHint(VoltagePolicy::default());
    assert!(!plain.is_linear_quadratic());
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut active = 0;
    for h in [6, 30] {
        let mut ws_a = Workspace::new(&hinted, h, SolverSettings::default()).unwrap();
        let mut ws_b = Workspace::new(&plain, h, SolverSettings::default()).unwrap();
        for k in 0..9 {
            let (mut th, ctx, mut x0) = voltage_case(k % 3);
            // random θ_v and initial q so that different sets of bounds become active
            for t in th.iter_mut().take(3) {
                *t *= 0.5 + rng.random::<f64>();
            }
            for q in x0.iter_mut().skip(3) {
                *q += 0.6 * (rng.random::<f64>() - 0.5);
            }
            let label = format!("voltage H={h} case {k}");
            let a = check_solved(&label, &hinted, &mut ws_a, &x0, &th, &ctx);
            let b = check_solved(&label, &plain, &mut ws_b, &x0, &th, &ctx);
            active += a.n_active();
            assert_eq!(a.n_active(), b.n_active(), "{label}: active sets");
            let e = err(&primal_dual(&a), &primal_dual(&b));
            assert!(
                e <= 1e-10,
                "{label}: primal–dual solutions differ by {e:.2e}"
            );
            let e = control_jacobian_err(&mut ws_a, &hinted, &mut ws_b, &plain);
            assert!(e <= 1e-9, "{label}: Jacobians differ by {e:.2e}");
        }
    }
    assert!(active > 0, "some bound must be active");
}

/// Closed loop on the voltage policy: every receding-horizon solve with the active-set start
/// (default) equals the interior-point solve of the same problem (`active_set_start = false`):
/// solution, multipliers, active set and ∂u*/∂θ. Most solves must take the active-set route
/// (0 interior-point iterations), or the test would not test it.
#[test]
fn active_set_start_matches_the_interior_point_method() {
    let ipm_only = SolverSettings {
        active_set_start: false,
        ..SolverSettings::default()
    };
    let plan = ClosedLoopPlan {
        horizons: &[6, 30],
        cases: 6,
        steps: 8,
        q_spread: 0.6,
        seed: 5,
    };
    let (mut fast, mut active, mut total) = (0, 0, 0);
    voltage_closed_loop_pairs(&plan, ipm_only, |_, _, _, a| {
        fast += usize::from(a.iterations == 0);
        active += a.n_active();
        total += 1;
    });
    assert!(active > 0, "some bound must be active");
    assert!(
        2 * fast > total,
        "the active-set start solved only {fast} of {total} problems"
    );
}

/// Which closed-loop voltage problems [`voltage_closed_loop_pairs`] solves.
struct ClosedLoopPlan<'a> {
    horizons: &'a [usize],
    /// Scenarios per horizon (cycling through [`voltage_case`]).
    cases: usize,
    /// Receding-horizon steps per scenario (cold, then shifted warm starts).
    steps: usize,
    /// Spread of the random offset added to the initial q.
    q_spread: f64,
    seed: u64,
}

/// Solve the same closed-loop voltage problems (random θ_v, disturbed plant) in a workspace with
/// default settings and one with `other`, and check that they agree: both solved, KKT residual,
/// same active set, same primal–dual solution (≤ 1e-10) and ∂u*/∂θ (≤ 1e-9). `extra` sees the
/// label, both workspaces and the default solution of every step.
fn voltage_closed_loop_pairs(
    plan: &ClosedLoopPlan<'_>,
    other: SolverSettings,
    mut extra: impl FnMut(&str, &mut Workspace, &mut Workspace, &Solution),
) {
    let model = VoltagePolicy::default();
    let mut rng = ChaCha8Rng::seed_from_u64(plan.seed);
    for &h in plan.horizons {
        let mut ws_a = Workspace::new(&model, h, SolverSettings::default()).unwrap();
        let mut ws_b = Workspace::new(&model, h, other.clone()).unwrap();
        for k in 0..plan.cases {
            let (mut th, ctx, mut x0) = voltage_case(k % 3);
            for t in th.iter_mut().take(3) {
                *t *= 0.5 + rng.random::<f64>();
            }
            for q in x0.iter_mut().skip(3) {
                *q += plan.q_spread * (rng.random::<f64>() - 0.5);
            }
            for step in 0..plan.steps {
                let start = if step == 0 {
                    WarmStart::Cold
                } else {
                    WarmStart::Shift
                };
                let label = format!("voltage H={h} case {k} step {step}");
                let a = ws_a.solve(&model, &x0, &th, &ctx, start).unwrap().clone();
                let b = ws_b.solve(&model, &x0, &th, &ctx, start).unwrap().clone();
                assert_eq!(a.status, Status::Solved, "{label}: status");
                assert_eq!(b.status, Status::Solved, "{label}: status (other settings)");
                assert!(ws_a.kkt_ready(), "{label}: factorization kept");
                let r = kkt_check(&model, &x0, &th, &ctx, &a);
                assert_kkt(&label, &r, 1e-9);
                assert_eq!(a.active, b.active, "{label}: active sets");
                let e = err(&primal_dual(&a), &primal_dual(&b));
                assert!(e <= 1e-10, "{label}: solutions differ by {e:.2e}");
                let e = control_jacobian_err(&mut ws_a, &model, &mut ws_b, &model);
                assert!(e <= 1e-9, "{label}: Jacobians differ by {e:.2e}");
                extra(&label, &mut ws_a, &mut ws_b, &a);
                // next state: the first predicted state, disturbed (a plant that is not the model)
                x0 = a.x[1]
                    .iter()
                    .map(|v| v + 0.02 * (rng.random::<f64>() - 0.5))
                    .collect();
            }
        }
    }
}

/// When the active-set rounds cannot settle (here: none allowed, and the shifted guess comes
/// from a different scenario), the solve falls back to the interior-point method from the same
/// guess and gives its result.
#[test]
fn active_set_start_falls_back_to_the_interior_point_method() {
    let model = VoltagePolicy::default();
    let no_rounds = SolverSettings {
        active_set_rounds: 0,
        ..SolverSettings::default()
    };
    let ipm_only = SolverSettings {
        active_set_start: false,
        ..SolverSettings::default()
    };
    let mut fallbacks = 0;
    for k in 0..3 {
        let mut ws_a = Workspace::new(&model, 30, no_rounds.clone()).unwrap();
        let mut ws_b = Workspace::new(&model, 30, ipm_only.clone()).unwrap();
        let (th, ctx, x0) = voltage_case(k);
        for ws in [&mut ws_a, &mut ws_b] {
            let s = ws.solve(&model, &x0, &th, &ctx, WarmStart::Cold).unwrap();
            assert_eq!(s.status, Status::Solved, "case {k}");
        }
        // the next problem is another scenario: its active set differs from the shifted one
        let (th, ctx, x0) = voltage_case((k + 1) % 3);
        let a = ws_a
            .solve(&model, &x0, &th, &ctx, WarmStart::Shift)
            .unwrap()
            .clone();
        let b = ws_b
            .solve(&model, &x0, &th, &ctx, WarmStart::Shift)
            .unwrap()
            .clone();
        assert_eq!(a.status, Status::Solved, "case {k}");
        assert!(ws_a.kkt_ready(), "case {k}: factorization kept");
        assert_eq!(a.active, b.active, "case {k}: active sets");
        let e = err(&primal_dual(&a), &primal_dual(&b));
        assert!(e <= 1e-10, "case {k}: solutions differ by {e:.2e}");
        fallbacks += usize::from(a.iterations > 0);
    }
    assert!(fallbacks > 0, "no case needed the fallback");
}

/// The voltage policy in closed loop (H = 6, 30, 100) with the equality-constrained Riccati
/// recursion (default) and with the Schur complement: same solutions and multipliers, same
/// ∂u*/∂θ and the same VJP, with the recursion as the route taken whenever rows are active.
#[test]
fn constrained_riccati_matches_the_schur_complement_on_the_voltage_policy() {
    use diffop::sensitivity::{vjp, Seed};
    use diffop::solver::KktFactorization;
    let model = VoltagePolicy::default();
    let schur = SolverSettings {
        constrained_riccati: false,
        ..SolverSettings::default()
    };
    let plan = ClosedLoopPlan {
        horizons: &[6, 30, 100],
        cases: 3,
        steps: 4,
        q_spread: 0.0,
        seed: 9,
    };
    let (mut routed, mut active) = (0, 0);
    voltage_closed_loop_pairs(&plan, schur, |label, ws_a, ws_b, a| {
        let h = ws_a.horizon();
        if a.n_active() > 0 {
            assert_eq!(
                ws_a.kkt_factorization(),
                Some(KktFactorization::ConstrainedRiccati(a.n_active())),
                "{label}"
            );
            routed += 1;
        }
        active += a.n_active();
        // a seed on every control, and one on u_0 only (the recursion skips the zero tail)
        let full: Vec<f64> = (0..3 * h).map(|j| ((j * 7) % 5) as f64 - 2.0).collect();
        let first: Vec<f64> = (0..3 * h).map(|j| if j < 3 { 1.0 } else { 0.0 }).collect();
        for seed in [&full, &first] {
            let (mut ga, mut gb) = (vec![0.0; 12], vec![0.0; 12]);
            let s = || Seed {
                x: None,
                u: Some(seed),
            };
            vjp(ws_a, &model, s(), &mut ga).unwrap();
            vjp(ws_b, &model, s(), &mut gb).unwrap();
            let e = err(&ga, &gb);
            assert!(e <= 1e-9, "{label}: VJPs differ by {e:.2e}");
        }
    });
    assert!(
        routed >= 10 && active > 30,
        "{routed} routed solves, {active} rows"
    );
}

/// The chord step of the polish (`polish_chord_step`, default) against exact Newton polish
/// steps: receding-horizon closed loops of the nonlinear tasks (θ(0)-like parameters, a
/// disturbed plant, shifted warm starts). Same solutions to round-off, polished KKT residual,
/// the same ∂u*/∂θ from the kept factorization; and the chord step must have been taken.
#[test]
fn polish_chord_step_matches_exact_newton_polish() {
    let exact = SolverSettings {
        polish_chord_step: false,
        ..SolverSettings::default()
    };
    let mut rng = ChaCha8Rng::seed_from_u64(17);
    let (mut chords, mut total) = (0, 0);
    for task in [
        NonlinearTask::Cartpole,
        NonlinearTask::Arm,
        NonlinearTask::Quadrotor,
    ] {
        let model = Table1Policy::new(task);
        let h = task.step_horizon();
        let th = theta_perturbed(task, 1.0, 3);
        let mut ws_a = Workspace::new(&model, h, SolverSettings::default()).unwrap();
        let mut ws_b = Workspace::new(&model, h, exact.clone()).unwrap();
        for (k, x_start) in demo_states(task).into_iter().enumerate() {
            let mut x0 = x_start;
            for step in 0..10 {
                let start = if step == 0 {
                    WarmStart::Cold
                } else {
                    WarmStart::Shift
                };
                let label = format!("{} state {k} step {step}", task.name());
                let a = ws_a.solve(&model, &x0, &th, &[], start).unwrap().clone();
                let b = ws_b.solve(&model, &x0, &th, &[], start).unwrap().clone();
                assert_eq!(a.status, Status::Solved, "{label}");
                assert_eq!(b.status, Status::Solved, "{label} (exact polish)");
                assert_eq!(b.chord_steps, 0, "{label}");
                assert!(a.stationarity <= 1e-12, "{label}: {:.2e}", a.stationarity);
                let e = err(&primal_dual(&a), &primal_dual(&b));
                assert!(e <= 1e-9, "{label}: solutions differ by {e:.2e}");
                let e = control_jacobian_err(&mut ws_a, &model, &mut ws_b, &model);
                assert!(e <= 1e-8, "{label}: Jacobians differ by {e:.2e}");
                chords += a.chord_steps;
                total += 1;
                x0 = a.x[1]
                    .iter()
                    .map(|v| v + 0.01 * (rng.random::<f64>() - 0.5))
                    .collect();
            }
        }
    }
    assert!(
        4 * chords > total,
        "chord step in {chords} of {total} solves"
    );
}
