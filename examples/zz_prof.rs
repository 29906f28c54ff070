use diffop::envs::nonlinear::demo_states;
use diffop::envs::voltage::{VoltageEnv, VoltageEnvSettings};
use diffop::model::tasks::init::A_LINEAR;
use diffop::model::tasks::VoltagePolicy;
use diffop::model::tasks::{NonlinearTask, Table1Policy};
use diffop::solver::{SolverSettings, WarmStart, Workspace};
fn main() {
    let which = std::env::args().nth(1).unwrap_or("voltage".into());
    let reps: usize = std::env::args()
        .nth(2)
        .map(|s| s.parse().unwrap())
        .unwrap_or(2000);
    if which == "voltage" {
        let mut env = VoltageEnv::new(VoltageEnvSettings::evaluation()).unwrap();
        let model = VoltagePolicy::default();
        let mut theta = vec![1.0; 3];
        theta.extend(A_LINEAR.iter().flatten());
        let mut ws = Workspace::new(&model, 30, SolverSettings::default()).unwrap();
        let mut states = vec![];
        for s in 0..20 {
            env.reset_seed(s).unwrap();
            states.push((env.policy_state(), env.policy_context()));
        }
        let t = std::time::Instant::now();
        let mut its = 0;
        for r in 0..reps {
            let (x0, ctx) = &states[r % 20];
            let s = ws.solve(&model, x0, &theta, ctx, WarmStart::Cold).unwrap();
            its += s.iterations;
        }
        println!(
            "{:.1} us/solve, {:.2} its",
            t.elapsed().as_secs_f64() * 1e6 / reps as f64,
            its as f64 / reps as f64
        );
    } else {
        let task = NonlinearTask::ALL
            .into_iter()
            .find(|t| t.name() == which)
            .unwrap();
        let model = Table1Policy::new(task);
        let theta = task.oracle_theta().unwrap();
        let h = task.step_horizon();
        let states = demo_states(task);
        let mut ws = Workspace::new(&model, h, SolverSettings::default()).unwrap();
        let t = std::time::Instant::now();
        let mut its = 0;
        for r in 0..reps {
            let x0 = &states[r % states.len()];
            let s = ws.solve(&model, x0, &theta, &[], WarmStart::Cold).unwrap();
            its += s.iterations;
        }
        println!(
            "{:.1} us/solve, {:.2} its",
            t.elapsed().as_secs_f64() * 1e6 / reps as f64,
            its as f64 / reps as f64
        );
    }
}
