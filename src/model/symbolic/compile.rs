//! Symbolic differentiation of a recorded stage and its linearisation into a [`Program`].
//!
//! From the recorded graph of c, f and g in the inputs (z, θ, λ, μ), with z = (x, u):
//!
//! 1. the partial derivatives of every node are built as nodes ([`Graph::partials`]);
//! 2. one reverse sweep builds ∇_z ℓ for ℓ = c + λᵀf + μᵀg (adjoints accumulated as nodes);
//! 3. one forward sweep per direction z_k over the whole graph (model and gradient nodes)
//!    gives column k of the Jacobians of c, f, g and of the Hessian ∇²_zz ℓ;
//! 4. the nodes the outputs need are emitted in index order (a topological order): first
//!    those of the values and Jacobians, then those only the Hessian needs, so that a
//!    first-order evaluation runs a prefix of the program.
//!
//! Constant folding and the zero identities of the graph make every structurally zero
//! derivative vanish at compile time, and hash-consing shares common subexpressions, so the
//! program computes only the non-trivial entries.

use super::graph::{Graph, Node, Op, NONE};

/// One instruction: `slot[out] = op(slot[a], slot[b]; p)` with `out` the next slot.
///
/// `kind` is 0, 1, 2 for a + b, a − b, a · b (computed without a data-dependent branch: the
/// interpreter's hot path) and 3 for every other operation (dispatched on `op`). Negation is
/// emitted as 0 − a.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Instr {
    pub(crate) kind: u8,
    pub(crate) op: Op,
    pub(crate) a: u32,
    pub(crate) b: u32,
    pub(crate) p: u64,
}

/// A straight-line program computing the stage's values and derivatives.
///
/// Slots: the inputs (z, θ, λ, μ in this order), the constants, then one slot per
/// instruction. `first` and `hess` name the slot of each output.
#[derive(Clone, Debug)]
pub(crate) struct Program {
    /// Number of input slots.
    pub(crate) n_inputs: usize,
    /// Number of dynamics outputs (n; 0 for the terminal stage).
    pub(crate) n_f: usize,
    /// Initial slot values: zeros for the inputs, then the constants.
    pub(crate) init: Vec<f64>,
    /// The instructions.
    pub(crate) code: Vec<Instr>,
    /// Instructions needed by the first-order outputs (a prefix of `code`).
    pub(crate) n_first: usize,
    /// Slots of c, ∇_z c (k), f (nf), ∂f/∂z (nf×k, row-major), g (q), ∂g/∂z (q×k).
    pub(crate) first: Vec<u32>,
    /// Slots of the lower triangle of ∇²_zz ℓ, column by column (rows j ≥ col).
    pub(crate) hess: Vec<u32>,
    /// Where the outputs go in the stage block (derived from `first` and `hess`).
    pub(crate) scatter: Scatter,
    /// Process-unique identity of this program: a stage block remembers which program last
    /// wrote its constant entries ([`crate::model::derivs::StageBlock`]'s stamp).
    pub(crate) id: u64,
    /// The generated native function of this exact program, if there is one
    /// ([`super::codegen`]); otherwise the interpreter runs `code`.
    pub(crate) native: Option<super::codegen::NativeFn>,
}

/// The recorded stage: its graph and output nodes, with the input layout.
#[derive(Debug)]
pub(crate) struct Recording {
    pub(crate) graph: Graph,
    /// Number of z variables (n + m; n for the terminal stage).
    pub(crate) k: usize,
    /// Number of parameters.
    pub(crate) d: usize,
    /// The cost node.
    pub(crate) c: u32,
    /// Dynamics output nodes (empty for the terminal stage).
    pub(crate) f: Vec<u32>,
    /// Constraint nodes.
    pub(crate) g: Vec<u32>,
}

impl Recording {
    /// The nodes and outputs (what determines the program).
    pub(crate) fn fingerprint(&self) -> (Vec<Node>, u32, Vec<u32>, Vec<u32>, usize, usize) {
        (
            self.graph.nodes.clone(),
            self.c,
            self.f.clone(),
            self.g.clone(),
            self.k,
            self.d,
        )
    }
}

/// `acc ← acc + t` on graph nodes (`NONE` is zero).
fn accumulate(g: &mut Graph, acc: &mut u32, t: u32) {
    if t == NONE || g.const_value(t) == Some(0.0) {
        return;
    }
    *acc = if *acc == NONE { t } else { g.add(*acc, t) };
}

