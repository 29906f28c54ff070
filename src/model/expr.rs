//! A serialisable expression IR for problems defined outside Rust (the Python package).
//!
//! An [`ExprGraph`] is a list of nodes in topological order (every argument has a smaller
//! index): inputs x_j, u_j, θ_j, constants, and elementary operations. An [`ExprModel`] names
//! the graph's outputs — the dynamics f(x, u; θ), the stage cost c(x, u; θ), the terminal cost
//! c_H(x; θ), the path inequalities g(x, u; θ) ≤ 0 and the terminal inequalities
//! g_H(x; θ) ≤ 0 — and implements [`OcpModel`] by evaluating the graph over any
//! [`Scalar`]. Its [`OcpModel::symbolic_key`] is a stable hash of the whole IR, so the
//! solver compiles it with [`super::symbolic`] into the same straight-line derivative
//! programs as the built-in tasks (no per-call interpretation of the IR in derivatives).
//!
//! The functions are the same at every stage (time-invariant problem). Every operation is
//! smooth where defined and none depends on values, so a recording never falls back to the
//! tape.
//!
//! ```
//! use diffop::model::expr::{ExprGraph, ExprModel, Node, Unary, Binary};
//! use diffop::model::OcpModel;
//! // x⁺ = x + θ₀ u, c = x² + u², c_H = 10 x²
//! let mut g = ExprGraph::default();
//! let x = g.push(Node::X(0));
//! let u = g.push(Node::U(0));
//! let th = g.push(Node::Theta(0));
//! let tu = g.push(Node::Binary(Binary::Mul, th, u));
//! let f = g.push(Node::Binary(Binary::Add, x, tu));
//! let x2 = g.push(Node::Powi(x, 2));
//! let u2 = g.push(Node::Powi(u, 2));
//! let c = g.push(Node::Binary(Binary::Add, x2, u2));
//! let ten = g.push(Node::Const(10.0));
//! let ch = g.push(Node::Binary(Binary::Mul, ten, x2));
//! let model = ExprModel::new("integrator", 1, 1, 1, g, vec![f], c, ch, vec![], vec![]).unwrap();
//! assert_eq!(model.dims().d, 1);
//! let mut out = [0.0];
//! model.dynamics(0, &[1.0], &[2.0], &[0.5], &[], &mut out);
//! assert_eq!(out[0], 2.0);
//! # let _ = Unary::Sin;
//! ```

use super::{cst, Dims, OcpModel, Scalar};
use serde::{Deserialize, Serialize};

/// A one-argument operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unary {
    /// −a
    Neg,
    /// 1/a
    Recip,
    /// √a
    Sqrt,
    /// ∛a
    Cbrt,
    /// eᵃ
    Exp,
    /// eᵃ − 1
    Expm1,
    /// ln a
    Log,
    /// ln(1 + a)
    Log1p,
    /// sin a
    Sin,
    /// cos a
    Cos,
    /// tan a
    Tan,
    /// asin a
    Asin,
    /// acos a
    Acos,
    /// atan a
    Atan,
    /// sinh a
    Sinh,
    /// cosh a
    Cosh,
    /// tanh a
    Tanh,
    /// asinh a
    Asinh,
    /// acosh a
    Acosh,
    /// atanh a
    Atanh,
}

/// A two-argument operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Binary {
    /// a + b
    Add,
    /// a − b
    Sub,
    /// a · b
    Mul,
    /// a / b
    Div,
    /// atan2(a, b)
    Atan2,
    /// aᵇ = exp(b ln a) (both variable)
    Pow,
}

/// One node of the graph. Arguments are indices of earlier nodes.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Node {
    /// State entry x_j.
    X(u32),
    /// Control entry u_j.
    U(u32),
    /// Parameter entry θ_j.
    Theta(u32),
    /// A finite constant.
    Const(f64),
    /// op(a).
    Unary(Unary, u32),
    /// op(a, b).
    Binary(Binary, u32, u32),
    /// aⁿ for an integer n.
    Powi(u32, i32),
    /// aᵖ for a constant real p.
    Powf(u32, f64),
}

