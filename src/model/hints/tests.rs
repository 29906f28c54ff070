//! Tests of the hint checker: the built-in hints hold, wrong ones are caught.

use super::*;
use crate::model::cst;
use crate::model::tasks::{NonlinearTask, Table1Policy, VoltagePolicy};

/// x⁺ = (x₀ + dt·x₁·sin u, x₁ + dt·u·x₀), c = x₀² + x₁² + θ₀u² + x₀x₁: curvature on every
/// variable, with cross terms. Its hints are set per test (all of them wrong).
struct Coupled {
    vars: Option<Vec<usize>>,
    diag: Vec<usize>,
    lq: bool,
}

impl OcpModel for Coupled {
    fn name(&self) -> &str {
        "coupled"
    }
    fn dims(&self) -> Dims {
        Dims {
            n: 2,
            m: 1,
            d: 1,
            n_ctx: 0,
        }
    }
    fn dynamics<S: Scalar>(&self, _: usize, x: &[S], u: &[S], _: &[S], _: &[f64], o: &mut [S]) {
        let dt = cst::<S>(0.1);
        o[0] = x[0] + dt * x[1] * u[0].sin();
        o[1] = x[1] + dt * u[0] * x[0];
    }
    fn stage_cost<S: Scalar>(&self, _: usize, x: &[S], u: &[S], th: &[S], _: &[f64]) -> S {
        x[0] * x[0] + x[1] * x[1] + th[0] * u[0] * u[0] + x[0] * x[1]
    }
    fn terminal_cost<S: Scalar>(&self, x: &[S], _: &[S], _: &[f64]) -> S {
        x[0] * x[0] * x[1]
    }
    fn stage_curvature_vars(&self) -> Option<&[usize]> {
        self.vars.as_deref()
    }
    fn stage_diagonal_vars(&self) -> &[usize] {
        &self.diag
    }
    fn is_linear_quadratic(&self) -> bool {
        self.lq
    }
}

/// x⁺ = x + k·θ₀·u, c = x² + u², claiming one symbolic key whatever k is.
struct Scaled {
    k: f64,
}

impl OcpModel for Scaled {
    fn name(&self) -> &str {
        "scaled"
    }
    fn dims(&self) -> Dims {
        Dims {
            n: 1,
            m: 1,
            d: 1,
            n_ctx: 0,
        }
    }
    fn dynamics<S: Scalar>(&self, _: usize, x: &[S], u: &[S], th: &[S], _: &[f64], o: &mut [S]) {
        o[0] = x[0] + cst::<S>(self.k) * th[0] * u[0];
    }
    fn stage_cost<S: Scalar>(&self, _: usize, x: &[S], u: &[S], _: &[S], _: &[f64]) -> S {
        x[0] * x[0] + u[0] * u[0]
    }
    fn terminal_cost<S: Scalar>(&self, x: &[S], _: &[S], _: &[f64]) -> S {
        x[0] * x[0]
    }
    fn symbolic_key(&self) -> Option<u64> {
        Some(7)
    }
}

fn coupled(vars: Option<Vec<usize>>, diag: Vec<usize>, lq: bool) -> Coupled {
    Coupled { vars, diag, lq }
}

fn mismatch(r: Result<HintReport, HintError>) -> HintMismatch {
    match r {
        Err(HintError::Mismatch(m)) => *m,
        other => panic!("expected a hint mismatch, got {other:?}"),
    }
}

#[test]
fn built_in_hints_hold() {
    let s = HintCheckSettings::default();
    for task in NonlinearTask::ALL {
        let model = Table1Policy::new(task);
        // Unit cost weights and the true physical parameters (θ(0)'s form).
        let (n, _) = task.nm();
        let mut theta = vec![1.0; 2 * n];
        theta.extend_from_slice(task.phi_true());
        let r = check_hints_random(&model, &theta, &[], &s).unwrap();
        assert!(r.curvature && r.symbolic && !r.linear_quadratic, "{task:?}");
        assert_eq!(r.points, s.points);
        assert!(r.max_rel_error <= 1e-12, "{task:?}: {}", r.max_rel_error);
    }
    let volt = VoltagePolicy::default();
    let theta = vec![1.0; volt.dims().d];
    let ctx = vec![1.0; volt.dims().n_ctx];
    let s = HintCheckSettings {
        horizon: 3,
        ..HintCheckSettings::default()
    };
    let r = check_hints_random(&volt, &theta, &ctx, &s).unwrap();
    assert!(r.curvature && r.linear_quadratic && !r.symbolic);
}

