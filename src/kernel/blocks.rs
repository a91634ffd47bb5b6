//! The block kernel: exact sums at vector speed.
//!
//! Values are taken in blocks of [`BLOCK`] (2^11). Biased exponents `e`
//! (`0..=254` for finite values) are grouped into 16 **windows** of 16
//! binades: window `w` holds `e` in `16w..=16w + 15` (the geometry is named
//! once, in [`super::geometry`]). Within one window, plain `f64` additions
//! are exact, by this bit budget:
//!
//! - every value in window `w` is a multiple of `u = 2^(max(16w, 1) - 150)`
//!   (the spacing of its lowest binade; subnormals share the spacing of
//!   `e = 1`) and has magnitude below `2^(16w + 15 - 126) <= 2^39 · u`, i.e.
//!   24 significand bits shifted by at most 15 binades;
//! - any partial sum of at most `2^11` of them is a multiple of `u` below
//!   `2^(24 + 15 + 11) · u = 2^50 · u`;
//! - `50 <= 53`, so every partial sum is representable in `f64`: no addition
//!   rounds, in any order or lane split, and each window's block sum is exact.
//!
//! Which pass starts a block depends on what the previous block held:
//!
//! - **narrow** (most data: uniform, normal, offset): on AVX-512,
//!   [`Isa::flagged_sum`] adds every value as `f64` and asks the processor
//!   whether any addition rounded (its inexact flag). If none did, that sum
//!   is exact: one pass, the least work per value. Otherwise, and on the
//!   other instruction sets, [`Isa::span`] adds every value as `f64` with no
//!   window test, and finds the smallest and largest nonzero magnitude. If
//!   their exponents are at most 18 binades apart, the same bit budget holds
//!   for the whole block (see `SPAN_BINADES`) and the sum is exact. If not,
//!   each window from the smallest to the largest costs one more pass over
//!   the block, which is then in L1 ([`Isa::window_sum`]); windows far apart
//!   go to the next case.
//! - **a few windows** (say `[3e37, 0.75, -3e37]`): [`Isa::scan`] sums the
//!   highest window seen last and reports which windows the block touches;
//!   each other window costs one more pass.
//! - **many windows** (wide-range data, magnitudes `1e-30 … 1e30`):
//!   [`Isa::bin_block`] adds every value, whatever its exponent, to an
//!   integer bin of its sign and exponent (the exponent bins of
//!   [`super::exponent_bins`], Neal's "large accumulator"): one integer add
//!   per value, carries deferred to a flush every `2^20` values and at the
//!   end of the update. The next [`WIDE_RUN`] blocks go straight to the bins;
//!   then the span pass looks again, so that data that become narrow return
//!   to the cheapest pass.
//!
//! The guess only chooses the passes; every block's values are summed
//! exactly whichever guess was made. Each window sum goes into the
//! [`ExactSum`](crate::ExactSum) once per block, the bins once per flush. A
//! block holding NaN or an infinity (exponent 255) is counted value by value
//! instead (in the bin pass, only its specials are). Null slots are masked
//! to `+0.0` inside the passes, so whatever they hold is never read into
//! the result.
//!
//! Every path here is bitwise equal to [`super::reference`]; the tests check
//! it on adversarial data for every instruction set the machine supports.

use arrow_buffer::bit_chunk_iterator::BitChunks;

use super::arch::{default_float_environment, subnormals_read_as_zero, Isa, Masks};
use super::native::{
    add_f64_to_wide, add_scaled_f64_to_wide, F64Bins, Tally, F64_SQUARE_LIMBS, F64_SUM_LIMBS,
};
use super::wide::Wide;
use super::exponent_bins::{count_specials, ExponentBins};
pub use super::geometry::BLOCK;
use super::geometry::{
    window_of, BLOCK_BITS, MASK_WORDS, SIGNIFICAND_BITS, WINDOW_BINADES,
};
use super::{MeanState, Validity};
/// How many binades apart the largest and smallest nonzero values of a block
/// may be for [`Isa::span`]'s plain `f64` sum to be exact. With biased
/// exponents `e_lo <= e_hi` (`e_lo` at least 1: subnormals share its
/// spacing), every value is a multiple of `u = 2^(e_lo - 150)` and below
/// `2^(e_hi - 126)`, so any partial sum of at most `2^11` values is a
/// multiple of `u` below `2^(e_hi - e_lo + 35) · u`: representable in `f64`
/// while `e_hi - e_lo + 35 <= 53`.
const SPAN_BINADES: u32 = 53 - 24 - BLOCK_BITS;
const _: () = assert!(SPAN_BINADES >= WINDOW_BINADES - 1);
/// From this many windows besides the predicted one, one pass that sums all
/// windows at once beats one pass per window.
const MANY_WINDOWS: u32 = 3;
/// Largest biased exponent: NaN and infinities.
const SPECIAL_EXPONENT: u32 = 255;

/// Adds `values` (with `validity` covering exactly these values) to `state`,
/// with the best instruction set of this machine.
///
/// # Example
///
/// ```
/// use mapmean::{kernel::blocks, MeanState};
/// let values: Vec<f32> = (0..10_000).map(|i| i as f32).collect();
/// let mut state = MeanState::default();
/// blocks::update(&mut state, &values, None);
/// assert_eq!(state.finish(), Some(4999.5));
/// ```
pub fn update(state: &mut MeanState, values: &[f32], validity: Option<Validity<'_>>) {
    update_with(Isa::detect(), state, values, validity);
}

/// [`update`] with a chosen instruction set (one this machine supports: an
/// [`Isa`] cannot be anything else), for tests and benchmarks that compare
/// the code paths.
///
/// # Example
///
/// ```
/// use mapmean::{kernel::{arch::Isa, blocks}, MeanState};
/// let values = vec![0.1_f32; 5000];
/// let states: Vec<MeanState> = Isa::supported()
///     .iter()
///     .map(|&isa| {
///         let mut state = MeanState::default();
///         blocks::update_with(isa, &mut state, &values, None);
///         state
///     })
///     .collect();
/// assert!(states.windows(2).all(|w| w[0] == w[1]));
/// ```
pub fn update_with(
    isa: Isa,
    state: &mut MeanState,
    values: &[f32],
    validity: Option<Validity<'_>>,
) {
    let mut guess = Guess::Narrow { flagged: true };
    // Under a floating-point environment that reads subnormals as zero, the
    // blocks that hold one go to the bins (see `subnormals_read_as_zero`).
    let flushed = subnormals_read_as_zero();
    // Made at the first wide block (on the heap: 16 KiB that narrow data
    // never touch), flushed at the end.
    let mut bins: Option<Box<ExponentBins>> = None;
    for MaskedBlock { block, masks, valid, .. } in masked_blocks(values, validity) {
        state.count += valid;
        state.null_count += block.len() as u64 - valid;
        if valid == 0 {
            continue;
        }
        guess = block_update(isa, state, block, masks.as_ref(), guess, flushed, &mut bins);
    }
    if let Some(bins) = &mut bins {
        bins.flush_into(&mut state.exact_sum);
    }
}

