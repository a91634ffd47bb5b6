//! Parquet files, decoded with arrow-rs's own `parquet` crate.
//!
//! [`ParquetData::open`] reads a Parquet file's footer (schema, row groups,
//! column chunks) from a mapped [`Buffer`]; [`ParquetData::units`] cuts the
//! file into units of work (a row group, or a range of rows of a large one)
//! and [`ParquetData::batches`] decodes the columns asked for of one unit,
//! batch by batch. Parquet pages are encoded and usually compressed, so unlike
//! Arrow IPC the values cannot be read where they lie: each batch is decoded
//! into memory of its own (at most [`BATCH_ROWS`] rows per column), read by
//! the kernel and dropped. The column chunks themselves are read from the
//! mapping without copying. The engine
//! ([`crate::engine::states_of_parquet`]) runs the units on all cores, so
//! memory stays a few batches per thread whatever the file's size.
//!
//! Only the columns asked for are read (a projection), and every compression
//! pyarrow, polars and DuckDB write is decoded: none, snappy, gzip, brotli,
//! lz4 (raw and the older framed form), zstd; so are dictionary-encoded pages
//! and nulls. The Arrow types are those pyarrow reads (the Arrow schema
//! stored in the file's metadata, when there is one).
//!
//! Damaged files give [`Error::Corrupt`] naming the file: the parquet crate
//! returns errors for what it checks, and a panic inside it is caught and
//! reported the same way.

use ::parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReader,
    ParquetRecordBatchReaderBuilder, RowSelection, RowSelector,
};
use ::parquet::arrow::ProjectionMask;
use ::parquet::errors::ParquetError;
use arrow_array::ArrayRef;
use arrow_buffer::Buffer;
use arrow_schema::SchemaRef;
use bytes::Bytes;

use crate::column::{projection, resolve_column, Column};
use crate::error::{catch_decoder_panic_as, Error, Result};
use crate::source::guard;

/// The magic bytes at both ends of a Parquet file.
pub const MAGIC: &[u8; 4] = b"PAR1";

/// Rows per decoded batch: 2^16 rows of a column of 8-byte values are
/// 512 KiB, which stays in the L2 cache between the decoder that writes it
/// and the kernel that reads it.
pub const BATCH_ROWS: usize = 1 << 16;

/// Row groups of more rows than this are cut into ranges of this many rows,
/// so that a file of one large row group still runs on every core. A range
/// starts by skipping the pages before it (their headers only, for columns
/// without repetition) and decodes at most one page more than its rows.
pub const UNIT_ROWS: usize = 1 << 22;

/// A Parquet file in one buffer (a mapping), with its footer read.
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use arrow_array::{Float64Array, RecordBatch};
/// use mapmean::parquet::ParquetData;
///
/// let batch = RecordBatch::try_from_iter([("x", Arc::new(Float64Array::from(vec![1.0, 2.0])) as _)])?;
/// let mut bytes = Vec::new();
/// let mut writer = parquet::arrow::ArrowWriter::try_new(&mut bytes, batch.schema(), None)?;
/// writer.write(&batch)?;
/// writer.close()?;
///
/// let data = ParquetData::open(bytes.into(), "memory")?;
/// assert_eq!(data.schema().field(0).name(), "x");
/// assert_eq!(data.num_rows(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct ParquetData {
    source_name: String,
    /// The same bytes as `buffer`, as the parquet crate reads them.
    bytes: Bytes,
    address: usize,
    metadata: ArrowReaderMetadata,
}

/// One unit of work: the rows `offset..offset + len` of a row group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unit {
    /// The row group's index in the file.
    pub row_group: usize,
    /// The first row, counted from the start of the row group.
    pub offset: usize,
    /// How many rows.
    pub len: usize,
}

/// Lets a [`Bytes`] own the mapping behind an Arrow [`Buffer`] (the mapping
/// stays alive while either holds it).
struct Owner(Buffer);

impl AsRef<[u8]> for Owner {
    fn as_ref(&self) -> &[u8] {
        self.0.as_slice()
    }
}

