//! Reading ahead of the computation when a mapped file is not in the page
//! cache, never further ahead than the computation can use.
//!
//! A computation over a cold mapping faults its pages in, and the kernel
//! reads ahead of each fault by its per-device window; the engine's threads
//! fault at two or more places of the file at once (rayon splits the task
//! list in halves), so the device sees short interleaved requests and falls
//! behind a plain sequential `read` of the same file. [`start`] looks at a
//! few pages of a fresh mapping and, if any is not in the page cache, starts
//! one thread that asks the kernel for the file a window at a time
//! (`madvise(MADV_WILLNEED)`, which only queues the reads and skips pages
//! already cached), so that the device streams while the engine computes.
//! On a warm file it costs a few `mincore` calls and nothing else.
//!
//! **A bounded lead.** The thread reads at most [`lead`] bytes (an eighth of
//! `MemAvailable`, between 64 MiB and 1 GiB) ahead of where the engine's
//! threads are. The engine tells it, once per task of 2^20 values (Parquet:
//! once per row group), where a thread starts reading ([`reading`]; one
//! atomic load when no file is being read ahead). Each pool thread has a
//! lane holding its latest position, and every lane is a frontier: the lead
//! is shared among them, each gets the windows from its position to its
//! share of the lead ([`Plan::requests`]).
//! Asking for the whole file at once, as this module first did, evicted the
//! pages of a file larger than memory before the engine read them, so they
//! were read twice (29.7 GB on a 24 GiB machine: 22-35 s, against 11-12 s
//! with the kernel's read-ahead alone). Before the engine starts (decoding),
//! the only frontier is the file's start; without progress reports (a
//! column decoded into memory, `mapmean.open` reading only some columns)
//! the thread stops once it has been idle for [`IDLE_EXIT`], and the faults
//! read the rest as they would without it.
//!
//! **Releasing pages behind the computation**, only for a file larger than
//! `MemAvailable` at open (one that cannot stay cached: its later pages
//! would evict its earlier ones anyway). A thread that starts a task is done
//! with the one it ran before, so each report also counts the previous
//! task's bytes as done, per window. Once [`RELEASE_WINDOWS`] windows are
//! done with (each but for the few hundred bytes of metadata between
//! batches, [`SLACK`]), the thread drops their page-table entries
//! (`MADV_DONTNEED`: on a read-only file mapping this only unmaps, and a
//! later read faults the same bytes back in), so that the kernel reclaims
//! them as unmapped, used-once page cache, first, without walking this
//! process's page tables. It leaves the page cache itself to the kernel:
//! dropping the done pages from it too (`posix_fadvise(POSIX_FADV_DONTNEED)`
//! on the file) would also drop them for other processes that have them
//! cached, and measured slower. A 27.4 GB file on a 23 GiB, 2-core machine,
//! paired rounds: with the page cache dropped too, 31-33 s, against 20-26 s
//! with the pages unmapped only (dd: 21-27 s); unmapped only, 19.6-20.3 s,
//! against 21.7-22.8 s releasing nothing. A file that fits keeps its pages
//! mapped and cached, so that the next run finds it warm.
//!
//! `MADV_WILLNEED` reads at most the device's read-ahead window per call
//! (`read_ahead_kb`, often 128 KiB to 8 MiB), hence a call per window. The
//! thread holds a weak reference to the mapping and upgrades it for each
//! round of calls, so it never keeps the mapping alive and stops when the
//! mapping is gone; a truncation meanwhile makes `madvise` fail or read
//! nothing (it never faults). Only Linux does anything here;
//! `MAPMEAN_NO_READAHEAD` (set to anything) switches it off, for benchmarks.

use std::ops::Range;

/// Mappings shorter than this are left to the kernel: a thread would cost
/// more than it saves.
pub(crate) const MIN_LEN: usize = 32 << 20;

/// Bytes per `madvise` call: the largest read-ahead window a device is
/// likely to have, so that each call reads a full window. Also the unit in
/// which the lead and the released range are counted.
const WINDOW: usize = 8 << 20;

/// Pages sampled to tell a cold mapping from a warm one.
const SAMPLES: usize = 16;

