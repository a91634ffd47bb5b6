//! mapmean's exact aggregates in DataFusion SQL (feature `datafusion`):
//! `exact_mean`, `exact_sum`, `exact_var(_pop)` and `exact_stddev(_pop)`,
//! exact per group, bitwise the same for every partitioning and batch size.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, Float32Array, Float64Array, Int64Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use datafusion::datasource::MemTable;
use datafusion::error::Result;
use datafusion::execution::options::ArrowReadOptions;
use datafusion::prelude::{SessionConfig, SessionContext};
use mapmean::ipc::{write::write_batches, IpcFormat};
use mapmean::{MeanState, MomentsState, VarianceOptions};

const GROUPS: i64 = 10_000;
const ROWS: usize = 300_000;

/// Group 0 cancels ([3e37, 0.75, -3e37] repeated), group 1 is all null,
/// group 2 holds +inf, group 3 NaN, group 4 both infinities, group 5 only
/// 1.0 and 2.0, group 6 a large offset (1e4 plus multiples of 2^-10, the
/// Float32 spacing there), group 7 one value among nulls, group 8 one
/// constant (0.1) with nulls; every other group holds values over many
/// binades with scattered nulls.
fn table() -> (Int64Array, Float32Array) {
    let mut rng: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut g = Vec::with_capacity(ROWS);
    let mut x = Vec::with_capacity(ROWS);
    for i in 0..ROWS {
        let r = next();
        let group = (r % GROUPS as u64) as i64;
        let value = match group {
            0 => Some([3e37, 0.75, -3e37][i % 3]),
            1 => None,
            2 => Some(if i % 5 == 0 { f32::INFINITY } else { 1.0 }),
            3 => Some(if i % 5 == 0 { f32::NAN } else { 1.0 }),
            4 => Some([f32::INFINITY, f32::NEG_INFINITY, 1.0][i % 3]),
            5 => Some(if i % 2 == 0 { 1.0 } else { 2.0 }),
            6 => Some(1e4 + ((r >> 40) % 2048) as f32 / 1024.0),
            7 => None,
            8 => (i % 4 != 0).then_some(0.1),
            _ if (r >> 20) % 11 == 0 => None,
            _ => {
                // Sign, a wide spread of exponents (tiny to 1e30), 24 random bits.
                let exponent = 27 + ((r >> 32) % 200) as u32;
                let bits = ((r >> 63) as u32) << 31 | exponent << 23 | (r >> 40) as u32 & 0x7f_ffff;
                Some(f32::from_bits(bits))
            }
        };
        g.push(group);
        x.push(value);
    }
    // Make group 0 exactly 3 × k rows in order, so its mean is exactly 0.25.
    let zeros: Vec<usize> = (0..ROWS).filter(|&i| g[i] == 0).collect();
    for (k, &i) in zeros.iter().enumerate() {
        x[i] = Some([3e37, 0.75, -3e37][k % 3]);
    }
    if !zeros.len().is_multiple_of(3) {
        for &i in &zeros[zeros.len() - zeros.len() % 3..] {
            g[i] = 5;
            x[i] = Some(1.0);
        }
    }
    // Group 7: exactly one value.
    if let Some(first) = (0..ROWS).find(|&i| g[i] == 7) {
        x[first] = Some(42.5);
    }
    (Int64Array::from(g), Float32Array::from(x))
}

fn batches(g: &Int64Array, x: &Float32Array, rows_per_batch: usize) -> Vec<RecordBatch> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("g", DataType::Int64, false),
        Field::new("x", DataType::Float32, true),
    ]));
    (0..g.len())
        .step_by(rows_per_batch)
        .map(|start| {
            let len = rows_per_batch.min(g.len() - start);
            let columns: Vec<ArrayRef> =
                vec![Arc::new(g.slice(start, len)), Arc::new(x.slice(start, len))];
            RecordBatch::try_new(schema.clone(), columns).expect("columns match the schema")
        })
        .collect()
}