/// Differentiate and linearise a recording.
pub(crate) fn compile(mut rec: Recording) -> Program {
    let (k, d, nf, q) = (rec.k, rec.d, rec.f.len(), rec.g.len());
    let g = &mut rec.graph;
    let z: Vec<u32> = (0..k).map(|j| g.input(j)).collect();
    let lam: Vec<u32> = (0..nf).map(|r| g.input(k + d + r)).collect();
    let mu: Vec<u32> = (0..q).map(|r| g.input(k + d + nf + r)).collect();
    for s in 0..k + d + nf + q {
        g.input(s);
    }
    // 1–2. Partials of the model's nodes, reverse sweep for ∇_z ℓ.
    let n0 = g.len();
    let mut parts: Vec<(u32, u32)> = (0..n0 as u32).map(|v| g.partials(v)).collect();
    let one = g.constant(1.0);
    let adj = lagrangian_adjoints(g, &parts, &rec.c, &rec.f, &rec.g, &lam, &mu, one);
    let grad: Vec<u32> = z.iter().map(|&zj| adj[zj as usize]).collect();
    // 3. Forward sweeps over model and gradient nodes.
    let n1 = g.len();
    for v in n0..n1 {
        let p = g.partials(v as u32);
        parts.push(p);
    }
    let zero = g.constant(0.0);
    let or_zero = |v: u32| if v == NONE { zero } else { v };
    let mut first = vec![NONE; 1 + k + nf * (1 + k) + q * (1 + k)];
    first[0] = rec.c;
    first[1 + k..1 + k + nf].copy_from_slice(&rec.f);
    let g_base = 1 + k + nf + nf * k;
    first[g_base..g_base + q].copy_from_slice(&rec.g);
    let mut hess = Vec::with_capacity(k * (k + 1) / 2);
    let mut t = vec![NONE; n1];
    for (col, &zk) in z.iter().enumerate() {
        t.fill(NONE);
        t[zk as usize] = one;
        for v in zk as usize + 1..n1 {
            let node = g.nodes[v];
            if node.op.arity() == 0 {
                continue;
            }
            let (da, db) = parts[v];
            let mut acc = NONE;
            for (arg, p) in [(node.a, da), (node.b, db)] {
                if arg != NONE && p != NONE && t[arg as usize] != NONE {
                    let term = g.mul(p, t[arg as usize]);
                    accumulate(g, &mut acc, term);
                }
            }
            t[v] = acc;
        }
        let tan = |v: u32| if v == NONE { NONE } else { t[v as usize] };
        first[1 + col] = tan(rec.c);
        for r in 0..nf {
            first[1 + k + nf + r * k + col] = tan(rec.f[r]);
        }
        for r in 0..q {
            first[g_base + q + r * k + col] = tan(rec.g[r]);
        }
        for &gj in &grad[col..] {
            hess.push(tan(gj));
        }
    }
    let first: Vec<u32> = first.into_iter().map(or_zero).collect();
    let hess: Vec<u32> = hess.into_iter().map(or_zero).collect();
    let mut p = linearise(g, k + d + nf + q, nf, first, hess);
    let order = scatter_order(&p.first, &p.hess, k, nf);
    p.scatter = Scatter::new(&order, k, nf, p.n_inputs, &p.init);
    p
}

/// Adjoints of ℓ = c + λᵀf + μᵀg over the nodes with partials in `parts` (`NONE`: zero).
#[allow(clippy::too_many_arguments)]
fn lagrangian_adjoints(
    g: &mut Graph,
    parts: &[(u32, u32)],
    c: &u32,
    f: &[u32],
    gq: &[u32],
    lam: &[u32],
    mu: &[u32],
    one: u32,
) -> Vec<u32> {
    let mut seeds = vec![(*c, one)];
    seeds.extend(f.iter().copied().zip(lam.iter().copied()));
    seeds.extend(gq.iter().copied().zip(mu.iter().copied()));
    reverse(g, parts, &seeds)
}

/// Symbolic reverse sweep: the adjoint node of every node below `parts.len()` for the output
/// Σ weight · node over `seeds` (`NONE`: structurally zero).
fn reverse(g: &mut Graph, parts: &[(u32, u32)], seeds: &[(u32, u32)]) -> Vec<u32> {
    let len = parts.len();
    let mut adj = vec![NONE; len];
    for &(node, w) in seeds {
        accumulate(g, &mut adj[node as usize], w);
    }
    for v in (0..len).rev() {
        let w = adj[v];
        if w == NONE {
            continue;
        }
        let node = g.nodes[v];
        let (da, db) = parts[v];
        for (arg, p) in [(node.a, da), (node.b, db)] {
            if arg != NONE && p != NONE {
                let t = g.mul(w, p);
                let mut acc = adj[arg as usize];
                accumulate(g, &mut acc, t);
                adj[arg as usize] = acc;
            }
        }
    }
    adj
}

