//! Compiled derivative programs: the stage functions recorded once as an expression graph,
//! differentiated symbolically, and evaluated as a straight-line program.
//!
//! The tape ([`super::tape`]) re-records the model at every evaluation and sweeps over all n+m
//! directions, zero or not. For a model whose functions are fixed expressions of (x, u, θ)
//! (no branches on values), this module instead records the stage once in [`SVar`] scalars,
//! builds ∇_z c, ∂f/∂z, ∂g/∂z and ∇²_zz ℓ (ℓ = c + λᵀf + μᵀg) as expressions with constant
//! folding and common subexpressions shared, and keeps only the non-trivial entries as a
//! program of elementary operations (a few hundred for the 13-state tasks). Evaluating it is a
//! single pass: no recording, no zero directions. The same machinery builds the
//! vector–Jacobian product's θ-contraction (∇_θ(w · ∇_z ℓ) + f_θᵀf_w + g_θᵀg_w).
//!
//! For the built-in tasks the programs are also compiled as Rust (`native.rs`, written by
//! `cargo run --release --example gen_native`; matched to a program by a stable hash of the
//! whole program, so a native function only runs the exact program it came from). Every other
//! model runs on a small interpreter; both give bitwise identical results.
//!
//! A model opts in with [`OcpModel::symbolic_key`] (a key that
//! determines its functions, together with the stage index) and has no context (n_ctx = 0).
//! A recording that meets a comparison or another value-dependent operation is rejected and
//! the tape is used. Programs are compiled once per process and shared between workspaces:
//! stages whose recorded graphs are identical share one program.

mod codegen;
mod compile;
mod graph;
#[rustfmt::skip]
mod native;
mod svar;

pub use svar::SVar;

use super::block::StageBlock;
use super::OcpModel;
use compile::{Instr, Program, Recording, Scatter};
use graph::{apply, Node};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// Record stage `i` (or the terminal stage for `None`) of `model` with d parameters and q
/// inequalities. `Err` names the operation that prevents a fixed expression.
fn record<M: OcpModel>(
    model: &M,
    stage: Option<usize>,
    d: usize,
    q: usize,
) -> Result<Recording, &'static str> {
    let dims = model.dims();
    let n = dims.n;
    let m = if stage.is_some() { dims.m } else { 0 };
    let k = n + m;
    svar::begin();
    let x: Vec<SVar> = (0..n).map(SVar::input).collect();
    let u: Vec<SVar> = (n..k).map(SVar::input).collect();
    let th: Vec<SVar> = (k..k + d).map(SVar::input).collect();
    let zero = SVar::constant(0.0);
    let mut g = vec![zero; q];
    let (c, f) = match stage {
        Some(i) => {
            let mut f = vec![zero; n];
            model.dynamics(i, &x, &u, &th, &[], &mut f);
            model.path_constraints(i, &x, &u, &th, &[], &mut g);
            (model.stage_cost(i, &x, &u, &th, &[]), f)
        }
        None => {
            model.terminal_constraints(&x, &th, &[], &mut g);
            (model.terminal_cost(&x, &th, &[]), Vec::new())
        }
    };
    let graph = svar::end();
    if let Some(why) = graph.unsupported {
        return Err(why);
    }
    Ok(Recording {
        graph,
        k,
        d,
        c: c.i,
        f: f.iter().map(|v| v.i).collect(),
        g: g.iter().map(|v| v.i).collect(),
    })
}

/// Why a model has no compiled program.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SymbolicError {
    /// The model does not opt in ([`OcpModel::symbolic_key`] is `None`).
    #[error("the model does not opt in (symbolic_key is None)")]
    NotOptedIn,
    /// The model has a context vector (n_ctx > 0), which programs do not take.
    #[error("the model has a context vector")]
    HasContext,
    /// The recorded code depends on values.
    #[error("the model's code is not a fixed expression: it uses {0}")]
    Unsupported(&'static str),
}

/// Size of a compiled stage program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProgramStats {
    /// Instructions of the whole program.
    pub instructions: usize,
    /// Instructions needed for the values and Jacobians only (a prefix).
    pub first_order_instructions: usize,
    /// Constant slots.
    pub constants: usize,
    /// Input slots (z, θ, λ, μ).
    pub inputs: usize,
    /// The program runs as generated native code (built-in tasks), not on the interpreter.
    pub native: bool,
}