fn write_ipc(path: &Path, batches: &[RecordBatch]) {
    let file = std::fs::File::create(path).expect("create the IPC file");
    write_batches(file, path, &batches[0].schema(), batches, IpcFormat::File).expect("write IPC");
}

/// The reference: each group's values gathered apart, through MeanState.
fn reference(g: &Int64Array, x: &Float32Array) -> HashMap<i64, Option<f64>> {
    let mut values: HashMap<i64, Vec<Option<f32>>> = HashMap::new();
    for (group, value) in g.values().iter().zip(x.iter()) {
        values.entry(*group).or_default().push(value);
    }
    values
        .into_iter()
        .map(|(group, v)| {
            let mut state = MeanState::default();
            state
                .update(&Float32Array::from(v))
                .expect("a group's rows fit a MeanState");
            (group, state.finish())
        })
        .collect()
}

/// The six aggregates of mapmean, in the column order of [`ALL_GROUP_BY`].
const STATISTICS: [&str; 6] = [
    "exact_mean",
    "exact_sum",
    "exact_var",
    "exact_var_pop",
    "exact_stddev",
    "exact_stddev_pop",
];

/// Every aggregate per group, the aliases of the sample ones included (the
/// last two columns repeat columns 3 and 5).
const ALL_GROUP_BY: &str = "SELECT g, exact_mean(x), exact_sum(x), exact_var(x), exact_var_pop(x), \
     exact_stddev(x), exact_stddev_pop(x), exact_var_samp(x), exact_stddev_samp(x) FROM t GROUP BY g";

/// A group's results in the order of [`STATISTICS`], from its values
/// through `MomentsState` (and `MeanState` for the mean), with the kernel's
/// own finishing: the reference the aggregates must match bit for bit.
fn moments_results(values: &Float32Array) -> Vec<Option<f64>> {
    let mut moments = MomentsState::default();
    moments
        .update(values)
        .expect("a group's rows fit a MomentsState");
    let mut mean = MeanState::default();
    mean.update(values).expect("a group's rows fit a MeanState");
    let (sample, population) = (VarianceOptions::new(1), VarianceOptions::new(0));
    vec![
        mean.finish(),
        moments.sum(),
        moments.variance_with(&sample),
        moments.variance_with(&population),
        moments.stddev_with(&sample),
        moments.stddev_with(&population),
    ]
}

/// The reference of every aggregate, each group's values gathered apart.
fn moments_reference(g: &Int64Array, x: &Float32Array) -> HashMap<i64, Vec<Option<f64>>> {
    let mut values: HashMap<i64, Vec<Option<f32>>> = HashMap::new();
    for (group, value) in g.values().iter().zip(x.iter()) {
        values.entry(*group).or_default().push(value);
    }
    values
        .into_iter()
        .map(|(group, v)| (group, moments_results(&Float32Array::from(v))))
        .collect()
}

fn context(partitions: usize, batch_size: usize) -> SessionContext {
    let config = SessionConfig::new()
        .with_target_partitions(partitions)
        .with_batch_size(batch_size);
    let ctx = SessionContext::new_with_config(config);
    mapmean::datafusion::register(&ctx);
    ctx
}

async fn grouped_means(ctx: &SessionContext, sql: &str) -> Result<HashMap<i64, Option<f64>>> {
    let mut means = HashMap::new();
    for batch in ctx.sql(sql).await?.collect().await? {
        let g = batch
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .expect("g is Int64");
        let m = batch
            .column(1)
            .as_any()
            .downcast_ref::<Float64Array>()
            .expect("exact_mean returns Float64");
        for (group, mean) in g.values().iter().zip(m.iter()) {
            assert!(means.insert(*group, mean).is_none(), "group {group} twice");
        }
    }
    Ok(means)
}

