//! Factorization of the exact KKT matrix at the current point and solves on it (the polish's
//! Newton steps and every sensitivity solve): the equality-constrained Riccati recursion over
//! the active rows, or Riccati with W columns and a Schur complement.

use super::kkt::{KktFactorization, KktState};
use super::riccati::FactorOutcome;
use super::trace_enabled;
use super::workspace::Workspace;
use crate::linalg::axpy;
use nalgebra::DVector;

impl Workspace {
    /// G_row · (dx, du) at stage `st`, where (dx, du) is the Newton step (`None`) or the
    /// W column `Some(k)`.
    pub(crate) fn row_dot(&self, st: usize, row: usize, col: Option<usize>) -> f64 {
        let (n, h) = (self.n, self.h);
        let b = &self.lq.blocks[st];
        let (xs, us) = match col {
            None => (&self.step.dx, &self.step.du),
            Some(k) => (&self.kkt.wx[k], &self.kkt.wu[k]),
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
    /// Hessian with the W columns of the active rows and their Schur complement. Sets the state
    /// to [`KktState::Factorized`] of the kind used.
    ///
    /// [`SolverSettings::constrained_riccati`]: super::SolverSettings::constrained_riccati
    pub(crate) fn factor_kkt(&mut self) -> bool {
        let h = self.h;
        self.build_hessians(false);
        self.kkt.rows.clear();
        for i in 0..=h {
            for j in 0..self.q[i] {
                if self.act[i][j] {
                    self.kkt.rows.push((i, j));
                }
            }
        }
        let k = self.kkt.rows.len();
        let mut constrained = false;
        self.kkt.kind = if k == 0 {
            KktFactorization::Riccati
        } else {
            KktFactorization::SchurComplement(k)
        };
        if k > 0 && self.settings.constrained_riccati {
            self.kkt.reserve_row_vectors(k);
            let res = self
                .kkt
                .eq
                .factor(&self.lq.blocks, &self.lq.blocks, &self.kkt.rows);
            if trace_enabled() {
                eprintln!("constrained Riccati over {k} rows: {res:?}");
            }
            if res.is_ok() {
                constrained = true;
                self.kkt.kind = KktFactorization::ConstrainedRiccati(k);
                if self.kkt.eq.is_indefinite() {
                    self.kkt.pd = false;
                }
            }
        }
        if !constrained && !self.factor_schur() {
            return false;
        }
        self.kkt.snapshot(&self.lq.blocks);
        self.kkt.state = KktState::Factorized(self.kkt.kind);
        true
    }

    /// The Schur-complement factorization of [`Workspace::factor_kkt`]: Riccati on the exact
    /// Hessian, W_a = LQ(G_aᵀ, 0) for every active row and S_ab = G_a W_b.
    fn factor_schur(&mut self) -> bool {
        let (n, h) = (self.n, self.h);
        match self
            .kkt
            .riccati
            .factor(&self.lq.blocks, &self.lq.blocks, 0.0, true)
        {
            FactorOutcome::PositiveDefinite => {}
            FactorOutcome::Indefinite => self.kkt.pd = false,
            _ => return false,
        }
        let k = self.kkt.rows.len();
        self.kkt.reserve_rows(k, (self.n, self.m, self.h));
        for a in 0..k {
            let (st, row) = self.kkt.rows[a];
            {
                let b = &self.lq.blocks[st];
                let l = &mut self.kkt.lin_w[st];
                for j in 0..n {
                    l[j] = b.gx[(row, j)];
                }
                if st < h {
                    for j in 0..self.m {
                        l[n + j] = b.gu[(row, j)];
                    }
                }
            }
            self.kkt.riccati.solve(
                &self.lq.blocks,
                &self.kkt.lin_w,
                None,
                None,
                &mut self.kkt.wx[a],
                &mut self.kkt.wu[a],
                &mut self.kkt.wl[a],
            );
            self.kkt.lin_w[st].fill(0.0);
        }
        for a in 0..k {
            let (st, row) = self.kkt.rows[a];
            for c in 0..k {
                self.kkt.schur[(a, c)] = self.row_dot(st, row, Some(c));
            }
        }
        crate::linalg::symmetrize(&mut self.kkt.schur);
        k == 0 || self.kkt.schur_fac.lu(&self.kkt.schur, 1e-12)
    }

    /// Solve the KKT system of the kept factorization: the LQ problem with linear term
    /// `self.lq.lin`, dynamics offsets `defect`, x_0 offset `x0`, and the active rows
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
        let k = self.kkt.rows.len();
        if self.kkt.is_constrained_riccati() {
            self.kkt.eq.solve(
                &self.lq.blocks,
                &self.lq.lin,
                defect,
                x0,
                if with_e {
                    Some(&self.kkt.row_e[..k])
                } else {
                    None
                },
                &mut self.step.dx,
                &mut self.step.du,
                &mut self.step.lam,
                &mut self.kkt.nu[..k],
            );
            return self.kkt.nu[..k].iter().all(|v| v.is_finite());
        }
        self.kkt.riccati.solve(
            &self.lq.blocks,
            &self.lq.lin,
            defect,
            x0,
            &mut self.step.dx,
            &mut self.step.du,
            &mut self.step.lam,
        );
        if k == 0 {
            return true;
        }
        // ν = S⁻¹(−e − G Δ⁰), Δ = Δ⁰ + Σ_a ν_a W_a.
        for a in 0..k {
            let (st, row) = self.kkt.rows[a];
            let e = if with_e { self.kkt.row_e[a] } else { 0.0 };
            self.kkt.nu[a] = -e - self.row_dot(st, row, None);
        }
        self.kkt
            .schur_fac
            .solve_in_place(&mut self.kkt.nu[..k], &mut self.kkt.tmp);
        if self.kkt.nu[..k].iter().any(|v| !v.is_finite()) {
            return false;
        }
        for i in 0..=h {
            for a in 0..k {
                let c = self.kkt.nu[a];
                axpy(
                    self.step.dx[i].as_mut_slice(),
                    c,
                    self.kkt.wx[a][i].as_slice(),
                );
                axpy(
                    self.step.lam[i].as_mut_slice(),
                    c,
                    self.kkt.wl[a][i].as_slice(),
                );
                if i < h {
                    axpy(
                        self.step.du[i].as_mut_slice(),
                        c,
                        self.kkt.wu[a][i].as_slice(),
                    );
                }
            }
        }
        true
    }
}
