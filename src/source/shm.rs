//! [`SharedSegment`]: POSIX shared memory holding an Arrow IPC file image,
//! created by one process and read in place by any other.
//!
//! The owner creates the segment exclusively (`O_CREAT | O_EXCL`) with mode
//! `0600`, sizes it, maps it read-write and writes the IPC file image
//! straight into the mapping ([`SharedSegment::create_with_batches`], which
//! lives with the IPC writer in `crate::ipc::write`: this stage knows bytes,
//! not Arrow IPC).
//! Readers open it read-only ([`SharedSegment::open`]) and decode it through
//! the same zero-copy path as files. Unlinking removes the name; mappings
//! that exist keep working until they are dropped. See `docs/shared-memory.md`.

use std::ffi::CString;
use std::fs::File;
use std::io::Write;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;

use arrow_buffer::Buffer;
use memmap2::{Mmap, MmapMut, MmapOptions};

use super::guard::Guarded;
use super::mmap::map_to_buffer;
use super::SHM_SCHEME;
use crate::error::{Error, Result};

/// Longest segment name accepted (Linux allows 255 bytes in `/dev/shm`).
pub const MAX_NAME_LEN: usize = 240;

/// A POSIX shared-memory segment mapped into this process.
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use arrow_array::{Float32Array, RecordBatch};
/// use mapmean::ipc::IpcData;
/// use mapmean::source::SharedSegment;
///
/// let batch = RecordBatch::try_from_iter([("x", Arc::new(Float32Array::from(vec![1.0, 2.0])) as _)])?;
/// let name = SharedSegment::random_name();
/// let owner = SharedSegment::create_with_batches(&name, &batch.schema(), &[batch])?;
///
/// let reader = SharedSegment::open(&name)?; // in any process
/// owner.unlink()?; // the reader's mapping stays valid
/// let column = IpcData::open(reader.buffer().clone(), &reader.source_name())?.float32_column(None)?;
/// assert_eq!(mapmean::engine::state_of_arrays(column.chunks(), None)?.finish(), Some(1.5));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct SharedSegment {
    name: String,
    buffer: Buffer,
}

impl SharedSegment {
    /// Creates the segment `name` (exclusively, mode `0600`) of `capacity`
    /// bytes, maps it read-write, lets `write` fill it from the start
    /// (writing past `capacity` is an I/O error, not a panic), shrinks it
    /// to the bytes written and maps it read-only. On any error after the
    /// name was created, the segment is unlinked again: nothing is left
    /// behind. The IPC image writer ([`SharedSegment::create_with_batches`])
    /// is built on this.
    pub(crate) fn create_with(
        name: &str,
        capacity: usize,
        write: impl FnOnce(&mut dyn Write) -> Result<()>,
    ) -> Result<Self> {
        let (c_name, display) = c_name(name)?;
        // SAFETY: `c_name` is a valid NUL-terminated string.
        let fd = unsafe {
            libc::shm_open(
                c_name.as_ptr(),
                libc::O_CREAT | libc::O_EXCL | libc::O_RDWR | libc::O_CLOEXEC,
                0o600 as libc::mode_t,
            )
        };
        if fd < 0 {
            let err = std::io::Error::last_os_error();
            return Err(if err.kind() == std::io::ErrorKind::AlreadyExists {
                Error::AlreadyExists { name: display }
            } else {
                Error::io(uri(&display), err)
            });
        }
        // From here on, an error unlinks the name this call created.
        let created = Created(&c_name);
        // SAFETY: `fd` was just opened and is owned by nothing else.
        let file = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
        let len = Self::fill(&file, &display, capacity, write)?;
        // The owner's view, read-only like every reader's.
        let map = map_read_only(&file, &display)?;
        debug_assert_eq!(map.len(), len);
        std::mem::forget(created);
        Ok(SharedSegment {
            buffer: map_to_buffer(Guarded::new(map, &uri(&display))),
            name: display,
        })
    }

