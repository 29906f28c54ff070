//! Errors raised as the exception classes of `diffop.errors` (defined in Python, so that they
//! can inherit from both `DiffopError` and the matching built-in exception).

use pyo3::prelude::*;
use pyo3::PyErr;

/// An exception of class `diffop.errors.<class>` with `message` (a `RuntimeError` when the
/// module cannot be imported).
fn raise(class: &'static str, message: String) -> PyErr {
    Python::attach(|py| {
        let made = py
            .import("diffop.errors")
            .and_then(|m| m.getattr(class))
            .and_then(|c| c.call1((message.clone(),)));
        match made {
            Ok(e) => PyErr::from_value(e),
            Err(_) => pyo3::exceptions::PyRuntimeError::new_err(message),
        }
    })
}

/// Bad input: shapes, lengths, non-finite values, settings, context.
pub fn invalid(message: String) -> PyErr {
    raise("InvalidInputError", message)
}

/// A model that is not a valid problem.
pub fn model_error(message: String) -> PyErr {
    raise("ModelDefinitionError", message)
}

/// A sensitivity that cannot be computed.
pub fn sensitivity(message: String) -> PyErr {
    raise("SensitivityError", message)
}
