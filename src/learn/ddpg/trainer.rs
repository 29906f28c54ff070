//! Independent per-bus DDPG on the voltage plant (`docs/spec/ALGORITHMS.md` §12.1), as
//! init ([`DdpgTrainer::new`]) / one episode ([`DdpgTrainer::step`]) / evaluation
//! ([`DdpgTrainer::evaluate`]) / state ([`DdpgTrainer::state`], [`DdpgTrainer::from_state`]).
//!
//! Episode e: reset to scenario seed e (training limits, α = 0.2, unclipped set-points), then
//! for at most 30 steps
//!
//! ```text
//! u_i = π_i(v_i, q_i) + ε_i,   ε_i ~ 𝒩(0, σ₀²/(e + 1))      (noise after the policy's clip)
//! q′ = q + u;  power flow → v′;  r_i = −(½ C_i q′_i² + ½ q′_i (v′_i² + v₀,ᵢ² − 2))
//! min v′ < 0.75                  → abort; the transition is not stored
//! else store (v_i, q′_i, q_i, r_i, v′_i, done = all v′ ∈ (0.95, 1.05)) for every agent;
//!      once a buffer holds more than B transitions, each agent makes one update;
//!      done → the episode ends.
//! ```
//!
//! A power flow that does not converge ends the episode like an abort (not stored; counted).
//!
//! **Random streams** ([`crate::rng`]): the networks are initialised from the θ-init stream
//! (agents in bus order), the exploration noise comes from the exploration stream (ChaCha
//! stream 0) and the mini-batch indices from the same generator on ChaCha stream 1. Training is
//! sequential and evaluation reduces in seed order, so a run is bit-identical for any thread
//! count.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};
use std::time::Instant;

use super::agent::{Agent, AgentWork, BusContext, UpdateSettings};
use super::config::DdpgConfig;
use super::controller::DdpgController;
use super::replay::Transition;
use super::DdpgError;
use crate::envs::voltage::network::COST_WEIGHTS;
use crate::envs::voltage::{
    evaluate, EvalSettings, Limits, Saturation, VoltageEnv, VoltageEnvSettings, VoltageMetrics,
    N_CTRL,
};
use crate::envs::EnvError;
use crate::rng::{stream, Stream};

/// Open safe band used by the early end of an episode.
pub const SAFE_BAND: (f64, f64) = (0.95, 1.05);

/// How a training episode ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EpisodeEnd {
    /// All voltages strictly inside the band (last transition stored with done = 1).
    InBand,
    /// min v < the abort voltage (last transition not stored).
    Aborted,
    /// The power flow did not converge (last transition not stored).
    PowerFlow,
    /// The step limit was reached.
    StepLimit,
}

/// What one training episode did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DdpgEpisode {
    /// Episode index e.
    pub episode: usize,
    /// Scenario seed of the reset.
    pub reset_seed: u32,
    /// Plant steps taken.
    pub steps: usize,
    /// Transitions stored (per agent).
    pub stored: usize,
    /// How the episode ended.
    pub end: EpisodeEnd,
    /// Σ_t F(q_t) over the steps taken (true cost, all buses).
    pub cost: f64,
    /// Updates made (per agent).
    pub updates: usize,
    /// Mean critic loss over the updates and agents (None without updates).
    pub critic_loss: Option<f64>,
    /// Mean actor loss −Q over the updates and agents.
    pub actor_loss: Option<f64>,
    /// Noise standard deviation σ₀/√(e + 1).
    pub noise_std: f64,
    /// Transient cost of the deterministic policy after this episode, when evaluated.
    pub eval_transient: Option<f64>,
    /// Steady-state cost after this episode, when evaluated.
    pub eval_steady: Option<f64>,
    /// Wall time of the episode (training only) \[s\].
    pub wall_time_s: f64,
}

/// Everything [`DdpgTrainer::step`] depends on (exact; for checkpoints and resumption).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DdpgState {
    /// The agents of buses 0, 1, 2 (networks, targets, Adam, buffers).
    pub agents: Vec<Agent>,
    /// Next episode e.
    pub episode: usize,
    /// Word position of the noise generator.
    pub noise_word_pos: u128,
    /// Word position of the mini-batch generator.
    pub batch_word_pos: u128,
    /// Every episode so far.
    pub history: Vec<DdpgEpisode>,
    /// Accumulated training wall time \[s\].
    pub elapsed_s: f64,
}

