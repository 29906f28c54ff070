//! The IEEE 13-bus feeder as a radial tree (`docs/spec/ENVIRONMENTS.md` §7.1–§7.5).
//!
//! A single-phase equivalent of the IEEE 13-node feeder (TASRL's `case_13.mat`): 13 buses, 12
//! series-impedance lines, no shunts. Bus 0 is the slack at 1∠0 p.u.; all other buses are PQ
//! buses whose injection comes from 12 static generators (sgens). Sgens 0–2 at buses 2, 7, 9 are
//! the controlled inverters.

use serde::{Deserialize, Serialize};

use super::complex::Complex;
use crate::envs::{EnvError, InputError};

/// Number of buses.
pub const N_BUS: usize = 13;
/// Number of lines.
pub const N_LINE: usize = 12;
/// Number of static generators.
pub const N_SGEN: usize = 12;
/// Number of controlled buses (and of controls).
pub const N_CTRL: usize = 3;

/// Base power S_base \[MVA\].
pub const S_BASE_MVA: f64 = 5.0;
/// Base voltage V_base \[kV\] at every bus.
pub const V_BASE_KV: f64 = 4.16;
/// Base impedance Z_base = V_base² / S_base \[Ω\].
pub const Z_BASE_OHM: f64 = V_BASE_KV * V_BASE_KV / S_BASE_MVA;

/// The slack bus.
pub const SLACK: usize = 0;

/// One series line of the feeder (no shunt admittance).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Line {
    /// Parent ("from") bus.
    pub from: usize,
    /// Child ("to") bus.
    pub to: usize,
    /// Series resistance r [p.u.].
    pub r: f64,
    /// Series reactance x [p.u.].
    pub x: f64,
}

/// The 12 lines of §7.3, in the table's order.
pub const LINES: [Line; N_LINE] = [
    line(0, 1, 0.03790680473, 0.1114090237),
    line(1, 2, 0.03637550851, 0.03686667899),
    line(1, 3, 0.02060026812, 0.03233057507),
    line(2, 4, 0.02181374815, 0.02210267197),
    line(3, 6, 0.02060026812, 0.03233057507),
    line(1, 5, 0.03790680473, 0.1114090237),
    line(5, 7, 0.02172707101, 0.02227602626),
    line(7, 10, 0.02181374815, 0.02213156435),
    line(7, 11, 0.05876710429, 0.02213156435),
    line(5, 8, 0.01895340237, 0.05570451183),
    line(5, 9, 0.02184264053, 0.01222147744),
    line(9, 12, 0.02184264053, 0.01222147744),
];

const fn line(from: usize, to: usize, r: f64, x: f64) -> Line {
    Line { from, to, r, x }
}

/// Breadth-first order of the buses from the root, as used by the golden data (§7.6).
pub const BFS_ORDER: [usize; N_BUS] = [0, 1, 2, 3, 5, 4, 6, 7, 8, 9, 10, 11, 12];

/// Bus of each static generator k (§7.4).
pub const SGEN_BUS: [usize; N_SGEN] = [2, 7, 9, 1, 3, 4, 5, 6, 8, 10, 11, 12];

/// The controlled buses (IEEE 645, 684, 692), the buses of sgens 0–2.
pub const CONTROLLED_BUSES: [usize; N_CTRL] = [2, 7, 9];

/// Cost weights C = diag(0.7, 0.5, 0.6) · 0.15 of the per-step objective F (§7.5).
pub const COST_WEIGHTS: [f64; N_CTRL] = [0.105, 0.075, 0.09];

/// Lower reactive limits q̲ \[MVar\], the same in both limit sets.
pub const Q_MIN: [f64; N_CTRL] = [-1.5, -1.4, -1.0];
/// Upper reactive limits q̄ \[MVar\] of the evaluation set (all Table-2 metrics).
pub const Q_MAX_EVALUATION: [f64; N_CTRL] = [1.5, 1.4, 0.6];
/// Upper reactive limits q̄ \[MVar\] of the training set (TASRL training).
pub const Q_MAX_TRAINING: [f64; N_CTRL] = [1.5, 1.4, 1.0];

/// The reactive limit set of the controlled inverters (§7.5).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Limits {
    /// q̲ = (−1.5, −1.4, −1.0), q̄ = (1.5, 1.4, 0.6) MVar: every reported metric.
    Evaluation,
    /// q̲ = (−1.5, −1.4, −1.0), q̄ = (1.5, 1.4, 1.0) MVar: training.
    Training,
    /// Any other box (checked by [`Limits::validate`]).
    Custom {
        /// Lower limits \[MVar\].
        q_min: [f64; N_CTRL],
        /// Upper limits \[MVar\].
        q_max: [f64; N_CTRL],
    },
}