impl ParquetData {
    /// Whether `bytes` start as a Parquet file does (`PAR1`).
    pub fn is_parquet(bytes: &[u8]) -> bool {
        bytes.starts_with(MAGIC)
    }

    /// Reads the footer of the Parquet file in `buffer`. `source_name`
    /// names the file in errors.
    ///
    /// # Errors
    ///
    /// [`Error::Corrupt`] if the bytes are not a complete Parquet file (no
    /// `PAR1` at either end, a footer that does not parse, a schema arrow-rs
    /// cannot read); [`Error::Truncated`] if the mapped file was truncated
    /// while this read it.
    pub fn open(buffer: Buffer, source_name: &str) -> Result<Self> {
        let address = buffer.as_ptr() as usize;
        let data = catch_decoder_panic_as(source_name, Error::corrupt_parquet, || {
            let len = buffer.len();
            if len < 12 || !buffer.starts_with(MAGIC) || !buffer.ends_with(MAGIC) {
                return Err(Error::corrupt_parquet(
                    source_name,
                    format!(
                        "it starts with PAR1 but does not end with it ({len} bytes; truncated?)"
                    ),
                ));
            }
            let bytes = Bytes::from_owner(Owner(buffer));
            let metadata = ArrowReaderMetadata::load(&bytes, ArrowReaderOptions::new())
                .map_err(|e| parquet_error(source_name, "footer", e))?;
            Ok(ParquetData {
                source_name: source_name.to_string(),
                bytes,
                address,
                metadata,
            })
        });
        guard::check([address])?;
        data
    }

    /// The file's Arrow schema.
    pub fn schema(&self) -> &SchemaRef {
        self.metadata.schema()
    }

    /// The file's name, as given to [`ParquetData::open`].
    pub fn source_name(&self) -> &str {
        &self.source_name
    }

    /// The number of rows, over all row groups.
    pub fn num_rows(&self) -> u64 {
        let rows = self.metadata.metadata().file_metadata().num_rows();
        u64::try_from(rows).unwrap_or(0)
    }

    /// The units of work that cover the file, in order: each row group, cut
    /// into ranges of [`UNIT_ROWS`] rows if it is longer.
    pub fn units(&self) -> Vec<Unit> {
        let mut units = Vec::new();
        for (row_group, meta) in self.metadata.metadata().row_groups().iter().enumerate() {
            let rows = usize::try_from(meta.num_rows()).unwrap_or(0);
            let mut offset = 0;
            while offset < rows {
                let len = UNIT_ROWS.min(rows - offset);
                units.push(Unit {
                    row_group,
                    offset,
                    len,
                });
                offset += len;
            }
        }
        units
    }

    /// The schema indices of the numeric columns `names` (`None`: the only
    /// column, which the file must have exactly one of).
    ///
    /// # Errors
    ///
    /// [`Error::ColumnNotFound`], [`Error::AmbiguousColumn`] or
    /// [`Error::WrongType`] (not numeric), naming the file.
    pub fn resolve(&self, names: &[Option<&str>]) -> Result<Vec<usize>> {
        names
            .iter()
            .map(|name| resolve_column(self.schema(), *name, &self.source_name))
            .collect()
    }

