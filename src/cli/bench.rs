//! `diffop bench`: wall-clock timing of solves, VJPs and Jacobians on one thread.
//!
//! Each configuration runs `--episodes` episodes of `--steps` receding-horizon steps from random
//! initial states, stepping the true plant with the planned first action, in two modes:
//! `closed-loop` (Step-mode `OptPolicy`, shifted warm start) and `cold` (cold start at every
//! solve). Each call is timed with `Instant`; the table reports medians over calls.
//! `--robustness` and `--scaling` run their own studies instead.

use super::mpc::MpcPolicy;
use super::out::outln;
use super::plant::Plant;
use super::table::{self, median, micros, num, quantile};
use super::task::{parse_task_sel, TableFormat, Task, TaskSel};
use anyhow::{bail, Result};
use clap::Args;
use diffop::policy::PolicyError;
use rand::Rng;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Instant;

/// Horizons of the `--scaling` study.
pub const SCALING_HORIZONS: [usize; 7] = [6, 12, 25, 50, 100, 200, 500];

/// The default configurations (task, H).
pub const CONFIGS: [(Task, usize); 6] = [
    (Task::Cartpole, 6),
    (Task::Arm, 12),
    (Task::Quadrotor, 12),
    (Task::Rocket, 12),
    (Task::Voltage, 6),
    (Task::Voltage, 30),
];

/// Arguments of `diffop bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Task to benchmark, or `all`.
    #[arg(long, default_value = "all", value_parser = parse_task_sel)]
    pub task: TaskSel,
    /// Override the horizon of the selected configurations.
    #[arg(long)]
    pub horizon: Option<usize>,
    /// Episodes per configuration and mode (scaling: samples per horizon).
    #[arg(long, default_value_t = 10)]
    pub episodes: usize,
    /// Receding-horizon steps per episode.
    #[arg(long, default_value_t = 20)]
    pub steps: usize,
    /// Output format (json: one array of rows).
    #[arg(long, value_enum, default_value_t = TableFormat::Table)]
    pub format: TableFormat,
    /// Solved fraction over random initial states with θ perturbed multiplicatively
    /// (see `--theta-perturb`); every solved plan and its VJP are checked for NaN.
    #[arg(long)]
    pub robustness: bool,
    /// Relative size p of the `--robustness` θ perturbation: θ_j = θ̄_j (1 + p (2U − 1)),
    /// U ~ U(0, 1) per entry (0.5: ±50 %).
    #[arg(long, default_value_t = 0.5)]
    pub theta_perturb: f64,
    /// Number of samples per task of `--robustness`.
    #[arg(long, default_value_t = 10_000)]
    pub samples: usize,
    /// Solve and VJP time against the horizon (cart-pole, voltage) and VJP time against d.
    #[arg(long)]
    pub scaling: bool,
    /// Threads (timings are per call on one thread; only 1 is supported).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Seed of the initial-state and θ-perturbation streams.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// One timing row.
#[derive(Serialize, Debug, Clone)]
pub struct TimingRow {
    /// Task name.
    pub task: &'static str,
    /// Horizon H.
    pub horizon: usize,
    /// `closed-loop` or `cold`.
    pub mode: &'static str,
    /// Median solve time [µs].
    pub solve_median_us: f64,
    /// 90th-percentile solve time [µs].
    pub solve_p90_us: f64,
    /// Median time of the first VJP after the solve (seed on u_0) [µs]; it includes the KKT
    /// factorization at the solution when the solve deferred it
    /// (`SolverSettings::defer_kkt_factorization`).
    pub vjp_median_us: f64,
    /// Median of solve + first VJP per call [µs]: the cost of one DiffOP policy call.
    pub solve_vjp_median_us: f64,
    /// Median full-Jacobian time [µs].
    pub jacobian_median_us: f64,
    /// Solves attempted.
    pub calls: usize,
    /// Solves that did not converge (plus plant failures).
    pub failures: usize,
}

