//! The expression graph: hash-consed nodes with constant folding and algebraic simplification.
//!
//! Nodes are created in topological order (every argument has a smaller index), so a scan in
//! index order is a valid evaluation order and a scan in reverse a valid reverse sweep. Equal
//! nodes are stored once (common subexpressions are shared), operations on constants are
//! folded with the same `f64` functions the interpreter uses, and the identities
//! x + 0 = x, x − 0 = x, 0 − x = −x, x − x = 0, 0·x = 0, 1·x = x, −1·x = −x, x/1 = x, 0/x = 0
//! and −(−x) = x drop structurally zero and trivial terms (this is what makes the compiled
//! derivative programs sparse).

use std::collections::HashMap;

/// An elementary operation. `p` of the node carries the constant's bits (`Const`), the input
/// slot (`Input`), the integer exponent (`Powi`), or the real exponent / base (`Powf`, `Log`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub(crate) enum Op {
    Const,
    Input,
    Add,
    Sub,
    Mul,
    Div,
    Neg,
    Recip,
    Sqrt,
    Cbrt,
    Exp,
    Exp2,
    ExpM1,
    Ln,
    Ln1p,
    Log,
    Sin,
    Cos,
    Tan,
    Asin,
    Acos,
    Atan,
    Atan2,
    Sinh,
    Cosh,
    Tanh,
    Asinh,
    Acosh,
    Atanh,
    Powi,
    Powf,
}

impl Op {
    /// Number of node arguments.
    pub(crate) fn arity(self) -> usize {
        match self {
            Op::Const | Op::Input => 0,
            Op::Add | Op::Sub | Op::Mul | Op::Div | Op::Atan2 => 2,
            _ => 1,
        }
    }
}

/// "No argument".
pub(crate) const NONE: u32 = u32::MAX;

/// One node v = op(a, b; p).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Node {
    pub(crate) op: Op,
    pub(crate) a: u32,
    pub(crate) b: u32,
    pub(crate) p: u64,
}

/// Evaluate one operation on values (the single definition shared by constant folding and the
/// interpreter, so that both round identically).
#[inline(always)]
pub(crate) fn apply(op: Op, a: f64, b: f64, p: u64) -> f64 {
    match op {
        Op::Const => f64::from_bits(p),
        Op::Input => a,
        Op::Add => a + b,
        Op::Sub => a - b,
        Op::Mul => a * b,
        Op::Div => a / b,
        Op::Neg => -a,
        Op::Recip => 1.0 / a,
        Op::Sqrt => a.sqrt(),
        Op::Cbrt => a.cbrt(),
        Op::Exp => a.exp(),
        Op::Exp2 => a.exp2(),
        Op::ExpM1 => a.exp_m1(),
        Op::Ln => a.ln(),
        Op::Ln1p => a.ln_1p(),
        Op::Log => a.log(f64::from_bits(p)),
        Op::Sin => a.sin(),
        Op::Cos => a.cos(),
        Op::Tan => a.tan(),
        Op::Asin => a.asin(),
        Op::Acos => a.acos(),
        Op::Atan => a.atan(),
        Op::Atan2 => a.atan2(b),
        Op::Sinh => a.sinh(),
        Op::Cosh => a.cosh(),
        Op::Tanh => a.tanh(),
        Op::Asinh => a.asinh(),
        Op::Acosh => a.acosh(),
        Op::Atanh => a.atanh(),
        Op::Powi => a.powi(p as u32 as i32),
        Op::Powf => a.powf(f64::from_bits(p)),
    }
}

/// A hash-consed expression graph.
#[derive(Debug, Default)]
pub(crate) struct Graph {
    pub(crate) nodes: Vec<Node>,
    index: HashMap<Node, u32>,
    /// Set when the recorded code did something a fixed expression cannot represent (a
    /// comparison, a value read, a non-smooth function): the recording is then unusable.
    pub(crate) unsupported: Option<&'static str>,
}

impl Graph {
    /// Empty graph.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Number of nodes.
    pub(crate) fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Mark the recording unusable (the first reason is kept).
    pub(crate) fn fail(&mut self, why: &'static str) {
        self.unsupported.get_or_insert(why);
    }

    fn intern(&mut self, node: Node) -> u32 {
        if let Some(&i) = self.index.get(&node) {
            return i;
        }
        let i = self.nodes.len() as u32;
        self.nodes.push(node);
        self.index.insert(node, i);
        i
    }

    /// The constant `v`.
    pub(crate) fn constant(&mut self, v: f64) -> u32 {
        // +0 and −0 are one node (they differ only in the sign of zero results).
        let v = if v == 0.0 { 0.0 } else { v };
        self.intern(Node {
            op: Op::Const,
            a: NONE,
            b: NONE,
            p: v.to_bits(),
        })
    }

