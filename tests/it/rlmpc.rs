//! RLMPC-TD / RLMPC-DPG (docs/spec/ALGORITHMS.md §11.2–11.3): gradients against finite differences, the
//! LSTD critic on synthetic data, short runs, determinism across thread counts, config checks.

use diffop::learn::rlmpc::dpg::{dpg_gradient, lstd_system};
use diffop::learn::rlmpc::episode::Episode;
use diffop::learn::rlmpc::lstd::{n_features, quadratic_features, LstdSystem};
use diffop::learn::rlmpc::td::{td_direction, td_loss};
use diffop::learn::rlmpc::{
    collect_episode, MpcFunctions, Rlmpc, RlmpcConfig, RlmpcMethod, Transition,
};
use diffop::learn::{LearnError, Task};
use diffop::model::tasks::{Table1Policy, VoltagePolicy};
use diffop::model::OcpModel;
use diffop::solver::SolverSettings;
use nalgebra::{DMatrix, DVector};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn small(task: Task, method: RlmpcMethod) -> RlmpcConfig {
    let mut c = RlmpcConfig::new(task, method);
    c.batch = 2;
    c.iterations = 2;
    c.eval_every = 0;
    c.eval_scenarios = 4;
    c
}

/// The first `k` transitions of episode 0 with θ(0), as a one-episode batch.
fn episode(config: &RlmpcConfig, k: usize) -> (Vec<f64>, Episode) {
    let theta = Rlmpc::new(config.clone()).unwrap().theta().to_vec();
    let mut ep = collect_episode(config, &theta, 0).unwrap();
    ep.transitions.truncate(k);
    (theta, ep)
}

fn functions<M: OcpModel>(
    model: M,
    c: &RlmpcConfig,
    theta: &[f64],
    ctx: &[f64],
) -> MpcFunctions<M> {
    let drop_first = c.task == Task::Voltage;
    let mut f = MpcFunctions::new(
        model,
        c.horizon,
        theta,
        SolverSettings::default(),
        drop_first,
    )
    .unwrap();
    if !ctx.is_empty() {
        f.set_context(ctx).unwrap();
    }
    f
}

/// Q_θ′(s, a) re-solved from scratch.
fn q_at(c: &RlmpcConfig, theta: &[f64], ctx: &[f64], tr: &Transition) -> f64 {
    match c.task.nonlinear() {
        Some(t) => functions(Table1Policy::new(t), c, theta, ctx).q(&tr.state, &tr.action),
        None => functions(VoltagePolicy::default(), c, theta, ctx).q(&tr.state, &tr.action),
    }
    .unwrap()
    .value
}

/// π_θ′(s) re-solved from scratch.
fn pi_at(c: &RlmpcConfig, theta: &[f64], ctx: &[f64], s: &[f64]) -> Vec<f64> {
    match c.task.nonlinear() {
        Some(t) => functions(Table1Policy::new(t), c, theta, ctx).plan(s),
        None => functions(VoltagePolicy::default(), c, theta, ctx).plan(s),
    }
    .unwrap()
    .0
}

fn rel_err(a: &DVector<f64>, b: &DVector<f64>) -> f64 {
    (a - b).norm() / b.norm().max(1e-12)
}

/// ∇θQ of every transition vs central differences of re-solved Q, and the TD direction
/// mean δ∇Q vs −∇(½ mean δ²) with the target frozen.
fn check_td(task: Task, k: usize) {
    let c = small(task, RlmpcMethod::Td);
    let (theta, ep) = episode(&c, k);
    let d = theta.len();
    let mut fd_loss = DVector::zeros(d);
    for tr in &ep.transitions {
        let q = tr.q.as_ref().expect("Q solved");
        assert!(
            (q_at(&c, &theta, &ep.context, tr) - q.value).abs() < 1e-8 * q.value.abs().max(1.0)
        );
        let mut fd_q = DVector::zeros(d);
        for j in 0..d {
            let h = 1e-6 * theta[j].abs().max(1e-2);
            let (mut tp, mut tm) = (theta.clone(), theta.clone());
            tp[j] += h;
            tm[j] -= h;
            let (qp, qm) = (
                q_at(&c, &tp, &ep.context, tr),
                q_at(&c, &tm, &ep.context, tr),
            );
            fd_q[j] = (qp - qm) / (2.0 * h);
            let target = tr.cost + c.gamma * tr.target;
            let lp = 0.5 * (target - qp).powi(2);
            let lm = 0.5 * (target - qm).powi(2);
            fd_loss[j] += (lp - lm) / (2.0 * h) / k as f64;
        }
        let e = rel_err(&q.theta, &fd_q);
        assert!(e < 1e-5, "{task}: ∇θQ vs FD, relative error {e:e}");
    }
    let (dir, used) = td_direction(std::slice::from_ref(&ep), c.gamma, d);
    assert_eq!(used, k);
    let e = rel_err(&dir, &(-fd_loss));
    assert!(
        e < 1e-5,
        "{task}: mean δ∇Q vs −∇(½ mean δ²), relative error {e:e}"
    );
}

