use diffop::model::tasks::{NonlinearTask, Table1Policy, VoltagePolicy};
use diffop::solver::{SolverSettings, WarmStart, Workspace};

#[test]
fn smoke() {
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
        let t = std::time::Instant::now();
        let sol = ws.solve(&model, &x0, &theta, &[], WarmStart::Cold).unwrap();
        println!(
            "{:?}: {:?} it {} pol {} obj {} stat {:e} feas {:e} reg {:e} {:?}",
            task,
            sol.status,
            sol.iterations,
            sol.polish_iterations,
            sol.objective,
            sol.stationarity,
            sol.feasibility,
            sol.max_regularization,
            t.elapsed()
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
        let t = std::time::Instant::now();
        let sol = ws
            .solve(&model, &x0, &theta, &ctx, WarmStart::Cold)
            .unwrap();
        println!(
            "voltage H{h}: {:?} it {} pol {} obj {} stat {:e} feas {:e} active {} {:?}",
            sol.status,
            sol.iterations,
            sol.polish_iterations,
            sol.objective,
            sol.stationarity,
            sol.feasibility,
            sol.n_active(),
            t.elapsed()
        );
        println!("u0 {:?} u1 {:?}", sol.u[0].as_slice(), sol.u[1].as_slice());
    }
}
