//! [`ExactSquareSum`]: a fixed-point accumulator that holds the sum of the
//! squares of any number of finite `f32` values without rounding, and
//! [`SquareBins`], the exponent-indexed integer bins that feed it at speed.
//!
//! # Why no bit can be lost (the bit budget)
//!
//! Every finite `f32` is `x = ±m · 2^(e - 150)` with an integer significand
//! `0 <= m < 2^24` and a biased exponent `e` in `0..=254`; with
//! `e' = max(e, 1)` (subnormals share the scale of `e = 1`),
//! `|x| = m · 2^(e' - 150)`, so
//!
//! ```text
//! x² = m² · 2^(2e' - 300) = m² · 2^(2e' - 2) · 2^-298.
//! ```
//!
//! Every square is therefore an integer number of units `2^-298`, and
//!
//! ```text
//! x² / 2^-298  =  m² · 2^(2e' - 2)  <  2^48 · 2^506  =  2^554.
//! ```
//!
//! [`ExactSquareSum`] stores the sum in units of `2^-298` as a 640-bit
//! unsigned integer (ten 64-bit limbs). A sum of `n < 2^64` squares (a `u64`
//! count) is below `2^64 · 2^554 = 2^618`, leaving 22 bits of headroom: no
//! addition can overflow, every merge is an exact integer addition, and the
//! result cannot depend on order, chunking or threads. Squares are never
//! negative, so the integer is unsigned.
//!
//! # The bins
//!
//! [`SquareBins`] keeps one `u64` per biased exponent `e'` (in a few copies,
//! so that neighbouring values that share an exponent do not wait on each
//! other) and adds `m² < 2^48` to the bin of `e'`. While at most
//! [`SquareBins::CAPACITY`] `= 2^16` values have been added since the last
//! flush, the sum of every bin over all copies is below
//! `2^16 · 2^48 = 2^64`: it fits a `u64`. The flush then adds each exponent's
//! total, shifted by `2e' - 2 <= 506` bits (so below `2^570`), into the
//! [`ExactSquareSum`] — one wide addition per exponent per `2^16` values.
//! The bins take any data, but their scattered additions are scalar.
//!
//! # The windows (the fast path)
//!
//! [`SquareBlocks`] takes a block of at most [`BLOCK`] values at a time
//! (values under null slots first replaced by zeros, which add nothing).
//! Real data spans few binades, so it finds the range `[e_min, e_max]` of
//! the exponents `e'` of the nonzero finite values and covers it from the
//! top with *windows* of [`WINDOW`] `= 9` exponents, `[lo, lo + 8]`. Within
//! a window, with `t = e' - lo` in `0..=8`, every square is
//!
//! ```text
//! x² = m² · 2^(2t) · 2^(2lo - 2) · 2^-298,   v = m² · 2^(2t) < 2^48 · 2^16 = 2^64,
//! ```
//!
//! so `v` is one `u64`: computed in vector lanes (a 32×32→64 bit multiply and
//! a per-lane shift), with a zero for the values outside the window, NaN and
//! infinities (whose `e' = 255` is above every window: the top window ends
//! at `e_max <= 254`). `v`'s low and high 32 bits are summed into two `u64`
//! totals (vector lanes of partial sums) — the *deferred carries*: a block
//! has at most `BLOCK = 2^11` values, so each total stays below
//! `2^11 · 2^32 = 2^43` and cannot wrap. The window's total,
//! `Σ low + 2^32 · Σ high < 2^11 · 2^64 = 2^75` (a `u128`), is then added
//! into the [`ExactSquareSum`] shifted by `2lo - 2` bits, exactly. Data
//! changes slowly, so the window that covered the last block is tried first,
//! in the same pass that finds the block's range; when the range lies inside
//! it, that one pass is all, else its total is dropped and the block is
//! summed again by the windows of its own range. A block
//! that would need more than [`MAX_WINDOWS`] windows (data over more than 27
//! binades) goes to the bins instead. Either way the integer added is the
//! exact sum of the block's squares, so the result is bitwise the same for
//! every instruction set, block split and thread count.

use super::geometry::BLOCK;
use super::Validity;

/// Number of 64-bit limbs: 640 bits, see the bit budget in the module docs.
pub const SQUARE_LIMBS: usize = 10;

/// Exponent of the unit in which [`ExactSquareSum`] counts: `2^-298`, the
/// square of the smallest `f32` subnormal.
pub const SQUARE_UNIT_EXP: i32 = -298;

/// The exact sum of squares of finite `f32` values, as a 640-bit unsigned
/// fixed-point integer in units of `2^-298`.
///
/// # Example
///
/// ```
/// use mapmean::kernel::ExactSquareSum;
///
/// let mut squares = ExactSquareSum::default();
/// for x in [3.0_f32, -4.0] {
///     squares.add_f32(x);
/// }
/// // 25 = 25 · 2^298 units of 2^-298.
/// let mut expected = ExactSquareSum::default();
/// expected.add_f32(5.0);
/// assert_eq!(squares, expected);
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ExactSquareSum {
    /// Little-endian limbs of an unsigned integer.
    limbs: [u64; SQUARE_LIMBS],
}

