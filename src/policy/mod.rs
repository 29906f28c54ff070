//! The optimization-based policy and its exploration (`docs/spec/ALGORITHMS.md` §2, §4).
//!
//! * [`opt_policy`] — the policy itself: solve, execute h actions, vector–Jacobian products;
//! * [`normal`] — the standard normal φ, Φ and Φ⁻¹ used by the sampler;
//! * [`sampler`] — truncated-Gaussian exploration u = u* + ε, |ε_j| ≤ b, and the REINFORCE
//!   score (u − u*)/σ² of paper eq. (8).

pub mod normal;
pub mod opt_policy;
pub mod sampler;

pub use opt_policy::{OptPolicy, PolicyError, PolicySettingsError};
