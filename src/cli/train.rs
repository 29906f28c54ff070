//! `diffop train` and `diffop eval-checkpoint`: thin wrappers over [`diffop::learn`].

use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::PathBuf;

use diffop::learn::checkpoint::Checkpoint;
use diffop::learn::evaluate::evaluate_kind;
use diffop::learn::run::checkpoint_config;
use diffop::learn::{ControllerKind, Mode, Preset, RunOptions, Task, TrainConfig};

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
    /// TOML configuration file (see `TrainConfig`); flags override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Run directory (default runs/<task>-<mode>-seed<S>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue the run in --out from its checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// Preset: default or paper_faithful.
    #[arg(long)]
    pub preset: Option<String>,
    /// Worker threads (0 = all cores).
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
}

/// Task trained when neither --task nor --config is given.
const DEFAULT_TASK: &str = "cartpole";

fn resolve(args: &TrainArgs) -> Result<TrainConfig> {
    let mut config =
        if args.resume && args.config.is_none() && args.task.is_none() && args.out.is_some() {
            let out = args.out.as_ref().context(
                "--resume needs --out DIR (or --task/--mode/--seed to find the default)",
            )?;
            checkpoint_config(out)?
        } else if let Some(path) = &args.config {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
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
        out: out.clone(),
        resume: args.resume,
        quiet: args.quiet,
        references: true,
        progress: None,
    };
    let summary = diffop::learn::run_training(&config, &options)
        .with_context(|| format!("training run in {}", out.display()))?;
    if !args.quiet {
        let fmt = |v: Option<f64>| v.map_or("n/a".to_string(), |x| format!("{x:.6}"));
        eprintln!(
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
            eprintln!("voltage: transient {t:.6}, steady {s:.6}");
        }
    }
    Ok(())
}

/// Evaluate the θ of a run's checkpoint deterministically.
#[derive(Args, Debug, Clone)]
pub struct EvalCheckpointArgs {
    /// Run directory containing checkpoint.json (or the checkpoint file itself).
    pub dir: PathBuf,
    /// Also evaluate the `untrained` θ(0) and `mpc-true` references.
    #[arg(long)]
    pub references: bool,
    /// Worker threads (0 = all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}

/// Run `diffop eval-checkpoint`: prints a JSON object to stdout.
pub fn run_eval_checkpoint(args: &EvalCheckpointArgs) -> Result<()> {
    let path = if args.dir.is_dir() {
        args.dir.join("checkpoint.json")
    } else {
        args.dir.clone()
    };
    let ck = Checkpoint::load(&path)?;
    let state = ck.exact_state()?;
    let config = ck.config.clone();
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
    let value = if args.threads > 0 {
        rayon::ThreadPoolBuilder::new()
            .num_threads(args.threads)
            .build()?
            .install(work)?
    } else {
        work()?
    };
    println!("{}", serde_json::to_string_pretty(&value)?);
    Ok(())
}