/// Compile (or fetch) the program of stage `i` (`None`: the terminal stage) of `model` and
/// report its size, or why there is none (the solver then uses the tape).
pub fn program_stats<M: OcpModel>(
    model: &M,
    stage: Option<usize>,
) -> Result<ProgramStats, SymbolicError> {
    if model.symbolic_key().is_none() {
        return Err(SymbolicError::NotOptedIn);
    }
    if model.dims().n_ctx != 0 {
        return Err(SymbolicError::HasContext);
    }
    let q = match stage {
        Some(i) => model.n_path(i),
        None => model.n_terminal(),
    };
    match program_for(model, stage, q, Kind::Stage) {
        Some(p) => Ok(ProgramStats {
            instructions: p.code.len(),
            first_order_instructions: p.n_first,
            constants: p.init.len() - p.n_inputs,
            inputs: p.n_inputs,
            native: p.native.is_some(),
        }),
        None => Err(SymbolicError::Unsupported(
            record(model, stage, model.dims().d, q)
                .err()
                .unwrap_or("an unsupported operation"),
        )),
    }
}

/// The source of `native.rs`: native functions for the stage and terminal programs of the
/// Table 1 and true-form policies of every built-in nonlinear task (what
/// `cargo run --release --example gen_native` prints).
pub fn builtin_native_source() -> String {
    use super::tasks::{NonlinearTask, Table1Policy, TrueFormPolicy};
    fn both<M: OcpModel>(model: &M, out: &mut Vec<Program>) {
        let d = model.dims().d;
        for stage in [Some(0), None] {
            let q = match stage {
                Some(i) => model.n_path(i),
                None => model.n_terminal(),
            };
            for contract in [false, true] {
                if let Ok(rec) = record(model, stage, d, q) {
                    out.push(if contract {
                        compile::compile_contract(rec)
                    } else {
                        compile::compile(rec)
                    });
                }
            }
        }
    }
    let mut programs = Vec::new();
    for task in NonlinearTask::ALL {
        both(&Table1Policy::new(task), &mut programs);
        both(&TrueFormPolicy::new(task), &mut programs);
    }
    let refs: Vec<&Program> = programs.iter().collect();
    codegen::native_source(&refs)
}

/// Process-wide program store.
#[derive(Default)]
struct Store {
    /// (model type, model name, key, stage, n, m, d, q) → program (`None`: not compilable).
    by_stage: HashMap<StageKey, Option<Arc<Program>>>,
    /// Recorded graph → program, to share one program between identical stages.
    by_graph: HashMap<Fingerprint, Arc<Program>>,
}

type StageKey = (&'static str, String, u64, Option<usize>, [usize; 4], Kind);
type Fingerprint = (Kind, (Vec<Node>, u32, Vec<u32>, Vec<u32>, usize, usize));

/// Which program of a stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Kind {
    /// Values, Jacobians and Lagrangian Hessian ([`compile::compile`]).
    Stage,
    /// The VJP's θ-contraction ([`compile::compile_contract`]).
    Contract,
}

/// A looked-up program per kind (outer `None`: not looked up yet).
type Slots = [Option<Option<Arc<Program>>>; 2];

fn store() -> &'static Mutex<Store> {
    static STORE: OnceLock<Mutex<Store>> = OnceLock::new();
    STORE.get_or_init(|| Mutex::new(Store::default()))
}

