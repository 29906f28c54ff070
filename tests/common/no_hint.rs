//! A model wrapper without structure hints, the reference for the hinted evaluations.

use diffop::model::{ContextError, Dims, OcpModel, Scalar};

/// Forwards everything to the inner model but gives no structure hint: no curvature set and
/// not declared linear–quadratic, so every derivative is evaluated in full.
pub struct NoHint<M>(pub M);

impl<M: OcpModel> OcpModel for NoHint<M> {
    fn name(&self) -> &str {
        self.0.name()
    }
    fn dims(&self) -> Dims {
        self.0.dims()
    }
    fn dynamics<S: Scalar>(&self, i: usize, x: &[S], u: &[S], th: &[S], c: &[f64], out: &mut [S]) {
        self.0.dynamics(i, x, u, th, c, out)
    }
    fn stage_cost<S: Scalar>(&self, i: usize, x: &[S], u: &[S], th: &[S], c: &[f64]) -> S {
        self.0.stage_cost(i, x, u, th, c)
    }
    fn terminal_cost<S: Scalar>(&self, x: &[S], th: &[S], c: &[f64]) -> S {
        self.0.terminal_cost(x, th, c)
    }
    fn n_path(&self, i: usize) -> usize {
        self.0.n_path(i)
    }
    fn path_constraints<S: Scalar>(
        &self,
        i: usize,
        x: &[S],
        u: &[S],
        th: &[S],
        c: &[f64],
        out: &mut [S],
    ) {
        self.0.path_constraints(i, x, u, th, c, out)
    }
    fn n_terminal(&self) -> usize {
        self.0.n_terminal()
    }
    fn terminal_constraints<S: Scalar>(&self, x: &[S], th: &[S], c: &[f64], out: &mut [S]) {
        self.0.terminal_constraints(x, th, c, out)
    }
    fn stage_curvature_vars(&self) -> Option<&[usize]> {
        None
    }
    fn check_context(&self, ctx: &[f64]) -> Result<(), ContextError> {
        self.0.check_context(ctx)
    }
}
