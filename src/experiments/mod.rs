//! The paper's experiments, regenerated with one call (`docs/spec/RESULTS.md` §6–7, §9).
//!
//! * **Figure 2** ([`figure2`]): control cost against training iteration on the cart-pole, the
//!   robot arm and the quadrotor for DiffOP (Step), DiffOP (Traj), RLMPC-TD and RLMPC-DPG (mean
//!   over the run seeds and the 20th–80th percentile band), PDP (Offline) as horizontal lines
//!   (PDP's own parameterisation, and DiffOP's Table-1 parameterisation from DiffOP's θ(0)) and
//!   the optimal open-loop cost as a dotted line.
//! * **Table 2** ([`table2`]): transient and steady-state cost over the voltage test scenarios
//!   for every implemented method, the gradient-flow controller, the untrained policy and the
//!   published rows (marked as such).
//! * **Figure 3** ([`figure3`]): voltage and reactive-power trajectories of DiffOP (Step) and
//!   DiffOP (Traj) before and after training, safe band shaded.
//!
//! Every (task, method, run seed) is a job with its own directory under `OUT/runs/`, run in
//! parallel with rayon. Jobs are deterministic, so results do not depend on the thread count; a
//! reproduction that is interrupted and started again with the same options continues where it
//! stopped (DiffOP jobs from their checkpoints; finished jobs are read back).
//!
//! [`Scale::full`] is the protocol of the spec (K = 500 iterations on the nonlinear tasks,
//! 10,000 voltage training trajectories, PDP with its published iteration counts);
//! [`Scale::quick`] is a smoke-test version that runs in a few minutes.

pub mod figure2;
pub mod figure3;
pub mod jobs;
pub mod plot;
pub mod stats;
pub mod table2;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::{Deserialize, Serialize};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use thiserror::Error;

use crate::learn::pdp::PdpError;
use crate::learn::{LearnError, Task};
pub use jobs::{Job, JobFailure, JobResult, Method};

