//! The RLMPC-DPG critic: quadratic value features and the pooled LSTD fit (`docs/spec/ALGORITHMS.md`
//! §11.3).
//!
//! ```text
//! Φ(s)  = all monomials of s of degree ≤ 2: (1, s_1 … s_n, s_i s_j for i ≤ j)   (1 + n + n(n+1)/2)
//! D_Φ   = γΦ′ − Φ                       (rows: one per transition; Φ′ row = 0 on a last transition)
//! value      [ (D_ΦᵀΦ)(ΦᵀD_Φ) + ρI ] v = −(D_ΦᵀΦ)(ΦᵀL)
//! advantage  ( ΨᵀΨ + ρI ) w = Ψᵀ r,      r = L + D_Φ v
//! ```
//!
//! Both systems are the normal equations of ridge least-squares problems,
//! min ‖M v + b‖² + ρ‖v‖² with M = ΦᵀD_Φ, b = ΦᵀL, and min ‖Ψ w − r‖² + ρ‖w‖². They are solved
//! by a QR factorisation of the stacked matrices [M; √ρ I] and [Ψ; √ρ I]: the same solution in
//! exact arithmetic, with the condition number of M (not its square) governing the rounding.

use nalgebra::{DMatrix, DVector};

use crate::learn::LearnError;

/// Number of monomials of degree ≤ 2 in n variables, 1 + n + n(n+1)/2 (15 for n = 4, 28 for
/// n = 6, 105 for n = 13).
pub fn n_features(n: usize) -> usize {
    1 + n + n * (n + 1) / 2
}

/// Φ(s) written into `out` (length [`n_features`]`(s.len())`): 1, then s_i, then s_i s_j for
/// i ≤ j in row-major order.
pub fn quadratic_features(s: &[f64], out: &mut [f64]) {
    out[0] = 1.0;
    let n = s.len();
    out[1..=n].copy_from_slice(s);
    let mut k = n + 1;
    for i in 0..n {
        for j in i..n {
            out[k] = s[i] * s[j];
            k += 1;
        }
    }
}

/// The pooled LSTD system of one iteration: one row per transition.
#[derive(Clone, Debug)]
pub struct LstdSystem {
    /// Φ: rows Φ(s_k)ᵀ (K×p).
    pub phi: DMatrix<f64>,
    /// Φ′: rows Φ(s_{k+1})ᵀ, zero for the last transition of an episode (K×p).
    pub phi_next: DMatrix<f64>,
    /// L: stage costs, plus γh(s_T) on the last transition of an episode (K).
    pub cost: DVector<f64>,
    /// Ψ: rows ψ_kᵀ, the compatible features (K×d).
    pub psi: DMatrix<f64>,
}

/// The critic weights fitted by [`LstdSystem::solve`].
#[derive(Clone, Debug, PartialEq)]
pub struct LstdSolution {
    /// Value weights v (V_v(s) = Φ(s)ᵀ v).
    pub v: DVector<f64>,
    /// Advantage weights w (A_w(s, a) = ψ(s, a)ᵀ w).
    pub w: DVector<f64>,
}

impl LstdSystem {
    /// The two ridge solves of the module docs with discount γ and regularisation ρ > 0.
    pub fn solve(&self, gamma: f64, rho: f64) -> Result<LstdSolution, LearnError> {
        let k = self.phi.nrows();
        let p = self.phi.ncols();
        if self.phi_next.shape() != (k, p) || self.cost.len() != k || self.psi.nrows() != k {
            return Err(LearnError::Config(format!(
                "LSTD system: Φ is {k}×{p}, Φ′ is {:?}, L has {} rows, Ψ has {} rows",
                self.phi_next.shape(),
                self.cost.len(),
                self.psi.nrows()
            )));
        }
        if !(rho.is_finite() && rho > 0.0) {
            return Err(LearnError::Config(format!(
                "LSTD ridge ρ must be finite and > 0, got {rho}"
            )));
        }
        let d_phi = &self.phi_next * gamma - &self.phi;
        let m = self.phi.transpose() * &d_phi;
        let b = self.phi.transpose() * &self.cost;
        let v = ridge(&m, &(-b), rho)?;
        let r = &self.cost + &d_phi * &v;
        let w = ridge(&self.psi, &r, rho)?;
        Ok(LstdSolution { v, w })
    }
}

/// argmin_x ‖A x − y‖² + ρ‖x‖², i.e. (AᵀA + ρI) x = Aᵀy, by QR of [A; √ρ I].
pub fn ridge(a: &DMatrix<f64>, y: &DVector<f64>, rho: f64) -> Result<DVector<f64>, LearnError> {
    let (r, c) = a.shape();
    let mut stacked = DMatrix::zeros(r + c, c);
    stacked.view_mut((0, 0), (r, c)).copy_from(a);
    let s = rho.sqrt();
    for i in 0..c {
        stacked[(r + i, i)] = s;
    }
    let mut rhs = DVector::zeros(r + c);
    rhs.rows_mut(0, r).copy_from(y);
    let qr = stacked.qr();
    let qty = qr.q().transpose() * rhs;
    let x = qr
        .r()
        .solve_upper_triangular(&qty)
        .ok_or(LearnError::NonFinite {
            iteration: 0,
            what: "the LSTD solution (singular ridge system)",
        })?;
    if x.iter().any(|v| !v.is_finite()) {
        return Err(LearnError::NonFinite {
            iteration: 0,
            what: "the LSTD solution",
        });
    }
    Ok(x)
}