/// One robustness row.
#[derive(Serialize, Debug, Clone)]
pub struct RobustnessRow {
    /// Always `robustness`.
    pub section: &'static str,
    /// Task name.
    pub task: &'static str,
    /// Horizon H.
    pub horizon: usize,
    /// Samples drawn.
    pub samples: usize,
    /// Polished solves.
    pub solved: usize,
    /// solved / samples.
    pub solved_fraction: f64,
    /// Median cold-solve time [µs].
    pub solve_median_us: f64,
    /// Relative θ perturbation p (θ_j = θ̄_j (1 + p (2U − 1))).
    pub theta_perturb: f64,
    /// Count of every outcome: the solver's final status, or `error:<kind>` for a typed error
    /// of the policy (`settings`, `solver`, `sensitivity`, `other`).
    pub statuses: BTreeMap<String, usize>,
    /// Solves marked solved whose plan (x, u, costates, λ₀, μ, objective) has a non-finite
    /// entry. Must be 0.
    pub nonfinite_solved: usize,
    /// VJPs (seed 1 on u₀) after a solved plan: outcome counts (`finite`, `nonfinite` — must
    /// be 0 — or `error:<kind>`).
    pub vjp: BTreeMap<String, usize>,
}

/// One scaling row.
#[derive(Serialize, Debug, Clone)]
pub struct ScalingRow {
    /// `scaling_horizon` (H sweep) or `scaling_d` (per task at its Step H).
    pub section: &'static str,
    /// Task name.
    pub task: &'static str,
    /// Horizon H.
    pub horizon: usize,
    /// Number of parameters d.
    pub d: usize,
    /// Median cold-solve time [µs].
    pub solve_median_us: f64,
    /// Median VJP time [µs].
    pub vjp_median_us: f64,
    /// Solves attempted.
    pub calls: usize,
    /// Solves that did not converge.
    pub failures: usize,
}

/// Run `diffop bench`.
pub fn run(args: BenchArgs) -> Result<()> {
    if args.threads != 1 {
        bail!("the benchmark times single calls on one thread; only --threads 1 is supported");
    }
    if args.episodes == 0 || args.steps == 0 {
        bail!("--episodes and --steps must be at least 1");
    }
    if args.horizon == Some(0) {
        bail!("--horizon must be at least 1");
    }
    let tasks: Vec<Task> = match args.task {
        TaskSel::All => Task::ALL.to_vec(),
        TaskSel::One(t) => vec![t],
    };
    let json = args.format == TableFormat::Json;
    if !args.robustness && !args.scaling {
        let rows = timing(&args, &tasks)?;
        if json {
            outln!("{}", serde_json::to_string_pretty(&rows)?)?;
        } else {
            print_timing(&rows)?;
        }
        return Ok(());
    }
    let mut out: Vec<serde_json::Value> = Vec::new();
    if args.robustness {
        if args.samples == 0 {
            bail!("--samples must be at least 1");
        }
        let rows = robustness(&args, &tasks)?;
        if json {
            for r in &rows {
                out.push(serde_json::to_value(r)?);
            }
        } else {
            print_robustness(&rows)?;
        }
    }
    if args.scaling {
        let rows = scaling(&args, &tasks)?;
        if json {
            for r in &rows {
                out.push(serde_json::to_value(r)?);
            }
        } else {
            print_scaling(&rows)?;
        }
    }
    if json {
        outln!("{}", serde_json::to_string_pretty(&out)?)?;
    }
    Ok(())
}

fn configs(args: &BenchArgs, tasks: &[Task]) -> Vec<(Task, usize)> {
    let mut v: Vec<(Task, usize)> = Vec::new();
    for &(task, h) in CONFIGS.iter().filter(|(t, _)| tasks.contains(t)) {
        let h = args.horizon.unwrap_or(h);
        if !v.contains(&(task, h)) {
            v.push((task, h));
        }
    }
    v
}

fn timing(args: &BenchArgs, tasks: &[Task]) -> Result<Vec<TimingRow>> {
    let mut rows = Vec::new();
    for (task, h) in configs(args, tasks) {
        for cold in [false, true] {
            rows.push(time_config(args, task, h, cold)?);
        }
    }
    Ok(rows)
}

