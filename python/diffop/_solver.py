"""Solver, solutions and sensitivities."""

from __future__ import annotations

import enum
import json
import warnings
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

import numpy as np

from . import _core
from ._problem import Problem
from .errors import ConvergenceWarning, InvalidInputError, SolveFailed

__all__ = ["Status", "Solver", "Solution", "BatchSolution", "Gradients", "BatchGradients",
           "Jacobian", "ValueGradient"]


class Status(str, enum.Enum):
    """Outcome of a solve."""

    #: Converged and polished: a KKT point fit for differentiation.
    SOLVED = "solved"
    #: Converged; the polish stalled at the round-off floor (accepted, differentiable).
    SOLVED_INACCURATE = "solved_inaccurate"
    #: Converged with the polish disabled (no exact sensitivities).
    SOLVED_UNPOLISHED = "solved_unpolished"
    #: Iteration limit reached.
    MAX_ITERATIONS = "max_iterations"
    #: The constraints cannot be satisfied.
    INFEASIBLE = "infeasible"
    #: Line search, inertia correction or polish failed, or the model returned NaN.
    NUMERICAL_ERROR = "numerical_error"
    #: (Batches only) the element's input was rejected (NaN, ...); see ``errors``.
    INVALID_INPUT = "invalid_input"

    @property
    def is_solved(self) -> bool:
        """True for a usable solution."""
        return self in (Status.SOLVED, Status.SOLVED_INACCURATE, Status.SOLVED_UNPOLISHED)

    @property
    def is_polished(self) -> bool:
        """True when sensitivities are exact."""
        return self in (Status.SOLVED, Status.SOLVED_INACCURATE)


class Gradients(NamedTuple):
    """Vector–Jacobian product of a solution: gradients for θ (d,) and x0 (n,)."""

    theta: np.ndarray
    x0: np.ndarray


class BatchGradients(NamedTuple):
    """Per-element gradients for θ (B, d) and x0 (B, n); rows of failed elements are NaN and
    ``errors[b]`` says why (None where it succeeded)."""

    theta: np.ndarray
    x0: np.ndarray
    errors: List[Optional[str]]


class Jacobian(NamedTuple):
    """∂x/∂p (H+1, n, p) and ∂u/∂p (H, m, p) for a parameter vector p (θ or x0)."""

    x: np.ndarray
    u: np.ndarray


class ValueGradient(NamedTuple):
    """Optimal value V and its gradients ∇_θV (d,) and ∂V/∂x0 (n,)."""

    value: float
    theta: np.ndarray
    x0: np.ndarray


_FLOAT_KINDS = "fiu"


def _array(a: Any, shape: Tuple[int, ...], what: str) -> np.ndarray:
    """``a`` as a contiguous float64 array of ``shape`` (any real dtype accepted)."""
    if isinstance(a, np.ndarray) and a.dtype == np.float64 and a.shape == shape \
            and a.flags.c_contiguous:
        return a
    try:
        arr = np.asarray(a)
    except Exception as e:  # noqa: BLE001 - report any conversion failure as bad input
        raise InvalidInputError(f"{what} cannot be converted to an array: {e}") from None
    if arr.dtype.kind not in _FLOAT_KINDS or arr.dtype == np.bool_:
        raise InvalidInputError(f"{what} must be a real (float or integer) array, got dtype "
                                f"{arr.dtype}")
    if arr.shape != shape:
        raise InvalidInputError(f"{what} has shape {arr.shape}, expected {shape}")
    return np.ascontiguousarray(arr, dtype=np.float64)


def _check_finite(a: np.ndarray, what: str) -> None:
    if not np.isfinite(a).all():
        bad = np.argwhere(~np.isfinite(a))[0]
        raise InvalidInputError(f"{what}{list(bad)} is not finite")


_EMPTY = np.zeros(0)