    fn fill(
        file: &File,
        display: &str,
        capacity: usize,
        write: impl FnOnce(&mut dyn Write) -> Result<()>,
    ) -> Result<usize> {
        let io = |e| Error::io(uri(display), e);
        // umask can only clear bits; make the mode exactly 0600 regardless.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(io)?;
        file.set_len(capacity as u64).map_err(io)?;
        // SAFETY: the segment was created exclusively by this call and is
        // not yet known to any reader, so nothing else writes or truncates
        // it while this mapping lives.
        let mut map: MmapMut =
            unsafe { MmapOptions::new().len(capacity).populate().map_mut(file) }.map_err(io)?;
        let mut writer = SliceWriter {
            bytes: &mut map[..],
            written: 0,
        };
        write(&mut writer)?;
        let len = writer.written;
        drop(map);
        file.set_len(len as u64).map_err(io)?;
        Ok(len)
    }

    /// Maps the existing segment `name` read-only.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] if there is no such segment, [`Error::InvalidArgument`]
    /// for an invalid name, [`Error::Io`] if it cannot be opened or mapped.
    pub fn open(name: &str) -> Result<Self> {
        let (c_name, display) = c_name(name)?;
        // SAFETY: `c_name` is a valid NUL-terminated string.
        let fd = unsafe { libc::shm_open(c_name.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC, 0) };
        if fd < 0 {
            return Err(Error::io(uri(&display), std::io::Error::last_os_error()));
        }
        // SAFETY: `fd` was just opened and is owned by nothing else.
        let file = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
        let map = map_read_only(&file, &display)?;
        Ok(SharedSegment {
            buffer: map_to_buffer(Guarded::new(map, &uri(&display))),
            name: display,
        })
    }

    /// Removes the segment's name: no new reader can open it, and its memory
    /// is freed once every mapping is gone. Mappings that exist (this one
    /// included) stay valid.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] if the name is already gone.
    pub fn unlink(&self) -> Result<()> {
        unlink(&self.name)
    }

    /// The segment's name, without `shm://`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `shm://NAME`, as used in errors and on the command line.
    pub fn source_name(&self) -> String {
        uri(&self.name)
    }

    /// The segment's bytes (an IPC file image), sharing the mapping.
    pub fn buffer(&self) -> &Buffer {
        &self.buffer
    }

    /// A fresh random name: `mapmean-` and 16 hex digits.
    pub fn random_name() -> String {
        use std::hash::{BuildHasher, Hasher};
        // RandomState is seeded from the OS's randomness per process;
        // mixing in a counter and the time gives distinct names per call.
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        hasher.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        hasher.write_u32(std::process::id());
        format!("mapmean-{:016x}", hasher.finish())
    }
}

/// Removes the shared-memory segment `name`.
///
/// # Errors
///
/// [`Error::NotFound`] if there is no such segment, [`Error::InvalidArgument`]
/// for an invalid name.
pub fn unlink(name: &str) -> Result<()> {
    let (c_name, display) = c_name(name)?;
    // SAFETY: `c_name` is a valid NUL-terminated string.
    if unsafe { libc::shm_unlink(c_name.as_ptr()) } < 0 {
        return Err(Error::io(uri(&display), std::io::Error::last_os_error()));
    }
    Ok(())
}

/// Checks a segment name (an optional leading `/`, then 1 to
/// [`MAX_NAME_LEN`] bytes without `/` or NUL) and returns the name for
/// `shm_open` (`/NAME`) and for display (`NAME`).
fn c_name(name: &str) -> Result<(CString, String)> {
    let bare = name.strip_prefix('/').unwrap_or(name);
    let invalid = |why: &str| {
        Err(Error::InvalidArgument(format!(
            "invalid shared-memory name {name:?}: {why}"
        )))
    };
    if bare.is_empty() {
        return invalid("it is empty");
    }
    if bare.len() > MAX_NAME_LEN {
        return invalid(&format!("longer than {MAX_NAME_LEN} bytes"));
    }
    if bare.contains(['/', '\0']) {
        return invalid("it may not contain '/' or NUL");
    }
    if bare == "." || bare == ".." {
        return invalid("'.' and '..' are not names");
    }
    let c_name = CString::new(format!("/{bare}"))
        .map_err(|_| Error::InvalidArgument(format!("invalid shared-memory name {name:?}")))?;
    Ok((c_name, bare.to_string()))
}

