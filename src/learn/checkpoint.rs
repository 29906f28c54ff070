//! Checkpoints: θ, optimiser state, L_ref, the iteration and trajectory counters and the
//! metrics so far, written atomically (temporary file in the same directory, then rename).
//!
//! JSON keeps readable copies of every number, but the values that steer training (θ, the Adam
//! moments, L_ref) are also stored as IEEE-754 bit patterns and restored from those, so a
//! resumed run continues bit-identically however the JSON reader rounds decimals.

use serde::{Deserialize, Serialize};
use std::path::Path;

use super::config::TrainConfig;
use super::evaluate::EvalOutcome;
use super::trainer::TrainState;
use super::LearnError;

/// Format version of [`Checkpoint`].
pub const CHECKPOINT_VERSION: u32 = 1;

/// Reference evaluations of a run (horizontal lines of the learning curve).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct References {
    /// θ⁽⁰⁾.
    pub untrained: Option<EvalOutcome>,
    /// The true model (`mpc-true`).
    pub mpc_true: Option<EvalOutcome>,
}

/// Exact bit patterns of the training-critical values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct ExactBits {
    theta: Vec<u64>,
    adam_m: Vec<u64>,
    adam_v: Vec<u64>,
    l_ref: Option<u64>,
}

/// A saved training run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Format version.
    pub version: u32,
    /// The resolved configuration.
    pub config: TrainConfig,
    /// The trainer state (readable).
    pub state: TrainState,
    /// Reference evaluations, once computed.
    pub references: Option<References>,
    exact: ExactBits,
}

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn unbits(v: &[u64]) -> Vec<f64> {
    v.iter().map(|&b| f64::from_bits(b)).collect()
}

impl Checkpoint {
    /// Capture a state.
    pub fn new(config: &TrainConfig, state: &TrainState, references: Option<References>) -> Self {
        Self {
            version: CHECKPOINT_VERSION,
            config: config.clone(),
            state: state.clone(),
            references,
            exact: ExactBits {
                theta: bits(&state.theta),
                adam_m: bits(&state.optimizer.m),
                adam_v: bits(&state.optimizer.v),
                l_ref: state.l_ref.map(f64::to_bits),
            },
        }
    }

    /// The state with its exact values restored.
    pub fn exact_state(&self) -> Result<TrainState, LearnError> {
        if self.version != CHECKPOINT_VERSION {
            return Err(LearnError::Checkpoint(format!(
                "format version {} is not supported (expected {CHECKPOINT_VERSION})",
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
        s.optimizer.m = unbits(&self.exact.adam_m);
        s.optimizer.v = unbits(&self.exact.adam_v);
        s.l_ref = self.exact.l_ref.map(f64::from_bits);
        Ok(s)
    }

    /// JSON text.
    pub fn to_json(&self) -> Result<String, LearnError> {
        serde_json::to_string_pretty(self).map_err(|e| LearnError::Format(format!("JSON: {e}")))
    }

    /// Parse JSON text.
    pub fn from_json(text: &str) -> Result<Self, LearnError> {
        serde_json::from_str(text).map_err(|e| LearnError::Checkpoint(format!("corrupt JSON: {e}")))
    }

    /// Write atomically to `path`.
    pub fn save(&self, path: &Path) -> Result<(), LearnError> {
        write_atomic(path, self.to_json()?.as_bytes())
    }

    /// Read from `path`.
    pub fn load(path: &Path) -> Result<Self, LearnError> {
        let text = std::fs::read_to_string(path).map_err(|e| LearnError::io(path, e))?;
        Self::from_json(&text)
    }
}

/// Write `bytes` to `path` atomically: a temporary file in the same directory, then a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), LearnError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let tmp = path.with_file_name(format!(".{name}.tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(|e| LearnError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| LearnError::io(path, e))
}
