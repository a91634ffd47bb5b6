//! [`IpcStreamReader`]: an Arrow IPC stream read incrementally from any
//! [`Read`] (standard input, a pipe, a socket), one message at a time.
//!
//! Sources that can be mapped go through [`IpcData`](super::IpcData), which
//! slices one buffer holding the whole input. A pipe cannot be mapped, and its
//! stream may be longer than memory, so this reader holds only the message
//! being decoded: it reads a message's framing and metadata, checks them,
//! reads the body into one 64-byte aligned buffer, and hands both to
//! arrow-ipc's `StreamDecoder`, which decodes the batch in place (zero copy
//! from the body buffer). Memory is one batch, whatever the stream's length.
//!
//! The checks are those of the mapped path: big-endian schemas are rejected,
//! compressed buffers' declared lengths are checked before arrow-ipc would
//! allocate them (`check_declared_lengths`),
//! and bodies are read in growing steps, so a body length that lies cannot
//! make the reader allocate more than the bytes that actually arrive. A
//! stream that stops inside a message is an error, never a shorter result.
//!
//! An IPC **file** is not read from a stream: its footer is at the end, and
//! mapmean reads files by mapping them. The reader recognises a file's magic
//! and says so, naming the fix.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read};
use std::sync::Arc;

use arrow_array::{ArrayRef, Float32Array, RecordBatch};
use arrow_buffer::{Buffer, MutableBuffer};
use arrow_ipc::reader::StreamDecoder;
use arrow_schema::SchemaRef;

use super::{check_declared_lengths, check_endianness, MAGIC};
use crate::column::resolve_column;
use crate::error::{catch_decoder_panic, Error, Result};

/// The continuation marker that precedes each message's length.
const CONTINUATION: [u8; 4] = [0xff; 4];

/// Bytes read before a buffer grows (doubling from there): a declared
/// length is only trusted as far as bytes arrive.
const FIRST_READ: usize = 64 << 20;

/// An Arrow IPC stream read incrementally from `R`, as an iterator of record
/// batches.
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use arrow_array::{ArrayRef, Float32Array, RecordBatch};
/// use mapmean::ipc::{stream::IpcStreamReader, write::write_batches, IpcFormat};
///
/// let batch = RecordBatch::try_from_iter([(
///     "x",
///     Arc::new(Float32Array::from(vec![1.0, 2.0])) as _,
/// )])?;
/// let mut bytes = Vec::new();
/// write_batches(&mut bytes, "memory", &batch.schema(), &[batch.clone(), batch], IpcFormat::Stream)?;
///
/// let reader = IpcStreamReader::new(&bytes[..], "memory")?;
/// assert_eq!(reader.schema().field(0).name(), "x");
/// let batches = reader.collect::<mapmean::Result<Vec<_>>>()?;
/// assert_eq!(batches.len(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct IpcStreamReader<R> {
    messages: Messages<R>,
    schema: SchemaRef,
}

impl<R: Read> IpcStreamReader<R> {
    /// Reads messages from `reader` up to and including the schema.
    /// `source_name` names the stream in errors (`-` for standard input).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if the bytes are an IPC *file* (which
    /// needs a seekable path); [`Error::Corrupt`] if they are empty, not
    /// Arrow IPC, big-endian, or end before the schema; [`Error::Io`] if
    /// reading fails.
    pub fn new(reader: R, source_name: &str) -> Result<Self> {
        let mut messages = Messages {
            reader,
            source_name: source_name.to_string(),
            decoder: StreamDecoder::new(),
            schema: None,
            pending: Vec::new(),
            ready: VecDeque::new(),
            offset: 0,
            finished: false,
        };
        loop {
            if !messages.ready.is_empty() {
                return Err(Error::corrupt(
                    source_name,
                    "a record batch comes before the schema",
                ));
            }
            if let Some(schema) = messages.schema.clone() {
                return Ok(IpcStreamReader { messages, schema });
            }
            if !messages.read_message()? {
                let what = if messages.offset == 0 {
                    "the stream is empty"
                } else {
                    "the stream ends before its schema"
                };
                return Err(Error::corrupt(source_name, what));
            }
        }
    }

    /// The stream's schema.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The name used for this stream in errors.
    pub fn source_name(&self) -> &str {
        &self.messages.source_name
    }

