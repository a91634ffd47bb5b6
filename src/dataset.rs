//! Datasets: many sources (Arrow IPC and Parquet files, directories, glob
//! patterns, `shm://NAME`) scanned in parallel into per-source states,
//! merged exactly.
//!
//! [`expand`] turns what a user typed into a sorted, de-duplicated list of
//! sources; [`scan`] computes every source's states on a thread pool, one
//! mapping per worker at a time (a mapping is released as soon as its source
//! is done, and no file descriptor outlives `mmap`), so 10,000 files need no
//! more than the default descriptor limit; [`combine`] merges them into
//! rows — per column, or per (source, column). Standard input (`-`) and
//! pipes are sources too, read as streams ([`crate::source::pipe`]).

use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use arrow_schema::DataType;
use rayon::prelude::*;

use crate::decoded::Decoded;
use crate::engine::{states_of_data, states_of_stream, with_threads};
use crate::error::{catch_panic, Error, Result};
use crate::ipc::stream::IpcStreamReader;
use crate::kernel::{is_numeric, ExactState, Parts};
use crate::results::ResultRow;
use crate::source::{pipe, Source};

/// File extensions taken from directories.
pub const EXTENSIONS: [&str; 7] = ["arrow", "arrows", "feather", "ipc", "parquet", "parq", "pq"];

/// Expands each spec: `shm://NAME` as it is; a directory into the files below
/// it (recursively) whose extension is in [`EXTENSIONS`], sorted; a pattern
/// with `*`, `?` or `[` into the paths it matches, sorted; anything else as a
/// file path. Duplicates are dropped, keeping the first occurrence.
///
/// # Errors
///
/// [`Error::InvalidArgument`] for a bad pattern or a pattern or directory
/// that matches nothing; [`Error::Io`] for an unreadable directory.
///
/// # Example
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// std::fs::create_dir(dir.path().join("sub"))?;
/// for name in ["b.arrow", "a.feather", "sub/c.ipc", "notes.txt"] {
///     std::fs::write(dir.path().join(name), b"")?;
/// }
/// let sources = mapmean::dataset::expand(&[dir.path().into()])?;
/// let names: Vec<_> = sources.iter().map(|s| s.strip_prefix(dir.path()).unwrap().to_owned()).collect();
/// assert_eq!(names, ["a.feather", "b.arrow", "sub/c.ipc"].map(std::path::PathBuf::from));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn expand(specs: &[OsString]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    let mut push = |p: PathBuf, out: &mut Vec<PathBuf>| {
        if seen.insert(p.clone()) {
            out.push(p);
        }
    };
    for spec in specs {
        let text = spec.to_str();
        let path = Path::new(spec);
        if text.is_some_and(|t| t.starts_with(crate::source::SHM_SCHEME)) || path.is_file() {
            push(path.to_path_buf(), &mut out);
        } else if path.is_dir() {
            let mut files = Vec::new();
            walk(path, &mut files)?;
            if files.is_empty() {
                return Err(Error::InvalidArgument(format!(
                    "{}: no Arrow IPC (*.arrow, *.arrows, *.feather, *.ipc) or Parquet (*.parquet, *.parq, *.pq) files below this directory",
                    path.display()
                )));
            }
            files.sort();
            files.into_iter().for_each(|f| push(f, &mut out));
        } else if let Some(pattern) = text.filter(|t| t.contains(['*', '?', '['])) {
            let paths = glob::glob(pattern)
                .map_err(|e| Error::InvalidArgument(format!("bad pattern {pattern:?}: {e}")))?;
            let mut matched: Vec<PathBuf> = paths
                .filter_map(|p| p.ok())
                .filter(|p| p.is_file())
                .collect();
            if matched.is_empty() {
                return Err(Error::InvalidArgument(format!(
                    "{pattern}: the pattern matches no file"
                )));
            }
            matched.sort();
            matched.into_iter().for_each(|f| push(f, &mut out));
        } else {
            // Missing files are reported when they are opened, with the rest.
            push(path.to_path_buf(), &mut out);
        }
    }
    Ok(out)
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(|e| Error::io(&path, e))?;
        if kind.is_dir() {
            walk(&path, files)?;
        } else if path
            .extension()
            .and_then(OsStr::to_str)
            .is_some_and(|ext| EXTENSIONS.contains(&ext))
        {
            files.push(path);
        }
    }
    Ok(())
}

