//! 6-DoF quadrotor (`docs/spec/ENVIRONMENTS.md` §4). State (r, v, q, ω) ∈ ℝ¹³; control: four rotor thrusts.

use super::{dcm, euler_rotation, quat_rate, GRAVITY};
use crate::model::{cst, Scalar};

/// State dimension.
pub const N: usize = 13;
/// Control dimension.
pub const M: usize = 4;
/// True physical parameters φ_f = (J_x, J_y, J_z, m, l).
pub const PHI_TRUE: [f64; 5] = [1.0, 1.0, 1.0, 1.0, 0.4];
/// Fixed yaw-moment coefficient c_τ.
pub const YAW_COEFF: f64 = 0.01;
/// Goal state x_nom (origin, at rest, identity attitude).
pub const GOAL: [f64; 13] = [
    0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
];
/// True weights of ‖r‖², ‖v‖², tr(I − C(q)), ‖ω‖².
pub const WEIGHTS: [f64; 4] = [1.0, 1.0, 5.0, 1.0];
/// True control weight w_u.
pub const CONTROL_WEIGHT: f64 = 0.1;

/// Continuous dynamics f_c(x, u; φ) with φ = (J_x, J_y, J_z, m, l).
#[inline]
pub fn f_c<S: Scalar>(x: &[S], u: &[S], phi: &[S], out: &mut [S]) {
    let (jx, jy, jz, mass, l) = (phi[0], phi[1], phi[2], phi[3], phi[4]);
    let q = &x[6..10];
    let w = &x[10..13];
    let c = dcm(q);
    let thrust = u[0] + u[1] + u[2] + u[3];
    // v̇ = (1/m) C(q)ᵀ (0, 0, T) + (0, 0, −g): the third row of C times T.
    let inv_m = cst::<S>(1.0) / mass;
    for k in 0..3 {
        out[k] = x[3 + k];
        out[3 + k] = c[2][k] * thrust * inv_m;
    }
    out[5] -= cst::<S>(GRAVITY);
    let qd = quat_rate(q, w);
    out[6..10].copy_from_slice(&qd);
    let half_l = l * cst::<S>(0.5);
    let moment = [
        half_l * (u[3] - u[1]),
        half_l * (u[2] - u[0]),
        cst::<S>(YAW_COEFF) * (u[0] - u[1] + u[2] - u[3]),
    ];
    let wd = euler_rotation(w, [jx, jy, jz], moment);
    out[10..13].copy_from_slice(&wd);
}

/// True terminal cost h(x) = 1·‖r‖² + 1·‖v‖² + 5·tr(I₃ − C(q)) + 1·‖ω‖² (`docs/spec/ENVIRONMENTS.md`
/// §4.3). The trace is taken of the direction-cosine matrix of the (unnormalised) quaternion;
/// it equals 4(q₁² + q₂² + q₃²) and does not depend on q₀ (§4.5).
#[inline]
pub fn true_terminal_cost<S: Scalar>(x: &[S]) -> S {
    let sq = |v: &[S]| v.iter().fold(cst::<S>(0.0), |a, &b| a + b * b);
    let c = dcm(&x[6..10]);
    let tr = cst::<S>(3.0) - (c[0][0] + c[1][1] + c[2][2]);
    sq(&x[0..3]) * WEIGHTS[0]
        + sq(&x[3..6]) * WEIGHTS[1]
        + tr * WEIGHTS[2]
        + sq(&x[10..13]) * WEIGHTS[3]
}

/// True stage cost c(x, u) = h(x) + 0.1·‖u‖² (`docs/spec/ENVIRONMENTS.md` §4.3): the thrust penalty is
/// on ‖u‖² itself, not on the deviation from hover.
#[inline]
pub fn true_stage_cost<S: Scalar>(x: &[S], u: &[S]) -> S {
    let uu = u.iter().fold(cst::<S>(0.0), |a, &b| a + b * b);
    true_terminal_cost(x) + uu * CONTROL_WEIGHT
}
