"""diffop: differentiable optimization-based control for NumPy, PyTorch and JAX.

A structured constrained optimal-control solver (interior point with Riccati steps and an
active-set polish) with exact implicit sensitivities, written in Rust. Quick start::

    import numpy as np, diffop
    problem = diffop.Problem.builtin("cartpole", horizon=6)
    solver = diffop.Solver(problem)
    sol = solver.solve(np.zeros(4), problem.oracle_theta)
    g = sol.vjp(grad_u=np.ones((6, 1)))      # g.theta (d,), g.x0 (n,)

Problems can be written in Python with :mod:`diffop.sym`; framework layers live in
:mod:`diffop.torch` and :mod:`diffop.jax` (imported on demand).
"""

from . import sym
from ._problem import Problem
from ._solver import (
    BatchGradients,
    BatchSolution,
    Gradients,
    Jacobian,
    Solution,
    Solver,
    Status,
    ValueGradient,
)
from .errors import (
    ConvergenceWarning,
    DiffopError,
    InvalidInputError,
    ModelDefinitionError,
    SensitivityError,
    SolveFailed,
    ValueDependentError,
)

__version__ = "0.1.0"

__all__ = [
    "Problem", "Solver", "Solution", "BatchSolution", "Status", "Gradients", "BatchGradients",
    "Jacobian", "ValueGradient", "sym",
    "DiffopError", "InvalidInputError", "ModelDefinitionError", "ValueDependentError",
    "SolveFailed", "SensitivityError", "ConvergenceWarning",
]
