//! The driver: splits columns into tasks, runs the kernel on a thread pool
//! and merges the states.
//!
//! Because [`MeanState::merge`] is exact, the split and the merge order do not
//! matter: the result is bitwise the same for every thread count.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::Read;
use std::sync::{Arc, Mutex, OnceLock};

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, ArrowPrimitiveType, Float32Array};
use arrow_schema::DataType;
use rayon::prelude::*;

use crate::column::{resolve_column, Column};
use crate::decoded::Decoded;
use crate::error::{catch_panic, Error, Result};
use crate::ipc::stream::IpcStreamReader;
use crate::kernel::blocks::BLOCK;
use crate::kernel::{
    validity_of, Accumulate, ExactState, MeanState, MomentsState, Native, Parts, Validity,
};
use crate::parquet::ParquetData;
use crate::source::{guard, pipe, readahead, Source};

/// Values per task: 4 MiB of `f32`, large enough that scheduling costs
/// nothing, small enough to balance two to a few dozen threads.
pub(crate) const TASK_LEN: usize = 1 << 20;

/// Up to this many values (256 KiB of `f32`, which the kernel reads from
/// cache in about 5 microseconds) a computation runs on the calling thread
/// alone: handing part of it to another thread costs about what it saves.
/// Measured on the 2-vCPU machine with its second core idle (in-cache numpy
/// arrays, polars' `Series.mean()` time over `mapmean.mean`'s, three
/// alternating runs): with the calling thread working beside a helper
/// ([`shared_with_helpers`]), 2^17 values gave 0.83–1.07 against 0.76–0.79
/// on one thread; 2^16 values, 0.78–0.86 against 0.77–0.81 (within the
/// noise, so they stay on one thread).
pub(crate) const INLINE_LEN: usize = 1 << 16;

/// The shortest task worth sending to another thread (see [`INLINE_LEN`]).
const MIN_TASK_LEN: usize = 1 << 15;

/// Values per task for `len` values on `workers` threads: at most
/// [`TASK_LEN`], and short enough below that to give every worker a task
/// (in-cache arrays are otherwise one task on one thread), in whole kernel
/// blocks.
fn task_len(len: usize, workers: usize) -> usize {
    let share = len.div_ceil(workers.max(1));
    share.next_multiple_of(BLOCK).clamp(MIN_TASK_LEN, TASK_LEN)
}

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
    accumulate_arrays(chunks, threads)
}

/// Computes the [`MomentsState`] (counts, exact sum and sum of squares) of
/// `chunks` on `threads` threads, as [`state_of_arrays`] does the mean's.
///
/// # Errors
///
/// As [`state_of_arrays`].
///
/// # Example
///
/// ```
/// use arrow_array::Float32Array;
/// use mapmean::engine::moments_of_arrays;
/// let chunks = [Float32Array::from(vec![1.0, 2.0]), Float32Array::from(vec![Some(3.0), None])];
/// let state = moments_of_arrays(&chunks, Some(2))?;
/// assert_eq!(state.variance(), Some(2.0 / 3.0));
/// # Ok::<(), mapmean::Error>(())
/// ```
pub fn moments_of_arrays(chunks: &[Float32Array], threads: Option<usize>) -> Result<MomentsState> {
    accumulate_arrays(chunks, threads)
}

/// Computes any [`Accumulate`] state of `chunks` on `threads` threads.
///
/// # Errors
///
/// As [`state_of_arrays`].
///
/// # Example
///
/// ```
/// use arrow_array::Float32Array;
/// use mapmean::{engine::accumulate_arrays, MeanState};
/// let state: MeanState = accumulate_arrays(&[Float32Array::from(vec![1.0, 2.0])], None)?;
/// assert_eq!(state.finish(), Some(1.5));
/// # Ok::<(), mapmean::Error>(())
/// ```
pub fn accumulate_arrays<S: Accumulate + Default>(
    chunks: &[Float32Array],
    threads: Option<usize>,
) -> Result<S> {
    let parts: Vec<Part<'_>> = chunks
        .iter()
        .map(|chunk| (&chunk.values()[..], validity_of(chunk)))
        .collect();
    accumulate_parts(&parts, threads)
}

/// Values with the validity that covers exactly them (`None`: all valid).
pub type Part<'a, T = f32> = (&'a [T], Option<Validity<'a>>);

/// Computes the [`MeanState`] of `parts` on `threads` threads (`None`: all
/// cores), splitting each part into tasks of up to 2^20 values (shorter for
/// arrays that a few such tasks would leave threads idle on). Up to 2^16
/// values in all, or with one thread, it runs on the calling thread alone.
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
    accumulate_parts(parts, threads)
}

