//! Run directories: a training run with its files, resumable.
//!
//! ```text
//! DIR/config.toml         the full resolved configuration
//! DIR/metrics.csv         iteration, batch_mean_cost, eval_cost, grad_norm, failed_solves,
//!                         weakly_active, wall_time_s (voltage adds transient, steady);
//!                         empty cells where a value was not computed
//! DIR/theta.csv           iteration, θ⁽ᵏ⁾ entries
//! DIR/checkpoint.json     θ, optimiser state, L_ref, counters, metrics, references
//! DIR/summary.json        final evaluation, reference lines, wall time
//! DIR/learning_curve.svg  and .png (see [`super::plot`])
//! ```
//!
//! The checkpoint is written atomically before anything else (iteration 0, so that a run
//! interrupted during its reference evaluations resumes), every `checkpoint_every` iterations
//! and at the end. A run resumed from it writes byte-identical files to an uninterrupted run,
//! except the `wall_time_s` column of `metrics.csv` and `wall_time_s` of `summary.json` (the
//! CPU clock). Without the `toml` feature the configuration is written as `config.json`.
//!
//! A fresh run needs an empty or new directory (leftover temporary files aside); `--resume` of a
//! directory without a checkpoint starts from scratch when the directory is otherwise empty.
//! Resuming with a different K keeps the finished iterations and spreads a cosine learning-rate
//! schedule over the new K from the iteration reached (so it is not the run a K-iteration
//! start would have given); a note is logged.

use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use super::checkpoint::{write_atomic, write_config, Checkpoint, References};
use super::config::{Task, TrainConfig};
use super::evaluate::{evaluate_kind, ControllerKind, EvalOutcome};
#[cfg(feature = "plot")]
use super::plot::{plot_learning_curve, Curves};
use super::progress::{log_line, Progress};
use super::trainer::{IterationRecord, Trainer};
use super::LearnError;

/// A callback told about every finished iteration (e.g. to drive an outer progress bar).
#[derive(Clone)]
pub struct ProgressHook(pub std::sync::Arc<dyn Fn(&IterationRecord) + Send + Sync>);

impl std::fmt::Debug for ProgressHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProgressHook")
    }
}

/// How to run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Run directory.
    pub out: PathBuf,
    /// Continue from `out/checkpoint.json`.
    pub resume: bool,
    /// No progress bar or log lines.
    pub quiet: bool,
    /// Evaluate the `untrained` and `mpc-true` reference lines.
    pub references: bool,
    /// Called after every iteration.
    pub progress: Option<ProgressHook>,
    /// Stop (as if interrupted) once this many iterations have run, leaving a resumable
    /// checkpoint and no summary; `None`: run all K iterations.
    pub stop_after: Option<usize>,
}

impl RunOptions {
    /// Options for a fresh run in `out` with progress output and reference lines.
    pub fn new(out: PathBuf) -> Self {
        Self {
            out,
            resume: false,
            quiet: false,
            references: true,
            progress: None,
            stop_after: None,
        }
    }
}

/// What `summary.json` holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// Task.
    pub task: Task,
    /// Mode (step / traj).
    pub mode: String,
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
    /// Why the final evaluation failed (the metrics are then `None`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_error: Option<String>,
    /// Reference: θ⁽⁰⁾.
    pub untrained: Option<EvalOutcome>,
    /// Reference: true model.
    pub mpc_true: Option<EvalOutcome>,
    /// Frozen L_ref (None when cost normalisation is off).
    pub l_ref: Option<f64>,
    /// Failed trajectory attempts over the run.
    pub failed_solves: usize,
    /// Training trajectories attempted.
    pub trajectories: u64,
    /// Total wall time of training and evaluation \[s\] (references excluded).
    pub wall_time_s: f64,
    /// Final θ⁽ᴷ⁾.
    pub theta: Vec<f64>,
}

