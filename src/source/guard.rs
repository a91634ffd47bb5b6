//! Defence against sources truncated under the mapping.
//!
//! Another process may truncate a file (or `ftruncate` a shared-memory
//! segment) that this process has mapped. Reading a mapped page past the new
//! end raises `SIGBUS`, which kills a naive reader. On Linux, every mapping
//! mapmean makes is registered here, and a `SIGBUS` handler turns such a
//! fault into an error:
//!
//! 1. The handler looks the faulting address up among the registered
//!    mappings (atomics only: it is async-signal-safe). An address outside
//!    them goes to the handler installed before ours (or to the default
//!    action, which ends the process as it would have without mapmean).
//! 2. For a registered mapping, it maps anonymous zero pages over the mapping
//!    from the faulting page to its end (`mmap(MAP_FIXED)`), marks the
//!    mapping as faulted and returns: the interrupted read resumes and reads
//!    zeros. No `longjmp`, no unwinding through foreign frames.
//! 3. Every computation checks, after reading, whether it read from a
//!    faulted mapping ([`check`]); if so it returns [`Error::Truncated`] and
//!    its result is discarded, never presented as complete. A faulted mapping
//!    stays faulted: later computations over it fail the same way; open the
//!    source again to read its new contents.
//!
//! The registry holds [`SLOTS`] mappings at once; mappings beyond that are
//! unprotected (a truncation then ends the process as without the guard). The
//! handler is (re)installed whenever a mapping is registered, so a handler
//! installed later by someone else (Python's `faulthandler`, say) is chained
//! to, not lost.

use std::ops::Deref;

use crate::error::{Error, Result};

/// How many mappings can be protected at once.
pub const SLOTS: usize = 4096;

/// A mapping that is registered with the guard while it lives. Dropping it
/// deregisters the mapping, then unmaps it.
pub(crate) struct Guarded<M> {
    map: M,
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    slot: Option<usize>,
}

impl<M: Deref<Target = [u8]>> Guarded<M> {
    /// Registers `map` under `name` (used in [`Error::Truncated`]).
    pub(crate) fn new(map: M, name: &str) -> Self {
        let slot = imp::register(map.as_ptr() as usize, map.len(), name);
        Guarded { map, slot }
    }
}

impl<M: Deref<Target = [u8]>> Deref for Guarded<M> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.map
    }
}

impl<M> Drop for Guarded<M> {
    fn drop(&mut self) {
        if let Some(slot) = self.slot {
            imp::release(slot);
        }
        // `self.map` is dropped (unmapped) after this, once no longer registered.
    }
}

/// Whether any registered mapping has ever faulted (cheap: one atomic load).
pub fn any_faults() -> bool {
    imp::any_faults()
}

/// Fails with [`Error::Truncated`] if any of `addresses` lies in a mapping
/// whose source was truncated while mapped.
///
/// Call it after reading: a fault during the read has then been recorded.
///
/// # Errors
///
/// [`Error::Truncated`], naming the source.
///
/// # Example
///
/// ```
/// let values = [1.0f32, 2.0];
/// // Memory that is not a mapmean mapping is never reported.
/// mapmean::source::guard::check([values.as_ptr() as usize])?;
/// # Ok::<(), mapmean::Error>(())
/// ```
pub fn check(addresses: impl IntoIterator<Item = usize>) -> Result<()> {
    if !any_faults() {
        return Ok(());
    }
    for address in addresses {
        if let Some(name) = imp::faulted_source(address) {
            return Err(Error::Truncated { source_name: name });
        }
    }
    Ok(())
}

#[cfg(target_os = "linux")]
mod imp {
    use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
    use std::sync::Mutex;

    use super::SLOTS;

    const FREE: u8 = 0;
    const BUSY: u8 = 1;
    const ACTIVE: u8 = 2;

    struct Slot {
        state: AtomicU8,
        start: AtomicUsize,
        end: AtomicUsize,
        faulted: AtomicBool,
    }

    #[allow(clippy::declare_interior_mutable_const)]
    const EMPTY: Slot = Slot {
        state: AtomicU8::new(FREE),
        start: AtomicUsize::new(0),
        end: AtomicUsize::new(0),
        faulted: AtomicBool::new(false),
    };

