//! `mapmean.MeanState` and `mapmean.MomentsState`: the exact, mergeable
//! states of a column of any numeric type, their byte form (for pickling and
//! transport), and their results.
//!
//! Both classes are one wrapper over [`ExactState`], written once
//! ([`state_class!`]): they differ in the parts they compute
//! (`MomentsState` adds the exact sum of squares for the variance and
//! standard deviation) and in the byte forms they accept. Every result is
//! finished by the registry ([`Statistic::finish`]).

use mapmean::kernel::{ExactState, Parts, Statistic, StatisticOptions, Value};
use mapmean::results::{self, ResultRow};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyType};
use pyo3_arrow::{PyArray, PyRecordBatch};

use crate::arguments;
use crate::errors::PyMapmeanResult;

/// What a binding computes: a mean state, a moments state, or a state with
/// the extremes (for `mapmean.min` and `mapmean.max`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Mean,
    Moments,
    Extremes,
}

impl Kind {
    pub fn from_name(name: &str) -> PyResult<Kind> {
        match name {
            "mean" => Ok(Kind::Mean),
            "moments" => Ok(Kind::Moments),
            "extremes" => Ok(Kind::Extremes),
            other => Err(PyValueError::new_err(format!(
                "unknown state kind {other:?}"
            ))),
        }
    }

    pub fn parts(self) -> Parts {
        match self {
            Kind::Mean => Parts::default(),
            Kind::Moments => Statistic::Variance.needs(),
            Kind::Extremes => Statistic::Min.needs(),
        }
    }

    /// The Python object for a state of this kind.
    pub fn wrap(self, inner: ExactState) -> AnyState {
        match self {
            Kind::Moments => AnyState::Moments(PyMomentsState { inner }),
            Kind::Mean | Kind::Extremes => AnyState::Mean(PyMeanState { inner }),
        }
    }
}

/// A state as the Python class of its kind.
#[derive(IntoPyObject)]
pub enum AnyState {
    Mean(PyMeanState),
    Moments(PyMomentsState),
}

fn statistic(name: &str) -> PyResult<Statistic> {
    Statistic::from_name(name)
        .ok_or_else(|| PyValueError::new_err(format!("unknown statistic {name:?}")))
}

/// A finished value as a Python object: float, int or None.
pub fn to_py(py: Python<'_>, value: Value) -> PyResult<Py<PyAny>> {
    Ok(match value {
        Value::Null => py.None(),
        Value::Float(x) => x.into_pyobject(py)?.into_any().unbind(),
        Value::Signed(x) => x.into_pyobject(py)?.into_any().unbind(),
        Value::Unsigned(x) => x.into_pyobject(py)?.into_any().unbind(),
    })
}

/// `statistic` of `state` as a one-value pyarrow array of its output type.
pub fn to_pyarrow_array<'py>(
    py: Python<'py>,
    state: &ExactState,
    statistic: Statistic,
    options: &StatisticOptions,
) -> PyMapmeanResult<Bound<'py, PyAny>> {
    let value = statistic.finish(state, options)?;
    let array = results::values_to_array(&[value], &statistic.output_type(state.input_type()));
    let array = PyArray::from_array_ref(array);
    let out = array.to_pyarrow(py)?.into_any().unbind();
    Ok(out.into_bound(py))
}

