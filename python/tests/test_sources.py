"""Every kind of source mapmean.mean accepts gives the same, exact answer."""

from __future__ import annotations

import pathlib
import re

import mapmean
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.feather as feather
import pytest
from exact import assert_same, exact_mean

F32 = np.float32


def mean_of(source, *args, **kwargs):
    result = mapmean.mean(source, *args, **kwargs)
    assert isinstance(result, pa.DoubleScalar)
    return result.as_py()


@pytest.fixture
def values(rng) -> np.ndarray:
    # Cancellation plus noise: only an exact mean gets every source right.
    noise = (rng.standard_normal(10_000) * 10.0 ** rng.uniform(-10, 10, 10_000)).astype(F32)
    return np.concatenate([np.array([3e37, 0.75, -3e37] * 1000, dtype=F32), noise])


@pytest.fixture
def valid(rng, values) -> np.ndarray:
    return rng.random(values.size) < 0.85


# ---------------------------------------------------------------- paths


def test_str_path(values, tmp_arrow):
    path = mapmean.write_ipc(tmp_arrow(), values)
    assert_same(mean_of(str(path)), exact_mean(values))


def test_pathlib_path(values, tmp_arrow):
    path = mapmean.write_ipc(tmp_arrow(), values)
    assert isinstance(path, pathlib.Path)
    assert_same(mean_of(path), exact_mean(values))


def test_any_os_pathlike(values, tmp_arrow):
    path = mapmean.write_ipc(tmp_arrow(), values)

    class MyPath:
        def __fspath__(self):
            return str(path)

    assert_same(mean_of(MyPath()), exact_mean(values))


def test_path_with_column_name(values, tmp_arrow):
    path = mapmean.write_ipc(tmp_arrow(), values)
    assert_same(mean_of(path, "values"), exact_mean(values))
    assert_same(mean_of(path, column="values"), exact_mean(values))


@pytest.mark.parametrize("fmt", ["file", "stream"])
@pytest.mark.parametrize("batch_rows", [None, 1000, 4097])
def test_ipc_written_by_write_ipc(values, valid, tmp_arrow, fmt, batch_rows):
    path = mapmean.write_ipc(tmp_arrow(), values, mask=~valid, batch_rows=batch_rows, format=fmt)
    assert_same(mean_of(path), exact_mean(values, valid))


def test_ipc_file_written_by_pyarrow(values, valid, tmp_arrow):
    arr = pa.array(values, mask=~valid)
    path = tmp_arrow()
    schema = pa.schema([("x", pa.float32())])
    with pa.ipc.new_file(path, schema) as writer:
        writer.write_batch(pa.record_batch([arr.slice(0, 5000)], schema=schema))
        writer.write_batch(pa.record_batch([arr.slice(5000)], schema=schema))
    assert_same(mean_of(path), exact_mean(values, valid))
    assert_same(mean_of(path, "x"), exact_mean(values, valid))


def test_ipc_stream_written_by_pyarrow(values, valid, tmp_arrow):
    arr = pa.array(values, mask=~valid)
    path = tmp_arrow(".arrows")
    schema = pa.schema([("x", pa.float32())])
    with pa.ipc.new_stream(path, schema) as writer:
        for start in range(0, len(arr), 3333):
            writer.write_batch(pa.record_batch([arr.slice(start, 3333)], schema=schema))
    assert_same(mean_of(path), exact_mean(values, valid))


def test_empty_ipc_stream_written_by_pyarrow_gives_null(tmp_arrow):
    path = tmp_arrow(".arrows")
    with pa.ipc.new_stream(path, pa.schema([("x", pa.float32())])):
        pass
    assert mean_of(path) is None
    assert mean_of(path, "x") is None


def test_empty_ipc_file_written_by_pyarrow_gives_null(tmp_arrow):
    path = tmp_arrow()
    with pa.ipc.new_file(path, pa.schema([("x", pa.float32())])):
        pass
    assert mean_of(path) is None


@pytest.mark.parametrize("compression", ["uncompressed", "lz4", "zstd"])
def test_feather_written_by_pyarrow(values, valid, tmp_arrow, compression):
    path = tmp_arrow(".feather")
    table = pa.table({"x": pa.array(values, mask=~valid), "y": np.arange(values.size, dtype=np.int64)})
    feather.write_feather(table, path, compression=compression, chunksize=4000)
    assert_same(mean_of(path, "x"), exact_mean(values, valid))


