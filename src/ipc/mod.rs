//! Arrow IPC decoding over an in-memory [`Buffer`], without copying.
//!
//! [`IpcData::open`] recognises the IPC **file** format (random access through
//! the footer) and the IPC **stream** format, and [`IpcData::float32_column`]
//! decodes one column of every record batch. The decoders (arrow-ipc's
//! `FileDecoder` and `StreamDecoder`) slice the input buffer, so when the
//! buffer is a memory map the arrays' value buffers and validity bitmaps point
//! into the map. Bodies that cannot be used in place are still decoded
//! correctly, by copying: compressed bodies (LZ4 frame, ZSTD) are
//! decompressed, and buffers that are not aligned to their type are copied
//! to aligned memory. Big-endian data is rejected with a clear error.
//!
//! Block offsets and lengths from the footer are checked against the buffer
//! before anything is sliced; arrow-ipc validates each batch (buffer sizes,
//! lengths, null counts). A few malformed inputs make arrow-ipc assert
//! (panic) instead of returning an error; those panics are caught here and
//! reported as [`Error::Corrupt`]. arrow-ipc also trusts the uncompressed
//! length that prefixes each compressed buffer and allocates it, so a damaged
//! prefix could ask for terabytes and abort the process: every batch's
//! prefixes are checked first (`check_declared_lengths`).
//!
//! Inputs that cannot be mapped (standard input, pipes) are read message by
//! message by [`stream::IpcStreamReader`], with the same checks.

pub(crate) mod sniff;
pub mod stream;
pub mod write;

use std::sync::Arc;

use arrow_array::{Array, ArrayRef};
use arrow_buffer::Buffer;
use arrow_ipc::reader::{FileDecoder, StreamDecoder};
use arrow_ipc::{Block, MetadataVersion};
use arrow_schema::{ArrowError, SchemaRef};

use crate::column::{projection, resolve_column, Column, Float32Column};
use crate::error::{catch_decoder_panic, Error, Result};
use crate::source::guard;

const MAGIC: &[u8; 6] = b"ARROW1";

/// Which IPC format a buffer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpcFormat {
    /// The IPC file format (`ARROW1` magic, footer with block offsets).
    File,
    /// The IPC stream format (a sequence of messages).
    Stream,
}

/// Arrow IPC data (a file or a stream) in one buffer, with its schema read.
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use arrow_array::{Float32Array, RecordBatch};
/// use mapmean::ipc::{write, IpcData, IpcFormat};
///
/// let batch = RecordBatch::try_from_iter([(
///     "x",
///     Arc::new(Float32Array::from(vec![1.0, 2.0])) as _,
/// )])?;
/// let mut bytes = Vec::new();
/// write::write_batches(&mut bytes, "memory", &batch.schema(), &[batch.clone()], IpcFormat::File)?;
///
/// let data = IpcData::open(bytes.into(), "memory")?;
/// assert_eq!(data.format(), IpcFormat::File);
/// let column = data.float32_column(Some("x"))?;
/// assert_eq!(column.chunks()[0].values().as_ref(), &[1.0, 2.0]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct IpcData {
    source_name: String,
    buffer: Buffer,
    schema: SchemaRef,
    layout: Layout,
}

#[derive(Debug, Clone)]
enum Layout {
    File {
        version: MetadataVersion,
        blocks: Vec<Block>,
        /// Dictionary batches, read before the record batches of a
        /// projection with a dictionary-encoded column.
        dictionaries: Vec<Block>,
    },
    Stream,
}

impl IpcData {
    /// Reads the schema (and for files, the footer) of the IPC data in
    /// `buffer`. `source_name` names the data in errors.
    ///
    /// # Errors
    ///
    /// [`Error::Corrupt`] if the bytes are empty, truncated, or not Arrow IPC,
    /// or hold big-endian data; [`Error::Truncated`] if the mapped source
    /// was truncated while this read it.
    pub fn open(buffer: Buffer, source_name: &str) -> Result<Self> {
        let address = buffer.as_ptr() as usize;
        let data = catch_decoder_panic(source_name, || Self::open_unguarded(buffer, source_name));
        // A source truncated under the mapping reads as zeros, which looks
        // corrupt: report the truncation instead.
        guard::check([address])?;
        data
    }

    fn open_unguarded(buffer: Buffer, source_name: &str) -> Result<Self> {
        let bytes = buffer.as_slice();
        if bytes.is_empty() {
            return Err(Error::corrupt(source_name, "the file is empty"));
        }
        if bytes.len() >= 8 && &bytes[..6] == MAGIC {
            return Self::open_file(buffer, source_name);
        }
        if let Some(what) = sniff::describe_source(bytes, source_name) {
            return Err(Error::corrupt(source_name, what));
        }
        Self::open_stream(buffer, source_name)
    }

