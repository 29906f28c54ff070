//! Convex problems against independent references: a dense KKT solve by LU for unconstrained
//! LQ problems, and Clarabel for box-constrained QPs and the voltage QP.

use super::common::{
    all_costates, assert_kkt, clarabel_qp, dense_active_qp, dense_eq_qp, err, kkt_check, stack,
    zeta, Boxes, Rows, StagedQp,
};
use super::tasks::voltage_case;
use diffop::model::tasks::VoltagePolicy;
use diffop::model::OcpModel;
use diffop::sensitivity::jacobian_x0;
use diffop::solver::{KktFactorization, Solution, SolverSettings, Status, WarmStart, Workspace};
use nalgebra::{DMatrix, DVector};

fn solve<M: OcpModel>(model: &M, h: usize, x0: &[f64], th: &[f64], ctx: &[f64]) -> Solution {
    let mut ws = Workspace::new(model, h, SolverSettings::default()).unwrap();
    let sol = ws
        .solve(model, x0, th, ctx, WarmStart::Cold)
        .unwrap()
        .clone();
    assert_eq!(sol.status, Status::Solved);
    let r = kkt_check(model, x0, th, ctx, &sol);
    assert_kkt(model.name(), &r, 1e-10);
    sol
}

/// Textbook backward Riccati for the unconstrained problem (no cross term handling needed
/// beyond S), then a forward rollout; costates λ_i = P_i x_i + p_i.
fn riccati_reference(qp: &StagedQp, x0: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let h = qp.h;
    let mut pm = qp.p.clone();
    let mut pv = qp.pl.clone();
    let mut gains = Vec::new();
    let mut ps = vec![(pm.clone(), pv.clone())];
    for i in (0..h).rev() {
        let (a, b, c) = (&qp.a[i], &qp.b[i], &qp.c[i]);
        let pc = &pv + &pm * c;
        let huu = &qp.r[i] + b.transpose() * &pm * b;
        let hux = qp.s[i].transpose() + b.transpose() * &pm * a;
        let hu = &qp.rl[i] + b.transpose() * &pc;
        let inv = huu.clone().try_inverse().unwrap();
        let k = -&inv * &hux;
        let kf = -&inv * &hu;
        let hxx = &qp.q[i] + a.transpose() * &pm * a;
        let hx = &qp.ql[i] + a.transpose() * &pc;
        pm = &hxx + hux.transpose() * &k;
        pv = &hx + hux.transpose() * &kf;
        pm = (&pm + pm.transpose()) * 0.5;
        gains.push((k, kf));
        ps.push((pm.clone(), pv.clone()));
    }
    gains.reverse();
    ps.reverse();
    let mut z = Vec::new();
    let mut lam = Vec::new();
    let mut x = DVector::from_column_slice(x0);
    for i in 0..h {
        let u = &gains[i].0 * &x + &gains[i].1;
        lam.extend((&ps[i].0 * &x + &ps[i].1).iter());
        z.extend(x.iter());
        z.extend(u.iter());
        x = &qp.a[i] * &x + &qp.b[i] * &u + &qp.c[i];
    }
    lam.extend((&ps[h].0 * &x + &ps[h].1).iter());
    z.extend(x.iter());
    (z, lam)
}

