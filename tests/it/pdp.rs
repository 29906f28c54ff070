//! PDP (Offline): the demonstrations reproduce the reference optimal costs, the gradient
//! ĝ = ½∇ℓ matches central finite differences of the imitation loss, and a short run lowers
//! the loss.

use diffop::learn::evaluate::initial_theta;
use diffop::learn::pdp::{Pdp, PdpParameterisation, PdpSettings};
use diffop::learn::{Mode, Preset, Task, TrainConfig};
use diffop::model::tasks::NonlinearTask;

/// ĝ = ½∇ℓ against central differences of the imitation loss ℓ in the entries `which` of θ.
fn check_half_gradient(
    task: NonlinearTask,
    settings: &PdpSettings,
    theta: &[f64],
    grad: &[f64],
    which: &[usize],
) {
    for &j in which {
        let h = 1e-5 * theta[j].abs().max(1.0);
        let mut vals = [0.0; 2];
        for (k, sgn) in [1.0, -1.0].into_iter().enumerate() {
            let mut th = theta.to_vec();
            th[j] += sgn * h;
            let mut p = Pdp::new(task, settings.clone()).unwrap();
            p.set_theta(&th).unwrap();
            vals[k] = p.loss_and_grad().unwrap().0;
        }
        let fd = 0.5 * (vals[0] - vals[1]) / (2.0 * h);
        assert!(
            (grad[j] - fd).abs() <= 1e-5 * fd.abs().max(1.0),
            "θ[{j}]: ĝ = {} vs ½ dℓ/dθ = {fd}",
            grad[j]
        );
    }
}

#[test]
fn arm_demonstrations_gradient_and_descent() {
    let task = NonlinearTask::Arm;
    let mut pdp = Pdp::new(task, PdpSettings::for_task(task)).unwrap();
    // docs/spec/ENVIRONMENTS.md §6 reference optimal costs of the arm demonstrations.
    for (demo, reference) in pdp.demos().iter().zip([110.5, 187.3, 76.4, 180.2]) {
        assert!(
            (demo.cost - reference).abs() < 0.1,
            "demo cost {} vs {reference}",
            demo.cost
        );
    }
    let (loss, grad) = pdp.loss_and_grad().unwrap();
    assert!(loss > 0.0 && loss.is_finite());
    // ĝ = ½ ∇ℓ against central differences of ℓ in θ.
    check_half_gradient(
        task,
        &PdpSettings::for_task(task),
        pdp.theta(),
        &grad,
        &[0, 3, 4, 7],
    );
    let mut losses = Vec::new();
    for _ in 0..5 {
        losses.push(pdp.step().unwrap());
    }
    let (last, _) = pdp.loss_and_grad().unwrap();
    assert!(
        last < losses[0],
        "loss did not decrease: {losses:?} → {last}"
    );
}

