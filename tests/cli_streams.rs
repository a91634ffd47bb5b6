//! The `mapmean` binary reading Arrow IPC streams from standard input (`-`),
//! `/dev/stdin` and named pipes, incrementally.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;

use arrow_array::{ArrayRef, Float32Array, RecordBatch};
use arrow_ipc::writer::StreamWriter;
use common::{batch, bytes, sample, write};
use mapmean::engine::state_of_arrays;
use mapmean::ipc::IpcFormat;

/// Runs mapmean with `input` written to its standard input by another
/// thread; returns (success, stdout, stderr).
fn mapmean_with_stdin(args: &[&str], input: Vec<u8>) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mapmean"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // mapmean may stop reading early on an error: ignore a broken pipe.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// The JSON row mapmean prints for column "x" of `chunks`, from the
/// in-memory engine.
fn expected_json(chunks: &[Float32Array]) -> String {
    let state = state_of_arrays(chunks, Some(1)).unwrap();
    format!(
        r#"{{"column":"x","count":{},"null_count":{},"nan_count":0,"mean":{:?}}}"#,
        state.count,
        state.null_count,
        state.finish().unwrap()
    )
}

#[test]
fn a_multi_batch_stream_with_nulls_piped_to_dash_gives_the_exact_mean() {
    let chunks: Vec<Float32Array> = (0..40).map(|k| sample(5_000 + k * 37, k as u32)).collect();
    let batches: Vec<RecordBatch> = chunks.iter().cloned().map(batch).collect();
    let input = bytes(&batches, IpcFormat::Stream);
    let (ok, out, err) = mapmean_with_stdin(&["mean", "-", "-c", "x", "--format", "json"], input);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), expected_json(&chunks));
    assert!(out.contains(r#""null_count":"#) && !out.contains(r#""null_count":0"#));
}

#[test]
fn a_cancelling_stream_through_dev_stdin_is_exact() {
    let chunks = [
        Float32Array::from(vec![Some(3e37), None]),
        Float32Array::from(vec![Some(0.75), Some(-3e37)]),
    ];
    let input = bytes(
        &chunks.iter().cloned().map(batch).collect::<Vec<_>>(),
        IpcFormat::Stream,
    );
    let (ok, out, err) = mapmean_with_stdin(
        &["mean", "/dev/stdin", "-c", "x", "--format", "json"],
        input,
    );
    assert!(ok, "{err}");
    assert_eq!(
        out.trim(),
        r#"{"column":"x","count":3,"null_count":1,"nan_count":0,"mean":0.25}"#
    );
}

#[test]
fn every_output_format_works_on_a_piped_stream() {
    let input = bytes(
        &[batch(Float32Array::from(vec![1.0, 2.0]))],
        IpcFormat::Stream,
    );
    for (format, needle) in [
        ("table", "1.5"),
        ("csv", "x,2,0,0,1.5"),
        ("json", "\"mean\":1.5"),
    ] {
        let (ok, out, err) =
            mapmean_with_stdin(&["mean", "-", "-c", "x", "--format", format], input.clone());
        assert!(ok, "{format}: {err}");
        assert!(out.contains(needle), "{format}: {out}");
    }
    let (ok, out, err) = mapmean_with_stdin(&["mean", "-", "-c", "x", "--format", "arrow"], input);
    assert!(ok, "{err}");
    assert!(!out.is_empty());
}

#[test]
fn a_file_and_a_piped_stream_are_one_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.arrow");
    write(
        &a,
        &[batch(Float32Array::from(vec![3e37, 0.75]))],
        IpcFormat::File,
    );
    let input = bytes(
        &[batch(Float32Array::from(vec![-3e37_f32]))],
        IpcFormat::Stream,
    );
    let (ok, out, err) = mapmean_with_stdin(
        &["mean", a.to_str().unwrap(), "-", "--format", "json"],
        input.clone(),
    );
    assert!(ok, "{err}");
    assert_eq!(
        out.trim(),
        "{\"column\":\"x\",\"count\":3,\"null_count\":0,\"nan_count\":0,\"mean\":0.25}\n\
         {\"column\":\"n\",\"count\":3,\"null_count\":0,\"nan_count\":0,\"mean\":0.3333333333333333}"
    );
    let (ok, out, err) = mapmean_with_stdin(
        &[
            "mean",
            a.to_str().unwrap(),
            "-",
            "--by-source",
            "--format",
            "csv",
        ],
        input,
    );
    assert!(ok, "{err}");
    assert!(out.lines().any(|l| l.starts_with("-,x,1,")), "{out}");
}

