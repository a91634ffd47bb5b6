//! `mapmean.open`: the compiled half of `mapmean.Dataset`, a handle that
//! keeps sources mapped and decoded ([`mapmean::Dataset`]) for repeated
//! queries. The public class, its argument checks and its docstrings are in
//! `python/mapmean/_api.py`.

use std::ffi::OsString;
use std::sync::{Arc, Mutex};

use mapmean::Dataset;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3_arrow::PySchema;

use crate::arguments;
use crate::errors::{compute, PyMapmeanResult};
use crate::grouped::{self, PyAggregation};
use crate::state::{AnyState, Kind};

/// An open [`Dataset`], or nothing once closed. Frozen (no `&mut self`), so
/// that `close` from one thread while another computes needs no borrow of
/// the object: the computation holds its own reference to the mappings,
/// which live until it ends.
#[pyclass(module = "mapmean._mapmean", name = "_Dataset", frozen)]
pub struct PyDataset {
    inner: Mutex<Option<Arc<Dataset>>>,
}

impl PyDataset {
    fn dataset(&self) -> PyResult<Arc<Dataset>> {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| PyValueError::new_err("the Dataset is closed"))
    }
}

#[pymethods]
impl PyDataset {
    /// State of a column over every source (see ``mapmean.Dataset.mean_state``),
    /// of the `kind` ``"mean"``, ``"moments"`` or ``"extremes"``.
    #[pyo3(signature = (column, threads, kind="mean"))]
    fn _state(
        &self,
        py: Python<'_>,
        column: Option<String>,
        threads: Option<i64>,
        kind: &str,
    ) -> PyMapmeanResult<AnyState> {
        let threads = arguments::threads(threads)?;
        let kind = Kind::from_name(kind)?;
        let dataset = self.dataset()?;
        let state = compute(py, || {
            dataset.state(column.as_deref(), kind.parts(), threads)
        })?;
        Ok(kind.wrap(state))
    }

    /// Grouped statistics over every source (see ``mapmean.group_by``).
    #[pyo3(signature = (keys, aggregations, threads, states=None))]
    fn _group(
        &self,
        py: Python<'_>,
        keys: Vec<String>,
        aggregations: Vec<PyAggregation>,
        threads: Option<i64>,
        states: Option<&str>,
    ) -> PyMapmeanResult<Py<PyAny>> {
        let dataset = self.dataset()?;
        grouped::run(py, keys, aggregations, threads, states, |spec, threads| {
            dataset.group(spec, threads)
        })
    }

    /// The first source's schema, as a ``pyarrow.Schema``.
    #[getter]
    fn schema<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        PySchema::new(self.dataset()?.schema().clone()).into_pyarrow(py)
    }

    /// The sources' names, in merge order.
    #[getter]
    fn sources(&self) -> PyResult<Vec<String>> {
        Ok(self.dataset()?.sources().to_vec())
    }

    /// Whether ``close`` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_none()
    }

    /// Drops this handle's mappings (a computation running meanwhile keeps
    /// them until it ends). Idempotent.
    fn close(&self) {
        let dataset = self.inner.lock().unwrap_or_else(|e| e.into_inner()).take();
        drop(dataset); // unmapped here, outside the lock
    }
}

/// Maps the sources that `sources` name (files, directories, globs,
/// `shm://NAME`) and reads their metadata.
#[pyfunction]
pub fn _open(py: Python<'_>, sources: Vec<OsString>) -> PyMapmeanResult<PyDataset> {
    let dataset = compute(py, || Dataset::open(&sources))?;
    Ok(PyDataset {
        inner: Mutex::new(Some(Arc::new(dataset))),
    })
}
