"""Files are read in place: every buffer mapmean averages lies inside the file's mapping.

Uses the debug hook ``mapmean._mapmean._column_buffers(path, column=None)``.
"""

from __future__ import annotations

import mapmean
import numpy as np
import pyarrow as pa
import pyarrow.feather as feather
import pytest
from exact import assert_same, exact_mean

F32 = np.float32


def column_buffers(path, column=None) -> dict:
    from mapmean import _mapmean

    info = _mapmean._column_buffers(str(path), column)
    assert isinstance(info, dict)
    assert {"map_start", "map_len", "batches"} <= set(info)
    return info


def assert_inside_mapping(info: dict, expect_validity: bool | None = None) -> None:
    start, length = info["map_start"], info["map_len"]
    assert isinstance(start, int) and isinstance(length, int)
    assert start > 0 and length > 0
    end = start + length
    for i, batch in enumerate(info["batches"]):
        addr, size = batch["values_addr"], batch["values_len"]
        assert isinstance(addr, int) and isinstance(size, int)
        if size:
            assert start <= addr and addr + size <= end, f"batch {i}: values [{addr:#x}, +{size}) outside the mapping"
        validity = batch["validity_addr"]
        if expect_validity is True:
            assert validity is not None, f"batch {i}: no validity buffer"
        if expect_validity is False:
            assert validity is None, f"batch {i}: unexpected validity buffer"
        if validity is not None:
            assert isinstance(validity, int)
            # The validity bitmap holds at least ceil(rows / 8) bytes; rows = size / 4.
            bitmap_bytes = (size // 4 + 7) // 8
            assert start <= validity and validity + bitmap_bytes <= end, f"batch {i}: validity outside the mapping"


def test_file_without_nulls_is_read_in_place(rng, tmp_arrow):
    values = rng.random(100_000, dtype=F32)
    path = mapmean.write_ipc(tmp_arrow(), values)
    info = column_buffers(path)
    assert len(info["batches"]) == 1
    assert info["batches"][0]["values_len"] == values.nbytes
    assert info["map_len"] >= values.nbytes
    assert info["map_len"] == path.stat().st_size
    assert_inside_mapping(info)
    assert_same(mapmean.mean(path).as_py(), exact_mean(values))


def test_file_with_nulls_is_read_in_place(rng, tmp_arrow):
    values = rng.random(50_000, dtype=F32)
    mask = rng.random(50_000) < 0.25
    path = mapmean.write_ipc(tmp_arrow(), values, mask=mask)
    info = column_buffers(path, "values")
    assert_inside_mapping(info, expect_validity=True)
    assert_same(mapmean.mean(path).as_py(), exact_mean(values, ~mask))


@pytest.mark.parametrize("with_nulls", [False, True])
def test_file_with_several_batches_is_read_in_place(rng, tmp_arrow, with_nulls):
    values = rng.random(10_007, dtype=F32)
    mask = (rng.random(values.size) < 0.5) if with_nulls else None
    path = mapmean.write_ipc(tmp_arrow(), values, mask=mask, batch_rows=1000)
    info = column_buffers(path)
    assert len(info["batches"]) == 11
    assert sum(b["values_len"] for b in info["batches"]) == values.nbytes
    assert_inside_mapping(info, expect_validity=True if with_nulls else None)
    addresses = [b["values_addr"] for b in info["batches"]]
    assert len(set(addresses)) == len(addresses)
    assert all(a % 64 == 0 for a in addresses), "write_ipc aligns buffers to 64 bytes"


def test_buffers_point_at_the_values_in_the_file(rng, tmp_arrow):
    values = rng.random(4096, dtype=F32)
    path = mapmean.write_ipc(tmp_arrow(), values, batch_rows=1024)
    info = column_buffers(path)
    raw = path.read_bytes()
    for i, batch in enumerate(info["batches"]):
        offset = batch["values_addr"] - info["map_start"]
        chunk = np.frombuffer(raw[offset : offset + batch["values_len"]], dtype=F32)
        assert np.array_equal(chunk.view(np.uint32), values[i * 1024 : (i + 1) * 1024].view(np.uint32))


def test_multi_column_file_is_read_in_place(rng, tmp_arrow):
    data = {
        "a": rng.random(5000, dtype=F32),
        "n": np.arange(5000, dtype=np.int64),
        "b": np.ma.masked_array(rng.random(5000, dtype=F32), mask=rng.random(5000) < 0.5),
    }
    path = mapmean.write_ipc(tmp_arrow(), data, batch_rows=2048)
    a_info = column_buffers(path, "a")
    b_info = column_buffers(path, "b")
    assert_inside_mapping(a_info)
    assert_inside_mapping(b_info, expect_validity=True)
    assert {x["values_addr"] for x in a_info["batches"]}.isdisjoint({x["values_addr"] for x in b_info["batches"]})


def test_stream_written_by_write_ipc_is_read_in_place(rng, tmp_arrow):
    values = rng.random(3000, dtype=F32)
    path = mapmean.write_ipc(tmp_arrow(".arrows"), values, mask=values > 0.9, batch_rows=1000, format="stream")
    info = column_buffers(path)
    assert len(info["batches"]) == 3
    assert_inside_mapping(info)


def write_pyarrow_file(path, arr, batch_rows=None):
    schema = pa.schema([("x", pa.float32())])
    table = pa.table({"x": arr}, schema=schema)
    with pa.ipc.new_file(path, schema) as writer:
        for batch in table.to_batches(batch_rows):
            writer.write_batch(batch)
    return path


def test_uncompressed_file_written_by_pyarrow_is_read_in_place(rng, tmp_arrow):
    values = rng.random(20_000, dtype=F32)
    valid = rng.random(values.size) < 0.8
    path = write_pyarrow_file(tmp_arrow(), pa.array(values, mask=~valid), batch_rows=3000)
    info = column_buffers(path, "x")
    assert len(info["batches"]) == 7
    assert_inside_mapping(info, expect_validity=True)
    assert_same(mapmean.mean(path, "x").as_py(), exact_mean(values, valid))


def test_uncompressed_stream_written_by_pyarrow_is_read_in_place(rng, tmp_arrow):
    values = rng.random(20_000, dtype=F32)
    path = tmp_arrow(".arrows")
    schema = pa.schema([("x", pa.float32())])
    with pa.ipc.new_stream(path, schema) as writer:
        writer.write_table(pa.table({"x": values}, schema=schema), max_chunksize=5000)
    info = column_buffers(path)
    assert len(info["batches"]) == 4
    assert_inside_mapping(info)


def test_uncompressed_feather_written_by_pyarrow_is_read_in_place(rng, tmp_arrow):
    values = rng.random(20_000, dtype=F32)
    path = tmp_arrow(".feather")
    feather.write_feather(pa.table({"x": values, "y": values.astype(np.float64)}), path, compression="uncompressed")
    assert_inside_mapping(column_buffers(path, "x"))


@pytest.mark.parametrize("compression", ["lz4", "zstd"])
def test_compressed_feather_still_gives_the_exact_mean(rng, tmp_arrow, compression):
    values = np.concatenate([np.array([3e37, 0.75, -3e37] * 2000, F32), rng.random(20_000, dtype=F32)])
    valid = rng.random(values.size) < 0.9
    path = tmp_arrow(".feather")
    feather.write_feather(
        pa.table({"x": pa.array(values, mask=~valid)}), path, compression=compression, chunksize=7000
    )
    assert_same(mapmean.mean(path, "x").as_py(), exact_mean(values, valid))
    # The decompressed buffers need not be in the mapping, but the hook still answers.
    info = column_buffers(path, "x")
    assert len(info["batches"]) == 4
    assert sum(b["values_len"] for b in info["batches"]) == values.nbytes


def test_sliced_batches_written_by_pyarrow_are_read_in_place(rng, tmp_arrow):
    values = rng.random(10_000, dtype=F32)
    arr = pa.array(values, mask=values > 0.7)
    path = tmp_arrow()
    schema = pa.schema([("x", pa.float32())])
    with pa.ipc.new_file(path, schema) as writer:
        writer.write_batch(pa.record_batch([arr.slice(3, 4000)], schema=schema))
        writer.write_batch(pa.record_batch([arr.slice(4003, 5997)], schema=schema))
    assert_inside_mapping(column_buffers(path))
    assert_same(mapmean.mean(path).as_py(), exact_mean(values[3:], values[3:] <= 0.7))


@pytest.mark.parametrize("compression", ["lz4", "zstd"])
def test_compressible_data_in_compressed_files_gives_the_exact_mean(rng, tmp_arrow, compression):
    # Few distinct values compress well, so the body buffers really are compressed
    # (random floats may be stored raw, with the "uncompressed" length marker).
    values = rng.choice(np.array([3e37, 0.75, -3e37, 1.0, 0.0], dtype=F32), 50_000)
    valid = rng.random(values.size) < 0.95
    table = pa.table({"x": pa.array(values, mask=~valid), "c": np.zeros(values.size, F32)})
    want = exact_mean(values, valid)
    path = tmp_arrow(".feather")
    feather.write_feather(table, path, compression=compression, chunksize=12_000)
    assert path.stat().st_size < 2 * values.nbytes * 3 // 4, "the file should really be compressed"
    assert_same(mapmean.mean(path, "x").as_py(), want)
    assert mapmean.mean(path, "c").as_py() == 0.0
    stream = tmp_arrow(".arrows")
    options = pa.ipc.IpcWriteOptions(compression=compression)
    with pa.ipc.new_stream(stream, table.schema, options=options) as writer:
        writer.write_table(table, max_chunksize=9_000)
    assert_same(mapmean.mean(stream, "x").as_py(), want)
