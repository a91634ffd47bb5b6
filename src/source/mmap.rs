//! [`MappedFile`]: a read-only memory map of a file, as an Arrow [`Buffer`].

use std::fs::File;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::Arc;

use arrow_buffer::Buffer;
use memmap2::Mmap;

use super::guard::Guarded;
use crate::error::{Error, Result};

/// A file mapped read-only into memory, whose bytes are available as an Arrow
/// [`Buffer`] without copying. The buffer (and every array sliced from it)
/// keeps the mapping alive after the `MappedFile` is dropped.
///
/// # Example
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("bytes.bin");
/// std::fs::write(&path, b"hello")?;
/// let file = mapmean::source::MappedFile::open(&path)?;
/// assert_eq!(file.buffer().as_slice(), b"hello");
/// assert_eq!(file.address_range().len(), 5);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct MappedFile {
    path: PathBuf,
    buffer: Buffer,
}

impl MappedFile {
    /// Maps the file at `path`.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] if there is no such file; [`Error::Io`] if it is a
    /// directory or cannot be opened or mapped.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let metadata = file.metadata().map_err(|e| Error::io(path, e))?;
        if metadata.is_dir() {
            return Err(Error::io(
                path,
                std::io::Error::new(std::io::ErrorKind::IsADirectory, "is a directory"),
            ));
        }
        // SAFETY: the map is read-only, so this process never writes through
        // it. Another process may still modify or truncate the file while it
        // is mapped; a modification changes the values read (never memory
        // safety of this process), and a truncation makes reads past the new
        // end fault with SIGBUS, which the guard (registered below) turns
        // into zero pages and an `Error::Truncated` for the computation.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
        #[cfg(unix)]
        {
            // A hint only: the kernel reads ahead more aggressively. Failure
            // changes nothing but speed.
            let _ = map.advise(memmap2::Advice::Sequential);
        }
        let map = Arc::new(Guarded::new(map, &path.display().to_string()));
        // A file not in the page cache is read ahead of the computation.
        super::readahead::start(&map);
        let buffer = shared_map_to_buffer(map);
        Ok(MappedFile {
            path: path.to_path_buf(),
            buffer,
        })
    }

    /// The path the file was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The mapped bytes, as an Arrow buffer that shares the mapping.
    pub fn buffer(&self) -> &Buffer {
        &self.buffer
    }

    /// The addresses the mapping occupies, for zero-copy checks.
    pub fn address_range(&self) -> Range<usize> {
        let start = self.buffer.as_ptr() as usize;
        start..start + self.buffer.len()
    }
}

/// Wraps a mapping in a [`Buffer`] that owns it.
pub(crate) fn map_to_buffer<M>(map: M) -> Buffer
where
    M: std::ops::Deref<Target = [u8]> + std::panic::RefUnwindSafe + Send + Sync + 'static,
{
    shared_map_to_buffer(Arc::new(map))
}

/// Wraps a shared mapping in a [`Buffer`] that owns it (with whoever else
/// holds the `Arc`).
pub(crate) fn shared_map_to_buffer<M>(map: Arc<M>) -> Buffer
where
    M: std::ops::Deref<Target = [u8]> + std::panic::RefUnwindSafe + Send + Sync + 'static,
{
    let Some(ptr) = NonNull::new(map.as_ptr() as *mut u8) else {
        return Buffer::from_vec(Vec::<u8>::new());
    };
    let len = map.len();
    if len == 0 {
        return Buffer::from_vec(Vec::<u8>::new());
    }
    // SAFETY: `ptr` points to `len` readable bytes that stay valid as long as
    // `map` lives; the Buffer takes `map` as an owner (the Arc) and drops it
    // only after the last buffer or slice of it is gone (others may hold the
    // Arc longer, or a Weak, which does not keep the mapping). The bytes are
    // never written through the Buffer (Arrow buffers are immutable).
    unsafe { Buffer::from_custom_allocation(ptr, len, map) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffer_points_into_the_mapping_and_outlives_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x");
        std::fs::write(&path, [7u8; 4096]).unwrap();
        let file = MappedFile::open(&path).unwrap();
        let range = file.address_range();
        let buffer = file.buffer().slice(100);
        drop(file);
        assert!(range.contains(&(buffer.as_ptr() as usize)));
        assert_eq!(buffer[0], 7);
    }

    #[test]
    fn missing_files_and_directories_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let err = MappedFile::open(dir.path().join("nope")).unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{err}");
        let err = MappedFile::open(dir.path()).unwrap_err();
        assert!(err.to_string().contains("is a directory"), "{err}");
    }

    #[test]
    fn empty_files_map_to_an_empty_buffer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty");
        std::fs::write(&path, b"").unwrap();
        assert!(MappedFile::open(&path).unwrap().buffer().is_empty());
    }
}
