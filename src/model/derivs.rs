//! Exact derivative blocks of a model, obtained by evaluating its generic code in AD scalars.
//!
//! * [`Differentiator::stage`] and [`Differentiator::terminal`]: values, Jacobians of f, c, g and
//!   the Hessian of the stage Lagrangian ℓ_i = c_i + λ_{i+1}ᵀ f_i + μ_iᵀ g_i in z = (x, u). The
//!   model is recorded on a tape ([`super::tape`]); Jacobians come from a forward vector sweep
//!   and the Hessian from one forward-over-reverse sweep. Models whose curvature hint
//!   ([`OcpModel::stage_curvature_vars`]) names at most a few coupled variables use
//!   second-order vector duals (`Dual2Vec`) on those instead, which is cheaper there.
//! * [`Differentiator::stage_theta`]: the θ-gradient of ℓ_i, of a directional derivative of ℓ_i
//!   along a direction w in z, and the θ-Jacobians of f and g. This is what the sensitivity
//!   routines contract ([`Differentiator::stage_theta_contract`] contracts without forming the
//!   Jacobians, [`Differentiator::stage_theta_all`] gives every direction at once).
//! * `*_dual`: the num-dual reference implementations (hyper-dual / second-order vector duals),
//!   kept for testing the tape path.
//!
//! Dual numbers have static sizes. The runtime size is rounded up to a *bucket* (a few fixed
//! sizes up to [`MAX_VARS`]); unused slots carry zero derivatives. Scratch vectors (dual numbers,
//! tape and sweep buffers) are kept between calls, so after the first calls no allocation
//! happens.

pub use super::block::StageBlock;
use super::symbolic::Programs;
use super::tape::{AVar, Tape};
use super::{OcpModel, Scalar};
use nalgebra::{Const, DMatrix, DVector, U1};
use num_dual::{Derivative, Dual2SVec64, Dual2_64, DualSVec64, HyperDualSVec64};
use std::any::Any;

/// Largest n+m (stage variables) and largest d (parameters) supported by the dual buckets.
pub const MAX_VARS: usize = 64;

/// Up to this many coupled curvature variables, [`Differentiator::stage`] uses the
/// second-order vector duals (cheaper than the tape for tiny sets).
const SMALL_CURVATURE: usize = 4;

/// Up to this many parameters, [`Differentiator::stage_theta`] uses hyper-dual numbers.
const SMALL_THETA: usize = 20;

/// θ-derivatives of one stage (or of the terminal stage, with empty f and u parts).
#[derive(Clone, Debug)]
pub struct ThetaBlock {
    /// ∇_θ ℓ_i at the given multipliers (d).
    pub l_theta: DVector<f64>,
    /// ∇_θ (∇_z ℓ_i · w) for the given direction w (d): the row wᵀ B_i of the paper's B.
    pub lw_theta: DVector<f64>,
    /// ∂f/∂θ = E_i (n×d).
    pub f_theta: DMatrix<f64>,
    /// ∂g/∂θ (q_i×d).
    pub g_theta: DMatrix<f64>,
}

impl ThetaBlock {
    /// Zeroed block.
    pub fn new(n: usize, q: usize, d: usize) -> Self {
        Self {
            l_theta: DVector::zeros(d),
            lw_theta: DVector::zeros(d),
            f_theta: DMatrix::zeros(n, d),
            g_theta: DMatrix::zeros(q, d),
        }
    }
}

/// Reusable scratch of dual numbers of one type.
struct Scratch<S> {
    x: Vec<S>,
    u: Vec<S>,
    th: Vec<S>,
    f: Vec<S>,
    g: Vec<S>,
}

impl<S: Scalar> Scratch<S> {
    fn new() -> Self {
        Self {
            x: Vec::new(),
            u: Vec::new(),
            th: Vec::new(),
            f: Vec::new(),
            g: Vec::new(),
        }
    }
    fn fill(&mut self, n: usize, m: usize, d: usize, q: usize) {
        let z = S::from(0.0);
        self.x.resize(n, z);
        self.u.resize(m, z);
        self.th.resize(d, z);
        self.f.resize(n, z);
        self.g.resize(q, z);
    }
}

fn scratch<S: Scalar>(slot: &mut Option<Box<dyn Any + Send>>) -> &mut Scratch<S> {
    let ok = slot.as_ref().map(|b| b.is::<Scratch<S>>()).unwrap_or(false);
    if !ok {
        *slot = Some(Box::new(Scratch::<S>::new()));
    }
    slot.as_mut()
        .and_then(|b| b.downcast_mut::<Scratch<S>>())
        .expect("scratch slot holds the type just stored")
}

/// Calls `$body` with the const `$B` set to the bucket that holds `$k` variables.
macro_rules! with_bucket {
    ($k:expr, $B:ident, $body:block) => {{
        let k = $k;
        if k <= 1 {
            const $B: usize = 1;
            $body
        } else if k <= 2 {
            const $B: usize = 2;
            $body
        } else if k <= 3 {
            const $B: usize = 3;
            $body
        } else if k <= 4 {
            const $B: usize = 4;
            $body
        } else if k <= 5 {
            const $B: usize = 5;
            $body
        } else if k <= 6 {
            const $B: usize = 6;
            $body
        } else if k <= 8 {
            const $B: usize = 8;
            $body
        } else if k <= 10 {
            const $B: usize = 10;
            $body
        } else if k <= 12 {
            const $B: usize = 12;
            $body
        } else if k <= 14 {
            const $B: usize = 14;
            $body
        } else if k <= 17 {
            const $B: usize = 17;
            $body
        } else if k <= 20 {
            const $B: usize = 20;
            $body
        } else if k <= 24 {
            const $B: usize = 24;
            $body
        } else if k <= 32 {
            const $B: usize = 32;
            $body
        } else if k <= 48 {
            const $B: usize = 48;
            $body
        } else {
            const $B: usize = 64;
            $body
        }
    }};
}

