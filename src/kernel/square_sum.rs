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
//! # The split windows (the fast path)
//!
//! [`SquareBlocks`] takes a block of at most [`BLOCK`] values at a time
//! (values under null slots first replaced by zeros, which add nothing).
//! Real data spans few binades. [`split_pass`] splits each value into its
//! top and bottom 12 significand bits, whose three products are exact in
//! `f64`, and sums them over two windows of [`SPLIT_WINDOW`] `= 10`
//! exponents in `f64` accumulators that provably never round (the bit
//! budget is in its docs). The windows that covered the last block are
//! tried first, in the same pass that finds the block's exponent range;
//! when the range lies inside them, that one pass is all. The fused
//! [`SquareBlocks::add_with_mean`] (what [`MomentsState`](crate::MomentsState)
//! uses) also takes the block's exact `Σx` and its counts from that pass, so
//! such a block is read once for the mean and the squares together.
//!
//! # The integer windows
//!
//! A block over more than 20 binades is covered from the top of its range
//! by *windows* of [`WINDOW`] `= 9` exponents, `[lo, lo + 8]`. Within
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
//! into the [`ExactSquareSum`] shifted by `2lo - 2` bits, exactly. A block
//! that would need more than [`MAX_WINDOWS`] windows (data over more than 27
//! binades) goes to the bins instead. Every path adds the exact sum of the
//! block's squares, so the result is bitwise the same for every instruction
//! set, block split and thread count.

use super::arch::subnormals_read_as_zero;
use super::geometry::BLOCK;
use super::{MeanState, Validity};

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
        let flushed = subnormals_read_as_zero();
        for (i, block) in values.chunks(BLOCK).enumerate() {
            let validity = validity.map(|v| v.shifted(i * BLOCK));
            let (block, _) = mask_block(&mut self.masked, block, validity);
            Self::add_masked_block(self.kernel, &mut self.bins, &mut self.guess, block, flushed, sum);
        }
    }

    /// Adds the valid `values` (`validity`, if any, covers exactly these
    /// values) to `mean` and the squares of the valid finite ones to `sum`,
    /// by [`SquareBlocks::add`]'s path. Where a split pass covered a block
    /// holding no NaN or infinity, that pass's exact `Σx` (see
    /// [`split_pass`]) and the validity bitmap's counts are the block's mean
    /// part; other blocks also go through the mean kernel. `mean` must be a part that holds fewer
    /// than `2^63` rows, so that its counts cannot wrap (the caller merges it
    /// into the real state with the overflow checks).
    pub(crate) fn add_with_mean(
        &mut self,
        values: &[f32],
        validity: Option<Validity<'_>>,
        mean: &mut MeanState,
        sum: &mut ExactSquareSum,
    ) {
        let flushed = subnormals_read_as_zero();
        for (i, original) in values.chunks(BLOCK).enumerate() {
            let validity = validity.map(|v| v.shifted(i * BLOCK));
            let (block, valid) = mask_block(&mut self.masked, original, validity);
            let squares = &mut self.bins;
            match Self::add_masked_block(self.kernel, squares, &mut self.guess, block, flushed, sum) {
                Some(pass) if !pass.special => {
                    mean.count += valid as u64;
                    mean.null_count += (block.len() - valid) as u64;
                    mean.exact_sum.add_f64(pass.sums_x[0]);
                    mean.exact_sum.add_f64(pass.sums_x[1]);
                }
                _ => super::blocks::update(mean, original, validity),
            }
        }
    }

    /// Adds the squares of one block whose invalid values are already zero;
    /// returns the split pass that covered it, if one did (see [`add_block`]).
    fn add_masked_block(
        kernel: Kernel,
        bins: &mut SquareBins,
        guess: &mut u32,
        block: &[f32],
        flushed: bool,
        sum: &mut ExactSquareSum,
    ) -> Option<SplitPass> {
        match kernel {
            // SAFETY: `Kernel::Avx512` and `Kernel::Avx2` are only chosen
            // through `Isa`, which offers them only where the CPU has
            // those features (`Isa::supported`).
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => unsafe { add_block_avx512(block, sum, bins, guess, flushed) },
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => unsafe { add_block_avx2(block, sum, bins, guess, flushed) },
            Kernel::Portable => add_block(block, sum, bins, guess, flushed, split_pass),
        }
    }

    /// Moves what waits in the bins into `sum`.
    pub fn flush(&mut self, sum: &mut ExactSquareSum) {
        self.bins.flush(sum);
    }
}

