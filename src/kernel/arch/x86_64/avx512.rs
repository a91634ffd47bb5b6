//! The block pass with AVX-512 F: 16 lanes; a 16-bit slice of the validity
//! bitmap is the lane mask (`__mmask16`) as it is.

use std::arch::x86_64::*;

use super::super::{portable, Masks, Span};
use crate::kernel::geometry::Bins;
use crate::kernel::geometry::BLOCK;

/// The validity of values `16 * j .. 16 * j + 16`, limited to the block.
#[inline(always)]
fn lane_mask(block: &[f32], masks: Option<&Masks>, j: usize) -> __mmask16 {
    let n = (block.len() - 16 * j).min(16);
    let valid = match masks {
        None => 0xffff,
        Some(m) => (m[j / 4] >> (16 * (j % 4))) as u16,
    };
    valid & (((1u32 << n) - 1) as u16)
}

/// Values that [`bin_block`] copies at a time, nulls zeroed, before binning.
const BIN_CHUNK: usize = 256;

/// See `Isa::bin_block`. The binning itself is scalar (no vector scatter
/// adds); with masks, each chunk of values is first copied with null lanes
/// set to `+0.0` by masked loads, 16 at a time.
///
/// # Safety
///
/// The CPU must support AVX-512 F and BMI2.
/// That is the only precondition: every load stays within `block` and
/// `masks`, whatever their lengths (a block of more than `BLOCK` values
/// with masks panics).
#[target_feature(enable = "avx512f,bmi2")]
pub unsafe fn bin_block(bins: &mut Bins, block: &[f32], masks: Option<&Masks>) {
    assert!(block.len() <= BLOCK);
    if masks.is_none() {
        return portable::bin_values::<{ portable::BIN_PREFETCH }>(bins, block, super::opaque_shift());
    }
    let mut copy = [0f32; BIN_CHUNK];
    for start in (0..block.len()).step_by(BIN_CHUNK) {
        let n = (block.len() - start).min(BIN_CHUNK);
        for j in 0..n.div_ceil(16) {
            super::prefetch_ahead(block.as_ptr().wrapping_add(start + 16 * j), portable::BIN_PREFETCH);
            let k = lane_mask(block, masks, start / 16 + j);
            // SAFETY: lanes outside `k` are not accessed, and `k` has no lane
            // past the end of `block`; `16 * j + 16 <= BIN_CHUNK`.
            unsafe {
                let v = _mm512_maskz_loadu_epi32(k, block.as_ptr().add(start + 16 * j) as *const i32);
                _mm512_storeu_si512(copy.as_mut_ptr().add(16 * j) as *mut _, v);
            }
        }
        portable::bin_values::<0>(bins, &copy[..n], super::opaque_shift());
    }
}

/// Bytes ahead of the loads that [`span`] prefetches.
const SPAN_PREFETCH: usize = 4096;

/// See `Isa::span`: the f64 sum of every valid value, with the smallest and
/// largest nonzero magnitude, 16 lanes at a time (null lanes and lanes past
/// the end load as `+0.0`).
///
/// # Safety
///
/// The CPU must support AVX-512 F.
/// That is the only precondition: every load stays within `block` and
/// `masks`, whatever their lengths (a block of more than `BLOCK` values
/// with masks panics).
#[target_feature(enable = "avx512f")]
pub unsafe fn span(block: &[f32], masks: Option<&Masks>) -> Span {
    // Two copies of the loop, so that the unmasked one has no mask code.
    match masks {
        None => span_impl::<false>(block, None),
        Some(_) => span_impl::<true>(block, masks),
    }
}

