//! Truncated-Gaussian exploration and the REINFORCE score (`docs/spec/ALGORITHMS.md` §4, §6.1).
//!
//! Every component j of an executed action is drawn independently around the planned action:
//!
//! ```text
//! u_j = u*_j + ε_j,    ε_j ~ 𝒩(0, σ²) conditioned on |ε_j| ≤ b
//! p(u | u*) = Π_j φ((u_j − u*_j)/σ) / (σ Z) · 𝟙{|u_j − u*_j| ≤ b},    Z = 2Φ(b/σ) − 1
//! ```
//!
//! The half-width b comes from a [`Truncation`] rule (§4.4); the default is b = 3σ.
//!
//! **Score.** Z depends on b/σ only, not on u*, because the window moves with the mean. Inside
//! the window log p = −‖u − u*‖²/(2σ²) + const, so the score of paper eq. (8),
//!
//! ```text
//! ∇_{u*} log p(u | u*) = (u − u*)/σ²,
//! ```
//!
//! is exact for the law actually sampled, and bounded by b/σ² per component.
//!
//! **Boundary term (§4.3).** Because the support moves with u*, differentiating E(L) picks up
//! a term the score does not see. For one component, everything else fixed,
//!
//! ```text
//! ∂/∂u* E[L] = E[L·(u − u*)/σ²] + g_b·(E[L | u = u* + b] − E[L | u = u* − b]),
//! g_b = φ(b/σ)/(σZ)
//! ```
//!
//! so the REINFORCE estimator's mean falls short of the true gradient. For a cost linear in u the
//! relative shortfall is 2(b/σ)φ(b/σ)/Z ([`TruncatedGaussian::boundary_shortfall`]): 0.71 at
//! b = σ, 0.027 at b = 3σ, and ≈ 1 − b²/(3σ²) for b ≪ σ.
//!
//! **Sampling (§4.2).** With Z ≥ ½ the sampler redraws ε = σ·n, n from `rand_distr`'s
//! [`StandardNormal`], until |ε| ≤ b (at most two draws on average). With Z < ½ it inverts the
//! distribution function, ε = σΦ⁻¹(Φ(−b/σ) + U·Z) with U = `rng.random::<f64>()`. Both give the
//! same law; all draws come from the caller's generator (the exploration stream,
//! [`crate::rng::Stream::Exploration`]) in component order.

use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::normal;

/// The default truncation multiplier of the `k_sigma` rule: b = 3σ (§4.4).
pub const DEFAULT_K: f64 = 3.0;

/// The paper's β = 0.01 (paper eq. 4), used by the `paper_faithful` preset with rule R1.
pub const PAPER_BETA: f64 = 0.01;

/// Smallest accepted window b/σ. Below it the inverse-CDF branch cannot resolve the window: its
/// argument Φ(−b/σ) + U·Z sits within ≈ 0.4·b/σ of ½, where f64 has a spacing of 1.1·10⁻¹⁶.
pub const MIN_WINDOW_RATIO: f64 = 1e-8;

/// Smallest acceptance probability Z for which [`SamplingMethod::Rejection`] may be forced
/// (at most 100 draws per sample on average).
pub const MIN_REJECTION_ACCEPTANCE: f64 = 0.01;