/// Evaluates derivative blocks of a model; holds the dual-number scratch between calls.
#[derive(Default)]
pub struct Differentiator {
    second: Option<Box<dyn Any + Send>>,
    diagonal: Option<Box<dyn Any + Send>>,
    first: Option<Box<dyn Any + Send>>,
    theta: Option<Box<dyn Any + Send>>,
    reals: Option<Box<dyn Any + Send>>,
    tape: TapeScratch,
    /// Compiled derivative programs of models that opt in ([`super::symbolic`]).
    programs: Programs,
    /// Use the tape even for models with compiled programs.
    tape_only: bool,
}

/// The tape and the recorded inputs/outputs of the tape-based path.
#[derive(Default)]
struct TapeScratch {
    tape: Tape,
    x: Vec<AVar>,
    u: Vec<AVar>,
    th: Vec<AVar>,
    f: Vec<AVar>,
    g: Vec<AVar>,
    seed: Vec<f64>,
    /// Forward-direction column of each stage variable (see `plan_columns`).
    col: Vec<usize>,
    /// Directions carried by the hinted second-order sweep.
    kr: usize,
    row: Vec<f64>,
    seeds2: Vec<(AVar, f64)>,
    tan_seeds: Vec<(AVar, f64)>,
    seeds: Vec<(AVar, usize, f64)>,
}

impl TapeScratch {
    /// Record the stage (`Some(i)`) or terminal (`None`) functions at (x, u, θ). Inputs are
    /// numbered x (n), u (m; none for the terminal stage), then θ (d) when `theta_inputs`;
    /// otherwise θ enters as constants, so the operations on θ alone are folded and not
    /// recorded (the derivatives in x and u are the same). Returns the cost.
    #[allow(clippy::too_many_arguments)]
    fn record<M: OcpModel>(
        &mut self,
        model: &M,
        i: Option<usize>,
        x: &[f64],
        u: &[f64],
        theta: &[f64],
        ctx: &[f64],
        q: usize,
        theta_inputs: bool,
    ) -> AVar {
        let n = x.len();
        let tp = &mut self.tape;
        tp.begin();
        self.x.clear();
        self.u.clear();
        self.th.clear();
        for &v in x {
            self.x.push(tp.input(v));
        }
        if i.is_some() {
            for &v in u {
                self.u.push(tp.input(v));
            }
        }
        if theta_inputs {
            for &v in theta {
                self.th.push(tp.input(v));
            }
        } else {
            self.th.extend(theta.iter().map(|&v| AVar::constant(v)));
        }
        self.f.clear();
        self.g.clear();
        self.g.resize(q, AVar::constant(0.0));
        let c = match i {
            Some(i) => {
                self.f.resize(n, AVar::constant(0.0));
                model.dynamics(i, &self.x, &self.u, &self.th, ctx, &mut self.f);
                let c = model.stage_cost(i, &self.x, &self.u, &self.th, ctx);
                if q > 0 {
                    model.path_constraints(i, &self.x, &self.u, &self.th, ctx, &mut self.g);
                }
                c
            }
            None => {
                let c = model.terminal_cost(&self.x, &self.th, ctx);
                if q > 0 {
                    model.terminal_constraints(&self.x, &self.th, ctx, &mut self.g);
                }
                c
            }
        };
        tp.end();
        c
    }

    /// Forward sweep seeded with the identity on the first k inputs.
    fn forward_identity(&mut self, k: usize) {
        self.seed.clear();
        self.seed.resize(k * k, 0.0);
        for j in 0..k {
            self.seed[j * k + j] = 1.0;
        }
        self.col.clear();
        self.col.extend(0..k);
        self.row.resize(k, 0.0);
        self.tape.forward(k, &self.seed);
    }

    /// Forward sweep for the curvature hints of a stage with k = n + m variables, when they
    /// make the second-order sweep narrower than k; returns false (nothing done) otherwise.
    ///
    /// Direction columns: first the coupled curvature variables `vars` (their Hessian block
    /// needs one direction each), then — when `diag` is not empty — the sum of the unit
    /// directions of the diagonal-curvature variables (having no cross terms, each one's
    /// diagonal entry is its own row of the Hessian times that sum), then one column per
    /// variable not in `vars` for the Jacobians. The second-order sweep carries only the
    /// leading `vars.len() + 1` columns. `col[j]` is variable j's Jacobian column.
    fn plan_columns(&mut self, k: usize, vars: &[usize], diag: &[usize]) -> bool {
        let nc = vars.len();
        let kr = nc + usize::from(!diag.is_empty());
        if kr >= k || vars.iter().chain(diag).any(|&v| v >= k) {
            return false;
        }
        self.col.clear();
        self.col.resize(k, usize::MAX);
        for (p, &v) in vars.iter().enumerate() {
            self.col[v] = p;
        }
        let mut next = kr;
        for c in self.col.iter_mut() {
            if *c == usize::MAX {
                *c = next;
                next += 1;
            }
        }
        let kf = next;
        self.seed.clear();
        self.seed.resize(k * kf, 0.0);
        for j in 0..k {
            self.seed[j * kf + self.col[j]] = 1.0;
        }
        for &v in diag {
            self.seed[v * kf + nc] = 1.0;
        }
        self.kr = kr;
        self.row.resize(kf, 0.0);
        self.tape.forward(kf, &self.seed);
        true
    }