/// Computes any [`Accumulate`] state of `parts` on `threads` threads
/// (`None`: all cores), on the calling thread up to 2^16 values (or with one
/// thread), else split into tasks given to every worker, merging their states
/// exactly. On the global pool up to 2^22 values, the calling thread works
/// on the tasks too, beside one helper per other worker.
///
/// # Errors
///
/// As [`state_of_arrays`]; [`Error::InvalidArgument`] if a merge overflows
/// a count.
///
/// # Example
///
/// ```
/// use mapmean::{engine::accumulate_parts, MomentsState};
/// let values = vec![0.5_f32; 10_000];
/// let state: MomentsState = accumulate_parts(&[(&values, None)], None)?;
/// assert_eq!(state.variance(), Some(0.0));
/// # Ok::<(), mapmean::Error>(())
/// ```
pub fn accumulate_parts<S: Accumulate + Default>(
    parts: &[Part<'_>],
    threads: Option<usize>,
) -> Result<S> {
    accumulate_parts_with(&S::default(), parts, threads)
}

/// The state of `parts` of values of any native type, starting from
/// `empty` (for an [`ExactState`], the input type and parts to compute), as
/// [`accumulate_parts`] computes it.
///
/// # Errors
///
/// As [`accumulate_parts`].
///
/// # Example
///
/// ```
/// use arrow_schema::DataType;
/// use mapmean::{engine::accumulate_parts_with, kernel::{ExactState, Parts}};
/// let values = vec![0.1_f64; 100_000];
/// let empty = ExactState::new(&DataType::Float64, Parts::default())?;
/// let state = accumulate_parts_with(&empty, &[(&values[..], None)], Some(2))?;
/// assert_eq!(state.counts().count, 100_000);
/// # Ok::<(), mapmean::Error>(())
/// ```
pub fn accumulate_parts_with<T: Native, S: Accumulate<T>>(
    empty: &S,
    parts: &[Part<'_, T>],
    threads: Option<usize>,
) -> Result<S> {
    if threads == Some(0) {
        return Err(Error::InvalidArgument("threads must be at least 1".into()));
    }
    let len: usize = parts.iter().map(|(values, _)| values.len()).sum();
    let state = if len <= INLINE_LEN {
        // On the calling thread: no task list, no hand-over to a pool.
        let mut state = empty.empty_like();
        for &(values, validity) in parts {
            state.update_values(values, validity)?;
        }
        state
    } else if threads == Some(1) {
        // Task by task, only to tell a file's read-ahead where it is.
        let mut state = empty.empty_like();
        for (values, validity) in split_parts(parts, TASK_LEN) {
            starting(values);
            state.update_values(values, validity)?;
        }
        state
    } else if threads.is_none() && len <= SHARED_MAX_LEN {
        shared_with_helpers(empty, parts)?
    } else {
        let workers = threads.unwrap_or_else(rayon::current_num_threads);
        let task_len = task_len(len, workers);
        let tasks = split_parts(parts, task_len);
        let run = || {
            tasks
                .par_iter()
                .map(|&(values, validity)| {
                    starting(values);
                    let mut state = empty.empty_like();
                    state.update_values(values, validity)?;
                    Ok(state)
                })
                .try_reduce(
                    || empty.empty_like(),
                    |mut a, b| {
                        a.merge(&b)?;
                        Ok(a)
                    },
                )
        };
        with_threads(threads, run)??
    };
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

/// Tells the read-ahead of a mapped file, if any, that this thread starts a
/// task on `values` (and is done with its previous one).
fn starting<T>(values: &[T]) {
    let bytes = values.as_ptr_range();
    readahead::reading(bytes.start as usize..bytes.end as usize);
}

/// `parts` cut into tasks of at most `task_len` values, each with the slice
/// of its part's validity that covers it.
fn split_parts<'a, T>(parts: &[Part<'a, T>], task_len: usize) -> Vec<Part<'a, T>> {
    parts
        .iter()
        .flat_map(|&(values, validity)| {
            values
                .chunks(task_len)
                .enumerate()
                .map(move |(i, task)| (task, validity.map(|v| v.shifted(i * task_len))))
        })
        .collect()
}

/// Up to this many values (16 MiB of `f32`) on the global pool, the calling
/// thread works alongside the pool's workers ([`shared_with_helpers`]): a
/// rayon `par_iter` from outside the pool instead sends every task to the
/// workers and puts the caller to sleep until they are done, which cost
/// about as much as the second core saved at 2^18 values: there, polars'
/// time over mapmean's went from 0.77–0.81 to 1.10–1.50 (2^19: 0.86–1.31 to
/// 1.43–1.60), alternating runs as for [`INLINE_LEN`].
const SHARED_MAX_LEN: usize = 1 << 22;

/// Values per claim in [`shared_with_helpers`]: 64 KiB of `f32`, about
/// 1.5 microseconds of work in cache, the most a thread that has run out of
/// claims waits for a running helper.
const CLAIM_LEN: usize = 1 << 14;

/// A helper of [`shared_with_helpers`]: not started yet.
const PENDING: u8 = 0;
/// A helper that started: it reads the values until it stores `DONE`.
const RUNNING: u8 = 1;
/// A helper that finished and stored its result.
const DONE: u8 = 2;
/// A helper that the calling thread cancelled before it started: it will
/// read nothing.
const CANCELLED: u8 = 3;

/// One helper's progress and result.
struct Helper<S> {
    status: std::sync::atomic::AtomicU8,
    result: Mutex<Option<Result<S>>>,
}

/// When dropped, takes every claim that is left, cancels every helper that
/// has not started and waits for the others to finish: on every way out of
/// [`shared_with_helpers`], unwinding included, so that no helper reads the
/// values after it.
struct Finish<'h, S> {
    helpers: &'h [Arc<Helper<S>>],
    /// The claim counter, and the number of claims.
    next: &'h std::sync::atomic::AtomicUsize,
    claims: usize,
}

impl<S> Drop for Finish<'_, S> {
    fn drop(&mut self) {
        use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};
        // Normally all taken already; after a panic, not.
        self.next.store(self.claims, Relaxed);
        for helper in self.helpers {
            if helper
                .status
                .compare_exchange(PENDING, CANCELLED, AcqRel, Acquire)
                .is_ok()
            {
                continue;
            }
            // Running: it stops after its current claim.
            let mut spins = 0u32;
            while helper.status.load(Acquire) != DONE {
                spins += 1;
                if spins < 1 << 12 {
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
            }
        }
    }
}

