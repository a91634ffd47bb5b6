//! The `mapmean` binary: output formats, merging sources, errors.

mod common;

use std::process::Command;

use arrow_array::Float32Array;
use common::{batch, write};
use mapmean::ipc::IpcFormat;

fn mapmean(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mapmean"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn json_rows_merge_sources_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.arrow");
    let b = dir.path().join("b.arrows");
    write(
        &a,
        &[batch(Float32Array::from(vec![
            Some(3e37),
            Some(0.75),
            None,
        ]))],
        IpcFormat::File,
    );
    write(
        &b,
        &[batch(Float32Array::from(vec![-3e37_f32]))],
        IpcFormat::Stream,
    );
    let (ok, out, err) = mapmean(&[
        "mean",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert!(ok, "{err}");
    assert_eq!(
        out.trim(),
        r#"{"column":"x","count":3,"null_count":1,"nan_count":0,"mean":0.25}"#
    );
}

#[test]
fn table_and_csv_formats() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.arrow");
    write(
        &a,
        &[batch(Float32Array::from(vec![
            Some(1.0),
            Some(f32::NAN),
            None,
        ]))],
        IpcFormat::File,
    );
    let (ok, out, _) = mapmean(&["mean", a.to_str().unwrap(), "-c", "x", "--format", "csv"]);
    assert!(ok);
    assert_eq!(out, "column,count,null_count,nan_count,mean\nx,2,1,1,NaN\n");
    let (ok, out, _) = mapmean(&["mean", a.to_str().unwrap(), "--no-skip-nulls"]);
    assert!(ok);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("column") && lines[1].starts_with('x') && lines[1].ends_with("null"),
        "{out}"
    );
}

#[test]
fn errors_are_one_line_and_exit_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.arrow");
    write(
        &a,
        &[batch(Float32Array::from(vec![1.0_f32]))],
        IpcFormat::File,
    );
    let missing = dir.path().join("missing.arrow");
    let garbage = dir.path().join("garbage.arrow");
    std::fs::write(&garbage, b"ARROW1\0\0 definitely not arrow").unwrap();
    for args in [
        vec!["mean", missing.to_str().unwrap()],
        vec!["mean", a.to_str().unwrap(), "--column", "nope"],
        vec!["mean", a.to_str().unwrap(), "--column", "n"],
        vec!["mean", garbage.to_str().unwrap()],
        vec!["mean", dir.path().to_str().unwrap()],
    ] {
        let (ok, out, err) = mapmean(&args);
        assert!(!ok, "{args:?}");
        assert!(out.is_empty(), "{args:?}: partial output {out}");
        assert!(
            err.starts_with("error: ") && !err.contains("panicked"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn shared_memory_segments_are_sources() {
    use mapmean::source::SharedSegment;
    let b = batch(Float32Array::from(vec![
        Some(3e37),
        Some(0.75),
        None,
        Some(-3e37),
    ]));
    let name = SharedSegment::random_name();
    let segment = SharedSegment::create_with_batches(&name, &b.schema(), &[b]).unwrap();
    let uri = format!("shm://{name}");
    let (ok, out, err) = mapmean(&["mean", &uri, "--format", "json"]);
    segment.unlink().unwrap();
    assert!(ok, "{err}");
    assert_eq!(
        out.trim(),
        r#"{"column":"x","count":3,"null_count":1,"nan_count":0,"mean":0.25}"#
    );
    let (ok, _, err) = mapmean(&["mean", &uri]);
    assert!(!ok && err.starts_with("error: shm://"), "{err}");
}
