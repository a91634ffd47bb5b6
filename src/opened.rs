//! [`Dataset`]: sources mapped and decoded once, queried many times.
//!
//! The one-shot calls ([`crate::engine::state_of_file`],
//! [`crate::dataset::scan`]) map a source, decode its IPC metadata, compute
//! and unmap, every time: on a warm gigabyte that is up to thousands of page
//! faults and tens of milliseconds of system time, more than reading the
//! values. A [`Dataset`] keeps what those calls throw away — the mappings,
//! each source's schema and footer, and every column decoded so far (arrays
//! whose buffers point into the mappings) — so that a second query, of the
//! same column or another, maps nothing, decodes nothing and, once the pages
//! are in this process's page tables, takes no page fault.
//!
//! What a source that changes underneath does is documented on [`Dataset`].

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::sync::{Arc, Mutex};

use arrow_array::Array;
use arrow_schema::{DataType, SchemaRef};
use rayon::prelude::*;

use crate::column::Column;
use crate::dataset::expand;
use crate::decoded::Decoded;
use crate::engine::{accumulate_dyn, float32_inner, states_of_data, with_threads};
use crate::error::{catch_panic, Error, Result};
use crate::kernel::{ExactState, MeanOptions, MeanState, MomentsState, Parts};
use crate::source::{pipe, Source};

/// Arrow IPC files, directories, glob patterns or `shm://NAME` segments,
/// mapped and decoded once and kept, for repeated queries at the speed of
/// the kernel.
///
/// [`Dataset::open`] maps every source and reads its schema (and a file's
/// footer); the first query of a column decodes that column's batches, once.
/// Later queries reuse the mappings and the decoded arrays. Results are
/// bitwise those of the one-shot calls ([`crate::engine::state_of_file`]
/// and [`crate::dataset::scan`]) over the same sources. A `Dataset` is
/// `Send + Sync`: threads may query it at once.
///
/// # Sources that change underneath
///
/// A mapping shows the file as it is now, not as it was at
/// [`Dataset::open`]; the decoded metadata (where each batch's buffers lie)
/// is from the open. So:
///
/// - a file **replaced** by a new one (written elsewhere and renamed over
///   it, as most writers do) is not seen: the mapping keeps the old file's
///   contents alive until the `Dataset` is dropped;
/// - a file **modified in place** at the same length gives the mean of the
///   bytes now at the decoded locations (never a memory error: every
///   location was checked against the mapping's length at the open);
/// - a file **truncated** (or a segment shrunk) makes reads past its new end
///   fault; the guard ([`crate::source`]'s `guard`) turns the fault into
///   [`Error::Truncated`] for that query and every later one over the
///   source — never a crash, never a partial result;
/// - a file that **grows** is read up to the length it had at the open.
///
/// Open the sources again to read their new contents. The guard protects
/// 4,096 mappings at once; a `Dataset` of more files (or several open
/// together) leaves the mappings past that unprotected, as if the guard did
/// not exist: a truncation then ends the process with `SIGBUS`.
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use arrow_array::{Float32Array, RecordBatch};
/// use mapmean::ipc::{write::write_batches, IpcFormat};
/// use mapmean::{Dataset, MeanOptions};
///
/// # let dir = tempfile::tempdir()?;
/// let path = dir.path().join("data.arrow");
/// let x = Float32Array::from(vec![3e37, 0.75, -3e37]);
/// let y = Float32Array::from(vec![Some(1.0), None, Some(2.0)]);
/// let batch = RecordBatch::try_from_iter([("x", Arc::new(x) as _), ("y", Arc::new(y) as _)])?;
/// write_batches(std::fs::File::create(&path)?, &path, &batch.schema(), &[batch], IpcFormat::File)?;
///
/// let data = Dataset::open([&path])?;
/// assert_eq!(data.schema().fields().len(), 2);
/// assert_eq!(data.mean(Some("x"), &MeanOptions::default(), None)?, Some(0.25));
/// assert_eq!(data.mean_state(Some("y"), Some(1))?.null_count, 1);
/// assert_eq!(data.mean(Some("x"), &MeanOptions::default(), None)?, Some(0.25)); // no new mapping
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Dataset {
    sources: Vec<Decoded>,
    names: Vec<String>,
    /// Columns decoded so far, by the name asked for (`None`: the only
    /// column), each the chunks of every Arrow IPC source in source order
    /// (Parquet sources are decoded again by each query: keeping their
    /// decoded values would hold the whole column in memory).
    columns: Mutex<HashMap<Option<String>, Arc<[Column]>>>,
}

