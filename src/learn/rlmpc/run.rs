//! Run directories of the RLMPC baselines (`diffop baseline`).
//!
//! ```text
//! DIR/config.toml         the full RlmpcConfig
//! DIR/metrics.csv         the same columns as DiffOP's (crate::learn::run::metrics_csv)
//! DIR/theta.csv           iteration, θ⁽ᵏ⁾ entries
//! DIR/checkpoint.json     the RlmpcCheckpoint: configuration, θ, counters, history, critic
//! DIR/summary.json        final evaluation (voltage: transient and steady), wall time, θ
//! DIR/learning_curve.svg  and .png
//! ```
//!
//! The checkpoint and the logs are written atomically every `checkpoint_every` iterations and
//! at the end. A run resumed from the checkpoint ([`RlmpcRunOptions::resume`], `diffop baseline
//! --resume`) finishes with exactly the θ and history of an uninterrupted run; a checkpoint of a
//! different configuration (other than K and `eval_every`) is rejected.

use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use super::{Rlmpc, RlmpcCheckpoint, RlmpcConfig};
use crate::learn::checkpoint::write_atomic;
use crate::learn::config::Task;
#[cfg(feature = "plot")]
use crate::learn::plot::{plot_learning_curve, Curves};
use crate::learn::progress::{log_line, Progress};
use crate::learn::run::{metrics_csv, theta_csv, ProgressHook};
use crate::learn::trainer::IterationRecord;
use crate::learn::LearnError;

/// How to run.
#[derive(Clone, Debug)]
pub struct RlmpcRunOptions {
    /// Run directory.
    pub out: PathBuf,
    /// No progress bar or log lines.
    pub quiet: bool,
    /// Worker threads (0 = rayon default).
    pub threads: usize,
    /// Continue from `out/checkpoint.json` (its configuration must match up to K and
    /// `eval_every`).
    pub resume: bool,
    /// Write the checkpoint and the logs every this many iterations (≥ 1; always at the end).
    pub checkpoint_every: usize,
    /// Called after every iteration.
    pub progress: Option<ProgressHook>,
}

impl RlmpcRunOptions {
    /// Options for a fresh, logged run in `out` that checkpoints every iteration.
    pub fn new(out: impl Into<PathBuf>) -> Self {
        Self {
            out: out.into(),
            quiet: false,
            threads: 0,
            resume: false,
            checkpoint_every: 1,
            progress: None,
        }
    }
}

/// The configuration saved in an RLMPC run directory's checkpoint (for `--resume`).
pub fn rlmpc_checkpoint_config(out: &Path) -> Result<RlmpcConfig, LearnError> {
    Ok(RlmpcCheckpoint::load(&out.join("checkpoint.json"))?.config)
}

/// What `summary.json` holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RlmpcSummary {
    /// Method name (`rlmpc-td`, …; `rlmpc-td-dpg` is the project proxy).
    pub method: String,
    /// Task.
    pub task: Task,
    /// Run seed.
    pub seed: u64,
    /// Iterations run (K).
    pub iterations: usize,
    /// Final deterministic evaluation cost (voltage: transient).
    pub eval_cost: Option<f64>,
    /// Voltage: final transient cost.
    pub transient: Option<f64>,
    /// Voltage: final steady-state cost.
    pub steady: Option<f64>,
    /// Evaluation cost of θ⁽⁰⁾ when it was evaluated (iteration 0 with eval_every > 0).
    pub initial_eval_cost: Option<f64>,
    /// Mean true cost of the first exploring batch.
    pub first_batch_cost: Option<f64>,
    /// Mean true cost of the last exploring batch.
    pub last_batch_cost: Option<f64>,
    /// Failed episode attempts plus skipped transitions over the run.
    pub failed_solves: usize,
    /// Episode attempts.
    pub episodes: u64,
    /// Mean wall time of a training iteration \[s\] (evaluations included).
    pub mean_iteration_s: f64,
    /// Total wall time \[s\].
    pub wall_time_s: f64,
    /// Final θ⁽ᴷ⁾.
    pub theta: Vec<f64>,
}

/// Run `config` into the run directory of `options` (module docs).
pub fn run_rlmpc(
    config: &RlmpcConfig,
    options: &RlmpcRunOptions,
) -> Result<RlmpcSummary, LearnError> {
    config.validate()?;
    if options.checkpoint_every == 0 {
        return Err(LearnError::Config(
            "checkpoint_every must be at least 1".into(),
        ));
    }
    if options.threads > 0 {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(options.threads)
            .build()
            .map_err(LearnError::ThreadPool)?;
        pool.install(|| run_inner(config, options))
    } else {
        run_inner(config, options)
    }
}

