//! Verify a model's structure hints against the full evaluation.
//!
//! The optional hints of [`OcpModel`] make derivatives cheaper, and a wrong one gives silently
//! wrong Hessians, steps or sensitivities:
//!
//! * **curvature** ([`OcpModel::stage_curvature_vars`], [`OcpModel::stage_diagonal_vars`]):
//!   the stage Lagrangian has curvature only on these variables;
//! * **linear–quadratic** ([`OcpModel::is_linear_quadratic`]): dynamics and inequalities affine
//!   and costs quadratic in (x, u) for fixed θ and context;
//! * **symbolic** ([`OcpModel::symbolic_key`]): the key (with the type, name and stage)
//!   determines the functions, so the compiled derivative program is this model's.
//!
//! [`check_hints`] evaluates every stage and terminal block at the given points twice — with the
//! hints and through [`WithoutHints`] (every derivative in full, on the tape) — and compares
//! them entry by entry; [`check_hints_random`] draws the points. A hint that is not declared is
//! not checked. The first disagreement is returned as a [`HintError::Mismatch`] saying which
//! hint, where, which block entry and both values.
//!
//! ```
//! use diffop::model::tasks::{NonlinearTask, Table1Policy};
//! use diffop::model::{check_hints_random, HintCheckSettings};
//!
//! let model = Table1Policy::new(NonlinearTask::Arm);
//! let theta = NonlinearTask::Arm.oracle_theta().unwrap();
//! let report = check_hints_random(&model, &theta, &[], &HintCheckSettings::default()).unwrap();
//! assert!(report.curvature && report.symbolic);
//! ```

use nalgebra::DMatrix;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::derivs::{Differentiator, StageBlock};
use super::{Dims, OcpModel, Scalar};

/// A model with its structure hints removed: every method forwards to the inner model except
/// the hints (no curvature set, not linear–quadratic, no symbolic key), so every derivative is
/// evaluated in full on the tape. The reference [`check_hints`] compares against; also usable
/// to solve the same problem with and without hints.
#[derive(Clone, Debug)]
pub struct WithoutHints<M>(pub M);

/// The same wrapper over a borrowed model (what [`check_hints`] uses internally).
struct Unhinted<'a, M>(&'a M);

macro_rules! forward_without_hints {
    () => {
        fn name(&self) -> &str {
            self.0.name()
        }
        fn dims(&self) -> Dims {
            self.0.dims()
        }
        fn dynamics<S: Scalar>(
            &self,
            i: usize,
            x: &[S],
            u: &[S],
            th: &[S],
            c: &[f64],
            out: &mut [S],
        ) {
            self.0.dynamics(i, x, u, th, c, out)
        }
        fn stage_cost<S: Scalar>(&self, i: usize, x: &[S], u: &[S], th: &[S], c: &[f64]) -> S {
            self.0.stage_cost(i, x, u, th, c)
        }
        fn terminal_cost<S: Scalar>(&self, x: &[S], th: &[S], c: &[f64]) -> S {
            self.0.terminal_cost(x, th, c)
        }
        fn n_path(&self, i: usize) -> usize {
            self.0.n_path(i)
        }
        fn path_constraints<S: Scalar>(
            &self,
            i: usize,
            x: &[S],
            u: &[S],
            th: &[S],
            c: &[f64],
            out: &mut [S],
        ) {
            self.0.path_constraints(i, x, u, th, c, out)
        }
        fn n_terminal(&self) -> usize {
            self.0.n_terminal()
        }
        fn terminal_constraints<S: Scalar>(&self, x: &[S], th: &[S], c: &[f64], out: &mut [S]) {
            self.0.terminal_constraints(x, th, c, out)
        }
        fn check_context(&self, ctx: &[f64]) -> Result<(), crate::model::ContextError> {
            self.0.check_context(ctx)
        }
    };
}

impl<M: OcpModel> OcpModel for WithoutHints<M> {
    forward_without_hints!();
}

impl<M: OcpModel> OcpModel for Unhinted<'_, M> {
    forward_without_hints!();
}

/// Which hint a check is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hint {
    /// [`OcpModel::stage_curvature_vars`] with [`OcpModel::stage_diagonal_vars`].
    Curvature,
    /// [`OcpModel::is_linear_quadratic`].
    LinearQuadratic,
    /// [`OcpModel::symbolic_key`].
    Symbolic,
}