/// The block (at most [`BLOCK`] values) with the values under null slots
/// replaced by zeros (in `masked`, or the block itself without a bitmap),
/// and how many of its slots are valid.
#[inline]
fn mask_block<'a>(
    masked: &'a mut [f32; BLOCK],
    block: &'a [f32],
    validity: Option<Validity<'_>>,
) -> (&'a [f32], usize) {
    let Some(validity) = validity else {
        return (block, block.len());
    };
    let words =
        arrow_buffer::bit_chunk_iterator::BitChunks::new(validity.bits, validity.offset, block.len());
    let out = &mut masked[..block.len()];
    let mut valid = 0;
    // `iter_padded` pads the last word with zeros: only this block's bits count.
    for ((out, chunk), mask) in out.chunks_mut(64).zip(block.chunks(64)).zip(words.iter_padded()) {
        valid += mask.count_ones() as usize;
        for (j, (o, &x)) in out.iter_mut().zip(chunk).enumerate() {
            *o = if (mask >> j) & 1 == 1 { x } else { 0.0 };
        }
    }
    (&masked[..block.len()], valid)
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
    flushed: bool,
) -> Option<SplitPass> {
    add_block(block, sum, bins, guess, flushed, |block, g| {
        // SAFETY: this function's own contract: the CPU has AVX-512 F and DQ.
        unsafe { split_pass_avx512(block, g) }
    })
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
    flushed: bool,
) -> Option<SplitPass> {
    // `Isa` offers AVX2 without checking for FMA: separate multiply and add.
    add_block(block, sum, bins, guess, flushed, |block, g| {
        // SAFETY: this function's own contract: the CPU has AVX2.
        unsafe { split_pass_avx2(block, g) }
    })
}