/// Adds the tasks that `next` hands out, one claim at a time, to a new
/// state; on an error, claims the rest so that every thread stops.
fn claim_tasks<T: Native, S: Accumulate<T>>(
    empty: &S,
    tasks: &[Part<'_, T>],
    next: &std::sync::atomic::AtomicUsize,
) -> Result<S> {
    use std::sync::atomic::Ordering::Relaxed;
    let mut state = empty.empty_like();
    loop {
        let Some(&(values, validity)) = tasks.get(next.fetch_add(1, Relaxed)) else {
            return Ok(state);
        };
        if let Err(error) = state.update_values(values, validity) {
            next.store(tasks.len(), Relaxed);
            return Err(error);
        }
    }
}

/// The state of `parts` on the global pool, with the calling thread taking
/// part: the values are cut into claims of [`CLAIM_LEN`], and the calling
/// thread and one helper job per other worker take claims in turn until none
/// is left. The calling thread starts at once; a helper that has not started
/// when the claims run out is cancelled, not waited for. Exact merging makes
/// the result bitwise the same whichever thread took which claim.
fn shared_with_helpers<T: Native, S: Accumulate<T>>(empty: &S, parts: &[Part<'_, T>]) -> Result<S> {
    use std::sync::atomic::{
        AtomicU8, AtomicUsize, Ordering::AcqRel, Ordering::Acquire, Ordering::Release,
    };
    let tasks = split_parts(parts, CLAIM_LEN);
    let next = Arc::new(AtomicUsize::new(0));
    let helpers: Vec<Arc<Helper<S>>> = (1..rayon::current_num_threads().min(tasks.len()))
        .map(|_| {
            Arc::new(Helper {
                status: AtomicU8::new(PENDING),
                result: Mutex::new(None),
            })
        })
        .collect();
    let finish = Finish {
        helpers: &helpers,
        next: &next,
        claims: tasks.len(),
    };
    // SAFETY: only the lifetime changes. A helper reads `tasks`, and the
    // values it borrows, only between its switch from PENDING to RUNNING and
    // its store of DONE. `finish`, dropped before `tasks` and before this
    // function returns or unwinds (it is declared after `tasks`, and the
    // borrows of `parts` outlive the call), either switches each helper from
    // PENDING to CANCELLED, after which the helper's own switch fails and it
    // reads nothing, or waits until it has stored DONE (an acquire load of
    // the release store, after its last read).
    let shared: &'static [Part<'static, T>] =
        unsafe { std::mem::transmute::<&[Part<'_, T>], &'static [Part<'static, T>]>(&tasks[..]) };
    for helper in &helpers {
        let (helper, next, empty) = (helper.clone(), next.clone(), empty.empty_like());
        rayon::spawn(move || {
            if helper
                .status
                .compare_exchange(PENDING, RUNNING, AcqRel, Acquire)
                .is_err()
            {
                return;
            }
            let result = catch_panic(|| claim_tasks::<T, S>(&empty, shared, &next));
            *helper
                .result
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(result);
            helper.status.store(DONE, Release);
        });
    }
    let mine = claim_tasks::<T, S>(empty, &tasks, &next);
    drop(finish);
    let mut state = mine?;
    for helper in &helpers {
        let result = helper
            .result
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(result) = result {
            state.merge(&result?)?;
        }
    }
    Ok(state)
}

/// Values of a stream gathered before the engine runs them: 16 MiB of `f32`,
/// four tasks of `TASK_LEN` (2^20 values), so that streams of small batches still keep
/// every thread busy while memory stays a few batches.
pub const STREAM_GROUP_LEN: usize = 4 * TASK_LEN;

/// Streamed batches waiting between the thread that reads them and the one
/// that computes (each side also holds the batch it works on).
const STREAM_QUEUE: usize = 2;

/// Computes the states of `columns` columns over a stream of batches, each
/// batch one array per column, in bounded memory: a reader thread pulls
/// batches from `batches` while the engine computes on earlier ones, and a
/// batch is dropped as soon as its values are in the states. Batches are
/// gathered into groups of at least [`STREAM_GROUP_LEN`] values and each group
/// is split into tasks as [`state_of_parts`] does, so large batches and runs
/// of small ones both use `threads` threads (`None`: all cores). The result
/// is bitwise that of [`state_of_arrays`] over the concatenation.
///
/// # Errors
///
/// The first error the stream yields (nothing is returned for the batches
/// before it: there is no partial result); [`Error::InvalidArgument`] if a
/// batch does not have `columns` arrays or `threads` is `Some(0)`; a panic
/// in `batches` as [`Error::Internal`].
///
/// # Example
///
/// ```
/// use arrow_array::Float32Array;
/// use mapmean::engine::state_of_stream;
/// let batches = (0..1000).map(|i| Ok(vec![Float32Array::from(vec![i as f32, 0.5])]));
/// let states = state_of_stream(1, batches, None)?;
/// assert_eq!(states[0].count, 2000);
/// assert_eq!(states[0].finish(), Some((999.0 * 1000.0 / 2.0 + 500.0) / 2000.0));
/// # Ok::<(), mapmean::Error>(())
/// ```
pub fn state_of_stream<I>(
    columns: usize,
    batches: I,
    threads: Option<usize>,
) -> Result<Vec<MeanState>>
where
    I: IntoIterator<Item = Result<Vec<Float32Array>>>,
    I::IntoIter: Send,
{
    accumulate_stream(columns, batches, threads)
}

/// The [`MomentsState`]s of `columns` columns over a stream of batches, as
/// [`state_of_stream`] computes their [`MeanState`]s: in bounded memory,
/// bitwise that of [`moments_of_arrays`] over the concatenation.
///
/// # Errors
///
/// As [`state_of_stream`].
///
/// # Example
///
/// ```
/// use arrow_array::Float32Array;
/// use mapmean::engine::moments_of_stream;
/// let batches = (0..1000).map(|_| Ok(vec![Float32Array::from(vec![3e7 + 2.0, 3e7 + 4.0])]));
/// let states = moments_of_stream(1, batches, None)?;
/// assert_eq!(states[0].variance(), Some(1.0));
/// # Ok::<(), mapmean::Error>(())
/// ```
pub fn moments_of_stream<I>(
    columns: usize,
    batches: I,
    threads: Option<usize>,
) -> Result<Vec<MomentsState>>
where
    I: IntoIterator<Item = Result<Vec<Float32Array>>>,
    I::IntoIter: Send,
{
    accumulate_stream(columns, batches, threads)
}

/// Any [`Accumulate`] state of `columns` columns over a stream of batches,
/// as [`state_of_stream`].
///
/// # Errors
///
/// As [`state_of_stream`].
///
/// # Example
///
/// ```
/// use arrow_array::Float32Array;
/// use mapmean::{engine::accumulate_stream, MomentsState};
/// let batches = [Ok(vec![Float32Array::from(vec![1.0, 2.0])])];
/// let states: Vec<MomentsState> = accumulate_stream(1, batches, None)?;
/// assert_eq!(states[0].sum(), Some(3.0));
/// # Ok::<(), mapmean::Error>(())
/// ```
pub fn accumulate_stream<S, I>(columns: usize, batches: I, threads: Option<usize>) -> Result<Vec<S>>
where
    S: Accumulate + Default,
    I: IntoIterator<Item = Result<Vec<Float32Array>>>,
    I::IntoIter: Send,
{
    drive_stream(
        vec![S::default(); columns],
        batches,
        threads,
        |state, arrays, threads| {
            let parts: Vec<Part<'_>> = arrays
                .iter()
                .map(|a| (&a.values()[..], validity_of(*a)))
                .collect();
            accumulate_parts_with(state, &parts, threads)
        },
    )
}

/// The [`ExactState`]s of the columns of a stream of batches of any numeric
/// types, one array per column per batch, starting from `empties` (one per
/// column: its type and parts), in bounded memory as [`state_of_stream`].
///
/// # Errors
///
/// As [`state_of_stream`]; [`Error::UnsupportedType`] or
/// [`Error::TypeMismatch`] for an array that the column's state cannot read.
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use arrow_array::{ArrayRef, Int32Array};
/// use arrow_schema::DataType;
/// use mapmean::{engine::states_of_stream, kernel::{ExactState, Parts}};
/// let batches = (0..10).map(|i| Ok(vec![Arc::new(Int32Array::from(vec![i, -i])) as ArrayRef]));
/// let empty = ExactState::new(&DataType::Int32, Parts::default())?;
/// let states = states_of_stream(vec![empty], batches, None)?;
/// assert_eq!(states[0].counts().count, 20);
/// # Ok::<(), mapmean::Error>(())
/// ```
pub fn states_of_stream<I>(
    empties: Vec<ExactState>,
    batches: I,
    threads: Option<usize>,
) -> Result<Vec<ExactState>>
where
    I: IntoIterator<Item = Result<Vec<ArrayRef>>>,
    I::IntoIter: Send,
{
    drive_stream(empties, batches, threads, |state, arrays, threads| {
        let arrays: Vec<&dyn Array> = arrays.iter().map(|a| a.as_ref()).collect();
        accumulate_dyn(state, &arrays, threads)
    })
}

/// The stream driver behind [`accumulate_stream`] and [`states_of_stream`]:
/// a reader thread, a queue of [`STREAM_QUEUE`] batches, groups of
/// [`STREAM_GROUP_LEN`] values, and `compute` (the state of one column's
/// arrays in a group, starting from the state given as empty) per column.
fn drive_stream<A, S, I>(
    mut states: Vec<S>,
    batches: I,
    threads: Option<usize>,
    compute: impl Fn(&S, &[&A], Option<usize>) -> Result<S>,
) -> Result<Vec<S>>
where
    A: Array + Send,
    S: Accumulate,
    I: IntoIterator<Item = Result<Vec<A>>>,
    I::IntoIter: Send,
{
    if threads == Some(0) {
        return Err(Error::InvalidArgument("threads must be at least 1".into()));
    }
    let columns = states.len();
    let empties: Vec<S> = states.iter().map(Accumulate::empty_like).collect();
    let run_group = |states: &mut [S], group: &[Vec<A>]| -> Result<()> {
        if group.is_empty() {
            return Ok(());
        }
        for (c, state) in states.iter_mut().enumerate() {
            let arrays: Vec<&A> = group.iter().map(|batch| &batch[c]).collect();
            state.merge(&compute(&empties[c], &arrays, threads)?)?;
        }
        Ok(())
    };
    let checked = |batch: Result<Vec<A>>| -> Result<Vec<A>> {
        let batch = batch?;
        if batch.len() != columns {
            return Err(Error::InvalidArgument(format!(
                "a streamed batch has {} columns, expected {columns}",
                batch.len()
            )));
        }
        Ok(batch)
    };
    // The first two batches are pulled here. A stream that ends after one
    // (a single array or record batch handed over as a stream, as pyarrow
    // objects are) is computed on the calling thread: starting the reader
    // thread would cost more than the batch takes (tens of microseconds).
    let mut batches = batches.into_iter();
    let mut head: Vec<Result<Vec<A>>> = Vec::with_capacity(2);
    while head.len() < 2 {
        let Some(next) = catch_panic(|| Ok(batches.next())).transpose() else {
            break;
        };
        let next = next.and_then(|n| n);
        let failed = next.is_err();
        head.push(next);
        if failed {
            break;
        }
    }
    if head.len() < 2 || head.last().is_some_and(|b| b.is_err()) {
        let group = head.into_iter().map(checked).collect::<Result<Vec<_>>>()?;
        run_group(&mut states, &group)?;
        return Ok(states);
    }
    let batches = head.into_iter().chain(batches);
    let (sender, receiver) = std::sync::mpsc::sync_channel(STREAM_QUEUE);
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let mut batches = batches;
            loop {
                let next = catch_panic(|| Ok(batches.next())).transpose();
                let Some(next) = next else { break };
                // An error ends the stream; so does a consumer that stopped.
                let last = next.is_err();
                let next = next.and_then(|n| n);
                if sender.send(next).is_err() || last {
                    break;
                }
            }
        });
        let mut group: Vec<Vec<A>> = Vec::new();
        let mut group_len = 0;
        for batch in receiver {
            let batch = checked(batch)?;
            group_len += batch.first().map_or(0, |a| a.len());
            group.push(batch);
            if group_len >= STREAM_GROUP_LEN {
                run_group(&mut states, &group)?;
                group.clear();
                group_len = 0;
            }
        }
        run_group(&mut states, &group)?;
        Ok(states)
    })
}

