//! The primal–dual variables of the interior-point method: the iterate, the trial point of the
//! line search and the Newton step (`docs/spec/ALGORITHMS.md` §3). Sized once per workspace.

use nalgebra::DVector;

/// Stage-wise vectors: `k` vectors of length `len`.
fn vecs(len: usize, k: usize) -> Vec<DVector<f64>> {
    vec![DVector::zeros(len); k]
}

/// One vector per stage with the stage's constraint count (q[0..H], then the terminal q[H]).
fn per_constraint(q: &[usize]) -> Vec<DVector<f64>> {
    q.iter().map(|&k| DVector::zeros(k)).collect()
}

/// The current iterate ζ = (x, u), its costates, slacks and inequality multipliers.
#[derive(Clone, Debug)]
pub(crate) struct Iterate {
    /// x_0 … x_H.
    pub x: Vec<DVector<f64>>,
    /// u_0 … u_{H−1}.
    pub u: Vec<DVector<f64>>,
    /// λ_0 … λ_H.
    pub lam: Vec<DVector<f64>>,
    /// Slacks s_i of the inequalities g_i + s_i = 0 (interior-point phase).
    pub s: Vec<DVector<f64>>,
    /// Inequality multipliers μ_i.
    pub mu: Vec<DVector<f64>>,
}

impl Iterate {
    pub(crate) fn new(n: usize, m: usize, h: usize, q: &[usize]) -> Self {
        Self {
            x: vecs(n, h + 1),
            u: vecs(m, h),
            lam: vecs(n, h + 1),
            s: per_constraint(q),
            mu: per_constraint(q),
        }
    }
}

/// The trial point of the line search; while the polish runs, the interior-point solution it
/// falls back to (with `lam`, and μ kept in [`Step::mu`]).
#[derive(Clone, Debug)]
pub(crate) struct Trial {
    /// Trial x_0 … x_H.
    pub x: Vec<DVector<f64>>,
    /// Trial u_0 … u_{H−1}.
    pub u: Vec<DVector<f64>>,
    /// Trial slacks.
    pub s: Vec<DVector<f64>>,
    /// Costates of the interior-point solution, kept while the polish runs (fallback).
    pub lam: Vec<DVector<f64>>,
}

impl Trial {
    pub(crate) fn new(n: usize, m: usize, h: usize, q: &[usize]) -> Self {
        Self {
            x: vecs(n, h + 1),
            u: vecs(m, h),
            s: per_constraint(q),
            lam: vecs(n, h + 1),
        }
    }
}

/// A Newton step (interior-point, polish or a sensitivity solve on the kept factorization).
#[derive(Clone, Debug)]
pub(crate) struct Step {
    /// Δx_0 … Δx_H.
    pub dx: Vec<DVector<f64>>,
    /// Δu_0 … Δu_{H−1}.
    pub du: Vec<DVector<f64>>,
    /// The new costates λ⁺_0 … λ⁺_H.
    pub lam: Vec<DVector<f64>>,
    /// Δs.
    pub ds: Vec<DVector<f64>>,
    /// The new inequality multipliers μ⁺.
    pub mu: Vec<DVector<f64>>,
    /// Δs of the affine (predictor) step.
    pub ds_aff: Vec<DVector<f64>>,
    /// Δμ of the affine (predictor) step.
    pub dmu_aff: Vec<DVector<f64>>,
    /// G Δζ per stage.
    pub gd: Vec<DVector<f64>>,
}

impl Step {
    pub(crate) fn new(n: usize, m: usize, h: usize, q: &[usize]) -> Self {
        Self {
            dx: vecs(n, h + 1),
            du: vecs(m, h),
            lam: vecs(n, h + 1),
            ds: per_constraint(q),
            mu: per_constraint(q),
            ds_aff: per_constraint(q),
            dmu_aff: per_constraint(q),
            gd: per_constraint(q),
        }
    }
}
