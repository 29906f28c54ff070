//! The true plants DiffOP learns on (`docs/spec/ENVIRONMENTS.md`).
//!
//! Every environment is the *true* system with the *true* cost, unknown to the policy. The
//! interface follows the gymnasium habit: [`Env::reset`] draws an initial state from the task's
//! distribution, [`Env::step`] applies an action and returns the next observation and the true
//! stage cost. The observation is the state.

pub mod meta;
pub mod nonlinear;

pub use nonlinear::{NonlinearEnv, NonlinearEnvSettings};

use rand_chacha::ChaCha8Rng;
use thiserror::Error;

pub mod voltage;

pub use voltage::VoltageEnv;

/// What is wrong with an input of an environment (a state, a trajectory, a setting).
#[derive(Debug, Error, Clone, PartialEq)]
pub enum InputError {
    /// A vector has the wrong number of entries.
    #[error("{what} has {got} entries, expected {expected}")]
    Length {
        /// The vector, with its context (e.g. "initial state of the arm task").
        what: String,
        /// Entries expected.
        expected: usize,
        /// Entries given.
        got: usize,
    },
    /// An entry is NaN or ±∞.
    #[error("{what} entry {index} is not finite ({value})")]
    NotFinite {
        /// The vector.
        what: &'static str,
        /// Offending index.
        index: usize,
        /// Offending value.
        value: f64,
    },
    /// A scalar setting is outside its range.
    #[error("{what} must be {expected}, got {value}")]
    OutOfRange {
        /// The setting (with its index when it is one entry of a list).
        what: String,
        /// The allowed range, in words.
        expected: &'static str,
        /// The given value.
        value: f64,
    },
    /// An interval [lo, hi] is not finite or empty.
    #[error("{what} are invalid: [{lo}, {hi}]")]
    Interval {
        /// The interval (e.g. "reactive limits of controlled bus 2").
        what: String,
        /// Lower end.
        lo: f64,
        /// Upper end.
        hi: f64,
    },
    /// A count must be positive.
    #[error("{what} must be at least 1")]
    Zero {
        /// The count.
        what: &'static str,
    },
    /// A seed range does not fit the u32 seeds of the scenario generator.
    #[error("{what} exceeds u32")]
    SeedRange {
        /// The seeds.
        what: &'static str,
    },
}

/// Errors of the environments.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum EnvError {
    /// The action has the wrong number of entries.
    #[error("action has {got} entries, the {task} task expects {expected}")]
    ActionDim {
        /// Task name.
        task: &'static str,
        /// Entries supplied.
        got: usize,
        /// Entries expected.
        expected: usize,
    },
    /// The action contains NaN or ±∞.
    #[error("action entry {index} is not finite ({value})")]
    NonFiniteAction {
        /// Offending index.
        index: usize,
        /// Offending value.
        value: f64,
    },
    /// A state, trajectory or argument given by the caller is invalid.
    #[error("invalid state: {0}")]
    InvalidState(InputError),
    /// Environment settings are invalid (wrong length, negative or non-finite value).
    #[error("invalid environment settings: {0}")]
    InvalidSettings(InputError),
    /// `step` was called after the episode ended or before `reset`.
    #[error("episode is over (t = {t}, T = {horizon}); call reset")]
    EpisodeOver {
        /// Current time step.
        t: usize,
        /// Episode length.
        horizon: usize,
    },
    /// The AC power flow did not converge.
    #[error("power flow did not converge after {iterations} sweeps (mismatch {mismatch:e})")]
    PowerFlowDiverged {
        /// Sweeps performed.
        iterations: usize,
        /// Last voltage update or mismatch.
        mismatch: f64,
    },
    /// The plant produced a non-finite state.
    #[error("the plant produced a non-finite state at t = {t}")]
    NonFiniteState {
        /// Time step.
        t: usize,
    },
}

/// Result of one environment step.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// Observation after the step (the state; for the voltage task (|V₂|, |V₇|, |V₉|) and q).
    pub observation: Vec<f64>,
    /// True stage cost of this transition.
    pub cost: f64,
    /// True if the episode has ended (t = T); the terminal cost is then already in `cost`.
    pub done: bool,
}

/// A task's true plant.
pub trait Env: Send {
    /// Task name.
    fn name(&self) -> &'static str;
    /// Observation (state) dimension.
    fn obs_dim(&self) -> usize;
    /// Action dimension.
    fn action_dim(&self) -> usize;
    /// Episode length T.
    fn horizon(&self) -> usize;
    /// Draw an initial state from the task's training distribution and return the observation.
    fn reset(&mut self, rng: &mut ChaCha8Rng) -> Result<Vec<f64>, EnvError>;
    /// Apply an action; the last step of an episode adds the true terminal cost.
    fn step(&mut self, action: &[f64]) -> Result<Step, EnvError>;
    /// Current observation.
    fn observation(&self) -> Vec<f64>;
    /// Current time step t.
    fn t(&self) -> usize;
}

/// Check an action's length and finiteness.
pub fn check_action(task: &'static str, action: &[f64], expected: usize) -> Result<(), EnvError> {
    if action.len() != expected {
        return Err(EnvError::ActionDim {
            task,
            got: action.len(),
            expected,
        });
    }
    if let Some((index, &value)) = action.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(EnvError::NonFiniteAction { index, value });
    }
    Ok(())
}
