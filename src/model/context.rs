//! The typed error of [`super::OcpModel::check_context`].

use thiserror::Error;

/// A context vector a model rejects: which entry, and what was expected.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ContextError {
    /// The context has the wrong length.
    #[error("context has length {got}, expected {expected}")]
    Length {
        /// Length given.
        got: usize,
        /// Length the model expects (its `n_ctx`).
        expected: usize,
    },
    /// An entry is NaN or ±∞.
    #[error("context entry {index} is not finite ({value})")]
    NonFinite {
        /// Offending index.
        index: usize,
        /// Offending value.
        value: f64,
    },
    /// A lower bound exceeds its upper bound (e.g. the voltage task's `q_min[b] > q_max[b]`).
    #[error("{lower}[{index}] = {lower_value} exceeds {upper}[{index}] = {upper_value}")]
    BoundOrder {
        /// Name of the lower-bound block.
        lower: &'static str,
        /// Name of the upper-bound block.
        upper: &'static str,
        /// Index within the blocks.
        index: usize,
        /// The lower bound given.
        lower_value: f64,
        /// The upper bound given.
        upper_value: f64,
    },
    /// Any other rule of a user model: the offending entry and the rule it breaks.
    #[error("context entry {index} is invalid: {rule}")]
    Invalid {
        /// Offending index.
        index: usize,
        /// The rule it breaks.
        rule: &'static str,
    },
}

/// The default check: length `n_ctx` and finite entries.
pub(crate) fn check_finite(ctx: &[f64], n_ctx: usize) -> Result<(), ContextError> {
    if ctx.len() != n_ctx {
        return Err(ContextError::Length {
            got: ctx.len(),
            expected: n_ctx,
        });
    }
    if let Some((index, &value)) = ctx.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(ContextError::NonFinite { index, value });
    }
    Ok(())
}