/// Adds the squares of one block (at most [`BLOCK`] values; invalid ones
/// already zero). Data changes slowly, so the split windows that covered
/// the last block (`guess` is the bottom of the upper one) are tried first,
/// in the same pass that finds the block's exponent range: when the range
/// lies inside them, that one pass is all. Otherwise the block is summed
/// again, by the split windows of its own range if it spans at most
/// `2 · SPLIT_WINDOW` exponents, else by the integer windows from the top
/// of its range or through the bins when it spans more than [`MAX_WINDOWS`]
/// of those. `split_pass` is [`split_pass`] for the instruction set.
/// With `flushed` (subnormals read as zero: see
/// [`subnormals_read_as_zero`]), a block whose range reaches `e' = 1`, where
/// the subnormals lie, never takes the `f64` split pass's sums: the integer
/// windows or the bins sum it, and the caller's mean kernel its `Σx`.
///
/// Returns the split pass whose windows covered the block (its `Σx` is then
/// the block's exact sum), or `None` if the block went another way.
#[inline(always)]
fn add_block(
    block: &[f32],
    sum: &mut ExactSquareSum,
    bins: &mut SquareBins,
    guess: &mut u32,
    flushed: bool,
    split_pass: impl Fn(&[f32], u32) -> SplitPass,
) -> Option<SplitPass> {
    debug_assert!(block.len() <= BLOCK);
    // The split pass's sums are exact unless `flushed` and the range
    // reaches the subnormals (the range itself is integer comparisons).
    let split_exact = |low: u32| !flushed || low > 1;
    let (low, high) = if *guess != 0 {
        let g = *guess;
        // g = max(high' - 9, 1) for an earlier high' <= 254: g + 9 <= 254,
        // so NaN and infinities (e' = 255) are outside the windows.
        let pass = split_pass(block, g);
        let Some((low, high)) = pass.range else {
            return Some(pass); // zeros, NaN and infinities only: nothing to add
        };
        if low >= split_bottom(g) && high < g + SPLIT_WINDOW && split_exact(low) {
            pass.add_to(sum, g);
            return Some(pass);
        }
        (low, high)
    } else {
        exponent_range(block)?
    };
    let g = high.saturating_sub(SPLIT_WINDOW - 1).max(1);
    *guess = g;
    if low >= split_bottom(g) && split_exact(low) {
        let pass = split_pass(block, g);
        pass.add_to(sum, g);
        Some(pass)
    } else {
        add_windows(block, sum, bins, low, high);
        None
    }
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

/// Exponents `e'` per split window: see [`split_pass`].
pub const SPLIT_WINDOW: u32 = 10;

/// The bottom `e'` of the lower split window under the upper one `[g, g +
/// 9]`: `[split_bottom(g), g - 1]`, at most `SPLIT_WINDOW` exponents (fewer,
/// or none, near the subnormals).
#[inline(always)]
fn split_bottom(g: u32) -> u32 {
    g.saturating_sub(SPLIT_WINDOW).max(1)
}

/// The first `|x|` bit pattern with `e' >= e` (subnormals have `e' = 1`).
#[inline(always)]
fn first_bits(e: u32) -> u32 {
    if e <= 1 {
        0
    } else {
        e << 23
    }
}

/// What [`split_pass`] finds in a block.
struct SplitPass {
    /// The smallest and largest `e'` of the live (nonzero finite) values, or
    /// `None` if there are none.
    range: Option<(u32, u32)>,
    /// `Σ xh²`, `Σ xh·xl` and `Σ xl²` over the values of the upper window,
    /// then the same over the lower window (see [`split_pass`]).
    sums: [f64; 6],
    /// `Σ x` over the values of the upper window, then the lower one: exact
    /// multiples of `2^-149` (see [`split_pass`]).
    sums_x: [f64; 2],
    /// Whether the block holds a NaN or an infinity.
    special: bool,
}

impl SplitPass {
    /// Adds the six window sums to `sum`, exactly: each is an integer
    /// number of its unit below `2^53` (see [`split_pass`]), scaled to that
    /// integer by a power of two and shifted into place.
    fn add_to(&self, sum: &mut ExactSquareSum, g: u32) {
        let b = split_bottom(g);
        // (sum, exponent of its unit, extra factor 2 for the cross term)
        let parts = [
            (self.sums[0], 2 * g as i32 - 276, 0),
            (self.sums[1], 2 * g as i32 - 288, 1),
            (self.sums[2], 2 * g as i32 - 300, 0),
            (self.sums[3], 2 * b as i32 - 276, 0),
            (self.sums[4], 2 * b as i32 - 288, 1),
            (self.sums[5], 2 * b as i32 - 300, 0),
        ];
        for (total, unit, doubled) in parts {
            if total != 0.0 {
                // 2^-unit with unit in -298..=214: a normal f64.
                let scale = f64::from_bits(((1023 - unit) as u64) << 52);
                let units = (total * scale) as u64;
                debug_assert_eq!(units as f64, total * scale);
                // unit - SQUARE_UNIT_EXP + doubled <= 214 + 298 = 512.
                sum.add_shifted(units, (unit - SQUARE_UNIT_EXP) as u32 + doubled);
            }
        }
    }
}

/// How far ahead [`split_pass_avx512`] prefetches, in bytes.
#[cfg(target_arch = "x86_64")]
const PREFETCH_AHEAD: usize = 4096;

/// Lanes of the split pass's accumulators.
const SPLIT_LANES: usize = 8;

/// One pass over a block: the exponent range of its live values, and the
/// sums of squares of the values whose `e'` lies in the *upper split window*
/// `[g, g + 9]` or the *lower* one `[split_bottom(g), g - 1]`, in `f64`,
/// exact by this bit budget.
///
/// Each `|x| = m · 2^(e' - 150)` is split into `xh` (the top 12 bits of the
/// 24-bit significand `m`: `|x|` with its 12 low bits cleared) and `xl = |x|
/// - xh` (the low 12 bits), both exact `f32` values, so `x² = xh² + 2·xh·xl
/// + xl²` with
///
/// ```text
/// xh²   = mh²     · 2^(2e' - 276),   xh·xl = mh · ml · 2^(2e' - 288),   xl² = ml² · 2^(2e' - 300),
/// ```
///
/// `mh, ml < 2^12`, so each product is below `2^24` of its unit and exact
/// in `f64`. Within a window `[lo, lo + 9]` each of the three is a multiple
/// of its unit at `e' = lo` below `2^(24 + 2·9)` of it; a block of at most
/// `2^11` values sums below `2^(42 + 11) = 2^53` units: every partial sum,
/// in any lane split and order, is an exact `f64`. Six accumulators, three
/// per window, and two more for `Σ x` of each window: `x = xh + xl` is a
/// multiple of `2^(lo - 150)` (so of `2^-149`) below `2^(lo - 150 + 34)`,
/// and a block's sum stays below `2^46` of those units, exact too (`xh`
/// and `xl` keep the sign of `x`; their product is never negative). Values
/// outside both windows (and NaN, infinities: `e' = 255`
/// is above `g + 9 <= 254`) add zeros, and the caller sums the block again
/// when the range shows there were live ones.
#[inline(always)]
fn split_pass(block: &[f32], g: u32) -> SplitPass {
    let b = split_bottom(g);
    let (upper, lower) = (first_bits(g), first_bits(b));
    let upper_width = first_bits(g + SPLIT_WINDOW) - upper;
    let lower_width = upper - lower;
    // `min(|x| bits - 1)` skips zeros (they wrap to the maximum); the
    // maximum skips NaN and infinities.
    let (mut low, mut high) = ([u32::MAX; SPLIT_LANES], [0u32; SPLIT_LANES]);
    let mut top = [0u32; SPLIT_LANES];
    let mut acc = [[0f64; SPLIT_LANES]; 8];
    let mut lane_step = |lane: usize, x: f32, acc: &mut [[f64; SPLIT_LANES]; 8]| {
        let bits = x.to_bits() & 0x7fff_ffff;
        low[lane] = low[lane].min(bits.wrapping_sub(1));
        high[lane] = high[lane].max(if bits < 0x7f80_0000 { bits } else { 0 });
        top[lane] = top[lane].max(bits);
        let in_upper = bits.wrapping_sub(upper) < upper_width;
        let in_lower = bits.wrapping_sub(lower) < lower_width;
        let xh = f32::from_bits(x.to_bits() & !0xfff);
        let xl = x - xh;
        let (xh, xl) = (xh as f64, xl as f64);
        // Plain multiplies and adds: each product is exact, so is each sum.
        let (uh, ul) = if in_upper { (xh, xl) } else { (0.0, 0.0) };
        let (lh, ll) = if in_lower { (xh, xl) } else { (0.0, 0.0) };
        acc[0][lane] += uh * uh;
        acc[1][lane] += uh * ul;
        acc[2][lane] += ul * ul;
        acc[3][lane] += lh * lh;
        acc[4][lane] += lh * ll;
        acc[5][lane] += ll * ll;
        acc[6][lane] += uh + ul;
        acc[7][lane] += lh + ll;
    };
    let (chunks, rest) = block.as_chunks::<SPLIT_LANES>();
    for chunk in chunks {
        for (lane, &x) in chunk.iter().enumerate() {
            lane_step(lane, x, &mut acc);
        }
    }
    for &x in rest {
        lane_step(0, x, &mut acc);
    }
    let low = low.into_iter().min().unwrap_or(u32::MAX).wrapping_add(1);
    let high = high.into_iter().max().unwrap_or(0);
    let exponent = |bits: u32| (bits >> 23).max(1);
    let sums = acc.map(|lanes| lanes.iter().sum::<f64>());
    SplitPass {
        range: (high != 0).then(|| (exponent(low), exponent(high))),
        sums: [sums[0], sums[1], sums[2], sums[3], sums[4], sums[5]],
        sums_x: [sums[6], sums[7]],
        special: top.into_iter().max().unwrap_or(0) >= 0x7f80_0000,
    }
}

/// [`split_pass`] in AVX2 intrinsics, 8 values a step: the same windows
/// and sums as the AVX-512 pass, with lane masks widened to 64 bits and
/// separate multiplies and adds (AVX2 does not imply FMA; the products are
/// exact either way), the lower window's only in the steps that hold one of
/// its values.
///
/// # Safety
///
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn split_pass_avx2(block: &[f32], g: u32) -> SplitPass {
    use std::arch::x86_64::*;
    let b = split_bottom(g);
    let (upper, lower) = (first_bits(g), first_bits(b));
    let upper_end = first_bits(g + SPLIT_WINDOW);
    // All `|x|` bit patterns and bounds are below 2^31: signed compares
    // order them. `x in [start, end)` is `x > start - 1 && end > x`.
    let window = |start: u32, end: u32| (_mm256_set1_epi32(start as i32 - 1), _mm256_set1_epi32(end as i32));
    let (upper_start, upper_end) = window(upper, upper_end);
    let (lower_start, lower_end) = window(lower, upper);
    let abs = _mm256_set1_epi32(0x7fff_ffff);
    let one = _mm256_set1_epi32(1);
    let infinity = _mm256_set1_epi32(0x7f80_0000);
    let high_part = _mm256_set1_epi32(!0xfff);
    let mut low = _mm256_set1_epi32(-1);
    let mut high = _mm256_setzero_si256();
    let mut top = _mm256_setzero_si256();
    // [hh, hl, ll, x] × [lanes 0..4, lanes 4..8], upper window then lower.
    let mut acc = [_mm256_setzero_pd(); 16];
    for start in (0..block.len()).step_by(8) {
        let n = (block.len() - start).min(8);
        let x = if n == 8 {
            // SAFETY: `start + 8 <= block.len()`.
            unsafe { _mm256_loadu_si256(block.as_ptr().add(start).cast()) }
        } else {
            let mut chunk = [0f32; 8];
            chunk[..n].copy_from_slice(&block[start..]);
            // SAFETY: `chunk` holds 8 values.
            unsafe { _mm256_loadu_si256(chunk.as_ptr().cast()) }
        };
        // Once per 64-byte line: every other step of 8 values.
        if start % 16 == 0 {
            crate::kernel::arch::x86_64::prefetch_ahead(block.as_ptr().wrapping_add(start), PREFETCH_AHEAD);
        }
        let bits = _mm256_and_si256(x, abs);
        low = _mm256_min_epu32(low, _mm256_sub_epi32(bits, one));
        let finite = _mm256_cmpgt_epi32(infinity, bits);
        high = _mm256_max_epu32(high, _mm256_and_si256(bits, finite));
        top = _mm256_max_epu32(top, bits);
        let in_upper = _mm256_and_si256(
            _mm256_cmpgt_epi32(bits, upper_start),
            _mm256_cmpgt_epi32(upper_end, bits),
        );
        let in_lower = _mm256_and_si256(
            _mm256_cmpgt_epi32(bits, lower_start),
            _mm256_cmpgt_epi32(lower_end, bits),
        );
        let xh = _mm256_castsi256_ps(_mm256_and_si256(x, high_part));
        let xl = _mm256_sub_ps(_mm256_castsi256_ps(x), xh);
        let h = [
            _mm256_cvtps_pd(_mm256_castps256_ps128(xh)),
            _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(xh)),
        ];
        let l = [
            _mm256_cvtps_pd(_mm256_castps256_ps128(xl)),
            _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(xl)),
        ];
        let mut add = |mask: __m256i, base: usize| {
            let halves = [
                _mm256_cvtepi32_epi64(_mm256_castsi256_si128(mask)),
                _mm256_cvtepi32_epi64(_mm256_extracti128_si256::<1>(mask)),
            ];
            for half in 0..2 {
                let keep = _mm256_castsi256_pd(halves[half]);
                let (h, l) = (_mm256_and_pd(h[half], keep), _mm256_and_pd(l[half], keep));
                let at = base + half;
                acc[at] = _mm256_add_pd(acc[at], _mm256_mul_pd(h, h));
                acc[at + 2] = _mm256_add_pd(acc[at + 2], _mm256_mul_pd(h, l));
                acc[at + 4] = _mm256_add_pd(acc[at + 4], _mm256_mul_pd(l, l));
                acc[at + 6] = _mm256_add_pd(acc[at + 6], _mm256_add_pd(h, l));
            }
        };
        add(in_upper, 0);
        if _mm256_testz_si256(in_lower, in_lower) == 0 {
            add(in_lower, 8);
        }
    }
    let lanes = |v: __m256i| {
        let mut out = [0u32; 8];
        // SAFETY: `out` holds 8 `u32`, 32 bytes.
        unsafe { _mm256_storeu_si256(out.as_mut_ptr().cast(), v) };
        out
    };
    let total = |i: usize| {
        let mut out = [0f64; 4];
        // SAFETY: `out` holds 4 `f64`, 32 bytes.
        unsafe { _mm256_storeu_pd(out.as_mut_ptr(), _mm256_add_pd(acc[i], acc[i + 1])) };
        out.iter().sum::<f64>()
    };
    let low = lanes(low).into_iter().min().unwrap_or(u32::MAX).wrapping_add(1);
    let high = lanes(high).into_iter().max().unwrap_or(0);
    let exponent = |bits: u32| (bits >> 23).max(1);
    SplitPass {
        range: (high != 0).then(|| (exponent(low), exponent(high))),
        sums: [total(0), total(2), total(4), total(8), total(10), total(12)],
        sums_x: [total(6), total(14)],
        special: lanes(top).into_iter().max().unwrap_or(0) >= 0x7f80_0000,
    }
}

