//! `diffop train` and `diffop eval-checkpoint`: thin wrappers over [`diffop::learn`].

use super::out::{errln, outln};
use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::{Path, PathBuf};

use super::table::{self, num};
use super::task::TableFormat;
use super::usage;

use diffop::learn::checkpoint::Checkpoint;
use diffop::learn::evaluate::evaluate_kind;
use diffop::learn::run::checkpoint_config;
use diffop::learn::{ControllerKind, LearnError, Mode, Preset, RunOptions, Task, TrainConfig};

/// Train a DiffOP policy (Algorithm 1) and write a run directory.
#[derive(Args, Debug, Clone)]
pub struct TrainArgs {
    /// Task: cartpole (default), arm, quadrotor, rocket or voltage.
    #[arg(long)]
    pub task: Option<String>,
    /// Execution mode: step (receding horizon) or traj (open loop).
    #[arg(long)]
    pub mode: Option<String>,
    /// Actions executed per solve h (1 ≤ h ≤ H).
    #[arg(long)]
    pub h: Option<usize>,
    /// Planning horizon H.
    #[arg(long)]
    pub horizon: Option<usize>,
    /// Iterations K.
    #[arg(long)]
    pub iterations: Option<usize>,
    /// Run seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// TOML configuration file (see `TrainConfig`). Its task, mode and preset select the
    /// defaults: --task/--mode/--preset may repeat them but not differ (error). --horizon, --h,
    /// --iterations, --seed and --threads override the file.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Run directory (default runs/<task>-<mode>-seed<S>); must be new or empty unless
    /// resuming.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue the run in --out from its checkpoint (a directory without one, e.g. interrupted
    /// in its first seconds, starts from scratch). With a different --iterations K, the
    /// finished iterations are kept and a cosine learning-rate schedule is stretched over the
    /// new K from the iteration reached (a note says so).
    #[arg(long)]
    pub resume: bool,
    /// Preset: default or paper_faithful.
    #[arg(long)]
    pub preset: Option<String>,
    /// Worker threads (0 = all cores; at most 1024).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Initial θ: theta0 (default: the seed's draw or the config's theta0) or pdp (PDP
    /// (Offline) imitation in the Table-1 parameterisation from it, then DiffOP).
    #[arg(long)]
    pub init: Option<String>,
    /// PDP iterations of --init pdp (default 10000).
    #[arg(long)]
    pub init_pdp_iterations: Option<usize>,
    /// No progress bar or log output.
    #[arg(long)]
    pub quiet: bool,
    /// Stop after this many iterations as if interrupted, leaving a resumable checkpoint
    /// (for testing resume).
    #[arg(long, hide = true)]
    pub stop_after: Option<usize>,
}

/// Task trained when neither --task nor --config is given.
const DEFAULT_TASK: &str = "cartpole";

fn resolve(args: &TrainArgs) -> Result<TrainConfig> {
    let resumable = args
        .out
        .as_ref()
        .is_some_and(|o| o.join("checkpoint.json").exists());
    let mut config = if args.resume && args.config.is_none() && args.task.is_none() && resumable {
        let out = args.out.as_ref().context("--resume needs --out DIR")?;
        checkpoint_config(out)?
    } else if let Some(path) = &args.config {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the configuration file `{}`", path.display()))?;
        TrainConfig::from_toml(&text).with_context(|| format!("in {}", path.display()))?
    } else {
        let task: Task = args.task.as_deref().unwrap_or(DEFAULT_TASK).parse()?;
        let mode: Mode = args.mode.as_deref().unwrap_or("step").parse()?;
        let preset: Preset = args.preset.as_deref().unwrap_or("default").parse()?;
        TrainConfig::preset(task, mode, preset)
    };
    if args.config.is_some() || args.resume {
        if let Some(t) = &args.task {
            let t: Task = t.parse()?;
            if t != config.task {
                bail!(
                    "--task {t} contradicts the configuration's task {}",
                    config.task
                );
            }
        }
        if let Some(m) = &args.mode {
            let m: Mode = m.parse()?;
            if m != config.mode {
                bail!(
                    "--mode {m} contradicts the configuration's mode {}",
                    config.mode
                );
            }
        }
        if let Some(p) = &args.preset {
            let p: Preset = p.parse()?;
            if p != config.preset {
                bail!(
                    "--preset {p} contradicts the configuration's preset {}",
                    config.preset
                );
            }
        }
    }
    if let Some(hz) = args.horizon {
        config.set_horizon(hz);
    }
    if let Some(h) = args.h {
        config.h = h;
    }
    if let Some(k) = args.iterations {
        config.iterations = k;
    }
    if let Some(s) = args.seed {
        config.seed = s;
    }
    if let Some(t) = args.threads {
        super::check_threads(t)?;
        config.threads = t;
    }
    if let Some(i) = &args.init {
        config.init = i.parse()?;
    }
    if let Some(k) = args.init_pdp_iterations {
        config.init_pdp_iterations = Some(k);
    }
    config.validate()?;
    Ok(config)
}

