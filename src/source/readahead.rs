//! Reading ahead of the computation when a mapped file is not in the page
//! cache.
//!
//! A computation over a cold mapping faults its pages in, and the kernel
//! reads ahead of each fault by its per-device window; the engine's threads
//! fault at two or more places of the file at once (rayon splits the task
//! list in halves), so the device sees short interleaved requests and falls
//! behind a plain sequential `read` of the same file. [`start`] looks at a
//! few pages of a fresh mapping and, if any is not in the page cache, starts
//! one thread that asks the kernel for the whole file in order, a window at
//! a time (`madvise(MADV_WILLNEED)`, which only queues the reads and skips
//! pages already cached), so that the device streams while the engine
//! computes. On a warm file it costs a few `mincore` calls and nothing else.
//!
//! `MADV_WILLNEED` reads at most the device's read-ahead window per call
//! (`read_ahead_kb`, often 128 KiB to 8 MiB), hence a call per window. The
//! thread holds a clone of the mapping's buffer, so the mapping outlives it;
//! a truncation meanwhile makes `madvise` fail or read nothing (it never
//! faults). Only Linux does anything here; `MAPMEAN_NO_READAHEAD` (set to
//! anything) switches it off, for benchmarks.

use arrow_buffer::Buffer;

/// Mappings shorter than this are left to the kernel: a thread would cost
/// more than it saves.
pub(crate) const MIN_LEN: usize = 32 << 20;

/// Bytes per `madvise` call: the largest read-ahead window a device is
/// likely to have, so that each call reads a full window.
const WINDOW: usize = 8 << 20;

/// Pages sampled to tell a cold mapping from a warm one.
const SAMPLES: usize = 16;

/// Starts reading `buffer` (a fresh file mapping) ahead, in a background
/// thread, if it is at least [`MIN_LEN`] long and some of it is not in the
/// page cache. Failures (no thread, no `mincore`) change nothing but speed.
pub(crate) fn start(buffer: &Buffer) {
    #[cfg(target_os = "linux")]
    imp::start(buffer);
    #[cfg(not(target_os = "linux"))]
    let _ = buffer;
}

#[cfg(target_os = "linux")]
mod imp {
    use super::*;

    pub(super) fn start(buffer: &Buffer) {
        // The variable is for benchmarks, which compare with the kernel's own read-ahead.
        let off = std::env::var_os("MAPMEAN_NO_READAHEAD").is_some();
        if off || buffer.len() < MIN_LEN || all_cached(buffer) {
            return;
        }
        let buffer = buffer.clone();
        let _ = std::thread::Builder::new()
            .name("mapmean-readahead".into())
            .stack_size(64 << 10)
            .spawn(move || read_ahead(&buffer));
    }

    fn page_size() -> usize {
        // SAFETY: sysconf has no preconditions.
        usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) })
            .ok()
            .filter(|p| p.is_power_of_two())
            .unwrap_or(4096)
    }

    /// Whether the sampled pages (spread evenly, the first and last
    /// included) are all in the page cache.
    pub(super) fn all_cached(buffer: &Buffer) -> bool {
        let page = page_size();
        let start = buffer.as_ptr() as usize;
        if !start.is_multiple_of(page) {
            return true; // not a mapping's start: leave it alone
        }
        let pages = buffer.len().div_ceil(page);
        (0..SAMPLES).all(|i| {
            let index = i * (pages - 1) / (SAMPLES - 1);
            let mut resident = 0u8;
            // SAFETY: the address is page-aligned and lies inside the live
            // mapping (`buffer` holds it); mincore writes one byte per page
            // of the one-page range into `resident`, which we own.
            let ok = unsafe {
                libc::mincore(
                    (start + index * page) as *mut libc::c_void,
                    page,
                    &mut resident,
                )
            } == 0;
            !ok || resident & 1 == 1
        })
    }

    fn read_ahead(buffer: &Buffer) {
        let start = buffer.as_ptr() as usize;
        let mut offset = 0;
        while offset < buffer.len() {
            let len = WINDOW.min(buffer.len() - offset);
            // SAFETY: [start + offset, + len) lies inside the live mapping,
            // which `buffer` keeps; `start + offset` is page-aligned (the
            // mapping's start is, `all_cached` checked, and WINDOW is a
            // multiple of every page size). WILLNEED only queues reads into
            // the page cache: it changes no memory that anyone reads, and
            // does not fault.
            let done = unsafe {
                libc::madvise(
                    (start + offset) as *mut libc::c_void,
                    len,
                    libc::MADV_WILLNEED,
                )
            };
            if done != 0 {
                return; // truncated, or not supported: the faults read instead
            }
            offset += len;
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::os::fd::AsRawFd;
    use std::time::{Duration, Instant};

    use super::*;
    use crate::source::MappedFile;

    #[test]
    fn a_cold_file_is_read_into_the_page_cache_without_being_touched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cold");
        std::fs::write(&path, vec![5u8; MIN_LEN + 12345]).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        file.sync_all().unwrap();
        // Drop the file's clean pages from the cache (nothing maps it yet).
        // SAFETY: fadvise on a file descriptor we own.
        unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
        let mapped = MappedFile::open(&path).unwrap();
        if imp::all_cached(mapped.buffer()) {
            return; // this file system kept the pages: nothing to show here
        }
        // Nothing reads the mapping, yet its pages arrive.
        let start = Instant::now();
        while !imp::all_cached(mapped.buffer()) {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "never read ahead"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(mapped.buffer().as_slice().iter().all(|&b| b == 5));
    }
}