class Solver:
    """A solver for one problem: settings, a thread pool (``threads``) and reusable workspaces.

    Args:
        problem: the :class:`Problem`.
        threads: size of the rayon pool used by :meth:`solve_batch` and batched VJPs.
        **settings: solver settings (``tol``, ``max_iter``, ``polish``, ... — see
            :attr:`settings` for all of them and their values).

    Thread-safe: several Python threads may call :meth:`solve` at once (the GIL is released
    while solving).
    """

    def __init__(self, problem: Problem, *, threads: int = 1, **settings: Any) -> None:
        if not isinstance(problem, Problem):
            raise InvalidInputError(f"problem must be a diffop.Problem, got {type(problem)}")
        if not isinstance(threads, int) or isinstance(threads, bool):
            raise InvalidInputError(f"threads must be an int, got {threads!r}")
        self.problem = problem
        self._threads = threads
        self._user_settings = dict(settings)
        self._native = _core.Solver(problem._native, threads, settings)
        self._dims = (problem.n, problem.m, problem.d, problem.horizon)

    def __reduce__(self) -> Tuple[Any, ...]:
        return (_make_solver, (self.problem, self._threads, self._user_settings))

    def __repr__(self) -> str:
        return f"Solver({self.problem!r}, threads={self._threads})"

    @property
    def settings(self) -> Dict[str, Any]:
        """Every solver setting in force (defaults included)."""
        return json.loads(self._native.settings_json())

    @property
    def threads(self) -> int:
        """Threads of the pool."""
        return self._threads

    def _context(self, x0: np.ndarray, theta: np.ndarray, context: Dict[str, Any]) -> np.ndarray:
        if not context and not self.problem.context_names:
            return _EMPTY
        unknown = set(context) - set(self.problem.context_names)
        if unknown:
            raise InvalidInputError(
                f"unknown context {sorted(unknown)}; the {self.problem.name} problem takes "
                f"{list(self.problem.context_names) or 'none'}")
        kw = {k: [float(v) for v in _array(c, (3,), k)] for k, c in context.items()}
        _check_finite(x0, "x0")
        _check_finite(theta, "theta")
        return np.asarray(self._native_problem_context(x0, theta, kw), dtype=np.float64)

    def _native_problem_context(self, x0: np.ndarray, theta: np.ndarray, kw: Dict[str, Any]):
        return self.problem._native.make_context(list(x0), list(theta), **kw)

    def solve(self, x0: Any, theta: Any, warm_start: Optional["Solution"] = None,
              **context: Any) -> "Solution":
        """Solve from the initial state ``x0`` (n,) with parameters ``theta`` (d,).

        Args:
            warm_start: a previous :class:`Solution` whose trajectory starts the solve.
            **context: the problem's context (voltage: ``v_env``, ``q_min``, ``q_max``).

        Returns:
            The :class:`Solution`; a solve that does not converge is returned too (check
            ``status``) and warns with :class:`ConvergenceWarning`.

        Raises:
            InvalidInputError: wrong shape, dtype or length, NaN, bad context.
        """
        n, m, d, h = self._dims
        x0 = _array(x0, (n,), "x0")
        theta = _array(theta, (d,), "theta")
        ctx = self._context(x0, theta, context)
        guess = None
        if warm_start is not None:
            if not isinstance(warm_start, Solution):
                raise InvalidInputError("warm_start must be a diffop.Solution or None")
            if warm_start.u.shape != (h, m) or warm_start.x.shape != (h + 1, n):
                raise InvalidInputError("warm_start has a different problem size")
            guess = (np.ascontiguousarray(warm_start.x.ravel()),
                     np.ascontiguousarray(warm_start.u.ravel()))
            native = self._native.solve(x0, theta, ctx, guess[0], guess[1])
        else:
            native = self._native.solve(x0, theta, ctx)
        return Solution(native, self, x0, theta, ctx, guess)

    def solve_batch(self, x0: Any, theta: Any, **context: Any) -> "BatchSolution":
        """Solve B problems on the pool: ``x0`` (B, n), ``theta`` (d,) shared or (B, d).

        Context entries may be (3,) shared or (B, 3). Every element gets its own status; an
        element whose input is rejected (e.g. NaN) is reported as ``INVALID_INPUT`` with its
        message in ``errors`` — the batch never fails as a whole.
        """
        n, m, d, h = self._dims
        xa = np.asarray(x0)
        if xa.ndim != 2:
            raise InvalidInputError(f"x0 must have shape (B, {n}), got {xa.shape}")
        b = xa.shape[0]
        xa = _array(xa, (b, n), "x0")
        ta = np.asarray(theta)
        ta = _array(ta, (d,), "theta") if ta.ndim == 1 else _array(ta, (b, d), "theta")
        if ta.ndim == 1:
            ta = np.ascontiguousarray(np.broadcast_to(ta, (b, d)))
        if self.problem.context_names:
            ctx = np.full((b, 9), np.nan)
            for k in range(b):
                kw = {}
                for key, c in context.items():
                    c = np.asarray(c)
                    kw[key] = c if c.ndim == 1 else c[k]
                try:
                    ctx[k] = self._context(xa[k], ta[k], kw)
                except InvalidInputError:
                    pass  # this element is reported as invalid by the native solve
        else:
            if context:
                self._context(xa[0], ta[0], context)  # raises: no context expected
            ctx = np.zeros((b, 0))
        native = self._native.solve_batch(xa, ta, ctx)
        return BatchSolution(native, self, xa, ta, ctx)


