//! Parametric optimal control problems (paper eq. 1).
//!
//! A policy problem is
//!
//! ```text
//! minimise   Σ_{i<H} c_i(x_i, u_i; θ) + c_H(x_H; θ)
//! subject to x_0 = x_init,
//!            x_{i+1} = f_i(x_i, u_i; θ),          i = 0 … H−1
//!            g_i(x_i, u_i; θ) ≤ 0,                 i = 0 … H−1
//!            g_H(x_H; θ) ≤ 0
//! ```
//!
//! A model implements [`OcpModel`] once, generic over the [`Scalar`] type; the solver and the
//! sensitivity routines obtain every Jacobian and Hessian they need by evaluating the same code
//! in dual numbers ([`derivs`]). A per-call context vector `ctx` carries data that is neither a
//! state nor a parameter (for the voltage task: v_env and the reactive limits); it is never
//! differentiated.

mod block;
mod context;
pub mod derivs;
pub mod expr;
pub mod hints;
pub mod scalar;
pub mod symbolic;
// The tape AD scalar is an implementation detail of `derivs`; public only for the
// tape-vs-dual tests and the derivative timing example.
#[doc(hidden)]
pub mod tape;
pub mod tasks;

pub use context::ContextError;
pub use hints::{
    check_hints, check_hints_random, HintCheckSettings, HintError, HintPoint, HintReport,
    WithoutHints,
};
pub use scalar::{cst, re, Scalar};

/// Problem dimensions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dims {
    /// State dimension n.
    pub n: usize,
    /// Control dimension m.
    pub m: usize,
    /// Number of learnable parameters d.
    pub d: usize,
    /// Length of the (non-differentiated) context vector.
    pub n_ctx: usize,
}

/// A parametric optimal control problem, written once over a generic scalar.
///
/// Only `dims`, `dynamics`, `stage_cost` and `terminal_cost` are required. Inequality
/// constraints default to none. All slices have the lengths given by [`OcpModel::dims`]
/// (`x`: n, `u`: m, `theta`: d, `ctx`: n_ctx); the solver checks dimensions before calling.
///
/// ```
/// use diffop::model::{OcpModel, Dims, Scalar, cst};
/// /// A scalar integrator x⁺ = x + θ₀ u with cost x² + u².
/// struct Integrator;
/// impl OcpModel for Integrator {
///     fn name(&self) -> &str { "integrator" }
///     fn dims(&self) -> Dims { Dims { n: 1, m: 1, d: 1, n_ctx: 0 } }
///     fn dynamics<S: Scalar>(&self, _i: usize, x: &[S], u: &[S], th: &[S], _c: &[f64], out: &mut [S]) {
///         out[0] = x[0] + th[0] * u[0];
///     }
///     fn stage_cost<S: Scalar>(&self, _i: usize, x: &[S], u: &[S], _th: &[S], _c: &[f64]) -> S {
///         x[0] * x[0] + u[0] * u[0]
///     }
///     fn terminal_cost<S: Scalar>(&self, x: &[S], _th: &[S], _c: &[f64]) -> S {
///         x[0] * x[0] * cst::<S>(10.0)
///     }
/// }
/// assert_eq!(Integrator.dims().n, 1);
/// ```
pub trait OcpModel: Send + Sync {
    /// A short name used in messages.
    fn name(&self) -> &str;

    /// Dimensions n, m, d and the context length.
    fn dims(&self) -> Dims;

    /// Discrete dynamics x_{i+1} = f_i(x_i, u_i; θ), written into `out` (length n).
    fn dynamics<S: Scalar>(
        &self,
        i: usize,
        x: &[S],
        u: &[S],
        theta: &[S],
        ctx: &[f64],
        out: &mut [S],
    );

    /// Stage cost c_i(x_i, u_i; θ).
    fn stage_cost<S: Scalar>(&self, i: usize, x: &[S], u: &[S], theta: &[S], ctx: &[f64]) -> S;

    /// Terminal cost c_H(x_H; θ).
    fn terminal_cost<S: Scalar>(&self, x: &[S], theta: &[S], ctx: &[f64]) -> S;

    /// Number of path inequalities at stage `i` (0 ≤ i < H). Default: none.
    fn n_path(&self, _i: usize) -> usize {
        0
    }

    /// Path inequalities g_i(x_i, u_i; θ) ≤ 0, written into `out` (length `n_path(i)`).
    fn path_constraints<S: Scalar>(
        &self,
        _i: usize,
        _x: &[S],
        _u: &[S],
        _theta: &[S],
        _ctx: &[f64],
        _out: &mut [S],
    ) {
    }

    /// Number of terminal inequalities. Default: none.
    fn n_terminal(&self) -> usize {
        0
    }

    /// Terminal inequalities g_H(x_H; θ) ≤ 0, written into `out` (length `n_terminal()`).
    fn terminal_constraints<S: Scalar>(
        &self,
        _x: &[S],
        _theta: &[S],
        _ctx: &[f64],
        _out: &mut [S],
    ) {
    }

    /// Optional structure hint: the indices of z = (x, u) (0 … n+m−1) on which the stage
    /// Lagrangian c_i + λᵀf_i + μᵀg_i can have curvature. Second derivatives are then
    /// computed only on this subset (entries outside it are exactly zero). `None` (the
    /// default) means all variables. A wrong hint gives wrong Hessians: the derivative
    /// tests compare every built-in hint against the full evaluation.
    fn stage_curvature_vars(&self) -> Option<&[usize]> {
        None
    }

    /// Optional structure hint, used together with [`OcpModel::stage_curvature_vars`]: indices
    /// of z whose only curvature in ℓ_i is a diagonal term (no cross terms with any other
    /// variable). Their second derivatives are computed one scalar pass each. Ignored when
    /// `stage_curvature_vars` is `None`. Default: none.
    fn stage_diagonal_vars(&self) -> &[usize] {
        &[]
    }

    /// Optional structure hint: `true` when, for fixed θ and context, the dynamics and all
    /// inequalities are affine in (x, u) and the stage and terminal costs are quadratic (a
    /// linear–quadratic OCP in ζ, however θ enters). The solver then computes the Jacobians
    /// and Hessians once per solve and, at later iterates, only the values and the cost
    /// gradients ∇c(z) = ∇c(z₀) + ∇²c (z − z₀). A wrong `true` gives wrong steps: the solver
    /// tests compare every built-in hint against the full evaluation. Default: `false`.
    fn is_linear_quadratic(&self) -> bool {
        false
    }

    /// Opt-in to compiled derivative programs ([`symbolic`]): a key such that the model's
    /// functions (dynamics, costs, constraints) are completely determined by the model's type,
    /// [`OcpModel::name`], this key and the stage index — for example a hash of the fields
    /// that select the task. The stage functions are then recorded once as expressions,
    /// differentiated symbolically and evaluated as a straight-line program, shared by every
    /// workspace of the process (much faster than the tape for the nonlinear tasks). Only
    /// used for models without context (n_ctx = 0); code that branches on values (a
    /// comparison, `abs`, `re()`) is detected and falls back to the tape. A key that does not
    /// determine the functions (two differently configured models with one key) gives wrong
    /// derivatives. Default: `None` (tape).
    fn symbolic_key(&self) -> Option<u64> {
        None
    }

    /// Validate a context vector; the default accepts any finite vector of length n_ctx.
    fn check_context(&self, ctx: &[f64]) -> Result<(), ContextError> {
        context::check_finite(ctx, self.dims().n_ctx)
    }
}
