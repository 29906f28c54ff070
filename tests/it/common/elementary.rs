//! A function of two variables built from every elementary operation of the scalar interface
//! except the spherical Bessel functions; defined for a ∈ [0.2, 1.2], b ∈ [0.8, 2.4].

use diffop::model::Scalar;

/// Sum of terms using every elementary operation (see the module docs for the domain).
pub fn elementary<S: Scalar>(a: S, b: S) -> S {
    let one = S::from(1.0);
    let mut r = a * b + a / b - b.recip() + a.sqrt() * b.exp() + (a * b).ln();
    r += a.sin() * b.cos() + a.tan() + (a * S::from(0.3)).asin() + (b * S::from(0.2)).acos();
    r += a.atan() + a.atan2(b) + a.sinh() + b.cosh() + (a * S::from(0.4)).tanh();
    r += (a + one).asinh() + (b + one).acosh() + (a * S::from(0.5)).atanh();
    r += a.powi(3) + b.powf(2.5) + a.cbrt() + a.exp2() + b.exp_m1() + a.log(3.0);
    r += b.log2() + a.log10() + b.ln_1p() + (S::from(2.0) - a) * (-b) + a.powi(-2);
    let (s, c) = b.sin_cos();
    r + s * c
}