/// Compares bit patterns, so that NaN equals NaN and 0.0 differs from -0.0.
fn assert_bitwise_equal(got: &HashMap<i64, Option<f64>>, want: &HashMap<i64, Option<f64>>) {
    assert_eq!(got.len(), want.len());
    for (group, w) in want {
        let g = got.get(group).copied().flatten();
        assert_eq!(
            g.map(f64::to_bits),
            w.map(f64::to_bits),
            "group {group}: got {g:?}, want {w:?}"
        );
    }
}

/// Every Float64 column after the Int64 group column, by group.
async fn grouped_rows(ctx: &SessionContext, sql: &str) -> Result<HashMap<i64, Vec<Option<f64>>>> {
    let mut rows = HashMap::new();
    for batch in ctx.sql(sql).await?.collect().await? {
        let g = batch
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .expect("g is Int64");
        let columns: Vec<&Float64Array> = batch.columns()[1..]
            .iter()
            .map(|c| {
                c.as_any()
                    .downcast_ref::<Float64Array>()
                    .expect("Float64 results")
            })
            .collect();
        for (i, group) in g.values().iter().enumerate() {
            let row = columns
                .iter()
                .map(|c| c.is_valid(i).then(|| c.value(i)))
                .collect();
            assert!(rows.insert(*group, row).is_none(), "group {group} twice");
        }
    }
    Ok(rows)
}

/// Compares every statistic of every group by bit pattern; the last two
/// columns of [`ALL_GROUP_BY`] (the aliases) must equal columns 3 and 5.
fn assert_all_bitwise_equal(
    got: &HashMap<i64, Vec<Option<f64>>>,
    want: &HashMap<i64, Vec<Option<f64>>>,
) {
    assert_eq!(got.len(), want.len());
    let bits = |row: &[Option<f64>]| row.iter().map(|v| v.map(f64::to_bits)).collect::<Vec<_>>();
    for (group, w) in want {
        let g = &got[group];
        let mut w = w.clone();
        w.push(w[2]); // exact_var_samp = exact_var
        w.push(w[4]); // exact_stddev_samp = exact_stddev
        assert_eq!(
            bits(g),
            bits(&w),
            "group {group} ({STATISTICS:?} + aliases): got {g:?}, want {w:?}"
        );
    }
}

const GROUP_BY: &str = "SELECT g, exact_mean(x) FROM t GROUP BY g";

#[tokio::test]
async fn group_by_over_an_ipc_file_is_exact_for_every_group_and_every_partitioning() -> Result<()> {
    let (g, x) = table();
    let want = reference(&g, &x);
    let all = moments_reference(&g, &x);
    assert_eq!(want.len(), GROUPS as usize);
    assert_eq!(want[&0], Some(0.25), "the cancelling group");
    assert_eq!(want[&1], None, "the all-null group");
    assert_eq!(want[&2], Some(f64::INFINITY));
    assert!(want[&3].is_some_and(f64::is_nan));
    assert!(want[&4].is_some_and(f64::is_nan));
    for (group, results) in &all {
        assert_eq!(results[0].map(f64::to_bits), want[group].map(f64::to_bits));
    }

    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("t.arrow");
    write_ipc(&path, &batches(&g, &x, 7_919));
    let path = path.to_str().expect("a UTF-8 path");

    for partitions in [1, 2, 8] {
        for batch_size in [1_000, 8_192] {
            let ctx = context(partitions, batch_size);
            ctx.register_arrow("t", path, ArrowReadOptions::default())
                .await?;
            let got = grouped_means(&ctx, GROUP_BY).await?;
            assert_bitwise_equal(&got, &want);
            // Hand-known answers.
            assert_eq!(got[&0], Some(0.25));
            assert_eq!(got[&1], None);
            assert_eq!(got[&2], Some(f64::INFINITY));
            assert_eq!(got[&5].map(|m| m > 1.0 && m < 2.0), Some(true));

            assert_all_bitwise_equal(&grouped_rows(&ctx, ALL_GROUP_BY).await?, &all);
        }
    }
    Ok(())
}

