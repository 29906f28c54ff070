//! A small tape-based automatic-differentiation scalar ([`AVar`]) and the sweeps over its tape
//! ([`Tape`]).
//!
//! Evaluating the generic model code in [`AVar`] records every elementary operation on a
//! thread-local tape: the indices of its (at most two) arguments with the first and second
//! partial derivatives of the operation at the evaluated point. Operations on constants are
//! folded and not recorded. From one recording, [`Tape`] computes
//!
//! * Jacobians of any outputs in any set of seeded input directions (forward vector sweep),
//! * gradients of weighted sums of outputs (reverse sweep, several weight rows at once),
//! * the Hessian of a weighted sum of outputs contracted with the seeded directions
//!   (forward-over-reverse: one reverse sweep that carries the adjoint and its tangent).
//!
//! Every derivative is exact (the chain rule applied to exact elementary derivatives); only
//! the order of the floating-point operations differs from the dual-number evaluation. The cost
//! of a Hessian over k directions is O(k · tape length), against O(k² · tape length) for
//! second-order vector duals.

use num_dual::{DualNum, DualStruct, Mappable};
use num_traits::{FromPrimitive, Inv, Num, One, Signed, Zero};
use std::cell::RefCell;
use std::fmt;
use std::iter::{Product, Sum};
use std::ops::{
    Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Rem, RemAssign, Sub, SubAssign,
};

/// Index of "no node": the scalar is a constant.
const CONST: u32 = u32::MAX;

/// One recorded operation v = φ(a, b) with its first and second partial derivatives.
/// A leaf (input) has `a == b == CONST`; a unary operation has `b == CONST`.
#[derive(Clone, Copy, Debug)]
struct Node {
    a: u32,
    b: u32,
    da: f64,
    db: f64,
    haa: f64,
    hab: f64,
    hbb: f64,
}

thread_local! {
    static TAPE: RefCell<Vec<Node>> = const { RefCell::new(Vec::new()) };
}

#[inline(always)]
fn push(node: Node) -> u32 {
    TAPE.with(|t| {
        let mut t = t.borrow_mut();
        let i = t.len();
        t.push(node);
        i as u32
    })
}

/// A real number recorded on the thread's tape (or a constant, which is not recorded).
///
/// Implements [`DualNum<f64>`](num_dual::DualNum), so every model written over
/// [`Scalar`](crate::model::Scalar) runs on it. Only meaningful between [`Tape::begin`] and
/// [`Tape::end`] on the same thread.
#[derive(Clone, Copy, Debug)]
pub struct AVar {
    v: f64,
    i: u32,
}

impl AVar {
    /// A constant (not recorded).
    #[inline(always)]
    pub const fn constant(v: f64) -> Self {
        Self { v, i: CONST }
    }

    /// The value.
    #[inline(always)]
    pub fn value(&self) -> f64 {
        self.v
    }

    /// True when the scalar is a constant (depends on no input).
    #[inline(always)]
    pub fn is_constant(&self) -> bool {
        self.i == CONST
    }

    #[inline(always)]
    fn unary(self, v: f64, d: f64, h: f64) -> Self {
        if self.i == CONST {
            return Self::constant(v);
        }
        let i = push(Node {
            a: self.i,
            b: CONST,
            da: d,
            db: 0.0,
            haa: h,
            hab: 0.0,
            hbb: 0.0,
        });
        Self { v, i }
    }

    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn binary(self, o: Self, v: f64, da: f64, db: f64, haa: f64, hab: f64, hbb: f64) -> Self {
        match (self.i == CONST, o.i == CONST) {
            (true, true) => Self::constant(v),
            (false, true) => self.unary(v, da, haa),
            (true, false) => o.unary(v, db, hbb),
            (false, false) => {
                let i = push(Node {
                    a: self.i,
                    b: o.i,
                    da,
                    db,
                    haa,
                    hab,
                    hbb,
                });
                Self { v, i }
            }
        }
    }

