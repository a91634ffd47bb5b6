//! `SELECT g, exact_mean(x) FROM t GROUP BY g` against DataFusion's own
//! `avg(x)` on the same query and data: 10,000 groups, 20 M rows in memory.
//!
//! ```sh
//! cargo bench --profile datafusion-release --features datafusion --bench datafusion [-- ROWS GROUPS REPS]
//! ```
//! The two queries alternate, so noise hits both alike; it prints the median
//! time of each and the median of the per-round ratios. DataFusion runs on a
//! current-thread tokio runtime (one core) with `target_partitions` 2, and
//! writes the figures to `target/datafusion-bench.json` for
//! `benches/compare.py` (`docs/benchmarks.md`).

use std::sync::Arc;
use std::time::Instant;

use arrow_array::{ArrayRef, Float32Array, Int64Array, RecordBatch};
use datafusion::datasource::MemTable;
use datafusion::error::Result;
use datafusion::prelude::{SessionConfig, SessionContext};

/// Where the figures go, relative to the package root (cargo's working
/// directory for benchmarks).
const RESULT_PATH: &str = "target/datafusion-bench.json";

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

async fn run(ctx: &SessionContext, sql: &str) -> Result<f64> {
    let start = Instant::now();
    let batches = ctx.sql(sql).await?.collect().await?;
    let elapsed = start.elapsed().as_secs_f64();
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    std::hint::black_box(rows);
    Ok(elapsed)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    // `cargo bench` passes `--bench`; keep only numeric arguments.
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let rows = args.first().copied().unwrap_or(20_000_000);
    let groups = args.get(1).copied().unwrap_or(10_000) as u64;
    let reps = args.get(2).copied().unwrap_or(7);

    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut g = Vec::with_capacity(rows);
    let mut x = Vec::with_capacity(rows);
    for _ in 0..rows {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        g.push((state % groups) as i64);
        x.push(((state >> 40) as f32 / 16_777_216.0 - 0.5) * 1e3);
    }
    let batch_rows = 8_192;
    let partitions = 2;
    let mut split: Vec<Vec<RecordBatch>> = vec![Vec::new(); partitions];
    for (i, start) in (0..rows).step_by(batch_rows).enumerate() {
        let len = batch_rows.min(rows - start);
        let batch = RecordBatch::try_from_iter([
            (
                "g",
                Arc::new(Int64Array::from(g[start..start + len].to_vec())) as ArrayRef,
            ),
            (
                "x",
                Arc::new(Float32Array::from(x[start..start + len].to_vec())) as ArrayRef,
            ),
        ])?;
        split[i % partitions].push(batch);
    }
    let schema = split[0][0].schema();
    let config = SessionConfig::new().with_target_partitions(partitions);
    let ctx = SessionContext::new_with_config(config);
    mapmean::datafusion::register(&ctx);
    ctx.register_table("t", Arc::new(MemTable::try_new(schema, split)?))?;

    let avg = "SELECT g, avg(x) FROM t GROUP BY g";
    let exact = "SELECT g, exact_mean(x) FROM t GROUP BY g";
    run(&ctx, avg).await?; // warm up
    run(&ctx, exact).await?;
    let (mut t_avg, mut t_exact, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..reps {
        let a = run(&ctx, avg).await?;
        let e = run(&ctx, exact).await?;
        t_avg.push(a);
        t_exact.push(e);
        ratios.push(e / a);
    }
    let (t_avg, t_exact, ratio) = (median(t_avg), median(t_exact), median(ratios));
    println!("GROUP BY over {groups} groups, {rows} rows, {reps} rounds (median):");
    println!("  avg(x):        {t_avg:.3} s");
    println!("  exact_mean(x): {t_exact:.3} s");
    println!("  ratio exact_mean / avg: {ratio:.2}");
    // For benches/compare.py, which puts it into docs/benchmarks.md.
    let json = format!(
        "{{\"rows\": {rows}, \"groups\": {groups}, \"rounds\": {reps}, \"partitions\": {partitions}, \
         \"avg_s\": {t_avg}, \"exact_mean_s\": {t_exact}, \"ratio\": {ratio}}}\n"
    );
    std::fs::create_dir_all("target")?;
    std::fs::write(RESULT_PATH, json)?;
    println!("  written to {RESULT_PATH}");
    Ok(())
}