    static REGISTRY: [Slot; SLOTS] = [EMPTY; SLOTS];
    /// Source names per slot; touched outside the signal handler only.
    static NAMES: Mutex<Vec<Option<String>>> = Mutex::new(Vec::new());
    static FAULTS: AtomicUsize = AtomicUsize::new(0);
    static PAGE: AtomicUsize = AtomicUsize::new(4096);
    /// The handler (and its flags) that was installed before ours.
    static PREVIOUS_HANDLER: AtomicUsize = AtomicUsize::new(libc::SIG_DFL);
    static PREVIOUS_FLAGS: AtomicUsize = AtomicUsize::new(0);
    static INSTALL: Mutex<()> = Mutex::new(());

    pub(super) fn any_faults() -> bool {
        FAULTS.load(Ordering::Acquire) != 0
    }

    pub(super) fn register(start: usize, len: usize, name: &str) -> Option<usize> {
        if len == 0 {
            return None;
        }
        if !install() {
            return None;
        }
        let index = REGISTRY.iter().position(|slot| {
            slot.state
                .compare_exchange(FREE, BUSY, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        })?;
        {
            let mut names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
            if names.len() <= index {
                names.resize(index + 1, None);
            }
            names[index] = Some(name.to_owned());
        }
        let slot = &REGISTRY[index];
        slot.start.store(start, Ordering::Relaxed);
        slot.end.store(start + len, Ordering::Relaxed);
        slot.faulted.store(false, Ordering::Relaxed);
        slot.state.store(ACTIVE, Ordering::Release);
        Some(index)
    }

    pub(super) fn release(index: usize) {
        let slot = &REGISTRY[index];
        slot.state.store(BUSY, Ordering::Release);
        NAMES.lock().unwrap_or_else(|e| e.into_inner())[index] = None;
        slot.state.store(FREE, Ordering::Release);
    }

    pub(super) fn faulted_source(address: usize) -> Option<String> {
        let index = REGISTRY.iter().position(|slot| {
            slot.state.load(Ordering::Acquire) == ACTIVE
                && slot.faulted.load(Ordering::Acquire)
                && (slot.start.load(Ordering::Relaxed)..slot.end.load(Ordering::Relaxed))
                    .contains(&address)
        })?;
        let names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
        Some(names.get(index).cloned().flatten().unwrap_or_default())
    }

    /// Installs the handler unless it is already the one installed; returns
    /// whether it is installed.
    fn install() -> bool {
        let _lock = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
        // SAFETY: `sigaction` with a null new action only reads the current
        // one into `current`, a zeroed (valid) sigaction struct we own.
        let mut current: libc::sigaction = unsafe { std::mem::zeroed() };
        if unsafe { libc::sigaction(libc::SIGBUS, std::ptr::null(), &mut current) } != 0 {
            return false;
        }
        if current.sa_sigaction == on_sigbus as *const () as usize {
            return true;
        }
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        if page > 0 {
            PAGE.store(page as usize, Ordering::Relaxed);
        }
        PREVIOUS_HANDLER.store(current.sa_sigaction, Ordering::Relaxed);
        PREVIOUS_FLAGS.store(current.sa_flags as usize, Ordering::Release);
        // SAFETY: a zeroed sigaction is valid; we fill in a handler with the
        // SA_SIGINFO signature, an empty mask and flags, and install it. The
        // handler itself only uses atomics and async-signal-safe calls.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_sigbus as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_NODEFER;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut()) == 0
        }
    }

    /// The SIGBUS handler (see the module documentation).
    extern "C" fn on_sigbus(
        signal: libc::c_int,
        info: *mut libc::siginfo_t,
        context: *mut libc::c_void,
    ) {
        // SAFETY: the kernel passes a valid siginfo_t for an SA_SIGINFO
        // handler; si_addr is the faulting address for SIGBUS.
        let (code, address) = unsafe { ((*info).si_code, (*info).si_addr() as usize) };
        if code > 0 {
            // A fault raised by the kernel (not kill/raise): is it ours?
            for slot in REGISTRY.iter() {
                if slot.state.load(Ordering::Acquire) != ACTIVE {
                    continue;
                }
                let (start, end) = (
                    slot.start.load(Ordering::Relaxed),
                    slot.end.load(Ordering::Relaxed),
                );
                if !(start..end).contains(&address) {
                    continue;
                }
                let page = PAGE.load(Ordering::Relaxed);
                let from = address & !(page - 1);
                let to = (end + page - 1) & !(page - 1);
                // SAFETY: [from, to) lies inside a live mapping of ours (the
                // slot is active, so its owner has not unmapped it), rounded
                // to pages. Replacing it with anonymous read-only zero pages
                // keeps the addresses valid for the readers; the owner's
                // munmap later removes them with the rest of the mapping.
                let zeros = unsafe {
                    libc::mmap(
                        from as *mut libc::c_void,
                        to - from,
                        libc::PROT_READ,
                        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                        -1,
                        0,
                    )
                };
                if zeros != libc::MAP_FAILED {
                    slot.faulted.store(true, Ordering::Release);
                    FAULTS.fetch_add(1, Ordering::AcqRel);
                    return;
                }
                break;
            }
        }
        chain(signal, info, context);
    }

