//! 6-DoF rocket powered landing (`docs/spec/ENVIRONMENTS.md` §5). Inertial x-axis vertical.

use super::{dcm, euler_rotation, quat_rate, GRAVITY};
use crate::model::{cst, Scalar};

/// State dimension.
pub const N: usize = 13;
/// Control dimension (body-frame thrust vector).
pub const M: usize = 3;
/// True physical parameters φ_f = (J_x, J_y, J_z, m, l).
pub const PHI_TRUE: [f64; 5] = [0.5, 1.0, 1.0, 1.0, 1.0];
/// Goal state used by the Table-1 policy cost.
pub const GOAL: [f64; 13] = [
    0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
];
/// True weights of ‖r‖², ‖v‖², ‖ω‖², tilt(q), side thrust u_y² + u_z².
pub const WEIGHTS: [f64; 5] = [1.0, 1.0, 1.0, 50.0, 1.0];
/// True control weight w_u.
pub const CONTROL_WEIGHT: f64 = 0.1;

/// Continuous dynamics f_c(x, u; φ) with φ = (J_x, J_y, J_z, m, l).
#[inline]
pub fn f_c<S: Scalar>(x: &[S], u: &[S], phi: &[S], out: &mut [S]) {
    let (jx, jy, jz, mass, l) = (phi[0], phi[1], phi[2], phi[3], phi[4]);
    let q = &x[6..10];
    let w = &x[10..13];
    let c = dcm(q);
    let inv_m = cst::<S>(1.0) / mass;
    for k in 0..3 {
        out[k] = x[3 + k];
        // (C(q)ᵀ T)_k = Σ_r C[r][k] T_r
        out[3 + k] = (c[0][k] * u[0] + c[1][k] * u[1] + c[2][k] * u[2]) * inv_m;
    }
    out[3] -= cst::<S>(GRAVITY);
    let qd = quat_rate(q, w);
    out[6..10].copy_from_slice(&qd);
    // r_T × T with r_T = (−l/2, 0, 0): (0·T_z − 0·T_y, 0·T_x − (−l/2) T_z, (−l/2) T_y − 0·T_x)
    let half_l = l * cst::<S>(0.5);
    let moment = [cst::<S>(0.0), half_l * u[2], -half_l * u[1]];
    let wd = euler_rotation(w, [jx, jy, jz], moment);
    out[10..13].copy_from_slice(&wd);
}

/// tilt(q) = 4[(q₁q₂ + q₀q₃)² + (q₁q₃ − q₀q₂)²].
#[inline]
pub fn tilt<S: Scalar>(q: &[S]) -> S {
    let a = q[1] * q[2] + q[0] * q[3];
    let b = q[1] * q[3] - q[0] * q[2];
    cst::<S>(4.0) * (a * a + b * b)
}

/// True terminal cost h(x) = 1·‖r‖² + 1·‖v‖² + 1·‖ω‖² + 50·tilt(q) (`docs/spec/ENVIRONMENTS.md` §5.3).
#[inline]
pub fn true_terminal_cost<S: Scalar>(x: &[S]) -> S {
    let sq = |v: &[S]| v.iter().fold(cst::<S>(0.0), |a, &b| a + b * b);
    sq(&x[0..3]) * WEIGHTS[0]
        + sq(&x[3..6]) * WEIGHTS[1]
        + sq(&x[10..13]) * WEIGHTS[2]
        + tilt(&x[6..10]) * WEIGHTS[3]
}

/// True stage cost c(x, u) = h(x) + 1·(u_y² + u_z²) + 0.1·‖u‖² (`docs/spec/ENVIRONMENTS.md` §5.3).
#[inline]
pub fn true_stage_cost<S: Scalar>(x: &[S], u: &[S]) -> S {
    let side = u[1] * u[1] + u[2] * u[2];
    let uu = u[0] * u[0] + side;
    true_terminal_cost(x) + side * WEIGHTS[4] + uu * CONTROL_WEIGHT
}
