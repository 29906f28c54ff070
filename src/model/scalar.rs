//! The scalar abstraction every model is written over.
//!
//! Dynamics, costs and constraints are generic over [`Scalar`], so the same source code runs
//! in plain `f64` for simulation and in num-dual's dual numbers for exact first and second
//! derivatives. Constants enter through [`cst`], the one place where an `f64` becomes a scalar.

use num_dual::DualNum;

/// A real scalar or a dual number over `f64`: the type models are written in.
pub trait Scalar: DualNum<Primitive = f64> + Copy + Send + Sync {}

impl<T: DualNum<Primitive = f64> + Copy + Send + Sync> Scalar for T {}

/// Lift an `f64` constant into any scalar type (zero derivative part).
#[inline(always)]
pub fn cst<S: Scalar>(v: f64) -> S {
    S::from(v)
}

/// The real (value) part of a scalar.
#[inline(always)]
pub fn re<S: Scalar>(v: S) -> f64 {
    v.re()
}
