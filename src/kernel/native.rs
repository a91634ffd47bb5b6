//! The input types the kernel reads, and the per-value loops of the domains
//! that the Float32 block kernel does not cover: Float64 (exponent bins in
//! front of a [`Wide`] fixed-point sum), signed and unsigned integers (plain
//! integer sums), and the extremes (min and max) of every type.
//!
//! [`Native`] is sealed: it is implemented for the native type of each
//! numeric Arrow type (`half::f16`, `f32`, `f64`, `i8` … `i64`, `u8` …
//! `u64`), and nothing else can be handed to an [`ExactState`](super::ExactState).
//!
//! # The Float64 bit budget
//!
//! Every finite `f64` is `m · 2^(max(e, 1) - 1075)` with an integer
//! significand `m < 2^53` and a biased exponent `e` in `0..=2046`, so it is an
//! integer multiple of `2^-1074` below `2^1024 = 2^2098` units. A sum of
//! fewer than `2^64` of them is below `2^2162` units: [`F64_SUM_LIMBS`]` = 34`
//! limbs (2,176 bits, sign included) hold it with 13 bits to spare. Squares
//! are `m² · 2^(2·max(e, 1) - 2)` units of `2^-2148`, below `2^4196` units, and
//! fewer than `2^64` of them below `2^4260`: [`F64_SQUARE_LIMBS`]` = 67` limbs
//! (4,288 bits).
//!
//! The loops add significands into bins by exponent and carry the bins into
//! the wide integers every [`BIN_BLOCK`] values. With `s = max(e, 1) - 1`
//! (a value is `±m · 2^s` units), the sum's bin `s / 8` takes `±m · 2^(s mod
//! 8)`, below `2^60`, as two 64-bit halves (its low 32 bits, unsigned, and
//! the rest, signed: two plain adds, where an `i128` add to memory chained
//! its carry flag through a second read-modify-write), in one of
//! [`SUM_SETS`] sets by the value's position; the squares' bin `s / 4` (a
//! `u128`) takes `m² · 4^(s mod 4)`, below `2^112`. So `2^16` values leave a
//! sum bin's halves below `2^48` and `2^44`, and a squares bin below `2^16 ·
//! (2^53 - 1)^2 · 2^6 < 2^128`: no bin can overflow in between. Eight
//! binades per bin keep the sum's bins in 16 KiB (the squares' 512 in 8
//! KiB), in L1 beside the data on any spread of exponents, where a bin per
//! exponent took 32 KiB. A carry costs one wide addition per bin that
//! occurred, so the longer run between carries matters for data over many
//! exponents; it looks at the bins between the least and the greatest added
//! since the last one, kept in registers as the values go (a per-value
//! record of the bins would be a store that the next value's waits on).
//! Without squares, AVX2 machines bin whole groups of 4 values in vector
//! registers first (`Isa::f64_bin_chunk`), and the loop takes the rest.
//!
//! # The integer bit budgets
//!
//! A sum of fewer than `2^64` values of at most 64 bits is below `2^128` in
//! magnitude; [`INT_SUM_LIMBS`]` = 3` (192 bits, signed) holds it. Their
//! squares are below `2^128` each and `2^192` in all: [`INT_SQUARE_LIMBS`]` = 4`.

use arrow_buffer::bit_chunk_iterator::BitChunks;
use half::f16;

use super::arch::Isa;
use super::wide::Wide;
use super::Validity;

/// Limbs of the Float64 sum (units of `2^-1074`), see the module docs.
pub(crate) const F64_SUM_LIMBS: usize = 34;
/// Limbs of the Float64 sum of squares (units of `2^-2148`).
pub(crate) const F64_SQUARE_LIMBS: usize = 67;
/// Limbs of an integer sum (units of 1).
pub(crate) const INT_SUM_LIMBS: usize = 3;
/// Limbs of an integer sum of squares.
pub(crate) const INT_SQUARE_LIMBS: usize = 4;
/// Values between two carries of the exponent bins into the wide sums.
const BIN_BLOCK: usize = 1 << 16;
/// log2 of the binades per bin of the sum ([`F64Bins`], module docs).
const SUM_BIN_SHIFT: usize = 3;
/// log2 of the binades per bin of the squares.
const SQUARE_BIN_SHIFT: usize = 2;
/// Bins of the sum and of the squares: the 2,046 values of `max(e, 1) - 1`
/// in groups.
pub(crate) const SUM_BINS: usize = 2048 >> SUM_BIN_SHIFT;
const SQUARE_BINS: usize = 2048 >> SQUARE_BIN_SHIFT;
// A sum term is below 2^60: its low 32 bits and its high part below 2^28,
// so BIN_BLOCK of them fit both halves (`SumBins`).
const _: () = assert!(53 + (1 << SUM_BIN_SHIFT) - 1 <= 60);
const _: () = assert!(BIN_BLOCK.ilog2() + 32 < 64 && BIN_BLOCK.ilog2() + 60 - 32 < 63);
const _: () = assert!(BIN_BLOCK.ilog2() + 106 + 2 * ((1 << SQUARE_BIN_SHIFT) - 1) <= 128);
const _: () = assert!(SQUARE_BINS == 2 * SUM_BINS);