    #[inline(always)]
    fn add_(self, o: Self) -> Self {
        self.binary(o, self.v + o.v, 1.0, 1.0, 0.0, 0.0, 0.0)
    }
    #[inline(always)]
    fn sub_(self, o: Self) -> Self {
        self.binary(o, self.v - o.v, 1.0, -1.0, 0.0, 0.0, 0.0)
    }
    #[inline(always)]
    fn mul_(self, o: Self) -> Self {
        self.binary(o, self.v * o.v, o.v, self.v, 0.0, 1.0, 0.0)
    }
    #[inline(always)]
    fn div_(self, o: Self) -> Self {
        let r = 1.0 / o.v;
        let v = self.v * r;
        self.binary(o, v, r, -v * r, 0.0, -r * r, 2.0 * v * r * r)
    }
    #[inline(always)]
    fn rem_(self, o: Self) -> Self {
        let q = (self.v / o.v).trunc();
        self.binary(o, self.v % o.v, 1.0, -q, 0.0, 0.0, 0.0)
    }
}

impl PartialEq for AVar {
    fn eq(&self, o: &Self) -> bool {
        self.v == o.v
    }
}
impl PartialEq<f64> for AVar {
    fn eq(&self, o: &f64) -> bool {
        self.v == *o
    }
}
impl PartialOrd for AVar {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        self.v.partial_cmp(&o.v)
    }
}
impl PartialOrd<f64> for AVar {
    fn partial_cmp(&self, o: &f64) -> Option<std::cmp::Ordering> {
        self.v.partial_cmp(o)
    }
}
impl fmt::Display for AVar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.v)
    }
}
impl From<f64> for AVar {
    #[inline(always)]
    fn from(v: f64) -> Self {
        Self::constant(v)
    }
}

macro_rules! bin_ops {
    ($Tr:ident, $m:ident, $TrA:ident, $ma:ident, $f:ident) => {
        impl $Tr for AVar {
            type Output = AVar;
            #[inline(always)]
            fn $m(self, o: AVar) -> AVar {
                self.$f(o)
            }
        }
        impl<'r> $Tr<&'r AVar> for AVar {
            type Output = AVar;
            #[inline(always)]
            fn $m(self, o: &AVar) -> AVar {
                self.$f(*o)
            }
        }
        impl $Tr<f64> for AVar {
            type Output = AVar;
            #[inline(always)]
            fn $m(self, o: f64) -> AVar {
                self.$f(AVar::constant(o))
            }
        }
        impl $TrA for AVar {
            #[inline(always)]
            fn $ma(&mut self, o: AVar) {
                *self = self.$f(o);
            }
        }
        impl $TrA<f64> for AVar {
            #[inline(always)]
            fn $ma(&mut self, o: f64) {
                *self = self.$f(AVar::constant(o));
            }
        }
    };
}
bin_ops!(Add, add, AddAssign, add_assign, add_);
bin_ops!(Sub, sub, SubAssign, sub_assign, sub_);
bin_ops!(Mul, mul, MulAssign, mul_assign, mul_);
bin_ops!(Div, div, DivAssign, div_assign, div_);
bin_ops!(Rem, rem, RemAssign, rem_assign, rem_);