#[test]
fn td_gradients_match_finite_differences_cartpole() {
    check_td(Task::Cartpole, 3);
}

#[test]
fn td_gradients_match_finite_differences_voltage() {
    check_td(Task::Voltage, 2);
}

/// ∇θπ vs central differences of re-solved π, and the DPG gradient (1/N)Σ∇π∇πᵀw vs the
/// θ-derivative of the critic's advantage Σ_k ψ(s_k, π_θ′(s_k))ᵀw (the chain rule through ∇_aQ_w).
fn check_dpg(task: Task, k: usize) {
    let c = small(task, RlmpcMethod::Dpg);
    let (theta, ep) = episode(&c, k);
    let d = theta.len();
    let mut r = ChaCha8Rng::seed_from_u64(5);
    let w = DVector::from_fn(d, |_, _| r.random::<f64>() - 0.5);
    let mut fd_g = DVector::zeros(d);
    let mut fd_jac: Vec<DMatrix<f64>> = Vec::new();
    for tr in &ep.transitions {
        let jac = tr.jacobian.as_ref().expect("∇θπ computed");
        let m = tr.pi.len();
        let grad_a = jac.transpose() * &w;
        let mut fj = DMatrix::zeros(d, m);
        for j in 0..d {
            let h = 1e-6 * theta[j].abs().max(1e-2);
            let (mut tp, mut tm) = (theta.clone(), theta.clone());
            tp[j] += h;
            tm[j] -= h;
            let (pp, pm) = (
                pi_at(&c, &tp, &ep.context, &tr.state),
                pi_at(&c, &tm, &ep.context, &tr.state),
            );
            for i in 0..m {
                fj[(j, i)] = (pp[i] - pm[i]) / (2.0 * h);
                fd_g[j] += fj[(j, i)] * grad_a[i];
            }
        }
        let e = (jac - &fj).norm() / fj.norm().max(1e-12);
        assert!(e < 1e-5, "{task}: ∇θπ vs FD, relative error {e:e}");
        let psi = tr.psi.as_ref().expect("ψ");
        let a_minus_pi =
            DVector::from_iterator(m, tr.action.iter().zip(&tr.pi).map(|(a, p)| a - p));
        assert!(rel_err(psi, &(jac * a_minus_pi)) < 1e-12);
        fd_jac.push(fj);
    }
    let g = dpg_gradient(
        ep.transitions.iter().filter_map(|t| t.jacobian.as_ref()),
        &w,
        1,
    );
    let e = rel_err(&g, &fd_g);
    assert!(
        e < 1e-5,
        "{task}: DPG gradient vs FD of the critic, relative error {e:e}"
    );
}

#[test]
fn dpg_gradients_match_finite_differences_arm() {
    check_dpg(Task::Arm, 3);
}

#[test]
fn dpg_gradients_match_finite_differences_voltage() {
    check_dpg(Task::Voltage, 2);
}