/// Nodes in topological order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ExprGraph {
    /// The nodes; node k's arguments are < k.
    pub nodes: Vec<Node>,
}

impl ExprGraph {
    /// Append a node and return its index.
    pub fn push(&mut self, node: Node) -> u32 {
        self.nodes.push(node);
        (self.nodes.len() - 1) as u32
    }
}

/// Why an IR is not a valid problem.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ExprError {
    /// A node refers to itself or a later node, or an output to a missing node.
    #[error("node {node}: argument {arg} is not an earlier node")]
    Order {
        /// The node (or output) index.
        node: usize,
        /// The bad argument.
        arg: u32,
    },
    /// An input index is out of range.
    #[error("node {node}: {what}[{index}] is out of range (dimension {dim})")]
    Input {
        /// The node index.
        node: usize,
        /// "x", "u" or "theta".
        what: &'static str,
        /// The index used.
        index: u32,
        /// The dimension.
        dim: usize,
    },
    /// A constant or exponent is not finite.
    #[error("node {0}: constant is not finite")]
    NonFinite(usize),
    /// A terminal function (terminal cost or terminal inequality) depends on the control.
    #[error("the {0} depends on the control u (terminal functions take x and θ only)")]
    TerminalUsesControl(&'static str),
    /// Wrong number of dynamics outputs, or zero state dimension.
    #[error("{0}")]
    Shape(String),
}

/// A problem given by an [`ExprGraph`] and its outputs (module docs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExprModel {
    name: String,
    n: usize,
    m: usize,
    d: usize,
    graph: ExprGraph,
    dynamics: Vec<u32>,
    stage_cost: u32,
    terminal_cost: u32,
    path: Vec<u32>,
    terminal: Vec<u32>,
    #[serde(skip)]
    key: u64,
}

