//! Per-instruction-set versions of the block kernel's passes, selected once
//! at run time.
//!
//! An [`Isa`] is an instruction set **this machine supports**: the only ways
//! to get one are detection ([`Isa::detect`], [`Isa::supported`],
//! [`Isa::from_name`]) and [`Isa::PORTABLE`], as memchr's searchers can only
//! be built after checking the CPU. So the passes, which run AVX-512, AVX2 or
//! NEON code according to the value, never execute an instruction the CPU
//! lacks, whatever their caller does. The passes themselves are private to
//! the crate; outside it, an `Isa` only chooses the code path of
//! [`super::blocks::update_with`].
//!
//! Each instruction set provides [`Isa::scan`] over one block of at most
//! [`BLOCK`] values and its validity masks (bit `i` of `masks[i / 64]` for
//! value `i`, or `None` when all are valid). For a window `w` (see
//! [`super::geometry`]) it returns a [`Scan`]: the exact `f64` sum of the
//! valid values in window `w`, which windows hold valid nonzero values, and
//! the largest biased exponent among valid values (255 means NaN or an
//! infinity is present). Every pass asserts (once per block, not per value)
//! that its block holds at most [`BLOCK`] values, so no load can leave the
//! block or its mask table.
//!
//! Each pass has its own choice of code per instruction set, by measurement
//! (`cargo bench --bench kernel`, group `wide`, and `benches/compare.py
//! wide`, the figures in `docs/benchmarks.md`): on the AVX-512 machine
//! measured (an Intel Xeon), the AVX2 versions of [`Isa::scan`] and
//! [`Isa::window_sum`], which prefetch and keep two chains, ran as fast as
//! or faster than the AVX-512 ones (on data in a few far-apart windows,
//! 0.46–0.59 × the read ceiling against 0.33–0.40), so `Avx512` runs them;
//! it keeps its own [`Isa::span`] (16 lanes: in cache 0.136 ns per value
//! against the AVX2 pass's 0.154 at 2^16 values, and the same 0.48 ns
//! streaming 256 MiB on one thread, medians of 15 alternating rounds) and
//! its own masked copy in [`Isa::bin_block`] (a validity mask is a k-mask as
//! it is). So a forced `MAPMEAN_ISA=avx2` runs no faster code than the
//! default. AVX-512 alone has [`Isa::flagged_sum`], an `asm!` block that
//! lets the processor's inexact flag prove a block's `f64` sum exact instead
//! of tracking magnitudes: in cache 0.08 ns per value against the span
//! pass's 0.12 (2^16 values, one thread, with the per-block work around
//! it). (Issue 12 saw `avx2` beat the default on wide data on a Zen 4 too:
//! that was the AVX-512 all-window pass, which the exponent bins replaced on
//! every instruction set.)
//!
//! [`portable`] is the reference the others are tested against, bit for bit.
//! Layout after memchr: one module per target behind this dispatching front
//! (`x86_64::{avx512, avx2}`, `aarch64::neon`), each compiled only for its
//! target.
//!
//! An instruction set cannot be named into existence:
//!
//! ```compile_fail,E0599
//! // There is no public variant or constructor that skips detection.
//! let isa = mapmean::kernel::arch::Isa::Avx512;
//! ```

#[cfg(target_arch = "aarch64")]
pub(crate) mod aarch64;
pub(crate) mod portable;
#[cfg(target_arch = "x86_64")]
pub(crate) mod x86_64;

use std::sync::OnceLock;

pub(crate) use super::geometry::Masks;
use super::geometry::{Bins, BLOCK, WINDOWS};
use super::native::{Native, SumBins};
use super::Validity;

/// What one pass over a block found; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Scan {
    /// Exact sum of the valid values whose biased exponent is in the window.
    pub sum: f64,
    /// Bit `w` is set when a valid nonzero value lies in window `w`.
    pub windows: u16,
    /// Largest biased exponent (`0..=255`) among the valid values.
    pub max_exponent: u32,
}

