use std::sync::Arc;

use arrow_array::builder::StringDictionaryBuilder;
use arrow_array::types::Int32Type;
use arrow_array::{
    BooleanArray, Date32Array, Float16Array, Float32Array, Float64Array, Int32Array, Int64Array,
    Int8Array, StringArray, TimestampMicrosecondArray, UInt64Array,
};

use super::*;
use crate::kernel::{Statistic, Value};

fn arr<A: Array + 'static>(a: A) -> ArrayRef {
    Arc::new(a)
}

/// The state of each group computed the other way: the group's rows
/// gathered and fed to the block passes ([`ExactState::update_values`]).
fn oracle<T: Native>(
    keys: &[Option<i64>],
    values: &[Option<T>],
    data_type: &DataType,
    parts: Parts,
) -> Vec<(Option<i64>, ExactState)> {
    let mut distinct: Vec<Option<i64>> = keys.to_vec();
    distinct.sort_by_key(|k| (k.is_none(), *k));
    distinct.dedup();
    distinct
        .into_iter()
        .map(|key| {
            let mut state = ExactState::new(data_type, parts).unwrap();
            let rows: Vec<Option<T>> = keys
                .iter()
                .zip(values)
                .filter(|(k, _)| **k == key)
                .map(|(_, v)| *v)
                .collect();
            let dense: Vec<T> = rows.iter().filter_map(|v| *v).collect();
            state.update_values(&dense, None).unwrap();
            let nulls = rows.iter().filter(|v| v.is_none()).count() as u64;
            state.add_nulls(nulls);
            (key, state)
        })
        .collect()
}

fn states_of(batch: &RecordBatch) -> Vec<Vec<u8>> {
    let bytes = batch.column(1).as_binary::<i32>();
    (0..bytes.len()).map(|i| bytes.value(i).to_vec()).collect()
}

fn check_against_oracle<T: Native>(
    keys: Vec<Option<i64>>,
    values: Vec<Option<T>>,
    array: ArrayRef,
    parts: Parts,
) {
    let spec = GroupSpec::with_parts(vec!["g".into()], [("x".to_string(), parts)]).unwrap();
    let mut states = GroupedStates::new(&spec, &[DataType::Int64]).unwrap();
    let key_array = arr(Int64Array::from(keys.clone()));
    // Two batches, to cross a batch boundary.
    let half = keys.len() / 2;
    states
        .update(&[key_array.slice(0, half)], &[array.slice(0, half)])
        .unwrap();
    states
        .update(
            &[key_array.slice(half, keys.len() - half)],
            &[array.slice(half, keys.len() - half)],
        )
        .unwrap();
    let expected = oracle(&keys, &values, array.data_type(), parts);
    let batch = states.to_state_batch().unwrap();
    let got_keys = batch.column(0).as_primitive::<Int64Type>();
    assert_eq!(batch.num_rows(), expected.len());
    for (i, (bytes, (key, state))) in states_of(&batch).iter().zip(&expected).enumerate() {
        assert_eq!(got_keys.is_valid(i).then(|| got_keys.value(i)), *key);
        assert_eq!(bytes, &state.to_bytes(), "group {key:?}");
    }
}

/// Keys from a small LCG; values that cancel, overflow naive sums, and
/// hold NaN, infinities and nulls.
fn keys(n: usize, groups: i64) -> Vec<Option<i64>> {
    let mut x: u64 = 12345;
    (0..n)
        .map(|i| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (i % 17 != 3).then_some((x >> 33) as i64 % groups - 3)
        })
        .collect()
}