@pytest.mark.parametrize("compression", ["lz4", "zstd"])
def test_compressed_ipc_stream_written_by_pyarrow(values, tmp_arrow, compression):
    path = tmp_arrow(".arrows")
    schema = pa.schema([("x", pa.float32())])
    options = pa.ipc.IpcWriteOptions(compression=compression)
    with pa.ipc.new_stream(path, schema, options=options) as writer:
        writer.write_batch(pa.record_batch([pa.array(values)], schema=schema))
    assert_same(mean_of(path), exact_mean(values))


def test_multi_column_file_choosing_by_name(rng, tmp_arrow):
    a = rng.integers(-100, 100, 1000).astype(F32)
    b = (rng.standard_normal(1000) * 1e30).astype(F32)
    c = np.array([3e37, 0.75, -3e37] * 333 + [0.25], dtype=F32)  # sum 250 over 1000
    path = mapmean.write_ipc(
        tmp_arrow(),
        {"a": a, "b": b, "ints": np.arange(1000, dtype=np.int32), "c": c},
    )
    assert_same(mean_of(path, "a"), exact_mean(a))
    assert_same(mean_of(path, "b"), exact_mean(b))
    assert_same(mean_of(path, "c"), exact_mean(c))
    assert mean_of(path, "c") == 0.25


# ---------------------------------------------------------------- Arrow objects


def test_pyarrow_array(values, valid):
    assert_same(mean_of(pa.array(values, mask=~valid)), exact_mean(values, valid))
    assert_same(mean_of(pa.array(values)), exact_mean(values))


def test_pyarrow_chunked_array(values, valid):
    arr = pa.array(values, mask=~valid)
    chunked = pa.chunked_array([arr.slice(0, 10), arr.slice(10, 0), arr.slice(10, 6000), arr.slice(6010)])
    assert_same(mean_of(chunked), exact_mean(values, valid))


def test_pyarrow_chunked_array_with_no_chunks_gives_null():
    assert mean_of(pa.chunked_array([], type=pa.float32())) is None


def test_pyarrow_record_batch(values, valid):
    batch = pa.record_batch([pa.array(values, mask=~valid)], names=["x"])
    assert_same(mean_of(batch), exact_mean(values, valid))
    assert_same(mean_of(batch, "x"), exact_mean(values, valid))


def test_pyarrow_table_with_column_name(values, valid, rng):
    other = rng.random(values.size, dtype=F32)
    table = pa.table({"x": pa.array(values, mask=~valid), "other": other, "label": ["a"] * values.size})
    assert_same(mean_of(table, "x"), exact_mean(values, valid))
    assert_same(mean_of(table, "other"), exact_mean(other))


def test_pyarrow_table_with_several_chunks(values):
    table = pa.concat_tables([pa.table({"x": values[:100]}), pa.table({"x": values[100:]})])
    assert table.column("x").num_chunks == 2
    assert_same(mean_of(table, "x"), exact_mean(values))


def test_pyarrow_record_batch_reader(values, valid):
    arr = pa.array(values, mask=~valid)
    schema = pa.schema([("x", pa.float32()), ("n", pa.int64())])
    batches = [
        pa.record_batch([arr.slice(i, 1000), pa.array(np.arange(len(arr.slice(i, 1000))))], schema=schema)
        for i in range(0, len(arr), 1000)
    ]
    reader = pa.RecordBatchReader.from_batches(schema, batches)
    assert_same(mean_of(reader, "x"), exact_mean(values, valid))


def test_pyarrow_record_batch_reader_of_one_column(values):
    schema = pa.schema([("x", pa.float32())])
    reader = pa.RecordBatchReader.from_batches(schema, pa.table({"x": values}, schema=schema).to_batches(777))
    assert_same(mean_of(reader), exact_mean(values))


def test_ipc_reader_opened_by_pyarrow_is_a_source(values, tmp_arrow):
    path = mapmean.write_ipc(tmp_arrow(), values, batch_rows=1000, format="stream")
    with pa.ipc.open_stream(path) as reader:
        assert_same(mean_of(reader), exact_mean(values))


def test_polars_series(values):
    series = pl.Series("x", values)
    assert series.dtype == pl.Float32
    assert_same(mean_of(series), exact_mean(values))


def test_polars_series_with_nulls(values, valid):
    series = pl.from_arrow(pa.array(values, mask=~valid))
    assert isinstance(series, pl.Series)
    assert series.null_count() == (~valid).sum()
    assert_same(mean_of(series), exact_mean(values, valid))


def test_polars_dataframe_with_column_name(values, valid):
    df = pl.DataFrame({"x": pl.from_arrow(pa.array(values, mask=~valid)), "i": np.arange(values.size)})
    assert_same(mean_of(df, "x"), exact_mean(values, valid))