impl Limits {
    /// Lower limits q̲ \[MVar\].
    pub fn q_min(&self) -> [f64; N_CTRL] {
        match self {
            Limits::Evaluation | Limits::Training => Q_MIN,
            Limits::Custom { q_min, .. } => *q_min,
        }
    }

    /// Upper limits q̄ \[MVar\].
    pub fn q_max(&self) -> [f64; N_CTRL] {
        match self {
            Limits::Evaluation => Q_MAX_EVALUATION,
            Limits::Training => Q_MAX_TRAINING,
            Limits::Custom { q_max, .. } => *q_max,
        }
    }

    /// Check that the box is finite and non-empty.
    pub fn validate(&self) -> Result<(), EnvError> {
        let (lo, hi) = (self.q_min(), self.q_max());
        for i in 0..N_CTRL {
            if !lo[i].is_finite() || !hi[i].is_finite() || lo[i] > hi[i] {
                return Err(EnvError::InvalidState(InputError::Interval {
                    what: format!("reactive limits of controlled bus {i}"),
                    lo: lo[i],
                    hi: hi[i],
                }));
            }
        }
        Ok(())
    }

    /// Clip q elementwise to [q̲, q̄].
    pub fn clip(&self, q: [f64; N_CTRL]) -> [f64; N_CTRL] {
        let (lo, hi) = (self.q_min(), self.q_max());
        std::array::from_fn(|i| q[i].max(lo[i]).min(hi[i]))
    }
}

/// The feeder's tree structure and impedances, precomputed for the power-flow kernels.
#[derive(Clone, Debug, PartialEq)]
pub struct Network {
    /// Parent of each bus (the root's entry is the root itself).
    pub parent: [usize; N_BUS],
    /// Series impedance z = r + jx [p.u.] of the line into each bus (0 for the root).
    pub z_in: [Complex; N_BUS],
    /// Breadth-first visiting order from the root.
    pub bfs_order: [usize; N_BUS],
}

impl Network {
    /// The IEEE 13-bus feeder of §7.3.
    pub fn ieee13() -> Self {
        let mut parent = [SLACK; N_BUS];
        let mut z_in = [Complex::ZERO; N_BUS];
        for l in &LINES {
            parent[l.to] = l.from;
            z_in[l.to] = Complex::new(l.r, l.x);
        }
        Self {
            parent,
            z_in,
            bfs_order: BFS_ORDER,
        }
    }

    /// The buses on the path from the slack to `bus`, `bus` included, the slack excluded.
    pub fn path(&self, bus: usize) -> Vec<usize> {
        let mut p = Vec::new();
        let mut k = bus;
        while k != SLACK {
            p.push(k);
            k = self.parent[k];
        }
        p
    }

    /// Nodal admittance matrix Y (dense) from the series admittances y = 1/z.
    pub fn admittance(&self) -> [[Complex; N_BUS]; N_BUS] {
        let mut y = [[Complex::ZERO; N_BUS]; N_BUS];
        for l in &LINES {
            let yl = Complex::ONE / Complex::new(l.r, l.x);
            y[l.from][l.from] += yl;
            y[l.to][l.to] += yl;
            y[l.from][l.to] -= yl;
            y[l.to][l.from] -= yl;
        }
        y
    }
}

impl Default for Network {
    fn default() -> Self {
        Self::ieee13()
    }
}

/// Net complex injections S_k [p.u.] from sgen active powers p \[MW\] and the controlled
/// reactive set-points q \[MVar\] (§7.4): S_k = (1/5) Σ_{sgen i at bus k} (p_i + j q_i).
pub fn injections(p_mw: &[f64; N_SGEN], q_ctrl_mvar: &[f64; N_CTRL]) -> [Complex; N_BUS] {
    let mut s = [Complex::ZERO; N_BUS];
    for (k, &bus) in SGEN_BUS.iter().enumerate() {
        let q = if k < N_CTRL { q_ctrl_mvar[k] } else { 0.0 };
        s[bus] += Complex::new(p_mw[k] / S_BASE_MVA, q / S_BASE_MVA);
    }
    s
}

/// Per-step objective F(q) of §7.9 with q the set-points \[MVar\], v the voltage magnitudes after
/// applying q and v0 the reset magnitudes (all at the controlled buses):
/// F = Σ_i ½ C_i q_i² + ½ q_i (v_i² + v0_i² − 2).
pub fn objective(q: &[f64; N_CTRL], v: &[f64; N_CTRL], v0: &[f64; N_CTRL]) -> f64 {
    (0..N_CTRL)
        .map(|i| {
            0.5 * COST_WEIGHTS[i] * q[i] * q[i] + 0.5 * q[i] * (v[i] * v[i] + v0[i] * v0[i] - 2.0)
        })
        .sum()
}
