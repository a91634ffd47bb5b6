//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use arrow_array::{ArrayRef, Float32Array, Int64Array, RecordBatch};
use mapmean::ipc::{write::write_batches, IpcFormat};

/// Deterministic values over many binades, every 7th one null.
pub fn sample(len: usize, seed: u32) -> Float32Array {
    (0..len)
        .map(|i| {
            let x =
                ((i as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 8) as f32 / 16777216.0;
            (i % 7 != 3).then_some((x - 0.5) * 10f32.powi((i % 13) as i32 - 6))
        })
        .collect()
}

/// A batch with a Float32 column "x" and an Int64 column "n".
pub fn batch(x: Float32Array) -> RecordBatch {
    let n = Int64Array::from_iter_values(0..x.len() as i64);
    RecordBatch::try_from_iter([
        ("x", Arc::new(x) as ArrayRef),
        ("n", Arc::new(n) as ArrayRef),
    ])
    .unwrap()
}

pub fn write(path: &Path, batches: &[RecordBatch], format: IpcFormat) {
    let file = std::fs::File::create(path).unwrap();
    write_batches(file, path, &batches[0].schema(), batches, format).unwrap();
}

/// Bytes of an IPC file or stream holding `batches`.
pub fn bytes(batches: &[RecordBatch], format: IpcFormat) -> Vec<u8> {
    let mut out = Vec::new();
    write_batches(&mut out, "memory", &batches[0].schema(), batches, format).unwrap();
    out
}
