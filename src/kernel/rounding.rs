//! One correct rounding of exact values to `f64`: the quotient of two
//! integers times a power of two, and its square root.
//!
//! Both work the same way: compute the integer part `q` of the exact value
//! scaled so that `q` has at least 55 significant bits, note whether
//! anything was dropped (the **sticky** bit: a nonzero remainder, or a
//! square root that is not exact), then round `q` to 53 bits, to nearest
//! with ties to even. With at least two bits below the 53 kept, the first
//! dropped bit decides above or below the half-way point, and the rest of
//! `q` together with the sticky bit decides whether a "half" is an exact tie:
//! the result is the `f64` nearest the exact value, rounded once.
//!
//! Results of any magnitude round correctly: subnormal results keep the
//! bits down to `2^-1074` and round there (once), results above the largest
//! finite `f64` are infinite, as IEEE 754 rounding to nearest gives them.

use num_bigint::BigUint;
use num_traits::{One, Zero};

/// Significant bits of the scaled integer part: 53 kept, at least 2 dropped.
const WORKING_BITS: u64 = 55;

/// `num / den · 2^exp`, correctly rounded to the nearest `f64` (ties to
/// even). Zero for a zero numerator; requires `den > 0`.
pub(crate) fn quotient(num: &BigUint, den: &BigUint, exp: i64) -> f64 {
    debug_assert!(!den.is_zero());
    if num.is_zero() {
        return 0.0;
    }
    // num · 2^k / den >= 2^(bits(num) - 1 + k - bits(den)) = 2^WORKING_BITS.
    let k = WORKING_BITS as i64 + 1 + den.bits() as i64 - num.bits() as i64;
    let (scaled_num, scaled_den) = scale(num, den, k);
    let q = &scaled_num / &scaled_den;
    let sticky = &q * &scaled_den != scaled_num;
    round(&q, sticky, exp - k)
}

/// `sqrt(num / den · 2^exp)`, correctly rounded to the nearest `f64` (ties to
/// even; an exact tie cannot occur for a square root, but the rule costs
/// nothing). Zero for a zero numerator; requires `den > 0`.
pub(crate) fn sqrt_quotient(num: &BigUint, den: &BigUint, exp: i64) -> f64 {
    debug_assert!(!den.is_zero());
    if num.is_zero() {
        return 0.0;
    }
    // Make the exponent even, so that its half is exact.
    let (num, exp) = if exp % 2 == 0 {
        (num.clone(), exp)
    } else {
        (num << 1u32, exp - 1)
    };
    // t = floor(num · 4^k / den) >= 2^(2·WORKING_BITS), so sqrt(t) has at
    // least WORKING_BITS + 1 bits.
    let needed = 2 * WORKING_BITS as i64 + 2 + den.bits() as i64 - num.bits() as i64;
    let k = needed.div_euclid(2) + needed.rem_euclid(2);
    let (scaled_num, scaled_den) = scale(&num, den, 2 * k);
    let t = &scaled_num / &scaled_den;
    let remainder_zero = &t * &scaled_den == scaled_num;
    // With x = num·4^k/den in [t, t + 1) and r = isqrt(t):
    // r <= sqrt(x) < r + 1, because (r + 1)^2 >= t + 1 > x; sqrt(x) = r
    // exactly iff x = t = r^2.
    let r = t.sqrt();
    let sticky = !(remainder_zero && &r * &r == t);
    round(&r, sticky, exp / 2 - k)
}

/// `(num · 2^k, den)` for `k >= 0`, `(num, den · 2^-k)` otherwise: the same
/// quotient times `2^k`, in integers.
fn scale(num: &BigUint, den: &BigUint, k: i64) -> (BigUint, BigUint) {
    if k >= 0 {
        (num << k as u64, den.clone())
    } else {
        (num.clone(), den << (-k) as u64)
    }
}

