//! `mapmean.MeanState`: the exact, mergeable state of a mean, its byte form
//! (for pickling and transport), and its results as floats or pyarrow.

use mapmean::results::{self, ResultRow};
use mapmean::MeanState;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyType};
use pyo3_arrow::PyRecordBatch;

use crate::arguments;
use crate::errors::PyMapmeanResult;

/// The exact, mergeable state of a mean (documented for Python users in
/// `python/mapmean/_mapmean.pyi` and `mapmean.mean_state`).
#[pyclass(module = "mapmean._mapmean", name = "MeanState", eq)]
#[derive(Clone, PartialEq)]
pub struct PyMeanState {
    pub inner: MeanState,
}

#[pymethods]
impl PyMeanState {
    /// An empty state.
    #[new]
    fn new() -> Self {
        PyMeanState {
            inner: MeanState::default(),
        }
    }

    /// The state read from its byte form (`mapmean::MeanState::from_bytes`,
    /// docs/state-format.md); ValueError with the reason for bytes that are
    /// not a valid state.
    #[classmethod]
    fn from_bytes(_cls: &Bound<'_, PyType>, data: &[u8]) -> PyMapmeanResult<Self> {
        Ok(PyMeanState {
            inner: MeanState::from_bytes(data)?,
        })
    }

    /// The state's byte form (`mapmean::MeanState::to_bytes`): 96 bytes.
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.to_bytes())
    }

    /// Pickles as `MeanState.from_bytes(state.to_bytes())`: the same bytes.
    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<(Bound<'py, PyAny>, (Bound<'py, PyBytes>,))> {
        let from_bytes = slf.get_type().getattr("from_bytes")?;
        Ok((from_bytes, (slf.borrow().to_bytes(slf.py()),)))
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

    /// Adds another state into this one, exactly; OverflowError (and this
    /// state unchanged) if a count would pass 2**64 - 1.
    fn merge(&mut self, other: &PyMeanState) -> PyMapmeanResult<()> {
        Ok(self.inner.merge(&other.inner)?)
    }

    /// The sum under pyarrow's rules (``pyarrow.compute.sum``), or None
    /// where it is null.
    #[pyo3(signature = (*, skip_nulls=true, min_count=1))]
    fn sum(&self, skip_nulls: bool, min_count: i64) -> PyResult<Option<f64>> {
        Ok(self
            .inner
            .sum_with(&arguments::options(skip_nulls, min_count)?))
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
