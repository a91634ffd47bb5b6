//! `mapmean.scan`: exact means over a dataset of many sources, as a pyarrow
//! Table, with an optional progress bar on stderr.

use std::path::PathBuf;

use mapmean::kernel::{ExactState, Parts, Statistic, StatisticOptions};
use mapmean::results;
use pyo3::prelude::*;
use pyo3_arrow::input::AnyArray;
use pyo3_arrow::PyTable;

use crate::arguments;
use crate::errors::{compute, PyMapmeanResult};
use crate::streams;

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
    let (statistics, parts) = parse_statistics(statistics)?;
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

/// The statistics named (default: the mean) with pyarrow's default options,
/// and the parts of a state they need.
fn parse_statistics(
    statistics: Option<Vec<String>>,
) -> PyResult<(Vec<(Statistic, StatisticOptions)>, Parts)> {
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
    Ok((statistics, parts))
}

/// `scan` of an in-memory Arrow object or stream (anything with
/// `__arrow_c_array__` or `__arrow_c_stream__`: pyarrow tables and arrays,
/// polars and pandas frames, DuckDB results): every numeric column (or the
/// named ones), all in one pass over the stream, as a pyarrow Table of the
/// same shape as a scan of files.
#[pyfunction]
#[pyo3(signature = (source, columns, threads, statistics=None))]
pub fn _scan_arrow<'py>(
    py: Python<'py>,
    source: AnyArray,
    columns: Option<Vec<String>>,
    threads: Option<i64>,
    statistics: Option<Vec<String>>,
) -> PyMapmeanResult<Bound<'py, PyAny>> {
    let threads = arguments::threads(threads)?;
    let (statistics, parts) = parse_statistics(statistics)?;
    let reader = source.into_reader()?;
    let picked = streams::pick_columns(&reader.field(), columns.as_deref())?;
    let empties = picked
        .iter()
        .map(|(_, data_type, _)| ExactState::new(data_type, parts))
        .collect::<mapmean::Result<Vec<_>>>()?;
    let picks = picked.iter().map(|(pick, _, _)| *pick).collect();
    let states = compute(py, move || {
        streams::states_of_arrays(reader, picks, empties, threads)
    })?;
    let rows: Vec<results::ResultRow> = picked
        .into_iter()
        .zip(states)
        .map(|((_, _, column), state)| results::ResultRow {
            source: None,
            column,
            state,
        })
        .collect();
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
