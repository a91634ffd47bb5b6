//! `mapmean.scan`: exact means over a dataset of many sources, as a pyarrow
//! Table, with an optional progress bar on stderr.

use std::path::PathBuf;

use mapmean::kernel::{Parts, Statistic, StatisticOptions};
use mapmean::results;
use pyo3::prelude::*;
use pyo3_arrow::PyTable;

use crate::arguments;
use crate::errors::{compute, PyMapmeanResult};

/// Scans many sources; returns a pyarrow Table of rows.
#[pyfunction]
#[pyo3(signature = (sources, columns, by_source, threads, progress, statistics=None))]
pub fn _scan<'py>(
    py: Python<'py>,
    sources: Vec<PathBuf>,
    columns: Option<Vec<String>>,
    by_source: bool,
    threads: Option<i64>,
    progress: bool,
    statistics: Option<Vec<String>>,
) -> PyMapmeanResult<Bound<'py, PyAny>> {
    let threads = arguments::threads(threads)?;
    let statistics = statistics
        .unwrap_or_else(|| vec!["mean".into()])
        .iter()
        .map(|name| {
            Statistic::from_name(name)
                .map(|s| (s, StatisticOptions::for_statistic(s)))
                .ok_or_else(|| {
                    pyo3::exceptions::PyValueError::new_err(format!(
                        "unknown statistic {name:?}: use mean, sum, variance, stddev, min or max"
                    ))
                })
        })
        .collect::<PyResult<Vec<_>>>()?;
    let parts = statistics
        .iter()
        .fold(Parts::default(), |p, (s, _)| p.union(s.needs()));
    let specs: Vec<std::ffi::OsString> = sources.into_iter().map(|p| p.into_os_string()).collect();
    let rows = compute(py, || {
        let sources = mapmean::dataset::expand(&specs)?;
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(sources.len() as u64),
            if progress {
                indicatif::ProgressDrawTarget::stderr()
            } else {
                indicatif::ProgressDrawTarget::hidden()
            },
        );
        let scanned = mapmean::dataset::scan(
            &sources,
            columns.as_deref(),
            parts,
            threads,
            mapmean::dataset::OnError::Stop,
            &|| bar.inc(1),
        );
        bar.finish_and_clear();
        let scanned = scanned?;
        if scanned.states.is_empty() {
            return Ok(Vec::new());
        }
        mapmean::dataset::combine(&scanned.states, by_source)
    })?;
    let (batch, _) = results::to_record_batch(&rows, &statistics)?;
    let schema = batch.schema();
    Ok(PyTable::try_new(vec![batch], schema)?.into_pyarrow(py)?)
}

/// The files that `sources` name, as `scan` and the CLI expand them:
/// directories searched recursively for IPC files, glob patterns matched,
/// duplicates dropped, in order (used by `mapmean.dask`). Returned as `str`,
/// not `pathlib.Path`, which would turn `shm://NAME` into `shm:/NAME`.
#[pyfunction]
pub fn _expand_sources(
    py: Python<'_>,
    sources: Vec<std::ffi::OsString>,
) -> PyMapmeanResult<Vec<std::ffi::OsString>> {
    let files = compute(py, || mapmean::dataset::expand(&sources))?;
    Ok(files.into_iter().map(PathBuf::into_os_string).collect())
}
