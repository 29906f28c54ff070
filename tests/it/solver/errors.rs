//! Bad input gives a typed error or a failure status — never a panic, never non-finite
//! numbers reported as solved.

use super::tasks::voltage_case;
use diffop::model::tasks::{NonlinearTask, Table1Policy, VoltagePolicy};
use diffop::model::{cst, ContextError, Dims, OcpModel, Scalar};
use diffop::solver::{
    SettingsError, Solution, SolverError, SolverSettings, Status, WarmStart, Workspace,
};
use proptest::prelude::*;

fn cartpole() -> (Table1Policy, Vec<f64>) {
    (
        Table1Policy::new(NonlinearTask::Cartpole),
        NonlinearTask::Cartpole.oracle_theta().unwrap(),
    )
}

#[test]
fn wrong_dimensions_are_typed_errors() {
    let (model, th) = cartpole();
    let mut ws = Workspace::new(&model, 6, SolverSettings::default()).unwrap();
    let e = ws
        .solve(&model, &[0.0; 3], &th, &[], WarmStart::Cold)
        .unwrap_err();
    assert!(
        matches!(
            e,
            SolverError::Dimension {
                what: "x_init",
                got: 3,
                expected: 4
            }
        ),
        "{e}"
    );
    let e = ws
        .solve(&model, &[0.0; 4], &th[..10], &[], WarmStart::Cold)
        .unwrap_err();
    assert!(
        matches!(
            e,
            SolverError::Dimension {
                what: "theta",
                got: 10,
                ..
            }
        ),
        "{e}"
    );
    let e = ws
        .solve(&model, &[0.0; 4], &th, &[1.0], WarmStart::Cold)
        .unwrap_err();
    assert!(
        matches!(e, SolverError::Dimension { what: "ctx", .. }),
        "{e}"
    );
    // warm start on a fresh workspace
    let e = ws
        .solve(&model, &[0.0; 4], &th, &[], WarmStart::Shift)
        .unwrap_err();
    assert_eq!(e, SolverError::NoWarmStart);
    // a model of other dimensions on this workspace
    let volt = VoltagePolicy::default();
    let (vth, ctx, x0) = voltage_case(0);
    let e = ws
        .solve(&volt, &x0, &vth, &ctx, WarmStart::Cold)
        .unwrap_err();
    assert!(
        matches!(
            e,
            SolverError::ModelDims {
                expected: Dims { n: 4, m: 1, .. },
                got: Dims { n: 6, m: 3, .. },
                ..
            }
        ),
        "{e}"
    );
    // horizon 0 and bad settings
    assert!(matches!(
        Workspace::new(&model, 0, SolverSettings::default()),
        Err(SolverError::ZeroHorizon)
    ));
    let bad = SolverSettings {
        tol: f64::NAN,
        ..Default::default()
    };
    assert!(matches!(
        Workspace::new(&model, 6, bad),
        Err(SolverError::Settings(SettingsError::NotPositive {
            field: "tol",
            ..
        }))
    ));
}