def _make_solver(problem: Problem, threads: int, settings: Dict[str, Any]) -> Solver:
    return Solver(problem, threads=threads, **settings)


class Solution:
    """A solution with everything differentiation needs.

    Attributes:
        status: a :class:`Status`.
        x: states (H+1, n).  u: controls (H, m).
        objective: the optimal value.  iterations: interior-point iterations.
    """

    def __init__(self, native: Any, solver: Solver, x0: np.ndarray, theta: np.ndarray,
                 ctx: np.ndarray, guess: Optional[Tuple[np.ndarray, np.ndarray]]) -> None:
        self._native = native
        self._solver = solver
        self._inputs = (x0, theta, ctx, guess)
        status, self.iterations, self.polish_iterations, self.objective, self.x, self.u = \
            native.outputs()
        self.status = Status(status)
        if not self.status.is_solved:
            warnings.warn(f"diffop: the solve ended with status {self.status.value}",
                          ConvergenceWarning, stacklevel=3)

    def __repr__(self) -> str:
        return (f"Solution(status={self.status.value}, objective={self.objective:.6g}, "
                f"iterations={self.iterations})")

    def _nat(self) -> Any:
        if self._native is None:
            x0, theta, ctx, guess = self._inputs
            s = self._solver._native
            self._native = (s.solve(x0, theta, ctx, guess[0], guess[1]) if guess
                            else s.solve(x0, theta, ctx))
        return self._native

    def __getstate__(self) -> Dict[str, Any]:
        state = {k: v for k, v in self.__dict__.items() if k != "_native"}
        return state

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._native = None  # re-solved (bit-identically) on first sensitivity call

    def raise_for_status(self) -> "Solution":
        """Raise :class:`SolveFailed` unless the solve succeeded; returns self."""
        if not self.status.is_solved:
            raise SolveFailed(f"solve ended with status {self.status.value}", self.status)
        return self

    @property
    def costates(self) -> np.ndarray:
        """Costates λ_1 … λ_H (H, n) (multipliers of the dynamics)."""
        return self._nat().costates()[0]

    @property
    def lambda0(self) -> np.ndarray:
        """λ_0 (n,), the multiplier of x_0 = x0 (= ∂V/∂x0)."""
        return self._nat().costates()[1]

    @property
    def multipliers(self) -> List[np.ndarray]:
        """Inequality multipliers μ ≥ 0 per stage (H path stages, then the terminal one)."""
        return [np.asarray(v) for v in self._nat().constraints()[0]]

    @property
    def constraint_values(self) -> List[np.ndarray]:
        """Constraint values g per stage (same layout as :attr:`multipliers`)."""
        return [np.asarray(v) for v in self._nat().constraints()[1]]

    @property
    def active(self) -> List[np.ndarray]:
        """Active rows (bool) per stage (same layout as :attr:`multipliers`)."""
        return [np.asarray(v, dtype=bool) for v in self._nat().constraints()[2]]

    @property
    def weakly_active(self) -> int:
        """Number of weakly active rows (treated as inactive)."""
        return self._nat().constraints()[3]

    def vjp(self, grad_u: Any = None, grad_x: Any = None, *, x0: bool = True) -> Gradients:
        """Vector–Jacobian product: gᵀ∂ζ*/∂θ and gᵀ∂ζ*/∂x0 for seeds g on u (H, m) and on x
        (H+1, n) (either may be None). One adjoint solve for θ; ``x0=False`` skips the x0
        gradient (returned as zeros).

        Raises:
            SensitivityError: the solution is not polished or the KKT matrix is singular.
        """
        n, m, _, h = self._solver._dims
        gu = None if grad_u is None else _array(grad_u, (h, m), "grad_u").ravel()
        gx = None if grad_x is None else _array(grad_x, (h + 1, n), "grad_x").ravel()
        gt, g0 = self._nat().vjp(gu, gx, bool(x0))
        return Gradients(gt, g0)

    def jacobian(self) -> Jacobian:
        """Full ∂x/∂θ (H+1, n, d) and ∂u/∂θ (H, m, d)."""
        return Jacobian(*self._nat().jacobian(False))

    def jacobian_x0(self) -> Jacobian:
        """Full ∂x/∂x0 (H+1, n, n) and ∂u/∂x0 (H, m, n)."""
        return Jacobian(*self._nat().jacobian(True))

    def value_gradient(self) -> ValueGradient:
        """V, ∇_θV and ∂V/∂x0 by the envelope theorem (no linear solve)."""
        return ValueGradient(*self._nat().value_gradient())


