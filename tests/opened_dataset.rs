//! `mapmean::Dataset`: sources opened once and queried many times give the
//! one-shot results bit for bit, keep their mappings (no new mapping, no
//! page faults on a repeated query) and fail clearly.

mod common;

use std::sync::Arc;

use arrow_array::{ArrayRef, Float32Array, RecordBatch};
use common::{batch, sample, write};
use mapmean::dataset::{combine, expand, scan, OnError};
use mapmean::engine::{state_of_arrays, state_of_file};
use mapmean::ipc::IpcFormat;
use mapmean::{Dataset, Error, MeanOptions};

#[test]
fn a_kept_file_gives_the_one_shot_state_bitwise_on_every_query() {
    let dir = tempfile::tempdir().unwrap();
    for format in [IpcFormat::File, IpcFormat::Stream] {
        let path = dir.path().join(format!("{format:?}.arrow"));
        let batches: Vec<_> = (0..5u32)
            .map(|i| batch(sample(3000 + 11 * i as usize, i)))
            .collect();
        write(&path, &batches, format);
        let want = state_of_file(&path, Some("x"), None).unwrap();
        let data = Dataset::open([&path]).unwrap();
        for threads in [Some(1), Some(2), None, Some(1)] {
            assert_eq!(data.mean_state(Some("x"), threads).unwrap(), want);
        }
        assert_eq!(
            data.mean(Some("x"), &MeanOptions::default(), None).unwrap(),
            want.finish()
        );
        assert_eq!(data.sources(), [path.display().to_string()]);
        assert_eq!(data.schema().field(1).name(), "n");
    }
}

#[test]
fn a_kept_directory_or_pattern_gives_the_scan_bitwise() {
    let dir = tempfile::tempdir().unwrap();
    let parts: Vec<Float32Array> = (0..6)
        .map(|i| sample(700 + 91 * i, 40 + i as u32))
        .collect();
    for (i, part) in parts.iter().enumerate() {
        let format = [IpcFormat::File, IpcFormat::Stream][i % 2];
        write(
            &dir.path().join(format!("part-{i}.arrow")),
            &[batch(part.clone())],
            format,
        );
    }
    let whole = state_of_arrays(&parts, Some(1)).unwrap();
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
    assert_eq!(
        combine(&scanned.states, false).unwrap()[0]
            .state
            .as_mean_state(),
        Some(whole)
    );
    let pattern = dir.path().join("part-*.arrow");
    for spec in [dir.path().to_path_buf(), pattern] {
        let data = Dataset::open([&spec]).unwrap();
        assert_eq!(data.sources().len(), 6);
        assert_eq!(data.mean_state(Some("x"), None).unwrap(), whole);
        assert_eq!(data.mean_state(Some("x"), Some(3)).unwrap(), whole);
    }
}

#[test]
fn a_kept_shared_memory_segment_gives_the_one_shot_state() {
    use mapmean::source::SharedSegment;
    let b = batch(sample(5000, 9));
    let name = SharedSegment::random_name();
    let segment =
        SharedSegment::create_with_batches(&name, &b.schema(), std::slice::from_ref(&b)).unwrap();
    let uri = format!("shm://{name}");
    let data = Dataset::open([&uri]).unwrap();
    segment.unlink().unwrap();
    drop(segment);
    // The handle keeps its own mapping of the segment after its name is gone.
    let want = state_of_arrays(&[sample(5000, 9)], None).unwrap();
    assert_eq!(data.mean_state(Some("x"), None).unwrap(), want);
    assert_eq!(data.sources(), [uri]);
    assert!(matches!(
        Dataset::open([format!("shm://{name}")]).unwrap_err(),
        Error::NotFound { .. }
    ));
}

#[test]
fn a_deleted_file_is_still_read_through_the_kept_mapping() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gone.arrow");
    write(&path, &[batch(sample(4000, 3))], IpcFormat::File);
    let want = state_of_file(&path, Some("x"), None).unwrap();
    let data = Dataset::open([&path]).unwrap();
    std::fs::remove_file(&path).unwrap();
    // A one-shot call would now fail to map the file: the handle maps nothing anew.
    assert!(matches!(
        state_of_file(&path, Some("x"), None).unwrap_err(),
        Error::NotFound { .. }
    ));
    assert_eq!(data.mean_state(Some("x"), None).unwrap(), want);
    assert_eq!(data.mean_state(Some("x"), Some(1)).unwrap(), want);
}