#[test]
fn non_finite_inputs_are_typed_errors() {
    let (model, th) = cartpole();
    let mut ws = Workspace::new(&model, 6, SolverSettings::default()).unwrap();
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let e = ws
            .solve(&model, &[0.0, bad, 0.0, 0.0], &th, &[], WarmStart::Cold)
            .unwrap_err();
        assert!(
            matches!(
                e,
                SolverError::NonFinite {
                    what: "x_init",
                    index: 1,
                    ..
                }
            ),
            "{e}"
        );
        let mut t = th.clone();
        t[9] = bad;
        let e = ws
            .solve(&model, &[0.0; 4], &t, &[], WarmStart::Cold)
            .unwrap_err();
        assert!(
            matches!(
                e,
                SolverError::NonFinite {
                    what: "theta",
                    index: 9,
                    ..
                }
            ),
            "{e}"
        );
    }
    let volt = VoltagePolicy::default();
    let mut ws = Workspace::new(&volt, 6, SolverSettings::default()).unwrap();
    let (vth, ctx, x0) = voltage_case(0);
    let mut c = ctx.clone();
    c[4] = f64::NAN;
    let e = ws.solve(&volt, &x0, &vth, &c, WarmStart::Cold).unwrap_err();
    assert!(
        matches!(
            e,
            SolverError::NonFinite {
                what: "ctx",
                index: 4,
                ..
            }
        ),
        "{e}"
    );
    // q_min > q_max
    let mut c = ctx.clone();
    c[3] = 2.0;
    let e = ws.solve(&volt, &x0, &vth, &c, WarmStart::Cold).unwrap_err();
    assert!(
        matches!(
            e,
            SolverError::Context(ContextError::BoundOrder {
                lower: "q_min",
                upper: "q_max",
                index: 0,
                ..
            })
        ),
        "{e}"
    );
}

/// Wraps the cart-pole policy; the stage cost turns NaN once |x| exceeds a threshold, or at
/// a given stage always.
struct NanModel {
    inner: Table1Policy,
    nan_stage: Option<usize>,
    nan_above: f64,
}

impl OcpModel for NanModel {
    fn name(&self) -> &str {
        "nan"
    }
    fn dims(&self) -> Dims {
        self.inner.dims()
    }
    fn dynamics<S: Scalar>(&self, i: usize, x: &[S], u: &[S], t: &[S], c: &[f64], o: &mut [S]) {
        self.inner.dynamics(i, x, u, t, c, o);
        if x[1].re().abs() > self.nan_above {
            o[1] = cst::<S>(f64::NAN);
        }
    }
    fn stage_cost<S: Scalar>(&self, i: usize, x: &[S], u: &[S], t: &[S], c: &[f64]) -> S {
        let v = self.inner.stage_cost(i, x, u, t, c);
        if Some(i) == self.nan_stage {
            v * f64::NAN
        } else {
            v
        }
    }
    fn terminal_cost<S: Scalar>(&self, x: &[S], t: &[S], c: &[f64]) -> S {
        self.inner.terminal_cost(x, t, c)
    }
}

fn assert_not_solved_with_garbage(sol: &Solution) {
    if sol.status.is_solved() {
        assert_all_finite(sol);
    }
}

fn assert_all_finite(sol: &Solution) {
    let fin = |v: &[nalgebra::DVector<f64>]| v.iter().all(|a| a.iter().all(|b| b.is_finite()));
    assert!(sol.objective.is_finite(), "objective {}", sol.objective);
    assert!(fin(&sol.x) && fin(&sol.u) && fin(&sol.costates) && fin(&sol.mu) && fin(&sol.g));
    assert!(sol.lambda0.iter().all(|a| a.is_finite()));
    assert!(sol.stationarity.is_finite() && sol.feasibility.is_finite());
}

#[test]
fn model_returning_nan_is_a_numerical_error() {
    let (inner, th) = cartpole();
    let always = NanModel {
        inner: inner.clone(),
        nan_stage: Some(2),
        nan_above: f64::INFINITY,
    };
    let mut ws = Workspace::new(&always, 6, SolverSettings::default()).unwrap();
    let sol = ws
        .solve(&always, &[0.0; 4], &th, &[], WarmStart::Cold)
        .unwrap();
    assert_eq!(sol.status, Status::NumericalError);
    assert!(!ws.kkt_ready());
    // NaN dynamics only once the pole angle moves beyond 0.2 (reached mid-solve)
    let later = NanModel {
        inner,
        nan_stage: None,
        nan_above: 0.2,
    };
    let mut ws = Workspace::new(&later, 30, SolverSettings::default()).unwrap();
    let sol = ws
        .solve(&later, &[0.0; 4], &th, &[], WarmStart::Cold)
        .unwrap();
    eprintln!(
        "nan mid-solve: {:?} after {} it",
        sol.status, sol.iterations
    );
    assert_not_solved_with_garbage(sol);
}