/// Lanes of engine positions per mapping: one per pool thread (a pool of
/// more threads shares lanes, which only makes the bound looser).
const LANES: usize = 64;

/// The lead's bounds: at least enough to keep a device busy for a few tens
/// of milliseconds, at most what a 1 GiB file (the cold benchmark) needs to
/// be asked for at once, as before the lead was bounded.
const MIN_LEAD: usize = 64 << 20;
const MAX_LEAD: usize = 1 << 30;

/// How long the thread waits for the engine before looking again (the
/// engine also wakes it at each task).
const POLL: std::time::Duration = std::time::Duration::from_millis(20);

/// A thread that has had nothing to do for this long stops.
const IDLE_EXIT: std::time::Duration = std::time::Duration::from_secs(5);

/// The most bytes to read ahead of the engine, for `mem_available` bytes of
/// available memory (`None`: unknown): an eighth of it, within
/// [`MIN_LEAD`]..=[`MAX_LEAD`], in whole windows.
pub(crate) fn lead(mem_available: Option<usize>) -> usize {
    let lead = mem_available.map_or(MIN_LEAD * 4, |m| m / 8);
    lead.clamp(MIN_LEAD, MAX_LEAD) / WINDOW * WINDOW
}

/// Whether the pages of a `len`-byte file are released behind the
/// computation: only if it is larger than the available memory (unknown:
/// never).
pub(crate) fn releases_behind(len: usize, mem_available: Option<usize>) -> bool {
    mem_available.is_some_and(|m| len > m)
}

/// What the read-ahead thread has asked for and released, in windows of
/// [`WINDOW`] bytes; it decides what to do next from the engine's
/// positions. Pure: the thread does the system calls.
#[derive(Debug)]
pub(crate) struct Plan {
    len: usize,
    lead: usize,
    requested: Vec<bool>,
    released: Vec<bool>,
}

impl Plan {
    pub(crate) fn new(len: usize, lead: usize) -> Self {
        Plan {
            len,
            lead: lead.max(WINDOW),
            requested: vec![false; len.div_ceil(WINDOW)],
            released: vec![false; len.div_ceil(WINDOW)],
        }
    }

    /// The byte ranges to ask for now, in order, given the engine's
    /// `frontiers` (byte offsets, any order; none: the engine has not
    /// started, and the file's start is the frontier): from each frontier,
    /// the windows within its share of the lead not asked for yet.
    pub(crate) fn requests(&mut self, frontiers: &[usize]) -> Vec<Range<usize>> {
        let mut frontiers = frontiers.to_vec();
        if frontiers.is_empty() {
            frontiers.push(0);
        }
        frontiers.sort_unstable();
        frontiers.dedup_by_key(|f| *f / WINDOW);
        let share = (self.lead / frontiers.len()).max(WINDOW);
        let mut ranges = Vec::new();
        for &frontier in &frontiers {
            let first = frontier / WINDOW;
            let end = frontier
                .saturating_add(share)
                .div_ceil(WINDOW)
                .min(self.requested.len());
            for window in first..end {
                if !std::mem::replace(&mut self.requested[window], true) {
                    ranges.push(window * WINDOW..((window + 1) * WINDOW).min(self.len));
                }
            }
        }
        ranges
    }

    /// Whether every window has been asked for.
    pub(crate) fn all_requested(&self) -> bool {
        self.requested.iter().all(|&r| r)
    }

    /// Marks every window as asked for (when asking fails: the faults read).
    pub(crate) fn give_up(&mut self) {
        self.requested.fill(true);
    }

    /// The byte ranges to release now, given how many bytes of each window
    /// the engine is done with (`done`): the windows done with but for
    /// [`SLACK`] bytes, not released yet, neighbours merged.
    pub(crate) fn release(&mut self, done: &[usize]) -> Vec<Range<usize>> {
        let ready: Vec<usize> = (done.iter().enumerate().take(self.released.len()))
            .filter(|&(window, &done)| {
                let len = ((window + 1) * WINDOW).min(self.len) - window * WINDOW;
                !self.released[window] && done > 0 && done.saturating_add(SLACK) >= len
            })
            .map(|(window, _)| window)
            .collect();
        let last = self.released.len().checked_sub(1);
        if ready.len() < RELEASE_WINDOWS && !last.is_some_and(|l| ready.contains(&l)) {
            return Vec::new();
        }
        let mut ranges: Vec<Range<usize>> = Vec::new();
        for window in ready {
            let bytes = window * WINDOW..((window + 1) * WINDOW).min(self.len);
            self.released[window] = true;
            match ranges.last_mut() {
                Some(last) if last.end == bytes.start => last.end = bytes.end,
                _ => ranges.push(bytes),
            }
        }
        ranges
    }
}

