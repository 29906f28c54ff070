//! Balanced AC power flow of the radial feeder (`docs/spec/ENVIRONMENTS.md` §7.6).
//!
//! Two independent methods that converge to the same solution:
//!
//! * [`sweep`] — backward/forward sweep, the reference (pandapower's `bfsw`): injection currents
//!   I_k = conj(S_k / V_k), branch currents J_k = −I_k + Σ_{c child of k} J_c accumulated in
//!   reverse breadth-first order, then V_k ← V_parent(k) − z_k J_k in breadth-first order, until
//!   max_k |ΔV_k| ≤ tol;
//! * [`newton_raphson`] — polar Newton–Raphson on the nodal equations S = V ∘ conj(Y V) with bus 0
//!   the slack and buses 1–12 PQ, until max(|ΔP|, |ΔQ|) ≤ tol.
//!
//! Both work in place on a `[Complex; 13]` (warm start from its content) and allocate nothing.

use serde::{Deserialize, Serialize};

use super::complex::Complex;
use super::network::{Network, N_BUS, SLACK};
use crate::envs::{EnvError, InputError};

/// Number of unknowns of the Newton–Raphson system (angle and magnitude of 12 PQ buses).
const N_NR: usize = 2 * (N_BUS - 1);

/// The flat start V_k = 1 + 0j.
pub const FLAT_START: [Complex; N_BUS] = [Complex::ONE; N_BUS];

/// Which power-flow algorithm the plant uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PowerFlowMethod {
    /// Backward/forward sweep (the reference, default).
    Sweep,
    /// Polar Newton–Raphson.
    NewtonRaphson,
}

/// Power-flow settings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PowerFlowSettings {
    /// Algorithm (default: sweep).
    pub method: PowerFlowMethod,
    /// Convergence tolerance [p.u.]: max |ΔV| for the sweep, max(|ΔP|, |ΔQ|) for Newton
    /// (default 1e-12, the golden-data accuracy of §7.14).
    pub tol: f64,
    /// Sweep cap before [`EnvError::PowerFlowDiverged`] (default 500, §7.6).
    pub max_sweeps: usize,
    /// Newton iteration cap before [`EnvError::PowerFlowDiverged`] (default 30).
    pub max_newton: usize,
    /// Start each step's power flow from the previous step's V (default true); a reset always
    /// starts flat.
    pub warm_start: bool,
}

impl Default for PowerFlowSettings {
    fn default() -> Self {
        Self {
            method: PowerFlowMethod::Sweep,
            tol: 1e-12,
            max_sweeps: 500,
            max_newton: 30,
            warm_start: true,
        }
    }
}

impl PowerFlowSettings {
    /// Check the tolerance and the iteration caps.
    pub fn validate(&self) -> Result<(), EnvError> {
        if !(self.tol.is_finite() && self.tol > 0.0) {
            return Err(EnvError::InvalidState(InputError::OutOfRange {
                what: "power-flow tolerance".into(),
                expected: "positive and finite",
                value: self.tol,
            }));
        }
        if self.max_sweeps == 0 || self.max_newton == 0 {
            return Err(EnvError::InvalidState(InputError::Zero {
                what: "power-flow iteration caps",
            }));
        }
        Ok(())
    }
}

/// Outcome of a converged power flow.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PowerFlowInfo {
    /// Sweeps or Newton iterations performed.
    pub iterations: usize,
    /// Final convergence measure (max |ΔV| or max mismatch) [p.u.].
    pub residual: f64,
}

/// A power-flow solver of one network: the tree, its admittance matrix and the settings.
#[derive(Clone, Debug, PartialEq)]
pub struct PowerFlow {
    network: Network,
    y: [[Complex; N_BUS]; N_BUS],
    settings: PowerFlowSettings,
}

impl PowerFlow {
    /// A solver for `network` with validated `settings`.
    pub fn new(network: Network, settings: PowerFlowSettings) -> Result<Self, EnvError> {
        settings.validate()?;
        let y = network.admittance();
        Ok(Self {
            network,
            y,
            settings,
        })
    }

    /// The network.
    pub fn network(&self) -> &Network {
        &self.network
    }

