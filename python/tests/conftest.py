"""Shared fixtures: the Python-written cart-pole and a constrained pendulum."""

from __future__ import annotations

import math
import os
import pathlib
import shutil

import numpy as np
import pytest

import diffop
from diffop import sym

G, DT = 10.0, 0.1
CARTPOLE_GOAL = [0.0, math.pi, 0.0, 0.0]


def cartpole_dynamics(x, u, th):
    """docs/spec docs/spec/ENVIRONMENTS.md §2, Euler step x + dt f_c(x, u; φ), φ = θ[8:11]."""
    mc, mp, l = th[8], th[9], th[10]
    q, dx, dq = x[1], x[2], x[3]
    s, c = sym.sin(q), sym.cos(q)
    den = mc + mp * s * s
    ddx = (u[0] + mp * s * (l * dq * dq + G * c)) / den
    ddq = (-u[0] * c - mp * l * dq * dq * s * c - (mc + mp) * G * s) / (l * den)
    xdot = [dx, dq, ddx, ddq]
    return [x[j] + DT * xdot[j] for j in range(4)]


def cartpole_stage_cost(x, u, th):
    """Table-1 cost Σ (θc_j (x_j − goal_j))² + u²."""
    c = 0.0
    for j in range(4):
        e = th[j] * (x[j] - CARTPOLE_GOAL[j])
        c = c + e * e
    return c + u[0] * u[0]


def cartpole_terminal_cost(x, th):
    """Table-1 terminal cost Σ (θH_j (x_j − goal_j))²."""
    c = 0.0
    for j in range(4):
        e = th[4 + j] * (x[j] - CARTPOLE_GOAL[j])
        c = c + e * e
    return c


def python_cartpole(horizon=6):
    return diffop.Problem(n=4, m=1, d=11, horizon=horizon, dynamics=cartpole_dynamics,
                          stage_cost=cartpole_stage_cost, terminal_cost=cartpole_terminal_cost,
                          name="py-cartpole")


def pendulum_problem(horizon=10):
    """Pendulum with θ = (w_q, w_dq, w_u, u_max, mass): |u| ≤ u_max (θ-dependent bound) and a
    terminal bound on the speed."""

    def dyn(x, u, th):
        q, dq = x[0], x[1]
        return [q + 0.05 * dq, dq + 0.05 * (-G * sym.sin(q) + u[0] / th[4])]

    def cost(x, u, th):
        return th[0] * (1 + sym.cos(x[0])) + th[1] * x[1] ** 2 + th[2] * u[0] ** 2

    def term(x, th):
        return 10 * th[0] * (1 + sym.cos(x[0])) + th[1] * x[1] ** 2

    def path(x, u, th):
        return [u[0] - th[3], -u[0] - th[3]]

    def tpath(x, th):
        return [x[1] - 3.0]

    return diffop.Problem(n=2, m=1, d=5, horizon=horizon, dynamics=dyn, stage_cost=cost,
                          terminal_cost=term, path_constraints=path,
                          terminal_constraints=tpath, name="pendulum")


PENDULUM_THETA = np.array([5.0, 0.1, 0.05, 1.5, 1.0])


@pytest.fixture
def cartpole():
    return python_cartpole()


@pytest.fixture
def pendulum():
    return pendulum_problem()


def cli_binary():
    """The `diffop` CLI: $DIFFOP_BIN, else a build in the repository's target directories."""
    env = os.environ.get("DIFFOP_BIN")
    if env:
        return env
    root = pathlib.Path(__file__).resolve().parents[2]
    dirs = [os.environ.get("CARGO_TARGET_DIR"), root / "target"]
    for d in dirs:
        if not d:
            continue
        for prof in ("release", "debug"):
            p = pathlib.Path(d) / prof / "diffop"
            if p.exists():
                return str(p)
    return shutil.which("diffop")