/// The exponent of a Float64 sum's unit.
pub(crate) const F64_UNIT_EXP: i64 = -1074;

mod sealed {
    pub trait Sealed {}
}

/// The kind of number an input type holds; states of one kind merge, and
/// floats widen (Float16 ⊂ Float32 ⊂ Float64).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Domain {
    /// Float16 and Float32 values: the Float32 block kernel (every Float16
    /// is a Float32).
    Float32,
    /// Float64 values.
    Float64,
    /// Signed integers of 8 to 64 bits.
    Signed,
    /// Unsigned integers of 8 to 64 bits.
    Unsigned,
}

impl Domain {
    /// The domain of a numeric Arrow type; `None` for other types.
    ///
    /// ```
    /// use mapmean::kernel::Domain;
    /// assert_eq!(Domain::of(&arrow_schema::DataType::Float16), Some(Domain::Float32));
    /// ```
    pub fn of(data_type: &arrow_schema::DataType) -> Option<Domain> {
        super::state::domain_of(data_type)
    }
}

/// The native type of a numeric Arrow type: what an
/// [`ExactState`](super::ExactState) reads. Sealed.
pub trait Native: sealed::Sealed + Copy + Send + Sync + 'static {
    /// The Arrow type whose values have this native type.
    const DATA_TYPE: arrow_schema::DataType;
    /// The domain its values are summed in.
    const DOMAIN: Domain;
    /// The value as an `f64` (exact for the floats).
    fn to_f64(self) -> f64;
    /// The value as an `i128` (exact for the integers; floats truncate and
    /// are never asked).
    fn to_i128(self) -> i128;
    /// The values as `f32`, if they are.
    fn as_f32s(values: &[Self]) -> Option<&[f32]> {
        let _ = values;
        None
    }
    /// The values as `f64`, if they are.
    fn as_f64s(values: &[Self]) -> Option<&[f64]> {
        let _ = values;
        None
    }
    /// The values as `f16`, if they are.
    fn as_f16s(values: &[Self]) -> Option<&[f16]> {
        let _ = values;
        None
    }
    /// The exact sum of 64 integers, masked by `mask` (bit `i` for value
    /// `i`), in lanes that the compiler vectorises (see
    /// `arch::portable::integer_sum`). Floats are never asked.
    #[doc(hidden)]
    fn sum64(chunk: &[Self; 64], mask: u64) -> i128 {
        chunk
            .iter()
            .enumerate()
            .filter(|(i, _)| mask >> i & 1 == 1)
            .map(|(_, x)| x.to_i128())
            .sum()
    }
}

macro_rules! native {
    ($t:ty, $dt:ident, $domain:ident, |$x:ident| $f64:expr, $i128:expr, sum64: narrow $lane:ty) => {
        native!(@impl $t, $dt, $domain, |$x| $f64, $i128,
            #[inline(always)]
            fn sum64(chunk: &[Self; 64], mask: u64) -> i128 {
                let mut sum: $lane = 0;
                for (i, &x) in chunk.iter().enumerate() {
                    sum += <$lane>::from(x) & (0 as $lane).wrapping_sub((mask >> i & 1) as $lane);
                }
                i128::from(sum)
            }
        );
    };
    ($t:ty, $dt:ident, $domain:ident, |$x:ident| $f64:expr, $i128:expr, sum64: wide $high:ty) => {
        native!(@impl $t, $dt, $domain, |$x| $f64, $i128,
            #[inline(always)]
            fn sum64(chunk: &[Self; 64], mask: u64) -> i128 {
                let (mut low, mut high) = (0u64, 0 as $high);
                for (i, &x) in chunk.iter().enumerate() {
                    let lane = 0u64.wrapping_sub(mask >> i & 1);
                    low += x as u64 & 0xffff_ffff & lane;
                    high += (x >> 32) as $high & lane as $high;
                }
                (i128::from(high) << 32) + i128::from(low)
            }
        );
    };
    ($t:ty, $dt:ident, $domain:ident, |$x:ident| $f64:expr, $i128:expr $(, $slice:ident: $st:ty)?) => {
        native!(@impl $t, $dt, $domain, |$x| $f64, $i128,
            $(
                #[inline]
                fn $slice(values: &[Self]) -> Option<&[$st]> {
                    Some(values)
                }
            )?
        );
    };
    (@impl $t:ty, $dt:ident, $domain:ident, |$x:ident| $f64:expr, $i128:expr, $($item:item)*) => {
        impl sealed::Sealed for $t {}
        impl Native for $t {
            const DATA_TYPE: arrow_schema::DataType = arrow_schema::DataType::$dt;
            const DOMAIN: Domain = Domain::$domain;
            #[inline]
            fn to_f64(self) -> f64 {
                let $x = self;
                $f64
            }
            #[inline]
            fn to_i128(self) -> i128 {
                let $x = self;
                $i128
            }
            $($item)*
        }
    };
}

