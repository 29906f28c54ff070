//! Compiled derivative programs (`diffop::model::symbolic`) against the tape and the num-dual
//! reference: every elementary operation, every built-in task (stage and terminal blocks),
//! the fallback for value-dependent code, and whole solves and VJPs with and without them.

use diffop::envs::nonlinear::demo_states;
use diffop::model::derivs::{Differentiator, StageBlock};
use diffop::model::symbolic::{program_stats, SymbolicError};
use diffop::model::tasks::{NonlinearTask, Table1Policy, TrueFormPolicy};
use diffop::model::{Dims, OcpModel, Scalar};
use diffop::sensitivity::{vjp, Seed};
use diffop::solver::{SolverSettings, WarmStart, Workspace};
use nalgebra::DMatrix;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::common::elementary;
use elementary::elementary;

/// ‖X − Y‖_max / max(‖Y‖_max, 1).
fn rel(x: &DMatrix<f64>, y: &DMatrix<f64>) -> f64 {
    let scale = y.amax().max(1.0);
    (x - y).amax() / scale
}

fn assert_blocks_close(a: &StageBlock, b: &StageBlock, tol: f64, what: &str) {
    let pairs = [
        (
            "f",
            DMatrix::from_column_slice(a.f.len(), 1, a.f.as_slice()),
            DMatrix::from_column_slice(b.f.len(), 1, b.f.as_slice()),
        ),
        ("fx", a.fx.clone(), b.fx.clone()),
        ("fu", a.fu.clone(), b.fu.clone()),
        (
            "c",
            DMatrix::from_element(1, 1, a.c),
            DMatrix::from_element(1, 1, b.c),
        ),
        (
            "cx",
            DMatrix::from_column_slice(a.cx.len(), 1, a.cx.as_slice()),
            DMatrix::from_column_slice(b.cx.len(), 1, b.cx.as_slice()),
        ),
        (
            "cu",
            DMatrix::from_column_slice(a.cu.len(), 1, a.cu.as_slice()),
            DMatrix::from_column_slice(b.cu.len(), 1, b.cu.as_slice()),
        ),
        (
            "g",
            DMatrix::from_column_slice(a.g.len(), 1, a.g.as_slice()),
            DMatrix::from_column_slice(b.g.len(), 1, b.g.as_slice()),
        ),
        ("gx", a.gx.clone(), b.gx.clone()),
        ("gu", a.gu.clone(), b.gu.clone()),
        ("hess", a.hess.clone(), b.hess.clone()),
    ];
    for (name, x, y) in pairs {
        let e = rel(&x, &y);
        assert!(e <= tol, "{what}: {name} differs by {e:.2e}\n{x}\nvs\n{y}");
    }
}

/// A model built from every elementary function, with path and terminal inequalities.
struct AllOps;

impl OcpModel for AllOps {
    fn name(&self) -> &str {
        "all-ops"
    }
    fn dims(&self) -> Dims {
        Dims {
            n: 2,
            m: 1,
            d: 2,
            n_ctx: 0,
        }
    }
    fn dynamics<S: Scalar>(
        &self,
        _i: usize,
        x: &[S],
        u: &[S],
        th: &[S],
        _c: &[f64],
        out: &mut [S],
    ) {
        out[0] = elementary(x[0], x[1]) * th[0] + u[0];
        out[1] = x[0] * u[0].sin() + x[1].powi(2) * th[1];
    }
    fn stage_cost<S: Scalar>(&self, _i: usize, x: &[S], u: &[S], th: &[S], _c: &[f64]) -> S {
        elementary(x[1] * S::from(0.5) + S::from(0.1), x[0] + S::from(1.0)) * th[1]
            + u[0] * u[0] * x[0]
    }
    fn terminal_cost<S: Scalar>(&self, x: &[S], th: &[S], _c: &[f64]) -> S {
        elementary(x[0], x[1]) * th[0]
    }
    fn n_path(&self, _i: usize) -> usize {
        2
    }
    fn path_constraints<S: Scalar>(
        &self,
        _i: usize,
        x: &[S],
        u: &[S],
        th: &[S],
        _c: &[f64],
        out: &mut [S],
    ) {
        out[0] = x[0].powf(1.5) - u[0].tanh() * th[0];
        out[1] = x[1] * x[0] - S::from(3.0);
    }
    fn n_terminal(&self) -> usize {
        1
    }
    fn terminal_constraints<S: Scalar>(&self, x: &[S], _th: &[S], _c: &[f64], out: &mut [S]) {
        out[0] = x[0].atan2(x[1]) - S::from(0.1);
    }
    fn symbolic_key(&self) -> Option<u64> {
        Some(0)
    }
}