/// The special groups of [`table`] give what SQL and pyarrow say, not only
/// what the reference says.
#[tokio::test]
async fn sums_variances_and_deviations_follow_the_null_nan_and_infinity_rules() -> Result<()> {
    let (g, x) = table();
    let ctx = context(2, 8_192);
    let batches = batches(&g, &x, 8_192);
    ctx.register_table(
        "t",
        Arc::new(MemTable::try_new(batches[0].schema(), vec![batches])?),
    )?;
    let got = grouped_rows(&ctx, ALL_GROUP_BY).await?;
    let nan = |v: &Option<f64>| v.is_some_and(f64::is_nan);
    let rows_of = |group: i64| g.values().iter().filter(|&&k| k == group).count() as f64;

    // Cancelling: the sum is exactly 0.75 per [3e37, 0.75, -3e37].
    assert_eq!(got[&0][1], Some(0.75 * rows_of(0) / 3.0));
    // All null: NULL everywhere, as sum, var_samp, var_pop, stddev give.
    assert!(got[&1].iter().all(Option::is_none), "{:?}", got[&1]);
    // +inf among finite values: the sum is +inf, the spread NaN.
    assert_eq!(got[&2][1], Some(f64::INFINITY));
    assert!(got[&2][2..].iter().all(nan), "{:?}", got[&2]);
    // NaN, and both infinities: NaN everywhere.
    assert!(got[&3].iter().all(nan) && got[&4].iter().all(nan));
    // One value among nulls: no sample variance, a population variance of 0.
    assert_eq!(got[&7][..2], [Some(42.5), Some(42.5)]);
    assert_eq!(got[&7][2..], [None, Some(0.0), None, Some(0.0), None, None]);
    // A constant: exactly zero spread.
    assert!(
        got[&8][2..].iter().all(|v| *v == Some(0.0)),
        "{:?}",
        got[&8]
    );
    // A large offset: the spread of the noise (U(0, 2) on a grid of 2^-10:
    // variance about 1/3), far from what cancellation would leave.
    let variance = got[&6][2].unwrap_or_default();
    assert!((variance - 1.0 / 3.0).abs() < 0.02, "{variance}");
    // The correctly rounded root of the exact variance is within one ulp of
    // the root of the rounded variance.
    let stddev = got[&6][4].unwrap_or_default();
    assert!(
        (stddev - variance.sqrt()).abs() <= variance.sqrt() * f64::EPSILON,
        "{stddev}"
    );
    Ok(())
}

#[tokio::test]
async fn states_crossing_memory_partitions_give_the_same_bits() -> Result<()> {
    let (g, x) = table();
    let want = moments_reference(&g, &x);
    for (partitions, rows_per_batch) in [(1, 300_000), (2, 1_000), (3, 4_096), (8, 333)] {
        let all = batches(&g, &x, rows_per_batch);
        let mut split = vec![Vec::new(); partitions];
        for (i, batch) in all.into_iter().enumerate() {
            split[i % partitions].push(batch);
        }
        let table = MemTable::try_new(split[0][0].schema(), split)?;
        let ctx = context(partitions, 8_192);
        ctx.register_table("t", Arc::new(table))?;
        assert_all_bitwise_equal(&grouped_rows(&ctx, ALL_GROUP_BY).await?, &want);
    }
    Ok(())
}

#[tokio::test]
async fn skipping_partial_aggregation_sends_row_states_and_stays_exact() -> Result<()> {
    let (g, x) = table();
    let want = moments_reference(&g, &x);
    let mut config = SessionConfig::new().with_target_partitions(4);
    let execution = &mut config.options_mut().execution;
    execution.skip_partial_aggregation_probe_rows_threshold = 10;
    execution.skip_partial_aggregation_probe_ratio_threshold = 0.0;
    let ctx = SessionContext::new_with_config(config);
    mapmean::datafusion::register(&ctx);
    let mut split = vec![Vec::new(); 4];
    for (i, batch) in batches(&g, &x, 5_000).into_iter().enumerate() {
        split[i % 4].push(batch);
    }
    ctx.register_table(
        "t",
        Arc::new(MemTable::try_new(split[0][0].schema(), split)?),
    )?;
    assert_all_bitwise_equal(&grouped_rows(&ctx, ALL_GROUP_BY).await?, &want);
    Ok(())
}

