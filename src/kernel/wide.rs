//! [`Wide`]: a fixed-width two's complement integer of `N` 64-bit limbs, the
//! one integer type behind every exact sum whose carry and merge loops are
//! written here once.
//!
//! Each exact state sizes its `Wide` so that no sum it can hold reaches the
//! sign bit (the bit budgets are in `kernel::exact` next to each state: a
//! `u64` count bounds the number of terms, the input type bounds each term).
//! Within that budget every addition is exact and order-free, so the value
//! does not depend on chunking, threads or merge order. Past it the integer
//! wraps modulo `2^(64·N)`: a wrong value, never undefined behaviour or a
//! panic.

use num_bigint::{BigInt, Sign};

/// A two's complement integer of `N` little-endian 64-bit limbs.
///
/// # Example
///
/// ```
/// use mapmean::kernel::Wide;
/// let mut a = Wide::<4>::ZERO;
/// a.add_shifted(3, 100, false); // + 3 · 2^100
/// a.add_shifted(1, 100, true); //  - 1 · 2^100
/// assert_eq!(a.to_bigint(), num_bigint::BigInt::from(2) << 100);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Wide<const N: usize> {
    limbs: [u64; N],
}

impl<const N: usize> Default for Wide<N> {
    fn default() -> Self {
        Self::ZERO
    }
}

impl<const N: usize> std::fmt::Debug for Wide<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Wide({})", self.to_bigint())
    }
}

impl<const N: usize> Wide<N> {
    /// Zero.
    pub const ZERO: Self = Wide { limbs: [0; N] };

    /// The integer with these little-endian two's complement limbs.
    pub fn from_limbs(limbs: [u64; N]) -> Self {
        Wide { limbs }
    }

    /// The little-endian two's complement limbs.
    pub fn limbs(&self) -> &[u64; N] {
        &self.limbs
    }

    /// Whether the value is below zero.
    pub fn is_negative(&self) -> bool {
        self.limbs[N - 1] >> 63 == 1
    }

    /// Whether the value is zero.
    pub fn is_zero(&self) -> bool {
        self.limbs.iter().all(|&l| l == 0)
    }

    /// Adds `±magnitude · 2^shift`. The shifted magnitude must fit below the
    /// top limb (`shift + 128 <= 64 · N`, checked in debug builds).
    #[inline]
    pub fn add_shifted(&mut self, magnitude: u128, shift: u32, negative: bool) {
        debug_assert!(shift as usize + (128 - magnitude.leading_zeros() as usize) <= 64 * N);
        let word = (shift / 64) as usize;
        let bit = shift % 64;
        // The magnitude spread over three words at bit offset `bit`.
        let lo = (magnitude << bit) as u64;
        let mid = ((magnitude << bit) >> 64) as u64;
        let hi = if bit == 0 {
            0
        } else {
            (magnitude >> (128 - bit)) as u64
        };
        let parts = [lo, mid, hi];
        if negative {
            let mut borrow = false;
            for (i, limb) in self.limbs[word..].iter_mut().enumerate() {
                let part = parts.get(i).copied().unwrap_or(0);
                if i >= 3 && !borrow {
                    break;
                }
                let (r, b1) = limb.overflowing_sub(part);
                let (r, b2) = r.overflowing_sub(borrow as u64);
                *limb = r;
                borrow = b1 | b2;
            }
        } else {
            let mut carry = false;
            for (i, limb) in self.limbs[word..].iter_mut().enumerate() {
                let part = parts.get(i).copied().unwrap_or(0);
                if i >= 3 && !carry {
                    break;
                }
                let (r, c1) = limb.overflowing_add(part);
                let (r, c2) = r.overflowing_add(carry as u64);
                *limb = r;
                carry = c1 | c2;
            }
        }
    }

    /// Adds a signed 128-bit integer.
    #[inline]
    pub fn add_i128(&mut self, value: i128) {
        self.add_shifted(value.unsigned_abs(), 0, value < 0);
    }