    /// Passes a signal that is not ours to the handler installed before ours.
    fn chain(signal: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
        let handler = PREVIOUS_HANDLER.load(Ordering::Acquire);
        let flags = PREVIOUS_FLAGS.load(Ordering::Acquire) as libc::c_int;
        if handler == libc::SIG_DFL || handler == libc::SIG_IGN {
            // SAFETY: restoring the default action and re-raising are
            // async-signal-safe. For a fault, returning re-executes the
            // faulting access, which then takes the default action; for a
            // signal sent with kill/raise, raise delivers it again.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = libc::SIG_DFL;
                libc::sigemptyset(&mut action.sa_mask);
                libc::sigaction(signal, &action, std::ptr::null_mut());
                if (*info).si_code <= 0 {
                    libc::raise(signal);
                }
            }
        } else if flags & libc::SA_SIGINFO != 0 {
            // SAFETY: the previous handler was installed with SA_SIGINFO, so
            // it has this signature; it gets the arguments we got.
            let previous: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                unsafe { std::mem::transmute(handler) };
            previous(signal, info, context);
        } else {
            // SAFETY: a handler installed without SA_SIGINFO takes the signal
            // number only.
            let previous: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(handler) };
            previous(signal);
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    pub(super) fn any_faults() -> bool {
        false
    }
    pub(super) fn register(_start: usize, _len: usize, _name: &str) -> Option<usize> {
        None
    }
    pub(super) fn release(_index: usize) {}
    pub(super) fn faulted_source(_address: usize) -> Option<String> {
        None
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::fs::OpenOptions;

    use super::*;
    use crate::source::MappedFile;

    #[test]
    fn reading_a_truncated_mapping_is_an_error_not_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x");
        std::fs::write(&path, vec![1u8; 1 << 20]).unwrap();
        let file = MappedFile::open(&path).unwrap();
        let bytes = file.buffer().as_slice();
        assert!(check([bytes.as_ptr() as usize]).is_ok());
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(4096)
            .unwrap();
        // Past the new end: without the guard this read dies with SIGBUS.
        let sum: u64 = bytes.iter().map(|&b| u64::from(b)).sum();
        assert_eq!(
            sum, 4096,
            "the first page is intact, the rest reads as zeros"
        );
        let err = check([bytes.as_ptr() as usize]).unwrap_err();
        assert!(matches!(err, Error::Truncated { .. }), "{err}");
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
        // Another mapping is unaffected.
        let other = dir.path().join("y");
        std::fs::write(&other, [2u8; 100]).unwrap();
        let other = MappedFile::open(&other).unwrap();
        assert!(check([other.buffer().as_ptr() as usize]).is_ok());
    }

    #[test]
    fn slots_are_released_when_the_mapping_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x");
        std::fs::write(&path, [1u8; 10]).unwrap();
        // More mappings over time than there are slots: each is released.
        for _ in 0..SLOTS + 10 {
            let file = MappedFile::open(&path).unwrap();
            assert_eq!(file.buffer().len(), 10);
        }
        // So a new mapping is still protected: had the slots leaked, this
        // read past the new end would kill the test process.
        let big = dir.path().join("big");
        std::fs::write(&big, vec![3u8; 1 << 16]).unwrap();
        let file = MappedFile::open(&big).unwrap();
        OpenOptions::new()
            .write(true)
            .open(&big)
            .unwrap()
            .set_len(0)
            .unwrap();
        let bytes = file.buffer().as_slice();
        assert_eq!(bytes.iter().map(|&b| u32::from(b)).sum::<u32>(), 0);
        assert!(check([bytes.as_ptr() as usize]).is_err());
    }
}
