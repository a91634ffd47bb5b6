//! Exact mean of a Float32 column of an Arrow IPC file, from Rust.
//!
//! ```sh
//! cargo run --release --example mean_file -- data.arrow [COLUMN]
//! ```
//! Without arguments it writes a small demonstration file first.

use std::sync::Arc;

use arrow_array::{Float32Array, RecordBatch};
use mapmean::ipc::{write::write_batches, IpcFormat};
use mapmean::kernel::{Parts, Statistic, StatisticOptions};
use mapmean::{engine, results};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = match args.next() {
        Some(path) => path.into(),
        None => {
            // [3e37, 0.75, -3e37] repeated: f32 and f64 sums both cancel to 0.
            let path = std::env::temp_dir().join("mapmean-example.arrow");
            let values: Vec<f32> = [3e37, 0.75, -3e37].repeat(1_000_000);
            let batch = RecordBatch::try_from_iter([(
                "values",
                Arc::new(Float32Array::from(values)) as _,
            )])?;
            let file = std::fs::File::create(&path)?;
            write_batches(file, &path, &batch.schema(), &[batch], IpcFormat::File)?;
            println!("wrote {}", path.display());
            path
        }
    };
    let column = args.next();
    // Any numeric column: the state computes what the statistics need.
    let statistics: Vec<_> = Statistic::ALL
        .iter()
        .map(|&s| (s, StatisticOptions::for_statistic(s)))
        .collect();
    let state = engine::state_of_source(&path, column.as_deref(), Parts::ALL, None)?;
    let mean = Statistic::Mean.finish(&state, &StatisticOptions::default())?;
    let row = results::ResultRow {
        source: None,
        column: column.unwrap_or_else(|| "values".into()),
        state,
    };
    let (batch, _) = results::to_record_batch(&[row], &statistics)?;
    println!("{batch:?}");
    println!("mean = {mean:?}");
    Ok(())
}