/// Adds Float16 `values` (with `validity` covering exactly these values) to
/// `state`: one pass per block of [`BLOCK`] values sums them in `f64`, which
/// is exact for Float16 ([`Isa::f16_sum`]); a block whose sum is not finite
/// holds a NaN or an infinity and is counted value by value.
pub(crate) fn update_f16(
    isa: Isa,
    state: &mut MeanState,
    values: &[half::f16],
    validity: Option<Validity<'_>>,
) {
    // The x86-64 conversions might read subnormal Float16 as zero under
    // such an environment; the portable pass converts by integer arithmetic.
    let isa = if subnormals_read_as_zero() {
        Isa::PORTABLE
    } else {
        isa
    };
    for MaskedBlock { block, masks, valid, .. } in masked_blocks(values, validity) {
        state.count += valid;
        state.null_count += block.len() as u64 - valid;
        if valid == 0 {
            continue;
        }
        let sum = isa.f16_sum(block, masks.as_ref());
        if sum.is_finite() {
            state.exact_sum.add_f64(sum);
        } else {
            block_with_specials(state, block, masks.as_ref(), f32::from);
        }
    }
}

/// Adds the valid Float64 `values` (with `validity` covering exactly these
/// values) to `sum`, and their squares to `squares` if it is given, counting
/// them in `tally`: each block of [`BLOCK`] values through
/// [`Isa::f64_split_sum`] or, with squares, [`Isa::f64_split_moments`] (two
/// passes in L1, exact), or, for a block the pass declines (NaN or
/// infinities, a range of more than about 30 binades below the largest
/// value, for the sum alone the ends of the exponent range), the exponent
/// bins (so do up to 31 blocks after declined ones, untried). Outside the
/// default floating-point environment, all blocks go to the bins.
pub(crate) fn update_f64(
    isa: Isa,
    values: &[f64],
    validity: Option<Validity<'_>>,
    tally: &mut Tally,
    sum: &mut Wide<F64_SUM_LIMBS>,
    mut squares: Option<&mut Wide<F64_SQUARE_LIMBS>>,
    bins: &mut F64Bins,
) {
    if !default_float_environment() {
        bins.add(isa, values, validity, tally, sum, squares);
        return;
    }
    // After a declined block, the next `skip` blocks go to the bins without
    // a try (1, 2, 4 … up to `MAX_SKIP` after declines in a row): data that
    // is wide throughout pays for a split pass on few of its blocks.
    const MAX_SKIP: u32 = 31;
    let (mut skip, mut skipping) = (0u32, 0u32);
    for MaskedBlock { start, block, masks, valid } in masked_blocks(values, validity) {
        if valid == 0 {
            continue;
        }
        let done = if skipping > 0 {
            skipping -= 1;
            false
        } else {
            let done = match squares.as_deref_mut() {
                None => isa.f64_split_sum(block, masks.as_ref()).map(|parts| {
                    for part in parts {
                        add_f64_to_wide(sum, part);
                    }
                }),
                Some(sq) => isa.f64_split_moments(block, masks.as_ref()).map(|found| {
                    for part in found.sum {
                        add_scaled_f64_to_wide(sum, part, found.scale + 1074);
                    }
                    for part in found.squares {
                        add_scaled_f64_to_wide(sq, part, 2 * found.scale + 2148);
                    }
                }),
            }
            .is_some();
            skip = if done { 0 } else { (2 * skip + 1).min(MAX_SKIP) };
            skipping = skip;
            done
        };
        if done {
            tally.valid += valid;
        } else {
            let validity = validity.map(|v| v.shifted(start));
            bins.add_pending(isa, block, validity, tally, sum, squares.as_deref_mut());
        }
    }
    bins.flush(sum, squares);
}

/// One block of [`masked_blocks`].
struct MaskedBlock<'a, T> {
    /// Where the block starts in the values.
    start: usize,
    /// Its values, at most [`BLOCK`].
    block: &'a [T],
    /// Its validity masks; `None` when every value is valid.
    masks: Option<Masks>,
    /// How many of its values are valid.
    valid: u64,
}

/// `values` in blocks of [`BLOCK`], each with its validity masks (only
/// where some value is null) and its count of valid values: the one walk
/// over blocks that the Float32, Float16 and Float64 drivers share.
fn masked_blocks<'a, T>(
    values: &'a [T],
    validity: Option<Validity<'a>>,
) -> impl Iterator<Item = MaskedBlock<'a, T>> + 'a {
    values.chunks(BLOCK).enumerate().map(move |(index, block)| {
        let start = index * BLOCK;
        let masks = validity.map(|validity| block_masks(validity, start, block.len()));
        let valid = match &masks {
            None => block.len() as u64,
            Some(masks) => masks.iter().map(|m| u64::from(m.count_ones())).sum(),
        };
        let masks = masks.filter(|_| valid < block.len() as u64);
        MaskedBlock {
            start,
            block,
            masks,
            valid,
        }
    })
}

/// The validity masks of the `len` values from `start` on; bits past `len`
/// are zero.
#[inline]
fn block_masks(validity: Validity<'_>, start: usize, len: usize) -> Masks {
    debug_assert!(len <= BLOCK);
    let start = validity.offset + start;
    let mut masks: Masks = [0; MASK_WORDS];
    if !start.is_multiple_of(8) {
        let chunks = BitChunks::new(validity.bits, start, len);
        for (mask, word) in masks.iter_mut().zip(chunks.iter_padded()) {
            *mask = word;
        }
        return masks;
    }
    // Byte-aligned (the common case: arrays that are not slices): the
    // bitmap's bytes are the masks' bytes, little endian.
    let bytes = &validity.bits[start / 8..(start + len).div_ceil(8)];
    let (words, rest) = bytes.as_chunks::<8>();
    for (mask, &word) in masks.iter_mut().zip(words) {
        *mask = u64::from_le_bytes(word);
    }
    if !rest.is_empty() {
        let mut last = [0u8; 8];
        last[..rest.len()].copy_from_slice(rest);
        masks[bytes.len() / 8] = u64::from_le_bytes(last);
    }
    if !len.is_multiple_of(64) {
        masks[len / 64] &= (1 << (len % 64)) - 1;
    }
    masks
}

/// Which pass the kernel starts the next block with, from what the last
/// block held.
#[derive(Clone, Copy, Debug)]
enum Guess {
    /// Values at most [`SPAN_BINADES`] binades apart: [`Isa::span`], which
    /// sums without selecting; with `flagged`, [`Isa::flagged_sum`] first
    /// (not after a block whose sum it could not prove exact, which will
    /// likely need the window passes again).
    Narrow { flagged: bool },
    /// Values in a few windows, the highest of them this one: [`Isa::scan`],
    /// which sums that window and tells which others hold values.
    Spread(u32),
    /// Values in many windows: [`Isa::bin_block`] straight away, for this
    /// many more blocks before the span pass looks again.
    Wide(u32),
}