/// The θ-contraction program of the vector–Jacobian product: with further inputs w (k),
/// f_w (one per f output) and g_w (one per g output) after z, θ, λ, μ, its outputs (`first`)
/// are ∇_θ S for S = w · ∇_z ℓ + f_w · f + g_w · g (see
/// [`crate::model::derivs::Differentiator::stage_theta_contract`]).
pub(crate) fn compile_contract(mut rec: Recording) -> Program {
    let (k, d, nf, q) = (rec.k, rec.d, rec.f.len(), rec.g.len());
    let g = &mut rec.graph;
    let base = k + d + nf + q;
    let inputs: Vec<u32> = (0..base + k + nf + q).map(|s| g.input(s)).collect();
    let (z, rest) = inputs.split_at(k);
    let (th, rest) = rest.split_at(d);
    let (lam, rest) = rest.split_at(nf);
    let (mu, rest) = rest.split_at(q);
    let (w, rest) = rest.split_at(k);
    let (fw, gw) = rest.split_at(nf);
    let n0 = g.len();
    let mut parts: Vec<(u32, u32)> = (0..n0 as u32).map(|v| g.partials(v)).collect();
    let one = g.constant(1.0);
    let adj = lagrangian_adjoints(g, &parts, &rec.c, &rec.f, &rec.g, lam, mu, one);
    // S = Σ w_j ∂ℓ/∂z_j + Σ fw_r f_r + Σ gw_r g_r, as one node.
    let mut sum = NONE;
    let terms: Vec<(u32, u32)> = z
        .iter()
        .map(|&zj| adj[zj as usize])
        .zip(w.iter().copied())
        .chain(rec.f.iter().copied().zip(fw.iter().copied()))
        .chain(rec.g.iter().copied().zip(gw.iter().copied()))
        .collect();
    for (a, b) in terms {
        if a != NONE {
            let t = g.mul(a, b);
            accumulate(g, &mut sum, t);
        }
    }
    let zero = g.constant(0.0);
    let first: Vec<u32> = if sum == NONE {
        vec![zero; d]
    } else {
        let n1 = g.len();
        for v in n0..n1 {
            let p = g.partials(v as u32);
            parts.push(p);
        }
        let adj2 = reverse(g, &parts, &[(sum, one)]);
        th.iter()
            .map(|&t| match adj2[t as usize] {
                NONE => zero,
                a => a,
            })
            .collect()
    };
    linearise(g, base + k + nf + q, nf, first, Vec::new())
}

/// Emit the nodes the outputs need, first-order ones first.
fn linearise(g: &Graph, n_inputs: usize, n_f: usize, first: Vec<u32>, hess: Vec<u32>) -> Program {
    let len = g.len();
    // need: 1 = first-order outputs, 2 = only the Hessian.
    let mut need = vec![0u8; len];
    for (outs, level) in [(&first, 1u8), (&hess, 2u8)] {
        for &o in outs.iter() {
            if need[o as usize] == 0 {
                need[o as usize] = level;
            }
        }
        for v in (0..len).rev() {
            if need[v] == level {
                let node = g.nodes[v];
                for arg in [node.a, node.b] {
                    if arg != NONE && need[arg as usize] == 0 {
                        need[arg as usize] = level;
                    }
                }
            }
        }
    }
    let mut slot = vec![NONE; len];
    let mut init = vec![0.0; n_inputs];
    for (v, node) in g.nodes.iter().enumerate() {
        match node.op {
            Op::Input => slot[v] = node.p as u32,
            Op::Const if need[v] != 0 => {
                slot[v] = init.len() as u32;
                init.push(f64::from_bits(node.p));
            }
            _ => {}
        }
    }
    // A zero slot for negations (0 − a).
    let zero_slot = init.len() as u32;
    init.push(0.0);
    let mut code = Vec::new();
    let mut n_first = 0;
    for level in [1u8, 2u8] {
        for (v, node) in g.nodes.iter().enumerate() {
            if need[v] != level || node.op.arity() == 0 {
                continue;
            }
            slot[v] = (init.len() + code.len()) as u32;
            let a = slot[node.a as usize];
            let b = if node.b == NONE {
                a
            } else {
                slot[node.b as usize]
            };
            let (kind, a, b) = match node.op {
                Op::Add => (0, a, b),
                Op::Sub => (1, a, b),
                Op::Mul => (2, a, b),
                Op::Neg => (1, zero_slot, a),
                _ => (3, a, b),
            };
            code.push(Instr {
                kind,
                op: node.op,
                a,
                b,
                p: node.p,
            });
        }
        if level == 1 {
            n_first = code.len();
        }
    }
    let map = |outs: Vec<u32>| {
        outs.into_iter()
            .map(|o| slot[o as usize])
            .collect::<Vec<u32>>()
    };
    let (first, hess) = (map(first), map(hess));
    Program {
        n_inputs,
        n_f,
        init,
        code,
        n_first,
        first,
        hess,
        scatter: Scatter::default(),
        id: next_program_id(),
        native: None,
    }
}

