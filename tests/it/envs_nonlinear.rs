//! The nonlinear environments (`docs/spec/ENVIRONMENTS.md` §1–6): resets, episodes, costs, errors.

use diffop::dynamics::{quadrotor, rocket};
use diffop::envs::nonlinear::{demo_states, episode_cost, true_stage_cost, true_terminal_cost};
use diffop::envs::{Env, EnvError, NonlinearEnv, NonlinearEnvSettings};
use diffop::model::tasks::{NonlinearTask, Table1Policy};
use diffop::model::OcpModel;
use diffop::rng::{stream, Stream};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn resets(task: NonlinearTask, seed: u64, k: usize) -> Vec<Vec<f64>> {
    let mut env = NonlinearEnv::new(task);
    let mut rng = stream(seed, Stream::InitialState);
    (0..k).map(|_| env.reset(&mut rng).unwrap()).collect()
}

#[test]
fn resets_are_deterministic_per_seed() {
    for task in NonlinearTask::ALL {
        assert_eq!(resets(task, 3, 20), resets(task, 3, 20), "{}", task.name());
        assert_ne!(resets(task, 3, 20), resets(task, 4, 20), "{}", task.name());
    }
}

/// The documented draw sequence: one U for k = ⌊U·K_demo⌋, then one U_j per perturbed
/// component in state order, nothing else.
#[test]
fn reset_consumes_exactly_the_documented_draws() {
    for task in NonlinearTask::ALL {
        let mut env = NonlinearEnv::new(task);
        let eps = env.settings().half_widths.clone();
        let demos = env.evaluation_states();
        let mut rng = ChaCha8Rng::seed_from_u64(77);
        let mut mirror = rng.clone();
        for _ in 0..10 {
            let x0 = env.reset(&mut rng).unwrap();
            let k = (mirror.random::<f64>() * demos.len() as f64).floor() as usize;
            let mut expect = demos[k].clone();
            for (xj, &e) in expect.iter_mut().zip(&eps) {
                if e > 0.0 {
                    *xj += e * (2.0 * mirror.random::<f64>() - 1.0);
                }
            }
            assert_eq!(x0, expect, "{}", task.name());
        }
        // Both generators are at the same position afterwards.
        assert_eq!(
            rng.random::<u64>(),
            mirror.random::<u64>(),
            "{}",
            task.name()
        );
    }
}

#[test]
fn perturbations_stay_within_half_widths_and_cover_all_demos() {
    for task in NonlinearTask::ALL {
        let env = NonlinearEnv::new(task);
        let eps = env.settings().half_widths.clone();
        let demos = env.evaluation_states();
        let mut seen = vec![0usize; demos.len()];
        for x0 in resets(task, 1, 1000) {
            let k = demos
                .iter()
                .position(|d| {
                    d.iter()
                        .zip(&x0)
                        .zip(&eps)
                        .all(|((a, b), e)| (a - b).abs() <= *e)
                })
                .unwrap_or_else(|| panic!("{}: {x0:?} is not near any demo state", task.name()));
            seen[k] += 1;
            for ((a, b), e) in demos[k].iter().zip(&x0).zip(&eps) {
                if *e == 0.0 {
                    assert_eq!(a, b, "{}: an unperturbed component moved", task.name());
                }
            }
        }
        assert!(
            seen.iter().all(|&c| c > 0),
            "{}: demo counts {seen:?}",
            task.name()
        );
        if task == NonlinearTask::Quadrotor {
            // q = (1, 0, 0, 0) exactly: the quaternion is unit at t = 0.
            assert!(resets(task, 2, 50)
                .iter()
                .all(|x| x[6..10] == [1.0, 0.0, 0.0, 0.0]));
        }
    }
}