    /// The Hessian of ℓ = c + λᵀf + μᵀg after [`TapeScratch::plan_columns`] (written in full:
    /// the entries outside the hinted structure are zero).
    fn hinted_hessian<M: OcpModel>(
        &mut self,
        model: &M,
        c: AVar,
        lam: &[f64],
        mu: &[f64],
        hess: &mut DMatrix<f64>,
    ) {
        self.lagrangian_seeds(c, lam, mu);
        self.tape.reverse_second_leading(&self.seeds2, self.kr);
        hess.fill(0.0);
        let vars = model.stage_curvature_vars().unwrap_or(&[]);
        for (pa, &a) in vars.iter().enumerate() {
            let ra = self.tape.hess_row(a);
            for (pb, &b) in vars.iter().enumerate().take(pa + 1) {
                let v = if pa == pb {
                    ra[pb]
                } else {
                    0.5 * (ra[pb] + self.tape.hess_row(b)[pa])
                };
                hess[(a, b)] = v;
                hess[(b, a)] = v;
            }
        }
        let nc = vars.len();
        for &v in model.stage_diagonal_vars() {
            hess[(v, v)] = self.tape.hess_row(v)[nc];
        }
    }

    /// Reverse second-order sweep for ℓ = c + λᵀf + μᵀg; writes the k×k Hessian (symmetrized).
    fn lagrangian_hessian(
        &mut self,
        c: AVar,
        lam: &[f64],
        mu: &[f64],
        k: usize,
        hess: &mut DMatrix<f64>,
    ) {
        self.lagrangian_seeds(c, lam, mu);
        self.tape.reverse_second(&self.seeds2, false);
        for a in 0..k {
            let ra = self.tape.hess_row(a);
            for b in 0..=a {
                let v = if a == b {
                    ra[b]
                } else {
                    0.5 * (ra[b] + self.tape.hess_row(b)[a])
                };
                hess[(a, b)] = v;
                hess[(b, a)] = v;
            }
        }
    }

    fn lagrangian_seeds(&mut self, c: AVar, lam: &[f64], mu: &[f64]) {
        self.seeds2.clear();
        self.seeds2.push((c, 1.0));
        for (r, &l) in lam.iter().enumerate().take(self.f.len()) {
            self.seeds2.push((self.f[r], l));
        }
        for (r, &w) in mu.iter().enumerate().take(self.g.len()) {
            self.seeds2.push((self.g[r], w));
        }
    }
}

impl std::fmt::Debug for Differentiator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Differentiator")
    }
}

#[inline]
fn row<const B: usize>(d: &Derivative<f64, U1, Const<B>>, j: usize) -> f64 {
    d.0.as_ref().map(|v| v[j]).unwrap_or(0.0)
}

#[inline]
fn col<const B: usize>(d: &Derivative<f64, Const<B>, U1>, j: usize) -> f64 {
    d.0.as_ref().map(|v| v[j]).unwrap_or(0.0)
}

impl Differentiator {
    /// A new differentiator (scratch is allocated lazily on first use).
    pub fn new() -> Self {
        Self::default()
    }

    /// Use compiled derivative programs for models that opt in
    /// ([`OcpModel::symbolic_key`]); `false` forces the tape. Default: `true`.
    pub fn set_symbolic(&mut self, on: bool) {
        self.tape_only = !on;
    }

    /// Run compiled programs on the interpreter even when a generated native function exists
    /// (built-in tasks). Both give bitwise identical results; for tests and benchmarks.
    /// Default: `false`.
    pub fn set_interpret_only(&mut self, on: bool) {
        self.programs.interpret_only = on;
    }

    /// Values only (f64 evaluation): f, c and g of stage `i`. Returns c.
    #[allow(clippy::too_many_arguments)]
    pub fn stage_values<M: OcpModel>(
        &mut self,
        model: &M,
        i: usize,
        x: &[f64],
        u: &[f64],
        theta: &[f64],
        ctx: &[f64],
        f: &mut [f64],
        g: &mut [f64],
    ) -> f64 {
        model.dynamics(i, x, u, theta, ctx, f);
        model.path_constraints(i, x, u, theta, ctx, g);
        model.stage_cost(i, x, u, theta, ctx)
    }

    /// Fill `out` with the values, Jacobians and Lagrangian Hessian of stage `i` at (x, u),
    /// with dynamics multipliers `lam` (= λ_{i+1}, n) and inequality multipliers `mu` (q_i).
    #[allow(clippy::too_many_arguments)]
    pub fn stage<M: OcpModel>(
        &mut self,
        model: &M,
        i: usize,
        x: &[f64],
        u: &[f64],
        theta: &[f64],
        ctx: &[f64],
        lam: &[f64],
        mu: &[f64],
        out: &mut StageBlock,
    ) {
        // The caller owns the block and may have changed any entry: rewrite all of them.
        out.touch();
        self.stage_with(model, i, (x, u, theta, ctx), lam, mu, true, out);
    }

