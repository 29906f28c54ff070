"""diffop.torch.OptLayer: gradcheck in float64, broadcasting, failure modes."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import diffop  # noqa: E402
from diffop.torch import STATUS, OptLayer  # noqa: E402
from conftest import PENDULUM_THETA  # noqa: E402


def test_gradcheck_with_active_bounds(pendulum):
    layer = OptLayer(pendulum)
    x0 = torch.tensor([[0.3, 0.0], [0.1, 0.2]], dtype=torch.float64, requires_grad=True)
    th = torch.tensor(PENDULUM_THETA, dtype=torch.float64, requires_grad=True)
    u, x, status = layer(x0, th)
    assert (status == 0).all() and STATUS[0] == diffop.Status.SOLVED
    assert any(a.any() for a in diffop.Solver(pendulum).solve([0.3, 0.0], PENDULUM_THETA).active)

    def f(x0_, th_):
        u_, x_, _ = layer(x0_, th_)
        return u_, x_

    assert torch.autograd.gradcheck(f, (x0, th), eps=1e-6, atol=1e-6, rtol=1e-5)


def test_batched_theta_and_dtype_roundtrip():
    p = diffop.Problem.builtin("cartpole")
    layer = OptLayer(p, threads=2)
    x0 = torch.zeros(3, 4, dtype=torch.float32)
    x0[:, 1] = torch.tensor([0.1, 0.2, 0.3])
    th = torch.tensor(np.tile(p.oracle_theta, (3, 1)), dtype=torch.float32, requires_grad=True)
    u, x, status = layer(x0, th)
    assert u.dtype == torch.float32 and u.shape == (3, p.horizon, 1)
    assert x.shape == (3, p.horizon + 1, 4)
    u.sum().backward()
    assert th.grad.shape == (3, p.d) and th.grad.dtype == torch.float32
    sol = diffop.Solver(p).solve(x0[1].double().numpy(), th[1].detach().double().numpy())
    np.testing.assert_allclose(th.grad[1].numpy(), sol.vjp(np.ones((p.horizon, 1))).theta,
                               rtol=1e-5)


def test_on_failure_modes(pendulum):
    p = pendulum
    x0 = torch.tensor([[0.3, 0.0], [0.1, 0.0]], dtype=torch.float64)
    theta = np.tile(PENDULUM_THETA, (2, 1))
    theta[1, 3] = -1.0  # infeasible bound for element 1
    with pytest.warns(diffop.ConvergenceWarning):
        with pytest.raises(diffop.SolveFailed):
            OptLayer(p)(x0, torch.tensor(theta))
    for mode in ("nan", "mask"):
        th = torch.tensor(theta, requires_grad=True)
        with pytest.warns(diffop.ConvergenceWarning):
            u, x, status = OptLayer(p, on_failure=mode)(x0, th)
        assert status[0] == 0 and status[1] != 0
        assert torch.isnan(u[1]).all() if mode == "nan" else (u[1] == 0).all()
        u.sum().backward()
        assert torch.isfinite(th.grad[0]).all()
        assert torch.isnan(th.grad[1]).all() if mode == "nan" else (th.grad[1] == 0).all()
    with pytest.raises(diffop.InvalidInputError):
        OptLayer(p, on_failure="ignore")
    with pytest.raises(diffop.InvalidInputError):
        OptLayer(p)(torch.zeros(2, 3), torch.tensor(PENDULUM_THETA))