/// What the first, cheapest pass over a block found ([`Isa::span`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Span {
    /// The `f64` sum of all valid values, in any order: exact when the
    /// exponents of `low` and `high` are close enough (see
    /// [`super::blocks`]), and to be ignored otherwise.
    pub sum: f64,
    /// The smallest `|x|` bit pattern among valid nonzero values; 0 when
    /// there are none.
    pub low: u32,
    /// The largest `|x|` bit pattern among valid values (from `0x7f80_0000`
    /// on: NaN or an infinity).
    pub high: u32,
}

/// Asks for the cache line `near` bytes after `at` (and one farther on, into
/// L2) where the processor has such hints (x86-64); a hint reads nothing into
/// the program and never faults, whatever the address. For passes written
/// once for every instruction set.
#[inline(always)]
pub(crate) fn prefetch(at: *const u8, near: usize) {
    #[cfg(target_arch = "x86_64")]
    x86_64::prefetch_ahead(at as *const f32, near);
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (at, near);
}

/// Asks for the cache line holding `*at`, for a random access a few
/// iterations on (the grouped statistics' per-group states). A hint, as
/// [`prefetch`]; nothing on other targets.
#[inline(always)]
pub(crate) fn prefetch_line<T>(at: *const T) {
    #[cfg(target_arch = "x86_64")]
    x86_64::prefetch_line(at as *const u8);
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}

/// Whether this thread's floating-point environment reads subnormal inputs
/// as zero: x86-64's MXCSR with denormals-are-zero (DAZ) set, or aarch64's
/// FPCR with flush-to-zero (FZ) or flush-inputs-to-zero (FIZ). Rust code
/// never sets them, but a library built with `-ffast-math` may, for the
/// whole process, when it is loaded.
///
/// The passes that add values as `f64` ([`Isa::span`], [`Isa::scan`],
/// [`Isa::window_sum`], the split passes of the squares, and every
/// instruction set's code alike: the portable one compiles to the same
/// conversions) would then read a subnormal `f32` as zero. Callers read
/// this once per update and send every block that holds a subnormal to an
/// integer path instead (the exponent bins, the integer windows of the
/// squares), which reads bit patterns and is exact in any environment. The
/// flushing of *results* (FTZ) needs nothing: no sum or square of `f32`
/// values is a subnormal `f64`.
#[inline]
pub(crate) fn subnormals_read_as_zero() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        x86_64::denormals_are_zero()
    }
    #[cfg(target_arch = "aarch64")]
    {
        aarch64::inputs_flushed_to_zero()
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        false
    }
}

/// Whether this thread's floating-point environment is the default one:
/// rounding to nearest, no subnormal flushed or read as zero. The Float64
/// split pass ([`Isa::f64_split_sum`]) relies on all three (its remainders
/// may be subnormal); elsewhere the caller takes the exponent bins, which
/// read bit patterns.
#[inline]
pub(crate) fn default_float_environment() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        x86_64::default_controls()
    }
    #[cfg(target_arch = "aarch64")]
    {
        aarch64::default_controls()
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        true
    }
}

/// Runs `f` with this thread's floating-point environment reading subnormal
/// inputs as zero (x86-64: MXCSR's DAZ; aarch64: FPCR's FZ), as a library
/// built with `-ffast-math` leaves it, and restores the environment after,
/// also when `f` panics. For tests of [`subnormals_read_as_zero`]'s callers.
#[cfg(all(test, any(target_arch = "x86_64", target_arch = "aarch64")))]
pub(crate) fn with_subnormals_read_as_zero<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    let (read, write, flush) = (x86_64::mxcsr, x86_64::set_mxcsr, x86_64::MXCSR_DAZ);
    #[cfg(target_arch = "aarch64")]
    let (read, write, flush) = (aarch64::fpcr, aarch64::set_fpcr, aarch64::FPCR_FZ);
    /// Writes the register back as it was, also on a panic.
    struct Restore<T: Copy>(T, fn(T));
    impl<T: Copy> Drop for Restore<T> {
        fn drop(&mut self) {
            (self.1)(self.0);
        }
    }
    let old = read();
    let _restore = Restore(old, write);
    write(old | flush);
    f()
}