impl Neg for AVar {
    type Output = AVar;
    #[inline(always)]
    fn neg(self) -> AVar {
        self.unary(-self.v, -1.0, 0.0)
    }
}
impl Inv for AVar {
    type Output = AVar;
    fn inv(self) -> AVar {
        DualNum::recip(&self)
    }
}
impl Zero for AVar {
    fn zero() -> Self {
        Self::constant(0.0)
    }
    fn is_zero(&self) -> bool {
        self.v == 0.0
    }
}
impl One for AVar {
    fn one() -> Self {
        Self::constant(1.0)
    }
}
impl Num for AVar {
    type FromStrRadixErr = <f64 as Num>::FromStrRadixErr;
    fn from_str_radix(s: &str, radix: u32) -> Result<Self, Self::FromStrRadixErr> {
        f64::from_str_radix(s, radix).map(Self::constant)
    }
}
impl Signed for AVar {
    fn abs(&self) -> Self {
        if self.v.is_sign_negative() {
            -*self
        } else {
            *self
        }
    }
    fn abs_sub(&self, o: &Self) -> Self {
        if self.v <= o.v {
            Self::constant(0.0)
        } else {
            *self - *o
        }
    }
    fn signum(&self) -> Self {
        Self::constant(self.v.signum())
    }
    fn is_positive(&self) -> bool {
        self.v.is_sign_positive()
    }
    fn is_negative(&self) -> bool {
        self.v.is_sign_negative()
    }
}
impl FromPrimitive for AVar {
    fn from_i64(n: i64) -> Option<Self> {
        Some(Self::constant(n as f64))
    }
    fn from_u64(n: u64) -> Option<Self> {
        Some(Self::constant(n as f64))
    }
    fn from_f64(n: f64) -> Option<Self> {
        Some(Self::constant(n))
    }
}
impl Sum for AVar {
    fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
        iter.fold(Self::constant(0.0), |a, b| a + b)
    }
}
impl<'a> Sum<&'a AVar> for AVar {
    fn sum<I: Iterator<Item = &'a AVar>>(iter: I) -> Self {
        iter.fold(Self::constant(0.0), |a, b| a + *b)
    }
}
impl Product for AVar {
    fn product<I: Iterator<Item = Self>>(iter: I) -> Self {
        iter.fold(Self::constant(1.0), |a, b| a * b)
    }
}
impl<'a> Product<&'a AVar> for AVar {
    fn product<I: Iterator<Item = &'a AVar>>(iter: I) -> Self {
        iter.fold(Self::constant(1.0), |a, b| a * *b)
    }
}
impl DualStruct for AVar {
    type Real = f64;
    type Inner = f64;
    fn re(&self) -> f64 {
        self.v
    }
    fn from_inner(inner: &f64) -> Self {
        Self::constant(*inner)
    }
}
impl Mappable<AVar> for AVar {
    type Output<O> = O;
    fn map_dual<G: Fn(AVar) -> O, O>(self, g: G) -> O {
        g(self)
    }
}