/// Windows released at once, at least (but for the file's last): each
/// release interrupts the engine's threads (page-table changes are shot
/// down on every core that runs them).
const RELEASE_WINDOWS: usize = 32;

/// Bytes of a window that the engine may not have read, yet the window is
/// released: the metadata and padding between one batch's values and the
/// next (a few hundred bytes), which the decoder read before the engine
/// started. At worst a task starting within them is read twice.
const SLACK: usize = 64 << 10;

/// The windows (their indices) that the bytes `range` overlaps, with how
/// many of its bytes lie in each.
pub(crate) fn overlaps(range: Range<usize>) -> impl Iterator<Item = (usize, usize)> {
    let first = range.start / WINDOW;
    let end = range.end.div_ceil(WINDOW);
    (first..end)
        .map(move |window| {
            let lo = range.start.max(window * WINDOW);
            let hi = range.end.min((window + 1) * WINDOW);
            (window, hi.saturating_sub(lo))
        })
        .filter(|&(_, bytes)| bytes > 0)
}

/// Tells the read-ahead of the mapping that holds `values` (if one is
/// running) that the calling thread starts reading these addresses, and is
/// done with the task it read before. Called by the engine once per task;
/// costs one atomic load when no mapping is being read ahead.
pub(crate) fn reading(values: Range<usize>) {
    #[cfg(target_os = "linux")]
    imp::reading(values);
    #[cfg(not(target_os = "linux"))]
    let _ = values;
}

/// Starts reading `mapping` (a fresh mapping of a whole file) ahead, in a
/// background thread, if it is at least [`MIN_LEN`] long and some of it is
/// not in the page cache. Failures (no thread, no `mincore`) change nothing
/// but speed.
pub(crate) fn start<M>(mapping: &std::sync::Arc<M>)
where
    M: std::ops::Deref<Target = [u8]> + Send + Sync + 'static,
{
    #[cfg(target_os = "linux")]
    imp::start(mapping);
    #[cfg(not(target_os = "linux"))]
    let _ = mapping;
}

#[cfg(target_os = "linux")]
mod imp {
    use std::ops::Deref;
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    use std::sync::{Arc, RwLock, Weak};
    use std::thread::Thread;
    use std::time::Instant;

    use super::*;

    /// The engine positions in one mapping being read ahead.
    struct Tracker {
        start: usize,
        len: usize,
        lanes: [Lane; LANES],
        /// Bytes of each window that the engine is done with.
        done: Box<[AtomicUsize]>,
        thread: Thread,
    }

    /// One pool thread's current task in a mapping, as offsets plus one
    /// (0: none yet). Only the thread of the lane writes it.
    #[derive(Default)]
    struct Lane {
        position: AtomicUsize,
        end: AtomicUsize,
    }

    impl Tracker {
        /// The engine's positions.
        fn positions(&self) -> Vec<usize> {
            let lanes = self.lanes.iter();
            lanes
                .filter_map(|l| l.position.load(Relaxed).checked_sub(1))
                .collect()
        }

        /// Bytes of each window that the engine is done with.
        fn done(&self) -> Vec<usize> {
            self.done.iter().map(|d| d.load(Relaxed)).collect()
        }
    }

    /// The mappings being read ahead, and how many (read without the lock).
    static TRACKERS: RwLock<Vec<Arc<Tracker>>> = RwLock::new(Vec::new());
    static TRACKED: AtomicUsize = AtomicUsize::new(0);

