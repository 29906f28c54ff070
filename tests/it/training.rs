//! DiffOP training (Algorithm 1): the REINFORCE estimator against a finite-difference gradient,
//! determinism across thread counts, exact resume, a short training run, config validation.

use diffop::learn::checkpoint::Checkpoint;
use diffop::learn::config::Baseline;
use diffop::learn::evaluate::evaluate_theta;
use diffop::learn::trainer::{
    causal_gradient_estimate, gradient_estimate, sample_decision, sample_decision_per_action,
    EpisodeTerms, ScoreTerm,
};
use diffop::learn::{Mode, OptimizerConfig, Preset, RunOptions, Task, TrainConfig, Trainer};
use diffop::model::{Dims, OcpModel, Scalar};
use diffop::policy::sampler::{ExplorationConfig, TruncatedGaussian, Truncation};
use diffop::policy::OptPolicy;
use diffop::solver::SolverSettings;
use rayon::prelude::*;

/// x⁺ = x + θ₁u, cost Σ θ₀²x² + u² and θ₀²x_H²: a linear–quadratic policy problem.
struct Lq;

impl OcpModel for Lq {
    fn name(&self) -> &str {
        "lq"
    }
    fn dims(&self) -> Dims {
        Dims {
            n: 1,
            m: 1,
            d: 2,
            n_ctx: 0,
        }
    }
    fn dynamics<S: Scalar>(
        &self,
        _i: usize,
        x: &[S],
        u: &[S],
        th: &[S],
        _c: &[f64],
        out: &mut [S],
    ) {
        out[0] = x[0] + th[1] * u[0];
    }
    fn stage_cost<S: Scalar>(&self, _i: usize, x: &[S], u: &[S], th: &[S], _c: &[f64]) -> S {
        th[0] * th[0] * x[0] * x[0] + u[0] * u[0]
    }
    fn terminal_cost<S: Scalar>(&self, x: &[S], th: &[S], _c: &[f64]) -> S {
        th[0] * th[0] * x[0] * x[0]
    }
}

const X0: f64 = 1.0;
const GOAL: f64 = 0.2;

/// The true plant: x⁺ = x + u, L = Σ_{t=1,2} (x_t − a)².
fn plant_cost(u: &[f64]) -> f64 {
    let x1 = X0 + u[0];
    let x2 = x1 + u[1];
    (x1 - GOAL).powi(2) + (x2 - GOAL).powi(2)
}

fn lq_policy(theta: &[f64]) -> OptPolicy<Lq> {
    OptPolicy::new(Lq, 2, 2, theta.to_vec(), SolverSettings::default()).unwrap()
}

/// E[L] = D(θ) + 3 Var(ε), D the cost of the plan: only D depends on θ.
fn plan_cost(theta: &[f64]) -> f64 {
    let mut p = lq_policy(theta);
    p.plan(&[X0]).unwrap();
    plant_cost(&p.planned_actions(2))
}

/// The plant's step costs (x₁ − a)², (x₂ − a)² of the two executed actions.
fn plant_step_costs(u: &[f64]) -> Vec<f64> {
    let x1 = X0 + u[0];
    let x2 = x1 + u[1];
    vec![(x1 - GOAL).powi(2), (x2 - GOAL).powi(2)]
}

const THETA: [f64; 2] = [0.8, 1.3];

fn lq_sampler() -> TruncatedGaussian {
    TruncatedGaussian::new(&ExplorationConfig {
        sigma: 0.1,
        truncation: Truncation::KSigma { k: 4.0 },
    })
    .unwrap()
}

/// ∇E[L] by central differences of the re-solved plan, times the estimator's known factor: for
/// a cost quadratic in u the truncated estimator's mean is exactly Var(ε)/σ² · ∇E[L] (§4.3),
/// Var(ε)/σ² = 1 − 2kφ(k)/Z (0.9989 at k = 4).
fn lq_reference(sampler: &TruncatedGaussian) -> Vec<f64> {
    let factor = 1.0 - sampler.boundary_shortfall();
    (0..2)
        .map(|j| {
            let h = 1e-5;
            let (mut tp, mut tm) = (THETA, THETA);
            tp[j] += h;
            tm[j] -= h;
            factor * (plan_cost(&tp) - plan_cost(&tm)) / (2.0 * h)
        })
        .collect()
}