/// Integers of at most 32 bits: 64 of them sum in a `$lane` twice their
/// width (below `2^(bits + 6)`: `i32` lanes for 8 and 16 bits, `i64` for 32),
/// so that a vector holds as many lanes as it can. The mask becomes an
/// all-ones or all-zeros lane (`0 - bit`), so the loop is branch-free and
/// vectorises.
macro_rules! narrow_integer {
    ($t:ty, $dt:ident, $domain:ident, $lane:ty) => {
        native!($t, $dt, $domain, |x| x as f64, x as i128, sum64: narrow $lane);
    };
}

/// 64-bit integers: the low and high 32-bit halves are summed apart, each
/// in 64-bit lanes (`64 · 2^32 = 2^38`), and joined in an `i128`.
macro_rules! wide_integer {
    ($t:ty, $dt:ident, $domain:ident, $high:ty) => {
        native!($t, $dt, $domain, |x| x as f64, x as i128, sum64: wide $high);
    };
}

native!(f16, Float16, Float32, |x| x.to_f64(), x.to_f64() as i128, as_f16s: f16);
native!(f32, Float32, Float32, |x| x as f64, x as i128, as_f32s: f32);
native!(f64, Float64, Float64, |x| x, x as i128, as_f64s: f64);
narrow_integer!(i8, Int8, Signed, i32);
narrow_integer!(i16, Int16, Signed, i32);
narrow_integer!(i32, Int32, Signed, i64);
wide_integer!(i64, Int64, Signed, i64);
narrow_integer!(u8, UInt8, Unsigned, i32);
narrow_integer!(u16, UInt16, Unsigned, i32);
narrow_integer!(u32, UInt32, Unsigned, i64);
wide_integer!(u64, UInt64, Unsigned, u64);

/// Valid, NaN and infinite values of one update.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    pub valid: u64,
    pub nan: u64,
    pub pos_inf: u64,
    pub neg_inf: u64,
}

/// Calls `f(chunk, mask)` for `values` in chunks of at most 64, where bit
/// `i` of `mask` is set when `chunk[i]` is valid.
#[inline]
pub(crate) fn for_each_chunk<T: Copy>(
    values: &[T],
    validity: Option<Validity<'_>>,
    mut f: impl FnMut(&[T], u64),
) {
    match validity {
        None => {
            for chunk in values.chunks(64) {
                let mask = if chunk.len() == 64 {
                    u64::MAX
                } else {
                    (1u64 << chunk.len()) - 1
                };
                f(chunk, mask);
            }
        }
        Some(v) => {
            let bits = BitChunks::new(v.bits, v.offset, values.len());
            let mut chunks = values.chunks_exact(64);
            for (chunk, mask) in (&mut chunks).zip(bits.iter()) {
                f(chunk, mask);
            }
            let rest = chunks.remainder();
            if !rest.is_empty() {
                f(rest, bits.remainder_bits());
            }
        }
    }
}

/// Exponent bins of Float64 values in front of the wide sums (module docs).
///
/// The bins (16 KiB, 24 KiB with squares) are zero between uses: every
/// [`F64Bins::add`] ends with a carry. Each thread keeps one set
/// ([`with_f64_bins`]), so that an update of a few thousand values does not
/// allocate and clear them again.
pub(crate) struct F64Bins {
    /// The sum's bins as two halves: `low[b]` adds the low 32 bits of each
    /// term (unsigned), `high[b]` the rest (signed), so that a term is two
    /// plain 64-bit adds, not an `i128` add with its carry through memory.
    sum: Box<SumBins>,
    squares: Option<Box<[u128; SQUARE_BINS]>>,
    /// The sum's bins that may be nonzero: `lo..=hi` (none when `lo > hi`),
    /// and the squares' `2 · lo ..= 2 · hi + 1`.
    lo: usize,
    hi: usize,
    pending: usize,
}

