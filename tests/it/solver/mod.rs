//! The solver's test suite (`docs/spec/ALGORITHMS.md` §3 and §13 items 2–3).
//!
//! * `tasks` — independent KKT residuals and multiplier signs on every built-in task, warm
//!   start, determinism, inertia correction, weak activity;
//! * `reference` — unconstrained LQ against a dense KKT solve and a textbook Riccati, box-
//!   constrained QPs and the voltage QP against Clarabel;
//! * `anchors` — the oracle anchors of `docs/spec/ENVIRONMENTS.md` §6;
//! * `errors` — bad input, NaN models, infeasibility, iteration limits, random garbage.

// Stage loops index several parallel per-stage arrays (x, u, λ, blocks) by i.
#![allow(clippy::needless_range_loop)]

mod anchors;
mod common;
mod errors;
use crate::common::no_hint;
mod reference;
mod tasks;