/// Mean of i.i.d. batch estimates within 4 standard errors and 5 % of the reference.
fn assert_unbiased(estimates: &[Vec<f64>], reference: &[f64]) {
    for j in 0..2 {
        let n = estimates.len() as f64;
        let mean = estimates.iter().map(|e| e[j]).sum::<f64>() / n;
        let var = estimates.iter().map(|e| (e[j] - mean).powi(2)).sum::<f64>() / (n - 1.0);
        let z = (mean - reference[j]) / (var / n).sqrt();
        assert!(
            z.abs() <= 4.0,
            "component {j}: estimate {mean} vs reference {} (z = {z})",
            reference[j]
        );
        assert!((mean - reference[j]).abs() < 0.05 * reference[j].abs());
    }
}

#[test]
fn reward_to_go_estimator_is_unbiased() {
    let theta = THETA;
    let sampler = lq_sampler();
    let reference = lq_reference(&sampler);
    let estimates: Vec<Vec<f64>> = (0..4000u64)
        .into_par_iter()
        .map(|b| {
            let mut rng = diffop::rng::stream(11, diffop::rng::Stream::Exploration);
            rng.set_stream(b);
            let mut policy = lq_policy(&theta);
            let episodes: Vec<EpisodeTerms> = (0..10)
                .map(|_| {
                    let (u, _, rows) =
                        sample_decision_per_action(&mut policy, &sampler, &[X0], 2, &mut rng)
                            .unwrap();
                    EpisodeTerms {
                        step_costs: plant_step_costs(&u),
                        terms: rows
                            .into_iter()
                            .enumerate()
                            .map(|(t, score)| ScoreTerm { t, score })
                            .collect(),
                        deterministic_costs: None,
                    }
                })
                .collect();
            let refs: Vec<&EpisodeTerms> = episodes.iter().collect();
            causal_gradient_estimate(&refs, 2, Baseline::LeaveOneOut, 1.0)
        })
        .collect();
    assert_unbiased(&estimates, &reference);
}

/// Batches of 5 antithetic pairs (the second trajectory of a pair draws −ε from the first's
/// generator state): the estimate is unbiased, and since both trajectories of a pair have the
/// same plan (open loop), their scores are exact negatives and any baseline cancels — the
/// deterministic-rollout baseline gives the estimate without a baseline, to rounding.
#[test]
fn antithetic_pairs_are_unbiased_and_cancel_the_baseline() {
    let sampler = lq_sampler();
    let mirrored = sampler.clone().mirrored();
    let reference = lq_reference(&sampler);
    let mut det = lq_policy(&THETA);
    det.plan(&[X0]).unwrap();
    let det_costs = plant_step_costs(&det.planned_actions(2));
    let estimates: Vec<Vec<f64>> = (0..4000u64)
        .into_par_iter()
        .map(|b| {
            let mut rng = diffop::rng::stream(13, diffop::rng::Stream::Exploration);
            rng.set_stream(b);
            let mut policy = lq_policy(&THETA);
            let mut episodes = Vec::new();
            for i in 0..10 {
                let mut r = rng.clone();
                let s = if i % 2 == 1 { &mirrored } else { &sampler };
                let (mut sc, mut tmp) = (vec![0.0; 2], vec![0.0; 2]);
                let (u, _) =
                    sample_decision(&mut policy, s, &[X0], 2, &mut r, &mut sc, &mut tmp).unwrap();
                if i % 2 == 1 {
                    rng = r;
                }
                episodes.push(EpisodeTerms {
                    step_costs: plant_step_costs(&u),
                    terms: vec![ScoreTerm { t: 0, score: sc }],
                    deterministic_costs: Some(det_costs.clone()),
                });
            }
            for pair in episodes.chunks(2) {
                let (s0, s1) = (&pair[0].terms[0].score, &pair[1].terms[0].score);
                assert!(s0
                    .iter()
                    .zip(s1)
                    .all(|(a, b)| (a + b).abs() <= 1e-9 * a.abs()));
            }
            let refs: Vec<&EpisodeTerms> = episodes.iter().collect();
            let plain = causal_gradient_estimate(&refs, 2, Baseline::None, 1.0);
            let with_b = causal_gradient_estimate(&refs, 2, Baseline::Deterministic, 1.0);
            for j in 0..2 {
                assert!((plain[j] - with_b[j]).abs() <= 1e-9 * (1.0 + plain[j].abs()));
            }
            with_b
        })
        .collect();
    assert_unbiased(&estimates, &reference);
}

