//! The states of the sources `mapmean.mean_state` dispatches to: a path (an
//! Arrow IPC file or stream, or `shm://NAME`), an object with the Arrow
//! PyCapsule interface (consumed batch by batch, [`crate::streams`]), and a
//! float32 numpy array read in place (through numpy's C API; the strided
//! walk is in [`crate::strided`]).

use std::path::PathBuf;

use mapmean::engine;
use mapmean::kernel::Accumulate;
use mapmean::{MeanState, MomentsState};
use numpy::{PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3_arrow::input::AnyArray;

use crate::arguments;
use crate::errors::{compute, PyMapmeanResult};
use crate::moments::AnyState;
use crate::streams;
use crate::strided::strided_state;

/// State of a column of the Arrow IPC file or stream at `path` (or
/// `shm://NAME`).
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
    compute(py, || {
        let column = column.as_deref();
        Ok(if moments {
            engine::moments_of_file(&path, column, threads)?.into()
        } else {
            engine::state_of_file(&path, column, threads)?.into()
        })
    })
}

/// The state `moments` asks for (a `MomentsState` or a `MeanState`) of
/// `chunks`.
pub fn accumulate(
    chunks: &[arrow_array::Float32Array],
    threads: Option<usize>,
    moments: bool,
) -> mapmean::Result<AnyState> {
    Ok(if moments {
        engine::accumulate_arrays::<MomentsState>(chunks, threads)?.into()
    } else {
        engine::accumulate_arrays::<MeanState>(chunks, threads)?.into()
    })
}

/// State of a column of any object with the Arrow PyCapsule interface,
/// consumed batch by batch in bounded memory (see [`crate::streams`]).
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
    let pick = streams::pick(&reader.field(), column.as_deref())?;
    compute(py, move || {
        Ok(if moments {
            streams::state_of_arrays::<MomentsState, _>(reader, pick, threads)?.into()
        } else {
            streams::state_of_arrays::<MeanState, _>(reader, pick, threads)?.into()
        })
    })
}

/// State of a float32 numpy array of any shape and strides, read in place.
///
/// The array's layout comes from numpy's own C API (rust-numpy), which the
/// limited API (abi3) allows, unlike the buffer protocol before Python 3.11.
#[pyfunction]
#[pyo3(signature = (source, threads, moments=false))]
pub fn _state_ndarray(
    py: Python<'_>,
    source: PyReadonlyArrayDyn<'_, f32>,
    threads: Option<i64>,
    moments: bool,
) -> PyMapmeanResult<AnyState> {
    Ok(if moments {
        ndarray_state::<MomentsState>(py, source, threads)?.into()
    } else {
        ndarray_state::<MeanState>(py, source, threads)?.into()
    })
}

/// The state `S` of a float32 numpy array of any shape and strides, read
/// in place (for [`_state_ndarray`] and [`_mean_ndarray`]).
fn ndarray_state<S: Accumulate + Send>(
    py: Python<'_>,
    source: PyReadonlyArrayDyn<'_, f32>,
    threads: Option<i64>,
) -> PyMapmeanResult<S> {
    let threads = arguments::threads(threads)?;
    let shape = source.shape().to_vec();
    let strides = source.strides().to_vec();
    let base = source.data() as usize;
    // SAFETY: `source` is a numpy array of native float32 (its type, checked
    // by the extraction), so numpy's `data`, `shape` and byte `strides`
    // describe where each of its items lies. `source` holds a reference to
    // the array and a read borrow of it until after the computation: the
    // array cannot be freed, numpy does not move the data of an array that
    // is referenced elsewhere (`resize` refuses), and no Rust code may write
    // to it meanwhile.
    let state = compute(py, move || unsafe {
        strided_state::<S>(base, &shape, &strides, threads)
    });
    drop(source); // only now may the array be resized or freed
    state
}

/// The mean (None where null) of a float32 numpy array: `_state_ndarray`
/// and `finish` in one call, for `mapmean.mean`'s fast path on small arrays,
/// where building the state object and parsing `finish`'s arguments are a
/// measurable part of the call.
#[pyfunction]
#[pyo3(signature = (source, threads, skip_nulls, min_count))]
pub fn _mean_ndarray(
    py: Python<'_>,
    source: PyReadonlyArrayDyn<'_, f32>,
    threads: Option<i64>,
    skip_nulls: bool,
    min_count: i64,
) -> PyMapmeanResult<Option<f64>> {
    let options = arguments::options(skip_nulls, min_count)?;
    let state = ndarray_state::<MeanState>(py, source, threads)?;
    Ok(state.finish_with(&options))
}