    /// [`Differentiator::stage`], with the Lagrangian Hessian only when `hessian` (without it,
    /// values and Jacobians only and `out.hess` is left untouched: about a third cheaper on
    /// the tape path).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn stage_with<M: OcpModel>(
        &mut self,
        model: &M,
        i: usize,
        (x, u, theta, ctx): (&[f64], &[f64], &[f64], &[f64]),
        lam: &[f64],
        mu: &[f64],
        hessian: bool,
        out: &mut StageBlock,
    ) -> bool {
        if !self.tape_only && ctx.is_empty() {
            let point = (x, u, theta);
            if let Some(finite) = self
                .programs
                .eval(model, Some(i), point, lam, mu, hessian, out)
            {
                return finite;
            }
        }
        out.touch();
        self.stage_generic(model, i, (x, u, theta, ctx), lam, mu, hessian, out);
        out.is_finite(hessian)
    }

    /// The tape / dual-number path of [`Differentiator::stage_with`].
    #[allow(clippy::too_many_arguments)]
    fn stage_generic<M: OcpModel>(
        &mut self,
        model: &M,
        i: usize,
        (x, u, theta, ctx): (&[f64], &[f64], &[f64], &[f64]),
        lam: &[f64],
        mu: &[f64],
        hessian: bool,
        out: &mut StageBlock,
    ) {
        let (n, m, q) = (x.len(), u.len(), out.g.len());
        // Small curvature sets: second-order vector duals over the few coupled variables are
        // cheaper than the tape sweeps over all n + m directions.
        let small = match model.stage_curvature_vars() {
            Some(vars) => vars.len() <= SMALL_CURVATURE,
            None => n + m <= SMALL_CURVATURE,
        };
        if small {
            match (hessian, model.stage_curvature_vars()) {
                (false, Some(_)) => with_bucket!(n + m, B, {
                    let sc = scratch::<DualSVec64<B>>(&mut self.first);
                    stage_first::<M, B>(model, i, x, u, theta, ctx, sc, out);
                }),
                _ => self.stage_dual(model, i, x, u, theta, ctx, lam, mu, out),
            }
            return;
        }
        let ts = &mut self.tape;
        let c = ts.record(model, Some(i), x, u, theta, ctx, q, false);
        let k = n + m;
        let hinted = match model.stage_curvature_vars() {
            Some(vars) => ts.plan_columns(k, vars, model.stage_diagonal_vars()),
            None => false,
        };
        if !hinted {
            ts.forward_identity(k);
        }
        out.c = c.value();
        ts.tape.tangent(c, &mut ts.row);
        for j in 0..n {
            out.cx[j] = ts.row[ts.col[j]];
        }
        for j in 0..m {
            out.cu[j] = ts.row[ts.col[n + j]];
        }
        for r in 0..n {
            out.f[r] = ts.f[r].value();
            ts.tape.tangent(ts.f[r], &mut ts.row);
            for j in 0..n {
                out.fx[(r, j)] = ts.row[ts.col[j]];
            }
            for j in 0..m {
                out.fu[(r, j)] = ts.row[ts.col[n + j]];
            }
        }
        for r in 0..q {
            out.g[r] = ts.g[r].value();
            ts.tape.tangent(ts.g[r], &mut ts.row);
            for j in 0..n {
                out.gx[(r, j)] = ts.row[ts.col[j]];
            }
            for j in 0..m {
                out.gu[(r, j)] = ts.row[ts.col[n + j]];
            }
        }
        if !hessian {
            return;
        }
        if hinted {
            ts.hinted_hessian(model, c, lam, mu, &mut out.hess);
        } else {
            ts.lagrangian_hessian(c, lam, mu, k, &mut out.hess);
        }
    }

    /// Reference implementation of [`Differentiator::stage`] with num-dual's second-order
    /// vector duals (and the model's curvature hints). Kept to test the tape-based path.
    #[allow(clippy::too_many_arguments)]
    pub fn stage_dual<M: OcpModel>(
        &mut self,
        model: &M,
        i: usize,
        x: &[f64],
        u: &[f64],
        theta: &[f64],
        ctx: &[f64],
        lam: &[f64],
        mu: &[f64],
        out: &mut StageBlock,
    ) {
        let (n, m) = (x.len(), u.len());
        match model.stage_curvature_vars() {
            None => with_bucket!(n + m, B, {
                let sc = scratch::<Dual2SVec64<B>>(&mut self.second);
                stage_second::<M, B>(model, i, x, u, theta, ctx, lam, mu, sc, None, out);
            }),
            Some(vars) => {
                with_bucket!(n + m, B, {
                    let sc = scratch::<DualSVec64<B>>(&mut self.first);
                    stage_first::<M, B>(model, i, x, u, theta, ctx, sc, out);
                });
                if vars.is_empty() {
                    out.hess.fill(0.0);
                } else {
                    with_bucket!(vars.len(), B, {
                        let sc = scratch::<Dual2SVec64<B>>(&mut self.second);
                        stage_second::<M, B>(
                            model,
                            i,
                            x,
                            u,
                            theta,
                            ctx,
                            lam,
                            mu,
                            sc,
                            Some(vars),
                            out,
                        );
                    });
                }
                let diag = model.stage_diagonal_vars();
                if !diag.is_empty() {
                    let sc = scratch::<Dual2_64>(&mut self.diagonal);
                    stage_diagonal(model, i, x, u, theta, ctx, lam, mu, diag, sc, out);
                }
            }
        }
    }

    /// Terminal stage: c_H, ∂c_H/∂x, g_H, ∂g_H/∂x and ∇²_xx (c_H + μᵀg_H), written into the
    /// x parts of `out` (`hess` is n×n, `f`, `fx`, `fu`, `cu`, `gu` are left untouched).
    #[allow(clippy::too_many_arguments)]
    pub fn terminal<M: OcpModel>(
        &mut self,
        model: &M,
        x: &[f64],
        theta: &[f64],
        ctx: &[f64],
        mu: &[f64],
        out: &mut StageBlock,
    ) {
        out.touch();
        self.terminal_with(model, (x, theta, ctx), mu, true, out);
    }

    /// [`Differentiator::terminal`], with the Hessian only when `hessian` (else `out.hess` is
    /// left untouched).
    pub(crate) fn terminal_with<M: OcpModel>(
        &mut self,
        model: &M,
        (x, theta, ctx): (&[f64], &[f64], &[f64]),
        mu: &[f64],
        hessian: bool,
        out: &mut StageBlock,
    ) -> bool {
        if !self.tape_only && ctx.is_empty() {
            let point = (x, &[][..], theta);
            if let Some(finite) = self
                .programs
                .eval(model, None, point, &[], mu, hessian, out)
            {
                return finite;
            }
        }
        out.touch();
        self.terminal_generic(model, (x, theta, ctx), mu, hessian, out);
        out.is_finite(hessian)
    }

    /// The tape path of [`Differentiator::terminal_with`].
    fn terminal_generic<M: OcpModel>(
        &mut self,
        model: &M,
        (x, theta, ctx): (&[f64], &[f64], &[f64]),
        mu: &[f64],
        hessian: bool,
        out: &mut StageBlock,
    ) {
        let (n, q) = (x.len(), out.g.len());
        let ts = &mut self.tape;
        let c = ts.record(model, None, x, &[], theta, ctx, q, false);
        ts.forward_identity(n);
        out.c = c.value();
        ts.tape.tangent(c, &mut ts.row);
        out.cx.copy_from_slice(&ts.row[..n]);
        for r in 0..q {
            out.g[r] = ts.g[r].value();
            ts.tape.tangent(ts.g[r], &mut ts.row);
            for j in 0..n {
                out.gx[(r, j)] = ts.row[j];
            }
        }
        if hessian {
            ts.lagrangian_hessian(c, &[], mu, n, &mut out.hess);
        }
    }

    /// Reference implementation of [`Differentiator::terminal`] with num-dual's second-order
    /// vector duals. Kept to test the tape-based path.
    pub fn terminal_dual<M: OcpModel>(
        &mut self,
        model: &M,
        x: &[f64],
        theta: &[f64],
        ctx: &[f64],
        mu: &[f64],
        out: &mut StageBlock,
    ) {
        let n = x.len();
        with_bucket!(n, B, {
            let sc = scratch::<Dual2SVec64<B>>(&mut self.second);
            terminal_second::<M, B>(model, x, theta, ctx, mu, sc, out);
        });
    }

    /// Terminal values: c_H and g_H (written into `g`).
    pub fn terminal_values<M: OcpModel>(
        &mut self,
        model: &M,
        x: &[f64],
        theta: &[f64],
        ctx: &[f64],
        g: &mut [f64],
    ) -> f64 {
        model.terminal_constraints(x, theta, ctx, g);
        model.terminal_cost(x, theta, ctx)
    }

    /// θ-derivatives of stage `i` (or of the terminal stage when `i == None`; then `u` and
    /// `lam` are ignored and `wz` has length n): see [`ThetaBlock`]. `wz` is a direction in
    /// z = (x, u) (length n+m) for the mixed term.
    #[allow(clippy::too_many_arguments)]
    pub fn stage_theta<M: OcpModel>(
        &mut self,
        model: &M,
        i: Option<usize>,
        x: &[f64],
        u: &[f64],
        theta: &[f64],
        ctx: &[f64],
        lam: &[f64],
        mu: &[f64],
        wz: &[f64],
        out: &mut ThetaBlock,
    ) {
        let n = x.len();
        let m = if i.is_some() { u.len() } else { 0 };
        let d = theta.len();
        if d <= SMALL_THETA {
            self.stage_theta_dual(model, i, x, u, theta, ctx, lam, mu, wz, out);
            return;
        }
        let q = out.g_theta.nrows();
        let ts = &mut self.tape;
        let c = ts.record(model, i, x, u, theta, ctx, q, true);
        let k = n + m;
        // one forward direction: w in z
        ts.tape.forward(1, &wz[..k]);
        let lam = if i.is_some() { lam } else { &[][..] };
        ts.lagrangian_seeds(c, lam, mu);
        ts.tape.reverse_second(&ts.seeds2, true);
        for j in 0..d {
            out.l_theta[j] = ts.tape.grad(k + j);
            out.lw_theta[j] = ts.tape.hess_row(k + j)[0];
        }
        // θ-Jacobians of f (rows 0..n, stages only) and g (rows n_f..n_f+q)
        let nf = if i.is_some() { n } else { 0 };
        let rows = nf + q;
        if rows > 0 {
            ts.seeds.clear();
            for r in 0..nf {
                ts.seeds.push((ts.f[r], r, 1.0));
            }
            for r in 0..q {
                ts.seeds.push((ts.g[r], nf + r, 1.0));
            }
            ts.tape.reverse(rows, &ts.seeds);
        }
        if i.is_some() {
            for r in 0..n {
                for j in 0..d {
                    out.f_theta[(r, j)] = ts.tape.adjoint(rows, k + j, r);
                }
            }
        } else {
            out.f_theta.fill(0.0);
        }
        for r in 0..q {
            for j in 0..d {
                out.g_theta[(r, j)] = ts.tape.adjoint(rows, k + j, nf + r);
            }
        }
    }

    /// All mixed second derivatives of stage `i` (or of the terminal stage when `i == None`)
    /// at once: `b` ((n+m)×d, or n×d for the terminal stage) receives ∇²_{zθ} ℓ_i, and `out`
    /// the θ-gradient of ℓ_i and the θ-Jacobians of f and g (its `lw_theta` is left as is).
    /// Equivalent to [`Differentiator::stage_theta`] with every unit direction w = e_r.
    #[allow(clippy::too_many_arguments)]
    pub fn stage_theta_all<M: OcpModel>(
        &mut self,
        model: &M,
        i: Option<usize>,
        x: &[f64],
        u: &[f64],
        theta: &[f64],
        ctx: &[f64],
        lam: &[f64],
        mu: &[f64],
        b: &mut DMatrix<f64>,
        out: &mut ThetaBlock,
    ) {
        let n = x.len();
        let m = if i.is_some() { u.len() } else { 0 };
        let d = theta.len();
        let q = out.g_theta.nrows();
        let ts = &mut self.tape;
        let c = ts.record(model, i, x, u, theta, ctx, q, true);
        let k = n + m;
        ts.forward_identity(k);
        let lam = if i.is_some() { lam } else { &[][..] };
        ts.lagrangian_seeds(c, lam, mu);
        ts.tape.reverse_second(&ts.seeds2, true);
        for j in 0..d {
            out.l_theta[j] = ts.tape.grad(k + j);
            let col = ts.tape.hess_row(k + j);
            for r in 0..k {
                b[(r, j)] = col[r];
            }
        }
        let nf = if i.is_some() { n } else { 0 };
        let rows = nf + q;
        if rows > 0 {
            ts.seeds.clear();
            for r in 0..nf {
                ts.seeds.push((ts.f[r], r, 1.0));
            }
            for r in 0..q {
                ts.seeds.push((ts.g[r], nf + r, 1.0));
            }
            ts.tape.reverse(rows, &ts.seeds);
        }
        if i.is_some() {
            for r in 0..n {
                for j in 0..d {
                    out.f_theta[(r, j)] = ts.tape.adjoint(rows, k + j, r);
                }
            }
        } else {
            out.f_theta.fill(0.0);
        }
        for r in 0..q {
            for j in 0..d {
                out.g_theta[(r, j)] = ts.tape.adjoint(rows, k + j, nf + r);
            }
        }
    }

    /// The θ-contraction of stage `i` (or of the terminal stage when `i == None`) used by the
    /// vector–Jacobian product: `out = ∇_θ(∇_z ℓ_i · w) + (∂f/∂θ)ᵀ fw + (∂g/∂θ)ᵀ gw`, without
    /// forming the θ-Jacobians (`fw` is ignored for the terminal stage). Same arguments as
    /// [`Differentiator::stage_theta`].
    #[allow(clippy::too_many_arguments)]
    pub fn stage_theta_contract<M: OcpModel>(
        &mut self,
        model: &M,
        i: Option<usize>,
        x: &[f64],
        u: &[f64],
        theta: &[f64],
        ctx: &[f64],
        lam: &[f64],
        mu: &[f64],
        wz: &[f64],
        fw: &[f64],
        gw: &[f64],
        out: &mut [f64],
    ) {
        let n = x.len();
        let m = if i.is_some() { u.len() } else { 0 };
        let d = theta.len();
        let q = gw.len();
        let k = n + m;
        let fw = if i.is_some() { &fw[..n] } else { &[][..] };
        // Every term is linear in (w, fw, gw): a zero direction contributes exactly zero.
        if wz[..k].iter().chain(fw).chain(gw).all(|&v| v == 0.0) {
            out[..d].fill(0.0);
            return;
        }
        let lam = if i.is_some() { lam } else { &[][..] };
        let u = if i.is_some() { u } else { &[][..] };
        if !self.tape_only
            && ctx.is_empty()
            && self.programs.eval_contract(
                model,
                i,
                (x, u, theta),
                (lam, mu),
                (&wz[..k], fw, gw),
                &mut out[..d],
            )
        {
            return;
        }
        let ts = &mut self.tape;
        let c = ts.record(model, i, x, u, theta, ctx, q, true);
        ts.lagrangian_seeds(c, lam, mu);
        // The first-order terms (∂f/∂θ)ᵀ fw + (∂g/∂θ)ᵀ gw ride along as adjoint-tangent
        // seeds of the same sweep.
        ts.tan_seeds.clear();
        if i.is_some() {
            for r in 0..n {
                if fw[r] != 0.0 {
                    ts.tan_seeds.push((ts.f[r], fw[r]));
                }
            }
        }
        for r in 0..q {
            if gw[r] != 0.0 {
                ts.tan_seeds.push((ts.g[r], gw[r]));
            }
        }
        // One direction w on z; only the θ inputs (k ..) are wanted, so the reverse sweep
        // skips every node that does not depend on θ.
        ts.tape
            .directional_contract(&wz[..k], &ts.seeds2, &ts.tan_seeds, k);
        for j in 0..d {
            out[j] = ts.tape.directional_adjoint_tangent(k + j);
        }
    }

    /// Reference implementation of [`Differentiator::stage_theta`] with num-dual's hyper-dual
    /// numbers. Kept to test the tape-based path.
    #[allow(clippy::too_many_arguments)]
    pub fn stage_theta_dual<M: OcpModel>(
        &mut self,
        model: &M,
        i: Option<usize>,
        x: &[f64],
        u: &[f64],
        theta: &[f64],
        ctx: &[f64],
        lam: &[f64],
        mu: &[f64],
        wz: &[f64],
        out: &mut ThetaBlock,
    ) {
        let d = theta.len();
        with_bucket!(d, B, {
            let sc = scratch::<HyperDualSVec64<1, B>>(&mut self.theta);
            stage_theta_impl::<M, B>(model, i, x, u, theta, ctx, lam, mu, wz, sc, out);
        });
    }

    /// Scratch for plain `f64` evaluations (used by line searches).
    pub fn reals(&mut self) -> &mut Option<Box<dyn Any + Send>> {
        &mut self.reals
    }
}

