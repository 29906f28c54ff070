//! The monotone per-bus policy of Stable-DDPG and TASRL (`docs/spec/ALGORITHMS.md` §12, §12.1).
//!
//! Parameters ξ ∈ ℝⁿ (breakpoints) and ρ ∈ ℝⁿ (slopes), n = 100. Before every forward pass ξ is
//! replaced **in place** by its projection
//!
//! ```text
//! ξ̂ = 0.2 · max(ξ, 0) / ‖max(ξ, 0)‖₁,      B_j = Σ_{k<j} ξ̂_k  (B_0 = 0),
//! w_j = ρ_j² − ρ_{j−1}²  (ρ_{−1} = 0),      slope after breakpoint J = Σ_{j≤J} w_j = ρ_J² ≥ 0,
//! g⁺(v) =  Σ_j w_j · max(v − 1.045 − B_j, 0) ≥ 0      (non-decreasing)
//! g⁻(v) = −Σ_j w_j · max(0.955 − B_j − v, 0) ≤ 0      (non-decreasing)
//! ```
//!
//! so both branches vanish in the dead-band [0.955, 1.045]. The two execution rules (α ≤ 1,
//! q = the previous cumulative set-point, [q̲, q̄] the limits, C_i the bus's cost weight):
//!
//! ```text
//! Stable-DDPG  u = α [ tanh(g⁺)(q̲ − q) − tanh(g⁻)(q̄ − q) ]
//! TASRL        u = clip( 0.98 α [ tanh(g⁺)(q̲ − q) − tanh(g⁻)(q̄ − q) ] − (C_i q + v² − 1),
//!                        α(q̲ − q), α(q̄ − q) )
//! ```
//!
//! Both keep q + u inside [q̲, q̄] when q is inside and α ≤ 1, and both are non-increasing in v.
//!
//! **Gradient** (closed form; the gradient is taken with respect to the projected ξ, as after the
//! in-place projection): with s± = ∂u/∂g±,
//!
//! ```text
//! ∂u/∂w_j = s⁺ max(v − 1.045 − B_j, 0) − s⁻ max(0.955 − B_j − v, 0)
//! ∂u/∂B_j = −s⁺ w_j 1[v − 1.045 − B_j > 0] + s⁻ w_j 1[0.955 − B_j − v > 0]
//! ∂u/∂ξ_k = Σ_{j>k} ∂u/∂B_j,      ∂u/∂ρ_k = 2ρ_k (∂u/∂w_k − ∂u/∂w_{k+1})   (∂u/∂w_n = 0)
//! ```
//!
//! and the final clip of TASRL passes a zero gradient where it binds.

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::DdpgError;

/// Hidden size n of the monotone layer (number of breakpoints).
pub const HIDDEN: usize = 100;
/// Sum of the normalised breakpoint increments Σ ξ̂ (TASRL's scale).
pub const BREAKPOINT_SCALE: f64 = 0.2;
/// Upper edge of the dead-band (1.05 tightened by 0.005).
pub const BAND_HIGH: f64 = 1.045;
/// Lower edge of the dead-band (0.95 tightened by 0.005).
pub const BAND_LOW: f64 = 0.955;
/// TASRL's factor on the monotone term (0.98 α).
pub const TASRL_FACTOR: f64 = 0.98;

/// How the monotone term becomes an increment u (§12).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExecutionRule {
    /// Stable-DDPG (TASRL repository, `use_gradient = False`): the monotone term alone.
    StableDdpg,
    /// TASRL (`use_gradient = True`): 0.98 × the monotone term plus the safe gradient flow,
    /// clipped to α(q̲ − q) … α(q̄ − q).
    Tasrl,
}

/// The data one increment depends on, apart from the layer's parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BusInput {
    /// The bus's own voltage magnitude v [p.u.].
    pub v: f64,
    /// The previous cumulative set-point q \[MVar\].
    pub q: f64,
    /// Lower reactive limit q̲ \[MVar\].
    pub q_min: f64,
    /// Upper reactive limit q̄ \[MVar\].
    pub q_max: f64,
    /// The bus's cost weight C_i (used by TASRL's gradient-flow term).
    pub c: f64,
    /// Step α ∈ (0, 1].
    pub alpha: f64,
}

/// The monotone layer of one bus: breakpoints ξ and slopes ρ.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MonotoneLayer {
    /// Breakpoint parameters ξ (projected in place by [`MonotoneLayer::normalise`]).
    pub xi: Vec<f64>,
    /// Slope parameters ρ (the slope after breakpoint k is ρ_k²).
    pub rho: Vec<f64>,
}

/// Values and partial derivatives of one forward pass (per sample, no allocation beyond the
/// caller's buffers).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Branches {
    /// g⁺(v) ≥ 0.
    pub g_plus: f64,
    /// g⁻(v) ≤ 0.
    pub g_minus: f64,
}

impl MonotoneLayer {
    /// ξ, ρ ~ U[0, 1) (the authors' initialisation), then ξ projected.
    pub fn random<R: Rng>(rng: &mut R) -> Self {
        let xi = (0..HIDDEN).map(|_| rng.random::<f64>()).collect();
        let rho = (0..HIDDEN).map(|_| rng.random::<f64>()).collect();
        let mut l = Self { xi, rho };
        // U[0, 1) has a positive entry with probability 1; fall back to an error otherwise.
        if l.normalise().is_err() {
            l.xi.iter_mut()
                .for_each(|x| *x = BREAKPOINT_SCALE / HIDDEN as f64);
        }
        l
    }

