//! What a solve returns.

use nalgebra::DVector;
use serde::{Deserialize, Serialize};

/// Outcome of a solve.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Converged and polished to the polish tolerance: a KKT point fit for differentiation.
    Solved,
    /// Converged, polish stalled between `polish_tol` and `polish_accept_tol` (accepted).
    SolvedInaccurate,
    /// Converged to `tol` but polishing was disabled.
    SolvedUnpolished,
    /// Iteration limit reached.
    MaxIterations,
    /// The constraints cannot be satisfied (e.g. x_init violates a stage-0 constraint).
    Infeasible,
    /// Line search, inertia correction or polish failed; or the model returned NaN.
    NumericalError,
}

impl Status {
    /// True for a usable solution (solved, possibly at the round-off floor).
    pub fn is_solved(self) -> bool {
        matches!(
            self,
            Status::Solved | Status::SolvedInaccurate | Status::SolvedUnpolished
        )
    }

    /// True when the solution is a polished KKT point (sensitivities are exact).
    pub fn is_polished(self) -> bool {
        matches!(self, Status::Solved | Status::SolvedInaccurate)
    }
}

/// A solution of the optimal control problem with everything differentiation needs.
#[derive(Clone, Debug)]
pub struct Solution {
    /// Outcome.
    pub status: Status,
    /// States x_0 … x_H.
    pub x: Vec<DVector<f64>>,
    /// Controls u_0 … u_{H−1}.
    pub u: Vec<DVector<f64>>,
    /// Costates λ_1 … λ_H (multipliers of x_{i+1} − f(x_i, u_i) = 0, paper convention).
    pub costates: Vec<DVector<f64>>,
    /// Multiplier λ_0 of x_0 = x_init (= ∂V/∂x_init).
    pub lambda0: DVector<f64>,
    /// Inequality multipliers μ ≥ 0 per stage (H path stages, then the terminal stage);
    /// exactly zero on inactive rows after the polish.
    pub mu: Vec<DVector<f64>>,
    /// Constraint values g per stage (same layout as `mu`).
    pub g: Vec<DVector<f64>>,
    /// Active set per stage (same layout as `mu`).
    pub active: Vec<Vec<bool>>,
    /// Number of weakly active constraints found (treated as inactive, §3 step 4).
    pub weakly_active: usize,
    /// Objective J(ζ*; θ).
    pub objective: f64,
    /// Interior-point iterations (0 when the active-set start of a linear–quadratic model
    /// solved it: see `SolverSettings::active_set_start`).
    pub iterations: usize,
    /// Polish Newton iterations (all rounds, the active-set start's included).
    pub polish_iterations: usize,
    /// Of those, chord steps on the interior-point factorization
    /// (`SolverSettings::polish_chord_step`).
    pub chord_steps: usize,
    /// Final scaled stationarity residual.
    pub stationarity: f64,
    /// Final constraint violation (dynamics, x_0 and active rows; max over inequalities).
    pub feasibility: f64,
    /// Largest Hessian regularisation used.
    pub max_regularization: f64,
}

impl Solution {
    /// Empty solution for (n, m, H) and per-stage constraint counts.
    pub fn new(n: usize, m: usize, h: usize, q: &[usize]) -> Self {
        Self {
            status: Status::NumericalError,
            x: vec![DVector::zeros(n); h + 1],
            u: vec![DVector::zeros(m); h],
            costates: vec![DVector::zeros(n); h],
            lambda0: DVector::zeros(n),
            mu: q.iter().map(|&k| DVector::zeros(k)).collect(),
            g: q.iter().map(|&k| DVector::zeros(k)).collect(),
            active: q.iter().map(|&k| vec![false; k]).collect(),
            weakly_active: 0,
            objective: f64::NAN,
            iterations: 0,
            polish_iterations: 0,
            chord_steps: 0,
            stationarity: f64::NAN,
            feasibility: f64::NAN,
            max_regularization: 0.0,
        }
    }

    /// Number of active inequality rows.
    pub fn n_active(&self) -> usize {
        self.active
            .iter()
            .map(|a| a.iter().filter(|&&b| b).count())
            .sum()
    }

    /// Controls as nested vectors (H × m).
    pub fn u_rows(&self) -> Vec<Vec<f64>> {
        self.u.iter().map(|v| v.as_slice().to_vec()).collect()
    }

    /// States as nested vectors ((H+1) × n).
    pub fn x_rows(&self) -> Vec<Vec<f64>> {
        self.x.iter().map(|v| v.as_slice().to_vec()).collect()
    }

    /// Costates as nested vectors (H × n).
    pub fn costate_rows(&self) -> Vec<Vec<f64>> {
        self.costates
            .iter()
            .map(|v| v.as_slice().to_vec())
            .collect()
    }
}
