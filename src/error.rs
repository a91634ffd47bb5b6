//! The library's one error type.
//!
//! Every variant carries the context a user needs to act on it: the source (a file
//! path or `shm://` name), the column, its type, an offset. Front ends map the
//! variants to their own conventions: Python raises `FileNotFoundError`, `KeyError`,
//! `TypeError` or `ValueError`; the CLI prints `error: …` and exits non-zero.

use std::path::PathBuf;

/// Errors returned by mapmean.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The source does not exist.
    #[error("{path}: no such file or directory")]
    NotFound {
        /// The path that was asked for.
        path: PathBuf,
    },

    /// The source exists but could not be opened or mapped.
    #[error("{path}: {source}")]
    Io {
        /// The path that was asked for.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// A shared-memory segment of that name exists already; it is never
    /// replaced.
    #[error("shm://{name}: a shared-memory segment of that name already exists")]
    AlreadyExists {
        /// The segment's name.
        name: String,
    },

    /// The bytes are not a readable Arrow IPC file or stream, or Parquet
    /// file.
    #[error("{source_name}: {message}")]
    Corrupt {
        /// The source (file path or other name).
        source_name: String,
        /// What is wrong, with the offset where known: it starts "not a
        /// valid Arrow IPC file or stream: " or "damaged Parquet file: ".
        message: String,
    },

    /// The requested column is not in the schema.
    #[error("{source_name}: no column named {column:?}; available columns: {available}")]
    ColumnNotFound {
        /// The source (file path or other name).
        source_name: String,
        /// The column asked for.
        column: String,
        /// The columns the source has, with their types.
        available: String,
    },

    /// No column was named and the source does not have exactly one column.
    #[error("{source_name}: name a column: the source has {count} columns ({available})")]
    AmbiguousColumn {
        /// The source (file path or other name).
        source_name: String,
        /// How many columns the source has.
        count: usize,
        /// The columns the source has, with their types.
        available: String,
    },

    /// The column exists but is not of a numeric type (Float16/32/64,
    /// Int8/16/32/64, UInt8/16/32/64).
    #[error("{source_name}: column {column:?} has type {data_type}, mapmean needs a numeric type (Float16/32/64, Int8/16/32/64, UInt8/16/32/64){hint}", hint = type_hint(data_type))]
    WrongType {
        /// The source (file path or other name).
        source_name: String,
        /// The column.
        column: String,
        /// Its Arrow type, as Arrow prints it.
        data_type: String,
    },

    /// The source was truncated (by another process) while it was mapped and
    /// being read; what was read is discarded.
    #[error("{source_name}: the source was truncated while it was being read; no result (open it again to read its new contents)")]
    Truncated {
        /// The file path or `shm://NAME`.
        source_name: String,
    },

    /// Bytes given to [`MeanState::from_bytes`](crate::MeanState::from_bytes)
    /// (or a state checked by [`MeanState::validate`](crate::MeanState::validate))
    /// are not a state that mapmean can have written: wrong length, unknown
    /// format version, counts that contradict each other or a sum no data of
    /// that many values can have. See `docs/state-format.md`.
    #[error("not a valid mean state: {reason}")]
    InvalidState {
        /// What is wrong, naming the field.
        reason: String,
    },

    /// Adding two states (or new values to a state) would take one of its
    /// counts past `u64::MAX`; the state is left unchanged.
    #[error("merging the mean states would overflow {field} (more than 2^64 - 1)")]
    StateOverflow {
        /// The count that would overflow: `count`, `null_count`,
        /// `nan_count`, `pos_inf_count`, `neg_inf_count`, or the rows in
        /// all, `count + null_count`.
        field: &'static str,
    },

    /// A stream of batches (an Arrow C stream, a pipe) failed part-way;
    /// what was read before is discarded.
    #[error("{source_name}: the stream failed part-way, no result: {message}")]
    Stream {
        /// The stream (`-`, a path, or `Arrow data`).
        source_name: String,
        /// The producer's error.
        message: String,
    },

    /// Values of a type mapmean does not compute on (outside a named column:
    /// a state made for that type, an array handed in directly).
    #[error("mapmean needs a numeric type (Float16/32/64, Int8/16/32/64, UInt8/16/32/64), got {data_type}{hint}", hint = type_hint(data_type))]
    UnsupportedType {
        /// The Arrow type, as Arrow prints it.
        data_type: String,
    },

    /// A group key column that cannot be used: a type that cannot be a key,
    /// or a type that differs between the sources of one grouping.
    #[error("group key {column:?}: {message}")]
    KeyType {
        /// The key column (or columns).
        column: String,
        /// What is wrong with it.
        message: String,
    },

    /// Two states (or a state and new values) hold different kinds of
    /// number: integers and floats, or signed and unsigned integers. Floats
    /// of different widths merge (exactly: a Float32 value is a Float64
    /// value).
    #[error("cannot combine {left} and {right} values in one exact state: integers and floats (or signed and unsigned integers) have different result types; cast one of them first")]
    TypeMismatch {
        /// The type the state holds.
        left: String,
        /// The type of what was added.
        right: String,
    },

    /// An exact integer sum does not fit its result type (Int64 for signed
    /// inputs, UInt64 for unsigned ones, as in pyarrow); the mean, variance
    /// and other statistics of the same data are still exact.
    #[error("the exact sum {sum} does not fit in {result_type}")]
    SumOverflow {
        /// The exact sum, in decimal.
        sum: String,
        /// The result type: `Int64` or `UInt64`.
        result_type: &'static str,
    },

    /// An argument is out of its range.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// A bug in mapmean or a dependency was caught at the boundary instead of
    /// crashing the process. Please report it with the input that caused it.
    #[error("internal error (please report): {0}")]
    Internal(String),
}

