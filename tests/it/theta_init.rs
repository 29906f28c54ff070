//! θ(0) initialisation and the θ_f projection (`docs/spec/ENVIRONMENTS.md` §1.3, §1.4, §7.12).

use diffop::model::tasks::init::{
    project_theta_f, theta0_nonlinear, theta0_nonlinear_with, theta0_voltage, InitError, A_LINEAR,
    THETA_F_FLOOR,
};
use diffop::model::tasks::{NonlinearTask, Table1Policy};
use diffop::rng::{stream, Stream};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[test]
fn theta0_nonlinear_follows_the_recipe() {
    for task in NonlinearTask::ALL {
        let (n, _) = task.nm();
        let phi = task.phi_true();
        let mut rng = stream(0, Stream::ThetaInit);
        let mut mirror = rng.clone();
        let th = theta0_nonlinear(task, &mut rng);
        assert_eq!(th.len(), Table1Policy::new(task).n_theta());
        assert!(th[..2 * n].iter().all(|&w| w == 1.0));
        // One uniform per θ_f entry, in θ_f order, then clamped.
        for (k, &p) in phi.iter().enumerate() {
            let u: f64 = mirror.random::<f64>();
            assert_eq!(
                th[2 * n + k],
                (p + task.sigma0() * (u - 0.5)).max(THETA_F_FLOOR)
            );
            assert!((th[2 * n + k] - p).abs() <= task.sigma0() / 2.0);
        }
        assert_eq!(rng.random::<u64>(), mirror.random::<u64>(), "extra draws");
        // Deterministic per seed, different across seeds.
        assert_eq!(
            th,
            theta0_nonlinear(task, &mut stream(0, Stream::ThetaInit))
        );
        assert_ne!(
            th,
            theta0_nonlinear(task, &mut stream(1, Stream::ThetaInit))
        );
    }
}

#[test]
fn theta0_floor_is_applied_and_settings_checked() {
    // The quadrotor arm length 0.4 with σ₀ = 2 falls below the floor for U < 0.325.
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut hit = false;
    for _ in 0..50 {
        let th = theta0_nonlinear_with(NonlinearTask::Quadrotor, 2.0, 0.1, &mut rng).unwrap();
        assert!(th[26..].iter().all(|&v| v >= 0.1));
        hit |= th[30] == 0.1;
    }
    assert!(hit, "the floor never acted");
    for (s, f) in [(-1.0, 0.05), (f64::NAN, 0.05), (0.9, f64::INFINITY)] {
        assert!(matches!(
            theta0_nonlinear_with(NonlinearTask::Arm, s, f, &mut rng),
            Err(InitError::InvalidSetting { .. })
        ));
    }
}

#[test]
fn projection_clamps_only_theta_f() {
    let task = NonlinearTask::Cartpole;
    let mut th = vec![-2.0; 11];
    th[8..].copy_from_slice(&[0.01, 0.5, -3.0]);
    assert_eq!(project_theta_f(task, &mut th, THETA_F_FLOOR), Ok(2));
    assert_eq!(&th[..8], &[-2.0; 8]);
    assert_eq!(&th[8..], &[0.05, 0.5, 0.05]);
    assert_eq!(project_theta_f(task, &mut th, 0.2), Ok(2));
    assert_eq!(&th[8..], &[0.2, 0.5, 0.2]);

    let mut short = vec![1.0; 10];
    assert!(matches!(
        project_theta_f(task, &mut short, 0.05),
        Err(InitError::ThetaLength {
            got: 10,
            expected: 11,
            ..
        })
    ));
    th[9] = f64::NAN;
    let before = th.clone();
    assert!(matches!(
        project_theta_f(task, &mut th, 0.05),
        Err(InitError::NonFiniteTheta { index: 9, .. })
    ));
    assert_eq!(th[8], before[8]);
}

#[test]
fn theta0_voltage_perturbs_a_row_major() {
    let mut rng = stream(0, Stream::ThetaInit);
    let mut mirror = rng.clone();
    let th = theta0_voltage(&mut rng);
    assert_eq!(th.len(), 12);
    assert_eq!(&th[..3], &[1.0, 1.0, 1.0]);
    for r in 0..3 {
        for c in 0..3 {
            let u: f64 = mirror.random::<f64>();
            let a = A_LINEAR[r][c];
            assert_eq!(th[3 + 3 * r + c], a * (1.0 + (u - 0.5)));
            assert!((th[3 + 3 * r + c] - a).abs() <= 0.5 * a);
        }
    }
    assert_eq!(rng.random::<u64>(), mirror.random::<u64>(), "extra draws");
    // A is symmetric (LinDistFlow) as printed in §7.11.
    for (r, row) in A_LINEAR.iter().enumerate() {
        for (c, &a) in row.iter().enumerate() {
            assert_eq!(a, A_LINEAR[c][r]);
        }
    }
}