    pub(super) fn reading(values: Range<usize>) {
        if TRACKED.load(Relaxed) == 0 {
            return;
        }
        let Ok(trackers) = TRACKERS.read() else {
            return;
        };
        let Some(tracker) = trackers
            .iter()
            .find(|t| (t.start..t.start + t.len).contains(&values.start))
        else {
            return;
        };
        let lane = &tracker.lanes[rayon::current_thread_index().unwrap_or(LANES - 1) % LANES];
        let (position, end) = (values.start - tracker.start, values.end - tracker.start);
        // A thread runs one task at a time: the one it ran before is done.
        if let (Some(before), Some(before_end)) = (
            lane.position.load(Relaxed).checked_sub(1),
            lane.end.load(Relaxed).checked_sub(1),
        ) {
            for (window, bytes) in overlaps(before..before_end.min(tracker.len)) {
                if let Some(done) = tracker.done.get(window) {
                    done.fetch_add(bytes, Relaxed);
                }
            }
        }
        lane.end.store(end.min(tracker.len) + 1, Relaxed);
        lane.position.store(position + 1, Relaxed);
        tracker.thread.unpark();
    }

    /// `MemAvailable` from /proc/meminfo, in bytes.
    fn mem_available() -> Option<usize> {
        let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
        let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
        let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
        kib.checked_mul(1024)
    }

    pub(super) fn start<M>(mapping: &Arc<M>)
    where
        M: Deref<Target = [u8]> + Send + Sync + 'static,
    {
        // The variable is for benchmarks, which compare with the kernel's own read-ahead.
        let off = std::env::var_os("MAPMEAN_NO_READAHEAD").is_some();
        let bytes: &[u8] = mapping;
        if off || bytes.len() < MIN_LEN || all_cached(bytes) {
            return;
        }
        let (start, len) = (bytes.as_ptr() as usize, bytes.len());
        let memory = mem_available();
        let (lead, release) = (lead(memory), releases_behind(len, memory));
        let weak: Weak<M> = Arc::downgrade(mapping);
        let spawned = std::thread::Builder::new()
            .name("mapmean-readahead".into())
            .stack_size(64 << 10)
            .spawn(move || {
                let tracker = Arc::new(Tracker {
                    start,
                    len,
                    lanes: std::array::from_fn(|_| Lane::default()),
                    done: (0..len.div_ceil(WINDOW))
                        .map(|_| AtomicUsize::new(0))
                        .collect(),
                    thread: std::thread::current(),
                });
                if let Ok(mut trackers) = TRACKERS.write() {
                    trackers.push(tracker.clone());
                    TRACKED.fetch_add(1, Relaxed);
                }
                read_ahead(&weak, &tracker, Plan::new(len, lead), release);
                if let Ok(mut trackers) = TRACKERS.write() {
                    if let Some(i) = trackers.iter().position(|t| Arc::ptr_eq(t, &tracker)) {
                        trackers.swap_remove(i);
                        TRACKED.fetch_sub(1, Relaxed);
                    }
                }
            });
        drop(spawned);
    }

