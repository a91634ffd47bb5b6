//! The byte form of a [`MeanState`]: 96 bytes, fixed width, little-endian,
//! versioned, the same in every language and on every machine.
//!
//! ```text
//! offset  size  field
//!      0     4  magic b"MMst"
//!      4     2  format version, u16 (1)
//!      6     2  flags, u16 (reserved: 0 in version 1)
//!      8     8  count, u64
//!     16     8  null_count, u64
//!     24     8  nan_count, u64
//!     32     8  pos_inf_count, u64
//!     40     8  neg_inf_count, u64
//!     48    48  the exact sum: six u64 limbs, least significant first, a
//!               384-bit two's complement integer in units of 2^-149
//! ```
//!
//! `docs/state-format.md` is the full specification (validation rules,
//! versioning policy, a worked example, merging in other languages); this
//! module and that page must change together.

use super::exact_sum::ExactSum;
use super::MeanState;
use crate::error::{Error, Result};

/// Bytes of the header: magic, version, flags.
const HEADER: usize = 8;
/// Offset of the five counts.
const COUNTS: usize = 8;
/// Offset of the six limbs of the sum.
const LIMBS_AT: usize = COUNTS + 5 * 8;
const _: () = assert!(LIMBS_AT + 6 * 8 == MeanState::BYTES);

impl MeanState {
    /// Length of [`MeanState::to_bytes`]: 96 bytes, in every version-1 state.
    ///
    /// # Example
    ///
    /// ```
    /// use mapmean::MeanState;
    /// let bytes = MeanState::default().to_bytes();
    /// assert_eq!(bytes.len(), MeanState::BYTES);
    /// assert_eq!(bytes[..4], MeanState::MAGIC);
    /// assert_eq!(bytes[4..6], MeanState::FORMAT_VERSION.to_le_bytes());
    /// ```
    pub const BYTES: usize = 96;

    /// The four bytes every state starts with, ASCII `MMst` (see
    /// [`MeanState::BYTES`] for an example).
    pub const MAGIC: [u8; 4] = *b"MMst";

    /// The format version that [`MeanState::to_bytes`] writes and the only
    /// one [`MeanState::from_bytes`] reads (see [`MeanState::BYTES`] for an
    /// example).
    pub const FORMAT_VERSION: u16 = 1;

