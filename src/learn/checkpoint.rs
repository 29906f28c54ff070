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
use super::trainer::{IterationRecord, TrainState};
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

/// The IEEE-754 bit patterns of `v`.
pub(crate) fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// The `f64`s of the bit patterns `v`.
pub(crate) fn unbits(v: &[u64]) -> Vec<f64> {
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

/// Write a run's resolved configuration: `DIR/config.toml` (feature `toml`, on by default) or,
/// without it, `DIR/config.json`. Informational: resuming reads the checkpoint's copy.
pub fn write_config<T: Serialize>(out: &Path, config: &T) -> Result<(), LearnError> {
    #[cfg(feature = "toml")]
    {
        let text =
            toml::to_string_pretty(config).map_err(|e| LearnError::Format(format!("TOML: {e}")))?;
        write_atomic(&out.join("config.toml"), text.as_bytes())
    }
    #[cfg(not(feature = "toml"))]
    {
        let text = serde_json::to_string_pretty(config)
            .map_err(|e| LearnError::Format(format!("JSON: {e}")))?;
        write_atomic(&out.join("config.json"), text.as_bytes())
    }
}

/// Exact bit patterns of the `f64` fields of one [`IterationRecord`], so that a checkpointed
/// history is restored bit for bit (used by the baselines' checkpoints).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct ExactRecord {
    batch_mean_cost: Option<u64>,
    eval_cost: Option<u64>,
    transient: Option<u64>,
    steady: Option<u64>,
    grad_norm: Option<u64>,
    wall_time_s: u64,
    theta: Vec<u64>,
}

/// The exact copies of a history.
pub(crate) fn exact_history(history: &[IterationRecord]) -> Vec<ExactRecord> {
    let b = |v: Option<f64>| v.map(f64::to_bits);
    history
        .iter()
        .map(|r| ExactRecord {
            batch_mean_cost: b(r.batch_mean_cost),
            eval_cost: b(r.eval_cost),
            transient: b(r.transient),
            steady: b(r.steady),
            grad_norm: b(r.grad_norm),
            wall_time_s: r.wall_time_s.to_bits(),
            theta: bits(&r.theta),
        })
        .collect()
}

/// `readable` with its `f64` fields replaced by the exact copies of [`exact_history`].
pub(crate) fn restore_history(
    readable: &[IterationRecord],
    exact: &[ExactRecord],
) -> Result<Vec<IterationRecord>, LearnError> {
    if readable.len() != exact.len() {
        return Err(LearnError::Checkpoint(format!(
            "the history has {} records but {} exact copies",
            readable.len(),
            exact.len()
        )));
    }
    let f = |v: Option<u64>| v.map(f64::from_bits);
    readable
        .iter()
        .zip(exact)
        .map(|(r, e)| {
            if r.theta.len() != e.theta.len() {
                return Err(LearnError::Checkpoint(format!(
                    "iteration {}: θ and its exact copy differ in length",
                    r.iteration
                )));
            }
            Ok(IterationRecord {
                batch_mean_cost: f(e.batch_mean_cost),
                eval_cost: f(e.eval_cost),
                transient: f(e.transient),
                steady: f(e.steady),
                grad_norm: f(e.grad_norm),
                wall_time_s: f64::from_bits(e.wall_time_s),
                theta: unbits(&e.theta),
                ..r.clone()
            })
        })
        .collect()
}

/// The names of the top-level fields in which two serialisable values differ (for error
/// messages about incompatible checkpoints); empty when they serialise alike.
pub(crate) fn differing_fields<T: Serialize>(a: &T, b: &T) -> Vec<String> {
    match (serde_json::to_value(a), serde_json::to_value(b)) {
        (Ok(serde_json::Value::Object(x)), Ok(serde_json::Value::Object(y))) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter()
                .filter(|k| x.get(*k) != y.get(*k))
                .cloned()
                .collect()
        }
        (Ok(x), Ok(y)) if x == y => Vec::new(),
        _ => vec!["(the whole value)".into()],
    }
}