#[test]
fn evaluation_states_are_the_demo_states() {
    use std::f64::consts::{FRAC_PI_2, FRAC_PI_4, PI};
    let cp = NonlinearEnv::new(NonlinearTask::Cartpole).evaluation_states();
    let q0s: Vec<f64> = cp.iter().map(|x| x[1]).collect();
    assert_eq!(q0s, vec![0.0, -0.5, -0.25, 0.25, 0.5]);
    assert!(cp.iter().all(|x| x[0] == 0.0 && x[2] == 0.0 && x[3] == 0.0));

    let arm = NonlinearEnv::new(NonlinearTask::Arm).evaluation_states();
    assert_eq!(
        arm,
        vec![
            vec![-FRAC_PI_2, 0.0, 0.0, 0.0],
            vec![-3.0 * FRAC_PI_4, -FRAC_PI_2, 0.0, 0.0],
            vec![-FRAC_PI_4, FRAC_PI_2, 0.0, 0.0],
            vec![-FRAC_PI_2, PI, 0.0, 0.0],
        ]
    );

    let quad = NonlinearEnv::new(NonlinearTask::Quadrotor).evaluation_states();
    let mut a = vec![0.0; 13];
    a[..3].copy_from_slice(&[-8.0, -6.0, 9.0]);
    a[6] = 1.0;
    let mut b = a.clone();
    b[..2].copy_from_slice(&[8.0, 6.0]);
    assert_eq!(quad, vec![a, b]);

    let rk = NonlinearEnv::new(NonlinearTask::Rocket).evaluation_states();
    assert_eq!(rk.len(), 1);
    let printed = [
        10.0, -8.0, 5.0, -0.5, 0.0, 0.0, 0.8775826, 0.0, 0.3390050, -0.3390050, 0.0, 0.0, 0.0,
    ];
    for (j, (v, p)) in rk[0].iter().zip(&printed).enumerate() {
        assert!((v - p).abs() < 5e-8, "rocket demo entry {j}: {v} vs {p}");
    }
    let norm: f64 = rk[0][6..10].iter().map(|v| v * v).sum();
    assert!((norm - 1.0).abs() < 1e-15);

    for task in NonlinearTask::ALL {
        assert_eq!(
            NonlinearEnv::new(task).evaluation_states(),
            demo_states(task)
        );
    }
}

#[test]
fn bad_actions_are_rejected_without_side_effects() {
    let mut env = NonlinearEnv::new(NonlinearTask::Arm);
    assert!(matches!(
        env.step(&[0.0, 0.0]),
        Err(EnvError::EpisodeOver { t: 0, .. })
    ));
    let x0 = env.reset(&mut stream(0, Stream::InitialState)).unwrap();
    assert!(matches!(
        env.step(&[f64::NAN, 0.0]),
        Err(EnvError::NonFiniteAction { index: 0, .. })
    ));
    assert!(matches!(
        env.step(&[0.0, f64::INFINITY]),
        Err(EnvError::NonFiniteAction { index: 1, .. })
    ));
    assert!(matches!(
        env.step(&[0.0]),
        Err(EnvError::ActionDim {
            got: 1,
            expected: 2,
            ..
        })
    ));
    assert!(matches!(
        env.step(&[0.0; 3]),
        Err(EnvError::ActionDim {
            got: 3,
            expected: 2,
            ..
        })
    ));
    assert_eq!((env.t(), env.observation()), (0, x0));
    assert!(env.step(&[0.1, -0.1]).is_ok());
}

#[test]
fn reset_to_validates_the_state() {
    let mut env = NonlinearEnv::new(NonlinearTask::Quadrotor);
    assert!(matches!(
        env.reset_to(&[0.0; 4]),
        Err(EnvError::InvalidState(_))
    ));
    let mut x = demo_states(NonlinearTask::Quadrotor)[0].clone();
    x[4] = f64::NAN;
    assert!(matches!(env.reset_to(&x), Err(EnvError::InvalidState(_))));
    x[4] = 0.25;
    assert_eq!(env.reset_to(&x).unwrap(), x);
    assert_eq!((env.state(), env.t()), (&x[..], 0));
}

