//! `exact_mean` and `exact_var` in DataFusion SQL, next to DataFusion's own
//! `avg` and `var_samp`.
//!
//! ```sh
//! cargo run --profile datafusion --features datafusion --example datafusion_sql -- [data.arrow]
//! ```
//! The file needs a Float32 column `x` and a column `g` to group by. Without
//! arguments the example writes a small demonstration file first, where group
//! 0 holds `[3e37, 0.75, -3e37]` (exact mean 0.25; float sums say 0) and
//! group 1 holds `[1e8, 1, -1e8]` repeated (exact mean 1/3).

use std::sync::Arc;

use arrow_array::{ArrayRef, Float32Array, Int64Array, RecordBatch};
use datafusion::execution::options::ArrowReadOptions;
use datafusion::prelude::SessionContext;
use mapmean::ipc::{write::write_batches, IpcFormat};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = match std::env::args().nth(1) {
        Some(path) => path,
        None => {
            let path = std::env::temp_dir().join("mapmean-datafusion-example.arrow");
            let g: Vec<i64> = (0..600_000).map(|i| (i / 3) % 2).collect();
            let x: Vec<f32> = (0..600_000)
                .map(|i| match (i / 3) % 2 {
                    0 => [3e37, 0.75, -3e37][i % 3],
                    _ => [1e8, 1.0, -1e8][i % 3],
                })
                .collect();
            let batch = RecordBatch::try_from_iter([
                ("g", Arc::new(Int64Array::from(g)) as ArrayRef),
                ("x", Arc::new(Float32Array::from(x)) as ArrayRef),
            ])?;
            let file = std::fs::File::create(&path)?;
            write_batches(file, &path, &batch.schema(), &[batch], IpcFormat::File)?;
            println!("wrote {}", path.display());
            path.to_string_lossy().into_owned()
        }
    };

    let ctx = SessionContext::new();
    mapmean::datafusion::register(&ctx);
    ctx.register_arrow("t", &path, ArrowReadOptions::default())
        .await?;
    ctx.sql(
        "SELECT g, exact_mean(x) AS exact, avg(x) AS float_avg, \
         exact_var(x) AS exact_var, var_samp(x) AS float_var FROM t GROUP BY g ORDER BY g",
    )
    .await?
    .show()
    .await?;
    Ok(())
}
