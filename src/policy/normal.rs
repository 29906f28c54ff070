//! The standard normal distribution: density φ, distribution function Φ, its complement and
//! inverse Φ⁻¹ (`docs/spec/ALGORITHMS.md` §4.2).
//!
//! ```text
//! φ(x) = exp(−x²/2) / √(2π),    Φ(x) = ∫_{−∞}^{x} φ(s) ds,    Φ(−x) = 1 − Φ(x)
//! ```
//!
//! * [`cdf`] and [`sf`] use W. J. Cody's rational Chebyshev approximations (Cody 1969, the
//!   `ANORM` routine of Cody 1993): three ranges |x| ≤ 0.66291, ≤ √32 and beyond, with the
//!   Gaussian factor evaluated as exp(−x̄²/2)·exp(−(x − x̄)(x + x̄)/2), x̄ = ⌊16x⌋/16, so that the
//!   squaring of x adds no rounding error. Both tails are accurate to a few ulps *relative*,
//!   down to the underflow of Φ near x = −37.5.
//! * [`central_mass`] returns P(|X| ≤ t) = 2Φ(t) − 1 = erf(t/√2) without the cancellation of
//!   the naive formula for small t.
//! * [`inv_cdf`] is P. J. Acklam's rational approximation (relative error ≤ 1.15·10⁻⁹) refined
//!   by one Halley step on Φ(x) − p, which brings it to the accuracy of [`cdf`]. It evaluates
//!   the lower half p ≤ ½ and reflects, Φ⁻¹(p) = −Φ⁻¹(1 − p), where 1 − p is exact.
//!
//! The implementation is fixed on purpose: the inverse-CDF branch of the exploration sampler
//! uses it, and bit-identical training traces need one named implementation (§4.2).

// The coefficients are kept with the digits their authors published.
#![allow(clippy::excessive_precision)]

/// 1/√(2π).
const FRAC_1_SQRT_2PI: f64 = 0.398_942_280_401_432_677_94;

/// Below this |x| Cody's first (central) range applies.
const CENTRAL: f64 = 0.662_91;

/// √32, the end of Cody's second range.
const SQRT_32: f64 = 5.656_854_249_492_380_2;

/// Beyond this |x| the lower tail Φ(−|x|) underflows to zero in f64.
const UNDERFLOW: f64 = 38.5;

/// Cody's central-range numerator coefficients.
const A: [f64; 5] = [
    2.235_252_035_460_683_928_7,
    161.028_231_068_555_878_81,
    1_067.689_485_460_370_958_2,
    18_154.981_253_343_561_249,
    0.065_682_337_918_207_449_113,
];
/// Cody's central-range denominator coefficients.
const B: [f64; 4] = [
    47.202_581_904_688_241_87,
    976.098_551_737_776_693_22,
    10_260.932_208_618_978_205,
    45_507.789_335_026_729_956,
];
/// Cody's second-range numerator coefficients.
const C: [f64; 9] = [
    0.398_941_512_088_134_667_64,
    8.883_149_794_388_375_941_2,
    93.506_656_132_177_855_979,
    597.270_276_394_800_262_26,
    2_494.537_585_290_372_671_1,
    6_848.190_450_536_282_332_6,
    11_602.651_437_647_350_124,
    9_842.714_838_383_978_021_8,
    1.076_557_677_372_019_231_7e-8,
];
/// Cody's second-range denominator coefficients.
const D: [f64; 8] = [
    22.266_688_044_328_115_691,
    235.387_901_782_624_998_61,
    1_519.377_599_407_554_805,
    6_485.558_298_266_760_755,
    18_615.571_640_885_098_091,
    34_900.952_721_145_977_266,
    38_912.003_286_093_271_411,
    19_685.429_676_859_990_727,
];
/// Cody's asymptotic-range numerator coefficients.
const P: [f64; 6] = [
    0.215_898_534_057_956_99,
    0.127_401_161_160_247_363_9,
    0.022_235_277_870_649_807,
    0.001_421_619_193_227_893_466,
    2.911_287_495_116_879_2e-5,
    0.023_073_441_764_940_173_03,
];
/// Cody's asymptotic-range denominator coefficients.
const Q: [f64; 5] = [
    1.284_260_096_144_911_21,
    0.468_238_212_480_865_118,
    0.065_988_137_868_928_551_5,
    0.003_782_396_332_027_582_44,
    7.297_515_550_839_662_05e-5,
];

