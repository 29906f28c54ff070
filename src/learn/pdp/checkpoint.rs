//! Checkpoints of PDP (Offline) runs and the iterate shared by the nonlinear and the voltage
//! learners: θ, the iteration and the loss history, saved with exact IEEE-754 copies of every
//! value and written atomically.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{PdpError, PdpSettings, PdpSettingsError};
use crate::learn::checkpoint::{bits, differing_fields, unbits, write_atomic};
use crate::learn::CheckpointError;
use crate::solver::WarmStart;

/// Format version of [`PdpCheckpoint`].
pub const PDP_CHECKPOINT_VERSION: u32 = 1;

/// Settings of a PDP run that can be checkpointed.
pub trait PdpRunSettings: Clone + PartialEq + Serialize + DeserializeOwned {
    /// The settings with the iteration budget cleared (the one setting that may change on
    /// resume).
    fn without_budget(&self) -> Self;

    /// The iteration budget.
    fn iterations(&self) -> usize;
}

impl PdpRunSettings for PdpSettings {
    fn without_budget(&self) -> Self {
        Self {
            iterations: 0,
            ..self.clone()
        }
    }

    fn iterations(&self) -> usize {
        self.iterations
    }
}

/// The mutable state of a PDP run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PdpState {
    /// Current θ.
    pub theta: Vec<f64>,
    /// Iterations done.
    pub iteration: usize,
    /// The loss before each update (one per iteration done).
    pub losses: Vec<f64>,
}

/// Exact bit patterns of a [`PdpState`]'s values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct PdpExact {
    theta: Vec<u64>,
    losses: Vec<u64>,
}

/// A saved PDP (Offline) run, nonlinear (`S` = [`PdpSettings`]) or voltage
/// (`S` = [`crate::learn::pdp_voltage::VoltagePdpSettings`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PdpCheckpoint<S> {
    /// Format version.
    pub version: u32,
    /// Task name.
    pub task: String,
    /// The settings of the run.
    pub settings: S,
    /// The state (readable; [`PdpCheckpoint::exact_state`] restores the exact one).
    pub state: PdpState,
    exact: PdpExact,
}

impl<S: PdpRunSettings> PdpCheckpoint<S> {
    /// Capture a state.
    pub fn new(task: &str, settings: &S, state: PdpState) -> Self {
        Self {
            version: PDP_CHECKPOINT_VERSION,
            task: task.to_string(),
            settings: settings.clone(),
            exact: PdpExact {
                theta: bits(&state.theta),
                losses: bits(&state.losses),
            },
            state,
        }
    }

    /// Check the format version, the task and the settings (equal up to `iterations`, which
    /// must not be below the iterations already done); the error names the differing settings.
    pub fn check_compatible(&self, task: &str, settings: &S) -> Result<(), PdpError> {
        if self.version != PDP_CHECKPOINT_VERSION {
            return Err(PdpError::Checkpoint(CheckpointError::Version {
                found: self.version,
                expected: PDP_CHECKPOINT_VERSION,
            }));
        }
        if self.task != task {
            return Err(PdpError::Checkpoint(CheckpointError::Task {
                found: self.task.clone(),
                expected: task.to_string(),
            }));
        }
        let (saved, wanted) = (self.settings.without_budget(), settings.without_budget());
        if saved != wanted {
            return Err(PdpError::Checkpoint(CheckpointError::Settings {
                kind: "PDP",
                differing: differing_fields(&saved, &wanted),
                resumable: "iterations",
            }));
        }
        if self.state.iteration > settings.iterations() {
            return Err(PdpError::Checkpoint(CheckpointError::Iteration {
                at: self.state.iteration,
                limit: settings.iterations(),
            }));
        }
        Ok(())
    }

    /// The state with its exact values restored.
    pub fn exact_state(&self) -> Result<PdpState, PdpError> {
        let s = &self.state;
        let inconsistent = |what, found, expected| {
            Err(PdpError::Checkpoint(CheckpointError::Inconsistent {
                what,
                found,
                expected,
            }))
        };
        if self.exact.theta.len() != s.theta.len() {
            let what = "θ and its exact copy differ in length";
            return inconsistent(what, self.exact.theta.len(), s.theta.len());
        }
        if self.exact.losses.len() != s.losses.len() {
            let what = "the losses and their exact copy differ in length";
            return inconsistent(what, self.exact.losses.len(), s.losses.len());
        }
        if s.losses.len() != s.iteration {
            let what = "losses recorded against iterations done";
            return inconsistent(what, s.losses.len(), s.iteration);
        }
        Ok(PdpState {
            theta: unbits(&self.exact.theta),
            iteration: s.iteration,
            losses: unbits(&self.exact.losses),
        })
    }