impl DualNum for AVar {
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
        let r = 1.0 / self.v;
        self.unary(r, -r * r, 2.0 * r * r * r)
    }
    fn powi(&self, n: i32) -> Self {
        match n {
            0 => Self::constant(1.0),
            1 => *self,
            _ => {
                let x = self.v;
                let nf = n as f64;
                self.unary(
                    x.powi(n),
                    nf * x.powi(n - 1),
                    nf * (nf - 1.0) * x.powi(n - 2),
                )
            }
        }
    }
    fn powf(&self, p: f64) -> Self {
        if p == 0.0 {
            return Self::constant(1.0);
        }
        if p == 1.0 {
            return *self;
        }
        let x = self.v;
        self.unary(
            x.powf(p),
            p * x.powf(p - 1.0),
            p * (p - 1.0) * x.powf(p - 2.0),
        )
    }
    fn sqrt(&self) -> Self {
        let s = self.v.sqrt();
        let d = 0.5 / s;
        self.unary(s, d, -0.5 * d / self.v)
    }
    fn cbrt(&self) -> Self {
        let c = self.v.cbrt();
        let d = c / (3.0 * self.v);
        self.unary(c, d, -2.0 * d / (3.0 * self.v))
    }
    fn exp(&self) -> Self {
        let e = self.v.exp();
        self.unary(e, e, e)
    }
    fn exp2(&self) -> Self {
        let e = self.v.exp2();
        let l = std::f64::consts::LN_2;
        self.unary(e, e * l, e * l * l)
    }
    fn exp_m1(&self) -> Self {
        let e = self.v.exp();
        self.unary(self.v.exp_m1(), e, e)
    }
    fn ln(&self) -> Self {
        let r = 1.0 / self.v;
        self.unary(self.v.ln(), r, -r * r)
    }
    fn log(&self, base: f64) -> Self {
        let r = 1.0 / (self.v * base.ln());
        self.unary(self.v.log(base), r, -r / self.v)
    }
    fn log2(&self) -> Self {
        self.log(2.0)
    }
    fn log10(&self) -> Self {
        self.log(10.0)
    }
    fn ln_1p(&self) -> Self {
        let r = 1.0 / (1.0 + self.v);
        self.unary(self.v.ln_1p(), r, -r * r)
    }
    fn sin(&self) -> Self {
        let (s, c) = self.v.sin_cos();
        self.unary(s, c, -s)
    }
    fn cos(&self) -> Self {
        let (s, c) = self.v.sin_cos();
        self.unary(c, -s, -c)
    }
    fn tan(&self) -> Self {
        let t = self.v.tan();
        let d = 1.0 + t * t;
        self.unary(t, d, 2.0 * t * d)
    }
    fn sin_cos(&self) -> (Self, Self) {
        (self.sin(), self.cos())
    }
    fn asin(&self) -> Self {
        let w = 1.0 - self.v * self.v;
        let d = 1.0 / w.sqrt();
        self.unary(self.v.asin(), d, self.v * d / w)
    }
    fn acos(&self) -> Self {
        let w = 1.0 - self.v * self.v;
        let d = 1.0 / w.sqrt();
        self.unary(self.v.acos(), -d, -self.v * d / w)
    }
    fn atan(&self) -> Self {
        let r = 1.0 / (1.0 + self.v * self.v);
        self.unary(self.v.atan(), r, -2.0 * self.v * r * r)
    }
    fn atan2(&self, other: Self) -> Self {
        let (y, x) = (self.v, other.v);
        let r2 = x * x + y * y;
        let r4 = r2 * r2;
        self.binary(
            other,
            y.atan2(x),
            x / r2,
            -y / r2,
            -2.0 * x * y / r4,
            (y * y - x * x) / r4,
            2.0 * x * y / r4,
        )
    }
    fn sinh(&self) -> Self {
        let (s, c) = (self.v.sinh(), self.v.cosh());
        self.unary(s, c, s)
    }
    fn cosh(&self) -> Self {
        let (s, c) = (self.v.sinh(), self.v.cosh());
        self.unary(c, s, c)
    }
    fn tanh(&self) -> Self {
        let t = self.v.tanh();
        let d = 1.0 - t * t;
        self.unary(t, d, -2.0 * t * d)
    }
    fn asinh(&self) -> Self {
        let w = self.v * self.v + 1.0;
        let d = 1.0 / w.sqrt();
        self.unary(self.v.asinh(), d, -self.v * d / w)
    }
    fn acosh(&self) -> Self {
        let w = self.v * self.v - 1.0;
        let d = 1.0 / w.sqrt();
        self.unary(self.v.acosh(), d, -self.v * d / w)
    }
    fn atanh(&self) -> Self {
        let r = 1.0 / (1.0 - self.v * self.v);
        self.unary(self.v.atanh(), r, 2.0 * self.v * r * r)
    }
    fn sph_j0(&self) -> Self {
        if self.v.abs() < f64::EPSILON {
            Self::constant(1.0) - *self * *self / 6.0
        } else {
            self.sin() / *self
        }
    }
    fn sph_j1(&self) -> Self {
        if self.v.abs() < f64::EPSILON {
            *self / 3.0
        } else {
            let (s, c) = self.sin_cos();
            (s - *self * c) / (*self * *self)
        }
    }
    fn sph_j2(&self) -> Self {
        if self.v.abs() < f64::EPSILON {
            *self * *self / 15.0
        } else {
            let (s, c) = self.sin_cos();
            let x2 = *self * *self;
            ((Self::constant(3.0) - x2) * s - *self * c * 3.0) / (x2 * *self)
        }
    }
}

/// Smallest column range holding both ranges (empty ranges ignored).
#[inline(always)]
fn hull(a: (u32, u32), b: (u32, u32)) -> (u32, u32) {
    if a.0 >= a.1 {
        b
    } else if b.0 >= b.1 {
        a
    } else {
        (a.0.min(b.0), a.1.max(b.1))
    }
}

