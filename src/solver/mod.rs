//! The structured constrained OCP solver.
//!
//! A primal–dual interior-point method on the multiple-shooting formulation (x_0 = x_init is an
//! equality), whose Newton step is a Riccati recursion (`riccati.rs`), O(H(n+m)³) per iteration.
//! The exact Lagrangian Hessian is used; when the inertia test inside the Riccati recursion
//! fails, a multiple of the identity is added (inertia correction), so non-convex problems such
//! as the cart-pole swing-up converge. Steps are globalised by an ℓ1 merit line search with
//! fraction-to-the-boundary rules; the barrier parameter follows Mehrotra's predictor–corrector
//! rule, reusing one factorization for both solves.
//!
//! After convergence the **exact finish** of `docs/spec/ALGORITHMS.md` §3 runs (`polish.rs`): the active
//! set is read from the multipliers (active iff μ_j > |g_j|), Newton's method is applied to the
//! equality-constrained KKT system of that set (active rows eliminated stage by stage inside the
//! Riccati recursion, `eq_riccati.rs`: O(H) whatever the number of active rows; a Schur
//! complement on top of the plain Riccati factorization when the rows are degenerate), signs
//! are checked, weakly active rows are dropped, and the final
//! factorization — exactly the KKT matrix of Proposition 1 at the returned point — is kept in the
//! [`Workspace`] for the sensitivity pass.
//!
//! Linear–quadratic models with inequalities (`OcpModel::is_linear_quadratic`, e.g. the voltage
//! policy) solved from a warm start first try the **active-set start**
//! ([`SolverSettings::active_set_start`]): the previous solution's active set, shifted with the
//! trajectory, goes straight to the polish, whose sign rules correct it (a primal–dual active-set
//! method); only when that does not settle within a few rounds does the interior-point method
//! run. A receding-horizon step then costs about one interior-point iteration.
//!
//! ```
//! use diffop::model::tasks::{NonlinearTask, Table1Policy};
//! use diffop::solver::{SolverSettings, WarmStart, Workspace};
//! let model = Table1Policy::new(NonlinearTask::Cartpole);
//! let mut ws = Workspace::new(&model, 6, SolverSettings::default()).unwrap();
//! let theta = NonlinearTask::Cartpole.oracle_theta().unwrap();
//! let sol = ws.solve(&model, &[0.0, 0.0, 0.0, 0.0], &theta, &[], WarmStart::Cold).unwrap();
//! assert!(sol.status.is_solved());
//! ```

pub(crate) mod adjoint;
pub(crate) mod eq_riccati;
mod evaluate;
mod factorize;
mod fingerprint;
mod householder;
mod ipm;
pub(crate) mod kkt;
mod line_search;
mod lq;
mod newton;
mod polish;
mod residuals;
#[doc(hidden)]
pub mod riccati;
pub mod settings;
pub mod solution;
mod variables;
mod workspace;

pub use fingerprint::ModelFingerprint;
pub use kkt::KktFactorization;
pub use settings::{SettingsError, SolverSettings};
pub use solution::{Solution, Status};
pub use workspace::{WarmStart, Workspace};

use crate::model::{ContextError, Dims};
use thiserror::Error;

/// Misuse of the solver: wrong dimensions, non-finite input, invalid settings or context.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum SolverError {
    /// An input vector has the wrong length.
    #[error("{what} has length {got}, expected {expected}")]
    Dimension {
        /// Which input.
        what: &'static str,
        /// Length given.
        got: usize,
        /// Length expected.
        expected: usize,
    },
    /// An input contains NaN or ±∞.
    #[error("{what}[{index}] is not finite ({value})")]
    NonFinite {
        /// Which input.
        what: &'static str,
        /// Offending index.
        index: usize,
        /// Offending value.
        value: f64,
    },
    /// The horizon is zero.
    #[error("invalid problem size: horizon must be ≥ 1")]
    ZeroHorizon,
    /// The state or control dimension is zero.
    #[error("invalid problem size: state and control dimensions must be ≥ 1 (n = {n}, m = {m})")]
    EmptyDimension {
        /// State dimension n.
        n: usize,
        /// Control dimension m.
        m: usize,
    },
    /// The problem is too large for the dual-number buckets.
    #[error("invalid problem size: n + m = {vars} and d = {d} must not exceed {max}")]
    TooLarge {
        /// n + m.
        vars: usize,
        /// Number of parameters d.
        d: usize,
        /// The bucket limit ([`crate::model::derivs::MAX_VARS`]).
        max: usize,
    },
    /// The model's dimensions differ from the workspace's.
    #[error("model `{model}` has dimensions {got:?}, the workspace {expected:?}")]
    ModelDims {
        /// Name of the model.
        model: String,
        /// Dimensions of the workspace.
        expected: Dims,
        /// Dimensions of the model.
        got: Dims,
    },
    /// Invalid settings.
    #[error("invalid solver settings: {0}")]
    Settings(#[from] SettingsError),
    /// Invalid context vector.
    #[error("invalid context: {0}")]
    Context(#[from] ContextError),
    /// A warm start was requested but there is no previous solution of this size.
    #[error("warm start requested but the workspace holds no previous solution")]
    NoWarmStart,
}

/// Check a vector's length and finiteness.
pub(crate) fn check_vec(what: &'static str, v: &[f64], expected: usize) -> Result<(), SolverError> {
    if v.len() != expected {
        return Err(SolverError::Dimension {
            what,
            got: v.len(),
            expected,
        });
    }
    if let Some((index, &value)) = v.iter().enumerate().find(|(_, x)| !x.is_finite()) {
        return Err(SolverError::NonFinite { what, index, value });
    }
    Ok(())
}

/// Per-iteration trace on stderr when the environment variable `DIFFOP_TRACE` is set.
pub(crate) fn trace_enabled() -> bool {
    use std::sync::OnceLock;
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("DIFFOP_TRACE").is_some())
}