#[test]
fn a_named_pipe_is_read_as_a_stream() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("values.fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let chunks: Vec<Float32Array> = (0..5).map(|k| sample(20_000, k)).collect();
    let input = bytes(
        &chunks.iter().cloned().map(batch).collect::<Vec<_>>(),
        IpcFormat::Stream,
    );
    let path = fifo.clone();
    // Opening a FIFO for writing blocks until mapmean opens it for reading.
    let writer = std::thread::spawn(move || {
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .write_all(&input)
            .unwrap();
    });
    let out = Command::new(env!("CARGO_BIN_EXE_mapmean"))
        .args([
            "mean",
            fifo.to_str().unwrap(),
            "-c",
            "x",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    writer.join().unwrap();
    let (stdout, stderr) = (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    );
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout.trim(), expected_json(&chunks));
}

#[test]
fn an_ipc_file_on_stdin_is_refused_with_the_fix_named() {
    let input = bytes(&[batch(Float32Array::from(vec![1.0_f32]))], IpcFormat::File);
    let (ok, out, err) = mapmean_with_stdin(&["mean", "-"], input);
    assert!(!ok);
    assert!(out.is_empty());
    assert!(err.starts_with("error: "), "{err}");
    assert!(
        err.contains("Arrow IPC file") && err.contains("seekable path"),
        "{err}"
    );
}

#[test]
fn garbage_empty_and_cut_streams_on_stdin_fail_without_a_result() {
    let whole = bytes(
        &[
            batch(Float32Array::from(vec![1.0_f32; 1000])),
            batch(Float32Array::from(vec![2.0_f32; 1000])),
        ],
        IpcFormat::Stream,
    );
    let cut = whole[..whole.len() - 100].to_vec();
    for (input, needle) in [
        (b"certainly not arrow".to_vec(), "not a valid Arrow IPC"),
        (Vec::new(), "empty"),
        (cut, "truncated"),
    ] {
        let (ok, out, err) = mapmean_with_stdin(&["mean", "-", "--format", "json"], input);
        assert!(!ok, "{out}");
        assert!(out.is_empty(), "{out}");
        assert!(
            err.starts_with("error: -: ") && err.contains(needle),
            "{err}"
        );
    }
}

#[test]
fn a_missing_or_mistyped_column_of_a_stream_is_named() {
    let input = bytes(
        &[batch(Float32Array::from(vec![1.0_f32]))],
        IpcFormat::Stream,
    );
    let (ok, _, err) = mapmean_with_stdin(&["mean", "-", "-c", "y"], input.clone());
    assert!(!ok && err.contains("no column named \"y\""), "{err}");
    // An Int64 column is read too; a non-numeric one is named with its type.
    let (ok, out, err) = mapmean_with_stdin(&["mean", "-", "-c", "n"], input);
    assert!(
        ok && out.lines().nth(1).is_some_and(|l| l.starts_with("n ")),
        "{err}{out}"
    );
    let flags = RecordBatch::try_from_iter([(
        "flag",
        Arc::new(arrow_array::BooleanArray::from(vec![true])) as ArrayRef,
    )])
    .unwrap();
    let input = bytes(&[flags], IpcFormat::Stream);
    let (ok, _, err) = mapmean_with_stdin(&["mean", "-", "-c", "flag"], input);
    assert!(
        !ok && err.contains("Boolean") && err.contains("flag"),
        "{err}"
    );
}

/// 256 MiB of distinct batches streamed through a pipe: mapmean's peak
/// resident memory stays far below the stream's size.
#[cfg(target_os = "linux")]
#[test]
// The child is reaped with wait4 (for its rusage), not Child::wait.
#[allow(clippy::zombie_processes)]
fn memory_stays_bounded_while_a_large_stream_is_piped_in() {
    const BATCH: usize = 1 << 20;
    const BATCHES: usize = 64;
    let mut child = Command::new(env!("CARGO_BIN_EXE_mapmean"))
        .args(["mean", "-", "--format", "json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let field = arrow_schema::Field::new("x", arrow_schema::DataType::Float32, false);
        let schema = Arc::new(arrow_schema::Schema::new(vec![field]));
        let mut writer = StreamWriter::try_new(stdin, &schema).unwrap();
        for k in 0..BATCHES {
            // Batch k holds 0..2^20 permuted by xor with k: distinct
            // batches, each of mean (2^20 - 1) / 2, exact in f32.
            let values: Float32Array = (0..BATCH).map(|i| (i ^ k) as f32).collect();
            let batch =
                RecordBatch::try_new(schema.clone(), vec![Arc::new(values) as ArrayRef]).unwrap();
            writer.write(&batch).unwrap();
        }
        writer.finish().unwrap();
    });
    let pid = child.id() as libc::pid_t;
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut out).unwrap();
        out
    });
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our child, not yet waited for; both pointers are to
    // live locals.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid);
    writer.join().unwrap();
    let out = reader.join().unwrap();
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
    let expected = format!(
        r#"{{"column":"x","count":{},"null_count":0,"nan_count":0,"mean":{:?}}}"#,
        BATCH * BATCHES,
        (BATCH - 1) as f64 / 2.0
    );
    assert_eq!(out.trim(), expected);
    let peak_mib = usage.ru_maxrss as f64 / 1024.0; // ru_maxrss is in KiB
    let stream_mib = (BATCH * BATCHES * 4) as f64 / (1 << 20) as f64;
    assert!(
        peak_mib < 128.0,
        "peak RSS {peak_mib:.0} MiB for a {stream_mib:.0} MiB stream"
    );
}