fn time_config(args: &BenchArgs, task: Task, h: usize, cold: bool) -> Result<TimingRow> {
    let (_, m) = task.nm();
    let mut policy = MpcPolicy::mpc_true(task, h)?;
    let mut plant = Plant::new(task, args.seed)?;
    let (mut solve_t, mut vjp_t, mut jac_t) = (Vec::new(), Vec::new(), Vec::new());
    let mut both_t = Vec::new();
    let (mut calls, mut failures) = (0, 0);
    let seed = vec![1.0; m];
    let mut g = vec![0.0; task.d()];
    for _ in 0..args.episodes {
        plant.reset()?;
        policy.reset();
        policy.set_context(&plant.policy_context())?;
        for _ in 0..args.steps {
            if cold {
                policy.reset();
            }
            let x = plant.policy_state();
            let t0 = Instant::now();
            let ok = policy.plan(&x)?;
            solve_t.push(micros(t0.elapsed()));
            calls += 1;
            if !ok {
                failures += 1;
                break;
            }
            let t0 = Instant::now();
            policy.vjp_first(&seed, &mut g)?;
            vjp_t.push(micros(t0.elapsed()));
            both_t.push(solve_t[solve_t.len() - 1] + vjp_t[vjp_t.len() - 1]);
            let t0 = Instant::now();
            let jac = policy.jacobian()?;
            jac_t.push(micros(t0.elapsed()));
            drop(jac);
            match plant.step(&policy.first_action()) {
                Ok(false) => {}
                Ok(true) => break,
                Err(_) => {
                    failures += 1;
                    break;
                }
            }
        }
    }
    Ok(TimingRow {
        task: task.name(),
        horizon: h,
        mode: if cold { "cold" } else { "closed-loop" },
        solve_median_us: median(&mut solve_t),
        solve_p90_us: quantile(&mut solve_t, 0.9),
        vjp_median_us: median(&mut vjp_t),
        solve_vjp_median_us: median(&mut both_t),
        jacobian_median_us: median(&mut jac_t),
        calls,
        failures,
    })
}

fn print_timing(rows: &[TimingRow]) -> Result<()> {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.task.to_string(),
                r.horizon.to_string(),
                r.mode.to_string(),
                num(r.solve_median_us, 1),
                num(r.solve_p90_us, 1),
                num(r.vjp_median_us, 1),
                num(r.solve_vjp_median_us, 1),
                num(r.jacobian_median_us, 1),
                r.calls.to_string(),
                r.failures.to_string(),
            ]
        })
        .collect();
    table::print(
        &[
            "task",
            "H",
            "mode",
            "solve_med_us",
            "solve_p90_us",
            "vjp_med_us",
            "solve+vjp_us",
            "jac_med_us",
            "calls",
            "failures",
        ],
        &cells,
    )?;
    Ok(())
}

fn robustness(args: &BenchArgs, tasks: &[Task]) -> Result<Vec<RobustnessRow>> {
    let p = args.theta_perturb;
    if !(p.is_finite() && p >= 0.0) {
        bail!("--theta-perturb must be finite and ≥ 0, got {p}");
    }
    let mut rows = Vec::new();
    for &task in tasks {
        rows.push(robustness_task(args, task)?);
    }
    Ok(rows)
}

/// The outcome key of a typed policy error: `error:<kind>`.
fn error_key(e: &anyhow::Error) -> String {
    let kind = match e.downcast_ref::<PolicyError>() {
        Some(PolicyError::Settings(_)) => "settings",
        Some(PolicyError::Sampler(_)) => "sampler",
        Some(PolicyError::Solver(_)) => "solver",
        Some(PolicyError::SolveFailed(_)) => "solve_failed",
        Some(PolicyError::Sensitivity(_)) => "sensitivity",
        None => "other",
    };
    format!("error:{kind}")
}

