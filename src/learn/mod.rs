//! DiffOP training: Algorithm 1 of the paper (`docs/spec/ALGORITHMS.md` §5–6, §14).
//!
//! Per iteration k, N trajectories are collected with the current θ⁽ᵏ⁾. At every decision time
//! t the policy solves its OCP from x_t, the executed actions are sampled around the plan,
//! u_{t+i} = u*_i + ε_i with ε truncated Gaussian (§4), and one adjoint solve gives the
//! decision's score contribution
//!
//! ```text
//! s_dec = (∇_θ u*_{0:h−1})ᵀ (u_{t:t+h−1} − u*_{0:h−1}) / σ²        (§6.2)
//! s_n   = Σ_decisions s_dec,      L_n = true episode cost of trajectory n
//! ```
//!
//! The gradient estimate and the update are (paper eq. 8 and Algorithm 1)
//!
//! ```text
//! ĝ = (1/N) Σ_n w_n s_n
//!   w_n = (L_n − b_n)/L_ref,  b_n = (1/(N−1)) Σ_{m≠n} L_m,  L_ref = max(|mean L at k = 0|, 1e-8)
//!                                                                      (default preset)
//!   w_n = L_n                                                          (paper_faithful)
//! θ⁽ᵏ⁺¹⁾ = Π(θ⁽ᵏ⁾ − η ĝ)      Π clamps θ_f ≥ 0.05 (nonlinear tasks), identity for voltage.
//! ```
//!
//! Options ([`TrainConfig`]): the deterministic-rollout baseline b_n = L(τ_n; σ = 0) from the
//! same start; Adam instead of plain descent; ‖ĝ‖ clipping; a cosine schedule
//! η_k = η_K + ½(η − η_K)(1 + cos(πk/K)); and causal ("reward-to-go") weights, which replace
//! w_n s_n by Σ_t (G_{n,t} − b_{n,t})/L_ref · s_{n,t} with G_t = Σ_{τ≥t} c_τ the cost from step t
//! on and s_{n,t} the score of the action executed at t (unbiased: the costs before t do not
//! depend on the noise at t).
//!
//! Files: [`config`] (the validated [`TrainConfig`] and presets), [`trainer`] (rollouts and the
//! update), [`optimizer`] (SGD, Adam, clipping), [`evaluate`] (deterministic evaluation and
//! reference controllers), [`pdp`] and [`pdp_voltage`] (the PDP (Offline) baseline), [`rlmpc`] (the RLMPC-TD and RLMPC-DPG baselines), [`checkpoint`] (exact, atomic checkpoints), [`run`] (run
//! directories, CSV/JSON/plots, progress bar), [`plot`] (learning curves).
//!
//! **Reproducibility.** Trajectory j (a counter over every attempted training trajectory of the
//! run, saved in checkpoints) draws its initial state and its exploration noise from the
//! ChaCha8 streams [`crate::rng::Stream::InitialState`] and [`crate::rng::Stream::Exploration`]
//! of the run seed, switched to ChaCha stream number j (`set_stream(j)`); the voltage task resets
//! to scenario seed 10000 + j. Results are therefore bit-identical for any thread count, and a
//! resumed run equals an uninterrupted one.

mod batch;
pub mod checkpoint;
pub mod config;
pub mod ddpg;
pub mod evaluate;
pub mod optimizer;
pub mod pdp;
pub mod pdp_voltage;
#[cfg(feature = "plot")]
pub mod plot;
mod progress;
pub mod rlmpc;
pub mod run;
pub mod trainer;

pub use checkpoint::Checkpoint;
pub use config::{Baseline, Mode, OptimizerConfig, Preset, Task, TrainConfig};
pub use evaluate::{evaluate_theta, theta_for, ControllerKind, EvalOutcome};
pub use run::{run_training, RunOptions, RunSummary};
pub use trainer::{IterationRecord, TrainState, Trainer};

use thiserror::Error;

/// A recoverable failure of one episode or evaluation: a failed solve or sensitivity, a
/// diverged plant. Training discards and redraws such an episode; an evaluation records it.
#[derive(Debug, Error)]
pub enum Failure {
    /// The policy's solve or sensitivity failed.
    #[error("{0}")]
    Policy(crate::policy::PolicyError),
    /// The plant diverged (power flow, non-finite state).
    #[error("plant failed: {0}")]
    Plant(crate::envs::EnvError),
    /// The voltage evaluation failed on one scenario.
    #[error("{0}")]
    Voltage(Box<crate::envs::voltage::metrics::EvalError<crate::policy::PolicyError>>),
    /// Exploring episode j failed.
    #[error("episode {episode} failed: {source}")]
    Episode {
        /// Episode (stream) index j.
        episode: u64,
        /// Why.
        source: Box<Failure>,
    },
}

fn display_last(last: &Option<Box<Failure>>) -> String {
    last.as_ref()
        .map_or_else(|| "none".into(), |f| f.to_string())
}