/// Stage and terminal blocks with compiled programs, with the tape, and from num-dual.
fn three_ways<M: OcpModel>(
    model: &M,
    i: usize,
    (x, u, th): (&[f64], &[f64], &[f64]),
    lam: &[f64],
    mu: &[f64],
    mu_h: &[f64],
) -> [(StageBlock, StageBlock); 3] {
    let Dims { n, m, .. } = model.dims();
    let mut out = Vec::new();
    for way in 0..3 {
        let mut diff = Differentiator::new();
        diff.set_symbolic(way == 0);
        let mut s = StageBlock::new(n, m, model.n_path(i));
        let mut t = StageBlock::new(n, 0, model.n_terminal());
        if way == 2 {
            diff.stage_dual(model, i, x, u, th, &[], lam, mu, &mut s);
            diff.terminal_dual(model, x, th, &[], mu_h, &mut t);
        } else {
            diff.stage(model, i, x, u, th, &[], lam, mu, &mut s);
            diff.terminal(model, x, th, &[], mu_h, &mut t);
        }
        out.push((s, t));
    }
    out.try_into().expect("three evaluations")
}

#[test]
fn every_elementary_operation_matches_the_tape_and_num_dual() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    for _ in 0..10 {
        let x = [rng.random_range(0.2..1.2), rng.random_range(0.8..2.4)];
        let u = [rng.random_range(-0.5..0.5)];
        let th = [rng.random_range(0.5..1.5), rng.random_range(0.5..1.5)];
        let lam = [rng.random_range(-1.0..1.0), rng.random_range(-1.0..1.0)];
        let mu = [rng.random_range(0.0..1.0), rng.random_range(0.0..1.0)];
        let mu_h = [rng.random_range(0.0..1.0)];
        let [(cs, ct), (ts, tt), (ds, dt)] =
            three_ways(&AllOps, 0, (&x, &u, &th), &lam, &mu, &mu_h);
        assert_blocks_close(&cs, &ts, 1e-12, "all-ops stage vs tape");
        assert_blocks_close(&ct, &tt, 1e-12, "all-ops terminal vs tape");
        assert_blocks_close(&cs, &ds, 1e-11, "all-ops stage vs num-dual");
        assert_blocks_close(&ct, &dt, 1e-11, "all-ops terminal vs num-dual");
    }
}

fn random_point(rng: &mut ChaCha8Rng, k: usize, lo: f64, hi: f64) -> Vec<f64> {
    (0..k).map(|_| rng.random_range(lo..hi)).collect()
}

#[test]
fn every_task_matches_the_tape() {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    for task in NonlinearTask::ALL {
        let (n, m) = task.nm();
        let table1 = Table1Policy::new(task);
        let true_form = TrueFormPolicy::new(task);
        for stage in [Some(0), Some(3), None] {
            let s1 = program_stats(&table1, stage).expect("Table 1 policies compile");
            let s2 = program_stats(&true_form, stage).expect("true-form policies compile");
            assert!(s1.instructions > 0 && s2.instructions >= s2.first_order_instructions);
            assert!(s1.native && s2.native, "{}: no native program", task.name());
        }
        let mut th1 = random_point(&mut rng, 2 * n, 0.5, 3.0);
        th1.extend(
            task.phi_true()
                .iter()
                .map(|p| p * rng.random_range(0.6..1.4)),
        );
        let th2: Vec<f64> = true_form
            .true_theta()
            .iter()
            .map(|p| p * rng.random_range(0.6..1.4))
            .collect();
        for _ in 0..5 {
            let x = random_point(&mut rng, n, -1.5, 1.5);
            let u = random_point(&mut rng, m, -5.0, 5.0);
            let lam = random_point(&mut rng, n, -3.0, 3.0);
            let i = rng.random_range(0..5);
            let [(cs, ct), (ts, tt), _] = three_ways(&table1, i, (&x, &u, &th1), &lam, &[], &[]);
            assert_blocks_close(&cs, &ts, 1e-12, &format!("{} Table 1 stage", task.name()));
            assert_blocks_close(
                &ct,
                &tt,
                1e-12,
                &format!("{} Table 1 terminal", task.name()),
            );
            let [(cs, ct), (ts, tt), _] = three_ways(&true_form, i, (&x, &u, &th2), &lam, &[], &[]);
            assert_blocks_close(&cs, &ts, 1e-12, &format!("{} true form stage", task.name()));
            assert_blocks_close(
                &ct,
                &tt,
                1e-12,
                &format!("{} true form terminal", task.name()),
            );
        }
    }
}

