//! Parquet files through the library: every compression the parquet crate
//! writes, against the same batches in Arrow IPC (bitwise), every thread
//! count, datasets mixing both formats, and damaged files (errors, never
//! panics or internal errors).

mod common;

use std::path::Path;

use arrow_array::RecordBatch;
use arrow_buffer::Buffer;
use common::{batch, sample};
use mapmean::dataset::{combine, scan, OnError};
use mapmean::decoded::Decoded;
use mapmean::engine::{state_of_source, states_of_data};
use mapmean::ipc::IpcFormat;
use mapmean::kernel::{Parts, Statistic, StatisticOptions};
use mapmean::{Dataset, Error};
use parquet::arrow::ArrowWriter;
use parquet::basic::{BrotliLevel, Compression, GzipLevel, ZstdLevel};
use parquet::file::properties::WriterProperties;

fn compressions() -> [Compression; 7] {
    [
        Compression::UNCOMPRESSED,
        Compression::SNAPPY,
        Compression::GZIP(GzipLevel::default()),
        Compression::BROTLI(BrotliLevel::default()),
        Compression::ZSTD(ZstdLevel::default()),
        Compression::LZ4,
        Compression::LZ4_RAW,
    ]
}

fn parquet_bytes(batches: &[RecordBatch], compression: Compression, dictionary: bool) -> Vec<u8> {
    let props = WriterProperties::builder()
        .set_compression(compression)
        .set_dictionary_enabled(dictionary)
        .set_max_row_group_row_count(Some(700))
        .set_data_page_row_count_limit(128)
        .set_write_batch_size(64)
        .build();
    let mut out = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut out, batches[0].schema(), Some(props)).unwrap();
    for b in batches {
        writer.write(b).unwrap();
    }
    writer.close().unwrap();
    out
}

fn all_parts() -> Parts {
    Parts {
        squares: true,
        extremes: true,
    }
}

fn state(bytes: &[u8], threads: Option<usize>) -> mapmean::Result<mapmean::kernel::ExactState> {
    mapmean::error::catch_panic(|| {
        let data = Decoded::open(Buffer::from(bytes.to_vec()), "t.parquet")?;
        Ok(states_of_data(&data, &[Some("x")], all_parts(), threads)?.remove(0))
    })
}

#[test]
fn every_compression_gives_the_state_of_the_ipc_file() {
    let batches = [batch(sample(2000, 1)), batch(sample(1500, 2))];
    let ipc = common::bytes(&batches, IpcFormat::File);
    let want = {
        let data = Decoded::open(Buffer::from(ipc), "t.arrow").unwrap();
        states_of_data(&data, &[Some("x")], all_parts(), None)
            .unwrap()
            .remove(0)
    };
    for compression in compressions() {
        for dictionary in [true, false] {
            let bytes = parquet_bytes(&batches, compression, dictionary);
            for threads in [None, Some(1), Some(2), Some(5)] {
                let got = state(&bytes, threads).unwrap();
                assert_eq!(
                    got, want,
                    "{compression:?} dictionary={dictionary} threads={threads:?}"
                );
            }
        }
    }
}

#[test]
fn files_datasets_and_kept_datasets_read_parquet_beside_ipc() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (batch(sample(3000, 3)), batch(sample(2000, 4)));
    common::write(
        &dir.path().join("a.arrow"),
        std::slice::from_ref(&a),
        IpcFormat::File,
    );
    std::fs::write(
        dir.path().join("b.parquet"),
        parquet_bytes(std::slice::from_ref(&b), Compression::SNAPPY, true),
    )
    .unwrap();
    let one_file = common::bytes(&[a, b], IpcFormat::File);
    let want = {
        let data = Decoded::open(Buffer::from(one_file), "ab.arrow").unwrap();
        states_of_data(&data, &[Some("x"), Some("n")], all_parts(), None).unwrap()
    };
    let sources = mapmean::dataset::expand(&[dir.path().into()]).unwrap();
    assert_eq!(sources.len(), 2);
    let scanned = scan(&sources, None, all_parts(), Some(2), OnError::Stop, &|| {}).unwrap();
    let rows = combine(&scanned.states, false).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (rows[0].state.clone(), rows[1].state.clone()),
        (want[0].clone(), want[1].clone())
    );

    let kept = Dataset::open([dir.path()]).unwrap();
    for _ in 0..2 {
        assert_eq!(kept.state(Some("x"), all_parts(), None).unwrap(), want[0]);
    }
    let parquet = dir.path().join("b.parquet");
    let alone = state_of_source(&parquet, Some("n"), Parts::default(), Some(1)).unwrap();
    let mean = Statistic::Mean
        .finish(&alone, &StatisticOptions::default())
        .unwrap();
    assert_eq!(mean.as_f64(), Some(999.5));
}

#[test]
fn truncation_at_every_length_is_an_error_not_a_panic() {
    let bytes = parquet_bytes(&[batch(sample(300, 5))], Compression::SNAPPY, true);
    for len in 0..bytes.len() {
        match state(&bytes[..len], Some(1)) {
            // Shorter than the magic, it is not even recognised as Parquet.
            Err(Error::Corrupt { message, .. }) => assert!(!message.is_empty()),
            other => panic!("cut at {len}: {other:?}"),
        }
    }
}

#[test]
fn flipped_bytes_are_errors_or_results_never_internal_errors() {
    for compression in [
        Compression::UNCOMPRESSED,
        Compression::SNAPPY,
        Compression::ZSTD(ZstdLevel::default()),
    ] {
        let bytes = parquet_bytes(&[batch(sample(200, 6))], compression, true);
        for i in 0..bytes.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut damaged = bytes.clone();
                damaged[i] ^= flip;
                for threads in [Some(1), Some(2)] {
                    if let Err(Error::Internal(message)) = state(&damaged, threads) {
                        panic!("{compression:?} byte {i} ^ {flip:#x}: {message}");
                    }
                }
            }
        }
    }
}

#[test]
fn a_missing_parquet_file_is_not_found() {
    let err =
        state_of_source(Path::new("no/such.parquet"), None, Parts::default(), None).unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
}