impl ExprModel {
    /// Build and validate a model: n states, m controls, d parameters; `dynamics` has n
    /// outputs; the terminal cost and the terminal inequalities must not depend on u.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        name: &str,
        n: usize,
        m: usize,
        d: usize,
        graph: ExprGraph,
        dynamics: Vec<u32>,
        stage_cost: u32,
        terminal_cost: u32,
        path: Vec<u32>,
        terminal: Vec<u32>,
    ) -> Result<Self, ExprError> {
        let mut model = Self {
            name: name.to_string(),
            n,
            m,
            d,
            graph,
            dynamics,
            stage_cost,
            terminal_cost,
            path,
            terminal,
            key: 0,
        };
        model.validate()?;
        model.key = model.stable_hash();
        Ok(model)
    }

    /// Re-validate a deserialised model and restore its key.
    pub fn restored(self) -> Result<Self, ExprError> {
        let Self {
            name,
            n,
            m,
            d,
            graph,
            dynamics,
            stage_cost,
            terminal_cost,
            path,
            terminal,
            ..
        } = self;
        Self::new(
            &name,
            n,
            m,
            d,
            graph,
            dynamics,
            stage_cost,
            terminal_cost,
            path,
            terminal,
        )
    }

    /// The graph.
    pub fn graph(&self) -> &ExprGraph {
        &self.graph
    }

    fn validate(&self) -> Result<(), ExprError> {
        if self.n == 0 || self.m == 0 {
            return Err(ExprError::Shape(format!(
                "the state and control dimensions must be ≥ 1 (n = {}, m = {})",
                self.n, self.m
            )));
        }
        if self.dynamics.len() != self.n {
            return Err(ExprError::Shape(format!(
                "the dynamics has {} outputs, expected n = {}",
                self.dynamics.len(),
                self.n
            )));
        }
        let len = self.graph.nodes.len();
        for (k, node) in self.graph.nodes.iter().enumerate() {
            let before = |a: u32| {
                if (a as usize) < k {
                    Ok(())
                } else {
                    Err(ExprError::Order { node: k, arg: a })
                }
            };
            let input = |what, index: u32, dim: usize| {
                if (index as usize) < dim {
                    Ok(())
                } else {
                    Err(ExprError::Input {
                        node: k,
                        what,
                        index,
                        dim,
                    })
                }
            };
            match *node {
                Node::X(j) => input("x", j, self.n)?,
                Node::U(j) => input("u", j, self.m)?,
                Node::Theta(j) => input("theta", j, self.d)?,
                Node::Const(v) => {
                    if !v.is_finite() {
                        return Err(ExprError::NonFinite(k));
                    }
                }
                Node::Unary(_, a) | Node::Powi(a, _) => before(a)?,
                Node::Powf(a, p) => {
                    before(a)?;
                    if !p.is_finite() {
                        return Err(ExprError::NonFinite(k));
                    }
                }
                Node::Binary(_, a, b) => {
                    before(a)?;
                    before(b)?;
                }
            }
        }
        let outputs = self
            .dynamics
            .iter()
            .chain(&self.path)
            .chain(&self.terminal)
            .chain([&self.stage_cost, &self.terminal_cost]);
        for &o in outputs {
            if o as usize >= len {
                return Err(ExprError::Order { node: len, arg: o });
            }
        }
        let uses_u = self.uses_control();
        if uses_u[self.terminal_cost as usize] {
            return Err(ExprError::TerminalUsesControl("terminal cost"));
        }
        if self.terminal.iter().any(|&o| uses_u[o as usize]) {
            return Err(ExprError::TerminalUsesControl("terminal inequality"));
        }
        Ok(())
    }

    /// Per node: does it depend on u?
    fn uses_control(&self) -> Vec<bool> {
        let mut uses = vec![false; self.graph.nodes.len()];
        for (k, node) in self.graph.nodes.iter().enumerate() {
            uses[k] = match *node {
                Node::U(_) => true,
                Node::X(_) | Node::Theta(_) | Node::Const(_) => false,
                Node::Unary(_, a) | Node::Powi(a, _) | Node::Powf(a, _) => uses[a as usize],
                Node::Binary(_, a, b) => uses[a as usize] || uses[b as usize],
            };
        }
        uses
    }

    /// FNV-1a over the canonical JSON of the IR: equal IRs give equal keys in every process.
    fn stable_hash(&self) -> u64 {
        let text = serde_json::to_string(self).unwrap_or_default();
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in text.bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h
    }

    /// Evaluate every node (u empty for the terminal stage, whose functions never read it).
    fn eval<S: Scalar>(&self, x: &[S], u: &[S], th: &[S]) -> Vec<S> {
        let mut v: Vec<S> = Vec::with_capacity(self.graph.nodes.len());
        for node in &self.graph.nodes {
            let val = match *node {
                Node::X(j) => x[j as usize],
                Node::U(j) => u.get(j as usize).copied().unwrap_or_else(|| cst(0.0)),
                Node::Theta(j) => th[j as usize],
                Node::Const(c) => cst(c),
                Node::Unary(op, a) => unary(op, v[a as usize]),
                Node::Binary(op, a, b) => binary(op, v[a as usize], v[b as usize]),
                Node::Powi(a, p) => v[a as usize].powi(p),
                Node::Powf(a, p) => v[a as usize].powf(p),
            };
            v.push(val);
        }
        v
    }
}

fn unary<S: Scalar>(op: Unary, a: S) -> S {
    match op {
        Unary::Neg => -a,
        Unary::Recip => a.recip(),
        Unary::Sqrt => a.sqrt(),
        Unary::Cbrt => a.cbrt(),
        Unary::Exp => a.exp(),
        Unary::Expm1 => a.exp_m1(),
        Unary::Log => a.ln(),
        Unary::Log1p => a.ln_1p(),
        Unary::Sin => a.sin(),
        Unary::Cos => a.cos(),
        Unary::Tan => a.tan(),
        Unary::Asin => a.asin(),
        Unary::Acos => a.acos(),
        Unary::Atan => a.atan(),
        Unary::Sinh => a.sinh(),
        Unary::Cosh => a.cosh(),
        Unary::Tanh => a.tanh(),
        Unary::Asinh => a.asinh(),
        Unary::Acosh => a.acosh(),
        Unary::Atanh => a.atanh(),
    }
}