#[test]
fn every_group_state_equals_the_block_pass_over_its_rows() {
    let n = 5000;
    let k = keys(n, 40);
    let f32s: Vec<Option<f32>> = (0..n)
        .map(|i| match i % 11 {
            0 => None,
            1 => Some(3e37),
            2 => Some(-3e37),
            3 if i % 997 == 3 => Some(f32::NAN),
            4 if i % 499 == 4 => Some(f32::INFINITY),
            5 => Some(f32::from_bits((i % 1000) as u32) * if i % 2 == 0 { 1.0 } else { -1.0 }),
            6 => Some(-f32::MAX),
            _ => Some((i as f32) * 0.37 - 100.0),
        })
        .collect();
    for parts in [Parts::default(), Parts::ALL] {
        check_against_oracle(
            k.clone(),
            f32s.clone(),
            arr(Float32Array::from(f32s.clone())),
            parts,
        );
    }
    let f64s: Vec<Option<f64>> = (0..n)
        .map(|i| match i % 7 {
            0 => None,
            1 => Some(1e308),
            2 => Some(-1e308),
            3 => Some(5e-324 * i as f64),
            _ => Some(10f64.powi((i % 600) as i32 - 300) * if i % 2 == 0 { 1.0 } else { -1.0 }),
        })
        .collect();
    for parts in [Parts::default(), Parts::ALL] {
        check_against_oracle(
            k.clone(),
            f64s.clone(),
            arr(Float64Array::from(f64s.clone())),
            parts,
        );
    }
    let i64s: Vec<Option<i64>> = (0..n)
        .map(|i| {
            (i % 5 != 0).then_some(if i % 2 == 0 {
                i64::MAX
            } else {
                i64::MIN + i as i64
            })
        })
        .collect();
    for parts in [Parts::default(), Parts::ALL] {
        check_against_oracle(
            k.clone(),
            i64s.clone(),
            arr(Int64Array::from(i64s.clone())),
            parts,
        );
    }
    let u64s: Vec<Option<u64>> = (0..n).map(|i| Some(u64::MAX - i as u64)).collect();
    check_against_oracle(
        k.clone(),
        u64s.clone(),
        arr(UInt64Array::from(u64s)),
        Parts::ALL,
    );
    let i8s: Vec<Option<i8>> = (0..n).map(|i| Some((i % 256) as u8 as i8)).collect();
    check_against_oracle(
        k.clone(),
        i8s.clone(),
        arr(Int8Array::from(i8s)),
        Parts::ALL,
    );
    let halves: Vec<Option<half::f16>> = (0..n)
        .map(|i| Some(half::f16::from_f32(i as f32 * 0.5 - 1000.0)))
        .collect();
    check_against_oracle(
        k,
        halves.clone(),
        arr(Float16Array::from(halves)),
        Parts::ALL,
    );
}

#[test]
fn cancelling_groups_have_exact_means_and_null_keys_come_last() {
    let aggregations = [
        Aggregation::new("x", Statistic::Mean),
        Aggregation::new("x", Statistic::Sum),
    ];
    let spec = GroupSpec::new(["g"], &aggregations).unwrap();
    let mut states = GroupedStates::new(&spec, &[DataType::Int32]).unwrap();
    let g = arr(Int32Array::from(vec![
        Some(7),
        None,
        Some(7),
        Some(-2),
        Some(7),
        None,
        Some(5),
    ]));
    let x = arr(Float32Array::from(vec![
        Some(3e37),
        Some(1.0),
        Some(0.75),
        None,
        Some(-3e37),
        Some(2.0),
        None,
    ]));
    states.update(&[g], &[x]).unwrap();
    let result = states.finish(&aggregations).unwrap();
    assert_eq!(result.schema().field(0).name(), "g");
    assert_eq!(result.schema().field(1).name(), "x_mean");
    assert_eq!(result.schema().field(2).name(), "x_sum");
    let keys = result.column(0).as_primitive::<Int32Type>();
    assert_eq!(
        keys.iter().collect::<Vec<_>>(),
        vec![Some(-2), Some(5), Some(7), None]
    );
    let means = result.column(1).as_primitive::<Float64Type>();
    // Groups whose values are all null have no mean (min_count 1).
    assert_eq!(
        means.iter().collect::<Vec<_>>(),
        vec![None, None, Some(0.25), Some(1.5)]
    );
}