#[inline]
#[target_feature(enable = "avx512f")]
fn span_impl<const MASKED: bool>(block: &[f32], masks: Option<&Masks>) -> Span {
    assert!(block.len() <= BLOCK);
    let mut sums = [_mm512_setzero_pd(); 4];
    let mut low = [_mm512_set1_epi32(-1); 2];
    let mut high = [_mm512_setzero_si512(); 2];
    let full = block.len() / 16;
    let pairs = full / 2;
    for p in 0..pairs {
        for c in 0..2 {
            let j = 2 * p + c;
            super::prefetch_ahead(block.as_ptr().wrapping_add(16 * j), SPAN_PREFETCH);
            let v = if MASKED {
                let k = lane_mask(block, masks, j);
                // SAFETY: `16 * j + 16 <= 16 * full <= block.len()`.
                unsafe { _mm512_maskz_loadu_epi32(k, block.as_ptr().add(16 * j) as *const i32) }
            } else {
                // SAFETY: as above.
                unsafe { _mm512_loadu_si512(block.as_ptr().add(16 * j) as *const _) }
            };
            span_vector(v, &mut sums[2 * c..2 * c + 2], &mut low[c], &mut high[c]);
        }
    }
    for j in 2 * pairs..block.len().div_ceil(16) {
        let k = lane_mask(block, masks, j);
        // SAFETY: lanes outside `k` are not accessed, and `k` has no lane
        // past the end of `block`.
        let v = unsafe { _mm512_maskz_loadu_epi32(k, block.as_ptr().add(16 * j) as *const i32) };
        span_vector(v, &mut sums[..2], &mut low[0], &mut high[0]);
    }
    let total = _mm512_add_pd(_mm512_add_pd(sums[0], sums[1]), _mm512_add_pd(sums[2], sums[3]));
    Span {
        // Exact in any order where the span says so (see `Isa::span`).
        sum: _mm512_reduce_add_pd(total),
        low: _mm512_reduce_min_epu32(_mm512_min_epu32(low[0], low[1])).wrapping_add(1),
        high: _mm512_reduce_max_epu32(_mm512_max_epu32(high[0], high[1])),
    }
}

/// The per-vector work of [`span`]: adds the 16 values to `sum` (two f64
/// vectors), and folds `|x| - 1` into `low` (zeros wrap to `u32::MAX`, so
/// they never win the minimum) and `|x|` into `high`.
#[inline]
#[target_feature(enable = "avx512f")]
fn span_vector(v: __m512i, sum: &mut [__m512d], low: &mut __m512i, high: &mut __m512i) {
    let abs = _mm512_and_si512(v, _mm512_set1_epi32(0x7fff_ffff));
    let x = _mm512_castsi512_ps(v);
    let upper = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(x)));
    sum[0] = _mm512_add_pd(sum[0], _mm512_cvtps_pd(_mm512_castps512_ps256(x)));
    sum[1] = _mm512_add_pd(sum[1], _mm512_cvtps_pd(upper));
    *low = _mm512_min_epu32(*low, _mm512_sub_epi32(abs, _mm512_set1_epi32(1)));
    *high = _mm512_max_epu32(*high, abs);
}

/// MXCSR's precision (inexact) flag, bit 5; bits 0–5 are the exception flags.
pub(crate) const MXCSR_INEXACT: u32 = 0x20;

/// Every lane valid: the lane masks of a block without nulls.
static ALL_VALID: [u8; BLOCK / 8] = [0xff; BLOCK / 8];

