//! The states of the sources `mapmean.mean_state` dispatches to: a path (an
//! Arrow IPC file or stream, or `shm://NAME`), an object with the Arrow
//! PyCapsule interface (consumed batch by batch, [`crate::streams`]), and a
//! float32 numpy array read in place (through the
//! buffer protocol; the strided walk is in [`crate::strided`]).

use std::path::PathBuf;

use mapmean::engine;
use pyo3::buffer::PyUntypedBuffer;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3_arrow::input::AnyArray;

use crate::arguments;
use crate::errors::{compute, PyMapmeanResult};
use crate::state::PyMeanState;
use crate::streams;
use crate::strided::strided_state;

/// State of a column of the Arrow IPC file or stream at `path` (or
/// `shm://NAME`).
#[pyfunction]
#[pyo3(signature = (path, column, threads))]
pub fn _state_path(
    py: Python<'_>,
    path: PathBuf,
    column: Option<String>,
    threads: Option<i64>,
) -> PyMapmeanResult<PyMeanState> {
    let threads = arguments::threads(threads)?;
    let state = compute(py, || {
        engine::state_of_file(&path, column.as_deref(), threads)
    })?;
    Ok(PyMeanState { inner: state })
}

/// State of a column of any object with the Arrow PyCapsule interface,
/// consumed batch by batch in bounded memory (see [`crate::streams`]).
#[pyfunction]
#[pyo3(signature = (source, column, threads))]
pub fn _state_arrow(
    py: Python<'_>,
    source: AnyArray,
    column: Option<String>,
    threads: Option<i64>,
) -> PyMapmeanResult<PyMeanState> {
    let threads = arguments::threads(threads)?;
    let reader = source.into_reader()?;
    let pick = streams::pick(&reader.field(), column.as_deref())?;
    let state = compute(py, move || streams::state_of_arrays(reader, pick, threads))?;
    Ok(PyMeanState { inner: state })
}

/// State of a float32 object with the buffer protocol (a numpy array of any
/// shape and strides), read in place.
#[pyfunction]
#[pyo3(signature = (source, threads))]
pub fn _state_buffer(
    py: Python<'_>,
    source: &Bound<'_, PyAny>,
    threads: Option<i64>,
) -> PyMapmeanResult<PyMeanState> {
    let threads = arguments::threads(threads)?;
    let buffer = PyUntypedBuffer::get(source)?;
    let format = buffer.format().to_string_lossy().into_owned();
    if buffer.item_size() != 4 || !matches!(format.as_str(), "f" | "<f" | "=f" | "@f") {
        return Err(PyTypeError::new_err(format!(
            "mapmean needs float32 values, got buffer format {format:?} of {} bytes",
            buffer.item_size()
        ))
        .into());
    }
    let shape = buffer.shape().to_vec();
    let strides = buffer.strides().to_vec();
    let base = buffer.buf_ptr() as usize;
    // SAFETY: the exporter describes its memory by `buf_ptr`, `shape` and
    // `strides` (pointing at native float32 items: format and item size are
    // checked above), and `buffer`, held until after the computation, keeps
    // that memory in place: an exporter may not move or free memory while a
    // buffer view of it is held.
    let state = compute(py, move || unsafe {
        strided_state(base, &shape, &strides, threads)
    });
    drop(buffer); // only now may the exporter move or free the memory
    Ok(PyMeanState { inner: state? })
}