/// Run `diffop train`.
pub fn run(args: &TrainArgs) -> Result<()> {
    let config = resolve(args)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("runs").join(config.default_run_name()));
    let options = RunOptions {
        resume: args.resume,
        quiet: args.quiet,
        stop_after: args.stop_after,
        ..RunOptions::new(out.clone())
    };
    let summary = match diffop::learn::run_training(&config, &options) {
        Ok(s) => s,
        Err(LearnError::Stopped { iteration }) => {
            if !args.quiet {
                errln!(
                    "stopped after iteration {iteration}; continue with: diffop train --resume \
                     --out {}",
                    out.display()
                );
            }
            return Ok(());
        }
        Err(e) => {
            return Err(e).with_context(|| format!("training run in {}", out.display()));
        }
    };
    if !args.quiet {
        let fmt = |v: Option<f64>| v.map_or("n/a".to_string(), |x| format!("{x:.6}"));
        errln!(
            "done: {} {} seed {} — {} iterations in {:.1} s; final eval cost {} \
             (untrained {}, mpc-true {}); results in {}",
            summary.task,
            summary.mode,
            summary.seed,
            summary.iterations,
            summary.wall_time_s,
            fmt(summary.eval_cost),
            fmt(summary.untrained.as_ref().map(|e| e.cost)),
            fmt(summary.mpc_true.as_ref().map(|e| e.cost)),
            out.display()
        );
        if let (Some(t), Some(s)) = (summary.transient, summary.steady) {
            errln!("voltage: transient {t:.6}, steady {s:.6}");
        }
    }
    Ok(())
}

/// Evaluate the θ of a run's checkpoint deterministically.
#[derive(Debug, Clone)]
pub struct EvalCheckpointArgs {
    /// Run directory containing checkpoint.json (or the checkpoint file itself).
    pub dir: PathBuf,
    /// Also evaluate the `untrained` θ(0) and `mpc-true` references.
    pub references: bool,
    /// Worker threads (0 = all cores).
    pub threads: usize,
    /// Voltage: evaluation scenarios (default: the run's).
    pub scenarios: Option<usize>,
    /// Output format.
    pub format: TableFormat,
}

/// What wrote a checkpoint file (only DiffOP training runs can be evaluated here).
enum RunKind {
    /// `diffop train`.
    DiffOp,
    /// `diffop baseline` (RLMPC-TD / DPG / TD+DPG), with its method name.
    Rlmpc(String),
    /// A PDP run (of `diffop reproduce`).
    Pdp,
}

fn run_kind(path: &Path) -> Result<RunKind> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the checkpoint `{}`", path.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("the checkpoint `{}` is not JSON", path.display()))?;
    if let Some(m) = v["config"]["method"].as_str() {
        return Ok(RunKind::Rlmpc(m.to_string()));
    }
    if v.get("settings").is_some() && v.get("task").is_some_and(|t| t.is_string()) {
        return Ok(RunKind::Pdp);
    }
    Ok(RunKind::DiffOp)
}

/// Run `diffop eval --checkpoint`: a table or a JSON object on stdout.
pub fn run_eval_checkpoint(args: &EvalCheckpointArgs) -> Result<()> {
    let path = if args.dir.is_dir() {
        args.dir.join("checkpoint.json")
    } else {
        args.dir.clone()
    };
    match run_kind(&path)? {
        RunKind::DiffOp => {}
        RunKind::Rlmpc(m) => bail!(
            "`{}` is an RLMPC run (method {m}, written by `diffop baseline`); \
             `eval --checkpoint` evaluates DiffOP runs of `diffop train` — the run's \
             summary.json holds its final evaluation",
            path.display()
        ),
        RunKind::Pdp => bail!(
            "`{}` is a PDP run; `eval --checkpoint` evaluates DiffOP runs of `diffop train`",
            path.display()
        ),
    }
    let ck = Checkpoint::load(&path)?;
    let state = ck.exact_state()?;
    let mut config = ck.config.clone();
    if let Some(n) = args.scenarios {
        if config.task != Task::Voltage {
            usage!("--scenarios applies to voltage runs only (nonlinear tasks use their demonstration states)");
        }
        config.eval_scenarios = n;
        config.validate()?;
    }
    let work = || -> Result<serde_json::Value> {
        let learned = evaluate_kind(&config, &ControllerKind::Theta(state.theta.clone()))?;
        let mut v = serde_json::json!({
            "checkpoint": path.display().to_string(),
            "task": config.task,
            "mode": config.mode,
            "seed": config.seed,
            "iteration": state.iteration,
            "theta": state.theta,
            "eval": learned,
        });
        if args.references {
            v["untrained"] =
                serde_json::to_value(evaluate_kind(&config, &ControllerKind::Untrained)?)?;
            v["mpc_true"] =
                serde_json::to_value(evaluate_kind(&config, &ControllerKind::MpcTrue)?)?;
        }
        Ok(v)
    };
    let value = super::with_threads(args.threads, work)?;
    match args.format {
        TableFormat::Json => outln!("{}", serde_json::to_string_pretty(&value)?)?,
        TableFormat::Table => print_eval_table(&config, &value)?,
    }
    Ok(())
}

fn print_eval_table(config: &TrainConfig, v: &serde_json::Value) -> Result<()> {
    outln!(
        "{} {} seed {}, θ of iteration {} ({})",
        config.task,
        config.mode,
        config.seed,
        v["iteration"],
        v["checkpoint"].as_str().unwrap_or("")
    )?;
    let voltage = config.task == Task::Voltage;
    let rows: Vec<Vec<String>> = [
        ("trained θ", "eval"),
        ("untrained θ(0)", "untrained"),
        ("mpc-true", "mpc_true"),
    ]
    .iter()
    .filter(|(_, key)| v.get(*key).is_some())
    .map(|(name, key)| {
        let e = &v[*key];
        let f = |k: &str| e[k].as_f64().map_or("-".to_string(), |x| num(x, 4));
        let mut row = vec![name.to_string(), f("cost")];
        if voltage {
            row.push(f("steady"));
        }
        row
    })
    .collect();
    let headers: &[&str] = if voltage {
        &["policy", "transient", "steady"]
    } else {
        &["policy", "mean true episode cost"]
    };
    table::print(headers, &rows)?;
    Ok(())
}
