//! [`SVar`]: a scalar that records the model's code as an expression graph.
//!
//! It implements [`DualNum<f64>`](num_dual::DualNum), so every model written over
//! [`Scalar`](crate::model::Scalar) runs on it. It carries no value: anything that depends on
//! one (a comparison, `re()` of a non-constant, `abs`, `signum`, `%`, the spherical Bessel
//! functions) marks the recording unusable (see [`program_stats`](super::program_stats)) and
//! the caller falls back to the tape.

use super::graph::{Graph, Op};
use crate::model::tape::{scalar_bin_ops, scalar_common_impls};
use num_dual::{DualNum, DualStruct, Mappable};
use num_traits::{FromPrimitive, Inv, Num, One, Signed, Zero};
use std::cell::RefCell;
use std::fmt;
use std::iter::{Product, Sum};
use std::ops::{
    Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Rem, RemAssign, Sub, SubAssign,
};

thread_local! {
    static GRAPH: RefCell<Graph> = RefCell::new(Graph::new());
}

fn with_graph<R>(f: impl FnOnce(&mut Graph) -> R) -> R {
    GRAPH.with(|g| f(&mut g.borrow_mut()))
}

/// Start a recording on this thread (clears the thread's graph).
pub(crate) fn begin() {
    with_graph(|g| *g = Graph::new());
}

/// End the recording and return its graph.
pub(crate) fn end() -> Graph {
    with_graph(std::mem::take)
}

/// A node of the thread's expression graph.
#[derive(Clone, Copy, Debug)]
pub struct SVar {
    pub(crate) i: u32,
}

impl SVar {
    /// The constant `v`.
    pub(crate) fn constant(v: f64) -> Self {
        Self {
            i: with_graph(|g| g.constant(v)),
        }
    }

    /// Input slot `k`.
    pub(crate) fn input(k: usize) -> Self {
        Self {
            i: with_graph(|g| g.input(k)),
        }
    }

    fn unary(self, op: Op, p: u64) -> Self {
        Self {
            i: with_graph(|g| g.unary(op, self.i, p)),
        }
    }

    fn binary(self, op: Op, o: Self) -> Self {
        Self {
            i: with_graph(|g| g.binary(op, self.i, o.i)),
        }
    }

    fn add_(self, o: Self) -> Self {
        self.binary(Op::Add, o)
    }
    fn sub_(self, o: Self) -> Self {
        self.binary(Op::Sub, o)
    }
    fn mul_(self, o: Self) -> Self {
        self.binary(Op::Mul, o)
    }
    fn div_(self, o: Self) -> Self {
        self.binary(Op::Div, o)
    }
    fn rem_(self, _o: Self) -> Self {
        fail("the remainder operation")
    }

    /// The constant value, or `None` (and the recording is marked) for a variable node.
    fn value(&self, why: &'static str) -> Option<f64> {
        with_graph(|g| {
            let v = g.const_value(self.i);
            if v.is_none() {
                g.fail(why);
            }
            v
        })
    }
}

/// Mark the recording unusable; returns a placeholder constant.
fn fail(why: &'static str) -> SVar {
    with_graph(|g| g.fail(why));
    SVar::constant(0.0)
}

impl PartialEq for SVar {
    fn eq(&self, o: &Self) -> bool {
        match (self.value("a comparison"), o.value("a comparison")) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        }
    }
}
impl PartialEq<f64> for SVar {
    fn eq(&self, o: &f64) -> bool {
        self.value("a comparison") == Some(*o)
    }
}
impl PartialOrd for SVar {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        match (self.value("a comparison"), o.value("a comparison")) {
            (Some(a), Some(b)) => a.partial_cmp(&b),
            _ => None,
        }
    }
}
impl PartialOrd<f64> for SVar {
    fn partial_cmp(&self, o: &f64) -> Option<std::cmp::Ordering> {
        self.value("a comparison").and_then(|a| a.partial_cmp(o))
    }
}
impl fmt::Display for SVar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "node {}", self.i)
    }
}
impl From<f64> for SVar {
    fn from(v: f64) -> Self {
        Self::constant(v)
    }
}

scalar_bin_ops!(SVar, Add, add, AddAssign, add_assign, add_);
scalar_bin_ops!(SVar, Sub, sub, SubAssign, sub_assign, sub_);
scalar_bin_ops!(SVar, Mul, mul, MulAssign, mul_assign, mul_);
scalar_bin_ops!(SVar, Div, div, DivAssign, div_assign, div_);
scalar_bin_ops!(SVar, Rem, rem, RemAssign, rem_assign, rem_);
scalar_common_impls!(SVar);

