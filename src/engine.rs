//! The driver: splits columns into tasks, runs the kernel on a thread pool
//! and merges the states.
//!
//! Because [`MeanState::merge`] is exact, the split and the merge order do not
//! matter: the result is bitwise the same for every thread count.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::sync::{Arc, Mutex, OnceLock};

use arrow_array::Float32Array;
use rayon::prelude::*;

use crate::column::Float32Column;
use crate::error::{catch_panic, Error, Result};
use crate::ipc::IpcData;
use crate::kernel::{validity_of, MeanState, Validity};
use crate::source::{guard, Source};

/// Values per task: 4 MiB of `f32`, large enough that scheduling costs
/// nothing, small enough to balance two to a few dozen threads.
pub const TASK_LEN: usize = 1 << 20;

/// Computes the [`MeanState`] of `chunks` on `threads` threads (`None`: all
/// cores, through rayon's global pool).
///
/// # Errors
///
/// [`Error::InvalidArgument`] if `threads` is `Some(0)` or the thread pool
/// cannot be built; [`Error::Truncated`] if the values lie in a mapped
/// source that was truncated while they were read (the result is discarded).
///
/// # Example
///
/// ```
/// use arrow_array::Float32Array;
/// use mapmean::engine::state_of_arrays;
/// let chunks = [Float32Array::from(vec![1.0, 2.0]), Float32Array::from(vec![Some(3.0), None])];
/// let state = state_of_arrays(&chunks, Some(2))?;
/// assert_eq!(state.finish(), Some(2.0));
/// # Ok::<(), mapmean::Error>(())
/// ```
pub fn state_of_arrays(chunks: &[Float32Array], threads: Option<usize>) -> Result<MeanState> {
    let parts: Vec<Part<'_>> = chunks
        .iter()
        .map(|chunk| (&chunk.values()[..], validity_of(chunk)))
        .collect();
    state_of_parts(&parts, threads)
}

/// Values with the validity that covers exactly them (`None`: all valid).
pub type Part<'a> = (&'a [f32], Option<Validity<'a>>);

/// Computes the [`MeanState`] of `parts` on `threads` threads (`None`: all
/// cores), splitting each part into tasks of [`TASK_LEN`] values.
///
/// # Errors
///
/// As [`state_of_arrays`].
///
/// # Example
///
/// ```
/// use mapmean::engine::state_of_parts;
/// let values = vec![0.5_f32; 10_000];
/// let state = state_of_parts(&[(&values, None)], None)?;
/// assert_eq!(state.finish(), Some(0.5));
/// # Ok::<(), mapmean::Error>(())
/// ```
pub fn state_of_parts(parts: &[Part<'_>], threads: Option<usize>) -> Result<MeanState> {
    let tasks: Vec<Part<'_>> = parts
        .iter()
        .flat_map(|&(values, validity)| {
            values
                .chunks(TASK_LEN)
                .enumerate()
                .map(move |(i, task)| (task, validity.map(|v| v.shifted(i * TASK_LEN))))
        })
        .collect();
    let run = || {
        tasks
            .par_iter()
            .map(|&(values, validity)| {
                let mut state = MeanState::default();
                state.update_values(values, validity)?;
                Ok(state)
            })
            .try_reduce(MeanState::default, |mut a, b| {
                a.merge(&b)?;
                Ok(a)
            })
    };
    let state = with_threads(threads, run)??;
    // A source truncated under the mapping read as zeros: discard the result.
    guard::check(parts.iter().flat_map(|(values, validity)| {
        [
            Some(values.as_ptr() as usize),
            validity.map(|v| v.bits.as_ptr() as usize),
        ]
        .into_iter()
        .flatten()
    }))?;
    Ok(state)
}

/// Runs `f` on a pool of `threads` threads (`None`: rayon's global pool, one
/// thread per core). Pools are built once per size and kept.
///
/// # Errors
///
/// [`Error::InvalidArgument`] if `threads` is `Some(0)` or the pool cannot
/// be started.
pub fn with_threads<T: Send>(threads: Option<usize>, f: impl FnOnce() -> T + Send) -> Result<T> {
    match threads {
        None => Ok(f()),
        Some(n) => Ok(pool(n)?.install(f)),
    }
}

/// Thread pools by size, built once.
fn pool(threads: usize) -> Result<Arc<rayon::ThreadPool>> {
    if threads == 0 {
        return Err(Error::InvalidArgument("threads must be at least 1".into()));
    }
    static POOLS: OnceLock<Mutex<HashMap<usize, Arc<rayon::ThreadPool>>>> = OnceLock::new();
    let mut pools = POOLS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(pool) = pools.get(&threads) {
        return Ok(pool.clone());
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("mapmean-{i}"))
        .build()
        .map_err(|e| Error::InvalidArgument(format!("cannot start {threads} threads: {e}")))?;
    let pool = Arc::new(pool);
    pools.insert(threads, pool.clone());
    Ok(pool)
}

/// The state of a column of an Arrow IPC file or stream at `path` (or of
/// the shared-memory segment `shm://NAME`), read through a memory map
/// without copying.
///
/// # Errors
///
/// [`Error::NotFound`] or [`Error::Io`] if the file cannot be mapped;
/// [`Error::Corrupt`] if it is not valid Arrow IPC; [`Error::ColumnNotFound`],
/// [`Error::AmbiguousColumn`] or [`Error::WrongType`] for the column;
/// [`Error::Truncated`] if the file is truncated while being read; a bug
/// caught on the way surfaces as [`Error::Internal`].
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
/// let values = Float32Array::from(vec![3e37, 0.75, -3e37]);
/// let batch = RecordBatch::try_from_iter([("x", Arc::new(values) as _)])?;
/// write_batches(std::fs::File::create(&path)?, &batch.schema(), &[batch], IpcFormat::File)?;
///
/// let state = mapmean::engine::state_of_file(&path, Some("x"), None)?;
/// assert_eq!(state.finish(), Some(0.25));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn state_of_file(
    path: impl AsRef<OsStr>,
    column: Option<&str>,
    threads: Option<usize>,
) -> Result<MeanState> {
    let column = open_column(path, column)?;
    state_of_arrays(column.chunks(), threads)
}

/// Maps the file at `path` (or the segment `shm://NAME`) and decodes
/// `column` without copying.
///
/// # Errors
///
/// As [`state_of_file`].
pub fn open_column(path: impl AsRef<OsStr>, column: Option<&str>) -> Result<Float32Column> {
    let path = path.as_ref();
    catch_panic(|| {
        let source = Source::open(path)?;
        IpcData::open(source.buffer().clone(), source.name())?.float32_column(column)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_counts_give_bitwise_identical_states() {
        let values: Vec<f32> = (0..3 * TASK_LEN + 17)
            .map(|i| ((i as f32) * 0.618).sin() * 10f32.powi((i % 60) as i32 - 30))
            .collect();
        let chunks = [
            Float32Array::from(values[..1000].to_vec()),
            Float32Array::from(values[1000..].to_vec()),
        ];
        let one = state_of_arrays(&chunks, Some(1)).unwrap();
        for threads in [2, 3, 8] {
            assert_eq!(state_of_arrays(&chunks, Some(threads)).unwrap(), one);
        }
        let whole = state_of_arrays(&[Float32Array::from(values)], None).unwrap();
        assert_eq!(whole, one);
    }

    #[test]
    fn zero_threads_is_an_invalid_argument() {
        let err = state_of_arrays(&[], Some(0)).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)));
    }
}
