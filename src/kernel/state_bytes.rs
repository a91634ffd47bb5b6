//! The byte form of an [`ExactState`]: fixed width per input type and parts,
//! little-endian, versioned. Float32 states with no extremes keep the
//! version-1 forms of [`MeanState`] (96 bytes, `MMst`) and [`MomentsState`]
//! (176 bytes, `MMmo`), which users have stored; every other state is
//! written in version 2:
//!
//! ```text
//! offset  size   field
//!      0     4   magic b"MMsx"
//!      4     2   format version, u16 (2)
//!      6     1   input type: 1 Float16, 2 Float32, 3 Float64,
//!                4 Int8, 5 Int16, 6 Int32, 7 Int64, 8 UInt8, 9 UInt16, 10 UInt32, 11 UInt64
//!      7     1   parts: bit 0 the sum of squares, bit 1 the extremes
//!      8    40   count, null_count, nan_count, pos_inf_count, neg_inf_count (u64 each)
//!     48   8·S   the exact sum, S two's complement u64 limbs, least significant first:
//!                S = 6 (Float16/32, units of 2^-149), 34 (Float64, 2^-1074), 3 (integers, 1)
//!      …   8·Q   if bit 0: the sum of squares, Q limbs:
//!                Q = 10 (Float16/32, units of 2^-298), 67 (Float64, 2^-2148), 4 (integers)
//!      …    16   if bit 1: min and max (f64 bits for floats, i64 or u64 for integers)
//! ```
//!
//! `docs/state-format.md` is the specification; this module and that page
//! change together. [`ExactState::from_bytes`] reads all three forms and
//! checks every field as `MeanState::from_bytes` does (counts that agree, sums
//! that that many values can have, Cauchy–Schwarz between sum and squares,
//! extremes in order).

use arrow_schema::DataType;
use num_bigint::{BigInt, BigUint};

use super::native::{
    Domain, Extremes, F64_SQUARE_LIMBS, F64_SUM_LIMBS, INT_SQUARE_LIMBS, INT_SUM_LIMBS,
};
use super::square_sum::SQUARE_LIMBS;
use super::state::{domain_of, Core, Counts, ExactState, Float64Sums, IntegerSums, Parts};
use super::wide::Wide;
use super::{ExactSquareSum, ExactSum, MeanState, MomentsState};
use crate::error::{Error, Result};

/// The magic of version-2 states, ASCII `MMsx`.
pub const MAGIC: [u8; 4] = *b"MMsx";
/// The version this module writes.
pub const VERSION: u16 = 2;

const TYPES: [DataType; 11] = [
    DataType::Float16,
    DataType::Float32,
    DataType::Float64,
    DataType::Int8,
    DataType::Int16,
    DataType::Int32,
    DataType::Int64,
    DataType::UInt8,
    DataType::UInt16,
    DataType::UInt32,
    DataType::UInt64,
];

fn type_code(data_type: &DataType) -> u8 {
    TYPES
        .iter()
        .position(|t| t == data_type)
        .map_or(0, |i| i as u8 + 1)
}

/// Limbs of the sum and of the squares for a domain.
fn limbs(domain: Domain) -> (usize, usize) {
    match domain {
        Domain::Float32 => (6, SQUARE_LIMBS),
        Domain::Float64 => (F64_SUM_LIMBS, F64_SQUARE_LIMBS),
        Domain::Signed | Domain::Unsigned => (INT_SUM_LIMBS, INT_SQUARE_LIMBS),
    }
}

/// Bytes of a version-2 state of `domain` with `parts`.
fn length(domain: Domain, parts: Parts) -> usize {
    let (s, q) = limbs(domain);
    48 + 8 * s + if parts.squares { 8 * q } else { 0 } + if parts.extremes { 16 } else { 0 }
}