/// The `asm!` block of [`flagged_sum`], given the loads of the main loop's
/// four groups (masked or not); see there.
macro_rules! flagged_sum_asm {
    ($csr:expr, $sum:ident, $p:expr, $m:expr, $g:expr, $tail:expr, $($load:literal),* $(,)?) => {
        std::arch::asm!(
            "vpxorq {a0}, {a0}, {a0}",
            "stmxcsr dword ptr [{csr}]",
            "mov {t:e}, dword ptr [{csr}]",
            "and {t:e}, -64",
            "cmp {t:e}, 0x1f80",
            "jne 7f",
            "test dword ptr [{csr}], 0x20",
            "jz 6f",
            "and dword ptr [{csr}], -33",
            "ldmxcsr dword ptr [{csr}]",
            "6:",
            "vpxorq {a1}, {a1}, {a1}",
            "vpxorq {a2}, {a2}, {a2}",
            "vpxorq {a3}, {a3}, {a3}",
            "cmp {g}, 4",
            "jb 3f",
            "2:",
            "prefetcht0 [{p} + {near}]",
            "prefetcht1 [{p} + {far}]",
            "prefetcht0 [{p} + {near} + 64]",
            "prefetcht1 [{p} + {far} + 64]",
            $($load,)*
            "vaddpd {a0}, {a0}, {x0}",
            "vaddpd {a1}, {a1}, {x1}",
            "vaddpd {a2}, {a2}, {x2}",
            "vaddpd {a3}, {a3}, {x3}",
            "add {p}, 128",
            "add {m}, 4",
            "sub {g}, 4",
            "cmp {g}, 4",
            "jae 2b",
            "3:",
            "test {g}, {g}",
            "jz 5f",
            "4:",
            "kmovb {k}, byte ptr [{m}]",
            "vcvtps2pd {x0} {{{k}}}{{z}}, ymmword ptr [{p}]",
            "vaddpd {a0}, {a0}, {x0}",
            "add {p}, 32",
            "add {m}, 1",
            "dec {g}",
            "jnz 4b",
            "5:",
            "kmovb {k}, {tail:e}",
            "vcvtps2pd {x0} {{{k}}}{{z}}, ymmword ptr [{p}]",
            "vaddpd {a1}, {a1}, {x0}",
            "vaddpd {a0}, {a0}, {a1}",
            "vaddpd {a2}, {a2}, {a3}",
            "vaddpd {a0}, {a0}, {a2}",
            "vextractf64x4 {x0:y}, {a0}, 1",
            "vaddpd {a0:y}, {a0:y}, {x0:y}",
            "vextractf64x2 {x0:x}, {a0:y}, 1",
            "vaddpd {a0:x}, {a0:x}, {x0:x}",
            "vunpckhpd {x0:x}, {a0:x}, {a0:x}",
            "vaddsd {a0:x}, {a0:x}, {x0:x}",
            "stmxcsr dword ptr [{csr}]",
            "jmp 8f",
            "7:",
            // Controls not the default: report "inexact", read nothing.
            "mov dword ptr [{csr}], 0x20",
            "8:",
            csr = in(reg) $csr,
            p = inout(reg) $p => _,
            m = inout(reg) $m => _,
            g = inout(reg) $g => _,
            tail = in(reg) $tail,
            near = const SPAN_PREFETCH,
            far = const 4 * SPAN_PREFETCH,
            t = out(reg) _,
            k = out(kreg) _,
            a0 = out(zmm_reg) $sum,
            a1 = out(zmm_reg) _,
            a2 = out(zmm_reg) _,
            a3 = out(zmm_reg) _,
            x0 = out(zmm_reg) _,
            x1 = out(zmm_reg) _,
            x2 = out(zmm_reg) _,
            x3 = out(zmm_reg) _,
            options(nostack),
        );
    };
}

/// See `Isa::flagged_sum`: the `f64` sum of every valid value, or `None`
/// when an addition rounded, as the processor's own inexact flag tells.
///
/// The whole sequence is one `asm!` block, as Rust asks of code that reads
/// the floating-point flags (see `_mm_getcsr`):
/// 1. Read MXCSR. Unless its controls are the x86-64 default (every exception
///    masked, round to nearest, no flush to zero or denormals-are-zero, which
///    Rust assumes anyway), stop: `None`, and the caller's passes take over.
///    If the inexact flag is already set, clear it (`ldmxcsr` costs about
///    80 cycles here, so only then: once per call, as a rule).
/// 2. Convert 8 values at a time to `f64`, each group under its byte of the
///    validity masks as the lane mask (zero-masking: null lanes and lanes past
///    the end are `+0.0`, and are not loaded, so they never fault), and add
///    them into four accumulators; then add those into one `f64`.
/// 3. Read MXCSR again: converting a float32 to `f64` is exact, so the
///    inexact flag is set exactly when one of the additions rounded.
///
/// The flag is left as the additions set it: Rust treats the status flags as
/// unobservable, and this pass only ever clears the inexact one.
///
/// Without the magnitude tracking of [`span`], it issues 6 micro-operations
/// to the vector ports per 16 values (two 2-uop conversions, two adds)
/// instead of 11.
///
/// # Safety
///
/// The CPU must support AVX-512 F and DQ.
/// That is the only precondition: every load stays within `block` and
/// `masks`, whatever their lengths.
#[target_feature(enable = "avx512f,avx512dq")]
pub unsafe fn flagged_sum(block: &[f32], masks: Option<&Masks>) -> Option<f64> {
    assert!(block.len() <= BLOCK);
    let lanes: *const u8 = match masks {
        None => ALL_VALID.as_ptr(),
        Some(m) => m.as_ptr().cast(),
    };
    let groups = block.len() / 8;
    let rest = block.len() % 8;
    // The last group's lane mask, limited to the block: all lanes off when
    // `rest == 0`.
    let tail = match rest {
        0 => 0,
        // SAFETY: `groups < BLOCK / 8`, the bytes behind `lanes`.
        _ => u32::from(unsafe { *lanes.add(groups) }) & ((1 << rest) - 1),
    };
    let mut csr = 0u32;
    let sum: __m512d;
    // SAFETY: the loads read `8 * groups <= block.len()` values from
    // `block.as_ptr()` and at most `groups` mask bytes from `lanes` (each
    // holds `BLOCK / 8 >= groups`), then under the lane mask `tail` only the
    // last `rest` values (nothing when `rest == 0`: a fully masked load
    // neither reads nor faults). Prefetches never fault. `csr` is 4 writable
    // bytes. MXCSR's controls are never changed (the pass stops unless they
    // are the default); only its inexact flag is cleared. The stack is not
    // touched.
    unsafe {
        if masks.is_none() {
            flagged_sum_asm!(
                &mut csr, sum, block.as_ptr(), lanes, groups, tail,
                "vcvtps2pd {x0}, ymmword ptr [{p}]",
                "vcvtps2pd {x1}, ymmword ptr [{p} + 32]",
                "vcvtps2pd {x2}, ymmword ptr [{p} + 64]",
                "vcvtps2pd {x3}, ymmword ptr [{p} + 96]",
            );
        } else {
            flagged_sum_asm!(
                &mut csr, sum, block.as_ptr(), lanes, groups, tail,
                "kmovb {k}, byte ptr [{m}]",
                "vcvtps2pd {x0} {{{k}}}{{z}}, ymmword ptr [{p}]",
                "kmovb {k}, byte ptr [{m} + 1]",
                "vcvtps2pd {x1} {{{k}}}{{z}}, ymmword ptr [{p} + 32]",
                "kmovb {k}, byte ptr [{m} + 2]",
                "vcvtps2pd {x2} {{{k}}}{{z}}, ymmword ptr [{p} + 64]",
                "kmovb {k}, byte ptr [{m} + 3]",
                "vcvtps2pd {x3} {{{k}}}{{z}}, ymmword ptr [{p} + 96]",
            );
        }
    }
    (csr & MXCSR_INEXACT == 0).then(|| _mm512_cvtsd_f64(sum))
}