/// The configuration saved in a run directory's checkpoint (for `--resume`).
pub fn checkpoint_config(out: &Path) -> Result<TrainConfig, LearnError> {
    Ok(Checkpoint::load(&out.join("checkpoint.json"))?.config)
}

/// Settings that may change on resume without changing the result.
fn normalised(c: &TrainConfig) -> TrainConfig {
    let mut c = c.clone();
    c.iterations = 0;
    c.threads = 0;
    c.eval_every = 0;
    c.checkpoint_every = 1;
    c
}

/// Train `config` in the run directory of `options`; see the module docs.
pub fn run_training(config: &TrainConfig, options: &RunOptions) -> Result<RunSummary, LearnError> {
    config.validate()?;
    if config.threads > 0 {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(config.threads)
            .build()
            .map_err(LearnError::ThreadPool)?;
        pool.install(|| run_inner(config, options))
    } else {
        run_inner(config, options)
    }
}

/// The files of a run directory (anything else in it means it is not a run).
const RUN_FILES: [&str; 8] = [
    "checkpoint.json",
    "config.toml",
    "config.json",
    "metrics.csv",
    "theta.csv",
    "summary.json",
    "learning_curve.svg",
    "learning_curve.png",
];

/// The entries of `out` other than temporary files of an interrupted atomic write.
fn entries(out: &Path) -> Result<Vec<String>, LearnError> {
    let mut names = Vec::new();
    if !out.exists() {
        return Ok(names);
    }
    for e in std::fs::read_dir(out).map_err(|e| LearnError::io(out, e))? {
        let name = e.map_err(|e| LearnError::io(out, e))?.file_name();
        let name = name.to_string_lossy().into_owned();
        if !(name.starts_with('.') && name.contains(".tmp")) {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// Remove the temporary files an interrupted atomic write left behind (best effort).
fn remove_stale_temporaries(out: &Path) {
    let Ok(dir) = std::fs::read_dir(out) else {
        return;
    };
    for e in dir.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') && name.contains(".tmp") {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

fn not_a_run(out: &Path, found: &[String], what: &str) -> LearnError {
    let shown: Vec<&str> = found.iter().take(3).map(String::as_str).collect();
    LearnError::OutDir {
        path: out.display().to_string(),
        reason: format!(
            "{what} ({} entries, e.g. {}); choose a new or empty directory",
            found.len(),
            shown.join(", ")
        ),
    }
}

/// The trainer and references to start from: a fresh trainer, or the checkpoint's state.
fn start(
    config: &TrainConfig,
    options: &RunOptions,
) -> Result<(Trainer, Option<References>), LearnError> {
    let out = &options.out;
    let ckpt_path = out.join("checkpoint.json");
    let found = entries(out)?;
    if options.resume && ckpt_path.exists() {
        let ck = Checkpoint::load(&ckpt_path)?;
        if normalised(&ck.config) != normalised(config) {
            return Err(LearnError::Checkpoint(format!(
                "{} was written with a different configuration; only iterations, threads, \
                 eval_every and checkpoint_every may change on resume",
                ckpt_path.display()
            )));
        }
        let state = ck.exact_state()?;
        let mut t = Trainer::from_state(config.clone(), state)?;
        if ck.config.iterations != config.iterations
            && config.learning_rate_final.is_some()
            && !options.quiet
        {
            log_line(format_args!(
                "note: K changes from {} to {}: the cosine learning-rate schedule of the \
                 remaining iterations is stretched over the new K",
                ck.config.iterations, config.iterations
            ));
        }
        t.set_iterations(config.iterations)?;
        return Ok((t, ck.references));
    }
    if ckpt_path.exists() {
        return Err(LearnError::Checkpoint(format!(
            "{} already exists; pass --resume to continue it or choose another --out",
            ckpt_path.display()
        )));
    }
    if !found.is_empty() {
        let what = if found.iter().all(|f| RUN_FILES.contains(&f.as_str())) {
            "holds run files but no checkpoint.json"
        } else {
            "is not empty and is not a run directory"
        };
        return Err(not_a_run(out, &found, what));
    }
    Ok((Trainer::new(config.clone())?, None))
}

fn run_inner(config: &TrainConfig, options: &RunOptions) -> Result<RunSummary, LearnError> {
    let out = &options.out;
    let (mut trainer, mut references) = start(config, options)?;
    std::fs::create_dir_all(out).map_err(|e| LearnError::io(out, e))?;
    remove_stale_temporaries(out);
    if trainer.state().iteration == 0 && references.is_none() {
        // Resumable from the start: the reference evaluations below take seconds.
        Checkpoint::new(trainer.config(), trainer.state(), None)
            .save(&out.join("checkpoint.json"))?;
    }
    write_config(out, config)?;
    let log = !options.quiet;
    if references.is_none() && options.references {
        let eval = |kind: ControllerKind, name: &str| match evaluate_kind(config, &kind) {
            Ok(e) => Some(e),
            Err(e) => {
                if log {
                    log_line(format_args!(
                        "reference `{name}` could not be evaluated: {e}"
                    ));
                }
                None
            }
        };
        references = Some(References {
            untrained: eval(ControllerKind::Untrained, "untrained"),
            mpc_true: eval(ControllerKind::MpcTrue, "mpc-true"),
        });
        save(&trainer, &references, out)?;
    }
    let tty = std::io::stderr().is_terminal();
    let bar = Progress::new(config.iterations, log && tty);
    bar.set_position(trainer.state().iteration as u64);
    while !trainer.is_done() {
        let k = trainer.state().iteration;
        if options.stop_after.is_some_and(|s| k >= s) {
            save(&trainer, &references, out)?;
            bar.finish_and_clear();
            return Err(LearnError::Stopped { iteration: k });
        }
        let rec = trainer.step()?;
        if let Some(hook) = &options.progress {
            (hook.0)(&rec);
        }
        bar.set_position(trainer.state().iteration as u64);
        bar.set_message(progress_message(&rec));
        if let (true, Some(e)) = (log, &rec.eval_error) {
            bar.suspend(|| {
                log_line(format_args!(
                    "iteration {:>5}: evaluation failed: {e}",
                    rec.iteration
                ))
            });
        }
        if log && !tty && rec.eval_cost.is_some() {
            log_line(format_args!(
                "iteration {:>5}: {}",
                rec.iteration,
                progress_message(&rec)
            ));
        }
        let k = trainer.state().iteration;
        if k % config.checkpoint_every == 0 || trainer.is_done() {
            save(&trainer, &references, out)?;
        }
    }
    bar.finish_and_clear();
    let fin = trainer.finish()?;
    if let (true, Some(e)) = (log, &fin.eval_error) {
        log_line(format_args!("final evaluation failed: {e}"));
    }
    save(&trainer, &references, out)?;
    let state = trainer.state();
    let refs = references.clone().unwrap_or(References {
        untrained: None,
        mpc_true: None,
    });
    let summary = RunSummary {
        task: config.task,
        mode: config.mode.to_string(),
        seed: config.seed,
        iterations: state.iteration,
        eval_cost: fin.eval_cost,
        transient: fin.transient,
        steady: fin.steady,
        eval_error: fin.eval_error.clone(),
        untrained: refs.untrained.clone(),
        mpc_true: refs.mpc_true.clone(),
        l_ref: state.l_ref,
        failed_solves: state.history.iter().map(|r| r.failed_solves).sum(),
        trajectories: state.trajectories,
        wall_time_s: state.elapsed_s,
        theta: state.theta.clone(),
    };
    let json = serde_json::to_string_pretty(&summary)
        .map_err(|e| LearnError::Format(format!("JSON: {e}")))?;
    write_atomic(&out.join("summary.json"), json.as_bytes())?;
    #[cfg(feature = "plot")]
    if let Err(e) = plot_learning_curve(
        &curves(config, &state.history, &refs),
        &out.join("learning_curve.svg"),
        &out.join("learning_curve.png"),
    ) {
        if log {
            log_line(format_args!("learning-curve plot skipped: {e}"));
        }
    }
    Ok(summary)
}

fn progress_message(r: &IterationRecord) -> String {
    let mut s = String::new();
    if let Some(c) = r.batch_mean_cost {
        let _ = write!(s, "batch cost {c:.4}");
    }
    if let Some(e) = r.eval_cost {
        let _ = write!(s, "  eval {e:.4}");
    }
    if let Some(st) = r.steady {
        let _ = write!(s, "  steady {st:.4}");
    }
    if r.failed_solves > 0 {
        let _ = write!(s, "  failed {}", r.failed_solves);
    }
    s
}

fn save(trainer: &Trainer, references: &Option<References>, out: &Path) -> Result<(), LearnError> {
    let ck = Checkpoint::new(trainer.config(), trainer.state(), references.clone());
    ck.save(&out.join("checkpoint.json"))?;
    let voltage = trainer.config().task == Task::Voltage;
    write_atomic(
        &out.join("metrics.csv"),
        metrics_csv(&trainer.state().history, voltage).as_bytes(),
    )?;
    write_atomic(
        &out.join("theta.csv"),
        theta_csv(&trainer.state().history).as_bytes(),
    )
}

fn cell(v: Option<f64>) -> String {
    v.map_or(String::new(), |x| format!("{x}"))
}

/// The `metrics.csv` text of a history.
pub fn metrics_csv(history: &[IterationRecord], voltage: bool) -> String {
    let mut s = String::from(
        "iteration,batch_mean_cost,eval_cost,grad_norm,failed_solves,weakly_active,wall_time_s",
    );
    if voltage {
        s.push_str(",transient,steady");
    }
    s.push('\n');
    for r in history {
        let _ = write!(
            s,
            "{},{},{},{},{},{},{}",
            r.iteration,
            cell(r.batch_mean_cost),
            cell(r.eval_cost),
            cell(r.grad_norm),
            r.failed_solves,
            r.weakly_active,
            r.wall_time_s
        );
        if voltage {
            let _ = write!(s, ",{},{}", cell(r.transient), cell(r.steady));
        }
        s.push('\n');
    }
    s
}

/// The `theta.csv` text of a history (iteration, θ entries).
pub(crate) fn theta_csv(history: &[IterationRecord]) -> String {
    let d = history.first().map_or(0, |r| r.theta.len());
    let mut s = String::from("iteration");
    for i in 0..d {
        let _ = write!(s, ",theta_{i}");
    }
    s.push('\n');
    for r in history {
        let _ = write!(s, "{}", r.iteration);
        for t in &r.theta {
            let _ = write!(s, ",{t}");
        }
        s.push('\n');
    }
    s
}

#[cfg(feature = "plot")]
fn curves(config: &TrainConfig, history: &[IterationRecord], refs: &References) -> Curves {
    let y_label = if config.task == Task::Voltage {
        "cost (eval: transient, 500 scenarios)"
    } else {
        "true episode cost"
    };
    Curves {
        title: format!(
            "DiffOP {} ({}, H = {}, h = {}), seed {}",
            config.task, config.mode, config.horizon, config.h, config.seed
        ),
        y_label: y_label.into(),
        training: history
            .iter()
            .filter_map(|r| r.batch_mean_cost.map(|c| (r.iteration as f64, c)))
            .collect(),
        evaluation: history
            .iter()
            .filter_map(|r| r.eval_cost.map(|c| (r.iteration as f64, c)))
            .collect(),
        untrained: refs.untrained.as_ref().map(|e| e.cost),
        mpc_true: refs.mpc_true.as_ref().map(|e| e.cost),
    }
}
