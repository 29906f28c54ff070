//! The Table-2 evaluation (`docs/spec/ENVIRONMENTS.md` §7.10, `docs/spec/RESULTS.md` §2 and §4).
//!
//! For each test seed s: reset(s), run the deterministic controller for exactly T = 100 steps with
//! the evaluation limits (no early termination) and record F_t = F(q_t). Then
//!
//! ```text
//! transient = mean_s Σ_{t=1}^{T} γ^t F_t(s)   (γ = 0.99, the first step weighted γ)
//! steady    = mean_s F_T(s)
//! ```
//!
//! also split by scenario family. Scenarios run in parallel (rayon); each gets a fresh controller
//! and plant, and the means are reduced in seed order, so the result is bit-identical for any
//! thread count.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::network::N_CTRL;
use super::scenario::ScenarioKind;
use super::{VoltageEnv, VoltageEnvSettings};
use crate::envs::{EnvError, InputError};

/// A deterministic voltage controller: maps the plant's current state to an increment u_t.
///
/// `reset` is called right after every `reset_seed` and must clear all per-episode state (the
/// evaluation's determinism relies on it); `act` is called before every step with the plant in
/// the state after step t − 1 (v_{t−1}, q_{t−1}; v_0 and q_0 = 0 at t = 1).
pub trait VoltageController {
    /// Error of the controller (e.g. a failed optimisation).
    type Error: std::error::Error + Send + Sync + 'static;
    /// Start a new episode.
    fn reset(&mut self, env: &VoltageEnv) -> Result<(), Self::Error>;
    /// The increment u_t \[MVar\] for the next step.
    fn act(&mut self, env: &VoltageEnv) -> Result<[f64; N_CTRL], Self::Error>;
}

/// A stateless controller from a closure `FnMut(&VoltageEnv) -> u_t`.
///
/// ```
/// use diffop::envs::voltage::metrics::FnController;
/// use diffop::envs::voltage::{evaluate, EvalSettings};
/// let settings = EvalSettings { scenarios: 4, ..EvalSettings::default() };
/// let m = evaluate(&settings, || FnController(|env: &diffop::envs::VoltageEnv| {
///     env.v().map(|v| 0.5 * (1.0 - v * v))
/// }))
/// .unwrap();
/// assert!(m.transient < 0.0);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct FnController<F>(pub F);

impl<F: FnMut(&VoltageEnv) -> [f64; N_CTRL]> VoltageController for FnController<F> {
    type Error = std::convert::Infallible;

    fn reset(&mut self, _env: &VoltageEnv) -> Result<(), Self::Error> {
        Ok(())
    }

    fn act(&mut self, env: &VoltageEnv) -> Result<[f64; N_CTRL], Self::Error> {
        Ok((self.0)(env))
    }
}

/// Errors of the evaluation.
#[derive(Debug, Error)]
pub enum EvalError<E: std::error::Error + 'static> {
    /// Invalid evaluation settings.
    #[error("invalid evaluation settings: {0}")]
    InvalidSettings(EnvError),
    /// The plant failed (e.g. the power flow diverged).
    #[error("plant failed at seed {seed}, t = {t}: {source}")]
    Env {
        /// Reset seed.
        seed: u32,
        /// Step being taken (0 = reset).
        t: usize,
        /// Plant error.
        #[source]
        source: EnvError,
    },
    /// The controller failed.
    #[error("controller failed at seed {seed}, t = {t}: {source}")]
    Controller {
        /// Reset seed.
        seed: u32,
        /// Step being taken (0 = controller reset).
        t: usize,
        /// Controller error.
        #[source]
        source: E,
    },
}

/// Evaluation settings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalSettings {
    /// First test seed (default 0).
    pub first_seed: u32,
    /// Number of scenarios: seeds first_seed … first_seed + scenarios − 1 (default 500).
    pub scenarios: usize,
    /// Discount γ of the transient cost (default 0.99).
    pub discount: f64,
    /// The plant: limits, episode length (the number of steps) and power flow (default: the
    /// evaluation settings, 100 steps).
    pub env: VoltageEnvSettings,
}

impl Default for EvalSettings {
    fn default() -> Self {
        Self {
            first_seed: 0,
            scenarios: 500,
            discount: 0.99,
            env: VoltageEnvSettings::evaluation(),
        }
    }
}

impl EvalSettings {
    /// Check the settings.
    pub fn validate(&self) -> Result<(), EnvError> {
        let bad = |e| Err(EnvError::InvalidSettings(e));
        if self.scenarios == 0 {
            return bad(InputError::Zero {
                what: "number of evaluation scenarios",
            });
        }
        if u32::try_from(self.scenarios - 1)
            .ok()
            .and_then(|n| self.first_seed.checked_add(n))
            .is_none()
        {
            return bad(InputError::SeedRange {
                what: "evaluation seed range",
            });
        }
        if !(self.discount.is_finite() && self.discount > 0.0 && self.discount <= 1.0) {
            return bad(InputError::OutOfRange {
                what: "discount".into(),
                expected: "in (0, 1]",
                value: self.discount,
            });
        }
        self.env.validate()
    }
}

