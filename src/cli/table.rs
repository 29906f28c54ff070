//! Plain-text tables and small statistics for the CLI's human output.

use super::out::{outln, OutputError};
use std::time::Duration;

/// Print `rows` under `headers`, columns right-aligned to their widest cell.
pub fn print(headers: &[&str], rows: &[Vec<String>]) -> Result<(), OutputError> {
    let mut width: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in width.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let parts: Vec<String> = cells
            .iter()
            .zip(&width)
            .map(|(c, &w)| format!("{c:>w$}"))
            .collect();
        outln!("{}", parts.join("  ").trim_end())
    };
    line(headers.iter().map(|h| h.to_string()).collect())?;
    line(width.iter().map(|&w| "-".repeat(w)).collect())?;
    for row in rows {
        line(row.clone())?;
    }
    Ok(())
}

/// A number for a table cell; NaN prints as `-`.
pub fn num(v: f64, decimals: usize) -> String {
    if v.is_nan() {
        "-".into()
    } else {
        format!("{v:.decimals$}")
    }
}

/// Durations in microseconds.
pub fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// The q-quantile (0 ≤ q ≤ 1, nearest rank) of `v`; NaN when empty. Sorts `v`.
pub fn quantile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

/// The median (lower middle for even counts); NaN when empty.
pub fn median(v: &mut [f64]) -> f64 {
    quantile(v, 0.5)
}

/// Format a vector compactly for a table cell.
pub fn vec_cell(v: &[f64], decimals: usize) -> String {
    let parts: Vec<String> = v.iter().map(|x| format!("{x:.decimals$}")).collect();
    parts.join(" ")
}
