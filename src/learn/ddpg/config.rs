//! Settings of a Stable-DDPG / TASRL run (`docs/spec/ALGORITHMS.md` §12.1), validated once.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use super::monotone::ExecutionRule;
use super::DdpgError;

/// Which Table-2 method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DdpgMethod {
    /// Stable-DDPG (TASRL repository, `use_gradient = False`).
    StableDdpg,
    /// TASRL (`use_gradient = True`).
    Tasrl,
}

impl DdpgMethod {
    /// Both methods.
    pub const ALL: [DdpgMethod; 2] = [DdpgMethod::StableDdpg, DdpgMethod::Tasrl];

    /// CLI name: `stable-ddpg`, `tasrl`.
    pub fn name(self) -> &'static str {
        match self {
            DdpgMethod::StableDdpg => "stable-ddpg",
            DdpgMethod::Tasrl => "tasrl",
        }
    }

    /// The execution rule of the policy.
    pub fn rule(self) -> ExecutionRule {
        match self {
            DdpgMethod::StableDdpg => ExecutionRule::StableDdpg,
            DdpgMethod::Tasrl => ExecutionRule::Tasrl,
        }
    }

    /// Default number of training episodes: 500 (Stable-DDPG, the published row) and 800
    /// (TASRL).
    pub fn default_episodes(self) -> usize {
        match self {
            DdpgMethod::StableDdpg => 500,
            DdpgMethod::Tasrl => 800,
        }
    }
}

impl fmt::Display for DdpgMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DdpgMethod {
    type Err = DdpgError;
    /// `stable-ddpg` (or `stable_ddpg`, `stableddpg`) and `tasrl`, case-insensitive.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().replace(['_', '-'], "").as_str() {
            "stableddpg" => Ok(DdpgMethod::StableDdpg),
            "tasrl" => Ok(DdpgMethod::Tasrl),
            _ => Err(DdpgError::Config(format!(
                "unknown DDPG method `{s}`; expected stable-ddpg or tasrl"
            ))),
        }
    }
}

/// Settings of a run. [`DdpgConfig::new`] gives §12.1.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DdpgConfig {
    /// Method (execution rule).
    pub method: DdpgMethod,
    /// Run seed (network initialisation, noise and mini-batch streams).
    pub seed: u64,
    /// Training episodes; episode e resets to scenario seed `first_reset_seed + e`.
    pub episodes: usize,
    /// Scenario seed of the first training episode (0).
    pub first_reset_seed: u32,
    /// Steps per training episode at most (30).
    pub max_steps: usize,
    /// Step α of the policy during training (0.2).
    pub alpha_train: f64,
    /// Step α at evaluation (0.5).
    pub alpha_eval: f64,
    /// Discount γ (0.99).
    pub gamma: f64,
    /// Soft-update rate τ (0.01).
    pub tau: f64,
    /// Mini-batch size (256); updates start once the buffer holds more.
    pub batch: usize,
    /// Replay capacity per agent (10⁶).
    pub buffer_capacity: usize,
    /// Critic learning rate (2·10⁻⁴).
    pub critic_lr: f64,
    /// Actor learning rate (10⁻⁴).
    pub actor_lr: f64,
    /// Exploration noise standard deviation σ₀; episode e uses σ₀/√(e + 1) (0.3).
    pub noise_std: f64,
    /// Hidden widths of the critic (100, 100).
    pub critic_hidden: Vec<usize>,
    /// An episode is aborted (its last transition not stored) when min v < this (0.75).
    pub abort_voltage: f64,
    /// Evaluate the deterministic policy every this many episodes (0 = only at the end).
    pub eval_every: usize,
    /// Evaluation scenarios (test seeds 0 … n−1; 500).
    pub eval_scenarios: usize,
}

impl DdpgConfig {
    /// The settings of §12.1 for `method` with its default episode count.
    ///
    /// ```
    /// use diffop::learn::ddpg::{DdpgConfig, DdpgMethod};
    /// let c = DdpgConfig::new(DdpgMethod::Tasrl);
    /// assert_eq!((c.episodes, c.batch, c.alpha_train), (800, 256, 0.2));
    /// assert!(c.validate().is_ok());
    /// ```
    pub fn new(method: DdpgMethod) -> Self {
        Self {
            method,
            seed: 0,
            episodes: method.default_episodes(),
            first_reset_seed: 0,
            max_steps: 30,
            alpha_train: 0.2,
            alpha_eval: 0.5,
            gamma: 0.99,
            tau: 0.01,
            batch: 256,
            buffer_capacity: 1_000_000,
            critic_lr: 2e-4,
            actor_lr: 1e-4,
            noise_std: 0.3,
            critic_hidden: vec![100, 100],
            abort_voltage: 0.75,
            eval_every: 0,
            eval_scenarios: 500,
        }
    }

    /// Default run directory name `<method>-voltage-seed<S>`.
    pub fn default_run_name(&self) -> String {
        format!("{}-voltage-seed{}", self.method, self.seed)
    }

    /// Critic layer widths [2, hidden…, 1].
    pub fn critic_sizes(&self) -> Vec<usize> {
        let mut v = vec![2];
        v.extend(&self.critic_hidden);
        v.push(1);
        v
    }

    /// Check every field; the message names the first bad one.
    pub fn validate(&self) -> Result<(), DdpgError> {
        let bad = |m: String| Err(DdpgError::Config(m));
        let unit = |x: f64| x.is_finite() && x > 0.0 && x <= 1.0;
        if self.episodes == 0 || self.max_steps == 0 {
            return bad("episodes and max_steps must be at least 1".into());
        }
        if u32::try_from(self.episodes - 1)
            .ok()
            .and_then(|n| self.first_reset_seed.checked_add(n))
            .is_none()
        {
            return bad("the reset seeds of the episodes exceed u32".into());
        }
        for (name, a) in [
            ("alpha_train", self.alpha_train),
            ("alpha_eval", self.alpha_eval),
        ] {
            if !unit(a) {
                return bad(format!(
                    "{name} must be in (0, 1] (α > 1 can leave the box), got {a}"
                ));
            }
        }
        if !unit(self.gamma) || !unit(self.tau) {
            return bad(format!(
                "gamma and tau must be in (0, 1], got {} and {}",
                self.gamma, self.tau
            ));
        }
        if self.batch == 0 || self.buffer_capacity < self.batch {
            return bad(format!(
                "batch ({}) must be at least 1 and at most buffer_capacity ({})",
                self.batch, self.buffer_capacity
            ));
        }
        for (name, x) in [("critic_lr", self.critic_lr), ("actor_lr", self.actor_lr)] {
            if !(x.is_finite() && x > 0.0) {
                return bad(format!("{name} must be positive, got {x}"));
            }
        }
        if !(self.noise_std.is_finite() && self.noise_std >= 0.0) {
            return bad(format!("noise_std must be ≥ 0, got {}", self.noise_std));
        }
        if self.critic_hidden.is_empty() || self.critic_hidden.contains(&0) {
            return bad(format!(
                "critic_hidden must be positive widths, got {:?}",
                self.critic_hidden
            ));
        }
        if !(self.abort_voltage.is_finite() && self.abort_voltage >= 0.0) {
            return bad(format!(
                "abort_voltage must be ≥ 0, got {}",
                self.abort_voltage
            ));
        }
        if self.eval_scenarios == 0 {
            return bad("eval_scenarios must be at least 1".into());
        }
        Ok(())
    }
}