/// The sum's bins ([`F64Bins`]): [`SUM_SETS`] sets, value `i` of a chunk
/// in set `i % SUM_SETS`, each bin a low half and a high half (the pair in
/// one cache line). Each term is below `2^60` in magnitude: `2^16` of them
/// leave a low half below `2^48` and a high half below `2^44` in magnitude.
pub(crate) type SumBins = [[(u64, i64); SUM_BINS]; SUM_SETS];

/// Sets of the sum's bins: values that may fall into the same bin are four
/// positions apart, not adjacent, so fewer reads of a bin wait on the write
/// just before them. Measured on 600 decades, one thread, an AMD Zen 3,
/// before the prefetch and the vector pass: 31.8 ms per 2^23 values in one
/// set, 28.9 ms in four.
pub(crate) const SUM_SETS: usize = 4;

/// How far ahead of the values [`F64Bins::add_pending`] prefetches, in bytes.
const BIN_PREFETCH: usize = 2048;

thread_local! {
    static BINS: std::cell::RefCell<Option<F64Bins>> = const { std::cell::RefCell::new(None) };
}

/// Runs `f` with this thread's bins (squares bins included if `squares`),
/// empty.
pub(crate) fn with_f64_bins<R>(squares: bool, f: impl FnOnce(&mut F64Bins) -> R) -> R {
    BINS.with(|cell| {
        let mut slot = cell.borrow_mut();
        let bins = slot.get_or_insert_with(|| F64Bins::new(squares));
        if bins.pending != 0 {
            // Left mid-update (only by a panic): start from zero.
            *bins = F64Bins::new(squares);
        }
        if squares && bins.squares.is_none() {
            bins.squares = Some(Box::new([0; SQUARE_BINS]));
        }
        f(bins)
    })
}

impl F64Bins {
    fn new(squares: bool) -> Self {
        F64Bins {
            sum: Box::new([[(0, 0); SUM_BINS]; SUM_SETS]),
            squares: squares.then(|| Box::new([0; SQUARE_BINS])),
            lo: usize::MAX,
            hi: 0,
            pending: 0,
        }
    }

    /// Adds the valid values of `values` (any finite or special `f64`),
    /// counting them in `tally`, and carries everything into `sum` and
    /// `squares`: the bins are empty again after it.
    pub(crate) fn add(
        &mut self,
        isa: Isa,
        values: &[f64],
        validity: Option<Validity<'_>>,
        tally: &mut Tally,
        sum: &mut Wide<F64_SUM_LIMBS>,
        mut squares: Option<&mut Wide<F64_SQUARE_LIMBS>>,
    ) {
        self.add_pending(isa, values, validity, tally, sum, squares.as_deref_mut());
        self.flush(sum, squares);
    }