    /// Adds another integer of the same width (modulo `2^(64·N)`).
    pub fn merge(&mut self, other: &Self) {
        let mut carry = false;
        for (a, &b) in self.limbs.iter_mut().zip(&other.limbs) {
            let (r, c1) = a.overflowing_add(b);
            let (r, c2) = r.overflowing_add(carry as u64);
            *a = r;
            carry = c1 | c2;
        }
    }

    /// `self · 2^shift` into a wider integer (`M >= N`), sign-extended.
    pub fn widen<const M: usize>(&self, shift: u32) -> Wide<M> {
        let mut out = Wide::<M>::ZERO;
        let negative = self.is_negative();
        let mut magnitude = *self;
        if negative {
            magnitude.negate();
        }
        for (i, &limb) in magnitude.limbs.iter().enumerate() {
            if limb != 0 {
                out.add_shifted(limb as u128, shift + 64 * i as u32, false);
            }
        }
        if negative {
            out.negate();
        }
        out
    }

    /// Two's complement negation in place.
    pub fn negate(&mut self) {
        let mut carry = true;
        for limb in &mut self.limbs {
            let (r, c) = (!*limb).overflowing_add(carry as u64);
            *limb = r;
            carry = c;
        }
    }

    /// The value as a [`BigInt`].
    pub fn to_bigint(&self) -> BigInt {
        let negative = self.is_negative();
        let mut magnitude = *self;
        if negative {
            magnitude.negate();
        }
        let digits: Vec<u32> = magnitude
            .limbs
            .iter()
            .flat_map(|&l| [l as u32, (l >> 32) as u32])
            .collect();
        let sign = if negative { Sign::Minus } else { Sign::Plus };
        BigInt::from_slice(sign, &digits)
    }

    /// Number of significant bits of the magnitude (0 for zero).
    pub fn magnitude_bits(&self) -> u64 {
        self.to_bigint().bits()
    }

    /// The limbs as `8 · N` little-endian bytes.
    pub fn to_le_bytes(&self, out: &mut Vec<u8>) {
        for limb in &self.limbs {
            out.extend_from_slice(&limb.to_le_bytes());
        }
    }

    /// Reads `8 · N` little-endian bytes (the inverse of
    /// [`Wide::to_le_bytes`]); `None` if `bytes` is shorter.
    pub fn from_le_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() < 8 * N {
            return None;
        }
        let mut limbs = [0u64; N];
        for (i, limb) in limbs.iter_mut().enumerate() {
            *limb = u64::from_le_bytes(bytes[8 * i..8 * i + 8].try_into().ok()?);
        }
        Some(Wide { limbs })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn additions_match_big_integers(terms in prop::collection::vec((any::<u128>(), 0u32..300, any::<bool>()), 0..40)) {
            let mut w = Wide::<8>::ZERO;
            let mut reference = BigInt::from(0);
            for &(m, s, neg) in &terms {
                w.add_shifted(m, s, neg);
                let t = BigInt::from(m) << s;
                if neg { reference -= t } else { reference += t }
            }
            prop_assert_eq!(w.to_bigint(), reference.clone());
            let mut wider: Wide<12> = w.widen(100);
            prop_assert_eq!(wider.to_bigint(), reference.clone() << 100u32);
            wider.merge(&w.widen(0));
            prop_assert_eq!(wider.to_bigint(), (reference.clone() << 100u32) + reference);
        }
    }

    #[test]
    fn bytes_round_trip() {
        let mut w = Wide::<3>::ZERO;
        w.add_i128(-12345678901234567890123);
        let mut bytes = Vec::new();
        w.to_le_bytes(&mut bytes);
        assert_eq!(Wide::<3>::from_le_bytes(&bytes), Some(w));
        assert_eq!(Wide::<3>::from_le_bytes(&bytes[1..]), None);
    }
}
