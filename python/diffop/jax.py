"""JAX layer: :func:`opt_layer`, the optimal control problem as a differentiable function.

``jax.custom_vjp`` over ``jax.pure_callback``: works under ``jit`` and ``vmap``-free batching
(pass a batch of initial states). The solve runs on diffop's thread pool in float64; outputs
have the dtype of ``x0`` (enable ``jax_enable_x64`` for float64 results and gradients).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from ._problem import Problem
from ._solver import BatchSolution, Solver, Status
from .errors import InvalidInputError

__all__ = ["opt_layer", "STATUS"]

#: Status codes of the layer's ``status`` output: ``STATUS[code]``.
STATUS: Tuple[Status, ...] = tuple(Status)
_CODE = {s: k for k, s in enumerate(STATUS)}


def opt_layer(problem: Problem, *, threads: int = 1, **settings: Any) -> Callable[..., Any]:
    """A function ``layer(x0, theta) -> (u, x, status)``.

    x0 is (B, n); θ is (B, d) (broadcast a shared θ with ``jnp.broadcast_to``). Returns
    controls (B, H, m), states (B, H+1, n) and int32 status codes (B,) (``STATUS[code]``; 0
    is solved; failed elements have NaN outputs and NaN gradients). Gradients flow to x0 and
    θ. The backward pass reuses the forward solution when it is still cached (the last few
    batches), else re-solves the same inputs, which gives the identical solution.
    """
    if problem.context_names:
        raise InvalidInputError("opt_layer takes problems without context")
    solver = Solver(problem, threads=threads, **settings)
    n, m, d, h = problem.n, problem.m, problem.d, problem.horizon
    cache: "OrderedDict[bytes, BatchSolution]" = OrderedDict()

    def solve(x0: np.ndarray, theta: np.ndarray) -> BatchSolution:
        x0 = np.ascontiguousarray(x0, dtype=np.float64)
        theta = np.ascontiguousarray(theta, dtype=np.float64)
        key = x0.tobytes() + b"|" + theta.tobytes()
        bs = cache.get(key)
        if bs is None:
            bs = solver.solve_batch(x0, theta)
            cache[key] = bs
            while len(cache) > 4:
                cache.popitem(last=False)
        return bs

    def fwd_host(x0: np.ndarray, theta: np.ndarray):
        bs = solve(x0, theta)
        u, x = bs.u.copy(), bs.x.copy()
        u[~bs.ok] = np.nan
        x[~bs.ok] = np.nan
        st = np.array([_CODE[s] for s in bs.status], dtype=np.int32)
        dt = np.asarray(x0).dtype
        return u.astype(dt), x.astype(dt), st

    def bwd_host(x0: np.ndarray, theta: np.ndarray, gu: np.ndarray, gx: np.ndarray):
        bs = solve(x0, theta)
        g = bs.vjp(np.asarray(gu, np.float64), np.asarray(gx, np.float64))
        return g.x0.astype(np.asarray(x0).dtype), g.theta.astype(np.asarray(theta).dtype)

    def shapes(x0: Any, theta: Any):
        b = x0.shape[0]
        if x0.ndim != 2 or x0.shape[1] != n:
            raise InvalidInputError(f"x0 must have shape (B, {n}), got {x0.shape}")
        if theta.shape != (b, d):
            raise InvalidInputError(f"theta must have shape ({b}, {d}), got {theta.shape}")
        return b

    @jax.custom_vjp
    def layer(x0: Any, theta: Any):
        b = shapes(x0, theta)
        out = (jax.ShapeDtypeStruct((b, h, m), x0.dtype),
               jax.ShapeDtypeStruct((b, h + 1, n), x0.dtype),
               jax.ShapeDtypeStruct((b,), jnp.int32))
        return jax.pure_callback(fwd_host, out, x0, theta)

    def layer_fwd(x0: Any, theta: Any):
        return layer(x0, theta), (x0, theta)

    def layer_bwd(res: Any, cot: Any):
        x0, theta = res
        gu, gx, _ = cot
        out = (jax.ShapeDtypeStruct(x0.shape, x0.dtype),
               jax.ShapeDtypeStruct(theta.shape, theta.dtype))
        return jax.pure_callback(bwd_host, out, x0, theta, gu.astype(x0.dtype),
                                 gx.astype(x0.dtype))

    layer.defvjp(layer_fwd, layer_bwd)
    layer.solver = solver  # type: ignore[attr-defined]
    return layer