def test_polars_dataframe_of_one_column(values):
    assert_same(mean_of(pl.DataFrame({"x": values})), exact_mean(values))


def test_polars_series_made_of_several_chunks(values):
    series = pl.concat([pl.Series("x", values[:3]), pl.Series("x", values[3:])], rechunk=False)
    assert series.n_chunks() == 2
    assert_same(mean_of(series), exact_mean(values))


def test_object_with_only_the_arrow_c_stream_interface(values):
    table = pa.table({"x": values})

    class StreamOnly:
        def __arrow_c_stream__(self, requested_schema=None):
            return table.__arrow_c_stream__(requested_schema)

    assert_same(mean_of(StreamOnly()), exact_mean(values))


def test_object_with_only_the_arrow_c_array_interface(values, valid):
    arr = pa.array(values, mask=~valid)

    class ArrayOnly:
        def __arrow_c_array__(self, requested_schema=None):
            return arr.__arrow_c_array__(requested_schema)

    assert_same(mean_of(ArrayOnly()), exact_mean(values, valid))


# ---------------------------------------------------------------- numpy


def test_numpy_contiguous(values):
    assert values.flags.c_contiguous
    assert_same(mean_of(values), exact_mean(values))


@pytest.mark.parametrize("step", [2, 3, 7, -1, -2, -5])
def test_numpy_strided_views(values, step):
    view = values[::step]
    assert_same(mean_of(view), exact_mean(np.ascontiguousarray(view)))


def test_numpy_negative_stride_offset_view(values):
    view = values[-3:10:-4]
    assert view.strides[0] < 0
    assert_same(mean_of(view), exact_mean(np.ascontiguousarray(view)))


def test_numpy_two_dimensional_means_over_all_elements(values):
    grid = values[:12_000].reshape(120, 100)
    assert_same(mean_of(grid), exact_mean(grid.reshape(-1)))


def test_numpy_transposed_and_fortran_order(values):
    grid = values[:12_000].reshape(120, 100)
    want = exact_mean(grid.reshape(-1))
    assert_same(mean_of(grid.T), want)
    fortran = np.asfortranarray(grid)
    assert fortran.flags.f_contiguous and not fortran.flags.c_contiguous
    assert_same(mean_of(fortran), want)


def test_numpy_non_contiguous_two_dimensional_views(values):
    grid = values[:12_000].reshape(120, 100)
    for view in (grid[::3, ::2], grid[::-1, 5:50], grid.T[::-2, ::7], grid[:, ::-1]):
        assert_same(mean_of(view), exact_mean(np.ascontiguousarray(view)), f"strides={view.strides}")


def test_numpy_three_dimensional_strided_view(values):
    cube = values[:12_000].reshape(20, 30, 20)
    assert_same(mean_of(cube[:, ::2, ::-3]), exact_mean(np.ascontiguousarray(cube[:, ::2, ::-3])))


def test_numpy_zero_dimensional_array_is_one_value():
    assert mean_of(np.array(2.5, dtype=F32)) == 2.5
    assert mean_of(np.array(-1e-45, dtype=F32)) == float(F32(-1e-45))


def test_numpy_empty_multi_dimensional_array_gives_null():
    assert mean_of(np.zeros((0, 5), dtype=F32)) is None
    assert mean_of(np.zeros((4, 0), dtype=F32).T) is None


def test_numpy_view_of_a_larger_buffer_with_byte_offset(values):
    raw = np.zeros(values.size * 4 + 1, dtype=np.uint8)
    view = raw[1:].view(F32)  # misaligned for float32
    view[:] = values
    assert_same(mean_of(view), exact_mean(values))


def test_numpy_read_only_array(values):
    ro = values.copy()
    ro.setflags(write=False)
    assert_same(mean_of(ro), exact_mean(values))


def test_numpy_float32_of_the_other_byte_order_gives_the_same_bits(values):
    swapped = values.astype(values.dtype.newbyteorder())  # '>f4' on little-endian machines
    assert mean_of(swapped) == mean_of(values)
    masked = np.ma.masked_array(swapped, mask=np.zeros(swapped.shape, bool))
    assert mean_of(masked) == mean_of(values)


def test_numpy_masked_array(values, valid):
    masked = np.ma.masked_array(values, mask=~valid)
    assert_same(mean_of(masked), exact_mean(values, valid))


def test_numpy_masked_array_without_a_mask(values):
    assert_same(mean_of(np.ma.masked_array(values)), exact_mean(values))


def test_numpy_masked_array_with_everything_masked():
    masked = np.ma.masked_array(np.ones(10, F32), mask=np.ones(10, bool))
    assert mean_of(masked) is None


