//! Per-instruction-set versions of the block kernel's one vector pass,
//! selected once at run time.
//!
//! Each instruction set provides [`Isa::scan`] over one block of at most
//! [`BLOCK`] values and its validity masks (bit `i` of `masks[i / 64]` for
//! value `i`, or `None` when all are valid). For a window `w` (the biased
//! exponents `16w..16w + 15`, see [`super::blocks`]) it returns a [`Scan`]:
//! the exact `f64` sum of the valid values in window `w`, which windows hold
//! valid nonzero values, and the largest biased exponent among valid values
//! (255 means NaN or an infinity is present).
//!
//! [`portable`] is the reference the others are tested against, bit for bit.
//! Layout after memchr: one module per target behind this dispatching front
//! (`x86_64::{avx512, avx2}`, `aarch64::neon`), each compiled only for its
//! target.

#[cfg(target_arch = "aarch64")]
pub mod aarch64;
pub mod portable;
#[cfg(target_arch = "x86_64")]
pub mod x86_64;

use super::blocks::BLOCK;

/// Validity masks of one block: bit `i` of word `i / 64` for value `i`.
pub type Masks = [u64; BLOCK / 64];

/// What one pass over a block found; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scan {
    /// Exact sum of the valid values whose biased exponent is in the window.
    pub sum: f64,
    /// Bit `w` is set when a valid nonzero value lies in window `w`.
    pub windows: u16,
    /// Largest biased exponent (`0..=255`) among the valid values.
    pub max_exponent: u32,
}

/// What the first, cheapest pass over a block found ([`Isa::span`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Span {
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

/// An instruction set the block kernel can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    /// AVX-512 F (x86-64): 16 lanes, validity as k-masks.
    Avx512,
    /// AVX2 (x86-64): 8 lanes, validity bytes expanded to lane masks.
    Avx2,
    /// NEON (aarch64): 4 lanes, validity bits expanded to lane masks by a
    /// bit test.
    Neon,
    /// Plain Rust, vectorised by the compiler for the build target.
    Portable,
}

impl Isa {
    /// The instruction set the kernel uses, chosen once: the best this
    /// machine supports, or the one named by the environment variable
    /// `MAPMEAN_ISA` (`avx512`, `avx2`, `neon`, `portable`) if the machine
    /// supports it — for comparing paths and for working around a slow one.
    pub fn detect() -> Isa {
        static CHOSEN: std::sync::OnceLock<Isa> = std::sync::OnceLock::new();
        *CHOSEN.get_or_init(|| {
            let supported = Isa::supported();
            std::env::var("MAPMEAN_ISA")
                .ok()
                .and_then(|name| Isa::from_name(&name))
                .filter(|isa| supported.contains(isa))
                .unwrap_or(supported[0])
        })
    }

    /// The instruction set called `name` (`avx512`, `avx2`, `neon`,
    /// `portable`).
    pub fn from_name(name: &str) -> Option<Isa> {
        match name.to_ascii_lowercase().as_str() {
            "avx512" => Some(Isa::Avx512),
            "avx2" => Some(Isa::Avx2),
            "neon" => Some(Isa::Neon),
            "portable" => Some(Isa::Portable),
            _ => None,
        }
    }

    /// Every instruction set this machine can run, best first (tests run them
    /// all against the reference). Never empty: ends with `Portable`.
    pub fn supported() -> Vec<Isa> {
        let mut isas = Vec::new();
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx2") {
                isas.push(Isa::Avx512);
            }
            if std::is_x86_feature_detected!("avx2") {
                isas.push(Isa::Avx2);
            }
        }
        #[cfg(target_arch = "aarch64")]
        if std::arch::is_aarch64_feature_detected!("neon") {
            isas.push(Isa::Neon);
        }
        isas.push(Isa::Portable);
        isas
    }

    /// The exact sum of the valid values in `window` (below 16): the `sum`
    /// of [`Isa::scan`] alone, for the extra passes over a block.
    #[inline]
    pub fn window_sum(self, block: &[f32], masks: Option<&Masks>, window: u32) -> f64 {
        debug_assert!(block.len() <= BLOCK && window < 16);
        match self {
            // SAFETY: as in `scan`.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { x86_64::avx512::window_sum(block, masks, window) },
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { x86_64::avx2::window_sum(block, masks, window) },
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => unsafe { aarch64::neon::window_sum(block, masks, window) },
            _ => portable::window_sum(block, masks, window),
        }
    }

    /// The exact sums of the valid values of every window at once, in one
    /// pass: for blocks whose values spread over many windows.
    #[inline]
    pub fn all_window_sums(self, block: &[f32], masks: Option<&Masks>) -> [f64; 16] {
        debug_assert!(block.len() <= BLOCK);
        match self {
            // SAFETY: as in `scan`.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { x86_64::avx512::all_window_sums(block, masks) },
            _ => portable::all_window_sums(block, masks),
        }
    }

    /// The first pass over a block: the `f64` sum of all valid values and
    /// the smallest and largest nonzero magnitudes, with no window
    /// selection — the least work per value, for blocks whose values lie
    /// within a few binades (the common case; see [`Span`]).
    #[inline]
    pub fn span(self, block: &[f32], masks: Option<&Masks>) -> Span {
        debug_assert!(block.len() <= BLOCK);
        match self {
            // SAFETY: as in `scan`; AVX-512 F machines also have AVX2 (every
            // one made so far), and `supported()` lists `Avx512` only where
            // `avx2` is detected as well.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 | Isa::Avx2 => unsafe { x86_64::avx2::span(block, masks) },
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => unsafe { aarch64::neon::span(block, masks) },
            _ => portable::span(block, masks),
        }
    }

    /// One pass over `block`; see the module docs. `window` must be below 16.
    #[inline]
    pub fn scan(self, block: &[f32], masks: Option<&Masks>, window: u32) -> Scan {
        debug_assert!(block.len() <= BLOCK && window < 16);
        match self {
            // SAFETY: `Avx512`, `Avx2` and `Neon` are only used after
            // `supported()` detected the feature at run time
            // (`blocks::update_with` checks a caller's choice), and the
            // functions read `block` and `masks` only within bounds.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { x86_64::avx512::scan(block, masks, window) },
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { x86_64::avx2::scan(block, masks, window) },
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => unsafe { aarch64::neon::scan(block, masks, window) },
            _ => portable::scan(block, masks, window),
        }
    }
}