impl std::fmt::Debug for ExactSquareSum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ExactSquareSum(0x")?;
        for limb in self.limbs.iter().rev() {
            write!(f, "{limb:016x}")?;
        }
        write!(f, " × 2^-298)")
    }
}

impl ExactSquareSum {
    /// The empty sum.
    pub const ZERO: ExactSquareSum = ExactSquareSum {
        limbs: [0; SQUARE_LIMBS],
    };

    /// Builds a sum from its little-endian limbs, in units of `2^-298` (the
    /// inverse of [`ExactSquareSum::to_limbs`]).
    ///
    /// Crate-private: limbs from outside must pass
    /// [`MomentsState::validate`](crate::MomentsState::validate), whose
    /// bounds keep the headroom argument of the module docs true.
    pub(crate) fn from_limbs(limbs: [u64; SQUARE_LIMBS]) -> Self {
        ExactSquareSum { limbs }
    }

    /// The little-endian limbs, in units of `2^-298`; stable across
    /// versions, so states can be stored and merged later.
    pub fn to_limbs(&self) -> [u64; SQUARE_LIMBS] {
        self.limbs
    }

    /// Whether the sum is exactly zero.
    pub fn is_zero(&self) -> bool {
        self.limbs.iter().all(|&l| l == 0)
    }

    /// Adds `magnitude · 2^shift` units. Requires `shift <= 64 * (LIMBS - 2)`
    /// so that the shifted magnitude fits in the limbs.
    #[inline]
    fn add_shifted(&mut self, magnitude: u64, shift: u32) {
        debug_assert!(shift as usize <= 64 * (SQUARE_LIMBS - 2));
        let word = (shift / 64) as usize;
        let wide = (magnitude as u128) << (shift % 64);
        let (lo, hi) = (wide as u64, (wide >> 64) as u64);
        let (r, c0) = self.limbs[word].overflowing_add(lo);
        self.limbs[word] = r;
        let (r, c1) = self.limbs[word + 1].overflowing_add(hi);
        let (r, c2) = r.overflowing_add(c0 as u64);
        self.limbs[word + 1] = r;
        let mut carry = c1 | c2;
        for limb in &mut self.limbs[word + 2..] {
            if !carry {
                break;
            }
            let (r, c) = limb.overflowing_add(1);
            *limb = r;
            carry = c;
        }
    }

    /// Adds `magnitude · 2^shift` units, for `magnitude < 2^127`. Requires
    /// `shift < 64 · (LIMBS - 2)`, so that the three limbs the shifted
    /// magnitude spans exist.
    #[inline]
    fn add_shifted_wide(&mut self, magnitude: u128, shift: u32) {
        debug_assert!(magnitude >> 127 == 0);
        debug_assert!((shift as usize) < 64 * (SQUARE_LIMBS - 2));
        let word = (shift / 64) as usize;
        let bits = shift % 64;
        let parts = [
            (magnitude << bits) as u64,
            ((magnitude << bits) >> 64) as u64,
            if bits == 0 {
                0
            } else {
                (magnitude >> (128 - bits)) as u64
            },
        ];
        let mut carry = false;
        for (limb, part) in self.limbs[word..].iter_mut().zip(parts) {
            let (r, c1) = limb.overflowing_add(part);
            let (r, c2) = r.overflowing_add(carry as u64);
            *limb = r;
            carry = c1 | c2;
        }
        for limb in &mut self.limbs[word + 3..] {
            if !carry {
                break;
            }
            let (r, c) = limb.overflowing_add(1);
            *limb = r;
            carry = c;
        }
    }

    /// Adds the square of one finite `f32` exactly. NaN and infinities are
    /// not sums of units; the caller counts them separately (debug builds
    /// assert).
    ///
    /// # Example
    ///
    /// ```
    /// use mapmean::kernel::ExactSquareSum;
    /// let mut s = ExactSquareSum::default();
    /// s.add_f32(f32::MAX); // 2^256 is far beyond f32, not beyond the sum
    /// s.add_f32(1e-45); // the smallest subnormal's square survives beside it
    /// assert!(!s.is_zero());
    /// ```
    #[inline]
    pub fn add_f32(&mut self, x: f32) {
        debug_assert!(x.is_finite());
        let (significand, exp) = significand_and_exponent(x.to_bits());
        let square = significand as u64 * significand as u64;
        self.add_shifted(square, 2 * exp - 2);
    }