#[tokio::test]
async fn without_group_by_every_aggregate_of_the_whole_column_is_exact() -> Result<()> {
    let (g, x) = table();
    let keep: Float32Array = g
        .values()
        .iter()
        .zip(x.iter())
        .filter(|(g, _)| **g >= 5)
        .map(|(_, x)| x)
        .collect();
    let want = moments_results(&keep);
    assert!(
        want.iter().all(|v| v.is_some_and(f64::is_finite)),
        "{want:?}"
    );
    let mut whole = MeanState::default();
    whole.update(&x).expect("the rows fit a MeanState");
    assert!(
        whole.finish().is_some_and(f64::is_nan),
        "groups 3 and 4 hold NaN"
    );
    let sql = format!(
        "SELECT {} FROM t WHERE g >= 5",
        STATISTICS.map(|s| format!("{s}(x)")).join(", ")
    );
    for partitions in [1, 2, 8] {
        for batch_size in [1_000, 4_096] {
            let ctx = context(partitions, batch_size);
            let mut split = vec![Vec::new(); partitions];
            for (i, batch) in batches(&g, &x, 10_000).into_iter().enumerate() {
                split[i % partitions].push(batch);
            }
            ctx.register_table(
                "t",
                Arc::new(MemTable::try_new(split[0][0].schema(), split)?),
            )?;
            let got = ctx.sql(&sql).await?.collect().await?;
            let row: Vec<Option<u64>> = got[0]
                .columns()
                .iter()
                .map(|c| {
                    let c = c.as_any().downcast_ref::<Float64Array>().expect("Float64");
                    c.is_valid(0).then(|| c.value(0).to_bits())
                })
                .collect();
            let want: Vec<Option<u64>> = want.iter().map(|v| v.map(f64::to_bits)).collect();
            assert_eq!(
                row, want,
                "{partitions} partitions, batches of {batch_size}"
            );
        }
    }
    Ok(())
}

#[tokio::test]
async fn the_filter_clause_and_an_empty_table_follow_sql_rules() -> Result<()> {
    let ctx = context(2, 8_192);
    let sql = "SELECT exact_mean(y) FILTER (WHERE y > 0) AS pos, exact_mean(y) AS all_y \
               FROM (SELECT CAST(x AS REAL) AS y FROM (VALUES (3e37), (0.75), (-3e37), (NULL)) AS t(x))";
    let got = ctx.sql(sql).await?.collect().await?;
    let column = |i: usize| {
        got[0]
            .column(i)
            .as_any()
            .downcast_ref::<Float64Array>()
            .map(|m| m.value(0))
    };
    // (3e37 + 0.75) / 2 rounds to 3e37 / 2, which f64 holds exactly.
    let pos = (3e37_f64 as f32) as f64 / 2.0;
    assert_eq!(column(0), Some(pos));
    assert_eq!(column(1), Some(0.25));

    let sql = "SELECT exact_sum(y) FILTER (WHERE y > 0), exact_var_pop(y) FILTER (WHERE y < 1) \
               FROM (SELECT CAST(x AS REAL) AS y FROM (VALUES (3e37), (0.75), (-3e37), (NULL)) AS t(x))";
    let got = ctx.sql(sql).await?.collect().await?;
    let column = |i: usize| {
        got[0]
            .column(i)
            .as_any()
            .downcast_ref::<Float64Array>()
            .map(|m| m.value(0))
    };
    assert_eq!(column(0), Some(pos * 2.0)); // 3e37 + 0.75 rounds to 3e37
    let x = 3e37_f64 as f32 as f64;
    // Population variance of {0.75, -x}: ((x + 0.75) / 2)², which rounds
    // as (x / 2)² does (exact in f64) since 0.75 is far below an ulp of x.
    assert_eq!(column(1), Some((x / 2.0) * (x / 2.0)));

    // No rows: NULL for every aggregate, as avg, sum, var_pop and stddev_pop give.
    let empty = format!(
        "SELECT {} FROM (VALUES (CAST(1 AS REAL))) AS t(x) WHERE x > 5",
        STATISTICS.map(|s| format!("{s}(x)")).join(", ")
    );
    let got = ctx.sql(&empty).await?.collect().await?;
    for (i, name) in STATISTICS.iter().enumerate() {
        assert!(got[0].column(i).is_null(0), "{name}: no rows gives NULL");
    }
    Ok(())
}

