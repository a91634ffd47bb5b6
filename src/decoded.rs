//! [`Decoded`]: what a mapped source holds, Arrow IPC or Parquet, told apart
//! by its first bytes, with its metadata read.
//!
//! Every front end that opens a file or segment goes through
//! [`Decoded::open`], so a `.parquet` file is taken wherever an Arrow IPC
//! file is: one-shot calls, datasets (which may mix both), kept datasets,
//! the CLI. The engine computes either kind with
//! [`crate::engine::states_of_data`].

use arrow_buffer::Buffer;
use arrow_schema::SchemaRef;

use crate::column::Column;
use crate::error::Result;
use crate::ipc::IpcData;
use crate::parquet::ParquetData;

/// A source's bytes, recognised and with their metadata read.
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use arrow_array::{Float32Array, RecordBatch};
/// use mapmean::decoded::Decoded;
/// use mapmean::ipc::{write::write_batches, IpcFormat};
///
/// let batch = RecordBatch::try_from_iter([("x", Arc::new(Float32Array::from(vec![1.0, 2.0])) as _)])?;
/// let mut ipc = Vec::new();
/// write_batches(&mut ipc, "memory", &batch.schema(), &[batch.clone()], IpcFormat::File)?;
/// let mut parquet = Vec::new();
/// let mut writer = parquet::arrow::ArrowWriter::try_new(&mut parquet, batch.schema(), None)?;
/// writer.write(&batch)?;
/// writer.close()?;
///
/// for bytes in [ipc, parquet] {
///     let data = Decoded::open(bytes.into(), "memory")?;
///     assert_eq!(data.column(Some("x"))?.len(), 2);
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub enum Decoded {
    /// An Arrow IPC file or stream, read in place.
    Ipc(IpcData),
    /// A Parquet file, decoded batch by batch.
    Parquet(ParquetData),
}

impl Decoded {
    /// Reads the metadata of the Arrow IPC file or stream or the Parquet
    /// file in `buffer`; `source_name` names it in errors.
    ///
    /// # Errors
    ///
    /// As [`IpcData::open`] and [`ParquetData::open`]: [`crate::Error::Corrupt`]
    /// for bytes that are neither (naming what they look like, where it can
    /// be told), [`crate::Error::Truncated`] for a mapping truncated while
    /// it was read.
    pub fn open(buffer: Buffer, source_name: &str) -> Result<Self> {
        if ParquetData::is_parquet(buffer.as_slice()) {
            return Ok(Decoded::Parquet(ParquetData::open(buffer, source_name)?));
        }
        Ok(Decoded::Ipc(IpcData::open(buffer, source_name)?))
    }

    /// The source's Arrow schema.
    pub fn schema(&self) -> &SchemaRef {
        match self {
            Decoded::Ipc(data) => data.schema(),
            Decoded::Parquet(data) => data.schema(),
        }
    }

    /// The column `name` (`None`: the only column) of every batch: arrays
    /// over the mapped bytes for Arrow IPC, decoded into memory for Parquet
    /// (see [`ParquetData::column`]).
    ///
    /// # Errors
    ///
    /// As [`IpcData::column`] and [`ParquetData::column`].
    pub fn column(&self, name: Option<&str>) -> Result<Column> {
        match self {
            Decoded::Ipc(data) => data.column(name),
            Decoded::Parquet(data) => data.column(name),
        }
    }
}
