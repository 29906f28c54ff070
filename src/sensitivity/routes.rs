//! Structured sensitivity routes on the solver's kept factorization.

use super::{SensitivityError, SingularSystem};
use crate::model::derivs::ThetaBlock;
use crate::model::OcpModel;
use crate::solver::adjoint::KktSingular;
use crate::solver::kkt::Row;
use crate::solver::{ModelFingerprint, Workspace};
use nalgebra::{DMatrix, DVector};

/// A seed g on the trajectory blocks: `x` ((H+1)·n, stage-major) and/or `u` (H·m).
#[derive(Clone, Copy, Debug, Default)]
pub struct Seed<'a> {
    /// Seed on x_0 … x_H, or `None` for zero.
    pub x: Option<&'a [f64]>,
    /// Seed on u_0 … u_{H−1}, or `None` for zero.
    pub u: Option<&'a [f64]>,
}

/// Full derivative ∂ζ*/∂p of the solution with respect to a parameter vector p (θ or x_init).
#[derive(Clone, Debug)]
pub struct Jacobian {
    /// ∂x_i/∂p for i = 0 … H, each n×p.
    pub x: Vec<DMatrix<f64>>,
    /// ∂u_i/∂p for i = 0 … H−1, each m×p.
    pub u: Vec<DMatrix<f64>>,
}

impl Jacobian {
    /// The controls' derivative as nested arrays `[i][j][k]` = ∂u_i,j/∂p_k.
    pub fn u_nested(&self) -> Vec<Vec<Vec<f64>>> {
        self.u
            .iter()
            .map(|mat| {
                (0..mat.nrows())
                    .map(|j| (0..mat.ncols()).map(|k| mat[(j, k)]).collect())
                    .collect()
            })
            .collect()
    }
}

/// Value gradients at the solution.
#[derive(Clone, Debug)]
pub struct ValueGradient {
    /// V = J(ζ*; θ).
    pub value: f64,
    /// ∇_θ V = ∇_θ L(ζ*, λ, μ; θ) (d).
    pub theta: DVector<f64>,
    /// ∂V/∂x_init = λ_0 (n).
    pub x0: DVector<f64>,
}

fn ready(ws: &Workspace) -> Result<(), SensitivityError> {
    if !ws.kkt_ready() {
        return Err(SensitivityError::NotReady(ws.solution().status));
    }
    Ok(())
}

/// [`ready`] and [`check_model`], then the KKT factorization at the solution (computed here
/// if the solve deferred it).
pub(crate) fn factorized<M: OcpModel>(
    ws: &mut Workspace,
    model: &M,
) -> Result<(), SensitivityError> {
    ready(ws)?;
    check_model(ws, model)?;
    if !ws.ensure_kkt(model) {
        return Err(SensitivityError::Singular(SingularSystem::ReducedHessian));
    }
    Ok(())
}

fn check_model<M: OcpModel>(ws: &Workspace, model: &M) -> Result<(), SensitivityError> {
    let expected = ws.model_fingerprint();
    if !expected.matches(model) {
        return Err(SensitivityError::Model {
            expected: Box::new(expected.clone()),
            got: Box::new(ModelFingerprint::of(model)),
        });
    }
    Ok(())
}

fn check_seed(what: &'static str, v: &[f64], expected: usize) -> Result<(), SensitivityError> {
    if v.len() != expected {
        return Err(SensitivityError::Dimension {
            what,
            got: v.len(),
            expected,
        });
    }
    if let Some(index) = v.iter().position(|x| !x.is_finite()) {
        return Err(SensitivityError::NonFinite { what, index });
    }
    Ok(())
}

/// θ-derivatives of stage `i` of the solution (i = H: the terminal stage) along the
/// z-direction `wz` (length n+m for a path stage, n for the terminal stage), into `tb`.
fn stage_theta_at<M: OcpModel>(
    ws: &mut Workspace,
    model: &M,
    i: usize,
    wz: &[f64],
    tb: &mut ThetaBlock,
) {
    let (p, diff) = ws.stage_point(i);
    diff.stage_theta(
        model, p.stage, p.x, p.u, p.theta, p.ctx, p.lam_next, p.mu, wz, tb,
    );
}

/// Vector–Jacobian product gᵀ ∂ζ*/∂θ (one adjoint solve), written into `out` (length d).
///
/// The workspace must hold a polished solution of `model` (the factorization kept by the
/// solver is reused). Active inequality rows are equalities; weakly active rows were dropped
/// by the solver, so the result is the one-sided derivative of `docs/spec/ALGORITHMS.md` §3.
/// [`vjp_full`] also returns gᵀ ∂ζ*/∂x_init from the same solve.
pub fn vjp<M: OcpModel>(
    ws: &mut Workspace,
    model: &M,
    seed: Seed<'_>,
    out: &mut [f64],
) -> Result<(), SensitivityError> {
    adjoint(ws, model, seed, out)
}

