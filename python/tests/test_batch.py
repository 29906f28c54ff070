"""Batched solves and VJPs, per-element failures, threads."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import diffop
from conftest import PENDULUM_THETA


def states(b, seed=0):
    rng = np.random.default_rng(seed)
    x = np.zeros((b, 4))
    x[:, 0] = rng.uniform(-0.5, 0.5, b)
    x[:, 1] = rng.uniform(-0.5, 0.5, b)
    return x


@pytest.mark.parametrize("threads", [1, 2])
def test_batch_equals_loop(threads):
    p = diffop.Problem.builtin("cartpole")
    s = diffop.Solver(p, threads=threads)
    x0 = states(16)
    th = p.oracle_theta
    thetas = np.tile(th, (16, 1))
    thetas[:, 0] *= np.linspace(0.5, 1.5, 16)
    bs = s.solve_batch(x0, thetas)
    gu = np.random.default_rng(3).standard_normal((16, p.horizon, 1))
    g = bs.vjp(gu)
    assert bs.ok.all() and all(e is None for e in g.errors)
    for k in range(16):
        sol = s.solve(x0[k], thetas[k])
        np.testing.assert_array_equal(bs.u[k], sol.u)
        np.testing.assert_array_equal(bs.x[k], sol.x)
        gk = sol.vjp(gu[k])
        np.testing.assert_array_equal(g.theta[k], gk.theta)
        np.testing.assert_array_equal(g.x0[k], gk.x0)
    # shared θ broadcasts
    shared = s.solve_batch(x0, th)
    np.testing.assert_array_equal(shared.u[3], s.solve(x0[3], th).u)


def test_failed_elements_are_reported_per_element(pendulum):
    s = diffop.Solver(pendulum)
    x0 = np.array([[0.1 * k, 0.0] for k in range(6)])
    theta = np.tile(PENDULUM_THETA, (6, 1))
    theta[2, 3] = -1.0  # |u| ≤ −1: infeasible
    x0[4, 1] = np.nan  # rejected input
    with pytest.warns(diffop.ConvergenceWarning):
        bs = s.solve_batch(x0, theta)
    assert bs.status[4] == diffop.Status.INVALID_INPUT and "not finite" in bs.errors[4]
    assert not bs.ok[4] and np.isnan(bs.u[4]).all()
    assert not bs.ok[2] and bs.status[2] != diffop.Status.INVALID_INPUT
    good = [0, 1, 3, 5]
    assert bs.ok[good].all()
    g = bs.vjp(np.ones((6, pendulum.horizon, 1)))
    assert np.isnan(g.theta[4]).all() and g.errors[4]
    assert np.isnan(g.theta[2]).all() and g.errors[2]
    for k in good:
        assert np.isfinite(g.theta[k]).all() and g.errors[k] is None
        np.testing.assert_array_equal(g.theta[k], s.solve(x0[k], theta[k]).vjp(
            np.ones((pendulum.horizon, 1))).theta)


def test_threads_from_python_equal_serial(pendulum):
    s = diffop.Solver(pendulum)
    x0s = [np.array([0.1 * k, 0.0]) for k in range(12)]
    serial = [s.solve(x, PENDULUM_THETA) for x in x0s]
    serial_g = [sol.vjp(np.ones((pendulum.horizon, 1))).theta for sol in serial]
    out = [None] * 12

    def work(k):
        sol = s.solve(x0s[k], PENDULUM_THETA)
        out[k] = (sol.u, sol.vjp(np.ones((pendulum.horizon, 1))).theta)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in range(12):
        np.testing.assert_array_equal(out[k][0], serial[k].u)
        np.testing.assert_array_equal(out[k][1], serial_g[k])


def test_batch_shapes_checked():
    p = diffop.Problem.builtin("cartpole")
    s = diffop.Solver(p)
    with pytest.raises(diffop.InvalidInputError):
        s.solve_batch(np.zeros((3, 5)), p.oracle_theta)
    with pytest.raises(diffop.InvalidInputError):
        s.solve_batch(np.zeros((3, 4)), np.zeros((2, p.d)))
    with pytest.raises(diffop.InvalidInputError):
        s.solve_batch(np.zeros(4), p.oracle_theta)