#[test]
fn unconstrained_lq_matches_dense_kkt_and_riccati() {
    let boxes = Boxes { u: None, x: None };
    for (seed, n, m, h) in [(1, 2, 1, 5), (2, 4, 2, 10), (3, 6, 3, 20), (4, 3, 3, 1)] {
        let qp = StagedQp::random(seed, n, m, h, boxes);
        let x0: Vec<f64> = (0..n).map(|j| 1.0 - 0.4 * j as f64).collect();
        let sol = solve(&qp, h, &x0, &[0.0], &[]);
        let (z_ref, lam_ref) = dense_eq_qp(&qp, &x0);
        let ez = err(&zeta(&sol), &z_ref);
        let el = err(&all_costates(&sol), &lam_ref);
        let (z_ric, lam_ric) = riccati_reference(&qp, &x0);
        let ez2 = err(&zeta(&sol), &z_ric);
        let el2 = err(&all_costates(&sol), &lam_ric);
        eprintln!("LQ seed {seed}: dense ζ {ez:e} λ {el:e}; Riccati ζ {ez2:e} λ {el2:e}");
        assert!(ez <= 1e-10 && el <= 1e-10, "dense: ζ {ez:e} λ {el:e}");
        assert!(ez2 <= 1e-10 && el2 <= 1e-10, "Riccati: ζ {ez2:e} λ {el2:e}");
        assert!(sol.iterations <= 2, "an LQ problem takes one Newton step");
    }
}

fn compare_with_clarabel<M: OcpModel>(
    label: &str,
    model: &M,
    qp: &StagedQp,
    x0: &[f64],
    th: &[f64],
    ctx: &[f64],
    tol: f64,
) -> usize {
    let Some((z, lam, mu)) = clarabel_qp(qp, x0) else {
        let mut ws = Workspace::new(model, qp.h, SolverSettings::default()).unwrap();
        let sol = ws.solve(model, x0, th, ctx, WarmStart::Cold).unwrap();
        eprintln!("{label}: infeasible (Clarabel); ours {:?}", sol.status);
        assert!(
            !sol.status.is_solved(),
            "{label}: infeasible QP reported solved"
        );
        return 0;
    };
    let sol = solve(model, qp.h, x0, th, ctx);
    let ez = err(&zeta(&sol), &z);
    let el = err(&all_costates(&sol), &lam);
    let em = err(&stack(&sol.mu), &mu);
    // Clarabel's active set (ratio test on its slacks), solved exactly by dense LU
    let (_, e) = qp.dense_ineq();
    let (gm, _) = qp.dense_ineq();
    let gz = &gm * DVector::from_column_slice(&z);
    let act: Vec<bool> = (0..mu.len())
        .map(|k| mu[k] > (gz[k] - e[k]).abs())
        .collect();
    let (z2, lam2, mu2) = dense_active_qp(qp, x0, &act);
    let ez2 = err(&zeta(&sol), &z2);
    let el2 = err(&all_costates(&sol), &lam2);
    let em2 = err(&stack(&sol.mu), &mu2);
    eprintln!(
        "{label}: active {} weak {} | vs Clarabel ζ {ez:e} λ {el:e} μ {em:e} | vs its active set \
         by LU ζ {ez2:e} λ {el2:e} μ {em2:e}",
        sol.n_active(),
        sol.weakly_active
    );
    assert!(ez2 <= 1e-10, "{label}: ζ err {ez2:e}");
    assert!(el2 <= 1e-10, "{label}: λ err {el2:e}");
    assert!(em2 <= 1e-10, "{label}: μ err {em2:e}");
    assert!(
        ez <= tol && el <= tol && em <= tol,
        "{label}: raw Clarabel differs beyond {tol:e}"
    );
    sol.n_active()
}

#[test]
fn box_constrained_qps_match_clarabel() {
    let mut active = 0;
    let cases = [
        (11, 2, 1, 8, Some(0.3), None),
        (12, 3, 2, 10, Some(0.4), Some(1.2)),
        (13, 4, 2, 15, None, Some(0.8)),
        (14, 5, 3, 12, Some(0.25), Some(1.5)),
        (15, 2, 2, 6, Some(10.0), Some(10.0)),
        (16, 4, 2, 10, None, Some(0.6)),
        (17, 3, 3, 8, Some(0.3), Some(0.5)),
    ];
    for (seed, n, m, h, bu, bx) in cases {
        let qp = StagedQp::random(seed, n, m, h, Boxes { u: bu, x: bx });
        let x0: Vec<f64> = (0..n)
            .map(|j| if j % 2 == 0 { 0.4 } else { -0.3 })
            .collect();
        active +=
            compare_with_clarabel(&format!("QP seed {seed}"), &qp, &qp, &x0, &[0.0], &[], 1e-8);
    }
    assert!(active > 0);
}