/// Errors of the exploration sampler.
#[derive(Clone, Debug, PartialEq, Error)]
pub enum SamplerError {
    /// σ is not usable as a standard deviation.
    #[error(
        "exploration σ must be finite and > 0 with σ² and 1/σ² finite and nonzero, got {sigma}"
    )]
    InvalidSigma {
        /// The rejected σ.
        sigma: f64,
    },
    /// The parameter of a truncation rule is not finite and positive.
    #[error("truncation rule `{rule}`: {name} must be finite and > 0, got {value}")]
    InvalidTruncationParameter {
        /// The rule's serde name (`k_sigma`, `r1`, `r2`, `r3`).
        rule: &'static str,
        /// The parameter's name (`k` or `β`).
        name: &'static str,
        /// The rejected value.
        value: f64,
    },
    /// The rule's half-width b is not finite and positive (overflow or underflow).
    #[error(
        "truncation rule `{rule}` gives half-width b = {half_width:e} for σ = {sigma}; \
         b must be finite and > 0"
    )]
    InvalidHalfWidth {
        /// The rule's serde name.
        rule: &'static str,
        /// The computed half-width b.
        half_width: f64,
        /// The exploration σ.
        sigma: f64,
    },
    /// The window b/σ is too narrow for the sampler to resolve.
    #[error(
        "truncation rule `{rule}` gives b/σ = {ratio:e}, below the minimum {min:e}: \
         the exploration window is too narrow relative to σ to be sampled accurately"
    )]
    WindowTooNarrow {
        /// The rule's serde name.
        rule: &'static str,
        /// The window b/σ.
        ratio: f64,
        /// [`MIN_WINDOW_RATIO`].
        min: f64,
    },
    /// Rejection sampling was forced where it would need too many draws.
    #[error(
        "rejection sampling needs acceptance probability Z ≥ {min}, but Z = {acceptance:e} \
         for this window; use the inverse-CDF method"
    )]
    RejectionTooSlow {
        /// The acceptance probability Z = 2Φ(b/σ) − 1.
        acceptance: f64,
        /// [`MIN_REJECTION_ACCEPTANCE`].
        min: f64,
    },
    /// Inverse-CDF sampling was forced on an untruncated law.
    #[error("inverse-CDF sampling needs a finite window, but truncation `none` is untruncated")]
    InverseCdfUnbounded,
    /// Two slices that must have the same length do not.
    #[error("{what} has {got} entries, expected {expected}")]
    DimensionMismatch {
        /// Which argument has the wrong length.
        what: &'static str,
        /// The expected length.
        expected: usize,
        /// The actual length.
        got: usize,
    },
}

/// How the half-width b of the exploration window follows from σ (§4.4).
///
/// The paper prints the window "u* ± βσ²I" (β = 0.01), which reads three ways (R1–R3). Serde
/// form: internally tagged by `rule`, snake case, e.g. `{ rule = "k_sigma", k = 3.0 }` or
/// `{ rule = "r1", beta = 0.01 }` or `{ rule = "none" }`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case", deny_unknown_fields)]
pub enum Truncation {
    /// b = kσ. **[PROJECT DEFAULT]** k = 3: 2.7 % boundary shortfall.
    KSigma {
        /// The multiplier k > 0.
        k: f64,
    },
    /// R1, the literal reading: b = βσ².
    R1 {
        /// The paper's β > 0.
        beta: f64,
    },
    /// R2: b = βσ.
    R2 {
        /// The paper's β > 0.
        beta: f64,
    },
    /// R3: b = β, absolute.
    R3 {
        /// The paper's β > 0.
        beta: f64,
    },
    /// No truncation: ε ~ 𝒩(0, σ²), unbounded score.
    None,
}

impl Default for Truncation {
    /// `KSigma { k: 3 }` (§4.4).
    fn default() -> Self {
        Truncation::KSigma { k: DEFAULT_K }
    }
}

impl Truncation {
    /// The `paper_faithful` reading (§14): R1 with β = 0.01, b = 0.01·σ².
    pub fn paper_faithful() -> Self {
        Truncation::R1 { beta: PAPER_BETA }
    }

    /// The rule's serde name: `k_sigma`, `r1`, `r2`, `r3` or `none`.
    pub fn name(&self) -> &'static str {
        match self {
            Truncation::KSigma { .. } => "k_sigma",
            Truncation::R1 { .. } => "r1",
            Truncation::R2 { .. } => "r2",
            Truncation::R3 { .. } => "r3",
            Truncation::None => "none",
        }
    }

    /// The half-width b of the window for exploration scale σ:
    ///
    /// ```text
    /// k_sigma: b = kσ,   r1: b = βσ²,   r2: b = βσ,   r3: b = β,   none: untruncated (None)
    /// ```
    ///
    /// No validation; see [`ExplorationConfig::validate`].
    pub fn half_width(&self, sigma: f64) -> Option<f64> {
        match *self {
            Truncation::KSigma { k } => Some(k * sigma),
            Truncation::R1 { beta } => Some(beta * sigma * sigma),
            Truncation::R2 { beta } => Some(beta * sigma),
            Truncation::R3 { beta } => Some(beta),
            Truncation::None => None,
        }
    }

    /// The rule's parameter with its name, if it has one.
    fn parameter(&self) -> Option<(&'static str, f64)> {
        match *self {
            Truncation::KSigma { k } => Some(("k", k)),
            Truncation::R1 { beta } | Truncation::R2 { beta } | Truncation::R3 { beta } => {
                Some(("β", beta))
            }
            Truncation::None => None,
        }
    }
}

