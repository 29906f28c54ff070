//! A minimal complex number for the power-flow kernels (no extra dependency).

use std::ops::{Add, AddAssign, Div, Mul, Neg, Sub, SubAssign};

/// A complex number re + j·im in IEEE double precision.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Complex {
    /// Real part.
    pub re: f64,
    /// Imaginary part.
    pub im: f64,
}

impl Complex {
    /// 0 + 0j.
    pub const ZERO: Complex = Complex { re: 0.0, im: 0.0 };
    /// 1 + 0j.
    pub const ONE: Complex = Complex { re: 1.0, im: 0.0 };

    /// re + j·im.
    pub const fn new(re: f64, im: f64) -> Self {
        Self { re, im }
    }

    /// m·(cos a + j sin a).
    pub fn from_polar(m: f64, a: f64) -> Self {
        let (s, c) = a.sin_cos();
        Self::new(m * c, m * s)
    }

    /// Complex conjugate.
    pub fn conj(self) -> Self {
        Self::new(self.re, -self.im)
    }

    /// |z|² (no square root).
    pub fn norm_sqr(self) -> f64 {
        self.re * self.re + self.im * self.im
    }

    /// |z| (overflow-safe `hypot`).
    pub fn abs(self) -> f64 {
        self.re.hypot(self.im)
    }

    /// Argument of z in (−π, π].
    pub fn arg(self) -> f64 {
        self.im.atan2(self.re)
    }

    /// z scaled by a real factor.
    pub fn scale(self, k: f64) -> Self {
        Self::new(self.re * k, self.im * k)
    }

    /// True if both parts are finite.
    pub fn is_finite(self) -> bool {
        self.re.is_finite() && self.im.is_finite()
    }
}

impl Add for Complex {
    type Output = Complex;
    fn add(self, o: Complex) -> Complex {
        Complex::new(self.re + o.re, self.im + o.im)
    }
}

impl Sub for Complex {
    type Output = Complex;
    fn sub(self, o: Complex) -> Complex {
        Complex::new(self.re - o.re, self.im - o.im)
    }
}

impl Mul for Complex {
    type Output = Complex;
    fn mul(self, o: Complex) -> Complex {
        Complex::new(
            self.re * o.re - self.im * o.im,
            self.re * o.im + self.im * o.re,
        )
    }
}

impl Div for Complex {
    type Output = Complex;
    fn div(self, o: Complex) -> Complex {
        let d = o.norm_sqr();
        Complex::new(
            (self.re * o.re + self.im * o.im) / d,
            (self.im * o.re - self.re * o.im) / d,
        )
    }
}

impl Neg for Complex {
    type Output = Complex;
    fn neg(self) -> Complex {
        Complex::new(-self.re, -self.im)
    }
}

impl AddAssign for Complex {
    fn add_assign(&mut self, o: Complex) {
        self.re += o.re;
        self.im += o.im;
    }
}

impl SubAssign for Complex {
    fn sub_assign(&mut self, o: Complex) {
        self.re -= o.re;
        self.im -= o.im;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_identities() {
        let a = Complex::new(1.5, -2.0);
        let b = Complex::new(-0.25, 0.75);
        let q = (a * b) / b;
        assert!((q - a).abs() < 1e-15);
        assert!(((a + b) - b - a).abs() < 1e-15);
        assert!((a * a.conj()).im.abs() < 1e-15);
        assert!(((a * a.conj()).re - a.norm_sqr()).abs() < 1e-15);
        let p = Complex::from_polar(a.abs(), a.arg());
        assert!((p - a).abs() < 1e-14);
        assert_eq!(-a + a, Complex::ZERO);
    }
}