/// The voltage policy problem written as an explicit QP (constant terms dropped).
fn voltage_qp(model: &VoltagePolicy, h: usize, th: &[f64], ctx: &[f64]) -> StagedQp {
    let (n, m) = (6, 3);
    let mut q = DMatrix::zeros(n, n);
    let mut ql = DVector::zeros(n);
    for b in 0..3 {
        q[(b, b)] = 2.0 * th[b] * th[b];
        ql[b] = -2.0 * th[b] * th[b];
    }
    let r = DMatrix::from_diagonal(&DVector::from_iterator(3, model.cu.iter().map(|c| 2.0 * c)));
    let mut a = DMatrix::zeros(n, n);
    let mut bm = DMatrix::zeros(n, m);
    let mut c = DVector::zeros(n);
    for rr in 0..3 {
        for cc in 0..3 {
            a[(rr, 3 + cc)] = th[3 + 3 * rr + cc];
        }
        a[(3 + rr, 3 + rr)] = 1.0;
        bm[(3 + rr, rr)] = 1.0;
        c[rr] = ctx[rr];
    }
    let bounds = |mm: usize| {
        let mut gx = DMatrix::zeros(6, n);
        let mut rhs = DVector::zeros(6);
        for b in 0..3 {
            gx[(b, 3 + b)] = 1.0;
            rhs[b] = ctx[6 + b];
            gx[(3 + b, 3 + b)] = -1.0;
            rhs[3 + b] = -ctx[3 + b];
        }
        Rows {
            gx,
            gu: DMatrix::zeros(6, mm),
            rhs,
        }
    };
    let mut rows = vec![Rows::none(n, m)];
    rows.extend((1..h).map(|_| bounds(m)));
    rows.push(bounds(0));
    StagedQp {
        n,
        m,
        h,
        q: vec![q.clone(); h],
        r: vec![r; h],
        s: vec![DMatrix::zeros(n, m); h],
        ql: vec![ql.clone(); h],
        rl: vec![DVector::zeros(m); h],
        p: q,
        pl: ql,
        a: vec![a; h],
        b: vec![bm; h],
        c: vec![c; h],
        rows,
    }
}

/// Raw Clarabel reaches only ≈1e-6 on the voltage QP (its Hessian is singular in q and many
/// bounds are active), so the 1e-10 comparison is against the exact solution on Clarabel's
/// active set; raw Clarabel must agree to 5e-6.
#[test]
fn voltage_qp_matches_clarabel() {
    let model = VoltagePolicy::default();
    let mut active = 0;
    for h in [6, 30] {
        for k in 0..3 {
            let (th, ctx, x0) = voltage_case(k);
            let qp = voltage_qp(&model, h, &th, &ctx);
            active += compare_with_clarabel(
                &format!("voltage H={h} case {k}"),
                &model,
                &qp,
                &x0,
                &th,
                &ctx,
                5e-6,
            );
        }
    }
    assert!(active > 0);
}