/// Exploration settings: the scale σ and the truncation rule (§4.2, §4.4).
///
/// σ has no crate-wide default: it is set per task (§4.4, e.g. 0.5 for the cart-pole, 0.02 MVar
/// for the voltage task). `truncation` defaults to b = 3σ when omitted from a config file.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExplorationConfig {
    /// σ, the standard deviation of the untruncated Gaussian, in control units.
    pub sigma: f64,
    /// How the half-width b follows from σ.
    #[serde(default)]
    pub truncation: Truncation,
}

impl ExplorationConfig {
    /// Settings with scale `sigma` and the default truncation b = 3σ.
    pub fn new(sigma: f64) -> Self {
        ExplorationConfig {
            sigma,
            truncation: Truncation::default(),
        }
    }

    /// Checks the settings:
    ///
    /// * σ finite and > 0, with σ² and 1/σ² finite and nonzero (the score divides by σ²);
    /// * the rule's k or β finite and > 0;
    /// * b finite and > 0, and b/σ ≥ [`MIN_WINDOW_RATIO`].
    pub fn validate(&self) -> Result<(), SamplerError> {
        let sigma = self.sigma;
        let var = sigma * sigma;
        let sigma_ok = sigma.is_finite()
            && sigma > 0.0
            && var.is_finite()
            && var >= f64::MIN_POSITIVE
            && (1.0 / var).is_finite();
        if !sigma_ok {
            return Err(SamplerError::InvalidSigma { sigma });
        }
        let rule = self.truncation.name();
        if let Some((name, value)) = self.truncation.parameter() {
            if !(value.is_finite() && value > 0.0) {
                return Err(SamplerError::InvalidTruncationParameter { rule, name, value });
            }
        }
        if let Some(b) = self.truncation.half_width(sigma) {
            if !(b.is_finite() && b > 0.0) {
                return Err(SamplerError::InvalidHalfWidth {
                    rule,
                    half_width: b,
                    sigma,
                });
            }
            let ratio = b / sigma;
            if ratio < MIN_WINDOW_RATIO {
                return Err(SamplerError::WindowTooNarrow {
                    rule,
                    ratio,
                    min: MIN_WINDOW_RATIO,
                });
            }
        }
        Ok(())
    }
}

/// The algorithm that draws ε (§4.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SamplingMethod {
    /// Redraw ε = σ·n, n ~ `StandardNormal`, until |ε| ≤ b. Chosen when Z ≥ ½.
    Rejection,
    /// ε = σΦ⁻¹(Φ(−b/σ) + U·Z), U ~ `rng.random::<f64>()`. Chosen when Z < ½.
    InverseCdf,
}

/// The truncated Gaussian 𝒩(0, σ²) conditioned on |ε| ≤ b, with its constants precomputed
/// from a validated [`ExplorationConfig`].
///
/// ```
/// use diffop::policy::sampler::{ExplorationConfig, TruncatedGaussian};
/// use diffop::rng::{stream, Stream};
///
/// let sampler = TruncatedGaussian::new(&ExplorationConfig::new(0.5))?; // b = 3σ = 1.5
/// let mut rng = stream(0, Stream::Exploration);
/// let u_star = [1.0, -2.0];
/// let mut u = [0.0; 2];
/// sampler.sample_into(&u_star, &mut u, &mut rng)?;
/// let mut score = [0.0; 2];
/// sampler.score(&u, &u_star, &mut score)?; // (u − u*)/σ²
/// assert!(score.iter().all(|s| s.abs() <= 1.5 / 0.25));
/// # Ok::<(), diffop::policy::sampler::SamplerError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct TruncatedGaussian {
    /// The settings it was built from.
    config: ExplorationConfig,
    /// σ.
    sigma: f64,
    /// 1/σ².
    inv_var: f64,
    /// b, +∞ when untruncated.
    half_width: f64,
    /// b/σ, +∞ when untruncated.
    ratio: f64,
    /// Z = 2Φ(b/σ) − 1.
    mass: f64,
    /// Φ(−b/σ).
    lower_tail: f64,
    /// The branch used by [`TruncatedGaussian::sample_noise`].
    method: SamplingMethod,
    /// Draw −ε instead of ε ([`TruncatedGaussian::mirrored`]).
    mirrored: bool,
}

