//! Training jobs of the experiments: one (task, method, run seed) each, run in parallel, each in
//! its own directory `runs/<task>/<method>/seed<k>/` so that an interrupted reproduction resumes:
//! DiffOP and RLMPC jobs from their run directory's `checkpoint.json` (written every iteration),
//! PDP jobs from theirs (written every [`PDP_CHECKPOINT_EVERY`] iterations and at the end), each
//! bit-identically; finished jobs are read back from `result.json`.

use indicatif::ProgressBar;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use super::{ExperimentError, OptionsError, Scale};
use crate::learn::checkpoint::{write_atomic, Checkpoint};
use crate::learn::ddpg::{run_ddpg, DdpgConfig, DdpgEpisode, DdpgMethod, DdpgRunOptions};
use crate::learn::evaluate::initial_theta;
use crate::learn::pdp::init::InitMethod;
use crate::learn::pdp::{Pdp, PdpCheckpoint, PdpParameterisation, PdpSettings};
use crate::learn::pdp_voltage::{VoltagePdp, VoltagePdpSettings};
use crate::learn::rlmpc::{
    run_rlmpc as run_rlmpc_dir, RlmpcCheckpoint, RlmpcConfig, RlmpcMethod, RlmpcRunOptions,
};
use crate::learn::run::{run_training, ProgressHook, RunOptions};
use crate::learn::LearnError;
use crate::learn::{IterationRecord, Mode, Preset, Task, TrainConfig};

/// PDP jobs write their checkpoint every this many iterations (and at the end).
pub const PDP_CHECKPOINT_EVERY: usize = 100;

/// A method of the comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// DiffOP, Step mode (receding horizon, h = 1).
    DiffopStep,
    /// DiffOP, Traj mode (open loop, H = T).
    DiffopTraj,
    /// RLMPC-TD (semi-gradient Q-learning with the MPC as approximator).
    RlmpcTd,
    /// RLMPC-DPG (deterministic policy gradient with a compatible critic).
    RlmpcDpg,
    /// PDP (Offline) imitation (PDP's own parameterisation; voltage: DiffOP's).
    PdpOffline,
    /// PDP (Offline) imitation in DiffOP's Table-1 parameterisation from DiffOP's θ(0)
    /// (`docs/spec/ALGORITHMS.md` §11.1 option; nonlinear tasks).
    PdpTable1,
    /// PDP (Offline, Table 1) imitation, then DiffOP Step from its θ (`init = "pdp"`;
    /// nonlinear tasks).
    PdpDiffopStep,
    /// PDP (Offline, Table 1) imitation, then DiffOP Traj from its θ (`init = "pdp"`;
    /// nonlinear tasks).
    PdpDiffopTraj,
    /// Stable-DDPG: per-bus DDPG with the monotone policy (`ALGORITHMS.md` §12.1; voltage).
    StableDdpg,
    /// TASRL: the monotone policy plus the safe gradient flow (`ALGORITHMS.md` §12.1; voltage).
    Tasrl,
}

impl Method {
    /// Every method, in the order of the figures and tables.
    pub const ALL: [Method; 8] = [
        Method::DiffopStep,
        Method::DiffopTraj,
        Method::RlmpcTd,
        Method::RlmpcDpg,
        Method::PdpOffline,
        Method::PdpTable1,
        Method::PdpDiffopStep,
        Method::PdpDiffopTraj,
    ];

    /// True for the methods that exist only on the nonlinear tasks.
    pub fn nonlinear_only(self) -> bool {
        matches!(
            self,
            Method::PdpTable1 | Method::PdpDiffopStep | Method::PdpDiffopTraj
        )
    }

    /// The neural voltage baselines of Table 2 (not in [`Method::ALL`]: they have no nonlinear
    /// task and no place in Figure 2).
    pub const NEURAL: [Method; 2] = [Method::StableDdpg, Method::Tasrl];