    /// [`F64Bins::add`] without the final carry: the bins may hold values
    /// after it, to be carried by a later [`F64Bins::flush`] (before the
    /// bins are used for another state). Without squares, `isa` bins whole
    /// groups of values with vector code where it has some
    /// ([`Isa::f64_bin_chunk`]); the loop here takes the rest.
    pub(crate) fn add_pending(
        &mut self,
        isa: Isa,
        values: &[f64],
        validity: Option<Validity<'_>>,
        tally: &mut Tally,
        sum: &mut Wide<F64_SUM_LIMBS>,
        mut squares: Option<&mut Wide<F64_SQUARE_LIMBS>>,
    ) {
        let want_squares = squares.is_some();
        debug_assert!(!want_squares || self.squares.is_some());
        for_each_chunk(values, validity, |chunk, mask| {
            // Carry first if this chunk could take a bin past `BIN_BLOCK`
            // terms.
            if self.pending + chunk.len() > BIN_BLOCK {
                self.flush(sum, squares.as_deref_mut());
            }
            self.pending += chunk.len();
            tally.valid += u64::from(mask.count_ones());
            // The lines 2 KiB on (hints): without them both passes waited
            // on memory (600 decades, one thread, an AMD Zen 3, the AVX2
            // pass: 28.8 ms per 2^23 values without, 13–15 ms with; the
            // loop alone, 34.5 ms with).
            let at = chunk.as_ptr() as *const u8;
            for line in (0..std::mem::size_of_val(chunk)).step_by(64) {
                super::arch::prefetch(at.wrapping_add(line), BIN_PREFETCH);
            }
            let (mut lo, mut hi) = (self.lo, self.hi);
            let bins = &mut *self.sum;
            // Without squares, the vector pass first; it leaves NaN,
            // infinities and the values after its last whole group.
            let mask = if want_squares {
                mask
            } else {
                let (left, low, high) = isa.f64_bin_chunk(bins, chunk, mask);
                (lo, hi) = (lo.min(low), hi.max(high));
                left
            };
            let mut square_bins = self.squares.as_deref_mut().filter(|_| want_squares);
            let mut add = |x: f64, set: usize| {
                let bits = x.to_bits();
                let e = ((bits >> 52) & 0x7ff) as usize;
                if e == 0x7ff {
                    if bits & ((1 << 52) - 1) != 0 {
                        tally.nan += 1;
                    } else if bits >> 63 == 0 {
                        tally.pos_inf += 1;
                    } else {
                        tally.neg_inf += 1;
                    }
                    return;
                }
                let m = (bits & ((1 << 52) - 1)) | (u64::from(e != 0) << 52);
                // `x = ±m · 2^at` units; bins as in the module docs.
                let at = e.saturating_sub(1);
                let bin = at >> SUM_BIN_SHIFT;
                // ±m << (at & 7) without a branch (random signs would
                // mispredict): `s` is 0 or -1.
                let s = (bits as i64) >> 63;
                let v = (m << (at & ((1 << SUM_BIN_SHIFT) - 1))) as i64;
                let v = (v ^ s) - s;
                let pair = &mut bins[set][bin];
                pair.0 += v as u32 as u64;
                pair.1 += v >> 32;
                if let Some(sq) = square_bins.as_deref_mut() {
                    let up = 2 * (at & ((1 << SQUARE_BIN_SHIFT) - 1));
                    sq[at >> SQUARE_BIN_SHIFT] += (u128::from(m) * u128::from(m)) << up;
                }
                lo = lo.min(bin);
                hi = hi.max(bin);
            };
            if mask == u64::MAX {
                let (quads, rest) = chunk.as_chunks::<SUM_SETS>();
                for quad in quads {
                    for (set, &x) in quad.iter().enumerate() {
                        add(x, set);
                    }
                }
                for &x in rest {
                    add(x, 0);
                }
            } else {
                let mut rest = mask;
                while rest != 0 {
                    let i = rest.trailing_zeros() as usize;
                    add(chunk[i], i % SUM_SETS);
                    rest &= rest - 1;
                }
            }
            (self.lo, self.hi) = (lo, hi);
        });
    }

    /// Carries the bins into `sum` and `squares`; they are empty after it.
    pub(crate) fn flush(
        &mut self,
        sum: &mut Wide<F64_SUM_LIMBS>,
        mut squares: Option<&mut Wide<F64_SQUARE_LIMBS>>,
    ) {
        let (lo, hi) = (
            std::mem::replace(&mut self.lo, usize::MAX),
            std::mem::take(&mut self.hi),
        );
        for bin in lo..=hi {
            // Bin `bin` holds values of `2^(bin << SUM_BIN_SHIFT)` units.
            let mut s = 0i128;
            for set in self.sum.iter_mut() {
                let (low, high) = std::mem::take(&mut set[bin]);
                s += (i128::from(high) << 32) + i128::from(low);
            }
            if s != 0 {
                sum.add_shifted(s.unsigned_abs(), (bin << SUM_BIN_SHIFT) as u32, s < 0);
            }
            if let (Some(bins), Some(sq)) = (&mut self.squares, squares.as_deref_mut()) {
                for j in 2 * bin..2 * bin + 2 {
                    let q = std::mem::take(&mut bins[j]);
                    if q != 0 {
                        sq.add_shifted(q, (2 * (j << SQUARE_BIN_SHIFT)) as u32, false);
                    }
                }
            }
        }
        self.pending = 0;
    }
}

/// Adds a finite `f64` to a Float64 sum (units of `2^-1074`), exactly.
#[inline]
pub(crate) fn add_f64_to_wide(sum: &mut Wide<F64_SUM_LIMBS>, x: f64) {
    add_scaled_f64_to_wide(sum, x, 1074);
}

