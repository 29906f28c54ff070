//! The primal–dual interior-point iteration (Riccati Newton steps, Mehrotra predictor–corrector,
//! inertia correction, ℓ1 merit line search).

use super::kkt::KktState;
use super::residuals::Residuals;
use super::riccati::{FactorOutcome, StageHessians};
use super::workspace::{WarmStart, Workspace};
use super::{trace_enabled, Solution, SolverError, Status};
use crate::linalg::norm_inf;
use crate::model::OcpModel;

/// How the interior-point loop ended without a final status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LoopEnd {
    /// Converged to `tol`.
    Converged,
    /// Stopped at the acceptable level (a run of acceptable iterates, or a line search that
    /// failed there): the polish must finish, or the solve is not a solution.
    Acceptable,
    /// The inertia test failed at the acceptable level with inequalities: the polish takes
    /// over and its factorization must be positive definite.
    Handover,
}

/// What the termination test decided at the current iterate.
enum Termination {
    /// Take another step from this iterate, whose residuals are these.
    Step(Residuals),
    /// Leave the loop.
    End(LoopEnd),
    /// The solve ends with this status.
    Fail(Status),
}

/// The loop's memory across iterations.
struct LoopState {
    /// Steps taken.
    iter: usize,
    /// Consecutive iterates at the acceptable level.
    acceptable_run: usize,
    /// Penalty parameter ν of the ℓ1 merit.
    nu: f64,
    /// The last successful regularization (the next failed inertia test starts from a third).
    reg_last: f64,
    /// The objective at the current iterate, when known (the accepted trial's).
    objective_here: Option<f64>,
}

/// Outcome of the line search.
struct LineSearch {
    accepted: bool,
    alpha: f64,
    /// The search ran on rollouts (the objective is the merit); false for a multiple-shooting
    /// search on the ℓ1 merit.
    feasible: bool,
    /// Merit value of the accepted trial.
    phi: f64,
    /// Directional derivative of the merit along the step.
    dphi: f64,
}

impl Workspace {
    /// Solve the OCP from `x_init` with parameters `theta` and context `ctx`.
    ///
    /// Returns the solution (also kept in the workspace); `Err` only for misuse (dimensions,
    /// non-finite input, invalid context, warm start without a previous solution). A solve that
    /// fails numerically returns a solution whose `status` says why.
    pub fn solve<M: OcpModel>(
        &mut self,
        model: &M,
        x_init: &[f64],
        theta: &[f64],
        ctx: &[f64],
        start: WarmStart,
    ) -> Result<&Solution, SolverError> {
        self.load_inputs(model, x_init, theta, ctx)?;
        self.initial_guess(model, start)?;
        self.kkt.state = KktState::Invalid;
        self.final_res = None;
        let status = self.run(model, start);
        self.finish(model, status);
        Ok(&self.sol)
    }

    /// The solve's phases: the active-set start of linear–quadratic models, else the
    /// interior-point loop (termination test, inertia-corrected factorization, Mehrotra step,
    /// penalty update, line search, accept) and the hand-off to the polish.
    fn run<M: OcpModel>(&mut self, model: &M, start: WarmStart) -> Status {
        let q_total: usize = self.q.iter().sum();
        self.reset_counters();
        if q_total > 0
            && self.settings.polish
            && self.settings.active_set_start
            && model.is_linear_quadratic()
        {
            if let Some(status) = self.active_set_start(model, start) {
                return status;
            }
        }
        if !self.initialise(model, q_total) {
            return Status::NumericalError;
        }
        let end = match self.interior_point_loop(model, q_total) {
            Ok(end) => end,
            Err(status) => return status,
        };
        if !self.settings.polish {
            return Status::SolvedUnpolished;
        }
        self.polish_hand_off(model, end)
    }

    /// Clear the statistics of the solution and the loop's cached residuals.
    fn reset_counters(&mut self) {
        self.ipm_res = None;
        self.sol.iterations = 0;
        self.sol.polish_iterations = 0;
        self.sol.chord_steps = 0;
        self.sol.weakly_active = 0;
        self.sol.max_regularization = 0.0;
    }