/// Vector–Jacobian products with respect to θ **and** the initial state from one adjoint
/// solve: `grad_theta` (length d) ← gᵀ ∂ζ*/∂θ, exactly as [`vjp`] (bitwise), and `grad_x0`
/// (length n) ← gᵀ ∂ζ*/∂x_init.
///
/// The initial state enters the KKT system of Proposition 1 only through the constraint
/// x_0 = x_init, whose right-hand-side derivative is the identity. Writing the adjoint system
/// as K (w, y) = (g, 0) (the solve [`vjp`] already does: linear term −g, homogeneous
/// constraints), the product with the x_init column block is the multiplier of that one
/// constraint, gᵀ ∂ζ*/∂x_init = −λ^w_0, where λ^w_0 is the adjoint costate at stage 0 (the
/// Riccati recursion's ∂V/∂x_0 of the adjoint LQ problem; `docs/spec/ALGORITHMS.md` §7.3). So the x_init
/// gradient costs nothing beyond the θ one, compared with n solves for
/// [`jacobian_x0`]. Active inequality rows are treated as in [`vjp`] (one-sided derivative).
///
/// ```
/// use diffop::model::tasks::{NonlinearTask, Table1Policy};
/// use diffop::model::OcpModel;
/// use diffop::sensitivity::{self, Seed};
/// use diffop::solver::{SolverSettings, WarmStart, Workspace};
/// let model = Table1Policy::new(NonlinearTask::Cartpole);
/// let theta = NonlinearTask::Cartpole.oracle_theta().unwrap();
/// let mut ws = Workspace::new(&model, 6, SolverSettings::default()).unwrap();
/// ws.solve(&model, &[0.1, 0.0, 0.2, 0.0], &theta, &[], WarmStart::Cold).unwrap();
/// // gradient of the first control with respect to θ and x_init
/// let mut su = vec![0.0; 6];
/// su[0] = 1.0;
/// let (mut g_theta, mut g_x0) = (vec![0.0; model.n_theta()], vec![0.0; 4]);
/// sensitivity::vjp_full(&mut ws, &model, Seed { x: None, u: Some(&su) }, &mut g_theta, &mut g_x0)
///     .unwrap();
/// assert!(g_x0.iter().all(|v| v.is_finite()));
/// ```
pub fn vjp_full<M: OcpModel>(
    ws: &mut Workspace,
    model: &M,
    seed: Seed<'_>,
    grad_theta: &mut [f64],
    grad_x0: &mut [f64],
) -> Result<(), SensitivityError> {
    let (n, _, _) = ws.dims();
    if grad_x0.len() != n {
        return Err(SensitivityError::Dimension {
            what: "vjp x_init output",
            got: grad_x0.len(),
            expected: n,
        });
    }
    adjoint(ws, model, seed, grad_theta)?;
    for (g, l) in grad_x0.iter_mut().zip(ws.kkt_step().lam[0].iter()) {
        *g = -l;
    }
    Ok(())
}

/// The adjoint solve of [`vjp`] / [`vjp_full`]: on return the workspace's KKT step holds w
/// and the adjoint costates, and `out` the θ-contraction −(Bᵀw + Cᵀy).
fn adjoint<M: OcpModel>(
    ws: &mut Workspace,
    model: &M,
    seed: Seed<'_>,
    out: &mut [f64],
) -> Result<(), SensitivityError> {
    factorized(ws, model)?;
    let (n, m, d) = ws.dims();
    let h = ws.horizon();
    check_seed("vjp output", out, d).or_else(|e| match e {
        SensitivityError::NonFinite { .. } => Ok(()),
        other => Err(other),
    })?;
    if let Some(sx) = seed.x {
        check_seed("seed x", sx, (h + 1) * n)?;
    }
    if let Some(su) = seed.u {
        check_seed("seed u", su, h * m)?;
    }
    // LQ with linear term −g, homogeneous constraints.
    ws.solve_adjoint(seed.x, seed.u).map_err(singular)?;
    contract(ws, model, out);
    Ok(())
}

/// The sensitivity error of a singular KKT solve.
fn singular(e: KktSingular) -> SensitivityError {
    SensitivityError::Singular(match e {
        KktSingular::ActiveRows => SingularSystem::ActiveRows,
        KktSingular::SchurComplement => SingularSystem::SchurComplement,
    })
}

/// out = −(Bᵀw + Cᵀy) for the adjoint step w = (Δx, Δu), its costates λ^w and the active
/// rows' multipliers ν, stage by stage.
fn contract<M: OcpModel>(ws: &mut Workspace, model: &M, out: &mut [f64]) {
    out.fill(0.0);
    ws.for_each_adjoint_stage(|_, s, diff| {
        let (p, part) = (s.point, s.part);
        diff.stage_theta_contract(
            model, p.stage, p.x, p.u, p.theta, p.ctx, p.lam_next, p.mu, s.wz, s.fw, s.gw, part,
        );
        for (o, v) in out.iter_mut().zip(part.iter()) {
            *o -= v;
        }
    });
}