/// The state of `arrays` (chunks of one column, of one numeric type)
/// starting from `empty`: the one place the engine dispatches on the Arrow
/// type, each type running [`accumulate_parts_with`] over its native values
/// in place.
///
/// # Errors
///
/// [`Error::UnsupportedType`] for a type that is not numeric (a
/// dictionary-encoded column, say), [`Error::TypeMismatch`] for values the
/// state cannot take; otherwise as [`accumulate_parts`].
///
/// # Example
///
/// ```
/// use arrow_array::{Array, UInt8Array};
/// use arrow_schema::DataType;
/// use mapmean::{engine::accumulate_dyn, kernel::{ExactState, Parts}};
/// let array = UInt8Array::from(vec![Some(255), None, Some(1)]);
/// let empty = ExactState::new(&DataType::UInt8, Parts::default())?;
/// let state = accumulate_dyn(&empty, &[&array as &dyn Array], None)?;
/// assert_eq!((state.counts().count, state.counts().null_count), (2, 1));
/// # Ok::<(), mapmean::Error>(())
/// ```
pub fn accumulate_dyn(
    empty: &ExactState,
    arrays: &[&dyn Array],
    threads: Option<usize>,
) -> Result<ExactState> {
    use arrow_array::types::*;
    let data_type = arrays
        .first()
        .map_or_else(|| empty.input_type().clone(), |a| a.data_type().clone());
    if let Some(other) = arrays.iter().find(|a| *a.data_type() != data_type) {
        return Err(Error::TypeMismatch {
            left: data_type.to_string(),
            right: other.data_type().to_string(),
        });
    }
    match data_type {
        DataType::Float16 => typed::<Float16Type>(empty, arrays, threads),
        DataType::Float32 => typed::<Float32Type>(empty, arrays, threads),
        DataType::Float64 => typed::<Float64Type>(empty, arrays, threads),
        DataType::Int8 => typed::<Int8Type>(empty, arrays, threads),
        DataType::Int16 => typed::<Int16Type>(empty, arrays, threads),
        DataType::Int32 => typed::<Int32Type>(empty, arrays, threads),
        DataType::Int64 => typed::<Int64Type>(empty, arrays, threads),
        DataType::UInt8 => typed::<UInt8Type>(empty, arrays, threads),
        DataType::UInt16 => typed::<UInt16Type>(empty, arrays, threads),
        DataType::UInt32 => typed::<UInt32Type>(empty, arrays, threads),
        DataType::UInt64 => typed::<UInt64Type>(empty, arrays, threads),
        other => Err(Error::UnsupportedType {
            data_type: other.to_string(),
        }),
    }
}