    /// Adds another sum exactly.
    ///
    /// # Example
    ///
    /// ```
    /// use mapmean::kernel::ExactSquareSum;
    /// let (mut a, mut b, mut both) = Default::default();
    /// ExactSquareSum::add_f32(&mut a, 1e30);
    /// ExactSquareSum::add_f32(&mut b, 2.5);
    /// both = a;
    /// both.add_f32(2.5);
    /// a.merge(&b);
    /// assert_eq!(a, both);
    /// ```
    pub fn merge(&mut self, other: &ExactSquareSum) {
        let mut carry = false;
        for (a, &b) in self.limbs.iter_mut().zip(&other.limbs) {
            let (r, c1) = a.overflowing_add(b);
            let (r, c2) = r.overflowing_add(carry as u64);
            *a = r;
            carry = c1 | c2;
        }
    }
}

/// The significand `m` (`< 2^24`) and `e' = max(e, 1)` of a finite `f32`'s
/// bits (the sign is ignored): `|x| = m · 2^(e' - 150)`.
#[inline(always)]
fn significand_and_exponent(bits: u32) -> (u32, u32) {
    let exp = (bits >> 23) & 0xff;
    let frac = bits & 0x7f_ffff;
    let significand = if exp == 0 { frac } else { frac | 0x80_0000 };
    (significand, exp.max(1))
}

/// Copies of the bins, taken in turn by consecutive values so that a run of
/// values with one exponent is not one chain of dependent additions.
const COPIES: usize = 4;

/// Exponent-indexed integer bins of squared significands: the fast way into
/// an [`ExactSquareSum`] (see the module docs for why they cannot overflow).
///
/// # Example
///
/// ```
/// use mapmean::kernel::square_sum::{ExactSquareSum, SquareBins};
///
/// let values = [1.5_f32, f32::NAN, -2.0, 1e-40];
/// let mut bins = SquareBins::new();
/// let mut fast = ExactSquareSum::default();
/// bins.add(&values, None, &mut fast); // NaN (and ±inf) contribute nothing
/// bins.flush(&mut fast);
/// let mut slow = ExactSquareSum::default();
/// for x in [1.5_f32, -2.0, 1e-40] {
///     slow.add_f32(x);
/// }
/// assert_eq!(fast, slow);
/// ```
pub struct SquareBins {
    /// `bins[c][e']`: sum of `m²` over values with `e'` added to copy `c`.
    /// Index 255 receives only zeros (NaN and infinities contribute `m = 0`).
    bins: Box<[[u64; 256]; COPIES]>,
    /// Values added since the last flush.
    pending: usize,
}

impl Default for SquareBins {
    fn default() -> Self {
        SquareBins::new()
    }
}

impl SquareBins {
    /// Values that may be added between flushes: `2^16 · (2^24 - 1)^2 < 2^64`.
    pub const CAPACITY: usize = 1 << 16;

    /// Empty bins.
    pub fn new() -> Self {
        SquareBins {
            bins: Box::new([[0; 256]; COPIES]),
            pending: 0,
        }
    }

    /// Adds the squares of the valid finite `values` (`validity`, if any,
    /// covers exactly these values; NaN, infinities and values under null
    /// slots contribute nothing), flushing into `sum` whenever the bins'
    /// capacity would otherwise be exceeded.
    pub fn add(
        &mut self,
        values: &[f32],
        validity: Option<Validity<'_>>,
        sum: &mut ExactSquareSum,
    ) {
        for (i, part) in values.chunks(Self::CAPACITY).enumerate() {
            if self.pending + part.len() > Self::CAPACITY {
                self.flush(sum);
            }
            self.pending += part.len();
            match validity {
                None => self.add_all(part),
                Some(validity) => {
                    let validity = validity.shifted(i * Self::CAPACITY);
                    let words = arrow_buffer::bit_chunk_iterator::BitChunks::new(
                        validity.bits,
                        validity.offset,
                        part.len(),
                    );
                    for (chunk, mask) in part.chunks(64).zip(words.iter_padded()) {
                        self.add_masked(chunk, mask);
                    }
                }
            }
        }
    }

    /// Adds every value of `values` (at most [`Self::CAPACITY`] since the
    /// last flush, which the caller ensures).
    #[inline]
    fn add_all(&mut self, values: &[f32]) {
        let bins = &mut *self.bins;
        let (groups, rest) = values.as_chunks::<COPIES>();
        for group in groups {
            for (copy, &x) in group.iter().enumerate() {
                add_square(&mut bins[copy], x, true);
            }
        }
        for &x in rest {
            add_square(&mut bins[0], x, true);
        }
    }

    /// Adds the values of `values` (at most 64) whose bit in `mask` is set.
    #[inline]
    fn add_masked(&mut self, values: &[f32], mask: u64) {
        let bins = &mut *self.bins;
        for (i, &x) in values.iter().enumerate() {
            add_square(&mut bins[i % COPIES], x, (mask >> i) & 1 == 1);
        }
    }