#[test]
fn results_are_bitwise_the_same_for_every_split_and_thread_count() {
    let n = 3 * TASK_ROWS + 777;
    let mut seed: u64 = 7;
    let mut next = || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        seed >> 11
    };
    let g: Vec<i64> = (0..n).map(|_| (next() % 1000) as i64).collect();
    let x: Vec<f64> = (0..n)
        .map(|_| f64::from_bits(next() % (0x7fe << 52)) * if next() % 2 == 0 { 1.0 } else { -1.0 })
        .collect();
    let batch = RecordBatch::try_from_iter([
        ("g", arr(Int64Array::from(g))),
        ("x", arr(Float64Array::from(x))),
    ])
    .unwrap();
    let aggregations = [
        Aggregation::new("x", Statistic::Mean),
        Aggregation::new("x", Statistic::Stddev).with_ddof(1),
    ];
    let spec = GroupSpec::new(["g"], &aggregations).unwrap();
    let one = group_batches(batch.schema(), [Ok(batch.clone())], &spec, "m", Some(1))
        .unwrap()
        .finish(&aggregations)
        .unwrap();
    let two = group_batches(batch.schema(), [Ok(batch.clone())], &spec, "m", Some(2))
        .unwrap()
        .finish(&aggregations)
        .unwrap();
    let pieces: Vec<Result<RecordBatch>> = (0..n)
        .step_by(100_003)
        .map(|s| Ok(batch.slice(s, 100_003.min(n - s))))
        .collect();
    let sliced = group_batches(batch.schema(), pieces, &spec, "m", Some(3))
        .unwrap()
        .finish(&aggregations)
        .unwrap();
    assert_eq!(one.num_rows(), 1000);
    assert_eq!(one, two);
    assert_eq!(one, sliced);
}

#[test]
fn keys_of_many_types_and_several_at_once() {
    let mut dict = StringDictionaryBuilder::<Int32Type>::new();
    for s in [Some("b"), Some("a"), None, Some("b")] {
        match s {
            Some(s) => dict.append_value(s),
            None => dict.append_null(),
        }
    }
    let dict = arr(dict.finish());
    let cases: Vec<(ArrayRef, usize)> = vec![
        (
            arr(StringArray::from(vec![
                Some("b"),
                Some("a"),
                None,
                Some("b"),
            ])),
            3,
        ),
        (dict, 3),
        (
            arr(BooleanArray::from(vec![
                Some(true),
                Some(false),
                None,
                Some(true),
            ])),
            3,
        ),
        (
            arr(Date32Array::from(vec![Some(3), Some(1), None, Some(3)])),
            3,
        ),
        (
            arr(TimestampMicrosecondArray::from(vec![
                Some(3),
                Some(1),
                None,
                Some(3),
            ])),
            3,
        ),
        (
            arr(arrow_array::StringViewArray::from(vec![
                Some("b"),
                Some("a"),
                None,
                Some("b"),
            ])),
            3,
        ),
    ];
    let aggregations = [Aggregation::new("x", Statistic::Mean)];
    let x = arr(Float64Array::from(vec![1.0, 2.0, 4.0, 3.0]));
    for (key, groups) in cases {
        let spec = GroupSpec::new(["k"], &aggregations).unwrap();
        let mut states = GroupedStates::new(&spec, &[key.data_type().clone()]).unwrap();
        states
            .update(std::slice::from_ref(&key), std::slice::from_ref(&x))
            .unwrap();
        let result = states.finish(&aggregations).unwrap();
        assert_eq!(result.num_rows(), groups, "{}", key.data_type());
        let means = result.column(1).as_primitive::<Float64Type>();
        // Sorted: the smaller key ("a", false, 1) first, then the larger, then null.
        assert_eq!(
            means.values().as_ref(),
            &[2.0, 2.0, 4.0],
            "{}",
            key.data_type()
        );
        let expected = match key.data_type() {
            DataType::Dictionary(_, values) => values.as_ref(),
            other => other,
        };
        assert_eq!(result.column(0).data_type(), expected);
        assert!(result.column(0).is_null(2));
    }
    // Two keys.
    let spec = GroupSpec::new(["a", "b"], &aggregations).unwrap();
    let mut states = GroupedStates::new(&spec, &[DataType::Int32, DataType::Utf8]).unwrap();
    let a = arr(Int32Array::from(vec![1, 1, 2, 1]));
    let b = arr(StringArray::from(vec!["y", "x", "x", "y"]));
    states.update(&[a, b], &[x]).unwrap();
    let result = states.finish(&aggregations).unwrap();
    let means = result.column(2).as_primitive::<Float64Type>();
    assert_eq!(means.values().as_ref(), &[2.0, 2.0, 4.0]); // (1,x), (1,y), (2,x)
}

