//! Many sources: expansion, exact merging, failures, file-descriptor limits.

mod common;

use arrow_array::Float32Array;
use common::{batch, sample, write};
use mapmean::dataset::{combine, expand, scan, OnError};
use mapmean::engine::state_of_arrays;
use mapmean::ipc::IpcFormat;

#[test]
fn states_merged_across_files_equal_the_concatenation_bitwise() {
    let dir = tempfile::tempdir().unwrap();
    let parts: Vec<Float32Array> = (0..7).map(|i| sample(1000 + 37 * i, i as u32)).collect();
    for (i, part) in parts.iter().enumerate() {
        let format = if i % 2 == 0 {
            IpcFormat::File
        } else {
            IpcFormat::Stream
        };
        write(
            &dir.path().join(format!("part-{i}.arrow")),
            &[batch(part.clone())],
            format,
        );
    }
    let sources = expand(&[dir.path().into()]).unwrap();
    assert_eq!(sources.len(), 7);
    for threads in [Some(1), Some(2), None] {
        let scanned = scan(
            &sources,
            None,
            Default::default(),
            threads,
            OnError::Stop,
            &|| {},
        )
        .unwrap();
        let rows = combine(&scanned.states, false).unwrap();
        assert_eq!(
            rows.len(),
            2,
            "x (Float32) and n (Int64): every numeric column"
        );
        assert_eq!(rows[1].column, "n");
        assert_eq!(
            rows[0].state.as_mean_state(),
            Some(state_of_arrays(&parts, Some(1)).unwrap())
        );
    }
    let scanned = scan(
        &sources,
        None,
        Default::default(),
        None,
        OnError::Stop,
        &|| {},
    )
    .unwrap();
    let per_source = combine(&scanned.states, true).unwrap();
    assert_eq!(per_source.len(), 14); // x and n of each source
    assert!(per_source[6]
        .source
        .as_deref()
        .unwrap()
        .ends_with("part-3.arrow"));
}

#[test]
fn patterns_directories_and_duplicates_expand_in_order() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
    for name in [
        "x.arrow",
        "a/y.feather",
        "a/b/z.ipc",
        "a/b/w.arrows",
        "a/readme.md",
    ] {
        std::fs::write(dir.path().join(name), b"").unwrap();
    }
    let pattern = dir.path().join("*.arrow").into_os_string();
    let sources = expand(&[pattern.clone(), dir.path().join("a").into(), pattern]).unwrap();
    let names: Vec<_> = sources
        .iter()
        .map(|s| {
            s.strip_prefix(dir.path())
                .unwrap()
                .to_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        names,
        ["x.arrow", "a/b/w.arrows", "a/b/z.ipc", "a/y.feather"]
    );
    assert!(expand(&[dir.path().join("*.nothing").into()]).is_err());
}

#[test]
fn keep_going_reports_every_failure_and_keeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.arrow");
    write(
        &good,
        &[batch(Float32Array::from(vec![1.0_f32, 2.0]))],
        IpcFormat::File,
    );
    let bad = dir.path().join("bad.arrow");
    std::fs::write(&bad, b"not arrow").unwrap();
    let missing = dir.path().join("missing.arrow");
    let sources = vec![bad.clone(), good, missing];
    assert!(scan(
        &sources,
        None,
        Default::default(),
        None,
        OnError::Stop,
        &|| {}
    )
    .is_err());
    let scanned = scan(
        &sources,
        None,
        Default::default(),
        None,
        OnError::KeepGoing,
        &|| {},
    )
    .unwrap();
    assert_eq!(scanned.states.len(), 1);
    assert_eq!(scanned.failures.len(), 2);
    assert!(scanned.failures[0].to_string().contains("bad.arrow"));
    assert!(scanned.failures[1].to_string().contains("missing.arrow"));
}

// Runs the `mapmean` binary, which the `cli` feature builds.
#[cfg(feature = "cli")]
#[test]
fn ten_thousand_files_under_a_low_descriptor_limit() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = common::bytes(
        &[batch(Float32Array::from(vec![0.5_f32; 16]))],
        IpcFormat::File,
    );
    for i in 0..10_000 {
        std::fs::write(dir.path().join(format!("part-{i:05}.arrow")), &bytes).unwrap();
    }
    let script = format!(
        "ulimit -n 256 && exec {} mean {} --format json --column x",
        env!("CARGO_BIN_EXE_mapmean"),
        dir.path().display()
    );
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(script)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        r#"{"column":"x","count":160000,"null_count":0,"nan_count":0,"mean":0.5}"#
    );
}

#[test]
fn a_column_of_integers_in_one_file_and_floats_in_another_is_a_type_error_naming_both() {
    use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch};
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let ints =
        RecordBatch::try_from_iter([("v", Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef)])
            .unwrap();
    let floats =
        RecordBatch::try_from_iter([("v", Arc::new(Float64Array::from(vec![0.5])) as ArrayRef)])
            .unwrap();
    write(&dir.path().join("a.arrow"), &[ints], IpcFormat::File);
    write(&dir.path().join("b.arrow"), &[floats], IpcFormat::File);
    let sources = expand(&[dir.path().into()]).unwrap();
    let scanned = scan(
        &sources,
        None,
        Default::default(),
        None,
        OnError::Stop,
        &|| {},
    )
    .unwrap();
    let err = combine(&scanned.states, false).unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(err, mapmean::Error::TypeMismatch { .. }),
        "{message}"
    );
    assert!(
        message.contains("Int64")
            && message.contains("Float64")
            && message.contains("\"v\"")
            && message.contains("b.arrow"),
        "{message}"
    );
}
