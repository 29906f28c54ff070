//! The DiffOP voltage policy (paper eq. 11, `docs/spec/ENVIRONMENTS.md` §7.12).
//!
//! ```text
//! state x = (v, q) ∈ ℝ⁶ (v: squared magnitudes, q: cumulative set-points \[MVar\]), control u ∈ ℝ³
//! minimise  Σ_{i<H} [ u_iᵀ C_u u_i + (v_i − 1)ᵀ C_v (v_i − 1) ] + (v_H − 1)ᵀ C_v (v_H − 1)
//! s.t.      v_{i+1} = A q_i + v_env,  q_{i+1} = q_i + u_i          (lag-free option: A q_{i+1})
//!           q_min ≤ q_i ≤ q_max,  i = 1 … H
//! θ = (θ_v ∈ ℝ³, vec(A) row-major ∈ ℝ⁹),  C_v = diag(θ_v²)
//! ctx = (v_env ∈ ℝ³, q_min ∈ ℝ³, q_max ∈ ℝ³)
//! ```
//!
//! Constraint rows of a stage are ordered (q − q_max ≤ 0 for the 3 buses, then q_min − q ≤ 0).

use crate::model::context::check_finite;
use crate::model::{cst, ContextError, Dims, OcpModel, Scalar};

/// Default control weights C_u = diag(0.105, 0.075, 0.09) (the plant's own weights).
pub const DEFAULT_CU: [f64; 3] = [0.105, 0.075, 0.09];

/// The voltage-control policy problem.
#[derive(Clone, Debug, PartialEq)]
pub struct VoltagePolicy {
    /// Fixed diagonal control weights C_u.
    pub cu: [f64; 3],
    /// Lag-free variant v_{i+1} = A q_{i+1} + v_env (off by default: the paper's eq. 11b).
    pub lag_free: bool,
}

impl Default for VoltagePolicy {
    fn default() -> Self {
        Self {
            cu: DEFAULT_CU,
            lag_free: false,
        }
    }
}

impl VoltagePolicy {
    /// Build the context vector (v_env, q_min, q_max).
    pub fn context(v_env: &[f64; 3], q_min: &[f64; 3], q_max: &[f64; 3]) -> Vec<f64> {
        let mut c = Vec::with_capacity(9);
        c.extend_from_slice(v_env);
        c.extend_from_slice(q_min);
        c.extend_from_slice(q_max);
        c
    }

    /// The curvature hint: the stage Lagrangian is a diagonal quadratic in v and u (no cross
    /// terms); it is linear in q.
    const DIAGONAL: [usize; 6] = [0, 1, 2, 6, 7, 8];

    fn bounds<S: Scalar>(q: &[S], ctx: &[f64], out: &mut [S]) {
        if out.len() < 6 {
            return;
        }
        for b in 0..3 {
            out[b] = q[b] - ctx[6 + b];
            out[3 + b] = cst::<S>(ctx[3 + b]) - q[b];
        }
    }
}

impl OcpModel for VoltagePolicy {
    fn name(&self) -> &str {
        "voltage"
    }

    fn dims(&self) -> Dims {
        Dims {
            n: 6,
            m: 3,
            d: 12,
            n_ctx: 9,
        }
    }

    fn dynamics<S: Scalar>(
        &self,
        _i: usize,
        x: &[S],
        u: &[S],
        theta: &[S],
        ctx: &[f64],
        out: &mut [S],
    ) {
        let a = &theta[3..12];
        for r in 0..3 {
            out[3 + r] = x[3 + r] + u[r];
        }
        for r in 0..3 {
            let mut v = cst::<S>(ctx[r]);
            for c in 0..3 {
                let qc = if self.lag_free {
                    x[3 + c] + u[c]
                } else {
                    x[3 + c]
                };
                v += a[3 * r + c] * qc;
            }
            out[r] = v;
        }
    }

    fn stage_cost<S: Scalar>(&self, _i: usize, x: &[S], u: &[S], theta: &[S], _c: &[f64]) -> S {
        let mut c = cst::<S>(0.0);
        for b in 0..3 {
            c += u[b] * u[b] * self.cu[b];
            let e = x[b] - 1.0;
            c += theta[b] * theta[b] * e * e;
        }
        c
    }

    fn terminal_cost<S: Scalar>(&self, x: &[S], theta: &[S], _c: &[f64]) -> S {
        let mut c = cst::<S>(0.0);
        for b in 0..3 {
            let e = x[b] - 1.0;
            c += theta[b] * theta[b] * e * e;
        }
        c
    }

    fn n_path(&self, i: usize) -> usize {
        if i == 0 {
            0
        } else {
            6
        }
    }

    fn path_constraints<S: Scalar>(
        &self,
        _i: usize,
        x: &[S],
        _u: &[S],
        _theta: &[S],
        ctx: &[f64],
        out: &mut [S],
    ) {
        Self::bounds(&x[3..6], ctx, out);
    }

    fn n_terminal(&self) -> usize {
        6
    }

    fn terminal_constraints<S: Scalar>(&self, x: &[S], _theta: &[S], ctx: &[f64], out: &mut [S]) {
        Self::bounds(&x[3..6], ctx, out);
    }

    fn is_linear_quadratic(&self) -> bool {
        true
    }

    fn stage_curvature_vars(&self) -> Option<&[usize]> {
        Some(&[])
    }

    fn stage_diagonal_vars(&self) -> &[usize] {
        &Self::DIAGONAL
    }

    fn check_context(&self, ctx: &[f64]) -> Result<(), ContextError> {
        check_finite(ctx, 9)?;
        for b in 0..3 {
            if ctx[3 + b] > ctx[6 + b] {
                return Err(ContextError::BoundOrder {
                    lower: "q_min",
                    upper: "q_max",
                    index: b,
                    lower_value: ctx[3 + b],
                    upper_value: ctx[6 + b],
                });
            }
        }
        Ok(())
    }
}