/// Adds `x · 2^shift` units to `wide`, exactly: `x` finite, and `x · 2^shift`
/// an integer (checked in debug builds; low bits would be lost otherwise).
/// The Float64 sum's units are `2^-1074` (`shift = 1074` for a plain value),
/// the squares' `2^-2148`; the split moments pass's parts come scaled.
#[inline]
pub(crate) fn add_scaled_f64_to_wide<const N: usize>(wide: &mut Wide<N>, x: f64, shift: i32) {
    debug_assert!(x.is_finite());
    let bits = x.to_bits();
    let e = ((bits >> 52) & 0x7ff) as i32;
    let m = (bits & ((1 << 52) - 1)) | (u64::from(e != 0) << 52);
    if m == 0 {
        return;
    }
    // `x = m · 2^(max(e, 1) − 1075)`.
    let at = e.max(1) - 1075 + shift;
    let (m, at) = if at >= 0 {
        (m, at as u32)
    } else {
        debug_assert!(
            m.trailing_zeros() >= at.unsigned_abs(),
            "{x} · 2^{shift} is not an integer"
        );
        (m >> at.unsigned_abs().min(63), 0)
    };
    wide.add_shifted(u128::from(m), at, bits >> 63 == 1);
}

/// Adds the squares of the valid integers of `values` to `squares` (their
/// sum and count come from `Isa::integer_sum`).
pub(crate) fn add_integer_squares<T: Native>(
    values: &[T],
    validity: Option<Validity<'_>>,
    sq: &mut Wide<INT_SQUARE_LIMBS>,
) {
    // Squares below 2^128 each: a u128 and a count of its wrap-arounds.
    let (mut low, mut high): (u128, u64) = (0, 0);
    for_each_chunk(values, validity, |chunk, mask| {
        for (i, &x) in chunk.iter().enumerate() {
            if mask >> i & 1 == 1 {
                let m = x.to_i128().unsigned_abs();
                let (r, wrapped) = low.overflowing_add(m * m);
                low = r;
                high += u64::from(wrapped);
            }
        }
    });
    sq.add_shifted(low, 0, false);
    sq.add_shifted(u128::from(high), 128, false);
}

/// Smallest and largest valid value, as pyarrow's `min_max` takes them: NaN
/// is skipped (a state whose valid values are all NaN has a NaN minimum and
/// maximum, decided from its counts), and of two zeros the minimum is `-0.0`
/// and the maximum `+0.0` whatever their order (pyarrow keeps the first
/// seen; an exact engine cannot depend on order).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Extremes {
    /// Float values (Float16, Float32 and Float64 are exact as `f64`);
    /// `(inf, -inf)` before any non-NaN value.
    Float {
        /// The minimum.
        min: f64,
        /// The maximum.
        max: f64,
    },
    /// Signed integers; `(i64::MAX, i64::MIN)` before any value.
    Signed {
        /// The minimum.
        min: i64,
        /// The maximum.
        max: i64,
    },
    /// Unsigned integers; `(u64::MAX, 0)` before any value.
    Unsigned {
        /// The minimum.
        min: u64,
        /// The maximum.
        max: u64,
    },
}

impl Extremes {
    /// The empty extremes of a domain.
    pub(crate) fn empty(domain: Domain) -> Self {
        match domain {
            Domain::Float32 | Domain::Float64 => Extremes::Float {
                min: f64::INFINITY,
                max: f64::NEG_INFINITY,
            },
            Domain::Signed => Extremes::Signed {
                min: i64::MAX,
                max: i64::MIN,
            },
            Domain::Unsigned => Extremes::Unsigned {
                min: u64::MAX,
                max: 0,
            },
        }
    }

    /// Takes in the valid values of `values`.
    pub(crate) fn add<T: Native>(&mut self, values: &[T], validity: Option<Validity<'_>>) {
        match self {
            Extremes::Float { min, max } => for_each_chunk(values, validity, |chunk, mask| {
                for (i, &x) in chunk.iter().enumerate() {
                    if mask >> i & 1 == 1 {
                        let x = x.to_f64();
                        float_min_max(min, max, x, x);
                    }
                }
            }),
            Extremes::Signed { min, max } => for_each_chunk(values, validity, |chunk, mask| {
                for (i, &x) in chunk.iter().enumerate() {
                    if mask >> i & 1 == 1 {
                        let x = x.to_i128() as i64;
                        *min = (*min).min(x);
                        *max = (*max).max(x);
                    }
                }
            }),
            Extremes::Unsigned { min, max } => for_each_chunk(values, validity, |chunk, mask| {
                for (i, &x) in chunk.iter().enumerate() {
                    if mask >> i & 1 == 1 {
                        let x = x.to_i128() as u64;
                        *min = (*min).min(x);
                        *max = (*max).max(x);
                    }
                }
            }),
        }
    }

    /// Takes in one valid value of the extremes' domain.
    #[inline]
    pub(crate) fn add_one<T: Native>(&mut self, x: T) {
        match self {
            Extremes::Float { min, max } => {
                let x = x.to_f64();
                float_min_max(min, max, x, x);
            }
            Extremes::Signed { min, max } => {
                let x = x.to_i128() as i64;
                *min = (*min).min(x);
                *max = (*max).max(x);
            }
            Extremes::Unsigned { min, max } => {
                let x = x.to_i128() as u64;
                *min = (*min).min(x);
                *max = (*max).max(x);
            }
        }
    }

