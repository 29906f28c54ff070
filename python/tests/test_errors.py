"""Bad input raises typed exceptions; nothing prints."""

from __future__ import annotations

import numpy as np
import pytest

import diffop
from diffop import sym


@pytest.fixture
def setup():
    p = diffop.Problem.builtin("cartpole")
    return p, diffop.Solver(p)


def test_shapes_and_lengths(setup):
    p, s = setup
    with pytest.raises(diffop.InvalidInputError, match="x0"):
        s.solve(np.zeros(3), p.oracle_theta)
    with pytest.raises(diffop.InvalidInputError, match="theta"):
        s.solve(np.zeros(4), p.oracle_theta[:-1])
    with pytest.raises(ValueError):  # InvalidInputError is a ValueError too
        s.solve(np.zeros((4, 1)), p.oracle_theta)


def test_nan_and_dtype(setup):
    p, s = setup
    with pytest.raises(diffop.InvalidInputError, match="not finite"):
        s.solve([0.0, np.nan, 0.0, 0.0], p.oracle_theta)
    with pytest.raises(diffop.InvalidInputError, match="not finite"):
        s.solve(np.zeros(4), np.full(p.d, np.inf))
    with pytest.raises(diffop.InvalidInputError, match="dtype"):
        s.solve(np.zeros(4, dtype=complex), p.oracle_theta)
    with pytest.raises(diffop.InvalidInputError):
        s.solve(["a", "b", "c", "d"], p.oracle_theta)
    # other real dtypes are accepted and computed in float64
    a = s.solve(np.zeros(4, dtype=np.float32), p.oracle_theta.astype(np.float32))
    b = s.solve(np.zeros(4), p.oracle_theta.astype(np.float32).astype(np.float64))
    np.testing.assert_array_equal(a.u, b.u)
    assert a.u.dtype == np.float64


def test_bad_settings_and_seeds(setup):
    p, s = setup
    with pytest.raises(diffop.InvalidInputError, match="unknown field"):
        diffop.Solver(p, no_such_setting=1)
    with pytest.raises(diffop.InvalidInputError):
        diffop.Solver(p, tol=-1.0)
    with pytest.raises(diffop.InvalidInputError):
        diffop.Solver(p, threads=0)
    sol = s.solve(np.zeros(4), p.oracle_theta)
    with pytest.raises(diffop.InvalidInputError):
        sol.vjp(np.ones((p.horizon + 1, 1)))
    with pytest.raises(diffop.InvalidInputError):
        sol.vjp(np.full((p.horizon, 1), np.nan))
    with pytest.raises(diffop.InvalidInputError):
        diffop.Problem.builtin("pendulum")
    with pytest.raises(diffop.InvalidInputError):
        diffop.Problem.builtin("cartpole", horizon=0)


def _problem(dyn, cost=lambda x, u, th: x[0] ** 2 + u[0] ** 2, term=lambda x, th: x[0] ** 2,
             **kw):
    return diffop.Problem(n=1, m=1, d=1, horizon=5, dynamics=dyn, stage_cost=cost,
                          terminal_cost=term, **kw)


def test_value_dependent_code_fails_at_definition():
    def branchy(x, u, th):
        if x[0] > 0:
            return [x[0] + u[0]]
        return [x[0] - u[0]]

    with pytest.raises(diffop.ValueDependentError, match="value-dependent code.*dynamics"):
        _problem(branchy)
    with pytest.raises(diffop.ValueDependentError):
        _problem(lambda x, u, th: [x[0] + float(u[0])])
    with pytest.raises(diffop.ValueDependentError):
        _problem(lambda x, u, th: [abs(x[0]) + u[0]])
    with pytest.raises(diffop.ModelDefinitionError):
        _problem(lambda x, u, th: [x[0], u[0]])  # two outputs for n = 1
    with pytest.raises(diffop.ModelDefinitionError):
        _problem(lambda x, u, th: [x[0] + u[0]], cost=lambda x, u, th: [x[0], u[0]])
    with pytest.raises(diffop.ModelDefinitionError):
        _problem(lambda x, u, th: [x[0] + u[0]], term=lambda x, th: x[0] + np.nan)
    with pytest.raises(diffop.ModelDefinitionError):
        _problem(lambda x, u, th: [x[0] + "a"])


def test_python_problem_with_numpy_ops_and_sym_functions():
    def dyn(x, u, th):
        return x + 0.1 * np.array([x[1], sym.tanh(u[0]) * th[0]])

    p = diffop.Problem(n=2, m=1, d=1, horizon=8, dynamics=dyn,
                       stage_cost=lambda x, u, th: x @ x + u @ u + sym.exp(0.1 * x[0]),
                       terminal_cost=lambda x, th: 10.0 * np.sum(x ** 2))
    sol = diffop.Solver(p).solve([1.0, 0.0], [1.0])
    assert sol.status.is_polished
    assert p.compiled.startswith("compiled")


def test_nothing_prints(capfd):
    p = diffop.Problem.builtin("cartpole")
    with pytest.warns(diffop.ConvergenceWarning):
        diffop.Solver(p, max_iter=1).solve([0.1, 3.0, 1.0, 0.0], p.oracle_theta)
    diffop.Solver(p).solve([0.1, 0.2, 0.0, 0.0], p.oracle_theta).vjp(np.ones((6, 1)))
    out, err = capfd.readouterr()
    assert out == "" and err == ""