    /// The Float32 columns `names` of every batch, in that order, as an
    /// iterator of one array per name.
    ///
    /// # Errors
    ///
    /// [`Error::ColumnNotFound`] or [`Error::WrongType`] for a name that
    /// cannot be used (checked against the schema before any batch is read);
    /// the iterator then yields the errors of [`Iterator::next`].
    ///
    /// # Example
    ///
    /// ```
    /// use std::sync::Arc;
    /// use arrow_array::{Float32Array, Int64Array, RecordBatch};
    /// use mapmean::ipc::{stream::IpcStreamReader, write::write_batches, IpcFormat};
    ///
    /// let batch = RecordBatch::try_from_iter([
    ///     ("n", Arc::new(Int64Array::from(vec![1, 2])) as _),
    ///     ("x", Arc::new(Float32Array::from(vec![0.5, 1.5])) as _),
    /// ])?;
    /// let mut bytes = Vec::new();
    /// write_batches(&mut bytes, "memory", &batch.schema(), &[batch], IpcFormat::Stream)?;
    ///
    /// let reader = IpcStreamReader::new(&bytes[..], "memory")?;
    /// let columns = reader.float32_columns(&["x".to_string()])?;
    /// let arrays: Vec<Vec<Float32Array>> = columns.collect::<mapmean::Result<_>>()?;
    /// assert_eq!(arrays[0][0].values().as_ref(), &[0.5, 1.5]);
    /// assert!(IpcStreamReader::new(&bytes[..], "memory")?.float32_columns(&["n".to_string()]).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn float32_columns(
        self,
        names: &[String],
    ) -> Result<impl Iterator<Item = Result<Vec<Float32Array>>>> {
        let source_name = self.source_name().to_string();
        for name in names {
            let index = resolve_column(&self.schema, Some(name), &source_name)?;
            let data_type = self.schema.field(index).data_type();
            if *data_type != arrow_schema::DataType::Float32 {
                return Err(Error::WrongType {
                    source_name,
                    column: name.clone(),
                    data_type: data_type.to_string(),
                });
            }
        }
        let columns = self.columns(names)?;
        Ok(columns.map(move |arrays| {
            arrays?
                .into_iter()
                .map(|column| {
                    column
                        .as_any()
                        .downcast_ref::<Float32Array>()
                        .cloned()
                        .ok_or_else(|| Error::WrongType {
                            source_name: source_name.clone(),
                            column: String::new(),
                            data_type: column.data_type().to_string(),
                        })
                })
                .collect()
        }))
    }

    /// The columns `names` (each of a numeric type) of every batch, in that
    /// order, as the stream is read: one array per name per batch, pointing
    /// into the batch's message buffer.
    ///
    /// # Errors
    ///
    /// [`Error::ColumnNotFound`] or [`Error::WrongType`] (before anything is
    /// read) for a name that is missing or not numeric; each item as the
    /// batches.
    ///
    /// # Example
    ///
    /// ```
    /// use std::sync::Arc;
    /// use arrow_array::{Float64Array, Int64Array, RecordBatch};
    /// use mapmean::ipc::{stream::IpcStreamReader, write::write_batches, IpcFormat};
    ///
    /// let batch = RecordBatch::try_from_iter([
    ///     ("n", Arc::new(Int64Array::from(vec![1, 2])) as _),
    ///     ("x", Arc::new(Float64Array::from(vec![0.5, 1.5])) as _),
    /// ])?;
    /// let mut bytes = Vec::new();
    /// write_batches(&mut bytes, "memory", &batch.schema(), &[batch], IpcFormat::Stream)?;
    /// let reader = IpcStreamReader::new(&bytes[..], "memory")?;
    /// let batches: Vec<_> = reader.columns(&["x".into(), "n".into()])?.collect::<mapmean::Result<_>>()?;
    /// assert_eq!(batches[0][1].len(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn columns(self, names: &[String]) -> Result<impl Iterator<Item = Result<Vec<ArrayRef>>>> {
        let source_name = self.source_name().to_string();
        let indices = names
            .iter()
            .map(|name| resolve_column(&self.schema, Some(name), &source_name))
            .collect::<Result<Vec<usize>>>()?;
        Ok(self.map(move |batch| {
            let batch = batch?;
            Ok(indices.iter().map(|&i| batch.column(i).clone()).collect())
        }))
    }
}

