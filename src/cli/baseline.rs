//! `diffop baseline`: run an RLMPC baseline (RLMPC-TD, RLMPC-DPG, or the TD+DPG project proxy)
//! or a neural baseline of Table 2 (Stable-DDPG, TASRL) and write a run directory; a thin
//! wrapper over [`diffop::learn::rlmpc`] and [`diffop::learn::ddpg`].

use super::out::outln;
use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::PathBuf;

use super::table::{num, print};
use super::task::TableFormat;
use diffop::learn::ddpg::{run_ddpg, DdpgCheckpoint, DdpgConfig, DdpgMethod, DdpgRunOptions};
use diffop::learn::rlmpc::{
    rlmpc_checkpoint_config, run_rlmpc, RlmpcConfig, RlmpcMethod, RlmpcRunOptions,
};
use diffop::learn::Task;

/// Run an RLMPC baseline (docs/spec/ALGORITHMS.md §11.2–11.3) with the DiffOP Step-mode policy class,
/// θ(0) and horizon. Writes DIR/config.toml, metrics.csv (DiffOP's columns), theta.csv,
/// checkpoint.json, summary.json and learning_curve.{svg,png}; prints the summary on stdout.
/// `--resume` continues an interrupted run from DIR/checkpoint.json.
///
/// `--method stable-ddpg|tasrl --task voltage` trains the neural baselines of Table 2
/// (ALGORITHMS.md §12.1: independent per-bus DDPG with a monotone policy) and writes
/// config.toml, metrics.csv (one row per episode), checkpoint.json (the networks),
/// summary.json and learning_curve.{svg,png}.
#[derive(Args, Debug, Clone)]
#[command(after_help = "\
Examples:
  diffop baseline --method rlmpc-td --task cartpole --iterations 20 --alpha 1e-4
  diffop baseline --method rlmpc-dpg --task voltage --eval-scenarios 100 --out runs/dpg-v
  diffop baseline --method rlmpc-td-dpg --task arm --format json
  diffop baseline --resume --out runs/dpg-v            # continue an interrupted run
  diffop baseline --resume --out runs/dpg-v --iterations 2000   # … or extend it
  diffop baseline --method tasrl --task voltage --seed 0            # 800 episodes
  diffop baseline --method stable-ddpg --task voltage --episodes 800

rlmpc-td-dpg is a PROJECT PROXY for the paper's TD+DPG variant: θ ← Π(θ − α_DPG ∇J − α_TD g_Q).")]
pub struct BaselineArgs {
    /// Method: rlmpc-td (semi-gradient Q-learning), rlmpc-dpg (deterministic policy gradient
    /// with a compatible LSTD critic) or rlmpc-td-dpg (both steps; project proxy); stable-ddpg
    /// or tasrl (voltage only). Not needed with --resume --out DIR (the checkpoint's
    /// configuration is used).
    #[arg(long, required_unless_present = "resume")]
    pub method: Option<String>,
    /// Task: cartpole (default), arm, quadrotor, rocket or voltage.
    #[arg(long)]
    pub task: Option<String>,
    /// Iterations K (each = N exploring episodes + one update; default 500, voltage 1000).
    #[arg(long)]
    pub iterations: Option<usize>,
    /// Stable-DDPG / TASRL: training episodes (default 500 / 800).
    #[arg(long)]
    pub episodes: Option<usize>,
    /// Episodes per iteration N (default 10).
    #[arg(long)]
    pub batch: Option<usize>,
    /// Run seed (θ(0), initial states and exploration noise; default 0).
    #[arg(long)]
    pub seed: Option<u64>,
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
    /// Continue the run in --out from its checkpoint. Without --method the configuration is
    /// read from the checkpoint; --iterations and --eval-every may change, any other flag must
    /// agree with it.
    #[arg(long)]
    pub resume: bool,
    /// Write the checkpoint and logs every this many iterations (default 1).
    #[arg(long, default_value_t = 1)]
    pub checkpoint_every: usize,
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
    let mut c = match (&args.method, &args.out) {
        (None, Some(out)) if args.resume => {
            let ckpt = out.join("checkpoint.json");
            if !ckpt.exists() {
                bail!(
                    "{} does not exist; there is nothing to resume (start the run without \
                     --resume)",
                    ckpt.display()
                );
            }
            let mut c = rlmpc_checkpoint_config(out)?;
            // Explicit flags are applied; a contradiction is reported by the resume check.
            if let Some(t) = &args.task {
                c.task = t.parse()?;
            }
            c
        }
        (None, _) => bail!("--method is needed unless resuming with --resume --out DIR"),
        (Some(m), _) => {
            let method: RlmpcMethod = m.parse()?;
            let task: Task = args.task.as_deref().unwrap_or("cartpole").parse()?;
            RlmpcConfig::new(task, method)
        }
    };
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
    if args.natural {
        c.natural_gradient = true;
    }
    if let Some(s) = args.seed {
        c.seed = s;
    }
    c.validate()?;
    Ok(c)
}

