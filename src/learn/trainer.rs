//! Algorithm 1: trajectory collection, the REINFORCE estimate and the update
//! (`ALGORITHMS.md` §5–6; equations in the [module docs](super)).
//!
//! [`Trainer::step`] runs one iteration: it evaluates the deterministic policy when due, collects
//! N trajectories in parallel (rayon), discards and redraws failed ones, forms ĝ and updates θ.
//! Each attempted trajectory j draws from its own ChaCha stream (`set_stream(j)`), so the result
//! does not depend on the thread count or on the order in which threads finish.

use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::time::Instant;

use super::batch::{collect_batch, Abort};
use super::config::{Baseline, TrainConfig};
use super::evaluate::{evaluate_theta, initial_theta, project};
use super::optimizer::{self, OptimizerState};
use super::LearnError;
use crate::envs::voltage::{VoltageEnv, VoltageEnvSettings};
use crate::envs::{Env, NonlinearEnv};
use crate::model::tasks::{NonlinearTask, Table1Policy, VoltagePolicy};
use crate::model::OcpModel;
use crate::policy::sampler::{SamplerError, TruncatedGaussian};
use crate::policy::{OptPolicy, PolicyError};
use crate::rng::{stream, Stream};

/// First scenario seed of the voltage training trajectories: trajectory j resets to 10000 + j.
pub const VOLTAGE_TRAIN_SEED0: u64 = 10_000;

/// Smallest L_ref (§6.1).
pub const L_REF_FLOOR: f64 = 1e-8;

/// What one iteration logged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IterationRecord {
    /// Iteration k (θ⁽ᵏ⁾ is the θ the batch was collected with). The final evaluation-only row
    /// has k = K.
    pub iteration: usize,
    /// Mean true cost of the N exploring trajectories (None on the final evaluation row).
    pub batch_mean_cost: Option<f64>,
    /// Deterministic evaluation cost of θ⁽ᵏ⁾ (voltage: the transient cost), when evaluated.
    pub eval_cost: Option<f64>,
    /// Voltage: transient cost of the evaluation.
    pub transient: Option<f64>,
    /// Voltage: steady-state cost of the evaluation.
    pub steady: Option<f64>,
    /// ‖ĝ‖ before clipping.
    pub grad_norm: Option<f64>,
    /// Failed (discarded) trajectory attempts.
    pub failed_solves: usize,
    /// Weakly active constraints over all decisions of the batch.
    pub weakly_active: usize,
    /// Wall time of the iteration, evaluation included [s].
    pub wall_time_s: f64,
    /// θ⁽ᵏ⁾.
    pub theta: Vec<f64>,
}

/// The trainer's mutable state; everything a checkpoint must hold.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// Current θ⁽ᵏ⁾.
    pub theta: Vec<f64>,
    /// Optimiser state.
    pub optimizer: OptimizerState,
    /// Frozen cost scale L_ref (set by the first batch when cost normalisation is on).
    pub l_ref: Option<f64>,
    /// Next iteration k.
    pub iteration: usize,
    /// Training trajectories attempted so far (the next one is number j = `trajectories`).
    pub trajectories: u64,
    /// Log of every iteration so far.
    pub history: Vec<IterationRecord>,
    /// Accumulated training wall time [s].
    pub elapsed_s: f64,
}

/// (eval cost, transient, steady) of one evaluation.
type EvalTriple = (Option<f64>, Option<f64>, Option<f64>);

/// One collected trajectory.
#[derive(Clone, Debug)]
struct Rollout {
    cost: f64,
    score: Vec<f64>,
    weakly_active: usize,
    /// Deterministic-policy cost from the same start ([`Baseline::Deterministic`]).
    baseline: Option<f64>,
}

/// The DiffOP trainer (Algorithm 1).
#[derive(Debug)]
pub struct Trainer {
    config: TrainConfig,
    sampler: TruncatedGaussian,
    state: TrainState,
}

impl Trainer {
    /// A fresh run: θ⁽⁰⁾ from the θ(0) stream of the run seed (`ENVIRONMENTS.md` §1.4, §7.12).
    pub fn new(config: TrainConfig) -> Result<Self, LearnError> {
        let theta = initial_theta(&config)?;
        let state = TrainState {
            theta,
            optimizer: OptimizerState::default(),
            l_ref: None,
            iteration: 0,
            trajectories: 0,
            history: Vec::new(),
            elapsed_s: 0.0,
        };
        Self::from_state(config, state)
    }