/// Acklam's central-region numerator coefficients.
const ACKLAM_A: [f64; 6] = [
    -3.969_683_028_665_376e1,
    2.209_460_984_245_205e2,
    -2.759_285_104_469_687e2,
    1.383_577_518_672_690e2,
    -3.066_479_806_614_716e1,
    2.506_628_277_459_239,
];
/// Acklam's central-region denominator coefficients.
const ACKLAM_B: [f64; 5] = [
    -5.447_609_879_822_406e1,
    1.615_858_368_580_409e2,
    -1.556_989_798_598_866e2,
    6.680_131_188_771_972e1,
    -1.328_068_155_288_572e1,
];
/// Acklam's tail numerator coefficients.
const ACKLAM_C: [f64; 6] = [
    -7.784_894_002_430_293e-3,
    -3.223_964_580_411_365e-1,
    -2.400_758_277_161_838,
    -2.549_732_539_343_734,
    4.374_664_141_464_968,
    2.938_163_982_698_783,
];
/// Acklam's tail denominator coefficients.
const ACKLAM_D: [f64; 4] = [
    7.784_695_709_041_462e-3,
    3.224_671_290_700_398e-1,
    2.445_134_137_142_996,
    3.754_408_661_907_416,
];
/// Acklam's boundary between the central region and the lower tail.
const ACKLAM_P_LOW: f64 = 0.024_25;

/// Below this p the Halley refinement of [`inv_cdf`] is skipped: φ(x) approaches the
/// subnormal range and the correction would lose, not gain, accuracy.
const REFINE_MIN_P: f64 = 1e-300;

/// exp(−x²/2) without the rounding error of x²: x = x̄ + δ with x̄ = ⌊16x⌋/16 exact when
/// squared, and x² = x̄² + (x − x̄)(x + x̄).
fn gauss_factor(x: f64) -> f64 {
    let y = x.abs();
    let ybar = (y * 16.0).trunc() / 16.0;
    let del = (y - ybar) * (y + ybar);
    (-0.5 * ybar * ybar).exp() * (-0.5 * del).exp()
}

/// The standard normal density φ(x) = exp(−x²/2)/√(2π).
///
/// Accurate to a few ulps relative for every x whose result is a normal f64.
pub fn pdf(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x.is_infinite() {
        return 0.0;
    }
    FRAC_1_SQRT_2PI * gauss_factor(x)
}

/// Cody's central-range odd part: Φ(x) − ½ for |x| ≤ 0.66291.
fn central_part(x: f64) -> f64 {
    let xsq = if x.abs() > f64::EPSILON * 0.5 {
        x * x
    } else {
        0.0
    };
    let mut num = A[4] * xsq;
    let mut den = xsq;
    for i in 0..3 {
        num = (num + A[i]) * xsq;
        den = (den + B[i]) * xsq;
    }
    x * (num + A[3]) / (den + B[3])
}

/// The upper tail Φ(−y) = 1 − Φ(y) for y ≥ 0.66291 (Cody's second and third ranges).
fn tail(y: f64) -> f64 {
    if y >= UNDERFLOW {
        return 0.0;
    }
    let ratio = if y <= SQRT_32 {
        let mut num = C[8] * y;
        let mut den = y;
        for i in 0..7 {
            num = (num + C[i]) * y;
            den = (den + D[i]) * y;
        }
        (num + C[7]) / (den + D[7])
    } else {
        let xsq = 1.0 / (y * y);
        let mut num = P[5] * xsq;
        let mut den = xsq;
        for i in 0..4 {
            num = (num + P[i]) * xsq;
            den = (den + Q[i]) * xsq;
        }
        let r = xsq * (num + P[4]) / (den + Q[4]);
        (FRAC_1_SQRT_2PI - r) / y
    };
    gauss_factor(y) * ratio
}

/// (Φ(x), 1 − Φ(x)), each with full relative accuracy.
fn cdf_both(x: f64) -> (f64, f64) {
    if x.is_nan() {
        return (f64::NAN, f64::NAN);
    }
    let y = x.abs();
    if y <= CENTRAL {
        let t = central_part(x);
        return (0.5 + t, 0.5 - t);
    }
    let small = tail(y);
    let large = 1.0 - small;
    if x > 0.0 {
        (large, small)
    } else {
        (small, large)
    }
}

/// The standard normal distribution function Φ(x) = P(X ≤ x).
///
/// Relative error of a few ulps everywhere, including the lower tail down to its underflow
/// (Φ(−37) ≈ 5.7·10⁻³⁰⁰). Φ(−∞) = 0, Φ(+∞) = 1, Φ(NaN) = NaN.
pub fn cdf(x: f64) -> f64 {
    cdf_both(x).0
}