def test_numpy_masked_two_dimensional_strided_view(values, valid):
    masked = np.ma.masked_array(values[:12_000].reshape(120, 100), mask=~valid[:12_000].reshape(120, 100))
    view = masked[::-2, 1::3]
    want = exact_mean(np.ascontiguousarray(view.data), ~np.ascontiguousarray(np.ma.getmaskarray(view)))
    assert_same(mean_of(view), want)


def test_numpy_masked_array_with_skip_nulls_false(values, valid):
    masked = np.ma.masked_array(values, mask=~valid)
    assert mean_of(masked, skip_nulls=False) is None


def test_numpy_masked_array_with_nan_under_the_mask():
    data = np.array([1.0, np.nan, 3.0], dtype=F32)
    assert mean_of(np.ma.masked_invalid(data)) == 2.0


def test_numpy_source_does_not_change_the_array(values):
    before = values.copy()
    mapmean.mean(values[::-3])
    assert np.array_equal(values.view(np.uint32), before.view(np.uint32))


# ---------------------------------------------------------------- one answer


def test_every_source_kind_gives_bitwise_the_same_answer(values, tmp_arrow, rng):
    want = exact_mean(values)
    table = pa.table({"values": values})
    sources = {
        "str": str(mapmean.write_ipc(tmp_arrow(), values)),
        "path": mapmean.write_ipc(tmp_arrow(), values, batch_rows=999),
        "stream": mapmean.write_ipc(tmp_arrow(), values, format="stream"),
        "array": pa.array(values),
        "chunked": table.column("values"),
        "batch": table.to_batches()[0],
        "table": table,
        "reader": pa.RecordBatchReader.from_batches(table.schema, table.to_batches(500)),
        "polars series": pl.Series("values", values),
        "polars frame": pl.DataFrame({"values": values}),
        "numpy": values,
        "numpy reversed": values[::-1],
        "masked": np.ma.masked_array(values, mask=np.zeros(values.size, bool)),
    }
    for name, source in sources.items():
        result = mapmean.mean(source)
        assert type(result) is pa.DoubleScalar, name
        assert_same(result.as_py(), want, name)


# ---------------------------------------------------------------- more source shapes


def test_relative_str_path(values, tmp_path, monkeypatch):
    mapmean.write_ipc(tmp_path / "rel.arrow", values)
    monkeypatch.chdir(tmp_path)
    assert_same(mean_of("rel.arrow"), exact_mean(values))


def test_path_with_spaces_and_unicode(values, tmp_path):
    path = mapmean.write_ipc(tmp_path / "dïr with spaces ✓.arrow", values)
    assert_same(mean_of(path), exact_mean(values))
    assert_same(mean_of(str(path)), exact_mean(values))


def test_float32_column_next_to_dictionary_list_and_string_columns(values, tmp_arrow):
    n = values.size
    table = pa.table(
        {
            "s": pa.array([str(i % 7) for i in range(n)]),
            "d": pa.array([str(i % 3) for i in range(n)]).dictionary_encode(),
            "l": pa.array([[float(i)] * (i % 3) for i in range(n)], type=pa.list_(pa.float32())),
            "x": values,
        }
    )
    for writer_factory, suffix in ((pa.ipc.new_file, ".arrow"), (pa.ipc.new_stream, ".arrows")):
        path = tmp_arrow(suffix)
        with writer_factory(path, table.schema) as writer:
            writer.write_table(table, max_chunksize=3000)
        assert_same(mean_of(path, "x"), exact_mean(values), suffix)
    assert_same(mean_of(table, "x"), exact_mean(values))


def test_batches_of_zero_rows_are_skipped(values, tmp_arrow):
    schema = pa.schema([("x", pa.float32())])
    empty = pa.record_batch([pa.array([], pa.float32())], schema=schema)
    for factory in (pa.ipc.new_file, pa.ipc.new_stream):
        path = tmp_arrow()
        with factory(path, schema) as writer:
            writer.write_batch(empty)
            writer.write_batch(pa.record_batch([pa.array(values[:100])], schema=schema))
            writer.write_batch(empty)
            writer.write_batch(pa.record_batch([pa.array(values[100:])], schema=schema))
            writer.write_batch(empty)
        assert_same(mean_of(path), exact_mean(values))


def test_one_row_batches(values, tmp_arrow):
    small = values[:3000]
    path = mapmean.write_ipc(tmp_arrow(), small, mask=small > 0, batch_rows=1)
    assert_same(mean_of(path), exact_mean(small, ~(small > 0)))