    /// Decodes the columns at schema indices `columns` of `unit`, batch by
    /// batch: each item holds one array per index, in the order asked for
    /// (an index may repeat).
    ///
    /// # Errors
    ///
    /// [`Error::Corrupt`] for a column chunk or page that does not decode (at
    /// the start or in any batch).
    pub fn batches(
        &self,
        unit: Unit,
        columns: &[usize],
    ) -> Result<impl Iterator<Item = Result<Vec<ArrayRef>>> + Send + '_> {
        let reader = catch_decoder_panic_as(&self.source_name, Error::corrupt_parquet, || {
            self.reader(unit, columns)
        })?;
        // The projected batch holds the columns in schema order, once each.
        let (_, positions) = projection(columns);
        let mut reader = Some(reader);
        Ok(std::iter::from_fn(move || {
            let next = catch_decoder_panic_as(&self.source_name, Error::corrupt_parquet, || {
                Ok(reader.as_mut().and_then(Iterator::next))
            });
            let batch = match next {
                Ok(Some(Ok(batch))) => batch,
                Ok(None) => return None,
                Ok(Some(Err(e))) => {
                    reader = None;
                    let what = format!("row group {}", unit.row_group);
                    return Some(Err(self.checked(arrow_error(&self.source_name, &what, e))));
                }
                Err(e) => {
                    reader = None;
                    return Some(Err(self.checked(e)));
                }
            };
            Some(Ok(positions
                .iter()
                .map(|&p| batch.column(p).clone())
                .collect()))
        }))
    }

    /// Every value of the column `name` (`None`: the only column), decoded
    /// into memory: one chunk per batch. Unlike an IPC column, this copies
    /// (Parquet pages are encoded); the engine's calls read a file batch by
    /// batch instead ([`crate::engine::states_of_parquet`]).
    ///
    /// # Errors
    ///
    /// As [`ParquetData::resolve`] and [`ParquetData::batches`].
    pub fn column(&self, name: Option<&str>) -> Result<Column> {
        let index = self.resolve(&[name])?[0];
        let field = self.schema().field(index);
        let mut chunks = Vec::new();
        for unit in self.units() {
            for batch in self.batches(unit, &[index])? {
                chunks.extend(batch?);
            }
        }
        guard::check([self.address])?;
        Ok(Column::new(
            field.name().clone(),
            field.data_type().clone(),
            chunks,
        ))
    }

    /// The addresses of a row group's bytes (from its first column chunk's
    /// start to its last one's end), for the read-ahead's progress reports.
    pub(crate) fn row_group_bytes(&self, row_group: usize) -> Option<std::ops::Range<usize>> {
        let group = self.metadata.metadata().row_groups().get(row_group)?;
        // Not `ColumnChunkMetaData::byte_range`, which asserts on the
        // negative offsets of a damaged footer.
        let ranges = group.columns().iter().map(|c| {
            let start = c.dictionary_page_offset().unwrap_or(c.data_page_offset());
            let start = u64::try_from(start).ok()?;
            let len = u64::try_from(c.compressed_size()).ok()?;
            Some((start, start.saturating_add(len)))
        });
        let (start, end) = ranges
            .collect::<Option<Vec<_>>>()?
            .into_iter()
            .reduce(|(s, e), (s2, e2)| (s.min(s2), e.max(e2)))?;
        let start = self.address.checked_add(usize::try_from(start).ok()?)?;
        let end = self.address.checked_add(usize::try_from(end).ok()?)?;
        let end = end.min(self.address + self.bytes.len());
        (start < end).then_some(start..end)
    }

    /// Whether the file's mapping was truncated while it was read (the
    /// mapping guard turned the pages past the new end into zeros): a result
    /// or an error from such bytes is to be discarded.
    ///
    /// # Errors
    ///
    /// [`Error::Truncated`] if it was.
    pub fn check_mapping(&self) -> Result<()> {
        guard::check([self.address])
    }

    fn checked(&self, error: Error) -> Error {
        self.check_mapping().err().unwrap_or(error)
    }

    fn reader(&self, unit: Unit, columns: &[usize]) -> Result<ParquetRecordBatchReader> {
        let mask = ProjectionMask::roots(self.metadata.parquet_schema(), columns.iter().copied());
        let rows = self
            .metadata
            .metadata()
            .row_groups()
            .get(unit.row_group)
            .map_or(0, |g| usize::try_from(g.num_rows()).unwrap_or(0));
        let mut builder = ParquetRecordBatchReaderBuilder::new_with_metadata(
            self.bytes.clone(),
            self.metadata.clone(),
        )
        .with_row_groups(vec![unit.row_group])
        .with_projection(mask)
        .with_batch_size(BATCH_ROWS);
        if unit.offset > 0 || unit.len < rows {
            let mut selectors = Vec::with_capacity(3);
            if unit.offset > 0 {
                selectors.push(RowSelector::skip(unit.offset));
            }
            selectors.push(RowSelector::select(unit.len));
            let rest = rows.saturating_sub(unit.offset + unit.len);
            if rest > 0 {
                selectors.push(RowSelector::skip(rest));
            }
            builder = builder.with_row_selection(RowSelection::from(selectors));
        }
        let what = format!("row group {}", unit.row_group);
        builder
            .build()
            .map_err(|e| self.checked(parquet_error(&self.source_name, &what, e)))
    }
}

