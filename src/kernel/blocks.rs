//! The block kernel: exact sums at vector speed for the common case.
//!
//! Values are taken in blocks of [`BLOCK`] (2^11). A first pass finds the
//! largest biased exponent `emax` among the block's valid values. Values whose
//! exponent lies in the window `[emax - WINDOW, emax]` are then summed in
//! plain `f64` lanes — exactly, by this bound:
//!
//! - each such value is a multiple of `u = 2^(max(emax - WINDOW, 1) - 150)`
//!   and has magnitude below `2^(emax - 126)`;
//! - any partial sum of at most `2^11` of them is a multiple of `u` with
//!   magnitude below `2^11 · 2^(emax - 126) <= 2^(11 + WINDOW + 24) · u`;
//! - with `WINDOW = 53 - 24 - 11 = 18` that is at most `2^53 · u`, so every
//!   partial sum is representable in `f64` and no addition rounds, in any
//!   order, and the block's total is exact.
//!
//! The total goes into the [`ExactSum`] once per block. Nonzero values below
//! the window (rare: for uniform data on [0, 1) about one in 2^19) go to
//! per-binade integer sums ([`Binades`]). Blocks holding NaN or an infinity
//! take the scalar path. Null slots are masked to `+0.0` before either pass,
//! so whatever they hold is never read into the result.
//!
//! Every path here is bitwise equal to [`super::reference`]; the tests check
//! it on adversarial data.

use arrow_buffer::bit_chunk_iterator::BitChunks;

use super::arch::{Isa, Masks};
use super::{ExactSum, MeanState, Validity};

/// Values per block; a power of two, 8 KiB of `f32`, resident in L1.
pub const BLOCK: usize = 1 << BLOCK_BITS;
const BLOCK_BITS: u32 = 11;
/// Binades summed in `f64` below the block's largest: `53 - 24 - 11`.
pub const WINDOW: u32 = 53 - 24 - BLOCK_BITS;
const EXP_MASK: u32 = 0x7f80_0000;
const ABS_MASK: u32 = 0x7fff_ffff;
/// Bins flush into the exact sum at least this often: each bin adds
/// significands below 2^24, so an `i64` bin (and the sum of the
/// [`TABLES`] bins of one exponent) holds 2^39 of them.
const FLUSH_EVERY: usize = 1 << 32;

/// Interleaved bin tables: consecutive values add to different tables, so
/// a run of one exponent is not one long chain of dependent additions.
const TABLES: usize = 4;

/// Per-binade integer sums of `f32` significands, indexed by biased exponent.
pub(crate) struct Binades {
    sums: [[i64; 256]; TABLES],
}

impl Binades {
    pub(crate) fn new() -> Self {
        Binades {
            sums: [[0; 256]; TABLES],
        }
    }

    /// Adds the finite `f32` with these bits if `take`, and zero otherwise
    /// (branch-free, for data where `take` is unpredictable). `lane` picks
    /// the table.
    #[inline(always)]
    pub(crate) fn add_bits_if(&mut self, lane: usize, bits: u32, take: bool) {
        let exp = (bits >> 23) & 0xff;
        let frac = (bits & 0x7f_ffff) as i64;
        let significand = frac | (((exp != 0) as i64) << 23);
        let sign = -((bits >> 31) as i64); // 0 or -1
        let signed = (significand ^ sign) - sign; // ±significand
        self.sums[lane % TABLES][exp as usize] += signed & -(take as i64);
    }

    /// Adds the finite `f32` with these bits.
    #[inline(always)]
    pub(crate) fn add_bits(&mut self, bits: u32) {
        self.add_bits_if(0, bits, true);
    }

    /// Moves the bins into `sum`, leaving them empty.
    pub(crate) fn flush_into(&mut self, sum: &mut ExactSum) {
        for exp in 0..255 {
            let total: i64 = self
                .sums
                .iter_mut()
                .map(|t| std::mem::take(&mut t[exp]))
                .sum();
            sum.add_binade(total, exp as u32);
        }
    }
}

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