fn run_inner(config: &RlmpcConfig, options: &RlmpcRunOptions) -> Result<RlmpcSummary, LearnError> {
    let out = &options.out;
    std::fs::create_dir_all(out).map_err(|e| LearnError::io(out, e))?;
    let ckpt_path = out.join("checkpoint.json");
    let mut learner = if options.resume {
        if !ckpt_path.exists() {
            return Err(LearnError::Checkpoint(format!(
                "{} does not exist; there is nothing to resume",
                ckpt_path.display()
            )));
        }
        RlmpcCheckpoint::load(&ckpt_path)?
            .resume(config.clone())
            .map_err(|e| match e {
                LearnError::Checkpoint(m) => {
                    LearnError::Checkpoint(format!("{}: {m}", ckpt_path.display()))
                }
                e => e,
            })?
    } else {
        if ckpt_path.exists() {
            return Err(LearnError::Checkpoint(format!(
                "{} already exists; pass --resume to continue it or choose another --out",
                ckpt_path.display()
            )));
        }
        Rlmpc::new(config.clone())?
    };
    crate::learn::checkpoint::write_config(out, config)?;
    let log = !options.quiet;
    let tty = std::io::stderr().is_terminal();
    let bar = Progress::new(config.iterations, log && tty);
    bar.set_position(learner.iteration() as u64);
    while !learner.is_done() {
        let rec = learner.step()?;
        if let Some(hook) = &options.progress {
            (hook.0)(&rec);
        }
        bar.set_position(learner.iteration() as u64);
        bar.set_message(progress_message(&rec));
        if log && !tty && rec.eval_cost.is_some() {
            log_line(format_args!(
                "iteration {:>5}: {}",
                rec.iteration,
                progress_message(&rec)
            ));
        }
        if learner.iteration() % options.checkpoint_every == 0 || learner.is_done() {
            save(&learner, out)?;
        }
    }
    bar.finish_and_clear();
    let fin = learner.finish()?;
    save(&learner, out)?;
    let h = learner.history();
    let batches: Vec<f64> = h.iter().filter_map(|r| r.batch_mean_cost).collect();
    let train_iters = batches.len().max(1);
    let summary = RlmpcSummary {
        method: config.method.to_string(),
        task: config.task,
        seed: config.seed,
        iterations: learner.iteration(),
        eval_cost: fin.eval_cost,
        transient: fin.transient,
        steady: fin.steady,
        initial_eval_cost: h.first().and_then(|r| r.eval_cost),
        first_batch_cost: batches.first().copied(),
        last_batch_cost: batches.last().copied(),
        failed_solves: h.iter().map(|r| r.failed_solves).sum(),
        episodes: learner.episodes(),
        mean_iteration_s: h
            .iter()
            .filter(|r| r.batch_mean_cost.is_some())
            .map(|r| r.wall_time_s)
            .sum::<f64>()
            / train_iters as f64,
        wall_time_s: learner.elapsed_s(),
        theta: learner.theta().to_vec(),
    };
    let json = serde_json::to_string_pretty(&summary)
        .map_err(|e| LearnError::Format(format!("JSON: {e}")))?;
    write_atomic(&out.join("summary.json"), json.as_bytes())?;
    #[cfg(feature = "plot")]
    {
        let curves = Curves {
            title: format!(
                "{} {} (H = {}), seed {}",
                config.method, config.task, config.horizon, config.seed
            ),
            y_label: if config.task == Task::Voltage {
                "cost (eval: transient)".into()
            } else {
                "true episode cost".into()
            },
            training: points(h, |r| r.batch_mean_cost),
            evaluation: points(h, |r| r.eval_cost),
            untrained: None,
            mpc_true: None,
        };
        if let Err(e) = plot_learning_curve(
            &curves,
            &out.join("learning_curve.svg"),
            &out.join("learning_curve.png"),
        ) {
            if log {
                log_line(format_args!("learning-curve plot skipped: {e}"));
            }
        }
    }
    Ok(summary)
}

#[cfg_attr(not(feature = "plot"), allow(dead_code))]
fn points(h: &[IterationRecord], f: impl Fn(&IterationRecord) -> Option<f64>) -> Vec<(f64, f64)> {
    h.iter()
        .filter_map(|r| f(r).map(|c| (r.iteration as f64, c)))
        .collect()
}

fn save(learner: &Rlmpc, out: &Path) -> Result<(), LearnError> {
    RlmpcCheckpoint::new(learner).save(&out.join("checkpoint.json"))?;
    let voltage = learner.config().task == Task::Voltage;
    write_atomic(
        &out.join("metrics.csv"),
        metrics_csv(learner.history(), voltage).as_bytes(),
    )?;
    let s = theta_csv(learner.history());
    write_atomic(&out.join("theta.csv"), s.as_bytes())
}

fn progress_message(r: &IterationRecord) -> String {
    let mut s = String::new();
    if let Some(c) = r.batch_mean_cost {
        let _ = write!(s, "batch cost {c:.4}");
    }
    if let Some(e) = r.eval_cost {
        let _ = write!(s, "  eval {e:.4}");
    }
    if let Some(g) = r.grad_norm {
        let _ = write!(s, "  |d| {g:.3e}");
    }
    if r.failed_solves > 0 {
        let _ = write!(s, "  failed {}", r.failed_solves);
    }
    s
}