/// x⁺ = x + u, c = x² + u², g_0 = x_0 − 1 ≤ 0 (depends on x_0 only).
struct StageZeroBound;

impl OcpModel for StageZeroBound {
    fn name(&self) -> &str {
        "stage-zero-bound"
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
        x[0] * x[0] + u[0] * u[0]
    }
    fn terminal_cost<S: Scalar>(&self, x: &[S], _t: &[S], _c: &[f64]) -> S {
        x[0] * x[0]
    }
    fn n_path(&self, i: usize) -> usize {
        usize::from(i == 0)
    }
    fn path_constraints<S: Scalar>(
        &self,
        _i: usize,
        x: &[S],
        _u: &[S],
        _t: &[S],
        _c: &[f64],
        o: &mut [S],
    ) {
        o[0] = x[0] - 1.0;
    }
}

#[test]
fn infeasible_stage_zero_constraint_is_never_solved() {
    let mut ws = Workspace::new(&StageZeroBound, 4, SolverSettings::default()).unwrap();
    let t = std::time::Instant::now();
    let sol = ws
        .solve(&StageZeroBound, &[2.0], &[0.0], &[], WarmStart::Cold)
        .unwrap();
    eprintln!(
        "infeasible: {:?} after {} it ({:?})",
        sol.status,
        sol.iterations,
        t.elapsed()
    );
    assert!(
        matches!(sol.status, Status::Infeasible | Status::NumericalError),
        "status {:?}",
        sol.status
    );
    assert!(!ws.kkt_ready());
    // the feasible side solves, with the bound inactive, and exactly active at x_init = 1
    let sol = ws
        .solve(&StageZeroBound, &[0.5], &[0.0], &[], WarmStart::Cold)
        .unwrap();
    assert_eq!(sol.status, Status::Solved);
}

#[test]
fn iteration_limit_is_reported() {
    let settings = SolverSettings {
        max_iter: 1,
        ..Default::default()
    };
    let volt = VoltagePolicy::default();
    let (th, ctx, x0) = voltage_case(0);
    let mut ws = Workspace::new(&volt, 30, settings.clone()).unwrap();
    let sol = ws.solve(&volt, &x0, &th, &ctx, WarmStart::Cold).unwrap();
    assert_eq!(sol.status, Status::MaxIterations);
    assert!(!ws.kkt_ready());
    let (model, th) = cartpole();
    let mut ws = Workspace::new(&model, 30, settings).unwrap();
    let sol = ws
        .solve(&model, &[0.0; 4], &th, &[], WarmStart::Cold)
        .unwrap();
    assert_eq!(sol.status, Status::MaxIterations);
}

fn garbage() -> impl Strategy<Value = f64> {
    prop_oneof![
        3 => -10.0..10.0f64,
        1 => prop::num::f64::ANY,
        1 => prop::sample::select(vec![f64::NAN, f64::INFINITY, -f64::INFINITY, 1e300, -1e300, 1e150, 1e-300, f64::MAX]),
        1 => -1e8..1e8f64,
    ]
}