/// The program of one stage of `model`, compiled on first request (`None` when the model
/// does not opt in or its code is not a fixed expression).
fn program_for<M: OcpModel>(
    model: &M,
    stage: Option<usize>,
    q: usize,
    kind: Kind,
) -> Option<Arc<Program>> {
    let key = model.symbolic_key()?;
    let dims = model.dims();
    if dims.n_ctx != 0 {
        return None;
    }
    let m = if stage.is_some() { dims.m } else { 0 };
    let sk: StageKey = (
        std::any::type_name::<M>(),
        model.name().to_string(),
        key,
        stage,
        [dims.n, m, dims.d, q],
        kind,
    );
    let mut st = store().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = st.by_stage.get(&sk) {
        return p.clone();
    }
    let prog = match record(model, stage, dims.d, q) {
        Ok(rec) => {
            let fp = (kind, rec.fingerprint());
            match st.by_graph.get(&fp) {
                Some(p) => Some(p.clone()),
                None => {
                    let mut p = match kind {
                        Kind::Stage => compile::compile(rec),
                        Kind::Contract => compile::compile_contract(rec),
                    };
                    p.native = codegen::lookup(&p);
                    let p = Arc::new(p);
                    st.by_graph.insert(fp, p.clone());
                    Some(p)
                }
            }
        }
        Err(_) => None,
    };
    st.by_stage.insert(sk, prog.clone());
    prog
}

/// Per-differentiator table of the programs of one model, and the evaluation scratch.
#[derive(Default)]
pub(crate) struct Programs {
    /// The model the table was filled for: (type, name, key).
    owner: Option<(&'static str, String, u64)>,
    /// Stage i → looked-up programs.
    stages: Vec<Slots>,
    terminal: Slots,
    vals: Vec<f64>,
    /// The program whose constants `vals` holds (0: none).
    vals_owner: u64,
    /// Run the interpreter even where a native function exists.
    pub(crate) interpret_only: bool,
}

impl std::fmt::Debug for Programs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Programs")
            .field("stages", &self.stages.len())
            .finish()
    }
}

impl Programs {
    /// The program of stage `i` (`None`: terminal) for `model`, if it has one.
    fn get<M: OcpModel>(
        &mut self,
        model: &M,
        stage: Option<usize>,
        q: usize,
        kind: Kind,
    ) -> Option<&Program> {
        let key = model.symbolic_key()?;
        let owner = (std::any::type_name::<M>(), key);
        let same = matches!(&self.owner, Some((t, name, k)) if *t == owner.0 && *k == key && name == model.name());
        if !same {
            self.owner = Some((owner.0, model.name().to_string(), key));
            self.stages.clear();
            self.terminal = Default::default();
        }
        let slots = match stage {
            Some(i) => {
                if self.stages.len() <= i {
                    self.stages.resize(i + 1, Default::default());
                }
                &mut self.stages[i]
            }
            None => &mut self.terminal,
        };
        slots[kind as usize]
            .get_or_insert_with(|| program_for(model, stage, q, kind))
            .as_deref()
    }

    /// Evaluate stage `i` (or the terminal stage) with the compiled program into `out` (the
    /// Hessian only when `hessian`). Returns `None`, touching nothing, when the model has no
    /// program (the caller then uses the tape), else whether every entry written is finite.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn eval<M: OcpModel>(
        &mut self,
        model: &M,
        stage: Option<usize>,
        (x, u, theta): (&[f64], &[f64], &[f64]),
        lam: &[f64],
        mu: &[f64],
        hessian: bool,
        out: &mut StageBlock,
    ) -> Option<bool> {
        let q = out.g.len();
        let mut vals = std::mem::take(&mut self.vals);
        let mut owner = self.vals_owner;
        let interpret_only = self.interpret_only;
        let finite = self.get(model, stage, q, Kind::Stage).map(|prog| {
            let native = if interpret_only { None } else { prog.native };
            run(
                prog,
                native,
                (&mut vals, &mut owner),
                &[x, u, theta, lam, mu],
                hessian,
            );
            write(prog, &vals, hessian, out)
        });
        self.vals = vals;
        self.vals_owner = owner;
        finite
    }
}