/// What is wrong with the options of a reproduction.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum OptionsError {
    /// The artefact name is not known.
    #[error("unknown artefact `{0}`; expected figure2, table2, figure3 or all")]
    UnknownArtefact(String),
    /// A count or period is zero.
    #[error("{0} must be at least 1")]
    Zero(&'static str),
    /// Something defined only for the nonlinear tasks was asked of the voltage task.
    #[error("{0} needs a nonlinear task")]
    NeedsNonlinear(&'static str),
    /// A voltage-only baseline (Stable-DDPG, TASRL) was asked for a nonlinear task.
    #[error("{0} is a voltage baseline (Table 2); it has no nonlinear task")]
    NeedsVoltage(&'static str),
    /// Figure 2 was asked for the voltage task.
    #[error("Figure 2 covers the nonlinear tasks; the voltage task is Table 2")]
    VoltageInFigure2,
    /// An artefact's input runs are missing.
    #[error("{0} needs the DiffOP voltage runs")]
    MissingRuns(&'static str),
}

/// Errors of the experiments.
#[derive(Debug, Error)]
pub enum ExperimentError {
    /// Training or evaluation failed.
    #[error(transparent)]
    Learn(#[from] LearnError),
    /// PDP failed.
    #[error(transparent)]
    Pdp(#[from] PdpError),
    /// A file could not be written or read.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A figure could not be drawn.
    #[error("plot failed: {0}")]
    Plot(String),
    /// Serialisation failed.
    #[error("format error: JSON: {0}")]
    Format(#[from] serde_json::Error),
    /// Invalid options.
    #[error("invalid reproduction options: {0}")]
    Config(OptionsError),
    /// A reference evaluation or simulation failed.
    #[error("{what}: {source}")]
    Evaluation {
        /// What was evaluated (e.g. "scenario 3").
        what: String,
        /// Why it failed.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl ExperimentError {
    /// An I/O error at `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

/// What to regenerate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Artefact {
    /// Figure 2 (nonlinear tasks).
    Figure2,
    /// Table 2 (voltage).
    Table2,
    /// Figure 3 (voltage trajectories).
    Figure3,
    /// Everything.
    All,
}

impl FromStr for Artefact {
    type Err = ExperimentError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "figure2" => Ok(Self::Figure2),
            "table2" => Ok(Self::Table2),
            "figure3" => Ok(Self::Figure3),
            "all" => Ok(Self::All),
            _ => Err(ExperimentError::Config(OptionsError::UnknownArtefact(
                s.to_string(),
            ))),
        }
    }
}

/// Iteration counts and evaluation sizes of a reproduction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scale {
    /// Iterations K of every online method on the nonlinear tasks (500).
    pub nonlinear_iterations: usize,
    /// Evaluate the deterministic policy every this many iterations (10).
    pub nonlinear_eval_every: usize,
    /// Iterations of every online method on the voltage task (1000: 10,000 trajectories).
    pub voltage_iterations: usize,
    /// Voltage evaluation period (250).
    pub voltage_eval_every: usize,
    /// Voltage test scenarios (500).
    pub eval_scenarios: usize,
    /// PDP iterations on the cart-pole, arm, quadrotor, rocket (10⁴, 10⁴, 10⁴, 5·10³).
    pub pdp_nonlinear: [usize; 4],
    /// PDP iterations on the voltage task (2000).
    pub voltage_pdp_iterations: usize,
}

impl Scale {
    /// The protocol of the spec.
    pub fn full() -> Self {
        Self {
            nonlinear_iterations: 500,
            nonlinear_eval_every: 10,
            voltage_iterations: 1000,
            voltage_eval_every: 250,
            eval_scenarios: 500,
            pdp_nonlinear: [10_000, 10_000, 10_000, 5_000],
            voltage_pdp_iterations: 2000,
        }
    }

    /// A smoke test: a handful of iterations and 20 voltage test scenarios.
    pub fn quick() -> Self {
        Self {
            nonlinear_iterations: 4,
            nonlinear_eval_every: 2,
            voltage_iterations: 4,
            voltage_eval_every: 2,
            eval_scenarios: 20,
            pdp_nonlinear: [5, 5, 5, 5],
            voltage_pdp_iterations: 5,
        }
    }

    /// Training episodes of a Stable-DDPG / TASRL job: the method's default (500 / 800,
    /// `ALGORITHMS.md` §12.1), capped at `voltage_iterations` so that reduced scales
    /// ([`Scale::quick`]) stay small.
    pub fn ddpg_episodes(&self, method: crate::learn::ddpg::DdpgMethod) -> usize {
        method.default_episodes().min(self.voltage_iterations)
    }

    /// PDP iterations of a nonlinear task.
    pub fn pdp_iterations(&self, task: Task) -> usize {
        match task {
            Task::Cartpole => self.pdp_nonlinear[0],
            Task::Arm => self.pdp_nonlinear[1],
            Task::Quadrotor => self.pdp_nonlinear[2],
            Task::Rocket => self.pdp_nonlinear[3],
            Task::Voltage => self.voltage_pdp_iterations,
        }
    }

    fn validate(&self) -> Result<(), ExperimentError> {
        let bad = |w| Err(ExperimentError::Config(OptionsError::Zero(w)));
        if self.nonlinear_iterations == 0 || self.voltage_iterations == 0 {
            return bad("iterations");
        }
        if self.nonlinear_eval_every == 0 || self.voltage_eval_every == 0 {
            return bad("the evaluation period");
        }
        if self.eval_scenarios == 0 {
            return bad("eval_scenarios");
        }
        Ok(())
    }
}

/// Options of a reproduction.
#[derive(Clone, Debug)]
pub struct ReproduceOptions {
    /// Results folder.
    pub out: PathBuf,
    /// Run seeds 0 … seeds−1 per method (5).
    pub seeds: usize,
    /// Iteration counts.
    pub scale: Scale,
    /// Nonlinear tasks of Figure 2 (default: cart-pole, arm, quadrotor).
    pub tasks: Vec<Task>,
    /// No progress bar.
    pub quiet: bool,
}

impl ReproduceOptions {
    /// Defaults: 5 seeds, the full scale, Figure 2's three tasks.
    pub fn new(out: PathBuf) -> Self {
        Self {
            out,
            seeds: 5,
            scale: Scale::full(),
            tasks: vec![Task::Cartpole, Task::Arm, Task::Quadrotor],
            quiet: false,
        }
    }
}

/// Files written by a reproduction.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ReproduceReport {
    /// Every file written, relative to the results folder.
    pub files: Vec<String>,
    /// Acceptance checks (`docs/spec/RESULTS.md` §9): (description, passed).
    pub checks: Vec<(String, bool)>,
    /// Jobs that failed (left out of the figures and tables).
    pub failures: Vec<jobs::JobFailure>,
}

/// Regenerate `artefact` into `options.out`.
pub fn reproduce(
    artefact: Artefact,
    options: &ReproduceOptions,
) -> Result<ReproduceReport, ExperimentError> {
    options.scale.validate()?;
    if options.seeds == 0 {
        return Err(ExperimentError::Config(OptionsError::Zero("--seeds")));
    }
    if options.tasks.contains(&Task::Voltage) {
        return Err(ExperimentError::Config(OptionsError::VoltageInFigure2));
    }
    std::fs::create_dir_all(&options.out).map_err(|e| ExperimentError::io(&options.out, e))?;
    let seeds: Vec<u64> = (0..options.seeds as u64).collect();
    let want = |a: Artefact| artefact == a || artefact == Artefact::All;
    let mut jobs = Vec::new();
    if want(Artefact::Figure2) {
        jobs.extend(figure2::jobs(&options.tasks, &seeds));
    }
    if want(Artefact::Table2) {
        jobs.extend(table2::jobs(&seeds));
    } else if want(Artefact::Figure3) {
        jobs.extend(figure3::jobs(&seeds));
    }
    let total: usize = jobs.iter().map(|j| j.units(&options.scale)).sum();
    let tty = std::io::stderr().is_terminal();
    let bar = progress_bar(total, !options.quiet && tty);
    // Without a terminal (a log file, CI), one plain line per finished job.
    let lines = !options.quiet && !tty;
    let (results, failures) = jobs::run_jobs(&jobs, &options.scale, &options.out, &bar, lines);
    bar.finish_and_clear();
    let mut report = ReproduceReport {
        failures,
        ..ReproduceReport::default()
    };
    if want(Artefact::Figure2) {
        figure2::write(&options.out, &options.tasks, &results, &mut report)?;
    }
    if want(Artefact::Table2) {
        table2::write(&options.out, &options.scale, &results, &mut report)?;
    }
    if want(Artefact::Figure3) {
        figure3::write(&options.out, &options.scale, &results, &mut report)?;
    }
    let json = serde_json::to_string_pretty(&report)?;
    write_file(&options.out, "report.json", &json, &mut report)?;
    Ok(report)
}

/// Write `text` to `root/rel` atomically and record it in the report.
pub(crate) fn write_file(
    root: &Path,
    rel: &str,
    text: &str,
    report: &mut ReproduceReport,
) -> Result<(), ExperimentError> {
    let path = root.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| ExperimentError::io(parent, e))?;
    }
    crate::learn::checkpoint::write_atomic(&path, text.as_bytes())?;
    if !report.files.iter().any(|f| f == rel) {
        report.files.push(rel.to_string());
    }
    Ok(())
}

fn progress_bar(total: usize, visible: bool) -> ProgressBar {
    if !visible {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} iterations (all jobs)  ETA {eta}",
    ) {
        bar.set_style(style);
    }
    bar
}
