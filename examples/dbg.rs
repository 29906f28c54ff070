use diffop::model::tasks::{NonlinearTask, Table1Policy, TrueFormPolicy};
use diffop::solver::{SolverSettings, WarmStart, Workspace};
fn main() {
    let task = NonlinearTask::Cartpole;
    let model = TrueFormPolicy::new(task);
    let th = model.true_theta();
    for q0 in [0.0, -0.5, -0.25, 0.25, 0.5] {
        let mut ws = Workspace::new(&model, 30, SolverSettings::default()).unwrap();
        let s = ws
            .solve(&model, &[0.0, q0, 0.0, 0.0], &th, &[], WarmStart::Cold)
            .unwrap();
        println!(
            "q0 {q0}: {:?} it {} pol {} obj {:.3} stat {:e} feas {:e} reg {:e}",
            s.status,
            s.iterations,
            s.polish_iterations,
            s.objective,
            s.stationarity,
            s.feasibility,
            s.max_regularization
        );
    }
    let m2 = Table1Policy::new(task);
    let th2 = task.oracle_theta().unwrap();
    let mut ws = Workspace::new(&m2, 30, SolverSettings::default()).unwrap();
    let s = ws
        .solve(&m2, &[0.0, 0.0, 0.0, 0.0], &th2, &[], WarmStart::Cold)
        .unwrap();
    println!(
        "table1 oracle: {:?} it {} obj*0.1 {:.3} reg {:e}",
        s.status,
        s.iterations,
        s.objective * 0.1,
        s.max_regularization
    );
}