#[test]
fn per_action_scores_sum_to_the_decision_score_and_estimators_agree() {
    let sampler = lq_sampler();
    let mut policy = lq_policy(&THETA);
    let mut rng = diffop::rng::stream(3, diffop::rng::Stream::Exploration);
    let (mut costs, mut scores, mut episodes) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..4 {
        let mut r2 = rng.clone();
        let (mut s, mut tmp) = (vec![0.0; 2], vec![0.0; 2]);
        let (u, _) =
            sample_decision(&mut policy, &sampler, &[X0], 2, &mut rng, &mut s, &mut tmp).unwrap();
        let (u2, _, rows) =
            sample_decision_per_action(&mut policy, &sampler, &[X0], 2, &mut r2).unwrap();
        assert_eq!(u, u2, "same stream, same actions");
        for j in 0..2 {
            let sum = rows[0][j] + rows[1][j];
            assert!(
                (sum - s[j]).abs() <= 1e-12 * (1.0 + s[j].abs()),
                "{sum} vs {}",
                s[j]
            );
        }
        costs.push(plant_cost(&u));
        episodes.push(EpisodeTerms {
            step_costs: plant_step_costs(&u),
            terms: vec![ScoreTerm {
                t: 0,
                score: s.clone(),
            }],
            deterministic_costs: None,
        });
        scores.push(s);
    }
    let refs: Vec<&[f64]> = scores.iter().map(Vec::as_slice).collect();
    let eps: Vec<&EpisodeTerms> = episodes.iter().collect();
    for b in [Baseline::None, Baseline::LeaveOneOut] {
        let plain = gradient_estimate(&costs, &refs, 2, b, 2.0);
        let causal = causal_gradient_estimate(&eps, 2, b, 2.0);
        for j in 0..2 {
            assert!((plain[j] - causal[j]).abs() <= 1e-12 * (1.0 + plain[j].abs()));
        }
    }
}

#[test]
fn reinforce_matches_finite_difference_gradient() {
    let theta = THETA;
    let sampler = lq_sampler();
    let reference = lq_reference(&sampler);
    // Batches of N = 10 with the leave-one-out baseline; batch estimates are i.i.d.
    let batches = 4000u64;
    let estimates: Vec<Vec<f64>> = (0..batches)
        .into_par_iter()
        .map(|b| {
            let mut rng = diffop::rng::stream(7, diffop::rng::Stream::Exploration);
            rng.set_stream(b);
            let mut policy = lq_policy(&theta);
            let (mut costs, mut scores) = (Vec::new(), Vec::new());
            for _ in 0..10 {
                let (mut s, mut tmp) = (vec![0.0; 2], vec![0.0; 2]);
                let (u, _) =
                    sample_decision(&mut policy, &sampler, &[X0], 2, &mut rng, &mut s, &mut tmp)
                        .unwrap();
                costs.push(plant_cost(&u));
                scores.push(s);
            }
            let refs: Vec<&[f64]> = scores.iter().map(Vec::as_slice).collect();
            gradient_estimate(&costs, &refs, 2, Baseline::LeaveOneOut, 1.0)
        })
        .collect();
    assert_unbiased(&estimates, &reference);
}