    /// File-system name.
    pub fn name(self) -> &'static str {
        match self {
            Method::DiffopStep => "diffop-step",
            Method::DiffopTraj => "diffop-traj",
            Method::RlmpcTd => "rlmpc-td",
            Method::RlmpcDpg => "rlmpc-dpg",
            Method::PdpOffline => "pdp-offline",
            Method::PdpTable1 => "pdp-table1",
            Method::PdpDiffopStep => "pdp-diffop-step",
            Method::PdpDiffopTraj => "pdp-diffop-traj",
            Method::StableDdpg => "stable-ddpg",
            Method::Tasrl => "tasrl",
        }
    }

    /// Label of the paper.
    pub fn label(self) -> &'static str {
        match self {
            Method::DiffopStep => "DiffOP (Step)",
            Method::DiffopTraj => "DiffOP (Traj)",
            Method::RlmpcTd => "RLMPC-TD",
            Method::RlmpcDpg => "RLMPC-DPG",
            Method::PdpOffline => "PDP (Offline)",
            Method::PdpTable1 => "PDP (Offline, Table 1)",
            Method::PdpDiffopStep => "PDP → DiffOP (Step)",
            Method::PdpDiffopTraj => "PDP → DiffOP (Traj)",
            Method::StableDdpg => "Stable-DDPG",
            Method::Tasrl => "TASRL",
        }
    }

    /// Colour index in the figures.
    pub fn color(self) -> usize {
        match self {
            Method::DiffopStep => 0,
            Method::DiffopTraj => 1,
            Method::RlmpcTd => 2,
            Method::RlmpcDpg => 3,
            Method::PdpOffline => 4,
            Method::PdpTable1 => 5,
            Method::PdpDiffopStep => 6,
            Method::PdpDiffopTraj => 5,
            Method::StableDdpg => 6,
            Method::Tasrl => 7,
        }
    }
}

/// One point of a learning curve.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    /// Iteration k.
    pub iteration: usize,
    /// Mean true cost of the exploring episodes of iteration k (online methods).
    pub batch_mean_cost: Option<f64>,
    /// Deterministic evaluation cost of θ⁽ᵏ⁾ (voltage: transient), when evaluated.
    pub eval_cost: Option<f64>,
    /// Imitation loss (PDP).
    pub loss: Option<f64>,
}

/// What a finished job leaves (`result.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobResult {
    /// Task.
    pub task: Task,
    /// Method.
    pub method: Method,
    /// Run seed.
    pub seed: u64,
    /// Iterations run.
    pub iterations: usize,
    /// Learning curve.
    pub curve: Vec<CurvePoint>,
    /// Evaluation cost of θ⁽⁰⁾ (online methods).
    pub initial_eval: Option<f64>,
    /// Final evaluation cost (voltage: transient; PDP: its Traj policy).
    pub final_eval: Option<f64>,
    /// Voltage: final transient cost.
    pub transient: Option<f64>,
    /// Voltage: final steady-state cost.
    pub steady: Option<f64>,
    /// θ⁽⁰⁾.
    pub initial_theta: Vec<f64>,
    /// Final θ.
    pub theta: Vec<f64>,
    /// Wall time of this job (the last session of it when resumed) \[s\].
    pub wall_time_s: f64,
}

/// A job: (task, method, run seed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Job {
    /// Task.
    pub task: Task,
    /// Method.
    pub method: Method,
    /// Run seed.
    pub seed: u64,
}

impl Job {
    /// The job's directory under `root`.
    pub fn dir(&self, root: &Path) -> PathBuf {
        root.join("runs")
            .join(self.task.name())
            .join(self.method.name())
            .join(format!("seed{}", self.seed))
    }

    /// Iterations the job runs (progress units).
    pub fn units(&self, scale: &Scale) -> usize {
        match (self.method, self.task) {
            (Method::StableDdpg, _) => scale.ddpg_episodes(DdpgMethod::StableDdpg),
            (Method::Tasrl, _) => scale.ddpg_episodes(DdpgMethod::Tasrl),
            (Method::PdpOffline, Task::Voltage) => scale.voltage_pdp_iterations,
            (Method::PdpOffline | Method::PdpTable1, t) => scale.pdp_iterations(t),
            (Method::PdpDiffopStep | Method::PdpDiffopTraj, t) => {
                scale.pdp_iterations(t) + scale.nonlinear_iterations
            }
            (_, Task::Voltage) => scale.voltage_iterations,
            _ => scale.nonlinear_iterations,
        }
    }
}