/// One source's states: for each column computed, its name and state.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceStates {
    /// The source's name (path or `shm://NAME`).
    pub source: String,
    /// Columns in the source's schema order (or in the order asked for).
    pub columns: Vec<(String, ExactState)>,
    /// Columns left out because they are not numeric (only when no columns
    /// were named): name and type.
    pub skipped: Vec<(String, DataType)>,
}

/// What to do when a source fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    /// Stop at the first failure (in source order) and return it.
    Stop,
    /// Finish every other source; return the failures beside the states.
    KeepGoing,
}

/// The outcome of a [`scan`]: per-source states in source order, and the
/// failures (empty unless [`OnError::KeepGoing`]).
#[derive(Debug)]
pub struct Scan {
    /// States of the sources that were read completely, in source order.
    pub states: Vec<SourceStates>,
    /// Sources that failed, with why, in source order.
    pub failures: Vec<Error>,
}

/// Computes the [`ExactState`]s (with `parts`) of `columns` (or, if `None`,
/// of every numeric column: the others are listed as skipped) of each
/// source, in parallel across sources on `threads` threads (`None`: all
/// cores); a source's batches are computed on the same pool. `on_done` is
/// called once per finished source (for progress bars).
///
/// # Errors
///
/// With [`OnError::Stop`], the first failing source's error (which names
/// it); [`Error::InvalidArgument`] if `threads` is `Some(0)`.
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use arrow_array::{Float32Array, RecordBatch};
/// use mapmean::dataset::{combine, scan, OnError};
/// use mapmean::ipc::{write::write_batches, IpcFormat};
/// use mapmean::kernel::{Parts, Statistic, StatisticOptions, Value};
///
/// # let dir = tempfile::tempdir()?;
/// let mut paths = Vec::new();
/// for (i, values) in [vec![3e37_f32, 0.75], vec![-3e37]].into_iter().enumerate() {
///     let path = dir.path().join(format!("part-{i}.arrow"));
///     let batch = RecordBatch::try_from_iter([("x", Arc::new(Float32Array::from(values)) as _)])?;
///     write_batches(std::fs::File::create(&path)?, &path, &batch.schema(), &[batch], IpcFormat::File)?;
///     paths.push(path);
/// }
/// let scanned = scan(&paths, None, Parts::default(), None, OnError::Stop, &|| {})?;
/// let rows = combine(&scanned.states, false)?;
/// assert_eq!(Statistic::Mean.finish(&rows[0].state, &StatisticOptions::default())?, Value::Float(0.25));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn scan(
    sources: &[PathBuf],
    columns: Option<&[String]>,
    parts: Parts,
    threads: Option<usize>,
    on_error: OnError,
    on_done: &(dyn Fn() + Sync),
) -> Result<Scan> {
    let stop = AtomicBool::new(false);
    let results: Vec<Option<Result<SourceStates>>> = with_threads(threads, || {
        sources
            .par_iter()
            .map(|path| {
                if stop.load(Ordering::Relaxed) {
                    return None; // a failure already ends the scan
                }
                let result = catch_panic(|| scan_source(path, columns, parts));
                if result.is_err() && on_error == OnError::Stop {
                    stop.store(true, Ordering::Relaxed);
                }
                on_done();
                Some(result)
            })
            .collect()
    })?;
    let mut states = Vec::with_capacity(results.len());
    let mut failures = Vec::new();
    for result in results.into_iter().flatten() {
        match result {
            Ok(s) => states.push(s),
            Err(e) if on_error == OnError::Stop => return Err(e),
            Err(e) => failures.push(e),
        }
    }
    Ok(Scan { states, failures })
}