/// [`split_pass`] in AVX-512 intrinsics, 16 values a step: the same
/// windows, the same sums (every one exact, so the lane split does not
/// matter), with masked fused multiply-adds, and the lower window's only
/// in the steps that hold one of its values.
///
/// # Safety
///
/// The CPU must support AVX-512 F and DQ.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq")]
unsafe fn split_pass_avx512(block: &[f32], g: u32) -> SplitPass {
    use std::arch::x86_64::*;
    let b = split_bottom(g);
    let (upper, lower) = (first_bits(g), first_bits(b));
    let upper_width = first_bits(g + SPLIT_WINDOW) - upper;
    let lower_width = upper - lower;
    let abs = _mm512_set1_epi32(0x7fff_ffff);
    let one = _mm512_set1_epi32(1);
    let infinity = _mm512_set1_epi32(0x7f80_0000);
    let high_part = _mm512_set1_epi32(!0xfff);
    let (upper, upper_width) = (_mm512_set1_epi32(upper as i32), _mm512_set1_epi32(upper_width as i32));
    let (lower, lower_width) = (_mm512_set1_epi32(lower as i32), _mm512_set1_epi32(lower_width as i32));
    let mut low = _mm512_set1_epi32(-1);
    let mut high = _mm512_setzero_si512();
    // [hh, hl, ll] × [lanes 0..8, lanes 8..16], upper window then lower.
    let mut acc = [_mm512_setzero_pd(); 12];
    // Σ x: [upper window, lower window] × halves.
    let mut acc_x = [_mm512_setzero_pd(); 4];
    let mut specials: __mmask16 = 0;
    let mut start = 0;
    let full = block.len() / 16 * 16;
    while start < block.len() {
        let lanes: __mmask16 = if start < full {
            u16::MAX
        } else {
            (1u16 << (block.len() - start)) - 1
        };
        // SAFETY: the mask covers only `start..start + min(16, left)`,
        // inside `block`; masked-off lanes are not read and load zeros.
        let x = unsafe { _mm512_maskz_loadu_epi32(lanes, block.as_ptr().add(start).cast()) };
        // The pass does more work per cache line than the hardware
        // prefetcher expects: ask for the line PREFETCH_AHEAD bytes on (and
        // one farther into L2). A prefetch never faults, past the block's
        // end included.
        crate::kernel::arch::x86_64::prefetch_ahead(block.as_ptr().wrapping_add(start), PREFETCH_AHEAD);
        let bits = _mm512_and_si512(x, abs);
        low = _mm512_min_epu32(low, _mm512_sub_epi32(bits, one));
        let finite = _mm512_cmplt_epu32_mask(bits, infinity);
        high = _mm512_mask_max_epu32(high, finite, high, bits);
        specials |= !finite;
        let in_upper = _mm512_cmplt_epu32_mask(_mm512_sub_epi32(bits, upper), upper_width);
        let in_lower = _mm512_cmplt_epu32_mask(_mm512_sub_epi32(bits, lower), lower_width);
        // Signed: `xh` and `xl` have the sign of `x`, their product is >= 0.
        let xh = _mm512_castsi512_ps(_mm512_and_si512(x, high_part));
        let xl = _mm512_sub_ps(_mm512_castsi512_ps(x), xh);
        let h = [
            _mm512_cvtps_pd(_mm512_castps512_ps256(xh)),
            _mm512_cvtps_pd(_mm512_extractf32x8_ps::<1>(xh)),
        ];
        let l = [
            _mm512_cvtps_pd(_mm512_castps512_ps256(xl)),
            _mm512_cvtps_pd(_mm512_extractf32x8_ps::<1>(xl)),
        ];
        for half in 0..2 {
            let k = (in_upper >> (8 * half)) as u8;
            acc[half] = _mm512_mask3_fmadd_pd(h[half], h[half], acc[half], k);
            acc[2 + half] = _mm512_mask3_fmadd_pd(h[half], l[half], acc[2 + half], k);
            acc[4 + half] = _mm512_mask3_fmadd_pd(l[half], l[half], acc[4 + half], k);
            acc_x[half] = _mm512_mask_add_pd(acc_x[half], k, acc_x[half], h[half]);
            acc_x[half] = _mm512_mask_add_pd(acc_x[half], k, acc_x[half], l[half]);
        }
        if in_lower != 0 {
            for half in 0..2 {
                let k = (in_lower >> (8 * half)) as u8;
                acc[6 + half] = _mm512_mask3_fmadd_pd(h[half], h[half], acc[6 + half], k);
                acc[8 + half] = _mm512_mask3_fmadd_pd(h[half], l[half], acc[8 + half], k);
                acc[10 + half] = _mm512_mask3_fmadd_pd(l[half], l[half], acc[10 + half], k);
                acc_x[2 + half] = _mm512_mask_add_pd(acc_x[2 + half], k, acc_x[2 + half], h[half]);
                acc_x[2 + half] = _mm512_mask_add_pd(acc_x[2 + half], k, acc_x[2 + half], l[half]);
            }
        }
        start += 16;
    }
    let low = (_mm512_reduce_min_epu32(low) as u32).wrapping_add(1);
    let high = _mm512_reduce_max_epu32(high) as u32;
    let exponent = |bits: u32| (bits >> 23).max(1);
    let sum = |i: usize| _mm512_reduce_add_pd(_mm512_add_pd(acc[2 * i], acc[2 * i + 1]));
    SplitPass {
        range: (high != 0).then(|| (exponent(low), exponent(high))),
        sums: [sum(0), sum(1), sum(2), sum(3), sum(4), sum(5)],
        sums_x: [
            _mm512_reduce_add_pd(_mm512_add_pd(acc_x[0], acc_x[1])),
            _mm512_reduce_add_pd(_mm512_add_pd(acc_x[2], acc_x[3])),
        ],
        special: specials != 0,
    }
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
    /// The sums of squares by [`SquareBlocks::add`] and by the fused
    /// [`SquareBlocks::add_with_mean`] on every instruction set, the latter
    /// fed in pieces of `BLOCK / 2 + 1` values too (windows carried over
    /// calls); asserts that every fused mean state equals the reference's.
    fn windowed(values: &[f32], validity: Option<Validity<'_>>) -> Vec<ExactSquareSum> {
        let mut expected_mean = MeanState::default();
        crate::kernel::reference::update(&mut expected_mean, values, validity);
        let mut sums = Vec::new();
        for isa in crate::kernel::arch::Isa::supported() {
            let mut sum = ExactSquareSum::ZERO;
            let mut blocks = SquareBlocks::for_isa(isa.name());
            blocks.add(values, validity, &mut sum);
            blocks.flush(&mut sum);
            sums.push(sum);
            for piece in [BLOCK, BLOCK / 2 + 1] {
                let (mut mean, mut sum) = (MeanState::default(), ExactSquareSum::ZERO);
                let mut blocks = SquareBlocks::for_isa(isa.name());
                for (i, part) in values.chunks(piece).enumerate() {
                    let validity = validity.map(|v| v.shifted(i * piece));
                    blocks.add_with_mean(part, validity, &mut mean, &mut sum);
                }
                blocks.flush(&mut sum);
                assert_eq!(mean, expected_mean, "fused mean on {}", isa.name());
                sums.push(sum);
            }
        }
        sums
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
            // Every fifth slot null, holding junk far outside the windows:
            // the fused pass must neither count nor add it.
            let junk = [f32::NAN, f32::MAX, f32::from_bits(1), f32::NEG_INFINITY, -1e30];
            let mut bytes = vec![0u8; values.len().div_ceil(8) + 1];
            let mut with_junk = values.clone();
            for (i, x) in with_junk.iter_mut().enumerate() {
                if i % 5 == 3 {
                    *x = junk[i % junk.len()];
                } else {
                    bytes[(i + 3) / 8] |= 1 << ((i + 3) % 8);
                }
            }
            let valid: Vec<f32> = values.iter().enumerate().filter(|(i, _)| i % 5 != 3).map(|(_, &x)| x).collect();
            for sum in windowed(&with_junk, Some(Validity { bits: &bytes, offset: 3 })) {
                prop_assert_eq!(as_big(&sum), oracle(&valid));
            }
        }
    }

    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    #[test]
    fn subnormals_read_as_zero_by_the_environment_still_count() {
        use crate::kernel::arch::{subnormals_read_as_zero, with_subnormals_read_as_zero};
        let n = 3 * BLOCK as u32 + 17;
        let sub = |i: u32| f32::from_bits(1 + i.wrapping_mul(2_654_435_761) % 0x7f_ffff);
        let mixed = |other: &dyn Fn(u32) -> f32| -> Vec<f32> {
            (0..n).map(|i| if i % 3 == 0 { sub(i) } else { other(i) }).collect()
        };
        let sets = [
            (0..n).map(sub).collect(),
            // Within the split windows: e' up to 10.
            mixed(&|i| f32::from_bits(4 << 23 | i)),
            // Integer windows.
            mixed(&|i| f32::from_bits(20 << 23 | i)),
            // The bins.
            mixed(&|i| 1.0 + i as f32),
            // No subnormal: the split pass as before.
            (0..n).map(|i| 1.0 + i as f32).collect::<Vec<f32>>(),
        ];
        let bits = vec![0b1011_0111u8; n.div_ceil(8) as usize];
        for values in &sets {
            for validity in [None, Some(Validity { bits: &bits, offset: 3 })] {
                let valid: Vec<f32> = (0..values.len())
                    .filter(|&i| validity.is_none_or(|v| v.is_valid(i)))
                    .map(|i| values[i])
                    .collect();
                let sums = with_subnormals_read_as_zero(|| {
                    assert!(subnormals_read_as_zero());
                    windowed(values, validity)
                });
                for sum in &sums {
                    assert_eq!(as_big(sum), oracle(&valid));
                }
            }
        }
    }
}
