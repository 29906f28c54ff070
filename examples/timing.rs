use diffop::model::tasks::{NonlinearTask, Table1Policy, VoltagePolicy};
use diffop::solver::{SolverSettings, WarmStart, Workspace};
use std::time::Instant;
fn main() {
    for task in NonlinearTask::ALL {
        let model = Table1Policy::new(task);
        let (n, _) = task.nm();
        let h = task.step_horizon();
        let mut ws = Workspace::new(&model, h, SolverSettings::default()).unwrap();
        let mut theta = vec![1.0; 2 * n];
        theta.extend(task.phi_true());
        let mut x0 = vec![0.0; n];
        if n == 13 {
            x0[6] = 1.0;
            x0[0] = 3.0;
            x0[2] = 5.0;
        } else {
            x0[0] = 0.3;
            x0[1] = 0.2;
        }
        let reps = 200;
        let t = Instant::now();
        let mut it = 0;
        for _ in 0..reps {
            let s = ws.solve(&model, &x0, &theta, &[], WarmStart::Cold).unwrap();
            it += s.iterations + s.polish_iterations;
        }
        println!(
            "{:?} cold: {:?}/solve, {} newton its",
            task,
            t.elapsed() / reps,
            it as f64 / reps as f64
        );
    }
    let model = VoltagePolicy::default();
    let ctx = VoltagePolicy::context(&[0.81, 0.74, 0.75], &[-1.5, -1.4, -1.0], &[1.5, 1.4, 0.6]);
    let mut theta = vec![1.0, 1.0, 1.0];
    theta.extend([
        0.05931028, 0.04456361, 0.04456361, 0.04456361, 0.09803763, 0.08912722, 0.04456361,
        0.08912722, 0.09401581,
    ]);
    for h in [6, 30] {
        let mut ws = Workspace::new(&model, h, SolverSettings::default()).unwrap();
        let x0 = [0.81, 0.74, 0.75, 0.0, 0.0, 0.0];
        let reps = 200;
        let t = Instant::now();
        for _ in 0..reps {
            ws.solve(&model, &x0, &theta, &ctx, WarmStart::Cold)
                .unwrap();
        }
        println!(
            "voltage H{h}: {:?}/solve active {}",
            t.elapsed() / reps,
            ws.solution().n_active()
        );
    }
}