/// Run `diffop baseline`.
pub fn run(args: &BaselineArgs) -> Result<()> {
    if let Some(m) = args
        .method
        .as_deref()
        .and_then(|m| m.parse::<DdpgMethod>().ok())
    {
        return run_ddpg_baseline(args, m);
    }
    if args.episodes.is_some() {
        bail!("--episodes applies to stable-ddpg and tasrl; RLMPC uses --iterations");
    }
    let config = resolve(args)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("runs").join(config.default_run_name()));
    let options = RlmpcRunOptions {
        quiet: args.quiet,
        threads: args.threads,
        resume: args.resume,
        checkpoint_every: args.checkpoint_every,
        ..RlmpcRunOptions::new(out.clone())
    };
    let s = run_rlmpc(&config, &options)
        .with_context(|| format!("{} run in {}", config.method, out.display()))?;
    match args.format {
        TableFormat::Json => outln!("{}", serde_json::to_string_pretty(&s)?)?,
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
            print(&["", "value"], &rows)?;
        }
    }
    Ok(())
}

/// The flags that only RLMPC understands, with their names (rejected for Stable-DDPG / TASRL).
fn rlmpc_only_flags(args: &BaselineArgs) -> Vec<&'static str> {
    let mut v = Vec::new();
    let mut flag = |set: bool, name: &'static str| {
        if set {
            v.push(name);
        }
    };
    flag(args.iterations.is_some(), "--iterations");
    flag(args.batch.is_some(), "--batch");
    flag(args.alpha.is_some(), "--alpha");
    flag(args.alpha_td.is_some(), "--alpha-td");
    flag(args.alpha_dpg.is_some(), "--alpha-dpg");
    flag(args.sigma.is_some(), "--sigma");
    flag(args.horizon.is_some(), "--horizon");
    flag(args.natural, "--natural");
    flag(args.resume, "--resume");
    v
}

/// `diffop baseline --method stable-ddpg|tasrl --task voltage`.
fn run_ddpg_baseline(args: &BaselineArgs, method: DdpgMethod) -> Result<()> {
    let task: Task = args.task.as_deref().unwrap_or("voltage").parse()?;
    if task != Task::Voltage {
        bail!("{method} is a voltage-control baseline; use --task voltage");
    }
    let bad = rlmpc_only_flags(args);
    if !bad.is_empty() {
        bail!("{} not used by {method} (RLMPC only)", bad.join(", "));
    }
    let mut c = DdpgConfig::new(method);
    if let Some(s) = args.seed {
        c.seed = s;
    }
    if let Some(e) = args.episodes {
        c.episodes = e;
    }
    if let Some(g) = args.gamma {
        c.gamma = g;
    }
    if let Some(e) = args.eval_every {
        c.eval_every = e;
    }
    if let Some(n) = args.eval_scenarios {
        c.eval_scenarios = n;
    }
    c.validate()?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("runs").join(c.default_run_name()));
    let options = DdpgRunOptions {
        quiet: args.quiet,
        threads: args.threads,
        checkpoint_every: args.checkpoint_every.max(1),
        ..DdpgRunOptions::new(out.clone())
    };
    let s = run_ddpg(&c, &options).with_context(|| format!("{method} run in {}", out.display()))?;
    match args.format {
        TableFormat::Json => outln!("{}", serde_json::to_string_pretty(&s)?)?,
        TableFormat::Table => {
            let rows = vec![
                vec!["method".into(), s.method.clone()],
                vec!["seed".into(), s.seed.to_string()],
                vec!["episodes".into(), s.episodes.to_string()],
                vec!["transient".into(), num(s.transient, 4)],
                vec!["steady".into(), num(s.steady, 5)],
                vec!["transitions / agent".into(), s.transitions.to_string()],
                vec!["mean episode length".into(), num(s.mean_episode_length, 2)],
                vec!["training time [s]".into(), num(s.training_time_s, 2)],
                vec!["run directory".into(), out.display().to_string()],
            ];
            print(&["", "value"], &rows)?;
        }
    }
    Ok(())
}

/// `diffop eval --checkpoint DIR` for a Stable-DDPG / TASRL run: the Table-2 metrics of the
/// saved actors (α and scenarios of the run's configuration unless `scenarios` is given).
pub fn run_eval_ddpg(dir: &std::path::Path, scenarios: Option<usize>) -> Result<()> {
    use diffop::envs::voltage::{evaluate, EvalSettings};
    let ck = DdpgCheckpoint::load(dir)?;
    let ctl = ck.controller()?;
    let settings = EvalSettings {
        scenarios: scenarios.unwrap_or(ck.config.eval_scenarios),
        ..EvalSettings::default()
    };
    let m = evaluate(&settings, || ctl.clone()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let v = serde_json::json!({
        "checkpoint": dir.display().to_string(),
        "method": ck.config.method,
        "seed": ck.config.seed,
        "episode": ck.episode,
        "eval": m,
    });
    outln!("{}", serde_json::to_string_pretty(&v)?)?;
    Ok(())
}