/// Compiled programs write their constant outputs (structural zeros, the identity of
/// A = I + dt·J, constant weights) once per block inside the solver; a block handed to the
/// public `Differentiator::stage` / `terminal` belongs to the caller, who may have changed any
/// entry, so it is rewritten in full: the result equals a fresh block's bitwise.
#[test]
fn a_block_the_caller_changed_is_rewritten_in_full() {
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    for task in NonlinearTask::ALL {
        let (n, m) = task.nm();
        let model = Table1Policy::new(task);
        let mut theta = random_point(&mut rng, 2 * n, 0.5, 3.0);
        theta.extend(task.phi_true());
        let x = random_point(&mut rng, n, -1.0, 1.0);
        let u = random_point(&mut rng, m, -3.0, 3.0);
        let lam = random_point(&mut rng, n, -2.0, 2.0);
        let mut diff = Differentiator::new();
        let mut fresh = StageBlock::new(n, m, 0);
        let mut fresh_t = StageBlock::new(n, 0, 0);
        diff.stage(&model, 1, &x, &u, &theta, &[], &lam, &[], &mut fresh);
        diff.terminal(&model, &x, &theta, &[], &[], &mut fresh_t);
        let mut reused = fresh.clone();
        let mut reused_t = fresh_t.clone();
        for b in [&mut reused, &mut reused_t] {
            b.c = f64::NAN;
            for v in [&mut b.f, &mut b.cx, &mut b.cu] {
                v.fill(f64::NAN);
            }
            for a in [&mut b.fx, &mut b.fu, &mut b.hess] {
                a.fill(7.0);
            }
        }
        diff.stage(&model, 1, &x, &u, &theta, &[], &lam, &[], &mut reused);
        diff.terminal(&model, &x, &theta, &[], &[], &mut reused_t);
        // (The terminal stage writes c, c_x and the Hessian; its f, f_x, f_u are not its own.)
        for (a, b, what) in [
            (&fresh, &reused, "stage"),
            (&fresh_t, &reused_t, "terminal"),
        ] {
            let bits = |b: &StageBlock| -> Vec<u64> {
                let mut v = vec![b.c.to_bits()];
                let mut parts = vec![b.cx.as_slice(), b.hess.as_slice()];
                if what == "stage" {
                    parts.extend([b.f.as_slice(), b.cu.as_slice()]);
                    parts.extend([b.fx.as_slice(), b.fu.as_slice()]);
                }
                for s in parts {
                    v.extend(s.iter().map(|x| x.to_bits()));
                }
                v
            };
            assert_eq!(bits(a), bits(b), "{} {what}", task.name());
        }
    }
}

/// A model that branches on a value (and reads one): the recording is rejected and the tape
/// gives the right derivatives on both branches.
struct Branchy {
    read_value: bool,
}

impl OcpModel for Branchy {
    fn name(&self) -> &str {
        "branchy"
    }
    fn dims(&self) -> Dims {
        Dims {
            n: 1,
            m: 1,
            d: 1,
            n_ctx: 0,
        }
    }
    fn dynamics<S: Scalar>(
        &self,
        _i: usize,
        x: &[S],
        u: &[S],
        th: &[S],
        _c: &[f64],
        out: &mut [S],
    ) {
        let positive = if self.read_value {
            x[0].re() > 0.0
        } else {
            x[0] > S::from(0.0)
        };
        out[0] = if positive {
            x[0] * x[0] * th[0] + u[0]
        } else {
            -x[0] * x[0] * x[0] + u[0]
        };
    }
    fn stage_cost<S: Scalar>(&self, _i: usize, x: &[S], u: &[S], _th: &[S], _c: &[f64]) -> S {
        x[0] * x[0] + u[0] * u[0]
    }
    fn terminal_cost<S: Scalar>(&self, x: &[S], _th: &[S], _c: &[f64]) -> S {
        x[0].abs() * x[0]
    }
    fn symbolic_key(&self) -> Option<u64> {
        Some(u64::from(self.read_value))
    }
}

