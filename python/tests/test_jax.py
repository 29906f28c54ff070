"""diffop.jax.opt_layer: check_grads in float64, jit."""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
from jax.test_util import check_grads  # noqa: E402

import diffop  # noqa: E402
from diffop.jax import opt_layer  # noqa: E402
from conftest import PENDULUM_THETA  # noqa: E402


def test_check_grads_with_active_bounds(pendulum):
    layer = opt_layer(pendulum)
    x0 = jnp.array([[0.3, 0.0], [0.1, 0.2]])
    th = jnp.broadcast_to(jnp.array(PENDULUM_THETA), (2, 5))

    def f(x0_, th_):
        u, x, _ = layer(x0_, th_)
        return u, x

    check_grads(f, (x0, th), order=1, modes=["rev"], eps=1e-6, atol=1e-5, rtol=1e-5)


def test_jit_matches_numpy():
    p = diffop.Problem.builtin("cartpole")
    layer = opt_layer(p)
    x0 = jnp.array([[0.1, 0.2, 0.0, 0.0]])
    th = jnp.array(p.oracle_theta)[None, :]
    loss = jax.jit(lambda a, b: jnp.sum(layer(a, b)[0] ** 2))
    g = jax.grad(loss, argnums=1)(x0, th)
    sol = diffop.Solver(p).solve(np.asarray(x0[0]), p.oracle_theta)
    np.testing.assert_allclose(np.asarray(g[0]), sol.vjp(2 * sol.u).theta, rtol=1e-10)
    assert float(loss(x0, th)) == pytest.approx(float(np.sum(sol.u ** 2)), rel=1e-12)