impl Programs {
    /// The VJP's θ-contraction of stage `i` (or of the terminal stage) with the compiled
    /// program: `out = ∇_θ(w · ∇_z ℓ) + (∂f/∂θ)ᵀ f_w + (∂g/∂θ)ᵀ g_w` (`u`, `lam` and `fw`
    /// empty for the terminal stage). Returns `false`, touching nothing, when the model has
    /// no program.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn eval_contract<M: OcpModel>(
        &mut self,
        model: &M,
        stage: Option<usize>,
        (x, u, theta): (&[f64], &[f64], &[f64]),
        (lam, mu): (&[f64], &[f64]),
        (wz, fw, gw): (&[f64], &[f64], &[f64]),
        out: &mut [f64],
    ) -> bool {
        let q = gw.len();
        let mut vals = std::mem::take(&mut self.vals);
        let mut owner = self.vals_owner;
        let interpret_only = self.interpret_only;
        let done = match self.get(model, stage, q, Kind::Contract) {
            Some(prog) => {
                let native = if interpret_only { None } else { prog.native };
                let inputs = [x, u, theta, lam, mu, wz, fw, gw];
                run(prog, native, (&mut vals, &mut owner), &inputs, true);
                for (o, &s) in out.iter_mut().zip(&prog.first) {
                    *o = vals[s as usize];
                }
                true
            }
            None => false,
        };
        self.vals = vals;
        self.vals_owner = owner;
        done
    }
}

/// Run the program (the first-order prefix unless `hessian`) on the concatenated inputs, with
/// its native function when given, else on the interpreter.
fn run(
    prog: &Program,
    native: Option<codegen::NativeFn>,
    (vals, owner): (&mut Vec<f64>, &mut u64),
    inputs: &[&[f64]],
    hessian: bool,
) {
    let base = prog.init.len();
    let total = base + prog.code.len();
    // Instruction slots are always written before they are read: only the inputs and the
    // constants need filling, the constants only when another program (the buffer is shared
    // by the stage, terminal and contraction programs) ran last.
    if vals.len() < total {
        vals.resize(total, 0.0);
    }
    let vals = &mut vals[..total];
    if *owner != prog.id {
        vals[..base].copy_from_slice(&prog.init);
        *owner = prog.id;
    }
    let mut s = 0;
    for part in inputs {
        vals[s..s + part.len()].copy_from_slice(part);
        s += part.len();
    }
    debug_assert_eq!(s, prog.n_inputs);
    let end = if hessian {
        prog.code.len()
    } else {
        prog.n_first
    };
    // (A native function declines only a slot array of the wrong length, which `total`
    // excludes; the interpreter is the fallback all the same.)
    if !native.is_some_and(|f| f(vals, hessian)) {
        exec(&prog.code[..end], base, vals);
    }
}

/// The interpreter loop: instruction t writes slot `base + t` from earlier slots.
fn exec(code: &[Instr], base: usize, vals: &mut [f64]) {
    for (t, ins) in code.iter().enumerate() {
        let a = vals[ins.a as usize];
        let b = vals[ins.b as usize];
        vals[base + t] = if ins.kind < 3 {
            // a + b, a − b or a · b, selected by index (no data-dependent branch).
            [a + b, a - b, a * b][ins.kind as usize]
        } else {
            apply(ins.op, a, b, ins.p)
        };
    }
}

/// Copy the outputs into the stage block ([`Scatter`]): the constant entries only when the
/// block was last written by another program (or by another path), then the computed ones (the
/// Hessian's only when `hessian`). Returns true when every entry written (and every constant)
/// is finite, so the caller need not scan the block.
fn write(prog: &Program, vals: &[f64], hessian: bool, out: &mut StageBlock) -> bool {
    let refresh = out.stamp != prog.id;
    let sc = &prog.scatter;
    let mut c = [out.c];
    let segments: [&mut [f64]; 10] = [
        &mut c,
        out.cx.as_mut_slice(),
        out.cu.as_mut_slice(),
        out.f.as_mut_slice(),
        out.fx.as_mut_slice(),
        out.fu.as_mut_slice(),
        out.g.as_mut_slice(),
        out.gx.as_mut_slice(),
        out.gu.as_mut_slice(),
        out.hess.as_mut_slice(),
    ];
    let mut finite = sc.constants_finite;
    for (seg, dst) in segments.into_iter().enumerate() {
        if refresh {
            for &(o, v) in &sc.constant[seg] {
                dst[o as usize] = v;
            }
        }
        if hessian || seg != Scatter::HESSIAN {
            for &(o, s) in &sc.dynamic[seg] {
                let v = vals[s as usize];
                finite &= v.is_finite();
                dst[o as usize] = v;
            }
        }
    }
    out.c = c[0];
    out.stamp = prog.id;
    finite
}
