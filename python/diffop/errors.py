"""Exceptions and warnings of diffop.

Every error diffop raises is a :class:`DiffopError`; the subclasses also derive from the
matching built-in exception, so ``except ValueError`` keeps working for bad input.
Non-convergence is not an error: it is reported by the solution's ``status`` and warned
about with the filterable :class:`ConvergenceWarning`.
"""

from __future__ import annotations

__all__ = [
    "DiffopError",
    "InvalidInputError",
    "ModelDefinitionError",
    "ValueDependentError",
    "SolveFailed",
    "SensitivityError",
    "ConvergenceWarning",
]


class DiffopError(Exception):
    """Base class of every exception raised by diffop."""


class InvalidInputError(DiffopError, ValueError):
    """Bad input: wrong shape or length, NaN or infinity, wrong dtype, bad settings."""


class ModelDefinitionError(DiffopError, ValueError):
    """A problem written in Python is not a valid optimal control problem."""


class ValueDependentError(ModelDefinitionError, TypeError):
    """Model code branched on the value of a symbolic variable (``if x > 0``, ``float(x)``).

    Problem functions are traced once into an expression graph; the value of a variable is
    not known while tracing, so code whose control flow depends on it cannot be recorded.
    Write the branch smoothly instead (e.g. ``diffop.sym.tanh`` or a squared penalty).
    """


class SolveFailed(DiffopError, RuntimeError):
    """A solve did not converge where a converged solution was required."""

    def __init__(self, message: str, status=None):
        super().__init__(message)
        #: The solver status (or per-element statuses) that caused the failure.
        self.status = status


class SensitivityError(DiffopError, RuntimeError):
    """Sensitivities cannot be computed (unpolished solution, singular KKT matrix)."""


class ConvergenceWarning(UserWarning):
    """A solve did not converge; the solution's ``status`` says why."""
