//! Sources that cannot be mapped: standard input (`-`), pipes, FIFOs,
//! character devices such as `/dev/stdin`, sockets. They are read as a
//! stream, once, front to back, by
//! [`IpcStreamReader`](crate::ipc::stream::IpcStreamReader), in bounded
//! memory.

use std::ffi::OsStr;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};

/// The source name that means standard input.
pub const STDIN: &str = "-";

/// Whether `spec` names a source that must be read as a stream: `-`, or an
/// existing path that is neither a regular file nor a directory (a FIFO, a
/// character device, a socket). Symbolic links are followed, so
/// `/dev/stdin` is a stream when standard input is a pipe and a file when it
/// is redirected from one.
///
/// # Example
///
/// ```
/// use mapmean::source::pipe::is_stream;
/// assert!(is_stream("-".as_ref()));
/// assert!(!is_stream("Cargo.toml".as_ref()));
/// assert!(!is_stream("no/such/file".as_ref()));
/// ```
pub fn is_stream(spec: &OsStr) -> bool {
    if spec == STDIN {
        return true;
    }
    std::fs::metadata(spec).is_ok_and(|m| !m.is_file() && !m.is_dir())
}

/// Opens `spec` (see [`is_stream`]) for reading: standard input for `-`, the
/// path otherwise. Returns the name to use in errors with the reader.
///
/// # Errors
///
/// [`Error::NotFound`] or [`Error::Io`] if the path cannot be opened.
///
/// # Example
///
/// ```
/// use mapmean::source::pipe::open_stream;
/// let (name, _stdin) = open_stream("-".as_ref())?;
/// assert_eq!(name, "-");
/// # Ok::<(), mapmean::Error>(())
/// ```
pub fn open_stream(spec: &OsStr) -> Result<(String, Box<dyn Read + Send>)> {
    if spec == STDIN {
        #[cfg(target_os = "linux")]
        widen_pipe(&std::io::stdin());
        return Ok((STDIN.to_string(), Box::new(std::io::stdin())));
    }
    let path = Path::new(spec);
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    #[cfg(target_os = "linux")]
    widen_pipe(&file);
    Ok((path.display().to_string(), Box::new(file)))
}

/// Asks for a 1 MiB pipe buffer (Linux's default is 64 KiB), so that the
/// producer and mapmean exchange fewer, larger chunks. A hint only: on
/// anything but a pipe, or above the system's limit, nothing changes.
#[cfg(target_os = "linux")]
fn widen_pipe(fd: &impl std::os::fd::AsRawFd) {
    // SAFETY: F_SETPIPE_SZ only resizes the kernel's pipe buffer of a
    // descriptor we hold open; it fails harmlessly on anything else.
    unsafe {
        libc::fcntl(fd.as_raw_fd(), libc::F_SETPIPE_SZ, 1 << 20);
    }
}
