"""mapmean.write_ipc writes Arrow IPC that pyarrow reads back as the data given."""

from __future__ import annotations

import math
import pathlib

import mapmean
import numpy as np
import pyarrow as pa
import pytest
from exact import assert_same, exact_mean

F32 = np.float32


def read_file(path) -> pa.Table:
    with pa.ipc.open_file(path) as reader:
        return reader.read_all()


def read_stream(path) -> pa.Table:
    with pa.ipc.open_stream(path) as reader:
        return reader.read_all()


def column_values(table: pa.Table, name: str = "values") -> tuple[np.ndarray, np.ndarray]:
    """(values with nulls as 0, valid mask) of a float32 column."""
    col = table.column(name).combine_chunks()
    valid = np.asarray(col.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    values = col.fill_null(0).to_numpy(zero_copy_only=False).astype(F32)
    return values, valid


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    a = np.ascontiguousarray(a, dtype=F32)
    b = np.ascontiguousarray(b, dtype=F32)
    return a.shape == b.shape and np.array_equal(a.view(np.uint32), b.view(np.uint32))


def test_returns_a_pathlib_path(tmp_arrow):
    target = tmp_arrow()
    result = mapmean.write_ipc(str(target), np.ones(3, F32))
    assert isinstance(result, pathlib.Path)
    assert result == target
    assert result.is_file()
    result = mapmean.write_ipc(target, np.ones(3, F32))
    assert isinstance(result, pathlib.Path)
    assert result == target


def test_round_trip_through_pyarrow(rng, tmp_arrow):
    values = rng.standard_normal(10_000, dtype=F32)
    values[::97] = np.nan
    values[5] = np.inf
    values[6] = -0.0
    path = mapmean.write_ipc(tmp_arrow(), values)
    table = read_file(path)
    assert table.schema == pa.schema([("values", pa.float32())])
    assert table.num_rows == values.size
    assert table.column("values").null_count == 0
    got, valid = column_values(table)
    assert valid.all()
    assert same_bits(got, values)


def test_mask_becomes_nulls(rng, tmp_arrow):
    values = rng.random(1000, dtype=F32)
    mask = rng.random(1000) < 0.3
    path = mapmean.write_ipc(tmp_arrow(), values, mask=mask)
    table = read_file(path)
    col = table.column("values")
    assert col.null_count == mask.sum()
    got, valid = column_values(table)
    assert np.array_equal(valid, ~mask)
    assert same_bits(got[valid], values[~mask])
    assert table.column("values").equals(pa.chunked_array([pa.array(values, mask=mask)]))


def test_masked_array_becomes_nulls(rng, tmp_arrow):
    values = rng.random(500, dtype=F32)
    mask = rng.random(500) < 0.5
    path = mapmean.write_ipc(tmp_arrow(), np.ma.masked_array(values, mask=mask))
    _, valid = column_values(read_file(path))
    assert np.array_equal(valid, ~mask)


def test_nan_as_null_turns_nans_into_nulls(tmp_arrow):
    values = np.array([1.0, np.nan, 2.0, np.nan, np.inf], dtype=F32)
    path = mapmean.write_ipc(tmp_arrow(), values, nan_as_null=True)
    col = read_file(path).column("values")
    assert col.to_pylist() == [1.0, None, 2.0, None, math.inf]


def test_nan_as_null_together_with_a_mask(tmp_arrow):
    values = np.array([1.0, np.nan, 2.0, 4.0], dtype=F32)
    mask = np.array([False, False, False, True])
    path = mapmean.write_ipc(tmp_arrow(), values, mask=mask, nan_as_null=True)
    assert read_file(path).column("values").to_pylist() == [1.0, None, 2.0, None]


def test_without_nan_as_null_nans_stay_values(tmp_arrow):
    values = np.array([1.0, np.nan], dtype=F32)
    col = read_file(mapmean.write_ipc(tmp_arrow(), values)).column("values")
    assert col.null_count == 0
    assert math.isnan(col.to_pylist()[1])


@pytest.mark.parametrize("n,batch_rows", [(1000, 100), (1000, 333), (1000, 1000), (1000, 5000), (10, 1), (7, 3)])
def test_batch_rows_produces_that_many_batches(tmp_arrow, n, batch_rows):
    values = np.arange(n, dtype=F32)
    path = mapmean.write_ipc(tmp_arrow(), values, batch_rows=batch_rows)
    with pa.ipc.open_file(path) as reader:
        assert reader.num_record_batches == math.ceil(n / batch_rows)
        sizes = [reader.get_batch(i).num_rows for i in range(reader.num_record_batches)]
    assert all(size <= batch_rows for size in sizes)
    assert sum(sizes) == n
    assert same_bits(column_values(read_file(path))[0], values)


def test_without_batch_rows_there_is_one_batch(tmp_arrow):
    path = mapmean.write_ipc(tmp_arrow(), np.arange(100_000, dtype=F32))
    with pa.ipc.open_file(path) as reader:
        assert reader.num_record_batches == 1


def test_batch_rows_in_a_stream(tmp_arrow):
    values = np.arange(1000, dtype=F32)
    path = mapmean.write_ipc(tmp_arrow(), values, batch_rows=128, format="stream")
    with pa.ipc.open_stream(path) as reader:
        batches = list(reader)
    assert len(batches) == 8
    assert same_bits(column_values(pa.Table.from_batches(batches))[0], values)


def test_format_stream_is_readable_by_open_stream(rng, tmp_arrow):
    values = rng.random(1000, dtype=F32)
    mask = rng.random(1000) < 0.1
    path = mapmean.write_ipc(tmp_arrow(".arrows"), values, mask=mask, format="stream")
    table = read_stream(path)
    got, valid = column_values(table)
    assert np.array_equal(valid, ~mask)
    assert same_bits(got[valid], values[valid])
    with pytest.raises(pa.ArrowInvalid):
        pa.ipc.open_file(path)


def test_format_file_is_an_ipc_file(tmp_arrow):
    path = mapmean.write_ipc(tmp_arrow(), np.ones(4, F32), format="file")
    assert path.read_bytes()[:6] == b"ARROW1"
    assert path.read_bytes()[-6:] == b"ARROW1"
    assert read_file(path).num_rows == 4


def test_mapping_of_several_columns(rng, tmp_arrow):
    data = {
        "a": rng.random(100, dtype=F32),
        "b": rng.standard_normal(100).astype(F32),
        "i32": np.arange(100, dtype=np.int32),
        "f64": rng.random(100),
        "masked": np.ma.masked_array(rng.random(100, dtype=F32), mask=np.arange(100) % 4 == 0),
    }
    path = mapmean.write_ipc(tmp_arrow(), data, batch_rows=30)
    table = read_file(path)
    assert table.column_names == list(data)
    assert table.schema.field("a").type == pa.float32()
    assert table.schema.field("b").type == pa.float32()
    assert table.schema.field("i32").type == pa.int32()
    assert table.schema.field("f64").type == pa.float64()
    assert table.schema.field("masked").type == pa.float32()
    assert same_bits(column_values(table, "a")[0], data["a"])
    assert same_bits(column_values(table, "b")[0], data["b"])
    assert np.array_equal(table.column("i32").to_numpy(), data["i32"])
    assert np.array_equal(table.column("f64").to_numpy(), data["f64"])
    assert table.column("masked").null_count == 25
    assert_same(mapmean.mean(path, "a").as_py(), exact_mean(data["a"]))
    assert_same(
        mapmean.mean(path, "masked").as_py(),
        exact_mean(data["masked"].data, ~data["masked"].mask),
    )


def test_non_float32_arrays_keep_their_type_and_are_read_exactly(tmp_arrow):
    for dtype, arrow_type in [
        (np.int8, pa.int8()),
        (np.int32, pa.int32()),
        (np.int64, pa.int64()),
        (np.uint16, pa.uint16()),
        (np.float64, pa.float64()),
        (np.float16, pa.float16()),
    ]:
        path = mapmean.write_ipc(tmp_arrow(), np.arange(10).astype(dtype))
        assert read_file(path).schema.field("values").type == arrow_type, dtype
        assert mapmean.mean(path).as_py() == 4.5, dtype


def test_empty_array_writes_a_readable_empty_file(tmp_arrow):
    path = mapmean.write_ipc(tmp_arrow(), np.array([], dtype=F32))
    table = read_file(path)
    assert table.num_rows == 0
    assert table.schema.field("values").type == pa.float32()
    assert mapmean.mean(path).as_py() is None


def test_existing_file_is_replaced(tmp_arrow):
    path = tmp_arrow()
    mapmean.write_ipc(path, np.arange(100_000, dtype=F32))
    mapmean.write_ipc(path, np.array([1.0, 2.0], dtype=F32))
    assert read_file(path).num_rows == 2
    assert mapmean.mean(path).as_py() == 1.5


def test_non_contiguous_input_arrays_are_written_as_their_values(rng, tmp_arrow):
    values = rng.random(1000, dtype=F32)
    path = mapmean.write_ipc(tmp_arrow(), values[::-3])
    assert same_bits(column_values(read_file(path))[0], values[::-3])


# ---------------------------------------------------------------- alignment


def buffer_addresses(path):
    """(values address, validity address or None) of every batch's first column,
    read through a memory map so the addresses are positions in the file."""
    with pa.memory_map(str(path), "r") as source:
        reader = pa.ipc.open_file(source)
        base = None
        out = []
        for i in range(reader.num_record_batches):
            batch = reader.get_batch(i)
            for col in batch.columns:
                validity, data = col.buffers()[:2]
                out.append((data.address, None if validity is None else validity.address, data.size))
        del base
        return out


@pytest.mark.parametrize("batch_rows", [None, 1, 3, 17, 100])
def test_value_buffers_are_64_byte_aligned_in_the_mapping(rng, tmp_arrow, batch_rows):
    values = rng.random(1001, dtype=F32)
    mask = rng.random(1001) < 0.2
    path = mapmean.write_ipc(tmp_arrow(), values, mask=mask, batch_rows=batch_rows)
    addresses = buffer_addresses(path)
    assert addresses
    for data_address, validity_address, _ in addresses:
        assert data_address % 64 == 0
        if validity_address is not None:
            assert validity_address % 64 == 0


def test_every_column_of_a_mapping_is_64_byte_aligned(rng, tmp_arrow):
    data = {
        "a": rng.random(37, dtype=F32),
        "b": np.arange(37, dtype=np.int8),
        "c": np.ma.masked_array(rng.random(37, dtype=F32), mask=np.arange(37) % 2 == 0),
    }
    path = mapmean.write_ipc(tmp_arrow(), data, batch_rows=5)
    for data_address, validity_address, _ in buffer_addresses(path):
        assert data_address % 64 == 0
        if validity_address is not None:
            assert validity_address % 64 == 0


def test_memory_mapped_read_is_zero_copy_in_pyarrow(rng, tmp_arrow):
    values = rng.random(10_000, dtype=F32)
    path = mapmean.write_ipc(tmp_arrow(), values)
    with pa.memory_map(str(path), "r") as source:
        table = pa.ipc.open_file(source).read_all()
        before = pa.total_allocated_bytes()
        arr = table.column("values").chunk(0)
        np_view = arr.to_numpy()  # zero_copy_only=True by default
        assert same_bits(np_view, values)
        assert pa.total_allocated_bytes() == before
