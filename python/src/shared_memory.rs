//! `mapmean.share` and `mapmean.attach`: [`SharedTable`], a handle on a POSIX
//! shared-memory segment holding an Arrow IPC file image.

use arrow_array::RecordBatch;
use arrow_schema::ArrowError;
use mapmean::source::SharedSegment;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3_arrow::input::AnyRecordBatch;

use crate::arguments;
use crate::errors::{compute, PyMapmeanResult};
use crate::grouped::{self, PyAggregation};
use crate::state::{AnyState, Kind};

/// A shared-memory segment holding an Arrow IPC file image; see
/// `mapmean.share` and `mapmean.attach`.
#[pyclass(module = "mapmean._mapmean")]
pub struct SharedTable {
    name: String,
    nbytes: usize,
    owner: bool,
    unlinked: bool,
    segment: Option<SharedSegment>,
}

#[pymethods]
impl SharedTable {
    /// The segment's name (use it as ``"shm://" + name`` from other processes).
    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    /// Size of the segment in bytes.
    #[getter]
    fn nbytes(&self) -> usize {
        self.nbytes
    }

    /// Whether this object created the segment (and unlinks it on exit).
    #[getter]
    fn owner(&self) -> bool {
        self.owner
    }

    /// Whether ``close`` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.segment.is_none()
    }

    /// Unmaps the segment from this process (arrays already computed from it
    /// keep their own reference). Idempotent.
    fn close(&mut self) {
        self.segment = None;
    }

    /// Removes the segment's name: no new reader can attach; existing
    /// mappings stay valid until closed. Raises FileNotFoundError if the name
    /// is already gone.
    fn unlink(&mut self) -> PyMapmeanResult<()> {
        mapmean::source::shm::unlink(&self.name)?;
        self.unlinked = true;
        Ok(())
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Closes; the owner also unlinks (if not done already).
    fn __exit__(
        &mut self,
        _exc_type: Option<&Bound<'_, PyAny>>,
        _exc: Option<&Bound<'_, PyAny>>,
        _tb: Option<&Bound<'_, PyAny>>,
    ) -> PyMapmeanResult<bool> {
        self.close();
        if self.owner && !self.unlinked {
            self.unlink()?;
        }
        Ok(false)
    }

    fn __repr__(&self) -> String {
        format!(
            "SharedTable(name={:?}, nbytes={}, owner={}, closed={})",
            self.name,
            self.nbytes,
            if self.owner { "True" } else { "False" },
            if self.segment.is_none() {
                "True"
            } else {
                "False"
            }
        )
    }

    /// Grouped statistics of the segment (see ``mapmean.group_by``).
    #[pyo3(signature = (keys, aggregations, threads, states=None))]
    fn _group(
        &self,
        py: Python<'_>,
        keys: Vec<String>,
        aggregations: Vec<PyAggregation>,
        threads: Option<i64>,
        states: Option<&str>,
    ) -> PyMapmeanResult<Py<PyAny>> {
        let segment = self.segment.clone().ok_or_else(|| {
            PyValueError::new_err(format!("SharedTable {:?} is closed", self.name))
        })?;
        grouped::run(py, keys, aggregations, threads, states, |spec, threads| {
            let data =
                mapmean::ipc::IpcData::open(segment.buffer().clone(), &segment.source_name())?;
            mapmean::grouped::group_data(&[mapmean::decoded::Decoded::Ipc(data)], spec, threads)
        })
    }

    /// State of a column of the segment (see ``mapmean.mean_state``).
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
        let segment = self.segment.clone().ok_or_else(|| {
            PyValueError::new_err(format!("SharedTable {:?} is closed", self.name))
        })?;
        let state = compute(py, || {
            let data =
                mapmean::ipc::IpcData::open(segment.buffer().clone(), &segment.source_name())?;
            let column = data.column(column.as_deref())?;
            mapmean::engine::state_of_column(&column, kind.parts(), threads)
        })?;
        Ok(kind.wrap(state))
    }
}

impl SharedTable {
    fn new(segment: SharedSegment, owner: bool) -> Self {
        SharedTable {
            name: segment.name().to_string(),
            nbytes: segment.buffer().len(),
            owner,
            unlinked: false,
            segment: Some(segment),
        }
    }
}

/// Creates the segment `name` (random if None) holding `data`'s batches.
#[pyfunction]
#[pyo3(signature = (name, data))]
pub fn _share(
    py: Python<'_>,
    name: Option<String>,
    data: AnyRecordBatch,
) -> PyMapmeanResult<SharedTable> {
    let reader = data.into_reader()?;
    let schema = reader.schema();
    let batches = reader
        .collect::<Result<Vec<RecordBatch>, ArrowError>>()
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    let name = name.unwrap_or_else(SharedSegment::random_name);
    let segment = compute(py, || {
        SharedSegment::create_with_batches(&name, &schema, &batches)
    })?;
    Ok(SharedTable::new(segment, true))
}

/// Maps the existing segment `name` read-only.
#[pyfunction]
pub fn _attach(py: Python<'_>, name: String) -> PyMapmeanResult<SharedTable> {
    let segment = compute(py, || SharedSegment::open(&name))?;
    Ok(SharedTable::new(segment, false))
}