/// The survival function 1 − Φ(x) = Φ(−x), accurate in the upper tail.
pub fn sf(x: f64) -> f64 {
    cdf_both(x).1
}

/// The central mass P(|X| ≤ t) = 2Φ(t) − 1 = erf(t/√2) for t ≥ 0 (and −P(|X| ≤ |t|) for
/// t < 0, the odd extension).
///
/// Accurate to a few ulps relative, including t → 0 where 2Φ(t) − 1 cancels: there it is
/// 2(Φ(t) − ½), taken from Cody's central range directly.
pub fn central_mass(t: f64) -> f64 {
    if t.is_nan() {
        return f64::NAN;
    }
    let y = t.abs();
    let mass = if y <= CENTRAL {
        2.0 * central_part(y)
    } else {
        1.0 - 2.0 * tail(y)
    };
    mass.copysign(t)
}

/// Acklam's rational approximation of Φ⁻¹(p) for 0 < p ≤ ½ (relative error ≤ 1.15·10⁻⁹).
fn acklam_lower(p: f64) -> f64 {
    if p < ACKLAM_P_LOW {
        let q = (-2.0 * p.ln()).sqrt();
        let c = &ACKLAM_C;
        let d = &ACKLAM_D;
        (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5])
            / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0)
    } else {
        let q = p - 0.5;
        let r = q * q;
        let a = &ACKLAM_A;
        let b = &ACKLAM_B;
        (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q
            / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0)
    }
}

/// Φ⁻¹(p) for 0 < p ≤ ½: Acklam's estimate and one Halley step on f(x) = Φ(x) − p,
///
/// ```text
/// u = (Φ(x) − p)/φ(x),    x ← x − u / (1 + x·u/2)
/// ```
///
/// (f' = φ, f'' = −xφ). The step is cubically convergent, so 10⁻⁹ becomes round-off.
fn inv_lower(p: f64) -> f64 {
    let x = acklam_lower(p);
    if p < REFINE_MIN_P {
        return x;
    }
    let u = (cdf(x) - p) / pdf(x);
    let refined = x - u / (1.0 + 0.5 * x * u);
    if refined.is_finite() {
        refined
    } else {
        x
    }
}

