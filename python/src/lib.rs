//! Native half of the `diffop` Python package: a thin conversion layer over the `diffop`
//! crate's public API (problems, solver, sensitivities). The Python package (`python/diffop`)
//! wraps these classes with the public API, input checking, warnings and pickling.

mod errors;
mod problem;
mod solution;
mod solver;

use pyo3::prelude::*;

/// The native module `diffop._core`.
#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<problem::Problem>()?;
    m.add_class::<solver::Solver>()?;
    m.add_class::<solution::Solution>()?;
    m.add_class::<solution::BatchSolution>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
