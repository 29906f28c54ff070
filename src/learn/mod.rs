//! DiffOP training: Algorithm 1 of the paper (`ALGORITHMS.md` §5–6, §14).
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
pub mod plot;
pub mod rlmpc;
pub mod run;
pub mod trainer;

pub use checkpoint::Checkpoint;
pub use config::{Baseline, Mode, OptimizerConfig, Preset, Task, TrainConfig};
pub use evaluate::{evaluate_theta, theta_for, ControllerKind, EvalOutcome};
pub use run::{run_training, RunOptions, RunSummary};
pub use trainer::{IterationRecord, TrainState, Trainer};

use thiserror::Error;

/// Errors of the learning layer.
#[derive(Debug, Error)]
pub enum LearnError {
    /// The configuration is invalid (message names the field).
    #[error("invalid training configuration: {0}")]
    Config(String),
    /// Too many failed trajectories in one batch.
    #[error(
        "iteration {iteration}: {failed} of {attempts} trajectory attempts failed \
         (more than the allowed fraction {max_fraction}); last failure: {last}"
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
        /// Description of the last failure.
        last: String,
    },
    /// A deterministic evaluation failed (solve failure or plant divergence).
    #[error("evaluation failed: {0}")]
    Evaluation(String),
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
    /// A Stable-DDPG / TASRL baseline failed.
    #[error(transparent)]
    Ddpg(#[from] ddpg::DdpgError),
    /// The rayon thread pool could not be built.
    #[error("thread pool: {0}")]
    ThreadPool(String),
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
