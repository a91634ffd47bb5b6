//! Files truncated by another process while mapped: the process survives and
//! the computation fails with `Error::Truncated` (or, if it finished reading
//! before the truncation, returns the correct mean) — never a SIGBUS crash.
#![cfg(target_os = "linux")]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use arrow_array::Float32Array;
use mapmean::engine::{open_column, state_of_arrays, state_of_file};
use mapmean::ipc::IpcFormat;
use mapmean::Error;

/// A file of `batches` batches of `rows` values (1.0, 2.0, ... cycling) in column "x".
fn big_file(path: &Path, batches: usize, rows: usize) -> f64 {
    let values: Float32Array = (0..rows).map(|i| Some((i % 1000) as f32)).collect();
    let batch = common::batch(values);
    common::write(path, &vec![batch; batches], IpcFormat::File);
    (0..rows).map(|i| (i % 1000) as f64).sum::<f64>() / rows as f64
}

/// Truncates `path` to `len` bytes from another process.
fn truncate_elsewhere(path: &Path, len: u64) {
    let status = Command::new("truncate")
        .arg("-s")
        .arg(len.to_string())
        .arg(path)
        .status()
        .expect("run truncate");
    assert!(status.success());
}

#[test]
fn a_file_truncated_after_decoding_gives_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.arrow");
    let want = big_file(&path, 8, 1 << 20);
    let column = open_column(&path, Some("x"))
        .unwrap()
        .into_float32("x")
        .unwrap();
    assert_eq!(
        state_of_arrays(column.chunks(), None).unwrap().finish(),
        Some(want)
    );
    truncate_elsewhere(&path, 100_000);
    for threads in [Some(1), None] {
        let err = state_of_arrays(column.chunks(), threads).unwrap_err();
        assert!(matches!(err, Error::Truncated { .. }), "{err}");
        let message = err.to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains("truncated"), "{message}");
    }
    // Opened again, the file is what it is now: too short to be IPC.
    let err = state_of_file(&path, Some("x"), None).unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
}

#[test]
fn a_file_truncated_to_zero_after_decoding_gives_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.arrow");
    big_file(&path, 2, 1 << 18);
    let column = open_column(&path, None).unwrap_err(); // two columns: name one
    assert!(matches!(column, Error::AmbiguousColumn { .. }));
    let column = open_column(&path, Some("x"))
        .unwrap()
        .into_float32("x")
        .unwrap();
    truncate_elsewhere(&path, 0);
    let err = state_of_arrays(column.chunks(), Some(2)).unwrap_err();
    assert!(matches!(err, Error::Truncated { .. }), "{err}");
}

#[test]
fn a_truncation_racing_a_long_computation_never_crashes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.arrow");
    let want = big_file(&path, 16, 1 << 22); // 256 MiB of values
    let column = open_column(&path, Some("x"))
        .unwrap()
        .into_float32("x")
        .unwrap();
    // Another process truncates the file while this one computes, again and again.
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("sleep 0.3; truncate -s 1000000 \"$0\"")
        .arg(&path)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let (mut ok, mut truncated) = (0, 0);
    loop {
        let exited = child.try_wait().unwrap().is_some();
        match state_of_arrays(column.chunks(), Some(1)) {
            Ok(state) => {
                assert_eq!(state.finish(), Some(want), "a result is the exact mean");
                ok += 1;
            }
            Err(Error::Truncated { .. }) => truncated += 1,
            Err(other) => panic!("unexpected error {other}"),
        }
        if exited {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the truncating child hangs"
        );
    }
    assert!(child.wait().unwrap().success());
    assert!(ok >= 1 || truncated >= 1);
    assert!(
        truncated >= 1,
        "after the truncation every computation fails ({ok} ok)"
    );
}

#[test]
fn a_kept_dataset_truncated_after_its_open_gives_an_error_on_every_query() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.arrow");
    let want = big_file(&path, 8, 1 << 20);
    let data = mapmean::Dataset::open([&path]).unwrap();
    assert_eq!(
        data.mean_state(Some("x"), None).unwrap().finish(),
        Some(want)
    );
    truncate_elsewhere(&path, 100_000);
    for threads in [Some(1), None, Some(2)] {
        let err = data.mean_state(Some("x"), threads).unwrap_err();
        assert!(matches!(err, Error::Truncated { .. }), "{err}");
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
    }
}

#[test]
fn a_kept_dataset_truncated_before_a_column_is_decoded_gives_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.arrow");
    big_file(&path, 8, 1 << 20);
    let data = mapmean::Dataset::open([&path]).unwrap();
    // Nothing decoded yet: the batches' metadata now lies past the end.
    truncate_elsewhere(&path, 100_000);
    let err = data.mean_state(Some("x"), None).unwrap_err();
    assert!(matches!(err, Error::Truncated { .. }), "{err}");
}