    /// Moves the bins' contents into `sum` and empties them.
    pub fn flush(&mut self, sum: &mut ExactSquareSum) {
        if self.pending == 0 {
            return;
        }
        debug_assert!(self.bins.iter().all(|copy| copy[255] == 0));
        for exp in 1..255 {
            // At most CAPACITY values of below 2^48 each went into all copies
            // together: the total is below 2^64 and cannot wrap.
            let total: u64 = self.bins.iter().map(|copy| copy[exp]).sum();
            if total != 0 {
                sum.add_shifted(total, 2 * exp as u32 - 2);
            }
        }
        *self.bins = [[0; 256]; COPIES];
        self.pending = 0;
    }
}

/// Exponents `e'` per window: `t = e' - lo <= 8`, so `m² · 2^(2t) < 2^64`.
pub const WINDOW: u32 = 9;

/// Windows tried per block before the block goes to the bins.
pub const MAX_WINDOWS: u32 = 3;

/// The block kernels by instruction set: one generic body, compiled for
/// each with its target features.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kernel {
    /// x86-64 with AVX-512 F/BW/DQ/VL.
    #[cfg(target_arch = "x86_64")]
    Avx512,
    /// x86-64 with AVX2.
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// Whatever the target's baseline (NEON on aarch64) vectorises.
    Portable,
}

impl Kernel {
    /// The kernel for the mean kernel's instruction set
    /// ([`Isa`](super::arch::Isa), which `MAPMEAN_ISA` can override).
    fn detect() -> Kernel {
        Kernel::named(super::arch::Isa::detect().name())
    }

    /// The kernel for an instruction set's name (`avx512`, `avx2`, `neon`,
    /// `portable`), as [`Isa::name`](super::arch::Isa::name) gives it.
    fn named(name: &str) -> Kernel {
        match name {
            #[cfg(target_arch = "x86_64")]
            "avx512" => Kernel::Avx512,
            #[cfg(target_arch = "x86_64")]
            "avx2" => Kernel::Avx2,
            _ => Kernel::Portable,
        }
    }
}

/// The squares of blocks of values, by windows of exponents (see the
/// module docs), with [`SquareBins`] for blocks that span too many binades.
///
/// # Example
///
/// ```
/// use mapmean::kernel::{square_sum::SquareBlocks, ExactSquareSum, Validity};
///
/// let values: Vec<f32> = (0..5000).map(|i| 1e4 + i as f32 * 0.25).collect();
/// let mut fast = ExactSquareSum::default();
/// let mut blocks = SquareBlocks::new();
/// blocks.add(&values, Some(Validity { bits: &[0xff; 625], offset: 0 }), &mut fast);
/// blocks.flush(&mut fast);
/// let mut slow = ExactSquareSum::default();
/// values.iter().for_each(|&x| slow.add_f32(x));
/// assert_eq!(fast, slow);
/// ```
pub struct SquareBlocks {
    /// The scalar path, for blocks over more than `MAX_WINDOWS` windows.
    bins: SquareBins,
    /// A block with the values under null slots replaced by zeros.
    masked: Box<[f32; BLOCK]>,
    /// The instruction set of the window sums.
    kernel: Kernel,
    /// The bottom `lo` of the window that covered the last block (0: none
    /// yet): tried first on the next one, in the same pass as its range.
    guess: u32,
}

impl Default for SquareBlocks {
    fn default() -> Self {
        SquareBlocks::new()
    }
}

impl SquareBlocks {
    /// Empty, with the kernel of the mean kernel's instruction set.
    pub fn new() -> Self {
        SquareBlocks::with_kernel(Kernel::detect())
    }

    /// Empty, with the kernel of the instruction set called `name` (as
    /// [`Isa::name`](super::arch::Isa::name) gives it; an unknown or
    /// unsupported name gives the portable kernel). For tests that compare
    /// instruction sets.
    ///
    /// # Example
    ///
    /// ```
    /// use mapmean::kernel::{arch::Isa, square_sum::SquareBlocks, ExactSquareSum};
    /// let values = vec![3e7_f32 + 2.0; 4096];
    /// let sums: Vec<ExactSquareSum> = Isa::supported()
    ///     .iter()
    ///     .map(|isa| {
    ///         let (mut sum, mut blocks) = (ExactSquareSum::default(), SquareBlocks::for_isa(isa.name()));
    ///         blocks.add(&values, None, &mut sum);
    ///         blocks.flush(&mut sum);
    ///         sum
    ///     })
    ///     .collect();
    /// assert!(sums.windows(2).all(|w| w[0] == w[1]));
    /// ```
    pub fn for_isa(name: &str) -> Self {
        let supported = super::arch::Isa::from_name(name).is_some();
        SquareBlocks::with_kernel(if supported {
            Kernel::named(&name.to_ascii_lowercase())
        } else {
            Kernel::Portable
        })
    }