#[allow(clippy::too_many_arguments)]
fn stage_first<M: OcpModel, const B: usize>(
    model: &M,
    i: usize,
    x: &[f64],
    u: &[f64],
    theta: &[f64],
    ctx: &[f64],
    sc: &mut Scratch<DualSVec64<B>>,
    out: &mut StageBlock,
) {
    let (n, m, d, q) = (x.len(), u.len(), theta.len(), out.g.len());
    sc.fill(n, m, d, q);
    for j in 0..n {
        sc.x[j] = DualSVec64::<B>::from_re(x[j]).derivative(j);
    }
    for j in 0..m {
        sc.u[j] = DualSVec64::<B>::from_re(u[j]).derivative(n + j);
    }
    for j in 0..d {
        sc.th[j] = DualSVec64::<B>::from_re(theta[j]);
    }
    model.dynamics(i, &sc.x, &sc.u, &sc.th, ctx, &mut sc.f);
    let c = model.stage_cost(i, &sc.x, &sc.u, &sc.th, ctx);
    if q > 0 {
        model.path_constraints(i, &sc.x, &sc.u, &sc.th, ctx, &mut sc.g);
    }
    out.c = c.re;
    for j in 0..n {
        out.cx[j] = col(&c.eps, j);
    }
    for j in 0..m {
        out.cu[j] = col(&c.eps, n + j);
    }
    for r in 0..n {
        out.f[r] = sc.f[r].re;
        for j in 0..n {
            out.fx[(r, j)] = col(&sc.f[r].eps, j);
        }
        for j in 0..m {
            out.fu[(r, j)] = col(&sc.f[r].eps, n + j);
        }
    }
    for r in 0..q {
        out.g[r] = sc.g[r].re;
        for j in 0..n {
            out.gx[(r, j)] = col(&sc.g[r].eps, j);
        }
        for j in 0..m {
            out.gu[(r, j)] = col(&sc.g[r].eps, n + j);
        }
    }
}

