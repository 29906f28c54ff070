"""Learn a constrained MPC policy for a pendulum end to end in PyTorch through OptLayer.

The policy is an optimal control problem written in Python with ``diffop.sym``: a pendulum
model with a learnable mass and learnable cost weights, torque bounded by |u| ≤ 5. The true
plant is heavier and damped. At every step of a closed-loop rollout (a batch of initial
states) the layer plans H steps and the first action is applied to the true plant, simulated
in PyTorch; the loss is the plant's true cost over the episode. Gradients flow through every
plan — to θ directly, and to the state (x0 of the next plan) through the plant — so the
closed-loop cost is minimised by gradient descent on θ.

Run: ``python python/examples/learn_pendulum_torch.py [--iterations 30]``.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

import diffop
from diffop import sym
from diffop.torch import OptLayer

DT, G, U_MAX = 0.05, 10.0, 5.0
TRUE_MASS, TRUE_DAMPING = 1.4, 0.3


def policy_problem(horizon: int) -> diffop.Problem:
    """θ = (log-weights on 1 − cos φ, φ̇², u², model mass)."""

    def dyn(x, u, th):
        phi, dphi = x[0], x[1]
        acc = G * sym.sin(phi) + u[0] / th[3]
        return [phi + DT * dphi, dphi + DT * acc]

    def cost(x, u, th):
        return (sym.exp(th[0]) * (1 - sym.cos(x[0])) + sym.exp(th[1]) * x[1] ** 2
                + sym.exp(th[2]) * u[0] ** 2)

    def terminal(x, th):
        return 10 * (sym.exp(th[0]) * (1 - sym.cos(x[0])) + sym.exp(th[1]) * x[1] ** 2)

    return diffop.Problem(n=2, m=1, d=4, horizon=horizon, dynamics=dyn, stage_cost=cost,
                          terminal_cost=terminal,
                          path_constraints=lambda x, u, th: [u[0] - U_MAX, -u[0] - U_MAX],
                          name="pendulum-policy")


def plant(x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """The true pendulum (φ = 0 upright), explicit Euler, differentiable in torch."""
    phi, dphi = x[:, 0], x[:, 1]
    acc = G * torch.sin(phi) + u[:, 0] / TRUE_MASS - TRUE_DAMPING * dphi
    return torch.stack([phi + DT * dphi, dphi + DT * acc], dim=1)


def episode_cost(layer: OptLayer, theta: torch.Tensor, x0: torch.Tensor, steps: int):
    x, total = x0, torch.zeros((), dtype=torch.float64)
    for _ in range(steps):
        u, _, _ = layer(x, theta)
        a = u[:, 0]
        total = total + ((1 - torch.cos(x[:, 0])) + 0.1 * x[:, 1] ** 2
                         + 0.01 * a[:, 0] ** 2).sum()
        x = plant(x, a)
    return total / x0.shape[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int, default=30)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--horizon", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.manual_seed(0)
    layer = OptLayer(policy_problem(a.horizon), threads=a.threads, on_failure="mask")
    theta = torch.tensor([0.0, np.log(0.1), np.log(0.01), 0.7], dtype=torch.float64,
                         requires_grad=True)
    x0 = torch.stack([torch.empty(a.batch).uniform_(-0.4, 0.4),
                      torch.empty(a.batch).uniform_(-0.3, 0.3)], dim=1).double()
    opt = torch.optim.Adam([theta], lr=0.05)
    for k in range(a.iterations):
        opt.zero_grad()
        loss = episode_cost(layer, theta, x0, a.steps)
        loss.backward()
        opt.step()
        with torch.no_grad():
            theta[3].clamp_(min=0.2)
        if k % 5 == 0 or k == a.iterations - 1:
            print(f"iteration {k:3d}  closed-loop cost {loss.item():.4f}  "
                  f"model mass {theta[3].item():.3f}")


if __name__ == "__main__":
    main()
