//! Checkpoints of the RLMPC baselines: the configuration and everything [`Rlmpc::step`] depends
//! on (θ, the iteration and episode-attempt counters, the history, the last LSTD critic, the
//! accumulated wall time), so that a resumed run continues bit-identically.
//!
//! RLMPC has no optimiser state (plain projected steps), and the exploration noise of episode
//! attempt j is a function of (run seed, j) alone, so the counters are the whole random state.
//! As in DiffOP's [`crate::learn::checkpoint`], JSON keeps readable copies of every number and
//! the values are restored from their stored IEEE-754 bit patterns.

use nalgebra::DVector;
use serde::{Deserialize, Serialize};
use std::path::Path;

use super::{Rlmpc, RlmpcConfig};
use crate::learn::checkpoint::{
    bits, differing_fields, exact_history, restore_history, unbits, write_atomic, ExactRecord,
};
use crate::learn::rlmpc::LstdSolution;
use crate::learn::trainer::IterationRecord;
use crate::learn::LearnError;

/// Format version of [`RlmpcCheckpoint`].
pub const RLMPC_CHECKPOINT_VERSION: u32 = 1;

/// The LSTD critic weights (v, w) of the last DPG update.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CriticWeights {
    /// Value weights v.
    pub v: Vec<f64>,
    /// Advantage weights w.
    pub w: Vec<f64>,
}

impl From<&LstdSolution> for CriticWeights {
    fn from(s: &LstdSolution) -> Self {
        Self {
            v: s.v.as_slice().to_vec(),
            w: s.w.as_slice().to_vec(),
        }
    }
}

impl From<&CriticWeights> for LstdSolution {
    fn from(c: &CriticWeights) -> Self {
        Self {
            v: DVector::from_column_slice(&c.v),
            w: DVector::from_column_slice(&c.w),
        }
    }
}

/// The mutable state of an [`Rlmpc`] learner.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RlmpcState {
    /// Current θ⁽ᵏ⁾.
    pub theta: Vec<f64>,
    /// Next iteration k.
    pub iteration: usize,
    /// Episode attempts so far (the next one is number j = `episodes`).
    pub episodes: u64,
    /// Every record so far.
    pub history: Vec<IterationRecord>,
    /// The LSTD critic of the last DPG update (None for TD or before the first update).
    pub last_critic: Option<CriticWeights>,
    /// Accumulated wall time \[s\].
    pub elapsed_s: f64,
}

/// Exact bit patterns of the floating-point parts of an [`RlmpcState`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct ExactState {
    theta: Vec<u64>,
    history: Vec<ExactRecord>,
    critic_v: Option<Vec<u64>>,
    critic_w: Option<Vec<u64>>,
    elapsed_s: u64,
}

/// A saved RLMPC run (`DIR/checkpoint.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RlmpcCheckpoint {
    /// Format version.
    pub version: u32,
    /// The configuration of the run.
    pub config: RlmpcConfig,
    /// The learner state (readable; [`RlmpcCheckpoint::exact_state`] restores the exact one).
    pub state: RlmpcState,
    exact: ExactState,
}

/// Settings that may change on resume without changing θ: the budget K and the evaluation
/// schedule.
fn normalised(c: &RlmpcConfig) -> RlmpcConfig {
    let mut c = c.clone();
    c.iterations = 0;
    c.eval_every = 0;
    c
}

impl RlmpcCheckpoint {
    /// Capture a learner.
    pub fn new(learner: &Rlmpc) -> Self {
        let state = learner.state();
        let critic = state.last_critic.as_ref();
        Self {
            version: RLMPC_CHECKPOINT_VERSION,
            config: learner.config().clone(),
            exact: ExactState {
                theta: bits(&state.theta),
                history: exact_history(&state.history),
                critic_v: critic.map(|c| bits(&c.v)),
                critic_w: critic.map(|c| bits(&c.w)),
                elapsed_s: state.elapsed_s.to_bits(),
            },
            state,
        }
    }

    /// The state with its exact values restored.
    pub fn exact_state(&self) -> Result<RlmpcState, LearnError> {
        if self.version != RLMPC_CHECKPOINT_VERSION {
            return Err(LearnError::Checkpoint(format!(
                "RLMPC checkpoint format version {} is not supported (expected \
                 {RLMPC_CHECKPOINT_VERSION})",
                self.version
            )));
        }
        let mut s = self.state.clone();
        if self.exact.theta.len() != s.theta.len() {
            return Err(LearnError::Checkpoint(
                "θ and its exact copy differ in length".into(),
            ));
        }
        s.theta = unbits(&self.exact.theta);
        s.history = restore_history(&s.history, &self.exact.history)?;
        s.last_critic = match (&s.last_critic, &self.exact.critic_v, &self.exact.critic_w) {
            (None, None, None) => None,
            (Some(c), Some(v), Some(w)) if c.v.len() == v.len() && c.w.len() == w.len() => {
                Some(CriticWeights {
                    v: unbits(v),
                    w: unbits(w),
                })
            }
            _ => {
                return Err(LearnError::Checkpoint(
                    "the critic and its exact copy do not match".into(),
                ))
            }
        };
        s.elapsed_s = f64::from_bits(self.exact.elapsed_s);
        Ok(s)
    }

    /// Check that this checkpoint can continue a run of `config`: the same format version and
    /// the same configuration up to the iteration budget K and `eval_every`. The error names
    /// the fields that differ.
    pub fn check_compatible(&self, config: &RlmpcConfig) -> Result<(), LearnError> {
        if self.version != RLMPC_CHECKPOINT_VERSION {
            return Err(LearnError::Checkpoint(format!(
                "RLMPC checkpoint format version {} is not supported (expected \
                 {RLMPC_CHECKPOINT_VERSION})",
                self.version
            )));
        }
        let (saved, wanted) = (normalised(&self.config), normalised(config));
        if saved != wanted {
            return Err(LearnError::Checkpoint(format!(
                "the checkpoint was written with a different RLMPC configuration (differing: \
                 {}); only iterations and eval_every may change on resume",
                differing_fields(&saved, &wanted).join(", ")
            )));
        }
        Ok(())
    }

    /// A learner that continues this checkpoint under `config` (which must be compatible, see
    /// [`RlmpcCheckpoint::check_compatible`]; its K may be larger than the checkpoint's).
    pub fn resume(&self, config: RlmpcConfig) -> Result<Rlmpc, LearnError> {
        self.check_compatible(&config)?;
        Rlmpc::from_state(config, self.exact_state()?)
    }

    /// JSON text.
    pub fn to_json(&self) -> Result<String, LearnError> {
        serde_json::to_string_pretty(self).map_err(|e| LearnError::Format(format!("JSON: {e}")))
    }

    /// Parse JSON text.
    pub fn from_json(text: &str) -> Result<Self, LearnError> {
        serde_json::from_str(text)
            .map_err(|e| LearnError::Checkpoint(format!("not an RLMPC checkpoint: {e}")))
    }

    /// Write atomically to `path`.
    pub fn save(&self, path: &Path) -> Result<(), LearnError> {
        write_atomic(path, self.to_json()?.as_bytes())
    }

    /// Read from `path`.
    pub fn load(path: &Path) -> Result<Self, LearnError> {
        let text = std::fs::read_to_string(path).map_err(|e| LearnError::io(path, e))?;
        Self::from_json(&text).map_err(|e| match e {
            LearnError::Checkpoint(m) => LearnError::Checkpoint(format!("{}: {m}", path.display())),
            e => e,
        })
    }
}
