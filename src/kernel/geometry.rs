//! The block and window geometry of the block kernel, named once: the
//! dispatching front ([`super::arch`]), every instruction-set pass and the
//! block driver ([`super::blocks`]) use these constants, never bare numbers.
//!
//! Values are taken in blocks of [`BLOCK`] (2^[`BLOCK_BITS`]). Biased
//! exponents `e` (`0..=255`) are grouped into [`WINDOWS`] windows of
//! [`WINDOW_BINADES`] binades: window `w` holds `e` in
//! `WINDOW_BINADES·w ..= WINDOW_BINADES·w + WINDOW_BINADES - 1`. Since the
//! exponent sits above the 23 significand bits, the window of `|x|`'s bit
//! pattern is `|x| >> WINDOW_SHIFT`. The bit budget that makes a window's
//! `f64` sum exact is spelled out in [`super::blocks`].
//!
//! The layout of the wide-range bins (`super::exponent_bins`) and of a
//! block's validity masks lives here too, so that the passes of
//! [`super::arch`] and the accumulators that own the bins depend on this
//! module and not on each other.

/// log2 of [`BLOCK`].
pub const BLOCK_BITS: u32 = 11;
/// Values per block: 8 KiB of `f32`, resident in L1 for the extra passes.
pub const BLOCK: usize = 1 << BLOCK_BITS;
/// Validity mask words (`u64`) per block.
pub const MASK_WORDS: usize = BLOCK / 64;
/// Bits of an `f32`'s significand field: the biased exponent is `bits >> 23`.
pub const SIGNIFICAND_BITS: u32 = 23;
/// Binades per window.
pub const WINDOW_BINADES: u32 = 16;
/// Number of windows: they cover the 256 biased exponents.
pub const WINDOWS: usize = 256 / WINDOW_BINADES as usize;
/// The window of an `f32` whose bit pattern without the sign is `abs` is
/// `abs >> WINDOW_SHIFT`; of a biased exponent `e`, `e >> (WINDOW_SHIFT -
/// SIGNIFICAND_BITS)`.
pub const WINDOW_SHIFT: u32 = SIGNIFICAND_BITS + WINDOW_BINADES.ilog2();
/// The window holding the largest biased exponent, 255: NaN and infinities.
pub const LAST_WINDOW: usize = WINDOWS - 1;

const _: () = assert!(WINDOW_BINADES.is_power_of_two());
const _: () = assert!(WINDOWS * WINDOW_BINADES as usize == 256);
// A window set fits in a `u16` (`Scan::windows`).
const _: () = assert!(WINDOWS <= 16);
const _: () = assert!(BLOCK.is_multiple_of(64));
// Within one window, plain `f64` sums of a block are exact (see `blocks`).
const _: () = assert!(24 + (WINDOW_BINADES - 1) + BLOCK_BITS <= 53);

/// The window of an `f32` given its bit pattern (the sign is ignored).
///
/// # Example
///
/// ```
/// use mapmean::kernel::geometry::{window_of, WINDOWS};
/// assert_eq!(window_of(1.0f32.to_bits()), 7); // biased exponent 127
/// assert_eq!(window_of((-f32::MAX).to_bits()), WINDOWS as u32 - 1);
/// ```
#[inline(always)]
pub const fn window_of(bits: u32) -> u32 {
    (bits & 0x7fff_ffff) >> WINDOW_SHIFT
}

/// Validity masks of one block: bit `i` of word `i / 64` for value `i`.
pub(crate) type Masks = [u64; MASK_WORDS];

/// Bins per set of the wide-range accumulator: one per `bits >> 23`, sign
/// and biased exponent.
pub(crate) const BINS: usize = 512;
/// Copies of the bins; value `i` of a block goes to set `i % SETS`.
pub(crate) const SETS: usize = 4;
/// Words from one set to the next: a few more than [`BINS`], so that the
/// same bin of two sets is not a multiple of 4 KiB apart.
pub(crate) const STRIDE: usize = BINS + 8;
/// Where the count field of a bin starts (see `exponent_bins`).
pub(crate) const COUNT_SHIFT: u32 = 43;
/// One in the count field.
pub(crate) const COUNT_ONE: u64 = 1 << COUNT_SHIFT;

/// The bins of every set, as the passes in `kernel::arch` fill them.
pub(crate) type Bins = [[u64; STRIDE]; SETS];

/// What a value with bit pattern `bits` adds to its bin `bits >> 23`.
#[inline(always)]
pub(crate) fn entry(bits: u32) -> u64 {
    bits as u64 + COUNT_ONE
}