#[test]
fn model_without_hints_checks_nothing() {
    let m = coupled(None, vec![], false);
    let r = check_hints_random(&m, &[0.3], &[], &HintCheckSettings::default()).unwrap();
    assert!(!r.curvature && !r.linear_quadratic && !r.symbolic);
    // The same model through the public wrapper: no hints either.
    let w = WithoutHints(coupled(Some(vec![0]), vec![], true));
    assert!(w.stage_curvature_vars().is_none() && !w.is_linear_quadratic());
}

#[test]
fn wrong_curvature_hint_is_caught() {
    // u (index 2) has curvature, the hint leaves it out.
    let m = coupled(Some(vec![0, 1]), vec![], false);
    let e = mismatch(check_hints_random(
        &m,
        &[0.3],
        &[],
        &HintCheckSettings::default(),
    ));
    assert_eq!((e.hint, e.block), (Hint::Curvature, "∇²ℓ"));
    assert!(matches!(e.location, Location::Stage(_)));
    assert!((e.hinted - e.full).abs() > e.tol);
}

#[test]
fn wrong_diagonal_hint_is_caught() {
    // x₁ (index 1) has cross terms with x₀ and u, the hint calls it diagonal-only.
    let m = coupled(Some(vec![0, 2]), vec![1], false);
    let e = mismatch(check_hints_random(
        &m,
        &[0.3],
        &[],
        &HintCheckSettings::default(),
    ));
    assert_eq!((e.hint, e.block), (Hint::Curvature, "∇²ℓ"));
    assert!(e.row == 1 || e.col == 1, "{e:?}");
}

#[test]
fn wrong_linear_quadratic_hint_is_caught() {
    let m = coupled(None, vec![], true);
    let e = mismatch(check_hints_random(
        &m,
        &[0.3],
        &[],
        &HintCheckSettings::default(),
    ));
    assert_eq!(e.hint, Hint::LinearQuadratic);
    let msg = HintError::Mismatch(Box::new(e)).to_string();
    assert!(msg.contains("linear-quadratic hint is wrong"), "{msg}");
}

#[test]
fn symbolic_key_shared_by_different_models_is_caught() {
    let s = HintCheckSettings::default();
    // The first model compiles the program for the key and passes.
    let r = check_hints_random(&Scaled { k: 1.0 }, &[0.5], &[], &s).unwrap();
    assert!(r.symbolic);
    // A differently configured model with the same key gets that program: wrong f_u.
    let e = mismatch(check_hints_random(&Scaled { k: 2.0 }, &[0.5], &[], &s));
    // The dynamics value f = x + k·θ·u is the first entry that differs.
    assert_eq!((e.hint, e.block), (Hint::Symbolic, "f"));
}

#[test]
fn bad_inputs_are_typed_errors() {
    let m = coupled(Some(vec![0, 5]), vec![], false);
    let s = HintCheckSettings::default();
    assert!(matches!(
        check_hints_random(&m, &[0.3], &[], &s),
        Err(HintError::HintIndex {
            index: 5,
            len: 3,
            ..
        })
    ));
    let m = coupled(None, vec![], false);
    assert!(matches!(
        check_hints_random(&m, &[0.3, 1.0], &[], &s),
        Err(HintError::Dimension {
            expected: 1,
            got: 2,
            ..
        })
    ));
    assert!(matches!(
        check_hints_random(&m, &[f64::NAN], &[], &s),
        Err(HintError::NotFinite { index: 0, .. })
    ));
    let bad = HintCheckSettings {
        scale: 0.0,
        ..s.clone()
    };
    assert!(matches!(
        check_hints_random(&m, &[0.3], &[], &bad),
        Err(HintError::Settings { field: "scale", .. })
    ));
    let p = HintPoint {
        stage: 4,
        x: vec![0.0; 2],
        u: vec![0.0],
        lam: vec![0.0; 2],
        mu: vec![],
        mu_terminal: vec![],
    };
    assert!(matches!(
        check_hints(&m, &[0.3], &[], 2, &[p], 1e-9),
        Err(HintError::Stage {
            stage: 4,
            horizon: 2,
            ..
        })
    ));
}