/// Synthetic data with Ψ orthogonal to the columns of Φ and L = −D_Φ v* + Ψ w*: the pooled
/// LSTD recovers v* and w* (up to the ridge ρ = 1e-10).
#[test]
fn lstd_recovers_known_weights() {
    let mut r = ChaCha8Rng::seed_from_u64(11);
    let (n, d, k, gamma) = (3, 4, 200, 0.9);
    let p = n_features(n);
    assert_eq!(
        (n_features(4), n_features(6), n_features(13)),
        (15, 28, 105)
    );
    let mut phi = DMatrix::zeros(k, p);
    let mut phi_next = DMatrix::zeros(k, p);
    let mut f = vec![0.0; p];
    for row in 0..k {
        let s: Vec<f64> = (0..n).map(|_| 2.0 * r.random::<f64>() - 1.0).collect();
        quadratic_features(&s, &mut f);
        phi.row_mut(row).copy_from_slice(&f);
        if row % 20 != 19 {
            let s2: Vec<f64> = (0..n).map(|_| 2.0 * r.random::<f64>() - 1.0).collect();
            quadratic_features(&s2, &mut f);
            phi_next.row_mut(row).copy_from_slice(&f);
        }
    }
    let z = DMatrix::from_fn(k, d, |_, _| r.random::<f64>() - 0.5);
    // Ψ = (I − P_Φ) Z, so Φᵀ Ψ = 0.
    let proj = &phi * (phi.transpose() * &phi).try_inverse().unwrap() * phi.transpose();
    let psi = &z - proj * &z;
    let v_star = DVector::from_fn(p, |_, _| r.random::<f64>() - 0.5);
    let w_star = DVector::from_fn(d, |_, _| r.random::<f64>() - 0.5);
    let d_phi = &phi_next * gamma - &phi;
    let cost = -(&d_phi * &v_star) + &psi * &w_star;
    let sys = LstdSystem {
        phi,
        phi_next,
        cost,
        psi,
    };
    let sol = sys.solve(gamma, 1e-10).unwrap();
    assert!(
        rel_err(&sol.v, &v_star) < 1e-6,
        "v: {:e}",
        rel_err(&sol.v, &v_star)
    );
    assert!(
        rel_err(&sol.w, &w_star) < 1e-6,
        "w: {:e}",
        rel_err(&sol.w, &w_star)
    );
    assert!(sys.solve(gamma, 0.0).is_err());
}

/// The LSTD rows built from an episode: Φ′ = 0 and L = c + γh(s_T) on the last transition.
#[test]
fn lstd_rows_of_an_episode() {
    let c = small(Task::Cartpole, RlmpcMethod::Dpg);
    let (theta, ep) = episode(&c, 30);
    let (sys, rows) = lstd_system(std::slice::from_ref(&ep), c.gamma, theta.len());
    assert_eq!(
        (rows, sys.phi.ncols(), sys.psi.ncols()),
        (30, 15, theta.len())
    );
    let last = ep.transitions.last().unwrap();
    assert!(last.terminal);
    assert!(sys.phi_next.row(29).iter().all(|&v| v == 0.0));
    assert!((sys.cost[29] - (last.cost + c.gamma * last.target)).abs() < 1e-12);
    assert_eq!(sys.cost[0], ep.transitions[0].cost);
    // Transitions chain: V(s_{t+1}) is the next action solve's optimum.
    let t0 = &ep.transitions[0];
    assert_eq!(t0.next_state, ep.transitions[1].state);
    let total: f64 = ep.transitions.iter().map(|t| t.cost).sum::<f64>() + last.target;
    assert!((total - ep.cost).abs() < 1e-9 * ep.cost.abs());
}

/// One TD update on a fixed batch lowers its frozen-target TD loss; DPG: the step is a descent
/// direction of the fitted critic (∇Jᵀ w ≥ 0 since ∇J = mean ∇π∇πᵀ w).
#[test]
fn updates_descend_their_objectives() {
    let c = small(Task::Cartpole, RlmpcMethod::TdDpg);
    let (theta, ep) = episode(&c, 10);
    let d = theta.len();
    let batch = std::slice::from_ref(&ep);
    let (dir, _) = td_direction(batch, c.gamma, d);
    let before = td_loss(batch, c.gamma).unwrap();
    let alpha = 1e-3 / dir.norm();
    let moved: Vec<f64> = theta
        .iter()
        .zip(dir.iter())
        .map(|(t, g)| t + alpha * g)
        .collect();
    let after: f64 = ep
        .transitions
        .iter()
        .map(|tr| 0.5 * (tr.cost + c.gamma * tr.target - q_at(&c, &moved, &[], tr)).powi(2))
        .sum::<f64>()
        / ep.transitions.len() as f64;
    assert!(after < before, "TD loss {before} → {after}");
    let w = DVector::from_fn(d, |i, _| (i as f64 * 0.7).sin());
    let g = dpg_gradient(
        ep.transitions.iter().filter_map(|t| t.jacobian.as_ref()),
        &w,
        1,
    );
    assert!(g.dot(&w) >= 0.0);
}