/// The active-set start (warm starts of these linear–quadratic models) against Clarabel: a
/// receding-horizon-like sequence of initial states solved with shifted and current warm starts
/// in one workspace, each compared with Clarabel's solution of the same QP.
#[test]
fn warm_started_box_qps_match_clarabel() {
    let (mut fast, mut total) = (0, 0);
    let cases = [
        (21, 3, 2, 10, Some(0.4), Some(1.2)),
        (22, 4, 2, 12, Some(0.3), Some(0.8)),
        (23, 2, 1, 8, None, Some(0.6)),
        (24, 3, 3, 9, Some(0.25), None),
    ];
    for (seed, n, m, h, bu, bx) in cases {
        let qp = StagedQp::random(seed, n, m, h, Boxes { u: bu, x: bx });
        let mut ws = Workspace::new(&qp, h, SolverSettings::default()).unwrap();
        let mut x0: Vec<f64> = (0..n)
            .map(|j| if j % 2 == 0 { 0.4 } else { -0.3 })
            .collect();
        for step in 0..8 {
            let start = match step {
                0 => WarmStart::Cold,
                k if k % 2 == 1 => WarmStart::Shift,
                _ => WarmStart::Current,
            };
            let label = format!("QP seed {seed} step {step} {start:?}");
            let sol = ws.solve(&qp, &x0, &[0.0], &[], start).unwrap().clone();
            let Some((z, lam, mu)) = clarabel_qp(&qp, &x0) else {
                assert!(!sol.status.is_solved(), "{label}: infeasible QP solved");
                break;
            };
            assert_eq!(sol.status, Status::Solved, "{label}");
            let ez = err(&zeta(&sol), &z);
            let el = err(&all_costates(&sol), &lam);
            let em = err(&stack(&sol.mu), &mu);
            assert!(
                ez <= 1e-8 && el <= 1e-8 && em <= 1e-8,
                "{label}: ζ {ez:e} λ {el:e} μ {em:e}"
            );
            if step > 0 {
                fast += usize::from(sol.iterations == 0);
                total += 1;
            }
            // next state: the predicted one, nudged
            x0 = sol.x[1]
                .iter()
                .enumerate()
                .map(|(j, v)| v + 0.05 * ((j + step) as f64).sin())
                .collect();
        }
    }
    eprintln!("active-set start on {fast} of {total} warm solves");
    assert!(
        2 * fast > total,
        "active-set start on {fast} of {total} warm solves"
    );
}

