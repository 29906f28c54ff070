//! The true plants of all tasks behind one interface, as the benchmarks see them: random initial
//! states from the task's distribution, the policy's state and context, one step.

use super::task::Task;
use anyhow::{anyhow, Context, Result};
use diffop::envs::voltage::{VoltageEnv, VoltageEnvSettings};
use diffop::envs::{Env, NonlinearEnv};
use diffop::rng::{self, Stream};
use rand_chacha::ChaCha8Rng;

/// First voltage reset seed of the benchmarks: the training seeds 10000 + j of §7.8.
pub const VOLTAGE_FIRST_SEED: u32 = 10_000;

/// A task's plant.
#[derive(Debug)]
pub enum Plant {
    /// A nonlinear plant and its initial-state stream.
    Nonlinear {
        /// The environment.
        env: Box<NonlinearEnv>,
        /// The initial-state stream of the run seed.
        rng: Box<ChaCha8Rng>,
    },
    /// The voltage plant (evaluation limits, 100 steps) and the next reset seed.
    Voltage {
        /// The environment.
        env: Box<VoltageEnv>,
        /// Seed of the next reset.
        next_seed: u32,
    },
}

impl Plant {
    /// The plant of `task`; `seed` selects the initial-state stream (nonlinear:
    /// `rng::stream(seed, InitialState)`; voltage: reset seeds 10000 + seed, 10001 + seed, …).
    pub fn new(task: Task, seed: u64) -> Result<Self> {
        Ok(match task.nonlinear() {
            Some(t) => Plant::Nonlinear {
                env: Box::new(NonlinearEnv::new(t)),
                rng: Box::new(rng::stream(seed, Stream::InitialState)),
            },
            None => {
                let next_seed = u32::try_from(seed)
                    .ok()
                    .and_then(|s| VOLTAGE_FIRST_SEED.checked_add(s))
                    .ok_or_else(|| anyhow!("voltage seed {seed} is out of range"))?;
                Plant::Voltage {
                    env: Box::new(VoltageEnv::new(VoltageEnvSettings::evaluation())?),
                    next_seed,
                }
            }
        })
    }

    /// Draw a new initial state.
    pub fn reset(&mut self) -> Result<()> {
        match self {
            Plant::Nonlinear { env, rng } => {
                env.reset(rng.as_mut())?;
            }
            Plant::Voltage { env, next_seed } => {
                let seed = *next_seed;
                env.reset_seed(seed)
                    .with_context(|| format!("voltage reset with seed {seed}"))?;
                *next_seed = seed.wrapping_add(1);
            }
        }
        Ok(())
    }

    /// The policy's initial state (voltage: (v², q)).
    pub fn policy_state(&self) -> Vec<f64> {
        match self {
            Plant::Nonlinear { env, .. } => env.state().to_vec(),
            Plant::Voltage { env, .. } => env.policy_state().to_vec(),
        }
    }

    /// The policy's context (voltage: v_env and the evaluation limits; nonlinear: empty).
    pub fn policy_context(&self) -> Vec<f64> {
        match self {
            Plant::Nonlinear { .. } => Vec::new(),
            Plant::Voltage { env, .. } => env.policy_context().to_vec(),
        }
    }

    /// Apply `u`; returns true when the episode has ended.
    pub fn step(&mut self, u: &[f64]) -> Result<bool> {
        let done = match self {
            Plant::Nonlinear { env, .. } => env.step(u)?.done,
            Plant::Voltage { env, .. } => env.step(u)?.done,
        };
        Ok(done)
    }
}
