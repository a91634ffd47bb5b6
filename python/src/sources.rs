//! The states of the sources `mapmean.mean_state` dispatches to: a path (an
//! Arrow IPC file or stream, or `shm://NAME`), an object with the Arrow
//! PyCapsule interface (consumed batch by batch, [`crate::streams`]), and a
//! numpy array of any numeric dtype read in place (through numpy's C API;
//! the strided walk is in [`crate::strided`]).

use std::path::PathBuf;

use arrow_schema::DataType;
use half::f16;
use mapmean::engine;
use mapmean::kernel::{ExactState, Native, Statistic};
use numpy::{
    Element, PyArrayDescrMethods, PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArray,
    PyUntypedArrayMethods,
};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3_arrow::input::AnyArray;

use crate::arguments;
use crate::errors::{compute, PyMapmeanResult};
use crate::state::{AnyState, Kind};
use crate::streams;
use crate::strided::strided_state;

/// State of a column of an Arrow IPC file or stream (or `shm://NAME`):
/// a `MeanState`, a `MomentsState` or a state with extremes, by `kind`.
#[pyfunction]
#[pyo3(signature = (path, column, threads, kind="mean"))]
pub fn _state_path(
    py: Python<'_>,
    path: PathBuf,
    column: Option<String>,
    threads: Option<i64>,
    kind: &str,
) -> PyMapmeanResult<AnyState> {
    let threads = arguments::threads(threads)?;
    let kind = Kind::from_name(kind)?;
    let state = compute(py, || {
        engine::state_of_source(&path, column.as_deref(), kind.parts(), threads)
    })?;
    Ok(kind.wrap(state))
}

/// State of an Arrow array, table or stream (anything with
/// `__arrow_c_array__` or `__arrow_c_stream__`), consumed batch by batch.
#[pyfunction]
#[pyo3(signature = (source, column, threads, kind="mean"))]
pub fn _state_arrow(
    py: Python<'_>,
    source: AnyArray,
    column: Option<String>,
    threads: Option<i64>,
    kind: &str,
) -> PyMapmeanResult<AnyState> {
    let threads = arguments::threads(threads)?;
    let kind = Kind::from_name(kind)?;
    let reader = source.into_reader()?;
    let (pick, data_type) = streams::pick(&reader.field(), column.as_deref())?;
    let empty = ExactState::new(&data_type, kind.parts())?;
    let state = compute(py, move || {
        streams::state_of_arrays(reader, pick, empty, threads)
    })?;
    Ok(kind.wrap(state))
}

/// State of a numpy array of any numeric dtype (native byte order), any
/// shape and strides, read in place.
#[pyfunction]
#[pyo3(signature = (source, threads, kind="mean"))]
pub fn _state_ndarray(
    py: Python<'_>,
    source: &Bound<'_, PyUntypedArray>,
    threads: Option<i64>,
    kind: &str,
) -> PyMapmeanResult<AnyState> {
    let kind = Kind::from_name(kind)?;
    let threads = arguments::threads(threads)?;
    let dtype = source.dtype();
    macro_rules! typed {
        ($($t:ty => $dt:ident),*) => {
            $(
                if dtype.is_equiv_to(&<$t as Element>::get_dtype(py)) {
                    let array = source.cast::<PyArrayDyn<$t>>().map_err(PyErr::from)?.readonly();
                    let state = ndarray_state::<$t>(py, array, &DataType::$dt, kind, threads)?;
                    return Ok(kind.wrap(state));
                }
            )*
        };
    }
    typed!(
        f32 => Float32, f64 => Float64, f16 => Float16,
        i8 => Int8, i16 => Int16, i32 => Int32, i64 => Int64,
        u8 => UInt8, u16 => UInt16, u32 => UInt32, u64 => UInt64
    );
    Err(PyTypeError::new_err(format!(
        "mapmean needs a numeric numpy array (float16/32/64, int8-64, uint8-64), got dtype {}",
        dtype.str()?
    ))
    .into())
}

fn ndarray_state<T: Native + Element>(
    py: Python<'_>,
    source: PyReadonlyArrayDyn<'_, T>,
    data_type: &DataType,
    kind: Kind,
    threads: Option<usize>,
) -> PyMapmeanResult<ExactState> {
    let empty = ExactState::new(data_type, kind.parts())?;
    let shape = source.shape().to_vec();
    let strides = source.strides().to_vec();
    let base = source.data() as usize;
    // SAFETY: `source` is a numpy array of native `T` (its dtype, checked by
    // the caller's cast), so numpy's `data`, `shape` and byte `strides`
    // describe where each of its items lies. `source` holds a reference to
    // the array and a read borrow of it until after the computation: the
    // array cannot be freed, numpy does not move the data of an array that
    // is referenced elsewhere (`resize` refuses), and no Rust code may write
    // to it meanwhile.
    let state = compute(py, move || unsafe {
        strided_state::<T>(&empty, base, &shape, &strides, threads)
    });
    drop(source); // only now may the array be resized or freed
    state
}

/// The mean of a float32 numpy array: the fast path of `mapmean.mean` for
/// small arrays (one call, no state object).
#[pyfunction]
#[pyo3(signature = (source, threads, skip_nulls, min_count))]
pub fn _mean_ndarray(
    py: Python<'_>,
    source: PyReadonlyArrayDyn<'_, f32>,
    threads: Option<i64>,
    skip_nulls: bool,
    min_count: i64,
) -> PyMapmeanResult<Option<f64>> {
    let options = arguments::options(skip_nulls, min_count, 0)?;
    let threads = arguments::threads(threads)?;
    let state = ndarray_state::<f32>(py, source, &DataType::Float32, Kind::Mean, threads)?;
    Ok(Statistic::Mean.finish(&state, &options)?.as_f64())
}