/// Why a checkpoint cannot be used (DiffOP, RLMPC and PDP runs).
#[derive(Debug, Error)]
pub enum CheckpointError {
    /// The format version is not this build's.
    #[error("format version {found} is not supported (expected {expected})")]
    Version {
        /// Version in the file.
        found: u32,
        /// Version this build reads.
        expected: u32,
    },
    /// The checkpoint belongs to another task.
    #[error("the checkpoint is of task `{found}`, not `{expected}`")]
    Task {
        /// Task in the file.
        found: String,
        /// Task of the run.
        expected: String,
    },
    /// The run's settings differ from the checkpoint's in more than the resumable fields.
    #[error(
        "the checkpoint was written with different {kind} settings (differing: {}); only \
         {resumable} may change on resume",
        .differing.join(", ")
    )]
    Settings {
        /// Which learner ("PDP", "RLMPC", …).
        kind: &'static str,
        /// The differing fields.
        differing: Vec<String>,
        /// The fields that may change.
        resumable: &'static str,
    },
    /// The checkpoint is further than the configured number of iterations.
    #[error("the checkpoint is at iteration {at}, beyond the configured {limit} iterations")]
    Iteration {
        /// Iterations done in the checkpoint.
        at: usize,
        /// Iterations configured.
        limit: usize,
    },
    /// θ (or another vector) has the wrong length or non-finite entries.
    #[error("{what} needs {expected} finite entries, the checkpoint has {got}")]
    Theta {
        /// The vector.
        what: &'static str,
        /// Entries expected.
        expected: usize,
        /// Entries in the checkpoint.
        got: usize,
    },
    /// Two parts of the file that must agree do not.
    #[error("{what} ({found} against {expected})")]
    Inconsistent {
        /// What disagrees, e.g. "the state and its exact copy differ in length".
        what: &'static str,
        /// One count.
        found: usize,
        /// The other.
        expected: usize,
    },
    /// The file is not valid JSON of the expected shape.
    #[error("{path}: corrupt JSON: {source}")]
    Json {
        /// The file ("" for text not read from a file).
        path: String,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Errors of the learning layer.
#[derive(Debug, Error)]
pub enum LearnError {
    /// The configuration is invalid (message names the field).
    #[error("invalid training configuration: {0}")]
    Config(String),
    /// The PDP (Offline) imitation phase of `init = "pdp"` failed.
    #[error("PDP initialisation (init = \"pdp\"): {0}")]
    PdpInit(Box<crate::learn::pdp::PdpError>),
    /// Too many failed trajectories in one batch.
    #[error(
        "iteration {iteration}: {failed} of {attempts} trajectory attempts failed \
         (more than the allowed fraction {max_fraction}); last failure: {}",
        display_last(last)
    )]
    TooManyFailures {
        /// Iteration k.
        iteration: usize,
        /// Failed attempts.
        failed: usize,
        /// All attempts.
        attempts: usize,
        /// Allowed fraction.
        max_fraction: f64,
        /// The last failure.
        last: Option<Box<Failure>>,
    },
    /// A deterministic evaluation failed (solve failure or plant divergence).
    #[error("evaluation failed: {0}")]
    Evaluation(Failure),
    /// A policy error that is not a recoverable solve failure (misuse, dimensions).
    #[error(transparent)]
    Policy(#[from] crate::policy::PolicyError),
    /// An environment error that is not a recoverable divergence.
    #[error(transparent)]
    Env(#[from] crate::envs::EnvError),
    /// The exploration settings are invalid.
    #[error(transparent)]
    Sampler(#[from] crate::policy::sampler::SamplerError),
    /// θ is invalid (projection).
    #[error(transparent)]
    Init(#[from] crate::model::tasks::init::InitError),
    /// The gradient or θ became non-finite.
    #[error("iteration {iteration}: {what} is not finite")]
    NonFinite {
        /// Iteration k.
        iteration: usize,
        /// What became non-finite.
        what: &'static str,
    },
    /// A checkpoint is unusable (wrong version, incompatible configuration, corrupt).
    #[error("checkpoint: {0}")]
    Checkpoint(String),
    /// File-system error with the path involved.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Serialisation error (TOML, JSON, CSV).
    #[error("{0}")]
    Format(String),
    /// The run directory cannot be used (it holds files that are not a run's).
    #[error("run directory `{path}` {reason}")]
    OutDir {
        /// The directory.
        path: String,
        /// Why.
        reason: String,
    },
    /// The run stopped on request (`RunOptions::stop_after`) with a resumable checkpoint.
    #[error("stopped after iteration {iteration} as requested; continue with --resume")]
    Stopped {
        /// Iterations done.
        iteration: usize,
    },
    /// A Stable-DDPG / TASRL baseline failed.
    #[error(transparent)]
    Ddpg(#[from] ddpg::DdpgError),
    /// The rayon thread pool could not be built.
    #[error("thread pool: {0}")]
    ThreadPool(#[from] rayon::ThreadPoolBuildError),
}

impl LearnError {
    /// An I/O error at `path`.
    pub fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        LearnError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}
