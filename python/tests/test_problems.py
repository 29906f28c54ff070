"""Built-in problems, the CLI's answers, and problems written in Python."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

import diffop
from conftest import cli_binary, python_cartpole

TASKS = ["cartpole", "arm", "quadrotor", "rocket", "voltage"]
X0 = {
    "cartpole": [0.1, 0.2, 0.0, 0.0],
    "arm": [0.1, 0.2, 0.0, 0.0],
    "quadrotor": [1.0, -1.0, 2.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    "rocket": [8.0, -4.0, 3.0, -1.0, 0.5, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    "voltage": [1.02, 0.98, 1.05, 0.0, 0.0, 0.0],
}


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("mode", ["step", "traj"])
def test_builtin_dimensions_and_thetas(task, mode):
    p = diffop.Problem.builtin(task, mode=mode)
    assert p.horizon >= 6
    assert p.oracle_theta.shape == (p.d,)
    t0 = p.theta0(seed=3)
    assert t0.shape == (p.d,)
    assert np.array_equal(t0, p.theta0(seed=3))
    assert not np.array_equal(t0, p.theta0(seed=4))
    assert (p.context_names != ()) == (task == "voltage")


@pytest.mark.parametrize("task", TASKS)
def test_builtin_solution_equals_cli(task):
    exe = cli_binary()
    if exe is None:
        pytest.skip("diffop CLI not built (set DIFFOP_BIN)")
    p = diffop.Problem.builtin(task)
    req = {"task": task, "x0": X0[task], "jacobian": True}
    out = subprocess.run([exe, "solve", "-"], input=json.dumps(req), capture_output=True,
                         text=True, check=False)
    assert out.returncode == 0, out.stderr
    cli = json.loads(out.stdout)
    sol = diffop.Solver(p).solve(X0[task], p.oracle_theta)
    assert sol.status.value == cli["status"]
    np.testing.assert_allclose(sol.u, np.array(cli["u"]), rtol=0, atol=1e-12)
    np.testing.assert_allclose(sol.x, np.array(cli["x"]), rtol=0, atol=1e-12)
    assert abs(sol.objective - cli["objective"]) <= 1e-12 * max(1.0, abs(cli["objective"]))
    np.testing.assert_allclose(sol.jacobian().u, np.array(cli["jacobian"]), rtol=1e-10,
                               atol=1e-10)
    np.testing.assert_allclose(sol.jacobian_x0().u, np.array(cli["jacobian_x0"]), rtol=1e-10,
                               atol=1e-10)


def test_true_form_problem_solves():
    p = diffop.Problem.builtin("cartpole", form="true_form")
    sol = diffop.Solver(p).solve(X0["cartpole"], p.oracle_theta)
    assert sol.status.is_polished


@pytest.mark.parametrize("horizon", [6, 15])
def test_python_cartpole_equals_builtin(horizon):
    built = diffop.Problem.builtin("cartpole", horizon=horizon)
    py = python_cartpole(horizon)
    assert py.compiled.startswith("compiled")
    theta = built.oracle_theta
    for x0 in ([0.1, 0.2, 0.0, 0.0], [0.5, -1.0, 0.3, 0.2]):
        a = diffop.Solver(built).solve(x0, theta)
        b = diffop.Solver(py).solve(x0, theta)
        assert a.status == b.status == diffop.Status.SOLVED
        np.testing.assert_allclose(b.u, a.u, rtol=0, atol=1e-12)
        np.testing.assert_allclose(b.x, a.x, rtol=0, atol=1e-12)
        np.testing.assert_allclose(b.costates, a.costates, rtol=0, atol=1e-12)
        ja, jb = a.jacobian(), b.jacobian()
        np.testing.assert_allclose(jb.u, ja.u, rtol=0, atol=1e-12)
        np.testing.assert_allclose(jb.x, ja.x, rtol=0, atol=1e-12)
        np.testing.assert_allclose(b.jacobian_x0().u, a.jacobian_x0().u, rtol=0, atol=1e-12)


def test_voltage_context_keywords():
    p = diffop.Problem.builtin("voltage")
    s = diffop.Solver(p)
    a = s.solve(X0["voltage"], p.oracle_theta)
    b = s.solve(X0["voltage"], p.oracle_theta, q_min=[-1.5, -1.4, -1.0], q_max=[1.5, 1.4, 0.6])
    np.testing.assert_array_equal(a.u, b.u)
    c = s.solve(X0["voltage"], p.oracle_theta, q_min=[-0.01, -0.01, -0.01])
    assert c.status.is_solved
    assert any(a.any() for a in c.active)
    with pytest.raises(diffop.InvalidInputError):
        s.solve(X0["voltage"], p.oracle_theta, bogus=[1, 2, 3])
    with pytest.raises(diffop.InvalidInputError):
        diffop.Solver(diffop.Problem.builtin("cartpole")).solve(
            X0["cartpole"], diffop.Problem.builtin("cartpole").oracle_theta, v_env=[1, 1, 1])


def test_warm_start_reaches_the_same_solution(cartpole):
    s = diffop.Solver(cartpole)
    theta = diffop.Problem.builtin("cartpole").oracle_theta
    a = s.solve([0.1, 0.2, 0.0, 0.0], theta)
    b = s.solve([0.1, 0.2, 0.0, 0.0], theta, warm_start=a)
    np.testing.assert_allclose(b.u, a.u, atol=1e-10)
    assert b.iterations <= a.iterations
