//! `diffop baseline`: run an RLMPC baseline (RLMPC-TD, RLMPC-DPG, or the TD+DPG project proxy)
//! and write a run directory; a thin wrapper over [`diffop::learn::rlmpc`].

use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;

use super::table::{num, print};
use super::task::TableFormat;
use diffop::learn::rlmpc::{run_rlmpc, RlmpcConfig, RlmpcMethod, RlmpcRunOptions};
use diffop::learn::Task;

/// Run an RLMPC baseline (ALGORITHMS.md §11.2–11.3) with the DiffOP Step-mode policy class,
/// θ(0) and horizon. Writes DIR/config.toml, metrics.csv (DiffOP's columns), theta.csv,
/// summary.json and learning_curve.{svg,png}; prints the summary on stdout.
#[derive(Args, Debug, Clone)]
#[command(after_help = "\
Examples:
  diffop baseline --method rlmpc-td --task cartpole --iterations 20 --alpha 1e-4
  diffop baseline --method rlmpc-dpg --task voltage --eval-scenarios 100 --out runs/dpg-v
  diffop baseline --method rlmpc-td-dpg --task arm --format json

rlmpc-td-dpg is a PROJECT PROXY for the paper's TD+DPG variant: θ ← Π(θ − α_DPG ∇J − α_TD g_Q).")]
pub struct BaselineArgs {
    /// Method: rlmpc-td (semi-gradient Q-learning), rlmpc-dpg (deterministic policy gradient
    /// with a compatible LSTD critic) or rlmpc-td-dpg (both steps; project proxy).
    #[arg(long)]
    pub method: String,
    /// Task: cartpole, arm, quadrotor, rocket or voltage.
    #[arg(long, default_value = "cartpole")]
    pub task: String,
    /// Iterations K (each = N exploring episodes + one update; default 500, voltage 1000).
    #[arg(long)]
    pub iterations: Option<usize>,
    /// Episodes per iteration N (default 10).
    #[arg(long)]
    pub batch: Option<usize>,
    /// Run seed (θ(0), initial states and exploration noise).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Step size for both α_TD and α_DPG (default 1e-4).
    #[arg(long)]
    pub alpha: Option<f64>,
    /// TD step α_TD (overrides --alpha for the TD part).
    #[arg(long)]
    pub alpha_td: Option<f64>,
    /// DPG step α_DPG (overrides --alpha for the DPG part).
    #[arg(long)]
    pub alpha_dpg: Option<f64>,
    /// Discount γ ∈ (0, 1] (default 0.99).
    #[arg(long)]
    pub gamma: Option<f64>,
    /// Exploration scale σ (default: DiffOP's σ of the task).
    #[arg(long)]
    pub sigma: Option<f64>,
    /// Planning horizon H ≥ 2 (default: DiffOP Step mode's H).
    #[arg(long)]
    pub horizon: Option<usize>,
    /// DPG: natural-gradient step θ ← Π(θ − α w).
    #[arg(long)]
    pub natural: bool,
    /// Evaluate the deterministic policy every this many iterations (0 = only at the end;
    /// default 10, voltage 250).
    #[arg(long)]
    pub eval_every: Option<usize>,
    /// Voltage: evaluation scenarios (default 500).
    #[arg(long)]
    pub eval_scenarios: Option<usize>,
    /// Run directory (default runs/<method>-<task>-seed<S>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Worker threads (0 = all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Output format of the summary on stdout.
    #[arg(long, value_enum, default_value_t = TableFormat::Table)]
    pub format: TableFormat,
    /// No progress bar or log output on stderr.
    #[arg(long)]
    pub quiet: bool,
}

fn resolve(args: &BaselineArgs) -> Result<RlmpcConfig> {
    let method: RlmpcMethod = args.method.parse()?;
    let task: Task = args.task.parse()?;
    let mut c = RlmpcConfig::new(task, method);
    if let Some(a) = args.alpha {
        c = c.with_alpha(a);
    }
    let set = |dst: &mut f64, v: Option<f64>| {
        if let Some(v) = v {
            *dst = v;
        }
    };
    set(&mut c.alpha_td, args.alpha_td);
    set(&mut c.alpha_dpg, args.alpha_dpg);
    set(&mut c.gamma, args.gamma);
    set(&mut c.sigma, args.sigma);
    let set_n = |dst: &mut usize, v: Option<usize>| {
        if let Some(v) = v {
            *dst = v;
        }
    };
    set_n(&mut c.iterations, args.iterations);
    set_n(&mut c.batch, args.batch);
    set_n(&mut c.horizon, args.horizon);
    set_n(&mut c.eval_every, args.eval_every);
    set_n(&mut c.eval_scenarios, args.eval_scenarios);
    c.natural_gradient = args.natural;
    c.seed = args.seed;
    c.validate()?;
    Ok(c)
}

/// Run `diffop baseline`.
pub fn run(args: &BaselineArgs) -> Result<()> {
    let config = resolve(args)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("runs").join(config.default_run_name()));
    let options = RlmpcRunOptions {
        out: out.clone(),
        quiet: args.quiet,
        threads: args.threads,
    };
    let s = run_rlmpc(&config, &options)
        .with_context(|| format!("{} run in {}", config.method, out.display()))?;
    match args.format {
        TableFormat::Json => println!("{}", serde_json::to_string_pretty(&s)?),
        TableFormat::Table => {
            let f = |v: Option<f64>| v.map_or("-".to_string(), |x| num(x, 4));
            let mut rows = vec![
                vec!["method".into(), s.method.clone()],
                vec!["task".into(), s.task.to_string()],
                vec!["iterations".into(), s.iterations.to_string()],
                vec!["eval cost (θ⁽⁰⁾)".into(), f(s.initial_eval_cost)],
                vec!["eval cost (final)".into(), f(s.eval_cost)],
                vec!["batch cost (first)".into(), f(s.first_batch_cost)],
                vec!["batch cost (last)".into(), f(s.last_batch_cost)],
            ];
            if let (Some(t), Some(st)) = (s.transient, s.steady) {
                rows.push(vec!["transient".into(), num(t, 4)]);
                rows.push(vec!["steady".into(), num(st, 5)]);
            }
            rows.push(vec!["failed solves".into(), s.failed_solves.to_string()]);
            rows.push(vec!["s / iteration".into(), num(s.mean_iteration_s, 3)]);
            rows.push(vec!["run directory".into(), out.display().to_string()]);
            print(&["", "value"], &rows);
        }
    }
    Ok(())
}
