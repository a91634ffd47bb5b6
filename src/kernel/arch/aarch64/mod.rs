//! aarch64 versions of the block pass.

pub mod neon;

/// FPCR's flush-to-zero control (FZ, bit 24).
pub(crate) const FPCR_FZ: u64 = 1 << 24;
/// FPCR's flush-inputs-to-zero control (FIZ, bit 0, where FEAT_AFP is
/// implemented; reads as zero elsewhere).
const FPCR_FIZ: u64 = 1;

/// This thread's FPCR.
#[inline]
pub(crate) fn fpcr() -> u64 {
    let fpcr: u64;
    // SAFETY: `mrs` of FPCR, which code at any exception level may read,
    // into a register; no memory is touched.
    unsafe {
        std::arch::asm!(
            "mrs {0}, fpcr",
            out(reg) fpcr,
            options(nomem, nostack, preserves_flags),
        );
    }
    fpcr
}

/// Writes `fpcr` into this thread's FPCR, for tests that set a control as
/// other code may leave it.
#[cfg(test)]
pub(crate) fn set_fpcr(fpcr: u64) {
    // SAFETY: `msr` to FPCR. The tests give values that differ from the
    // thread's own only in FZ, and restore it.
    unsafe {
        std::arch::asm!(
            "msr fpcr, {0}",
            in(reg) fpcr,
            options(nomem, nostack, preserves_flags),
        );
    }
}

/// FPCR's rounding mode (RMode, bits 22-23).
const FPCR_RMODE: u64 = 3 << 22;

/// Whether this thread's FPCR rounds to nearest and flushes nothing to zero
/// (see `arch::default_float_environment`).
#[inline]
pub(crate) fn default_controls() -> bool {
    fpcr() & (FPCR_RMODE | FPCR_FZ | FPCR_FIZ) == 0
}

/// Whether this thread's FPCR flushes subnormal inputs to zero (see
/// `arch::subnormals_read_as_zero`).
#[inline]
pub(crate) fn inputs_flushed_to_zero() -> bool {
    fpcr() & (FPCR_FZ | FPCR_FIZ) != 0
}