/// Diagonal second derivatives ∂²ℓ/∂z_j² for the listed variables, one scalar second-order
/// dual pass each.
#[allow(clippy::too_many_arguments)]
fn stage_diagonal<M: OcpModel>(
    model: &M,
    i: usize,
    x: &[f64],
    u: &[f64],
    theta: &[f64],
    ctx: &[f64],
    lam: &[f64],
    mu: &[f64],
    vars: &[usize],
    sc: &mut Scratch<Dual2_64>,
    out: &mut StageBlock,
) {
    let (n, m, d, q) = (x.len(), u.len(), theta.len(), out.g.len());
    sc.fill(n, m, d, q);
    for j in 0..d {
        sc.th[j] = Dual2_64::from(theta[j]);
    }
    for &v in vars {
        for j in 0..n {
            sc.x[j] = Dual2_64::from(x[j]);
        }
        for j in 0..m {
            sc.u[j] = Dual2_64::from(u[j]);
        }
        if v < n {
            sc.x[v] = Dual2_64::new(x[v], 1.0, 0.0);
        } else {
            sc.u[v - n] = Dual2_64::new(u[v - n], 1.0, 0.0);
        }
        model.dynamics(i, &sc.x, &sc.u, &sc.th, ctx, &mut sc.f);
        let mut l = model.stage_cost(i, &sc.x, &sc.u, &sc.th, ctx);
        if q > 0 {
            model.path_constraints(i, &sc.x, &sc.u, &sc.th, ctx, &mut sc.g);
        }
        for r in 0..n {
            l += sc.f[r] * lam[r];
        }
        for r in 0..q {
            l += sc.g[r] * mu[r];
        }
        out.hess[(v, v)] = l.v2;
    }
}

