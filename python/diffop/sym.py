"""Symbolic variables for problems written in Python.

A problem's functions are called once with :class:`Sym` variables (in NumPy object arrays,
so ``x[0]``, ``x[1:3]``, ``x @ w`` and ``np.sin(x)`` work); every operation records a node of
an expression graph that the Rust crate differentiates and compiles into straight-line
derivative programs. No Python runs during a solve.

The elementary functions below accept numbers too (then they return a float), so the same
model code can be evaluated numerically::

    from diffop import sym
    def dynamics(x, u, theta):
        return [x[0] + 0.05 * x[1], x[1] + 0.05 * (sym.sin(x[0]) + theta[0] * u[0])]

Code whose control flow depends on a variable's value (``if x[0] > 0``, ``float(x[0])``,
``abs(x[0])``) cannot be traced and raises :class:`~diffop.errors.ValueDependentError`.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Callable, Dict, List, Sequence, Tuple

import numpy as np

from .errors import ModelDefinitionError, ValueDependentError

__all__ = [
    "Sym",
    "sin", "cos", "tan", "asin", "acos", "atan", "atan2",
    "sinh", "cosh", "tanh", "asinh", "acosh", "atanh",
    "exp", "expm1", "log", "log1p", "sqrt", "cbrt",
    "trace_problem",
]

_Node = Tuple[str, int, int, float]


class _Trace:
    """The expression graph under construction: hash-consed nodes in topological order."""

    def __init__(self, where: str = "") -> None:
        self.nodes: List[_Node] = []
        self.index: Dict[Tuple[str, int, int, str], int] = {}
        self.where = where

    def add(self, tag: str, a: int = 0, b: int = 0, v: float = 0.0) -> "Sym":
        key = (tag, a, b, float(v).hex())
        k = self.index.get(key)
        if k is None:
            k = len(self.nodes)
            self.nodes.append((tag, a, b, float(v)))
            self.index[key] = k
        return Sym(self, k)

    def const(self, v: Any) -> "Sym":
        if isinstance(v, Sym):
            if v._t is not self:
                raise ModelDefinitionError("a variable of another problem's trace was used")
            return v
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
            raise ModelDefinitionError(
                f"{self.where}: cannot use a {type(v).__name__} in a symbolic expression"
            )
        f = float(v)
        if not math.isfinite(f):
            raise ModelDefinitionError(f"{self.where}: constant {f} is not finite")
        return self.add("const", 0, 0, f)


def _value_dependent(what: str) -> Callable[..., Any]:
    def fail(self: "Sym", *args: Any) -> Any:
        raise ValueDependentError(
            f"value-dependent code: {what} of a symbolic variable in {self._t.where}. "
            "Problem functions are traced once into an expression graph, so they cannot "
            "branch on or convert a variable's value; write the expression smoothly instead "
            "(e.g. with diffop.sym.tanh, or as an inequality constraint)."
        )

    fail.__doc__ = f"Raises ValueDependentError ({what} needs a value)."
    return fail


class Sym:
    """A symbolic scalar: a node of the expression graph being traced.

    Supports ``+ - * / **``, unary minus, and the elementary functions as methods (so NumPy's
    ufuncs work on object arrays of Sym). Comparisons, ``bool()``, ``float()``, ``int()``,
    ``abs()``, ``round()``, ``%`` and ``//`` raise :class:`ValueDependentError`.
    """

    __slots__ = ("_t", "_i")
    __array_priority__ = 1000

    def __init__(self, trace: _Trace, index: int) -> None:
        self._t = trace
        self._i = index

    def __repr__(self) -> str:
        tag, a, b, v = self._t.nodes[self._i]
        if tag in ("x", "u", "theta"):
            return f"Sym({tag}[{a}])"
        if tag == "const":
            return f"Sym({v!r})"
        return f"Sym(node {self._i}: {tag})"

    def _bin(self, tag: str, other: Any, reverse: bool = False) -> "Sym":
        o = self._t.const(other)
        a, b = (o._i, self._i) if reverse else (self._i, o._i)
        return self._t.add(tag, a, b)

    def _un(self, tag: str) -> "Sym":
        return self._t.add(tag, self._i)

    def __add__(self, o: Any) -> "Sym":
        return self._bin("add", o)

    def __radd__(self, o: Any) -> "Sym":
        return self._bin("add", o, True)

    def __sub__(self, o: Any) -> "Sym":
        return self._bin("sub", o)

    def __rsub__(self, o: Any) -> "Sym":
        return self._bin("sub", o, True)

    def __mul__(self, o: Any) -> "Sym":
        return self._bin("mul", o)

    def __rmul__(self, o: Any) -> "Sym":
        return self._bin("mul", o, True)

    def __truediv__(self, o: Any) -> "Sym":
        return self._bin("div", o)

    def __rtruediv__(self, o: Any) -> "Sym":
        return self._bin("div", o, True)

    def __neg__(self) -> "Sym":
        return self._un("neg")

    def __pos__(self) -> "Sym":
        return self

    def __pow__(self, p: Any) -> "Sym":
        if isinstance(p, Sym):
            return self._bin("pow", p)
        if isinstance(p, numbers.Integral) and not isinstance(p, bool) and abs(int(p)) < 2**31:
            return self._t.add("powi", self._i, 0, float(int(p)))
        if isinstance(p, numbers.Real) and not isinstance(p, bool):
            f = float(p)
            if not math.isfinite(f):
                raise ModelDefinitionError(f"{self._t.where}: exponent {f} is not finite")
            if f.is_integer() and abs(f) < 2**31:
                return self._t.add("powi", self._i, 0, f)
            return self._t.add("powf", self._i, 0, f)
        raise ModelDefinitionError(f"cannot raise a variable to a {type(p).__name__}")

    def __rpow__(self, base: Any) -> "Sym":
        return self._bin("pow", base, True)

    __bool__ = _value_dependent("bool() (an `if`, `and`, `or` or `not`)")
    __lt__ = _value_dependent("a comparison <")
    __le__ = _value_dependent("a comparison <=")
    __gt__ = _value_dependent("a comparison >")
    __ge__ = _value_dependent("a comparison >=")
    __eq__ = _value_dependent("a comparison ==")  # type: ignore[assignment]
    __ne__ = _value_dependent("a comparison !=")  # type: ignore[assignment]
    __float__ = _value_dependent("float()")
    __int__ = _value_dependent("int()")
    __index__ = _value_dependent("use as an index")
    __abs__ = _value_dependent("abs() (not smooth)")
    __round__ = _value_dependent("round()")
    __floor__ = _value_dependent("math.floor()")
    __ceil__ = _value_dependent("math.ceil()")
    __trunc__ = _value_dependent("math.trunc()")
    __mod__ = _value_dependent("the remainder %")
    __rmod__ = _value_dependent("the remainder %")
    __floordiv__ = _value_dependent("floor division //")
    __rfloordiv__ = _value_dependent("floor division //")
    __hash__ = object.__hash__

    # Methods NumPy's ufuncs call on object arrays (np.sin(x) → x.sin()).
    def sin(self) -> "Sym":
        """sin(self)."""
        return self._un("sin")

    def cos(self) -> "Sym":
        """cos(self)."""
        return self._un("cos")

    def tan(self) -> "Sym":
        """tan(self)."""
        return self._un("tan")

    def arcsin(self) -> "Sym":
        """asin(self)."""
        return self._un("asin")

    def arccos(self) -> "Sym":
        """acos(self)."""
        return self._un("acos")

    def arctan(self) -> "Sym":
        """atan(self)."""
        return self._un("atan")

    def arctan2(self, other: Any) -> "Sym":
        """atan2(self, other)."""
        return self._bin("atan2", other)

    def sinh(self) -> "Sym":
        """sinh(self)."""
        return self._un("sinh")

    def cosh(self) -> "Sym":
        """cosh(self)."""
        return self._un("cosh")

    def tanh(self) -> "Sym":
        """tanh(self)."""
        return self._un("tanh")

    def arcsinh(self) -> "Sym":
        """asinh(self)."""
        return self._un("asinh")

    def arccosh(self) -> "Sym":
        """acosh(self)."""
        return self._un("acosh")

    def arctanh(self) -> "Sym":
        """atanh(self)."""
        return self._un("atanh")

    def exp(self) -> "Sym":
        """exp(self)."""
        return self._un("exp")

    def expm1(self) -> "Sym":
        """exp(self) − 1."""
        return self._un("expm1")

    def log(self) -> "Sym":
        """ln(self)."""
        return self._un("log")

    def log1p(self) -> "Sym":
        """ln(1 + self)."""
        return self._un("log1p")

    def sqrt(self) -> "Sym":
        """√self."""
        return self._un("sqrt")

    def cbrt(self) -> "Sym":
        """∛self."""
        return self._un("cbrt")

    def square(self) -> "Sym":
        """self²."""
        return self._t.add("powi", self._i, 0, 2.0)

    def conjugate(self) -> "Sym":
        """self (real variables)."""
        return self


def _unary(name: str, method: str, fn: Callable[[float], float]) -> Callable[[Any], Any]:
    def f(a: Any) -> Any:
        if isinstance(a, Sym):
            return getattr(a, method)()
        if isinstance(a, np.ndarray):
            return np.vectorize(f, otypes=[object])(a)
        return fn(a)

    f.__name__ = name
    f.__doc__ = f"{name}(a) of a symbolic variable (or a number, or an array elementwise)."
    return f


sin = _unary("sin", "sin", math.sin)
cos = _unary("cos", "cos", math.cos)
tan = _unary("tan", "tan", math.tan)
asin = _unary("asin", "arcsin", math.asin)
acos = _unary("acos", "arccos", math.acos)
atan = _unary("atan", "arctan", math.atan)
sinh = _unary("sinh", "sinh", math.sinh)
cosh = _unary("cosh", "cosh", math.cosh)
tanh = _unary("tanh", "tanh", math.tanh)
asinh = _unary("asinh", "arcsinh", math.asinh)
acosh = _unary("acosh", "arccosh", math.acosh)
atanh = _unary("atanh", "arctanh", math.atanh)
exp = _unary("exp", "exp", math.exp)
expm1 = _unary("expm1", "expm1", math.expm1)
log = _unary("log", "log", math.log)
log1p = _unary("log1p", "log1p", math.log1p)
sqrt = _unary("sqrt", "sqrt", math.sqrt)
cbrt = _unary("cbrt", "cbrt", lambda a: math.copysign(abs(a) ** (1.0 / 3.0), a))


def atan2(a: Any, b: Any) -> Any:
    """atan2(a, b) of symbolic variables or numbers."""
    if isinstance(a, Sym):
        return a.arctan2(b)
    if isinstance(b, Sym):
        return b._t.const(a).arctan2(b)
    return math.atan2(a, b)


def _flatten(value: Any, trace: _Trace, what: str) -> List[int]:
    """Node indices of a function's output (a Sym, a number or a nested sequence of them)."""
    if isinstance(value, np.ndarray):
        items: Sequence[Any] = list(value.ravel())
    elif isinstance(value, (list, tuple)):
        items = []
        for v in value:
            if isinstance(v, (list, tuple, np.ndarray)):
                items.extend(np.asarray(v, dtype=object).ravel())
            else:
                items.append(v)
    else:
        items = [value]
    out = []
    for v in items:
        try:
            out.append(trace.const(v)._i)
        except ModelDefinitionError as e:
            raise ModelDefinitionError(f"{what} returned an invalid entry: {e}") from None
    return out


