//! PDP (Offline): the demonstrations reproduce the reference optimal costs, the gradient
//! ĝ = ½∇ℓ matches central finite differences of the imitation loss, and a short run lowers
//! the loss.

use diffop::learn::pdp::{Pdp, PdpSettings};
use diffop::model::tasks::NonlinearTask;

#[test]
fn arm_demonstrations_gradient_and_descent() {
    let task = NonlinearTask::Arm;
    let mut pdp = Pdp::new(task, PdpSettings::for_task(task)).unwrap();
    // ENVIRONMENTS.md §6 reference optimal costs of the arm demonstrations.
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
    let theta = pdp.theta().to_vec();
    let settings = PdpSettings::for_task(task);
    for j in [0, 3, 4, 7] {
        let h = 1e-5 * theta[j].abs().max(1.0);
        let mut vals = [0.0; 2];
        for (k, sgn) in [1.0, -1.0].into_iter().enumerate() {
            let mut th = theta.clone();
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