    fn open_file(buffer: Buffer, source_name: &str) -> Result<Self> {
        let bytes = buffer.as_slice();
        let len = bytes.len();
        if len < 18 || &bytes[len - 6..] != MAGIC {
            return Err(Error::corrupt(
                source_name,
                format!("starts as an IPC file but has no footer ({len} bytes; truncated?)"),
            ));
        }
        let mut length_bytes = [0u8; 4];
        length_bytes.copy_from_slice(&bytes[len - 10..len - 6]);
        let footer_len = i32::from_le_bytes(length_bytes);
        let footer_start = (len - 10)
            .checked_sub(usize::try_from(footer_len).unwrap_or(usize::MAX))
            .filter(|&start| footer_len > 0 && start >= 8)
            .ok_or_else(|| {
                Error::corrupt(
                    source_name,
                    format!("footer length {footer_len} does not fit in {len} bytes"),
                )
            })?;
        let footer = arrow_ipc::root_as_footer(&bytes[footer_start..len - 10]).map_err(|e| {
            Error::corrupt(source_name, format!("footer at offset {footer_start}: {e}"))
        })?;
        let fb_schema = footer
            .schema()
            .ok_or_else(|| Error::corrupt(source_name, "the footer has no schema"))?;
        check_endianness(fb_schema.endianness(), source_name)?;
        let schema = Arc::new(arrow_ipc::convert::fb_to_schema(fb_schema));
        let blocks = footer
            .recordBatches()
            .map(|b| b.iter().copied().collect())
            .unwrap_or_default();
        let dictionaries = footer
            .dictionaries()
            .map(|b| b.iter().copied().collect())
            .unwrap_or_default();
        let version = footer.version();
        Ok(IpcData {
            source_name: source_name.to_string(),
            buffer,
            schema,
            layout: Layout::File {
                version,
                blocks,
                dictionaries,
            },
        })
    }

    fn open_stream(buffer: Buffer, source_name: &str) -> Result<Self> {
        check_stream_endianness(buffer.as_slice(), source_name)?;
        // Before any decoding: the decoder decompresses batches as it goes.
        let bytes = buffer.as_slice();
        let mut at = 0;
        while let Some(frame) = Frame::parse(bytes, at) {
            let end = frame.body_start.saturating_add(frame.body_len);
            let Some(body) = bytes.get(frame.body_start..end) else {
                break; // truncated: the decoder reports it
            };
            check_declared_lengths(frame.message(bytes), body, source_name, at as i64)?;
            at = end;
        }
        let mut decoder = StreamDecoder::new();
        let mut rest = buffer.clone();
        while decoder.schema().is_none() && !rest.is_empty() {
            decoder
                .decode(&mut rest)
                .map_err(|e| stream_error(source_name, &buffer, &rest, e))?;
        }
        let schema = decoder.schema().ok_or_else(|| {
            Error::corrupt(
                source_name,
                "not an Arrow IPC file or stream (no schema message found)",
            )
        })?;
        Ok(IpcData {
            source_name: source_name.to_string(),
            buffer,
            schema,
            layout: Layout::Stream,
        })
    }

    /// The schema of the data.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Which IPC format the data is in.
    pub fn format(&self) -> IpcFormat {
        match self.layout {
            Layout::File { .. } => IpcFormat::File,
            Layout::Stream => IpcFormat::Stream,
        }
    }

    /// The name used for this data in errors.
    pub fn source_name(&self) -> &str {
        &self.source_name
    }

    /// Decodes the column `name` (or the only column, if `name` is `None`),
    /// of any numeric type, from every record batch, without copying: the
    /// arrays point into the buffer. Only that column is decoded in the file
    /// format; the stream format decodes (without copying) every column.
    ///
    /// # Errors
    ///
    /// [`Error::ColumnNotFound`], [`Error::AmbiguousColumn`] or
    /// [`Error::WrongType`] for a column that cannot be used;
    /// [`Error::Corrupt`] for damaged data; [`Error::Truncated`] as in
    /// [`IpcData::open`].
    pub fn column(&self, name: Option<&str>) -> Result<Column> {
        let column = catch_decoder_panic(&self.source_name, || self.column_unguarded(name));
        guard::check([self.buffer.as_ptr() as usize])?;
        column
    }

