//! `mapmean.MeanState`: the exact, mergeable state of a mean, its byte form
//! (for pickling and transport), and its results as floats or pyarrow.

use mapmean::results::{self, ResultRow};
use mapmean::{ExactSum, MeanState};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3_arrow::PyRecordBatch;

use crate::arguments;

/// Serialised form of a state: a version byte, then eleven little-endian
/// `u64`: five counts and the six limbs of the exact sum.
const STATE_VERSION: u8 = 1;
const STATE_BYTES: usize = 1 + 8 * 11;

/// The exact, mergeable state of a mean (documented for Python users in
/// `python/mapmean/_mapmean.pyi` and `mapmean.mean_state`).
#[pyclass(module = "mapmean._mapmean", name = "MeanState", eq)]
#[derive(Clone, PartialEq)]
pub struct PyMeanState {
    pub inner: MeanState,
}

#[pymethods]
impl PyMeanState {
    /// An empty state, or one restored from ``to_bytes()``.
    #[new]
    #[pyo3(signature = (state=None))]
    fn new(state: Option<&[u8]>) -> PyResult<Self> {
        let Some(bytes) = state else {
            return Ok(PyMeanState {
                inner: MeanState::default(),
            });
        };
        if bytes.len() != STATE_BYTES || bytes[0] != STATE_VERSION {
            return Err(PyValueError::new_err(format!(
                "not a serialised MeanState ({} bytes; expected {STATE_BYTES} starting with version {STATE_VERSION})",
                bytes.len()
            )));
        }
        let words: Vec<u64> = bytes[1..]
            .chunks_exact(8)
            .map(|w| u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]))
            .collect();
        let mut limbs = [0u64; 6];
        limbs.copy_from_slice(&words[5..]);
        let inner = MeanState {
            count: words[0],
            null_count: words[1],
            nan_count: words[2],
            pos_inf_count: words[3],
            neg_inf_count: words[4],
            sum: ExactSum::from_limbs(limbs),
        };
        let specials = inner
            .nan_count
            .checked_add(inner.pos_inf_count)
            .and_then(|s| s.checked_add(inner.neg_inf_count));
        if specials.is_none_or(|s| s > inner.count) {
            return Err(PyValueError::new_err(
                "not a serialised MeanState (inconsistent counts)",
            ));
        }
        Ok(PyMeanState { inner })
    }

    /// The serialised state (89 bytes), for storage or transport.
    fn to_bytes(&self) -> Vec<u8> {
        let s = &self.inner;
        let mut out = Vec::with_capacity(STATE_BYTES);
        out.push(STATE_VERSION);
        for word in [
            s.count,
            s.null_count,
            s.nan_count,
            s.pos_inf_count,
            s.neg_inf_count,
        ]
        .into_iter()
        .chain(s.sum.to_limbs())
        {
            out.extend_from_slice(&word.to_le_bytes());
        }
        out
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, (Vec<u8>,))> {
        Ok((slf.get_type().into_any(), (slf.borrow().to_bytes(),)))
    }

    /// Valid values (NaN and infinities included).
    #[getter]
    fn count(&self) -> u64 {
        self.inner.count
    }

    /// Null values.
    #[getter]
    fn null_count(&self) -> u64 {
        self.inner.null_count
    }

    /// Valid NaN values.
    #[getter]
    fn nan_count(&self) -> u64 {
        self.inner.nan_count
    }

    /// Valid +inf values.
    #[getter]
    fn pos_inf_count(&self) -> u64 {
        self.inner.pos_inf_count
    }

    /// Valid -inf values.
    #[getter]
    fn neg_inf_count(&self) -> u64 {
        self.inner.neg_inf_count
    }

    /// Adds another state into this one, exactly.
    fn merge(&mut self, other: &PyMeanState) {
        self.inner.merge(&other.inner);
    }

    /// The mean under pyarrow's rules, or None where it is null.
    #[pyo3(signature = (*, skip_nulls=true, min_count=1))]
    fn finish(&self, skip_nulls: bool, min_count: i64) -> PyResult<Option<f64>> {
        Ok(self
            .inner
            .finish_with(&arguments::options(skip_nulls, min_count)?))
    }

    /// The state as a one-row ``pyarrow.RecordBatch`` (column, count,
    /// null_count, nan_count, mean).
    #[pyo3(signature = (column="values", *, skip_nulls=true, min_count=1))]
    fn to_arrow<'py>(
        &self,
        py: Python<'py>,
        column: &str,
        skip_nulls: bool,
        min_count: i64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let row = ResultRow {
            source: None,
            column: column.to_string(),
            state: self.inner,
        };
        let batch = results::to_record_batch(&[row], &arguments::options(skip_nulls, min_count)?);
        PyRecordBatch::new(batch).into_pyarrow(py)
    }

    fn __repr__(&self) -> String {
        let s = &self.inner;
        let mean = s.finish().map_or("None".to_string(), |m| format!("{m:?}"));
        format!(
            "MeanState(count={}, null_count={}, nan_count={}, mean={mean})",
            s.count, s.null_count, s.nan_count
        )
    }
}