#[test]
fn zero_control_episode_cost_is_the_sum_of_step_costs() {
    for task in NonlinearTask::ALL {
        let mut env = NonlinearEnv::new(task);
        let m = env.action_dim();
        let horizon = env.horizon();
        assert_eq!(horizon, task.episode_len());
        let mut xs = vec![env.reset(&mut stream(2, Stream::InitialState)).unwrap()];
        let mut us = Vec::new();
        let mut total = 0.0;
        for t in 0..horizon {
            let u = vec![0.0; m];
            let x = xs[t].clone();
            let s = env.step(&u).unwrap();
            assert_eq!(s.observation, env.observation());
            assert_eq!(s.done, t + 1 == horizon, "{}: done at t = {t}", task.name());
            // Terminal cost exactly once: on the last step only.
            let mut expect = true_stage_cost(task, &x, &u);
            if s.done {
                expect += true_terminal_cost(task, &s.observation);
            }
            assert_eq!(s.cost, expect, "{}: step {t}", task.name());
            total += s.cost;
            xs.push(s.observation);
            us.push(u);
        }
        let l = episode_cost(task, &xs, &us).unwrap();
        assert!(
            (l - total).abs() <= 1e-12 * l.abs(),
            "{}: {l} vs {total}",
            task.name()
        );
        assert_eq!(env.t(), horizon);
        assert!(matches!(
            env.step(&vec![0.0; m]),
            Err(EnvError::EpisodeOver { t, horizon: h }) if t == horizon && h == horizon
        ));
        // A new episode can start.
        assert!(env.reset(&mut stream(2, Stream::InitialState)).is_ok());
        assert!(env.step(&vec![0.0; m]).is_ok());
    }
}

#[test]
fn episode_cost_checks_shapes() {
    let task = NonlinearTask::Cartpole;
    let xs = vec![vec![0.0; 4]; 3];
    let us = vec![vec![0.0; 1]; 2];
    assert_eq!(
        episode_cost(task, &xs, &us).unwrap(),
        2.0 * 6.0 * std::f64::consts::PI.powi(2) + 6.0 * std::f64::consts::PI.powi(2)
    );
    assert!(matches!(
        episode_cost(task, &xs[..2], &us),
        Err(EnvError::InvalidState(_))
    ));
    assert!(matches!(
        episode_cost(task, &[vec![0.0; 3], vec![0.0; 4]], &us[..1]),
        Err(EnvError::InvalidState(_))
    ));
    assert!(matches!(
        episode_cost(task, &xs, &[vec![0.0; 2], vec![0.0; 1]]),
        Err(EnvError::ActionDim { .. })
    ));
    let no_steps: [Vec<f64>; 0] = [];
    assert_eq!(
        episode_cost(task, &xs[..1], &no_steps).unwrap(),
        6.0 * std::f64::consts::PI.powi(2)
    );
}

#[test]
fn short_episodes_and_settings_validation() {
    let task = NonlinearTask::Rocket;
    let mut s = NonlinearEnvSettings::for_task(task);
    s.horizon = 2;
    let mut env = NonlinearEnv::with_settings(task, s.clone()).unwrap();
    env.reset(&mut stream(0, Stream::InitialState)).unwrap();
    assert!(!env.step(&[12.0, 0.0, 0.0]).unwrap().done);
    assert!(env.step(&[12.0, 0.0, 0.0]).unwrap().done);

    let bad = |f: &dyn Fn(&mut NonlinearEnvSettings)| {
        let mut b = s.clone();
        f(&mut b);
        matches!(
            NonlinearEnv::with_settings(task, b),
            Err(EnvError::InvalidSettings(_))
        )
    };
    assert!(bad(&|b| b.horizon = 0));
    assert!(bad(&|b| {
        b.half_widths.pop();
    }));
    assert!(bad(&|b| b.half_widths[3] = -0.1));
    assert!(bad(&|b| b.half_widths[0] = f64::NAN));

    // Zero half-widths: resets are exact demo states and consume only the index draw.
    let mut z = NonlinearEnvSettings::for_task(NonlinearTask::Cartpole);
    z.half_widths = vec![0.0; 4];
    let mut env = NonlinearEnv::with_settings(NonlinearTask::Cartpole, z).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut mirror = rng.clone();
    let x0 = env.reset(&mut rng).unwrap();
    let k = (mirror.random::<f64>() * 5.0).floor() as usize;
    assert_eq!(x0, demo_states(NonlinearTask::Cartpole)[k]);
    assert_eq!(rng.random::<u64>(), mirror.random::<u64>());
}