/// True when every number of the plan is finite.
fn plan_is_finite(policy: &MpcPolicy) -> bool {
    let sol = match policy {
        MpcPolicy::Nonlinear(p) => p.solution(),
        MpcPolicy::Voltage(p) => p.solution(),
    };
    let all = |v: &[nalgebra::DVector<f64>]| v.iter().all(|r| r.iter().all(|x| x.is_finite()));
    sol.objective.is_finite()
        && all(&sol.x)
        && all(&sol.u)
        && all(&sol.costates)
        && all(&sol.mu)
        && sol.lambda0.iter().all(|x| x.is_finite())
}

/// Draw θ_j = θ̄_j (1 + p (2U − 1)) (p = ½: the historical θ̄_j (1 + (U − ½))).
fn perturb_theta(theta: &mut [f64], nominal: &[f64], p: f64, rng: &mut impl Rng) {
    for (t, &w) in theta.iter_mut().zip(nominal) {
        let u: f64 = rng.random::<f64>();
        *t = w * (1.0 + (u - 0.5) * (2.0 * p));
    }
}

/// One sample: set θ and the context, cold-solve from the plant's state, check the plan and
/// its VJP; the outcome is counted in `row`. Only an I/O-free bookkeeping error is returned.
fn robustness_sample(
    policy: &mut MpcPolicy,
    plant: &Plant,
    theta: &[f64],
    row: &mut RobustnessRow,
    times: &mut Vec<f64>,
    g: &mut [f64],
) -> Result<()> {
    let setup = policy
        .set_theta(theta)
        .and_then(|()| policy.set_context(&plant.policy_context()));
    if let Err(e) = setup {
        *row.statuses.entry(error_key(&e)).or_insert(0) += 1;
        return Ok(());
    }
    policy.reset();
    let x = plant.policy_state();
    let t0 = Instant::now();
    let planned = policy.plan(&x);
    times.push(micros(t0.elapsed()));
    let ok = match planned {
        Ok(ok) => ok,
        Err(e) => {
            *row.statuses.entry(error_key(&e)).or_insert(0) += 1;
            return Ok(());
        }
    };
    let status = serde_json::to_value(policy.status())?
        .as_str()
        .unwrap_or("unknown")
        .to_string();
    *row.statuses.entry(status).or_insert(0) += 1;
    if !ok {
        return Ok(());
    }
    row.solved += 1;
    if !plan_is_finite(policy) {
        row.nonfinite_solved += 1;
    }
    let seed = vec![1.0; policy.first_action().len()];
    let key = match policy.vjp_first(&seed, g) {
        Ok(()) if g.iter().all(|v| v.is_finite()) => "finite".to_string(),
        Ok(()) => "nonfinite".to_string(),
        Err(e) => error_key(&e),
    };
    *row.vjp.entry(key).or_insert(0) += 1;
    Ok(())
}

fn robustness_task(args: &BenchArgs, task: Task) -> Result<RobustnessRow> {
    let h = args.horizon.unwrap_or(task.step_horizon());
    let nominal = task.mpc_true_theta();
    let mut policy = MpcPolicy::new(task, h, 1, nominal.clone())?;
    let mut plant = Plant::new(task, args.seed)?;
    let mut prng = diffop::rng::stream(args.seed, diffop::rng::Stream::ThetaInit);
    let mut times = Vec::with_capacity(args.samples);
    let mut theta = nominal.clone();
    let mut g = vec![0.0; task.d()];
    let mut row = RobustnessRow {
        section: "robustness",
        task: task.name(),
        horizon: h,
        samples: args.samples,
        solved: 0,
        solved_fraction: 0.0,
        solve_median_us: 0.0,
        theta_perturb: args.theta_perturb,
        statuses: BTreeMap::new(),
        nonfinite_solved: 0,
        vjp: BTreeMap::new(),
    };
    for _ in 0..args.samples {
        plant.reset()?;
        perturb_theta(&mut theta, &nominal, args.theta_perturb, &mut prng);
        robustness_sample(&mut policy, &plant, &theta, &mut row, &mut times, &mut g)?;
    }
    row.solved_fraction = row.solved as f64 / args.samples as f64;
    row.solve_median_us = median(&mut times);
    Ok(row)
}