/// `(q + f) · 2^exp` for some `f` in `[0, 1)` that is nonzero iff `sticky`,
/// rounded to the nearest `f64`, ties to even. `q` has at least
/// [`WORKING_BITS`] bits.
fn round(q: &BigUint, sticky: bool, exp: i64) -> f64 {
    let bits = q.bits();
    debug_assert!(bits >= WORKING_BITS);
    // Keep 53 bits, or fewer where the result is subnormal: its last kept
    // bit must weigh 2^-1074.
    let shift = (bits - 53).max((-1074 - exp).clamp(0, bits as i64 + 1) as u64);
    // The result is at least 2^(bits - 1 + exp) = 2^(shift + 52 + exp).
    if exp + shift as i64 + 52 >= 1024 {
        return f64::INFINITY;
    }
    let kept = q >> shift;
    let mut significand = kept.iter_u64_digits().next().unwrap_or(0);
    let dropped = q - (&kept << shift);
    let half = BigUint::one() << (shift - 1);
    if dropped > half || (dropped == half && (sticky || significand & 1 == 1)) {
        significand += 1; // may become 2^53: still exact in an f64
    }
    if significand == 0 {
        return 0.0;
    }
    scale_by_power_of_two(significand as f64, exp + shift as i64)
}

/// `x · 2^exp` for an integer `1 <= x <= 2^53` and `-1074 <= exp < 972`:
/// exact whenever the result is a finite `f64` (subnormal results included,
/// since `x` was rounded to their spacing), `inf` only for `2^1024`.
fn scale_by_power_of_two(x: f64, exp: i64) -> f64 {
    debug_assert!((-1074..972).contains(&exp));
    let power = |e: i64| f64::from_bits(((e + 1023) as u64) << 52);
    if exp < -1022 {
        // Two steps: the first stays normal, the second lands exactly on a
        // multiple of 2^-1074.
        x * power(exp + 600) * power(-600)
    } else {
        x * power(exp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn big(x: u128) -> BigUint {
        BigUint::from(x)
    }

    #[test]
    fn exact_quotients_need_no_rounding() {
        assert_eq!(quotient(&big(6), &big(3), 0), 2.0);
        assert_eq!(quotient(&big(1), &big(8), -3), 1.0 / 64.0);
        assert_eq!(quotient(&big(0), &big(7), 5), 0.0);
    }

    #[test]
    fn quotients_round_like_ieee_division() {
        // Both operands exact in f64: IEEE division is correctly rounded.
        for (a, b) in [
            (1u128, 3u128),
            (2, 7),
            (1 << 60, 3),
            (123_456_789, 1 << 40),
            (10, 9),
        ] {
            assert_eq!(quotient(&big(a), &big(b), 0), a as f64 / b as f64);
        }
    }

    #[test]
    fn ties_go_to_even() {
        // 2^53 + 1 is half way between 2^53 and 2^53 + 2.
        assert_eq!(quotient(&big((1 << 53) + 1), &big(1), 0), 2f64.powi(53));
        assert_eq!(
            quotient(&big((1 << 53) + 3), &big(1), 0),
            2f64.powi(53) + 4.0
        );
        // Just above the tie rounds up.
        assert_eq!(
            quotient(&big((1 << 54) + 3), &big(2), 0),
            2f64.powi(53) + 2.0
        );
    }

    #[test]
    fn square_roots_of_squares_are_exact() {
        assert_eq!(sqrt_quotient(&big(9), &big(4), 0), 1.5);
        assert_eq!(sqrt_quotient(&big(1), &big(1), -298), 2f64.powi(-149));
        assert_eq!(sqrt_quotient(&big(2), &big(1), -299), 2f64.powi(-149));
        assert_eq!(sqrt_quotient(&big(1), &big(1), 601), 2f64.powf(300.5));
    }

    proptest! {
        #[test]
        fn square_roots_match_ieee_sqrt_of_exact_f64s(bits in 1u64..0x7fe0_0000_0000_0000) {
            // For an f64 x, sqrt(x) is correctly rounded by IEEE 754.
            let x = f64::from_bits(bits);
            prop_assume!(x.is_normal() && x > 1e-300);
            let (m, e) = decompose(x);
            prop_assert_eq!(sqrt_quotient(&big(m as u128), &big(1), e), x.sqrt());
        }

        #[test]
        fn quotients_match_ieee_division_of_exact_f64s(a in 1u64..1 << 53, b in 1u64..1 << 53, e in -200i64..200) {
            let expected = (a as f64 / b as f64) * 2f64.powi(e as i32);
            prop_assert_eq!(quotient(&big(a as u128), &big(b as u128), e), expected);
        }
    }

    /// `x = m · 2^e` with an integer `m`.
    fn decompose(x: f64) -> (u64, i64) {
        let bits = x.to_bits();
        let biased = ((bits >> 52) & 0x7ff) as i64;
        ((bits & ((1 << 52) - 1)) | (1 << 52), biased - 1075)
    }
}
