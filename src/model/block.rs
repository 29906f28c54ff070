//! The derivative block of one stage: values, Jacobians and the Lagrangian Hessian at a point.
//!
//! Written by the AD path ([`super::derivs::Differentiator`]) and by the compiled symbolic
//! programs ([`super::symbolic`]), read by the solver; its own file so that neither writer
//! imports the other.

use nalgebra::{DMatrix, DVector};

/// Values and first/second derivatives of one stage at (x_i, u_i).
#[derive(Clone, Debug)]
pub struct StageBlock {
    /// f_i(x, u) (n).
    pub f: DVector<f64>,
    /// ∂f/∂x (n×n).
    pub fx: DMatrix<f64>,
    /// ∂f/∂u (n×m).
    pub fu: DMatrix<f64>,
    /// c_i(x, u).
    pub c: f64,
    /// ∂c/∂x (n).
    pub cx: DVector<f64>,
    /// ∂c/∂u (m).
    pub cu: DVector<f64>,
    /// g_i(x, u) (q_i).
    pub g: DVector<f64>,
    /// ∂g/∂x (q_i×n).
    pub gx: DMatrix<f64>,
    /// ∂g/∂u (q_i×m).
    pub gu: DMatrix<f64>,
    /// ∇²_zz ℓ_i with z = (x, u) ((n+m)×(n+m)).
    pub hess: DMatrix<f64>,
    /// Identity of the compiled program whose constant outputs the block holds (0: none; any
    /// other writer resets it, see [`StageBlock::touch`]).
    pub(crate) stamp: u64,
}

impl StageBlock {
    /// Zeroed block for n states, m controls and q constraints.
    pub fn new(n: usize, m: usize, q: usize) -> Self {
        Self {
            f: DVector::zeros(n),
            fx: DMatrix::zeros(n, n),
            fu: DMatrix::zeros(n, m),
            c: 0.0,
            cx: DVector::zeros(n),
            cu: DVector::zeros(m),
            g: DVector::zeros(q),
            gx: DMatrix::zeros(q, n),
            gu: DMatrix::zeros(q, m),
            hess: DMatrix::zeros(n + m, n + m),
            stamp: 0,
        }
    }

    /// Mark the block as written by something other than a compiled program: the next program
    /// evaluation rewrites every entry, its constants included.
    pub(crate) fn touch(&mut self) {
        self.stamp = 0;
    }

    /// True when no entry is NaN or ±∞ (the Hessian's only when `hessian`).
    pub(crate) fn is_finite(&self, hessian: bool) -> bool {
        use crate::linalg::all_finite;
        self.c.is_finite()
            && all_finite(self.f.as_slice())
            && all_finite(self.fx.as_slice())
            && all_finite(self.fu.as_slice())
            && (!hessian || all_finite(self.hess.as_slice()))
            && all_finite(self.g.as_slice())
            && all_finite(self.gx.as_slice())
            && all_finite(self.gu.as_slice())
            && all_finite(self.cx.as_slice())
            && all_finite(self.cu.as_slice())
    }
}