    /// Input slot `k`.
    pub(crate) fn input(&mut self, k: usize) -> u32 {
        self.intern(Node {
            op: Op::Input,
            a: NONE,
            b: NONE,
            p: k as u64,
        })
    }

    /// The value of node `i` when it is a constant.
    pub(crate) fn const_value(&self, i: u32) -> Option<f64> {
        let n = self.nodes[i as usize];
        (n.op == Op::Const).then(|| f64::from_bits(n.p))
    }

    fn is(&self, i: u32, v: f64) -> bool {
        self.const_value(i) == Some(v)
    }

    /// op(a; p) for a one-argument operation, folded when `a` is constant.
    pub(crate) fn unary(&mut self, op: Op, a: u32, p: u64) -> u32 {
        if let Some(va) = self.const_value(a) {
            return self.constant(apply(op, va, 0.0, p));
        }
        if op == Op::Neg && self.nodes[a as usize].op == Op::Neg {
            return self.nodes[a as usize].a;
        }
        self.intern(Node { op, a, b: NONE, p })
    }

    /// op(a, b) for a two-argument operation, folded and simplified.
    pub(crate) fn binary(&mut self, op: Op, a: u32, b: u32) -> u32 {
        if let (Some(va), Some(vb)) = (self.const_value(a), self.const_value(b)) {
            return self.constant(apply(op, va, vb, 0));
        }
        match op {
            Op::Add => {
                if self.is(a, 0.0) {
                    return b;
                }
                if self.is(b, 0.0) {
                    return a;
                }
            }
            Op::Sub => {
                if self.is(b, 0.0) {
                    return a;
                }
                if self.is(a, 0.0) {
                    return self.unary(Op::Neg, b, 0);
                }
                if a == b {
                    return self.constant(0.0);
                }
            }
            Op::Mul => {
                for (c, o) in [(a, b), (b, a)] {
                    if self.is(c, 0.0) {
                        return self.constant(0.0);
                    }
                    if self.is(c, 1.0) {
                        return o;
                    }
                    if self.is(c, -1.0) {
                        return self.unary(Op::Neg, o, 0);
                    }
                }
            }
            Op::Div => {
                if self.is(b, 1.0) {
                    return a;
                }
                if self.is(a, 0.0) {
                    return self.constant(0.0);
                }
            }
            _ => {}
        }
        // Commutative operations are stored with ordered arguments (shares a·b and b·a).
        let (a, b) = if matches!(op, Op::Add | Op::Mul) && a > b {
            (b, a)
        } else {
            (a, b)
        };
        self.intern(Node { op, a, b, p: 0 })
    }

    /// a + b
    pub(crate) fn add(&mut self, a: u32, b: u32) -> u32 {
        self.binary(Op::Add, a, b)
    }

    /// a − b
    pub(crate) fn sub(&mut self, a: u32, b: u32) -> u32 {
        self.binary(Op::Sub, a, b)
    }

    /// a · b
    pub(crate) fn mul(&mut self, a: u32, b: u32) -> u32 {
        self.binary(Op::Mul, a, b)
    }

    /// a / b
    pub(crate) fn div(&mut self, a: u32, b: u32) -> u32 {
        self.binary(Op::Div, a, b)
    }

    /// −a
    pub(crate) fn neg(&mut self, a: u32) -> u32 {
        self.unary(Op::Neg, a, 0)
    }

    /// c · a for a constant c.
    pub(crate) fn scale(&mut self, c: f64, a: u32) -> u32 {
        let c = self.constant(c);
        self.mul(c, a)
    }

    /// aⁿ
    pub(crate) fn powi(&mut self, a: u32, n: i32) -> u32 {
        match n {
            0 => self.constant(1.0),
            1 => a,
            _ => self.unary(Op::Powi, a, n as u32 as u64),
        }
    }

    /// aᵖ
    pub(crate) fn powf(&mut self, a: u32, p: f64) -> u32 {
        if p == 0.0 {
            return self.constant(1.0);
        }
        if p == 1.0 {
            return a;
        }
        self.unary(Op::Powf, a, p.to_bits())
    }