    /// The state's byte form: [`MeanState::BYTES`] bytes, laid out as in
    /// `docs/state-format.md`. Equal states give equal bytes, so the bytes
    /// can be compared, hashed or deduplicated directly.
    ///
    /// # Example
    ///
    /// ```
    /// use mapmean::MeanState;
    /// let mut state = MeanState::default();
    /// state.update_values(&[1.5, 2.0], None)?;
    /// let bytes = state.to_bytes();
    /// assert_eq!(&bytes[..8], b"MMst\x01\x00\x00\x00");
    /// assert_eq!(MeanState::from_bytes(&bytes)?, state);
    /// # Ok::<(), mapmean::Error>(())
    /// ```
    pub fn to_bytes(&self) -> [u8; MeanState::BYTES] {
        let mut out = [0u8; MeanState::BYTES];
        out[..4].copy_from_slice(&MeanState::MAGIC);
        out[4..6].copy_from_slice(&MeanState::FORMAT_VERSION.to_le_bytes());
        // out[6..8]: flags, zero.
        let words = [
            self.count,
            self.null_count,
            self.nan_count,
            self.pos_inf_count,
            self.neg_inf_count,
        ]
        .into_iter()
        .chain(self.exact_sum.to_limbs());
        for (chunk, word) in out[COUNTS..].chunks_exact_mut(8).zip(words) {
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        out
    }

    /// Reads a state from its byte form ([`MeanState::to_bytes`]), checking
    /// everything a reader can check, so that damaged or forged bytes are an
    /// error rather than a wrong mean later: every accepted byte string is
    /// exactly the `to_bytes` of the state returned.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidState`], with the reason, if the bytes are shorter than
    /// the header, do not start with [`MeanState::MAGIC`], have a version
    /// other than [`MeanState::FORMAT_VERSION`] (a newer one is named as
    /// such), set reserved flags, are not exactly [`MeanState::BYTES`] long,
    /// or hold counts or a sum that fail [`MeanState::validate`]: more
    /// special values than values, more than `2^64 - 1` rows in all, or a sum
    /// larger in magnitude than `finite_count · f32::MAX`.
    ///
    /// # Example
    ///
    /// ```
    /// use mapmean::{Error, MeanState};
    /// let mut state = MeanState::default();
    /// state.update_values(&[0.25, f32::NAN], None)?;
    /// let mut bytes = state.to_bytes();
    /// assert_eq!(MeanState::from_bytes(&bytes)?, state);
    ///
    /// bytes[24] = 3; // three NaN among two values
    /// let err = MeanState::from_bytes(&bytes).unwrap_err();
    /// assert!(matches!(err, Error::InvalidState { .. }));
    /// assert!(MeanState::from_bytes(&bytes[..95]).is_err());
    /// # Ok::<(), mapmean::Error>(())
    /// ```
    pub fn from_bytes(bytes: &[u8]) -> Result<MeanState> {
        let invalid = |reason: String| Err(Error::InvalidState { reason });
        let Some((header, _)) = bytes.split_first_chunk::<HEADER>() else {
            return invalid(format!(
                "{} bytes, shorter than the {HEADER}-byte header",
                bytes.len()
            ));
        };
        if header[..4] != MeanState::MAGIC {
            return invalid(format!(
                "the bytes start with {:?}, not the magic {:?}",
                header[..4].escape_ascii().to_string(),
                MeanState::MAGIC.escape_ascii().to_string()
            ));
        }
        let version = u16::from_le_bytes([header[4], header[5]]);
        if version != MeanState::FORMAT_VERSION {
            let age = if version > MeanState::FORMAT_VERSION {
                "newer than this mapmean reads"
            } else {
                "not a version mapmean ever wrote"
            };
            return invalid(format!(
                "format version {version} is {age} (it reads version {})",
                MeanState::FORMAT_VERSION
            ));
        }
        let flags = u16::from_le_bytes([header[6], header[7]]);
        if flags != 0 {
            return invalid(format!(
                "reserved flags {flags:#06x} are set (version 1 has none)"
            ));
        }
        if bytes.len() != MeanState::BYTES {
            return invalid(format!(
                "{} bytes; a version-1 state has exactly {}",
                bytes.len(),
                MeanState::BYTES
            ));
        }
        let mut words = [0u64; 11];
        for (word, chunk) in words.iter_mut().zip(bytes[COUNTS..].chunks_exact(8)) {
            let mut le = [0u8; 8];
            le.copy_from_slice(chunk);
            *word = u64::from_le_bytes(le);
        }
        let [count, null_count, nan_count, pos_inf_count, neg_inf_count, limbs @ ..] = words;
        let state = MeanState {
            count,
            null_count,
            nan_count,
            pos_inf_count,
            neg_inf_count,
            exact_sum: ExactSum::from_limbs(limbs),
        };
        state.validate()?;
        Ok(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::Float32Array;
    use proptest::prelude::*;

    fn state_of(values: &[Option<f32>]) -> MeanState {
        let mut state = MeanState::default();
        state.update(&Float32Array::from(values.to_vec())).unwrap();
        state
    }

    fn reason(bytes: &[u8]) -> String {
        match MeanState::from_bytes(bytes) {
            Err(Error::InvalidState { reason }) => reason,
            other => panic!("expected InvalidState, got {other:?}"),
        }
    }

    /// The worked example of docs/state-format.md, byte for byte.
    #[test]
    fn the_documented_example_has_the_documented_bytes() {
        let state = state_of(&[Some(1.5), None, Some(2.0), Some(f32::NAN)]);
        let hex: String = state
            .to_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let expected = concat!(
            "4d4d7374",
            "0100",
            "0000",
            "0300000000000000", // count 3
            "0100000000000000", // null_count 1
            "0100000000000000", // nan_count 1
            "0000000000000000", // pos_inf_count
            "0000000000000000", // neg_inf_count
            "0000000000000000",
            "0000000000000000", // limbs 0, 1
            "0000700000000000", // limb 2: 7 · 2^148 units = 3.5
            "0000000000000000",
            "0000000000000000",
            "0000000000000000",
        );
        assert_eq!(hex, expected);
        let mean = MeanState {
            nan_count: 0,
            count: 2,
            ..state
        };
        assert_eq!(mean.finish(), Some(1.75));
    }

    #[test]
    fn special_and_extreme_states_round_trip() {
        for values in [
            vec![],
            vec![None, None],
            vec![Some(f32::MAX); 3],
            vec![Some(-f32::MAX), Some(-f32::MAX)],
            vec![Some(f32::from_bits(1)), Some(-0.0)],
            vec![Some(f32::INFINITY), Some(f32::NEG_INFINITY), Some(-2.5)],
        ] {
            let state = state_of(&values);
            assert_eq!(MeanState::from_bytes(&state.to_bytes()).unwrap(), state);
        }
    }

    #[test]
    fn wrong_lengths_are_rejected_with_the_length() {
        let bytes = state_of(&[Some(1.0)]).to_bytes();
        assert!(reason(&bytes[..95]).contains("95 bytes"));
        assert!(reason(&bytes[..3]).contains("3 bytes"));
        assert!(reason(&[]).contains("0 bytes"));
        let mut long = bytes.to_vec();
        long.push(0);
        assert!(reason(&long).contains("97 bytes"));
    }

    #[test]
    fn bad_magic_unknown_versions_and_flags_are_rejected() {
        let bytes = state_of(&[Some(1.0)]).to_bytes();
        let mut b = bytes;
        b[0] = b'X';
        assert!(reason(&b).contains("magic"));
        let mut b = bytes;
        b[4] = 2;
        assert!(reason(&b).contains("version 2 is newer"));
        // A newer version is named as such even if its length differs.
        assert!(reason(&b[..50]).contains("version 2 is newer"));
        let mut b = bytes;
        b[4] = 0;
        assert!(reason(&b).contains("version 0"));
        let mut b = bytes;
        b[7] = 0x80;
        assert!(reason(&b).contains("flags 0x8000"));
    }

    #[test]
    fn contradictory_counts_are_rejected() {
        let base = state_of(&[Some(1.0), Some(f32::NAN)]);
        let more_specials_than_values = MeanState {
            pos_inf_count: 2,
            ..base
        };
        assert!(reason(&more_specials_than_values.to_bytes()).contains("exceed count"));
        let wrapping_specials = MeanState {
            nan_count: u64::MAX,
            pos_inf_count: 2,
            count: 1,
            ..base
        };
        assert!(reason(&wrapping_specials.to_bytes()).contains("exceed count"));
        let too_many_rows = MeanState {
            null_count: u64::MAX - 1,
            ..base
        };
        assert!(reason(&too_many_rows.to_bytes()).contains("2^64 - 1 rows"));
        let all_rows = MeanState {
            null_count: u64::MAX - 2,
            ..base
        };
        assert_eq!(
            MeanState::from_bytes(&all_rows.to_bytes()).unwrap(),
            all_rows
        );
    }

    #[test]
    fn sums_beyond_the_finite_count_are_rejected() {
        let two_max = state_of(&[Some(f32::MAX), Some(f32::MAX)]);
        let one_value = MeanState {
            count: 1,
            ..two_max
        };
        assert!(reason(&one_value.to_bytes()).contains("1 finite f32"));
        let nan_only = MeanState {
            count: 1,
            nan_count: 1,
            ..state_of(&[Some(1e-45)])
        };
        assert!(reason(&nan_only.to_bytes()).contains("0 finite f32"));
        let mut top_bit = MeanState::default().to_bytes();
        top_bit[95] = 0x80;
        top_bit[8] = 1; // count 1: still far too large a magnitude
        assert!(reason(&top_bit).contains("exceeds"));
    }

    #[test]
    fn merge_overflow_names_the_count_and_leaves_the_state_unchanged() {
        let a = MeanState {
            count: u64::MAX - 2,
            nan_count: u64::MAX - 2,
            null_count: 1,
            ..MeanState::default()
        };
        let cases: [(MeanState, &str); 4] = [
            (a, "count"),
            (
                MeanState {
                    null_count: 2,
                    ..MeanState::default()
                },
                "count + null_count",
            ),
            (
                MeanState {
                    count: 2,
                    nan_count: 2,
                    ..MeanState::default()
                },
                "count + null_count",
            ),
            (
                MeanState {
                    null_count: u64::MAX,
                    ..MeanState::default()
                },
                "null_count",
            ),
        ];
        for (other, field) in cases {
            let mut merged = a;
            match merged.merge(&other) {
                Err(Error::StateOverflow { field: f }) => assert_eq!(f, field),
                r => panic!("expected StateOverflow {{ {field} }}, got {r:?}"),
            }
            assert_eq!(merged, a);
        }
        let mut near_full = a;
        assert!(near_full.update_values(&[1.0, 2.0], None).is_err());
        assert_eq!(near_full, a);
        near_full.null_count = 0;
        near_full
            .update_values(&[f32::NAN, f32::NAN], None)
            .unwrap();
        assert_eq!((near_full.count, near_full.nan_count), (u64::MAX, u64::MAX));
    }

    /// Any `f32` bit pattern (NaN, infinities, subnormals) or null.
    fn values() -> impl Strategy<Value = Vec<Option<f32>>> {
        prop::collection::vec(
            prop_oneof![
                1 => Just(None),
                8 => any::<u32>().prop_map(|b| Some(f32::from_bits(b))),
                2 => prop::sample::select(vec![f32::MAX, -f32::MAX, 3e37, -3e37, 1e-45])
                    .prop_map(Some),
            ],
            0..300,
        )
    }

    fn same_finish(a: &MeanState, b: &MeanState) -> bool {
        [(true, 0), (true, 1), (false, 1), (true, 5)]
            .into_iter()
            .map(|(skip_nulls, min_count)| crate::MeanOptions {
                skip_nulls,
                min_count,
            })
            .all(|o| a.finish_with(&o).map(f64::to_bits) == b.finish_with(&o).map(f64::to_bits))
    }

    proptest! {
        #[test]
        fn any_state_round_trips_exactly(values in values(), cut in any::<prop::sample::Index>()) {
            let state = state_of(&values);
            let back = MeanState::from_bytes(&state.to_bytes()).unwrap();
            prop_assert_eq!(back, state);
            prop_assert!(same_finish(&back, &state));
            // A state merged from parts read back from bytes is the whole's.
            let cut = cut.index(values.len() + 1);
            let mut merged = MeanState::from_bytes(&state_of(&values[..cut]).to_bytes()).unwrap();
            merged.merge(&MeanState::from_bytes(&state_of(&values[cut..]).to_bytes()).unwrap()).unwrap();
            prop_assert_eq!(merged, state);
        }

        #[test]
        fn damaged_bytes_are_an_error_or_exactly_a_valid_state(
            values in values(),
            damage in prop_oneof![
                (0..MeanState::BYTES, any::<u8>()).prop_map(|(at, byte)| (0, at, byte)),
                (0..MeanState::BYTES, any::<u8>()).prop_map(|(at, _)| (1, at, 0)),
                (1..40usize, any::<u8>()).prop_map(|(n, byte)| (2, n, byte)),
            ],
        ) {
            let mut bytes = state_of(&values).to_bytes().to_vec();
            match damage {
                (0, at, byte) => bytes[at] = byte,
                (1, len, _) => bytes.truncate(len),
                (_, n, byte) => bytes.extend(std::iter::repeat_n(byte, n)),
            }
            if let Ok(state) = MeanState::from_bytes(&bytes) {
                prop_assert!(state.validate().is_ok());
                prop_assert_eq!(state.to_bytes().to_vec(), bytes);
                let _ = state.finish();
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..120)) {
            if let Ok(state) = MeanState::from_bytes(&bytes) {
                prop_assert_eq!(state.to_bytes().to_vec(), bytes);
            }
        }

        #[test]
        fn forged_limbs_with_a_valid_header_never_panic(
            counts in prop::array::uniform5(prop_oneof![any::<u64>(), 0..4u64]),
            limbs in prop::array::uniform6(prop_oneof![any::<u64>(), Just(0u64), Just(u64::MAX)]),
        ) {
            let mut bytes = MeanState::default().to_bytes();
            for (chunk, word) in bytes[COUNTS..].chunks_exact_mut(8).zip(counts.into_iter().chain(limbs)) {
                chunk.copy_from_slice(&word.to_le_bytes());
            }
            if let Ok(mut state) = MeanState::from_bytes(&bytes) {
                let _ = state.finish();
                let copy = state;
                // Merging valid states never wraps the sum: the doubled sum is
                // still within the doubled finite count, or the merge fails.
                match state.merge(&copy) {
                    Ok(()) => prop_assert!(state.validate().is_ok()),
                    Err(_) => prop_assert_eq!(state, copy),
                }
            }
        }
    }
}