/// The per-bus DDPG learner.
#[derive(Clone, Debug)]
pub struct DdpgTrainer {
    config: DdpgConfig,
    agents: Vec<Agent>,
    episode: usize,
    noise_rng: ChaCha8Rng,
    batch_rng: ChaCha8Rng,
    history: Vec<DdpgEpisode>,
    elapsed_s: f64,
    env: VoltageEnv,
    work: AgentWork,
}

fn generators(seed: u64) -> (ChaCha8Rng, ChaCha8Rng) {
    let noise = stream(seed, Stream::Exploration);
    let mut batch = stream(seed, Stream::Exploration);
    batch.set_stream(1);
    (noise, batch)
}

/// The training plant: training limits, unclipped set-points, `max_steps` steps.
pub fn training_env_settings(config: &DdpgConfig) -> VoltageEnvSettings {
    VoltageEnvSettings {
        limits: Limits::Training,
        horizon: config.max_steps,
        saturation: Saturation::Unclipped,
        ..VoltageEnvSettings::training()
    }
}

/// The local reward of bus i: −(½ C_i q_i² + ½ q_i (v_i² + v₀,ᵢ² − 2)).
pub fn local_reward(i: usize, q: f64, v: f64, v0: f64) -> f64 {
    -(0.5 * COST_WEIGHTS[i] * q * q + 0.5 * q * (v * v + v0 * v0 - 2.0))
}

/// The actors' contexts for a plant with `limits` and step `alpha`.
pub fn contexts(config: &DdpgConfig, limits: Limits, alpha: f64) -> [BusContext; N_CTRL] {
    let (lo, hi) = (limits.q_min(), limits.q_max());
    std::array::from_fn(|i| BusContext {
        rule: config.method.rule(),
        c: COST_WEIGHTS[i],
        q_min: lo[i],
        q_max: hi[i],
        alpha,
    })
}