    /// The partial derivatives (∂v/∂a, ∂v/∂b) of node `v` as nodes (`NONE` for a missing
    /// argument). New nodes are appended; the partials are exact expressions.
    pub(crate) fn partials(&mut self, v: u32) -> (u32, u32) {
        let Node { op, a, b, p } = self.nodes[v as usize];
        let one = |g: &mut Self| g.constant(1.0);
        match op {
            Op::Const | Op::Input => (NONE, NONE),
            Op::Add => (one(self), one(self)),
            Op::Sub => {
                let m = self.constant(-1.0);
                (one(self), m)
            }
            Op::Mul => (b, a),
            Op::Div => {
                // ∂/∂a = 1/b, ∂/∂b = −v/b.
                let r = self.unary(Op::Recip, b, 0);
                let q = self.div(v, b);
                (r, self.neg(q))
            }
            Op::Neg => (self.constant(-1.0), NONE),
            Op::Recip => {
                let s = self.mul(v, v);
                (self.neg(s), NONE)
            }
            Op::Sqrt => {
                let h = self.constant(0.5);
                (self.div(h, v), NONE)
            }
            Op::Cbrt => {
                let t = self.scale(3.0, a);
                (self.div(v, t), NONE)
            }
            Op::Exp => (v, NONE),
            Op::Exp2 => (self.scale(std::f64::consts::LN_2, v), NONE),
            Op::ExpM1 => (self.unary(Op::Exp, a, 0), NONE),
            Op::Ln => (self.unary(Op::Recip, a, 0), NONE),
            Op::Ln1p => {
                let o = one(self);
                let s = self.add(o, a);
                (self.unary(Op::Recip, s, 0), NONE)
            }
            Op::Log => {
                let l = self.scale(f64::from_bits(p).ln(), a);
                (self.unary(Op::Recip, l, 0), NONE)
            }
            Op::Sin => (self.unary(Op::Cos, a, 0), NONE),
            Op::Cos => {
                let s = self.unary(Op::Sin, a, 0);
                (self.neg(s), NONE)
            }
            Op::Tan => {
                let o = one(self);
                let s = self.mul(v, v);
                (self.add(o, s), NONE)
            }
            Op::Asin | Op::Acos => {
                // ±1/√(1 − a²)
                let o = one(self);
                let s = self.mul(a, a);
                let w = self.sub(o, s);
                let r = self.unary(Op::Sqrt, w, 0);
                let d = self.unary(Op::Recip, r, 0);
                (if op == Op::Asin { d } else { self.neg(d) }, NONE)
            }
            Op::Atan => {
                let o = one(self);
                let s = self.mul(a, a);
                let w = self.add(o, s);
                (self.unary(Op::Recip, w, 0), NONE)
            }
            Op::Atan2 => {
                // v = atan2(a, b): ∂/∂a = b/r², ∂/∂b = −a/r².
                let (aa, bb) = (self.mul(a, a), self.mul(b, b));
                let r2 = self.add(aa, bb);
                let da = self.div(b, r2);
                let q = self.div(a, r2);
                (da, self.neg(q))
            }
            Op::Sinh => (self.unary(Op::Cosh, a, 0), NONE),
            Op::Cosh => (self.unary(Op::Sinh, a, 0), NONE),
            Op::Tanh => {
                let o = one(self);
                let s = self.mul(v, v);
                (self.sub(o, s), NONE)
            }
            Op::Asinh | Op::Acosh => {
                let o = self.constant(if op == Op::Asinh { 1.0 } else { -1.0 });
                let s = self.mul(a, a);
                let w = self.add(s, o);
                let r = self.unary(Op::Sqrt, w, 0);
                (self.unary(Op::Recip, r, 0), NONE)
            }
            Op::Atanh => {
                let o = one(self);
                let s = self.mul(a, a);
                let w = self.sub(o, s);
                (self.unary(Op::Recip, w, 0), NONE)
            }
            Op::Powi => {
                let n = p as u32 as i32;
                let q = self.powi(a, n - 1);
                (self.scale(n as f64, q), NONE)
            }
            Op::Powf => {
                let e = f64::from_bits(p);
                let q = self.powf(a, e - 1.0);
                (self.scale(e, q), NONE)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_and_sharing() {
        let mut g = Graph::new();
        let x = g.input(0);
        let y = g.input(1);
        let zero = g.constant(0.0);
        let one = g.constant(1.0);
        assert_eq!(g.add(x, zero), x);
        assert_eq!(g.mul(one, y), y);
        assert_eq!(g.mul(zero, y), zero);
        assert_eq!(g.sub(x, x), zero);
        let xy = g.mul(x, y);
        assert_eq!(g.mul(y, x), xy);
        let n = g.neg(xy);
        assert_eq!(g.neg(n), xy);
        let two = g.constant(2.0);
        let three = g.constant(3.0);
        let five = g.add(two, three);
        assert_eq!(g.const_value(five), Some(5.0));
        let root = g.unary(Op::Sqrt, two, 0);
        assert_eq!(g.const_value(root), Some(2f64.sqrt()));
    }
}
