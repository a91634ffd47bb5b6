//! Per-instruction-set versions of the block kernel's two vector passes,
//! selected once at run time.
//!
//! Each instruction set provides the same two functions over one block of at
//! most [`BLOCK`] values and its validity masks (bit `i` of `masks[i / 64]`
//! for value `i`, or `None` when all are valid):
//!
//! - `max_exponent`: the largest exponent field (`bits & 0x7f80_0000`) among
//!   valid values, `0` if none;
//! - `window_sum`: the exact `f64` sum of valid values whose magnitude bits
//!   are at least `low_bits`, and whether any nonzero valid value lies below.
//!
//! [`portable`] is the reference the others are tested against, bit for bit.
//! Layout after memchr: one module per target behind this dispatching front.

pub mod portable;
#[cfg(target_arch = "x86_64")]
pub mod x86_64;

use super::blocks::BLOCK;

/// Validity masks of one block: bit `i` of word `i / 64` for value `i`.
pub type Masks = [u64; BLOCK / 64];

/// An instruction set the block kernel can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    /// AVX-512 F (x86-64): 16 lanes, validity as k-masks.
    Avx512,
    /// AVX2 (x86-64): 8 lanes.
    Avx2,
    /// Plain Rust, vectorised by the compiler for the build target.
    Portable,
}

impl Isa {
    /// The best instruction set of this machine, detected once.
    pub fn detect() -> Isa {
        static BEST: std::sync::OnceLock<Isa> = std::sync::OnceLock::new();
        *BEST.get_or_init(|| Isa::supported().into_iter().next().unwrap_or(Isa::Portable))
    }

    /// Every instruction set this machine can run, best first (tests run them
    /// all against the reference).
    pub fn supported() -> Vec<Isa> {
        let mut isas = Vec::new();
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx512f") {
                isas.push(Isa::Avx512);
            }
            if std::is_x86_feature_detected!("avx2") {
                isas.push(Isa::Avx2);
            }
        }
        isas.push(Isa::Portable);
        isas
    }

    /// See the module docs.
    #[inline]
    pub(crate) fn max_exponent(self, block: &[f32], masks: Option<&Masks>) -> u32 {
        debug_assert!(block.len() <= BLOCK);
        match self {
            // SAFETY: `Avx512` and `Avx2` are only constructed by
            // `supported()` after run-time detection of the feature (and the
            // functions only read `block` and `masks` within bounds).
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { x86_64::avx512::max_exponent(block, masks) },
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { x86_64::avx2::max_exponent(block, masks) },
            _ => portable::max_exponent(block, masks),
        }
    }

    /// See the module docs.
    #[inline]
    pub(crate) fn window_sum(
        self,
        block: &[f32],
        masks: Option<&Masks>,
        low_bits: u32,
    ) -> (f64, bool) {
        debug_assert!(block.len() <= BLOCK);
        match self {
            // SAFETY: as in `max_exponent`.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { x86_64::avx512::window_sum(block, masks, low_bits) },
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { x86_64::avx2::window_sum(block, masks, low_bits) },
            _ => portable::window_sum(block, masks, low_bits),
        }
    }
}
