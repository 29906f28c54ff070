//! Per-call timing of the derivative blocks (tape path vs the num-dual reference).
use diffop::model::derivs::{Differentiator, StageBlock, ThetaBlock};
use diffop::model::tasks::{NonlinearTask, Table1Policy};
use diffop::model::OcpModel;
use std::time::Instant;

fn main() {
    for task in NonlinearTask::ALL {
        let model = Table1Policy::new(task);
        let (n, m) = task.nm();
        let d = model.dims().d;
        let mut theta = vec![1.0; 2 * n];
        theta.extend(task.phi_true());
        let x: Vec<f64> = (0..n).map(|j| 0.1 + 0.05 * j as f64).collect();
        let u: Vec<f64> = (0..m).map(|j| 0.3 - 0.1 * j as f64).collect();
        let lam: Vec<f64> = (0..n).map(|j| 0.2 * j as f64 - 0.5).collect();
        let wz = vec![0.3; n + m];
        let mut out = StageBlock::new(n, m, 0);
        let mut tb = ThetaBlock::new(n, 0, d);
        let mut diff = Differentiator::new();
        let reps = 20000;
        let t = Instant::now();
        for _ in 0..reps {
            diff.stage(&model, 0, &x, &u, &theta, &[], &lam, &[], &mut out);
        }
        let tape = t.elapsed() / reps;
        let t = Instant::now();
        for _ in 0..reps {
            diff.stage_dual(&model, 0, &x, &u, &theta, &[], &lam, &[], &mut out);
        }
        let dual = t.elapsed() / reps;
        let t = Instant::now();
        for _ in 0..reps {
            diff.stage_theta(
                &model,
                Some(0),
                &x,
                &u,
                &theta,
                &[],
                &lam,
                &[],
                &wz,
                &mut tb,
            );
        }
        let th = t.elapsed() / reps;
        let t = Instant::now();
        for _ in 0..reps {
            diff.stage_theta_dual(
                &model,
                Some(0),
                &x,
                &u,
                &theta,
                &[],
                &lam,
                &[],
                &wz,
                &mut tb,
            );
        }
        let thd = t.elapsed() / reps;
        println!("{task:?} tape len {}: stage tape", tape_len(task));
        phases(task);
        println!("{task:?}: stage tape {tape:?} dual {dual:?}; theta tape {th:?} dual {thd:?}");
    }
}

#[allow(dead_code)]
pub fn tape_len(task: NonlinearTask) -> usize {
    use diffop::model::tape::{AVar, Tape};
    let model = Table1Policy::new(task);
    let (n, m) = task.nm();
    let mut theta = vec![1.0; 2 * n];
    theta.extend(task.phi_true());
    let mut tp = Tape::new();
    tp.begin();
    let x: Vec<AVar> = (0..n).map(|j| tp.input(0.1 + 0.05 * j as f64)).collect();
    let u: Vec<AVar> = (0..m).map(|j| tp.input(0.3 - 0.1 * j as f64)).collect();
    let th: Vec<AVar> = theta.iter().map(|&v| tp.input(v)).collect();
    let mut f = vec![AVar::constant(0.0); n];
    model.dynamics(0, &x, &u, &th, &[], &mut f);
    let _c = model.stage_cost(0, &x, &u, &th, &[]);
    tp.end();
    tp.len()
}

#[allow(dead_code)]
pub fn phases(task: NonlinearTask) {
    use diffop::model::tape::{AVar, Tape};
    let model = Table1Policy::new(task);
    let (n, m) = task.nm();
    let mut theta = vec![1.0; 2 * n];
    theta.extend(task.phi_true());
    let mut tp = Tape::new();
    let reps = 20000u32;
    let mut f = vec![AVar::constant(0.0); n];
    let k = n + m;
    let mut seed = vec![0.0; k * k];
    for j in 0..k {
        seed[j * k + j] = 1.0;
    }
    let t = Instant::now();
    let mut c = AVar::constant(0.0);
    for _ in 0..reps {
        tp.begin();
        let x: Vec<AVar> = (0..n).map(|j| tp.input(0.1 + 0.05 * j as f64)).collect();
        let u: Vec<AVar> = (0..m).map(|j| tp.input(0.3 - 0.1 * j as f64)).collect();
        let th: Vec<AVar> = theta.iter().map(|&v| tp.input(v)).collect();
        model.dynamics(0, &x, &u, &th, &[], &mut f);
        c = model.stage_cost(0, &x, &u, &th, &[]);
        tp.end();
    }
    let rec = t.elapsed() / reps;
    let t = Instant::now();
    for _ in 0..reps {
        tp.forward(k, &seed);
    }
    let fw = t.elapsed() / reps;
    let mut seeds: Vec<(AVar, f64)> = f.iter().map(|&v| (v, 0.3)).collect();
    seeds.push((c, 1.0));
    let t = Instant::now();
    for _ in 0..reps {
        tp.reverse_second(&seeds, false);
    }
    let rs = t.elapsed() / reps;
    println!("{task:?}: record {rec:?} forward {fw:?} reverse_second {rs:?}");
}