    /// A layer from given parameters (same length n ≥ 1, finite), ξ projected.
    pub fn new(xi: Vec<f64>, rho: Vec<f64>) -> Result<Self, DdpgError> {
        if xi.is_empty() || xi.len() != rho.len() {
            return Err(DdpgError::Shape(format!(
                "monotone layer needs ξ and ρ of the same positive length, got {} and {}",
                xi.len(),
                rho.len()
            )));
        }
        if xi.iter().chain(&rho).any(|x| !x.is_finite()) {
            return Err(DdpgError::NonFinite("monotone layer parameters"));
        }
        let mut l = Self { xi, rho };
        l.normalise()?;
        Ok(l)
    }

    /// Number of breakpoints n.
    pub fn len(&self) -> usize {
        self.xi.len()
    }

    /// True for a layer without breakpoints (never built by the constructors).
    pub fn is_empty(&self) -> bool {
        self.xi.is_empty()
    }

    /// Project ξ in place: ξ ← 0.2 · max(ξ, 0)/‖max(ξ, 0)‖₁. Fails when no entry is positive
    /// (the projection is undefined).
    pub fn normalise(&mut self) -> Result<(), DdpgError> {
        let total: f64 = self.xi.iter().map(|x| x.max(0.0)).sum();
        if !(total.is_finite() && total > 0.0) {
            return Err(DdpgError::Degenerate(format!(
                "breakpoint projection undefined: Σ max(ξ, 0) = {total}"
            )));
        }
        let s = BREAKPOINT_SCALE / total;
        self.xi.iter_mut().for_each(|x| *x = x.max(0.0) * s);
        Ok(())
    }

    /// g⁺(v) and g⁻(v) with the current (already projected) ξ.
    pub fn branches(&self, v: f64) -> Branches {
        let (mut b, mut rho_prev2) = (0.0, 0.0);
        let (mut gp, mut gm) = (0.0, 0.0);
        for j in 0..self.len() {
            let r2 = self.rho[j] * self.rho[j];
            let w = r2 - rho_prev2;
            gp += w * (v - BAND_HIGH - b).max(0.0);
            gm -= w * (BAND_LOW - b - v).max(0.0);
            rho_prev2 = r2;
            b += self.xi[j];
        }
        Branches {
            g_plus: gp,
            g_minus: gm,
        }
    }

    /// The increment u of `rule` at `x` (ξ must be projected).
    pub fn increment(&self, rule: ExecutionRule, x: &BusInput) -> f64 {
        self.increment_parts(rule, x).0
    }

    /// (u, ∂u/∂g⁺, ∂u/∂g⁻).
    fn increment_parts(&self, rule: ExecutionRule, x: &BusInput) -> (f64, f64, f64) {
        let g = self.branches(x.v);
        let (tp, tm) = (g.g_plus.tanh(), g.g_minus.tanh());
        let (lo, hi) = (x.q_min - x.q, x.q_max - x.q);
        let mono = tp * lo - tm * hi;
        let (dp, dm) = ((1.0 - tp * tp) * lo, -(1.0 - tm * tm) * hi);
        match rule {
            ExecutionRule::StableDdpg => (x.alpha * mono, x.alpha * dp, x.alpha * dm),
            ExecutionRule::Tasrl => {
                let k = TASRL_FACTOR * x.alpha;
                let z = k * mono - (x.c * x.q + x.v * x.v - 1.0);
                let (zlo, zhi) = (x.alpha * lo, x.alpha * hi);
                let u = z.max(zlo).min(zhi);
                // torch.clamp: the gradient passes where zlo ≤ z ≤ zhi.
                let pass = if z >= zlo && z <= zhi { 1.0 } else { 0.0 };
                (u, pass * k * dp, pass * k * dm)
            }
        }
    }

    /// u and its gradient: adds `weight · ∂u/∂ξ` to `grad_xi` and `weight · ∂u/∂ρ` to
    /// `grad_rho` (ξ must be projected; both of length n). `scratch` (length ≥ 2n) holds ∂u/∂w
    /// and the breakpoints B.
    pub fn increment_grad(
        &self,
        rule: ExecutionRule,
        x: &BusInput,
        weight: f64,
        grad_xi: &mut [f64],
        grad_rho: &mut [f64],
        scratch: &mut [f64],
    ) -> f64 {
        let n = self.len();
        let (u, sp, sm) = self.increment_parts(rule, x);
        if sp == 0.0 && sm == 0.0 {
            return u;
        }
        let (dw, bs) = scratch[..2 * n].split_at_mut(n);
        // ∂u/∂w_j and B_j, left to right (the same sums as the forward pass).
        let mut b = 0.0;
        for j in 0..n {
            bs[j] = b;
            dw[j] = sp * (x.v - BAND_HIGH - b).max(0.0) - sm * (BAND_LOW - b - x.v).max(0.0);
            b += self.xi[j];
        }
        // ∂u/∂ξ_k = Σ_{j>k} ∂u/∂B_j, right to left.
        let mut db_suffix = 0.0;
        for k in (0..n).rev() {
            grad_xi[k] += weight * db_suffix;
            let w = self.rho[k] * self.rho[k]
                - if k > 0 {
                    self.rho[k - 1] * self.rho[k - 1]
                } else {
                    0.0
                };
            if x.v - BAND_HIGH - bs[k] > 0.0 {
                db_suffix -= sp * w;
            }
            if BAND_LOW - bs[k] - x.v > 0.0 {
                db_suffix += sm * w;
            }
        }
        // ∂u/∂ρ_k = 2ρ_k (∂u/∂w_k − ∂u/∂w_{k+1}).
        for k in 0..n {
            let next = if k + 1 < n { dw[k + 1] } else { 0.0 };
            grad_rho[k] += weight * 2.0 * self.rho[k] * (dw[k] - next);
        }
        u
    }
}
