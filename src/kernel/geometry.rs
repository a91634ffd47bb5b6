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
