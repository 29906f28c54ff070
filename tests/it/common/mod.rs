//! Shared helpers of the integration tests.
#![allow(dead_code)]

use diffop::model::tasks::{NonlinearTask, Table1Policy, VoltagePolicy};
use nalgebra::DMatrix;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The linear model A of ENVIRONMENTS §7.11, row-major.
pub const A_LIN: [f64; 9] = [
    0.05931028, 0.04456361, 0.04456361, 0.04456361, 0.09803763, 0.08912722, 0.04456361, 0.08912722,
    0.09401581,
];

/// err(X, X̂) = ‖X − X̂‖_F / max(‖X̂‖_F, 1).
pub fn err(x: &DMatrix<f64>, xref: &DMatrix<f64>) -> f64 {
    (x - xref).norm() / xref.norm().max(1.0)
}

pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// A random initial state and θ for a nonlinear task (θ within ±30 % of unit weights / truth).
pub fn random_nonlinear(task: NonlinearTask, r: &mut ChaCha8Rng) -> (Vec<f64>, Vec<f64>) {
    let (n, _) = task.nm();
    let model = Table1Policy::new(task);
    let d = model.n_theta();
    let mut theta = vec![0.0; d];
    for j in 0..2 * n {
        theta[j] = 0.7 + 0.6 * r.random::<f64>();
    }
    for (k, &p) in task.phi_true().iter().enumerate() {
        theta[2 * n + k] = p * (0.7 + 0.6 * r.random::<f64>());
    }
    let mut x = vec![0.0; n];
    match task {
        NonlinearTask::Cartpole | NonlinearTask::Arm => {
            for v in x.iter_mut() {
                *v = r.random::<f64>() - 0.5;
            }
        }
        _ => {
            for k in 0..3 {
                x[k] = 4.0 * (r.random::<f64>() - 0.5);
                x[3 + k] = r.random::<f64>() - 0.5;
                x[10 + k] = 0.2 * (r.random::<f64>() - 0.5);
            }
            let a = 0.3 * (r.random::<f64>() - 0.5);
            x[6] = a.cos();
            x[7] = a.sin();
        }
    }
    (x, theta)
}

/// A random voltage problem: (x_init, θ, ctx). Low-voltage scenarios with the evaluation
/// limits make the q bounds active.
pub fn random_voltage(r: &mut ChaCha8Rng) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let low = r.random::<f64>() < 0.5;
    let mut venv = [0.0; 3];
    for v in venv.iter_mut() {
        let mag: f64 = if low {
            0.85 + 0.1 * r.random::<f64>()
        } else {
            1.04 + 0.05 * r.random::<f64>()
        };
        *v = mag * mag;
    }
    let qmin = [-1.5, -1.4, -1.0];
    let qmax = [1.5, 1.4, 0.6];
    let ctx = VoltagePolicy::context(&venv, &qmin, &qmax);
    let mut theta = vec![0.0; 12];
    for t in theta.iter_mut().take(3) {
        *t = 0.7 + 0.6 * r.random::<f64>();
    }
    for k in 0..9 {
        theta[3 + k] = A_LIN[k] * (0.5 + r.random::<f64>());
    }
    let mut x = vec![0.0; 6];
    x[..3].copy_from_slice(&venv);
    for b in 0..3 {
        x[3 + b] = qmin[b] + (qmax[b] - qmin[b]) * r.random::<f64>() * 0.5;
    }
    (x, theta, ctx)
}

pub mod elementary;
pub mod no_hint;