    /// Initial slacks s = max(−g, s_min) and multipliers μ = μ₀/s; without inequalities, a
    /// dynamically feasible rollout of the guessed controls. False on a non-finite g.
    fn initialise<M: OcpModel>(&mut self, model: &M, q_total: usize) -> bool {
        if q_total > 0 {
            if !self.eval_g(model) {
                return false;
            }
            for i in 0..=self.h {
                for j in 0..self.q[i] {
                    let g = self.lq.blocks[i].g[j];
                    let s = (-g).max(self.settings.slack_min);
                    self.it.s[i][j] = s;
                    self.it.mu[i][j] = self.settings.mu_init / s;
                }
            }
        }
        if q_total == 0 {
            // Start from a dynamically feasible rollout of the guessed controls.
            self.rollout_current(model);
        }
        true
    }

    /// The interior-point iterations until convergence, the acceptable level or a failure.
    fn interior_point_loop<M: OcpModel>(
        &mut self,
        model: &M,
        q_total: usize,
    ) -> Result<LoopEnd, Status> {
        let mut ls = LoopState {
            iter: 0,
            acceptable_run: 0,
            nu: 1.0,
            reg_last: 0.0,
            objective_here: None,
        };
        // Without inequalities, once Newton's method converges quadratically (the last
        // unregularized step started from a residual r ≤ 1e-3), the next iterate is expected
        // to pass the test with a residual ~ r² small enough for the polish to take its first
        // step on the last factorization (`ipm_factor_exact`, see `chord_step`): evaluate it
        // without Hessians, saving a Hessian evaluation and a factorization.
        self.ipm_last_stat = f64::INFINITY;
        self.ipm_factor_exact = false;
        let end = loop {
            let r = match self.termination_test(model, q_total, &mut ls) {
                Termination::Step(r) => r,
                Termination::End(end) => break end,
                Termination::Fail(status) => return Err(status),
            };
            ls.iter += 1;
            let acceptable = r.below(self.settings.acceptable_tol, q_total > 0);
            let reg = match self.inertia_corrected_factorization(q_total, acceptable, &mut ls) {
                Ok(Some(reg)) => reg,
                Ok(None) => break LoopEnd::Handover,
                Err(status) => return Err(status),
            };
            let tau = self.mehrotra_step(q_total);
            let (ap_max, ad_max) = if q_total > 0 {
                self.max_steps()
            } else {
                (1.0, 1.0)
            };
            let (obj_slope, viol, infeasible) = self.penalty_update(tau, &mut ls.nu);
            let search = self.line_search(
                model,
                q_total,
                (tau, ls.nu),
                ap_max,
                &mut ls,
                (obj_slope, viol, infeasible),
            );
            if trace_enabled() {
                eprintln!(
                    "it {:3} stat {:.2e} feas {:.2e} ineq {:.2e} reg {reg:.1e} tau {tau:.1e} nu {:.2e} dphi {:.3e} alpha {:.2e} ok {}",
                    ls.iter, r.stat, r.dyn_feas, r.ineq, ls.nu, search.dphi, search.alpha, search.accepted
                );
            }
            if !search.accepted {
                self.sol.iterations = ls.iter;
                // A line search that fails at the acceptable level (round-off floor) hands
                // over to the polish, from the current iterate.
                let limit = self.settings.acceptable_iter;
                if self.settings.polish && limit > 0 && acceptable {
                    if !self.eval_blocks(model, true) {
                        return Err(Status::NumericalError);
                    }
                    break LoopEnd::Acceptable;
                }
                return Err(Status::NumericalError);
            }
            self.accept(search.alpha, ad_max);
            if search.feasible {
                ls.objective_here = Some(search.phi);
            }
        };
        self.sol.iterations = ls.iter;
        Ok(end)
    }

    /// Evaluate the blocks at the iterate and test convergence (`tol`), the acceptable level
    /// (`acceptable_iter` acceptable iterates in a row) and the iteration limit.
    fn termination_test<M: OcpModel>(
        &mut self,
        model: &M,
        q_total: usize,
        ls: &mut LoopState,
    ) -> Termination {
        let predict = q_total == 0 && self.settings.polish && self.settings.polish_chord_step;
        let predict = predict && self.ipm_factor_exact;
        let predict = predict && self.ipm_last_stat <= 1e-3;
        if !self.eval_blocks_with(model, !predict) {
            return Termination::Fail(Status::NumericalError);
        }
        let r = self.residuals(true);
        self.ipm_res = Some(r);
        if r.below(self.settings.tol, q_total > 0) {
            return Termination::End(LoopEnd::Converged);
        }
        if !self.lq.hess_fresh && !self.eval_blocks_with(model, true) {
            return Termination::Fail(Status::NumericalError);
        }
        self.ipm_last_stat = r.stat.max(r.dyn_feas);
        ls.acceptable_run = if r.below(self.settings.acceptable_tol, q_total > 0) {
            ls.acceptable_run + 1
        } else {
            0
        };
        let limit = self.settings.acceptable_iter;
        if self.settings.polish && limit > 0 && ls.acceptable_run >= limit {
            return Termination::End(LoopEnd::Acceptable);
        }
        if ls.iter >= self.settings.max_iter {
            self.sol.iterations = ls.iter;
            return Termination::Fail(if r.gmax > 1e-6 && q_total > 0 {
                Status::Infeasible
            } else {
                Status::MaxIterations
            });
        }
        Termination::Step(r)
    }