/// After a wide block, this many blocks go straight to the bins before the
/// span pass looks again whether the data have become narrow (the bin pass
/// does not measure the block's range: it would cost more than the look).
const WIDE_RUN: u32 = 16;

/// One block; `state.count` and `state.null_count` are already updated.
/// Returns the guess for the next block.
#[inline(always)]
fn block_update(
    isa: Isa,
    state: &mut MeanState,
    block: &[f32],
    masks: Option<&Masks>,
    guess: Guess,
    flushed: bool,
    bins: &mut Option<Box<ExponentBins>>,
) -> Guess {
    match guess {
        Guess::Narrow { flagged } => {
            narrow_block_update(isa, state, block, masks, flagged, flushed, bins)
        }
        // The look after a run of wide blocks: most likely still wide, so
        // not worth the flagged pass first.
        Guess::Wide(0) => narrow_block_update(isa, state, block, masks, false, flushed, bins),
        Guess::Spread(window) => {
            spread_block_update(isa, state, block, masks, window, flushed, bins)
        }
        Guess::Wide(left) => {
            binned_block_update(isa, state, block, masks, bins);
            Guess::Wide(left - 1)
        }
    }
}

/// A block expected to be narrow: with `flagged`, one pass that sums every
/// value, exact when the processor saw no addition round
/// ([`Isa::flagged_sum`]); if that fails or is not available, one pass
/// that sums every value and finds the smallest and largest nonzero
/// magnitude. When their exponents are at most [`SPAN_BINADES`] apart, that
/// sum is exact; otherwise the block's windows are summed by further passes
/// over it, in L1. With `flushed` (subnormals read as zero), a block that
/// holds a subnormal goes to the bins.
#[inline(always)]
fn narrow_block_update(
    isa: Isa,
    state: &mut MeanState,
    block: &[f32],
    masks: Option<&Masks>,
    flagged: bool,
    flushed: bool,
    bins: &mut Option<Box<ExponentBins>>,
) -> Guess {
    if let Some(sum) = flagged
        .then(|| isa.flagged_sum(block, masks))
        .flatten()
        .filter(|sum| sum.is_finite())
    {
        state.exact_sum.add_f64(sum);
        return Guess::Narrow { flagged: true };
    }
    let span = isa.span(block, masks);
    if span.high >> SIGNIFICAND_BITS == SPECIAL_EXPONENT {
        block_with_specials(state, block, masks, |x| x);
        return Guess::Narrow { flagged };
    }
    if span.low == 0 {
        // Only zeros: nothing to add.
        return Guess::Narrow { flagged };
    }
    if flushed && span.low >> SIGNIFICAND_BITS == 0 {
        // A subnormal, which every `f64` pass would read as zero (the
        // magnitudes are integer comparisons, right in any environment).
        binned_block_update(isa, state, block, masks, bins);
        return Guess::Narrow { flagged };
    }
    // Exponents at most SPAN_BINADES apart: the sum is exact (see there).
    if span.high >> SIGNIFICAND_BITS <= (span.low >> SIGNIFICAND_BITS).max(1) + SPAN_BINADES {
        state.exact_sum.add_f64(span.sum);
        // The flagged pass would have proved it too, unless it just failed
        // (under MXCSR controls it does not run with).
        return Guess::Narrow { flagged: !flagged };
    }
    let (low, high) = (window_of(span.low), window_of(span.high));
    if high - low < MANY_WINDOWS {
        // A few neighbouring windows (some perhaps empty): one pass each.
        for window in low..=high {
            state.exact_sum.add_f64(isa.window_sum(block, masks, window));
        }
        Guess::Narrow { flagged: false }
    } else {
        // Windows far apart: find which are in between.
        spread_block_update(isa, state, block, masks, high, flushed, bins)
    }
}

/// A block expected to hold values in a few windows, the highest `window`:
/// one pass sums that window and finds the others, then one pass per other
/// window, or one pass into the bins when there are many. With `flushed`
/// (subnormals read as zero), a block with values in window 0, where the
/// subnormals lie, goes to the bins too.
#[inline(always)]
fn spread_block_update(
    isa: Isa,
    state: &mut MeanState,
    block: &[f32],
    masks: Option<&Masks>,
    window: u32,
    flushed: bool,
    bins: &mut Option<Box<ExponentBins>>,
) -> Guess {
    let scan = isa.scan(block, masks, window);
    if scan.max_exponent == SPECIAL_EXPONENT {
        block_with_specials(state, block, masks, |x| x);
        return Guess::Spread(window);
    }
    let mut others = scan.windows & !(1 << window);
    if others.count_ones() >= MANY_WINDOWS {
        binned_block_update(isa, state, block, masks, bins);
        return Guess::Wide(WIDE_RUN);
    }
    if flushed && scan.windows & 1 != 0 {
        binned_block_update(isa, state, block, masks, bins);
        return guess_from(scan.windows);
    }
    state.exact_sum.add_f64(scan.sum);
    while others != 0 {
        let other = others.trailing_zeros();
        others &= others - 1;
        state.exact_sum.add_f64(isa.window_sum(block, masks, other));
    }
    guess_from(scan.windows)
}

/// A block of values in many windows: one pass adds every value to the
/// exponent bins ([`Isa::bin_block`]), flushed into `state.sum` when full
/// and at the end of the update. NaN and infinities have the exponent 255
/// and land in bins 255 and 511, which no finite value reaches: when those
/// hold anything, they are emptied and the block's specials counted.
#[inline(always)]
fn binned_block_update(
    isa: Isa,
    state: &mut MeanState,
    block: &[f32],
    masks: Option<&Masks>,
    bins: &mut Option<Box<ExponentBins>>,
) {
    let bins = bins.get_or_insert_with(|| Box::new(ExponentBins::new()));
    bins.reserve(block.len(), &mut state.exact_sum);
    isa.bin_block(&mut bins.bins, block, masks);
    if bins.has_specials() {
        bins.clear_specials();
        count_specials(state, block, masks);
    }
}

/// The guess after a block that held values in `windows`.
fn guess_from(windows: u16) -> Guess {
    match windows.count_ones() {
        0 | 1 => Guess::Narrow { flagged: true },
        n if n > MANY_WINDOWS => Guess::Wide(WIDE_RUN),
        // The highest window present.
        _ => Guess::Spread(u16::BITS - 1 - windows.leading_zeros()),
    }
}

