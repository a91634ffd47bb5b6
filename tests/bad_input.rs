//! Damaged and unsuitable inputs give clear errors, never panics.

mod common;

use arrow_buffer::Buffer;
use common::{batch, sample};
use mapmean::ipc::{IpcData, IpcFormat};
use mapmean::Error;

fn decode(bytes: &[u8], column: Option<&str>) -> mapmean::Result<mapmean::Float32Column> {
    mapmean::error::catch_panic(|| {
        IpcData::open(Buffer::from(bytes.to_vec()), "bad.arrow")?.float32_column(column)
    })
}

#[test]
fn truncation_at_every_length_is_an_error_not_a_panic() {
    for format in [IpcFormat::File, IpcFormat::Stream] {
        let bytes = common::bytes(&[batch(sample(100, 1)), batch(sample(50, 2))], format);
        for len in 0..bytes.len() {
            match decode(&bytes[..len], Some("x")) {
                Err(Error::Corrupt { message, .. }) => assert!(!message.is_empty()),
                Err(other) => panic!("{format:?} cut at {len}: unexpected error {other}"),
                // A stream cut exactly between messages is a shorter, valid stream.
                Ok(column) => assert!(format == IpcFormat::Stream && column.len() <= 150),
            }
        }
    }
}

#[test]
fn flipped_bytes_are_errors_or_results_never_internal_errors() {
    let bytes = common::bytes(&[batch(sample(64, 3))], IpcFormat::File);
    for i in 0..bytes.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut damaged = bytes.clone();
            damaged[i] ^= flip;
            if let Err(Error::Internal(message)) = decode(&damaged, Some("x")) {
                panic!("byte {i} ^ {flip:#x}: a panic escaped the decoder: {message}");
            }
        }
    }
}

#[test]
fn column_errors_name_the_column_and_the_alternatives() {
    let bytes = common::bytes(&[batch(sample(10, 1))], IpcFormat::File);
    let err = decode(&bytes, Some("y")).unwrap_err();
    assert!(matches!(err, Error::ColumnNotFound { .. }));
    let text = err.to_string();
    assert!(
        text.contains("\"y\"") && text.contains("x: Float32") && text.contains("n: Int64"),
        "{text}"
    );

    let err = decode(&bytes, Some("n")).unwrap_err();
    assert!(matches!(err, Error::WrongType { .. }));
    assert!(err.to_string().contains("Int64"), "{err}");

    let err = decode(&bytes, None).unwrap_err();
    assert!(
        matches!(err, Error::AmbiguousColumn { count: 2, .. }),
        "{err}"
    );
}

#[test]
fn garbage_and_empty_input_are_corrupt() {
    for bytes in [
        &b""[..],
        b"hello world, not arrow",
        &[0xff; 64],
        b"ARROW1\0\0garbage",
    ] {
        let err = decode(bytes, None).unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "{bytes:?}: {err}");
    }
}

#[test]
fn huge_declared_uncompressed_lengths_are_refused_not_allocated() {
    use arrow_ipc::writer::{FileWriter, IpcWriteOptions, StreamWriter};
    use arrow_ipc::CompressionType;
    let batches = [batch(sample(1000, 5))];
    for codec in [CompressionType::LZ4_FRAME, CompressionType::ZSTD] {
        let options = || {
            IpcWriteOptions::default()
                .try_with_compression(Some(codec))
                .unwrap()
        };
        let mut file = Vec::new();
        let mut w =
            FileWriter::try_new_with_options(&mut file, &batches[0].schema(), options()).unwrap();
        w.write(&batches[0]).unwrap();
        w.finish().unwrap();
        drop(w);
        let mut stream = Vec::new();
        let mut w =
            StreamWriter::try_new_with_options(&mut stream, &batches[0].schema(), options())
                .unwrap();
        w.write(&batches[0]).unwrap();
        w.finish().unwrap();
        drop(w);
        for bytes in [file, stream] {
            let mut refused = 0;
            for at in (0..bytes.len() - 8).step_by(8) {
                let mut damaged = bytes.clone();
                damaged[at..at + 8].copy_from_slice(&(1i64 << 50).to_le_bytes());
                // Reaching the next line at all means nothing tried to
                // allocate 2^50 bytes (that aborts the process).
                if let Err(e) = decode(&damaged, Some("x")) {
                    refused += e.to_string().contains("refusing to allocate") as usize;
                }
            }
            assert!(refused >= 2, "{codec:?}: the length check never triggered");
        }
    }
}