/// The stage-wise equality-constrained Riccati recursion (default) against the Schur
/// complement over the active rows (`constrained_riccati = false`) and Clarabel: random QPs with
/// control and state boxes, and double integrators held against a position bound (rows that
/// the recursion carries back over stages). Same solution and multipliers, same ∂ζ*/∂x_init,
/// and the recursion must have been the route taken. (Infeasible draws must fail on both.)
#[test]
fn constrained_riccati_matches_the_schur_complement() {
    let schur = SolverSettings {
        constrained_riccati: false,
        ..SolverSettings::default()
    };
    let cases = [
        (31, 3, 2, 10, Some(0.4), Some(1.0)),
        (32, 4, 1, 12, None, Some(1.0)),
        (32, 4, 1, 12, None, Some(0.8)),
        (33, 4, 1, 8, Some(0.8), Some(0.8)),
        (34, 5, 2, 15, Some(0.3), Some(0.6)),
        (34, 5, 2, 15, Some(0.3), Some(0.8)),
        (35, 2, 2, 20, Some(0.2), Some(0.5)),
        // the barrier terms of nearly active rows fail the interior-point inertia test at the
        // acceptable level: handed over to the polish
        (36, 6, 3, 25, Some(0.5), Some(0.6)),
        (37, 6, 1, 10, None, Some(0.8)),
        (38, 6, 2, 10, None, Some(0.7)),
        (39, 3, 1, 10, None, Some(0.5)),
    ];
    let flat = |j: &[DMatrix<f64>]| j.iter().flat_map(|m| m.iter().copied()).collect::<Vec<_>>();
    let (mut eq_used, mut rows_total) = (0, 0);
    let mut problems: Vec<(String, StagedQp, Vec<f64>)> = Vec::new();
    for (seed, n, m, h, bu, bx) in cases {
        let qp = StagedQp::random(seed, n, m, h, Boxes { u: bu, x: bx });
        let x0: Vec<f64> = (0..n)
            .map(|j| if j % 2 == 0 { 0.2 } else { -0.15 })
            .collect();
        problems.push((format!("QP seed {seed} boxes {bu:?} {bx:?}"), qp, x0));
    }
    // Double integrators pushed against a position bound: the position row of stage i + 1
    // does not depend on u_i (C B = 0), so it is carried back to stage i − 1.
    for (seed, h, pull) in [(41, 12, 2.0), (42, 30, 5.0), (43, 60, 1.0)] {
        let mut qp = StagedQp::random(
            seed,
            2,
            1,
            h,
            Boxes {
                u: Some(3.0),
                x: Some(0.5),
            },
        );
        let dt = 0.2;
        for i in 0..h {
            qp.a[i] = DMatrix::from_row_slice(2, 2, &[1.0, dt, 0.0, 1.0]);
            qp.b[i] = DMatrix::from_row_slice(2, 1, &[0.0, dt]);
            qp.c[i] = DVector::zeros(2);
            qp.ql[i][0] = -pull;
            qp.ql[i][1] = 0.0;
        }
        qp.pl[0] = -pull;
        problems.push((
            format!("double integrator seed {seed} H {h}"),
            qp,
            vec![0.0, 0.3],
        ));
    }
    for (label, qp, x0) in problems {
        let h = qp.h;
        let reference = clarabel_qp(&qp, &x0);
        let mut ws_a = Workspace::new(&qp, h, SolverSettings::default()).unwrap();
        let mut ws_b = Workspace::new(&qp, h, schur.clone()).unwrap();
        let a = ws_a
            .solve(&qp, &x0, &[0.0], &[], WarmStart::Cold)
            .unwrap()
            .clone();
        let b = ws_b
            .solve(&qp, &x0, &[0.0], &[], WarmStart::Cold)
            .unwrap()
            .clone();
        let Some((z, lam, mu)) = reference else {
            assert!(
                !a.status.is_solved() && !b.status.is_solved(),
                "{label}: infeasible QP solved"
            );
            continue;
        };
        assert_eq!(a.status, Status::Solved, "{label}");
        assert_eq!(b.status, Status::Solved, "{label} (Schur)");
        assert_eq!(a.active, b.active, "{label}: active sets");
        let k = a.n_active();
        rows_total += k;
        match ws_a.kkt_factorization() {
            Some(KktFactorization::ConstrainedRiccati(r)) => {
                assert_eq!(r, k, "{label}");
                eq_used += 1;
            }
            Some(KktFactorization::Riccati) => assert_eq!(k, 0, "{label}"),
            other => panic!("{label}: factorization {other:?}"),
        }
        if k > 0 {
            assert_eq!(
                ws_b.kkt_factorization(),
                Some(KktFactorization::SchurComplement(k))
            );
        }
        let r = kkt_check(&qp, &x0, &[0.0], &[], &a);
        assert_kkt(&label, &r, 1e-10);
        for (what, va, vb) in [
            ("ζ", zeta(&a), zeta(&b)),
            ("λ", all_costates(&a), all_costates(&b)),
            ("μ", stack(&a.mu), stack(&b.mu)),
        ] {
            let e = err(&va, &vb);
            assert!(e <= 1e-10, "{label}: {what} differs by {e:.2e}");
        }
        let e = err(&zeta(&a), &z).max(err(&all_costates(&a), &lam));
        let e = e.max(err(&stack(&a.mu), &mu));
        assert!(e <= 1e-8, "{label}: differs from Clarabel by {e:.2e}");
        let ja = jacobian_x0(&mut ws_a, &qp).unwrap();
        let jb = jacobian_x0(&mut ws_b, &qp).unwrap();
        let e = err(&flat(&ja.u), &flat(&jb.u)).max(err(&flat(&ja.x), &flat(&jb.x)));
        assert!(e <= 1e-9, "{label}: ∂ζ/∂x_init differs by {e:.2e}");
    }
    eprintln!("constrained Riccati on {eq_used} QPs, {rows_total} active rows");
    assert!(
        eq_used >= 6,
        "constrained Riccati used on {eq_used} QPs only"
    );
}
