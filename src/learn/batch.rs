//! Collecting a batch of N trajectories in parallel, shared by DiffOP ([`super::trainer`]) and
//! the RLMPC baselines ([`super::rlmpc`]).
//!
//! Attempt number j (a run-wide counter) is deterministic in j, so the batch does not depend on
//! the thread count. A recoverable failure ([`Abort::Failed`]: a failed solve, a diverged plant)
//! is discarded and redrawn with the next j; the batch fails when more than `max_fraction` of the
//! attempts failed (`docs/spec/ALGORITHMS.md` §5).

use rayon::prelude::*;

use super::{Failure, LearnError};
use crate::envs::EnvError;
use crate::policy::sampler::SamplerError;
use crate::policy::PolicyError;

/// Why a trajectory attempt ended early.
pub(crate) enum Abort {
    /// Recoverable: discard and redraw (failed solve, diverged plant).
    Failed(Failure),
    /// Misuse or a bug: stop training.
    Hard(LearnError),
}

impl From<PolicyError> for Abort {
    fn from(e: PolicyError) -> Self {
        match e {
            PolicyError::SolveFailed(_) | PolicyError::Sensitivity(_) => {
                Abort::Failed(Failure::Policy(e))
            }
            other => Abort::Hard(other.into()),
        }
    }
}

impl From<EnvError> for Abort {
    fn from(e: EnvError) -> Self {
        match e {
            EnvError::PowerFlowDiverged { .. } | EnvError::NonFiniteState { .. } => {
                Abort::Failed(Failure::Plant(e))
            }
            other => Abort::Hard(other.into()),
        }
    }
}

impl From<SamplerError> for Abort {
    fn from(e: SamplerError) -> Self {
        Abort::Hard(e.into())
    }
}

/// Collect `n` successful attempts of `attempt(j)` in parallel, drawing j from `counter`
/// (advanced by every attempt, failed or not). Returns them in batch order and the number of
/// failed attempts; `iteration` labels the error when more than `max_fraction` failed.
pub(crate) fn collect_batch<T, F>(
    n: usize,
    counter: &mut u64,
    max_fraction: f64,
    iteration: usize,
    attempt: F,
) -> Result<(Vec<T>, usize), LearnError>
where
    T: Send,
    F: Fn(u64) -> Result<T, Abort> + Sync,
{
    let mut results: Vec<Option<T>> = (0..n).map(|_| None).collect();
    let (mut attempts, mut failed) = (0usize, 0usize);
    let mut last = None;
    loop {
        let pending: Vec<(usize, u64)> = (0..n)
            .filter(|&i| results[i].is_none())
            .collect::<Vec<_>>()
            .into_iter()
            .map(|i| {
                let j = *counter;
                *counter += 1;
                (i, j)
            })
            .collect();
        if pending.is_empty() {
            break;
        }
        let out: Vec<Result<T, Abort>> = pending.par_iter().map(|&(_, j)| attempt(j)).collect();
        for (&(i, _), r) in pending.iter().zip(out) {
            attempts += 1;
            match r {
                Ok(v) => results[i] = Some(v),
                Err(Abort::Failed(why)) => {
                    failed += 1;
                    last = Some(Box::new(why));
                }
                Err(Abort::Hard(e)) => return Err(e),
            }
        }
        if failed as f64 > max_fraction * attempts as f64 {
            return Err(LearnError::TooManyFailures {
                iteration,
                failed,
                attempts,
                max_fraction,
                last,
            });
        }
    }
    Ok((results.into_iter().flatten().collect(), failed))
}