/// Second-order pass. With `vars = None` every z variable is seeded and all first derivatives
/// are also extracted; with `Some(vars)` only the listed variables are seeded and only the
/// Hessian is written (the first-order pass has filled the rest).
#[allow(clippy::too_many_arguments)]
fn stage_second<M: OcpModel, const B: usize>(
    model: &M,
    i: usize,
    x: &[f64],
    u: &[f64],
    theta: &[f64],
    ctx: &[f64],
    lam: &[f64],
    mu: &[f64],
    sc: &mut Scratch<Dual2SVec64<B>>,
    vars: Option<&[usize]>,
    out: &mut StageBlock,
) {
    let (n, m, d, q) = (x.len(), u.len(), theta.len(), out.g.len());
    sc.fill(n, m, d, q);
    for j in 0..n {
        sc.x[j] = Dual2SVec64::<B>::from_re(x[j]);
    }
    for j in 0..m {
        sc.u[j] = Dual2SVec64::<B>::from_re(u[j]);
    }
    match vars {
        None => {
            for j in 0..n {
                sc.x[j] = sc.x[j].derivative(j);
            }
            for j in 0..m {
                sc.u[j] = sc.u[j].derivative(n + j);
            }
        }
        Some(vs) => {
            for (slot, &v) in vs.iter().enumerate() {
                if v < n {
                    sc.x[v] = sc.x[v].derivative(slot);
                } else {
                    sc.u[v - n] = sc.u[v - n].derivative(slot);
                }
            }
        }
    }
    for j in 0..d {
        sc.th[j] = Dual2SVec64::<B>::from_re(theta[j]);
    }
    model.dynamics(i, &sc.x, &sc.u, &sc.th, ctx, &mut sc.f);
    let c = model.stage_cost(i, &sc.x, &sc.u, &sc.th, ctx);
    if q > 0 {
        model.path_constraints(i, &sc.x, &sc.u, &sc.th, ctx, &mut sc.g);
    }
    let mut l = c;
    for r in 0..n {
        l += sc.f[r] * lam[r];
    }
    for r in 0..q {
        l += sc.g[r] * mu[r];
    }
    let k = n + m;
    match vars {
        None => {
            out.c = c.re;
            for j in 0..n {
                out.cx[j] = row(&c.v1, j);
            }
            for j in 0..m {
                out.cu[j] = row(&c.v1, n + j);
            }
            for r in 0..n {
                out.f[r] = sc.f[r].re;
                for j in 0..n {
                    out.fx[(r, j)] = row(&sc.f[r].v1, j);
                }
                for j in 0..m {
                    out.fu[(r, j)] = row(&sc.f[r].v1, n + j);
                }
            }
            for r in 0..q {
                out.g[r] = sc.g[r].re;
                for j in 0..n {
                    out.gx[(r, j)] = row(&sc.g[r].v1, j);
                }
                for j in 0..m {
                    out.gu[(r, j)] = row(&sc.g[r].v1, n + j);
                }
            }
            match &l.v2.0 {
                Some(h) => {
                    for a in 0..k {
                        for b in 0..k {
                            out.hess[(a, b)] = h[(a, b)];
                        }
                    }
                }
                None => out.hess.fill(0.0),
            }
        }
        Some(vs) => {
            out.hess.fill(0.0);
            if let Some(h) = &l.v2.0 {
                for (sa, &a) in vs.iter().enumerate() {
                    for (sb, &b) in vs.iter().enumerate() {
                        out.hess[(a, b)] = h[(sa, sb)];
                    }
                }
            }
        }
    }
}

