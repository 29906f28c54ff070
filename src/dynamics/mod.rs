//! Physics of the nonlinear tasks, written once over a generic scalar.
//!
//! Each task module gives the continuous dynamics ẋ = f_c(x, u; φ) (`docs/spec/ENVIRONMENTS.md` §2–5)
//! and its true parameters and costs. The environments ([`crate::envs`]) call them with `f64`
//! and the true φ; the policy problems ([`crate::model::tasks`]) call them with dual numbers
//! and the learnable θ_f. [`euler`] is the explicit forward-Euler step both use.

pub mod arm;
pub mod cartpole;
pub mod quadrotor;
pub mod rocket;

use crate::model::{cst, Scalar};

/// Gravitational constant used by every task (g = 10, not 9.81).
pub const GRAVITY: f64 = 10.0;

/// Time step of every nonlinear task \[s\].
pub const DT: f64 = 0.1;

/// Explicit forward Euler: `out = x + dt · xdot`.
#[inline]
pub fn euler<S: Scalar>(x: &[S], xdot: &[S], dt: f64, out: &mut [S]) {
    let h = cst::<S>(dt);
    for ((o, &xi), &fi) in out.iter_mut().zip(x).zip(xdot) {
        *o = xi + h * fi;
    }
}

/// Direction-cosine matrix C(q) (inertial → body) of an unnormalised scalar-first quaternion
/// (`docs/spec/ENVIRONMENTS.md` §4.2), row-major.
#[inline]
pub fn dcm<S: Scalar>(q: &[S]) -> [[S; 3]; 3] {
    let (q0, q1, q2, q3) = (q[0], q[1], q[2], q[3]);
    let one = cst::<S>(1.0);
    let two = cst::<S>(2.0);
    [
        [
            one - two * (q2 * q2 + q3 * q3),
            two * (q1 * q2 + q0 * q3),
            two * (q1 * q3 - q0 * q2),
        ],
        [
            two * (q1 * q2 - q0 * q3),
            one - two * (q1 * q1 + q3 * q3),
            two * (q2 * q3 + q0 * q1),
        ],
        [
            two * (q1 * q3 + q0 * q2),
            two * (q2 * q3 - q0 * q1),
            one - two * (q1 * q1 + q2 * q2),
        ],
    ]
}

/// Quaternion kinematics q̇ = ½ Ω(ω) q.
#[inline]
pub fn quat_rate<S: Scalar>(q: &[S], w: &[S]) -> [S; 4] {
    let h = cst::<S>(0.5);
    let (q0, q1, q2, q3) = (q[0], q[1], q[2], q[3]);
    let (wx, wy, wz) = (w[0], w[1], w[2]);
    [
        h * (-wx * q1 - wy * q2 - wz * q3),
        h * (wx * q0 + wz * q2 - wy * q3),
        h * (wy * q0 - wz * q1 + wx * q3),
        h * (wz * q0 + wy * q1 - wx * q2),
    ]
}

/// Rigid-body rotational acceleration ω̇ = J⁻¹(M − ω × Jω) for J = diag(jx, jy, jz).
#[inline]
pub fn euler_rotation<S: Scalar>(w: &[S], j: [S; 3], moment: [S; 3]) -> [S; 3] {
    let jw = [j[0] * w[0], j[1] * w[1], j[2] * w[2]];
    let cross = [
        w[1] * jw[2] - w[2] * jw[1],
        w[2] * jw[0] - w[0] * jw[2],
        w[0] * jw[1] - w[1] * jw[0],
    ];
    [
        (moment[0] - cross[0]) / j[0],
        (moment[1] - cross[1]) / j[1],
        (moment[2] - cross[2]) / j[2],
    ]
}
