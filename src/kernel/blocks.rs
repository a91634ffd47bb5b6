//! The block kernel: exact sums at vector speed.
//!
//! Values are taken in blocks of [`BLOCK`] (2^11). Biased exponents `e`
//! (`0..=254` for finite values) are grouped into 16 **windows** of 16
//! binades: window `w` holds `e` in `16w..=16w + 15`. Within one window, plain
//! `f64` additions are exact, by this bit budget:
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
//! One vector pass over a block ([`Isa::scan`]) sums the window predicted
//! from the previous block (the window of its largest value) and reports
//! which windows the block touches and its largest exponent. Data that lives
//! in one window (most data: uniform, normal, offset) costs one pass; each
//! other window present costs one more pass over the block, which is then in
//! L1. A block that touches many windows takes one pass that sums all
//! windows at once instead ([`Isa::all_window_sums`]); while blocks keep
//! doing that (wide-range data), the next block goes straight to that pass,
//! without the first scan. Each window sum goes into the
//! [`ExactSum`](crate::ExactSum) once per block. A block holding NaN or an
//! infinity (largest exponent 255) is counted value by value instead. Null slots are masked to `+0.0` inside the pass, so
//! whatever they hold is never read into the result.
//!
//! Every path here is bitwise equal to [`super::reference`]; the tests check
//! it on adversarial data for every instruction set the machine supports.

use arrow_buffer::bit_chunk_iterator::BitChunks;

use super::arch::{Isa, Masks};
use super::{MeanState, Validity};

/// Values per block: 8 KiB of `f32`, resident in L1 for the extra passes.
pub const BLOCK: usize = 1 << BLOCK_BITS;
const BLOCK_BITS: u32 = 11;
/// Binades per window: `24 + (WINDOW_BINADES - 1) + BLOCK_BITS <= 53`.
pub const WINDOW_BINADES: u32 = 16;
const _: () = assert!(24 + (WINDOW_BINADES - 1) + BLOCK_BITS <= 53);
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

/// [`update`] with a chosen instruction set; one that this machine does not
/// support (see [`Isa::supported`]) is replaced by the portable code.
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
    let isa = if isa == Isa::Portable || Isa::supported().contains(&isa) {
        isa
    } else {
        Isa::Portable
    };
    // Values near 1 at first; after that, what the last block held.
    let mut guess = Guess {
        window: 127 / WINDOW_BINADES,
        wide: false,
    };
    for (block_index, block) in values.chunks(BLOCK).enumerate() {
        let masks = validity.map(|validity| {
            let start = validity.offset + block_index * BLOCK;
            let chunks = BitChunks::new(validity.bits, start, block.len());
            let mut masks: Masks = [0; BLOCK / 64];
            for (mask, word) in masks.iter_mut().zip(chunks.iter_padded()) {
                *mask = word;
            }
            masks
        });
        let valid = match &masks {
            None => block.len() as u64,
            Some(masks) => masks.iter().map(|m| m.count_ones() as u64).sum(),
        };
        state.count += valid;
        state.null_count += block.len() as u64 - valid;
        if valid == 0 {
            continue;
        }
        let masks = masks.as_ref().filter(|_| valid < block.len() as u64);
        guess = block_update(isa, state, block, masks, guess);
    }
}

/// What the kernel expects of the next block, from the last one: the
/// window of its largest value, and whether it spread over many windows.
#[derive(Clone, Copy)]
struct Guess {
    window: u32,
    wide: bool,
}

/// One block; `state.count` and `state.null_count` are already updated.
/// Returns the guess for the next block.
#[inline(always)]
fn block_update(
    isa: Isa,
    state: &mut MeanState,
    block: &[f32],
    masks: Option<&Masks>,
    guess: Guess,
) -> Guess {
    if guess.wide {
        return wide_block_update(isa, state, block, masks, guess);
    }
    let window = guess.window;
    let scan = isa.scan(block, masks, window);
    if scan.max_exponent == SPECIAL_EXPONENT {
        block_with_specials(state, block, masks);
        return guess;
    }
    let mut others = scan.windows & !(1 << window);
    let wide = others.count_ones() >= MANY_WINDOWS;
    if wide {
        for sum in isa.all_window_sums(block, masks) {
            state.sum.add_f64(sum);
        }
        others = 0;
    } else {
        state.sum.add_f64(scan.sum);
    }
    while others != 0 {
        let other = others.trailing_zeros();
        others &= others - 1;
        state.sum.add_f64(isa.window_sum(block, masks, other));
    }
    Guess {
        window: highest_window(scan.windows).unwrap_or(window),
        wide,
    }
}

/// A block after one that spread over many windows: straight to the pass
/// that sums all windows, without the first scan. NaN and infinities have
/// the exponent 255, in window 15, where they make that window's sum NaN or
/// infinite; finite values never do (2^11 values below 2^128 sum to below
/// 2^139). So a non-finite window 15 is exactly a block with specials.
#[inline(always)]
fn wide_block_update(
    isa: Isa,
    state: &mut MeanState,
    block: &[f32],
    masks: Option<&Masks>,
    guess: Guess,
) -> Guess {
    let sums = isa.all_window_sums(block, masks);
    if !sums[15].is_finite() {
        block_with_specials(state, block, masks);
        return guess;
    }
    // Windows whose sum cancelled to zero count as absent: the guess only
    // steers which pass runs first, never what is summed.
    let mut present = 0u16;
    for (w, &sum) in sums.iter().enumerate() {
        if sum != 0.0 {
            state.sum.add_f64(sum);
            present |= 1 << w;
        }
    }
    Guess {
        window: highest_window(present).unwrap_or(guess.window),
        wide: present.count_ones() > MANY_WINDOWS,
    }
}

/// The highest window set in `windows`, if any.
fn highest_window(windows: u16) -> Option<u32> {
    (windows != 0).then(|| 15 - windows.leading_zeros())
}

/// A block that holds NaN or an infinity: one value at a time (rare).
#[cold]
fn block_with_specials(state: &mut MeanState, block: &[f32], masks: Option<&Masks>) {
    for (j, &x) in block.iter().enumerate() {
        if masks.is_none_or(|m| (m[j / 64] >> (j % 64)) & 1 == 1) {
            // `count` was added for the whole block already.
            state.count -= 1;
            super::reference::add_valid(state, x);
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
        // The passes themselves agree, for every window (as values: NaN
        // payloads and the sign of a zero sum may differ between lane splits).
        let same = |a: f64, b: f64| a == b || (a.is_nan() && b.is_nan());
        for block in values.chunks(BLOCK) {
            for window in 0..16 {
                let passes: Vec<_> = Isa::supported()
                    .into_iter()
                    .map(|isa| {
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
            let all: Vec<[f64; 16]> = Isa::supported()
                .into_iter()
                .map(|isa| isa.all_window_sums(block, None))
                .collect();
            for (window, &sum) in all[0].iter().enumerate() {
                let single = Isa::Portable.window_sum(block, None, window as u32);
                assert!(all.iter().all(|a| same(a[window], sum)) && same(sum, single));
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

    #[test]
    fn uniform_blocks_of_max_magnitude_are_exact() {
        let values = vec![f32::MAX; 3 * BLOCK + 5];
        let (fast, slow) = both(&values, None);
        assert_eq!(fast, slow);
        assert_eq!(fast.finish(), Some(f32::MAX as f64));
    }
}