impl<R: Read> Iterator for IpcStreamReader<R> {
    type Item = Result<RecordBatch>;

    /// The next record batch; after an error or the end, `None`.
    fn next(&mut self) -> Option<Self::Item> {
        let messages = &mut self.messages;
        loop {
            if let Some(batch) = messages.ready.pop_front() {
                return Some(Ok(batch));
            }
            if messages.finished {
                return None;
            }
            if let Err(e) = messages.read_message() {
                messages.finished = true;
                messages.ready.clear();
                return Some(Err(e));
            }
        }
    }
}

/// The reading and decoding state behind [`IpcStreamReader`].
#[derive(Debug)]
struct Messages<R> {
    reader: R,
    source_name: String,
    decoder: StreamDecoder,
    /// The schema, once its message is read.
    schema: Option<SchemaRef>,
    /// Messages without a body (the schema), not yet given to the decoder:
    /// it only decodes a message once bytes after it arrive, so they go in
    /// front of the next message (or of the end-of-stream marker).
    pending: Vec<u8>,
    /// Batches decoded and not yet returned.
    ready: VecDeque<RecordBatch>,
    /// Bytes consumed so far: the offset of the next message, for errors.
    offset: u64,
    finished: bool,
}

impl<R: Read> Messages<R> {
    /// Reads one message and decodes what can be decoded into `ready`;
    /// `false` (and `finished`) at the end of the stream.
    fn read_message(&mut self) -> Result<bool> {
        let at = self.offset;
        let Some(mut word) = self.read_word()? else {
            // The end, without an end-of-stream marker.
            self.finish(at)?;
            return Ok(false);
        };
        if word == CONTINUATION {
            word = self
                .read_word()?
                .ok_or_else(|| self.truncated(at, "a message length"))?;
        } else if at == 0 && word == MAGIC[..4] {
            return Err(Error::InvalidArgument(format!(
                "{}: this is an Arrow IPC file, not a stream; an IPC file needs a seekable path: pass the file's path instead of piping it, or convert it to a stream (pyarrow.ipc.new_stream)",
                self.source_name
            )));
        } else if at == 0 {
            // Not a continuation marker: a stream from before format 0.15
            // (a small length) or not Arrow IPC at all.
            if let Some(what) = super::sniff::describe_source(&word, &self.source_name) {
                return Err(Error::corrupt(&self.source_name, what));
            }
        }
        let len = i32::from_le_bytes(word);
        if len == 0 {
            self.finish(at)?;
            return Ok(false);
        }
        let len = usize::try_from(len).map_err(|_| {
            Error::corrupt(
                &self.source_name,
                format!("near offset {at}: a message length of {len} bytes"),
            )
        })?;
        // One buffer holds the pending messages, this one's framing, its
        // metadata and its body, so that the decoder slices them without
        // copying; the padding in front puts the body on a 64-byte boundary.
        let header_len = self.pending.len() + 8 + len;
        let pad = (64 - header_len % 64) % 64;
        let mut bytes = MutableBuffer::with_capacity(pad + header_len);
        bytes.extend_zeros(pad);
        bytes.extend_from_slice(&self.pending);
        bytes.extend_from_slice(&CONTINUATION);
        bytes.extend_from_slice(&word);
        let metadata_start = bytes.len();
        self.read_into(&mut bytes, len, at, "a message")?;
        let body_len = {
            let message =
                arrow_ipc::root_as_message(&bytes.as_slice()[metadata_start..]).map_err(|e| {
                    Error::corrupt(
                        &self.source_name,
                        format!("near offset {at}: not an Arrow IPC message: {e}"),
                    )
                })?;
            if let Some(schema) = message.header_as_schema() {
                check_endianness(schema.endianness(), &self.source_name)?;
                if self.schema.is_none() {
                    self.schema = Some(Arc::new(arrow_ipc::convert::fb_to_schema(schema)));
                }
            }
            usize::try_from(message.bodyLength()).map_err(|_| {
                Error::corrupt(
                    &self.source_name,
                    format!(
                        "near offset {at}: a message body of {} bytes",
                        message.bodyLength()
                    ),
                )
            })?
        };
        if body_len == 0 {
            self.pending = bytes.as_slice()[pad..].to_vec();
            return Ok(true);
        }
        self.pending.clear();
        self.read_into(&mut bytes, body_len, at, "a message body")?;
        let body_start = pad + header_len;
        check_declared_lengths(
            &bytes.as_slice()[metadata_start..body_start],
            &bytes.as_slice()[body_start..],
            &self.source_name,
            at as i64,
        )?;
        self.decode(Buffer::from(bytes).slice(pad), at)?;
        Ok(true)
    }