fn terminal_second<M: OcpModel, const B: usize>(
    model: &M,
    x: &[f64],
    theta: &[f64],
    ctx: &[f64],
    mu: &[f64],
    sc: &mut Scratch<Dual2SVec64<B>>,
    out: &mut StageBlock,
) {
    let (n, d, q) = (x.len(), theta.len(), out.g.len());
    sc.fill(n, 0, d, q);
    for j in 0..n {
        sc.x[j] = Dual2SVec64::<B>::from_re(x[j]).derivative(j);
    }
    for j in 0..d {
        sc.th[j] = Dual2SVec64::<B>::from_re(theta[j]);
    }
    let c = model.terminal_cost(&sc.x, &sc.th, ctx);
    if q > 0 {
        model.terminal_constraints(&sc.x, &sc.th, ctx, &mut sc.g);
    }
    let mut l = c;
    for r in 0..q {
        l += sc.g[r] * mu[r];
    }
    out.c = c.re;
    for j in 0..n {
        out.cx[j] = row(&c.v1, j);
    }
    for r in 0..q {
        out.g[r] = sc.g[r].re;
        for j in 0..n {
            out.gx[(r, j)] = row(&sc.g[r].v1, j);
        }
    }
    match &l.v2.0 {
        Some(h) => {
            for a in 0..n {
                for b in 0..n {
                    out.hess[(a, b)] = h[(a, b)];
                }
            }
        }
        None => out.hess.fill(0.0),
    }
}

#[allow(clippy::too_many_arguments)]
fn stage_theta_impl<M: OcpModel, const B: usize>(
    model: &M,
    i: Option<usize>,
    x: &[f64],
    u: &[f64],
    theta: &[f64],
    ctx: &[f64],
    lam: &[f64],
    mu: &[f64],
    wz: &[f64],
    sc: &mut Scratch<HyperDualSVec64<1, B>>,
    out: &mut ThetaBlock,
) {
    type H<const B: usize> = HyperDualSVec64<1, B>;
    let n = x.len();
    let m = if i.is_some() { u.len() } else { 0 };
    let d = theta.len();
    let q = out.g_theta.nrows();
    sc.fill(n, m, d, q);
    let dir = |re: f64, w: f64| -> H<B> {
        let mut v = H::<B>::from_re(re);
        if w != 0.0 {
            v.eps1 = Derivative::some(nalgebra::SMatrix::<f64, 1, 1>::new(w));
        }
        v
    };
    for j in 0..n {
        sc.x[j] = dir(x[j], wz[j]);
    }
    for j in 0..m {
        sc.u[j] = dir(u[j], wz[n + j]);
    }
    for j in 0..d {
        sc.th[j] = H::<B>::from_re(theta[j]).derivative2(j);
    }
    let mut l = match i {
        Some(i) => {
            model.dynamics(i, &sc.x, &sc.u, &sc.th, ctx, &mut sc.f);
            if q > 0 {
                model.path_constraints(i, &sc.x, &sc.u, &sc.th, ctx, &mut sc.g);
            }
            let mut l = model.stage_cost(i, &sc.x, &sc.u, &sc.th, ctx);
            for r in 0..n {
                l += sc.f[r] * lam[r];
            }
            l
        }
        None => {
            if q > 0 {
                model.terminal_constraints(&sc.x, &sc.th, ctx, &mut sc.g);
            }
            model.terminal_cost(&sc.x, &sc.th, ctx)
        }
    };
    for r in 0..q {
        l += sc.g[r] * mu[r];
    }
    let row2 = |v: &H<B>, j: usize| v.eps2.0.as_ref().map(|e| e[j]).unwrap_or(0.0);
    for j in 0..d {
        out.l_theta[j] = row2(&l, j);
        out.lw_theta[j] = l.eps1eps2.0.as_ref().map(|e| e[j]).unwrap_or(0.0);
    }
    if i.is_some() {
        for r in 0..n {
            for j in 0..d {
                out.f_theta[(r, j)] = row2(&sc.f[r], j);
            }
        }
    } else {
        out.f_theta.fill(0.0);
    }
    for r in 0..q {
        for j in 0..d {
            out.g_theta[(r, j)] = row2(&sc.g[r], j);
        }
    }
}