    /// Factorize the Newton system, adding a multiple of the identity until the inertia test
    /// passes. `Ok(Some(reg))`: factorized with regularization `reg`; `Ok(None)`: hand over
    /// to the polish (inertia failed at the acceptable level with inequalities).
    fn inertia_corrected_factorization(
        &mut self,
        q_total: usize,
        acceptable: bool,
        ls: &mut LoopState,
    ) -> Result<Option<f64>, Status> {
        self.build_hessians(true);
        let handover_ok = q_total > 0 && acceptable && self.settings.polish;
        let mut reg = 0.0;
        loop {
            let hess: &dyn StageHessians = if self.lq.hm_barrier {
                &self.lq.hm
            } else {
                &self.lq.blocks
            };
            match self.kkt.riccati.factor(hess, &self.lq.blocks, reg, false) {
                FactorOutcome::PositiveDefinite | FactorOutcome::Indefinite => break,
                _ if reg == 0.0 && handover_ok => {
                    // At the acceptable level with inequalities, a failed inertia test is
                    // usually the barrier terms μ/s of nearly active rows (s → 0) swamping
                    // the relative pivot floor, and regularising would wreck the iterate:
                    // hand over to the polish, which solves the active-set KKT system
                    // without barrier terms and must find it positive definite.
                    if trace_enabled() {
                        eprintln!(
                            "it {:3}: inertia test failed at the acceptable level: polish",
                            ls.iter
                        );
                    }
                    self.sol.iterations = ls.iter;
                    return Ok(None);
                }
                _ => {
                    reg = if reg == 0.0 {
                        (ls.reg_last / 3.0).max(self.settings.reg_init)
                    } else {
                        reg * 10.0
                    };
                    if reg > self.settings.reg_max {
                        self.sol.iterations = ls.iter;
                        return Err(Status::NumericalError);
                    }
                }
            }
        }
        ls.reg_last = reg;
        self.ipm_factor_exact = reg == 0.0;
        self.sol.max_regularization = self.sol.max_regularization.max(reg);
        Ok(Some(reg))
    }

    /// The Newton step on the factorization: with inequalities, Mehrotra's predictor (affine
    /// step) and corrector with the centring τ = σ μ̄, σ = (μ_aff/μ̄)³; returns τ (0 without
    /// inequalities).
    fn mehrotra_step(&mut self, q_total: usize) -> f64 {
        if q_total == 0 {
            self.build_linear(0.0, false);
            self.newton_solve();
            return 0.0;
        }
        let mu_avg = self.complementarity_avg(q_total);
        self.build_linear(0.0, false);
        self.newton_solve();
        self.recover_ineq_step(0.0, false);
        let (ap, ad) = self.max_steps();
        let mut aff = 0.0;
        for i in 0..=self.h {
            for j in 0..self.q[i] {
                let s = self.it.s[i][j] + ap * self.step.ds[i][j];
                let m = self.it.mu[i][j] + ad * (self.step.mu[i][j] - self.it.mu[i][j]);
                aff += s * m;
                self.step.ds_aff[i][j] = self.step.ds[i][j];
                self.step.dmu_aff[i][j] = self.step.mu[i][j] - self.it.mu[i][j];
            }
        }
        aff /= q_total as f64;
        let sigma = (aff / mu_avg.max(1e-300)).powi(3).clamp(0.0, 1.0);
        let tau = sigma * mu_avg;
        self.build_linear(tau, true);
        self.newton_solve();
        self.recover_ineq_step(tau, true);
        tau
    }

