//! The scenario generator (`docs/spec/ENVIRONMENTS.md` §7.8), bit-exact with TASRL's numpy code.
//!
//! reset(seed): seed MT19937 with `seed`; scenario = choice([0, 1]); then the sgen active powers
//! \[MW\] are drawn in this order:
//!
//! ```text
//! 0 (low voltage):  p0 = −0.5·U(1,7); p1 = −0.8·U(1,4); p2 = −0.3·U(1,5)
//! 1 (high voltage): p0 = U(0.5,4); p1 = U(1,4.51); p2 = U(0,5); p3 = 0.6·U(0,2); p4 = 0.6·U(2,3);
//!                   p5 = 0.7·U(0,2); p10 = U(0.2,3); p11 = U(0,1.5)
//! ```
//!
//! A scaled draw f·U(lo, hi) multiplies after the uniform is formed. All other sgens stay at 0.

use serde::{Deserialize, Serialize};

use super::mt19937::Mt19937;
use super::network::N_SGEN;

/// The two scenario families.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ScenarioKind {
    /// Scenario 0: peak load (negative sgen p), voltages below the band.
    LowVoltage,
    /// Scenario 1: strong PV, voltages above the band.
    HighVoltage,
}

impl ScenarioKind {
    /// The numpy index of the scenario (0 low, 1 high).
    pub fn index(self) -> u32 {
        match self {
            ScenarioKind::LowVoltage => 0,
            ScenarioKind::HighVoltage => 1,
        }
    }
}

/// One drawn scenario: the sgen active powers of an episode.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scenario {
    /// Reset seed.
    pub seed: u32,
    /// The generator's first output (its lowest bit is the scenario index).
    pub first_u32: u32,
    /// Scenario family.
    pub kind: ScenarioKind,
    /// Active power of every sgen \[MW\] (generation positive).
    pub sgen_p: [f64; N_SGEN],
    /// Number of 32-bit draws consumed (7 for low, 17 for high voltage).
    pub draws: usize,
}

impl Scenario {
    /// Draw the scenario of reset seed `seed`.
    pub fn draw(seed: u32) -> Self {
        let mut g = Mt19937::new(seed);
        let first_u32 = g.next_u32();
        let mut p = [0.0; N_SGEN];
        let kind = if first_u32 & 1 == 0 {
            p[0] = -0.5 * g.uniform(1.0, 7.0);
            p[1] = -0.8 * g.uniform(1.0, 4.0);
            p[2] = -0.3 * g.uniform(1.0, 5.0);
            ScenarioKind::LowVoltage
        } else {
            p[0] = g.uniform(0.5, 4.0);
            p[1] = g.uniform(1.0, 4.51);
            p[2] = g.uniform(0.0, 5.0);
            p[3] = 0.6 * g.uniform(0.0, 2.0);
            p[4] = 0.6 * g.uniform(2.0, 3.0);
            p[5] = 0.7 * g.uniform(0.0, 2.0);
            p[10] = g.uniform(0.2, 3.0);
            p[11] = g.uniform(0.0, 1.5);
            ScenarioKind::HighVoltage
        };
        let draws = match kind {
            ScenarioKind::LowVoltage => 1 + 2 * 3,
            ScenarioKind::HighVoltage => 1 + 2 * 8,
        };
        Self {
            seed,
            first_u32,
            kind,
            sgen_p: p,
            draws,
        }
    }
}