/// The RLMPC step size α used in the reproduction, with the valid set of
/// [`crate::learn::rlmpc::ThetaConstraints`] on: the lowest mean final evaluation cost of the
/// sweep α ∈ {1e-5, 1e-4, 1e-3} in short runs on run seeds 10 and 11 (not the reported 0–4;
/// 20 iterations × 10 episodes, quadrotor 10; docs/figure2-rows.md). Voltage: the earlier
/// sweep (seed 0; Table 2), unchanged.
pub fn rlmpc_alpha(task: Task, method: RlmpcMethod) -> f64 {
    match (task, method) {
        (Task::Cartpole | Task::Arm, RlmpcMethod::Td) => 1e-4,
        (Task::Arm, _) => 1e-3,
        (Task::Voltage, RlmpcMethod::Td) => 1e-3,
        (Task::Voltage, _) => 1e-4,
        _ => 1e-5,
    }
}

/// DiffOP's configuration of a job (also used for θ(0) and evaluations elsewhere).
pub fn diffop_config(task: Task, mode: Mode, seed: u64, scale: &Scale) -> TrainConfig {
    let mut c = TrainConfig::preset(task, mode, Preset::Default);
    c.seed = seed;
    if task == Task::Voltage {
        c.iterations = scale.voltage_iterations;
        c.eval_every = scale.voltage_eval_every;
        c.eval_scenarios = scale.eval_scenarios;
    } else {
        c.iterations = scale.nonlinear_iterations;
        c.eval_every = scale.nonlinear_eval_every;
    }
    c
}

/// A job that failed, with the reason.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct JobFailure {
    /// `task/method/seed<k>`.
    pub job: String,
    /// The error.
    pub error: String,
}

/// Run every job (in parallel; each job is deterministic, so the results do not depend on the
/// thread count), advancing `bar` by one per iteration. A failed job does not stop the others:
/// it is returned in the second list (and left out of the figures and tables). Each finished job
/// is reported above the bar or, with `lines` (no terminal), as a plain line on stderr.
pub fn run_jobs(
    jobs: &[Job],
    scale: &Scale,
    root: &Path,
    bar: &ProgressBar,
    lines: bool,
) -> (Vec<JobResult>, Vec<JobFailure>) {
    let total = jobs.len();
    let finished = std::sync::atomic::AtomicUsize::new(0);
    let say = |msg: String| {
        let k = finished.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        let msg = format!("[{k}/{total}] {msg}");
        if lines {
            use std::io::Write;
            let _ = writeln!(std::io::stderr().lock(), "{msg}");
        } else {
            bar.println(msg);
        }
    };
    let out: Vec<Result<JobResult, JobFailure>> = jobs
        .par_iter()
        .map(|job| {
            let name = format!("{}/{}/seed{}", job.task, job.method.name(), job.seed);
            match run_job(job, scale, root, bar) {
                Ok(res) => {
                    say(format!(
                        "done: {name} — final {} ({:.0} s)",
                        res.final_eval
                            .map_or("n/a".to_string(), |v| format!("{v:.4}")),
                        res.wall_time_s
                    ));
                    Ok(res)
                }
                Err(e) => {
                    say(format!("FAILED: {name}: {e}"));
                    Err(JobFailure {
                        job: name,
                        error: e.to_string(),
                    })
                }
            }
        })
        .collect();
    let mut ok = Vec::new();
    let mut failed = Vec::new();
    for r in out {
        match r {
            Ok(v) => ok.push(v),
            Err(f) => failed.push(f),
        }
    }
    (ok, failed)
}