/// Minor and major page faults of this process so far.
#[cfg(target_os = "linux")]
fn page_faults() -> i64 {
    // SAFETY: getrusage only writes the zeroed struct we own.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) }, 0);
    usage.ru_minflt + usage.ru_majflt
}

#[cfg(target_os = "linux")]
#[test]
fn a_repeated_query_takes_no_page_faults() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.arrow");
    let values: Float32Array = (0..(16 << 20)).map(|i| Some((i % 1000) as f32)).collect();
    let x = RecordBatch::try_from_iter([("x", Arc::new(values) as ArrayRef)]).unwrap();
    write(&path, &[x], IpcFormat::File); // 64 MiB: 16,384 pages
    let data = Dataset::open([&path]).unwrap();
    let first = data.mean_state(Some("x"), None).unwrap(); // faults the pages in
    let before = page_faults();
    for _ in 0..3 {
        assert_eq!(data.mean_state(Some("x"), None).unwrap(), first);
    }
    let kept = page_faults() - before;
    let before = page_faults();
    assert_eq!(state_of_file(&path, Some("x"), None).unwrap(), first);
    let one_shot = page_faults() - before;
    // A fresh mapping faults its pages in again (in runs of 16 pages, or a
    // whole large folio at a time where the page cache has them); the kept
    // one at most touches what the threads allocate.
    assert!(kept <= 8, "{kept} page faults in 3 repeated queries");
    assert!(one_shot > kept, "the one-shot call took {one_shot} faults");
}

#[test]
fn queries_from_many_threads_at_once_agree() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.arrow");
    write(&path, &[batch(sample(200_000, 5))], IpcFormat::File);
    let want = state_of_file(&path, Some("x"), None).unwrap();
    let data = Dataset::open([&path]).unwrap();
    std::thread::scope(|scope| {
        for t in 0..4 {
            let data = &data;
            scope.spawn(move || {
                for _ in 0..10 {
                    let threads = [None, Some(1), Some(2), Some(3)][t];
                    assert_eq!(data.mean_state(Some("x"), threads).unwrap(), want);
                }
            });
        }
    });
}

#[test]
fn columns_that_are_missing_ambiguous_or_not_float32_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.arrow");
    write(&path, &[batch(sample(10, 1))], IpcFormat::File);
    let data = Dataset::open([&path]).unwrap();
    let err = data.mean_state(Some("nope"), None).unwrap_err();
    assert!(matches!(err, Error::ColumnNotFound { .. }), "{err}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    let err = data.mean_state(None, None).unwrap_err();
    assert!(matches!(err, Error::AmbiguousColumn { .. }), "{err}");
    let err = data.mean_state(Some("n"), None).unwrap_err();
    assert!(matches!(err, Error::WrongType { .. }), "{err}");
    let err = data.mean_state(Some("x"), Some(0)).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    // A failed query leaves the handle usable.
    assert_eq!(data.mean_state(Some("x"), None).unwrap().count, 9);
}

#[test]
fn a_column_missing_from_one_source_names_that_source() {
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("a.arrow"),
        &[batch(sample(10, 1))],
        IpcFormat::File,
    );
    let y =
        RecordBatch::try_from_iter([("y", Arc::new(Float32Array::from(vec![1.0])) as ArrayRef)])
            .unwrap();
    write(&dir.path().join("b.arrow"), &[y], IpcFormat::File);
    let data = Dataset::open([dir.path()]).unwrap();
    assert_eq!(
        data.schema().field(0).name(),
        "x",
        "the first source's schema"
    );
    let err = data.mean_state(Some("x"), None).unwrap_err();
    assert!(matches!(err, Error::ColumnNotFound { .. }), "{err}");
    assert!(err.to_string().contains("b.arrow"), "{err}");
}

#[test]
fn sources_that_cannot_be_kept_are_refused_at_the_open() {
    let dir = tempfile::tempdir().unwrap();
    let err = Dataset::open(Vec::<&str>::new()).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    let err = Dataset::open(["-"]).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidArgument(m) if m.contains("cannot be kept open")),
        "{err}"
    );
    let err = Dataset::open([dir.path().join("missing.arrow")]).unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    let junk = dir.path().join("junk.arrow");
    std::fs::write(&junk, b"not arrow at all").unwrap();
    let err = Dataset::open([&junk]).unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
}
