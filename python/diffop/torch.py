"""PyTorch layer: :class:`OptLayer`, the optimal control problem as an ``nn.Module``.

The forward pass solves a batch on diffop's thread pool (float64, CPU); the backward pass is
one adjoint solve per element (exact gradients for θ and x0, active constraints included).

Device and dtype: inputs may live on any device and have any floating dtype; they are copied
to float64 on the CPU for the solve, and the outputs (and gradients) are returned with the
dtype and on the device of ``x0``.
"""

from __future__ import annotations

from typing import Any, Optional, Tuple

import numpy as np
import torch

from ._problem import Problem
from ._solver import BatchSolution, Solver, Status
from .errors import InvalidInputError, SolveFailed

__all__ = ["OptLayer", "STATUS"]

#: Status codes of the layer's ``status`` output: ``STATUS[code]``.
STATUS: Tuple[Status, ...] = tuple(Status)
_CODE = {s: k for k, s in enumerate(STATUS)}


def _np(t: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(t.detach().to("cpu", torch.float64).numpy())


class _OptFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x0: torch.Tensor, theta: torch.Tensor, layer: "OptLayer"):
        bs = layer.solver.solve_batch(_np(x0), _np(theta))
        layer.last_solution = bs
        ok = torch.from_numpy(bs.ok.copy())
        if not bs.ok.all() and layer.on_failure == "raise":
            bad = [k for k, s in enumerate(bs.status) if not s.is_solved]
            raise SolveFailed(f"{len(bad)} of {len(bs)} elements failed (first: element "
                              f"{bad[0]}, {bs.status[bad[0]].value})", bs.status)
        u = torch.from_numpy(bs.u.copy())
        x = torch.from_numpy(bs.x.copy())
        if not bs.ok.all():
            fill = float("nan") if layer.on_failure == "nan" else 0.0
            u[~ok] = fill
            x[~ok] = fill
        status = torch.tensor([_CODE[s] for s in bs.status], dtype=torch.int64)
        ctx.bs = bs
        ctx.layer = layer
        ctx.ok = ok
        ctx.like = (x0.dtype, x0.device, theta.dtype)
        dt, dev, _ = ctx.like
        status = status.to(dev)
        ctx.mark_non_differentiable(status)
        return u.to(dev, dt), x.to(dev, dt), status

    @staticmethod
    def backward(ctx: Any, gu: Optional[torch.Tensor], gx: Optional[torch.Tensor], _gs: Any):
        bs: BatchSolution = ctx.bs
        g = bs.vjp(None if gu is None else _np(gu), None if gx is None else _np(gx),
                   x0=bool(ctx.needs_input_grad[0]))
        gt = torch.from_numpy(g.theta.copy())
        g0 = torch.from_numpy(g.x0.copy())
        failed = torch.from_numpy(np.array([e is not None for e in g.errors], dtype=bool))
        if failed.any():
            layer = ctx.layer
            if layer.on_failure == "raise":
                k = int(failed.nonzero()[0, 0])
                raise SolveFailed(f"sensitivities of element {k} failed: {g.errors[k]}",
                                  bs.status)
            if layer.on_failure == "mask":
                gt[failed] = 0.0
                g0[failed] = 0.0
        dt, dev, tdt = ctx.like
        return g0.to(dev, dt), gt.to(dev, tdt), None


class OptLayer(torch.nn.Module):
    """The optimal control problem as a differentiable layer.

    ``forward(x0, theta)`` with x0 (B, n) (or (n,)) and θ (d,) shared or (B, d) returns
    ``(u, x, status)``: controls (B, H, m), states (B, H+1, n) and int64 status codes (B,)
    (``diffop.torch.STATUS[code]``; 0 is solved). Gradients flow to both x0 and θ.

    Args:
        problem: a :class:`diffop.Problem` (without context).
        threads: threads of the solver's pool.
        on_failure: what to do with elements that do not converge — ``"raise"``
            (:class:`~diffop.errors.SolveFailed`), ``"nan"`` (NaN outputs and gradients) or
            ``"mask"`` (zero outputs and zero gradients; use ``status`` to drop them).
        **settings: solver settings.

    The last :class:`~diffop.BatchSolution` is kept in ``last_solution``.
    """

    def __init__(self, problem: Problem, *, threads: int = 1, on_failure: str = "raise",
                 **settings: Any) -> None:
        super().__init__()
        if on_failure not in ("raise", "nan", "mask"):
            raise InvalidInputError(f"on_failure must be raise, nan or mask, got {on_failure!r}")
        if problem.context_names:
            raise InvalidInputError("OptLayer takes problems without context")
        self.problem = problem
        self.solver = Solver(problem, threads=threads, **settings)
        self.on_failure = on_failure
        self.last_solution: Optional[BatchSolution] = None

    def forward(self, x0: torch.Tensor, theta: torch.Tensor):
        """Solve the batch; see the class docs."""
        if not isinstance(x0, torch.Tensor) or not isinstance(theta, torch.Tensor):
            raise InvalidInputError("x0 and theta must be torch tensors")
        if not x0.is_floating_point() or not theta.is_floating_point():
            raise InvalidInputError(f"x0 and theta must be floating point, got {x0.dtype} "
                                    f"and {theta.dtype}")
        single = x0.dim() == 1
        xb = x0.unsqueeze(0) if single else x0
        n, d = self.problem.n, self.problem.d
        if xb.dim() != 2 or xb.shape[1] != n:
            raise InvalidInputError(f"x0 must have shape (B, {n}) or ({n},), got {tuple(x0.shape)}")
        b = xb.shape[0]
        if theta.dim() == 1 and theta.shape[0] == d:
            tb = theta.unsqueeze(0).expand(b, d)
        elif theta.dim() == 2 and tuple(theta.shape) == (b, d):
            tb = theta
        else:
            raise InvalidInputError(f"theta must have shape ({d},) or ({b}, {d}), got "
                                    f"{tuple(theta.shape)}")
        u, x, status = _OptFunction.apply(xb, tb, self)
        if single:
            return u[0], x[0], status[0]
        return u, x, status

    def extra_repr(self) -> str:
        return f"{self.problem!r}, on_failure={self.on_failure!r}"
