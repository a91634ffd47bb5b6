//! Writing Arrow IPC with 64-byte aligned buffers, so readers that map the
//! result (mapmean, pyarrow, any Arrow reader) can use every buffer in place
//! with the alignment SIMD loads like best.

use std::io::Write;

use arrow_array::RecordBatch;
use arrow_ipc::writer::{FileWriter, IpcWriteOptions, StreamWriter};
use arrow_ipc::MetadataVersion;
use arrow_schema::Schema;

use super::IpcFormat;
use crate::error::{Error, Result};

/// Buffer alignment of everything mapmean writes.
pub const ALIGNMENT: usize = 64;

/// Writes `batches` (all of `schema`) to `writer` as an IPC file or stream,
/// uncompressed, with every buffer aligned to [`ALIGNMENT`] bytes.
///
/// # Errors
///
/// [`Error::InvalidArgument`] if a batch does not match `schema`, or the
/// writer's I/O error as [`Error::Io`].
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use arrow_array::{Float32Array, RecordBatch};
/// use mapmean::ipc::{write::write_batches, IpcFormat};
///
/// let batch = RecordBatch::try_from_iter([("x", Arc::new(Float32Array::from(vec![1.0])) as _)])?;
/// let mut out = Vec::new();
/// write_batches(&mut out, &batch.schema(), &[batch], IpcFormat::Stream)?;
/// assert!(!out.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_batches<W: Write>(
    writer: W,
    schema: &Schema,
    batches: &[RecordBatch],
    format: IpcFormat,
) -> Result<()> {
    let options = IpcWriteOptions::try_new(ALIGNMENT, false, MetadataVersion::V5)
        .map_err(|e| Error::Internal(e.to_string()))?;
    let to_error = |e: arrow_schema::ArrowError| match e {
        arrow_schema::ArrowError::IoError(message, source) => Error::Io {
            path: message.into(),
            source,
        },
        other => Error::InvalidArgument(other.to_string()),
    };
    match format {
        IpcFormat::File => {
            let mut w =
                FileWriter::try_new_with_options(writer, schema, options).map_err(to_error)?;
            for batch in batches {
                w.write(batch).map_err(to_error)?;
            }
            w.finish().map_err(to_error)?;
        }
        IpcFormat::Stream => {
            let mut w =
                StreamWriter::try_new_with_options(writer, schema, options).map_err(to_error)?;
            for batch in batches {
                w.write(batch).map_err(to_error)?;
            }
            w.finish().map_err(to_error)?;
        }
    }
    Ok(())
}