/// Owner of a recorded tape and of the sweep buffers (reused between evaluations).
///
/// Usage: [`Tape::begin`], create the inputs with [`Tape::input`] (they are numbered 0, 1, …
/// in creation order), evaluate the model in [`AVar`], [`Tape::end`]; then run the sweeps.
#[derive(Default)]
pub struct Tape {
    nodes: Vec<Node>,
    n_inputs: usize,
    /// Number of forward directions of the last forward sweep.
    k: usize,
    /// Columns [lo, hi) outside which the node's forward tangent is zero (lo ≥ hi: the node
    /// does not depend on a seeded input).
    range: Vec<(u32, u32)>,
    /// Forward tangents (nodes × k; valid for active nodes).
    tan: Vec<f64>,
    /// Adjoints (nodes × rows).
    adj: Vec<f64>,
    /// Adjoint tangents (nodes × k).
    adj_tan: Vec<f64>,
    /// Columns [lo, hi) of adj_tan written in the current sweep (zero outside).
    at_range: Vec<(u32, u32)>,
}

impl fmt::Debug for Tape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tape({} nodes)", self.nodes.len())
    }
}

impl Tape {
    /// An empty tape.
    pub fn new() -> Self {
        Self::default()
    }

    /// Start recording on this thread (clears the thread's tape).
    pub fn begin(&mut self) {
        self.n_inputs = 0;
        TAPE.with(|t| t.borrow_mut().clear());
    }

    /// A new input with value `v` (input number = number of inputs created before it).
    pub fn input(&mut self, v: f64) -> AVar {
        let i = push(Node {
            a: CONST,
            b: CONST,
            da: 0.0,
            db: 0.0,
            haa: 0.0,
            hab: 0.0,
            hbb: 0.0,
        });
        debug_assert_eq!(i as usize, self.n_inputs, "inputs must be created first");
        self.n_inputs += 1;
        AVar { v, i }
    }

    /// Stop recording: the thread's tape moves into `self`.
    pub fn end(&mut self) {
        TAPE.with(|t| std::mem::swap(&mut *t.borrow_mut(), &mut self.nodes));
    }

    /// Number of recorded nodes (inputs included).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Forward vector sweep with k directions: input j < `seed.len() / k` gets the tangent
    /// `seed[j*k .. (j+1)*k]`; later inputs get zero tangents.
    pub fn forward(&mut self, k: usize, seed: &[f64]) {
        let len = self.nodes.len();
        self.k = k;
        self.range.clear();
        self.range.resize(len, (0, 0));
        if self.tan.len() < len * k {
            self.tan.resize(len * k, 0.0);
        }
        let n_seed = seed.len().checked_div(k).unwrap_or(0);
        debug_assert!(n_seed <= self.n_inputs);
        for j in 0..n_seed {
            let row = &seed[j * k..(j + 1) * k];
            let lo = row.iter().position(|&v| v != 0.0);
            if let Some(lo) = lo {
                let hi = k - row.iter().rev().position(|&v| v != 0.0).unwrap_or(0);
                self.range[j] = (lo as u32, hi as u32);
                self.tan[j * k + lo..j * k + hi].copy_from_slice(&row[lo..hi]);
            }
        }
        let tan = self.tan.as_mut_ptr();
        for v in self.n_inputs..len {
            let nd = self.nodes[v];
            let ra = self.range[nd.a as usize];
            let rb = if nd.b != CONST {
                self.range[nd.b as usize]
            } else {
                (0, 0)
            };
            let r = hull(ra, rb);
            if r.0 >= r.1 {
                continue;
            }
            self.range[v] = r;
            // SAFETY: every node index is < len and tan holds len·k values; a node's
            // arguments precede it, so the output row v never overlaps the rows read.
            unsafe {
                let out = tan.add(v * k);
                if ra == r && rb.0 >= rb.1 {
                    let ta = tan.add(nd.a as usize * k) as *const f64;
                    for j in r.0 as usize..r.1 as usize {
                        *out.add(j) = nd.da * *ta.add(j);
                    }
                } else if ra == r && rb == r {
                    let ta = tan.add(nd.a as usize * k) as *const f64;
                    let tb = tan.add(nd.b as usize * k) as *const f64;
                    for j in r.0 as usize..r.1 as usize {
                        *out.add(j) = nd.da * *ta.add(j) + nd.db * *tb.add(j);
                    }
                } else {
                    for j in r.0 as usize..r.1 as usize {
                        *out.add(j) = 0.0;
                    }
                    let ta = tan.add(nd.a as usize * k) as *const f64;
                    for j in ra.0 as usize..ra.1 as usize {
                        *out.add(j) += nd.da * *ta.add(j);
                    }
                    if nd.b != CONST {
                        let tb = tan.add(nd.b as usize * k) as *const f64;
                        for j in rb.0 as usize..rb.1 as usize {
                            *out.add(j) += nd.db * *tb.add(j);
                        }
                    }
                }
            }
        }
    }

