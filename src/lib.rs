//! mapmean: the exact mean of Float32 columns in Arrow data, read in place.
//!
//! Data flows left to right through one module per stage:
//!
//! ```text
//! source (mmap file)  ->  ipc (zero-copy batches)  ->  kernel (MeanState)  ->  results (RecordBatch)
//! ```
//!
//! - [`source`]: memory-maps a file and exposes it as an Arrow
//!   [`Buffer`](arrow_buffer::Buffer) without copying;
//! - [`ipc`]: decodes Arrow IPC files and streams from such a buffer into
//!   record batches whose value buffers point into the mapping;
//! - [`kernel`]: [`MeanState`], the exact, mergeable mean state
//!   (update / merge / finish), with no I/O;
//! - [`results`]: states as an Arrow `RecordBatch`;
//! - [`engine`]: the driver that ties them together, over threads;
//! - [`dataset`]: many sources (directories, globs) scanned and merged;
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

#![warn(missing_docs)]

pub mod ceiling;
pub mod column;
#[cfg(feature = "datafusion")]
pub mod datafusion;
pub mod dataset;
pub mod engine;
pub mod error;
pub mod ipc;
pub mod kernel;
pub mod results;
pub mod source;

pub use column::Float32Column;
pub use error::{Error, Result};
pub use kernel::{ExactSum, MeanOptions, MeanState};
