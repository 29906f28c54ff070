"""Problems: built-in policy problems and problems written in Python."""

from __future__ import annotations

from typing import Any, Callable, Optional, Tuple

import numpy as np

from . import _core
from .sym import trace_problem

__all__ = ["Problem"]


class Problem:
    """A parametric optimal control problem with horizon H (paper eq. 1)::

        minimise   Σ_{i<H} c(x_i, u_i; θ) + c_H(x_H; θ)
        subject to x_0 = x0,  x_{i+1} = f(x_i, u_i; θ),
                   g(x_i, u_i; θ) ≤ 0,  g_H(x_H; θ) ≤ 0

    Write one in Python with the constructor (each function is traced once into an expression
    graph and compiled in Rust; see :mod:`diffop.sym`), or pick a built-in one with
    :meth:`builtin`. Problems pickle (the traced graph travels, not the Python functions).

    Args:
        n, m, d: state, control and parameter dimensions.
        horizon: H ≥ 1.
        dynamics: ``f(x, u, theta)`` → n entries (the next state).
        stage_cost: ``c(x, u, theta)`` → scalar.
        terminal_cost: ``c_H(x, theta)`` → scalar.
        path_constraints: optional ``g(x, u, theta)`` → entries required ≤ 0 at every stage.
        terminal_constraints: optional ``g_H(x, theta)`` → entries required ≤ 0.
        name: a label used in messages.

    Raises:
        ModelDefinitionError: invalid functions or dimensions.
        ValueDependentError: a function branches on a variable's value.
    """

    __slots__ = ("_native", "_spec", "__weakref__")

    def __init__(
        self,
        *,
        n: int,
        m: int,
        d: int,
        horizon: int,
        dynamics: Callable[..., Any],
        stage_cost: Callable[..., Any],
        terminal_cost: Callable[..., Any],
        path_constraints: Optional[Callable[..., Any]] = None,
        terminal_constraints: Optional[Callable[..., Any]] = None,
        name: str = "python",
    ) -> None:
        ir = trace_problem(n, m, d, dynamics, stage_cost, terminal_cost,
                           path_constraints, terminal_constraints)
        self._init_ir(str(name), ir, int(horizon))

    def _init_ir(self, name: str, ir: dict, horizon: int) -> None:
        self._native = _core.Problem.from_ir(
            name, ir["n"], ir["m"], ir["d"], ir["nodes"], ir["dynamics"], ir["stage_cost"],
            ir["terminal_cost"], ir["path"], ir["terminal"], horizon,
        )
        self._spec: Tuple[Any, ...] = ("ir", name, ir, horizon)

    @classmethod
    def builtin(
        cls,
        task: str,
        horizon: Optional[int] = None,
        mode: str = "step",
        form: str = "table1",
    ) -> "Problem":
        """A built-in policy problem of the paper's tasks.

        Args:
            task: ``cartpole``, ``arm``, ``quadrotor``, ``rocket`` or ``voltage``.
            horizon: H (default: the mode's horizon — Step 6 for cart-pole and voltage, 12
                otherwise; Traj H = T).
            mode: ``step`` or ``traj`` (selects the default horizon and θ(0)).
            form: ``table1`` (the paper's Table-1 parameterisation) or ``true_form`` (the true
                cost form with learnable weights and physical parameters, nonlinear tasks).
        """
        p = cls.__new__(cls)
        p._native = _core.Problem.builtin(task, mode, form, horizon)
        p._spec = ("builtin", task, mode, form, p._native.horizon)
        return p

    @classmethod
    def _from_spec(cls, spec: Tuple[Any, ...]) -> "Problem":
        if spec[0] == "builtin":
            return cls.builtin(spec[1], horizon=spec[4], mode=spec[2], form=spec[3])
        p = cls.__new__(cls)
        p._init_ir(spec[1], spec[2], spec[3])
        return p

    def __reduce__(self) -> Tuple[Any, ...]:
        return (Problem._from_spec, (self._spec,))

    def __repr__(self) -> str:
        return (f"Problem({self.name!r}, n={self.n}, m={self.m}, d={self.d}, "
                f"horizon={self.horizon})")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Problem) and self._spec == other._spec

    def __hash__(self) -> int:
        return hash(repr(self._spec))

    @property
    def n(self) -> int:
        """State dimension."""
        return self._native.n

    @property
    def m(self) -> int:
        """Control dimension."""
        return self._native.m

    @property
    def d(self) -> int:
        """Number of parameters θ."""
        return self._native.d

    @property
    def horizon(self) -> int:
        """Horizon H."""
        return self._native.horizon

    @property
    def name(self) -> str:
        """Name of the problem."""
        return self._native.name

    @property
    def n_path(self) -> int:
        """Path inequalities per stage."""
        return self._native.n_path

    @property
    def n_terminal(self) -> int:
        """Terminal inequalities."""
        return self._native.n_terminal

    @property
    def context_names(self) -> Tuple[str, ...]:
        """Keyword context a solve takes (voltage: ``v_env``, ``q_min``, ``q_max``)."""
        return ("v_env", "q_min", "q_max") if self._native.n_ctx else ()

    @property
    def oracle_theta(self) -> Optional[np.ndarray]:
        """The built-in problem's oracle θ (true dynamics, oracle weights), else None."""
        t = self._native.oracle_theta()
        return None if t is None else np.asarray(t, dtype=np.float64)

    def theta0(self, seed: int = 0) -> Optional[np.ndarray]:
        """θ(0) of a built-in Table-1 problem: the training run's initial θ for ``seed``."""
        t = self._native.theta0(int(seed))
        return None if t is None else np.asarray(t, dtype=np.float64)

    @property
    def compiled(self) -> str:
        """How derivatives are evaluated: compiled programs (and their size) or the tape."""
        return self._native.symbolic_status()
