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
    // Every numeric column: the Float32 x and the Int64 n (0, 1, 2 and 0).
    assert_eq!(
        out.trim(),
        "{\"column\":\"x\",\"count\":3,\"null_count\":1,\"nan_count\":0,\"mean\":0.25}\n\
         {\"column\":\"n\",\"count\":4,\"null_count\":0,\"nan_count\":0,\"mean\":0.75}"
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
        vec!["mean", garbage.to_str().unwrap()],
        vec!["mean", dir.path().to_str().unwrap()],
    ] {
        let (ok, out, err) = mapmean(&args);
        assert!(!ok, "{args:?}");
        assert!(out.is_empty(), "{args:?}: partial output {out}");
        // Exactly one line, which says what failed: never empty.
        assert!(
            err.starts_with("error: ")
                && err.len() > "error: \n".len()
                && err.ends_with('\n')
                && err.lines().count() == 1
                && !err.contains("panicked"),
            "{args:?}: {err:?}"
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
    let (ok, out, err) = mapmean(&["mean", &uri, "--format", "json", "--column", "x"]);
    segment.unlink().unwrap();
    assert!(ok, "{err}");
    assert_eq!(
        out.trim(),
        r#"{"column":"x","count":3,"null_count":1,"nan_count":0,"mean":0.25}"#
    );
    let (ok, out, err) = mapmean(&["mean", &uri]);
    assert!(
        !ok && out.is_empty() && err.starts_with("error: shm://"),
        "{err}"
    );
}

#[test]
fn by_source_rows_keep_going_and_arrow_output() {
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("a.arrow"),
        &[batch(Float32Array::from(vec![1.0_f32]))],
        IpcFormat::File,
    );
    write(
        &dir.path().join("b.arrow"),
        &[batch(Float32Array::from(vec![3.0_f32]))],
        IpcFormat::File,
    );
    let d = dir.path().to_str().unwrap();
    let (ok, out, _) = mapmean(&["mean", d, "--by-source", "--format", "json"]);
    assert!(ok);
    let lines: Vec<&str> = out
        .lines()
        .filter(|l| l.contains(r#""column":"x""#))
        .collect();
    assert_eq!((lines.len(), out.lines().count()), (2, 4));
    assert!(
        lines[0].starts_with(r#"{"source":""#)
            && lines[0]
                .ends_with(r#""column":"x","count":1,"null_count":0,"nan_count":0,"mean":1.0}"#),
        "{out}"
    );

    let out = Command::new(env!("CARGO_BIN_EXE_mapmean"))
        .args(["mean", d, "--format", "arrow"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let reader = arrow_ipc::reader::StreamReader::try_new(&out.stdout[..], None).unwrap();
    let batches: Vec<_> = reader.map(|b| b.unwrap()).collect();
    assert_eq!(batches[0].num_rows(), 2); // x and n
    assert_eq!(batches[0].schema().field(4).name(), "mean");

    std::fs::write(dir.path().join("c.arrow"), b"junk").unwrap();
    let (ok, out, err) = mapmean(&["mean", d, "--keep-going", "--format", "csv"]);
    assert!(!ok, "a failed source must fail the run");
    assert_eq!(
        out,
        "column,count,null_count,nan_count,mean\nx,2,0,0,2.0\nn,2,0,0,0.0\n"
    );
    assert!(
        err.contains("c.arrow") && err.contains("1 of 3 sources failed"),
        "{err}"
    );
    let (ok, out, err) = mapmean(&["mean", d]);
    assert!(
        !ok && out.is_empty() && err.starts_with("error: ") && err.contains("c.arrow"),
        "{err}"
    );
}

#[test]
fn stats_prints_correctly_rounded_moments_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.arrow");
    let b = dir.path().join("b.arrow");
    // Over both files: 1e6 + {1, 3, 5} and a null.
    write(
        &a,
        &[batch(Float32Array::from(vec![Some(1e6 + 1.0), None]))],
        IpcFormat::File,
    );
    write(
        &b,
        &[batch(Float32Array::from(vec![1e6 + 3.0, 1e6 + 5.0]))],
        IpcFormat::File,
    );
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let (ok, out, err) = mapmean(&["stats", a, b, "--ddof", "1", "--format", "json"]);
    assert!(ok, "{err}");
    // x: 1e6 + {1, 3, 5} and a null; n (Int64): 0, 1, 0, 1, whose sum is an
    // exact integer and whose min and max are Int64.
    assert_eq!(
        out,
        "{\"column\":\"x\",\"count\":3,\"null_count\":1,\"nan_count\":0,\"sum\":3000009.0,\
         \"mean\":1000003.0,\"variance\":4.0,\"stddev\":2.0,\"min\":1000001.0,\"max\":1000005.0}\n\
         {\"column\":\"n\",\"count\":4,\"null_count\":0,\"nan_count\":0,\"sum\":2,\
         \"mean\":0.5,\"variance\":0.3333333333333333,\"stddev\":0.5773502691896257,\"min\":0,\"max\":1}\n"
    );
    let (ok, out, _) = mapmean(&["stats", a, b, "--format", "csv"]);
    assert!(ok);
    assert_eq!(
        out,
        format!(
            "column,count,null_count,nan_count,sum,mean,variance,stddev,min,max\n\
             x,3,1,0,3000009.0,1000003.0,{:?},{:?},1000001.0,1000005.0\n\
             n,4,0,0,2,0.5,0.25,0.5,0,1\n",
            8.0 / 3.0,
            (8.0_f64 / 3.0).sqrt()
        )
    );
    let (ok, out, _) = mapmean(&["stats", a, "--ddof", "1", "--no-skip-nulls"]);
    assert!(ok);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3);
    assert!(lines[0].starts_with("column") && lines[0].ends_with("max"));
    let cells: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(cells[4..], ["null"; 6], "{out}");
    let (ok, out, _) = mapmean(&["stats", a, b, "--by-source", "--format", "json"]);
    assert!(ok);
    assert_eq!(out.lines().count(), 4);
    assert!(out.contains("\"source\":") && out.contains("\"variance\":0.0"));
    let out = Command::new(env!("CARGO_BIN_EXE_mapmean"))
        .args([
            "stats", a, b, "--ddof", "1", "--format", "arrow", "--column", "x",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let reader = arrow_ipc::reader::StreamReader::try_new(&out.stdout[..], None).unwrap();
    let batches: Vec<_> = reader.collect::<Result<_, _>>().unwrap();
    let names: Vec<String> = batches[0]
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(
        names,
        [
            "column",
            "count",
            "null_count",
            "nan_count",
            "sum",
            "mean",
            "variance",
            "stddev",
            "min",
            "max"
        ]
    );
    let float = |i: usize| {
        use arrow_array::{cast::AsArray, types::Float64Type};
        batches[0].column(i).as_primitive::<Float64Type>().value(0)
    };
    assert_eq!(
        [float(4), float(5), float(6), float(7)],
        [3000009.0, 1000003.0, 4.0, 2.0]
    );
}

#[test]
fn stats_reads_a_stream_on_standard_input() {
    use std::io::Write;
    use std::process::Stdio;
    let values: Vec<f32> = (0..10_000).map(|i| 3e7 + (i % 4) as f32 * 2.0).collect();
    let batches: Vec<_> = values
        .chunks(999)
        .map(|c| batch(Float32Array::from(c.to_vec())))
        .collect();
    let bytes = common::bytes(&batches, IpcFormat::Stream);
    let mut child = Command::new(env!("CARGO_BIN_EXE_mapmean"))
        .args(["stats", "-", "--format", "csv"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    // Values 3e7 + {0, 2, 4, 6}, 2500 of each: mean 3e7 + 3, variance 5.
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "column,count,null_count,nan_count,sum,mean,variance,stddev,min,max\n\
         x,10000,0,0,300000030000.0,30000003.0,5.0,2.23606797749979,30000000.0,30000006.0\n\
         n,10000,0,0,4985055,498.5055,83327.79396975,288.66553997619803,0,998\n"
    );
}

#[test]
fn sources_that_are_not_arrow_ipc_are_named_with_the_next_step() {
    use std::io::Write;
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    // A Parquet file's first and last bytes only (damaged), a CSV file, gzip data.
    let cases: [(&str, &[u8], &str); 4] = [
        (
            "t.parquet",
            b"PAR1\x15\x04\x15\x10\x00\x00PAR1",
            "damaged Parquet file: footer",
        ),
        (
            "t.csv",
            b"x,y\n1,2\n",
            "this looks like text (CSV or JSON?)",
        ),
        ("t.feather", b"FEA1\x00\x00\x00\x00", "Feather version 1"),
        ("t.arrow.gz", &[0x1f, 0x8b, 8, 0, 0, 0], "gzip-compressed"),
    ];
    for (name, bytes, expected) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let (ok, _, err) = mapmean(&["mean", path.to_str().unwrap()]);
        assert!(!ok);
        assert!(err.contains(expected), "{name}: {err}");
        assert!(err.contains(path.to_str().unwrap()), "{name}: {err}");
    }
    // Text on a pipe is "not Arrow IPC", not a truncated giant message.
    let mut child = Command::new(env!("CARGO_BIN_EXE_mapmean"))
        .args(["mean", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"garbage\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("looks like text") && !err.contains("truncated"),
        "{err}"
    );
}