fn run_job(
    job: &Job,
    scale: &Scale,
    root: &Path,
    bar: &ProgressBar,
) -> Result<JobResult, ExperimentError> {
    let dir = job.dir(root);
    let result_path = dir.join("result.json");
    if let Ok(text) = std::fs::read_to_string(&result_path) {
        if let Ok(r) = serde_json::from_str::<JobResult>(&text) {
            if r.iterations == job.units(scale) {
                bar.inc(job.units(scale) as u64);
                return Ok(r);
            }
        }
    }
    std::fs::create_dir_all(&dir).map_err(|e| ExperimentError::io(&dir, e))?;
    let start = Instant::now();
    let mut result = match job.method {
        Method::DiffopStep => run_diffop(job, Mode::Step, scale, &dir, bar)?,
        Method::DiffopTraj => run_diffop(job, Mode::Traj, scale, &dir, bar)?,
        Method::RlmpcTd => run_rlmpc(job, RlmpcMethod::Td, scale, &dir, bar)?,
        Method::RlmpcDpg => run_rlmpc(job, RlmpcMethod::Dpg, scale, &dir, bar)?,
        Method::PdpOffline if job.task == Task::Voltage => run_pdp_voltage(job, scale, &dir, bar)?,
        Method::PdpOffline => run_pdp(job, PdpParameterisation::TrueForm, scale, &dir, bar)?,
        Method::PdpTable1 => run_pdp(job, PdpParameterisation::Table1, scale, &dir, bar)?,
        Method::PdpDiffopStep => run_diffop(job, Mode::Step, scale, &dir, bar)?,
        Method::PdpDiffopTraj => run_diffop(job, Mode::Traj, scale, &dir, bar)?,
        Method::StableDdpg => run_ddpg_job(job, DdpgMethod::StableDdpg, scale, &dir, bar)?,
        Method::Tasrl => run_ddpg_job(job, DdpgMethod::Tasrl, scale, &dir, bar)?,
    };
    result.wall_time_s = start.elapsed().as_secs_f64();
    let json = serde_json::to_string_pretty(&result)?;
    write_atomic(&result_path, json.as_bytes())?;
    Ok(result)
}

fn curve_of(history: &[IterationRecord]) -> Vec<CurvePoint> {
    history
        .iter()
        .map(|r| CurvePoint {
            iteration: r.iteration,
            batch_mean_cost: r.batch_mean_cost,
            eval_cost: r.eval_cost,
            loss: None,
        })
        .collect()
}

fn run_diffop(
    job: &Job,
    mode: Mode,
    scale: &Scale,
    dir: &Path,
    bar: &ProgressBar,
) -> Result<JobResult, ExperimentError> {
    let mut config = diffop_config(job.task, mode, job.seed, scale);
    let pdp_init = matches!(job.method, Method::PdpDiffopStep | Method::PdpDiffopTraj);
    if pdp_init {
        config.init = InitMethod::Pdp;
        config.init_pdp_iterations = Some(scale.pdp_iterations(job.task));
    }
    let ckpt = dir.join("checkpoint.json");
    let done_before = Checkpoint::load(&ckpt)
        .map(|c| c.state.iteration)
        .unwrap_or(0);
    if pdp_init {
        bar.inc(scale.pdp_iterations(job.task) as u64);
    }
    bar.inc(done_before.min(config.iterations) as u64);
    let hook_bar = bar.clone();
    let options = RunOptions {
        out: dir.to_path_buf(),
        resume: ckpt.exists(),
        quiet: true,
        references: false,
        progress: Some(ProgressHook(Arc::new(move |_r| hook_bar.inc(1)))),
        stop_after: None,
    };
    let summary = run_training(&config, &options)?;
    let state = Checkpoint::load(&ckpt)?.exact_state()?;
    let fin = (summary.eval_cost, summary.transient, summary.steady);
    let theta0 = match state.history.first() {
        Some(first) if pdp_init => first.theta.clone(),
        _ => initial_theta(&config)?,
    };
    let mut result = online_result(
        job,
        summary.iterations,
        &state.history,
        fin,
        theta0,
        summary.theta,
    );
    if pdp_init {
        // Progress units and `result.json`'s completeness check count the PDP phase.
        result.iterations += scale.pdp_iterations(job.task);
    }
    Ok(result)
}