class BatchSolution:
    """Solutions of a batch.

    Attributes:
        status: list of :class:`Status` per element.  ok: bool mask of usable elements.
        x: (B, H+1, n).  u: (B, H, m).  objective, iterations: (B,).
        errors: per element, the input error's message or None.
    """

    def __init__(self, native: Any, solver: Solver, x0: np.ndarray, theta: np.ndarray,
                 ctx: np.ndarray) -> None:
        self._native = native
        self._solver = solver
        self._inputs = (x0, theta, ctx)
        status, self.errors, self.iterations, self.objective, self.x, self.u = native.outputs()
        self.status = [Status(s) for s in status]
        self.ok = np.array([s.is_solved for s in self.status], dtype=bool)
        failed = int((~self.ok).sum())
        if failed:
            warnings.warn(f"diffop: {failed} of {len(self.status)} batch elements did not "
                          "converge (see .status)", ConvergenceWarning, stacklevel=3)

    def __len__(self) -> int:
        return len(self.status)

    def __repr__(self) -> str:
        return f"BatchSolution(B={len(self)}, ok={int(self.ok.sum())})"

    def _nat(self) -> Any:
        if self._native is None:
            self._native = self._solver._native.solve_batch(*self._inputs)
        return self._native

    def __getstate__(self) -> Dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_native"}

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._native = None  # re-solved (bit-identically) on first sensitivity call

    def vjp(self, grad_u: Any = None, grad_x: Any = None, *, x0: bool = True) -> BatchGradients:
        """Per-element VJPs for seeds on u (B, H, m) and x (B, H+1, n), on the pool
        (``x0=False`` skips the x0 gradients, returned as zeros).

        Rows of elements that failed (or whose sensitivities fail) are NaN, with the reason
        in ``errors``; nothing is raised for them.
        """
        n, m, _, h = self._solver._dims
        b = len(self)
        gu = None if grad_u is None else _array(grad_u, (b, h, m), "grad_u")
        gx = None if grad_x is None else _array(grad_x, (b, h + 1, n), "grad_x")
        gt, g0, errs = self._nat().vjp(gu, gx, bool(x0))
        return BatchGradients(gt, g0, errs)
