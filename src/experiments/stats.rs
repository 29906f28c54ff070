//! Summary statistics over run seeds.

/// Mean of the finite values (None if there are none).
pub fn mean(v: &[f64]) -> Option<f64> {
    let f: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if f.is_empty() {
        None
    } else {
        Some(f.iter().sum::<f64>() / f.len() as f64)
    }
}

/// The p-th percentile (0 ≤ p ≤ 100) of the finite values, linear interpolation between order
/// statistics (numpy's default); None if there are none.
pub fn percentile(v: &[f64], p: f64) -> Option<f64> {
    let mut f: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if f.is_empty() {
        return None;
    }
    f.sort_by(f64::total_cmp);
    let r = (p / 100.0).clamp(0.0, 1.0) * (f.len() - 1) as f64;
    let (lo, hi) = (r.floor() as usize, r.ceil() as usize);
    Some(f[lo] + (r - lo as f64) * (f[hi] - f[lo]))
}

/// Sample standard deviation (0 for a single value; None if there are none).
pub fn std_dev(v: &[f64]) -> Option<f64> {
    let m = mean(v)?;
    let f: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if f.len() < 2 {
        return Some(0.0);
    }
    Some((f.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (f.len() - 1) as f64).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_match_numpy() {
        let v = [5.0, 1.0, 4.0, 2.0, 3.0];
        assert!((percentile(&v, 20.0).unwrap() - 1.8).abs() < 1e-12);
        assert!((percentile(&v, 80.0).unwrap() - 4.2).abs() < 1e-12);
        assert_eq!(percentile(&v, 50.0), Some(3.0));
        assert_eq!(percentile(&[7.0], 20.0), Some(7.0));
        assert_eq!(percentile(&[], 20.0), None);
        assert_eq!(mean(&[1.0, f64::NAN, 3.0]), Some(2.0));
        assert!((std_dev(&[1.0, 2.0, 3.0]).unwrap() - 1.0).abs() < 1e-15);
    }
}