/// The result of an online method (DiffOP, RLMPC) from its history and final evaluation
/// (eval cost, transient, steady).
fn online_result(
    job: &Job,
    iterations: usize,
    history: &[IterationRecord],
    (final_eval, transient, steady): (Option<f64>, Option<f64>, Option<f64>),
    initial_theta: Vec<f64>,
    theta: Vec<f64>,
) -> JobResult {
    JobResult {
        task: job.task,
        method: job.method,
        seed: job.seed,
        iterations,
        curve: curve_of(history),
        initial_eval: history.first().and_then(|r| r.eval_cost),
        final_eval,
        transient,
        steady,
        initial_theta,
        theta,
        wall_time_s: 0.0,
    }
}

fn run_rlmpc(
    job: &Job,
    method: RlmpcMethod,
    scale: &Scale,
    dir: &Path,
    bar: &ProgressBar,
) -> Result<JobResult, ExperimentError> {
    let step = diffop_config(job.task, Mode::Step, job.seed, scale);
    let mut config = RlmpcConfig::new(job.task, method).with_alpha(rlmpc_alpha(job.task, method));
    config.seed = job.seed;
    config.iterations = step.iterations;
    config.eval_every = step.eval_every;
    config.eval_scenarios = step.eval_scenarios;
    let ckpt = dir.join("checkpoint.json");
    let done_before = RlmpcCheckpoint::load(&ckpt)
        .map(|c| c.state.iteration)
        .unwrap_or(0);
    bar.inc(done_before.min(config.iterations) as u64);
    let hook_bar = bar.clone();
    let options = RlmpcRunOptions {
        quiet: true,
        resume: ckpt.exists(),
        progress: Some(ProgressHook(Arc::new(move |_r| hook_bar.inc(1)))),
        ..RlmpcRunOptions::new(dir)
    };
    let summary = run_rlmpc_dir(&config, &options)?;
    let state = RlmpcCheckpoint::load(&ckpt)?.exact_state()?;
    let fin = (summary.eval_cost, summary.transient, summary.steady);
    let theta0 = initial_theta(&step)?;
    Ok(online_result(
        job,
        summary.iterations,
        &state.history,
        fin,
        theta0,
        summary.theta,
    ))
}

/// The learning curve of a PDP run: its imitation losses.
fn loss_curve(losses: &[f64]) -> Vec<CurvePoint> {
    losses
        .iter()
        .enumerate()
        .map(|(k, &loss)| CurvePoint {
            iteration: k,
            batch_mean_cost: None,
            eval_cost: None,
            loss: Some(loss),
        })
        .collect()
}

/// Whether a PDP job writes its checkpoint after iteration `done` of `iterations`.
fn pdp_checkpoint_due(done: usize, iterations: usize) -> bool {
    done % PDP_CHECKPOINT_EVERY == 0 || done == iterations
}

fn run_pdp(
    job: &Job,
    parameterisation: PdpParameterisation,
    scale: &Scale,
    dir: &Path,
    bar: &ProgressBar,
) -> Result<JobResult, ExperimentError> {
    let task =
        job.task
            .nonlinear()
            .ok_or(ExperimentError::Config(OptionsError::NeedsNonlinear(
                "nonlinear PDP",
            )))?;
    let iterations = scale.pdp_iterations(job.task);
    let settings = PdpSettings {
        seed: job.seed,
        iterations,
        parameterisation,
        ..PdpSettings::for_task(task)
    };
    let ckpt = dir.join("checkpoint.json");
    let mut pdp = if ckpt.exists() {
        Pdp::resume(task, settings, &PdpCheckpoint::load(&ckpt)?)?
    } else {
        Pdp::new(task, settings)?
    };
    bar.inc(pdp.iteration() as u64);
    while pdp.iteration() < iterations {
        pdp.step()?;
        bar.inc(1);
        if pdp_checkpoint_due(pdp.iteration(), iterations) {
            pdp.checkpoint().save(&ckpt)?;
        }
    }
    let final_eval = pdp.evaluate()?;
    Ok(JobResult {
        task: job.task,
        method: job.method,
        seed: job.seed,
        iterations,
        curve: loss_curve(pdp.losses()),
        initial_eval: None,
        final_eval: Some(final_eval),
        transient: None,
        steady: None,
        initial_theta: pdp.initial_theta().to_vec(),
        theta: pdp.theta().to_vec(),
        wall_time_s: 0.0,
    })
}