impl Dataset {
    /// Maps the sources that `specs` name and reads their metadata. Each
    /// spec is a file, a directory (searched recursively for `*.arrow`,
    /// `*.arrows`, `*.feather` and `*.ipc`), a glob pattern, or
    /// `shm://NAME`, expanded as [`crate::dataset::expand`] does; the
    /// sources are opened in parallel.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if `specs` name no source, or name a
    /// stream that cannot be mapped (standard input `-`, a pipe: read those
    /// with [`crate::engine::state_of_file`]); as
    /// [`crate::dataset::expand`]; and, for the first source (in order) that
    /// fails, [`Error::NotFound`], [`Error::Io`] or [`Error::Corrupt`], as
    /// [`crate::engine::state_of_file`]. Nothing stays mapped after an
    /// error.
    ///
    /// # Example
    ///
    /// ```
    /// let err = mapmean::Dataset::open(["no/such/file.arrow"]).unwrap_err();
    /// assert!(matches!(err, mapmean::Error::NotFound { .. }));
    /// ```
    pub fn open<S: AsRef<OsStr>>(specs: impl IntoIterator<Item = S>) -> Result<Self> {
        let specs: Vec<OsString> = specs
            .into_iter()
            .map(|s| s.as_ref().to_os_string())
            .collect();
        let paths = expand(&specs)?;
        if paths.is_empty() {
            return Err(Error::InvalidArgument("no source to open".into()));
        }
        if let Some(stream) = paths.iter().find(|p| pipe::is_stream(p.as_os_str())) {
            return Err(Error::InvalidArgument(format!(
                "{}: a stream (standard input or a pipe) cannot be kept open; compute its mean in one pass instead",
                stream.display()
            )));
        }
        let opened = with_threads(None, || {
            paths
                .par_iter()
                .map(|path| {
                    catch_panic(|| {
                        let source = Source::open(path)?;
                        let data = Decoded::open(source.buffer().clone(), source.name())?;
                        Ok((source.name().to_string(), data))
                    })
                })
                .collect::<Result<Vec<_>>>()
        })??;
        let (names, sources) = opened.into_iter().unzip();
        Ok(Dataset {
            sources,
            names,
            columns: Mutex::new(HashMap::new()),
        })
    }

    /// The grouped states of `spec` over every source (see
    /// [`crate::grouped`]), on `threads` threads (`None`: all cores).
    ///
    /// # Errors
    ///
    /// As [`crate::grouped::group_data`].
    ///
    /// # Example
    ///
    /// ```no_run
    /// use mapmean::grouped::{Aggregation, GroupSpec};
    /// use mapmean::kernel::Statistic;
    /// let data = mapmean::Dataset::open(["trips/"])?;
    /// let aggregations = [Aggregation::new("fare", Statistic::Mean)];
    /// let table = data.group(&GroupSpec::new(["vendor"], &aggregations)?, None)?.finish(&aggregations)?;
    /// # Ok::<(), mapmean::Error>(())
    /// ```
    pub fn group(
        &self,
        spec: &crate::grouped::GroupSpec,
        threads: Option<usize>,
    ) -> Result<crate::grouped::GroupedStates> {
        catch_panic(|| crate::grouped::group_data(&self.sources, spec, threads))
    }

    /// The schema of the first source. Queries need their column in every
    /// source, as Float32; other columns may differ between sources.
    pub fn schema(&self) -> &SchemaRef {
        // `open` refuses an empty list of sources.
        self.sources[0].schema()
    }

    /// The sources' names (paths, or `shm://NAME`), in the order they are
    /// merged: as given, a directory's or pattern's files sorted.
    pub fn sources(&self) -> &[String] {
        &self.names
    }