    fn with_kernel(kernel: Kernel) -> Self {
        SquareBlocks {
            bins: SquareBins::new(),
            masked: Box::new([0.0; BLOCK]),
            kernel,
            guess: 0,
        }
    }

    /// Adds the squares of the valid finite `values` (`validity`, if any,
    /// covers exactly these values) to `sum`, block by block; some may wait
    /// in the bins until [`flush`](Self::flush).
    pub fn add(
        &mut self,
        values: &[f32],
        validity: Option<Validity<'_>>,
        sum: &mut ExactSquareSum,
    ) {
        for (i, block) in values.chunks(BLOCK).enumerate() {
            let block = match validity {
                None => block,
                Some(validity) => {
                    let validity = validity.shifted(i * BLOCK);
                    let words = arrow_buffer::bit_chunk_iterator::BitChunks::new(
                        validity.bits,
                        validity.offset,
                        block.len(),
                    );
                    let masked = &mut self.masked[..block.len()];
                    for ((out, chunk), mask) in masked
                        .chunks_mut(64)
                        .zip(block.chunks(64))
                        .zip(words.iter_padded())
                    {
                        for (j, (o, &x)) in out.iter_mut().zip(chunk).enumerate() {
                            *o = if (mask >> j) & 1 == 1 { x } else { 0.0 };
                        }
                    }
                    &self.masked[..block.len()]
                }
            };
            let kernel = self.kernel;
            match kernel {
                // SAFETY: `Kernel::Avx512` and `Kernel::Avx2` are only chosen
                // through `Isa`, which offers them only where the CPU has
                // those features (`Isa::supported`).
                #[cfg(target_arch = "x86_64")]
                Kernel::Avx512 => unsafe {
                    add_block_avx512(block, sum, &mut self.bins, &mut self.guess)
                },
                #[cfg(target_arch = "x86_64")]
                Kernel::Avx2 => unsafe {
                    add_block_avx2(block, sum, &mut self.bins, &mut self.guess)
                },
                Kernel::Portable => add_block(block, sum, &mut self.bins, &mut self.guess),
            }
        }
    }

    /// Moves what waits in the bins into `sum`.
    pub fn flush(&mut self, sum: &mut ExactSquareSum) {
        self.bins.flush(sum);
    }
}

/// [`add_block`] compiled for AVX-512.
///
/// # Safety
///
/// The CPU must support AVX-512 F, BW, DQ and VL.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2")]
unsafe fn add_block_avx512(
    block: &[f32],
    sum: &mut ExactSquareSum,
    bins: &mut SquareBins,
    guess: &mut u32,
) {
    add_block(block, sum, bins, guess)
}

/// [`add_block`] compiled for AVX2.
///
/// # Safety
///
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn add_block_avx2(
    block: &[f32],
    sum: &mut ExactSquareSum,
    bins: &mut SquareBins,
    guess: &mut u32,
) {
    add_block(block, sum, bins, guess)
}

/// Adds the squares of one block (at most [`BLOCK`] values; invalid ones
/// already zero). Data changes slowly, so the window that covered the last
/// block (`guess`) is tried first, in the same pass that finds the block's
/// exponent range: when the range lies inside it, that one pass is all.
/// Otherwise its total is dropped and the block goes by windows from the
/// top of its range, or through the bins when it spans more than
/// [`MAX_WINDOWS`] windows.
#[inline(always)]
fn add_block(block: &[f32], sum: &mut ExactSquareSum, bins: &mut SquareBins, guess: &mut u32) {
    debug_assert!(block.len() <= BLOCK);
    let range = if *guess != 0 {
        let g = *guess;
        // g = max(high' - 8, 1) for an earlier high' <= 254: g + 8 <= 254,
        // so NaN and infinities (e' = 255) are outside the window.
        let (low, high, total) = range_and_window_sum(block, g);
        if high == 0 {
            return; // zeros, NaN and infinities only
        }
        if low >= g && high <= g + (WINDOW - 1) {
            if total != 0 {
                sum.add_shifted_wide(total, 2 * g - 2);
            }
            return;
        }
        (low, high)
    } else {
        match exponent_range(block) {
            Some(range) => range,
            None => return,
        }
    };
    let (low, high) = range;
    *guess = high.saturating_sub(WINDOW - 1).max(1);
    add_windows(block, sum, bins, low, high);
}

/// Adds the squares of a block whose live exponents lie in `[low, high]`:
/// by windows from the top, or through the bins.
#[inline(always)]
fn add_windows(block: &[f32], sum: &mut ExactSquareSum, bins: &mut SquareBins, low: u32, high: u32) {
    if (high - low) / WINDOW >= MAX_WINDOWS {
        bins.add(block, None, sum);
        return;
    }
    let mut top = high;
    loop {
        // `high <= 254`, so `lo + 8 <= 254`: e' = 255 is never inside.
        let lo = top.saturating_sub(WINDOW - 1).max(1);
        let total = window_sum(block, lo, top - lo);
        if total != 0 {
            // 2lo - 2 <= 490 < 64 · (LIMBS - 2): within add_shifted_wide's range.
            sum.add_shifted_wide(total, 2 * lo - 2);
        }
        if lo <= low {
            break;
        }
        top = lo - 1;
    }
}