/// A block that holds NaN or an infinity: one value at a time (rare).
#[cold]
fn block_with_specials<T: Copy>(
    state: &mut MeanState,
    block: &[T],
    masks: Option<&Masks>,
    to_f32: impl Fn(T) -> f32,
) {
    for (j, &x) in block.iter().enumerate() {
        if masks.is_none_or(|m| (m[j / 64] >> (j % 64)) & 1 == 1) {
            // `count` was added for the whole block already.
            state.count -= 1;
            super::reference::add_valid(state, to_f32(x));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::geometry::WINDOWS;
    use crate::kernel::reference;
    use crate::kernel::ExactSum;
    use arrow_buffer::{BooleanBuffer, NullBuffer};
    use proptest::prelude::*;

    /// The state from the fastest instruction set and from the reference,
    /// after checking that every supported instruction set agrees bitwise.
    fn both(values: &[f32], nulls: Option<&NullBuffer>) -> (MeanState, MeanState) {
        let validity = nulls.map(Validity::from_nulls);
        let mut slow = MeanState::default();
        reference::update(&mut slow, values, validity);
        let mut states = Isa::variants().into_iter().map(|isa| {
            let mut state = MeanState::default();
            update_with(isa, &mut state, values, validity);
            (isa, state)
        });
        let (_, fast) = states.next().unwrap();
        for (isa, state) in states {
            assert_eq!(state, fast, "{isa:?} differs from {:?}", Isa::detect());
        }
        // The passes themselves agree, for every window (as values: NaN
        // payloads and the sign of a zero sum may differ between lane splits).
        let same = |a: f64, b: f64| a == b || (a.is_nan() && b.is_nan());
        for block in values.chunks(BLOCK) {
            for window in 0..WINDOWS as u32 {
                let passes: Vec<_> = Isa::supported()
                    .iter()
                    .map(|&isa| {
                        (
                            isa.scan(block, None, window),
                            isa.window_sum(block, None, window),
                        )
                    })
                    .collect();
                let (first, _) = passes[0];
                for &(scan, sum) in &passes {
                    assert!(same(scan.sum, sum) && same(sum, first.sum), "{passes:?}");
                    assert_eq!(
                        (scan.windows, scan.max_exponent),
                        (first.windows, first.max_exponent)
                    );
                }
            }
            // The span passes agree on the magnitudes, and on the sum where
            // it is exact (one window), also against the exact window sum.
            let spans: Vec<_> = Isa::supported()
                .iter()
                .map(|isa| isa.span(block, None))
                .collect();
            let first = spans[0];
            for span in &spans {
                assert_eq!((span.low, span.high), (first.low, first.high));
                if span.low != 0
                    && window_of(span.low) == window_of(span.high)
                    && span.high < 0x7f80_0000
                {
                    let exact = Isa::PORTABLE.window_sum(block, None, window_of(span.high));
                    assert!(same(span.sum, exact), "{spans:?} {exact}");
                }
            }
        }
        (fast, slow)
    }

    /// Adversarial f32s: any bit pattern, biased towards extremes.
    fn any_f32() -> impl Strategy<Value = f32> {
        prop_oneof![
            any::<u32>().prop_map(f32::from_bits),
            (-1.0e6f32..1.0e6f32),
            Just(f32::MAX),
            Just(-f32::MAX),
            Just(f32::from_bits(1)),
            Just(0.75),
            Just(3e37),
            Just(-3e37),
        ]
    }

    proptest! {
        #[test]
        fn block_kernel_equals_reference(
            values in proptest::collection::vec(any_f32(), 0..5000),
            validity in proptest::collection::vec(any::<bool>(), 5000),
            offset in 0usize..70,
        ) {
            let (fast, slow) = both(&values, None);
            prop_assert_eq!(fast, slow);
            // Validity at a bit offset: slice a longer bitmap.
            let buffer = BooleanBuffer::from(&validity[..]);
            let nulls = NullBuffer::new(buffer.slice(offset.min(5000 - values.len().min(5000)), values.len()));
            let (fast, slow) = both(&values, Some(&nulls));
            prop_assert_eq!(fast, slow);
        }
    }

    /// Float16 values: every state from `update_f16` (each instruction set,
    /// and under a floating-point environment reading subnormals as zero)
    /// equals the reference's state for the same values as `f32`.
    fn check_f16(halves: &[half::f16], nulls: Option<&NullBuffer>) {
        let validity = nulls.map(Validity::from_nulls);
        let wide: Vec<f32> = halves.iter().map(|&h| f32::from(h)).collect();
        let mut expected = MeanState::default();
        reference::update(&mut expected, &wide, validity);
        for &isa in Isa::supported() {
            let mut state = MeanState::default();
            update_f16(isa, &mut state, halves, validity);
            assert_eq!(state, expected, "{isa:?}");
            #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
            {
                let mut state = MeanState::default();
                crate::kernel::arch::with_subnormals_read_as_zero(|| {
                    update_f16(isa, &mut state, halves, validity)
                });
                assert_eq!(state, expected, "{isa:?}, subnormals read as zero");
            }
        }
    }

    /// Any Float16 bit pattern, mostly finite, with runs near the extremes
    /// (subnormals, the largest value).
    fn any_f16() -> impl Strategy<Value = half::f16> {
        prop_oneof![
            8 => (0u16..0x7c00, any::<bool>()).prop_map(|(b, neg)| b | u16::from(neg) << 15),
            2 => (0u16..0x400, any::<bool>()).prop_map(|(b, neg)| b | u16::from(neg) << 15),
            2 => (0x7b00u16..0x7c00, any::<bool>()).prop_map(|(b, neg)| b | u16::from(neg) << 15),
            1 => any::<u16>(),
        ]
        .prop_map(half::f16::from_bits)
    }

    proptest! {
        #[test]
        fn f16_blocks_equal_reference(
            halves in proptest::collection::vec(any_f16(), 0..5000),
            validity in proptest::collection::vec(any::<bool>(), 5000),
            offset in 0usize..70,
        ) {
            check_f16(&halves, None);
            let buffer = BooleanBuffer::from(&validity[..]);
            let start = offset.min(5000 - halves.len());
            let nulls = NullBuffer::new(buffer.slice(start, halves.len()));
            check_f16(&halves, Some(&nulls));
        }
    }

    #[test]
    fn f16_blocks_of_the_largest_values_and_of_every_pattern_are_exact() {
        // 3 blocks of ±65504 (sums up to 2048 · 65504 < 2^27), of the
        // smallest subnormal, and every bit pattern once (NaN and
        // infinities included, so some blocks go value by value).
        let max = half::f16::MAX;
        check_f16(&vec![max; 3 * BLOCK + 5], None);
        check_f16(&vec![-max; 3 * BLOCK + 5], None);
        check_f16(&vec![half::f16::from_bits(1); 3 * BLOCK + 5], None);
        let every: Vec<half::f16> = (0..=u16::MAX).map(half::f16::from_bits).collect();
        check_f16(&every, None);
        let finite: Vec<half::f16> = every.iter().copied().filter(|h| h.is_finite()).collect();
        check_f16(&finite, None);
        for bits in 0..=u16::MAX {
            let h = half::f16::from_bits(bits);
            let exact = crate::kernel::arch::portable::f16_value(bits);
            assert!(exact.to_bits() == f64::from(h).to_bits() || (exact.is_nan() && h.is_nan()), "{bits:#x}");
        }
    }

    /// `update_f64` with every instruction set (and under an environment
    /// reading subnormals as zero, where every block goes to the bins) gives
    /// the same sum, squares and tally as the exponent bins alone: for the
    /// sum alone (the split sum pass) and with the squares (the split
    /// moments pass).
    fn check_f64(values: &[f64], nulls: Option<&NullBuffer>) {
        use crate::kernel::native::with_f64_bins;
        let validity = nulls.map(Validity::from_nulls);
        let run = |isa: Option<Isa>, with_squares: bool| {
            let mut tally = Tally::default();
            let mut sum = Wide::<F64_SUM_LIMBS>::default();
            let mut squares = Wide::<F64_SQUARE_LIMBS>::default();
            let sq = with_squares.then_some(&mut squares);
            with_f64_bins(with_squares, |bins| match isa {
                Some(isa) => update_f64(isa, values, validity, &mut tally, &mut sum, sq, bins),
                None => bins.add(Isa::PORTABLE, values, validity, &mut tally, &mut sum, sq),
            });
            (tally, sum, squares)
        };
        for with_squares in [false, true] {
            let expected = run(None, with_squares);
            for &isa in Isa::supported() {
                assert_eq!(run(Some(isa), with_squares), expected, "{isa:?}, squares {with_squares}");
                #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
                {
                    let flushed =
                        crate::kernel::arch::with_subnormals_read_as_zero(|| run(Some(isa), with_squares));
                    assert_eq!(flushed, expected, "{isa:?}, squares {with_squares}, subnormals read as zero");
                }
            }
        }
    }

    /// Float64 values of one data shape: a narrow range around `1e3`, U[0,1),
    /// a few binades, far-apart magnitudes, subnormals, the largest values,
    /// and any bit pattern now and then.
    fn any_f64() -> impl Strategy<Value = f64> {
        prop_oneof![
            6 => 0.0f64..1.0,
            4 => (-10.0f64..10.0).prop_map(|d| 1e3 + d),
            2 => (any::<u64>(), 0u64..60).prop_map(|(b, e)| f64::from_bits(b & 0x800f_ffff_ffff_ffff | (1000 + e) << 52)),
            1 => (any::<u64>()).prop_map(|b| f64::from_bits(b & 0x800f_ffff_ffff_ffff)),
            1 => (any::<u64>()).prop_map(|b| f64::from_bits(b & 0x800f_ffff_ffff_ffff | 0x7fe << 52)),
            1 => Just(0.0),
            1 => any::<u64>().prop_map(f64::from_bits),
        ]
    }

    proptest! {
        #[test]
        fn f64_split_blocks_equal_the_exponent_bins(
            shape in 0usize..4,
            raw in proptest::collection::vec(any_f64(), 0..5000),
            validity in proptest::collection::vec(any::<bool>(), 5000),
            offset in 0usize..70,
        ) {
            // Shapes: as generated; only U[0,1); only the narrow range; tiny
            // values (subnormal remainders).
            let values: Vec<f64> = match shape {
                1 => raw.iter().map(|x| x.abs().fract()).collect(),
                2 => raw.iter().map(|x| 1e3 + x.abs().fract()).collect(),
                3 => raw.iter().map(|x| if x.is_finite() { x.abs().fract() * 2f64.powi(-1000) } else { 0.0 }).collect(),
                _ => raw,
            };
            check_f64(&values, None);
            let buffer = BooleanBuffer::from(&validity[..]);
            let nulls = NullBuffer::new(buffer.slice(offset.min(5000 - values.len()), values.len()));
            check_f64(&values, Some(&nulls));
        }
    }

    #[test]
    fn f64_blocks_skipped_after_declined_ones_equal_the_exponent_bins() {
        // Runs of wide blocks (declined, then skipped untried) and of narrow
        // ones (split), and blocks alternating: every skip length, and a
        // narrow block inside a skipped run.
        let mut seed = 0x853c_49e6_748f_ea9b_u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let kinds = [true; 40].into_iter().chain([false; 20]).chain((0..60).map(|i| i % 3 == 0));
        let mut values = Vec::new();
        for wide in kinds {
            values.extend((0..BLOCK).map(|_| {
                let r = next();
                if wide {
                    f64::from_bits(r & 0x800f_ffff_ffff_ffff | ((r >> 20) % 2000 + 20) << 52)
                } else {
                    1e3 + (r >> 11) as f64 * 2f64.powi(-53)
                }
            }));
        }
        check_f64(&values, None);
        let nulls = NullBuffer::from_iter((0..values.len()).map(|i| i % 5 != 1));
        check_f64(&values, Some(&nulls));
    }

    #[test]
    fn f64_split_blocks_at_the_edges_of_their_bounds() {
        // Whole blocks of the largest magnitude of a binade (every q at its
        // bound), of both signs; values one grid step apart; the largest
        // double (σ would overflow: bins); the smallest normals.
        let top = f64::from_bits(0x3fef_ffff_ffff_ffff);
        check_f64(&vec![top; 3 * BLOCK + 7], None);
        check_f64(&vec![-top; 3 * BLOCK + 7], None);
        let mixed: Vec<f64> = (0..3 * BLOCK).map(|i| if i % 2 == 0 { top } else { -1.0 + f64::EPSILON }).collect();
        check_f64(&mixed, None);
        let steps: Vec<f64> = (0..BLOCK).map(|i| 1.0 + (i as f64) * 2f64.powi(-40)).collect();
        check_f64(&steps, None);
        // Remainders at their largest, all of one sign (0.75 + 2^-42 - 2^-53
        // rounds down to 0.75 on the grid of 2^-41), beside one value with
        // every fraction bit set 30 binades below the largest (the
        // remainders' sum needs exactly 53 bits: split), 31 and 33 (bins).
        let base = 0.75 + 2f64.powi(-42) - 2f64.powi(-53);
        for binades in [30, 31, 33] {
            let mut far = vec![base; BLOCK];
            far[17] = f64::from_bits((0.75f64.to_bits() - (binades << 52)) | 0xf_ffff_ffff_ffff);
            check_f64(&far, None);
        }
        check_f64(&vec![f64::MAX; 100], None);
        check_f64(&vec![f64::MIN_POSITIVE; 3000], None);
        check_f64(&[1.0, f64::NAN, 2.0, f64::INFINITY, -1.0], None);
    }

    #[test]
    fn f64_moment_blocks_at_the_edges_of_their_bounds() {
        // The split moments pass scales each block by a power of two: the
        // largest doubles (a subnormal factor), the smallest normals and
        // subnormals alone (a factor near 2^1021), subnormals beside values
        // 30 binades up, and every fraction bit set at 30 binades apart
        // (the squares' remainders at their widest), of both signs.
        check_f64(&vec![f64::MAX; 3 * BLOCK + 3], None);
        let extremes: Vec<f64> = (0..BLOCK).map(|i| if i % 3 == 0 { -f64::MAX } else { f64::MAX / 3.0 }).collect();
        check_f64(&extremes, None);
        check_f64(&vec![f64::MIN_POSITIVE; 3000], None);
        let subnormals: Vec<f64> = (1..=3000u64).map(|i| f64::from_bits(i * 0x1_2345_6789)).collect();
        check_f64(&subnormals, None);
        let mut mixed = subnormals.clone();
        for (i, x) in mixed.iter_mut().enumerate().step_by(7) {
            *x = f64::from_bits((31 << 52 | 0xf_ffff_ffff_ffff) ^ (i as u64 % 2) << 63);
        }
        check_f64(&mixed, None);
        for binades in [29u64, 30, 31] {
            let all_bits = 0x3fef_ffff_ffff_ffff_u64;
            let far: Vec<f64> = (0..BLOCK as u64)
                .map(|i| {
                    let bits = if i % 5 == 0 { all_bits - (binades << 52) } else { all_bits - i };
                    f64::from_bits(bits ^ (i % 2) << 63)
                })
                .collect();
            check_f64(&far, None);
        }
        // Values whose squares round up to the next binade, and zeros.
        let near_one: Vec<f64> = (0..BLOCK as u64).map(|i| f64::from_bits(0x3fef_ffff_ffff_ffff - i % 4)).collect();
        check_f64(&near_one, None);
        check_f64(&vec![0.0; BLOCK], None);
        check_f64(&[-0.0, 0.0, 1e-300, -1e-300], None);
        // The pass takes the common shapes (the comparisons above would
        // hold if it declined every block), and declines the wide ones.
        let narrow: Vec<f64> = (0..BLOCK).map(|i| 1e3 + (i as f64).sin()).collect();
        let uniform: Vec<f64> = (1..=BLOCK).map(|i| (i as f64 * 0.618_034).fract()).collect();
        let mut wide = uniform.clone();
        wide[9] = 1e-10;
        for isa in Isa::variants() {
            assert!(isa.f64_split_moments(&narrow, None).is_some(), "{isa:?}");
            assert!(isa.f64_split_moments(&uniform, None).is_some(), "{isa:?}");
            assert!(isa.f64_split_moments(&wide, None).is_none(), "{isa:?}");
        }
    }

    /// `Isa::integer_sum` of every instruction set against an `i128` sum,
    /// for one integer type.
    fn check_integers<T: crate::kernel::Native>(values: &[T], nulls: Option<&NullBuffer>) {
        let validity = nulls.map(Validity::from_nulls);
        let valid = |i: usize| validity.is_none_or(|v| v.is_valid(i));
        let expected = (
            values.iter().enumerate().filter(|&(i, _)| valid(i)).map(|(_, x)| x.to_i128()).sum::<i128>(),
            (0..values.len()).filter(|&i| valid(i)).count() as u64,
        );
        for &isa in Isa::supported() {
            assert_eq!(isa.integer_sum(values, validity), expected, "{isa:?} {}", T::DATA_TYPE);
        }
    }

    proptest! {
        #[test]
        fn integer_sums_equal_an_i128_sum_for_every_type_and_instruction_set(
            raw in proptest::collection::vec(
                prop_oneof![4 => any::<u64>(), 1 => Just(0u64), 1 => Just(u64::MAX), 1 => Just(1u64 << 63)],
                0..700,
            ),
            validity in proptest::collection::vec(any::<bool>(), 700),
            offset in 0usize..70,
        ) {
            let buffer = BooleanBuffer::from(&validity[..]);
            let nulls = NullBuffer::new(buffer.slice(offset.min(700 - raw.len()), raw.len()));
            macro_rules! each {
                ($($t:ty),*) => {$(
                    let values: Vec<$t> = raw.iter().map(|&x| x as $t).collect();
                    check_integers(&values, None);
                    check_integers(&values, Some(&nulls));
                )*};
            }
            each!(i8, i16, i32, i64, u8, u16, u32, u64);
        }
    }

    #[test]
    fn integer_sums_hold_64_extremes_per_chunk() {
        // Whole chunks of the extremes: each 64-value chunk's lanes at
        // their largest (i64 halves, u64 halves, narrow lanes).
        check_integers(&vec![i64::MIN; 1000], None);
        check_integers(&vec![i64::MAX; 1000], None);
        check_integers(&vec![u64::MAX; 1000], None);
        check_integers(&vec![i32::MIN; 1000], None);
        check_integers(&vec![u32::MAX; 1000], None);
        check_integers(&vec![i16::MIN; 1000], None);
        check_integers(&vec![u16::MAX; 1000], None);
        check_integers(&vec![i8::MIN; 1000], None);
        check_integers(&vec![u8::MAX; 1000], None);
    }

    /// Values in window `window` (any exponent in it, any significand, any
    /// sign), some zeros, and now and then a value from anywhere.
    fn narrow_f32(window: u32) -> impl Strategy<Value = f32> {
        prop_oneof![
            20 => (0u32..16, any::<u32>()).prop_map(move |(e, bits)| {
                let e = (window * WINDOW_BINADES + e).min(254);
                f32::from_bits(bits & 0x807f_ffff | e << 23)
            }),
            2 => Just(0.0f32),
            1 => Just(-0.0f32),
            1 => any_f32(),
        ]
    }

    proptest! {
        #[test]
        fn narrow_blocks_equal_reference(
            values in (0u32..16).prop_flat_map(|w| {
                proptest::collection::vec(narrow_f32(w), 0..7000)
            }),
            validity in proptest::collection::vec(any::<bool>(), 7000),
            offset in 0usize..70,
        ) {
            let (fast, slow) = both(&values, None);
            prop_assert_eq!(fast, slow);
            let buffer = BooleanBuffer::from(&validity[..]);
            let start = offset.min(7000 - values.len());
            let nulls = NullBuffer::new(buffer.slice(start, values.len()));
            let (fast, slow) = both(&values, Some(&nulls));
            prop_assert_eq!(fast, slow);
        }
    }

    #[test]
    fn values_under_nulls_are_never_read() {
        let values = vec![f32::NAN, 1.0, 3e38, 2.0, f32::INFINITY, -3e38];
        let nulls = NullBuffer::from(vec![false, true, false, true, false, false]);
        let (fast, slow) = both(&values, Some(&nulls));
        assert_eq!(fast, slow);
        assert_eq!(fast.finish(), Some(1.5));
        assert_eq!(fast.null_count, 4);
    }

    #[test]
    fn window_edges_and_full_windows_are_exact() {
        // Largest and smallest significands at the top and bottom binade of
        // a window, the binades just outside it, subnormals, and the window
        // predicted wrongly (the first block of each case starts at 1.0's).
        for window in [0u32, 1, 7, 8, 15] {
            let top = window * WINDOW_BINADES + WINDOW_BINADES - 1;
            let bottom = window * WINDOW_BINADES;
            let edge = |e: u32, frac: u32| f32::from_bits(e.min(254) << 23 | frac);
            let mut values = vec![edge(top, 0x7f_ffff); BLOCK];
            for (i, v) in values.iter_mut().enumerate().skip(1) {
                *v = match i % 6 {
                    0 => edge(bottom, 1),
                    1 => -edge(bottom.saturating_sub(1), 0x7f_ffff),
                    2 => f32::from_bits(i as u32), // subnormal
                    3 => edge(top + 1, 0),
                    4 => -edge(top, 0x7f_ffff),
                    _ => edge(top, 0x7f_ffff),
                };
            }
            values.extend_from_within(..BLOCK / 2);
            let (fast, slow) = both(&values, None);
            assert_eq!(fast, slow, "window {window}");
        }
    }

    #[test]
    fn runs_of_wide_blocks_switch_paths_and_find_specials() {
        // Wide blocks (every window) put the kernel on the path without the
        // first scan; then blocks with NaN or an infinity, valid or under a
        // null, a narrow block, and wide blocks again.
        let wide = |seed: u32| -> Vec<f32> {
            (0..BLOCK as u32)
                .map(|i| {
                    let e = (i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 7) % 255;
                    let sign = (i ^ seed) & 1;
                    f32::from_bits(sign << 31 | e << 23 | (i * 7919) & 0x7f_ffff)
                })
                .collect()
        };
        let mut values = Vec::new();
        let mut valid = Vec::new();
        let mut push = |block: Vec<f32>, nulls_at: &[usize]| {
            valid.extend((0..block.len()).map(|i| !nulls_at.contains(&i)));
            values.extend(block);
        };
        push(wide(1), &[]);
        push(wide(2), &[5]);
        let mut with_nan = wide(3);
        with_nan[100] = f32::NAN;
        push(with_nan, &[100]); // NaN under a null: not a special
        let mut with_inf = wide(4);
        with_inf[7] = f32::INFINITY;
        with_inf[9] = f32::NEG_INFINITY;
        push(with_inf, &[]);
        let mut with_inf = wide(5);
        with_inf[2047] = f32::INFINITY;
        push(with_inf, &[]);
        push(vec![1.5; BLOCK], &[]);
        push(wide(6), &[]);
        let mut cancelling = wide(7);
        let half = BLOCK / 2;
        for i in 0..half {
            cancelling[half + i] = -cancelling[i];
        }
        push(cancelling, &[]);
        push(wide(8)[..1000].to_vec(), &[0, 999]);
        let nulls = NullBuffer::from(valid);
        let (fast, slow) = both(&values, Some(&nulls));
        assert_eq!(fast, slow);
        assert!(fast.finish().unwrap().is_nan());
        // Without the infinities, and all valid: the NaN makes the mean NaN.
        let with_nan = [&values[..3 * BLOCK], &values[5 * BLOCK..]].concat();
        let (fast, slow) = both(&with_nan, None);
        assert!(fast.finish().unwrap().is_nan());
        assert_eq!(fast, slow);
        // Without the NaN and the infinities: finite and exact.
        let finite = [&values[..2 * BLOCK], &values[5 * BLOCK..]].concat();
        let (fast, slow) = both(&finite, None);
        assert!(fast.finish().unwrap().is_finite());
        assert_eq!(fast, slow);
    }

    /// Values in every finite binade, both signs, subnormals and zeros: a
    /// block of them goes to the exponent bins.
    fn every_binade(len: usize, seed: u32) -> Vec<f32> {
        (0..len as u32)
            .map(|i| {
                let h = (i ^ seed).wrapping_mul(2_654_435_761).rotate_left(11) ^ seed;
                let e = h % 255;
                f32::from_bits((h & 1) << 31 | e << 23 | (h >> 9) & 0x7f_ffff)
            })
            .collect()
    }

    #[test]
    fn long_wide_runs_flush_the_bins_exactly_and_return_to_narrow_blocks() {
        use crate::kernel::exponent_bins::FLUSH_VALUES;
        // More than one flush interval of wide blocks (the bins flush before
        // a block would pass it, and at the end), with a ragged last block;
        // then narrow blocks (the span pass looks again after a run of wide
        // blocks) and one more wide block.
        let mut values = every_binade(FLUSH_VALUES + 3 * BLOCK + 77, 1);
        values.extend(std::iter::repeat_n(0.1f32, 40 * BLOCK));
        values.extend(every_binade(BLOCK, 2));
        let (fast, slow) = both(&values, None);
        assert_eq!(fast, slow);
        // Under nulls at an odd bit offset, and with specials in the run.
        values[5 * BLOCK + 3] = f32::NAN;
        values[FLUSH_VALUES + 1] = f32::NEG_INFINITY;
        let valid: Vec<bool> = (0..values.len() + 3).map(|i| i % 10 != 7).collect();
        let nulls = NullBuffer::new(BooleanBuffer::from(&valid[..]).slice(3, values.len()));
        let (fast, slow) = both(&values, Some(&nulls));
        assert_eq!(fast, slow);
        assert_eq!((fast.nan_count, fast.neg_inf_count), (1, 1));
    }

    #[test]
    fn runs_of_one_bin_and_all_null_stretches_in_wide_data_are_exact() {
        // The largest value of a binade over and over in one bin (the worst
        // case for a bin's count and fraction fields), between wide blocks
        // that put the kernel on the bin pass, and stretches of nulls
        // (which go to bin 0) inside wide blocks.
        let mut values = every_binade(2 * BLOCK, 3);
        values.extend(std::iter::repeat_n(-f32::MAX, 20 * BLOCK));
        values.extend(every_binade(2 * BLOCK, 4));
        values.extend(std::iter::repeat_n(f32::from_bits(0x7f_ffff), 3 * BLOCK));
        let (fast, slow) = both(&values, None);
        assert_eq!(fast, slow);
        let valid: Vec<bool> = (0..values.len()).map(|i| (i / 300) % 2 == 0).collect();
        let nulls = NullBuffer::from(valid);
        let (fast, slow) = both(&values, Some(&nulls));
        assert_eq!(fast, slow);
    }

    #[test]
    fn neighbouring_windows_are_never_summed_together() {
        // The top of window w + 1 and the bottom of window w are 2^55 units
        // apart: one f64 sum of both would round the small values away.
        for window in 0..15u32 {
            let big = f32::from_bits((16 * window + 31).min(254) << 23 | 0x7f_ffff);
            let small = f32::from_bits((16 * window).max(1) << 23 | 1);
            let mut values: Vec<f32> = [big, small, -big, small]
                .into_iter()
                .cycle()
                .take(2 * BLOCK + 4)
                .collect();
            values.push(small);
            let (fast, slow) = both(&values, None);
            assert_eq!(fast, slow, "window {window}");
            let nulls = NullBuffer::from((0..values.len()).map(|i| i % 7 != 3).collect::<Vec<_>>());
            let (fast, slow) = both(&values, Some(&nulls));
            assert_eq!(fast, slow, "window {window}, with nulls");
        }
    }

    #[test]
    fn span_sums_are_taken_only_within_the_bit_budget() {
        // 2047 values of the largest significand at exponent 200 and one of
        // the smallest at 200 - d: the sum of the block needs
        // 11 + 24 + d bits, so 18 binades apart is exact in f64 and 19 is
        // not. The kernel must not take the plain sum at 19 or more.
        for d in [17, 18, 19, 20, 30] {
            for at in [0, 1, 1000, BLOCK - 1] {
                let mut values = vec![f32::from_bits(200 << 23 | 0x7f_ffff); BLOCK];
                values[at] = f32::from_bits((200 - d) << 23 | 1);
                let (fast, slow) = both(&values, None);
                assert_eq!(fast, slow, "{d} binades apart, small value at {at}");
            }
        }
    }

    #[test]
    fn uniform_blocks_of_max_magnitude_are_exact() {
        let values = vec![f32::MAX; 3 * BLOCK + 5];
        let (fast, slow) = both(&values, None);
        assert_eq!(fast, slow);
        assert_eq!(fast.finish(), Some(f32::MAX as f64));
    }

    /// Sets the thread's inexact flag (a status flag: allowed, and what any
    /// rounding operation does), as Python code would leave it.
    #[cfg(target_arch = "x86_64")]
    fn set_inexact_flag() {
        use crate::kernel::arch::x86_64::{avx512::MXCSR_INEXACT, mxcsr, set_mxcsr};
        set_mxcsr(mxcsr() | MXCSR_INEXACT);
    }

    /// The exact sum of the valid values of a block, as an `ExactSum`.
    fn exact_block_sum(block: &[f32], masks: Option<&Masks>) -> ExactSum {
        let mut sum = ExactSum::default();
        for (j, &x) in block.iter().enumerate() {
            if masks.is_none_or(|m| (m[j / 64] >> (j % 64)) & 1 == 1) {
                sum.add_f32(x);
            }
        }
        sum
    }

    #[test]
    fn flagged_sums_are_exact_or_refused() {
        // 24-bit multiples of 2^-24 (numpy's float32 `random`): their sums
        // fit in 53 bits, so the flagged pass must accept them where it
        // exists; 2^30 + 2^-30 rounds, so every pass must refuse it.
        let mut seed = 7u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let narrow: Vec<f32> = (0..BLOCK)
            .map(|_| (next() >> 40) as f32 / 16_777_216.0)
            .collect();
        let masks: Masks = std::array::from_fn(|_| next());
        for isa in Isa::supported() {
            let has_pass = format!("{isa:?}") == "Avx512";
            for len in [0, 1, 7, 8, 9, 31, 32, 33, 63, 100, BLOCK - 1, BLOCK] {
                for masks in [None, Some(&masks)] {
                    let block = &narrow[..len];
                    for flag_set_before in [false, true] {
                        if flag_set_before {
                            #[cfg(target_arch = "x86_64")]
                            set_inexact_flag();
                        }
                        let sum = isa.flagged_sum(block, masks);
                        assert_eq!(sum.is_some(), has_pass, "{isa:?} {len}");
                        if let Some(sum) = sum {
                            let mut got = ExactSum::default();
                            got.add_f64(sum);
                            assert_eq!(got, exact_block_sum(block, masks), "{isa:?} {len}");
                        }
                    }
                    let mut rounding = block.to_vec();
                    rounding.resize(len.max(2), 0.0);
                    rounding[..2].copy_from_slice(&[2f32.powi(30), 2f32.powi(-30)]);
                    let masks = masks.map(|&m| {
                        let mut m = m;
                        m[0] |= 3;
                        m
                    });
                    assert_eq!(isa.flagged_sum(&rounding, masks.as_ref()), None, "{isa:?} {len}");
                }
            }
            // Nulls are never read: NaN under them leaves the sum exact.
            let mut values = narrow.clone();
            for (j, x) in values.iter_mut().enumerate() {
                if (masks[j / 64] >> (j % 64)) & 1 == 0 {
                    *x = f32::NAN;
                }
            }
            let sum = isa.flagged_sum(&values, Some(&masks));
            assert_eq!(sum.is_some(), has_pass);
            // A valid NaN or infinity makes the sum non-finite, or refused.
            values[3] = f32::INFINITY;
            assert!(isa.flagged_sum(&values, None).is_none_or(|s| !s.is_finite()));
        }
    }

    /// Blocks that hold subnormals, alone, beside small normals (one span),
    /// beside 1.0 (far windows), beside values in many windows (the bins),
    /// under nulls; and data without subnormals.
    fn subnormal_sets() -> Vec<(Vec<f32>, Option<NullBuffer>)> {
        let sub = |i: u32| f32::from_bits(1 + i.wrapping_mul(2_654_435_761) % 0x7f_ffff);
        let n = 3 * BLOCK + 17;
        let mixed = |other: &dyn Fn(u32) -> f32| -> Vec<f32> {
            (0..n as u32).map(|i| if i % 3 == 0 { sub(i) } else { other(i) }).collect()
        };
        let nulls = NullBuffer::from((0..n).map(|i| i % 7 != 1).collect::<Vec<_>>());
        let with_subnormals = |(i, x): (usize, f32)| if i % 5 == 0 { sub(i as u32) } else { x };
        vec![
            ((0..n as u32).map(sub).collect(), None),
            (mixed(&|i| -sub(i) * 300.0), None),
            (mixed(&|i| if i % 2 == 0 { 1e-35 } else { -2e-38 }), None),
            (mixed(&|i| 1.0 + i as f32), None),
            (mixed(&|i| 1.0 + i as f32), Some(nulls.clone())),
            (every_binade(n, 7).into_iter().enumerate().map(with_subnormals).collect(), None),
            (every_binade(n, 8), Some(nulls)),
            ((0..n).map(|i| i as f32 * 0.25).collect(), None),
        ]
    }

    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    #[test]
    fn subnormals_read_as_zero_by_the_environment_still_count() {
        use crate::kernel::arch::with_subnormals_read_as_zero;
        assert!(!subnormals_read_as_zero());
        for (values, nulls) in subnormal_sets() {
            let validity = nulls.as_ref().map(Validity::from_nulls);
            let mut exact = MeanState::default();
            reference::update(&mut exact, &values, validity);
            for &isa in Isa::supported() {
                let (flushed, state) = with_subnormals_read_as_zero(|| {
                    let mut state = MeanState::default();
                    update_with(isa, &mut state, &values, validity);
                    (subnormals_read_as_zero(), state)
                });
                assert!(flushed);
                assert_eq!(state, exact, "{isa:?}");
            }
        }
        // The environment is restored.
        assert!(!subnormals_read_as_zero());
    }
}
