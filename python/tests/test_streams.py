"""Streams consumed batch by batch: Arrow C streams of any length, binary file
objects and NativeFiles holding Arrow IPC, in bounded memory, exactly."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from exact import assert_same, exact_mean

import mapmean


def _batches(rng: np.random.Generator, count: int, rows: int) -> tuple[list[pa.RecordBatch], np.ndarray, np.ndarray]:
    """``count`` batches of a float32 column "x" over many binades (every
    seventh value null) and an int64 column "n"; returns the batches and the
    concatenated values and validity."""
    values = (rng.standard_normal(count * rows) * 10.0 ** rng.integers(-20, 20, count * rows)).astype(np.float32)
    valid = np.arange(count * rows) % 7 != 3
    batches = [
        pa.record_batch(
            {
                "x": pa.array(values[i * rows : (i + 1) * rows], mask=~valid[i * rows : (i + 1) * rows]),
                "n": pa.array(np.arange(rows, dtype=np.int64)),
            }
        )
        for i in range(count)
    ]
    return batches, values, valid


def _ipc_bytes(batches: list[pa.RecordBatch], *, file: bool = False) -> bytes:
    sink = pa.BufferOutputStream()
    writer = pa.ipc.new_file if file else pa.ipc.new_stream
    with writer(sink, batches[0].schema) as w:
        for b in batches:
            w.write_batch(b)
    return sink.getvalue().to_pybytes()


def test_a_long_generator_backed_reader_gives_the_exact_mean(rng: np.random.Generator) -> None:
    batches, values, valid = _batches(rng, 1500, 200)
    reader = pa.RecordBatchReader.from_batches(batches[0].schema, iter(batches))
    assert_same(mapmean.mean(reader, "x").as_py(), exact_mean(values, valid))


def test_a_stream_and_the_same_data_in_memory_give_bitwise_equal_states(rng: np.random.Generator) -> None:
    batches, _, _ = _batches(rng, 50, 10_000)
    table = pa.Table.from_batches(batches)
    for threads in (1, 3):
        reader = pa.RecordBatchReader.from_batches(table.schema, iter(batches))
        assert mapmean.mean_state(reader, "x", threads=threads) == mapmean.mean_state(
            table.column("x").combine_chunks(), threads=threads
        )


def test_null_struct_rows_of_a_stream_are_nulls() -> None:
    struct = pa.StructArray.from_arrays(
        [pa.array([1.0, 2.0, 100.0], pa.float32())], names=["x"], mask=pa.array([False, False, True])
    )
    reader = pa.RecordBatchReader.from_batches(
        pa.schema([("x", pa.float32())]), iter([pa.RecordBatch.from_struct_array(struct)])
    )
    state = mapmean.mean_state(reader, "x")
    assert (state.count, state.null_count, state.finish().as_py()) == (2, 1, 1.5)


def test_column_errors_of_a_stream_are_those_of_other_sources(rng: np.random.Generator) -> None:
    batches, _, _ = _batches(rng, 3, 10)

    def reader() -> pa.RecordBatchReader:
        return pa.RecordBatchReader.from_batches(batches[0].schema, iter(batches))

    with pytest.raises(KeyError, match="no column named 'y'|no column named \"y\""):
        mapmean.mean(reader(), "y")
    assert mapmean.mean(reader(), "n").is_valid  # an Int64 column is read too
    with pytest.raises(ValueError, match="name a column"):
        mapmean.mean(reader())


def test_a_stream_that_fails_part_way_raises_and_gives_no_result() -> None:
    schema = pa.schema([("x", pa.float32())])

    def produce():
        for i in range(100):
            if i == 40:
                raise RuntimeError("the producer broke at batch 40")
            yield pa.record_batch([pa.array(np.ones(1000, np.float32))], schema=schema)

    with pytest.raises(ValueError, match="the producer broke at batch 40"):
        mapmean.mean(pa.RecordBatchReader.from_batches(schema, produce()), "x")


def test_binary_file_objects_holding_a_stream_are_read(tmp_path, rng: np.random.Generator) -> None:
    batches, values, valid = _batches(rng, 30, 1000)
    data = _ipc_bytes(batches)
    want = exact_mean(values, valid)
    assert_same(mapmean.mean(io.BytesIO(data), "x").as_py(), want)
    path = tmp_path / "x.arrows"
    path.write_bytes(data)
    with open(path, "rb") as f:
        assert_same(mapmean.mean(f, "x").as_py(), want)
    with open(path, "rb", buffering=0) as f:
        assert_same(mapmean.mean(f, "x").as_py(), want)
    with pa.OSFile(str(path)) as f:
        assert_same(mapmean.mean(f, "x").as_py(), want)
    assert_same(mapmean.mean(pa.BufferReader(data), "x").as_py(), want)


def test_a_seekable_file_object_holding_an_ipc_file_is_read_through_its_footer(
    tmp_path, rng: np.random.Generator
) -> None:
    batches, values, valid = _batches(rng, 5, 1000)
    data = _ipc_bytes(batches, file=True)
    assert_same(mapmean.mean(io.BytesIO(data), "x").as_py(), exact_mean(values, valid))
    assert_same(mapmean.mean(pa.BufferReader(data), "x").as_py(), exact_mean(values, valid))


def test_standard_input_holding_a_stream_is_read(rng: np.random.Generator) -> None:
    batches, values, valid = _batches(rng, 20, 1000)
    script = "import sys, mapmean; print(mapmean.mean(sys.stdin.buffer, 'x').as_py().hex())"
    out = subprocess.run(
        [sys.executable, "-c", script], input=_ipc_bytes(batches), capture_output=True, check=True
    ).stdout
    assert_same(float.fromhex(out.decode().strip()), exact_mean(values, valid))


def test_standard_input_holding_an_ipc_file_is_refused_with_the_fix_named(rng: np.random.Generator) -> None:
    batches, _, _ = _batches(rng, 1, 10)
    script = "import sys, mapmean; mapmean.mean(sys.stdin.buffer, 'x')"
    run = subprocess.run(
        [sys.executable, "-c", script], input=_ipc_bytes(batches, file=True), capture_output=True
    )
    assert run.returncode != 0
    assert b"ValueError" in run.stderr and b"seekable" in run.stderr


def test_garbage_and_text_files_are_refused(tmp_path) -> None:
    with pytest.raises(ValueError):
        mapmean.mean(io.BytesIO(b"certainly not arrow"))
    with pytest.raises(ValueError):
        mapmean.mean(io.BytesIO(b""))
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with open(path) as f, pytest.raises(TypeError, match="'rb'"):
        mapmean.mean(f)


def test_a_stream_cut_part_way_raises(rng: np.random.Generator) -> None:
    batches, _, _ = _batches(rng, 10, 1000)
    data = _ipc_bytes(batches)
    with pytest.raises(ValueError):
        mapmean.mean(io.BytesIO(data[: len(data) // 2]), "x")


def test_polars_and_duckdb_streams_give_the_exact_mean(rng: np.random.Generator) -> None:
    values = (rng.standard_normal(300_000) * 1e10).astype(np.float32)
    frame = pl.DataFrame({"x": values, "n": np.arange(len(values))})
    want = exact_mean(values)
    assert_same(mapmean.mean(frame, "x").as_py(), want)
    connection = duckdb.connect()
    arrow_table = pa.table({"x": values})  # noqa: F841 (read by the query below)
    relation = connection.sql("SELECT x FROM arrow_table")
    # DuckDB 1.x names it fetch_record_batch (deprecated in 2.0).
    to_reader = getattr(relation, "to_arrow_reader", None) or relation.fetch_record_batch
    assert_same(mapmean.mean(to_reader(10_000), "x").as_py(), want)
    assert_same(mapmean.mean(connection.sql("SELECT x FROM arrow_table"), "x").as_py(), want)


# A child process streams STREAM_MIB of distinct batches, generated on the
# fly, and reports how much its peak RSS grew while mapmean consumed them.
_MEMORY_SCRIPT = textwrap.dedent(
    """
    import resource, sys
    import numpy as np, pyarrow as pa, mapmean
    kind, rows, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    schema = pa.schema([("x", pa.float32())])
    base = np.arange(rows)
    def batches(count):
        for k in range(count):
            # 0..rows-1 permuted by xor with k: distinct batches, each of
            # mean (rows - 1) / 2, exact in float32.
            yield pa.record_batch([pa.array((base ^ k).astype(np.float32))], schema=schema)
    # Warm up on a short stream (threads, allocator), so that the peak below
    # is set by the long one.
    mapmean.mean(pa.RecordBatchReader.from_batches(schema, batches(4)))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if kind == "reader":
        source = pa.RecordBatchReader.from_batches(schema, batches(count))
    else:
        import os, threading
        read, write = os.pipe()
        def produce():
            with os.fdopen(write, "wb") as sink, pa.ipc.new_stream(sink, schema) as w:
                for b in batches(count):
                    w.write_batch(b)
        threading.Thread(target=produce, daemon=True).start()
        source = os.fdopen(read, "rb")
    mean = mapmean.mean(source, "x").as_py()
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert mean == (rows - 1) / 2, mean
    print((after - before) / 1024)
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["reader", "pipe"])
def test_peak_memory_stays_bounded_over_a_1_gib_stream(kind: str) -> None:
    rows, count = 1 << 20, 256  # 256 batches of 4 MiB
    proc = subprocess.run(
        [sys.executable, "-c", _MEMORY_SCRIPT, kind, str(rows), str(count)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, f"exit {proc.returncode}: {proc.stderr}"
    growth_mib = float(proc.stdout.strip())
    assert growth_mib < 128, f"peak RSS grew by {growth_mib:.0f} MiB over a 1 GiB stream"


def test_a_named_pipe_path_is_read_as_a_stream(tmp_path, rng: np.random.Generator) -> None:
    import os
    import threading

    batches, values, valid = _batches(rng, 10, 1000)
    fifo = tmp_path / "values.fifo"
    os.mkfifo(fifo)
    data = _ipc_bytes(batches)

    def produce() -> None:
        with open(fifo, "wb") as sink:  # blocks until mapmean opens the pipe
            sink.write(data)

    producer = threading.Thread(target=produce)
    producer.start()
    try:
        assert_same(mapmean.mean(str(fifo), "x").as_py(), exact_mean(values, valid))
    finally:
        producer.join()