impl TruncatedGaussian {
    /// Validates `config` and precomputes Z = 2Φ(b/σ) − 1 and Φ(−b/σ); picks rejection when
    /// Z ≥ ½ and the inverse CDF otherwise.
    pub fn new(config: &ExplorationConfig) -> Result<Self, SamplerError> {
        config.validate()?;
        let sigma = config.sigma;
        let half_width = config.truncation.half_width(sigma).unwrap_or(f64::INFINITY);
        let ratio = half_width / sigma;
        let (mass, lower_tail) = if ratio.is_finite() {
            (normal::central_mass(ratio), normal::cdf(-ratio))
        } else {
            (1.0, 0.0)
        };
        let method = if mass >= 0.5 {
            SamplingMethod::Rejection
        } else {
            SamplingMethod::InverseCdf
        };
        Ok(TruncatedGaussian {
            config: *config,
            sigma,
            inv_var: 1.0 / (sigma * sigma),
            half_width,
            ratio,
            mass,
            lower_tail,
            method,
            mirrored: false,
        })
    }

    /// The antithetic partner: every draw is −ε where this sampler, from the same generator
    /// state, draws ε. The window is symmetric, so the law is the same; a pair of episodes
    /// driven by one generator stream, one with each sampler, is an antithetic pair (their
    /// REINFORCE weights cancel the even-order terms of the cost in ε).
    pub fn mirrored(mut self) -> Self {
        self.mirrored = !self.mirrored;
        self
    }

    /// Whether draws are negated ([`TruncatedGaussian::mirrored`]).
    pub fn is_mirrored(&self) -> bool {
        self.mirrored
    }

    /// The same law drawn with `method` instead of the automatic choice; for tests and
    /// diagnostics. Rejection needs Z ≥ [`MIN_REJECTION_ACCEPTANCE`]; the inverse CDF needs a
    /// finite window. Changes the sample path, not the law.
    pub fn with_method(mut self, method: SamplingMethod) -> Result<Self, SamplerError> {
        match method {
            SamplingMethod::Rejection if self.mass < MIN_REJECTION_ACCEPTANCE => {
                return Err(SamplerError::RejectionTooSlow {
                    acceptance: self.mass,
                    min: MIN_REJECTION_ACCEPTANCE,
                });
            }
            SamplingMethod::InverseCdf if !self.half_width.is_finite() => {
                return Err(SamplerError::InverseCdfUnbounded);
            }
            _ => {}
        }
        self.method = method;
        Ok(self)
    }

    /// The settings this sampler was built from.
    pub fn config(&self) -> &ExplorationConfig {
        &self.config
    }

    /// σ, the scale of the untruncated Gaussian.
    pub fn sigma(&self) -> f64 {
        self.sigma
    }

    /// The half-width b of the window, `None` when untruncated.
    pub fn half_width(&self) -> Option<f64> {
        self.half_width.is_finite().then_some(self.half_width)
    }

    /// The window in units of σ, b/σ (+∞ when untruncated).
    pub fn window_ratio(&self) -> f64 {
        self.ratio
    }

    /// The normaliser Z = 2Φ(b/σ) − 1 = P(|σn| ≤ b), also the rejection acceptance rate.
    pub fn mass(&self) -> f64 {
        self.mass
    }

    /// Φ(−b/σ), the lower end of the inverse-CDF branch's argument.
    pub fn lower_tail(&self) -> f64 {
        self.lower_tail
    }

    /// The branch [`TruncatedGaussian::sample_noise`] uses.
    pub fn method(&self) -> SamplingMethod {
        self.method
    }