fn small(task: Task, mode: Mode) -> TrainConfig {
    let mut c = TrainConfig::preset(task, mode, Preset::Default);
    c.iterations = 3;
    c.batch = 4;
    c.eval_every = 0;
    c.max_failure_fraction = 0.5;
    c
}

fn train_with_threads(config: &TrainConfig, threads: usize) -> Trainer {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        let mut t = Trainer::new(config.clone()).unwrap();
        while !t.is_done() {
            t.step().unwrap();
        }
        t
    })
}

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn trace(t: &Trainer) -> Vec<(Vec<u64>, Option<u64>, Option<u64>)> {
    t.state()
        .history
        .iter()
        .map(|r| {
            (
                bits(&r.theta),
                r.batch_mean_cost.map(f64::to_bits),
                r.grad_norm.map(f64::to_bits),
            )
        })
        .collect()
}

#[test]
fn bit_identical_for_one_and_two_threads() {
    for (task, mode, antithetic) in [
        (Task::Cartpole, Mode::Step, false),
        (Task::Voltage, Mode::Traj, false),
        (Task::Arm, Mode::Traj, true),
    ] {
        let mut c = small(task, mode);
        c.antithetic = antithetic;
        let a = train_with_threads(&c, 1);
        let b = train_with_threads(&c, 2);
        assert_eq!(bits(a.theta()), bits(b.theta()), "{task} {mode}");
        assert_eq!(trace(&a), trace(&b));
        assert_ne!(a.theta(), a.state().history[0].theta.as_slice(), "θ moved");
    }
}

