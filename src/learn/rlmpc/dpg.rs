//! RLMPC-DPG: deterministic policy gradient with a compatible critic (`docs/spec/ALGORITHMS.md` §11.3).
//!
//! ```text
//! ∇_θπ(s)   = (∂u*_0/∂θ)ᵀ ∈ ℝ^{d×m}        (m adjoint solves, unit seeds on u_0)
//! ψ(s, a)   = ∇_θπ(s) (a − π(s))            (compatible features, unperturbed solution)
//! Q_w(s, a) = Φ(s)ᵀv + ψ(s, a)ᵀw   ⇒   ∇_aQ_w = ∇_θπᵀ w
//! ∇_θJ      = (1/N) Σ_n Σ_k ∇_θπ_{n,k} ∇_θπ_{n,k}ᵀ w
//! θ ← Π(θ − α_DPG ∇_θJ)        natural-gradient option: θ ← Π(θ − α_DPG w)
//! ```
//!
//! v and w come from one LSTD system pooled over the N episodes of the iteration ([`super::lstd`]);
//! transitions whose ∇_θπ failed are left out of both.

use nalgebra::{DMatrix, DVector};

use super::lstd::{n_features, quadratic_features, LstdSolution, LstdSystem};
use super::transition::Episode;
use crate::learn::LearnError;
use crate::model::OcpModel;
use crate::policy::{OptPolicy, PolicyError};

/// ∇_θπ(s) (d×m) at the policy's last plan: column j is (∂u*_0,j/∂θ)ᵀ, one adjoint solve
/// with the unit seed e_j on u_0.
pub fn policy_jacobian<M: OcpModel>(
    policy: &mut OptPolicy<M>,
) -> Result<DMatrix<f64>, PolicyError> {
    let d = policy.theta().len();
    let m = policy.model().dims().m;
    let mut jac = DMatrix::zeros(d, m);
    let mut seed = vec![0.0; m];
    let mut col = vec![0.0; d];
    for j in 0..m {
        seed.fill(0.0);
        seed[j] = 1.0;
        policy.vjp_controls(&seed, &mut col)?;
        jac.column_mut(j).copy_from_slice(&col);
    }
    Ok(jac)
}

/// ψ = ∇_θπ (a − π) (d).
pub fn compatible_features(jac: &DMatrix<f64>, a: &[f64], pi: &[f64]) -> DVector<f64> {
    let e = DVector::from_iterator(a.len(), a.iter().zip(pi).map(|(x, y)| x - y));
    jac * e
}

/// The pooled LSTD system of a batch (rows: every transition with a policy Jacobian) and the
/// number of rows. L_k = c_k, plus γ·h(s_T) on the last transition of an episode, whose Φ′ row
/// is zero.
pub fn lstd_system(episodes: &[Episode], gamma: f64, d: usize) -> (LstdSystem, usize) {
    let rows: Vec<_> = episodes
        .iter()
        .flat_map(|e| e.transitions.iter())
        .filter(|t| t.jacobian.is_some())
        .collect();
    let k = rows.len();
    let n = rows.first().map_or(0, |t| t.state.len());
    let p = n_features(n);
    let mut sys = LstdSystem {
        phi: DMatrix::zeros(k, p),
        phi_next: DMatrix::zeros(k, p),
        cost: DVector::zeros(k),
        psi: DMatrix::zeros(k, d),
    };
    let mut f = vec![0.0; p];
    for (r, t) in rows.iter().enumerate() {
        quadratic_features(&t.state, &mut f);
        for (c, v) in f.iter().enumerate() {
            sys.phi[(r, c)] = *v;
        }
        if t.terminal {
            sys.cost[r] = t.cost + gamma * t.target;
        } else {
            sys.cost[r] = t.cost;
            quadratic_features(&t.next_state, &mut f);
            for (c, v) in f.iter().enumerate() {
                sys.phi_next[(r, c)] = *v;
            }
        }
        if let Some(psi) = &t.psi {
            for (c, v) in psi.iter().enumerate() {
                sys.psi[(r, c)] = *v;
            }
        }
    }
    (sys, k)
}

/// ∇_θJ = (1/N) Σ ∇_θπ ∇_θπᵀ w over the given policy Jacobians (N = `n_episodes`).
pub fn dpg_gradient<'a>(
    jacobians: impl IntoIterator<Item = &'a DMatrix<f64>>,
    w: &DVector<f64>,
    n_episodes: usize,
) -> DVector<f64> {
    let mut g = DVector::zeros(w.len());
    for jac in jacobians {
        let grad_a = jac.transpose() * w;
        g.gemv(1.0, jac, &grad_a, 1.0);
    }
    if n_episodes > 0 {
        g /= n_episodes as f64;
    }
    g
}

/// The critic and the DPG gradient of a batch: (LSTD weights, ∇_θJ, rows used).
pub fn dpg_step(
    episodes: &[Episode],
    gamma: f64,
    rho: f64,
    d: usize,
) -> Result<(LstdSolution, DVector<f64>, usize), LearnError> {
    let (sys, rows) = lstd_system(episodes, gamma, d);
    if rows == 0 {
        return Ok((
            LstdSolution {
                v: DVector::zeros(sys.phi.ncols()),
                w: DVector::zeros(d),
            },
            DVector::zeros(d),
            0,
        ));
    }
    let sol = sys.solve(gamma, rho)?;
    let jacs = episodes
        .iter()
        .flat_map(|e| e.transitions.iter())
        .filter_map(|t| t.jacobian.as_ref());
    let g = dpg_gradient(jacs, &sol.w, episodes.len());
    Ok((sol, g, rows))
}