    /// Merges extremes of the same domain (floats of any width); `false` if
    /// the domains differ.
    pub(crate) fn merge(&mut self, other: &Extremes) -> bool {
        match (self, other) {
            (Extremes::Float { min, max }, &Extremes::Float { min: lo, max: hi }) => {
                float_min_max(min, max, lo, hi);
                true
            }
            (Extremes::Signed { min, max }, &Extremes::Signed { min: lo, max: hi }) => {
                *min = (*min).min(lo);
                *max = (*max).max(hi);
                true
            }
            (Extremes::Unsigned { min, max }, &Extremes::Unsigned { min: lo, max: hi }) => {
                *min = (*min).min(lo);
                *max = (*max).max(hi);
                true
            }
            _ => false,
        }
    }
}

/// Folds `lo` into `min` and `hi` into `max`, skipping NaN, `-0.0` below
/// `+0.0`.
#[inline]
fn float_min_max(min: &mut f64, max: &mut f64, lo: f64, hi: f64) {
    if lo < *min || (lo == *min && lo.is_sign_negative()) {
        *min = lo;
    }
    if hi > *max || (hi == *max && hi.is_sign_positive()) {
        *max = hi;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_carry_the_validity_of_their_values() {
        let values: Vec<u32> = (0..150).collect();
        let bits: Vec<u8> = (0..20)
            .map(|i| if i % 2 == 0 { 0xff } else { 0x0f })
            .collect();
        let validity = Validity {
            bits: &bits,
            offset: 3,
        };
        let mut seen = Vec::new();
        for_each_chunk(&values, Some(validity), |chunk, mask| {
            for (i, &x) in chunk.iter().enumerate() {
                if mask >> i & 1 == 1 {
                    seen.push(x);
                }
            }
        });
        let expected: Vec<u32> = (0..150)
            .filter(|&i| validity.is_valid(i as usize))
            .collect();
        assert_eq!(seen, expected);
    }

    /// The exact sum and sum of squares of the valid finite values, in
    /// units of `2^-1074` and `2^-2148`, and the tally.
    fn reference(
        values: &[f64],
        valid: impl Fn(usize) -> bool,
    ) -> (num_bigint::BigInt, num_bigint::BigInt, Tally) {
        use num_bigint::BigInt;
        let (mut sum, mut squares, mut tally) =
            (BigInt::from(0), BigInt::from(0), Tally::default());
        for (i, &x) in values.iter().enumerate().filter(|&(i, _)| valid(i)) {
            tally.valid += 1;
            if x.is_nan() {
                tally.nan += 1;
            } else if x == f64::INFINITY {
                tally.pos_inf += 1;
            } else if x == f64::NEG_INFINITY {
                tally.neg_inf += 1;
            } else {
                let bits = x.to_bits();
                let e = ((bits >> 52) & 0x7ff) as u32;
                let m = BigInt::from((bits & ((1 << 52) - 1)) | (u64::from(e != 0) << 52));
                let shift = e.max(1) - 1;
                squares += (&m * &m) << (2 * shift);
                sum += if bits >> 63 == 1 {
                    -(m << shift)
                } else {
                    m << shift
                };
            }
            let _ = i;
        }
        (sum, squares, tally)
    }

    #[test]
    fn sums_and_squares_in_the_bins_equal_the_exact_ones() {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let n = 3 * BIN_BLOCK + 77;
        // Shapes: U[0,1) (values below the window now and then), 1e3 + noise,
        // the largest binades, subnormals and tiny normals, any exponent,
        // random signs everywhere, specials now and then, and a mix that
        // moves the window from chunk to chunk.
        for shape in 0..6 {
            let values: Vec<f64> = (0..n)
                .map(|i| {
                    let r = next();
                    let sign = if r & 1 == 1 { -1.0 } else { 1.0 };
                    let x = match shape {
                        0 => (r >> 11) as f64 * 2f64.powi(-53),
                        1 => 1e3 + ((r >> 11) as f64 * 2f64.powi(-53) - 0.5),
                        2 => f64::from_bits(r & 0x000f_ffff_ffff_ffff | (0x7f0 + (r >> 60)) << 52),
                        3 => f64::from_bits(r & 0x000f_ffff_ffff_ffff | ((r >> 59) % 3) << 52),
                        4 => f64::from_bits(r & 0x7fff_ffff_ffff_ffff),
                        _ => {
                            ((r >> 11) as f64 * 2f64.powi(-53))
                                * 2f64.powi(((i / 64) % 40) as i32 * 25 - 500)
                        }
                    };
                    match r >> 54 {
                        0 => f64::NAN,
                        1 => f64::INFINITY,
                        _ => sign * x,
                    }
                })
                .collect();
            let bits: Vec<u8> = (0..n.div_ceil(8)).map(|_| next() as u8 | 0x11).collect();
            for validity in [
                None,
                Some(Validity {
                    bits: &bits,
                    offset: 3,
                }),
            ] {
                let count = n - 3;
                let values = &values[..count];
                let valid = |i: usize| validity.is_none_or(|v| v.is_valid(i));
                let (want_sum, want_squares, want_tally) = reference(values, valid);
                // Every instruction set, with squares (the loop alone) and
                // without (its vector pass first).
                for (&isa, with_squares) in Isa::supported()
                    .iter()
                    .flat_map(|i| [(i, true), (i, false)])
                {
                    let mut tally = Tally::default();
                    let mut sum = Wide::<F64_SUM_LIMBS>::ZERO;
                    let mut squares = Wide::<F64_SQUARE_LIMBS>::ZERO;
                    with_f64_bins(with_squares, |bins| {
                        // In pieces, so that the bins carry over.
                        for (k, piece) in values.chunks(1000).enumerate() {
                            let validity = validity.map(|v| v.shifted(k * 1000));
                            let sq = with_squares.then_some(&mut squares);
                            bins.add_pending(isa, piece, validity, &mut tally, &mut sum, sq);
                        }
                        bins.flush(&mut sum, with_squares.then_some(&mut squares));
                    });
                    let at = format!("shape {shape}, {isa:?}, squares {with_squares}");
                    assert_eq!(tally, want_tally, "{at}");
                    assert_eq!(sum.to_bigint(), want_sum, "{at}");
                    if with_squares {
                        assert_eq!(squares.to_bigint(), want_squares, "{at}");
                    }
                }
            }
        }
    }

    #[test]
    fn one_bin_of_full_significands_holds_across_carries() {
        // Every value in one bin with the largest significand, more values
        // than either carry interval, with and without squares and nulls:
        // the sums are the exact integers n · m · 2^at and n · m² · 2^(2·at).
        // At 1022 units, `(2^53 - 1) · 2^-52` is shifted by 6 in its sum bin
        // and 4 in its squares bin; at 1023, `4 - 2^-51`, by the most, 7
        // and 6.
        let m = (1u64 << 53) - 1;
        let n = 3 * BIN_BLOCK + 77;
        let bits: Vec<u8> = (0..n.div_ceil(8))
            .map(|i| if i % 3 == 0 { 0xfe } else { 0xff })
            .collect();
        for (x, at) in [
            (f64::from_bits(0x3fff_ffff_ffff_ffff), 1022),
            (f64::from_bits(0x400f_ffff_ffff_ffff), 1023),
        ] {
            let values = vec![x; n];
            for validity in [
                None,
                Some(Validity {
                    bits: &bits,
                    offset: 0,
                }),
            ] {
                let valid = (0..n)
                    .filter(|&i| validity.is_none_or(|v| v.is_valid(i)))
                    .count();
                for (&isa, want_squares) in Isa::supported()
                    .iter()
                    .flat_map(|i| [(i, false), (i, true)])
                {
                    let mut tally = Tally::default();
                    let mut sum = Wide::<F64_SUM_LIMBS>::ZERO;
                    let mut squares = Wide::<F64_SQUARE_LIMBS>::ZERO;
                    with_f64_bins(want_squares, |bins| {
                        bins.add(
                            isa,
                            &values,
                            validity,
                            &mut tally,
                            &mut sum,
                            want_squares.then_some(&mut squares),
                        )
                    });
                    assert_eq!(tally.valid, valid as u64);
                    let unit = num_bigint::BigInt::from(valid) * m;
                    assert_eq!(sum.to_bigint(), unit << at);
                    if want_squares {
                        let sq = num_bigint::BigInt::from(valid) * m * m;
                        assert_eq!(squares.to_bigint(), sq << (2 * at));
                    }
                }
            }
        }
    }

    #[test]
    fn float_extremes_skip_nan_and_order_zeros() {
        let mut e = Extremes::empty(Domain::Float64);
        e.add(&[0.0, f64::NAN, -0.0, 0.0], None);
        let Extremes::Float { min, max } = e else {
            unreachable!()
        };
        assert!(min == 0.0 && min.is_sign_negative());
        assert!(max == 0.0 && max.is_sign_positive());
    }
}
