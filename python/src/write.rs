//! `mapmean.write_ipc`: record batches written as an Arrow IPC file or stream
//! with 64-byte aligned buffers, ready to be memory-mapped.

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;

use arrow_array::RecordBatch;
use arrow_schema::ArrowError;
use mapmean::ipc::{write::write_batches, IpcFormat};
use mapmean::Error;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3_arrow::input::AnyRecordBatch;

use crate::errors::{compute, PyMapmeanResult};

/// Writes record batches (any Arrow PyCapsule object with a struct schema) as
/// an IPC file or stream with 64-byte aligned buffers.
#[pyfunction]
#[pyo3(signature = (path, data, format))]
pub fn _write_ipc(
    py: Python<'_>,
    path: PathBuf,
    data: AnyRecordBatch,
    format: &str,
) -> PyMapmeanResult<()> {
    let format = match format {
        "file" => IpcFormat::File,
        "stream" => IpcFormat::Stream,
        other => {
            return Err(PyValueError::new_err(format!(
                "format must be 'file' or 'stream', got {other:?}"
            ))
            .into())
        }
    };
    let reader = data.into_reader()?;
    let schema = reader.schema();
    let batches = reader
        .collect::<Result<Vec<RecordBatch>, ArrowError>>()
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    compute(py, || {
        let file = File::create(&path).map_err(|e| Error::io(&path, e))?;
        write_batches(BufWriter::new(file), &path, &schema, &batches, format)
    })
}
