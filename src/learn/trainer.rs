//! Algorithm 1: trajectory collection, the REINFORCE estimate and the update
//! (`docs/spec/ALGORITHMS.md` §5–6; equations in the [module docs](super)).
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
use super::evaluate::{evaluate_point, initial_theta, project, EvalPoint};
use super::optimizer::{self, OptimizerState};
use super::pdp::init::{pdp_initial_theta, InitMethod};
use super::LearnError;
use crate::envs::voltage::{VoltageEnv, VoltageEnvSettings};
use crate::envs::{Env, NonlinearEnv};
use crate::model::tasks::{NonlinearTask, Table1Policy, VoltagePolicy};
use crate::model::OcpModel;
use crate::policy::sampler::TruncatedGaussian;
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
    /// Why the evaluation due at this iteration failed (a solve or plant failure on one of
    /// the evaluation states); the metrics are then `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_error: Option<String>,
    /// ‖ĝ‖ before clipping.
    pub grad_norm: Option<f64>,
    /// Failed (discarded) trajectory attempts.
    pub failed_solves: usize,
    /// Weakly active constraints over all decisions of the batch.
    pub weakly_active: usize,
    /// Wall time of the iteration, evaluation included \[s\].
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
    /// Accumulated training wall time \[s\].
    pub elapsed_s: f64,
}

/// One collected trajectory: its per-step costs and its score terms.
#[derive(Clone, Debug)]
struct Rollout {
    cost: f64,
    episode: EpisodeTerms,
    weakly_active: usize,
}

/// The DiffOP trainer (Algorithm 1).
#[derive(Debug)]
pub struct Trainer {
    config: TrainConfig,
    sampler: TruncatedGaussian,
    /// The antithetic partner of `sampler` (draws −ε), used by odd attempts when
    /// [`TrainConfig::antithetic`] is set.
    mirrored: TruncatedGaussian,
    state: TrainState,
}