impl std::fmt::Display for Hint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Hint::Curvature => "curvature",
            Hint::LinearQuadratic => "linear-quadratic",
            Hint::Symbolic => "symbolic-key",
        })
    }
}

/// Where in the horizon a block was evaluated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Location {
    /// Stage i (0 ≤ i < H).
    Stage(usize),
    /// The terminal stage.
    Terminal,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Stage(i) => write!(f, "stage {i}"),
            Location::Terminal => f.write_str("terminal stage"),
        }
    }
}

/// One disagreement between the hinted and the full evaluation.
#[derive(Clone, Debug, PartialEq)]
pub struct HintMismatch {
    /// The hint that is wrong.
    pub hint: Hint,
    /// Index of the point in the list checked.
    pub point: usize,
    /// Stage or terminal stage.
    pub location: Location,
    /// The block entry that differs, e.g. `"∇²ℓ"`, `"f_x"`, `"c"`.
    pub block: &'static str,
    /// Row of the entry.
    pub row: usize,
    /// Column of the entry (0 for vectors and scalars).
    pub col: usize,
    /// Value with the hint.
    pub hinted: f64,
    /// Value of the full evaluation (or what the linear–quadratic structure predicts).
    pub full: f64,
    /// Tolerance that was exceeded: |hinted − full| > tol · max(1, |full|).
    pub tol: f64,
}

/// Why a hint check failed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum HintError {
    /// An input vector has the wrong length.
    #[error("{what} has length {got}, expected {expected}")]
    Dimension {
        /// Which input (`"theta"`, `"ctx"`, `"points[3].x"`, …).
        what: String,
        /// Expected length.
        expected: usize,
        /// Given length.
        got: usize,
    },
    /// An input entry is NaN or infinite.
    #[error("{what} entry {index} is not finite")]
    NotFinite {
        /// Which input.
        what: String,
        /// Index of the entry.
        index: usize,
    },
    /// A point's stage index is not a stage of the horizon.
    #[error("points[{point}]: stage {stage} is not below the horizon {horizon}")]
    Stage {
        /// Index of the point.
        point: usize,
        /// Its stage index.
        stage: usize,
        /// The horizon H.
        horizon: usize,
    },
    /// A curvature hint names a variable outside z = (x, u).
    #[error("{which} lists variable {index}, but z = (x, u) has {len} entries")]
    HintIndex {
        /// `"stage_curvature_vars"` or `"stage_diagonal_vars"`.
        which: &'static str,
        /// The offending index.
        index: usize,
        /// n + m.
        len: usize,
    },
    /// A setting of [`HintCheckSettings`] is out of range.
    #[error("hint check settings: {field} = {value} ({expected})")]
    Settings {
        /// The field.
        field: &'static str,
        /// Its value.
        value: f64,
        /// What is required.
        expected: &'static str,
    },
    /// The hinted evaluation differs from the full one.
    #[error(
        "the {} hint is wrong at points[{}], {}: {}[{}, {}] is {:e} with the hint and {:e} \
         in full (tolerance {:e})",
        .0.hint, .0.point, .0.location, .0.block, .0.row, .0.col, .0.hinted, .0.full, .0.tol
    )]
    Mismatch(Box<HintMismatch>),
}

/// A point at which the hints are checked: stage `stage` at (x, u) with dynamics multipliers
/// `lam` (n) and path multipliers `mu` (`n_path(stage)`); the terminal stage is checked at x
/// with multipliers `mu_terminal` (`n_terminal()`).
#[derive(Clone, Debug, PartialEq)]
pub struct HintPoint {
    /// Stage index (0 ≤ stage < horizon).
    pub stage: usize,
    /// State (n).
    pub x: Vec<f64>,
    /// Control (m).
    pub u: Vec<f64>,
    /// Dynamics multipliers λ (n).
    pub lam: Vec<f64>,
    /// Path-inequality multipliers μ (`n_path(stage)`).
    pub mu: Vec<f64>,
    /// Terminal-inequality multipliers (`n_terminal()`).
    pub mu_terminal: Vec<f64>,
}

/// Settings of [`check_hints_random`] (and the tolerance of [`check_hints`]).
#[derive(Clone, Debug, PartialEq)]
pub struct HintCheckSettings {
    /// Number of random points.
    pub points: usize,
    /// Horizon H: stages are drawn from 0 … H−1 (stage-dependent models).
    pub horizon: usize,
    /// Seed of the point generator (ChaCha8).
    pub seed: u64,
    /// x and u are drawn uniformly from [−scale, scale], λ from [−1, 1], μ from [0, 1].
    pub scale: f64,
    /// Relative tolerance: entries must agree to tol · max(1, |full|).
    pub tol: f64,
}