#[test]
fn value_dependent_code_falls_back_to_the_tape() {
    for read_value in [false, true] {
        let model = Branchy { read_value };
        let why = if read_value {
            "a value read (re)"
        } else {
            "a comparison"
        };
        assert_eq!(
            program_stats(&model, Some(0)),
            Err(SymbolicError::Unsupported(why))
        );
        assert_eq!(
            program_stats(&model, None),
            Err(SymbolicError::Unsupported("abs"))
        );
        for x0 in [0.7, -0.7, 0.3, -1.2] {
            let [(cs, ct), (ts, tt), (ds, dt)] =
                three_ways(&model, 0, (&[x0], &[0.4], &[1.3]), &[0.9], &[], &[]);
            assert_blocks_close(&cs, &ts, 0.0, "branchy stage vs tape");
            assert_blocks_close(&ct, &tt, 0.0, "branchy terminal vs tape");
            assert_blocks_close(&cs, &ds, 1e-12, "branchy stage vs num-dual");
            assert_blocks_close(&ct, &dt, 1e-12, "branchy terminal vs num-dual");
        }
    }
}

/// Closed-loop solves (warm-started, as in Step mode) and a VJP per solve, with and without
/// the compiled programs: the same solutions and gradients up to rounding.
#[test]
fn solves_and_vjps_agree_with_the_tape_path() {
    for task in NonlinearTask::ALL {
        let model = Table1Policy::new(task);
        let theta = task.oracle_theta().unwrap_or_else(|| {
            let (n, _) = task.nm();
            let mut th = vec![1.0; 2 * n];
            th.extend(task.phi_true());
            th
        });
        let h = task.step_horizon();
        let (n, m) = task.nm();
        let tape = SolverSettings {
            symbolic_derivatives: false,
            ..SolverSettings::default()
        };
        let mut ws_c = Workspace::new(&model, h, SolverSettings::default()).unwrap();
        let mut ws_t = Workspace::new(&model, h, tape).unwrap();
        let mut x = demo_states(task)[0].clone();
        let mut warm = WarmStart::Cold;
        let seed_u: Vec<f64> = (0..h * m)
            .map(|k| ((k * 7 % 5) as f64 - 2.0) * 0.3)
            .collect();
        for step in 0..8 {
            let sc = ws_c.solve(&model, &x, &theta, &[], warm).unwrap();
            let st = ws_t.solve(&model, &x, &theta, &[], warm).unwrap();
            assert!(
                sc.status.is_polished() && st.status.is_polished(),
                "{}",
                task.name()
            );
            for (a, b) in sc.u.iter().zip(&st.u) {
                let e = (a - b).amax();
                assert!(
                    e <= 1e-9,
                    "{} step {step}: u differs by {e:.2e}",
                    task.name()
                );
            }
            let u0: Vec<f64> = sc.u[0].iter().copied().collect();
            let seed = Seed {
                x: None,
                u: Some(&seed_u),
            };
            let mut gc = vec![0.0; theta.len()];
            let mut gt = vec![0.0; theta.len()];
            vjp(&mut ws_c, &model, seed, &mut gc).unwrap();
            vjp(&mut ws_t, &model, seed, &mut gt).unwrap();
            let scale = gt.iter().fold(1.0f64, |s, v| s.max(v.abs()));
            let e = gc
                .iter()
                .zip(&gt)
                .fold(0.0f64, |s, (a, b)| s.max((a - b).abs()));
            assert!(
                e <= 1e-8 * scale,
                "{} step {step}: VJP differs by {e:.2e}",
                task.name()
            );
            let mut xn = vec![0.0; n];
            task.step(&x, &u0, task.phi_true(), &mut xn);
            x = xn;
            warm = WarmStart::Shift;
        }
    }
}