#[tokio::test]
async fn non_numeric_input_types_are_refused_at_planning_with_a_clear_message() -> Result<()> {
    let ctx = context(1, 8_192);
    let pairs = STATISTICS
        .iter()
        .flat_map(|name| [(name, "'a'", "Utf8"), (name, "true", "Boolean")]);
    for (name, value, arrow_type) in pairs {
        let sql = format!("SELECT {name}({value})");
        let err = match ctx.sql(&sql).await {
            Ok(frame) => frame.collect().await.err(),
            Err(err) => Some(err),
        }
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(
            err.contains(name) && err.contains("numeric") && err.contains(arrow_type),
            "{err}"
        );
    }
    Ok(())
}

/// DOUBLE, BIGINT and BIGINT UNSIGNED columns, grouped and not: exact, with
/// SQL's result types (an integer `exact_sum` is BIGINT), the same for any
/// partitioning and batch size; an integer sum that does not fit is an
/// error, never a wrapped value.
#[tokio::test]
async fn double_and_integer_columns_are_exact_under_any_partitioning() -> Result<()> {
    let x: Vec<f64> = [1e308, 1.0, -1e308].repeat(700);
    let g: Vec<i64> = (0..x.len() as i64).map(|i| i % 3).collect();
    let n: Vec<i64> = (0..x.len() as i64)
        .map(|i| (i % 3 - 1) * (1 << 60))
        .collect();
    let u: Vec<u64> = (0..x.len() as u64).map(|i| u64::MAX - i).collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new("g", DataType::Int64, false),
        Field::new("x", DataType::Float64, false),
        Field::new("n", DataType::Int64, false),
        Field::new("u", DataType::UInt64, false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from(g)) as ArrayRef,
            Arc::new(Float64Array::from(x)),
            Arc::new(Int64Array::from(n)),
            Arc::new(arrow_array::UInt64Array::from(u)),
        ],
    )?;
    let mut first: Option<Vec<RecordBatch>> = None;
    for (partitions, batch_size) in [(1, 8_192), (3, 7), (8, 100)] {
        let ctx = context(partitions, batch_size);
        let table = MemTable::try_new(schema.clone(), vec![vec![batch.clone()]])?;
        ctx.register_table("t", Arc::new(table))?;
        let whole = ctx
            .sql("SELECT exact_mean(x), exact_sum(n), exact_var_pop(n), exact_mean(u) FROM t")
            .await?
            .collect()
            .await?;
        let row = &whole[0];
        let mean = row
            .column(0)
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap();
        assert_eq!(mean.value(0), 1.0 / 3.0);
        let sum = row.column(1).as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!(sum.value(0), 0);
        let var = row
            .column(2)
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap();
        assert_eq!(var.value(0), 2.0 / 3.0 * 2f64.powi(120));
        let mean_u = row
            .column(3)
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap();
        assert_eq!(mean_u.value(0), u64::MAX as f64 - 1049.5); // correctly rounded
        let grouped = ctx
            .sql("SELECT g, exact_mean(x), exact_mean(n), exact_stddev(x) FROM t GROUP BY g ORDER BY g")
            .await?
            .collect()
            .await?;
        let grouped = datafusion::arrow::compute::concat_batches(&grouped[0].schema(), &grouped)?;
        let means = grouped
            .column(1)
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap();
        assert_eq!(
            [means.value(0), means.value(1), means.value(2)],
            [1e308, 1.0, -1e308]
        );
        match &first {
            None => first = Some(vec![grouped]),
            Some(f) => assert_eq!(f[0], grouped, "partitions {partitions}, batch {batch_size}"),
        }
        // A dictionary-encoded DOUBLE column is decoded (cast) at planning.
        let dict = ctx
            .sql("SELECT exact_mean(arrow_cast(x, 'Dictionary(Int32, Float64)')) FROM t")
            .await?
            .collect()
            .await?;
        let dict = dict[0]
            .column(0)
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap();
        assert_eq!(dict.value(0), 1.0 / 3.0);
        let err = ctx
            .sql("SELECT exact_sum(u) FROM t")
            .await?
            .collect()
            .await
            .unwrap_err();
        assert!(err.to_string().contains("does not fit in UInt64"), "{err}");
    }
    Ok(())
}

