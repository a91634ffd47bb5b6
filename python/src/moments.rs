//! `mapmean.MomentsState`: the exact, mergeable state of the sum, mean,
//! variance and standard deviation (counts, exact Σx and Σx²), its byte form
//! (for pickling and transport) and its correctly rounded results.

use mapmean::{MeanState, MomentsState, VarianceOptions};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyType};

use crate::arguments;
use crate::errors::PyMapmeanResult;
use crate::state::PyMeanState;

/// The exact, mergeable state of the first two moments (documented for
/// Python users in `python/mapmean/_mapmean.pyi` and `mapmean.moments_state`).
#[pyclass(module = "mapmean._mapmean", name = "MomentsState", eq)]
#[derive(Clone, PartialEq)]
pub struct PyMomentsState {
    pub inner: MomentsState,
}

/// Either state, as the source functions return it (`moments` chooses).
#[derive(IntoPyObject)]
pub enum AnyState {
    Mean(PyMeanState),
    Moments(PyMomentsState),
}

impl From<MeanState> for AnyState {
    fn from(inner: MeanState) -> Self {
        AnyState::Mean(PyMeanState { inner })
    }
}

impl From<MomentsState> for AnyState {
    fn from(inner: MomentsState) -> Self {
        AnyState::Moments(PyMomentsState { inner })
    }
}

/// The options of `variance` and `stddev`: `min_count` must be
/// non-negative, `ddof` an `int32` as in pyarrow.
fn variance_options(ddof: i64, skip_nulls: bool, min_count: i64) -> PyResult<VarianceOptions> {
    let mean = arguments::options(skip_nulls, min_count)?;
    let ddof = i32::try_from(ddof)
        .map_err(|_| PyValueError::new_err(format!("ddof must fit a 32-bit int, got {ddof}")))?;
    Ok(VarianceOptions {
        ddof,
        skip_nulls,
        min_count: mean.min_count,
    })
}

#[pymethods]
impl PyMomentsState {
    /// An empty state.
    #[new]
    fn new() -> Self {
        PyMomentsState {
            inner: MomentsState::default(),
        }
    }

    /// The state read from its byte form (`mapmean::MomentsState::from_bytes`,
    /// docs/state-format.md); ValueError with the reason for bytes that are
    /// not a valid moments state.
    #[classmethod]
    fn from_bytes(_cls: &Bound<'_, PyType>, data: &[u8]) -> PyMapmeanResult<Self> {
        Ok(PyMomentsState {
            inner: MomentsState::from_bytes(data)?,
        })
    }

    /// The state's byte form (`mapmean::MomentsState::to_bytes`): 176 bytes.
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.to_bytes())
    }

    /// Pickles as `MomentsState.from_bytes(state.to_bytes())`.
    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<(Bound<'py, PyAny>, (Bound<'py, PyBytes>,))> {
        let from_bytes = slf.get_type().getattr("from_bytes")?;
        Ok((from_bytes, (slf.borrow().to_bytes(slf.py()),)))
    }

    /// Valid values (NaN and infinities included).
    #[getter]
    fn count(&self) -> u64 {
        self.inner.mean.count
    }

    /// Null values.
    #[getter]
    fn null_count(&self) -> u64 {
        self.inner.mean.null_count
    }

    /// Valid NaN values.
    #[getter]
    fn nan_count(&self) -> u64 {
        self.inner.mean.nan_count
    }

    /// Valid +inf values.
    #[getter]
    fn pos_inf_count(&self) -> u64 {
        self.inner.mean.pos_inf_count
    }

    /// Valid -inf values.
    #[getter]
    fn neg_inf_count(&self) -> u64 {
        self.inner.mean.neg_inf_count
    }

    /// Adds another state into this one, exactly; OverflowError (and this
    /// state unchanged) if a count would pass 2**64 - 1.
    fn merge(&mut self, other: &PyMomentsState) -> PyMapmeanResult<()> {
        Ok(self.inner.merge(&other.inner)?)
    }

    /// The sum under pyarrow's rules, or None where it is null.
    #[pyo3(signature = (*, skip_nulls=true, min_count=1))]
    fn sum(&self, skip_nulls: bool, min_count: i64) -> PyResult<Option<f64>> {
        Ok(self
            .inner
            .sum_with(&arguments::options(skip_nulls, min_count)?))
    }

    /// The mean under pyarrow's rules, or None where it is null.
    #[pyo3(signature = (*, skip_nulls=true, min_count=1))]
    fn mean(&self, skip_nulls: bool, min_count: i64) -> PyResult<Option<f64>> {
        Ok(self
            .inner
            .mean_with(&arguments::options(skip_nulls, min_count)?))
    }

    /// The variance under pyarrow's rules, or None where it is null.
    #[pyo3(signature = (*, ddof=0, skip_nulls=true, min_count=0))]
    fn variance(&self, ddof: i64, skip_nulls: bool, min_count: i64) -> PyResult<Option<f64>> {
        Ok(self
            .inner
            .variance_with(&variance_options(ddof, skip_nulls, min_count)?))
    }

    /// The standard deviation under pyarrow's rules, or None where it is null.
    #[pyo3(signature = (*, ddof=0, skip_nulls=true, min_count=0))]
    fn stddev(&self, ddof: i64, skip_nulls: bool, min_count: i64) -> PyResult<Option<f64>> {
        Ok(self
            .inner
            .stddev_with(&variance_options(ddof, skip_nulls, min_count)?))
    }

    /// The counts and exact sum alone, as a ``MeanState``.
    fn mean_state(&self) -> PyMeanState {
        PyMeanState {
            inner: self.inner.mean,
        }
    }

    fn __repr__(&self) -> String {
        let s = &self.inner;
        let show = |x: Option<f64>| x.map_or("None".to_string(), |v| format!("{v:?}"));
        format!(
            "MomentsState(count={}, null_count={}, nan_count={}, sum={}, variance={})",
            s.mean.count,
            s.mean.null_count,
            s.mean.nan_count,
            show(s.sum()),
            show(s.variance())
        )
    }
}
