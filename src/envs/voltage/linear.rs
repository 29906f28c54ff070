//! The linear model v² ≈ A q + v₀² (`docs/spec/ENVIRONMENTS.md` §7.11).
//!
//! LinDistFlow with respect to reactive injections: A_ij = 2 X_ij / S_base with X_ij [p.u.] the
//! reactance of the common part of the slack-to-bus paths of controlled buses i and j (v² in
//! p.u.², q in MVar). At zero injection the loss term of DistFlow has zero derivative, so A is the
//! exact Jacobian d|V|²/dq of the AC power flow there, which
//! [`a_by_finite_differences`] checks.

use super::network::{Network, CONTROLLED_BUSES, LINES, N_CTRL, N_SGEN, S_BASE_MVA};
use super::powerflow::{sweep, FLAT_START};
use crate::envs::{EnvError, InputError};

/// Total (r, x) [p.u.] of the lines shared by the paths from the slack to buses `i` and `j`.
pub fn common_path_impedance(net: &Network, i: usize, j: usize) -> (f64, f64) {
    let pj = net.path(j);
    let (mut r, mut x) = (0.0, 0.0);
    for k in net.path(i) {
        if pj.contains(&k) {
            // The line into bus k.
            if let Some(l) = LINES.iter().find(|l| l.to == k) {
                r += l.r;
                x += l.x;
            }
        }
    }
    (r, x)
}

fn common_matrix(pick: impl Fn((f64, f64)) -> f64) -> [[f64; N_CTRL]; N_CTRL] {
    let net = Network::ieee13();
    std::array::from_fn(|a| {
        std::array::from_fn(|b| {
            let z = common_path_impedance(&net, CONTROLLED_BUSES[a], CONTROLLED_BUSES[b]);
            2.0 * pick(z) / S_BASE_MVA
        })
    })
}

/// A = 2 X_common / S_base [p.u.² per MVar], symmetric.
pub fn a_closed_form() -> [[f64; N_CTRL]; N_CTRL] {
    common_matrix(|(_, x)| x)
}

/// The active-power counterpart 2 R_common / S_base (reference only; p is fixed in an episode).
pub fn r_closed_form() -> [[f64; N_CTRL]; N_CTRL] {
    common_matrix(|(r, _)| r)
}

/// Central finite differences d|V_i|²/dq_j of the AC power flow at zero injection (all sgen p = q
/// = 0), step `h` \[MVar\]; entry (i, j) is row i, column j.
pub fn a_by_finite_differences(h: f64) -> Result<[[f64; N_CTRL]; N_CTRL], EnvError> {
    if !(h.is_finite() && h > 0.0) {
        return Err(EnvError::InvalidState(InputError::OutOfRange {
            what: "finite-difference step".into(),
            expected: "positive",
            value: h,
        }));
    }
    let net = Network::ieee13();
    let p = [0.0; N_SGEN];
    let mut a = [[0.0; N_CTRL]; N_CTRL];
    for j in 0..N_CTRL {
        let mut v2 = [[0.0; N_CTRL]; 2];
        for (side, sign) in [1.0, -1.0].into_iter().enumerate() {
            let mut q = [0.0; N_CTRL];
            q[j] = sign * h;
            let s = super::network::injections(&p, &q);
            let mut v = FLAT_START;
            sweep(&net, &s, &mut v, 1e-15, 500)?;
            v2[side] = CONTROLLED_BUSES.map(|b| v[b].norm_sqr());
        }
        for i in 0..N_CTRL {
            a[i][j] = (v2[0][i] - v2[1][i]) / (2.0 * h);
        }
    }
    Ok(a)
}