/// The table of [`Isa::detect`]: whether the AVX2 first pass over Float32
/// blocks beats the AVX-512 ones on an AVX-512 processor of this vendor
/// (`cpuid`'s string), family and model. AMD's family 25 (`0x19`) is Zen 3
/// and Zen 4, and only Zen 4 has AVX-512, which it runs on 256-bit units.
#[cfg(target_arch = "x86_64")]
fn avx2_sums_are_faster(vendor: &[u8; 12], family: u32) -> bool {
    vendor == b"AuthenticAMD" && family == 0x19
}

/// An instruction set the block kernel can use, and that this machine
/// supports.
///
/// Values come only from detection ([`Isa::detect`], [`Isa::supported`],
/// [`Isa::from_name`]) or are [`Isa::PORTABLE`]; see the module docs.
///
/// # Example
///
/// ```
/// use mapmean::kernel::arch::Isa;
/// let best = Isa::detect();
/// assert!(Isa::from_name(best.name()).is_some());
/// assert_eq!(Isa::supported().last(), Some(&Isa::PORTABLE));
/// assert_eq!(Isa::from_name("portable"), Some(Isa::PORTABLE));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Isa {
    /// Invariant: the CPU running this process supports `kind` (for
    /// `Avx512`, AVX-512 F, DQ, BW, VL, AVX2, BMI2, F16C and FMA; for
    /// `Avx2`, AVX2, BMI2, F16C and FMA). Only [`Isa::supported`] builds a
    /// `kind` other than `Portable`, after detecting it.
    kind: Kind,
    /// For `Avx512`: the first pass over Float32 blocks ([`Isa::span`]) is
    /// the AVX2 one and there is no [`Isa::flagged_sum`], as on the
    /// processors where that was measured faster ([`Isa::detect`]'s table).
    /// False for every other kind.
    avx2_sums: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    /// AVX-512 F (x86-64): 16 lanes, validity as k-masks.
    #[cfg(target_arch = "x86_64")]
    Avx512,
    /// AVX2 (x86-64): 8 lanes, validity bytes expanded to lane masks.
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// NEON (aarch64): 4 lanes, validity bits expanded to lane masks by a
    /// bit test.
    #[cfg(target_arch = "aarch64")]
    Neon,
    /// Plain Rust, vectorised by the compiler for the build target.
    Portable,
}

/// `Avx512`, `Avx2`, `Neon` or `Portable` (benchmark names use it), and
/// `Avx512 (AVX2 sums)` for the AVX-512 passes tuned as [`Isa::detect`]'s
/// table says.
impl std::fmt::Debug for Isa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.kind.fmt(f)?;
        if self.avx2_sums {
            f.write_str(" (AVX2 sums)")?;
        }
        Ok(())
    }
}

impl Isa {
    /// Plain Rust, vectorised by the compiler for the build target: runs on
    /// every machine.
    pub const PORTABLE: Isa = Isa {
        kind: Kind::Portable,
        avx2_sums: false,
    };

    /// The instruction set the kernel uses, chosen once: the best this
    /// machine supports, tuned for the processor, or the one named by the
    /// environment variable `MAPMEAN_ISA` (`avx512`, `avx2`, `neon`,
    /// `portable`) if the machine supports it — for comparing paths and for
    /// working around a slow one.
    ///
    /// The tuning is a table by vendor and family, from measurements (see
    /// `docs/benchmarks.md`): on an AMD Zen 4 (family 25 with AVX-512), the
    /// first pass over Float32 blocks is the AVX2 one, as the AVX-512
    /// passes, flagged and span, streamed at 19.0–20.8 GB/s there against
    /// AVX2's 22.6–22.9 (10% nulls: 20.2 against 22.3), while the AVX-512
    /// exponent bins stay (10.4 against 6.6 on wide data). Every other
    /// processor runs the best instruction set it supports, as measured on
    /// an Intel Xeon (AVX-512) and an AMD Zen 3 (AVX2).
    pub fn detect() -> Isa {
        static CHOSEN: OnceLock<Isa> = OnceLock::new();
        *CHOSEN.get_or_init(|| {
            std::env::var("MAPMEAN_ISA")
                .ok()
                .and_then(|name| Isa::from_name(&name))
                .unwrap_or_else(|| Isa::supported()[0].tuned())
        })
    }