    /// The exact state of `column` (`None`: the only column, which each
    /// source must have exactly one of) over every source, on `threads`
    /// threads (`None`: all cores). The first query of a column decodes its
    /// batches and keeps them; later queries read the mapped values only.
    ///
    /// # Errors
    ///
    /// For the first source (in order) where it fails:
    /// [`Error::ColumnNotFound`], [`Error::AmbiguousColumn`] or
    /// [`Error::WrongType`] for the column, [`Error::Corrupt`] for a batch
    /// that does not decode; [`Error::Truncated`] if a source was truncated
    /// since it was opened (this query's result is discarded, and every
    /// later query over that source fails the same way);
    /// [`Error::InvalidArgument`] if `threads` is `Some(0)`.
    ///
    /// # Example
    ///
    /// ```
    /// use std::sync::Arc;
    /// use arrow_array::{Float32Array, RecordBatch};
    /// use mapmean::ipc::{write::write_batches, IpcFormat};
    ///
    /// # let dir = tempfile::tempdir()?;
    /// for (name, values) in [("a.arrow", vec![3e37_f32, 0.75]), ("b.arrow", vec![-3e37])] {
    ///     let path = dir.path().join(name);
    ///     let batch = RecordBatch::try_from_iter([("x", Arc::new(Float32Array::from(values)) as _)])?;
    ///     write_batches(std::fs::File::create(&path)?, &path, &batch.schema(), &[batch], IpcFormat::File)?;
    /// }
    /// let data = mapmean::Dataset::open([dir.path()])?;
    /// let state = data.mean_state(None, None)?;
    /// assert_eq!((state.count, state.finish()), (3, Some(0.25)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn mean_state(&self, column: Option<&str>, threads: Option<usize>) -> Result<MeanState> {
        let state = self.state(column, Parts::default(), threads)?;
        let source = self.names.first().map_or("", String::as_str);
        float32_inner(
            &state,
            ExactState::as_mean_state,
            source,
            column,
            "Dataset::state",
        )
    }

    /// The [`ExactState`] (with `parts`) of `column`, of any numeric type,
    /// over every source; read like [`Dataset::mean_state`], from the kept
    /// mappings. Sources whose column has different float types merge
    /// exactly into a Float64 state.
    ///
    /// # Errors
    ///
    /// As [`Dataset::mean_state`]; [`Error::TypeMismatch`] if the column is
    /// integer in one source and float (or of the other signedness) in
    /// another.
    ///
    /// # Example
    ///
    /// ```
    /// use std::sync::Arc;
    /// use arrow_array::{Int16Array, RecordBatch};
    /// use mapmean::ipc::{write::write_batches, IpcFormat};
    /// use mapmean::kernel::{Parts, Statistic, StatisticOptions, Value};
    ///
    /// # let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("data.arrow");
    /// let batch = RecordBatch::try_from_iter([("n", Arc::new(Int16Array::from(vec![-7, 3])) as _)])?;
    /// write_batches(std::fs::File::create(&path)?, &path, &batch.schema(), &[batch], IpcFormat::File)?;
    /// let data = mapmean::Dataset::open([&path])?;
    /// let state = data.state(None, Parts::ALL, None)?;
    /// assert_eq!(Statistic::Min.finish(&state, &StatisticOptions::default())?, Value::Signed(-7));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn state(
        &self,
        column: Option<&str>,
        parts: Parts,
        threads: Option<usize>,
    ) -> Result<ExactState> {
        if threads == Some(0) {
            return Err(Error::InvalidArgument("threads must be at least 1".into()));
        }
        let columns = self.column(column)?;
        let mut parquet = Vec::new();
        for data in &self.sources {
            if let Decoded::Parquet(_) = data {
                let states = catch_panic(|| states_of_data(data, &[column], parts, threads))?;
                parquet.extend(states);
            }
        }
        let first = columns
            .first()
            .map(|c| c.data_type())
            .or_else(|| parquet.first().map(ExactState::input_type))
            .ok_or_else(|| Error::InvalidArgument("the dataset has no sources".into()))?;
        // One engine run per input type (usually one), merged exactly.
        let mut types: Vec<&DataType> = columns.iter().map(|c| c.data_type()).collect();
        types.dedup();
        types.sort_by_key(|t| t.to_string());
        types.dedup();
        let mut state = ExactState::new(first, parts)?;
        for other in &parquet {
            state.merge(other)?;
        }
        for data_type in types {
            let arrays: Vec<&dyn Array> = columns
                .iter()
                .filter(|c| c.data_type() == data_type)
                .flat_map(|c| c.chunks().iter().map(|a| a.as_ref()))
                .collect();
            let empty = ExactState::new(data_type, parts)?;
            state.merge(&accumulate_dyn(&empty, &arrays, threads)?)?;
        }
        Ok(state)
    }

    /// The [`MomentsState`] (counts, exact sum and exact sum of squares) of
    /// `column` over every source, for [`MomentsState::sum`],
    /// [`MomentsState::variance_with`] and the rest; read like
    /// [`Dataset::mean_state`], from the kept mappings.
    ///
    /// # Errors
    ///
    /// As [`Dataset::mean_state`].
    ///
    /// # Example
    ///
    /// ```
    /// use std::sync::Arc;
    /// use arrow_array::{Float32Array, RecordBatch};
    /// use mapmean::ipc::{write::write_batches, IpcFormat};
    ///
    /// # let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("data.arrow");
    /// let batch = RecordBatch::try_from_iter([("x", Arc::new(Float32Array::from(vec![1.0_f32, 2.0, 3.0])) as _)])?;
    /// write_batches(std::fs::File::create(&path)?, &path, &batch.schema(), &[batch], IpcFormat::File)?;
    /// let data = mapmean::Dataset::open([&path])?;
    /// let moments = data.moments_state(None, None)?;
    /// assert_eq!(moments.mean.count, 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn moments_state(
        &self,
        column: Option<&str>,
        threads: Option<usize>,
    ) -> Result<MomentsState> {
        let parts = Parts {
            squares: true,
            extremes: false,
        };
        let state = self.state(column, parts, threads)?;
        let source = self.names.first().map_or("", String::as_str);
        float32_inner(
            &state,
            ExactState::as_moments_state,
            source,
            column,
            "Dataset::state",
        )
    }

    /// The mean of `column` over every source under `options` (`None` where
    /// it is null), as [`MeanState::finish_with`] of
    /// [`Dataset::mean_state`].
    ///
    /// # Errors
    ///
    /// As [`Dataset::mean_state`].
    ///
    /// # Example
    ///
    /// ```
    /// use std::sync::Arc;
    /// use arrow_array::{Float32Array, RecordBatch};
    /// use mapmean::ipc::{write::write_batches, IpcFormat};
    /// use mapmean::{Dataset, MeanOptions};
    ///
    /// # let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("data.arrow");
    /// let batch = RecordBatch::try_from_iter([("x", Arc::new(Float32Array::from(vec![Some(1.0), None])) as _)])?;
    /// write_batches(std::fs::File::create(&path)?, &path, &batch.schema(), &[batch], IpcFormat::File)?;
    /// let data = Dataset::open([&path])?;
    /// assert_eq!(data.mean(None, &MeanOptions::default(), None)?, Some(1.0));
    /// let strict = MeanOptions { skip_nulls: false, ..MeanOptions::default() };
    /// assert_eq!(data.mean(None, &strict, None)?, None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn mean(
        &self,
        column: Option<&str>,
        options: &MeanOptions,
        threads: Option<usize>,
    ) -> Result<Option<f64>> {
        Ok(self.mean_state(column, threads)?.finish_with(options))
    }

    /// The column `column` of every source, decoded on first use.
    fn column(&self, column: Option<&str>) -> Result<Arc<[Column]>> {
        let key = column.map(str::to_owned);
        if let Some(chunks) = self.cache().get(&key) {
            return Ok(chunks.clone());
        }
        // Decoded outside the lock: other columns' queries need not wait. Two
        // threads asking for the same new column both decode it; one keeps
        // its arrays, and both sets point to the same mapped bytes.
        let columns = with_threads(None, || {
            self.sources
                .par_iter()
                .filter_map(|data| match data {
                    Decoded::Ipc(data) => Some(catch_panic(|| data.column(column))),
                    Decoded::Parquet(_) => None,
                })
                .collect::<Result<Vec<_>>>()
        })??;
        Ok(self.cache().entry(key).or_insert(columns.into()).clone())
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<Option<String>, Arc<[Column]>>> {
        // The map is only ever inserted into, so a panic elsewhere while it
        // was locked cannot have left it half-changed.
        self.columns.lock().unwrap_or_else(|e| e.into_inner())
    }
}