/// Keys of the exponent range: `e'` of a live value for the minimum and the
/// maximum; a dead value (zero, NaN or infinite) gives all ones to the
/// minimum and zero to the maximum. Branch-free, so it vectorises.
#[inline(always)]
fn range_keys(x: f32) -> (u32, u32) {
    let bits = x.to_bits() & 0x7fff_ffff;
    let exp = bits >> 23;
    let dead = ((bits == 0) | (exp == 255)) as u32;
    let e = exp.max(1);
    let all_ones_if_dead = 0u32.wrapping_sub(dead);
    (e | all_ones_if_dead, e & !all_ones_if_dead)
}

/// Lanes of the explicit vector loops.
const LANES: usize = 16;

/// In one pass: the smallest and largest `e'` of the live values (`high =
/// 0` when there are none) and the window sum of `[g, g + 8]`
/// ([`window_sum`]'s total, the same deferred carries).
#[inline(always)]
fn range_and_window_sum(block: &[f32], g: u32) -> (u32, u32, u128) {
    let (mut low, mut high) = ([u32::MAX; LANES], [0u32; LANES]);
    let (mut sum_low, mut sum_high) = ([0u64; LANES], [0u64; LANES]);
    let (chunks, rest) = block.as_chunks::<LANES>();
    for chunk in chunks {
        for lane in 0..LANES {
            let (l, h) = range_keys(chunk[lane]);
            low[lane] = low[lane].min(l);
            high[lane] = high[lane].max(h);
            let v = shifted_square(chunk[lane], g, WINDOW - 1);
            sum_low[lane] += v & 0xffff_ffff;
            sum_high[lane] += v >> 32;
        }
    }
    for &x in rest {
        let (l, h) = range_keys(x);
        low[0] = low[0].min(l);
        high[0] = high[0].max(h);
        let v = shifted_square(x, g, WINDOW - 1);
        sum_low[0] += v & 0xffff_ffff;
        sum_high[0] += v >> 32;
    }
    let total_low: u128 = sum_low.iter().map(|&v| v as u128).sum();
    let total_high: u128 = sum_high.iter().map(|&v| v as u128).sum();
    let low = low.into_iter().min().unwrap_or(u32::MAX);
    let high = high.into_iter().max().unwrap_or(0);
    (low, high, total_low + (total_high << 32))
}

/// The smallest and largest `e'` of the nonzero finite values, or `None`.
/// Min/max reductions in explicit lanes, which the compiler vectorises.
#[inline(always)]
fn exponent_range(block: &[f32]) -> Option<(u32, u32)> {
    let key = range_keys;
    let (mut low, mut high) = ([u32::MAX; LANES], [0u32; LANES]);
    let (chunks, rest) = block.as_chunks::<LANES>();
    for chunk in chunks {
        for lane in 0..LANES {
            let (l, h) = key(chunk[lane]);
            low[lane] = low[lane].min(l);
            high[lane] = high[lane].max(h);
        }
    }
    for &x in rest {
        let (l, h) = key(x);
        low[0] = low[0].min(l);
        high[0] = high[0].max(h);
    }
    let (low, high) = (low.into_iter().min()?, high.into_iter().max()?);
    (high != 0).then_some((low, high))
}

/// `Σ m² · 2^(2(e' - lo))` over the values with `e'` in `[lo, lo + span]`,
/// `span <= 8` (see the module docs for why nothing wraps). Two plain `u64`
/// sum reductions, which the compiler vectorises into lanes of
/// accumulators: each lane's partial sums are parts of the same totals,
/// below `BLOCK · 2^32 <= 2^43`.
#[inline(always)]
fn window_sum(block: &[f32], lo: u32, span: u32) -> u128 {
    debug_assert!(span < WINDOW);
    let (low, high) = block.iter().fold((0u64, 0u64), |(low, high), &x| {
        let v = shifted_square(x, lo, span);
        (low + (v & 0xffff_ffff), high + (v >> 32))
    });
    low as u128 + ((high as u128) << 32)
}

/// `m² · 2^(2(e' - lo))` if `e'` is in the window `[lo, lo + span]`, else 0.
#[inline(always)]
fn shifted_square(x: f32, lo: u32, span: u32) -> u64 {
    let bits = x.to_bits() & 0x7fff_ffff;
    let exp = bits >> 23;
    let significand = if exp == 0 {
        bits
    } else {
        (bits & 0x7f_ffff) | 0x80_0000
    };
    let t = exp.max(1).wrapping_sub(lo);
    let square = (significand as u64 * significand as u64) << (2 * (t & 15));
    if t <= span {
        square
    } else {
        0
    }
}