/// Every 8-byte-aligned word (block offsets and lengths in the footer, buffer
/// offsets and lengths in batch headers, body lengths, ...) overwritten with
/// a lie: an error or a result, never a panic, an internal error or an abort.
#[test]
fn lying_lengths_and_offsets_are_errors_or_results() {
    use arrow_ipc::writer::{FileWriter, IpcWriteOptions, StreamWriter};
    use arrow_ipc::CompressionType;
    let batches = [batch(sample(100, 9)), batch(sample(40, 10))];
    let schema = batches[0].schema();
    for codec in [
        None,
        Some(CompressionType::LZ4_FRAME),
        Some(CompressionType::ZSTD),
    ] {
        let options = || {
            IpcWriteOptions::default()
                .try_with_compression(codec)
                .unwrap()
        };
        let mut file = Vec::new();
        let mut w = FileWriter::try_new_with_options(&mut file, &schema, options()).unwrap();
        batches.iter().for_each(|b| w.write(b).unwrap());
        w.finish().unwrap();
        drop(w);
        let mut stream = Vec::new();
        let mut w = StreamWriter::try_new_with_options(&mut stream, &schema, options()).unwrap();
        batches.iter().for_each(|b| w.write(b).unwrap());
        w.finish().unwrap();
        drop(w);
        for bytes in [file, stream] {
            let len = bytes.len() as i64;
            for at in (0..bytes.len() - 8).step_by(8) {
                for lie in [-1i64, 1 << 40, len, len + 8, i64::MAX, 7] {
                    let mut damaged = bytes.clone();
                    damaged[at..at + 8].copy_from_slice(&lie.to_le_bytes());
                    let result = decode(&damaged, Some("x")).and_then(|column| {
                        mapmean::engine::state_of_arrays(column.chunks(), Some(1))
                    });
                    if let Err(Error::Internal(message)) = result {
                        panic!("{codec:?}, word at {at} = {lie}: internal error {message}");
                    }
                }
            }
        }
    }
}

/// A compressed buffer that declares far more bytes than its codec can
/// produce (but less than the machine's memory) is refused before arrow-ipc
/// allocates the declared length.
#[test]
fn implausible_expansion_is_refused() {
    use arrow_ipc::writer::{IpcWriteOptions, StreamWriter};
    use arrow_ipc::CompressionType;
    let b = batch(sample(1000, 5));
    let options = IpcWriteOptions::default()
        .try_with_compression(Some(CompressionType::ZSTD))
        .unwrap();
    let mut stream = Vec::new();
    let mut w = StreamWriter::try_new_with_options(&mut stream, &b.schema(), options).unwrap();
    w.write(&b).unwrap();
    w.finish().unwrap();
    drop(w);
    // 1 GiB from a few hundred compressed bytes: under half of any test
    // machine's memory, far over what ZSTD can expand to.
    let mut refused = 0;
    for at in (0..stream.len() - 8).step_by(8) {
        let mut damaged = stream.clone();
        damaged[at..at + 8].copy_from_slice(&(1i64 << 30).to_le_bytes());
        if let Err(e) = decode(&damaged, Some("x")) {
            refused += e
                .to_string()
                .contains("more than LZ4 or ZSTD can expand to") as usize;
        }
    }
    assert!(refused >= 2, "the expansion check never triggered");
}

#[test]
fn a_directory_is_an_io_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let err = mapmean::engine::state_of_file(dir.path(), None, None).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
    assert!(
        err.to_string().contains(&dir.path().display().to_string()),
        "{err}"
    );
}