/// See `Isa::f16_sum`: 16 values per step, converted with the null lanes
/// zeroed by the k-mask (`vcvtph2ps`), widened to `f64` and added into four
/// accumulators (the sum is exact in any order).
///
/// # Safety
///
/// The CPU must support AVX-512 F, BW and VL. That is the only
/// precondition: every load stays within `block` (the last, partial vector
/// is a masked load) and `masks` (a block of more than `BLOCK` values
/// panics).
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
pub unsafe fn f16_sum(block: &[half::f16], masks: Option<&Masks>) -> f64 {
    assert!(block.len() <= BLOCK);
    let at = block.as_ptr() as *const i16;
    let mut sums = [_mm512_setzero_pd(); 4];
    let vectors = block.len().div_ceil(16);
    for j in 0..vectors {
        let n = (block.len() - 16 * j).min(16);
        let valid = match masks {
            None => 0xffff,
            Some(m) => (m[j / 4] >> (16 * (j % 4))) as u16,
        } & (((1u32 << n) - 1) as u16);
        // One 64-byte line per two vectors.
        if j % 2 == 0 {
            super::prefetch_ahead(at.wrapping_add(16 * j) as *const f32, F16_PREFETCH);
        }
        // SAFETY: lanes `n..16` are masked off, so only the `n` values
        // from `16 * j` on, all inside `block`, are read.
        let h = unsafe { _mm256_maskz_loadu_epi16(valid, at.add(16 * j)) };
        let f = _mm512_maskz_cvtph_ps(valid, h);
        let low = _mm512_cvtps_pd(_mm512_castps512_ps256(f));
        let high = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(f))));
        let k = 2 * (j % 2);
        sums[k] = _mm512_add_pd(sums[k], low);
        sums[k + 1] = _mm512_add_pd(sums[k + 1], high);
    }
    let all = _mm512_add_pd(_mm512_add_pd(sums[0], sums[1]), _mm512_add_pd(sums[2], sums[3]));
    _mm512_reduce_add_pd(all)
}

/// How far ahead of the loads [`f16_sum`] prefetches, in bytes.
const F16_PREFETCH: usize = 2048;

/// `portable::integer_sum` compiled for AVX-512.
///
/// # Safety
///
/// The CPU must support AVX-512 F, BW, VL and DQ, and AVX2.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2")]
pub unsafe fn integer_sum<T: crate::kernel::Native>(
    values: &[T],
    validity: Option<crate::kernel::Validity<'_>>,
) -> (i128, u64) {
    super::super::portable::integer_sum(values, validity)
}

