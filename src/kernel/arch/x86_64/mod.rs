//! x86-64 versions of the block pass.

pub mod avx2;
pub mod avx512;

/// How much farther ahead than the L1 prefetch [`prefetch_ahead`] asks for
/// a second line, into L2.
const FAR: usize = 4;

/// Asks for the cache line `near` bytes after `at` into L1, and for the one
/// `FAR * near` bytes after it into L2. Both are hints: they read nothing
/// into the program and never fault, whatever the address (so `at` may point
/// past the end of the values).
///
/// The passes call it once per 64-byte line. The L1 prefetch alone left a
/// streaming pass on a kept mapping at 0.82–0.88 × the read ceiling (both
/// cores, the Xeon of `docs/benchmarks.md`); with the L2 prefetch ahead of
/// it, 0.96–0.98 ×, as more lines are in flight than the L1 fill buffers
/// hold.
#[inline(always)]
pub(crate) fn prefetch_ahead(at: *const f32, near: usize) {
    use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0, _MM_HINT_T1};
    // SAFETY: SSE is part of the x86-64 baseline; a prefetch is a hint (see
    // above), valid for any address.
    unsafe {
        _mm_prefetch::<_MM_HINT_T0>(at.wrapping_byte_add(near) as *const i8);
        _mm_prefetch::<_MM_HINT_T1>(at.wrapping_byte_add(FAR * near) as *const i8);
    }
}

/// Asks for the cache line at `at` (a hint, as [`prefetch_ahead`]).
#[inline(always)]
pub(crate) fn prefetch_line(at: *const u8) {
    use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
    // SAFETY: as `prefetch_ahead`: SSE is baseline, a prefetch never faults.
    unsafe { _mm_prefetch::<_MM_HINT_T0>(at as *const i8) }
}

/// The processor's vendor string (`GenuineIntel`, `AuthenticAMD`, …), its
/// family and its model, from `cpuid` leaves 0 and 1 (the displayed family
/// and model: the extended fields added as the vendors document).
pub(crate) fn processor() -> ([u8; 12], u32, u32) {
    use std::arch::x86_64::__cpuid;
    // SAFETY: `cpuid` is in the x86-64 baseline and only reads processor
    // identification (a safe function from Rust 1.87 on, hence the allow).
    #[allow(unused_unsafe)]
    let (leaf0, leaf1) = unsafe { (__cpuid(0), __cpuid(1)) };
    let mut vendor = [0u8; 12];
    for (at, word) in [leaf0.ebx, leaf0.edx, leaf0.ecx].into_iter().enumerate() {
        vendor[4 * at..4 * at + 4].copy_from_slice(&word.to_le_bytes());
    }
    let base = (leaf1.eax >> 8) & 0xf;
    let family = if base == 0xf { base + ((leaf1.eax >> 20) & 0xff) } else { base };
    let extended = if base == 0xf || base == 6 { (leaf1.eax >> 16) & 0xf } else { 0 };
    let model = (leaf1.eax >> 4) & 0xf | extended << 4;
    (vendor, family, model)
}

/// The bin shift (`SIGNIFICAND_BITS`), hidden from the optimiser, for
/// `portable::bin_values` in passes compiled for BMI2 (see there).
#[inline(always)]
pub(crate) fn opaque_shift() -> u32 {
    std::hint::black_box(crate::kernel::geometry::SIGNIFICAND_BITS)
}

/// MXCSR's denormals-are-zero control, bit 6.
pub(crate) const MXCSR_DAZ: u32 = 0x40;

/// This thread's MXCSR.
#[inline]
pub(crate) fn mxcsr() -> u32 {
    let mut csr = 0u32;
    // SAFETY: `stmxcsr` (SSE, in the x86-64 baseline) stores MXCSR into the
    // four writable bytes of `csr`, and reads or writes nothing else.
    unsafe {
        std::arch::asm!(
            "stmxcsr dword ptr [{0}]",
            in(reg) &mut csr,
            options(nostack, preserves_flags),
        );
    }
    csr
}

/// Loads `csr` into this thread's MXCSR, for tests that set a flag or a
/// control as other code may leave it.
#[cfg(test)]
pub(crate) fn set_mxcsr(csr: u32) {
    // SAFETY: `ldmxcsr` reads the four bytes of `csr`. The tests give values
    // that differ from the thread's own only in a status flag or in DAZ,
    // and restore it.
    unsafe {
        std::arch::asm!(
            "ldmxcsr dword ptr [{0}]",
            in(reg) &csr,
            options(nostack, readonly, preserves_flags),
        );
    }
}

/// MXCSR's controls that change results: rounding control (bits 13-14),
/// flush-to-zero (bit 15) and denormals-are-zero (bit 6).
const MXCSR_RESULT_CONTROLS: u32 = 0x6000 | 0x8000 | MXCSR_DAZ;

/// Whether this thread's MXCSR rounds to nearest and neither flushes nor
/// reads subnormals as zero (see `arch::default_float_environment`).
#[inline]
pub(crate) fn default_controls() -> bool {
    mxcsr() & MXCSR_RESULT_CONTROLS == 0
}

/// Whether this thread's MXCSR has denormals-are-zero set (see
/// `arch::subnormals_read_as_zero`).
#[inline]
pub(crate) fn denormals_are_zero() -> bool {
    mxcsr() & MXCSR_DAZ != 0
}