    /// Penalty update (Nocedal & Wright 18.36): ν ≥ (∇φᵀd + ½dᵀHd)/((1 − ρ)‖c‖₁) makes the
    /// step a descent direction of the merit even where the Hessian is indefinite off the
    /// constraints' null space; ν also dominates the multipliers. Returns the objective's
    /// slope along the step, the violation ‖c‖₁ and whether it is above round-off.
    fn penalty_update(&self, tau: f64, nu: &mut f64) -> (f64, f64, bool) {
        let lam_norm = self
            .step
            .lam
            .iter()
            .map(|v| norm_inf(v.as_slice()))
            .fold(0.0, f64::max);
        let mu_norm = self
            .step
            .mu
            .iter()
            .map(|v| norm_inf(v.as_slice()))
            .fold(0.0, f64::max);
        let (obj_slope, viol) = self.merit_parts(tau);
        // (Only for a violation above round-off: dividing by a rounding-level ‖c‖₁ would
        // blow ν up and stall the line search.)
        let infeasible = viol > 1e-9 * (1.0 + self.zeta_scale());
        if infeasible {
            let quad = self.step_curvature().max(0.0);
            *nu = (*nu).max((obj_slope + 0.5 * quad) / (0.9 * viol));
        }
        *nu = (*nu).max(1.5 * lam_norm.max(mu_norm) + 1e-3);
        (obj_slope, viol, infeasible)
    }

    /// Backtracking Armijo search from the largest step `ap_max`: on rollouts without
    /// inequalities (the objective is the merit), else on the ℓ1 merit; a rollout search that
    /// finds nothing from an infeasible iterate falls back to a multiple-shooting search.
    fn line_search<M: OcpModel>(
        &mut self,
        model: &M,
        q_total: usize,
        (tau, nu): (f64, f64),
        ap_max: f64,
        ls: &mut LoopState,
        (obj_slope, viol, infeasible): (f64, f64, bool),
    ) -> LineSearch {
        let mut alpha = ap_max;
        let mut accepted = false;
        // Round-off relaxation of the Armijo test (as in IPOPT): near a solution the
        // merit changes by less than its rounding error, and the multipliers must still
        // take the full Newton update.
        let feasible_search = q_total == 0;
        let (phi0, dphi) = if feasible_search {
            // Without inequalities every iterate is a dynamically feasible rollout, and
            // the trial points are nonlinear rollouts with the Riccati feedback (as in
            // DDP): the merit is the objective itself and the Newton step is a descent
            // direction whenever the reduced Hessian is positive definite. (The objective
            // at the current iterate is the accepted trial's of the last iteration.)
            let phi0 = match ls.objective_here.take() {
                Some(v) => v,
                None => self.objective(model, false),
            };
            (phi0, obj_slope)
        } else {
            (self.merit(model, false, tau, nu), obj_slope - nu * viol)
        };
        let mut phi_accepted = f64::NAN;
        let slack = 10.0 * f64::EPSILON * phi0.abs().max(1.0);
        for _ in 0..self.settings.max_backtracks {
            let phi = if feasible_search {
                self.rollout_trial(model, alpha);
                self.objective(model, true)
            } else {
                self.trial_point(alpha);
                self.merit(model, true, tau, nu)
            };
            if phi.is_finite()
                && (dphi >= -slack || phi <= phi0 + self.settings.armijo * alpha * dphi + slack)
            {
                accepted = true;
                phi_accepted = phi;
                break;
            }
            alpha *= 0.5;
        }
        let mut feasible_search = feasible_search;
        if !accepted && feasible_search && infeasible {
            // The one iterate that is not a rollout (a cold rollout that left the finite
            // range was replaced by x_init at every stage) and no finite, lower rollout
            // along the step (an unstable model): take a multiple-shooting step instead,
            // x + αdx and u + αdu on the ℓ1 merit φ + ν‖c‖₁, which closes the defects.
            feasible_search = false;
            let phi0 = self.merit(model, false, tau, nu);
            let dphi = obj_slope - nu * viol;
            let slack = 10.0 * f64::EPSILON * phi0.abs().max(1.0);
            alpha = 1.0;
            for _ in 0..self.settings.max_backtracks {
                self.trial_point(alpha);
                let phi = self.merit(model, true, tau, nu);
                if phi.is_finite() && phi <= phi0 + self.settings.armijo * alpha * dphi + slack {
                    accepted = true;
                    break;
                }
                alpha *= 0.5;
            }
        }
        LineSearch {
            accepted,
            alpha,
            feasible: feasible_search,
            phi: phi_accepted,
            dphi,
        }
    }