#[test]
fn states_through_their_batch_merge_to_the_one_pass_result() {
    let aggregations = [
        Aggregation::new("x", Statistic::Variance),
        Aggregation::new("x", Statistic::Max),
    ];
    let spec = GroupSpec::new(["g"], &aggregations).unwrap();
    let g = arr(StringArray::from(vec!["a", "b", "a", "c", "b"]));
    let x = arr(Int64Array::from(vec![
        Some(i64::MAX),
        Some(3),
        Some(i64::MAX - 6),
        None,
        Some(-9),
    ]));
    let mut whole = GroupedStates::new(&spec, &[DataType::Utf8]).unwrap();
    whole
        .update(std::slice::from_ref(&g), std::slice::from_ref(&x))
        .unwrap();
    let mut merged = GroupedStates::new(&spec, &[DataType::Utf8]).unwrap();
    for (start, len) in [(0, 2), (2, 3)] {
        let mut part = GroupedStates::new(&spec, &[DataType::Utf8]).unwrap();
        part.update(&[g.slice(start, len)], &[x.slice(start, len)])
            .unwrap();
        merged
            .merge_state_batch(&part.to_state_batch().unwrap())
            .unwrap();
    }
    let result = merged.finish(&aggregations).unwrap();
    assert_eq!(result, whole.finish(&aggregations).unwrap());
    let variances = result.column(1).as_primitive::<Float64Type>();
    assert_eq!(variances.value(0), 9.0); // a: MAX and MAX - 6, exact
                                         // c: one null value, no valid one: no variance (min_count 0, but no
                                         // values), and no maximum.
    assert!(result.column(1).is_null(2) && result.column(2).is_null(2));
}

#[test]
fn value_types_widen_or_refuse_and_keys_must_agree() {
    let aggregations = [Aggregation::new("x", Statistic::Mean)];
    let spec = GroupSpec::new(["g"], &aggregations).unwrap();
    let mut states = GroupedStates::new(&spec, &[DataType::Int32]).unwrap();
    let g = arr(Int32Array::from(vec![1, 2]));
    states
        .update(
            std::slice::from_ref(&g),
            &[arr(Float32Array::from(vec![0.5, 1.0]))],
        )
        .unwrap();
    states
        .update(
            std::slice::from_ref(&g),
            &[arr(Float64Array::from(vec![0.1, 1e300]))],
        )
        .unwrap();
    let result = states.finish(&aggregations).unwrap();
    let means = result.column(1).as_primitive::<Float64Type>();
    assert_eq!(means.value(0), (0.5 + 0.1) / 2.0);
    let err = states
        .update(
            std::slice::from_ref(&g),
            &[arr(Int32Array::from(vec![1, 2]))],
        )
        .unwrap_err();
    assert!(matches!(err, Error::TypeMismatch { .. }), "{err}");
    let err = states
        .update(
            &[arr(Int64Array::from(vec![1, 2]))],
            &[arr(Float32Array::from(vec![0.5, 1.0]))],
        )
        .unwrap_err();
    assert!(err.to_string().contains("group key \"g\""), "{err}");
    // Nothing changed.
    assert_eq!(states.finish(&aggregations).unwrap(), result);
    assert!(GroupSpec::new(Vec::<String>::new(), &aggregations).is_err());
    assert!(GroupSpec::new(["x"], &aggregations).is_err());
    assert!(GroupSpec::new(["g", "g"], &aggregations).is_err());
    assert!(matches!(
        Statistic::Mean.finish(
            &ExactState::new(&DataType::Int8, Parts::default()).unwrap(),
            &StatisticOptions::default()
        ),
        Ok(Value::Null)
    ));
}

#[test]
fn integer_keys_move_from_the_dense_table_to_the_hash_table() {
    let aggregations = [Aggregation::new("x", Statistic::Sum)];
    let spec = GroupSpec::new(["g"], &aggregations).unwrap();
    let mut states = GroupedStates::new(&spec, &[DataType::Int64]).unwrap();
    let x = arr(Int64Array::from(vec![1, 10, 100, 1000]));
    for keys in [
        vec![Some(5), Some(-3), Some(5), None],
        vec![Some(-3), Some(1 << 40), Some(i64::MIN), Some(5)],
        vec![Some(i64::MAX), None, Some(1 << 40), Some(-3)],
    ] {
        states
            .update(&[arr(Int64Array::from(keys))], std::slice::from_ref(&x))
            .unwrap();
    }
    let result = states.finish(&aggregations).unwrap();
    let keys = result.column(0).as_primitive::<Int64Type>();
    let sums = result.column(1).as_primitive::<Int64Type>();
    let got: Vec<(Option<i64>, i64)> = keys.iter().zip(sums.values().iter().copied()).collect();
    assert_eq!(
        got,
        vec![
            (Some(i64::MIN), 100),
            (Some(-3), 10 + 1 + 1000),
            (Some(5), 1 + 100 + 1000),
            (Some(1 << 40), 10 + 100),
            (Some(i64::MAX), 1),
            (None, 1000 + 10),
        ]
    );
}