    /// Tangent of `y` from the last forward sweep (k values) into `out`.
    pub fn tangent(&self, y: AVar, out: &mut [f64]) {
        let k = self.k;
        out[..k].fill(0.0);
        if y.i != CONST {
            let i = y.i as usize;
            let (lo, hi) = (self.range[i].0 as usize, self.range[i].1 as usize);
            out[lo..hi].copy_from_slice(&self.tan[i * k + lo..i * k + hi]);
        }
    }

    /// Reverse sweep with `rows` weight rows: `seeds` lists (output, row, weight); afterwards
    /// [`Tape::adjoint`] gives ∂(Σ weight · output)/∂input per row.
    pub fn reverse(&mut self, rows: usize, seeds: &[(AVar, usize, f64)]) {
        let len = self.nodes.len();
        self.adj.clear();
        self.adj.resize(len * rows, 0.0);
        for &(y, r, w) in seeds {
            if y.i != CONST {
                self.adj[y.i as usize * rows + r] += w;
            }
        }
        for v in (self.n_inputs..len).rev() {
            let nd = self.nodes[v];
            // SAFETY: the argument rows precede row v; adj holds len·rows values.
            unsafe {
                let adj = self.adj.as_mut_ptr();
                let av = adj.add(v * rows) as *const f64;
                if (0..rows).all(|r| *av.add(r) == 0.0) {
                    continue;
                }
                let pa = adj.add(nd.a as usize * rows);
                for r in 0..rows {
                    *pa.add(r) += nd.da * *av.add(r);
                }
                if nd.b != CONST {
                    let pb = adj.add(nd.b as usize * rows);
                    for r in 0..rows {
                        *pb.add(r) += nd.db * *av.add(r);
                    }
                }
            }
        }
    }

    /// Adjoint of input `j`, row `r`, from the last [`Tape::reverse`] with `rows` rows.
    pub fn adjoint(&self, rows: usize, j: usize, r: usize) -> f64 {
        self.adj[j * rows + r]
    }

