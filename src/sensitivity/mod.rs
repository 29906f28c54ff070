//! Exact sensitivities of a polished solution (Proposition 1, `docs/spec/ALGORITHMS.md` §6–9).
//!
//! All routes solve the KKT system of §7.3 at the polished point,
//!
//! ```text
//! [ D  Aᵀ ] [ Z ]     [ B ]
//! [ A  0  ] [ Y ] = − [ C ]
//! ```
//!
//! with the factorization kept by the solver ([`crate::solver::Workspace`]): the Riccati
//! recursion with the active inequality rows eliminated stage by stage
//! (the equality-constrained Riccati recursion of the solver; the rows are treated as equalities, θ-dependent rows
//! included), or, for degenerate rows, the plain recursion plus a Schur complement over them.
//!
//! * [`vjp`] — one adjoint solve: gᵀ ∂ζ*/∂θ = −(Bᵀw + Cᵀy) for a seed g on any x/u blocks,
//!   O(H(n+m)² + H(n+m)d), independent of d apart from the contraction. REINFORCE's workhorse.
//! * [`vjp_full`] — the same solve also gives gᵀ ∂ζ*/∂x_init (the adjoint costate λ^w_0).
//! * [`jacobian`] — the full ∂ζ*/∂θ (d right-hand sides) and [`jacobian_x0`] — ∂ζ*/∂x_init.
//! * [`value_gradient`] — ∇_θV and ∂V/∂x_init by the envelope theorem (no linear solve).
//! * [`qvalue`] — Q_θ(x, a) with the first action pinned and ∇_θQ (for RLMPC);
//! * [`dense`] — the dense reference: the full KKT solve and the paper's D⁻¹ formula.

pub mod dense;
pub mod qvalue;
mod routes;

pub use qvalue::{q_value, QValue, TailProblem};
pub use routes::{
    jacobian, jacobian_x0, value_gradient, vjp, vjp_full, Jacobian, Seed, ValueGradient,
};

use crate::solver::{ModelFingerprint, SolverError, Status};
use thiserror::Error;

/// Errors of the sensitivity routines.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum SensitivityError {
    /// The workspace does not hold a polished solution (failed or unpolished solve, no solve
    /// yet, or a guess set since): the status of its last solution.
    #[error("no polished solution in the workspace (status {0:?}); sensitivities need a polished KKT point")]
    NotReady(Status),
    /// A seed or output has the wrong length.
    #[error("{what} has length {got}, expected {expected}")]
    Dimension {
        /// Which input.
        what: &'static str,
        /// Length given.
        got: usize,
        /// Length expected.
        expected: usize,
    },
    /// A seed contains NaN or ±∞.
    #[error("{what}[{index}] is not finite")]
    NonFinite {
        /// Which input.
        what: &'static str,
        /// Offending index.
        index: usize,
    },
    /// The KKT matrix is singular (LICQ failure or singular reduced Hessian).
    #[error("singular KKT matrix: {0}")]
    Singular(SingularSystem),
    /// The model differs from the one the workspace was solved with.
    #[error("model `{}` ({}, {:?}) does not match the workspace's `{}` ({}, {:?})", got.name, got.type_name, got.dims, expected.name, expected.type_name, expected.dims)]
    Model {
        /// The model of the workspace's last solve.
        expected: Box<ModelFingerprint>,
        /// The model passed to the routine.
        got: Box<ModelFingerprint>,
    },
    /// A solve inside the routine was refused (the tail problem of [`q_value`]).
    #[error("solve refused: {0}")]
    Solver(#[from] SolverError),
}

/// Which linear system of a sensitivity route turned out singular.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum SingularSystem {
    /// The KKT matrix at the solution (its reduced Hessian), when factorized for the first
    /// sensitivity call.
    #[error("KKT matrix at the solution (reduced Hessian)")]
    ReducedHessian,
    /// The KKT system with the active rows (equality-constrained Riccati or Schur complement).
    #[error("active-row KKT system")]
    ActiveRows,
    /// The Schur complement over the active rows.
    #[error("active-row Schur complement")]
    SchurComplement,
    /// The dense KKT matrix of [`dense::DenseKkt`].
    #[error("dense KKT matrix")]
    DenseKkt,
    /// The Hessian D of the dense Proposition 1 formula.
    #[error("D is singular")]
    DenseHessian,
    /// A D⁻¹ Aᵀ of the dense Proposition 1 formula.
    #[error("A D⁻¹ Aᵀ is singular")]
    DenseReduced,
}
