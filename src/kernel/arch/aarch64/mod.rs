//! aarch64 versions of the block pass.

pub mod neon;

/// FPCR's flush-to-zero control (FZ, bit 24) and flush-inputs-to-zero (FIZ,
/// bit 0, where FEAT_AFP is implemented; reads as zero elsewhere).
const FPCR_FLUSH: u64 = 1 << 24 | 1;

/// Whether this thread's FPCR flushes subnormal inputs to zero (see
/// `arch::subnormals_read_as_zero`).
#[inline]
pub(crate) fn inputs_flushed_to_zero() -> bool {
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
    fpcr & FPCR_FLUSH != 0
}
