//! Two-link planar robot arm (`docs/spec/ENVIRONMENTS.md` §3), g = 0. State (q₁, q₂, q̇₁, q̇₂); control: torques.

use crate::model::{cst, Scalar};

/// State dimension.
pub const N: usize = 4;
/// Control dimension.
pub const M: usize = 2;
/// True physical parameters φ_f = (l₁, m₁, l₂, m₂).
pub const PHI_TRUE: [f64; 4] = [1.0, 1.0, 1.0, 1.0];
/// Goal state x_nom.
pub const GOAL: [f64; 4] = [std::f64::consts::FRAC_PI_2, 0.0, 0.0, 0.0];
/// True state weights.
pub const STATE_WEIGHTS: [f64; 4] = [1.0, 1.0, 0.5, 0.5];
/// True control weight w_u.
pub const CONTROL_WEIGHT: f64 = 0.01;
/// Gravity used by the arm task (the PDP examples pass g = 0).
pub const ARM_GRAVITY: f64 = 0.0;

/// Continuous dynamics f_c(x, u; φ) with φ = (l₁, m₁, l₂, m₂) and gravity `g`.
#[inline]
pub fn f_c_with_gravity<S: Scalar>(x: &[S], u: &[S], phi: &[S], g: f64, out: &mut [S]) {
    let (l1, m1, l2, m2) = (phi[0], phi[1], phi[2], phi[3]);
    let (q1, q2, dq1, dq2) = (x[0], x[1], x[2], x[3]);
    let half = cst::<S>(0.5);
    let twelfth = cst::<S>(1.0 / 12.0);
    let two = cst::<S>(2.0);
    let r1 = l1 * half;
    let r2 = l2 * half;
    let i1 = m1 * l1 * l1 * twelfth;
    let i2 = m2 * l2 * l2 * twelfth;
    let (s2, c2) = q2.sin_cos();
    let m11 = m1 * r1 * r1 + i1 + m2 * (l1 * l1 + r2 * r2 + two * l1 * r2 * c2) + i2;
    let m12 = m2 * (r2 * r2 + l1 * r2 * c2) + i2;
    let m22 = m2 * r2 * r2 + i2;
    let hc = m2 * l1 * r2 * s2;
    let cor = [-hc * dq2 * dq2 - two * hc * dq1 * dq2, hc * dq1 * dq1];
    let gv = if g == 0.0 {
        [cst::<S>(0.0), cst::<S>(0.0)]
    } else {
        let gs = cst::<S>(g);
        let c1 = q1.cos();
        let c12 = (q1 + q2).cos();
        [
            m1 * r1 * gs * c1 + m2 * gs * (r2 * c12 + l1 * c1),
            m2 * gs * r2 * c12,
        ]
    };
    let b0 = u[0] - cor[0] - gv[0];
    let b1 = u[1] - cor[1] - gv[1];
    let det = m11 * m22 - m12 * m12;
    out[0] = dq1;
    out[1] = dq2;
    out[2] = (m22 * b0 - m12 * b1) / det;
    out[3] = (m11 * b1 - m12 * b0) / det;
}

/// Continuous dynamics with the task's gravity (g = 0).
#[inline]
pub fn f_c<S: Scalar>(x: &[S], u: &[S], phi: &[S], out: &mut [S]) {
    f_c_with_gravity(x, u, phi, ARM_GRAVITY, out)
}

/// True terminal cost h(x) = 1·(q₁ − π/2)² + 1·q₂² + 0.5·q̇₁² + 0.5·q̇₂² (`docs/spec/ENVIRONMENTS.md` §3.3).
#[inline]
pub fn true_terminal_cost<S: Scalar>(x: &[S]) -> S {
    let mut h = cst::<S>(0.0);
    for ((&xj, &gj), &wj) in x.iter().zip(&GOAL).zip(&STATE_WEIGHTS) {
        let e = xj - gj;
        h += e * e * wj;
    }
    h
}

/// True stage cost c(x, u) = h(x) + 0.01·‖u‖² (`docs/spec/ENVIRONMENTS.md` §3.3).
#[inline]
pub fn true_stage_cost<S: Scalar>(x: &[S], u: &[S]) -> S {
    let mut uu = cst::<S>(0.0);
    for &uj in u {
        uu += uj * uj;
    }
    true_terminal_cost(x) + uu * CONTROL_WEIGHT
}
