//! The states of the sources `mapmean.mean_state` dispatches to: a path (an
//! Arrow IPC file or stream, or `shm://NAME`), an object with the Arrow
//! PyCapsule interface, and a float32 numpy array read in place (through the
//! buffer protocol; the strided walk is in [`crate::strided`]).

use std::path::PathBuf;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, Float32Array};
use arrow_buffer::NullBuffer;
use arrow_schema::{ArrowError, DataType};
use mapmean::engine;
use mapmean::{Error, Float32Column, MeanState, MomentsState};
use pyo3::buffer::PyUntypedBuffer;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3_arrow::input::AnyArray;

use crate::arguments;
use crate::errors::{compute, PyMapmeanResult};
use crate::moments::AnyState;
use crate::strided::strided_state;

/// State of a column of the Arrow IPC file or stream at `path` (or
/// `shm://NAME`): a `MeanState`, or with `moments` a `MomentsState`.
#[pyfunction]
#[pyo3(signature = (path, column, threads, moments=false))]
pub fn _state_path(
    py: Python<'_>,
    path: PathBuf,
    column: Option<String>,
    threads: Option<i64>,
    moments: bool,
) -> PyMapmeanResult<AnyState> {
    let threads = arguments::threads(threads)?;
    Ok(compute(py, || {
        let column = engine::open_column(&path, column.as_deref())?;
        accumulate(column.chunks(), threads, moments)
    })?)
}

/// The state `moments` asks for, of `chunks`.
pub fn accumulate(
    chunks: &[Float32Array],
    threads: Option<usize>,
    moments: bool,
) -> mapmean::Result<AnyState> {
    Ok(if moments {
        engine::accumulate_arrays::<MomentsState>(chunks, threads)?.into()
    } else {
        engine::accumulate_arrays::<MeanState>(chunks, threads)?.into()
    })
}

/// State of a column of any object with the Arrow PyCapsule interface.
#[pyfunction]
#[pyo3(signature = (source, column, threads, moments=false))]
pub fn _state_arrow(
    py: Python<'_>,
    source: AnyArray,
    column: Option<String>,
    threads: Option<i64>,
    moments: bool,
) -> PyMapmeanResult<AnyState> {
    let threads = arguments::threads(threads)?;
    let reader = source.into_reader()?;
    let field = reader.field();
    let arrays = reader
        .collect::<Result<Vec<ArrayRef>, ArrowError>>()
        .map_err(|e| PyValueError::new_err(format!("reading the Arrow stream: {e}")))?;
    let state = compute(py, || {
        let column = column_of_arrays(&arrays, field.data_type(), field.name(), column.as_deref())?;
        accumulate(column.chunks(), threads, moments)
    })?;
    Ok(state)
}

/// The Float32 column `wanted` of imported arrays: the arrays themselves when
/// they are Float32, or a child when they are structs (record batches).
fn column_of_arrays(
    arrays: &[ArrayRef],
    data_type: &DataType,
    name: &str,
    wanted: Option<&str>,
) -> mapmean::Result<Float32Column> {
    const SOURCE: &str = "Arrow data";
    match data_type {
        DataType::Struct(fields) => {
            let schema = arrow_schema::Schema::new(fields.clone());
            let index = mapmean::column::resolve_column(&schema, wanted, SOURCE)?;
            let chunks = arrays
                .iter()
                .map(|array| {
                    let array = array.as_struct();
                    let child = array
                        .column(index)
                        .as_primitive::<arrow_array::types::Float32Type>();
                    // A null struct slot nulls its child too.
                    let nulls = NullBuffer::union(array.nulls(), child.nulls());
                    Float32Array::new(child.values().clone(), nulls)
                })
                .collect();
            Ok(Float32Column::new(fields[index].name().clone(), chunks))
        }
        DataType::Float32 => {
            if let Some(wanted) = wanted.filter(|w| *w != name) {
                return Err(Error::ColumnNotFound {
                    source_name: SOURCE.into(),
                    column: wanted.into(),
                    available: format!("{name}: Float32 (a single array)"),
                });
            }
            let chunks = arrays.iter().map(|a| a.as_primitive().clone()).collect();
            Ok(Float32Column::new(name.to_string(), chunks))
        }
        other => Err(Error::WrongType {
            source_name: SOURCE.into(),
            column: name.to_string(),
            data_type: other.to_string(),
        }),
    }
}

/// State of a float32 object with the buffer protocol (a numpy array of any
/// shape and strides), read in place.
#[pyfunction]
#[pyo3(signature = (source, threads, moments=false))]
pub fn _state_buffer(
    py: Python<'_>,
    source: &Bound<'_, PyAny>,
    threads: Option<i64>,
    moments: bool,
) -> PyMapmeanResult<AnyState> {
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
        if moments {
            strided_state::<MomentsState>(base, &shape, &strides, threads).map(AnyState::from)
        } else {
            strided_state::<MeanState>(base, &shape, &strides, threads).map(AnyState::from)
        }
    });
    drop(buffer); // only now may the exporter move or free the memory
    Ok(state?)
}