def test_validity_bitmap_with_no_nulls(values):
    validity = pa.py_buffer(np.full((values.size + 7) // 8, 0xFF, dtype=np.uint8).tobytes())
    arr = pa.Array.from_buffers(pa.float32(), values.size, [validity, pa.py_buffer(values.tobytes())], null_count=0)
    assert_same(mean_of(arr), exact_mean(values))
    assert_same(mean_of(arr, skip_nulls=False), exact_mean(values))


def test_numpy_zero_stride_broadcast_view():
    view = np.broadcast_to(np.float32(0.1), (1000, 3))
    assert view.strides == (0, 0)
    assert mean_of(view) == float(F32(0.1))


def test_numpy_memmap(values, tmp_path):
    raw = tmp_path / "raw.f32"
    values.tofile(raw)
    mm = np.memmap(raw, dtype=F32, mode="r")
    assert_same(mean_of(mm), exact_mean(values))
    assert_same(mean_of(mm[::-7]), exact_mean(np.ascontiguousarray(values[::-7])))
    del mm


def test_numpy_masked_array_with_a_scalar_mask(values):
    assert mean_of(np.ma.masked_array(values, mask=True)) is None
    assert_same(mean_of(np.ma.masked_array(values, mask=False)), exact_mean(values))


@pytest.mark.parametrize("threads", [1, 2, 4])
def test_large_non_contiguous_numpy_views_split_across_threads(rng, threads):
    base = (rng.standard_normal(3_000_000) * 10.0 ** rng.uniform(-20, 20, 3_000_000)).astype(F32)
    grid = base.reshape(1000, 3000)
    for view in (base[::-1], base[1::3], grid.T, grid[::-2, ::5]):
        want = exact_mean(np.ascontiguousarray(view))
        assert_same(mean_of(view, threads=threads), want, f"threads={threads} strides={view.strides}")


def test_polars_dataframe_with_several_chunks(values):
    df = pl.concat([pl.DataFrame({"x": values[:10]}), pl.DataFrame({"x": values[10:]})], rechunk=False)
    assert df.n_chunks() == 2
    assert_same(mean_of(df, "x"), exact_mean(values))


def test_concurrent_calls_from_python_threads(values, valid, tmp_arrow):
    from concurrent.futures import ThreadPoolExecutor

    path = mapmean.write_ipc(tmp_arrow(), values, mask=~valid, batch_rows=2000)
    arr = pa.array(values, mask=~valid)
    want = exact_mean(values, valid)
    jobs = [path, arr, np.ma.masked_array(values, mask=~valid)] * 8
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda s: mapmean.mean(s, threads=2).as_py(), jobs))
    for got in results:
        assert_same(got, want)


def test_arrow_source_is_not_consumed_by_mean_of_a_table(values):
    table = pa.table({"x": values})
    first = mean_of(table, "x")
    second = mean_of(table, "x")
    assert_same(first, second)


def test_directories_globs_and_lists_are_datasets_in_every_call(tmp_path):
    """mean, sum, variance, stddev, min, max and the state calls take a
    directory, a glob or a list of paths, with the dataset semantics of
    open and scan: the same bits as the values in one array."""
    rng = np.random.default_rng(7)
    parts = [rng.standard_normal(1000 + i) * 10.0**i for i in range(4)]
    sub = tmp_path / "nested"
    sub.mkdir()
    paths = []
    for i, values in enumerate(parts):
        path = (sub if i % 2 else tmp_path) / f"part{i}.arrow"
        mapmean.write_ipc(path, {"x": values})
        paths.append(path)
    whole = pa.chunked_array([pa.array(v) for v in parts])
    pattern = str(tmp_path / "part*.arrow")  # the two parts at the top level
    top = pa.chunked_array([pa.array(parts[0]), pa.array(parts[2])])
    for name in ("mean", "sum", "variance", "stddev", "min", "max"):
        fn = getattr(mapmean, name)
        want = fn(whole).as_py()
        assert fn(tmp_path, "x").as_py() == want, name
        assert fn(str(tmp_path), "x").as_py() == want, name
        assert fn([str(p) for p in paths], "x").as_py() == want, name
        assert fn(pattern, "x").as_py() == fn(top).as_py(), name
    with mapmean.open(tmp_path) as data:
        assert mapmean.mean(tmp_path, "x").as_py() == data.mean("x").as_py()
    state = mapmean.mean_state(tmp_path, "x")
    assert state.count == sum(len(v) for v in parts)
    with pytest.raises(ValueError, match="matches no file"):
        mapmean.mean(str(tmp_path / "none*.arrow"))