/// Adds `m²` of `x` to the bin of its exponent, or 0 if `x` is not valid or
/// not finite (exponent 255: the bin of index 255 only ever receives zeros).
#[inline(always)]
fn add_square(bins: &mut [u64; 256], x: f32, valid: bool) {
    let bits = x.to_bits() & 0x7fff_ffff;
    let (significand, exp) = significand_and_exponent(bits);
    let keep = valid && exp != 255;
    let significand = if keep { significand as u64 } else { 0 };
    bins[exp as usize] += significand * significand;
}

#[cfg(test)]
mod tests {
    use super::*;
    use num_bigint::BigUint;
    use proptest::prelude::*;

    /// The sum of squares in units of 2^-298, straight from the definition.
    fn oracle(values: &[f32]) -> BigUint {
        let mut total = BigUint::default();
        for &x in values.iter().filter(|x| x.is_finite()) {
            let bits = x.to_bits() & 0x7fff_ffff;
            let exp = (bits >> 23).max(1);
            let m = if bits >> 23 == 0 {
                bits
            } else {
                (bits & 0x7f_ffff) | 0x80_0000
            };
            total += BigUint::from(m as u64 * m as u64) << (2 * exp - 2);
        }
        total
    }

    fn as_big(sum: &ExactSquareSum) -> BigUint {
        let bytes: Vec<u8> = sum.limbs.iter().flat_map(|l| l.to_le_bytes()).collect();
        BigUint::from_bytes_le(&bytes)
    }

    fn binned(values: &[f32], validity: Option<Validity<'_>>) -> ExactSquareSum {
        let mut sum = ExactSquareSum::ZERO;
        let mut bins = SquareBins::new();
        bins.add(values, validity, &mut sum);
        bins.flush(&mut sum);
        sum
    }

    #[test]
    fn squares_of_the_extremes_are_exact() {
        let values = [f32::MAX, -f32::MAX, f32::from_bits(1), f32::MIN_POSITIVE];
        assert_eq!(as_big(&binned(&values, None)), oracle(&values));
        let mut one = ExactSquareSum::ZERO;
        one.add_f32(f32::from_bits(1));
        assert_eq!(
            one.limbs[0], 1,
            "the smallest subnormal squared is one unit"
        );
    }

    #[test]
    fn bins_flush_before_they_overflow() {
        // Far more than CAPACITY values with the largest significand, all in
        // one bin: a wrap would lose 2^64 · 2^506 units.
        let values = vec![f32::MAX; 3 * SquareBins::CAPACITY + 5];
        assert_eq!(as_big(&binned(&values, None)), oracle(&values));
        // Fed in pieces smaller than the capacity, too.
        let mut sum = ExactSquareSum::ZERO;
        let mut bins = SquareBins::new();
        for piece in values.chunks(1000) {
            bins.add(piece, None, &mut sum);
        }
        bins.flush(&mut sum);
        assert_eq!(as_big(&sum), oracle(&values));
    }

    #[test]
    fn the_bound_holds_for_the_largest_count() {
        // 2^64 - 1 squares of f32::MAX, added as flushed bin totals: below
        // 2^618, so the top 22 bits stay clear.
        let mut sum = ExactSquareSum::ZERO;
        let per_flush = (SquareBins::CAPACITY as u64) * ((1u64 << 24) - 1).pow(2);
        for _ in 0..(1u64 << 12) {
            // 2^12 flushes of 2^16 values: 2^28 values; then scale by doubling.
            sum.add_shifted(per_flush, 506);
        }
        for _ in 0..36 {
            let copy = sum;
            sum.merge(&copy); // 2^64 values
        }
        let expected = BigUint::from((1u64 << 24) - 1).pow(2) << (506 + 64);
        assert_eq!(as_big(&sum), expected);
        assert!(as_big(&sum) < BigUint::from(1u8) << 618);
    }

    #[test]
    fn values_under_nulls_and_specials_add_nothing() {
        let values = [2.0, f32::NAN, f32::INFINITY, 3.0, f32::NEG_INFINITY, 1e30];
        let validity = Validity {
            bits: &[0b0001_1111],
            offset: 0,
        };
        assert_eq!(
            as_big(&binned(&values, Some(validity))),
            oracle(&[2.0, 3.0])
        );
    }

    /// The squares through the windows, with each instruction set.
    fn windowed(values: &[f32], validity: Option<Validity<'_>>) -> Vec<ExactSquareSum> {
        crate::kernel::arch::Isa::supported()
            .iter()
            .map(|isa| {
                let mut sum = ExactSquareSum::ZERO;
                let mut blocks = SquareBlocks::for_isa(isa.name());
                blocks.add(values, validity, &mut sum);
                blocks.flush(&mut sum);
                sum
            })
            .collect()
    }

