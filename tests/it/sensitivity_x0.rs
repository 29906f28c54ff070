//! The adjoint VJP with respect to x_init ([`sensitivity::vjp_full`]): against central finite
//! differences of re-solved problems (cart-pole with saturated controls, the voltage task with
//! active reactive-power limits) and against `jacobian_x0`ᵀ·g; its θ part is bitwise [`vjp`].
//! (The built-in cart-pole policy has no inequalities; [`BoundedCartpole`] adds force bounds.)

use crate::common;

use common::{random_nonlinear, random_voltage, rng};
use diffop::model::tasks::{NonlinearTask, Table1Policy, VoltagePolicy};
use diffop::model::{cst, Dims, OcpModel, Scalar};
use diffop::sensitivity::{self, Seed, SensitivityError};
use diffop::solver::{Solution, SolverSettings, WarmStart, Workspace};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

fn stack(v: &[nalgebra::DVector<f64>]) -> Vec<f64> {
    v.iter().flat_map(|x| x.iter().copied()).collect()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// gᵀζ of a solution for the seed (sx, su).
fn seeded(sol: &Solution, sx: &[f64], su: &[f64]) -> f64 {
    dot(&stack(&sol.x), sx) + dot(&stack(&sol.u), su)
}

/// A random seed on every state and control.
fn random_seed(ws: &Workspace, r: &mut ChaCha8Rng) -> (Vec<f64>, Vec<f64>) {
    let (n, m, _) = ws.dims();
    let h = ws.horizon();
    let sx = (0..(h + 1) * n).map(|_| r.random::<f64>() - 0.5).collect();
    let su = (0..h * m).map(|_| r.random::<f64>() - 0.5).collect();
    (sx, su)
}

/// One adjoint solve at the workspace's solution: (gᵀ∂ζ/∂θ, gᵀ∂ζ/∂x_init), after checking the
/// θ part bitwise against `vjp` and the x_init part against `jacobian_x0`ᵀ g.
fn check_adjoint<M: OcpModel>(ws: &mut Workspace, model: &M, sx: &[f64], su: &[f64]) -> Vec<f64> {
    let (n, m, d) = ws.dims();
    let h = ws.horizon();
    let seed = Seed {
        x: Some(sx),
        u: Some(su),
    };
    let (mut gt, mut gx) = (vec![0.0; d], vec![0.0; n]);
    sensitivity::vjp_full(ws, model, seed, &mut gt, &mut gx).unwrap();
    let mut plain = vec![0.0; d];
    sensitivity::vjp(ws, model, seed, &mut plain).unwrap();
    assert!(
        gt.iter()
            .zip(&plain)
            .all(|(a, b)| a.to_bits() == b.to_bits()),
        "{}: θ part of vjp_full differs from vjp",
        model.name()
    );
    let jx = sensitivity::jacobian_x0(ws, model).unwrap();
    let mut reference = vec![0.0; n];
    for (k, r) in reference.iter_mut().enumerate() {
        for i in 0..=h {
            for j in 0..n {
                *r += sx[i * n + j] * jx.x[i][(j, k)];
            }
        }
        for i in 0..h {
            for j in 0..m {
                *r += su[i * m + j] * jx.u[i][(j, k)];
            }
        }
    }
    let scale = reference.iter().fold(1.0f64, |a, v| a.max(v.abs()));
    for k in 0..n {
        assert!(
            (gx[k] - reference[k]).abs() <= 1e-10 * scale,
            "{}: x_init VJP[{k}] {} vs jacobian_x0ᵀg {}",
            model.name(),
            gx[k],
            reference[k]
        );
    }
    gx
}

/// Central finite differences of gᵀζ*(x_init) from the nominal solution as the common guess;
/// `None` when a perturbed solve changes the active set.
fn fd_x0<M: OcpModel>(
    ws: &mut Workspace,
    model: &M,
    x0: &[f64],
    theta: &[f64],
    ctx: &[f64],
    sx: &[f64],
    su: &[f64],
) -> Option<Vec<f64>> {
    let sol = ws.solution().clone();
    let (xg, ug) = (stack(&sol.x), stack(&sol.u));
    let mut out = vec![0.0; x0.len()];
    for (j, o) in out.iter_mut().enumerate() {
        let h = 1e-6 * x0[j].abs().max(1.0);
        let mut vals = [0.0; 2];
        for (v, sgn) in vals.iter_mut().zip([1.0, -1.0]) {
            let mut xx = x0.to_vec();
            xx[j] += sgn * h;
            ws.set_guess(&xg, &ug).unwrap();
            let s = ws
                .solve(model, &xx, theta, ctx, WarmStart::Current)
                .unwrap();
            assert!(s.status.is_polished(), "perturbed solve: {:?}", s.status);
            if s.active != sol.active {
                return None;
            }
            *v = seeded(s, sx, su);
        }
        *o = (vals[0] - vals[1]) / (2.0 * h);
    }
    Some(out)
}

/// Solve, then compare the x_init VJP with finite differences; returns (usable, active rows).
fn check_fd<M: OcpModel>(
    ws: &mut Workspace,
    model: &M,
    x0: &[f64],
    theta: &[f64],
    ctx: &[f64],
    r: &mut ChaCha8Rng,
) -> (bool, usize) {
    let s = ws.solve(model, x0, theta, ctx, WarmStart::Cold).unwrap();
    assert!(s.status.is_polished(), "nominal solve: {:?}", s.status);
    let active = s.n_active();
    let (sx, su) = random_seed(ws, r);
    let gx = check_adjoint(ws, model, &sx, &su);
    let Some(fd) = fd_x0(ws, model, x0, theta, ctx, &sx, &su) else {
        return (false, active);
    };
    let scale = fd.iter().fold(1.0f64, |a, v| a.max(v.abs()));
    for k in 0..x0.len() {
        assert!(
            (gx[k] - fd[k]).abs() <= 1e-5 * scale,
            "{}: x_init VJP[{k}] {} vs FD {} (active rows {active})",
            model.name(),
            gx[k],
            fd[k]
        );
    }
    (true, active)
}

#[test]
fn x0_vjp_matches_fd_nonlinear() {
    for task in [
        NonlinearTask::Cartpole,
        NonlinearTask::Arm,
        NonlinearTask::Quadrotor,
    ] {
        let model = Table1Policy::new(task);
        let mut ws =
            Workspace::new(&model, task.step_horizon(), SolverSettings::default()).unwrap();
        let mut r = rng(41 + task as u64);
        let mut ok = 0;
        for _ in 0..10 {
            let (x0, theta) = random_nonlinear(task, &mut r);
            ok += check_fd(&mut ws, &model, &x0, &theta, &[], &mut r).0 as usize;
        }
        assert!(ok >= 8, "{task:?}: only {ok}/10 usable points");
    }
}

/// The cart-pole policy with the force bounded, |u| ≤ `u_max` (two rows per stage), so that
/// large initial deviations saturate the control.
struct BoundedCartpole {
    inner: Table1Policy,
    u_max: f64,
}

impl OcpModel for BoundedCartpole {
    fn name(&self) -> &str {
        "cartpole with force bounds"
    }
    fn dims(&self) -> Dims {
        self.inner.dims()
    }
    fn dynamics<S: Scalar>(&self, i: usize, x: &[S], u: &[S], th: &[S], c: &[f64], out: &mut [S]) {
        self.inner.dynamics(i, x, u, th, c, out)
    }
    fn stage_cost<S: Scalar>(&self, i: usize, x: &[S], u: &[S], th: &[S], c: &[f64]) -> S {
        self.inner.stage_cost(i, x, u, th, c)
    }
    fn terminal_cost<S: Scalar>(&self, x: &[S], th: &[S], c: &[f64]) -> S {
        self.inner.terminal_cost(x, th, c)
    }
    fn n_path(&self, _i: usize) -> usize {
        2
    }
    fn path_constraints<S: Scalar>(
        &self,
        _i: usize,
        _x: &[S],
        u: &[S],
        _th: &[S],
        _c: &[f64],
        out: &mut [S],
    ) {
        out[0] = u[0] - cst::<S>(self.u_max);
        out[1] = -u[0] - cst::<S>(self.u_max);
    }
}

#[test]
fn x0_vjp_matches_fd_cartpole_saturated() {
    // Large initial angles and velocities drive the force against its bounds.
    let task = NonlinearTask::Cartpole;
    let model = BoundedCartpole {
        inner: Table1Policy::new(task),
        u_max: 1.0,
    };
    let mut ws = Workspace::new(&model, task.step_horizon(), SolverSettings::default()).unwrap();
    let mut r = rng(7);
    let (mut ok_active, mut ok) = (0, 0);
    for _ in 0..20 {
        let (mut x0, theta) = random_nonlinear(task, &mut r);
        for v in x0.iter_mut() {
            *v *= 3.0;
        }
        let (usable, active) = check_fd(&mut ws, &model, &x0, &theta, &[], &mut r);
        ok += usable as usize;
        if usable && active > 0 {
            ok_active += 1;
        }
    }
    assert!(ok >= 12, "only {ok}/20 usable points");
    assert!(
        ok_active >= 3,
        "only {ok_active} usable points with saturated controls"
    );
}

#[test]
fn x0_vjp_matches_fd_voltage() {
    for h in [6, 30] {
        let model = VoltagePolicy::default();
        let mut ws = Workspace::new(&model, h, SolverSettings::default()).unwrap();
        let mut r = rng(300 + h as u64);
        let (mut ok_active, mut ok) = (0, 0);
        for _ in 0..20 {
            let (x0, theta, ctx) = random_voltage(&mut r);
            let (usable, active) = check_fd(&mut ws, &model, &x0, &theta, &ctx, &mut r);
            ok += usable as usize;
            if usable && active > 0 {
                ok_active += 1;
            }
        }
        assert!(ok >= 14, "voltage H{h}: only {ok}/20 usable points");
        assert!(
            ok_active >= 3,
            "voltage H{h}: only {ok_active} with active limits"
        );
    }
}

#[test]
fn x0_vjp_checks_lengths_and_readiness() {
    let model = Table1Policy::new(NonlinearTask::Cartpole);
    let mut ws = Workspace::new(&model, 6, SolverSettings::default()).unwrap();
    let d = model.n_theta();
    let su = vec![1.0; 6];
    let seed = Seed {
        x: None,
        u: Some(&su),
    };
    let (mut gt, mut gx) = (vec![0.0; d], vec![0.0; 4]);
    assert!(matches!(
        sensitivity::vjp_full(&mut ws, &model, seed, &mut gt, &mut gx),
        Err(SensitivityError::NotReady(_))
    ));
    let theta = NonlinearTask::Cartpole.oracle_theta().unwrap();
    ws.solve(&model, &[0.1, 0.0, 0.2, 0.0], &theta, &[], WarmStart::Cold)
        .unwrap();
    let mut short = vec![0.0; 3];
    assert!(matches!(
        sensitivity::vjp_full(&mut ws, &model, seed, &mut gt, &mut short),
        Err(SensitivityError::Dimension {
            expected: 4,
            got: 3,
            ..
        })
    ));
    sensitivity::vjp_full(&mut ws, &model, seed, &mut gt, &mut gx).unwrap();
    assert!(gx.iter().any(|v| *v != 0.0));
}
