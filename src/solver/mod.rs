//! The structured constrained OCP solver.
//!
//! A primal–dual interior-point method on the multiple-shooting formulation (x_0 = x_init is an
//! equality), whose Newton step is a Riccati recursion ([`riccati`]), O(H(n+m)³) per iteration.
//! The exact Lagrangian Hessian is used; when the inertia test inside the Riccati recursion
//! fails, a multiple of the identity is added (inertia correction), so non-convex problems such
//! as the cart-pole swing-up converge. Steps are globalised by an ℓ1 merit line search with
//! fraction-to-the-boundary rules; the barrier parameter follows Mehrotra's predictor–corrector
//! rule, reusing one factorization for both solves.
//!
//! After convergence the **exact finish** of `ALGORITHMS.md` §3 runs (`polish.rs`): the active
//! set is read from the multipliers (active iff μ_j > |g_j|), Newton's method is applied to the
//! equality-constrained KKT system of that set (active rows eliminated stage by stage inside the
//! Riccati recursion, [`eq_riccati`]: O(H) whatever the number of active rows; a Schur
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

pub mod eq_riccati;
mod ipm;
mod line_search;
mod polish;
pub mod riccati;
pub mod settings;
pub mod solution;
mod workspace;

pub use settings::SolverSettings;
pub use solution::{Solution, Status};
pub use workspace::{KktFactorization, WarmStart, Workspace};

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
    /// The horizon is zero or the problem is too large for the dual-number buckets.
    #[error("invalid problem size: {0}")]
    Size(String),
    /// Invalid settings.
    #[error("invalid solver settings: {0}")]
    Settings(String),
    /// Invalid context vector.
    #[error("invalid context: {0}")]
    Context(String),
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