    /// Decodes what is pending at the end of the stream, and checks that
    /// the stream did not stop part-way through a message.
    fn finish(&mut self, at: u64) -> Result<()> {
        self.finished = true;
        if !self.pending.is_empty() {
            let mut bytes = std::mem::take(&mut self.pending);
            bytes.extend_from_slice(&CONTINUATION);
            bytes.extend_from_slice(&[0; 4]);
            self.decode(Buffer::from_vec(bytes), at)?;
        }
        let source_name = &self.source_name;
        self.decoder
            .finish()
            .map_err(|e| Error::corrupt(source_name, format!("near offset {at}: {e}")))
    }

    /// Feeds `buffer` (whole messages) to the decoder.
    fn decode(&mut self, mut buffer: Buffer, at: u64) -> Result<()> {
        let Messages {
            source_name,
            decoder,
            ready,
            ..
        } = self;
        catch_decoder_panic(source_name, || {
            while !buffer.is_empty() {
                let decoded = decoder
                    .decode(&mut buffer)
                    .map_err(|e| Error::corrupt(source_name, format!("near offset {at}: {e}")))?;
                ready.extend(decoded);
            }
            Ok(())
        })
    }

    /// Four bytes, or `None` at the end of the input (no byte read).
    fn read_word(&mut self) -> Result<Option<[u8; 4]>> {
        let mut word = [0u8; 4];
        match self.read_up_to(&mut word)? {
            4 => Ok(Some(word)),
            0 => Ok(None),
            got => Err(self.truncated(self.offset - got as u64, "a message length")),
        }
    }

    /// Appends `len` bytes to `buffer`, growing it as bytes arrive rather
    /// than by what `len` claims.
    fn read_into(
        &mut self,
        buffer: &mut MutableBuffer,
        len: usize,
        at: u64,
        what: &str,
    ) -> Result<()> {
        let start = buffer.len();
        let mut filled = 0;
        while filled < len {
            let step = (len - filled).min(filled.max(FIRST_READ));
            buffer.resize(start + filled + step, 0);
            let got = self.read_up_to(&mut buffer.as_slice_mut()[start + filled..])?;
            filled += got;
            if got < step {
                return Err(
                    self.truncated(at, &format!("{what} of {len} bytes ({filled} arrived)"))
                );
            }
        }
        Ok(())
    }

    /// Fills `out` as far as the input allows; returns the bytes read.
    fn read_up_to(&mut self, out: &mut [u8]) -> Result<usize> {
        let mut got = 0;
        while got < out.len() {
            match self.reader.read(&mut out[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::io(&self.source_name, e)),
            }
        }
        self.offset += got as u64;
        Ok(got)
    }

    fn truncated(&self, at: u64, what: &str) -> Error {
        Error::corrupt(
            &self.source_name,
            format!("the stream is truncated: it ends inside {what} (message at offset {at})"),
        )
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, Int64Array};

    use super::*;
    use crate::ipc::write::write_batches;
    use crate::ipc::IpcFormat;

    fn batch(values: Vec<Option<f32>>) -> RecordBatch {
        let n = Int64Array::from_iter_values(0..values.len() as i64);
        RecordBatch::try_from_iter([
            ("x", Arc::new(Float32Array::from(values)) as ArrayRef),
            ("n", Arc::new(n) as ArrayRef),
        ])
        .unwrap()
    }

    fn encode(batches: &[RecordBatch], format: IpcFormat) -> Vec<u8> {
        let mut out = Vec::new();
        write_batches(
            &mut out,
            "test stream",
            &batches[0].schema(),
            batches,
            format,
        )
        .unwrap();
        out
    }

