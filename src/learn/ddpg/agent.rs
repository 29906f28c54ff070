//! One bus's DDPG agent (`docs/spec/ALGORITHMS.md` §12.1): the monotone actor π, the critic
//! Q(v, q) on the cumulative set-point, their targets, Adam and the replay buffer.
//!
//! One update on a mini-batch of B transitions (v, q, q_prev, r, v′, done):
//!
//! ```text
//! critic  a′ = q + π′(v′, q),  y = r + γ (1 − done) Q′(v′, a′),
//!         minimise (1/B) Σ (Q(v, q) − y)²                       (Adam, lr 2·10⁻⁴)
//! actor   minimise −(1/B) Σ Q(v, q_prev + π(v, q_prev))         with the updated critic
//!         ∇ = −(1/B) Σ ∂Q/∂a · ∇π                              (Adam, lr 10⁻⁴)
//! targets θ′ ← τθ + (1 − τ)θ′ for the critic and the actor (ξ and ρ)
//! ```

use nalgebra::DMatrix;
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::adam::{soft_update, Adam};
use super::mlp::{Mlp, MlpWork};
use super::monotone::{BusInput, ExecutionRule, MonotoneLayer};
use super::replay::ReplayBuffer;
use super::DdpgError;

/// What the actor of a bus needs besides v and q.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BusContext {
    /// Execution rule.
    pub rule: ExecutionRule,
    /// Cost weight C_i.
    pub c: f64,
    /// Lower limit q̲ \[MVar\].
    pub q_min: f64,
    /// Upper limit q̄ \[MVar\].
    pub q_max: f64,
    /// Step α ∈ (0, 1].
    pub alpha: f64,
}

impl BusContext {
    /// The actor's input at voltage `v` and previous set-point `q`.
    pub fn input(&self, v: f64, q: f64) -> BusInput {
        BusInput {
            v,
            q,
            q_min: self.q_min,
            q_max: self.q_max,
            c: self.c,
            alpha: self.alpha,
        }
    }
}

/// Hyper-parameters of an update.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct UpdateSettings {
    /// Discount γ.
    pub gamma: f64,
    /// Soft-update rate τ.
    pub tau: f64,
    /// Mini-batch size B.
    pub batch: usize,
}

/// Losses of one update.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct UpdateLosses {
    /// Critic mean squared TD error (before the step).
    pub critic: f64,
    /// Actor loss −mean Q (with the updated critic, before the actor step).
    pub actor: f64,
}

/// The learned state of one bus's agent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Agent {
    /// Actor π.
    pub actor: MonotoneLayer,
    /// Target actor π′.
    pub actor_target: MonotoneLayer,
    /// Critic Q.
    pub critic: Mlp,
    /// Target critic Q′.
    pub critic_target: Mlp,
    /// Adam of the actor over [ξ; ρ].
    pub actor_adam: Adam,
    /// Adam of the critic.
    pub critic_adam: Adam,
    /// Replay buffer.
    pub buffer: ReplayBuffer,
}

/// Scratch space of the updates (not part of the state).
#[derive(Clone, Debug, Default)]
pub struct AgentWork {
    mlp: MlpWork,
    x: DMatrix<f64>,
    d_out: DMatrix<f64>,
    grad: Vec<f64>,
    scratch: Vec<f64>,
}

impl Agent {
    /// A fresh agent: actor ξ, ρ ~ U[0, 1), critic with PyTorch's initialisation (last layer
    /// U(±3·10⁻³)), targets as exact copies, Adam at rest, an empty buffer.
    pub fn new<R: Rng>(
        critic_sizes: &[usize],
        actor_lr: f64,
        critic_lr: f64,
        capacity: usize,
        rng: &mut R,
    ) -> Result<Self, DdpgError> {
        let actor = MonotoneLayer::random(rng);
        let critic = Mlp::random(critic_sizes, 3e-3, rng)?;
        Ok(Self {
            actor_target: actor.clone(),
            critic_target: critic.clone(),
            actor_adam: Adam::new(actor_lr, 2 * actor.len()),
            critic_adam: Adam::new(critic_lr, critic.theta.len()),
            actor,
            critic,
            buffer: ReplayBuffer::new(capacity),
        })
    }