/// Defines one Python state class over [`ExactState`]; `$accepts` decides
/// which states (parts) the class holds, `$what` names them in errors.
macro_rules! state_class {
    ($rust:ident, $name:literal, $accepts:expr, $what:literal) => {
        #[pyclass(module = "mapmean._mapmean", name = $name, eq)]
        #[derive(Clone, PartialEq)]
        pub struct $rust {
            pub inner: ExactState,
        }

        impl $rust {
            fn check(inner: ExactState) -> PyMapmeanResult<Self> {
                let accepts: fn(Parts) -> bool = $accepts;
                if !accepts(inner.parts()) {
                    return Err(mapmean::Error::InvalidState {
                        reason: format!(
                            "these bytes hold a state {} the sum of squares; a {} {}",
                            if inner.parts().squares {
                                "with"
                            } else {
                                "without"
                            },
                            $name,
                            $what
                        ),
                    }
                    .into());
                }
                Ok($rust { inner })
            }

            /// `statistic` as a pyarrow scalar of its output type (what the
            /// module's functions return: `mapmean.mean` a DoubleScalar,
            /// `mapmean.sum` of integers an Int64Scalar, ...). pyarrow is
            /// imported here, on first use, not with the extension.
            fn scalar<'py>(
                &self,
                py: Python<'py>,
                statistic: Statistic,
                skip_nulls: bool,
                min_count: i64,
                ddof: i64,
            ) -> PyMapmeanResult<Bound<'py, PyAny>> {
                let options = arguments::options(skip_nulls, min_count, ddof)?;
                let array = to_pyarrow_array(py, &self.inner, statistic, &options)?;
                Ok(array.get_item(0)?)
            }
        }

        #[pymethods]
        impl $rust {
            /// An empty state of Float32 values.
            #[new]
            fn new() -> PyMapmeanResult<Self> {
                let parts = if $name == "MomentsState" {
                    Statistic::Variance.needs()
                } else {
                    Parts::default()
                };
                Ok($rust {
                    inner: ExactState::new(&arrow_schema::DataType::Float32, parts)?,
                })
            }

            #[classmethod]
            fn from_bytes(_cls: &Bound<'_, PyType>, data: &[u8]) -> PyMapmeanResult<Self> {
                $rust::check(ExactState::from_bytes(data)?)
            }

            fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
                PyBytes::new(py, &self.inner.to_bytes())
            }

            fn __reduce__<'py>(
                slf: &Bound<'py, Self>,
            ) -> PyResult<(Bound<'py, PyAny>, (Bound<'py, PyBytes>,))> {
                let from_bytes = slf.get_type().getattr("from_bytes")?;
                Ok((from_bytes, (slf.borrow().to_bytes(slf.py()),)))
            }

            #[getter]
            fn count(&self) -> u64 {
                self.inner.counts().count
            }

            #[getter]
            fn null_count(&self) -> u64 {
                self.inner.counts().null_count
            }

            #[getter]
            fn nan_count(&self) -> u64 {
                self.inner.counts().nan_count
            }

            #[getter]
            fn pos_inf_count(&self) -> u64 {
                self.inner.counts().pos_inf_count
            }

            #[getter]
            fn neg_inf_count(&self) -> u64 {
                self.inner.counts().neg_inf_count
            }

            /// The Arrow type of the values, as pyarrow names it.
            #[getter]
            fn r#type<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                pyo3_arrow::PyDataType::new(self.inner.input_type().clone()).into_pyarrow(py)
            }

            fn merge(&mut self, other: &$rust) -> PyMapmeanResult<()> {
                Ok(self.inner.merge(&other.inner)?)
            }

            #[pyo3(signature = (*, skip_nulls=true, min_count=1))]
            fn sum<'py>(
                &self,
                py: Python<'py>,
                skip_nulls: bool,
                min_count: i64,
            ) -> PyMapmeanResult<Bound<'py, PyAny>> {
                self.scalar(py, Statistic::Sum, skip_nulls, min_count, 0)
            }

            #[pyo3(signature = (*, skip_nulls=true, min_count=1))]
            fn finish<'py>(
                &self,
                py: Python<'py>,
                skip_nulls: bool,
                min_count: i64,
            ) -> PyMapmeanResult<Bound<'py, PyAny>> {
                self.scalar(py, Statistic::Mean, skip_nulls, min_count, 0)
            }

            #[pyo3(signature = (*, skip_nulls=true, min_count=1))]
            fn mean<'py>(
                &self,
                py: Python<'py>,
                skip_nulls: bool,
                min_count: i64,
            ) -> PyMapmeanResult<Bound<'py, PyAny>> {
                self.scalar(py, Statistic::Mean, skip_nulls, min_count, 0)
            }

            #[pyo3(signature = (*, ddof=0, skip_nulls=true, min_count=0))]
            fn variance<'py>(
                &self,
                py: Python<'py>,
                ddof: i64,
                skip_nulls: bool,
                min_count: i64,
            ) -> PyMapmeanResult<Bound<'py, PyAny>> {
                self.scalar(py, Statistic::Variance, skip_nulls, min_count, ddof)
            }

            #[pyo3(signature = (*, ddof=0, skip_nulls=true, min_count=0))]
            fn stddev<'py>(
                &self,
                py: Python<'py>,
                ddof: i64,
                skip_nulls: bool,
                min_count: i64,
            ) -> PyMapmeanResult<Bound<'py, PyAny>> {
                self.scalar(py, Statistic::Stddev, skip_nulls, min_count, ddof)
            }

            #[pyo3(signature = (*, skip_nulls=true, min_count=1))]
            fn min<'py>(
                &self,
                py: Python<'py>,
                skip_nulls: bool,
                min_count: i64,
            ) -> PyMapmeanResult<Bound<'py, PyAny>> {
                self.scalar(py, Statistic::Min, skip_nulls, min_count, 0)
            }

            #[pyo3(signature = (*, skip_nulls=true, min_count=1))]
            fn max<'py>(
                &self,
                py: Python<'py>,
                skip_nulls: bool,
                min_count: i64,
            ) -> PyMapmeanResult<Bound<'py, PyAny>> {
                self.scalar(py, Statistic::Max, skip_nulls, min_count, 0)
            }

            /// `statistic` as a plain Python value (float, int or None): the
            /// module's functions wrap a float into a DoubleScalar faster than
            /// pyarrow builds one from an array (`mapmean._api._double_scalar`).
            #[pyo3(signature = (statistic, skip_nulls, min_count, ddof=0))]
            fn _value(
                &self,
                py: Python<'_>,
                statistic: &str,
                skip_nulls: bool,
                min_count: i64,
                ddof: i64,
            ) -> PyMapmeanResult<Py<PyAny>> {
                let options = arguments::options(skip_nulls, min_count, ddof)?;
                let value = self::statistic(statistic)?.finish(&self.inner, &options)?;
                Ok(to_py(py, value)?)
            }

            /// `statistic` as a one-value pyarrow array of its output type
            /// (what `mapmean.sum`, `min` and `max` return the item of).
            #[pyo3(signature = (statistic, skip_nulls, min_count, ddof=0))]
            fn _result<'py>(
                &self,
                py: Python<'py>,
                statistic: &str,
                skip_nulls: bool,
                min_count: i64,
                ddof: i64,
            ) -> PyMapmeanResult<Bound<'py, PyAny>> {
                let options = arguments::options(skip_nulls, min_count, ddof)?;
                to_pyarrow_array(py, &self.inner, self::statistic(statistic)?, &options)
            }

            #[pyo3(signature = (column="values", *, skip_nulls=true, min_count=1))]
            fn to_arrow<'py>(
                &self,
                py: Python<'py>,
                column: &str,
                skip_nulls: bool,
                min_count: i64,
            ) -> PyMapmeanResult<Bound<'py, PyAny>> {
                let row = ResultRow {
                    source: None,
                    column: column.to_string(),
                    state: self.inner.clone(),
                };
                let options = arguments::options(skip_nulls, min_count, 0)?;
                let (batch, _) = results::to_record_batch(&[row], &[(Statistic::Mean, options)])?;
                Ok(PyRecordBatch::new(batch).into_pyarrow(py)?)
            }

            /// The mean state inside (counts and sum).
            fn mean_state(&self) -> PyMapmeanResult<PyMeanState> {
                let mut mean = ExactState::new(self.inner.input_type(), Parts::default())?;
                mean.merge(&self.inner)?;
                Ok(PyMeanState { inner: mean })
            }

            fn __repr__(&self) -> String {
                let c = self.inner.counts();
                let mean = Statistic::Mean
                    .finish(&self.inner, &StatisticOptions::default())
                    .ok()
                    .and_then(|v| v.as_f64())
                    .map_or("None".to_string(), |m| format!("{m:?}"));
                format!(
                    "{}(count={}, null_count={}, nan_count={}, mean={mean}, type={})",
                    $name,
                    c.count,
                    c.null_count,
                    c.nan_count,
                    self.inner.input_type()
                )
            }
        }
    };
}

state_class!(
    PyMeanState,
    "MeanState",
    |parts| !parts.squares,
    "has none (read it with MomentsState.from_bytes)"
);
state_class!(
    PyMomentsState,
    "MomentsState",
    |parts| parts.squares,
    "needs one"
);