impl Default for HintCheckSettings {
    fn default() -> Self {
        Self {
            points: 8,
            horizon: 2,
            seed: 0,
            scale: 1.0,
            tol: 1e-9,
        }
    }
}

/// What [`check_hints`] verified.
#[derive(Clone, Debug, PartialEq)]
pub struct HintReport {
    /// Points checked.
    pub points: usize,
    /// The curvature hint was declared and checked.
    pub curvature: bool,
    /// The linear–quadratic hint was declared and checked.
    pub linear_quadratic: bool,
    /// The symbolic key was declared and its compiled programs checked (false also when the
    /// model has a context vector: programs are then not used).
    pub symbolic: bool,
    /// Largest relative difference seen over all compared entries.
    pub max_rel_error: f64,
}

/// Check the model's declared hints at the given points (θ and the context fixed): see the
/// module documentation. `tol` is relative (entries agree to tol · max(1, |full|)); the
/// hinted and full evaluations usually agree to rounding (≈ 1e-14), so 1e-9 is a safe choice.
/// `horizon` bounds the points' stage indices.
pub fn check_hints<M: OcpModel>(
    model: &M,
    theta: &[f64],
    ctx: &[f64],
    horizon: usize,
    points: &[HintPoint],
    tol: f64,
) -> Result<HintReport, HintError> {
    check_inputs(model, theta, ctx, horizon, points)?;
    if !(tol.is_finite() && tol > 0.0) {
        return Err(HintError::Settings {
            field: "tol",
            value: tol,
            expected: "finite and > 0",
        });
    }
    let curvature = model.stage_curvature_vars().is_some();
    let lq = model.is_linear_quadratic();
    let symbolic = model.symbolic_key().is_some() && model.dims().n_ctx == 0;
    let mut ck = Checker::new(model, theta, ctx, tol);
    for (k, p) in points.iter().enumerate() {
        ck.point = k;
        if curvature {
            ck.curvature(p)?;
        }
        if symbolic {
            ck.symbolic(p)?;
        }
        if lq {
            ck.linear_quadratic(p)?;
        }
    }
    Ok(HintReport {
        points: points.len(),
        curvature,
        linear_quadratic: lq,
        symbolic,
        max_rel_error: ck.max_rel,
    })
}

/// [`check_hints`] at `settings.points` random points (reproducible from `settings.seed`).
pub fn check_hints_random<M: OcpModel>(
    model: &M,
    theta: &[f64],
    ctx: &[f64],
    settings: &HintCheckSettings,
) -> Result<HintReport, HintError> {
    if !(settings.scale.is_finite() && settings.scale > 0.0) {
        return Err(HintError::Settings {
            field: "scale",
            value: settings.scale,
            expected: "finite and > 0",
        });
    }
    if settings.horizon == 0 {
        return Err(HintError::Settings {
            field: "horizon",
            value: 0.0,
            expected: "at least 1",
        });
    }
    let Dims { n, m, .. } = model.dims();
    let mut rng = ChaCha8Rng::seed_from_u64(settings.seed);
    let s = settings.scale;
    let mut draw = |k: usize, lo: f64, hi: f64| -> Vec<f64> {
        (0..k)
            .map(|_| lo + (hi - lo) * rng.random::<f64>())
            .collect()
    };
    let points: Vec<HintPoint> = (0..settings.points)
        .map(|k| {
            let stage = k % settings.horizon;
            HintPoint {
                stage,
                x: draw(n, -s, s),
                u: draw(m, -s, s),
                lam: draw(n, -1.0, 1.0),
                mu: draw(model.n_path(stage), 0.0, 1.0),
                mu_terminal: draw(model.n_terminal(), 0.0, 1.0),
            }
        })
        .collect();
    check_hints(model, theta, ctx, settings.horizon, &points, settings.tol)
}

fn check_len(what: impl Fn() -> String, v: &[f64], expected: usize) -> Result<(), HintError> {
    if v.len() != expected {
        return Err(HintError::Dimension {
            what: what(),
            expected,
            got: v.len(),
        });
    }
    match v.iter().position(|a| !a.is_finite()) {
        Some(index) => Err(HintError::NotFinite {
            what: what(),
            index,
        }),
        None => Ok(()),
    }
}

