"""Pickle round trips of problems, solvers and solutions."""

from __future__ import annotations

import pickle

import numpy as np

import diffop
from conftest import PENDULUM_THETA


def test_problem_round_trips(pendulum):
    for p in (diffop.Problem.builtin("quadrotor", mode="traj"), pendulum):
        q = pickle.loads(pickle.dumps(p))
        assert q == p and (q.n, q.m, q.d, q.horizon, q.name) == (p.n, p.m, p.d, p.horizon, p.name)


def test_solver_and_solution_round_trip(pendulum):
    s = diffop.Solver(pendulum, threads=2, tol=1e-9)
    s2 = pickle.loads(pickle.dumps(s))
    assert s2.settings == s.settings and s2.threads == 2
    sol = s.solve([0.3, 0.0], PENDULUM_THETA)
    g = sol.vjp(np.ones((pendulum.horizon, 1)))
    back = pickle.loads(pickle.dumps(sol))
    assert back.status == sol.status and back.objective == sol.objective
    np.testing.assert_array_equal(back.u, sol.u)
    g2 = back.vjp(np.ones((pendulum.horizon, 1)))
    np.testing.assert_array_equal(g2.theta, g.theta)
    np.testing.assert_array_equal(g2.x0, g.x0)
    warm = s.solve([0.31, 0.0], PENDULUM_THETA, warm_start=sol)
    wb = pickle.loads(pickle.dumps(warm))
    np.testing.assert_array_equal(wb.jacobian().u, warm.jacobian().u)


def test_batch_solution_round_trip():
    p = diffop.Problem.builtin("cartpole")
    bs = diffop.Solver(p).solve_batch(np.array([[0.1, 0.2, 0, 0], [0.0, -0.3, 0, 0]]),
                                      p.oracle_theta)
    back = pickle.loads(pickle.dumps(bs))
    np.testing.assert_array_equal(back.u, bs.u)
    gu = np.ones((2, p.horizon, 1))
    np.testing.assert_array_equal(back.vjp(gu).theta, bs.vjp(gu).theta)