#[test]
fn diverging_plant_reports_non_finite_state() {
    let mut env = NonlinearEnv::new(NonlinearTask::Cartpole);
    env.reset_to(&[0.0, 0.0, 0.0, 1e200]).unwrap();
    assert!(matches!(
        env.step(&[0.0]),
        Err(EnvError::NonFiniteState { t: 1 })
    ));
    assert!(matches!(
        env.step(&[0.0]),
        Err(EnvError::EpisodeOver { .. })
    ));
    assert_eq!(env.state(), &[0.0, 0.0, 0.0, 1e200]);
}

#[test]
fn true_costs_match_the_spec_formulas() {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    for _ in 0..20 {
        let q: Vec<f64> = (0..4).map(|_| 2.0 * rng.random::<f64>() - 1.0).collect();
        let mut x = vec![0.0; 13];
        x[6..10].copy_from_slice(&q);
        // tr(I − C(q)) = 4(q₁² + q₂² + q₃²), also for an unnormalised q.
        let h = quadrotor::true_terminal_cost(&x);
        assert!((h - 5.0 * 4.0 * (q[1] * q[1] + q[2] * q[2] + q[3] * q[3])).abs() < 1e-12);
        // tilt = squared horizontal components of the body x-axis, C(q)ᵀe_x = row 0 of C.
        let c01 = 2.0 * (q[1] * q[2] + q[0] * q[3]);
        let c02 = 2.0 * (q[1] * q[3] - q[0] * q[2]);
        assert!((rocket::true_terminal_cost(&x) - 50.0 * (c01 * c01 + c02 * c02)).abs() < 1e-12);
    }
    let x = demo_states(NonlinearTask::Rocket)[0].clone();
    let u = [13.0, 1.5, -2.0];
    let side = 1.5f64.powi(2) + 2.0f64.powi(2);
    let expect = rocket::true_terminal_cost(&x) + side + 0.1 * (169.0 + side);
    assert!((true_stage_cost(NonlinearTask::Rocket, &x, &u) - expect).abs() < 1e-12);

    // Zero at the goal with zero control.
    for task in NonlinearTask::ALL {
        let (_, m) = task.nm();
        assert_eq!(
            true_stage_cost(task, task.goal(), &vec![0.0; m]),
            0.0,
            "{}",
            task.name()
        );
    }
}

/// The oracle weights rewrite the true cost in Table-1 form: c = w_u · c_θ (`docs/spec/ENVIRONMENTS.md`
/// §6, test anchor), for the stage and the terminal cost.
#[test]
fn oracle_policy_cost_is_the_true_cost_over_wu() {
    let mut rng = ChaCha8Rng::seed_from_u64(10);
    for (task, wu) in [
        (NonlinearTask::Cartpole, 0.1),
        (NonlinearTask::Arm, 0.01),
        (NonlinearTask::Quadrotor, 0.1),
    ] {
        let (n, m) = task.nm();
        let theta = task.oracle_theta().unwrap();
        let model = Table1Policy::new(task);
        for _ in 0..10 {
            let x: Vec<f64> = (0..n).map(|_| 4.0 * rng.random::<f64>() - 2.0).collect();
            let u: Vec<f64> = (0..m).map(|_| 4.0 * rng.random::<f64>() - 2.0).collect();
            let c = true_stage_cost(task, &x, &u);
            let cp = wu * model.stage_cost(0, &x, &u, &theta, &[]);
            assert!(
                (c - cp).abs() <= 1e-9 * c.abs().max(1.0),
                "{}: {c} vs {cp}",
                task.name()
            );
            let h = true_terminal_cost(task, &x);
            let hp = wu * model.terminal_cost(&x, &theta, &[]);
            assert!(
                (h - hp).abs() <= 1e-9 * h.abs().max(1.0),
                "{}: {h} vs {hp}",
                task.name()
            );
        }
    }
}