/// `exact_mean(DISTINCT x)`: the mean of the distinct values, or an error
/// where DataFusion would hand DISTINCT to the aggregate itself; never the
/// mean over all rows.
#[tokio::test]
async fn distinct_gives_the_mean_of_distinct_values_or_an_error() -> Result<()> {
    let ctx = context(2, 8_192);
    let t = "(SELECT CAST(x AS REAL) AS x, CAST(y AS REAL) AS y \
             FROM (VALUES (1.0, 1.0), (1.0, 2.0), (4.0, 2.0)) AS t(x, y))";
    let single = format!("SELECT exact_mean(DISTINCT x) FROM {t}");
    let got = ctx.sql(&single).await?.collect().await?;
    let mean = got[0]
        .column(0)
        .as_any()
        .downcast_ref::<Float64Array>()
        .map(|m| m.value(0));
    assert_eq!(mean, Some(2.5));

    let mixed = format!("SELECT exact_mean(DISTINCT x), exact_mean(y) FROM {t}");
    match ctx.sql(&mixed).await {
        Ok(frame) => match frame.collect().await {
            Ok(got) => {
                let column = |i: usize| {
                    got[0]
                        .column(i)
                        .as_any()
                        .downcast_ref::<Float64Array>()
                        .map(|m| m.value(0))
                };
                assert_eq!((column(0), column(1)), (Some(2.5), Some(5.0 / 3.0)));
            }
            Err(err) => assert!(err.to_string().contains("DISTINCT"), "{err}"),
        },
        Err(err) => assert!(err.to_string().contains("DISTINCT"), "{err}"),
    }
    Ok(())
}

#[tokio::test]
async fn the_ffi_forms_imported_back_answer_the_same_bits() -> Result<()> {
    use datafusion::logical_expr::{AggregateUDF, AggregateUDFImpl};

    let (g, x) = table();
    let want = reference(&g, &x);
    let ffi = mapmean::datafusion::exact_mean_ffi();
    let imported: Arc<dyn AggregateUDFImpl> = (&ffi).into();
    let udaf = AggregateUDF::new_from_shared_impl(imported);
    assert_eq!(udaf.name(), "exact_mean");

    let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(2));
    ctx.register_udaf(udaf);
    // Every other aggregate through `ffi(name)`, aliases carried along.
    for name in &STATISTICS[1..] {
        let ffi = mapmean::datafusion::ffi(name)?;
        let imported: Arc<dyn AggregateUDFImpl> = (&ffi).into();
        let udaf = AggregateUDF::new_from_shared_impl(imported);
        assert_eq!(udaf.name(), *name);
        ctx.register_udaf(udaf);
    }
    let batches = batches(&g, &x, 4_096);
    let table = MemTable::try_new(batches[0].schema(), vec![batches])?;
    ctx.register_table("t", Arc::new(table))?;
    assert_bitwise_equal(&grouped_means(&ctx, GROUP_BY).await?, &want);
    assert_all_bitwise_equal(
        &grouped_rows(&ctx, ALL_GROUP_BY).await?,
        &moments_reference(&g, &x),
    );
    let unknown = mapmean::datafusion::ffi("exact_median")
        .err()
        .map(|e| e.to_string());
    assert!(unknown.is_some_and(|e| e.contains("exact_median") && e.contains("exact_var")));
    Ok(())
}