fn check_inputs<M: OcpModel>(
    model: &M,
    theta: &[f64],
    ctx: &[f64],
    horizon: usize,
    points: &[HintPoint],
) -> Result<(), HintError> {
    let Dims { n, m, d, n_ctx } = model.dims();
    check_len(|| "theta".into(), theta, d)?;
    check_len(|| "ctx".into(), ctx, n_ctx)?;
    let hints = [
        ("stage_curvature_vars", model.stage_curvature_vars()),
        ("stage_diagonal_vars", Some(model.stage_diagonal_vars())),
    ];
    for (which, vars) in hints {
        if let Some(&index) = vars.unwrap_or(&[]).iter().find(|&&j| j >= n + m) {
            return Err(HintError::HintIndex {
                which,
                index,
                len: n + m,
            });
        }
    }
    for (k, p) in points.iter().enumerate() {
        if p.stage >= horizon {
            return Err(HintError::Stage {
                point: k,
                stage: p.stage,
                horizon,
            });
        }
        check_len(|| format!("points[{k}].x"), &p.x, n)?;
        check_len(|| format!("points[{k}].u"), &p.u, m)?;
        check_len(|| format!("points[{k}].lam"), &p.lam, n)?;
        check_len(|| format!("points[{k}].mu"), &p.mu, model.n_path(p.stage))?;
        check_len(
            || format!("points[{k}].mu_terminal"),
            &p.mu_terminal,
            model.n_terminal(),
        )?;
    }
    Ok(())
}

/// The comparisons, with the fixed θ and context and reusable differentiators.
struct Checker<'a, M> {
    model: &'a M,
    theta: &'a [f64],
    ctx: &'a [f64],
    tol: f64,
    /// Index of the point being checked (for the error).
    point: usize,
    /// Largest relative difference so far.
    max_rel: f64,
    /// Default differentiator (compiled programs for models that opt in).
    compiled: Differentiator,
    /// Tape and dual numbers only.
    tape: Differentiator,
}

impl<'a, M: OcpModel> Checker<'a, M> {
    fn new(model: &'a M, theta: &'a [f64], ctx: &'a [f64], tol: f64) -> Self {
        let mut tape = Differentiator::new();
        tape.set_symbolic(false);
        Self {
            model,
            theta,
            ctx,
            tol,
            point: 0,
            max_rel: 0.0,
            compiled: Differentiator::new(),
            tape,
        }
    }

    /// Compare `hinted` with `full` entry by entry.
    fn compare(
        &mut self,
        hint: Hint,
        location: Location,
        block: &'static str,
        hinted: &DMatrix<f64>,
        full: &DMatrix<f64>,
    ) -> Result<(), HintError> {
        for c in 0..full.ncols() {
            for r in 0..full.nrows() {
                let (a, b) = (hinted[(r, c)], full[(r, c)]);
                let rel = (a - b).abs() / b.abs().max(1.0);
                // A NaN in either value fails.
                if rel.is_nan() || rel > self.tol {
                    return Err(HintError::Mismatch(Box::new(HintMismatch {
                        hint,
                        point: self.point,
                        location,
                        block,
                        row: r,
                        col: c,
                        hinted: a,
                        full: b,
                        tol: self.tol,
                    })));
                }
                self.max_rel = self.max_rel.max(rel);
            }
        }
        Ok(())
    }

    /// Every entry of two stage blocks; `hessian = false` skips ∇²ℓ.
    fn compare_blocks(
        &mut self,
        hint: Hint,
        loc: Location,
        a: &StageBlock,
        b: &StageBlock,
        hessian: bool,
    ) -> Result<(), HintError> {
        let sc = |v: f64| DMatrix::from_element(1, 1, v);
        let col = |v: &nalgebra::DVector<f64>| DMatrix::from_column_slice(v.len(), 1, v.as_slice());
        self.compare(hint, loc, "c", &sc(a.c), &sc(b.c))?;
        self.compare(hint, loc, "f", &col(&a.f), &col(&b.f))?;
        self.compare(hint, loc, "f_x", &a.fx, &b.fx)?;
        self.compare(hint, loc, "f_u", &a.fu, &b.fu)?;
        self.compare(hint, loc, "c_x", &col(&a.cx), &col(&b.cx))?;
        self.compare(hint, loc, "c_u", &col(&a.cu), &col(&b.cu))?;
        self.compare(hint, loc, "g", &col(&a.g), &col(&b.g))?;
        self.compare(hint, loc, "g_x", &a.gx, &b.gx)?;
        self.compare(hint, loc, "g_u", &a.gu, &b.gu)?;
        if hessian {
            self.compare(hint, loc, "∇²ℓ", &a.hess, &b.hess)?;
        }
        Ok(())
    }

