//! The exact finish (`docs/spec/ALGORITHMS.md` §3): active-set identification, Newton polish on the
//! equality-constrained KKT system, sign checks, weakly active rows.
//!
//! The polish KKT system is solved by a Schur complement over the active rows on top of the
//! Riccati factorization of the dynamics-only LQ problem:
//!
//! ```text
//! Δζ = Δζ⁰ + Σ_k μ_k⁺ W_k,   with  Δζ⁰ = LQ(∇J, defects),  W_k = LQ(G_kᵀ, 0)
//! S μ⁺ = −g̃ − G Δζ⁰,         S_jk = G_j W_k
//! ```
//!
//! The final factorization (Riccati, W_k, S) is taken at the returned point and kept for the
//! sensitivity pass.

use super::kkt::KktState;
use super::workspace::{WarmStart, Workspace};
use super::{trace_enabled, Status};
use crate::linalg::{all_finite, norm_inf};
use crate::model::OcpModel;

impl Workspace {
    /// Run the polish after the interior-point phase converged. `may_defer`: the polish may
    /// leave the final factorization for later (not when its inertia decides the outcome:
    /// the interior-point hand-over and the active-set start).
    pub(crate) fn polish<M: OcpModel>(&mut self, model: &M, may_defer: bool) -> Status {
        let h = self.h;
        // classify: active iff μ_j > |g_j|
        for i in 0..=h {
            for j in 0..self.q[i] {
                let active = self.it.mu[i][j] > self.lq.blocks[i].g[j].abs();
                self.act[i][j] = active;
                if !active {
                    self.it.mu[i][j] = 0.0;
                }
            }
        }
        self.active_set_rounds(model, self.settings.max_active_rounds, may_defer)
    }

    /// Active-set start of linear–quadratic models ([`SolverSettings::active_set_start`]): take
    /// the active set of the previous solution (shifted by one stage for [`WarmStart::Shift`],
    /// kept for [`WarmStart::Current`]; a cold start goes straight to the interior-point
    /// method, which was faster there: voltage H = 30 from an empty set took many rounds, each
    /// with one Riccati solve per active row), solve the equality-constrained
    /// QP on it (one exact Newton step) and correct the set with the polish's sign rules — a
    /// primal–dual active-set method — for at most `active_set_rounds` rounds. A receding-
    /// horizon problem changes little from one step to the next, so the first guess is usually
    /// right and the solve costs about one interior-point iteration instead of 5–8. The result
    /// passes the same checks as a polished interior-point solution (stationarity, every
    /// inactive row feasible, every active multiplier ≥ 0) and, with a positive definite
    /// reduced Hessian, is the unique minimiser. `None` when the rounds do not settle or the
    /// reduced Hessian is indefinite: the guess is then restored and the interior-point method
    /// solves from it.
    ///
    /// [`SolverSettings::active_set_start`]: super::SolverSettings::active_set_start
    /// [`WarmStart::Shift`]: super::WarmStart::Shift
    /// [`WarmStart::Current`]: super::WarmStart::Current
    pub(crate) fn active_set_start<M: OcpModel>(
        &mut self,
        model: &M,
        start: WarmStart,
    ) -> Option<Status> {
        let h = self.h;
        match start {
            WarmStart::Cold => return None,
            WarmStart::Shift => {
                // Path stage i < H − 1 takes stage i + 1's set where the row counts agree; the
                // last path stage and the terminal stage keep their own (as the shifted
                // controls repeat the last one: the terminal rows are often only weakly
                // active, so they are a poor guess for the last path stage).
                for i in 0..h.saturating_sub(1) {
                    if self.q[i] == self.q[i + 1] {
                        let (lo, hi) = self.act.split_at_mut(i + 1);
                        lo[i].copy_from_slice(&hi[0]);
                    } else {
                        self.act[i].fill(false);
                    }
                }
            }
            WarmStart::Current => {}
        }
        for i in 0..=h {
            self.trial.x[i].copy_from(&self.it.x[i]);
            self.trial.lam[i].copy_from(&self.it.lam[i]);
            self.it.mu[i].fill(0.0);
            if i < h {
                self.trial.u[i].copy_from(&self.it.u[i]);
            }
        }
        self.kkt.pd = true;
        let status = self.active_set_rounds(model, self.settings.active_set_rounds, false);
        if status.is_polished() && self.kkt.pd {
            return Some(status);
        }
        for i in 0..=h {
            std::mem::swap(&mut self.it.x[i], &mut self.trial.x[i]);
            std::mem::swap(&mut self.it.lam[i], &mut self.trial.lam[i]);
            self.it.mu[i].fill(0.0);
            self.act[i].fill(false);
            if i < h {
                std::mem::swap(&mut self.it.u[i], &mut self.trial.u[i]);
            }
        }
        // `lq_ready` stays: the stored linear–quadratic blocks hold for any point of this solve.
        self.kkt.state = KktState::Invalid;
        self.final_res = None;
        self.sol.weakly_active = 0;
        None
    }