fn binary<S: Scalar>(op: Binary, a: S, b: S) -> S {
    match op {
        Binary::Add => a + b,
        Binary::Sub => a - b,
        Binary::Mul => a * b,
        Binary::Div => a / b,
        Binary::Atan2 => a.atan2(b),
        Binary::Pow => (b * a.ln()).exp(),
    }
}

impl OcpModel for ExprModel {
    fn name(&self) -> &str {
        &self.name
    }

    fn dims(&self) -> Dims {
        Dims {
            n: self.n,
            m: self.m,
            d: self.d,
            n_ctx: 0,
        }
    }

    fn dynamics<S: Scalar>(
        &self,
        _i: usize,
        x: &[S],
        u: &[S],
        th: &[S],
        _c: &[f64],
        out: &mut [S],
    ) {
        let v = self.eval(x, u, th);
        for (o, &k) in out.iter_mut().zip(&self.dynamics) {
            *o = v[k as usize];
        }
    }

    fn stage_cost<S: Scalar>(&self, _i: usize, x: &[S], u: &[S], th: &[S], _c: &[f64]) -> S {
        self.eval(x, u, th)[self.stage_cost as usize]
    }

    fn terminal_cost<S: Scalar>(&self, x: &[S], th: &[S], _c: &[f64]) -> S {
        self.eval(x, &[], th)[self.terminal_cost as usize]
    }

    fn n_path(&self, _i: usize) -> usize {
        self.path.len()
    }

    fn path_constraints<S: Scalar>(
        &self,
        _i: usize,
        x: &[S],
        u: &[S],
        th: &[S],
        _c: &[f64],
        out: &mut [S],
    ) {
        let v = self.eval(x, u, th);
        for (o, &k) in out.iter_mut().zip(&self.path) {
            *o = v[k as usize];
        }
    }

    fn n_terminal(&self) -> usize {
        self.terminal.len()
    }

    fn terminal_constraints<S: Scalar>(&self, x: &[S], th: &[S], _c: &[f64], out: &mut [S]) {
        let v = self.eval(x, &[], th);
        for (o, &k) in out.iter_mut().zip(&self.terminal) {
            *o = v[k as usize];
        }
    }