    /// `2^k` with a full significand, as an f32 of biased exponent `k + 127`.
    fn full(k: i32) -> f32 {
        f32::from_bits((((k + 127) as u32) << 23) | 0x7f_ffff)
    }

    #[test]
    fn window_edges_are_exact_on_every_instruction_set() {
        // Exponent spans of 1, 9, 10, 18, 19, 27 and 28 binades (the last
        // goes to the bins), with the largest significands at both ends.
        for span in [0, 8, 9, 17, 18, 26, 27, 60] {
            let values: Vec<f32> = (0..3000)
                .map(|i| full(20 - (i % (span + 1))) * if i % 3 == 0 { -1.0 } else { 1.0 })
                .collect();
            for sum in windowed(&values, None) {
                assert_eq!(as_big(&sum), oracle(&values), "span {span}");
            }
        }
        // The bottom window clamps at e' = 1 (subnormals) without counting a
        // binade twice; the top one reaches f32::MAX.
        let low: Vec<f32> = (0..2100)
            .map(|i| f32::from_bits(1 + (i as u32 * 7919) % (5 << 23)))
            .collect();
        let high: Vec<f32> = (0..2100)
            .map(|i| f32::from_bits(0x7f7f_ffff - (i as u32 * 104_729) % (20 << 23)))
            .collect();
        for values in [&low, &high] {
            for sum in windowed(values, None) {
                assert_eq!(as_big(&sum), oracle(values));
            }
        }
        // Blocks whose ranges move: the window of the last block is tried
        // first and must give way (partly inside, wholly outside, wider).
        let moving: Vec<f32> = (0..9 * BLOCK)
            .map(|i| {
                let k = [20, 24, -30, -30, 60, 20, 13, 13, -126][i / BLOCK];
                let spread = [0, 0, 3, 9, 0, 40, 1, 8, 0][i / BLOCK];
                f32::from_bits(((((k + 127) - (i % (spread + 1)) as i32).max(0) as u32) << 23) | ((i as u32).wrapping_mul(2_654_435_761) >> 9))
            })
            .collect();
        for sum in windowed(&moving, None) {
            assert_eq!(as_big(&sum), oracle(&moving));
        }
        // NaN and infinities beside the largest finite values add nothing.
        let values = [f32::MAX, f32::INFINITY, f32::NAN, -f32::MAX, f32::NEG_INFINITY];
        for sum in windowed(&values, None) {
            assert_eq!(as_big(&sum), oracle(&values));
        }
    }

    fn any_f32() -> impl Strategy<Value = f32> {
        prop_oneof![
            any::<u32>().prop_map(f32::from_bits),
            (0u32..1 << 23).prop_map(f32::from_bits), // subnormals
            (-1e6f32..1e6),
            (0x7f00_0000u32..0x7f80_0000).prop_map(f32::from_bits), // huge
        ]
    }

    proptest! {
        #[test]
        fn binned_squares_equal_the_oracle(
            values in proptest::collection::vec(any_f32(), 0..3000),
            validity in proptest::collection::vec(any::<bool>(), 3000),
            offset in 0usize..9,
        ) {
            let mut bytes = vec![0u8; (3000 + 16) / 8];
            for (i, &valid) in validity.iter().enumerate() {
                if valid {
                    bytes[(i + offset) / 8] |= 1 << ((i + offset) % 8);
                }
            }
            let valid: Vec<f32> = values
                .iter()
                .zip(&validity)
                .filter(|(_, &v)| v)
                .map(|(&x, _)| x)
                .collect();
            let sum = binned(&values, Some(Validity { bits: &bytes, offset }));
            prop_assert_eq!(as_big(&sum), oracle(&valid));
            prop_assert_eq!(as_big(&binned(&values, None)), oracle(&values));
            let mut reference = ExactSquareSum::ZERO;
            for &x in valid.iter().filter(|x| x.is_finite()) {
                reference.add_f32(x);
            }
            prop_assert_eq!(sum, reference);
            let validity = Validity { bits: &bytes, offset };
            for fast in windowed(&values, Some(validity)) {
                prop_assert_eq!(fast, reference);
            }
        }

        #[test]
        fn windowed_squares_of_narrow_data_equal_the_oracle(
            center in -90i32..100,
            width in 0i32..30,
            bits in proptest::collection::vec(any::<u32>(), 0..5000),
        ) {
            // Values within `width` binades of 2^center: one to four windows.
            let values: Vec<f32> = bits
                .iter()
                .map(|&b| {
                    let k = center - (b % (width as u32 + 1)) as i32;
                    f32::from_bits((((k + 127) as u32) << 23) | (b >> 9)) * if b & 1 == 0 { 1.0 } else { -1.0 }
                })
                .collect();
            for sum in windowed(&values, None) {
                prop_assert_eq!(as_big(&sum), oracle(&values));
            }
        }
    }
}