/// [`Error::Corrupt`] for a parquet crate error while reading `what`.
fn parquet_error(source_name: &str, what: &str, error: ParquetError) -> Error {
    Error::corrupt_parquet(source_name, format!("{what}: {error}"))
}

/// [`Error::Corrupt`] for an error that the parquet crate's Arrow reader
/// returned while decoding `what`.
fn arrow_error(source_name: &str, what: &str, error: arrow_schema::ArrowError) -> Error {
    Error::corrupt_parquet(source_name, format!("{what}: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Array, Float32Array, Int64Array, RecordBatch};
    use parquet::arrow::ArrowWriter;
    use parquet::file::properties::WriterProperties;
    use std::sync::Arc;

    fn parquet_bytes(batch: &RecordBatch, rows_per_group: usize) -> Vec<u8> {
        let mut bytes = Vec::new();
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(rows_per_group))
            .build();
        let mut writer = ArrowWriter::try_new(&mut bytes, batch.schema(), Some(props)).unwrap();
        writer.write(batch).unwrap();
        writer.close().unwrap();
        bytes
    }

    #[test]
    fn units_cover_every_row_once_and_columns_come_in_the_order_asked() {
        let n: usize = 1000;
        let x = Float32Array::from_iter((0..n).map(|i| (i % 7 != 0).then_some(i as f32)));
        let y = Int64Array::from_iter_values((0..n).map(|i| -(i as i64)));
        let batch = RecordBatch::try_from_iter([
            ("x", Arc::new(x) as ArrayRef),
            ("y", Arc::new(y) as ArrayRef),
        ])
        .unwrap();
        let data = ParquetData::open(parquet_bytes(&batch, 300).into(), "t").unwrap();
        assert_eq!(data.units().len(), 4);
        let mut seen: Vec<ArrayRef> = Vec::new();
        for unit in data.units() {
            for arrays in data.batches(unit, &[1, 0, 1]).unwrap() {
                let arrays = arrays.unwrap();
                assert_eq!(arrays[0].data_type(), &arrow_schema::DataType::Int64);
                assert_eq!(arrays[1].data_type(), &arrow_schema::DataType::Float32);
                seen.push(arrays[1].clone());
            }
        }
        let total: usize = seen.iter().map(|a| a.len()).sum();
        let nulls: usize = seen.iter().map(|a| a.null_count()).sum();
        assert_eq!((total, nulls), (n, n.div_ceil(7)));
    }

    #[test]
    fn a_range_of_a_row_group_reads_exactly_its_rows() {
        let n = 10_000;
        let y = Int64Array::from_iter_values(0..n as i64);
        let batch = RecordBatch::try_from_iter([("y", Arc::new(y) as ArrayRef)]).unwrap();
        let data = ParquetData::open(parquet_bytes(&batch, n).into(), "t").unwrap();
        let unit = Unit {
            row_group: 0,
            offset: 1234,
            len: 5000,
        };
        let values: Vec<i64> = data
            .batches(unit, &[0])
            .unwrap()
            .flat_map(|b| {
                let b = b.unwrap();
                let a = b[0].as_any().downcast_ref::<Int64Array>().unwrap().clone();
                a.values().to_vec()
            })
            .collect();
        assert_eq!(values, (1234..6234).collect::<Vec<i64>>());
    }

    #[test]
    fn a_file_cut_short_is_corrupt_not_a_panic() {
        let y = Int64Array::from_iter_values(0..100);
        let batch = RecordBatch::try_from_iter([("y", Arc::new(y) as ArrayRef)]).unwrap();
        let bytes = parquet_bytes(&batch, 100);
        for cut in [4, 12, bytes.len() / 2, bytes.len() - 1] {
            let err = ParquetData::open(bytes[..cut].to_vec().into(), "t.parquet").unwrap_err();
            assert!(matches!(err, Error::Corrupt { .. }), "{cut}: {err}");
        }
    }
}