fn garbage_vec(max_len: usize) -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(garbage(), 0..=max_len)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn garbage_never_panics_nor_solves_to_nan(
        x0 in garbage_vec(7),
        th in garbage_vec(14),
        ctx in garbage_vec(10),
        which in 0usize..3,
        warm in 0usize..3,
    ) {
        let start = [WarmStart::Cold, WarmStart::Current, WarmStart::Shift][warm];
        match which {
            0 => {
                let (model, _) = cartpole();
                let mut ws = Workspace::new(&model, 6, SolverSettings::default()).unwrap();
                if let Ok(sol) = ws.solve(&model, &x0, &th, &ctx, start) {
                    assert_not_solved_with_garbage(sol);
                }
            }
            1 => {
                let volt = VoltagePolicy::default();
                let mut ws = Workspace::new(&volt, 6, SolverSettings::default()).unwrap();
                if let Ok(sol) = ws.solve(&volt, &x0, &th, &ctx, start) {
                    assert_not_solved_with_garbage(sol);
                }
            }
            _ => {
                // right lengths, garbage values: always reaches the solver
                let (model, good) = cartpole();
                let mut x = [0.0; 4];
                for (a, b) in x.iter_mut().zip(x0.iter()) {
                    *a = if b.is_finite() { *b } else { 0.5 };
                }
                let mut t = good.clone();
                for (a, b) in t.iter_mut().zip(th.iter()) {
                    *a = if b.is_finite() { *b } else { 1.0 };
                }
                let mut ws = Workspace::new(&model, 6, SolverSettings::default()).unwrap();
                let sol = ws.solve(&model, &x, &t, &[], WarmStart::Cold).unwrap();
                assert_not_solved_with_garbage(sol);
                if start != WarmStart::Cold {
                    if let Ok(sol) = ws.solve(&model, &x, &t, &[], start) {
                        assert_not_solved_with_garbage(sol);
                    }
                }
            }
        }
    }
}

/// A voltage H = 30 case (Traj policy after one training iteration, test scenario 485 at
/// t = 60) whose interior-point solution leaves ten bound rows ambiguous: the polish needs six
/// active-set rounds (one row leaves per round). With the default rounds it polishes to a KKT
/// point; with too few rounds the solve falls back to the interior-point solution
/// (`SolvedUnpolished`, finite, feasible) instead of failing.
#[test]
fn polish_needs_many_active_set_rounds_and_falls_back_cleanly() {
    let volt = VoltagePolicy::default();
    let theta = [
        0.9900000002575549,
        0.9900000026408421,
        1.0099999996457436,
        0.06352667737087095,
        0.035863993239471564,
        0.038866680434945663,
        0.02205570060889104,
        0.08683116817129546,
        0.11789832371005894,
        0.052829558507415636,
        0.06816912043493413,
        0.1392511566525529,
    ];
    let x0 = [
        1.0082847925479168,
        1.02060288867126,
        1.0127823864989882,
        0.6212727426773252,
        1.3731006456919057,
        0.20298935873395305,
    ];
    let ctx = [
        0.9030635829229724,
        0.8425720249600054,
        0.8459395260009336,
        -1.5,
        -1.4,
        -1.0,
        1.5,
        1.4,
        0.6,
    ];
    let mut ws = Workspace::new(&volt, 30, SolverSettings::default()).unwrap();
    let sol = ws
        .solve(&volt, &x0, &theta, &ctx, WarmStart::Cold)
        .unwrap()
        .clone();
    assert_eq!(sol.status, Status::Solved);
    let r = super::common::kkt_check(&volt, &x0, &theta, &ctx, &sol);
    super::common::assert_kkt("voltage H30 many rounds", &r, 1e-10);

    let few = SolverSettings {
        max_active_rounds: 2,
        ..SolverSettings::default()
    };
    let mut ws = Workspace::new(&volt, 30, few).unwrap();
    let fallback = ws
        .solve(&volt, &x0, &theta, &ctx, WarmStart::Cold)
        .unwrap()
        .clone();
    assert_eq!(fallback.status, Status::SolvedUnpolished);
    assert!(fallback.g.iter().all(|g| g.iter().all(|v| *v <= 1e-8)));
    let du: f64 = fallback
        .u
        .iter()
        .zip(&sol.u)
        .map(|(a, b)| (a - b).amax())
        .fold(0.0, f64::max);
    // The problem is flat along some directions: the 1e-8 interior-point plan is close in
    // objective, less so in u.
    assert!(
        du < 1e-3,
        "interior-point fallback is {du} from the polished plan"
    );
    let dobj = (fallback.objective - sol.objective).abs() / sol.objective.abs().max(1.0);
    assert!(dobj < 1e-7, "objective gap {dobj}");
    assert!(fallback.mu.iter().all(|m| m.iter().all(|v| v.is_finite())));
}