impl Neg for SVar {
    type Output = SVar;
    fn neg(self) -> SVar {
        self.unary(Op::Neg, 0)
    }
}
impl Zero for SVar {
    fn zero() -> Self {
        Self::constant(0.0)
    }
    fn is_zero(&self) -> bool {
        self.value("a test for zero") == Some(0.0)
    }
}
impl Signed for SVar {
    fn abs(&self) -> Self {
        match self.value("abs") {
            Some(v) => Self::constant(v.abs()),
            None => *self,
        }
    }
    fn abs_sub(&self, o: &Self) -> Self {
        match (self.value("abs_sub"), o.value("abs_sub")) {
            (Some(a), Some(b)) => Self::constant(a.abs_sub_compat(b)),
            _ => *self,
        }
    }
    fn signum(&self) -> Self {
        Self::constant(self.value("signum").unwrap_or(0.0).signum())
    }
    fn is_positive(&self) -> bool {
        self.value("a sign test")
            .is_some_and(|v| v.is_sign_positive())
    }
    fn is_negative(&self) -> bool {
        self.value("a sign test")
            .is_some_and(|v| v.is_sign_negative())
    }
}

/// `max(a − b, 0)` (the deprecated `f64::abs_sub`).
trait AbsSubCompat {
    fn abs_sub_compat(self, o: f64) -> f64;
}
impl AbsSubCompat for f64 {
    fn abs_sub_compat(self, o: f64) -> f64 {
        if self <= o {
            0.0
        } else {
            self - o
        }
    }
}

impl DualStruct for SVar {
    type Real = f64;
    type Inner = f64;
    fn re(&self) -> f64 {
        self.value("a value read (re)").unwrap_or(0.0)
    }
    fn from_inner(inner: &f64) -> Self {
        Self::constant(*inner)
    }
}

impl DualNum for SVar {
    type Primitive = f64;
    const NDERIV: usize = 2;
    type InnerDual = f64;

    fn from_re(re: f64) -> Self {
        Self::constant(re)
    }
    fn scale(self, factor: &f64) -> Self {
        self * *factor
    }
    fn recip(&self) -> Self {
        self.unary(Op::Recip, 0)
    }
    fn powi(&self, n: i32) -> Self {
        Self {
            i: with_graph(|g| g.powi(self.i, n)),
        }
    }
    fn powf(&self, p: f64) -> Self {
        Self {
            i: with_graph(|g| g.powf(self.i, p)),
        }
    }
    fn sqrt(&self) -> Self {
        self.unary(Op::Sqrt, 0)
    }
    fn cbrt(&self) -> Self {
        self.unary(Op::Cbrt, 0)
    }
    fn exp(&self) -> Self {
        self.unary(Op::Exp, 0)
    }
    fn exp2(&self) -> Self {
        self.unary(Op::Exp2, 0)
    }
    fn exp_m1(&self) -> Self {
        self.unary(Op::ExpM1, 0)
    }
    fn ln(&self) -> Self {
        self.unary(Op::Ln, 0)
    }
    fn log(&self, base: f64) -> Self {
        self.unary(Op::Log, base.to_bits())
    }
    fn log2(&self) -> Self {
        self.log(2.0)
    }
    fn log10(&self) -> Self {
        self.log(10.0)
    }
    fn ln_1p(&self) -> Self {
        self.unary(Op::Ln1p, 0)
    }
    fn sin(&self) -> Self {
        self.unary(Op::Sin, 0)
    }
    fn cos(&self) -> Self {
        self.unary(Op::Cos, 0)
    }
    fn tan(&self) -> Self {
        self.unary(Op::Tan, 0)
    }
    fn sin_cos(&self) -> (Self, Self) {
        (self.sin(), self.cos())
    }
    fn asin(&self) -> Self {
        self.unary(Op::Asin, 0)
    }
    fn acos(&self) -> Self {
        self.unary(Op::Acos, 0)
    }
    fn atan(&self) -> Self {
        self.unary(Op::Atan, 0)
    }
    fn atan2(&self, other: Self) -> Self {
        self.binary(Op::Atan2, other)
    }
    fn sinh(&self) -> Self {
        self.unary(Op::Sinh, 0)
    }
    fn cosh(&self) -> Self {
        self.unary(Op::Cosh, 0)
    }
    fn tanh(&self) -> Self {
        self.unary(Op::Tanh, 0)
    }
    fn asinh(&self) -> Self {
        self.unary(Op::Asinh, 0)
    }
    fn acosh(&self) -> Self {
        self.unary(Op::Acosh, 0)
    }
    fn atanh(&self) -> Self {
        self.unary(Op::Atanh, 0)
    }
    fn sph_j0(&self) -> Self {
        fail("a spherical Bessel function")
    }
    fn sph_j1(&self) -> Self {
        fail("a spherical Bessel function")
    }
    fn sph_j2(&self) -> Self {
        fail("a spherical Bessel function")
    }
}
