"""VJPs (θ and x0), Jacobians and value gradients against central differences."""

from __future__ import annotations

import numpy as np
import pytest

import diffop
from conftest import PENDULUM_THETA

EPS = 1e-6


def central(f, p, eps=EPS):
    """Central differences of the vector function f at p: (len(f), len(p))."""
    cols = []
    for k in range(len(p)):
        e = np.zeros_like(p)
        e[k] = eps
        cols.append((f(p + e) - f(p - e)) / (2 * eps))
    return np.stack(cols, axis=-1)


def check_vjp(problem, x0, theta, rng, tol=1e-6):
    s = diffop.Solver(problem)
    sol = s.solve(x0, theta)
    assert sol.status.is_polished
    h, m, n = problem.horizon, problem.m, problem.n
    gu = rng.standard_normal((h, m))
    gx = rng.standard_normal((h + 1, n))

    def seeded(sol_):
        return np.array([np.sum(gu * sol_.u) + np.sum(gx * sol_.x)])

    g = sol.vjp(gu, gx)
    fd_t = central(lambda t: seeded(s.solve(x0, t)), theta)[0]
    fd_x = central(lambda x: seeded(s.solve(x, theta)), np.asarray(x0, float))[0]
    scale = 1.0 + np.abs(fd_t).max()
    assert np.abs(g.theta - fd_t).max() <= tol * scale, (g.theta, fd_t)
    scale = 1.0 + np.abs(fd_x).max()
    assert np.abs(g.x0 - fd_x).max() <= tol * scale, (g.x0, fd_x)
    # the Jacobians agree with the VJP
    j, jx = sol.jacobian(), sol.jacobian_x0()
    np.testing.assert_allclose(np.einsum("hm,hmd->d", gu, j.u) + np.einsum("hn,hnd->d", gx, j.x),
                               g.theta, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(np.einsum("hm,hmd->d", gu, jx.u)
                               + np.einsum("hn,hnd->d", gx, jx.x), g.x0, rtol=1e-9, atol=1e-9)
    return sol


def test_vjp_cartpole_unconstrained():
    p = diffop.Problem.builtin("cartpole")
    rng = np.random.default_rng(0)
    check_vjp(p, np.array([0.1, 0.2, 0.0, 0.0]), p.oracle_theta, rng)


def test_vjp_with_active_bounds(pendulum):
    rng = np.random.default_rng(1)
    sol = check_vjp(pendulum, np.array([0.3, 0.0]), PENDULUM_THETA.copy(), rng)
    n_active = sum(int(a.sum()) for a in sol.active)
    assert n_active >= 2, "the test must exercise active bounds"
    # θ-dependent bound: an active row's multiplier is positive
    assert max(float(m.max()) for m in sol.multipliers[:-1]) > 0


def test_vjp_voltage_active_bounds():
    p = diffop.Problem.builtin("voltage")
    rng = np.random.default_rng(2)
    x0 = np.array([1.06, 0.98, 1.05, 0.0, 0.0, 0.0])
    s = diffop.Solver(p)
    ctx = dict(q_min=[-0.05, -0.05, -0.05], v_env=[1.1, 1.1, 1.1])
    sol = s.solve(x0, p.oracle_theta, **ctx)
    assert sol.status.is_polished and any(a.any() for a in sol.active)
    gu = rng.standard_normal((p.horizon, p.m))
    g = sol.vjp(gu)
    fd = central(lambda t: np.array([np.sum(gu * s.solve(x0, t, **ctx).u)]), p.oracle_theta)[0]
    assert np.abs(g.theta - fd).max() <= 1e-6 * (1 + np.abs(fd).max())


def test_value_gradient(pendulum):
    s = diffop.Solver(pendulum)
    x0 = np.array([0.3, 0.0])
    sol = s.solve(x0, PENDULUM_THETA)
    v = sol.value_gradient()
    assert v.value == pytest.approx(sol.objective, rel=1e-12)
    fd = central(lambda t: np.array([s.solve(x0, t).objective]), PENDULUM_THETA.copy())[0]
    np.testing.assert_allclose(v.theta, fd, rtol=1e-6, atol=1e-6)
    fdx = central(lambda x: np.array([s.solve(x, PENDULUM_THETA).objective]), x0)[0]
    np.testing.assert_allclose(v.x0, fdx, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(sol.lambda0, v.x0, rtol=1e-12, atol=1e-12)


def test_sensitivity_of_failed_solve_raises():
    p = diffop.Problem.builtin("cartpole")
    s = diffop.Solver(p, max_iter=1)
    with pytest.warns(diffop.ConvergenceWarning):
        sol = s.solve([0.1, 3.0, 1.0, 0.0], p.oracle_theta)
    assert not sol.status.is_solved
    with pytest.raises(diffop.SensitivityError):
        sol.vjp(np.ones((p.horizon, 1)))
    with pytest.raises(diffop.SolveFailed):
        sol.raise_for_status()
