//! Cart-pole (`docs/spec/ENVIRONMENTS.md` §2). State (x, q, ẋ, q̇) with q = 0 hanging down; control: force.

use super::GRAVITY;
use crate::model::{cst, Scalar};

/// State dimension.
pub const N: usize = 4;
/// Control dimension.
pub const M: usize = 1;
/// True physical parameters φ_f = (m_c, m_p, l).
pub const PHI_TRUE: [f64; 3] = [0.5, 0.5, 1.0];
/// Goal state x_nom (upright pole).
pub const GOAL: [f64; 4] = [0.0, std::f64::consts::PI, 0.0, 0.0];
/// True state weights on (x, q, ẋ, q̇).
pub const STATE_WEIGHTS: [f64; 4] = [1.0, 6.0, 1.0, 1.0];
/// True control weight w_u.
pub const CONTROL_WEIGHT: f64 = 0.1;

/// Continuous dynamics f_c(x, u; φ) with φ = (m_c, m_p, l).
#[inline]
pub fn f_c<S: Scalar>(x: &[S], u: &[S], phi: &[S], out: &mut [S]) {
    let (mc, mp, l) = (phi[0], phi[1], phi[2]);
    let g = cst::<S>(GRAVITY);
    let (q, dx, dq) = (x[1], x[2], x[3]);
    let (s, c) = q.sin_cos();
    let den = mc + mp * s * s;
    let ddx = (u[0] + mp * s * (l * dq * dq + g * c)) / den;
    let ddq = (-u[0] * c - mp * l * dq * dq * s * c - (mc + mp) * g * s) / (l * den);
    out[0] = dx;
    out[1] = dq;
    out[2] = ddx;
    out[3] = ddq;
}

/// True terminal cost h(x) = 1·x² + 6·(q − π)² + 1·ẋ² + 1·q̇² (`docs/spec/ENVIRONMENTS.md` §2.3).
#[inline]
pub fn true_terminal_cost<S: Scalar>(x: &[S]) -> S {
    let mut h = cst::<S>(0.0);
    for ((&xj, &gj), &wj) in x.iter().zip(&GOAL).zip(&STATE_WEIGHTS) {
        let e = xj - gj;
        h += e * e * wj;
    }
    h
}

/// True stage cost c(x, u) = h(x) + 0.1·u² (`docs/spec/ENVIRONMENTS.md` §2.3).
#[inline]
pub fn true_stage_cost<S: Scalar>(x: &[S], u: &[S]) -> S {
    let mut uu = cst::<S>(0.0);
    for &uj in u {
        uu += uj * uj;
    }
    true_terminal_cost(x) + uu * CONTROL_WEIGHT
}