/// x⁺ = x + 0.1·x³ + u, c = x² + u²: unstable, so the u = 0 rollout of the cold start from
/// x = 3 overflows within a few steps.
struct Cubic;

impl OcpModel for Cubic {
    fn name(&self) -> &str {
        "cubic"
    }
    fn dims(&self) -> Dims {
        Dims {
            n: 1,
            m: 1,
            d: 1,
            n_ctx: 0,
        }
    }
    fn dynamics<S: Scalar>(&self, _i: usize, x: &[S], u: &[S], t: &[S], _c: &[f64], o: &mut [S]) {
        o[0] = x[0] + x[0] * x[0] * x[0] * t[0] * 0.1 + u[0];
    }
    fn stage_cost<S: Scalar>(&self, _i: usize, x: &[S], u: &[S], _t: &[S], _c: &[f64]) -> S {
        x[0] * x[0] + u[0] * u[0]
    }
    fn terminal_cost<S: Scalar>(&self, x: &[S], _t: &[S], _c: &[f64]) -> S {
        x[0] * x[0]
    }
}

/// A cold start whose rollout leaves the finite range (an unstable model, as a learned one
/// can be) still solves: the states from the first non-finite one hold the last finite state
/// and the first Newton step closes the defects.
#[test]
fn diverging_cold_rollout_still_solves() {
    let mut ws = Workspace::new(&Cubic, 20, SolverSettings::default()).unwrap();
    let sol = ws
        .solve(&Cubic, &[3.0], &[1.0], &[], WarmStart::Cold)
        .unwrap();
    assert!(sol.status.is_polished(), "{:?}", sol.status);
    assert!(sol.objective.is_finite() && sol.objective > 9.0);
    let r = super::common::kkt_check(&Cubic, &[3.0], &[1.0], &[], sol);
    super::common::assert_kkt("cubic", &r, 1e-9);
    // The rollout itself is not finite (what the guess had to replace).
    let mut x = 3.0f64;
    for i in 0..20 {
        x += 0.1 * x * x * x;
        if !x.is_finite() {
            assert!(i < 10);
            return;
        }
    }
    panic!("the u = 0 rollout was expected to overflow");
}

/// The same when no rollout along the Newton step is finite either (the cart-pole with a learned
/// cart mass of 0.08 from the PDP Table-1 imitation of run seed 4, iteration 27: every trial of
/// the feasible line search overflowed and the solve ended `NumericalError`): the solver then
/// takes multiple-shooting steps on the ℓ1 merit, which close the defects, and finishes.
#[test]
fn unstable_model_whose_feasible_trials_overflow_still_solves() {
    let task = NonlinearTask::Cartpole;
    let model = Table1Policy::new(task);
    let theta = [
        0.9890368628366876,
        1.0056952648946687,
        0.9785048059756194,
        0.9838257186855204,
        0.9998785727834876,
        0.999735325918872,
        0.9999335862518919,
        0.9996955929702229,
        0.07947090837955516,
        0.8179416240051338,
        1.141422158508976,
    ];
    let x0 = diffop::envs::nonlinear::demo_states(task)[1].clone();
    let mut ws = Workspace::new(&model, task.episode_len(), SolverSettings::default()).unwrap();
    let sol = ws.solve(&model, &x0, &theta, &[], WarmStart::Cold).unwrap();
    assert!(sol.status.is_polished(), "{:?}", sol.status);
    let r = super::common::kkt_check(&model, &x0, &theta, &[], sol);
    super::common::assert_kkt("cart-pole, unstable learned model", &r, 1e-8);
}