/// The standard normal quantile Φ⁻¹(p).
///
/// Acklam's algorithm refined by one Halley step using [`cdf`]: relative error ≈ 10⁻¹⁵ for
/// p ≥ 10⁻³⁰⁰ (and Acklam's 1.15·10⁻⁹ below). Edge cases: Φ⁻¹(0) = −∞, Φ⁻¹(1) = +∞, and NaN
/// for p ∉ [0, 1] or NaN.
pub fn inv_cdf(p: f64) -> f64 {
    if p.is_nan() || !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    if p == 0.0 {
        return f64::NEG_INFINITY;
    }
    if p == 1.0 {
        return f64::INFINITY;
    }
    if p > 0.5 {
        -inv_lower(1.0 - p)
    } else {
        inv_lower(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(a: f64, b: f64) -> f64 {
        (a - b).abs() / b.abs()
    }

    /// Reference values computed with mpmath at 40 digits.
    const CDF_TABLE: [(f64, f64); 18] = [
        (-37.0, 5.725_571_222_524_576_8e-300),
        (-30.0, 4.906_713_927_148_187_1e-198),
        (-20.0, 2.753_624_118_606_233_7e-89),
        (-10.0, 7.619_853_024_160_526e-24),
        (-8.0, 6.220_960_574_271_784_1e-16),
        (-6.0, 9.865_876_450_376_981_4e-10),
        (-5.0, 2.866_515_718_791_939_1e-7),
        (-3.0, 0.001_349_898_031_630_094_6),
        (-2.0, 0.022_750_131_948_179_207),
        (-1.0, 0.158_655_253_931_457_05),
        (-0.5, 0.308_537_538_725_986_9),
        (-0.1, 0.460_172_162_722_971_02),
        (-1e-5, 0.499_996_010_577_196_05),
        (0.5, 0.691_462_461_274_013_1),
        (1.0, 0.841_344_746_068_542_9),
        (2.0, 0.977_249_868_051_820_8),
        (3.0, 0.998_650_101_968_369_9),
        (5.0, 0.999_999_713_348_428_1),
    ];

    #[test]
    fn cdf_matches_reference_values() {
        for &(x, want) in &CDF_TABLE {
            let got = cdf(x);
            assert!(rel(got, want) <= 2e-15, "Φ({x}) = {got:e}, want {want:e}");
            // The complement is the same function reflected.
            assert!(rel(sf(-x), want) <= 2e-15, "1 − Φ({}) wrong", -x);
        }
        assert_eq!(cdf(-3.0), 0.001_349_898_031_630_094_6);
        assert_eq!(cdf(1.0), 0.841_344_746_068_542_9);
    }

    #[test]
    fn cdf_edge_cases() {
        assert_eq!(cdf(f64::NEG_INFINITY), 0.0);
        assert_eq!(cdf(f64::INFINITY), 1.0);
        assert_eq!(cdf(-50.0), 0.0);
        assert_eq!(cdf(0.0), 0.5);
        assert!(cdf(f64::NAN).is_nan());
        assert!(pdf(f64::NAN).is_nan());
        assert_eq!(pdf(f64::INFINITY), 0.0);
    }

    #[test]
    fn pdf_matches_closed_form() {
        for &x in &[0.0f64, 0.3, -1.0, 2.5, -7.0, 20.0] {
            let want = (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
            assert!(rel(pdf(x), want) <= 1e-14, "φ({x})");
        }
    }

    #[test]
    fn central_mass_matches_erf() {
        // erf(t/√2) from mpmath.
        let table = [
            (0.5, 0.382_924_922_548_026_2),
            (1.0, 0.682_689_492_137_085_9),
            (2.0, 0.954_499_736_103_641_6),
            (3.0, 0.997_300_203_936_739_8),
            (4.0, 0.999_936_657_516_333_8),
        ];
        for &(t, want) in &table {
            assert!(rel(central_mass(t), want) <= 2e-15, "Z({t})");
        }
        // Small t: erf(t/√2) = 2tφ(0)(1 − t²/6 + …), no cancellation.
        let t = 1e-10;
        assert!(rel(central_mass(t), 2.0 * t * FRAC_1_SQRT_2PI) <= 1e-15);
        assert_eq!(central_mass(-1.0), -central_mass(1.0));
    }

    #[test]
    fn inv_cdf_matches_reference_values() {
        let table = [
            (0.975, 1.959_963_984_540_054),
            (1e-300, -37.047_096_299_361_199),
            (1e-100, -21.273_453_560_965_324),
            (1e-20, -9.262_340_089_798_407_6),
            (1e-10, -6.361_340_902_404_056),
            (0.01, -2.326_347_874_040_841),
            (0.024_25, -1.972_961_051_311_884_8),
            (0.3, -0.524_400_512_708_040_8),
            (0.9, 1.281_551_565_544_600_6),
            (0.999, 3.090_232_306_167_813_3),
        ];
        for &(p, want) in &table {
            let got = inv_cdf(p);
            assert!(rel(got, want) <= 2e-15, "Φ⁻¹({p}) = {got}, want {want}");
        }
    }

    #[test]
    fn inv_cdf_edge_cases() {
        assert_eq!(inv_cdf(0.0), f64::NEG_INFINITY);
        assert_eq!(inv_cdf(1.0), f64::INFINITY);
        assert_eq!(inv_cdf(0.5), 0.0);
        assert!(inv_cdf(-0.1).is_nan());
        assert!(inv_cdf(1.1).is_nan());
        assert!(inv_cdf(f64::NAN).is_nan());
        // Below the refinement floor Acklam's estimate alone is returned, still finite.
        let x = inv_cdf(1e-310);
        assert!(x.is_finite() && x < -37.0);
    }

    #[test]
    fn round_trip_x_to_p_to_x() {
        let mut x = -37.0;
        while x <= 0.0 {
            let back = inv_cdf(cdf(x));
            // Φ(x) ≈ ½ + xφ(0) near 0 carries an absolute error of one ulp of ½.
            let tol = 2e-15 * x.abs() + 4e-16;
            assert!((back - x).abs() <= tol, "x = {x}: Φ⁻¹(Φ(x)) = {back}");
            // The upper half is the reflection, exactly where 1 − p is exact.
            let q = 1.0 - cdf(x);
            assert_eq!(inv_cdf(q), -inv_cdf(1.0 - q), "reflection at q = {q}");
            x += 0.0137;
        }
    }

    #[test]
    fn round_trip_p_to_x_to_p() {
        let mut log10_p = -300.0;
        while log10_p < 0.0 {
            let p = 10f64.powf(log10_p).min(0.999_999);
            let x = inv_cdf(p);
            // Φ's condition number in the tail is ≈ x², so allow ulps of x times that.
            let tol = 4e-16 * (1.0 + x * x);
            assert!(rel(cdf(x), p) <= tol, "p = {p:e}: Φ(Φ⁻¹(p)) = {:e}", cdf(x));
            log10_p += 0.173;
        }
    }
}
