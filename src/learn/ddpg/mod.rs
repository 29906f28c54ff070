//! Stable-DDPG and TASRL, trained by diffop: independent per-bus DDPG with a monotone policy
//! (`docs/spec/ALGORITHMS.md` §12 and §12.1; Table 2 of the paper).
//!
//! Each controlled bus i has its own agent: a monotone actor u = π_i(v_i, q_i) (breakpoints ξ,
//! slopes ρ, dead-band [0.955, 1.045]; [`monotone`]), a critic Q_i(v_i, q_i′) on the cumulative
//! set-point q′ = q + u (an MLP 2 → 100 → 100 → 1 with hand-written backpropagation; [`mlp`]),
//! target copies, Adam ([`adam`]) and a replay buffer ([`replay`]). The two Table-2 methods
//! differ only in the execution rule of the actor:
//!
//! ```text
//! Stable-DDPG  u = α [ tanh(g⁺(v))(q̲ − q) − tanh(g⁻(v))(q̄ − q) ]
//! TASRL        u = clip( 0.98α [ … ] − (C_i q + v² − 1),  α(q̲ − q),  α(q̄ − q) )
//! ```
//!
//! Files: [`monotone`] (the policy and its closed-form gradient), [`mlp`] (the critic),
//! [`adam`] (Adam, soft updates), [`replay`] (buffer, batches without replacement), [`agent`]
//! (one critic-then-actor update), [`config`] (settings of §12.1), [`trainer`] (episodes,
//! early end and abort rules, local rewards, random streams), [`controller`] (the evaluation
//! controller), [`run`] (run directories and checkpoints for `diffop baseline`).

pub mod adam;
pub mod agent;
pub mod config;
pub mod controller;
pub mod mlp;
pub mod monotone;
pub mod replay;
pub mod run;
pub mod trainer;

pub use agent::{Agent, BusContext, UpdateLosses, UpdateSettings};
pub use config::{DdpgConfig, DdpgMethod};
pub use controller::DdpgController;
pub use mlp::{Mlp, MlpWork};
pub use monotone::{BusInput, ExecutionRule, MonotoneLayer};
pub use replay::{ReplayBuffer, Transition};
pub use run::{is_ddpg_run, run_ddpg, DdpgCheckpoint, DdpgRunOptions, DdpgSummary};
pub use trainer::{DdpgEpisode, DdpgState, DdpgTrainer, EpisodeEnd};

use thiserror::Error;

/// Errors of the DDPG baselines.
#[derive(Debug, Error)]
pub enum DdpgError {
    /// Invalid settings (the message names the field).
    #[error("invalid DDPG configuration: {0}")]
    Config(String),
    /// Mismatched dimensions of networks or inputs.
    #[error("shape: {0}")]
    Shape(String),
    /// A value became NaN or infinite.
    #[error("{0} not finite")]
    NonFinite(&'static str),
    /// A degenerate parameter (e.g. no positive breakpoint left to normalise).
    #[error("degenerate parameters: {0}")]
    Degenerate(String),
    /// The plant failed in a way that is not an episode end.
    #[error(transparent)]
    Env(#[from] crate::envs::EnvError),
    /// The evaluation failed.
    #[error("evaluation failed: {0}")]
    Evaluation(String),
    /// A checkpoint is unusable.
    #[error("checkpoint: {0}")]
    Checkpoint(String),
    /// File-system error.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Serialisation error.
    #[error("{0}")]
    Format(String),
}