    /// [`IpcData::column`] for a Float32 column.
    ///
    /// # Errors
    ///
    /// As [`IpcData::column`]; [`Error::WrongType`] for another type.
    pub fn float32_column(&self, name: Option<&str>) -> Result<Float32Column> {
        self.column(name)?.into_float32(&self.source_name)
    }

    fn column_unguarded(&self, name: Option<&str>) -> Result<Column> {
        let index = resolve_column(&self.schema, name, &self.source_name)?;
        let field = self.schema.field(index);
        let arrays = self
            .batch_columns(&[index])?
            .into_iter()
            .map(|mut batch| batch.remove(0))
            .collect();
        Ok(Column::new(
            field.name().clone(),
            field.data_type().clone(),
            arrays,
        ))
    }

    /// Decodes the columns at schema indices `indices` (any type; an index
    /// may repeat) from every record batch, without copying: one vector per
    /// batch, its arrays in the order asked for. Dictionary-encoded columns
    /// are read with their dictionaries.
    ///
    /// # Errors
    ///
    /// [`Error::Corrupt`] for damaged data, or a batch whose column is not of
    /// its declared type; [`Error::Truncated`] as in [`IpcData::open`].
    pub fn columns_at(&self, indices: &[usize]) -> Result<Vec<Vec<ArrayRef>>> {
        let batches = catch_decoder_panic(&self.source_name, || self.batch_columns(indices));
        guard::check([self.buffer.as_ptr() as usize])?;
        batches
    }

    fn batch_columns(&self, indices: &[usize]) -> Result<Vec<Vec<ArrayRef>>> {
        if let Some(&bad) = indices.iter().find(|&&i| i >= self.schema.fields().len()) {
            return Err(Error::InvalidArgument(format!(
                "{}: no column at index {bad}",
                self.source_name
            )));
        }
        let batches = match &self.layout {
            Layout::File {
                version,
                blocks,
                dictionaries,
            } => self.file_columns(indices, *version, blocks, dictionaries)?,
            Layout::Stream => self.stream_columns(indices)?,
        };
        for batch in &batches {
            for (&index, array) in indices.iter().zip(batch) {
                let field = self.schema.field(index);
                if array.data_type() != field.data_type() {
                    return Err(Error::corrupt(
                        &self.source_name,
                        format!(
                            "column {:?} is declared {} but a batch holds {}",
                            field.name(),
                            field.data_type(),
                            array.data_type()
                        ),
                    ));
                }
            }
        }
        Ok(batches)
    }

    /// The bytes of `block` (message and body), checked to lie in the file.
    fn block_bytes(&self, block: &Block, what: &str) -> Result<Buffer> {
        let offset = block.offset();
        let total = i64::from(block.metaDataLength()).checked_add(block.bodyLength());
        let in_bounds = match (usize::try_from(offset), total.map(usize::try_from)) {
            (Ok(start), Some(Ok(total))) if block.metaDataLength() > 0 => start
                .checked_add(total)
                .is_some_and(|end| end <= self.buffer.len()),
            _ => false,
        };
        if !in_bounds {
            return Err(Error::corrupt(
                &self.source_name,
                format!(
                    "{what} (offset {offset}, metadata {} bytes, body {} bytes) lies outside the {} bytes of the file",
                    block.metaDataLength(),
                    block.bodyLength(),
                    self.buffer.len()
                ),
            ));
        }
        let data = self.buffer.slice_with_length(
            offset as usize,
            block.metaDataLength() as usize + block.bodyLength() as usize,
        );
        // The message as arrow-ipc's decoder will read it (after the
        // continuation marker and length, whatever that length says), and
        // the body after the block's metadata length.
        if data.len() >= 8 {
            let message = if data[..4] == [0xff; 4] {
                &data[8..]
            } else {
                &data[4..]
            };
            let body = &data[block.metaDataLength() as usize..];
            check_declared_lengths(message, body, &self.source_name, offset)?;
        }
        Ok(data)
    }