impl Trainer {
    /// A fresh run: θ⁽⁰⁾ from the θ(0) stream of the run seed (`docs/spec/ENVIRONMENTS.md` §1.4, §7.12).
    ///
    /// With `init = "pdp"` θ⁽⁰⁾ is PDP (Offline)'s θ after its imitation phase
    /// ([`super::pdp::init`]).
    pub fn new(config: TrainConfig) -> Result<Self, LearnError> {
        config.validate()?;
        let theta = match config.init {
            InitMethod::Theta0 => initial_theta(&config)?,
            InitMethod::Pdp => pdp_initial_theta(&config)?,
        };
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
            mirrored: sampler.clone().mirrored(),
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
    fn evaluate_now(&self) -> Result<EvalPoint, LearnError> {
        evaluate_point(&self.config, &self.state.theta)
    }

    /// One iteration of Algorithm 1. Returns its record (also appended to the history).
    pub fn step(&mut self) -> Result<IterationRecord, LearnError> {
        let start = Instant::now();
        let k = self.state.iteration;
        let cfg = &self.config;
        let n_batch = cfg.batch;
        let ev = if cfg.eval_every > 0 && k % cfg.eval_every == 0 {
            self.evaluate_now()?
        } else {
            EvalPoint::default()
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
            self.config.learning_rate_at(k),
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
            eval_cost: ev.cost,
            transient: ev.transient,
            steady: ev.steady,
            eval_error: ev.error,
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
        let ev = self.evaluate_now()?;
        let wall = start.elapsed().as_secs_f64();
        self.state.elapsed_s += wall;
        let record = IterationRecord {
            iteration: self.state.iteration,
            batch_mean_cost: None,
            eval_cost: ev.cost,
            transient: ev.transient,
            steady: ev.steady,
            eval_error: ev.error,
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
        let episodes: Vec<&EpisodeTerms> = rollouts.iter().map(|r| &r.episode).collect();
        let g = causal_gradient_estimate(&episodes, d, self.config.baseline, l_ref);
        Ok((g, mean))
    }

    /// Trajectory number j with parameters θ. Its streams (initial state, scenario,
    /// exploration) are number j, or with antithetic pairs number ⌊j/2⌋, odd j drawing −ε.
    fn rollout(&self, theta: &[f64], j: u64) -> Result<Rollout, Abort> {
        let (id, sampler) = if self.config.antithetic {
            let sampler = if j % 2 == 1 {
                &self.mirrored
            } else {
                &self.sampler
            };
            (j / 2, sampler)
        } else {
            (j, &self.sampler)
        };
        let mut rng_e = stream(self.config.seed, Stream::Exploration);
        rng_e.set_stream(id);
        match self.config.task.nonlinear() {
            Some(task) => {
                let mut rng_x = stream(self.config.seed, Stream::InitialState);
                rng_x.set_stream(id);
                self.rollout_nonlinear(task, theta, sampler, &mut rng_x, &mut rng_e)
            }
            None => self.rollout_voltage(theta, id, sampler, &mut rng_e),
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
        sampler: &TruncatedGaussian,
        rng_x: &mut ChaCha8Rng,
        rng_e: &mut ChaCha8Rng,
    ) -> Result<Rollout, Abort> {
        let mut env = NonlinearEnv::new(task);
        let mut x = env.reset(rng_x)?;
        let x_start = x.clone();
        let mut policy = self.policy(Table1Policy::new(task), theta)?;
        let m = env.action_dim();
        let big_t = env.horizon();
        let mut acc = ScoreAccumulator::new(theta.len(), big_t, self.config.reward_to_go);
        let mut t = 0;
        while t < big_t {
            let k = self.config.h.min(big_t - t);
            let u = acc.decide(&mut policy, sampler, &x, k, t, rng_e)?;
            for ui in u.chunks(m) {
                let step = env.step(ui)?;
                acc.step_costs.push(step.cost);
                x = step.observation;
            }
            t += k;
        }
        if self.config.baseline == Baseline::Deterministic {
            policy.reset();
            x = env.reset_to(&x_start)?;
            let mut det = Vec::with_capacity(big_t);
            let mut t = 0;
            while t < big_t {
                let k = self.config.h.min(big_t - t);
                policy.plan(&x)?;
                for ui in policy.planned_actions(k).chunks(m) {
                    let step = env.step(ui)?;
                    det.push(step.cost);
                    x = step.observation;
                }
                t += k;
            }
            acc.deterministic = Some(det);
        }
        Ok(acc.finish())
    }

    fn rollout_voltage(
        &self,
        theta: &[f64],
        j: u64,
        sampler: &TruncatedGaussian,
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
        let mut acc = ScoreAccumulator::new(theta.len(), big_t, self.config.reward_to_go);
        let mut t = 0;
        while t < big_t {
            let k = self.config.h.min(big_t - t);
            let x = env.policy_state();
            let u = acc.decide(&mut policy, sampler, &x, k, t, rng_e)?;
            // The score used the sampled, pre-saturation increment; the plant saturates.
            for ui in u.chunks(3) {
                let step = env.step_u([ui[0], ui[1], ui[2]])?;
                acc.step_costs.push(step.cost);
            }
            t += k;
        }
        if self.config.baseline == Baseline::Deterministic {
            env.reset_seed(seed)?;
            policy.reset();
            let mut det = Vec::with_capacity(big_t);
            let mut t = 0;
            while t < big_t {
                let k = self.config.h.min(big_t - t);
                policy.plan(&env.policy_state())?;
                for ui in policy.planned_actions(k).chunks(3) {
                    det.push(env.step_u([ui[0], ui[1], ui[2]])?.cost);
                }
                t += k;
            }
            acc.deterministic = Some(det);
        }
        Ok(acc.finish())
    }
}

/// Collects one trajectory's score terms while it runs: one summed score (eq. 8) or, with
/// reward-to-go, one score per executed action tagged with its time step.
struct ScoreAccumulator {
    causal: bool,
    sum: Vec<f64>,
    tmp: Vec<f64>,
    terms: Vec<ScoreTerm>,
    step_costs: Vec<f64>,
    deterministic: Option<Vec<f64>>,
    weakly_active: usize,
}

impl ScoreAccumulator {
    fn new(d: usize, big_t: usize, causal: bool) -> Self {
        Self {
            causal,
            sum: vec![0.0; d],
            tmp: vec![0.0; d],
            terms: Vec::new(),
            step_costs: Vec::with_capacity(big_t),
            deterministic: None,
            weakly_active: 0,
        }
    }

    /// One decision at time t executing k actions: solve, sample u = u* + ε, add the score
    /// terms. Returns the sampled actions (pre-saturation).
    fn decide<M: OcpModel>(
        &mut self,
        policy: &mut OptPolicy<M>,
        sampler: &TruncatedGaussian,
        x: &[f64],
        k: usize,
        t: usize,
        rng: &mut ChaCha8Rng,
    ) -> Result<Vec<f64>, PolicyError> {
        if self.causal {
            let (u, weak, rows) = sample_decision_per_action(policy, sampler, x, k, rng)?;
            self.weakly_active += weak;
            self.terms.extend(
                rows.into_iter()
                    .enumerate()
                    .map(|(j, score)| ScoreTerm { t: t + j, score }),
            );
            Ok(u)
        } else {
            let (u, weak) =
                sample_decision(policy, sampler, x, k, rng, &mut self.sum, &mut self.tmp)?;
            self.weakly_active += weak;
            Ok(u)
        }
    }

    fn finish(self) -> Rollout {
        let terms = if self.causal {
            self.terms
        } else {
            vec![ScoreTerm {
                t: 0,
                score: self.sum,
            }]
        };
        Rollout {
            cost: self.step_costs.iter().sum(),
            episode: EpisodeTerms {
                step_costs: self.step_costs,
                terms,
                deterministic_costs: self.deterministic,
            },
            weakly_active: self.weakly_active,
        }
    }
}

/// One score term of a trajectory: `score` is weighted by the cost from step `t` on minus the
/// baseline.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScoreTerm {
    /// First step whose cost counts in the weight (0: the whole episode, eq. 8).
    pub t: usize,
    /// The score s (d).
    pub score: Vec<f64>,
}

/// What the REINFORCE estimate needs of one trajectory.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EpisodeTerms {
    /// True stage costs c_0 … c_{T−1} (the terminal cost folded into the last).
    pub step_costs: Vec<f64>,
    /// Score terms (eq. 8 is the single term t = 0 with the summed score).
    pub terms: Vec<ScoreTerm>,
    /// Step costs of the noise-free policy from the same start ([`Baseline::Deterministic`]).
    pub deterministic_costs: Option<Vec<f64>>,
}

/// Σ_{τ≥t} c_τ.
fn cost_to_go(costs: &[f64], t: usize) -> f64 {
    costs.get(t..).map_or(0.0, |c| c.iter().sum())
}

/// The REINFORCE estimate with causal weights, ĝ = (1/N) Σ_n Σ_terms (G_{n,t} − b_{n,t})/L_ref · s:
/// b = 0 ([`Baseline::None`]), the mean G_t of the other trajectories
/// ([`Baseline::LeaveOneOut`], N ≥ 2), or the noise-free policy's cost from t on
/// ([`Baseline::Deterministic`]; 0 where it was not recorded). With one term (0, s) per
/// trajectory this is [`gradient_estimate`]. Summed in order (deterministic).
pub fn causal_gradient_estimate(
    episodes: &[&EpisodeTerms],
    d: usize,
    baseline: Baseline,
    l_ref: f64,
) -> Vec<f64> {
    let n = episodes.len();
    // Σ_j G_{j,t} for every t a term uses (the leave-one-out baseline subtracts the own G).
    let horizon = episodes
        .iter()
        .map(|e| e.step_costs.len())
        .max()
        .unwrap_or(0);
    let totals: Vec<f64> = if baseline == Baseline::LeaveOneOut && n > 1 {
        (0..=horizon)
            .map(|t| episodes.iter().map(|o| cost_to_go(&o.step_costs, t)).sum())
            .collect()
    } else {
        Vec::new()
    };
    let mut g = vec![0.0; d];
    for ep in episodes {
        for term in &ep.terms {
            let t = term.t;
            let big_g = cost_to_go(&ep.step_costs, t);
            let b = match baseline {
                Baseline::None => 0.0,
                Baseline::LeaveOneOut if n > 1 => {
                    let total = totals.get(t).copied().unwrap_or(0.0);
                    (total - big_g) / (n - 1) as f64
                }
                Baseline::LeaveOneOut => 0.0,
                Baseline::Deterministic => ep
                    .deterministic_costs
                    .as_deref()
                    .map_or(0.0, |c| cost_to_go(c, t)),
            };
            let w = (big_g - b) / l_ref / n as f64;
            for (gi, si) in g.iter_mut().zip(term.score.iter()) {
                *gi += w * si;
            }
        }
    }
    g
}

/// (sampled actions k·m, weakly-active count, k score rows of d) of
/// [`sample_decision_per_action`].
pub type PerActionDecision = (Vec<f64>, usize, Vec<Vec<f64>>);

/// Solve from `x`, sample the first k executed actions u = u* + ε and their score seed
/// (u − u*)/σ². Returns (u, weakly-active count, seed).
fn plan_and_sample<M: OcpModel>(
    policy: &mut OptPolicy<M>,
    sampler: &TruncatedGaussian,
    x: &[f64],
    k: usize,
    rng: &mut ChaCha8Rng,
) -> Result<(Vec<f64>, usize, Vec<f64>), PolicyError> {
    let weak = policy.plan(x)?.weakly_active;
    let u_star = policy.planned_actions(k);
    let mut u = vec![0.0; u_star.len()];
    sampler
        .sample_into(&u_star, &mut u, rng)
        .map_err(PolicyError::Sampler)?;
    let mut seed = vec![0.0; u.len()];
    sampler
        .score(&u, &u_star, &mut seed)
        .map_err(PolicyError::Sampler)?;
    Ok((u, weak, seed))
}

/// [`sample_decision`] with one score per executed action: row j of the result is
/// (∇_θ u*_j)ᵀ (u_j − u*_j)/σ² (one VJP when k = 1, one full Jacobian otherwise).
/// Returns the sampled actions, the weakly-active count and the k score rows.
pub fn sample_decision_per_action<M: OcpModel>(
    policy: &mut OptPolicy<M>,
    sampler: &TruncatedGaussian,
    x: &[f64],
    k: usize,
    rng: &mut ChaCha8Rng,
) -> Result<PerActionDecision, PolicyError> {
    let (u, weak, seed) = plan_and_sample(policy, sampler, x, k, rng)?;
    let d = policy.theta().len();
    let mut rows = vec![vec![0.0; d]; k.min(policy.actions_per_solve())];
    policy.vjp_controls_per_action(&seed, &mut rows)?;
    Ok((u, weak, rows))
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
    let (u, weak, seed) = plan_and_sample(policy, sampler, x, k, rng)?;
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