/// [`accumulate_dyn`] for arrays known to be of type `P`.
fn typed<P>(empty: &ExactState, arrays: &[&dyn Array], threads: Option<usize>) -> Result<ExactState>
where
    P: ArrowPrimitiveType,
    P::Native: Native,
{
    let parts = arrays
        .iter()
        .map(|a| {
            let a = a
                .as_primitive_opt::<P>()
                .ok_or_else(|| Error::UnsupportedType {
                    data_type: a.data_type().to_string(),
                })?;
            Ok((&a.values()[..], validity_of(a)))
        })
        .collect::<Result<Vec<Part<'_, P::Native>>>>()?;
    accumulate_parts_with(empty, &parts, threads)
}

/// The [`ExactState`] of a column's chunks (of the column's type), with
/// `parts`, on `threads` threads.
///
/// # Errors
///
/// As [`accumulate_dyn`].
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use arrow_array::{ArrayRef, Float64Array};
/// use mapmean::{column::Column, engine::state_of_column, kernel::{Parts, Statistic, StatisticOptions, Value}};
/// let chunk = Arc::new(Float64Array::from(vec![1e308, 1.0, -1e308])) as ArrayRef;
/// let column = Column::new("x".into(), arrow_schema::DataType::Float64, vec![chunk]);
/// let state = state_of_column(&column, Parts::default(), None)?;
/// assert_eq!(Statistic::Mean.finish(&state, &StatisticOptions::default())?, Value::Float(1.0 / 3.0));
/// # Ok::<(), mapmean::Error>(())
/// ```
pub fn state_of_column(
    column: &Column,
    parts: Parts,
    threads: Option<usize>,
) -> Result<ExactState> {
    let empty = ExactState::new(column.data_type(), parts)?;
    let arrays: Vec<&dyn Array> = column.chunks().iter().map(|a| a.as_ref()).collect();
    accumulate_dyn(&empty, &arrays, threads)
}

/// Runs `f` on a pool of `threads` threads (`None`: rayon's global pool, one
/// thread per core). Pools are built once per size and kept.
///
/// # Errors
///
/// [`Error::InvalidArgument`] if `threads` is `Some(0)` or the pool cannot
/// be started.
pub(crate) fn with_threads<T: Send>(
    threads: Option<usize>,
    f: impl FnOnce() -> T + Send,
) -> Result<T> {
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

/// The [`MeanState`] of a Float32 column of an Arrow IPC file or stream at
/// `path` (or of the shared-memory segment `shm://NAME`), read through a
/// memory map without copying. A path that cannot be mapped (`-` for
/// standard input, a FIFO, a character device; see [`pipe::is_stream`]) is
/// read as an IPC stream in bounded memory. [`state_of_source`] reads a
/// column of any numeric type.
///
/// # Errors
///
/// [`Error::NotFound`] or [`Error::Io`] if the file cannot be mapped;
/// [`Error::Corrupt`] if it is not valid Arrow IPC; [`Error::ColumnNotFound`],
/// [`Error::AmbiguousColumn`] or [`Error::WrongType`] for the column (which
/// must be Float32 here);
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
/// write_batches(std::fs::File::create(&path)?, &path, &batch.schema(), &[batch], IpcFormat::File)?;
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
    let path = path.as_ref();
    let state = state_of_source(path, column, Parts::default(), threads)?;
    float32_inner(
        &state,
        ExactState::as_mean_state,
        &path.to_string_lossy(),
        column,
        "state_of_source",
    )
}

/// The [`MomentsState`] of a Float32 column of the source at `path`, as
/// [`state_of_file`].
///
/// # Errors
///
/// As [`state_of_file`].
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
/// let batch = RecordBatch::try_from_iter([("x", Arc::new(Float32Array::from(vec![1.0, 3.0])) as _)])?;
/// write_batches(std::fs::File::create(&path)?, &path, &batch.schema(), &[batch], IpcFormat::File)?;
/// let state = mapmean::engine::moments_of_file(&path, Some("x"), None)?;
/// assert_eq!(state.stddev(), Some(1.0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn moments_of_file(
    path: impl AsRef<OsStr>,
    column: Option<&str>,
    threads: Option<usize>,
) -> Result<MomentsState> {
    let path = path.as_ref();
    let parts = Parts {
        squares: true,
        extremes: false,
    };
    let state = state_of_source(path, column, parts, threads)?;
    float32_inner(
        &state,
        ExactState::as_moments_state,
        &path.to_string_lossy(),
        column,
        "state_of_source",
    )
}

