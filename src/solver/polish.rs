//! The exact finish (`ALGORITHMS.md` §3): active-set identification, Newton polish on the
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

use super::riccati::FactorOutcome;
use super::workspace::{WarmStart, Workspace};
use super::Status;
use crate::linalg::{all_finite, axpy, norm_inf};
use crate::model::OcpModel;
use nalgebra::DVector;

impl Workspace {
    /// Run the polish after the interior-point phase converged.
    pub(crate) fn polish<M: OcpModel>(&mut self, model: &M) -> Status {
        let h = self.h;
        // classify: active iff μ_j > |g_j|
        for i in 0..=h {
            for j in 0..self.q[i] {
                let active = self.mu[i][j] > self.blocks[i].g[j].abs();
                self.act[i][j] = active;
                if !active {
                    self.mu[i][j] = 0.0;
                }
            }
        }
        self.active_set_rounds(model, self.settings.max_active_rounds)
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
            self.xt[i].copy_from(&self.x[i]);
            self.lam_ipm[i].copy_from(&self.lam[i]);
            self.mu[i].fill(0.0);
            if i < h {
                self.ut[i].copy_from(&self.u[i]);
            }
        }
        self.kkt_pd = true;
        self.defer_ok = false;
        let status = self.active_set_rounds(model, self.settings.active_set_rounds);
        if status.is_polished() && self.kkt_pd {
            return Some(status);
        }
        for i in 0..=h {
            std::mem::swap(&mut self.x[i], &mut self.xt[i]);
            std::mem::swap(&mut self.lam[i], &mut self.lam_ipm[i]);
            self.mu[i].fill(0.0);
            self.act[i].fill(false);
            if i < h {
                std::mem::swap(&mut self.u[i], &mut self.ut[i]);
            }
        }
        // `lq_ready` stays: the stored linear–quadratic blocks hold for any point of this solve.
        self.kkt_ready = false;
        self.polish_res_final = false;
        self.sol.weakly_active = 0;
        None
    }

    /// Newton polish on the current active set `act`, with at most `max_rounds` rounds of
    /// sign correction (drop a row whose multiplier turned negative, add a violated one) and
    /// the weak-activity pass.
    fn active_set_rounds<M: OcpModel>(&mut self, model: &M, max_rounds: usize) -> Status {
        let h = self.h;
        let mut weak_done = false;
        for _round in 0..=max_rounds {
            let status = match self.polish_newton(model) {
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
                    let g = self.blocks[i].g[j];
                    if self.act[i][j] && self.mu[i][j] < -tau_mu {
                        self.act[i][j] = false;
                        self.mu[i][j] = 0.0;
                        changed = true;
                    } else if !self.act[i][j] && g > tau_g {
                        self.act[i][j] = true;
                        changed = true;
                    }
                }
            }
            if super::ipm::trace_enabled() {
                eprintln!("polish round: status {status:?}, active set changed: {changed}");
            }
            if changed {
                continue;
            }
            let mut weak = 0;
            for i in 0..=h {
                for j in 0..self.q[i] {
                    if self.act[i][j]
                        && self.blocks[i].g[j].abs() < tau_g
                        && self.mu[i][j].abs() < tau_mu
                    {
                        self.act[i][j] = false;
                        self.mu[i][j] = 0.0;
                        weak += 1;
                    }
                }
            }
            if weak > 0 && !weak_done {
                self.sol.weakly_active = weak;
                weak_done = true;
                continue;
            }
            self.polish_res_final = true;
            return status;
        }
        self.kkt_ready = false;
        Status::NumericalError
    }

    /// max(‖x‖_∞, ‖u‖_∞) over the trajectory.
    pub(crate) fn zeta_scale(&self) -> f64 {
        let mut s = 0.0f64;
        for v in &self.x {
            s = s.max(norm_inf(v.as_slice()));
        }
        for v in &self.u {
            s = s.max(norm_inf(v.as_slice()));
        }
        s
    }

    /// Newton iterations on the active-set KKT system. `None` on a singular KKT matrix or a
    /// residual that stays above the acceptance tolerance.
    fn polish_newton<M: OcpModel>(&mut self, model: &M) -> Option<Status> {
        let max_it = self.settings.polish_max_iter;
        let unconstrained = self.q.iter().all(|&k| k == 0);
        for it in 0..=max_it {
            self.kkt_ready = false;
            self.kkt_deferred = false;
            // Without inequalities the interior-point phase ended with the blocks evaluated at
            // exactly this iterate and multipliers: no need to evaluate them again. When it
            // skipped their Hessians (it expected convergence), the first step is a chord step
            // on its last factorization, taken one iterate earlier: from a residual ≤ 1e-8 the
            // error after it is of the order of that residual times the last step, far below
            // the polish tolerance, and the next iterate gets the exact factorization that the
            // sensitivities reuse.
            let fresh = it == 0 && unconstrained && self.sol.polish_iterations == 0;
            if fresh && !self.hess_fresh {
                match self.chord_step() {
                    Some(true) => continue,
                    Some(false) => {}
                    None => return None,
                }
            }
            let fresh = fresh && self.hess_fresh;
            // After a step without active rows the iterate has usually converged: check that
            // on values and Jacobians alone and leave the final factorization (with its
            // Hessian evaluation) to the first sensitivity call (`ensure_kkt`). When the
            // factorization's outcome matters (`defer_ok` false) or comes for free (`lq_ready`),
            // or the check fails, the Hessians are evaluated and the usual path follows.
            let lazy = it > 0
                && self.defer_ok
                && self.settings.defer_kkt_factorization
                && !self.lq_ready
                && self.act.iter().all(|a| a.iter().all(|&on| !on));
            if lazy {
                if !self.eval_blocks_with(model, false) {
                    return None;
                }
                let err = self.polish_residual();
                if err <= self.settings.polish_tol {
                    if super::ipm::trace_enabled() {
                        eprintln!(
                            "polish it {it} stat {:.2e}: converged, factorization deferred",
                            self.polish_res.stat
                        );
                    }
                    self.kkt_deferred = true;
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
            if it > 0 && (self.lq_ready || self.blocks_match_factorization()) {
                self.kkt_ready = true;
            } else if !self.factor_kkt() {
                return None;
            }
            if super::ipm::trace_enabled() {
                eprintln!(
                    "polish it {it} active {} stat {:.2e} feas {:.2e} ineq {:.2e}",
                    self.rows.len(),
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
            let k = self.rows.len();
            for a in 0..k {
                let (st, row) = self.rows[a];
                self.row_e[a] = self.blocks[st].g[row];
            }
            let defect = std::mem::take(&mut self.defect);
            let x0d = std::mem::take(&mut self.x0_defect);
            let ok = self.kkt_solve(Some(&defect), Some(&x0d), true);
            if super::ipm::trace_enabled() && !ok {
                eprintln!("polish: KKT solve failed");
            }
            self.defect = defect;
            self.x0_defect = x0d;
            if !ok {
                return None;
            }
            self.apply_step();
            for (a, &(st, row)) in self.rows.iter().enumerate() {
                self.mu[st][row] = self.schur_rhs[a];
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
            if super::ipm::trace_enabled() {
                eprintln!("polish chord step declined: stat {:.2e}", r.stat);
            }
            return Some(false);
        }
        self.gradient_linear_term();
        self.newton_solve();
        if super::ipm::trace_enabled() {
            eprintln!(
                "polish chord step: stat {:.2e} feas {:.2e}",
                r.stat, r.dyn_feas
            );
        }
        let finite = self
            .dx
            .iter()
            .chain(&self.lam_new)
            .all(|v| all_finite(v.as_slice()))
            && self.du.iter().all(|v| all_finite(v.as_slice()));
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
            let b = &self.blocks[i];
            let l = &mut self.lin[i];
            l.rows_mut(0, n).copy_from(&b.cx);
            if i < h {
                l.rows_mut(n, m).copy_from(&b.cu);
            }
        }
    }

    /// Take the full step: x += dx, u += du, λ ← λ_new.
    fn apply_step(&mut self) {
        for i in 0..=self.h {
            self.x[i] += &self.dx[i];
            self.lam[i].copy_from(&self.lam_new[i]);
            if i < self.h {
                self.u[i] += &self.du[i];
            }
        }
    }

    /// G_row · (dx, du) at stage `st`, where (dx, du) is the Newton step (`None`) or the
    /// W column `Some(k)`.
    pub(crate) fn row_dot(&self, st: usize, row: usize, col: Option<usize>) -> f64 {
        let (n, h) = (self.n, self.h);
        let b = &self.blocks[st];
        let (xs, us) = match col {
            None => (&self.dx, &self.du),
            Some(k) => (&self.wx[k], &self.wu[k]),
        };
        let mut v = 0.0;
        for j in 0..n {
            v += b.gx[(row, j)] * xs[st][j];
        }
        if st < h {
            for j in 0..self.m {
                v += b.gu[(row, j)] * us[st][j];
            }
        }
        v
    }

    /// Factorize the exact KKT matrix at the current point: with active rows, the
    /// equality-constrained Riccati recursion ([`SolverSettings::constrained_riccati`]); without
    /// them, when that setting is off or when the rows are degenerate, Riccati on the exact
    /// Hessian with the W columns of the active rows and their Schur complement. Sets
    /// `kkt_ready`.
    ///
    /// [`SolverSettings::constrained_riccati`]: super::SolverSettings::constrained_riccati
    pub(crate) fn factor_kkt(&mut self) -> bool {
        let h = self.h;
        self.build_hessians(false);
        self.rows.clear();
        for i in 0..=h {
            for j in 0..self.q[i] {
                if self.act[i][j] {
                    self.rows.push((i, j));
                }
            }
        }
        let k = self.rows.len();
        self.kkt_eq = false;
        if k > 0 && self.settings.constrained_riccati {
            self.reserve_row_vectors(k);
            let res = self.eq.factor(&self.blocks, &self.blocks, &self.rows);
            if super::ipm::trace_enabled() {
                eprintln!("constrained Riccati over {k} rows: {res:?}");
            }
            if res.is_ok() {
                self.kkt_eq = true;
                if self.eq.is_indefinite() {
                    self.kkt_pd = false;
                }
            }
        }
        if !self.kkt_eq && !self.factor_schur() {
            return false;
        }
        for (snap, b) in self.factored.iter_mut().zip(&self.blocks) {
            snap.fx.copy_from(&b.fx);
            snap.fu.copy_from(&b.fu);
            snap.gx.copy_from(&b.gx);
            snap.gu.copy_from(&b.gu);
            snap.hess.copy_from(&b.hess);
        }
        self.kkt_ready = true;
        true
    }

    /// The Schur-complement factorization of [`Workspace::factor_kkt`]: Riccati on the exact
    /// Hessian, W_a = LQ(G_aᵀ, 0) for every active row and S_ab = G_a W_b.
    fn factor_schur(&mut self) -> bool {
        let (n, h) = (self.n, self.h);
        match self.riccati.factor(&self.blocks, &self.blocks, 0.0, true) {
            FactorOutcome::PositiveDefinite => {}
            FactorOutcome::Indefinite => self.kkt_pd = false,
            _ => return false,
        }
        let k = self.rows.len();
        self.reserve_rows(k);
        for a in 0..k {
            let (st, row) = self.rows[a];
            {
                let b = &self.blocks[st];
                let l = &mut self.lin_w[st];
                for j in 0..n {
                    l[j] = b.gx[(row, j)];
                }
                if st < h {
                    for j in 0..self.m {
                        l[n + j] = b.gu[(row, j)];
                    }
                }
            }
            self.riccati.solve(
                &self.blocks,
                &self.lin_w,
                None,
                None,
                &mut self.wx[a],
                &mut self.wu[a],
                &mut self.wl[a],
            );
            self.lin_w[st].fill(0.0);
        }
        for a in 0..k {
            let (st, row) = self.rows[a];
            for c in 0..k {
                self.schur[(a, c)] = self.row_dot(st, row, Some(c));
            }
        }
        crate::linalg::symmetrize(&mut self.schur);
        k == 0 || self.schur_fac.lu(&self.schur, 1e-12)
    }

    /// Solve the KKT system of the kept factorization: the LQ problem with linear term
    /// `self.lin`, dynamics offsets `defect`, x_0 offset `x0`, and the active rows
    /// G_a Δζ + e_a = 0 with e_a = `row_e[a]` (`with_e`) or 0. The step lands in
    /// (`dx`, `du`, `lam_new`) and the row multipliers in `schur_rhs[..k]`. False when the
    /// result is not finite (singular Schur complement).
    pub(crate) fn kkt_solve(
        &mut self,
        defect: Option<&[DVector<f64>]>,
        x0: Option<&DVector<f64>>,
        with_e: bool,
    ) -> bool {
        let h = self.h;
        let k = self.rows.len();
        if self.kkt_eq {
            self.eq.solve(
                &self.blocks,
                &self.lin,
                defect,
                x0,
                if with_e { Some(&self.row_e[..k]) } else { None },
                &mut self.dx,
                &mut self.du,
                &mut self.lam_new,
                &mut self.schur_rhs[..k],
            );
            return self.schur_rhs[..k].iter().all(|v| v.is_finite());
        }
        self.riccati.solve(
            &self.blocks,
            &self.lin,
            defect,
            x0,
            &mut self.dx,
            &mut self.du,
            &mut self.lam_new,
        );
        if k == 0 {
            return true;
        }
        // ν = S⁻¹(−e − G Δ⁰), Δ = Δ⁰ + Σ_a ν_a W_a.
        for a in 0..k {
            let (st, row) = self.rows[a];
            let e = if with_e { self.row_e[a] } else { 0.0 };
            self.schur_rhs[a] = -e - self.row_dot(st, row, None);
        }
        self.schur_fac
            .solve_in_place(&mut self.schur_rhs[..k], &mut self.schur_tmp);
        if self.schur_rhs[..k].iter().any(|v| !v.is_finite()) {
            return false;
        }
        for i in 0..=h {
            for a in 0..k {
                let c = self.schur_rhs[a];
                axpy(self.dx[i].as_mut_slice(), c, self.wx[a][i].as_slice());
                axpy(self.lam_new[i].as_mut_slice(), c, self.wl[a][i].as_slice());
                if i < h {
                    axpy(self.du[i].as_mut_slice(), c, self.wu[a][i].as_slice());
                }
            }
        }
        true
    }

    /// True when the current blocks (Jacobians and Hessians) are bitwise those of the last
    /// KKT factorization.
    fn blocks_match_factorization(&self) -> bool {
        self.factored.iter().zip(&self.blocks).all(|(a, b)| {
            a.fx == b.fx && a.fu == b.fu && a.gx == b.gx && a.gu == b.gu && a.hess == b.hess
        })
    }
}
