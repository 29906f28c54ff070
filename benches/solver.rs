//! Solver and sensitivity benchmarks on the DiffOP configurations: cart-pole H6, arm H12,
//! quadrotor H12, rocket H12, voltage H6 and H30, with the mpc-true θ.
//!
//! * `solve_cold` — u = 0 and a model rollout as the initial guess;
//! * `solve_warm` — from the solution at a nearby state (x0 perturbed by 1 %), the situation of
//!   a receding-horizon step;
//! * `vjp` — one adjoint solve with a seed on u_0;
//! * `jacobian` — the full ∂ζ*/∂θ;
//! * `riccati_factor_quadrotor_h12` — one `Riccati::factor` on 12 stages with the quadrotor's
//!   dimensions (n = 13, m = 4) and the sparsity of its Euler [A B] (fixed pseudo-random values).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use diffop::envs::nonlinear::demo_states;
use diffop::envs::voltage::{VoltageEnv, VoltageEnvSettings};
use diffop::model::tasks::init::A_LINEAR;
use diffop::model::tasks::{NonlinearTask, Table1Policy, VoltagePolicy};
use diffop::model::OcpModel;
use diffop::sensitivity::{self, Seed};
use diffop::solver::{SolverSettings, WarmStart, Workspace};

fn bench_model<M: OcpModel>(
    c: &mut Criterion,
    name: &str,
    model: &M,
    h: usize,
    x0: &[f64],
    theta: &[f64],
    ctx: &[f64],
) {
    let Ok(mut ws) = Workspace::new(model, h, SolverSettings::default()) else {
        eprintln!("{name}: workspace could not be built");
        return;
    };
    let solved = ws
        .solve(model, x0, theta, ctx, WarmStart::Cold)
        .map(|s| s.status.is_polished())
        .unwrap_or(false);
    if !solved {
        eprintln!("{name}: the reference solve failed; skipped");
        return;
    }
    let mut g = c.benchmark_group(name);
    g.sample_size(20);
    g.bench_function("solve_cold", |b| {
        b.iter(|| {
            ws.solve(model, black_box(x0), theta, ctx, WarmStart::Cold)
                .map(|s| s.objective)
        })
    });
    let near: Vec<f64> = x0.iter().map(|v| v * 1.01).collect();
    g.bench_function("solve_warm", |b| {
        b.iter(|| {
            let _ = ws.solve(model, &near, theta, ctx, WarmStart::Cold);
            ws.solve(model, black_box(x0), theta, ctx, WarmStart::Current)
                .map(|s| s.objective)
        })
    });
    let _ = ws.solve(model, x0, theta, ctx, WarmStart::Cold);
    let (_, m, d) = ws.dims();
    let mut seed = vec![0.0; h * m];
    seed[..m].fill(1.0);
    let mut out = vec![0.0; d];
    g.bench_function("vjp", |b| {
        b.iter(|| {
            sensitivity::vjp(
                &mut ws,
                model,
                Seed {
                    x: None,
                    u: Some(black_box(&seed)),
                },
                &mut out,
            )
        })
    });
    g.bench_function("jacobian", |b| {
        b.iter(|| sensitivity::jacobian(&mut ws, model).map(|j| j.u.len()))
    });
    g.finish();
}

fn nonlinear(c: &mut Criterion) {
    for task in NonlinearTask::ALL {
        let model = Table1Policy::new(task);
        let theta = task.oracle_theta().unwrap_or_else(|| {
            let (n, _) = task.nm();
            let mut th = vec![1.0; 2 * n];
            th.extend(task.phi_true());
            th
        });
        let x0 = demo_states(task).swap_remove(0);
        let h = task.step_horizon();
        bench_model(
            c,
            &format!("{}_h{h}", task.name()),
            &model,
            h,
            &x0,
            &theta,
            &[],
        );
    }
}

fn voltage(c: &mut Criterion) {
    let Ok(mut env) = VoltageEnv::new(VoltageEnvSettings::evaluation()) else {
        return;
    };
    if env.reset_seed(0).is_err() {
        return;
    }
    let x0 = env.policy_state();
    let ctx = env.policy_context();
    let mut theta = vec![1.0; 3];
    theta.extend(A_LINEAR.iter().flatten());
    let model = VoltagePolicy::default();
    for h in [6, 30] {
        bench_model(c, &format!("voltage_h{h}"), &model, h, &x0, &theta, &ctx);
    }
}

fn riccati(c: &mut Criterion) {
    use diffop::model::derivs::StageBlock;
    use diffop::solver::riccati::Riccati;
    use nalgebra::DMatrix;
    let (n, m, h) = (13usize, 4usize, 12usize);
    let nm = n + m;
    let mut state = 1u64;
    let mut rnd = || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    };
    // Non-zeros of the quadrotor's [A B] = [I + dt·∂f/∂x, dt·∂f/∂u] by column: ṙ = v,
    // v̇(q, u), q̇(q, ω), ω̇(ω, u).
    let nonzero = |r: usize, c: usize| match c {
        0..=2 => r == c,
        3..=5 => r == c || r == c - 3,
        6..=9 => (3..10).contains(&r),
        10..=12 => (6..13).contains(&r),
        _ => (3..6).contains(&r) || (10..13).contains(&r),
    };
    let mut blocks = Vec::new();
    let mut hess = Vec::new();
    for _ in 0..h {
        let mut b = StageBlock::new(n, m, 0);
        for c in 0..nm {
            for r in 0..n {
                if nonzero(r, c) {
                    let v = if r == c { 1.0 } else { 0.1 * rnd() };
                    if c < n {
                        b.fx[(r, c)] = v;
                    } else {
                        b.fu[(r, c - n)] = v;
                    }
                }
            }
        }
        let mut q = DMatrix::<f64>::zeros(nm, nm);
        for r in 0..nm {
            q[(r, r)] = 1.0 + rnd().abs();
        }
        for r in 6..nm {
            for c in 6..nm {
                q[(r, c)] += 0.01 * rnd();
            }
        }
        hess.push((&q + q.transpose()) * 0.5);
        blocks.push(b);
    }
    hess.push(DMatrix::identity(n, n));
    let mut ric = Riccati::new(n, m, h);
    c.bench_function("riccati_factor_quadrotor_h12", |b| {
        b.iter(|| black_box(ric.factor(black_box(&hess), &blocks, 0.0, false)))
    });
}

criterion_group!(benches, nonlinear, voltage, riccati);
criterion_main!(benches);
