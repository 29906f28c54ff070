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
use std::cell::UnsafeCell;
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
    static TAPE: UnsafeCell<Vec<Node>> = const { UnsafeCell::new(Vec::new()) };
}

/// Run `f` on the thread's tape.
#[inline(always)]
fn with_tape<R>(f: impl FnOnce(&mut Vec<Node>) -> R) -> R {
    TAPE.with(|t| {
        // SAFETY: the tape is thread-local and only reached through this function, whose
        // callers (`push`, `Tape::begin`, `Tape::end`) never re-enter it while `f` runs, so
        // the mutable reference is unique for its lifetime.
        f(unsafe { &mut *t.get() })
    })
}

#[inline(always)]
fn push(node: Node) -> u32 {
    with_tape(|t| {
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

/// Implements one arithmetic operator (by value, by reference, with an `f64`, and its
/// assigning form) for a recorded scalar type `$T` through its method `$f(self, o: $T) -> $T`
/// and its constructor `$T::constant(f64)`. Shared by [`AVar`] and the symbolic scalar.
macro_rules! scalar_bin_ops {
    ($T:ident, $Tr:ident, $m:ident, $TrA:ident, $ma:ident, $f:ident) => {
        impl $Tr for $T {
            type Output = $T;
            #[inline(always)]
            fn $m(self, o: $T) -> $T {
                self.$f(o)
            }
        }
        impl<'r> $Tr<&'r $T> for $T {
            type Output = $T;
            #[inline(always)]
            fn $m(self, o: &$T) -> $T {
                self.$f(*o)
            }
        }
        impl $Tr<f64> for $T {
            type Output = $T;
            #[inline(always)]
            fn $m(self, o: f64) -> $T {
                self.$f($T::constant(o))
            }
        }
        impl $TrA for $T {
            #[inline(always)]
            fn $ma(&mut self, o: $T) {
                *self = self.$f(o);
            }
        }
        impl $TrA<f64> for $T {
            #[inline(always)]
            fn $ma(&mut self, o: f64) {
                *self = self.$f($T::constant(o));
            }
        }
    };
}
pub(crate) use scalar_bin_ops;
scalar_bin_ops!(AVar, Add, add, AddAssign, add_assign, add_);
scalar_bin_ops!(AVar, Sub, sub, SubAssign, sub_assign, sub_);
scalar_bin_ops!(AVar, Mul, mul, MulAssign, mul_assign, mul_);
scalar_bin_ops!(AVar, Div, div, DivAssign, div_assign, div_);
scalar_bin_ops!(AVar, Rem, rem, RemAssign, rem_assign, rem_);

/// The trait implementations that are the same for every recorded scalar type `$T` (built on
/// `$T::constant` and its arithmetic): `Inv`, `One`, `Num`, `FromPrimitive`, `Sum`,
/// `Product` and `Mappable`. Shared by [`AVar`] and the symbolic scalar.
macro_rules! scalar_common_impls {
    ($T:ident) => {
        impl Inv for $T {
            type Output = $T;
            fn inv(self) -> $T {
                DualNum::recip(&self)
            }
        }
        impl One for $T {
            fn one() -> Self {
                Self::constant(1.0)
            }
        }
        impl Num for $T {
            type FromStrRadixErr = <f64 as Num>::FromStrRadixErr;
            fn from_str_radix(s: &str, radix: u32) -> Result<Self, Self::FromStrRadixErr> {
                f64::from_str_radix(s, radix).map(Self::constant)
            }
        }
        impl FromPrimitive for $T {
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
        impl Sum for $T {
            fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
                iter.fold(Self::constant(0.0), |a, b| a + b)
            }
        }
        impl<'a> Sum<&'a $T> for $T {
            fn sum<I: Iterator<Item = &'a $T>>(iter: I) -> Self {
                iter.fold(Self::constant(0.0), |a, b| a + *b)
            }
        }
        impl Product for $T {
            fn product<I: Iterator<Item = Self>>(iter: I) -> Self {
                iter.fold(Self::constant(1.0), |a, b| a * b)
            }
        }
        impl<'a> Product<&'a $T> for $T {
            fn product<I: Iterator<Item = &'a $T>>(iter: I) -> Self {
                iter.fold(Self::constant(1.0), |a, b| a * *b)
            }
        }
        impl Mappable<$T> for $T {
            type Output<O> = O;
            fn map_dual<G: Fn($T) -> O, O>(self, g: G) -> O {
                g(self)
            }
        }
    };
}
pub(crate) use scalar_common_impls;
scalar_common_impls!(AVar);

impl Neg for AVar {
    type Output = AVar;
    #[inline(always)]
    fn neg(self) -> AVar {
        self.unary(-self.v, -1.0, 0.0)
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

/// Calls `$body` with the const `$K` set to the row stride used for `$k` directions: rows of
/// the sweep buffers are padded to a few fixed widths so that the per-node kernels work on
/// fixed-size arrays (unrolled and vectorised by the compiler).
macro_rules! with_width {
    ($k:expr, $K:ident, $body:block) => {{
        let k = $k;
        if k <= 1 {
            const $K: usize = 1;
            $body
        } else if k <= 2 {
            const $K: usize = 2;
            $body
        } else if k <= 4 {
            const $K: usize = 4;
            $body
        } else if k <= 6 {
            const $K: usize = 6;
            $body
        } else if k <= 8 {
            const $K: usize = 8;
            $body
        } else if k <= 12 {
            const $K: usize = 12;
            $body
        } else if k <= 16 {
            const $K: usize = 16;
            $body
        } else if k <= 20 {
            const $K: usize = 20;
            $body
        } else if k <= 24 {
            const $K: usize = 24;
            $body
        } else if k <= 32 {
            const $K: usize = 32;
            $body
        } else if k <= 48 {
            const $K: usize = 48;
            $body
        } else {
            const $K: usize = 64;
            $body
        }
    }};
}

/// Row `i` (K values) of a stride-K buffer, by value.
#[inline(always)]
fn get_row<const K: usize>(buf: &[f64], i: usize) -> [f64; K] {
    let mut r = [0.0; K];
    r.copy_from_slice(&buf[i * K..(i + 1) * K]);
    r
}

/// The K values of `buf` from `offset` on, by value.
#[inline(always)]
fn get_row_at<const K: usize>(buf: &[f64], offset: usize) -> [f64; K] {
    let mut r = [0.0; K];
    r.copy_from_slice(&buf[offset..offset + K]);
    r
}

/// Store row `i` (K values) of a stride-K buffer.
#[inline(always)]
fn set_row<const K: usize>(buf: &mut [f64], i: usize, r: &[f64; K]) {
    buf[i * K..(i + 1) * K].copy_from_slice(r);
}

/// Owner of a recorded tape and of the sweep buffers (reused between evaluations).
///
/// Usage: [`Tape::begin`], create the inputs with [`Tape::input`] (they are numbered 0, 1, …
/// in creation order), evaluate the model in [`AVar`], [`Tape::end`]; then run the sweeps.
/// The sweep buffers hold one row per node, padded to a fixed width (see `with_width!`); they
/// grow to the largest tape seen and are never cleared wholesale.
#[derive(Default)]
pub struct Tape {
    nodes: Vec<Node>,
    n_inputs: usize,
    /// Number of forward directions of the last forward sweep.
    k: usize,
    /// Row stride of `tan` and `adj_tan` (k rounded up to a fixed width).
    stride: usize,
    /// Per node: depends on a seeded input (its forward tangent may be non-zero).
    active: Vec<bool>,
    /// Forward tangents (nodes × stride; every row is written by the forward sweep).
    tan: Vec<f64>,
    /// Adjoints (nodes × rows).
    adj: Vec<f64>,
    /// Number of leading forward directions carried by the last reverse second-order sweep.
    k_rev: usize,
    /// Row stride of `adj_tan` (k_rev rounded up to a fixed width).
    stride_rev: usize,
    /// Adjoint tangents (nodes × stride_rev; a row is valid only where `touched`).
    adj_tan: Vec<f64>,
    /// Per node: its adjoint-tangent row was written in the current reverse sweep.
    touched: Vec<bool>,
    /// Buffers of [`Tape::directional_contract`] (one value per node, plus a zero slot at
    /// index `len` standing for "no argument").
    dc: DirectionalScratch,
}

/// Per-node scalars of the single-direction sweep [`Tape::directional_contract`].
#[derive(Default)]
struct DirectionalScratch {
    /// Forward tangent ṫ_v = ∂v/∂z · w.
    tan: Vec<f64>,
    /// Per node: depends on a wanted input (only those nodes are swept in reverse).
    dep: Vec<bool>,
    /// Adjoint v̄ = ∂ℓ/∂v.
    adj: Vec<f64>,
    /// Adjoint tangent (v̄)˙ = ∂/∂v (∇ℓ · w + Σ weight · output).
    adj_tan: Vec<f64>,
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
        with_tape(|t| t.clear());
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
        with_tape(|t| std::mem::swap(t, &mut self.nodes));
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
        let n_seed = seed.len().checked_div(k).unwrap_or(0);
        debug_assert!(n_seed <= self.n_inputs);
        self.active.clear();
        self.active.resize(len, false);
        with_width!(k, K, {
            self.stride = K;
            if self.tan.len() < len * K {
                self.tan.resize(len * K, 0.0);
            }
            forward_k::<K>(
                &self.nodes,
                self.n_inputs,
                k,
                n_seed,
                seed,
                &mut self.tan,
                &mut self.active,
            );
        });
    }

    /// Tangent of `y` from the last forward sweep (k values) into `out`.
    pub fn tangent(&self, y: AVar, out: &mut [f64]) {
        let k = self.k;
        if y.i == CONST {
            out[..k].fill(0.0);
        } else {
            let s = y.i as usize * self.stride;
            out[..k].copy_from_slice(&self.tan[s..s + k]);
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
        self.reverse_second_seeded(seeds, &[], all_inputs);
    }

    /// [`Tape::reverse_second`] carrying only the first `kr ≤ k` forward directions:
    /// [`Tape::hess_row`] then has `kr` values. The other directions were only needed for
    /// first derivatives (Jacobians from [`Tape::tangent`]).
    pub fn reverse_second_leading(&mut self, seeds: &[(AVar, f64)], kr: usize) {
        self.reverse_second_impl(seeds, &[], false, kr);
    }

    /// [`Tape::reverse_second`] with additional adjoint-tangent seeds: `tan_seeds` lists
    /// (output, weight) pairs whose weights enter the adjoint tangent of the output (in every
    /// direction column, so use it with one direction). With k = 1 and direction w, the
    /// adjoint tangent of input j is then ∂/∂input_j (∇ℓ · w + Σ weight · output): a
    /// second-order and a first-order reverse sweep in one.
    pub fn reverse_second_seeded(
        &mut self,
        seeds: &[(AVar, f64)],
        tan_seeds: &[(AVar, f64)],
        all_inputs: bool,
    ) {
        self.reverse_second_impl(seeds, tan_seeds, all_inputs, self.k);
    }

    fn reverse_second_impl(
        &mut self,
        seeds: &[(AVar, f64)],
        tan_seeds: &[(AVar, f64)],
        all_inputs: bool,
        kr: usize,
    ) {
        assert!(kr <= self.k, "at most the forward directions");
        let len = self.nodes.len();
        self.adj.clear();
        self.adj.resize(len, 0.0);
        self.touched.clear();
        self.touched.resize(len, false);
        for &(y, w) in seeds {
            if y.i != CONST {
                self.adj[y.i as usize] += w;
            }
        }
        let k = kr;
        self.k_rev = kr;
        with_width!(k, K, {
            self.stride_rev = K;
            if self.adj_tan.len() < len * K {
                self.adj_tan.resize(len * K, 0.0);
            }
            for &(y, w) in tan_seeds {
                if y.i != CONST {
                    let i = y.i as usize;
                    let mut r = if self.touched[i] {
                        get_row::<K>(&self.adj_tan, i)
                    } else {
                        [0.0; K]
                    };
                    for v in r.iter_mut().take(k) {
                        *v += w;
                    }
                    set_row::<K>(&mut self.adj_tan, i, &r);
                    self.touched[i] = true;
                }
            }
            reverse_second_k::<K>(
                &self.nodes,
                self.n_inputs,
                all_inputs,
                &self.active,
                &self.tan,
                self.stride,
                &mut self.adj,
                &mut self.adj_tan,
                &mut self.touched,
            );
            for j in 0..self.n_inputs {
                if !self.touched[j] {
                    set_row::<K>(&mut self.adj_tan, j, &[0.0; K]);
                }
            }
        });
    }

    /// The single-direction contraction used by vector–Jacobian products, in one scalar
    /// forward and one scalar reverse sweep.
    ///
    /// Inputs `0 .. w.len()` get the tangent `w` (the others zero). With ℓ = Σ weight ·
    /// output over `seeds` and the first-order term s = Σ weight · output over `tan_seeds`,
    /// afterwards [`Tape::directional_adjoint_tangent`] of input j ≥ `wanted_from` is
    ///
    /// ```text
    /// ∂/∂input_j (∇ℓ · w + s)      (forward-over-reverse with one direction)
    /// ```
    ///
    /// Same numbers as [`Tape::forward`] with one direction followed by
    /// [`Tape::reverse_second_seeded`], but (a) the per-node state is four scalars instead of
    /// the padded rows and "touched" bookkeeping of the vector sweep, and (b) the reverse
    /// sweep visits only the nodes that depend on a wanted input (j ≥ `wanted_from`): a node
    /// that does not depend on them has no wanted input among its ancestors, so its adjoint
    /// and adjoint tangent cannot reach one. The adjoints of the other inputs are not
    /// computed.
    pub fn directional_contract(
        &mut self,
        w: &[f64],
        seeds: &[(AVar, f64)],
        tan_seeds: &[(AVar, f64)],
        wanted_from: usize,
    ) {
        let len = self.nodes.len();
        let ni = self.n_inputs;
        debug_assert!(w.len() <= ni && wanted_from <= ni);
        let dc = &mut self.dc;
        // Slot `len` is the zero "no argument" slot: unary nodes have db = hab = hbb = 0, so
        // their b-updates below add exact zeros there (and it is never read back as a result).
        let arg = |b: u32| if b == CONST { len } else { b as usize };
        dc.tan.clear();
        dc.tan.resize(len + 1, 0.0);
        dc.dep.clear();
        dc.dep.resize(len + 1, false);
        dc.tan[..w.len()].copy_from_slice(w);
        for d in &mut dc.dep[wanted_from..ni] {
            *d = true;
        }
        // Forward: ṫ_v = φ_a ṫ_a + φ_b ṫ_b, dep_v = dep_a ∨ dep_b.
        for v in ni..len {
            let nd = &self.nodes[v];
            let (a, b) = (nd.a as usize, arg(nd.b));
            dc.tan[v] = nd.da * dc.tan[a] + nd.db * dc.tan[b];
            dc.dep[v] = dc.dep[a] | dc.dep[b];
        }
        dc.adj.clear();
        dc.adj.resize(len + 1, 0.0);
        dc.adj_tan.clear();
        dc.adj_tan.resize(len + 1, 0.0);
        for &(y, wt) in seeds {
            if y.i != CONST {
                dc.adj[y.i as usize] += wt;
            }
        }
        for &(y, wt) in tan_seeds {
            if y.i != CONST {
                dc.adj_tan[y.i as usize] += wt;
            }
        }
        // Reverse: for v = φ(a, b) with adjoint v̄ and adjoint tangent v̄˙,
        //   ā += φ_a v̄,   ā˙ += φ_a v̄˙ + v̄ (φ_aa ṫ_a + φ_ab ṫ_b)   (and symmetrically for b).
        for v in (ni..len).rev() {
            if !dc.dep[v] {
                continue;
            }
            let (wv, wt) = (dc.adj[v], dc.adj_tan[v]);
            if wv == 0.0 && wt == 0.0 {
                continue;
            }
            let nd = &self.nodes[v];
            let (a, b) = (nd.a as usize, arg(nd.b));
            let (ta, tb) = (dc.tan[a], dc.tan[b]);
            dc.adj[a] += nd.da * wv;
            dc.adj_tan[a] += nd.da * wt + wv * (nd.haa * ta + nd.hab * tb);
            dc.adj[b] += nd.db * wv;
            dc.adj_tan[b] += nd.db * wt + wv * (nd.hab * ta + nd.hbb * tb);
        }
    }

    /// ∂/∂input_j (∇ℓ · w + s) after [`Tape::directional_contract`] (j ≥ its `wanted_from`).
    pub fn directional_adjoint_tangent(&self, j: usize) -> f64 {
        self.dc.adj_tan[j]
    }

    /// ∂ℓ/∂input_j after [`Tape::reverse_second`].
    pub fn grad(&self, j: usize) -> f64 {
        self.adj[j]
    }

    /// ∂²ℓ/∂input_j∂(direction) (k values) after [`Tape::reverse_second`].
    pub fn hess_row(&self, j: usize) -> &[f64] {
        &self.adj_tan[j * self.stride_rev..j * self.stride_rev + self.k_rev]
    }
}

/// The forward vector sweep on rows of width K (`k ≤ K` directions; the padding stays zero).
fn forward_k<const K: usize>(
    nodes: &[Node],
    n_inputs: usize,
    k: usize,
    n_seed: usize,
    seed: &[f64],
    tan: &mut [f64],
    active: &mut [bool],
) {
    for j in 0..n_inputs {
        let mut r = [0.0; K];
        if j < n_seed {
            r[..k].copy_from_slice(&seed[j * k..(j + 1) * k]);
            active[j] = r.iter().any(|&v| v != 0.0);
        }
        set_row::<K>(tan, j, &r);
    }
    for (v, nd) in nodes.iter().enumerate().skip(n_inputs) {
        let a = nd.a as usize;
        let ta = get_row::<K>(tan, a);
        let mut out = [0.0; K];
        if nd.b != CONST {
            let b = nd.b as usize;
            let tb = get_row::<K>(tan, b);
            for j in 0..K {
                out[j] = nd.da * ta[j] + nd.db * tb[j];
            }
            active[v] = active[a] || active[b];
        } else {
            for j in 0..K {
                out[j] = nd.da * ta[j];
            }
            active[v] = active[a];
        }
        set_row::<K>(tan, v, &out);
    }
}

/// The forward-over-reverse sweep on rows of width K (see [`Tape::reverse_second_seeded`]).
#[allow(clippy::too_many_arguments)]
fn reverse_second_k<const K: usize>(
    nodes: &[Node],
    n_inputs: usize,
    all_inputs: bool,
    active: &[bool],
    tan: &[f64],
    tan_stride: usize,
    adj: &mut [f64],
    adj_tan: &mut [f64],
    touched: &mut [bool],
) {
    for v in (n_inputs..nodes.len()).rev() {
        let nd = nodes[v];
        let w = adj[v];
        let (a, b) = (nd.a as usize, nd.b as usize);
        let has_b = nd.b != CONST;
        adj[a] += nd.da * w;
        if has_b {
            adj[b] += nd.db * w;
        }
        let set_v = touched[v];
        let curv = w != 0.0 && (nd.haa != 0.0 || nd.hab != 0.0 || nd.hbb != 0.0);
        if !set_v && !curv {
            continue;
        }
        let act_a = active[a];
        let act_b = has_b && active[b];
        let want_a = all_inputs || act_a;
        let want_b = has_b && (all_inputs || act_b);
        let atv = if set_v {
            get_row::<K>(adj_tan, v)
        } else {
            [0.0; K]
        };
        let ta = get_row_at::<K>(tan, a * tan_stride);
        let tb = if has_b {
            get_row_at::<K>(tan, b * tan_stride)
        } else {
            [0.0; K]
        };
        let (haa, hab, hbb) = if curv {
            (w * nd.haa, w * nd.hab, w * nd.hbb)
        } else {
            (0.0, 0.0, 0.0)
        };
        for (p, want, d, ca, cb) in [(a, want_a, nd.da, haa, hab), (b, want_b, nd.db, hab, hbb)] {
            if !want {
                continue;
            }
            let ca = if act_a { ca } else { 0.0 };
            let cb = if act_b { cb } else { 0.0 };
            let use_v = set_v && d != 0.0;
            if !use_v && ca == 0.0 && cb == 0.0 {
                continue;
            }
            let mut o = if touched[p] {
                get_row::<K>(adj_tan, p)
            } else {
                [0.0; K]
            };
            if use_v {
                for j in 0..K {
                    o[j] += d * atv[j];
                }
            }
            if ca != 0.0 {
                for j in 0..K {
                    o[j] += ca * ta[j];
                }
            }
            if cb != 0.0 {
                for j in 0..K {
                    o[j] += cb * tb[j];
                }
            }
            set_row::<K>(adj_tan, p, &o);
            touched[p] = true;
        }
    }
}
