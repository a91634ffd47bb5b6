//! mapmean: exact statistics (mean, sum, variance, standard deviation, min,
//! max) of numeric columns in Arrow IPC and Parquet data, Arrow IPC read in
//! place.
//!
//! Data flows left to right through one module per stage:
//!
//! ```text
//! source (mmap file)  ->  ipc | parquet (batches)  ->  kernel (exact states)  ->  results (RecordBatch)
//! ```
//!
//! - [`source`]: memory-maps a file and exposes it as an Arrow
//!   [`Buffer`](arrow_buffer::Buffer) without copying;
//! - [`ipc`]: decodes Arrow IPC files and streams from such a buffer into
//!   record batches whose value buffers point into the mapping;
//! - [`parquet`]: reads a Parquet file from such a buffer, decoding only the
//!   columns asked for, one row group (or range of rows) at a time;
//! - [`decoded`]: tells the two formats apart by their first bytes;
//! - [`kernel`]: [`MeanState`] and `ExactState`, the exact, mergeable states
//!   (update / merge / finish), with no I/O;
//! - [`results`]: states as an Arrow `RecordBatch`;
//! - [`engine`]: the driver that ties them together, over threads;
//! - [`dataset`]: many sources (directories, globs) scanned and merged;
//! - [`Dataset`]: sources mapped and decoded once, then queried many times;
//! - `cli` (default cargo feature `cli`): the `mapmean` command line.
//! - `datafusion` (cargo feature `datafusion`): `exact_mean` as a DataFusion
//!   aggregate function, `GROUP BY` included.
//!
//! # Example
//!
//! ```
//! use arrow_array::Float32Array;
//! use mapmean::MeanState;
//!
//! let values = Float32Array::from(vec![3e37, 0.75, -3e37]);
//! let mut state = MeanState::default();
//! state.update(&values)?;
//! assert_eq!(state.finish(), Some(0.25)); // f32 and f64 sums both say 0.0
//! # Ok::<(), mapmean::Error>(())
//! ```
//!
//! # Cargo features
//!
//! - `internals` (off by default): makes the stages' internals public (the
//!   block kernel and its per-instruction-set dispatch, the scalar
//!   reference, the read-bandwidth ceiling, the mapping guard, the panic
//!   boundaries), for mapmean's own benchmarks, fuzz targets and Python
//!   bindings. No stability promise; nothing safe is unsound with it on.
//!   The public API without it is listed in `tests/public-api.txt`.

#![warn(missing_docs)]

/// Declares a module that is public with the `internals` cargo feature and
/// private to the crate without it.
///
/// The feature exists for mapmean's own benchmarks, fuzz targets and Python
/// bindings, which reach into the stages; it carries no stability promise.
/// Everything safe stays sound with it on (see `kernel::arch`).
macro_rules! internal_mod {
    ($(#[$attr:meta])* $name:ident) => {
        $(#[$attr])*
        #[cfg(feature = "internals")]
        pub mod $name;
        $(#[$attr])*
        #[cfg(not(feature = "internals"))]
        #[allow(dead_code, unused_imports)]
        pub(crate) mod $name;
    };
}

internal_mod!(ceiling);
#[cfg(feature = "cli")]
pub mod cli;
internal_mod!(column);
#[cfg(feature = "datafusion")]
pub mod datafusion;
pub mod dataset;
pub mod decoded;
pub mod engine;
pub mod grouped;
internal_mod!(error);
pub mod ipc;
pub mod kernel;
mod opened;
pub mod parquet;
pub mod results;
pub mod source;

pub use column::Float32Column;
pub use error::{Error, Result};
pub use kernel::{ExactSum, MeanOptions, MeanState, MomentsState, VarianceOptions};
pub use opened::Dataset;