/// A fresh program identity (never 0, the stamp of a block no program wrote).
fn next_program_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The destinations of a program's outputs in a stage block, segment by segment in the
/// block's memory order: c, c_x, c_u, f, f_x, f_u, g, g_x, g_u (column-major), then the full
/// Hessian (column-major; [`Scatter::HESSIAN`]).
///
/// Outputs that are constants of the program (structural zeros of the Jacobians and Hessian,
/// the identity of A = I + dt·J, constant weights) never change: they are written once per
/// block ([`Scatter::constant`]); every evaluation writes only the [`Scatter::dynamic`] ones.
#[derive(Clone, Debug, Default)]
pub(crate) struct Scatter {
    /// Per segment: (offset in the segment, source slot) of the outputs computed at run time.
    pub(crate) dynamic: [Vec<(u32, u32)>; 10],
    /// Per segment: (offset in the segment, value) of the constant outputs.
    pub(crate) constant: [Vec<(u32, f64)>; 10],
    /// True when every constant output is finite.
    pub(crate) constants_finite: bool,
}

impl Scatter {
    /// Index of the Hessian segment.
    pub(crate) const HESSIAN: usize = 9;

    /// Split the destination-ordered slot list of [`scatter_order`] into segments, and each
    /// into constant (slots `n_inputs..init.len()`) and dynamic entries.
    fn new(order: &[u32], k: usize, nf: usize, n_inputs: usize, init: &[f64]) -> Self {
        let n = if nf > 0 { nf } else { k };
        let q = (order.len() - 1 - k - nf * (1 + k) - k * k) / (1 + k);
        let m = k - n;
        #[rustfmt::skip]
        let lens = [1, n, m, nf, nf * n, nf * m, q, q * n, q * m, k * k];
        let mut sc = Scatter::default();
        let mut o = 0;
        for (seg, &len) in lens.iter().enumerate() {
            for (off, &slot) in order[o..o + len].iter().enumerate() {
                let s = slot as usize;
                if (n_inputs..init.len()).contains(&s) {
                    sc.constant[seg].push((off as u32, init[s]));
                } else {
                    sc.dynamic[seg].push((off as u32, slot));
                }
            }
            o += len;
        }
        debug_assert_eq!(o, order.len());
        sc.constants_finite = sc.constant.iter().flatten().all(|(_, v)| v.is_finite());
        sc
    }
}

/// The destination-ordered slot list of [`Program::scatter`].
fn scatter_order(first: &[u32], hess: &[u32], k: usize, nf: usize) -> Vec<u32> {
    let q = (first.len() - 1 - k - nf * (1 + k)) / (1 + k);
    // n is k − m; the stage block splits z = (x, u) with x = the first n = nf entries
    // (stages) or all k (terminal, nf = 0).
    let n = if nf > 0 { nf } else { k };
    let mut out = Vec::with_capacity(first.len() + k * k);
    out.push(first[0]);
    out.extend_from_slice(&first[1..1 + k]);
    // Row-major (rows × k) Jacobian block at `base` → column-major x part, then u part.
    let block = |out: &mut Vec<u32>, base: usize, rows: usize| {
        for (lo, hi) in [(0, n), (n, k)] {
            for j in lo..hi {
                for r in 0..rows {
                    out.push(first[base + r * k + j]);
                }
            }
        }
    };
    let fb = 1 + k;
    if nf > 0 {
        out.extend_from_slice(&first[fb..fb + nf]);
        block(&mut out, fb + nf, nf);
    }
    let gb = fb + nf * (1 + k);
    out.extend_from_slice(&first[gb..gb + q]);
    block(&mut out, gb + q, q);
    // Full Hessian, column-major, from the lower triangle stored column by column.
    let mut offset = vec![0; k];
    for c in 1..k {
        offset[c] = offset[c - 1] + (k - (c - 1));
    }
    for c in 0..k {
        for r in 0..k {
            let (rr, cc) = if r >= c { (r, c) } else { (c, r) };
            out.push(hess[offset[cc] + (rr - cc)]);
        }
    }
    out
}