/// See `Isa::f64_split_sum` and `portable::f64_split_sum` (the argument):
/// 8 lanes, the validity bits as k-masks, the last group a masked load.
///
/// # Safety
///
/// The CPU must support AVX-512 F. That is the only precondition: every
/// load stays within `block` (masked loads past its end read nothing) and
/// `masks` (a block of more than `BLOCK` values panics).
#[target_feature(enable = "avx512f")]
pub unsafe fn f64_split_sum(block: &[f64], masks: Option<&Masks>) -> Option<[f64; 2]> {
    assert!(block.len() <= BLOCK);
    match masks {
        None if block.len() == BLOCK => f64_split_impl::<false>(block, None),
        _ => f64_split_impl::<true>(block, masks),
    }
}

/// [`f64_split_sum`]; without `MASKED`, a whole block of valid values
/// (plain loads).
#[inline]
#[target_feature(enable = "avx512f")]
fn f64_split_impl<const MASKED: bool>(block: &[f64], masks: Option<&Masks>) -> Option<[f64; 2]> {
    assert!(block.len() <= BLOCK && (MASKED || block.len() == BLOCK));
    let at = block.as_ptr();
    let groups = block.len().div_ceil(8);
    let load = |g: usize| -> __m512d {
        if MASKED {
            let n = (block.len() - 8 * g).min(8);
            let valid = match masks {
                None => 0xff,
                Some(m) => (m[g / 8] >> (8 * (g % 8))) as u8,
            };
            // SAFETY: the lanes past the block's end are masked off.
            unsafe { _mm512_maskz_loadu_pd(valid & ((1u16 << n) - 1) as u8, at.add(8 * g)) }
        } else {
            // SAFETY: without `MASKED` the block holds `BLOCK` values, and
            // `8 * g + 8 <= BLOCK`.
            unsafe { _mm512_loadu_pd(at.add(8 * g)) }
        }
    };
    // First pass: the largest and smallest nonzero valid magnitudes, as bits.
    let magnitude = _mm512_set1_epi64(i64::MAX);
    let (mut high0, mut high1) = (_mm512_setzero_si512(), _mm512_setzero_si512());
    let (mut low0, mut low1) = (_mm512_set1_epi64(-1), _mm512_set1_epi64(-1));
    for g in (0..groups).step_by(2) {
        if g % 8 == 0 {
            super::prefetch_ahead(at.wrapping_add(8 * g) as *const f32, F64_PREFETCH);
        }
        let a = _mm512_and_si512(_mm512_castpd_si512(load(g)), magnitude);
        high0 = _mm512_max_epu64(high0, a);
        low0 = _mm512_mask_min_epu64(low0, _mm512_test_epi64_mask(a, a), low0, a);
        if g + 1 < groups {
            let a = _mm512_and_si512(_mm512_castpd_si512(load(g + 1)), magnitude);
            high1 = _mm512_max_epu64(high1, a);
            low1 = _mm512_mask_min_epu64(low1, _mm512_test_epi64_mask(a, a), low1, a);
        }
    }
    let top = _mm512_reduce_max_epu64(_mm512_max_epu64(high0, high1));
    let bottom = _mm512_reduce_min_epu64(_mm512_min_epu64(low0, low1));
    let sigma = match super::super::portable::f64_sigma(top, bottom) {
        Ok(sigma) => _mm512_set1_pd(sigma),
        Err(sum) => return sum,
    };
    // Second pass (in L1): the grid and the remainders, two accumulators
    // each.
    let zero = _mm512_setzero_pd();
    let (mut sum0, mut sum1, mut rest0, mut rest1) = (zero, zero, zero, zero);
    for g in (0..groups).step_by(2) {
        let x = load(g);
        let q = _mm512_sub_pd(_mm512_add_pd(sigma, x), sigma);
        sum0 = _mm512_add_pd(sum0, q);
        rest0 = _mm512_add_pd(rest0, _mm512_sub_pd(x, q));
        if g + 1 < groups {
            let x = load(g + 1);
            let q = _mm512_sub_pd(_mm512_add_pd(sigma, x), sigma);
            sum1 = _mm512_add_pd(sum1, q);
            rest1 = _mm512_add_pd(rest1, _mm512_sub_pd(x, q));
        }
    }
    Some([
        _mm512_reduce_add_pd(_mm512_add_pd(sum0, sum1)),
        _mm512_reduce_add_pd(_mm512_add_pd(rest0, rest1)),
    ])
}

/// How far ahead of the loads [`f64_split_sum`] prefetches, in bytes.
const F64_PREFETCH: usize = 2048;