    /// The IR determines the functions completely: a stable hash of it.
    fn symbolic_key(&self) -> Option<u64> {
        Some(self.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tasks::{NonlinearTask, Table1Policy};
    use crate::solver::{SolverSettings, WarmStart, Workspace};

    /// The double integrator with a box on u written as IR.
    fn integrator(bound: f64) -> ExprModel {
        let mut g = ExprGraph::default();
        let (p, v, u, th) = (
            g.push(Node::X(0)),
            g.push(Node::X(1)),
            g.push(Node::U(0)),
            g.push(Node::Theta(0)),
        );
        let dt = g.push(Node::Const(0.1));
        let dv = g.push(Node::Binary(Binary::Mul, dt, v));
        let f0 = g.push(Node::Binary(Binary::Add, p, dv));
        let du = g.push(Node::Binary(Binary::Mul, dt, u));
        let f1 = g.push(Node::Binary(Binary::Add, v, du));
        let p2 = g.push(Node::Powi(p, 2));
        let wp = g.push(Node::Binary(Binary::Mul, th, p2));
        let u2 = g.push(Node::Powi(u, 2));
        let c = g.push(Node::Binary(Binary::Add, wp, u2));
        let b = g.push(Node::Const(bound));
        let g0 = g.push(Node::Binary(Binary::Sub, u, b));
        let nu = g.push(Node::Unary(Unary::Neg, u));
        let g1 = g.push(Node::Binary(Binary::Sub, nu, b));
        ExprModel::new("int", 2, 1, 1, g, vec![f0, f1], c, wp, vec![g0, g1], vec![]).unwrap()
    }

    #[test]
    fn validation_rejects_bad_ir() {
        let mut g = ExprGraph::default();
        g.push(Node::Binary(Binary::Add, 0, 0));
        let e = ExprModel::new("bad", 1, 1, 0, g, vec![0], 0, 0, vec![], vec![]);
        assert!(matches!(e, Err(ExprError::Order { .. })));
        let mut g = ExprGraph::default();
        let x = g.push(Node::X(0));
        let u = g.push(Node::U(0));
        let e = ExprModel::new("bad", 1, 1, 0, g.clone(), vec![x], x, u, vec![], vec![]);
        assert!(matches!(e, Err(ExprError::TerminalUsesControl(_))));
        let e = ExprModel::new("bad", 1, 1, 0, g.clone(), vec![x, x], x, x, vec![], vec![]);
        assert!(matches!(e, Err(ExprError::Shape(_))));
        g.push(Node::Theta(3));
        let e = ExprModel::new("bad", 1, 1, 1, g, vec![x], x, x, vec![], vec![]);
        assert!(matches!(e, Err(ExprError::Input { .. })));
    }

    #[test]
    fn serde_round_trip_keeps_key() {
        let m = integrator(0.5);
        let text = serde_json::to_string(&m).unwrap();
        let back: ExprModel = serde_json::from_str(&text).unwrap();
        let back = back.restored().unwrap();
        assert_eq!(back, m);
        assert_eq!(back.symbolic_key(), m.symbolic_key());
        assert_ne!(integrator(0.6).symbolic_key(), m.symbolic_key());
    }

    #[test]
    fn compiles_and_solves_with_active_bounds() {
        let m = integrator(0.5);
        let stats = crate::model::symbolic::program_stats(&m, Some(0)).unwrap();
        assert!(stats.instructions > 0);
        let mut ws = Workspace::new(&m, 10, SolverSettings::default()).unwrap();
        let sol = ws
            .solve(&m, &[3.0, 0.0], &[2.0], &[], WarmStart::Cold)
            .unwrap();
        assert!(sol.status.is_polished());
        assert!(sol.n_active() > 0);
        assert!((sol.u[0][0] + 0.5).abs() < 1e-9);
    }

    /// The Table-1 cart-pole stage cost written as IR equals the built-in's bit for bit (the
    /// whole Python-defined cart-pole is compared in the Python tests).
    #[test]
    fn cartpole_stage_cost_ir_matches_builtin() {
        let task = NonlinearTask::Cartpole;
        let builtin = Table1Policy::new(task);
        let th = task.oracle_theta().unwrap();
        let (x, u) = ([0.3, -0.2, 0.5, 0.1], [1.5]);
        let mut g = ExprGraph::default();
        let xs: Vec<u32> = (0..4).map(|j| g.push(Node::X(j))).collect();
        let us = g.push(Node::U(0));
        let mut c = g.push(Node::Const(0.0));
        for j in 0..4 {
            let t = g.push(Node::Theta(j as u32));
            let goal = g.push(Node::Const(task.goal()[j]));
            let e = g.push(Node::Binary(Binary::Sub, xs[j], goal));
            let w = g.push(Node::Binary(Binary::Mul, t, e));
            let w2 = g.push(Node::Binary(Binary::Mul, w, w));
            c = g.push(Node::Binary(Binary::Add, c, w2));
        }
        let u2 = g.push(Node::Binary(Binary::Mul, us, us));
        c = g.push(Node::Binary(Binary::Add, c, u2));
        let m = ExprModel::new(
            "cp",
            4,
            1,
            th.len(),
            g,
            xs.clone(),
            c,
            xs[0],
            vec![],
            vec![],
        );
        let m = m.unwrap();
        let a = m.stage_cost(0, &x, &u, &th, &[]);
        let b = builtin.stage_cost(0, &x, &u, &th, &[]);
        assert_eq!(a, b);
    }
}