/// The Float32 state inside `state` (`inner`: its mean or moments state),
/// for the calls that return one; [`Error::WrongType`] naming the source, the
/// column, its type and the call to use (`instead`) for another type.
pub(crate) fn float32_inner<S>(
    state: &ExactState,
    inner: impl Fn(&ExactState) -> Option<S>,
    source_name: &str,
    column: Option<&str>,
    instead: &str,
) -> Result<S> {
    inner(state)
        .filter(|_| *state.input_type() == DataType::Float32)
        .ok_or_else(|| Error::WrongType {
            source_name: source_name.to_string(),
            column: column.unwrap_or_default().to_string(),
            data_type: format!(
                "{} (this call reads Float32; use {instead})",
                state.input_type()
            ),
        })
}

/// The [`ExactState`] (with `parts`) of a column of any numeric type of the
/// Arrow IPC file or stream at `path`, the segment `shm://NAME`, or a
/// stream such as `-`: mapped and read in place, or streamed in bounded
/// memory.
///
/// # Errors
///
/// As [`state_of_file`], for any numeric column.
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use arrow_array::{Int64Array, RecordBatch};
/// use mapmean::{engine::state_of_source, kernel::{Parts, Statistic, StatisticOptions, Value}};
/// use mapmean::ipc::{write::write_batches, IpcFormat};
///
/// # let dir = tempfile::tempdir()?;
/// let path = dir.path().join("data.arrow");
/// let batch = RecordBatch::try_from_iter([("n", Arc::new(Int64Array::from(vec![1 << 62, 1 << 62])) as _)])?;
/// write_batches(std::fs::File::create(&path)?, &path, &batch.schema(), &[batch], IpcFormat::File)?;
/// let state = state_of_source(&path, Some("n"), Parts::default(), None)?;
/// assert_eq!(Statistic::Mean.finish(&state, &StatisticOptions::default())?, Value::Float(2f64.powi(62)));
/// assert!(Statistic::Sum.finish(&state, &StatisticOptions::default()).is_err()); // 2^63: no Int64
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn state_of_source(
    path: impl AsRef<OsStr>,
    column: Option<&str>,
    parts: Parts,
    threads: Option<usize>,
) -> Result<ExactState> {
    let path = path.as_ref();
    if pipe::is_stream(path) {
        let (name, reader) = pipe::open_stream(path)?;
        return state_of_ipc_stream_dyn(reader, &name, column, parts, threads);
    }
    catch_panic(|| {
        let source = Source::open(path)?;
        let data = Decoded::open(source.buffer().clone(), source.name())?;
        let mut states = states_of_data(&data, &[column], parts, threads)?;
        Ok(states.remove(0))
    })
}

/// The [`MeanState`] of a Float32 column of the Arrow IPC stream read from
/// `reader`, incrementally, in memory bounded by a few batches (see
/// [`state_of_stream`]). `source_name` names the stream in errors.
///
/// # Errors
///
/// As [`IpcStreamReader::new`] and [`IpcStreamReader::float32_columns`];
/// [`Error::AmbiguousColumn`] if `column` is `None` and the stream has not
/// exactly one column; [`Error::Corrupt`] or [`Error::Io`] if the stream
/// fails part-way (no partial result).
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use arrow_array::{Float32Array, RecordBatch};
/// use mapmean::ipc::{write::write_batches, IpcFormat};
///
/// let batch = RecordBatch::try_from_iter([("x", Arc::new(Float32Array::from(vec![3e37, 0.75, -3e37])) as _)])?;
/// let mut bytes = Vec::new();
/// write_batches(&mut bytes, "memory", &batch.schema(), &[batch.clone(), batch], IpcFormat::Stream)?;
///
/// let state = mapmean::engine::state_of_ipc_stream(&bytes[..], "memory", None, None)?;
/// assert_eq!(state.finish(), Some(0.25));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn state_of_ipc_stream(
    reader: impl Read + Send,
    source_name: &str,
    column: Option<&str>,
    threads: Option<usize>,
) -> Result<MeanState> {
    let state = state_of_ipc_stream_dyn(reader, source_name, column, Parts::default(), threads)?;
    float32_inner(
        &state,
        ExactState::as_mean_state,
        source_name,
        column,
        "state_of_ipc_stream_dyn",
    )
}

/// The [`ExactState`] (with `parts`) of a column of any numeric type of the
/// Arrow IPC stream read from `reader`, as [`state_of_ipc_stream`].
///
/// # Errors
///
/// As [`state_of_ipc_stream`], for any numeric column.
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use arrow_array::{Float64Array, RecordBatch};
/// use mapmean::{engine::state_of_ipc_stream_dyn, ipc::{write::write_batches, IpcFormat}, kernel::Parts};
///
/// let batch = RecordBatch::try_from_iter([("x", Arc::new(Float64Array::from(vec![1.0, 3.0])) as _)])?;
/// let mut bytes = Vec::new();
/// write_batches(&mut bytes, "memory", &batch.schema(), &[batch.clone(), batch], IpcFormat::Stream)?;
/// let state = state_of_ipc_stream_dyn(&bytes[..], "memory", None, Parts::default(), None)?;
/// assert_eq!(state.counts().count, 4);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn state_of_ipc_stream_dyn(
    reader: impl Read + Send,
    source_name: &str,
    column: Option<&str>,
    parts: Parts,
    threads: Option<usize>,
) -> Result<ExactState> {
    let reader = IpcStreamReader::new(reader, source_name)?;
    let index = resolve_column(reader.schema(), column, source_name)?;
    let field = reader.schema().field(index).clone();
    let empty = ExactState::new(field.data_type(), parts)?;
    let batches = reader.columns(&[field.name().clone()])?;
    let states = states_of_stream(vec![empty.clone()], batches, threads)?;
    Ok(states.into_iter().next().unwrap_or(empty))
}

