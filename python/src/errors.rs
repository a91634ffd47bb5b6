//! How failures cross into Python: [`PyMapmeanError`] wraps either a
//! [`mapmean::Error`] or a Python exception, so that `?` works on both inside
//! a binding, and converts into the built-in exception a Python user expects
//! (FileNotFoundError, KeyError, TypeError, ValueError, OverflowError, ...), as pyo3-arrow's
//! `PyArrowError` does for Arrow errors.
//!
//! [`compute`] is the one way a binding runs engine code: without the GIL and
//! with any Rust panic turned into an exception, so that no panic ever
//! crosses into Python.

use mapmean::error::catch_panic;
use mapmean::Error;
use pyo3::exceptions::{
    PyFileExistsError, PyFileNotFoundError, PyIsADirectoryError, PyKeyError, PyOSError,
    PyOverflowError, PyPermissionError, PyRuntimeError, PyTypeError, PyValueError,
};
use pyo3::prelude::*;

/// An error of a binding: the library's, or one Python raised.
#[derive(Debug)]
pub enum PyMapmeanError {
    /// From the engine; mapped to a built-in exception by variant.
    Mapmean(Error),
    /// Already a Python exception (argument conversion, pyarrow, ...).
    Python(PyErr),
}

/// The result of a binding; pyo3 raises its error as a Python exception.
pub type PyMapmeanResult<T> = Result<T, PyMapmeanError>;

impl From<Error> for PyMapmeanError {
    fn from(error: Error) -> Self {
        PyMapmeanError::Mapmean(error)
    }
}

impl From<PyErr> for PyMapmeanError {
    fn from(error: PyErr) -> Self {
        PyMapmeanError::Python(error)
    }
}

impl From<PyMapmeanError> for PyErr {
    fn from(error: PyMapmeanError) -> Self {
        match error {
            PyMapmeanError::Mapmean(e) => to_exception(e),
            PyMapmeanError::Python(e) => e,
        }
    }
}

/// The Python exception users expect for a library error.
fn to_exception(e: Error) -> PyErr {
    let message = e.to_string();
    match e {
        Error::NotFound { .. } => PyFileNotFoundError::new_err(message),
        Error::AlreadyExists { .. } => PyFileExistsError::new_err(message),
        Error::Truncated { .. } => PyOSError::new_err(message),
        Error::Io { source, .. } => match source.kind() {
            std::io::ErrorKind::IsADirectory => PyIsADirectoryError::new_err(message),
            std::io::ErrorKind::PermissionDenied => PyPermissionError::new_err(message),
            _ => PyOSError::new_err(message),
        },
        Error::ColumnNotFound { .. } => PyKeyError::new_err(message),
        Error::WrongType { .. }
        | Error::UnsupportedType { .. }
        | Error::TypeMismatch { .. }
        | Error::KeyType { .. } => PyTypeError::new_err(message),
        Error::SumOverflow { .. } => PyOverflowError::new_err(message),
        Error::Corrupt { .. }
        | Error::Stream { .. }
        | Error::AmbiguousColumn { .. }
        | Error::InvalidArgument(_)
        | Error::InvalidState { .. } => PyValueError::new_err(message),
        Error::StateOverflow { .. } => PyOverflowError::new_err(message),
        _ => PyRuntimeError::new_err(message),
    }
}

/// Runs `f` without the GIL and with panics turned into errors.
pub fn compute<T: Send>(
    py: Python<'_>,
    f: impl FnOnce() -> mapmean::Result<T> + Send,
) -> PyMapmeanResult<T> {
    Ok(py.detach(|| catch_panic(f))?)
}