    /// The full (unhinted, tape) stage and terminal blocks at `p`.
    fn full(&mut self, p: &HintPoint) -> (StageBlock, StageBlock) {
        let (stage, terminal) = self.blocks(p);
        let full = Unhinted(self.model);
        let mut st = stage;
        let mut te = terminal;
        self.tape.stage(
            &full, p.stage, &p.x, &p.u, self.theta, self.ctx, &p.lam, &p.mu, &mut st,
        );
        self.tape
            .terminal(&full, &p.x, self.theta, self.ctx, &p.mu_terminal, &mut te);
        (st, te)
    }

    /// Zeroed stage and terminal blocks for `p`.
    fn blocks(&self, p: &HintPoint) -> (StageBlock, StageBlock) {
        let Dims { n, m, .. } = self.model.dims();
        (
            StageBlock::new(n, m, self.model.n_path(p.stage)),
            StageBlock::new(n, 0, self.model.n_terminal()),
        )
    }

    /// The curvature hint: the hinted tape and dual-number evaluations equal the full one.
    fn curvature(&mut self, p: &HintPoint) -> Result<(), HintError> {
        let (full, _) = self.full(p);
        let loc = Location::Stage(p.stage);
        let (mut a, _) = self.blocks(p);
        let (model, th, ctx) = (self.model, self.theta, self.ctx);
        self.tape
            .stage(model, p.stage, &p.x, &p.u, th, ctx, &p.lam, &p.mu, &mut a);
        self.compare_blocks(Hint::Curvature, loc, &a, &full, true)?;
        self.tape
            .stage_dual(model, p.stage, &p.x, &p.u, th, ctx, &p.lam, &p.mu, &mut a);
        self.compare_blocks(Hint::Curvature, loc, &a, &full, true)
    }

    /// The symbolic key: the compiled programs give the full evaluation's blocks.
    fn symbolic(&mut self, p: &HintPoint) -> Result<(), HintError> {
        let (full_s, full_t) = self.full(p);
        let (mut a, mut t) = self.blocks(p);
        let (model, th, ctx) = (self.model, self.theta, self.ctx);
        self.compiled
            .stage(model, p.stage, &p.x, &p.u, th, ctx, &p.lam, &p.mu, &mut a);
        let loc = Location::Stage(p.stage);
        self.compare_blocks(Hint::Symbolic, loc, &a, &full_s, true)?;
        self.compiled
            .terminal(model, &p.x, th, ctx, &p.mu_terminal, &mut t);
        self.compare_blocks(Hint::Symbolic, Location::Terminal, &t, &full_t, true)?;
        self.theta_contraction(p)
    }

    /// The compiled θ-contraction of the vector–Jacobian product against the tape's.
    fn theta_contraction(&mut self, p: &HintPoint) -> Result<(), HintError> {
        let Dims { n, m, d, .. } = self.model.dims();
        let full = Unhinted(self.model);
        let (model, th, ctx) = (self.model, self.theta, self.ctx);
        // A fixed direction mixing every variable (no extra random stream needed).
        let w: Vec<f64> = (0..n + m).map(|j| 1.0 - 0.37 * j as f64).collect();
        let fw: Vec<f64> = (0..n).map(|j| 0.5 + 0.21 * j as f64).collect();
        for (loc, stage) in [
            (Location::Stage(p.stage), Some(p.stage)),
            (Location::Terminal, None),
        ] {
            let (mu, q, k) = match stage {
                Some(i) => (&p.mu, self.model.n_path(i), n + m),
                None => (&p.mu_terminal, self.model.n_terminal(), n),
            };
            let gw: Vec<f64> = (0..q).map(|j| 0.3 - 0.13 * j as f64).collect();
            let (mut a, mut b) = (vec![0.0; d], vec![0.0; d]);
            let args = (&p.x, &p.u, &p.lam, mu, &w[..k], &fw, &gw);
            self.compiled.stage_theta_contract(
                model, stage, args.0, args.1, th, ctx, args.2, args.3, args.4, args.5, args.6,
                &mut a,
            );
            self.tape.stage_theta_contract(
                &full, stage, args.0, args.1, th, ctx, args.2, args.3, args.4, args.5, args.6,
                &mut b,
            );
            let (a, b) = (DMatrix::from_vec(d, 1, a), DMatrix::from_vec(d, 1, b));
            self.compare(Hint::Symbolic, loc, "∇_θ(w·∇_zℓ)", &a, &b)?;
        }
        Ok(())
    }