/// One evaluated episode.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpisodeRecord {
    /// Reset seed.
    pub seed: u32,
    /// Scenario family.
    pub kind: ScenarioKind,
    /// Reset magnitudes v_0 [p.u.].
    pub v0: [f64; N_CTRL],
    /// Set-points q_1 … q_T \[MVar\].
    pub q: Vec<[f64; N_CTRL]>,
    /// Magnitudes v_1 … v_T [p.u.].
    pub v: Vec<[f64; N_CTRL]>,
    /// Costs F_1 … F_T.
    pub cost: Vec<f64>,
    /// Σ_t γ^t F_t.
    pub transient: f64,
    /// F_T.
    pub steady: f64,
}

/// The Table-2 metrics. Group means over an empty group are NaN (serialised as `null`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct VoltageMetrics {
    /// Mean discounted cost Σ_{t=1}^{T} γ^t F_t.
    pub transient: f64,
    /// Mean final cost F_T.
    pub steady: f64,
    /// Number of scenarios.
    pub scenarios: usize,
    /// Transient cost over the low-voltage scenarios.
    pub transient_low: f64,
    /// Steady-state cost over the low-voltage scenarios.
    pub steady_low: f64,
    /// Number of low-voltage scenarios.
    pub n_low: usize,
    /// Transient cost over the high-voltage scenarios.
    pub transient_high: f64,
    /// Steady-state cost over the high-voltage scenarios.
    pub steady_high: f64,
    /// Number of high-voltage scenarios.
    pub n_high: usize,
}

impl VoltageMetrics {
    /// Aggregate episode records, summing in the given order.
    pub fn from_records(records: &[EpisodeRecord]) -> Self {
        let mean = |kind: Option<ScenarioKind>| {
            let (mut tr, mut st, mut n) = (0.0, 0.0, 0usize);
            for r in records.iter().filter(|r| kind.is_none_or(|k| r.kind == k)) {
                tr += r.transient;
                st += r.steady;
                n += 1;
            }
            let d = n as f64;
            (tr / d, st / d, n)
        };
        let (transient, steady, scenarios) = mean(None);
        let (transient_low, steady_low, n_low) = mean(Some(ScenarioKind::LowVoltage));
        let (transient_high, steady_high, n_high) = mean(Some(ScenarioKind::HighVoltage));
        Self {
            transient,
            steady,
            scenarios,
            transient_low,
            steady_low,
            n_low,
            transient_high,
            steady_high,
            n_high,
        }
    }
}

/// Run one episode of `env.settings().horizon` steps from reset seed `seed` with `controller`.
pub fn run_episode<C: VoltageController>(
    env: &mut VoltageEnv,
    controller: &mut C,
    seed: u32,
    discount: f64,
) -> Result<EpisodeRecord, EvalError<C::Error>> {
    let env_err = |t: usize| move |source| EvalError::Env { seed, t, source };
    let ctrl_err = |t: usize| move |source| EvalError::Controller { seed, t, source };
    env.reset_seed(seed).map_err(env_err(0))?;
    controller.reset(env).map_err(ctrl_err(0))?;
    let horizon = env.settings().horizon;
    let kind = env.scenario().map_or(ScenarioKind::LowVoltage, |s| s.kind);
    let mut rec = EpisodeRecord {
        seed,
        kind,
        v0: env.v0(),
        q: Vec::with_capacity(horizon),
        v: Vec::with_capacity(horizon),
        cost: Vec::with_capacity(horizon),
        transient: 0.0,
        steady: 0.0,
    };
    let mut weight = 1.0;
    for t in 1..=horizon {
        let u = controller.act(env).map_err(ctrl_err(t))?;
        let step = env.step_u(u).map_err(env_err(t))?;
        weight *= discount;
        rec.transient += weight * step.cost;
        rec.steady = step.cost;
        rec.q.push(step.q);
        rec.v.push(step.v);
        rec.cost.push(step.cost);
    }
    Ok(rec)
}

/// Run every test scenario in parallel; records are returned in seed order.
///
/// `make` builds a fresh controller for each scenario. If several scenarios fail, which error is
/// returned is unspecified (the first one rayon reports).
pub fn evaluate_episodes<C, F>(
    settings: &EvalSettings,
    make: F,
) -> Result<Vec<EpisodeRecord>, EvalError<C::Error>>
where
    C: VoltageController,
    F: Fn() -> C + Sync,
{
    settings.validate().map_err(EvalError::InvalidSettings)?;
    let n = settings.scenarios as u32;
    (0..n)
        .into_par_iter()
        .map(|i| {
            let seed = settings.first_seed + i;
            let mut env = VoltageEnv::new(settings.env).map_err(|source| EvalError::Env {
                seed,
                t: 0,
                source,
            })?;
            let mut controller = make();
            run_episode(&mut env, &mut controller, seed, settings.discount)
        })
        .collect()
}

/// The Table-2 metrics of the controllers built by `make` (see [`evaluate_episodes`]).
pub fn evaluate<C, F>(
    settings: &EvalSettings,
    make: F,
) -> Result<VoltageMetrics, EvalError<C::Error>>
where
    C: VoltageController,
    F: Fn() -> C + Sync,
{
    evaluate_episodes(settings, make).map(|r| VoltageMetrics::from_records(&r))
}