/// Maps the file at `path` (or the segment `shm://NAME`) and decodes
/// `column` (of any numeric type): without copying for Arrow IPC, into
/// memory for Parquet ([`Decoded::column`]).
///
/// # Errors
///
/// As [`state_of_source`].
pub fn open_column(path: impl AsRef<OsStr>, column: Option<&str>) -> Result<Column> {
    let path = path.as_ref();
    catch_panic(|| {
        let source = Source::open(path)?;
        Decoded::open(source.buffer().clone(), source.name())?.column(column)
    })
}

/// The [`ExactState`]s (with `parts`) of the columns `names` (`None`: the
/// only column) of a source of either format, on `threads` threads (`None`:
/// all cores): an Arrow IPC column read in place ([`state_of_column`]), a
/// Parquet file's columns in one pass ([`states_of_parquet`]).
///
/// # Errors
///
/// As [`IpcData::column`](crate::ipc::IpcData::column) and
/// [`states_of_parquet`]; [`Error::InvalidArgument`] if `threads` is
/// `Some(0)`.
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use arrow_array::{Int32Array, RecordBatch};
/// use mapmean::{decoded::Decoded, engine::states_of_data, kernel::Parts};
///
/// let batch = RecordBatch::try_from_iter([("n", Arc::new(Int32Array::from(vec![1, 2, 3])) as _)])?;
/// let mut bytes = Vec::new();
/// let mut writer = parquet::arrow::ArrowWriter::try_new(&mut bytes, batch.schema(), None)?;
/// writer.write(&batch)?;
/// writer.close()?;
/// let data = Decoded::open(bytes.into(), "memory")?;
/// let states = states_of_data(&data, &[Some("n")], Parts::default(), None)?;
/// assert_eq!(states[0].counts().count, 3);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn states_of_data(
    data: &Decoded,
    names: &[Option<&str>],
    parts: Parts,
    threads: Option<usize>,
) -> Result<Vec<ExactState>> {
    match data {
        Decoded::Ipc(data) => names
            .iter()
            .map(|&name| state_of_column(&data.column(name)?, parts, threads))
            .collect(),
        Decoded::Parquet(data) => {
            let columns = data.resolve(names)?;
            states_of_parquet(data, &columns, parts, threads)
        }
    }
}