    fn page_size() -> usize {
        // SAFETY: sysconf has no preconditions.
        usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) })
            .ok()
            .filter(|p| p.is_power_of_two())
            .unwrap_or(4096)
    }

    /// Whether the sampled pages of `bytes` (spread evenly, the first and
    /// last included) are all in the page cache.
    pub(super) fn all_cached(bytes: &[u8]) -> bool {
        let page = page_size();
        let start = bytes.as_ptr() as usize;
        if !start.is_multiple_of(page) || bytes.is_empty() {
            return true; // not a mapping's start: leave it alone
        }
        let pages = bytes.len().div_ceil(page);
        (0..SAMPLES).all(|i| {
            let index = i * (pages - 1) / (SAMPLES - 1);
            let mut resident = 0u8;
            // SAFETY: the address is page-aligned and lies inside the live
            // mapping (`bytes` borrows it); mincore writes one byte per page
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

    /// Asks for the windows the engine's positions call for and releases
    /// what lies behind them, until every window has been asked for (and,
    /// when releasing, the engine is idle), the engine has been idle for
    /// [`IDLE_EXIT`], or the mapping is gone.
    fn read_ahead<M: Deref<Target = [u8]>>(
        weak: &Weak<M>,
        tracker: &Tracker,
        mut plan: Plan,
        release: bool,
    ) {
        let mut seen = Vec::new();
        let mut last_change = Instant::now();
        loop {
            let Some(mapping) = weak.upgrade() else {
                return; // nothing left to read for
            };
            let start = mapping.as_ptr() as usize;
            let positions = tracker.positions();
            let requests = plan.requests(&positions);
            if positions != seen || !requests.is_empty() {
                last_change = Instant::now();
                seen.clone_from(&positions);
            }
            for range in requests {
                // SAFETY: `range` lies inside the live mapping (`mapping`
                // holds it, and `Plan` keeps ranges within its length);
                // `start + range.start` is page-aligned (the mapping's start
                // is, `all_cached` checked, and WINDOW is a multiple of every
                // page size). WILLNEED only queues reads into the page cache:
                // it changes no memory that anyone reads, and does not fault.
                let done = unsafe {
                    libc::madvise(
                        (start + range.start) as *mut libc::c_void,
                        range.len(),
                        libc::MADV_WILLNEED,
                    )
                };
                if done != 0 {
                    plan.give_up(); // truncated, or not supported: the faults read instead
                    break;
                }
            }
            for range in plan.release(&if release { tracker.done() } else { Vec::new() }) {
                // SAFETY: as for WILLNEED, the range is a page-aligned part of
                // the live mapping. The mapping is read-only and backed by the
                // file: DONTNEED only removes this process's page-table
                // entries, and a later read (were the engine not done with
                // the range after all) faults the same bytes in again from
                // the file; no memory that anyone reads changes value. Pages
                // the guard replaced after a truncation (anonymous zeros)
                // read as zeros again, and the mapping stays marked faulted.
                unsafe {
                    libc::madvise(
                        (start + range.start) as *mut libc::c_void,
                        range.len(),
                        libc::MADV_DONTNEED,
                    )
                };
            }
            drop(mapping);
            if (plan.all_requested() && !release) || last_change.elapsed() > IDLE_EXIT {
                return;
            }
            std::thread::park_timeout(POLL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1 << 20;

    #[test]
    fn the_lead_is_an_eighth_of_available_memory_within_its_bounds() {
        assert_eq!(lead(Some(24 << 30)), MAX_LEAD);
        assert_eq!(lead(Some(2 << 30)), 256 * MIB);
        assert_eq!(lead(Some(100 * MIB)), MIN_LEAD);
        assert_eq!(lead(None), 4 * MIN_LEAD);
        assert_eq!(lead(Some(1000 * MIB)) % WINDOW, 0);
    }

    #[test]
    fn only_files_larger_than_available_memory_are_released() {
        assert!(releases_behind(30 << 30, Some(24 << 30)));
        assert!(!releases_behind(1 << 30, Some(24 << 30)));
        assert!(!releases_behind(30 << 30, None));
    }

    #[test]
    fn before_the_engine_starts_the_file_start_is_asked_for_up_to_the_lead() {
        let mut plan = Plan::new(1 << 30, 64 * MIB);
        let first = plan.requests(&[]);
        assert_eq!(first.len(), 8, "one call per window");
        assert_eq!((first[0].start, first[7].end), (0, 64 * MIB));
        assert_eq!(
            plan.requests(&[]),
            Vec::<Range<usize>>::new(),
            "asked for once"
        );
        // The engine moves on: only the new windows of the lead.
        assert_eq!(
            plan.requests(&[20 * MIB]),
            vec![64 * MIB..72 * MIB, 72 * MIB..80 * MIB, 80 * MIB..88 * MIB]
        );
    }

    #[test]
    fn a_small_file_fitting_in_the_lead_is_asked_for_whole_at_once() {
        let len = 100 * MIB + 12345;
        let mut plan = Plan::new(len, 1 << 30);
        let ranges = plan.requests(&[]);
        assert_eq!(ranges.first(), Some(&(0..8 * MIB)));
        assert_eq!(ranges.last().map(|r| r.end), Some(len));
        assert_eq!(ranges.iter().map(|r| r.len()).sum::<usize>(), len);
        assert!(plan.all_requested());
    }

    #[test]
    fn the_lead_is_shared_among_the_frontiers() {
        let mut plan = Plan::new(4 << 30, 64 * MIB);
        // Two threads, at the start and in the middle: 32 MiB ahead of each.
        let ranges = plan.requests(&[0, 2 << 30]);
        assert_eq!(ranges.iter().map(|r| r.len()).sum::<usize>(), 64 * MIB);
        assert!(ranges.contains(&((2 << 30) + 24 * MIB..(2 << 30) + 32 * MIB)));
        assert!(!ranges.iter().any(|r| r.end > (2 << 30) + 32 * MIB));
        // However far the engine is, nothing more than the lead past its positions.
        let far = plan.requests(&[MIB, 3 << 30]);
        assert!(far
            .iter()
            .all(|r| r.end <= 33 * MIB || r.end <= (3 << 30) + 32 * MIB));
        assert!(!plan.all_requested());
    }

    #[test]
    fn the_last_window_ends_at_the_file_end() {
        let len = 3 * WINDOW + 100;
        let mut plan = Plan::new(len, 1 << 30);
        assert_eq!(
            plan.requests(&[2 * WINDOW]).last(),
            Some(&(3 * WINDOW..len))
        );
    }

    #[test]
    fn windows_done_with_are_released_in_batches_each_once_neighbours_merged() {
        let windows = 2 * RELEASE_WINDOWS + 1;
        let len = (windows - 1) * WINDOW + 100;
        let mut plan = Plan::new(len, 64 * MIB);
        let mut done = vec![0; windows];
        assert_eq!(plan.release(&done), Vec::<Range<usize>>::new());
        // Fewer windows done than a batch: wait.
        done[1] = WINDOW;
        assert_eq!(plan.release(&done), Vec::<Range<usize>>::new());
        // A batch: windows 1 to RELEASE_WINDOWS, the last done but for the
        // batch metadata; one more done but for the next batch's validity
        // (not read yet) stays.
        for d in &mut done[2..=RELEASE_WINDOWS] {
            *d = WINDOW;
        }
        done[RELEASE_WINDOWS] = WINDOW - 512;
        done[RELEASE_WINDOWS + 2] = WINDOW - 2 * MIB;
        assert_eq!(
            plan.release(&done),
            vec![WINDOW..(RELEASE_WINDOWS + 1) * WINDOW]
        );
        assert_eq!(
            plan.release(&done),
            Vec::<Range<usize>>::new(),
            "released once"
        );
        // The file's last window goes without waiting for a batch.
        done[0] = WINDOW;
        done[windows - 1] = 100;
        assert_eq!(
            plan.release(&done),
            vec![0..WINDOW, (windows - 1) * WINDOW..len]
        );
    }

    #[test]
    fn a_task_counts_its_bytes_in_each_window_it_overlaps() {
        let overlaps = |r: Range<usize>| overlaps(r).collect::<Vec<_>>();
        assert_eq!(overlaps(MIB..5 * MIB), vec![(0, 4 * MIB)]);
        assert_eq!(
            overlaps(6 * MIB..10 * MIB),
            vec![(0, 2 * MIB), (1, 2 * MIB)]
        );
        assert_eq!(overlaps(8 * MIB..12 * MIB), vec![(1, 4 * MIB)]);
        assert_eq!(overlaps(5..5), Vec::<(usize, usize)>::new());
    }
}

#[cfg(all(test, target_os = "linux"))]
mod linux_tests {
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
        // Nothing reads the mapping, yet its pages arrive (all of them are
        // within the lead of the file's start).
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

    #[test]
    fn the_read_ahead_thread_does_not_keep_the_mapping_alive() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dropped");
        std::fs::write(&path, vec![3u8; 2 * MIN_LEN]).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        file.sync_all().unwrap();
        // SAFETY: fadvise on a file descriptor we own.
        unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
        let mapped = MappedFile::open(&path).unwrap();
        let address = format!("{:x}-", mapped.address_range().start);
        drop(mapped);
        let start = Instant::now();
        while std::fs::read_to_string("/proc/self/maps")
            .unwrap()
            .lines()
            .any(|l| l.starts_with(&address) && l.contains("dropped"))
        {
            assert!(start.elapsed() < Duration::from_secs(2), "still mapped");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn progress_reports_outside_any_read_ahead_change_nothing() {
        let values = vec![1u8; 1000];
        let range = values.as_ptr_range();
        reading(range.start as usize..range.end as usize);
    }
}