def _call(fn: Callable[..., Any], args: Tuple[Any, ...], trace: _Trace, what: str) -> Any:
    trace.where = what
    try:
        return fn(*args)
    except (ModelDefinitionError, ValueDependentError):
        raise
    except TypeError as e:
        # NumPy wraps some value-dependent uses (e.g. np.abs on object arrays) in TypeError.
        raise ModelDefinitionError(f"{what} failed while tracing: {e}") from e


def trace_problem(
    n: int,
    m: int,
    d: int,
    dynamics: Callable[..., Any],
    stage_cost: Callable[..., Any],
    terminal_cost: Callable[..., Any],
    path_constraints: Callable[..., Any] | None = None,
    terminal_constraints: Callable[..., Any] | None = None,
) -> Dict[str, Any]:
    """Trace a problem's functions once; returns the IR (nodes and output indices).

    ``dynamics(x, u, theta)`` returns n entries, ``stage_cost(x, u, theta)`` and
    ``terminal_cost(x, theta)`` a scalar, ``path_constraints(x, u, theta)`` and
    ``terminal_constraints(x, theta)`` entries g with g ≤ 0. x, u and theta are NumPy object
    arrays of :class:`Sym`.
    """
    for name, v in (("n", n), ("m", m), ("d", d)):
        if not isinstance(v, numbers.Integral) or v < 0:
            raise ModelDefinitionError(f"{name} must be a non-negative integer, got {v!r}")
    if n < 1 or m < 1:
        raise ModelDefinitionError(f"n and m must be ≥ 1 (n = {n}, m = {m})")
    t = _Trace()
    x = np.empty(n, dtype=object)
    u = np.empty(m, dtype=object)
    th = np.empty(d, dtype=object)
    x[:] = [t.add("x", j) for j in range(n)]
    u[:] = [t.add("u", j) for j in range(m)]
    th[:] = [t.add("theta", j) for j in range(d)]
    f = _flatten(_call(dynamics, (x, u, th), t, "dynamics"), t, "dynamics")
    if len(f) != n:
        raise ModelDefinitionError(f"dynamics returned {len(f)} entries, expected n = {n}")
    c = _flatten(_call(stage_cost, (x, u, th), t, "stage_cost"), t, "stage_cost")
    ch = _flatten(_call(terminal_cost, (x, th), t, "terminal_cost"), t, "terminal_cost")
    for what, v in (("stage_cost", c), ("terminal_cost", ch)):
        if len(v) != 1:
            raise ModelDefinitionError(f"{what} must return a scalar, got {len(v)} entries")
    g: List[int] = []
    gh: List[int] = []
    if path_constraints is not None:
        g = _flatten(_call(path_constraints, (x, u, th), t, "path_constraints"), t,
                     "path_constraints")
    if terminal_constraints is not None:
        gh = _flatten(_call(terminal_constraints, (x, th), t, "terminal_constraints"), t,
                      "terminal_constraints")
    return {
        "n": int(n), "m": int(m), "d": int(d),
        "nodes": list(t.nodes),
        "dynamics": f, "stage_cost": c[0], "terminal_cost": ch[0],
        "path": g, "terminal": gh,
    }
