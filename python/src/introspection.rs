//! Private helpers for the test suite and the benchmarks: where decoded
//! buffers lie (to check zero copy) and the read-bandwidth ceiling.

use std::path::PathBuf;

use arrow_array::Array;
use mapmean::source::Source;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::arguments;
use crate::errors::{compute, PyMapmeanResult};

/// Where the decoded buffers of a file's column lie, to check zero copy:
/// `{"map_start", "map_len", "batches": [{"values_addr", "values_len",
/// "validity_addr"}]}`.
#[pyfunction]
#[pyo3(signature = (path, column=None))]
pub fn _column_buffers<'py>(
    py: Python<'py>,
    path: PathBuf,
    column: Option<String>,
) -> PyMapmeanResult<Bound<'py, PyDict>> {
    let (range, column) = compute(py, || {
        let source = Source::open(&path)?;
        let data = mapmean::ipc::IpcData::open(source.buffer().clone(), source.name())?;
        let start = source.buffer().as_ptr() as usize;
        Ok((
            start..start + source.buffer().len(),
            data.column(column.as_deref())?,
        ))
    })?;
    let out = PyDict::new(py);
    out.set_item("map_start", range.start)?;
    out.set_item("map_len", range.len())?;
    let batches = column
        .chunks()
        .iter()
        .map(|chunk| {
            let batch = PyDict::new(py);
            let data = chunk.to_data();
            let width = data.data_type().primitive_width().unwrap_or(0);
            let values = &data.buffers()[0];
            batch.set_item(
                "values_addr",
                values.as_ptr() as usize + data.offset() * width,
            )?;
            batch.set_item("values_len", values.len())?;
            batch.set_item(
                "validity_addr",
                chunk.nulls().map(|n| n.buffer().as_ptr() as usize),
            )?;
            Ok(batch)
        })
        .collect::<PyResult<Vec<_>>>()?;
    out.set_item("batches", batches)?;
    Ok(out)
}

/// The read-bandwidth ceiling for benchmarks: maps the file at `path` as
/// `mean` does and sums its bytes as `u64` words on `threads` threads.
#[pyfunction]
#[pyo3(signature = (path, threads=None))]
pub fn _read_ceiling(py: Python<'_>, path: PathBuf, threads: Option<i64>) -> PyMapmeanResult<u64> {
    let threads = arguments::threads(threads)?;
    compute(py, || {
        let source = Source::open(&path)?;
        mapmean::ceiling::sum_words(source.buffer().as_slice(), threads)
    })
}

/// The kept-mapping ceiling for benchmarks: maps the file at `path` once,
/// sums its bytes once untimed (faulting its pages in), then `passes` times
/// more, timed; returns the seconds of each timed pass. The pass that
/// `_read_ceiling` times also maps, faults and unmaps.
#[pyfunction]
#[pyo3(signature = (path, threads=None, passes=3))]
pub fn _read_ceiling_kept(
    py: Python<'_>,
    path: PathBuf,
    threads: Option<i64>,
    passes: usize,
) -> PyMapmeanResult<Vec<f64>> {
    let threads = arguments::threads(threads)?;
    compute(py, || {
        let source = Source::open(&path)?;
        let bytes = source.buffer().as_slice();
        std::hint::black_box(mapmean::ceiling::sum_words(bytes, threads)?);
        (0..passes)
            .map(|_| {
                let start = std::time::Instant::now();
                std::hint::black_box(mapmean::ceiling::sum_words(bytes, threads)?);
                Ok(start.elapsed().as_secs_f64())
            })
            .collect()
    })
}