/// Short runs lower the control cost. Setting (chosen because it is reliable, measured on seeds
/// 0–2): the robot arm, N = 10, α_TD = α_DPG = 1e-3, 3 iterations; the deterministic evaluation
/// cost drops from ≈ 268–288 to ≈ 207–242 for every method. (With the default α = 1e-4 the arm
/// improves more slowly; on the cart-pole TD raises the cost, see the README.)
#[test]
fn short_runs_lower_the_cost() {
    for method in RlmpcMethod::ALL {
        let mut c = RlmpcConfig::new(Task::Arm, method).with_alpha(1e-3);
        c.iterations = 3;
        c.eval_every = 3;
        let mut l = Rlmpc::new(c).unwrap();
        while !l.is_done() {
            l.step().unwrap();
        }
        let first = l.history()[0].eval_cost.unwrap();
        let last = l.finish().unwrap().eval_cost.unwrap();
        assert!(last < 0.95 * first, "{method}: eval cost {first} → {last}");
        assert_eq!(l.history().len(), 4);
        if method != RlmpcMethod::Td {
            assert!(l.last_critic().is_some());
        }
    }
}

fn run_theta(method: RlmpcMethod, threads: usize) -> Vec<f64> {
    let c = small(Task::Cartpole, method);
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(|| {
            let mut l = Rlmpc::new(c).unwrap();
            while !l.is_done() {
                l.step().unwrap();
            }
            l.theta().to_vec()
        })
}

#[test]
fn determinism_across_thread_counts() {
    for method in RlmpcMethod::ALL {
        let one = run_theta(method, 1);
        let two = run_theta(method, 2);
        assert_eq!(one, two, "{method}: θ differs between 1 and 2 threads");
        assert_ne!(
            one,
            Rlmpc::new(small(Task::Cartpole, method)).unwrap().theta()
        );
    }
}

/// A change to a configuration.
type Edit = Box<dyn Fn(&mut RlmpcConfig)>;

#[test]
fn bad_configs_are_rejected() {
    let base = RlmpcConfig::new(Task::Cartpole, RlmpcMethod::Td);
    let cases: Vec<(&str, Edit)> = vec![
        ("σ", Box::new(|c| c.sigma = -0.1)),
        ("σ", Box::new(|c| c.sigma = f64::NAN)),
        ("alpha_td", Box::new(|c| c.alpha_td = 0.0)),
        ("alpha_dpg", Box::new(|c| c.alpha_dpg = -1e-4)),
        ("γ", Box::new(|c| c.gamma = 0.0)),
        ("γ", Box::new(|c| c.gamma = 1.5)),
        ("horizon", Box::new(|c| c.horizon = 1)),
        ("batch", Box::new(|c| c.batch = 0)),
        ("iterations", Box::new(|c| c.iterations = 0)),
        ("ridge", Box::new(|c| c.ridge = 0.0)),
        (
            "max_failure_fraction",
            Box::new(|c| c.max_failure_fraction = 1.0),
        ),
        ("eval_scenarios", Box::new(|c| c.eval_scenarios = 0)),
    ];
    for (word, edit) in cases {
        let mut c = base.clone();
        edit(&mut c);
        match Rlmpc::new(c) {
            Err(LearnError::Config(msg)) => assert!(msg.contains(word), "`{msg}` lacks `{word}`"),
            other => panic!("expected a config error naming {word}, got {other:?}"),
        }
    }
    assert!(base.validate().is_ok());
    for m in RlmpcMethod::ALL {
        assert_eq!(m.to_string().parse::<RlmpcMethod>().unwrap(), m);
    }
    assert_eq!("td-dpg".parse::<RlmpcMethod>().unwrap(), RlmpcMethod::TdDpg);
    assert!("rlmpc-ppo".parse::<RlmpcMethod>().is_err());
}

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// One history row with every deterministic field as exact bits (wall times excluded).
type TraceRow = (usize, Vec<u64>, [Option<u64>; 3], usize, usize);

fn trace(history: &[diffop::learn::IterationRecord]) -> Vec<TraceRow> {
    history
        .iter()
        .map(|r| {
            (
                r.iteration,
                bits(&r.theta),
                [r.batch_mean_cost, r.eval_cost, r.grad_norm].map(|v| v.map(f64::to_bits)),
                r.failed_solves,
                r.weakly_active,
            )
        })
        .collect()
}