    /// One noise draw ε with |ε| ≤ b (§4.2):
    ///
    /// * rejection: repeat ε = σ·n, n ~ [`StandardNormal`], until |ε| ≤ b;
    /// * inverse CDF: ε = σΦ⁻¹(Φ(−b/σ) + U·Z), U = `rng.random::<f64>()`, clamped to [−b, b]
    ///   (the clamp only absorbs round-off at the window's edges);
    ///
    /// negated by a [`TruncatedGaussian::mirrored`] sampler.
    pub fn sample_noise<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        let eps = self.draw(rng);
        if self.mirrored {
            -eps
        } else {
            eps
        }
    }

    fn draw<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        match self.method {
            SamplingMethod::Rejection => loop {
                let n: f64 = StandardNormal.sample(rng);
                let eps = self.sigma * n;
                if eps.abs() <= self.half_width {
                    return eps;
                }
            },
            SamplingMethod::InverseCdf => {
                let u: f64 = rng.random::<f64>();
                let p = (self.lower_tail + u * self.mass).min(1.0);
                let eps = self.sigma * normal::inv_cdf(p);
                eps.clamp(-self.half_width, self.half_width)
            }
        }
    }

    /// Executed actions u_j = u*_j + ε_j for every component of `mean` = u*, drawn in index
    /// order into `out`.
    pub fn sample_into<R: Rng + ?Sized>(
        &self,
        mean: &[f64],
        out: &mut [f64],
        rng: &mut R,
    ) -> Result<(), SamplerError> {
        check_len("out", mean.len(), out.len())?;
        for (o, &m) in out.iter_mut().zip(mean) {
            *o = m + self.sample_noise(rng);
        }
        Ok(())
    }

    /// The REINFORCE score ∇_{u*} log p(u | u*) = (u − u*)/σ² into `out` (paper eq. 8).
    ///
    /// Exact for the truncated law, because Z does not depend on u*. The boundary term of the
    /// moving window (module docs, §4.3) is not part of the score; it makes the estimator's
    /// mean fall short of the true gradient by [`TruncatedGaussian::boundary_shortfall`] for a
    /// cost linear in u.
    pub fn score(&self, u: &[f64], u_star: &[f64], out: &mut [f64]) -> Result<(), SamplerError> {
        check_len("u*", u.len(), u_star.len())?;
        check_len("out", u.len(), out.len())?;
        for ((o, &ui), &mi) in out.iter_mut().zip(u).zip(u_star) {
            *o = (ui - mi) * self.inv_var;
        }
        Ok(())
    }

    /// The density of one noise component, p(ε) = φ(ε/σ)/(σZ)·𝟙{|ε| ≤ b}.
    pub fn density(&self, eps: f64) -> f64 {
        if eps.is_nan() {
            return f64::NAN;
        }
        if eps.abs() > self.half_width {
            return 0.0;
        }
        normal::pdf(eps / self.sigma) / (self.sigma * self.mass)
    }

    /// The relative shortfall of the REINFORCE mean for a cost linear in u (§4.3),
    ///
    /// ```text
    /// s = 2(b/σ)φ(b/σ)/Z,   E[ε²] = σ²(1 − s)
    /// ```
    ///
    /// 0 when untruncated; ≈ 1 − b²/(3σ²) for b ≪ σ.
    pub fn boundary_shortfall(&self) -> f64 {
        if self.ratio.is_finite() {
            2.0 * self.ratio * normal::pdf(self.ratio) / self.mass
        } else {
            0.0
        }
    }

    /// The weight of the boundary term of §4.3, g_b = φ(b/σ)/(σZ): the density at either edge
    /// of the window (0 when untruncated).
    pub fn boundary_weight(&self) -> f64 {
        if self.ratio.is_finite() {
            normal::pdf(self.ratio) / (self.sigma * self.mass)
        } else {
            0.0
        }
    }

    /// The variance of one noise component, E(ε²) = σ²(1 − 2(b/σ)φ(b/σ)/Z).
    ///
    /// For b/σ ≤ 1 the factor 1 − s cancels (it tends to b²/(3σ²)), so it is evaluated as
    /// (1/Z)∫_{−t}^{t} x²φ(x) dx, t = b/σ, by its alternating series
    ///
    /// ```text
    /// ∫_{−t}^{t} x²φ(x) dx = 2φ(0) Σ_k (−½)^k/k! · t^{2k+3}/(2k+3),
    /// ```
    ///
    /// which holds its relative accuracy down to the narrowest accepted window.
    pub fn variance(&self) -> f64 {
        self.sigma * self.sigma * variance_ratio(self.ratio, self.mass)
    }
}

/// Var(ε)/σ² of the standard normal truncated to [−t, t], with Z = 2Φ(t) − 1.
fn variance_ratio(t: f64, mass: f64) -> f64 {
    if !t.is_finite() {
        return 1.0;
    }
    if t > 1.0 {
        return 1.0 - 2.0 * t * normal::pdf(t) / mass;
    }
    let t2 = t * t;
    // term_k = (−½)^k/k! · t^{2k}; the series Σ term_k/(2k+3) converges like (t²/2)^k/k!.
    let mut term = 1.0;
    let mut sum = 1.0 / 3.0;
    for k in 1..40 {
        term *= -0.5 * t2 / k as f64;
        let add = term / (2 * k + 3) as f64;
        sum += add;
        if add.abs() <= 1e-18 * sum {
            break;
        }
    }
    2.0 * normal::pdf(0.0) * t2 * t * sum / mass
}

/// Checks that `what` has `expected` entries.
fn check_len(what: &'static str, expected: usize, got: usize) -> Result<(), SamplerError> {
    if expected == got {
        Ok(())
    } else {
        Err(SamplerError::DimensionMismatch {
            what,
            expected,
            got,
        })
    }
}