    fn file_columns(
        &self,
        indices: &[usize],
        version: MetadataVersion,
        blocks: &[Block],
        dictionaries: &[Block],
    ) -> Result<Vec<Vec<ArrayRef>>> {
        // The decoded batch holds the projected columns in schema order,
        // once each.
        let (sorted, positions) = projection(indices);
        let needs_dictionaries = sorted
            .iter()
            .any(|&i| has_dictionary(self.schema.field(i).data_type()));
        let mut decoder = FileDecoder::new(self.schema.clone(), version).with_projection(sorted);
        if needs_dictionaries {
            for (i, block) in dictionaries.iter().enumerate() {
                let what = format!("dictionary batch {i}");
                let data = self.block_bytes(block, &what)?;
                decoder.read_dictionary(block, &data).map_err(|e| {
                    Error::corrupt(
                        &self.source_name,
                        format!("{what} at offset {}: {e}", block.offset()),
                    )
                })?;
            }
        }
        let mut batches = Vec::with_capacity(blocks.len());
        for (i, block) in blocks.iter().enumerate() {
            let offset = block.offset();
            let data = self.block_bytes(block, &format!("record batch {i}"))?;
            let batch = decoder
                .read_record_batch(block, &data)
                .map_err(|e| {
                    Error::corrupt(
                        &self.source_name,
                        format!("record batch {i} at offset {offset}: {e}"),
                    )
                })?
                .ok_or_else(|| {
                    Error::corrupt(
                        &self.source_name,
                        format!("record batch {i} at offset {offset} is empty"),
                    )
                })?;
            batches.push(positions.iter().map(|&p| batch.column(p).clone()).collect());
        }
        Ok(batches)
    }

    fn stream_columns(&self, indices: &[usize]) -> Result<Vec<Vec<ArrayRef>>> {
        let mut decoder = StreamDecoder::new();
        let mut rest = self.buffer.clone();
        let mut batches = Vec::new();
        while !rest.is_empty() {
            let decoded = decoder
                .decode(&mut rest)
                .map_err(|e| stream_error(&self.source_name, &self.buffer, &rest, e))?;
            if let Some(batch) = decoded {
                if batch.schema().fields() != self.schema.fields() {
                    return Err(Error::corrupt(
                        &self.source_name,
                        "the stream changes its schema part-way",
                    ));
                }
                batches.push(indices.iter().map(|&i| batch.column(i).clone()).collect());
            }
        }
        decoder.finish().map_err(|e| {
            Error::corrupt(&self.source_name, format!("the stream is truncated: {e}"))
        })?;
        Ok(batches)
    }
}

/// Whether a type is or holds a dictionary-encoded array.
fn has_dictionary(data_type: &arrow_schema::DataType) -> bool {
    use arrow_schema::DataType::*;
    match data_type {
        Dictionary(..) => true,
        List(f)
        | LargeList(f)
        | ListView(f)
        | LargeListView(f)
        | FixedSizeList(f, _)
        | Map(f, _) => has_dictionary(f.data_type()),
        Struct(fields) => fields.iter().any(|f| has_dictionary(f.data_type())),
        Union(fields, _) => fields.iter().any(|(_, f)| has_dictionary(f.data_type())),
        RunEndEncoded(_, values) => has_dictionary(values.data_type()),
        _ => false,
    }
}

/// One encapsulated IPC message: `[0xFFFFFFFF] len:i32 message[len] body`.
struct Frame {
    message_start: usize,
    message_len: usize,
    body_start: usize,
    body_len: usize,
}

impl Frame {
    /// The frame at `at`, or `None` at the end marker or where the bytes do
    /// not parse (the decoder then reports the problem).
    fn parse(bytes: &[u8], at: usize) -> Option<Frame> {
        let word = |i: usize| -> Option<u32> {
            let b = bytes.get(i..i + 4)?;
            Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        };
        let mut start = at;
        let mut len = word(start)?;
        if len == u32::MAX {
            start += 4;
            len = word(start)?;
        }
        let message_start = start + 4;
        let message_len = usize::try_from(len).ok().filter(|&l| l > 0)?;
        let message = bytes.get(message_start..message_start.checked_add(message_len)?)?;
        let body_len =
            usize::try_from(arrow_ipc::root_as_message(message).ok()?.bodyLength()).ok()?;
        Some(Frame {
            message_start,
            message_len,
            body_start: message_start + message_len,
            body_len,
        })
    }

    fn message<'a>(&self, bytes: &'a [u8]) -> &'a [u8] {
        &bytes[self.message_start..self.message_start + self.message_len]
    }
}