#[test]
fn resume_equals_uninterrupted() {
    let mut c = small(Task::Cartpole, Mode::Step);
    c.iterations = 4;
    c.optimizer = OptimizerConfig::adam();
    c.clip_grad_norm = Some(5.0);
    let full = train_with_threads(&c, 2);
    // Stop after 2 iterations, serialise, resume.
    let mut first = Trainer::new(c.clone()).unwrap();
    first.step().unwrap();
    first.step().unwrap();
    let json = Checkpoint::new(first.config(), first.state(), None)
        .to_json()
        .unwrap();
    drop(first);
    let ck = Checkpoint::from_json(&json).unwrap();
    let mut resumed = Trainer::from_state(ck.config.clone(), ck.exact_state().unwrap()).unwrap();
    while !resumed.is_done() {
        resumed.step().unwrap();
    }
    assert_eq!(bits(full.theta()), bits(resumed.theta()));
    assert_eq!(trace(&full), trace(&resumed));

    // The same through run directories: K = 1 then resume to K = 3, against K = 3 at once.
    let root = std::env::temp_dir().join(format!("diffop-train-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let mut c3 = small(Task::Cartpole, Mode::Step);
    c3.iterations = 3;
    let opts = |name: &str, resume: bool| RunOptions {
        out: root.join(name),
        resume,
        quiet: true,
        references: false,
        progress: None,
        stop_after: None,
    };
    let whole = diffop::learn::run_training(&c3, &opts("whole", false)).unwrap();
    let mut c1 = c3.clone();
    c1.iterations = 1;
    diffop::learn::run_training(&c1, &opts("split", false)).unwrap();
    assert!(diffop::learn::run_training(&c1, &opts("split", false)).is_err());
    let split = diffop::learn::run_training(&c3, &opts("split", true)).unwrap();
    assert_eq!(bits(&whole.theta), bits(&split.theta));
    assert_eq!(whole.eval_cost, split.eval_cost);
    let csv = std::fs::read_to_string(root.join("split/metrics.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 3 + 1, "{csv}");
    for f in [
        "config.toml",
        "summary.json",
        "checkpoint.json",
        "theta.csv",
    ] {
        assert!(root.join("split").join(f).exists(), "{f}");
    }
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn short_cartpole_training_lowers_cost() {
    let mut c = TrainConfig::preset(Task::Cartpole, Mode::Step, Preset::Default);
    c.iterations = 40;
    c.eval_every = 0;
    let mut t = Trainer::new(c.clone()).unwrap();
    let before = evaluate_theta(&c, t.theta()).unwrap();
    while !t.is_done() {
        t.step().unwrap();
    }
    let after = t.finish().unwrap();
    let after = after.eval_cost.unwrap();
    eprintln!(
        "cart-pole Step K = 40: eval cost {:.3} → {after:.3}",
        before.cost
    );
    assert!(after < before.cost - 10.0, "{} → {after}", before.cost);
}

#[test]
fn bad_configs_are_rejected_with_clear_messages() {
    let msg = |text: &str| TrainConfig::from_toml(text).unwrap_err().to_string();
    assert!(msg("task = \"pendulum\"").contains("unknown task `pendulum`"));
    assert!(msg("mode = \"step\"").contains("`task` is required"));
    assert!(msg("task = \"cartpole\"\nsigma = -0.5").contains("σ must be finite and > 0"));
    let e = msg("task = \"cartpole\"\nh = 7");
    assert!(e.contains("h = 7") && e.contains("H = 6"), "{e}");
    assert!(msg("task = \"cartpole\"\nlearning_rat = 0.1").contains("unknown field"));
    assert!(msg("task = \"cartpole\"\nmode = \"open\"").contains("unknown mode"));
    assert!(msg("task = \"arm\"\nbaseline = \"leave_one_out\"\nbatch = 1").contains("N ≥ 2"));
    assert!(msg("task = \"arm\"\nantithetic = true\nbatch = 5").contains("even batch size"));
    let e = msg("task = \"arm\"\nantithetic = true\nbaseline = \"leave_one_out\"");
    assert!(
        e.contains("antithetic") && e.contains("leave-one-out"),
        "{e}"
    );
    assert!("bogus".parse::<Task>().is_err());
    assert!(msg("task = \"arm\"\nlearning_rate_final = -1.0").contains("η_K"));
    assert!(msg("task = \"arm\"\n[solver]\nacceptable_tol = 1e-12").contains("acceptable_tol"));
    // Valid files resolve to the preset plus overrides.
    let c = TrainConfig::from_toml(
        "task = \"voltage\"\nmode = \"traj\"\npreset = \"paper_faithful\"\nseed = 3\n\
         [solver]\ntol = 1e-9\n",
    )
    .unwrap();
    assert_eq!((c.horizon, c.h, c.iterations, c.seed), (30, 30, 1000, 3));
    assert_eq!(c.baseline, Baseline::None);
    assert_eq!(c.truncation, Truncation::paper_faithful());
    assert_eq!(c.solver.tol, 1e-9);
    assert_eq!(c.solver.max_iter, SolverSettings::default().max_iter);
    let round = TrainConfig::from_toml(&c.to_toml().unwrap()).unwrap();
    assert_eq!(round, c);
    let t = TrainConfig::from_toml("task = \"arm\"\nmode = \"traj\"\nhorizon = 20").unwrap();
    assert_eq!((t.horizon, t.h), (20, 20));
    let e = msg("task = \"cartpole\"\ntheta0 = [1.0, 2.0]");
    assert!(
        e.contains("theta0 has 2 entries") && e.contains("d = 11"),
        "{e}"
    );
    let e = msg(
        "task = \"cartpole\"\ntheta0 = [1.0, 1.0, nan, 1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 1.0]",
    );
    assert!(e.contains("theta0[2]") && e.contains("not finite"), "{e}");
}

#[test]
fn optimizer_tables_are_completed_or_rejected_and_bounds_hold() {
    let msg = |text: &str| TrainConfig::from_toml(text).unwrap_err().to_string();
    // Adam keys under SGD were silently dropped.
    let e = msg("task = \"arm\"\n[optimizer]\nkind = \"sgd\"\nbeta1 = 0.5");
    assert!(
        e.contains("takes no other keys") && e.contains("beta1"),
        "{e}"
    );
    let e = msg("task = \"arm\"\npreset = \"paper_faithful\"\n[optimizer]\nbeta1 = 0.5");
    assert!(e.contains("takes no other keys"), "{e}");
    // A partial Adam table takes the defaults for the other keys (was "missing field beta2").
    let c = TrainConfig::from_toml("task = \"arm\"\n[optimizer]\nkind = \"adam\"\nbeta1 = 0.8")
        .unwrap();
    assert_eq!(
        c.optimizer,
        OptimizerConfig::Adam {
            beta1: 0.8,
            beta2: 0.999,
            eps: 1e-8
        }
    );
    let c = TrainConfig::from_toml("task = \"arm\"\n[optimizer]\nbeta2 = 0.99").unwrap();
    assert!(matches!(c.optimizer, OptimizerConfig::Adam { beta2, .. } if beta2 == 0.99));
    assert!(msg("task = \"arm\"\ntheta_f_floor = -0.1").contains("theta_f_floor"));
    assert!(msg("task = \"arm\"\nhorizon = 200000").contains("between 1 and 1000"));
    assert!(msg("task = \"arm\"\nthreads = 100000").contains("at most 1024"));
}

/// An explicit θ⁽⁰⁾ replaces the seeded draw (θ_f projected onto its floor) and survives the
/// TOML round trip of the run directory.
#[test]
fn explicit_initial_theta_is_used() {
    let mut theta0 = vec![2.0; 8];
    theta0.extend([0.5, 0.01, 1.0]);
    let text = format!("task = \"cartpole\"\ntheta0 = {theta0:?}\n[optimizer]\nkind = \"sgd\"\n");
    let c = TrainConfig::from_toml(&text).unwrap();
    assert_eq!(TrainConfig::from_toml(&c.to_toml().unwrap()).unwrap(), c);
    let t = Trainer::new(c.clone()).unwrap();
    let mut expect = theta0.clone();
    expect[9] = c.theta_f_floor;
    assert_eq!(t.theta(), &expect[..]);
}

#[test]
fn cosine_learning_rate_schedule() {
    let mut c = TrainConfig::preset(Task::Arm, Mode::Step, Preset::Default);
    c.learning_rate = 0.1;
    c.iterations = 100;
    c.learning_rate_final = None;
    assert_eq!(c.learning_rate_at(57), 0.1);
    c.learning_rate_final = Some(0.01);
    assert_eq!(c.learning_rate_at(0), 0.1);
    assert!((c.learning_rate_at(50) - 0.055).abs() < 1e-15);
    assert!((c.learning_rate_at(100) - 0.01).abs() < 1e-15);
    assert!((c.learning_rate_at(500) - 0.01).abs() < 1e-15);
    let rates: Vec<f64> = (0..=100).map(|k| c.learning_rate_at(k)).collect();
    assert!(rates.windows(2).all(|w| w[1] <= w[0]));
}

/// A learned voltage Traj θ (seed 0, cosine schedule 1e-2 → 3e-3) whose re-plan at t = 30 of
/// test scenario 1 stalled the interior-point line search at a stationarity residual of
/// 2.4e-8 (tol 1e-8) until the iteration limit. The "acceptable" hand-over to the polish
/// solves it; without it (acceptable_iter = 0) the evaluation fails.
#[test]
fn stalled_interior_point_phase_is_finished_by_the_polish() {
    let theta = [
        1.3498198516015583,
        1.0671561718058693,
        1.254165375377791,
        0.15778834665039862,
        0.026928997782333368,
        0.0843844409431816,
        0.00619075690426268,
        0.22765896023783702,
        0.10059120648192965,
        0.025742355868143038,
        0.06172753350138221,
        0.2858994663244081,
    ];
    let mut c = TrainConfig::preset(Task::Voltage, Mode::Traj, Preset::Default);
    c.eval_scenarios = 2;
    let ok = evaluate_theta(&c, &theta).expect("solved with the acceptable hand-over");
    assert!(ok.cost.is_finite() && ok.cost < 0.0);
    c.solver.acceptable_iter = 0;
    let err = evaluate_theta(&c, &theta).unwrap_err().to_string();
    assert!(err.contains("MaxIterations"), "{err}");
}