    /// The linear–quadratic hint: at a second point z̃ (and other multipliers) the Jacobians
    /// and the Hessian are unchanged, f and g are their first-order predictions and c its
    /// second-order one (exact for an LQ model).
    fn linear_quadratic(&mut self, p: &HintPoint) -> Result<(), HintError> {
        let (s0, t0) = self.full(p);
        let q = shifted(p);
        let (s1, t1) = self.full(&q);
        let dz: Vec<f64> =
            q.x.iter()
                .chain(&q.u)
                .zip(p.x.iter().chain(&p.u))
                .map(|(a, b)| a - b)
                .collect();
        let dx = &dz[..p.x.len()];
        self.lq_pair(Location::Stage(p.stage), &s0, &s1, &dz)?;
        self.lq_pair(Location::Terminal, &t0, &t1, dx)
    }

    /// Compare the block at z̃ = z + dz with the LQ prediction from the block at z.
    fn lq_pair(
        &mut self,
        loc: Location,
        b0: &StageBlock,
        b1: &StageBlock,
        dz: &[f64],
    ) -> Result<(), HintError> {
        let h = Hint::LinearQuadratic;
        self.compare(h, loc, "f_x", &b1.fx, &b0.fx)?;
        self.compare(h, loc, "f_u", &b1.fu, &b0.fu)?;
        self.compare(h, loc, "g_x", &b1.gx, &b0.gx)?;
        self.compare(h, loc, "g_u", &b1.gu, &b0.gu)?;
        self.compare(h, loc, "∇²ℓ", &b1.hess, &b0.hess)?;
        let n = b0.fx.ncols();
        let dz = nalgebra::DVector::from_column_slice(dz);
        let (dx, du) = (dz.rows(0, n), dz.rows(n, dz.len() - n));
        let jf = &b0.fx * dx + &b0.fu * du;
        let jg = &b0.gx * dx + &b0.gu * du;
        let grad0 = nalgebra::DVector::from_iterator(dz.len(), b0.cx.iter().chain(&b0.cu).copied());
        let grad1 = nalgebra::DVector::from_iterator(dz.len(), b1.cx.iter().chain(&b1.cu).copied());
        // ∇²ℓ equals ∇²c for an LQ model (f and g have no curvature).
        let hdz = &b0.hess * &dz;
        let c_pred = b0.c + grad0.dot(&dz) + 0.5 * dz.dot(&hdz);
        let col = |v: nalgebra::DVector<f64>| DMatrix::from_column_slice(v.len(), 1, v.as_slice());
        self.compare(h, loc, "f", &col(b1.f.clone()), &col(&b0.f + jf))?;
        self.compare(h, loc, "g", &col(b1.g.clone()), &col(&b0.g + jg))?;
        self.compare(h, loc, "∇c", &col(grad1), &col(grad0 + hdz))?;
        let sc = |v: f64| DMatrix::from_element(1, 1, v);
        self.compare(h, loc, "c", &sc(b1.c), &sc(c_pred))
    }
}

/// A second point for the linear–quadratic check: every z-entry moved by ±(0.5 + |z|/2), the
/// multipliers changed (their curvature terms must vanish for an LQ model).
fn shifted(p: &HintPoint) -> HintPoint {
    let mv = |v: &[f64]| -> Vec<f64> {
        v.iter()
            .enumerate()
            .map(|(j, &a)| a + if j % 2 == 0 { 1.0 } else { -1.0 } * (0.5 + 0.5 * a.abs()))
            .collect()
    };
    HintPoint {
        stage: p.stage,
        x: mv(&p.x),
        u: mv(&p.u),
        lam: p.lam.iter().map(|l| 0.3 - 2.0 * l).collect(),
        mu: p.mu.iter().map(|m| 0.5 + 2.0 * m).collect(),
        mu_terminal: p.mu_terminal.iter().map(|m| 0.5 + 2.0 * m).collect(),
    }
}

#[cfg(test)]
mod tests;