/// `shm://NAME`, for errors.
fn uri(name: &str) -> String {
    format!("{SHM_SCHEME}{name}")
}

#[cfg(test)]
thread_local! {
    /// Makes the next `map_read_only` on this thread fail, to test the
    /// clean-up of `SharedSegment::create_with` after its last step.
    static FAIL_NEXT_MAP: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn map_read_only(file: &File, display: &str) -> Result<Mmap> {
    #[cfg(test)]
    if FAIL_NEXT_MAP.with(|fail| fail.replace(false)) {
        return Err(Error::io(uri(display), std::io::Error::other("injected mapping failure")));
    }
    // SAFETY: a read-only map. The segment's owner does not write to it after
    // creating it; if another process truncated it, reads past the new end
    // would fault with SIGBUS, which the guard (see `Guarded`) turns into an
    // `Error::Truncated` for the computation.
    unsafe { Mmap::map(file) }.map_err(|e| Error::io(uri(display), e))
}

/// Unlinks the segment it names when dropped: `create_with`'s error paths.
struct Created<'a>(&'a CString);

impl Drop for Created<'_> {
    fn drop(&mut self) {
        // SAFETY: the name is a valid NUL-terminated string.
        unsafe { libc::shm_unlink(self.0.as_ptr()) };
    }
}

/// `Write` into a fixed slice; running out of room is an error, not a panic.
struct SliceWriter<'a> {
    bytes: &'a mut [u8],
    written: usize,
}

impl Write for SliceWriter<'_> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let room = &mut self.bytes[self.written..];
        if data.len() > room.len() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::WriteZero,
                "the image outgrew the segment's size bound",
            ));
        }
        room[..data.len()].copy_from_slice(data);
        self.written += data.len();
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_after_filling_leaves_no_segment_behind() {
        let write = |out: &mut dyn Write| out.write_all(b"bytes").map_err(|e| Error::io("test", e));
        // The last step, the read-only mapping, fails.
        let name = SharedSegment::random_name();
        FAIL_NEXT_MAP.with(|fail| fail.set(true));
        let err = SharedSegment::create_with(&name, 64, write).unwrap_err();
        assert!(err.to_string().contains("injected mapping failure"), "{err}");
        assert!(matches!(SharedSegment::open(&name), Err(Error::NotFound { .. })));
        // The writer fails (runs out of room).
        let name = SharedSegment::random_name();
        let err = SharedSegment::create_with(&name, 2, write).unwrap_err();
        assert!(err.to_string().contains("outgrew"), "{err}");
        assert!(matches!(SharedSegment::open(&name), Err(Error::NotFound { .. })));
        // And with nothing failing, the segment is there, as written.
        let name = SharedSegment::random_name();
        let owner = SharedSegment::create_with(&name, 64, write).unwrap();
        assert_eq!(SharedSegment::open(&name).unwrap().buffer().as_slice(), b"bytes");
        owner.unlink().unwrap();
    }

    #[test]
    fn names_are_validated() {
        for bad in ["", "/", "a/b", "x\0y", "..", &"n".repeat(MAX_NAME_LEN + 1)] {
            assert!(
                matches!(SharedSegment::open(bad), Err(Error::InvalidArgument(_))),
                "{bad:?}"
            );
        }
        assert!(c_name("/ok-name").is_ok() && c_name("ok").is_ok());
    }

}