/// [`update`] with a chosen instruction set, which must be one of
/// [`Isa::supported`] (others fall back to the portable code).
///
/// # Example
///
/// ```
/// use mapmean::{kernel::{arch::Isa, blocks}, MeanState};
/// let values = vec![0.1_f32; 5000];
/// let states: Vec<MeanState> = Isa::supported()
///     .into_iter()
///     .map(|isa| {
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
    let isa = if Isa::supported().contains(&isa) {
        isa
    } else {
        Isa::Portable
    };
    let mut bins = Binades::new();
    for (flush_index, part) in values.chunks(FLUSH_EVERY).enumerate() {
        let base = flush_index * FLUSH_EVERY;
        for (block_index, block) in part.chunks(BLOCK).enumerate() {
            match validity {
                None => {
                    state.count += block.len() as u64;
                    block_update(isa, state, &mut bins, block, None);
                }
                Some(validity) => {
                    let start = validity.offset + base + block_index * BLOCK;
                    let chunks = BitChunks::new(validity.bits, start, block.len());
                    let mut masks: Masks = [0; BLOCK / 64];
                    for (mask, word) in masks.iter_mut().zip(chunks.iter_padded()) {
                        *mask = word;
                    }
                    let valid: u64 = masks.iter().map(|m| m.count_ones() as u64).sum();
                    state.count += valid;
                    state.null_count += block.len() as u64 - valid;
                    if valid == block.len() as u64 {
                        block_update(isa, state, &mut bins, block, None);
                    } else if valid > 0 {
                        block_update(isa, state, &mut bins, block, Some(&masks));
                    }
                }
            }
        }
        bins.flush_into(&mut state.sum);
    }
}

/// One block; `state.count` and `state.null_count` are already updated.
#[inline(always)]
fn block_update(
    isa: Isa,
    state: &mut MeanState,
    bins: &mut Binades,
    block: &[f32],
    masks: Option<&Masks>,
) {
    // Pass 1: the largest exponent field among valid values.
    let emax = isa.max_exponent(block, masks);
    if emax == EXP_MASK {
        return block_with_specials(state, bins, block, masks);
    }
    // Pass 2: the exact f64 sum over the window [emax - WINDOW, emax].
    let low_bits = (emax >> 23).saturating_sub(WINDOW) << 23;
    let (sum, any_below) = isa.window_sum(block, masks, low_bits);
    state.sum.add_f64(sum);
    // Pass 3 (rare): nonzero values below the window, into per-binade sums.
    if any_below {
        for (j, &x) in block.iter().enumerate() {
            let abs = x.to_bits() & ABS_MASK;
            let below = abs != 0 && abs < low_bits && is_valid(masks, j);
            bins.add_bits_if(j, x.to_bits(), below);
        }
    }
}

#[inline(always)]
fn is_valid(masks: Option<&Masks>, j: usize) -> bool {
    masks.is_none_or(|m| (m[j / 64] >> (j % 64)) & 1 == 1)
}

/// A block that holds NaN or an infinity: one value at a time.
#[cold]
fn block_with_specials(
    state: &mut MeanState,
    bins: &mut Binades,
    block: &[f32],
    masks: Option<&Masks>,
) {
    for (j, &x) in block.iter().enumerate() {
        if !is_valid(masks, j) {
            continue;
        }
        if x.is_nan() {
            state.nan_count += 1;
        } else if x == f32::INFINITY {
            state.pos_inf_count += 1;
        } else if x == f32::NEG_INFINITY {
            state.neg_inf_count += 1;
        } else {
            bins.add_bits(x.to_bits());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::reference;
    use arrow_buffer::{BooleanBuffer, NullBuffer};
    use proptest::prelude::*;

    /// The state from the fastest instruction set and from the reference,
    /// after checking that every supported instruction set agrees bitwise.
    fn both(values: &[f32], nulls: Option<&NullBuffer>) -> (MeanState, MeanState) {
        let validity = nulls.map(Validity::from_nulls);
        let mut slow = MeanState::default();
        reference::update(&mut slow, values, validity);
        let mut states = Isa::supported().into_iter().map(|isa| {
            let mut state = MeanState::default();
            update_with(isa, &mut state, values, validity);
            (isa, state)
        });
        let (_, fast) = states.next().unwrap();
        for (isa, state) in states {
            assert_eq!(state, fast, "{isa:?} differs from {:?}", Isa::detect());
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
    fn window_edges_are_exact() {
        // One value at the top of the window, others exactly at, just inside
        // and just below its lower edge, and subnormals.
        let top = f32::from_bits(200 << 23 | 0x7f_ffff);
        let at_edge = f32::from_bits((200 - WINDOW) << 23 | 1);
        let below = f32::from_bits((199 - WINDOW) << 23 | 0x7f_ffff);
        let mut values = vec![top; BLOCK];
        for (i, v) in values.iter_mut().enumerate().skip(1) {
            *v = match i % 4 {
                0 => at_edge,
                1 => -below,
                2 => f32::from_bits(i as u32),
                _ => -top,
            };
        }
        let (fast, slow) = both(&values, None);
        assert_eq!(fast, slow);
    }

    #[test]
    fn uniform_blocks_of_max_magnitude_are_exact() {
        let values = vec![f32::MAX; 3 * BLOCK + 5];
        let (fast, slow) = both(&values, None);
        assert_eq!(fast, slow);
        assert_eq!(fast.finish(), Some(f32::MAX as f64));
    }
}