/// A hint for types that can be made numeric.
fn type_hint(data_type: &str) -> &'static str {
    if data_type.starts_with("Dictionary") {
        " (a dictionary-encoded column: decode it first, e.g. pyarrow.compute.cast to its value type)"
    } else if data_type.starts_with("Decimal") {
        " (cast decimals to Float64, or to an integer of their unscaled value)"
    } else {
        ""
    }
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps an `std::io::Error` raised for `path`, turning "not found" into
    /// [`Error::NotFound`].
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        if source.kind() == std::io::ErrorKind::NotFound {
            Error::NotFound { path }
        } else {
            Error::Io { path, source }
        }
    }

    /// A [`Error::Corrupt`] for `source_name`, which is not valid Arrow IPC.
    pub(crate) fn corrupt(source_name: &str, message: impl Into<String>) -> Self {
        Error::Corrupt {
            source_name: source_name.to_string(),
            message: format!("not a valid Arrow IPC file or stream: {}", message.into()),
        }
    }

    /// A [`Error::Corrupt`] for `source_name`, a damaged Parquet file.
    pub(crate) fn corrupt_parquet(source_name: &str, message: impl Into<String>) -> Self {
        Error::Corrupt {
            source_name: source_name.to_string(),
            message: format!("damaged Parquet file: {}", message.into()),
        }
    }
}

/// Runs `f`, turning a panic inside it (a bug, possibly in a dependency fed
/// hostile input) into [`Error::Internal`] so that it never crosses an FFI
/// boundary or aborts a process that embeds mapmean.
///
/// # Errors
///
/// Whatever `f` returns, or [`Error::Internal`] with the panic's message.
///
/// # Example
///
/// ```
/// use mapmean::{error::catch_panic, Error};
/// let result: mapmean::Result<()> = catch_panic(|| panic!("boom"));
/// assert!(matches!(result, Err(Error::Internal(m)) if m == "boom"));
/// ```
pub fn catch_panic<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|payload| Err(Error::Internal(panic_message(payload.as_ref()))))
}

/// Runs a decoder over untrusted bytes. Some arrow-rs decoders assert on
/// malformed input instead of returning an error; such a panic is reported
/// as [`Error::Corrupt`] for `source_name`, which is what it means.
pub(crate) fn catch_decoder_panic<T>(
    source_name: &str,
    f: impl FnOnce() -> Result<T>,
) -> Result<T> {
    catch_decoder_panic_as(source_name, Error::corrupt, f)
}

/// [`catch_decoder_panic`], with the error made by `corrupt` (the Parquet
/// decoder's is [`Error::corrupt_parquet`]).
pub(crate) fn catch_decoder_panic_as<T>(
    source_name: &str,
    corrupt: fn(&str, String) -> Error,
    f: impl FnOnce() -> Result<T>,
) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        Err(corrupt(
            source_name,
            format!(
                "the decoder rejected the data: {}",
                panic_message(payload.as_ref())
            ),
        ))
    })
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic with a non-string payload".to_string())
}
