//! The action-value function of the MPC, Q_θ(x, a), and its θ-gradient (`docs/spec/ALGORITHMS.md` §9,
//! used by RLMPC-TD/DPG).
//!
//! Q_θ(x, a) is the policy problem with the first action pinned, u_0 = a. Pinning is done by
//! elimination, not by coincident bounds (which would break LICQ): with x_1 = f_0(x, a; θ),
//!
//! ```text
//! Q_θ(x, a) = c_0(x, a; θ) + V'_θ(x_1),     V' = the tail problem over stages 1 … H
//! ∇_θ Q     = ∂c_0/∂θ + (∂f_0/∂θ)ᵀ λ'_0 + ∇_θ V'        (λ'_0 = ∂V'/∂x_1, envelope theorem)
//! ```
//!
//! This equals the envelope formula on the pinned problem's own solution and multipliers, and
//! Q_θ(x, π_θ(x)) = V_θ(x). The tail's stage-0 constraints act on the fixed state x_1; they can be
//! dropped (`drop_first_constraints`), as the spec does for the voltage task's bound on q_1.
//! Stage-0 inequality constraints of the original problem are not part of Q (the action is
//! given); they must not depend on θ.

use super::{value_gradient, SensitivityError};
use crate::model::derivs::{Differentiator, ThetaBlock};
use crate::model::{ContextError, Dims, OcpModel, Scalar};
use crate::solver::{WarmStart, Workspace};
use nalgebra::DVector;

/// The tail of a policy problem: stages 1 … H of `inner`, renumbered 0 … H−1.
#[derive(Debug)]
pub struct TailProblem<'a, M: OcpModel> {
    /// The full policy problem.
    pub inner: &'a M,
    /// Drop the tail's first-stage path constraints (they act on the fixed initial state).
    pub drop_first_constraints: bool,
}

impl<M: OcpModel> OcpModel for TailProblem<'_, M> {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn dims(&self) -> Dims {
        self.inner.dims()
    }
    fn dynamics<S: Scalar>(&self, i: usize, x: &[S], u: &[S], th: &[S], c: &[f64], o: &mut [S]) {
        self.inner.dynamics(i + 1, x, u, th, c, o)
    }
    fn stage_cost<S: Scalar>(&self, i: usize, x: &[S], u: &[S], th: &[S], c: &[f64]) -> S {
        self.inner.stage_cost(i + 1, x, u, th, c)
    }
    fn terminal_cost<S: Scalar>(&self, x: &[S], th: &[S], c: &[f64]) -> S {
        self.inner.terminal_cost(x, th, c)
    }
    fn n_path(&self, i: usize) -> usize {
        if i == 0 && self.drop_first_constraints {
            0
        } else {
            self.inner.n_path(i + 1)
        }
    }
    fn path_constraints<S: Scalar>(
        &self,
        i: usize,
        x: &[S],
        u: &[S],
        th: &[S],
        c: &[f64],
        o: &mut [S],
    ) {
        if !(i == 0 && self.drop_first_constraints) {
            self.inner.path_constraints(i + 1, x, u, th, c, o)
        }
    }
    fn n_terminal(&self) -> usize {
        self.inner.n_terminal()
    }
    fn terminal_constraints<S: Scalar>(&self, x: &[S], th: &[S], c: &[f64], o: &mut [S]) {
        self.inner.terminal_constraints(x, th, c, o)
    }
    fn stage_curvature_vars(&self) -> Option<&[usize]> {
        self.inner.stage_curvature_vars()
    }
    fn stage_diagonal_vars(&self) -> &[usize] {
        self.inner.stage_diagonal_vars()
    }
    fn check_context(&self, ctx: &[f64]) -> Result<(), ContextError> {
        self.inner.check_context(ctx)
    }
}

/// Q_θ(x, a) and ∇_θQ.
#[derive(Clone, Debug)]
pub struct QValue {
    /// Q_θ(x, a).
    pub value: f64,
    /// ∇_θ Q_θ(x, a) (d).
    pub theta: DVector<f64>,
}

/// Q_θ(x, a) and its θ-gradient with one solve of the tail problem. `ws_tail` must be a
/// workspace of [`TailProblem`] with horizon H − 1 (H ≥ 2 is the policy's horizon).
#[allow(clippy::too_many_arguments)]
pub fn q_value<M: OcpModel>(
    ws_tail: &mut Workspace,
    model: &M,
    drop_first_constraints: bool,
    x: &[f64],
    a: &[f64],
    theta: &[f64],
    ctx: &[f64],
    start: WarmStart,
) -> Result<QValue, SensitivityError> {
    let dims = model.dims();
    for (what, v, len) in [("x", x, dims.n), ("a", a, dims.m), ("theta", theta, dims.d)] {
        if v.len() != len {
            return Err(SensitivityError::Dimension {
                what,
                got: v.len(),
                expected: len,
            });
        }
        if let Some(index) = v.iter().position(|e| !e.is_finite()) {
            return Err(SensitivityError::NonFinite { what, index });
        }
    }
    let tail = TailProblem {
        inner: model,
        drop_first_constraints,
    };
    let mut x1 = vec![0.0; dims.n];
    model.dynamics(0, x, a, theta, ctx, &mut x1);
    let c0 = model.stage_cost(0, x, a, theta, ctx);
    ws_tail.solve(&tail, &x1, theta, ctx, start)?;
    let vg = value_gradient(ws_tail, &tail)?;
    let mut diff = Differentiator::new();
    let mut tb = ThetaBlock::new(dims.n, 0, dims.d);
    let wz = vec![0.0; dims.n + dims.m];
    diff.stage_theta(
        model,
        Some(0),
        x,
        a,
        theta,
        ctx,
        vg.x0.as_slice(),
        &[],
        &wz,
        &mut tb,
    );
    Ok(QValue {
        value: c0 + vg.value,
        theta: vg.theta + tb.l_theta,
    })
}
