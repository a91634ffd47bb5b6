//! Writing Arrow IPC with 64-byte aligned buffers, so readers that map the
//! result (mapmean, pyarrow, any Arrow reader) can use every buffer in place
//! with the alignment SIMD loads like best: to any writer
//! ([`write_batches`]) or straight into a new shared-memory segment
//! ([`SharedSegment::create_with_batches`]).

use std::io::Write;
use std::path::Path;

use arrow_array::RecordBatch;
use arrow_ipc::writer::{FileWriter, IpcWriteOptions, StreamWriter};
use arrow_ipc::MetadataVersion;
use arrow_schema::Schema;

use super::IpcFormat;
use crate::error::{Error, Result};
#[cfg(unix)]
use crate::source::SharedSegment;

/// Buffer alignment of everything mapmean writes.
pub const ALIGNMENT: usize = 64;

/// Writes `batches` (all of `schema`) to `writer` as an IPC file or stream,
/// uncompressed, with every buffer aligned to [`ALIGNMENT`] bytes.
/// `destination` names what `writer` writes to (a path, `stdout`, …) in
/// errors.
///
/// # Errors
///
/// [`Error::InvalidArgument`] if a batch does not match `schema`, or the
/// writer's I/O error as [`Error::Io`] for `destination`.
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
/// write_batches(&mut out, "memory", &batch.schema(), &[batch], IpcFormat::Stream)?;
/// assert!(!out.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_batches<W: Write>(
    writer: W,
    destination: impl AsRef<Path>,
    schema: &Schema,
    batches: &[RecordBatch],
    format: IpcFormat,
) -> Result<()> {
    let options = IpcWriteOptions::try_new(ALIGNMENT, false, MetadataVersion::V5)
        .map_err(|e| Error::Internal(e.to_string()))?;
    let destination = destination.as_ref();
    // arrow-ipc's I/O errors carry its own message where a path would be:
    // report them under the destination.
    let to_error = |e: arrow_schema::ArrowError| match e {
        arrow_schema::ArrowError::IoError(_, source) => Error::io(destination, source),
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

#[cfg(unix)]
impl SharedSegment {
    /// Creates the segment `name` (exclusively, mode `0600`) and writes
    /// `batches` into it as an Arrow IPC file image with 64-byte aligned
    /// buffers. The size is bounded up front from the batches' buffers, the
    /// image is written straight into the mapping, and the segment is then
    /// shrunk to the image's exact size. On failure no segment is left
    /// behind.
    ///
    /// # Errors
    ///
    /// [`Error::AlreadyExists`] if the name is taken (it is never replaced),
    /// [`Error::InvalidArgument`] for an invalid name or batches that do not
    /// match `schema`, [`Error::Io`] if the system refuses.
    ///
    /// # Example
    ///
    /// ```
    /// use std::sync::Arc;
    /// use arrow_array::{Float32Array, RecordBatch};
    /// use mapmean::source::SharedSegment;
    ///
    /// let batch = RecordBatch::try_from_iter([("x", Arc::new(Float32Array::from(vec![1.0, 2.0])) as _)])?;
    /// let name = SharedSegment::random_name();
    /// let owner = SharedSegment::create_with_batches(&name, &batch.schema(), &[batch])?;
    /// assert!(SharedSegment::open(&name)?.buffer().len() > 0);
    /// owner.unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn create_with_batches(
        name: &str,
        schema: &Schema,
        batches: &[RecordBatch],
    ) -> Result<Self> {
        let capacity = image_size_bound(schema, batches);
        let destination = format!("{}{name}", crate::source::SHM_SCHEME);
        SharedSegment::create_with(name, capacity, |out| {
            write_batches(out, &destination, schema, batches, IpcFormat::File)
        })
    }
}

/// An upper bound of the IPC file image of `batches`: every buffer padded
/// to 64 bytes, plus generous room for the flatbuffer metadata.
#[cfg(unix)]
fn image_size_bound(schema: &Schema, batches: &[RecordBatch]) -> usize {
    use arrow_array::Array;
    use arrow_data::ArrayData;

    fn data_bound(data: &ArrayData) -> usize {
        let own: usize = data
            .buffers()
            .iter()
            .map(|b| b.len().next_multiple_of(64) + 64)
            .sum();
        let nulls = data
            .nulls()
            .map_or(0, |n| n.buffer().len().next_multiple_of(64) + 64);
        own + nulls + data.child_data().iter().map(data_bound).sum::<usize>()
    }
    let columns = schema.fields().len();
    let names: usize = schema.fields().iter().map(|f| f.name().len() + 64).sum();
    let schema_bound = 4096 + 256 * columns + 2 * names;
    let per_batch = 1024 + 256 * columns;
    let body: usize = batches
        .iter()
        .flat_map(|b| b.columns())
        .map(|c| data_bound(&c.to_data()))
        .sum();
    // Schema message, and the schema again in the footer with the blocks.
    2 * schema_bound + batches.len() * (per_batch + 64) + body
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::sync::Arc;

    use arrow_array::{Float32Array, Int64Array};

    fn batch(n: usize) -> RecordBatch {
        let x: Float32Array = (0..n).map(|i| (i % 5 != 0).then_some(i as f32)).collect();
        let n = Int64Array::from_iter_values(0..n as i64);
        RecordBatch::try_from_iter([("x", Arc::new(x) as _), ("n", Arc::new(n) as _)]).unwrap()
    }

    #[test]
    fn the_image_fits_its_bound_and_is_a_valid_ipc_file() {
        for rows in [0, 1, 63, 64, 1000, 100_000] {
            let batches = [batch(rows), batch(rows / 2)];
            let name = SharedSegment::random_name();
            let owner =
                SharedSegment::create_with_batches(&name, &batches[0].schema(), &batches).unwrap();
            let reader = SharedSegment::open(&name).unwrap();
            owner.unlink().unwrap();
            let data = super::super::IpcData::open(reader.buffer().clone(), &reader.source_name())
                .unwrap();
            let column = data.float32_column(Some("x")).unwrap();
            assert_eq!(column.len(), rows + rows / 2);
        }
    }

    #[test]
    fn a_taken_name_is_never_replaced() {
        let name = SharedSegment::random_name();
        let b = [batch(10)];
        let first = SharedSegment::create_with_batches(&name, &b[0].schema(), &b).unwrap();
        let err = SharedSegment::create_with_batches(&name, &b[0].schema(), &b).unwrap_err();
        assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
        first.unlink().unwrap();
        assert!(matches!(
            SharedSegment::open(&name),
            Err(Error::NotFound { .. })
        ));
    }

    #[test]
    fn write_errors_name_the_destination() {
        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("disk on fire"))
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let b = batch(3);
        let err =
            write_batches(Broken, "out/x.arrow", &b.schema(), &[b], IpcFormat::File).unwrap_err();
        assert!(
            matches!(&err, Error::Io { path, .. } if path == Path::new("out/x.arrow")),
            "{err:?}"
        );
        assert_eq!(err.to_string(), "out/x.arrow: disk on fire");
    }
}
