//! Imitation, then DiffOP (`init = "pdp"`, `learn::pdp::init`): θ⁽⁰⁾ is PDP (Offline, Table 1)'s
//! θ after its iterations, the run is bit-identical for any thread count and resumes exactly.

use diffop::learn::checkpoint::Checkpoint;
use diffop::learn::pdp::init::{init_pdp, InitMethod};
use diffop::learn::{Mode, Preset, Task, TrainConfig, Trainer};

fn config(task: Task, mode: Mode, pdp_iterations: usize) -> TrainConfig {
    let mut c = TrainConfig::preset(task, mode, Preset::Default);
    c.iterations = 2;
    c.batch = 2;
    c.eval_every = 0;
    c.max_failure_fraction = 0.5;
    c.init = InitMethod::Pdp;
    c.init_pdp_iterations = Some(pdp_iterations);
    c
}

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn train(c: &TrainConfig, threads: usize) -> Trainer {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(|| {
            let mut t = Trainer::new(c.clone()).unwrap();
            while !t.is_done() {
                t.step().unwrap();
            }
            t
        })
}

#[test]
fn init_pdp_equals_pdps_theta_at_iteration_zero() {
    let c = config(Task::Arm, Mode::Traj, 5);
    // PDP (Offline, Table 1) on its own, from the same θ(0), for the same iterations.
    let mut pdp = init_pdp(&c).unwrap();
    let mut draw = c.clone();
    draw.init = InitMethod::Theta0;
    let theta0 = Trainer::new(draw).unwrap().theta().to_vec();
    assert_eq!(
        bits(pdp.initial_theta()),
        bits(&theta0),
        "PDP starts at DiffOP's θ(0)"
    );
    for _ in 0..5 {
        pdp.step().unwrap();
    }
    assert_ne!(pdp.theta(), theta0.as_slice(), "PDP moved θ");
    let t = train(&c, 2);
    assert_eq!(bits(&t.state().history[0].theta), bits(pdp.theta()));
    // With zero PDP iterations the run is the plain θ(0) run.
    let zero = Trainer::new(config(Task::Arm, Mode::Traj, 0)).unwrap();
    assert_eq!(bits(zero.theta()), bits(&theta0));
}

#[test]
fn init_pdp_is_deterministic_and_resumes_exactly() {
    let c = config(Task::Cartpole, Mode::Step, 3);
    let one = train(&c, 1);
    let two = train(&c, 2);
    assert_eq!(
        bits(one.theta()),
        bits(two.theta()),
        "θ differs between 1 and 2 threads"
    );
    let mut first = Trainer::new(c.clone()).unwrap();
    first.step().unwrap();
    let json = Checkpoint::new(first.config(), first.state(), None)
        .to_json()
        .unwrap();
    let ck = Checkpoint::from_json(&json).unwrap();
    assert_eq!(ck.config.init, InitMethod::Pdp);
    let mut resumed = Trainer::from_state(ck.config.clone(), ck.exact_state().unwrap()).unwrap();
    while !resumed.is_done() {
        resumed.step().unwrap();
    }
    assert_eq!(bits(one.theta()), bits(resumed.theta()));
}

#[test]
fn init_pdp_config_key_and_errors() {
    let text = "task = \"arm\"\nmode = \"traj\"\ninit = \"pdp\"\ninit_pdp_iterations = 7\n";
    let c = TrainConfig::from_toml(text).unwrap();
    assert_eq!((c.init, c.init_pdp_iterations), (InitMethod::Pdp, Some(7)));
    let d = TrainConfig::from_toml("task = \"arm\"\n").unwrap();
    assert_eq!((d.init, d.init_pdp_iterations), (InitMethod::Theta0, None));
    assert!("PDP".parse::<InitMethod>().is_ok());
    assert!("imitation".parse::<InitMethod>().is_err());
    let mut v = TrainConfig::preset(Task::Voltage, Mode::Step, Preset::Default);
    v.init = InitMethod::Pdp;
    let err = v.validate().unwrap_err().to_string();
    assert!(err.contains("nonlinear"), "{err}");
    assert!(TrainConfig::from_toml("task = \"arm\"\ninit = \"other\"\n").is_err());
}