/// The [`ExactState`]s (with `parts`) of the columns at schema indices
/// `columns` of a Parquet file, in one pass: its units of work (row groups,
/// or ranges of rows of large ones, [`ParquetData::units`]) are decoded and
/// computed in parallel on `threads` threads (`None`: all cores), batch by
/// batch, so memory holds a few batches per thread whatever the file's size;
/// the units' states merge exactly, so the result does not depend on the
/// thread count or the file's row groups.
///
/// # Errors
///
/// [`Error::Corrupt`] for a page or column chunk that does not decode (no
/// partial result); [`Error::Truncated`] if the mapped file was truncated
/// meanwhile; [`Error::InvalidArgument`] if `threads` is `Some(0)`.
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use arrow_array::{Float32Array, RecordBatch};
/// use mapmean::{engine::states_of_parquet, parquet::ParquetData, kernel::{Parts, Statistic, StatisticOptions, Value}};
///
/// let batch = RecordBatch::try_from_iter([("x", Arc::new(Float32Array::from(vec![3e37, 0.75, -3e37])) as _)])?;
/// let mut bytes = Vec::new();
/// let mut writer = parquet::arrow::ArrowWriter::try_new(&mut bytes, batch.schema(), None)?;
/// writer.write(&batch)?;
/// writer.close()?;
/// let data = ParquetData::open(bytes.into(), "memory")?;
/// let states = states_of_parquet(&data, &[0], Parts::default(), None)?;
/// assert_eq!(Statistic::Mean.finish(&states[0], &StatisticOptions::default())?, Value::Float(0.25));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn states_of_parquet(
    data: &ParquetData,
    columns: &[usize],
    parts: Parts,
    threads: Option<usize>,
) -> Result<Vec<ExactState>> {
    let schema = data.schema();
    let empties = columns
        .iter()
        .map(|&c| ExactState::new(schema.field(c).data_type(), parts))
        .collect::<Result<Vec<_>>>()?;
    let merge_all = |mut into: Vec<ExactState>, from: Vec<ExactState>| -> Result<Vec<ExactState>> {
        for (a, b) in into.iter_mut().zip(&from) {
            a.merge(b)?;
        }
        Ok(into)
    };
    let units = data.units();
    let run = || {
        units
            .par_iter()
            .map(|&unit| {
                if unit.offset == 0 {
                    // Tells a file's read-ahead where this thread is.
                    if let Some(bytes) = data.row_group_bytes(unit.row_group) {
                        readahead::reading(bytes);
                    }
                }
                let mut states = empties.clone();
                for batch in data.batches(unit, columns)? {
                    for ((state, empty), array) in states.iter_mut().zip(&empties).zip(&batch?) {
                        // This thread is one of the pool's: no further split.
                        state.merge(&accumulate_dyn(empty, &[array.as_ref()], Some(1))?)?;
                    }
                }
                Ok(states)
            })
            .try_reduce(|| empties.clone(), merge_all)
    };
    let states = with_threads(threads, run)??;
    // Pages a truncation turned into zeros may still have decoded.
    data.check_mapping()?;
    Ok(states)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers_that_never_started_are_cancelled_and_running_ones_awaited() {
        use std::sync::atomic::{AtomicU8, Ordering::Acquire, Ordering::Release};
        let helper = |status| {
            Arc::new(Helper::<MeanState> {
                status: AtomicU8::new(status),
                result: Mutex::new(None),
            })
        };
        let (pending, running) = (helper(PENDING), helper(RUNNING));
        let finisher = {
            let running = running.clone();
            std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(50));
                running.status.store(DONE, Release);
            })
        };
        let next = std::sync::atomic::AtomicUsize::new(1);
        drop(Finish {
            helpers: &[pending.clone(), running.clone()],
            next: &next,
            claims: 5,
        });
        assert_eq!(next.load(Acquire), 5, "the claims left are taken");
        assert_eq!(pending.status.load(Acquire), CANCELLED);
        assert_eq!(running.status.load(Acquire), DONE);
        finisher.join().unwrap();
    }

    #[test]
    fn callers_sharing_the_pool_all_get_the_one_pass_state() {
        // Eight callers at once keep the workers busy, so that helpers start
        // late or are cancelled; every result must still be the same.
        let values: Vec<f32> = (0..(1usize << 18) + 77)
            .map(|i| ((i as f32) * 0.37).sin() * 10f32.powi((i % 40) as i32 - 20))
            .collect();
        let mut one = MeanState::default();
        one.update_values(&values, None).unwrap();
        std::thread::scope(|scope| {
            for _ in 0..8 {
                scope.spawn(|| {
                    for _ in 0..20 {
                        let state: MeanState =
                            shared_with_helpers(&MeanState::default(), &[(&values[..], None)])
                                .unwrap();
                        assert_eq!(state, one);
                    }
                });
            }
        });
    }

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
    fn thread_counts_give_bitwise_identical_moments() {
        let values: Vec<f32> = (0..2 * TASK_LEN + 4099)
            .map(|i| 1e4 + ((i as f32) * 0.37).sin() * 10f32.powi((i % 40) as i32 - 20))
            .collect();
        let chunks = [
            Float32Array::from(values[..5000].to_vec()),
            Float32Array::from(values[5000..].to_vec()),
        ];
        let one = moments_of_arrays(&chunks, Some(1)).unwrap();
        for threads in [2, 5] {
            assert_eq!(moments_of_arrays(&chunks, Some(threads)).unwrap(), one);
        }
        let whole = moments_of_arrays(&[Float32Array::from(values)], None).unwrap();
        assert_eq!(whole, one);
        assert_eq!(whole.mean, state_of_arrays(&chunks, Some(3)).unwrap());
    }

    #[test]
    fn a_stream_gives_the_moments_of_its_concatenation_bit_for_bit() {
        let values: Vec<Option<f32>> = (0..STREAM_GROUP_LEN + TASK_LEN / 2)
            .map(|i| (i % 7 != 0).then(|| 3e7 + ((i as f32) * 0.37).cos() * 100.0))
            .collect();
        let whole = moments_of_arrays(&[Float32Array::from(values.clone())], Some(1)).unwrap();
        for batch_len in [4096, 3 * TASK_LEN] {
            let batches = values
                .chunks(batch_len)
                .map(|c| Ok(vec![Float32Array::from(c.to_vec())]));
            let states = moments_of_stream(1, batches, Some(2)).unwrap();
            assert_eq!(states, vec![whole], "batches of {batch_len}");
        }
    }

    #[test]
    fn a_stream_gives_the_state_of_its_concatenation_bit_for_bit() {
        let values: Vec<Option<f32>> = (0..STREAM_GROUP_LEN + 3 * TASK_LEN / 2)
            .map(|i| {
                (i % 11 != 0).then(|| ((i as f32) * 0.37).cos() * 10f32.powi((i % 40) as i32 - 20))
            })
            .collect();
        let whole = state_of_arrays(&[Float32Array::from(values.clone())], None).unwrap();
        for batch_len in [1000, TASK_LEN / 3, 3 * TASK_LEN] {
            let batches = values.chunks(batch_len).map(|c| {
                Ok(vec![
                    Float32Array::from(c.to_vec()),
                    Float32Array::from(c.to_vec()),
                ])
            });
            let states = state_of_stream(2, batches, Some(3)).unwrap();
            assert_eq!(states, vec![whole; 2], "batches of {batch_len}");
        }
    }

    #[test]
    fn a_stream_that_fails_part_way_gives_its_error_and_no_state() {
        let batches = (0..100).map(|i| {
            if i == 60 {
                Err(Error::InvalidArgument("batch 60 is bad".into()))
            } else {
                Ok(vec![Float32Array::from(vec![1.0; 10])])
            }
        });
        let err = state_of_stream(1, batches, None).unwrap_err();
        assert!(err.to_string().contains("batch 60 is bad"));
    }

    #[test]
    fn a_panicking_stream_is_an_internal_error() {
        let batches = (0..3).map(|i| {
            assert!(i < 2, "the producer broke");
            Ok(vec![Float32Array::from(vec![1.0])])
        });
        let err = state_of_stream(1, batches, None).unwrap_err();
        assert!(matches!(err, Error::Internal(m) if m.contains("the producer broke")));
    }

    #[test]
    fn an_empty_stream_has_empty_states() {
        let states = state_of_stream(2, std::iter::empty(), None).unwrap();
        assert_eq!(states, vec![MeanState::default(); 2]);
    }

    #[test]
    fn small_and_medium_inputs_give_the_state_of_one_pass_on_any_thread_count() {
        let values: Vec<Option<f32>> = (0..3 * INLINE_LEN + 5)
            .map(|i| {
                (i % 7 != 0).then(|| ((i as f32) * 0.91).sin() * 10f32.powi((i % 50) as i32 - 25))
            })
            .collect();
        for len in [
            0,
            1,
            INLINE_LEN,
            INLINE_LEN + 1,
            2 * INLINE_LEN + 3,
            values.len(),
        ] {
            let array = Float32Array::from(values[..len].to_vec());
            let mut one_pass = MeanState::default();
            one_pass.update(&array).unwrap();
            for threads in [None, Some(1), Some(2), Some(5)] {
                let state = state_of_arrays(std::slice::from_ref(&array), threads).unwrap();
                assert_eq!(state, one_pass, "{len} values on {threads:?} threads");
            }
        }
    }

    #[test]
    fn tasks_are_whole_blocks_between_the_bounds_and_cover_every_worker() {
        assert_eq!(task_len(10, 2), MIN_TASK_LEN);
        assert_eq!(task_len(1 << 30, 2), TASK_LEN);
        for (len, workers) in [(1 << 17, 2), (1 << 20, 2), (3 << 19, 4), (1_000_003, 3)] {
            let task = task_len(len, workers);
            assert_eq!(task % BLOCK, 0);
            assert!((MIN_TASK_LEN..=TASK_LEN).contains(&task));
            assert!(
                len.div_ceil(task) >= workers.min(len / MIN_TASK_LEN),
                "{len} {workers}"
            );
        }
    }

    #[test]
    fn zero_threads_is_an_invalid_argument() {
        let err = state_of_arrays(&[], Some(0)).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)));
    }
}