    /// Hands out at most `step` bytes per read, as a pipe may.
    struct Trickle<'a> {
        bytes: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            let n = out.len().min(self.step).min(self.bytes.len());
            out[..n].copy_from_slice(&self.bytes[..n]);
            self.bytes = &self.bytes[n..];
            Ok(n)
        }
    }

    #[test]
    fn batches_arrive_whole_from_a_reader_that_returns_a_few_bytes_at_a_time() {
        let batches = [batch(vec![Some(1.0), None]), batch(vec![Some(3.0); 1000])];
        let bytes = encode(&batches, IpcFormat::Stream);
        let reader = IpcStreamReader::new(
            Trickle {
                bytes: &bytes,
                step: 3,
            },
            "pipe",
        )
        .unwrap();
        let read: Vec<RecordBatch> = reader.collect::<Result<_>>().unwrap();
        assert_eq!(read.len(), 2);
        for (read, written) in read.iter().zip(&batches) {
            assert_eq!(read.columns(), written.columns());
        }
    }

    #[test]
    fn decoded_values_point_into_an_aligned_body_buffer() {
        let bytes = encode(&[batch(vec![Some(1.0); 100])], IpcFormat::Stream);
        let mut columns = IpcStreamReader::new(&bytes[..], "pipe")
            .unwrap()
            .float32_columns(&["x".into()])
            .unwrap();
        let arrays = columns.next().unwrap().unwrap();
        assert_eq!(arrays[0].values().as_ptr() as usize % 64, 0);
        assert!(columns.next().is_none());
    }

    #[test]
    fn a_stream_cut_inside_a_batch_is_an_error_not_a_shorter_result() {
        let one = batch(vec![Some(1.0); 100]);
        let bytes = encode(&[one.clone(), one], IpcFormat::Stream);
        for cut in [bytes.len() - 20, bytes.len() - 300, bytes.len() / 2] {
            let reader = IpcStreamReader::new(&bytes[..cut], "pipe").unwrap();
            let result: Result<Vec<RecordBatch>> = reader.collect();
            let err = result.unwrap_err();
            assert!(err.to_string().contains("truncated"), "{err}");
        }
    }

    #[test]
    fn an_ipc_file_is_refused_with_the_fix_named() {
        let bytes = encode(&[batch(vec![Some(1.0)])], IpcFormat::File);
        let err = IpcStreamReader::new(&bytes[..], "-").unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)));
        assert!(err.to_string().contains("seekable path"), "{err}");
    }

    #[test]
    fn empty_and_garbage_inputs_are_corrupt() {
        for bytes in [&b""[..], b"hello, world", &[0xff; 64]] {
            let err = IpcStreamReader::new(bytes, "-").unwrap_err();
            assert!(matches!(err, Error::Corrupt { .. }), "{err}");
        }
    }

    #[test]
    fn a_body_length_that_lies_does_not_allocate_it() {
        // A schema, then a message whose header claims a 1 TiB body.
        let mut bytes = encode(&[batch(vec![Some(1.0)])], IpcFormat::Stream);
        let schema_end = {
            let len = i32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize;
            8 + len
        };
        let batch_len =
            i32::from_le_bytes(bytes[schema_end + 4..schema_end + 8].try_into().unwrap());
        let metadata = schema_end + 8..schema_end + 8 + batch_len as usize;
        let mut message = bytes[metadata.clone()].to_vec();
        let body_len = arrow_ipc::root_as_message(&message).unwrap().bodyLength();
        let le = body_len.to_le_bytes();
        let at = message.windows(8).position(|w| w == le).unwrap();
        message[at..at + 8].copy_from_slice(&(1i64 << 40).to_le_bytes());
        bytes.splice(metadata, message);
        let reader = IpcStreamReader::new(&bytes[..], "-").unwrap();
        let err = reader.collect::<Result<Vec<_>>>().unwrap_err();
        assert!(err.to_string().contains("truncated"), "{err}");
    }

    #[test]
    fn columns_are_checked_against_the_schema_before_any_batch_is_read() {
        let bytes = encode(&[batch(vec![Some(1.0)])], IpcFormat::Stream);
        let open = || IpcStreamReader::new(&bytes[..], "-").unwrap();
        let missing = open().float32_columns(&["y".into()]).err().unwrap();
        assert!(matches!(missing, Error::ColumnNotFound { .. }));
        let wrong = open().float32_columns(&["n".into()]).err().unwrap();
        assert!(matches!(wrong, Error::WrongType { .. }));
    }
}