/// The §11.1 option: PDP in DiffOP's Table-1 parameterisation starts from DiffOP's θ(0) of the
/// same run seed, its ĝ = ½∇ℓ matches central differences (cost weights and θ_f), a few steps
/// lower the loss, the floor applies to θ_f only, and the reported cost is the Table-1 Traj
/// policy's.
#[test]
fn table1_parameterisation_starts_from_diffop_theta0_and_descends() {
    let task = NonlinearTask::Arm;
    let settings = PdpSettings {
        seed: 3,
        parameterisation: PdpParameterisation::Table1,
        ..PdpSettings::for_task(task)
    };
    for bad in [0.0, -1.0, f64::NAN] {
        let e = Pdp::new(
            task,
            PdpSettings {
                phi_floor: bad,
                ..settings.clone()
            },
        )
        .unwrap_err();
        assert!(e.to_string().contains("phi_floor"), "{e}");
    }
    let mut pdp = Pdp::new(task, settings.clone()).unwrap();
    let mut config = TrainConfig::preset(Task::Arm, Mode::Traj, Preset::Default);
    config.seed = 3;
    assert_eq!(
        pdp.initial_theta(),
        initial_theta(&config).unwrap().as_slice()
    );
    assert_eq!(pdp.theta().len(), 12);
    let (loss, grad) = pdp.loss_and_grad().unwrap();
    assert!(loss > 0.0 && loss.is_finite());
    check_half_gradient(task, &settings, pdp.theta(), &grad, &[0, 5, 8, 11]);
    let first = pdp.step().unwrap();
    for _ in 0..4 {
        pdp.step().unwrap();
    }
    let (last, _) = pdp.loss_and_grad().unwrap();
    assert!(last < first, "loss did not decrease: {first} → {last}");
    // The floor acts on θ_f (entries 8..12), never on the cost weights (which may go negative).
    let mut low = pdp.theta().to_vec();
    low[1] = -0.5;
    low[9] = -0.5;
    let mut p = Pdp::new(
        task,
        PdpSettings {
            lr: 1e-12,
            ..settings.clone()
        },
    )
    .unwrap();
    p.set_theta(&low).unwrap();
    p.step().unwrap();
    assert!((p.theta()[1] + 0.5).abs() < 1e-6, "{}", p.theta()[1]);
    assert_eq!(p.theta()[9], settings.phi_floor);
    // The evaluation is the Table-1 Traj policy's: at DiffOP's θ(0) it equals the trainer's
    // untrained evaluation.
    let p0 = Pdp::new(task, settings).unwrap();
    let ours = p0.evaluate().unwrap();
    let theta0 = initial_theta(&config).unwrap();
    let trainer = diffop::learn::evaluate::evaluate_theta(&config, &theta0)
        .unwrap()
        .cost;
    assert!(
        (ours - trainer).abs() <= 1e-6 * trainer,
        "{ours} vs {trainer}"
    );
}

