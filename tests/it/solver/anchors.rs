//! Oracle anchors (§13 item 3): Traj mode, true θ_f, oracle weights, H = T, from the
//! demonstration states; the true cost is w_u × the policy objective (`docs/spec/ENVIRONMENTS.md` §6).

use super::common::{assert_kkt, kkt_check};
use super::tasks::demo_states;
use diffop::model::tasks::{NonlinearTask, Table1Policy};
use diffop::solver::{SolverSettings, Status, WarmStart, Workspace};

/// Solve every demo state of `task` with H = T and return (true cost, status) per state.
fn anchor_costs(task: NonlinearTask, w_u: f64) -> Vec<(f64, Status)> {
    let model = Table1Policy::new(task);
    let th = task.oracle_theta().unwrap();
    let h = task.episode_len();
    let mut ws = Workspace::new(&model, h, SolverSettings::default()).unwrap();
    demo_states(task)
        .iter()
        .enumerate()
        .map(|(k, x0)| {
            let sol = ws.solve(&model, x0, &th, &[], WarmStart::Cold).unwrap();
            let r = kkt_check(&model, x0, &th, &[], sol);
            eprintln!(
                "{} demo {k}: {:?} it {} reg {:e} true cost {:.4} | stat {:e} feas {:e}",
                task.name(),
                sol.status,
                sol.iterations,
                sol.max_regularization,
                w_u * sol.objective,
                r.stat,
                r.feas
            );
            if sol.status.is_polished() {
                assert_kkt(task.name(), &r, 1e-9);
            }
            (w_u * sol.objective, sol.status)
        })
        .collect()
}

fn check(task: NonlinearTask, w_u: f64, expected: &[f64]) {
    let got = anchor_costs(task, w_u);
    for (k, ((cost, status), want)) in got.iter().zip(expected).enumerate() {
        assert_eq!(*status, Status::Solved, "{} demo {k}", task.name());
        assert!(
            (cost - want).abs() <= 0.1,
            "{} demo {k}: cost {cost:.4}, demonstration {want}",
            task.name()
        );
    }
}

#[test]
fn oracle_anchor_arm() {
    check(NonlinearTask::Arm, 0.01, &[110.5, 187.3, 76.4, 180.2]);
}

#[test]
fn oracle_anchor_quadrotor() {
    check(NonlinearTask::Quadrotor, 0.1, &[3171.8, 3171.8]);
}

/// Fails today: from every demo state the interior-point line search stalls at a non-KKT
/// point (defects ≈ 0.07, scaled stationarity ≈ 0.2, steps shrinking to zero) and ends in
/// NumericalError or MaxIterations. Run with `--ignored` once the globalisation is fixed.
#[test]
fn oracle_anchor_cartpole() {
    check(
        NonlinearTask::Cartpole,
        0.1,
        &[619.6, 725.8, 665.5, 617.1, 678.1],
    );
}