/// The states of one source; runs on the caller's thread pool.
fn scan_source(path: &Path, columns: Option<&[String]>, parts: Parts) -> Result<SourceStates> {
    if pipe::is_stream(path.as_os_str()) {
        return scan_stream(path, columns, parts);
    }
    let source = Source::open(path)?;
    let data = Decoded::open(source.buffer().clone(), source.name())?;
    let (names, skipped) = pick_columns(data.schema(), columns);
    let asked: Vec<Option<&str>> = names.iter().map(|n| Some(n.as_str())).collect();
    // Nested in the pool that runs the scan: rayon shares its threads.
    let states = states_of_data(&data, &asked, parts, None)?;
    Ok(SourceStates {
        source: source.name().to_string(),
        columns: names.into_iter().zip(states).collect(),
        skipped,
    })
}

/// The states of a source read as a stream (standard input, a pipe), one
/// pass for all its columns, in bounded memory.
fn scan_stream(path: &Path, columns: Option<&[String]>, parts: Parts) -> Result<SourceStates> {
    let (name, reader) = pipe::open_stream(path.as_os_str())?;
    let reader = IpcStreamReader::new(reader, &name)?;
    let (names, skipped) = pick_columns(reader.schema(), columns);
    let empties = names
        .iter()
        .map(|n| {
            let index = crate::column::resolve_column(reader.schema(), Some(n), &name)?;
            ExactState::new(reader.schema().field(index).data_type(), parts)
        })
        .collect::<Result<Vec<_>>>()?;
    let batches = reader.columns(&names)?;
    // Nested in the pool that runs the scan: rayon shares its threads.
    let states = states_of_stream(empties, batches, None)?;
    Ok(SourceStates {
        source: name,
        columns: names.into_iter().zip(states).collect(),
        skipped,
    })
}

/// The columns asked for, or every numeric column and the others skipped.
fn pick_columns(
    schema: &arrow_schema::Schema,
    columns: Option<&[String]>,
) -> (Vec<String>, Vec<(String, DataType)>) {
    if let Some(columns) = columns {
        return (columns.to_vec(), Vec::new());
    }
    let (numeric, other): (Vec<_>, Vec<_>) = schema
        .fields()
        .iter()
        .partition(|f| is_numeric(f.data_type()));
    (
        numeric.into_iter().map(|f| f.name().clone()).collect(),
        other
            .into_iter()
            .map(|f| (f.name().clone(), f.data_type().clone()))
            .collect(),
    )
}

/// Rows from per-source states: one per column over all sources (states
/// merged exactly, so the result equals that of the concatenation), or with
/// `by_source`, one per (source, column). Without `by_source`, the columns
/// are those present in every source, in the first source's order.
///
/// # Errors
///
/// [`Error::InvalidArgument`] if the sources share no numeric column;
/// [`Error::TypeMismatch`], naming the column and the source, if a column
/// holds integers in one source and floats in another; [`Error::StateOverflow`] if merging overflows a count.
pub fn combine(states: &[SourceStates], by_source: bool) -> Result<Vec<ResultRow>> {
    if by_source {
        return Ok(states
            .iter()
            .flat_map(|s| {
                s.columns.iter().map(|(column, state)| ResultRow {
                    source: Some(s.source.clone()),
                    column: column.clone(),
                    state: state.clone(),
                })
            })
            .collect());
    }
    let Some(first) = states.first() else {
        return Ok(Vec::new());
    };
    let mut rows: Vec<ResultRow> = first
        .columns
        .iter()
        .filter(|(name, _)| {
            states
                .iter()
                .all(|s| s.columns.iter().any(|(n, _)| n == name))
        })
        .map(|(name, state)| ResultRow {
            source: None,
            column: name.clone(),
            state: state.empty_like(),
        })
        .collect();
    if rows.is_empty() && !first.columns.is_empty() {
        return Err(Error::InvalidArgument(
            "the sources have no numeric column in common".into(),
        ));
    }
    for s in states {
        for row in &mut rows {
            if let Some((_, state)) = s.columns.iter().find(|(n, _)| *n == row.column) {
                row.state.merge(state).map_err(|e| match e {
                    // Still a type error, naming the column and the source.
                    Error::TypeMismatch { left, right } => Error::TypeMismatch {
                        left: format!("{left} (column {:?})", row.column),
                        right: format!("{right} (in {})", s.source),
                    },
                    e => e,
                })?;
            }
        }
    }
    Ok(rows)
}