    /// `self` tuned for the processor running this process, by the table
    /// of [`Isa::detect`].
    fn tuned(self) -> Isa {
        #[cfg(target_arch = "x86_64")]
        if self.kind == Kind::Avx512 {
            let (vendor, family, _model) = x86_64::processor();
            return Isa {
                avx2_sums: avx2_sums_are_faster(&vendor, family),
                ..self
            };
        }
        self
    }

    /// The instruction set called `name` (`avx512`, `avx2`, `neon`,
    /// `portable`, in any case), if this machine supports it.
    pub fn from_name(name: &str) -> Option<Isa> {
        let name = name.to_ascii_lowercase();
        Isa::supported().iter().copied().find(|isa| isa.name() == name)
    }

    /// The instruction set's name, as [`Isa::from_name`] takes it.
    pub fn name(self) -> &'static str {
        match self.kind {
            #[cfg(target_arch = "x86_64")]
            Kind::Avx512 => "avx512",
            #[cfg(target_arch = "x86_64")]
            Kind::Avx2 => "avx2",
            #[cfg(target_arch = "aarch64")]
            Kind::Neon => "neon",
            Kind::Portable => "portable",
        }
    }

    /// Every instruction set this machine can run, best first (tests run them
    /// all against the reference), detected once. Never empty: ends with
    /// [`Isa::PORTABLE`].
    pub fn supported() -> &'static [Isa] {
        static SUPPORTED: OnceLock<Vec<Isa>> = OnceLock::new();
        SUPPORTED.get_or_init(|| {
            let mut kinds = Vec::new();
            #[cfg(target_arch = "x86_64")]
            {
                // `Avx512` runs some AVX2 passes, and the sum of squares
                // uses AVX-512 DQ, BW and VL: require all of them. Both
                // kinds bin wide data with BMI2's `shrx` (every AVX2 CPU
                // known has BMI2; one without gets the portable passes).
                // F16C (`Isa::f16_sum`) and FMA (`Isa::f64_split_moments`)
                // came with AVX2 on every processor known; one without them
                // gets the portable passes.
                let bmi2 = std::is_x86_feature_detected!("bmi2")
                    && std::is_x86_feature_detected!("f16c")
                    && std::is_x86_feature_detected!("fma");
                if std::is_x86_feature_detected!("avx512f")
                    && std::is_x86_feature_detected!("avx512dq")
                    && std::is_x86_feature_detected!("avx512bw")
                    && std::is_x86_feature_detected!("avx512vl")
                    && std::is_x86_feature_detected!("avx2")
                    && bmi2
                {
                    kinds.push(Kind::Avx512);
                }
                if std::is_x86_feature_detected!("avx2") && bmi2 {
                    kinds.push(Kind::Avx2);
                }
            }
            #[cfg(target_arch = "aarch64")]
            if std::arch::is_aarch64_feature_detected!("neon") {
                kinds.push(Kind::Neon);
            }
            kinds.push(Kind::Portable);
            // The invariant of `Isa`: every kind here was detected above.
            kinds
                .into_iter()
                .map(|kind| Isa {
                    kind,
                    avx2_sums: false,
                })
                .collect()
        })
    }

    /// [`Isa::supported`] and the tuned versions [`Isa::detect`] may choose
    /// (an AVX-512 set with the AVX2 sums): what tests run against the
    /// reference.
    #[cfg(test)]
    pub(crate) fn variants() -> Vec<Isa> {
        let mut all = Isa::supported().to_vec();
        #[cfg(target_arch = "x86_64")]
        all.extend(
            Isa::supported()
                .iter()
                .filter(|isa| isa.kind == Kind::Avx512)
                .map(|&isa| Isa {
                    avx2_sums: true,
                    ..isa
                }),
        );
        all
    }

    /// The exact sum of the valid values in `window`: the `sum` of
    /// [`Isa::scan`] alone, for the extra passes over a block.
    ///
    /// # Panics
    ///
    /// If `block` holds more than [`BLOCK`] values.
    #[inline]
    pub(crate) fn window_sum(self, block: &[f32], masks: Option<&Masks>, window: u32) -> f64 {
        assert!(block.len() <= BLOCK);
        debug_assert!((window as usize) < WINDOWS);
        match self.kind {
            // SAFETY: the invariant of `Isa`: AVX2 was detected (for
            // `Avx512` too: `supported` requires both). The AVX2 pass is the
            // faster one on the AVX-512 machines measured (see the module
            // docs).
            #[cfg(target_arch = "x86_64")]
            Kind::Avx512 | Kind::Avx2 => unsafe { x86_64::avx2::window_sum(block, masks, window) },
            // SAFETY: the invariant of `Isa`: NEON was detected.
            #[cfg(target_arch = "aarch64")]
            Kind::Neon => unsafe { aarch64::neon::window_sum(block, masks, window) },
            Kind::Portable => portable::window_sum(block, masks, window),
        }
    }

    /// The first pass over a block: the `f64` sum of all valid values and
    /// the smallest and largest nonzero magnitudes, with no window
    /// selection — the least work per value, for blocks whose values lie
    /// within a few binades (the common case; see [`Span`]).
    ///
    /// # Panics
    ///
    /// If `block` holds more than [`BLOCK`] values.
    #[inline]
    pub(crate) fn span(self, block: &[f32], masks: Option<&Masks>) -> Span {
        assert!(block.len() <= BLOCK);
        match self.kind {
            // SAFETY: the invariant of `Isa`: AVX-512 F was detected.
            #[cfg(target_arch = "x86_64")]
            Kind::Avx512 if !self.avx2_sums => unsafe { x86_64::avx512::span(block, masks) },
            // SAFETY: the invariant of `Isa`: AVX2 was detected (for
            // `Avx512` too: `supported` requires both).
            #[cfg(target_arch = "x86_64")]
            Kind::Avx512 | Kind::Avx2 => unsafe { x86_64::avx2::span(block, masks) },
            // SAFETY: the invariant of `Isa`: NEON was detected.
            #[cfg(target_arch = "aarch64")]
            Kind::Neon => unsafe { aarch64::neon::span(block, masks) },
            Kind::Portable => portable::span(block, masks),
        }
    }

    /// The `f64` sum of all valid values when no addition rounded, as the
    /// processor's inexact flag tells, else `None`; `None` as well where the
    /// instruction set has no such pass (all but AVX-512). NaN and infinities
    /// make the sum non-finite. Cheaper than [`Isa::span`], which must track
    /// magnitudes to prove the sum exact, and exact on more blocks (any whose
    /// partial sums fit in 53 bits).
    ///
    /// # Panics
    ///
    /// If `block` holds more than [`BLOCK`] values.
    #[inline]
    pub(crate) fn flagged_sum(self, block: &[f32], masks: Option<&Masks>) -> Option<f64> {
        assert!(block.len() <= BLOCK);
        match self.kind {
            // SAFETY: the invariant of `Isa`: AVX-512 F and DQ were detected.
            #[cfg(target_arch = "x86_64")]
            Kind::Avx512 if !self.avx2_sums => unsafe { x86_64::avx512::flagged_sum(block, masks) },
            _ => {
                let _ = masks;
                None
            }
        }
    }

    /// The `f64` sum of the valid Float16 values of `block` (bit `j` of
    /// `masks[j / 64]` for value `j`). Exact when it is finite: every
    /// Float16 is a multiple of `2^-24` below `2^16`, so any partial sum of
    /// at most [`BLOCK`] of them is a multiple of `2^-24` below `2^27`, within
    /// `f64`'s 53 bits whatever the order. A NaN or infinity among the valid
    /// values makes it NaN or infinite, and the caller counts that block
    /// value by value.
    ///
    /// The x86-64 passes convert with the processor's `vcvtph2ps`; under a
    /// floating-point environment that reads subnormals as zero the caller
    /// uses [`Isa::PORTABLE`], which converts by integer arithmetic.
    ///
    /// # Panics
    ///
    /// If `block` holds more than [`BLOCK`] values.
    #[inline]
    pub(crate) fn f16_sum(self, block: &[half::f16], masks: Option<&Masks>) -> f64 {
        assert!(block.len() <= BLOCK);
        match self.kind {
            // SAFETY: the invariant of `Isa`: AVX-512 F, BW and VL were
            // detected.
            #[cfg(target_arch = "x86_64")]
            Kind::Avx512 => unsafe { x86_64::avx512::f16_sum(block, masks) },
            // SAFETY: the invariant of `Isa`: AVX2 and F16C were detected.
            #[cfg(target_arch = "x86_64")]
            Kind::Avx2 => unsafe { x86_64::avx2::f16_sum(block, masks) },
            _ => portable::f16_sum(block, masks),
        }
    }

    /// The exact sum of the valid Float64 values of `block` (bit `j` of
    /// `masks[j / 64]` for value `j`) as two `f64`s whose sum it is, or
    /// `None` if the block holds a NaN or an infinity, if its smallest
    /// nonzero valid magnitude lies more than 30 binades below its largest,
    /// or if the largest is near the largest double: the caller then bins
    /// it. See `portable::f64_split_sum` for the argument.
    ///
    /// Only in the default floating-point environment
    /// ([`default_float_environment`]).
    ///
    /// # Panics
    ///
    /// If `block` holds more than [`BLOCK`] values.
    #[inline]
    pub(crate) fn f64_split_sum(self, block: &[f64], masks: Option<&Masks>) -> Option<[f64; 2]> {
        assert!(block.len() <= BLOCK);
        match self.kind {
            // SAFETY: the invariant of `Isa`: AVX-512 F was detected.
            #[cfg(target_arch = "x86_64")]
            Kind::Avx512 => unsafe { x86_64::avx512::f64_split_sum(block, masks) },
            // SAFETY: the invariant of `Isa`: AVX2 was detected.
            #[cfg(target_arch = "x86_64")]
            Kind::Avx2 => unsafe { x86_64::avx2::f64_split_sum(block, masks) },
            _ => portable::f64_split_sum(block, masks),
        }
    }

    /// The exact sum and sum of squares of the valid Float64 values of
    /// `block` (bit `j` of `masks[j / 64]` for value `j`) as scaled `f64`
    /// parts ([`portable::SplitMoments`]), or `None` if the block holds a
    /// NaN or an infinity, or if its smallest nonzero valid magnitude lies
    /// more than 30 binades below its largest: the caller then bins it. See
    /// `portable::f64_split_moments` for the argument.
    ///
    /// Only in the default floating-point environment
    /// ([`default_float_environment`]).
    ///
    /// # Panics
    ///
    /// If `block` holds more than [`BLOCK`] values.
    #[inline]
    pub(crate) fn f64_split_moments(
        self,
        block: &[f64],
        masks: Option<&Masks>,
    ) -> Option<portable::SplitMoments> {
        assert!(block.len() <= BLOCK);
        match self.kind {
            // SAFETY: the invariant of `Isa`: AVX2 and FMA were detected
            // (for `Avx512` too: `supported` requires both). No AVX-512
            // version: none could be measured (or tested) yet.
            #[cfg(target_arch = "x86_64")]
            Kind::Avx512 | Kind::Avx2 => unsafe { x86_64::avx2::f64_split_moments(block, masks) },
            _ => portable::f64_split_moments(block, masks),
        }
    }

    /// Adds whole groups of the valid finite values of `chunk` (at most 64;
    /// bit `i` of `mask` for value `i`) to the Float64 sum's bins, as
    /// `F64Bins::add_pending`'s loop would, value `i` into set `i %
    /// SUM_SETS`. Returns the valid values it left for that loop (NaN,
    /// infinities, and those after its last whole group) as a mask, and the
    /// least and the greatest bin it may have added to (`usize::MAX` and 0
    /// when none). Where there is no vector version (all but AVX2 and
    /// AVX-512), it leaves every value.
    ///
    /// # Panics
    ///
    /// If `chunk` holds more than 64 values.
    #[inline]
    pub(crate) fn f64_bin_chunk(
        self,
        bins: &mut SumBins,
        chunk: &[f64],
        mask: u64,
    ) -> (u64, usize, usize) {
        assert!(chunk.len() <= 64);
        match self.kind {
            // SAFETY: the invariant of `Isa`: AVX2 was detected (for
            // `Avx512` too: `supported` requires both).
            #[cfg(target_arch = "x86_64")]
            Kind::Avx512 | Kind::Avx2 => unsafe { x86_64::avx2::f64_bin_chunk(bins, chunk, mask) },
            _ => {
                let _ = bins;
                (mask, usize::MAX, 0)
            }
        }
    }

    /// The exact sum of the valid integers of `values` and how many are
    /// valid (`portable::integer_sum`), compiled for this instruction set so
    /// that its 64-bit lanes are as wide as the processor's vectors.
    #[inline]
    pub(crate) fn integer_sum<T: Native>(
        self,
        values: &[T],
        validity: Option<Validity<'_>>,
    ) -> (i128, u64) {
        match self.kind {
            // SAFETY: the invariant of `Isa`: AVX-512 F, BW, VL, DQ and AVX2
            // were detected.
            #[cfg(target_arch = "x86_64")]
            Kind::Avx512 => unsafe { x86_64::avx512::integer_sum(values, validity) },
            // SAFETY: the invariant of `Isa`: AVX2 was detected.
            #[cfg(target_arch = "x86_64")]
            Kind::Avx2 => unsafe { x86_64::avx2::integer_sum(values, validity) },
            _ => portable::integer_sum(values, validity),
        }
    }

    /// One pass over `block`; see the module docs. `window` is below
    /// [`WINDOWS`] (another window matches no value).
    ///
    /// # Panics
    ///
    /// If `block` holds more than [`BLOCK`] values.
    #[inline]
    pub(crate) fn scan(self, block: &[f32], masks: Option<&Masks>, window: u32) -> Scan {
        assert!(block.len() <= BLOCK);
        debug_assert!((window as usize) < WINDOWS);
        match self.kind {
            // SAFETY: as in `window_sum`.
            #[cfg(target_arch = "x86_64")]
            Kind::Avx512 | Kind::Avx2 => unsafe { x86_64::avx2::scan(block, masks, window) },
            // SAFETY: the invariant of `Isa`: NEON was detected.
            #[cfg(target_arch = "aarch64")]
            Kind::Neon => unsafe { aarch64::neon::scan(block, masks, window) },
            Kind::Portable => portable::scan(block, masks, window),
        }
    }

    /// Adds every valid value of `block` to `bins` (see
    /// [`super::exponent_bins`]: value `i` adds its entry to bin `bits >> 23`
    /// of set `i % SETS`, null slots as `+0.0`). The caller reserves room
    /// for the block first (`ExponentBins::reserve`).
    ///
    /// # Panics
    ///
    /// If `block` holds more than [`BLOCK`] values.
    #[inline]
    pub(crate) fn bin_block(self, bins: &mut Bins, block: &[f32], masks: Option<&Masks>) {
        assert!(block.len() <= BLOCK);
        match self.kind {
            // SAFETY: the invariant of `Isa`: AVX-512 F and BMI2 were
            // detected.
            #[cfg(target_arch = "x86_64")]
            Kind::Avx512 => unsafe { x86_64::avx512::bin_block(bins, block, masks) },
            // SAFETY: the invariant of `Isa`: AVX2 and BMI2 were detected.
            #[cfg(target_arch = "x86_64")]
            Kind::Avx2 => unsafe { x86_64::avx2::bin_block(bins, block, masks) },
            _ => portable::bin_block(bins, block, masks),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn the_table_tunes_zen_4_alone() {
        // Zen 3 and Zen 4 are AMD's family 25; only Zen 4 has AVX-512, so
        // only it reaches the table. Zen 5 (family 26) and Intel keep the
        // AVX-512 passes.
        assert!(avx2_sums_are_faster(b"AuthenticAMD", 0x19));
        assert!(!avx2_sums_are_faster(b"AuthenticAMD", 0x1a));
        assert!(!avx2_sums_are_faster(b"GenuineIntel", 6));
        let (vendor, family, _) = x86_64::processor();
        assert!(family >= 6 && vendor.iter().all(u8::is_ascii_graphic), "{vendor:?} {family}");
        // The tuned set runs on this machine: it is one of the variants
        // tested against the reference, and names itself apart.
        let chosen = Isa::supported()[0].tuned();
        assert!(Isa::variants().contains(&chosen));
        let tuned = Isa {
            kind: Kind::Avx512,
            avx2_sums: true,
        };
        assert_eq!(format!("{tuned:?}"), "Avx512 (AVX2 sums)");
        assert_eq!(tuned.name(), "avx512");
    }
}
