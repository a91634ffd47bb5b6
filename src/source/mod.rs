//! Sources: where the bytes come from, exposed as Arrow [`Buffer`]s that own
//! their mapping, so decoded arrays can point straight into it.
//!
//! [`MappedFile`] maps a file; [`SharedSegment`] maps a POSIX shared-memory
//! segment (`shm://NAME`). Every source hands the same kind of buffer to
//! [`crate::ipc`], so all of them share one decode path. [`Source`] parses
//! the strings users write for either. [`pipe`] covers what cannot be
//! mapped (standard input, pipes): those are read as streams instead.
//!
//! [`Buffer`]: arrow_buffer::Buffer

internal_mod!(guard);
mod mmap;
pub(crate) mod readahead;
internal_mod!(
    #[cfg(unix)]
    shm
);
pub mod pipe;

use std::ffi::OsStr;
use std::path::Path;

use arrow_buffer::Buffer;

use crate::error::Result;
pub use mmap::MappedFile;
#[cfg(unix)]
pub use shm::SharedSegment;

/// The prefix of shared-memory sources: `shm://NAME`.
pub const SHM_SCHEME: &str = "shm://";

/// A mapped source of IPC bytes: a file or a shared-memory segment.
///
/// # Example
///
/// ```
/// use mapmean::source::Source;
/// let err = Source::open("shm://no-such-segment-here").unwrap_err();
/// assert!(err.to_string().contains("shm://no-such-segment-here"));
/// ```
#[derive(Debug, Clone)]
pub struct Source {
    name: String,
    buffer: Buffer,
}

impl Source {
    /// Opens `spec`: `shm://NAME` for a shared-memory segment (on Unix),
    /// anything else as a file path.
    ///
    /// # Errors
    ///
    /// As [`MappedFile::open`] or `SharedSegment::open`;
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) for
    /// `shm://NAME` where shared memory is not supported (outside Unix).
    pub fn open(spec: impl AsRef<OsStr>) -> Result<Self> {
        let spec = spec.as_ref();
        if let Some(name) = spec.to_str().and_then(|s| s.strip_prefix(SHM_SCHEME)) {
            #[cfg(unix)]
            {
                let segment = SharedSegment::open(name)?;
                return Ok(Source {
                    name: segment.source_name(),
                    buffer: segment.buffer().clone(),
                });
            }
            #[cfg(not(unix))]
            return Err(crate::Error::InvalidArgument(format!(
                "{SHM_SCHEME}{name}: shared-memory segments are only supported on Unix"
            )));
        }
        let file = MappedFile::open(spec)?;
        Ok(Source {
            name: Path::new(spec).display().to_string(),
            buffer: file.buffer().clone(),
        })
    }

    /// The name used in errors: the path, or `shm://NAME`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The mapped bytes.
    pub fn buffer(&self) -> &Buffer {
        &self.buffer
    }
}