    /// The nodal admittance matrix.
    pub fn admittance(&self) -> &[[Complex; N_BUS]; N_BUS] {
        &self.y
    }

    /// The settings.
    pub fn settings(&self) -> &PowerFlowSettings {
        &self.settings
    }

    /// Solve for V given the injections `s` [p.u.], starting from the content of `v`.
    pub fn solve(
        &self,
        s: &[Complex; N_BUS],
        v: &mut [Complex; N_BUS],
    ) -> Result<PowerFlowInfo, EnvError> {
        match self.settings.method {
            PowerFlowMethod::Sweep => sweep(
                &self.network,
                s,
                v,
                self.settings.tol,
                self.settings.max_sweeps,
            ),
            PowerFlowMethod::NewtonRaphson => {
                newton_raphson(&self.y, s, v, self.settings.tol, self.settings.max_newton)
            }
        }
    }
}

/// Backward/forward sweep from the content of `v` (bus 0 is reset to 1∠0).
///
/// Converged when max_k |V_k^new − V_k^old| ≤ `tol`; after `max_sweeps` sweeps, or on a
/// non-finite voltage, returns [`EnvError::PowerFlowDiverged`].
pub fn sweep(
    net: &Network,
    s: &[Complex; N_BUS],
    v: &mut [Complex; N_BUS],
    tol: f64,
    max_sweeps: usize,
) -> Result<PowerFlowInfo, EnvError> {
    v[SLACK] = Complex::ONE;
    let mut j = [Complex::ZERO; N_BUS];
    let mut delta = f64::INFINITY;
    for it in 1..=max_sweeps {
        // Branch currents start from the load currents −I_k = −conj(S_k / V_k).
        for k in 0..N_BUS {
            j[k] = if k == SLACK {
                Complex::ZERO
            } else {
                -(s[k] / v[k]).conj()
            };
        }
        // Backward sweep: children before parents.
        for &k in net.bfs_order.iter().rev() {
            if k != SLACK {
                let jk = j[k];
                j[net.parent[k]] += jk;
            }
        }
        // Forward sweep: parents before children.
        delta = 0.0;
        for &k in net.bfs_order.iter() {
            if k != SLACK {
                let new = v[net.parent[k]] - net.z_in[k] * j[k];
                delta = delta.max((new - v[k]).abs());
                v[k] = new;
            }
        }
        if !delta.is_finite() {
            break;
        }
        if delta <= tol {
            return Ok(PowerFlowInfo {
                iterations: it,
                residual: delta,
            });
        }
    }
    Err(EnvError::PowerFlowDiverged {
        iterations: max_sweeps,
        mismatch: delta,
    })
}

/// Complex power mismatch S_k − V_k conj((Y V)_k) at every PQ bus (the slack's entry is 0).
pub fn power_mismatch(
    y: &[[Complex; N_BUS]; N_BUS],
    s: &[Complex; N_BUS],
    v: &[Complex; N_BUS],
) -> [Complex; N_BUS] {
    let mut out = [Complex::ZERO; N_BUS];
    for k in 0..N_BUS {
        if k == SLACK {
            continue;
        }
        let mut i = Complex::ZERO;
        for (ykj, vj) in y[k].iter().zip(v.iter()) {
            i += *ykj * *vj;
        }
        out[k] = s[k] - v[k] * i.conj();
    }
    out
}

/// max_k |S_k − V_k conj((Y V)_k)| over the PQ buses [p.u.].
pub fn max_mismatch(
    y: &[[Complex; N_BUS]; N_BUS],
    s: &[Complex; N_BUS],
    v: &[Complex; N_BUS],
) -> f64 {
    power_mismatch(y, s, v)
        .iter()
        .fold(0.0_f64, |m, d| m.max(d.abs()))
}