/// Voltage PDP (Offline) on a reduced demonstration set (4 demonstrations of 8 steps): ĝ = ½∇ℓ
/// against central differences (θ_v and entries of A), and a few steps lower the loss.
#[test]
fn voltage_gradient_and_descent() {
    use diffop::envs::voltage::demos::DemoSettings;
    use diffop::learn::pdp_voltage::{VoltagePdp, VoltagePdpSettings};
    let settings = VoltagePdpSettings {
        demos: DemoSettings {
            count: 4,
            steps: 8,
            ..DemoSettings::default()
        },
        ..VoltagePdpSettings::default()
    };
    let mut pdp = VoltagePdp::new(settings.clone()).unwrap();
    assert_eq!(pdp.demos().len(), 4);
    let (loss, grad) = pdp.loss_and_grad().unwrap();
    assert!(loss > 0.0 && loss.is_finite());
    let theta = pdp.theta().to_vec();
    for j in [0, 2, 3, 7, 11] {
        let h = 1e-6 * theta[j].abs().max(1.0);
        let mut vals = [0.0; 2];
        for (k, sgn) in [1.0, -1.0].into_iter().enumerate() {
            let mut th = theta.clone();
            th[j] += sgn * h;
            let mut p = VoltagePdp::new(settings.clone()).unwrap();
            p.set_theta(&th).unwrap();
            vals[k] = p.loss_and_grad().unwrap().0;
        }
        let fd = 0.5 * (vals[0] - vals[1]) / (2.0 * h);
        assert!(
            (grad[j] - fd).abs() <= 1e-5 * fd.abs().max(1e-3),
            "θ[{j}]: ĝ = {} vs ½ dℓ/dθ = {fd}",
            grad[j]
        );
    }
    let first = pdp.step().unwrap();
    for _ in 0..4 {
        pdp.step().unwrap();
    }
    let (last, _) = pdp.loss_and_grad().unwrap();
    assert!(last < first, "loss did not decrease: {first} → {last}");
    assert!(pdp.set_theta(&[1.0]).is_err());
}

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// K = 4 gradient steps at once against 2 steps, a checkpoint saved to and loaded from a file,
/// and a resume to K = 4: θ and the loss history are bit-identical. Checkpoints of other
/// settings or another task are rejected.
#[test]
fn nonlinear_resume_equals_uninterrupted() {
    use diffop::learn::pdp::{PdpCheckpoint, PdpError};
    let task = NonlinearTask::Arm;
    let settings = PdpSettings {
        iterations: 4,
        ..PdpSettings::for_task(task)
    };
    let mut full = Pdp::new(task, settings.clone()).unwrap();
    while full.iteration() < settings.iterations {
        full.step().unwrap();
    }
    let mut first = Pdp::new(task, settings.clone()).unwrap();
    first.step().unwrap();
    first.step().unwrap();
    let path = std::env::temp_dir().join(format!("diffop-pdp-ckpt-{}.json", std::process::id()));
    first.checkpoint().save(&path).unwrap();
    let theta0 = first.initial_theta().to_vec();
    drop(first);
    let ck = PdpCheckpoint::<PdpSettings>::load(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    let mut resumed = Pdp::resume(task, settings.clone(), &ck).unwrap();
    assert_eq!(resumed.iteration(), 2);
    assert_eq!(bits(resumed.initial_theta()), bits(&theta0));
    while resumed.iteration() < settings.iterations {
        resumed.step().unwrap();
    }
    assert_eq!(bits(full.theta()), bits(resumed.theta()));
    assert_eq!(bits(full.losses()), bits(resumed.losses()));
    assert_eq!(full.losses().len(), 4);

    let other = PdpSettings {
        lr: 2.0 * settings.lr,
        ..settings.clone()
    };
    match Pdp::resume(task, other, &ck) {
        Err(PdpError::Checkpoint(e)) => assert!(e.to_string().contains("lr"), "{e}"),
        r => panic!(
            "expected a checkpoint error, got {:?}",
            r.map(|p| p.iteration())
        ),
    }
    let cartpole = PdpSettings {
        iterations: 4,
        ..PdpSettings::for_task(NonlinearTask::Cartpole)
    };
    assert!(matches!(
        Pdp::resume(NonlinearTask::Cartpole, cartpole, &ck),
        Err(PdpError::Checkpoint(_))
    ));
    // A budget below the iterations already done is rejected.
    let short = PdpSettings {
        iterations: 1,
        ..settings
    };
    assert!(matches!(
        Pdp::resume(task, short, &ck),
        Err(PdpError::Checkpoint(_))
    ));
}

/// The same for voltage PDP on a reduced demonstration set: 3 steps against 1 + resume.
#[test]
fn voltage_resume_equals_uninterrupted() {
    use diffop::envs::voltage::demos::DemoSettings;
    use diffop::learn::pdp::{PdpCheckpoint, PdpError};
    use diffop::learn::pdp_voltage::{VoltagePdp, VoltagePdpSettings};
    let settings = VoltagePdpSettings {
        iterations: 3,
        demos: DemoSettings {
            count: 3,
            steps: 6,
            ..DemoSettings::default()
        },
        ..VoltagePdpSettings::default()
    };
    let mut full = VoltagePdp::new(settings.clone()).unwrap();
    while full.iteration() < settings.iterations {
        full.step().unwrap();
    }
    let mut first = VoltagePdp::new(settings.clone()).unwrap();
    first.step().unwrap();
    let json = serde_json::to_string(&first.checkpoint()).unwrap();
    drop(first);
    let ck: PdpCheckpoint<VoltagePdpSettings> = serde_json::from_str(&json).unwrap();
    let mut resumed = VoltagePdp::resume(settings.clone(), &ck).unwrap();
    while resumed.iteration() < settings.iterations {
        resumed.step().unwrap();
    }
    assert_eq!(bits(full.theta()), bits(resumed.theta()));
    assert_eq!(bits(full.losses()), bits(resumed.losses()));
    let mut other = settings.clone();
    other.demos.count = 4;
    match VoltagePdp::resume(other, &ck) {
        Err(PdpError::Checkpoint(e)) => assert!(e.to_string().contains("demos"), "{e}"),
        r => panic!(
            "expected a checkpoint error, got {:?}",
            r.map(|p| p.iteration())
        ),
    }
}