    /// Newton polish on the current active set `act`, with at most `max_rounds` rounds of
    /// sign correction (drop a row whose multiplier turned negative, add a violated one) and
    /// the weak-activity pass.
    fn active_set_rounds<M: OcpModel>(
        &mut self,
        model: &M,
        max_rounds: usize,
        may_defer: bool,
    ) -> Status {
        let h = self.h;
        let mut weak_done = false;
        for _round in 0..=max_rounds {
            let status = match self.polish_newton(model, may_defer) {
                Some(s) => s,
                None => return Status::NumericalError,
            };
            // polish_newton's residuals at this point (it returns right after computing them)
            let r = self.polish_res;
            let zeta = self.zeta_scale();
            let tau_mu = self.settings.weak_tol * r.grad_scale.max(1.0);
            let tau_g = self.settings.weak_tol * zeta.max(1.0);
            let mut changed = false;
            for i in 0..=h {
                for j in 0..self.q[i] {
                    let g = self.lq.blocks[i].g[j];
                    if self.act[i][j] && self.it.mu[i][j] < -tau_mu {
                        self.act[i][j] = false;
                        self.it.mu[i][j] = 0.0;
                        changed = true;
                    } else if !self.act[i][j] && g > tau_g {
                        self.act[i][j] = true;
                        changed = true;
                    }
                }
            }
            if trace_enabled() {
                eprintln!("polish round: status {status:?}, active set changed: {changed}");
            }
            if changed {
                continue;
            }
            let mut weak = 0;
            for i in 0..=h {
                for j in 0..self.q[i] {
                    if self.act[i][j]
                        && self.lq.blocks[i].g[j].abs() < tau_g
                        && self.it.mu[i][j].abs() < tau_mu
                    {
                        self.act[i][j] = false;
                        self.it.mu[i][j] = 0.0;
                        weak += 1;
                    }
                }
            }
            if weak > 0 && !weak_done {
                self.sol.weakly_active = weak;
                weak_done = true;
                continue;
            }
            self.final_res = Some(self.polish_res);
            return status;
        }
        self.kkt.state = KktState::Invalid;
        Status::NumericalError
    }

    /// max(‖x‖_∞, ‖u‖_∞) over the trajectory.
    pub(crate) fn zeta_scale(&self) -> f64 {
        let mut s = 0.0f64;
        for v in &self.it.x {
            s = s.max(norm_inf(v.as_slice()));
        }
        for v in &self.it.u {
            s = s.max(norm_inf(v.as_slice()));
        }
        s
    }

    /// Newton iterations on the active-set KKT system. `None` on a singular KKT matrix or a
    /// residual that stays above the acceptance tolerance.
    fn polish_newton<M: OcpModel>(&mut self, model: &M, may_defer: bool) -> Option<Status> {
        let max_it = self.settings.polish_max_iter;
        let unconstrained = self.q.iter().all(|&k| k == 0);
        for it in 0..=max_it {
            self.kkt.state = KktState::Invalid;
            // Without inequalities the interior-point phase ended with the blocks evaluated at
            // exactly this iterate and multipliers: no need to evaluate them again. When it
            // skipped their Hessians (it expected convergence), the first step is a chord step
            // on its last factorization, taken one iterate earlier: from a residual ≤ 1e-8 the
            // error after it is of the order of that residual times the last step, far below
            // the polish tolerance, and the next iterate gets the exact factorization that the
            // sensitivities reuse.
            let fresh = it == 0 && unconstrained && self.sol.polish_iterations == 0;
            if fresh && !self.lq.hess_fresh {
                match self.chord_step() {
                    Some(true) => continue,
                    Some(false) => {}
                    None => return None,
                }
            }
            let fresh = fresh && self.lq.hess_fresh;
            // After a step without active rows the iterate has usually converged: check that
            // on values and Jacobians alone and leave the final factorization (with its
            // Hessian evaluation) to the first sensitivity call (`ensure_kkt`). When the
            // factorization's outcome matters (`may_defer` false) or comes for free (`lq_ready`),
            // or the check fails, the Hessians are evaluated and the usual path follows.
            let lazy = it > 0
                && may_defer
                && self.settings.defer_kkt_factorization
                && !self.lq.ready
                && self.act.iter().all(|a| a.iter().all(|&on| !on));
            if lazy {
                if !self.eval_blocks_with(model, false) {
                    return None;
                }
                let err = self.polish_residual();
                if err <= self.settings.polish_tol {
                    if trace_enabled() {
                        eprintln!(
                            "polish it {it} stat {:.2e}: converged, factorization deferred",
                            self.polish_res.stat
                        );
                    }
                    self.kkt.state = KktState::Pending;
                    return Some(Status::Solved);
                }
            }
            if (lazy || !fresh) && !self.eval_blocks(model, true) {
                return None;
            }
            let err = self.polish_residual();
            let r = self.polish_res;
            // Within a round the active set is fixed; when the re-evaluated blocks equal the
            // factorized ones (linear–quadratic problems: `lq_ready` says so without comparing),
            // the factorization is still exact.
            if it > 0 && (self.lq.ready || self.kkt.blocks_match(&self.lq.blocks)) {
                self.kkt.state = KktState::Factorized(self.kkt.kind);
            } else if !self.factor_kkt() {
                return None;
            }
            if trace_enabled() {
                eprintln!(
                    "polish it {it} active {} stat {:.2e} feas {:.2e} ineq {:.2e}",
                    self.kkt.rows.len(),
                    r.stat,
                    r.dyn_feas,
                    r.ineq
                );
            }
            if err <= self.settings.polish_tol {
                return Some(Status::Solved);
            }
            if it == max_it {
                return if err <= self.settings.polish_accept_tol {
                    Some(Status::SolvedInaccurate)
                } else {
                    None
                };
            }
            // Newton step on the active-set KKT system: linear term ∇J, the defects, and the
            // active rows G Δζ + g = 0.
            self.gradient_linear_term();
            let k = self.kkt.rows.len();
            for a in 0..k {
                let (st, row) = self.kkt.rows[a];
                self.kkt.row_e[a] = self.lq.blocks[st].g[row];
            }
            let defect = std::mem::take(&mut self.lq.defect);
            let x0d = std::mem::take(&mut self.lq.x0_defect);
            let ok = self.kkt_solve(Some(&defect), Some(&x0d), true);
            if trace_enabled() && !ok {
                eprintln!("polish: KKT solve failed");
            }
            self.lq.defect = defect;
            self.lq.x0_defect = x0d;
            if !ok {
                return None;
            }
            self.apply_step();
            for (a, &(st, row)) in self.kkt.rows.iter().enumerate() {
                self.it.mu[st][row] = self.kkt.nu[a];
            }
            self.sol.polish_iterations += 1;
        }
        None
    }