/// Rejects a compressed record (or dictionary) batch whose buffers declare
/// more uncompressed bytes than half of this machine's memory, or more than
/// their compressed bytes can expand to (65,536 times their length, above
/// what LZ4 or ZSTD can reach): arrow-ipc would allocate the declared length
/// up front, and a lie could abort the process or take its memory.
///
/// # Errors
///
/// [`Error::Corrupt`] naming the buffer, the batch's offset and the length.
pub(crate) fn check_declared_lengths(
    message: &[u8],
    body: &[u8],
    source_name: &str,
    offset: i64,
) -> Result<()> {
    let Ok(message) = arrow_ipc::root_as_message(message) else {
        return Ok(()); // the decoder reports unparsable messages
    };
    let batch = match message.header_type() {
        arrow_ipc::MessageHeader::RecordBatch => message.header_as_record_batch(),
        arrow_ipc::MessageHeader::DictionaryBatch => {
            message.header_as_dictionary_batch().and_then(|d| d.data())
        }
        _ => None,
    };
    let Some(batch) = batch.filter(|b| b.compression().is_some()) else {
        return Ok(());
    };
    let limit = max_allocation();
    for (i, buffer) in batch.buffers().into_iter().flatten().enumerate() {
        let start = usize::try_from(buffer.offset()).ok();
        let Some(prefix) = start.and_then(|s| body.get(s..s.checked_add(8)?)) else {
            continue; // out of bounds: the decoder reports it
        };
        if buffer.length() < 8 {
            continue;
        }
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(prefix);
        let declared = i64::from_le_bytes(bytes);
        // LZ4 frames expand at most ~255-fold and ZSTD frames ~43,690-fold
        // (128 KiB blocks behind 3-byte headers): a larger declared length
        // is a lie, whatever the machine's memory.
        // The compressed bytes: what the buffer declares, but no more than
        // the body holds (the declared length may lie too).
        let available = body.len().saturating_sub(start.unwrap_or(usize::MAX));
        let compressed = u64::try_from(buffer.length())
            .unwrap_or(0)
            .min(available as u64)
            .saturating_sub(8);
        let plausible = compressed
            .saturating_mul(MAX_EXPANSION)
            .saturating_add(MAX_EXPANSION);
        if declared > 0 && declared as u64 > plausible.min(limit) {
            if (declared as u64) <= limit {
                return Err(Error::corrupt(
                    source_name,
                    format!(
                        "compressed buffer {i} of the batch at offset {offset} declares {declared} uncompressed bytes from {compressed} compressed bytes, more than LZ4 or ZSTD can expand to; refusing to allocate it"
                    ),
                ));
            }
            return Err(Error::corrupt(
                source_name,
                format!(
                    "compressed buffer {i} of the batch at offset {offset} declares {declared} uncompressed bytes, more than this machine can hold ({limit} bytes); refusing to allocate it"
                ),
            ));
        }
    }
    Ok(())
}

/// The most a compressed byte can expand to, with margin (see
/// [`check_declared_lengths`]).
const MAX_EXPANSION: u64 = 1 << 16;

/// Half of the physical memory (1 TiB where it cannot be read).
fn max_allocation() -> u64 {
    #[cfg(unix)]
    {
        // SAFETY: sysconf only reads system configuration values.
        let (pages, page_size) = unsafe {
            (
                libc::sysconf(libc::_SC_PHYS_PAGES),
                libc::sysconf(libc::_SC_PAGESIZE),
            )
        };
        if pages > 0 && page_size > 0 {
            return (pages as u64).saturating_mul(page_size as u64) / 2;
        }
    }
    1 << 40
}

fn stream_error(source_name: &str, whole: &Buffer, rest: &Buffer, e: ArrowError) -> Error {
    let offset = whole.len() - rest.len();
    Error::corrupt(source_name, format!("near offset {offset}: {e}"))
}

fn check_endianness(endianness: arrow_ipc::Endianness, source_name: &str) -> Result<()> {
    if endianness.equals_to_target_endianness() {
        Ok(())
    } else {
        Err(Error::corrupt(
            source_name,
            format!(
                "the data is {} but this machine is {}; mapmean does not byte-swap",
                endianness_name(endianness),
                endianness_name(if endianness == arrow_ipc::Endianness::Big {
                    arrow_ipc::Endianness::Little
                } else {
                    arrow_ipc::Endianness::Big
                })
            ),
        ))
    }
}

fn endianness_name(e: arrow_ipc::Endianness) -> &'static str {
    if e == arrow_ipc::Endianness::Big {
        "big-endian"
    } else {
        "little-endian"
    }
}

/// The stream decoder does not look at endianness; read it from the first
/// message (the schema) ourselves. Bytes that do not parse are left for the
/// decoder to report.
fn check_stream_endianness(bytes: &[u8], source_name: &str) -> Result<()> {
    let mut at = 0;
    if bytes.len() >= 4 && bytes[..4] == [0xff; 4] {
        at = 4;
    }
    let Some(len_bytes) = bytes.get(at..at + 4) else {
        return Ok(());
    };
    let len = u32::from_le_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]) as usize;
    let Some(message) = bytes.get(at + 4..at + 4 + len) else {
        return Ok(());
    };
    if let Ok(message) = arrow_ipc::root_as_message(message) {
        if let Some(schema) = message.header_as_schema() {
            return check_endianness(schema.endianness(), source_name);
        }
    }
    Ok(())
}