    /// Accept the trial point: x, u, s from the trial, λ ← λ + α(λ⁺ − λ), μ ← μ + α_d(μ⁺ − μ)
    /// (floored at 1e-20).
    fn accept(&mut self, alpha: f64, ad_max: f64) {
        self.ipm_res = None;
        for i in 0..=self.h {
            std::mem::swap(&mut self.it.x[i], &mut self.trial.x[i]);
            self.it.lam[i].axpy(alpha, &self.step.lam[i], 1.0 - alpha);
            if self.q[i] > 0 {
                std::mem::swap(&mut self.it.s[i], &mut self.trial.s[i]);
                let a_d = ad_max.min(1.0);
                for j in 0..self.q[i] {
                    let m = self.it.mu[i][j] + a_d * (self.step.mu[i][j] - self.it.mu[i][j]);
                    self.it.mu[i][j] = m.max(1e-20);
                }
            }
        }
        for i in 0..self.h {
            std::mem::swap(&mut self.it.u[i], &mut self.trial.u[i]);
        }
    }

    /// Hand the interior-point solution to the polish; if the polish fails, fall back to it
    /// (usable for acting, not for exact sensitivities), unless the loop stopped at the
    /// acceptable level (then it is not a solution).
    fn polish_hand_off<M: OcpModel>(&mut self, model: &M, end: LoopEnd) -> Status {
        let h = self.h;
        let handover = end == LoopEnd::Handover;
        for i in 0..=h {
            self.trial.x[i].copy_from(&self.it.x[i]);
            self.trial.lam[i].copy_from(&self.it.lam[i]);
            self.step.mu[i].copy_from(&self.it.mu[i]);
            if i < h {
                self.trial.u[i].copy_from(&self.it.u[i]);
            }
        }
        if handover {
            self.kkt.pd = true;
        }
        let status = self.polish(model, !handover);
        if status != Status::NumericalError && (!handover || self.kkt.pd) {
            return status;
        }
        if end != LoopEnd::Converged {
            // Stopped at the acceptable level and the polish could not finish: not a solution.
            self.kkt.state = KktState::Invalid;
            return Status::MaxIterations;
        }
        for i in 0..=h {
            std::mem::swap(&mut self.it.x[i], &mut self.trial.x[i]);
            std::mem::swap(&mut self.it.lam[i], &mut self.trial.lam[i]);
            std::mem::swap(&mut self.it.mu[i], &mut self.step.mu[i]);
            self.act[i].iter_mut().for_each(|a| *a = false);
            if i < h {
                std::mem::swap(&mut self.it.u[i], &mut self.trial.u[i]);
            }
        }
        self.kkt.state = KktState::Invalid;
        self.sol.weakly_active = 0;
        if !self.eval_blocks(model, true) {
            return Status::NumericalError;
        }
        Status::SolvedUnpolished
    }

    /// Fill the solution struct from the workspace iterate.
    fn finish<M: OcpModel>(&mut self, model: &M, status: Status) {
        let h = self.h;
        let sol = &mut self.sol;
        for i in 0..=h {
            sol.x[i].copy_from(&self.it.x[i]);
            if i < h {
                sol.u[i].copy_from(&self.it.u[i]);
                sol.costates[i].copy_from(&self.it.lam[i + 1]);
            }
            sol.mu[i].copy_from(&self.it.mu[i]);
            sol.g[i].copy_from(&self.lq.blocks[i].g);
            for j in 0..self.q[i] {
                sol.active[i][j] = self.act[i][j];
            }
        }
        sol.lambda0.copy_from(&self.it.lam[0]);
        let mut obj = 0.0;
        for i in 0..h {
            obj += model.stage_cost(
                i,
                self.it.x[i].as_slice(),
                self.it.u[i].as_slice(),
                &self.theta,
                &self.ctx,
            );
        }
        obj += model.terminal_cost(self.it.x[h].as_slice(), &self.theta, &self.ctx);
        sol.objective = obj;
        let finite = obj.is_finite()
            && sol.x.iter().all(|v| v.iter().all(|a| a.is_finite()))
            && sol.u.iter().all(|v| v.iter().all(|a| a.is_finite()))
            && sol.costates.iter().all(|v| v.iter().all(|a| a.is_finite()));
        sol.status = if status.is_solved() && !finite {
            Status::NumericalError
        } else {
            status
        };
        if !sol.status.is_polished() {
            self.kkt.state = KktState::Invalid;
        }
        self.has_solution = finite;
        let r = match self.final_res {
            Some(r) if status.is_polished() => r,
            _ => self.residuals(!status.is_polished()),
        };
        self.sol.stationarity = r.stat;
        self.sol.feasibility = r.dyn_feas.max(r.ineq);
    }
}