fn print_robustness(rows: &[RobustnessRow]) -> Result<()> {
    if let Some(r) = rows.first() {
        outln!(
            "robustness: cold solves, random initial states, θ = nominal · (1 + {} · U(−1, 1))",
            r.theta_perturb
        )?;
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let st: Vec<String> = r.statuses.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let vjp: Vec<String> = r.vjp.iter().map(|(k, v)| format!("{k}={v}")).collect();
            vec![
                r.task.to_string(),
                r.horizon.to_string(),
                r.samples.to_string(),
                r.solved.to_string(),
                num(r.solved_fraction, 4),
                num(r.solve_median_us, 1),
                r.nonfinite_solved.to_string(),
                vjp.join(" "),
                st.join(" "),
            ]
        })
        .collect();
    table::print(
        &[
            "task",
            "H",
            "samples",
            "solved",
            "fraction",
            "solve_med_us",
            "nan_solved",
            "vjp",
            "statuses",
        ],
        &cells,
    )?;
    Ok(())
}

fn scale_point(
    args: &BenchArgs,
    task: Task,
    h: usize,
    section: &'static str,
) -> Result<ScalingRow> {
    let (_, m) = task.nm();
    let mut policy = MpcPolicy::mpc_true(task, h)?;
    let mut plant = Plant::new(task, args.seed)?;
    let (mut solve_t, mut vjp_t) = (Vec::new(), Vec::new());
    let mut failures = 0;
    let seed = vec![1.0; m];
    let mut g = vec![0.0; task.d()];
    for _ in 0..args.episodes {
        plant.reset()?;
        policy.reset();
        policy.set_context(&plant.policy_context())?;
        let x = plant.policy_state();
        let t0 = Instant::now();
        let ok = policy.plan(&x)?;
        solve_t.push(micros(t0.elapsed()));
        if !ok {
            failures += 1;
            continue;
        }
        let t0 = Instant::now();
        policy.vjp_first(&seed, &mut g)?;
        vjp_t.push(micros(t0.elapsed()));
    }
    Ok(ScalingRow {
        section,
        task: task.name(),
        horizon: h,
        d: task.d(),
        solve_median_us: median(&mut solve_t),
        vjp_median_us: median(&mut vjp_t),
        calls: args.episodes,
        failures,
    })
}

fn scaling(args: &BenchArgs, tasks: &[Task]) -> Result<Vec<ScalingRow>> {
    let mut rows = Vec::new();
    for task in [Task::Cartpole, Task::Voltage] {
        if !tasks.contains(&task) {
            continue;
        }
        for h in SCALING_HORIZONS {
            rows.push(scale_point(args, task, h, "scaling_horizon")?);
        }
    }
    for &task in tasks {
        rows.push(scale_point(args, task, task.step_horizon(), "scaling_d")?);
    }
    Ok(rows)
}

fn print_scaling(rows: &[ScalingRow]) -> Result<()> {
    for (section, title) in [
        (
            "scaling_horizon",
            "scaling with H: cold solve and VJP (seed on u_0)",
        ),
        ("scaling_d", "VJP against d (each task at its Step-mode H)"),
    ] {
        let cells: Vec<Vec<String>> = rows
            .iter()
            .filter(|r| r.section == section)
            .map(|r| {
                vec![
                    r.task.to_string(),
                    r.horizon.to_string(),
                    r.d.to_string(),
                    num(r.solve_median_us, 1),
                    num(r.vjp_median_us, 1),
                    r.calls.to_string(),
                    r.failures.to_string(),
                ]
            })
            .collect();
        if cells.is_empty() {
            continue;
        }
        outln!("{title}")?;
        table::print(
            &[
                "task",
                "H",
                "d",
                "solve_med_us",
                "vjp_med_us",
                "calls",
                "failures",
            ],
            &cells,
        )?;
        outln!()?;
    }
    Ok(())
}