#[test]
fn string_keys_of_every_string_type_and_dictionaries_group_by_value() {
    use arrow_array::types::{Int8Type, UInt16Type};
    use arrow_array::{DictionaryArray, LargeStringArray, StringViewArray};
    use std::collections::BTreeMap;
    // Lengths 0 to 19 (the word compare covers 8 to 16), some sharing a
    // prefix, nulls among them.
    let words: Vec<String> = (0..40)
        .map(|i| format!("{}{}", "k".repeat(i % 20), i / 20))
        .collect();
    let mut seed = 12345u64;
    let mut next = || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) as usize
    };
    let n = 10_000;
    let keys: Vec<Option<String>> = (0..n)
        .map(|_| {
            let r = next();
            (r % 17 != 0).then(|| words[r % words.len()].clone())
        })
        .collect();
    let values: Vec<f64> = (0..n).map(|i| (i % 7) as f64).collect();
    let mut expected: BTreeMap<(bool, Option<String>), (f64, usize)> = BTreeMap::new();
    for (k, v) in keys.iter().zip(&values) {
        let e = expected.entry((k.is_none(), k.clone())).or_default();
        e.0 += v;
        e.1 += 1;
    }
    let strs: Vec<Option<&str>> = keys.iter().map(|k| k.as_deref()).collect();
    // A dictionary with unused and null values, and one key type per
    // width: its groups must be those of the rows, not of the dictionary.
    let mut dictionary: Vec<Option<&str>> = words.iter().map(|w| Some(w.as_str())).collect();
    dictionary.push(Some("never used"));
    dictionary.push(None);
    let index = |k: &Option<&str>| k.map(|k| words.iter().position(|w| w == k).unwrap());
    let dict8 = DictionaryArray::<Int8Type>::try_new(
        strs.iter().map(|k| index(k).map(|i| i as i8)).collect(),
        arr(StringArray::from(dictionary.clone())),
    )
    .unwrap();
    // Null keys as indices of the dictionary's null value.
    let null_at = (dictionary.len() - 1) as u16;
    let dict16 = DictionaryArray::<UInt16Type>::try_new(
        strs.iter()
            .map(|k| Some(index(k).map_or(null_at, |i| i as u16)))
            .collect(),
        arr(StringViewArray::from(dictionary.clone())),
    )
    .unwrap();
    let cases: Vec<ArrayRef> = vec![
        arr(StringArray::from(strs.clone())),
        arr(LargeStringArray::from(strs.clone())),
        arr(StringViewArray::from(strs.clone())),
        arr(dict8),
        arr(dict16),
    ];
    let aggregations = [Aggregation::new("x", Statistic::Sum)];
    let x = arr(Float64Array::from(values.clone()));
    for key in cases {
        let spec = GroupSpec::new(["k"], &aggregations).unwrap();
        let mut states = GroupedStates::new(&spec, &[key.data_type().clone()]).unwrap();
        // In slices (sharing one dictionary), each thread's states merged.
        for start in (0..n).step_by(3001) {
            let len = 3001.min(n - start);
            let mut part = states.empty_like();
            part.update(&[key.slice(start, len)], &[x.slice(start, len)])
                .unwrap();
            states.merge(part).unwrap();
        }
        let result = states.finish(&aggregations).unwrap();
        let what = key.data_type().to_string();
        assert_eq!(result.num_rows(), expected.len(), "{what}");
        let column = result.column(0);
        let key_at = |i: usize| -> Option<String> {
            column.is_valid(i).then(|| match column.data_type() {
                DataType::Utf8 => column.as_string::<i32>().value(i).to_string(),
                DataType::LargeUtf8 => column.as_string::<i64>().value(i).to_string(),
                _ => column.as_string_view().value(i).to_string(),
            })
        };
        let sums = result.column(1).as_primitive::<Float64Type>();
        for (i, ((_, k), (sum, _))) in expected.iter().enumerate() {
            assert_eq!(key_at(i).as_deref(), k.as_deref(), "{what}");
            assert_eq!(sums.value(i), *sum, "{what} {k:?}");
        }
    }
}
