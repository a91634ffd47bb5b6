//! The block pass with AVX-512 F: 16 lanes; a 16-bit slice of the validity
//! bitmap is the lane mask (`__mmask16`) as it is.

use std::arch::x86_64::*;

use super::super::{portable, Masks};
use crate::kernel::exponent_bins::Bins;
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
/// The CPU must support AVX-512 F.
/// That is the only precondition: every load stays within `block` and
/// `masks`, whatever their lengths (a block of more than `BLOCK` values
/// with masks panics).
#[target_feature(enable = "avx512f")]
pub unsafe fn bin_block(bins: &mut Bins, block: &[f32], masks: Option<&Masks>) {
    assert!(block.len() <= BLOCK);
    if masks.is_none() {
        return portable::bin_values::<{ portable::BIN_PREFETCH }>(bins, block);
    }
    let mut copy = [0f32; BIN_CHUNK];
    for start in (0..block.len()).step_by(BIN_CHUNK) {
        let n = (block.len() - start).min(BIN_CHUNK);
        for j in 0..n.div_ceil(16) {
            _mm_prefetch::<_MM_HINT_T0>(
                block.as_ptr().wrapping_add(start + 16 * j + portable::BIN_PREFETCH / 4) as *const i8,
            );
            let k = lane_mask(block, masks, start / 16 + j);
            // SAFETY: lanes outside `k` are not accessed, and `k` has no lane
            // past the end of `block`; `16 * j + 16 <= BIN_CHUNK`.
            unsafe {
                let v = _mm512_maskz_loadu_epi32(k, block.as_ptr().add(start + 16 * j) as *const i32);
                _mm512_storeu_si512(copy.as_mut_ptr().add(16 * j) as *mut _, v);
            }
        }
        portable::bin_values::<0>(bins, &copy[..n]);
    }
}