impl DdpgTrainer {
    /// A fresh learner for a validated `config`.
    pub fn new(config: DdpgConfig) -> Result<Self, DdpgError> {
        config.validate()?;
        let mut init = stream(config.seed, Stream::ThetaInit);
        let sizes = config.critic_sizes();
        let agents = (0..N_CTRL)
            .map(|_| {
                Agent::new(
                    &sizes,
                    config.actor_lr,
                    config.critic_lr,
                    config.buffer_capacity,
                    &mut init,
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let (noise_rng, batch_rng) = generators(config.seed);
        let env = VoltageEnv::new(training_env_settings(&config))?;
        Ok(Self {
            config,
            agents,
            episode: 0,
            noise_rng,
            batch_rng,
            history: Vec::new(),
            elapsed_s: 0.0,
            env,
            work: AgentWork::default(),
        })
    }

    /// A learner that continues from `state` (saved by [`DdpgTrainer::state`] under `config`).
    pub fn from_state(config: DdpgConfig, state: DdpgState) -> Result<Self, DdpgError> {
        let mut t = Self::new(config)?;
        if state.agents.len() != N_CTRL {
            return Err(DdpgError::Checkpoint(format!(
                "{} agents in the state, expected {N_CTRL}",
                state.agents.len()
            )));
        }
        for a in &state.agents {
            a.critic.validate()?;
            a.critic_target.validate()?;
        }
        t.agents = state.agents;
        t.episode = state.episode;
        t.noise_rng.set_word_pos(state.noise_word_pos);
        t.batch_rng.set_word_pos(state.batch_word_pos);
        t.history = state.history;
        t.elapsed_s = state.elapsed_s;
        Ok(t)
    }

    /// The exact state.
    pub fn state(&self) -> DdpgState {
        DdpgState {
            agents: self.agents.clone(),
            episode: self.episode,
            noise_word_pos: self.noise_rng.get_word_pos(),
            batch_word_pos: self.batch_rng.get_word_pos(),
            history: self.history.clone(),
            elapsed_s: self.elapsed_s,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &DdpgConfig {
        &self.config
    }

    /// The agents (buses 0, 1, 2).
    pub fn agents(&self) -> &[Agent] {
        &self.agents
    }

    /// Episodes done.
    pub fn episode(&self) -> usize {
        self.episode
    }

    /// True once every configured episode is done.
    pub fn is_done(&self) -> bool {
        self.episode >= self.config.episodes
    }

    /// Every episode record so far.
    pub fn history(&self) -> &[DdpgEpisode] {
        &self.history
    }

    /// Accumulated training wall time (evaluations excluded) \[s\].
    pub fn elapsed_s(&self) -> f64 {
        self.elapsed_s
    }

    /// The deterministic evaluation controller of the current actors (α = `alpha_eval`,
    /// evaluation limits).
    pub fn controller(&self) -> Result<DdpgController, DdpgError> {
        DdpgController::new(
            self.config.method.rule(),
            self.agents.iter().map(|a| a.actor.clone()).collect(),
            self.config.alpha_eval,
        )
    }

    /// The Table-2 metrics of the current actors on test seeds 0 … `scenarios` − 1.
    pub fn evaluate(&self, scenarios: usize) -> Result<VoltageMetrics, DdpgError> {
        let ctl = self.controller()?;
        let settings = EvalSettings {
            scenarios,
            ..EvalSettings::default()
        };
        evaluate(&settings, || ctl.clone()).map_err(|e| DdpgError::Evaluation(e.to_string()))
    }

    /// Run one training episode (and the periodic evaluation) and return its record.
    pub fn step(&mut self) -> Result<DdpgEpisode, DdpgError> {
        if self.is_done() {
            return Err(DdpgError::Config(format!(
                "all {} episodes are done",
                self.config.episodes
            )));
        }
        let start = Instant::now();
        let mut rec = self.episode_inner()?;
        rec.wall_time_s = start.elapsed().as_secs_f64();
        self.elapsed_s += rec.wall_time_s;
        self.episode += 1;
        let every = self.config.eval_every;
        if (every > 0 && self.episode % every == 0) || self.is_done() {
            let m = self.evaluate(self.config.eval_scenarios)?;
            rec.eval_transient = Some(m.transient);
            rec.eval_steady = Some(m.steady);
        }
        self.history.push(rec.clone());
        Ok(rec)
    }

    fn episode_inner(&mut self) -> Result<DdpgEpisode, DdpgError> {
        let c = &self.config;
        let e = self.episode;
        let reset_seed = c.first_reset_seed + e as u32;
        self.env.reset_seed(reset_seed)?;
        let ctx = contexts(c, self.env.limits(), c.alpha_train);
        let settings = UpdateSettings {
            gamma: c.gamma,
            tau: c.tau,
            batch: c.batch,
        };
        let sigma = c.noise_std / ((e + 1) as f64).sqrt();
        let v0 = self.env.v0();
        let (mut v, mut q) = (self.env.v(), [0.0; N_CTRL]);
        let mut rec = DdpgEpisode {
            episode: e,
            reset_seed,
            steps: 0,
            stored: 0,
            end: EpisodeEnd::StepLimit,
            cost: 0.0,
            updates: 0,
            critic_loss: None,
            actor_loss: None,
            noise_std: sigma,
            eval_transient: None,
            eval_steady: None,
            wall_time_s: 0.0,
        };
        let (mut critic_sum, mut actor_sum) = (0.0, 0.0);
        for _ in 0..c.max_steps {
            let mut u = [0.0; N_CTRL];
            for i in 0..N_CTRL {
                let eps: f64 = self.noise_rng.sample(StandardNormal);
                u[i] = self.agents[i].act(&ctx[i], v[i], q[i])? + sigma * eps;
            }
            let step = match self.env.step_u(u) {
                Ok(s) => s,
                Err(EnvError::PowerFlowDiverged { .. } | EnvError::NonFiniteState { .. }) => {
                    rec.end = EpisodeEnd::PowerFlow;
                    break;
                }
                Err(err) => return Err(err.into()),
            };
            rec.steps += 1;
            rec.cost += step.cost;
            let (vn, qn) = (step.v, step.q);
            if vn.iter().any(|&x| x < c.abort_voltage) {
                rec.end = EpisodeEnd::Aborted;
                break;
            }
            let done = vn.iter().all(|&x| SAFE_BAND.0 < x && x < SAFE_BAND.1);
            for i in 0..N_CTRL {
                self.agents[i].buffer.push(Transition {
                    v: v[i],
                    q: qn[i],
                    q_prev: q[i],
                    r: local_reward(i, qn[i], vn[i], v0[i]),
                    v_next: vn[i],
                    done,
                });
            }
            rec.stored += 1;
            if self.agents[0].buffer.len() > c.batch {
                for i in 0..N_CTRL {
                    let idx = self.agents[i]
                        .buffer
                        .sample_indices(c.batch, &mut self.batch_rng);
                    let l = self.agents[i].update(&idx, &ctx[i], &settings, &mut self.work)?;
                    critic_sum += l.critic;
                    actor_sum += l.actor;
                }
                rec.updates += 1;
            }
            v = vn;
            q = qn;
            if done {
                rec.end = EpisodeEnd::InBand;
                break;
            }
        }
        if rec.updates > 0 {
            let n = (rec.updates * N_CTRL) as f64;
            rec.critic_loss = Some(critic_sum / n);
            rec.actor_loss = Some(actor_sum / n);
        }
        Ok(rec)
    }
}
