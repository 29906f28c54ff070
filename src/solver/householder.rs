//! Dense kernels of the equality-constrained Riccati recursion ([`super::eq_riccati`]): the
//! column-pivoted Householder QR of a stage's stacked rows and the triangular solve with its R.

/// Index of entry (i, j) of a column-major matrix with leading dimension `ld`.
#[inline(always)]
pub(super) fn ix(ld: usize, i: usize, j: usize) -> usize {
    j * ld + i
}

/// Solve R11 w = w in place, R11 the leading ρ×ρ upper triangle read through `rr`.
pub(super) fn back_upper(rr: &impl Fn(usize, usize) -> f64, rho: usize, w: &mut [f64]) {
    for j in (0..rho).rev() {
        let mut v = w[j];
        for c in j + 1..rho {
            v -= rr(j, c) * w[c];
        }
        w[j] = v / rr(j, j);
    }
}

/// Column-pivoted Householder QR of the control columns of D (r × (n + m), leading dimension
/// r; the control part starts at column n). On return D holds T D with T (r×r, leading
/// dimension `ldt` = its capacity) orthogonal, the control columns permuted by `perm` (column
/// j of the result is control `perm[j]`), T D_u upper trapezoidal with rank ρ (returned) and
/// its rows ρ.. zeroed. A column whose remaining norm is ≤ 1e-10 · (largest column norm of
/// D) ends the factorization.
pub(super) fn householder_u(
    d: &mut [f64],
    (r, n, m): (usize, usize, usize),
    (t, ldt): (&mut [f64], usize),
    perm: &mut [usize],
    tmp: &mut [f64],
) -> usize {
    for b in 0..r {
        for a in 0..r {
            t[ix(ldt, a, b)] = if a == b { 1.0 } else { 0.0 };
        }
    }
    for (j, p) in perm.iter_mut().enumerate() {
        *p = j;
    }
    let nm = n + m;
    let colnorm2 = |d: &[f64], c: usize, from: usize| -> f64 {
        (from..r).map(|a| d[ix(r, a, c)] * d[ix(r, a, c)]).sum()
    };
    let scale = (0..nm)
        .map(|c| colnorm2(d, c, 0))
        .fold(0.0f64, f64::max)
        .sqrt();
    let tol = 1e-10 * scale;
    let mut rho = 0;
    for j in 0..m.min(r) {
        // pivot: the control column with the largest remaining norm
        let (mut best, mut bn) = (j, -1.0);
        for c in j..m {
            let v = colnorm2(d, n + c, j);
            if v > bn {
                bn = v;
                best = c;
            }
        }
        if bn.sqrt() <= tol || scale == 0.0 {
            break;
        }
        if best != j {
            for a in 0..r {
                d.swap(ix(r, a, n + j), ix(r, a, n + best));
            }
            perm.swap(j, best);
        }
        // Householder v with (I − 2vvᵀ/vᵀv) x = ∓‖x‖ e_j on rows j..r.
        let norm = bn.sqrt();
        let x0 = d[ix(r, j, n + j)];
        let alpha = if x0 >= 0.0 { -norm } else { norm };
        let v = &mut tmp[..r];
        v.fill(0.0);
        for a in j..r {
            v[a] = d[ix(r, a, n + j)];
        }
        v[j] -= alpha;
        let vtv: f64 = v[j..r].iter().map(|x| x * x).sum();
        if vtv > 0.0 {
            let beta = 2.0 / vtv;
            for c in 0..nm {
                let s: f64 = (j..r).map(|a| v[a] * d[ix(r, a, c)]).sum();
                if s != 0.0 {
                    for a in j..r {
                        d[ix(r, a, c)] -= beta * s * v[a];
                    }
                }
            }
            for c in 0..r {
                let s: f64 = (j..r).map(|a| v[a] * t[ix(ldt, a, c)]).sum();
                if s != 0.0 {
                    for a in j..r {
                        t[ix(ldt, a, c)] -= beta * s * v[a];
                    }
                }
            }
        }
        for a in j + 1..r {
            d[ix(r, a, n + j)] = 0.0;
        }
        rho = j + 1;
    }
    for c in rho..m {
        for a in rho..r {
            d[ix(r, a, n + c)] = 0.0;
        }
    }
    rho
}