    /// Continue from a saved state (see [`super::checkpoint`]).
    pub fn from_state(config: TrainConfig, state: TrainState) -> Result<Self, LearnError> {
        config.validate()?;
        let sampler = TruncatedGaussian::new(&config.exploration())?;
        let d = initial_theta(&config)?.len();
        if state.theta.len() != d {
            return Err(LearnError::Checkpoint(format!(
                "θ has {} entries, the {} policy has d = {d}",
                state.theta.len(),
                config.task
            )));
        }
        Ok(Self {
            config,
            sampler,
            state,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// The state (θ, optimiser, counters, history).
    pub fn state(&self) -> &TrainState {
        &self.state
    }

    /// Current θ.
    pub fn theta(&self) -> &[f64] {
        &self.state.theta
    }

    /// Change the iteration budget K (e.g. when resuming with a larger K).
    pub fn set_iterations(&mut self, iterations: usize) -> Result<(), LearnError> {
        let mut c = self.config.clone();
        c.iterations = iterations;
        c.validate()?;
        self.config = c;
        // A final evaluation row of a shorter run is dropped so the history stays ordered.
        if let Some(last) = self.state.history.last() {
            if last.batch_mean_cost.is_none() && last.iteration < iterations {
                self.state.history.pop();
            }
        }
        Ok(())
    }

    /// True when all K iterations have run.
    pub fn is_done(&self) -> bool {
        self.state.iteration >= self.config.iterations
    }

    /// Evaluate θ deterministically; a failed evaluation is logged as `None` rather than
    /// stopping training.
    fn evaluate_now(&self) -> Result<EvalTriple, LearnError> {
        match evaluate_theta(&self.config, &self.state.theta) {
            Ok(e) => Ok((Some(e.cost), e.transient, e.steady)),
            Err(LearnError::Evaluation(_)) => Ok((None, None, None)),
            Err(e) => Err(e),
        }
    }

    /// One iteration of Algorithm 1. Returns its record (also appended to the history).
    pub fn step(&mut self) -> Result<IterationRecord, LearnError> {
        let start = Instant::now();
        let k = self.state.iteration;
        let cfg = &self.config;
        let n_batch = cfg.batch;
        let (eval_cost, transient, steady) = if cfg.eval_every > 0 && k % cfg.eval_every == 0 {
            self.evaluate_now()?
        } else {
            (None, None, None)
        };
        let theta = self.state.theta.clone();
        let mut counter = self.state.trajectories;
        let this = &*self;
        let (rollouts, failed) =
            collect_batch(n_batch, &mut counter, cfg.max_failure_fraction, k, |j| {
                this.rollout(&theta, j)
            })?;
        self.state.trajectories = counter;
        let (mut g, batch_mean) = self.estimate(&rollouts)?;
        let grad_norm = optimizer::norm(&g);
        if !grad_norm.is_finite() {
            return Err(LearnError::NonFinite {
                iteration: k,
                what: "the gradient estimate ĝ",
            });
        }
        if let Some(c) = self.config.clip_grad_norm {
            optimizer::clip(&mut g, c);
        }
        let mut next = theta.clone();
        optimizer::update(
            &self.config.optimizer,
            &mut self.state.optimizer,
            self.config.learning_rate,
            &mut next,
            &g,
        );
        if next.iter().any(|v| !v.is_finite()) {
            return Err(LearnError::NonFinite {
                iteration: k,
                what: "θ after the update",
            });
        }
        project(&self.config, &mut next)?;
        self.state.theta = next;
        self.state.iteration += 1;
        let wall = start.elapsed().as_secs_f64();
        self.state.elapsed_s += wall;
        let record = IterationRecord {
            iteration: k,
            batch_mean_cost: Some(batch_mean),
            eval_cost,
            transient,
            steady,
            grad_norm: Some(grad_norm),
            failed_solves: failed,
            weakly_active: rollouts.iter().map(|r| r.weakly_active).sum(),
            wall_time_s: wall,
            theta,
        };
        self.state.history.push(record.clone());
        Ok(record)
    }

    /// Evaluate the final θ⁽ᴷ⁾ and append an evaluation-only record (once).
    pub fn finish(&mut self) -> Result<IterationRecord, LearnError> {
        if let Some(last) = self.state.history.last() {
            if last.batch_mean_cost.is_none() && last.iteration == self.state.iteration {
                return Ok(last.clone());
            }
        }
        let start = Instant::now();
        let (eval_cost, transient, steady) = self.evaluate_now()?;
        let wall = start.elapsed().as_secs_f64();
        self.state.elapsed_s += wall;
        let record = IterationRecord {
            iteration: self.state.iteration,
            batch_mean_cost: None,
            eval_cost,
            transient,
            steady,
            grad_norm: None,
            failed_solves: 0,
            weakly_active: 0,
            wall_time_s: wall,
            theta: self.state.theta.clone(),
        };
        self.state.history.push(record.clone());
        Ok(record)
    }

    /// ĝ = (1/N) Σ w_n s_n and the batch mean cost; freezes L_ref at the first batch.
    fn estimate(&mut self, rollouts: &[Rollout]) -> Result<(Vec<f64>, f64), LearnError> {
        let n = rollouts.len();
        let d = self.state.theta.len();
        let total: f64 = rollouts.iter().map(|r| r.cost).sum();
        let mean = total / n as f64;
        if !mean.is_finite() {
            return Err(LearnError::NonFinite {
                iteration: self.state.iteration,
                what: "the batch cost",
            });
        }
        let l_ref = if self.config.normalize_cost {
            *self
                .state
                .l_ref
                .get_or_insert_with(|| mean.abs().max(L_REF_FLOOR))
        } else {
            1.0
        };
        let costs: Vec<f64> = rollouts.iter().map(|r| r.cost).collect();
        let scores: Vec<&[f64]> = rollouts.iter().map(|r| r.score.as_slice()).collect();
        let g = match self.config.baseline {
            Baseline::Deterministic => {
                let adjusted: Vec<f64> = rollouts
                    .iter()
                    .map(|r| r.cost - r.baseline.unwrap_or(0.0))
                    .collect();
                gradient_estimate(&adjusted, &scores, d, Baseline::None, l_ref)
            }
            b => gradient_estimate(&costs, &scores, d, b, l_ref),
        };
        Ok((g, mean))
    }

    /// Trajectory number j with parameters θ.
    fn rollout(&self, theta: &[f64], j: u64) -> Result<Rollout, Abort> {
        let mut rng_e = stream(self.config.seed, Stream::Exploration);
        rng_e.set_stream(j);
        match self.config.task.nonlinear() {
            Some(task) => {
                let mut rng_x = stream(self.config.seed, Stream::InitialState);
                rng_x.set_stream(j);
                self.rollout_nonlinear(task, theta, &mut rng_x, &mut rng_e)
            }
            None => self.rollout_voltage(theta, j, &mut rng_e),
        }
    }

    fn policy<M: OcpModel>(&self, model: M, theta: &[f64]) -> Result<OptPolicy<M>, Abort> {
        Ok(OptPolicy::new(
            model,
            self.config.horizon,
            self.config.h,
            theta.to_vec(),
            self.config.solver.clone(),
        )?)
    }

    fn rollout_nonlinear(
        &self,
        task: NonlinearTask,
        theta: &[f64],
        rng_x: &mut ChaCha8Rng,
        rng_e: &mut ChaCha8Rng,
    ) -> Result<Rollout, Abort> {
        let mut env = NonlinearEnv::new(task);
        let mut x = env.reset(rng_x)?;
        let x_start = x.clone();
        let mut policy = self.policy(Table1Policy::new(task), theta)?;
        let m = env.action_dim();
        let big_t = env.horizon();
        let d = theta.len();
        let (mut s, mut tmp) = (vec![0.0; d], vec![0.0; d]);
        let (mut cost, mut weak, mut t) = (0.0, 0, 0);
        while t < big_t {
            let k = self.config.h.min(big_t - t);
            let (u, w) =
                sample_decision(&mut policy, &self.sampler, &x, k, rng_e, &mut s, &mut tmp)?;
            weak += w;
            for ui in u.chunks(m) {
                let step = env.step(ui)?;
                cost += step.cost;
                x = step.observation;
            }
            t += k;
        }
        let baseline = if self.config.baseline == Baseline::Deterministic {
            policy.reset();
            x = env.reset_to(&x_start)?;
            let mut det = 0.0;
            let mut t = 0;
            while t < big_t {
                let k = self.config.h.min(big_t - t);
                policy.plan(&x)?;
                for ui in policy.planned_actions(k).chunks(m) {
                    let step = env.step(ui)?;
                    det += step.cost;
                    x = step.observation;
                }
                t += k;
            }
            Some(det)
        } else {
            None
        };
        Ok(Rollout {
            cost,
            score: s,
            weakly_active: weak,
            baseline,
        })
    }

    fn rollout_voltage(
        &self,
        theta: &[f64],
        j: u64,
        rng_e: &mut ChaCha8Rng,
    ) -> Result<Rollout, Abort> {
        let seed = u32::try_from(VOLTAGE_TRAIN_SEED0 + j).map_err(|_| {
            Abort::Hard(LearnError::Config(
                "voltage training ran out of scenario seeds (u32)".into(),
            ))
        })?;
        let mut env = VoltageEnv::new(VoltageEnvSettings::training())?;
        env.reset_seed(seed)?;
        let mut policy = self.policy(VoltagePolicy::default(), theta)?;
        policy.set_context(&env.policy_context())?;
        let big_t = env.settings().horizon;
        let d = theta.len();
        let (mut s, mut tmp) = (vec![0.0; d], vec![0.0; d]);
        let (mut cost, mut weak, mut t) = (0.0, 0, 0);
        while t < big_t {
            let k = self.config.h.min(big_t - t);
            let x = env.policy_state();
            let (u, w) =
                sample_decision(&mut policy, &self.sampler, &x, k, rng_e, &mut s, &mut tmp)?;
            weak += w;
            // The score used the sampled, pre-saturation increment; the plant saturates.
            for ui in u.chunks(3) {
                let step = env.step_u([ui[0], ui[1], ui[2]])?;
                cost += step.cost;
            }
            t += k;
        }
        let baseline = if self.config.baseline == Baseline::Deterministic {
            env.reset_seed(seed)?;
            policy.reset();
            let mut det = 0.0;
            let mut t = 0;
            while t < big_t {
                let k = self.config.h.min(big_t - t);
                policy.plan(&env.policy_state())?;
                for ui in policy.planned_actions(k).chunks(3) {
                    det += env.step_u([ui[0], ui[1], ui[2]])?.cost;
                }
                t += k;
            }
            Some(det)
        } else {
            None
        };
        Ok(Rollout {
            cost,
            score: s,
            weakly_active: weak,
            baseline,
        })
    }
}

/// One decision of Algorithm 1 (a low-level kernel): solve from `x`, sample the first k ≤ h
/// executed actions u = u* + ε with `sampler`, and add the decision's score contribution
/// (∇_θ u*_{0:k−1})ᵀ (u − u*)/σ² to `s` (one adjoint solve; `tmp` is d-long scratch).
/// Returns the sampled actions (k·m, pre-saturation) and the weakly-active count of the solve.
pub fn sample_decision<M: OcpModel>(
    policy: &mut OptPolicy<M>,
    sampler: &TruncatedGaussian,
    x: &[f64],
    k: usize,
    rng: &mut ChaCha8Rng,
    s: &mut [f64],
    tmp: &mut [f64],
) -> Result<(Vec<f64>, usize), PolicyError> {
    let weak = policy.plan(x)?.weakly_active;
    let u_star = policy.planned_actions(k);
    let mut u = vec![0.0; u_star.len()];
    let sampler_err = |e: SamplerError| PolicyError::Settings(e.to_string());
    sampler
        .sample_into(&u_star, &mut u, rng)
        .map_err(sampler_err)?;
    let mut seed = vec![0.0; u.len()];
    sampler.score(&u, &u_star, &mut seed).map_err(sampler_err)?;
    policy.vjp_controls(&seed, tmp)?;
    for (si, ti) in s.iter_mut().zip(tmp.iter()) {
        *si += ti;
    }
    Ok((u, weak))
}

/// The REINFORCE estimate ĝ = (1/N) Σ_n w_n s_n (d entries) from episode costs L_n and score
/// sums s_n, with w_n = (L_n − b_n)/L_ref: b_n = 0 ([`Baseline::None`]) or the leave-one-out
/// mean ([`Baseline::LeaveOneOut`], N ≥ 2; with N = 1 it falls back to b = 0). Summed in order.
pub fn gradient_estimate(
    costs: &[f64],
    scores: &[&[f64]],
    d: usize,
    baseline: Baseline,
    l_ref: f64,
) -> Vec<f64> {
    let n = costs.len();
    let total: f64 = costs.iter().sum();
    let mut g = vec![0.0; d];
    for (&l, s) in costs.iter().zip(scores) {
        let b = match baseline {
            Baseline::LeaveOneOut if n > 1 => (total - l) / (n - 1) as f64,
            _ => 0.0,
        };
        let w = (l - b) / l_ref / n as f64;
        for (gi, si) in g.iter_mut().zip(s.iter()) {
            *gi += w * si;
        }
    }
    g
}