/// Polar Newton–Raphson from the content of `v` (bus 0 is reset to 1∠0).
///
/// Unknowns (θ_1 … θ_12, |V|_1 … |V|_12); converged when max(|ΔP|, |ΔQ|) ≤ `tol`; after
/// `max_iter` iterations, on a singular Jacobian or a non-finite iterate, returns
/// [`EnvError::PowerFlowDiverged`].
pub fn newton_raphson(
    y: &[[Complex; N_BUS]; N_BUS],
    s: &[Complex; N_BUS],
    v: &mut [Complex; N_BUS],
    tol: f64,
    max_iter: usize,
) -> Result<PowerFlowInfo, EnvError> {
    v[SLACK] = Complex::ONE;
    let mut va = [0.0; N_BUS];
    let mut vm = [0.0; N_BUS];
    for k in 0..N_BUS {
        va[k] = v[k].arg();
        vm[k] = v[k].abs();
    }
    let mut jac = [[0.0; N_NR + 1]; N_NR];
    let mut mis = f64::INFINITY;
    for it in 0..=max_iter {
        // Injected currents and mismatch.
        let mut ibus = [Complex::ZERO; N_BUS];
        for k in 0..N_BUS {
            for (ykj, vj) in y[k].iter().zip(v.iter()) {
                ibus[k] += *ykj * *vj;
            }
        }
        mis = 0.0;
        for k in 1..N_BUS {
            let d = s[k] - v[k] * ibus[k].conj();
            jac[k - 1][N_NR] = d.re;
            jac[N_BUS - 1 + k - 1][N_NR] = d.im;
            mis = mis.max(d.re.abs()).max(d.im.abs());
        }
        if !mis.is_finite() {
            break;
        }
        if mis <= tol {
            return Ok(PowerFlowInfo {
                iterations: it,
                residual: mis,
            });
        }
        if it == max_iter {
            break;
        }
        // Jacobian of S_calc (MATPOWER's dSbus_dV):
        // dS/dθ_k = j V_i conj(δ_ik I_i − Y_ik V_k), dS/d|V|_k = V_i conj(Y_ik Vn_k) + δ_ik conj(I_i) Vn_k.
        for i in 1..N_BUS {
            for k in 1..N_BUS {
                let vn = v[k].scale(1.0 / vm[k]);
                let mut da = -(y[i][k] * v[k]);
                let mut dm = v[i] * (y[i][k] * vn).conj();
                if i == k {
                    da += ibus[i];
                    dm += ibus[i].conj() * vn;
                }
                let da = Complex::new(0.0, 1.0) * v[i] * da.conj();
                jac[i - 1][k - 1] = da.re;
                jac[N_BUS - 1 + i - 1][k - 1] = da.im;
                jac[i - 1][N_BUS - 1 + k - 1] = dm.re;
                jac[N_BUS - 1 + i - 1][N_BUS - 1 + k - 1] = dm.im;
            }
        }
        if !solve_in_place(&mut jac) {
            break;
        }
        for k in 1..N_BUS {
            va[k] += jac[k - 1][N_NR];
            vm[k] += jac[N_BUS - 1 + k - 1][N_NR];
            v[k] = Complex::from_polar(vm[k], va[k]);
        }
    }
    Err(EnvError::PowerFlowDiverged {
        iterations: max_iter,
        mismatch: mis,
    })
}

/// Gaussian elimination with partial pivoting on the augmented system [J | r]; the solution
/// replaces the last column. Returns false on a (numerically) singular matrix.
fn solve_in_place(a: &mut [[f64; N_NR + 1]; N_NR]) -> bool {
    for col in 0..N_NR {
        let mut piv = col;
        for r in col + 1..N_NR {
            if a[r][col].abs() > a[piv][col].abs() {
                piv = r;
            }
        }
        // NaN-aware: a NaN pivot also counts as singular.
        if a[piv][col].abs().partial_cmp(&1e-300) != Some(std::cmp::Ordering::Greater) {
            return false;
        }
        a.swap(col, piv);
        let (top, rest) = a.split_at_mut(col + 1);
        let pivot_row = &top[col];
        for row in rest.iter_mut() {
            let f = row[col] / pivot_row[col];
            if f != 0.0 {
                for (x, p) in row[col..].iter_mut().zip(&pivot_row[col..]) {
                    *x -= f * p;
                }
            }
        }
    }
    for col in (0..N_NR).rev() {
        let (top, rest) = a.split_at_mut(col + 1);
        let row = &mut top[col];
        let mut x = row[N_NR];
        for (c, below) in rest.iter().enumerate() {
            x -= row[col + 1 + c] * below[N_NR];
        }
        row[N_NR] = x / row[col];
    }
    true
}
