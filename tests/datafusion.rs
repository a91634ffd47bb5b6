//! `exact_mean` in DataFusion SQL (feature `datafusion`): exact per group,
//! bitwise the same for every partitioning and batch size.

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
use mapmean::MeanState;

const GROUPS: i64 = 10_000;
const ROWS: usize = 300_000;

/// Group 0 cancels ([3e37, 0.75, -3e37] repeated), group 1 is all null,
/// group 2 holds +inf, group 3 NaN, group 4 both infinities, group 5 only
/// 1.0 and 2.0; every other group holds values over many binades with
/// scattered nulls.
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

const GROUP_BY: &str = "SELECT g, exact_mean(x) FROM t GROUP BY g";

#[tokio::test]
async fn group_by_over_an_ipc_file_is_exact_for_every_group_and_every_partitioning() -> Result<()> {
    let (g, x) = table();
    let want = reference(&g, &x);
    assert_eq!(want.len(), GROUPS as usize);
    assert_eq!(want[&0], Some(0.25), "the cancelling group");
    assert_eq!(want[&1], None, "the all-null group");
    assert_eq!(want[&2], Some(f64::INFINITY));
    assert!(want[&3].is_some_and(f64::is_nan));
    assert!(want[&4].is_some_and(f64::is_nan));

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
        }
    }
    Ok(())
}

#[tokio::test]
async fn states_crossing_memory_partitions_give_the_same_bits() -> Result<()> {
    let (g, x) = table();
    let want = reference(&g, &x);
    for (partitions, rows_per_batch) in [(1, 300_000), (3, 4_096), (8, 333)] {
        let all = batches(&g, &x, rows_per_batch);
        let mut split = vec![Vec::new(); partitions];
        for (i, batch) in all.into_iter().enumerate() {
            split[i % partitions].push(batch);
        }
        let table = MemTable::try_new(split[0][0].schema(), split)?;
        let ctx = context(partitions, 8_192);
        ctx.register_table("t", Arc::new(table))?;
        assert_bitwise_equal(&grouped_means(&ctx, GROUP_BY).await?, &want);
    }
    Ok(())
}

#[tokio::test]
async fn skipping_partial_aggregation_sends_row_states_and_stays_exact() -> Result<()> {
    let (g, x) = table();
    let want = reference(&g, &x);
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
    assert_bitwise_equal(&grouped_means(&ctx, GROUP_BY).await?, &want);
    Ok(())
}

#[tokio::test]
async fn without_group_by_the_mean_of_the_whole_column_is_exact() -> Result<()> {
    let (g, x) = table();
    let mut whole = MeanState::default();
    whole.update(&x).expect("the rows fit a MeanState");
    for partitions in [1, 2, 8] {
        let ctx = context(partitions, 4_096);
        let mut split = vec![Vec::new(); partitions];
        for (i, batch) in batches(&g, &x, 10_000).into_iter().enumerate() {
            split[i % partitions].push(batch);
        }
        ctx.register_table(
            "t",
            Arc::new(MemTable::try_new(split[0][0].schema(), split)?),
        )?;
        let sql = "SELECT exact_mean(x) FROM t WHERE g >= 5";
        let got = ctx.sql(sql).await?.collect().await?;
        let mean = got[0]
            .column(0)
            .as_any()
            .downcast_ref::<Float64Array>()
            .map(|m| m.value(0));
        let mut finite = MeanState::default();
        let keep: Float32Array = g
            .values()
            .iter()
            .zip(x.iter())
            .filter(|(g, _)| **g >= 5)
            .map(|(_, x)| x)
            .collect();
        finite.update(&keep).expect("the rows fit a MeanState");
        assert_eq!(mean.map(f64::to_bits), finite.finish().map(f64::to_bits));
    }
    assert!(
        whole.finish().is_some_and(f64::is_nan),
        "groups 3 and 4 hold NaN"
    );
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

    let empty = "SELECT exact_mean(x) FROM (VALUES (CAST(1 AS REAL))) AS t(x) WHERE x > 5";
    let got = ctx.sql(empty).await?.collect().await?;
    assert!(got[0].column(0).is_null(0), "no rows: null, as avg gives");
    Ok(())
}

#[tokio::test]
async fn other_input_types_are_refused_at_planning_with_a_clear_message() -> Result<()> {
    let ctx = context(1, 8_192);
    for (sql_type, arrow_type) in [("DOUBLE", "Float64"), ("INT", "Int32")] {
        let sql = format!("SELECT exact_mean(CAST(1 AS {sql_type}))");
        let err = match ctx.sql(&sql).await {
            Ok(frame) => frame.collect().await.err(),
            Err(err) => Some(err),
        }
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(
            err.contains("exact_mean") && err.contains("Float32") && err.contains(arrow_type),
            "{err}"
        );
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
async fn the_ffi_form_imported_back_answers_the_same_bits() -> Result<()> {
    use datafusion::logical_expr::{AggregateUDF, AggregateUDFImpl};

    let (g, x) = table();
    let want = reference(&g, &x);
    let ffi = mapmean::datafusion::exact_mean_ffi();
    let imported: Arc<dyn AggregateUDFImpl> = (&ffi).into();
    let udaf = AggregateUDF::new_from_shared_impl(imported);
    assert_eq!(udaf.name(), "exact_mean");

    let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(2));
    ctx.register_udaf(udaf);
    let batches = batches(&g, &x, 4_096);
    let table = MemTable::try_new(batches[0].schema(), vec![batches])?;
    ctx.register_table("t", Arc::new(table))?;
    assert_bitwise_equal(&grouped_means(&ctx, GROUP_BY).await?, &want);
    Ok(())
}
