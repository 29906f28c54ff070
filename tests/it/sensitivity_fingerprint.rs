//! A workspace remembers the model it solved (type, name, dimensions, symbolic key): every
//! sensitivity routine refuses another model, even one of equal dimensions, with
//! `SensitivityError::Model`; a failed or missing solve gives `NotReady` with its status.

use diffop::model::tasks::{NonlinearTask, Table1Policy};
use diffop::model::{Dims, OcpModel, Scalar};
use diffop::sensitivity::{self, dense::DenseKkt, Seed, SensitivityError};
use diffop::solver::{ModelFingerprint, SolverSettings, Status, WarmStart, Workspace};

/// The cart-pole policy with every stage cost doubled: same dimensions, another problem.
struct DoubledCost(Table1Policy);

impl OcpModel for DoubledCost {
    fn name(&self) -> &str {
        "cartpole with doubled stage cost"
    }
    fn dims(&self) -> Dims {
        self.0.dims()
    }
    fn dynamics<S: Scalar>(&self, i: usize, x: &[S], u: &[S], th: &[S], c: &[f64], out: &mut [S]) {
        self.0.dynamics(i, x, u, th, c, out)
    }
    fn stage_cost<S: Scalar>(&self, i: usize, x: &[S], u: &[S], th: &[S], c: &[f64]) -> S {
        let v = self.0.stage_cost(i, x, u, th, c);
        v + v
    }
    fn terminal_cost<S: Scalar>(&self, x: &[S], th: &[S], c: &[f64]) -> S {
        self.0.terminal_cost(x, th, c)
    }
    fn n_path(&self, i: usize) -> usize {
        self.0.n_path(i)
    }
    fn path_constraints<S: Scalar>(
        &self,
        i: usize,
        x: &[S],
        u: &[S],
        th: &[S],
        c: &[f64],
        out: &mut [S],
    ) {
        self.0.path_constraints(i, x, u, th, c, out)
    }
    fn n_terminal(&self) -> usize {
        self.0.n_terminal()
    }
    fn terminal_constraints<S: Scalar>(&self, x: &[S], th: &[S], c: &[f64], out: &mut [S]) {
        self.0.terminal_constraints(x, th, c, out)
    }
}

fn is_model_error(r: Result<(), SensitivityError>, expected: &ModelFingerprint) {
    match r {
        Err(SensitivityError::Model { expected: e, got }) => {
            assert_eq!(*e, *expected);
            assert_eq!(got.name, "cartpole with doubled stage cost");
            assert_eq!(got.dims, expected.dims, "equal dimensions");
            assert_ne!(got.type_name, expected.type_name);
        }
        other => panic!("expected a model error, got {other:?}"),
    }
}

#[test]
fn sensitivities_refuse_another_model_of_equal_dimensions() {
    let task = NonlinearTask::Cartpole;
    let model = Table1Policy::new(task);
    let other = DoubledCost(Table1Policy::new(task));
    assert_eq!(model.dims(), other.dims());
    let theta = task.oracle_theta().unwrap();
    let mut ws = Workspace::new(&model, 6, SolverSettings::default()).unwrap();
    let s = ws
        .solve(&model, &[0.3, 0.0, 0.5, 0.0], &theta, &[], WarmStart::Cold)
        .unwrap();
    assert!(s.status.is_polished());
    let fp = ws.model_fingerprint().clone();
    assert_eq!(fp, ModelFingerprint::of(&model));
    assert!(fp.matches(&model) && !fp.matches(&other));
    let su = vec![1.0; 6];
    let seed = Seed {
        x: None,
        u: Some(&su),
    };
    let mut out = vec![0.0; model.n_theta()];
    is_model_error(sensitivity::vjp(&mut ws, &other, seed, &mut out), &fp);
    let mut gx = vec![0.0; 4];
    is_model_error(
        sensitivity::vjp_full(&mut ws, &other, seed, &mut out, &mut gx),
        &fp,
    );
    is_model_error(sensitivity::jacobian(&mut ws, &other).map(|_| ()), &fp);
    is_model_error(sensitivity::jacobian_x0(&mut ws, &other).map(|_| ()), &fp);
    is_model_error(
        sensitivity::value_gradient(&mut ws, &other).map(|_| ()),
        &fp,
    );
    is_model_error(DenseKkt::assemble(&mut ws, &other).map(|_| ()), &fp);
    // The refusal leaves the workspace usable with its own model.
    sensitivity::vjp(&mut ws, &model, seed, &mut out).unwrap();
    assert!(out.iter().any(|v| *v != 0.0));
    // Solving the other model makes it the workspace's model.
    ws.solve(&other, &[0.3, 0.0, 0.5, 0.0], &theta, &[], WarmStart::Cold)
        .unwrap();
    sensitivity::vjp(&mut ws, &other, seed, &mut out).unwrap();
    assert!(matches!(
        sensitivity::vjp(&mut ws, &model, seed, &mut out),
        Err(SensitivityError::Model { .. })
    ));
}

#[test]
fn not_ready_carries_the_status() {
    let task = NonlinearTask::Cartpole;
    let model = Table1Policy::new(task);
    let theta = task.oracle_theta().unwrap();
    let settings = SolverSettings {
        polish: false,
        ..Default::default()
    };
    let mut ws = Workspace::new(&model, 6, settings).unwrap();
    let s = ws
        .solve(&model, &[0.3, 0.0, 0.5, 0.0], &theta, &[], WarmStart::Cold)
        .unwrap();
    assert_eq!(s.status, Status::SolvedUnpolished);
    let mut out = vec![0.0; model.n_theta()];
    let seed = Seed::default();
    assert_eq!(
        sensitivity::vjp(&mut ws, &model, seed, &mut out),
        Err(SensitivityError::NotReady(Status::SolvedUnpolished))
    );
}