    /// The actor's increment (projects ξ in place first, as every forward pass does).
    pub fn act(&mut self, ctx: &BusContext, v: f64, q: f64) -> Result<f64, DdpgError> {
        self.actor.normalise()?;
        Ok(self.actor.increment(ctx.rule, &ctx.input(v, q)))
    }

    /// One critic-then-actor update on the transitions `idx` of the buffer, then the soft
    /// target updates.
    pub fn update(
        &mut self,
        idx: &[usize],
        ctx: &BusContext,
        s: &UpdateSettings,
        work: &mut AgentWork,
    ) -> Result<UpdateLosses, DdpgError> {
        let b = idx.len();
        if b == 0 {
            return Err(DdpgError::Shape("empty mini-batch".into()));
        }
        let batch: Vec<_> = idx.iter().map(|&i| self.buffer.data[i]).collect();
        // Critic target y = r + γ(1 − done) Q′(v′, q + π′(v′, q)).
        self.actor_target.normalise()?;
        work.x.resize_mut(2, b, 0.0);
        for (k, t) in batch.iter().enumerate() {
            work.x[(0, k)] = t.v_next;
            work.x[(1, k)] = t.q
                + self
                    .actor_target
                    .increment(ctx.rule, &ctx.input(t.v_next, t.q));
        }
        let q_next = self.critic_target.forward(work.x.as_view(), &mut work.mlp);
        let y: Vec<f64> = batch
            .iter()
            .zip(q_next.iter())
            .map(|(t, qn)| t.r + s.gamma * if t.done { 0.0 } else { *qn })
            .collect();
        // Critic step on (1/B) Σ (Q(v, q) − y)².
        for (k, t) in batch.iter().enumerate() {
            work.x[(0, k)] = t.v;
            work.x[(1, k)] = t.q;
        }
        let q_now = self.critic.forward(work.x.as_view(), &mut work.mlp);
        work.d_out.resize_mut(1, b, 0.0);
        let mut critic_loss = 0.0;
        for k in 0..b {
            let e = q_now[(0, k)] - y[k];
            critic_loss += e * e;
            work.d_out[(0, k)] = 2.0 * e / b as f64;
        }
        critic_loss /= b as f64;
        work.grad.clear();
        work.grad.resize(self.critic.theta.len(), 0.0);
        self.critic
            .backward(&work.d_out, &mut work.mlp, Some(&mut work.grad));
        self.critic_adam.step(&mut self.critic.theta, &work.grad);
        // Actor step on −(1/B) Σ Q(v, q_prev + π(v, q_prev)) with the updated critic.
        self.actor.normalise()?;
        for (k, t) in batch.iter().enumerate() {
            work.x[(0, k)] = t.v;
            work.x[(1, k)] = t.q_prev + self.actor.increment(ctx.rule, &ctx.input(t.v, t.q_prev));
        }
        let q_pi = self.critic.forward(work.x.as_view(), &mut work.mlp);
        let actor_loss = -q_pi.iter().sum::<f64>() / b as f64;
        work.d_out.fill(-1.0 / b as f64);
        let dx = self.critic.backward(&work.d_out, &mut work.mlp, None);
        let n = self.actor.len();
        work.grad.clear();
        work.grad.resize(2 * n, 0.0);
        work.scratch.resize(2 * n, 0.0);
        let (g_xi, g_rho) = work.grad.split_at_mut(n);
        for (k, t) in batch.iter().enumerate() {
            let input = ctx.input(t.v, t.q_prev);
            let weight = dx[(1, k)];
            self.actor
                .increment_grad(ctx.rule, &input, weight, g_xi, g_rho, &mut work.scratch);
        }
        let mut theta: Vec<f64> = self
            .actor
            .xi
            .iter()
            .chain(&self.actor.rho)
            .copied()
            .collect();
        self.actor_adam.step(&mut theta, &work.grad);
        self.actor.xi.copy_from_slice(&theta[..n]);
        self.actor.rho.copy_from_slice(&theta[n..]);
        // Soft targets.
        soft_update(&mut self.critic_target.theta, &self.critic.theta, s.tau);
        soft_update(&mut self.actor_target.xi, &self.actor.xi, s.tau);
        soft_update(&mut self.actor_target.rho, &self.actor.rho, s.tau);
        if !(critic_loss.is_finite() && actor_loss.is_finite()) {
            return Err(DdpgError::NonFinite("DDPG losses"));
        }
        Ok(UpdateLosses {
            critic: critic_loss,
            actor: actor_loss,
        })
    }
}