    /// Forward-over-reverse sweep for the scalar ℓ = Σ weight · output (`seeds`), after a
    /// [`Tape::forward`] with k directions. Afterwards, for input j, [`Tape::grad`] is ∂ℓ/∂input_j
    /// and [`Tape::hess_row`] is the k-vector ∂²ℓ/∂input_j∂(direction). With `all_inputs =
    /// false` the second-order part is only propagated to the seeded (forward-active) inputs,
    /// which is cheaper; with `true` it reaches every input.
    pub fn reverse_second(&mut self, seeds: &[(AVar, f64)], all_inputs: bool) {
        let len = self.nodes.len();
        let k = self.k;
        self.adj.clear();
        self.adj.resize(len, 0.0);
        // adj_tan[v] is only valid on at_range[v] (empty: not written); zero elsewhere.
        if self.adj_tan.len() < len * k {
            self.adj_tan.resize(len * k, 0.0);
        }
        self.at_range.clear();
        self.at_range.resize(len, (0, 0));
        for &(y, w) in seeds {
            if y.i != CONST {
                self.adj[y.i as usize] += w;
            }
        }
        let at = self.adj_tan.as_mut_ptr();
        let tan = self.tan.as_ptr();
        for v in (self.n_inputs..len).rev() {
            let nd = self.nodes[v];
            let w = self.adj[v];
            let (a, b) = (nd.a as usize, nd.b as usize);
            let has_b = nd.b != CONST;
            self.adj[a] += nd.da * w;
            if has_b {
                self.adj[b] += nd.db * w;
            }
            let ra = self.range[a];
            let rb = if has_b { self.range[b] } else { (0, 0) };
            let act_a = ra.0 < ra.1;
            let act_b = rb.0 < rb.1;
            let want_a = all_inputs || act_a;
            let want_b = has_b && (all_inputs || act_b);
            if !want_a && !want_b {
                continue;
            }
            let rv = self.at_range[v];
            let set_v = rv.0 < rv.1;
            let curv = w != 0.0 && (nd.haa != 0.0 || nd.hab != 0.0 || nd.hbb != 0.0);
            if !set_v && !curv {
                continue;
            }
            for (p, want, d, ca, cb) in [
                (a, want_a, nd.da, w * nd.haa, w * nd.hab),
                (b, want_b, nd.db, w * nd.hab, w * nd.hbb),
            ] {
                if !want {
                    continue;
                }
                let ca = if act_a { ca } else { 0.0 };
                let cb = if act_b { cb } else { 0.0 };
                let use_v = set_v && d != 0.0;
                let mut r = (0u32, 0u32);
                if use_v {
                    r = hull(r, rv);
                }
                if ca != 0.0 {
                    r = hull(r, ra);
                }
                if cb != 0.0 {
                    r = hull(r, rb);
                }
                if r.0 >= r.1 {
                    continue;
                }
                // SAFETY: p < v < len, adj_tan and tan hold len·k values; the row p written
                // is disjoint from the row v read (adj_tan) and from the rows of tan.
                unsafe {
                    let o = at.add(p * k);
                    let old = self.at_range[p];
                    let new = hull(old, r);
                    // zero the newly covered part of row p
                    for j in new.0 as usize..new.1 as usize {
                        if old.0 >= old.1 || j < old.0 as usize || j >= old.1 as usize {
                            *o.add(j) = 0.0;
                        }
                    }
                    self.at_range[p] = new;
                    if use_v {
                        let atv = at.add(v * k) as *const f64;
                        for j in rv.0 as usize..rv.1 as usize {
                            *o.add(j) += d * *atv.add(j);
                        }
                    }
                    if ca != 0.0 {
                        let ta = tan.add(a * k);
                        for j in ra.0 as usize..ra.1 as usize {
                            *o.add(j) += ca * *ta.add(j);
                        }
                    }
                    if cb != 0.0 {
                        let tb = tan.add(b * k);
                        for j in rb.0 as usize..rb.1 as usize {
                            *o.add(j) += cb * *tb.add(j);
                        }
                    }
                }
            }
        }
        for j in 0..self.n_inputs {
            let (lo, hi) = (self.at_range[j].0 as usize, self.at_range[j].1 as usize);
            let row = &mut self.adj_tan[j * k..(j + 1) * k];
            if lo >= hi {
                row.fill(0.0);
            } else {
                row[..lo].fill(0.0);
                row[hi..].fill(0.0);
            }
        }
    }

    /// ∂ℓ/∂input_j after [`Tape::reverse_second`].
    pub fn grad(&self, j: usize) -> f64 {
        self.adj[j]
    }

    /// ∂²ℓ/∂input_j∂(direction) (k values) after [`Tape::reverse_second`].
    pub fn hess_row(&self, j: usize) -> &[f64] {
        &self.adj_tan[j * self.k..(j + 1) * self.k]
    }
}
