//! # diffop — differentiable optimization-based control policies
//!
//! DiffOP (Bian, Feng, Shi, AAAI 2026, arXiv 2411.07484) makes a control policy an optimal
//! control problem (paper eq. 1):
//!
//! ```text
//! u*_{0:H−1}(x_init; θ) = argmin Σ_{i<H} c(x_i, u_i; θ) + c_H(x_H; θ)
//!                         s.t. x_0 = x_init, x_{i+1} = f(x_i, u_i; θ), g(x_i, u_i) ≤ 0
//! π_θ(x) = (u*_0, …, u*_{h−1})
//! ```
//!
//! and learns θ from the real closed-loop cost. Implicit differentiation of the KKT conditions
//! gives ∂u*/∂θ (Proposition 1); REINFORCE with truncated-Gaussian exploration turns it into a
//! policy gradient (eq. 8):
//!
//! ```text
//! ĝ = (1/N) Σ_n L(τ⁽ⁿ⁾) Σ_t (1/σ²) (∇_θ u*_t⁽ⁿ⁾)ᵀ (u_t⁽ⁿ⁾ − u*_t⁽ⁿ⁾)
//! ```
//!
//! The crate is organised the way data flows:
//!
//! * [`model`] — the OCP trait, generic over the scalar, exact derivative blocks, built-in tasks;
//! * [`dynamics`] — the physics of the nonlinear tasks, shared by environments and policies;
//! * [`solver`] — the structured primal–dual interior-point solver with Riccati steps and the
//!   active-set polish;
//! * [`sensitivity`] — vector–Jacobian products, full Jacobians and value gradients;
//! * [`policy`] — the optimization-based policy and its truncated-Gaussian exploration;
//! * [`learn`] — DiffOP training (Algorithm 1) and baselines;
//! * [`envs`] — the true plants: cart-pole, arm, quadrotor, rocket, IEEE 13-bus voltage control;
//! * [`experiments`] — presets, run directories, evaluation and plots (feature `experiments`);
//! * [`plot`] — the plotting module (feature `plot`).
//!
//! Cargo features (all on by default through `cli`): `cli` (the binary), `plot`, `progress`,
//! `toml`, `experiments`. `default-features = false` leaves the solver, sensitivities,
//! policies, environments and training without clap, plotters, indicatif or toml.
//!
//! The specification the code implements — equations, constants, golden data and the published
//! numbers — is in the repository under `docs/spec/` (`docs/spec/ENVIRONMENTS.md`, `docs/spec/ALGORITHMS.md`,
//! `docs/spec/RESULTS.md`); comments cite it as "`docs/spec/ALGORITHMS.md` §N".

#![warn(missing_docs)]
// Index loops mirror the equations in the numeric kernels.
#![allow(clippy::needless_range_loop)]

pub mod dynamics;
pub mod envs;
#[cfg(feature = "experiments")]
pub mod experiments;
pub mod learn;
// Dense kernels of the solver and the sensitivities: internal, not part of the API.
pub(crate) mod linalg;
pub mod model;
#[cfg(feature = "plot")]
pub mod plot;
pub mod policy;
pub mod rng;
pub mod sensitivity;
pub mod solver;
