"""diffop against mpc.pytorch on mpc.pytorch's own pendulum (``mpc.env_dx.pendulum.PendulumDx``).

Both solve the same problem: state (cos φ, sin φ, φ̇), u ∈ [−2, 2], dt = 0.05, horizon T,
QuadCost ½ τᵀ diag(w, 0.001) τ − √w₁ cos φ (goal (1, 0, 0)), no terminal cost; the cost's goal
weights w ∈ ℝ³ are the parameters (mpc.pytorch's canonical use; its AUTO_DIFF linearisation
carries no gradient to the dynamics parameters). diffop gets the pendulum written in Python
with ``diffop.sym`` (u bounds as path constraints).

Measured per element, one thread, batch B from random initial angles: the time of a batched
forward + backward (loss = Σ seed · u with a fixed random seed), and the relative error of
∂loss/∂w against central differences of each solver's own solutions (mpc.pytorch: step 1e-3,
diffop: 1e-6). mpc.pytorch runs as its pendulum example does (``lqr_iter`` iterations,
eps 1e-2, line search decay 0.2 × 5, ``exit_unconverged=False``, default
``detach_unconverged=True``); its unconverged count is a fixed-point check (one more LQR
iteration from its answer moves u by more than its eps).

Run: ``python python/benchmarks/bench_mpc_pytorch.py [--batch 64] [--T 20] [--lqr-iter 50]``.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

import diffop
from diffop import sym
from diffop.torch import OptLayer

G, M, L, DT, CTRL = 10.0, 1.0, 1.0, 0.05, 0.001


def diffop_pendulum(T: int) -> diffop.Problem:
    def dyn(x, u, w):
        th = sym.atan2(x[1], x[0])
        dth = x[2] + DT * (3.0 * G / (2.0 * L) * x[1] + 3.0 * u[0] / (M * L ** 2))
        nth = th + dth * DT
        return [sym.cos(nth), sym.sin(nth), dth]

    def cost(x, u, w):
        quad = w[0] * x[0] ** 2 + w[1] * x[1] ** 2 + w[2] * x[2] ** 2 + CTRL * u[0] ** 2
        return 0.5 * quad - sym.sqrt(w[0]) * x[0]

    return diffop.Problem(n=3, m=1, d=3, horizon=T, dynamics=dyn, stage_cost=cost,
                          terminal_cost=lambda x, w: 0.0,
                          path_constraints=lambda x, u, w: [u[0] - 2.0, -u[0] - 2.0],
                          name="mpc-pendulum")


def initial_states(b: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    th = rng.uniform(-np.pi, np.pi, b)
    dth = rng.uniform(-1.0, 1.0, b)
    return np.stack([np.cos(th), np.sin(th), dth], axis=1)


def mpc_solver(T: int, b: int, lqr_iter: int, u_init=None):
    from mpc import mpc
    from mpc.env_dx.pendulum import PendulumDx

    dx = PendulumDx(simple=True)
    dx.params = dx.params.double()
    goal = torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)

    def solve(w: torch.Tensor, x0: torch.Tensor, iters: int = lqr_iter, u0=None):
        # w: (B, 3), one row per element (per-element gradients)
        q = torch.cat((w, CTRL * torch.ones(b, 1, dtype=torch.float64)), dim=1)
        p = torch.cat((-torch.sqrt(w) * goal, torch.zeros(b, 1, dtype=torch.float64)), dim=1)
        Q = torch.diag_embed(q).unsqueeze(0).repeat(T, 1, 1, 1)
        pp = p.unsqueeze(0).repeat(T, 1, 1)
        ctrl = mpc.MPC(3, 1, T, u_init=u0, u_lower=-2.0, u_upper=2.0, lqr_iter=iters,
                       verbose=-1, exit_unconverged=False, eps=1e-2, n_batch=b,
                       linesearch_decay=dx.linesearch_decay,
                       max_linesearch_iter=dx.max_linesearch_iter,
                       grad_method=mpc.GradMethods.AUTO_DIFF)
        x, u, _ = ctrl(x0, mpc.QuadCost(Q, pp), dx)
        return x, u  # (T, B, 3), (T, B, 1)

    return solve


def rel_err(g: np.ndarray, ref: np.ndarray, keep: np.ndarray) -> float:
    """Relative error of the per-element gradients (B, 3) over the elements in ``keep``."""
    g, ref = g[keep], ref[keep]
    return float(np.linalg.norm(g - ref) / max(np.linalg.norm(ref), 1e-300))


def run(b: int, T: int, lqr_iter: int) -> dict:
    torch.set_num_threads(1)
    w0 = np.array([1.0, 1.0, 0.1])
    x0 = initial_states(b)
    seed = np.random.default_rng(1).standard_normal((b, T, 1))
    out = {"batch": b, "T": T, "lqr_iter": lqr_iter}

    # diffop
    layer = OptLayer(diffop_pendulum(T), on_failure="mask")
    st = torch.tensor(seed)

    def d_loss(w: np.ndarray, grad: bool):
        wt = torch.tensor(np.tile(w, (b, 1)), requires_grad=grad)
        u, _, status = layer(torch.tensor(x0), wt)
        per = (u * st).sum(dim=(1, 2))
        ok = (status == 0).numpy()
        if grad:
            per.sum().backward()
            return per.detach().numpy(), wt.grad.numpy().copy(), ok
        return per.detach().numpy(), None, ok

    d_loss(w0, True)  # compile once
    t0 = time.perf_counter()
    _, g_d, ok = d_loss(w0, True)
    out["diffop_ms_per_element"] = (time.perf_counter() - t0) * 1e3 / b
    out["diffop_failed"] = int((~ok).sum())
    cols = []
    for e in np.eye(3) * 1e-6:
        lp, _, okp = d_loss(w0 + e, False)
        lm, _, okm = d_loss(w0 - e, False)
        ok &= okp & okm
        cols.append((lp - lm) / 2e-6)
    out["diffop_grad_rel_err"] = rel_err(g_d, np.stack(cols, axis=1), ok)
    out["diffop_elements_compared"] = int(ok.sum())

    # mpc.pytorch
    solve = mpc_solver(T, b, lqr_iter)
    xt = torch.tensor(x0)
    sm = torch.tensor(seed).permute(1, 0, 2)

    def m_loss(w: np.ndarray, grad: bool):
        wt = torch.tensor(np.tile(w, (b, 1)), requires_grad=grad)
        _, u = solve(wt, xt)
        per = (u * sm).sum(dim=(0, 2))
        if grad:
            per.sum().backward()
            return per.detach().numpy(), wt.grad.numpy().copy(), u.detach()
        return per.detach().numpy(), None, u.detach()

    t0 = time.perf_counter()
    _, g_m, u_m = m_loss(w0, True)
    out["mpc_ms_per_element"] = (time.perf_counter() - t0) * 1e3 / b
    fd = np.stack([(m_loss(w0 + e, False)[0] - m_loss(w0 - e, False)[0]) / 2e-3
                   for e in np.eye(3) * 1e-3], axis=1)
    out["mpc_grad_rel_err"] = rel_err(g_m, fd, np.ones(b, dtype=bool))
    _, u_next = solve(torch.tensor(np.tile(w0, (b, 1))), xt, iters=1, u0=u_m)
    moved = (u_next.detach() - u_m).norm(dim=(0, 2))
    out["mpc_unconverged"] = int((moved > 1e-2).sum())
    out["speedup"] = out["mpc_ms_per_element"] / out["diffop_ms_per_element"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--T", type=int, default=20)
    ap.add_argument("--lqr-iter", type=int, default=50)
    a = ap.parse_args()
    print(json.dumps(run(a.batch, a.T, a.lqr_iter), indent=2))


if __name__ == "__main__":
    main()
