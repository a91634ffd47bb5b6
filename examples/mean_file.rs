//! Exact mean of a Float32 column of an Arrow IPC file, from Rust.
//!
//! ```sh
//! cargo run --release --example mean_file -- data.arrow [COLUMN]
//! ```
//! Without arguments it writes a small demonstration file first.

use std::sync::Arc;

use arrow_array::{Float32Array, RecordBatch};
use mapmean::ipc::{write::write_batches, IpcFormat};
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
    let state = engine::state_of_file(&path, column.as_deref(), None)?;
    let row = results::ResultRow {
        source: None,
        column: column.unwrap_or_else(|| "values".into()),
        state,
    };
    let batch = results::to_record_batch(&[row], &mapmean::MeanOptions::default());
    println!("{batch:?}");
    println!("mean = {:?}", state.finish());
    Ok(())
}