/// K = 3 iterations at once against 1 iteration, a checkpoint through JSON, and a resume to
/// K = 3: θ, the history, the episode counter and the critic are bit-identical (TD+DPG, which
/// exercises both updates and the LSTD critic).
#[test]
fn resume_equals_uninterrupted() {
    use diffop::learn::rlmpc::RlmpcCheckpoint;
    let mut c = small(Task::Cartpole, RlmpcMethod::TdDpg);
    c.iterations = 3;
    c.eval_every = 2;
    let mut full = Rlmpc::new(c.clone()).unwrap();
    while !full.is_done() {
        full.step().unwrap();
    }
    full.finish().unwrap();

    let mut first = Rlmpc::new(c.clone()).unwrap();
    first.step().unwrap();
    let json = RlmpcCheckpoint::new(&first).to_json().unwrap();
    drop(first);
    let ck = RlmpcCheckpoint::from_json(&json).unwrap();
    let mut resumed = ck.resume(c.clone()).unwrap();
    assert_eq!(resumed.iteration(), 1);
    while !resumed.is_done() {
        resumed.step().unwrap();
    }
    resumed.finish().unwrap();
    assert_eq!(bits(full.theta()), bits(resumed.theta()));
    assert_eq!(trace(full.history()), trace(resumed.history()));
    assert_eq!(full.episodes(), resumed.episodes());
    let critic = |l: &Rlmpc| {
        let s = l.last_critic().unwrap();
        (bits(s.v.as_slice()), bits(s.w.as_slice()))
    };
    assert_eq!(critic(&full), critic(&resumed));

    // A checkpoint of another configuration is rejected, naming the field.
    let mut other = c.clone();
    other.alpha_dpg *= 2.0;
    match ck.resume(other) {
        Err(LearnError::Checkpoint(msg)) => assert!(msg.contains("alpha_dpg"), "{msg}"),
        r => panic!(
            "expected a checkpoint error, got {:?}",
            r.map(|l| l.iteration())
        ),
    }
    let mut other = c.clone();
    other.method = RlmpcMethod::Td;
    assert!(matches!(ck.resume(other), Err(LearnError::Checkpoint(_))));
    // K and eval_every may change; a K below the iterations done may not.
    let mut longer = c.clone();
    longer.iterations = 5;
    longer.eval_every = 0;
    assert!(ck.resume(longer).is_ok());
    let mut tamper: serde_json::Value = serde_json::from_str(&json).unwrap();
    tamper["state"]["iteration"] = 7.into();
    let tampered = RlmpcCheckpoint::from_json(&tamper.to_string()).unwrap();
    assert!(matches!(
        tampered.resume(c.clone()),
        Err(LearnError::Checkpoint(_))
    ));
}

/// The same through run directories: K = 1, then `resume` to K = 2, against K = 2 at once.
#[test]
fn run_directory_resumes() {
    use diffop::learn::rlmpc::{run_rlmpc, RlmpcRunOptions};
    let root = std::env::temp_dir().join(format!("diffop-rlmpc-resume-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let c2 = small(Task::Cartpole, RlmpcMethod::Td);
    let opts = |name: &str, resume: bool| RlmpcRunOptions {
        quiet: true,
        resume,
        ..RlmpcRunOptions::new(root.join(name))
    };
    let whole = run_rlmpc(&c2, &opts("whole", false)).unwrap();
    let mut c1 = c2.clone();
    c1.iterations = 1;
    // Resuming a run that does not exist fails, and so does starting over an existing one.
    assert!(run_rlmpc(&c1, &opts("split", true)).is_err());
    run_rlmpc(&c1, &opts("split", false)).unwrap();
    assert!(run_rlmpc(&c1, &opts("split", false)).is_err());
    let mut bad = c2.clone();
    bad.seed = 9;
    match run_rlmpc(&bad, &opts("split", true)) {
        Err(LearnError::Checkpoint(msg)) => assert!(msg.contains("seed"), "{msg}"),
        other => panic!("expected a checkpoint error, got {other:?}"),
    }
    let split = run_rlmpc(&c2, &opts("split", true)).unwrap();
    assert_eq!(bits(&whole.theta), bits(&split.theta));
    assert_eq!(
        whole.eval_cost.map(f64::to_bits),
        split.eval_cost.map(f64::to_bits)
    );
    assert_eq!(whole.episodes, split.episodes);
    assert_eq!(whole.last_batch_cost, split.last_batch_cost);
    let read =
        |name: &str, file: &str| std::fs::read_to_string(root.join(name).join(file)).unwrap();
    assert_eq!(read("whole", "theta.csv"), read("split", "theta.csv"));
    assert_eq!(read("split", "metrics.csv").lines().count(), 1 + 2 + 1);
    let _ = std::fs::remove_dir_all(&root);
}