fn run_pdp_voltage(
    job: &Job,
    scale: &Scale,
    dir: &Path,
    bar: &ProgressBar,
) -> Result<JobResult, ExperimentError> {
    let iterations = scale.voltage_pdp_iterations;
    let settings = VoltagePdpSettings {
        seed: job.seed,
        iterations,
        ..VoltagePdpSettings::default()
    };
    let ckpt = dir.join("checkpoint.json");
    let mut pdp = if ckpt.exists() {
        VoltagePdp::resume(settings, &PdpCheckpoint::load(&ckpt)?)?
    } else {
        VoltagePdp::new(settings)?
    };
    bar.inc(pdp.iteration() as u64);
    while pdp.iteration() < iterations {
        pdp.step()?;
        bar.inc(1);
        if pdp_checkpoint_due(pdp.iteration(), iterations) {
            pdp.checkpoint().save(&ckpt)?;
        }
    }
    let eval = pdp.evaluate(scale.eval_scenarios)?;
    Ok(JobResult {
        task: job.task,
        method: job.method,
        seed: job.seed,
        iterations,
        curve: loss_curve(pdp.losses()),
        initial_eval: None,
        final_eval: Some(eval.cost),
        transient: eval.transient,
        steady: eval.steady,
        initial_theta: pdp.initial_theta().to_vec(),
        theta: pdp.theta().to_vec(),
        wall_time_s: 0.0,
    })
}

/// A Stable-DDPG / TASRL job: a fresh run of `scale.ddpg_episodes` episodes (a few seconds; an
/// interrupted one starts again), evaluated on the scale's test scenarios. Its curve is the
/// cost of every training episode; its θ lists are empty (the networks are in the job
/// directory's `checkpoint.json`).
fn run_ddpg_job(
    job: &Job,
    method: DdpgMethod,
    scale: &Scale,
    dir: &Path,
    bar: &ProgressBar,
) -> Result<JobResult, ExperimentError> {
    if job.task != Task::Voltage {
        return Err(ExperimentError::Config(OptionsError::NeedsVoltage(
            job.method.label(),
        )));
    }
    let config = DdpgConfig {
        seed: job.seed,
        episodes: scale.ddpg_episodes(method),
        eval_scenarios: scale.eval_scenarios,
        ..DdpgConfig::new(method)
    };
    let ckpt = dir.join("checkpoint.json");
    if ckpt.exists() {
        std::fs::remove_file(&ckpt).map_err(|e| ExperimentError::io(&ckpt, e))?;
    }
    let hook_bar = bar.clone();
    let options = DdpgRunOptions {
        quiet: true,
        checkpoint_every: config.episodes,
        progress: Some(Arc::new(move |_r: &DdpgEpisode| hook_bar.inc(1))),
        ..DdpgRunOptions::new(dir)
    };
    let summary = run_ddpg(&config, &options).map_err(LearnError::from)?;
    let csv = dir.join("metrics.csv");
    let text = std::fs::read_to_string(&csv).map_err(|e| ExperimentError::io(&csv, e))?;
    let curve = text
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let episode = f.first()?.parse::<usize>().ok()?;
            Some(CurvePoint {
                iteration: episode + 1,
                batch_mean_cost: f.get(5)?.parse().ok(),
                eval_cost: None,
                loss: None,
            })
        })
        .collect();
    Ok(JobResult {
        task: job.task,
        method: job.method,
        seed: job.seed,
        iterations: summary.episodes,
        curve,
        initial_eval: None,
        final_eval: Some(summary.transient),
        transient: Some(summary.transient),
        steady: Some(summary.steady),
        initial_theta: Vec::new(),
        theta: Vec::new(),
        wall_time_s: 0.0,
    })
}