    /// Residuals at the current point (kept in `polish_res`) and the polish's error measure:
    /// max(stationarity, max(dynamics defect, active-row violation) / max(1, ‖ζ‖∞)).
    fn polish_residual(&mut self) -> f64 {
        let r = self.residuals(false);
        self.polish_res = r;
        r.stat
            .max(r.dyn_feas.max(r.ineq) / self.zeta_scale().max(1.0))
    }

    /// The polish's first step without inequalities when the blocks hold no Hessians: a
    /// Newton step on the last interior-point factorization (`Some(true)`), when it is exact
    /// (unregularized) and predicted to land below the polish tolerance with a wide margin —
    /// its error is about the current residual times the size of the last step, which the
    /// residual r_prev at the start of that step measures: err · r_prev ≤ 0.1 · polish_tol.
    /// (Also when the residual already meets the tolerance: the step is then negligible, and
    /// the next evaluation, which the kept factorization needs anyway, is the only one.)
    /// Otherwise `Some(false)`: the caller evaluates the Hessians here and takes the exact
    /// step. `None` on a non-finite step.
    fn chord_step(&mut self) -> Option<bool> {
        // (Without inequalities the interior-point and active-set residuals coincide: reuse
        // the loop's, computed at this iterate, when it is still valid.)
        let r = match self.ipm_res.take() {
            Some(r) if self.q.iter().all(|&q| q == 0) => r,
            _ => self.residuals(false),
        };
        let zeta = self.zeta_scale().max(1.0);
        let err = r.stat.max(r.dyn_feas / zeta);
        let tol = self.settings.polish_tol;
        if !self.ipm_factor_exact || err * self.ipm_last_stat > 0.1 * tol {
            if trace_enabled() {
                eprintln!("polish chord step declined: stat {:.2e}", r.stat);
            }
            return Some(false);
        }
        self.gradient_linear_term();
        self.newton_solve();
        if trace_enabled() {
            eprintln!(
                "polish chord step: stat {:.2e} feas {:.2e}",
                r.stat, r.dyn_feas
            );
        }
        let finite = self
            .step
            .dx
            .iter()
            .chain(&self.step.lam)
            .all(|v| all_finite(v.as_slice()))
            && self.step.du.iter().all(|v| all_finite(v.as_slice()));
        if !finite {
            return None;
        }
        self.apply_step();
        self.ipm_factor_exact = false;
        self.sol.polish_iterations += 1;
        self.sol.chord_steps += 1;
        Some(true)
    }

    /// lin ← ∇J (the cost gradients of the blocks).
    fn gradient_linear_term(&mut self) {
        let (n, m, h) = (self.n, self.m, self.h);
        for i in 0..=h {
            let b = &self.lq.blocks[i];
            let l = &mut self.lq.lin[i];
            l.rows_mut(0, n).copy_from(&b.cx);
            if i < h {
                l.rows_mut(n, m).copy_from(&b.cu);
            }
        }
    }

    /// Take the full step: x += dx, u += du, λ ← λ_new.
    fn apply_step(&mut self) {
        for i in 0..=self.h {
            self.it.x[i] += &self.step.dx[i];
            self.it.lam[i].copy_from(&self.step.lam[i]);
            if i < self.h {
                self.it.u[i] += &self.step.du[i];
            }
        }
    }
}