#[test]
fn native_programs_are_up_to_date() {
    let generated = diffop::model::symbolic::builtin_native_source();
    let committed = include_str!("../../src/model/symbolic/native.rs");
    assert!(
        generated == committed,
        "src/model/symbolic/native.rs is stale: regenerate it with \
         `cargo run --release --example gen_native > src/model/symbolic/native.rs`"
    );
}

/// The generated native functions and the interpreter give bitwise identical blocks.
#[test]
fn native_programs_match_the_interpreter_bitwise() {
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    for task in NonlinearTask::ALL {
        let (n, m) = task.nm();
        let model = TrueFormPolicy::new(task);
        let th = model.true_theta();
        for hessian_point in 0..3 {
            let x = random_point(&mut rng, n, -1.5, 1.5);
            let u = random_point(&mut rng, m, -5.0, 5.0);
            let lam = random_point(&mut rng, n, -3.0, 3.0);
            let mut blocks = Vec::new();
            for interpret in [false, true] {
                let mut diff = Differentiator::new();
                diff.set_interpret_only(interpret);
                let mut s = StageBlock::new(n, m, 0);
                let mut t = StageBlock::new(n, 0, 0);
                diff.stage(&model, hessian_point, &x, &u, &th, &[], &lam, &[], &mut s);
                diff.terminal(&model, &x, &th, &[], &[], &mut t);
                blocks.push((s, t));
            }
            assert_blocks_close(&blocks[0].0, &blocks[1].0, 0.0, "native vs interpreter");
            assert_blocks_close(&blocks[0].1, &blocks[1].1, 0.0, "native vs interpreter");
        }
    }
}

/// The VJP's θ-contraction (`stage_theta_contract`) with compiled programs against the tape:
/// stage and terminal, the all-operations model (with inequalities) and every task.
#[test]
fn theta_contractions_match_the_tape() {
    fn compare<M: OcpModel>(model: &M, rng: &mut ChaCha8Rng, th: &[f64], lo: f64, hi: f64) {
        let Dims { n, m, d, .. } = model.dims();
        for stage in [Some(1), None] {
            let q = match stage {
                Some(i) => model.n_path(i),
                None => model.n_terminal(),
            };
            let k = if stage.is_some() { n + m } else { n };
            let x = random_point(rng, n, lo, hi);
            let u = random_point(rng, m, -0.5, 0.5);
            let lam = random_point(rng, n, -2.0, 2.0);
            let mu = random_point(rng, q, 0.0, 1.0);
            let wz = random_point(rng, k, -1.0, 1.0);
            let fw = random_point(rng, n, -1.0, 1.0);
            let gw = random_point(rng, q, -1.0, 1.0);
            let mut outs = Vec::new();
            for symbolic in [true, false] {
                let mut diff = Differentiator::new();
                diff.set_symbolic(symbolic);
                let mut out = vec![0.0; d];
                diff.stage_theta_contract(
                    model,
                    stage,
                    &x,
                    &u,
                    th,
                    &[],
                    &lam,
                    &mu,
                    &wz,
                    &fw,
                    &gw,
                    &mut out,
                );
                outs.push(DMatrix::from_column_slice(d, 1, &out));
            }
            let e = rel(&outs[0], &outs[1]);
            assert!(
                e <= 1e-12,
                "{} {stage:?}: contraction differs by {e:.2e}",
                model.name()
            );
        }
    }
    let mut rng = ChaCha8Rng::seed_from_u64(33);
    for _ in 0..5 {
        let th = [rng.random_range(0.5..1.5), rng.random_range(0.5..1.5)];
        compare(&AllOps, &mut rng, &th, 0.3, 1.1);
    }
    for task in NonlinearTask::ALL {
        let table1 = Table1Policy::new(task);
        let (n, _) = task.nm();
        let mut th = random_point(&mut rng, 2 * n, 0.5, 3.0);
        th.extend(task.phi_true());
        compare(&table1, &mut rng, &th, -1.5, 1.5);
        let true_form = TrueFormPolicy::new(task);
        compare(&true_form, &mut rng, &true_form.true_theta(), -1.5, 1.5);
    }
}
