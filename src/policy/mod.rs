//! The optimization-based policy and its exploration (`ALGORITHMS.md` §2, §4).
//!
//! * [`normal`] — the standard normal φ, Φ and Φ⁻¹ used by the sampler;
//! * [`sampler`] — truncated-Gaussian exploration u = u* + ε, |ε_j| ≤ b, and the REINFORCE
//!   score (u − u*)/σ² of paper eq. (8).

pub mod normal;
pub mod sampler;
