//! The RLMPC valid set (`learn::rlmpc::bounds`): projection under adversarial updates, a short
//! RLMPC-TD run on the cart-pole with the step size that used to diverge, and determinism and
//! resume with the constraints on.

use diffop::learn::rlmpc::checkpoint::RlmpcCheckpoint;
use diffop::learn::rlmpc::{Rlmpc, RlmpcConfig, RlmpcMethod, ThetaConstraints};
use diffop::learn::Task;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn inside(c: &ThetaConstraints, theta: &[f64]) -> bool {
    theta
        .iter()
        .zip(c.lower.iter().zip(&c.upper))
        .all(|(v, (lo, hi))| v.is_finite() && lo <= v && v <= hi)
}

#[test]
fn projection_keeps_parameters_valid_under_adversarial_updates() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for task in [Task::Cartpole, Task::Arm, Task::Quadrotor, Task::Voltage] {
        let c = ThetaConstraints::for_task(task);
        let d = c.lower.len();
        assert_eq!(d, task.d(), "{task}");
        c.validate(d).unwrap();
        // Cost weights are strictly positive, physical parameters above the θ_f floor.
        assert!(c.lower.iter().take(3).all(|&lo| lo > 0.0), "{task}");
        let mut theta = Rlmpc::new(RlmpcConfig::new(task, RlmpcMethod::Td))
            .unwrap()
            .theta()
            .to_vec();
        assert!(inside(&c, &theta), "{task}: θ(0) outside the valid set");
        for k in 0..2000 {
            // Huge steps of random sign and scale, and exact zeros / sign flips.
            let mut next: Vec<f64> = theta
                .iter()
                .map(|&v| match k % 4 {
                    0 => v + rng.random_range(-1e6..1e6),
                    1 => -v,
                    2 => 0.0,
                    _ => v * rng.random_range(-50.0..50.0),
                })
                .collect();
            c.apply(&theta, &mut next).unwrap();
            assert!(inside(&c, &next), "{task}, update {k}: {next:?}");
            if let Some(r) = c.max_relative_update {
                for (a, b) in theta.iter().zip(&next) {
                    assert!(
                        (b - a).abs() <= r * a.abs() * (1.0 + 1e-12),
                        "{task}: trust region"
                    );
                }
            }
            theta = next;
        }
        // A non-finite proposal is an error, never replaced silently.
        let mut bad = theta.clone();
        bad[0] = f64::NAN;
        assert!(c.apply(&theta, &mut bad).is_err(), "{task}");
    }
    // Inconsistent settings are rejected.
    let mut c = ThetaConstraints::for_task(Task::Cartpole);
    c.lower[0] = 200.0;
    assert!(c.validate(11).is_err());
    let c = ThetaConstraints::for_task(Task::Cartpole);
    assert!(c.validate(12).is_err());
    let mut c = ThetaConstraints::for_task(Task::Cartpole);
    c.max_relative_update = Some(0.0);
    assert!(c.validate(11).is_err());
}

/// RLMPC-TD on the cart-pole with α = 1e-4: without the valid set θ diverged within a few
/// iterations and the run aborted (more than 20 % failed solves, README sweep).
#[test]
fn short_rlmpc_td_run_on_the_cartpole_no_longer_aborts() {
    let mut c = RlmpcConfig::new(Task::Cartpole, RlmpcMethod::Td).with_alpha(1e-4);
    c.iterations = 6;
    c.batch = 4;
    c.eval_every = 0;
    let bounds = c.constraints.clone().unwrap();
    let mut l = Rlmpc::new(c).unwrap();
    while !l.is_done() {
        l.step().unwrap();
        assert!(inside(&bounds, l.theta()));
    }
    let fin = l.finish().unwrap();
    assert!(fin.eval_cost.is_some_and(f64::is_finite), "{fin:?}");
}

fn run(c: &RlmpcConfig, threads: usize) -> Vec<u64> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(|| {
            let mut l = Rlmpc::new(c.clone()).unwrap();
            while !l.is_done() {
                l.step().unwrap();
            }
            l.theta().iter().map(|v| v.to_bits()).collect()
        })
}

#[test]
fn constrained_runs_are_deterministic_and_resume_exactly() {
    let mut c = RlmpcConfig::new(Task::Cartpole, RlmpcMethod::Dpg).with_alpha(1e-3);
    c.iterations = 3;
    c.batch = 2;
    c.eval_every = 0;
    let one = run(&c, 1);
    assert_eq!(one, run(&c, 2), "θ differs between 1 and 2 threads");
    // Resume after one iteration through a serialised checkpoint.
    let mut first = Rlmpc::new(c.clone()).unwrap();
    first.step().unwrap();
    let dir = std::env::temp_dir().join(format!("diffop-rlmpc-bounds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("checkpoint.json");
    RlmpcCheckpoint::new(&first).save(&path).unwrap();
    let mut resumed = RlmpcCheckpoint::load(&path).unwrap().resume(c).unwrap();
    while !resumed.is_done() {
        resumed.step().unwrap();
    }
    let bits: Vec<u64> = resumed.theta().iter().map(|v| v.to_bits()).collect();
    assert_eq!(one, bits);
    let _ = std::fs::remove_dir_all(&dir);
}