/// The θ-blocks of every stage: B rows (∇²_{zθ}ℓ_i, (n+m)×d), E_i = ∂f_i/∂θ and ∂g_i/∂θ.
pub(crate) struct ThetaBlocks {
    pub b: Vec<DMatrix<f64>>,
    pub e: Vec<DMatrix<f64>>,
    pub gth: Vec<DMatrix<f64>>,
}

pub(crate) fn theta_blocks<M: OcpModel>(ws: &mut Workspace, model: &M) -> ThetaBlocks {
    let (n, m, d) = ws.dims();
    let h = ws.horizon();
    let mut b = Vec::with_capacity(h + 1);
    let mut e = Vec::with_capacity(h + 1);
    let mut gth = Vec::with_capacity(h + 1);
    for i in 0..=h {
        let k = if i < h { n + m } else { n };
        let qi = ws.constraint_counts()[i];
        let mut bi = DMatrix::zeros(k, d);
        let mut tb = ThetaBlock::new(n, qi, d);
        let (p, diff) = ws.stage_point(i);
        diff.stage_theta_all(
            model, p.stage, p.x, p.u, p.theta, p.ctx, p.lam_next, p.mu, &mut bi, &mut tb,
        );
        b.push(bi);
        e.push(tb.f_theta.clone());
        gth.push(tb.g_theta.clone());
    }
    ThetaBlocks { b, e, gth }
}

/// Full Jacobian ∂ζ*/∂θ (d right-hand sides on the kept factorization).
pub fn jacobian<M: OcpModel>(ws: &mut Workspace, model: &M) -> Result<Jacobian, SensitivityError> {
    factorized(ws, model)?;
    let (n, m, d) = ws.dims();
    let h = ws.horizon();
    let tb = theta_blocks(ws, model);
    let mut jac = Jacobian {
        x: vec![DMatrix::zeros(n, d); h + 1],
        u: vec![DMatrix::zeros(m, d); h],
    };
    let mut defect: Vec<DVector<f64>> = vec![DVector::zeros(n); h];
    for col in 0..d {
        for i in 0..h {
            for r in 0..n {
                defect[i][r] = tb.e[i][(r, col)];
            }
        }
        let row_e = |(st, row): Row| tb.gth[st][(row, col)];
        ws.solve_column(|i, r| tb.b[i][(r, col)], Some(&defect), None, Some(&row_e))
            .map_err(singular)?;
        store_column(ws, &mut jac, col);
    }
    Ok(jac)
}

/// Copy the solved step (dx, du) into column `col` of a Jacobian.
fn store_column(ws: &Workspace, jac: &mut Jacobian, col: usize) {
    let step = ws.kkt_step();
    for (i, dx) in step.dx.iter().enumerate() {
        for r in 0..dx.len() {
            jac.x[i][(r, col)] = dx[r];
        }
    }
    for (i, du) in step.du.iter().enumerate() {
        for r in 0..du.len() {
            jac.u[i][(r, col)] = du[r];
        }
    }
}

/// ∂ζ*/∂x_init (n right-hand sides on the kept factorization).
pub fn jacobian_x0<M: OcpModel>(
    ws: &mut Workspace,
    model: &M,
) -> Result<Jacobian, SensitivityError> {
    factorized(ws, model)?;
    let (n, m, _) = ws.dims();
    let h = ws.horizon();
    let mut jac = Jacobian {
        x: vec![DMatrix::zeros(n, n); h + 1],
        u: vec![DMatrix::zeros(m, n); h],
    };
    let mut e = DVector::zeros(n);
    for col in 0..n {
        e.fill(0.0);
        e[col] = 1.0;
        ws.solve_column(|_, _| 0.0, None, Some(&e), None)
            .map_err(singular)?;
        store_column(ws, &mut jac, col);
    }
    Ok(jac)
}

/// ∇_θV and ∂V/∂x_init at the solution (envelope theorem: the explicit θ-gradient of the
/// Lagrangian at the primal–dual optimum; no linear solve).
pub fn value_gradient<M: OcpModel>(
    ws: &mut Workspace,
    model: &M,
) -> Result<ValueGradient, SensitivityError> {
    ready(ws)?;
    check_model(ws, model)?;
    let (n, m, d) = ws.dims();
    let h = ws.horizon();
    let mut g = DVector::zeros(d);
    let wz = vec![0.0; n + m];
    for i in 0..=h {
        let mut tb = ThetaBlock::new(n, ws.constraint_counts()[i], d);
        stage_theta_at(ws, model, i, &wz[..if i < h { n + m } else { n }], &mut tb);
        g += &tb.l_theta;
    }
    Ok(ValueGradient {
        value: ws.solution().objective,
        theta: g,
        x0: ws.solution().lambda0.clone(),
    })
}