    /// Write atomically to `path` (JSON).
    pub fn save(&self, path: &Path) -> Result<(), PdpError> {
        let json = serde_json::to_string_pretty(self).map_err(|source| {
            PdpError::Checkpoint(CheckpointError::Json {
                path: path.display().to_string(),
                source,
            })
        })?;
        write_atomic(path, json.as_bytes()).map_err(|e| PdpError::Learn(Box::new(e)))
    }

    /// Read from `path`.
    pub fn load(path: &Path) -> Result<Self, PdpError> {
        let text = std::fs::read_to_string(path).map_err(|source| {
            PdpError::Checkpoint(CheckpointError::Io {
                path: path.display().to_string(),
                source,
            })
        })?;
        serde_json::from_str(&text).map_err(|source| {
            PdpError::Checkpoint(CheckpointError::Json {
                path: path.display().to_string(),
                source,
            })
        })
    }
}

/// The iterate of a PDP learner, shared by [`Pdp`] and
/// [`VoltagePdp`](super::pdp_voltage::VoltagePdp): θ⁽⁰⁾, the checkpointed state (θ, iterations
/// done, the loss before each update) and whether the workspaces hold the previous iteration's
/// solutions.
#[derive(Clone, Debug)]
pub(crate) struct PdpProgress {
    /// θ⁽⁰⁾.
    pub(crate) theta0: Vec<f64>,
    /// θ, iteration and losses (what a checkpoint stores).
    pub(crate) state: PdpState,
    /// The workspaces hold no solution of the previous iteration (set on resume), so the next
    /// solves start cold even with `warm_start`.
    cold_workspaces: bool,
}

impl PdpProgress {
    /// A fresh run from θ⁽⁰⁾ = `theta`.
    pub(crate) fn new(theta: Vec<f64>) -> Self {
        Self {
            theta0: theta.clone(),
            state: PdpState {
                theta,
                iteration: 0,
                losses: Vec::new(),
            },
            cold_workspaces: false,
        }
    }

    /// Continue from a checkpoint's exact state (θ must have the run's length and be finite);
    /// the next solves start cold.
    pub(crate) fn restore(&mut self, state: PdpState) -> Result<(), PdpError> {
        let d = self.state.theta.len();
        if state.theta.len() != d || state.theta.iter().any(|v| !v.is_finite()) {
            return Err(PdpError::Checkpoint(CheckpointError::Theta {
                what: "θ",
                expected: d,
                got: state.theta.len(),
            }));
        }
        self.state = state;
        self.cold_workspaces = true;
        Ok(())
    }

    /// The start of this iteration's demonstration solves: warm from the previous iteration's
    /// solutions when `warm_start` allows and the workspaces hold them, cold otherwise.
    pub(crate) fn start(&mut self, warm_start: bool) -> WarmStart {
        let warm = warm_start && self.state.iteration > 0 && !self.cold_workspaces;
        self.cold_workspaces = false;
        if warm {
            WarmStart::Current
        } else {
            WarmStart::Cold
        }
    }

    /// θ ← θ − lr ĝ and record `loss` (the loss before the update). A non-finite loss or
    /// gradient is an error and leaves θ unchanged.
    pub(crate) fn descend(&mut self, loss: f64, grad: &[f64], lr: f64) -> Result<(), PdpError> {
        if !loss.is_finite() || grad.iter().any(|g| !g.is_finite()) {
            return Err(PdpError::NonFinite {
                iteration: self.state.iteration,
            });
        }
        for (t, g) in self.state.theta.iter_mut().zip(grad) {
            *t -= lr * g;
        }
        self.state.iteration += 1;
        self.state.losses.push(loss);
        Ok(())
    }
}

/// The mean of the per-demonstration (loss, ½∇loss) terms, summed in demonstration order (so
/// the result does not depend on the thread count); the first failed term is the error.
pub(crate) fn average_terms(
    parts: Vec<Result<(f64, Vec<f64>), PdpError>>,
    d: usize,
) -> Result<(f64, Vec<f64>), PdpError> {
    let k = parts.len() as f64;
    let mut loss = 0.0;
    let mut grad = vec![0.0; d];
    for p in parts {
        let (l, g) = p?;
        loss += l / k;
        for (a, b) in grad.iter_mut().zip(&g) {
            *a += b / k;
        }
    }
    Ok((loss, grad))
}

/// Copy `src` into `dst` when it has the same length and only finite entries (`what` names θ
/// in the error).
pub(crate) fn replace_theta(dst: &mut [f64], src: &[f64], what: &str) -> Result<(), PdpError> {
    if src.len() != dst.len() || src.iter().any(|v| !v.is_finite()) {
        return Err(PdpError::Settings(PdpSettingsError::Theta {
            what: what.to_string(),
            expected: dst.len(),
            got: src.len(),
        }));
    }
    dst.copy_from_slice(src);
    Ok(())
}