impl ExactState {
    /// The state's byte form (see `docs/state-format.md`): the version-1
    /// 96- or 176-byte form for a Float32 state without extremes, version 2
    /// otherwise. Equal states give equal bytes.
    ///
    /// # Example
    ///
    /// ```
    /// use arrow_schema::DataType;
    /// use mapmean::kernel::{ExactState, Parts};
    /// let mut state = ExactState::new(&DataType::Float64, Parts::default())?;
    /// state.update_values(&[0.1, 0.2], None)?;
    /// let bytes = state.to_bytes();
    /// assert_eq!((&bytes[..4], bytes.len()), (&b"MMsx"[..], 48 + 34 * 8));
    /// assert_eq!(ExactState::from_bytes(&bytes)?, state);
    /// # Ok::<(), mapmean::Error>(())
    /// ```
    pub fn to_bytes(&self) -> Vec<u8> {
        let extremes = self.extremes();
        if *self.input_type() == DataType::Float32 && extremes.is_none() {
            match self.core() {
                Core::Float32(m) => return m.to_bytes().to_vec(),
                Core::Float32Moments(m) => return m.to_bytes().to_vec(),
                _ => {}
            }
        }
        let parts = self.parts();
        let mut out = Vec::with_capacity(length(self.domain(), parts));
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.push(type_code(self.input_type()));
        out.push(u8::from(parts.squares) | u8::from(parts.extremes) << 1);
        let c = self.counts();
        for n in [
            c.count,
            c.null_count,
            c.nan_count,
            c.pos_inf_count,
            c.neg_inf_count,
        ] {
            out.extend_from_slice(&n.to_le_bytes());
        }
        let put = |out: &mut Vec<u8>, limbs: &[u64]| {
            for l in limbs {
                out.extend_from_slice(&l.to_le_bytes());
            }
        };
        match self.core() {
            Core::Float32(m) => put(&mut out, &m.exact_sum.to_limbs()),
            Core::Float32Moments(m) => {
                put(&mut out, &m.mean.exact_sum.to_limbs());
                put(&mut out, &m.squares.to_limbs());
            }
            Core::Float64(f) => {
                f.sum.to_le_bytes(&mut out);
                if let Some(q) = &f.squares {
                    q.to_le_bytes(&mut out);
                }
            }
            Core::Integer(i) => {
                i.sum.to_le_bytes(&mut out);
                if let Some(q) = &i.squares {
                    q.to_le_bytes(&mut out);
                }
            }
        }
        match extremes {
            Some(Extremes::Float { min, max }) => {
                out.extend_from_slice(&min.to_bits().to_le_bytes());
                out.extend_from_slice(&max.to_bits().to_le_bytes());
            }
            Some(Extremes::Signed { min, max }) => {
                out.extend_from_slice(&min.to_le_bytes());
                out.extend_from_slice(&max.to_le_bytes());
            }
            Some(Extremes::Unsigned { min, max }) => {
                out.extend_from_slice(&min.to_le_bytes());
                out.extend_from_slice(&max.to_le_bytes());
            }
            None => {}
        }
        out
    }

