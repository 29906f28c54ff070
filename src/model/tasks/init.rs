//! Initial parameters θ(0) and the θ_f projection (`docs/spec/ENVIRONMENTS.md` §1.3, §1.4, §7.12).
//!
//! ```text
//! nonlinear:  θ(0) = (θ_c = 1…1, θ_H = 1…1, θ_f = max(φ_f,true + σ₀ (U − ½), 0.05))
//! voltage:    θ(0) = (θ_v = 1, 1, 1,  vec(A) with A_jk (1 + (U_jk − ½)), row-major)
//! ```
//!
//! Every U is one standard uniform `rng.random::<f64>()` ∈ [0, 1) from the caller's generator
//! (the θ(0) stream of [`crate::rng`]), drawn in θ_f order (nonlinear) or row-major order of A
//! (voltage); nothing else is drawn.

use super::NonlinearTask;
use rand::Rng;
use thiserror::Error;

/// Default lower bound of every θ_f entry (masses, lengths, inertias) **[PROJECT DEFAULT]**.
pub const THETA_F_FLOOR: f64 = 0.05;

/// The LinDistFlow sensitivity A = 2 X_common / S_base of v² to q at the controlled buses
/// (2, 7, 9) of the IEEE 13-bus feeder, p.u.² per MVar, row-major (`docs/spec/ENVIRONMENTS.md` §7.11).
pub const A_LINEAR: [[f64; 3]; 3] = [
    [0.05931028, 0.04456361, 0.04456361],
    [0.04456361, 0.09803763, 0.08912722],
    [0.04456361, 0.08912722, 0.09401581],
];

/// Errors of θ(0) initialisation and projection.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum InitError {
    /// θ has the wrong length for the task.
    #[error("θ has {got} entries, the {task} task expects {expected}")]
    ThetaLength {
        /// Task name.
        task: &'static str,
        /// Entries supplied.
        got: usize,
        /// Entries expected.
        expected: usize,
    },
    /// A θ entry is NaN or ±∞.
    #[error("θ entry {index} is not finite ({value})")]
    NonFiniteTheta {
        /// Offending index.
        index: usize,
        /// Offending value.
        value: f64,
    },
    /// A setting (σ₀ or the floor) is invalid.
    #[error("invalid setting {name} = {value}")]
    InvalidSetting {
        /// Setting name.
        name: &'static str,
        /// Offending value.
        value: f64,
    },
}

/// θ(0) of a nonlinear task with the project defaults: σ₀ = [`NonlinearTask::sigma0`] and
/// the floor [`THETA_F_FLOOR`]. Draws one uniform per θ_f entry, in θ_f order.
///
/// ```
/// use diffop::model::tasks::{init::theta0_nonlinear, NonlinearTask};
/// let mut rng = diffop::rng::stream(0, diffop::rng::Stream::ThetaInit);
/// let th = theta0_nonlinear(NonlinearTask::Cartpole, &mut rng);
/// assert_eq!(th.len(), 11);
/// assert!(th[..8].iter().all(|&w| w == 1.0));
/// ```
pub fn theta0_nonlinear<R: Rng + ?Sized>(task: NonlinearTask, rng: &mut R) -> Vec<f64> {
    theta0_draw(task, task.sigma0(), THETA_F_FLOOR, rng)
}

/// θ(0) of a nonlinear task with explicit σ₀ ≥ 0 and floor (both finite). Draws one uniform
/// per θ_f entry, in θ_f order; nothing is drawn when the settings are rejected.
pub fn theta0_nonlinear_with<R: Rng + ?Sized>(
    task: NonlinearTask,
    sigma0: f64,
    floor: f64,
    rng: &mut R,
) -> Result<Vec<f64>, InitError> {
    if !(sigma0.is_finite() && sigma0 >= 0.0) {
        return Err(InitError::InvalidSetting {
            name: "sigma0",
            value: sigma0,
        });
    }
    check_floor(floor)?;
    Ok(theta0_draw(task, sigma0, floor, rng))
}

fn theta0_draw<R: Rng + ?Sized>(
    task: NonlinearTask,
    sigma0: f64,
    floor: f64,
    rng: &mut R,
) -> Vec<f64> {
    let (n, _) = task.nm();
    let mut theta = vec![1.0; 2 * n];
    theta.extend(task.phi_true().iter().map(|&phi| {
        let u: f64 = rng.random::<f64>();
        (phi + sigma0 * (u - 0.5)).max(floor)
    }));
    theta
}

fn check_floor(floor: f64) -> Result<(), InitError> {
    if floor.is_finite() {
        Ok(())
    } else {
        Err(InitError::InvalidSetting {
            name: "floor",
            value: floor,
        })
    }
}

/// Project θ onto the admissible set of `task`: clamp every θ_f entry (θ[2n..]) to ≥ `floor`
/// (default [`THETA_F_FLOOR`]); the cost weights are left alone (they enter squared).
/// Returns the number of entries that were raised to the floor.
///
/// Errors (θ is then unchanged): wrong length, a non-finite θ_f entry (never silently
/// replaced), a non-finite floor.
pub fn project_theta_f(
    task: NonlinearTask,
    theta: &mut [f64],
    floor: f64,
) -> Result<usize, InitError> {
    check_floor(floor)?;
    let (n, _) = task.nm();
    let expected = 2 * n + task.phi_true().len();
    if theta.len() != expected {
        return Err(InitError::ThetaLength {
            task: task.name(),
            got: theta.len(),
            expected,
        });
    }
    if let Some((k, &value)) = theta[2 * n..]
        .iter()
        .enumerate()
        .find(|(_, v)| !v.is_finite())
    {
        return Err(InitError::NonFiniteTheta {
            index: 2 * n + k,
            value,
        });
    }
    let mut clamped = 0;
    for v in &mut theta[2 * n..] {
        if *v < floor {
            *v = floor;
            clamped += 1;
        }
    }
    Ok(clamped)
}

/// θ(0) of the voltage policy: θ_v = (1, 1, 1), then A(0)_jk = A_jk (1 + (U_jk − ½)) with
/// A = [`A_LINEAR`], nine uniforms drawn row-major (`docs/spec/ENVIRONMENTS.md` §7.12). Length 12.
pub fn theta0_voltage<R: Rng + ?Sized>(rng: &mut R) -> Vec<f64> {
    let mut theta = vec![1.0; 3];
    for row in &A_LINEAR {
        for &a in row {
            let u: f64 = rng.random::<f64>();
            theta.push(a * (1.0 + (u - 0.5)));
        }
    }
    theta
}