/// A rough timing (not a check, so ignored): `GROUP BY g` over 10^7 rows and
/// 10^5 groups, `exact_mean` of a REAL and of a DOUBLE column, one partition.
///
/// ```text
/// cargo test --profile datafusion --features datafusion --test datafusion \
///     group_by_timing -- --ignored --nocapture
/// ```
#[tokio::test]
#[ignore = "a timing to read, not a test"]
async fn group_by_timing_of_ten_million_rows_in_a_hundred_thousand_groups() -> Result<()> {
    const ROWS: usize = 10_000_000;
    const GROUPS: u64 = 100_000;
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let (mut g, mut x) = (Vec::with_capacity(ROWS), Vec::with_capacity(ROWS));
    for _ in 0..ROWS {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        g.push((state % GROUPS) as i64);
        x.push(((state >> 40) as f32 / 16_777_216.0 - 0.5) * 1e3);
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("g", DataType::Int64, false),
        Field::new("x32", DataType::Float32, false),
        Field::new("x64", DataType::Float64, false),
    ]));
    let batches = (0..ROWS)
        .step_by(8_192)
        .map(|start| {
            let end = (start + 8_192).min(ROWS);
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(Int64Array::from(g[start..end].to_vec())) as ArrayRef,
                    Arc::new(Float32Array::from(x[start..end].to_vec())),
                    Arc::new(Float64Array::from_iter_values(
                        x[start..end].iter().map(|&v| f64::from(v)),
                    )),
                ],
            )
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let ctx = context(1, 8_192);
    ctx.register_table("t", Arc::new(MemTable::try_new(schema, vec![batches])?))?;
    for sql in [
        "SELECT g, avg(x32) FROM t GROUP BY g",
        "SELECT g, exact_mean(x32) FROM t GROUP BY g",
        "SELECT g, exact_mean(x64) FROM t GROUP BY g",
    ] {
        let start = std::time::Instant::now();
        let rows: usize = ctx
            .sql(sql)
            .await?
            .collect()
            .await?
            .iter()
            .map(RecordBatch::num_rows)
            .sum();
        println!(
            "{sql}: {rows} groups in {:.2} s",
            start.elapsed().as_secs_f64()
        );
    }

    // The accumulator alone (mapmean's code, optimised in this profile, where
    // DataFusion's is not): 8,192-row batches as DataFusion hands them, over
    // group counts on both sides of the grouped core's binned Float32 path.
    use datafusion::logical_expr::{EmitTo, GroupsAccumulator};
    use mapmean::datafusion::{ExactGroupsAccumulator, Mean};
    for groups in [1_000, 4_096, 4_097, GROUPS as usize] {
        let ids: Vec<usize> = g.iter().map(|&k| k as usize % groups).collect();
        for data_type in [DataType::Float32, DataType::Float64] {
            let values: ArrayRef = Arc::new(Float32Array::from(x.clone()));
            let values = datafusion::arrow::compute::cast(&values, &data_type)?;
            let start = std::time::Instant::now();
            let mut acc = ExactGroupsAccumulator::for_input(Mean, &data_type)?;
            for begin in (0..ROWS).step_by(8_192) {
                let len = 8_192.min(ROWS - begin);
                let batch = values.slice(begin, len);
                acc.update_batch(&[batch], &ids[begin..begin + len], None, groups)?;
            }
            let means = acc.evaluate(EmitTo::All)?;
            println!(
                "ExactGroupsAccumulator exact_mean of {data_type}, {groups} groups: {} results in {:.2} s",
                means.len(),
                start.elapsed().as_secs_f64()
            );
        }
    }
    Ok(())
}