    /// Reads any state's bytes: version 1 (`MMst`, `MMmo`) or version 2
    /// (`MMsx`), checking every field.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidState`] naming what is wrong: the magic, version,
    /// type or length, counts that contradict each other, or sums that no
    /// data of that many values can have.
    ///
    /// # Example
    ///
    /// ```
    /// use mapmean::{kernel::ExactState, MeanState};
    /// let mut old = MeanState::default();
    /// old.update_values(&[1.0, 2.0], None)?;
    /// let state = ExactState::from_bytes(&old.to_bytes())?; // a stored 96-byte state
    /// assert_eq!(state.counts().count, 2);
    /// assert!(ExactState::from_bytes(b"garbage").is_err());
    /// # Ok::<(), mapmean::Error>(())
    /// ```
    pub fn from_bytes(bytes: &[u8]) -> Result<ExactState> {
        let invalid = |reason: String| Err(Error::InvalidState { reason });
        if bytes.len() >= 4 && bytes[..4] == MeanState::MAGIC {
            return Ok(ExactState::from_mean(MeanState::from_bytes(bytes)?));
        }
        if bytes.len() >= 4 && bytes[..4] == MomentsState::MAGIC {
            return Ok(ExactState::from_moments(MomentsState::from_bytes(bytes)?));
        }
        if bytes.len() < 8 {
            return invalid(format!(
                "{} bytes, shorter than the 8-byte header",
                bytes.len()
            ));
        }
        if bytes[..4] != MAGIC {
            return invalid(format!(
                "the bytes start with {:?}, not a state's magic (\"MMst\", \"MMmo\" or \"MMsx\")",
                bytes[..4].escape_ascii().to_string()
            ));
        }
        let version = u16::from_le_bytes([bytes[4], bytes[5]]);
        if version != VERSION {
            return invalid(format!(
                "format version {version}; this mapmean reads versions 1 and 2"
            ));
        }
        let Some(input) = (bytes[6] as usize)
            .checked_sub(1)
            .and_then(|i| TYPES.get(i))
            .cloned()
        else {
            return invalid(format!("unknown input type code {}", bytes[6]));
        };
        if bytes[7] > 3 {
            return invalid(format!("unknown parts flags {:#04x}", bytes[7]));
        }
        let parts = Parts {
            squares: bytes[7] & 1 == 1,
            extremes: bytes[7] & 2 == 2,
        };
        let domain = domain_of(&input).unwrap_or(Domain::Float64);
        let expected = length(domain, parts);
        if bytes.len() != expected {
            return invalid(format!(
                "{} bytes; a version-2 {input} state with these parts has exactly {expected}",
                bytes.len()
            ));
        }
        let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or([0; 8]));
        let counts = Counts {
            count: u64_at(8),
            null_count: u64_at(16),
            nan_count: u64_at(24),
            pos_inf_count: u64_at(32),
            neg_inf_count: u64_at(40),
        };
        let (s, q) = limbs(domain);
        let sum_at = 48;
        let squares_at = sum_at + 8 * s;
        let extremes_at = squares_at + if parts.squares { 8 * q } else { 0 };
        let core = match domain {
            Domain::Float32 => {
                let mut sum = [0u64; 6];
                for (i, l) in sum.iter_mut().enumerate() {
                    *l = u64_at(sum_at + 8 * i);
                }
                let mean = MeanState {
                    count: counts.count,
                    null_count: counts.null_count,
                    nan_count: counts.nan_count,
                    pos_inf_count: counts.pos_inf_count,
                    neg_inf_count: counts.neg_inf_count,
                    exact_sum: ExactSum::from_limbs(sum),
                };
                if parts.squares {
                    let mut sq = [0u64; SQUARE_LIMBS];
                    for (i, l) in sq.iter_mut().enumerate() {
                        *l = u64_at(squares_at + 8 * i);
                    }
                    let m = MomentsState {
                        mean,
                        squares: ExactSquareSum::from_limbs(sq),
                    };
                    m.validate()?;
                    Core::Float32Moments(m)
                } else {
                    mean.validate()?;
                    Core::Float32(mean)
                }
            }
            Domain::Float64 => {
                let sum = Wide::from_le_bytes(&bytes[sum_at..]).unwrap_or_default();
                let squares = parts.squares.then(|| {
                    Box::new(Wide::from_le_bytes(&bytes[squares_at..]).unwrap_or_default())
                });
                Core::Float64(Box::new(Float64Sums {
                    counts,
                    sum,
                    squares,
                }))
            }
            Domain::Signed | Domain::Unsigned => {
                let sum = Wide::from_le_bytes(&bytes[sum_at..]).unwrap_or_default();
                let squares = parts
                    .squares
                    .then(|| Wide::from_le_bytes(&bytes[squares_at..]).unwrap_or_default());
                Core::Integer(IntegerSums {
                    counts,
                    sum,
                    squares,
                })
            }
        };
        let extremes = parts.extremes.then(|| {
            let (a, b) = (u64_at(extremes_at), u64_at(extremes_at + 8));
            match domain {
                Domain::Float32 | Domain::Float64 => Extremes::Float {
                    min: f64::from_bits(a),
                    max: f64::from_bits(b),
                },
                Domain::Signed => Extremes::Signed {
                    min: a as i64,
                    max: b as i64,
                },
                Domain::Unsigned => Extremes::Unsigned { min: a, max: b },
            }
        });
        let state = ExactState::from_parts(input, parts, core, extremes);
        state.validate()?;
        Ok(state)
    }

    /// Checks that the state is one mapmean can have computed (see
    /// [`ExactState::from_bytes`], which runs it).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidState`] naming the rule that fails.
    pub fn validate(&self) -> Result<()> {
        let invalid = |reason: String| Err(Error::InvalidState { reason });
        let c = self.counts();
        c.check()?;
        let domain = self.domain();
        if matches!(domain, Domain::Signed | Domain::Unsigned) && c.finite_count() != c.count {
            return invalid("an integer state with NaN or infinite values".into());
        }
        let finite = BigUint::from(c.finite_count());
        // The largest magnitude of one value, in the state's units.
        let largest: BigUint = match domain {
            Domain::Float32 => BigUint::from((1u64 << 24) - 1) << 253u32,
            Domain::Float64 => BigUint::from((1u64 << 53) - 1) << 2045u32,
            Domain::Signed => BigUint::from(1u64 << 63),
            Domain::Unsigned => BigUint::from(u64::MAX),
        };
        let sums = self.exact_sums();
        if sums.sum.magnitude() > &(&finite * &largest) {
            return invalid(format!(
                "the sum {} exceeds what {} finite values can sum to",
                sums.sum,
                c.finite_count()
            ));
        }
        if domain == Domain::Unsigned && sums.sum < BigInt::from(0) {
            return invalid("a negative sum of unsigned integers".into());
        }
        if let Some(q) = &sums.squares {
            if q > &(&finite * &largest * &largest) {
                return invalid(format!(
                    "the sum of squares exceeds what {} finite values can have",
                    c.finite_count()
                ));
            }
            let s = sums.sum.magnitude();
            if s * s > &finite * q {
                return invalid(
                    "the sum and the sum of squares break Cauchy–Schwarz ((Σx)² <= finite_count · Σx²)"
                        .into(),
                );
            }
        }
        let has_values = c.count > c.nan_count;
        let ordered = match self.extremes() {
            None => true,
            Some(Extremes::Float { min, max }) => {
                if has_values {
                    min <= max
                } else {
                    *min == f64::INFINITY && *max == f64::NEG_INFINITY
                }
            }
            Some(Extremes::Signed { min, max }) => !has_values || min <= max,
            Some(Extremes::Unsigned { min, max }) => !has_values || min <= max,
        };
        if !ordered {
            return invalid("the extremes contradict the counts (min above max)".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip(state: &ExactState) {
        let bytes = state.to_bytes();
        assert_eq!(&ExactState::from_bytes(&bytes).unwrap(), state);
    }

    #[test]
    fn every_type_and_parts_round_trip() {
        for t in TYPES {
            for parts in [
                Parts::default(),
                Parts::ALL,
                Parts {
                    squares: true,
                    extremes: false,
                },
                Parts {
                    squares: false,
                    extremes: true,
                },
            ] {
                let mut s = ExactState::new(&t, parts).unwrap();
                match domain_of(&t).unwrap() {
                    Domain::Float32 | Domain::Float64 => {
                        s.update_values(&[1.5f64, -2.25, f64::NAN], None).ok();
                        s.update_values(&[1.5f32, -2.25], None).unwrap();
                    }
                    Domain::Signed => s.update_values(&[-3i8, 5], None).unwrap(),
                    Domain::Unsigned => s.update_values(&[3u8, 5], None).unwrap(),
                }
                round_trip(&s);
                let bytes = s.to_bytes();
                assert!(ExactState::from_bytes(&bytes[..bytes.len() - 1]).is_err());
            }
        }
    }

    proptest! {
        #[test]
        fn damaged_bytes_are_errors_or_valid_states(
            flips in prop::collection::vec((0usize..400, any::<u8>()), 1..4),
            parts in 0u8..4,
        ) {
            let mut s = ExactState::new(&DataType::Float64, Parts { squares: parts & 1 == 1, extremes: parts & 2 == 2 }).unwrap();
            s.update_values(&[1e300, -3.5, 1e-300], None).unwrap();
            let mut bytes = s.to_bytes();
            for (at, b) in flips {
                let n = bytes.len();
                bytes[at % n] ^= b;
            }
            if let Ok(state) = ExactState::from_bytes(&bytes) {
                state.validate().unwrap();
            }
        }
    }
}
