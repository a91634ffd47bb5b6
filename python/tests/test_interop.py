"""mapmean with data made by polars and pyarrow: exact answers, and pyarrow's
answer where pyarrow's float64 sum is exact (small integer values)."""

from __future__ import annotations

import math

import mapmean
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.feather as feather
from exact import assert_same, exact_mean

F32 = np.float32


def mean_of(source, *args, **kwargs):
    result = mapmean.mean(source, *args, **kwargs)
    assert isinstance(result, pa.DoubleScalar)
    return result.as_py()


def benign(rng, n=10_000):
    """Integer-valued float32 data: pyarrow, polars and numpy are exact on it."""
    return rng.integers(-10_000, 10_000, n).astype(F32)


def test_polars_series_matches_polars_on_benign_data(rng):
    values = benign(rng)
    series = pl.Series("x", values, dtype=pl.Float32)
    assert_same(mean_of(series), float(series.mean()))
    assert_same(mean_of(series), exact_mean(values))


def test_polars_series_with_nulls_matches_polars(rng):
    values = benign(rng)
    valid = rng.random(values.size) < 0.7
    series = pl.Series("x", [float(v) if ok else None for v, ok in zip(values, valid)], dtype=pl.Float32)
    assert series.null_count() == int((~valid).sum())
    assert_same(mean_of(series), float(series.mean()))
    assert_same(mean_of(series), exact_mean(values, valid))


def test_polars_dataframe_column_by_name(rng):
    values = benign(rng)
    df = pl.DataFrame({"id": np.arange(values.size), "x": values, "y": values * 2})
    assert df.schema["x"] == pl.Float32
    assert_same(mean_of(df, "x"), float(df["x"].mean()))
    assert_same(mean_of(df, "y"), exact_mean(values * 2))


def test_polars_slice_and_filter(rng):
    values = (rng.standard_normal(10_000) * 1e25).astype(F32)
    series = pl.Series("x", values)
    assert_same(mean_of(series.slice(3, 5000)), exact_mean(values[3:5003]))
    keep = values > 0
    assert_same(mean_of(series.filter(pl.Series(keep))), exact_mean(values[keep]))


def test_polars_is_inexact_where_mapmean_is_exact():
    values = np.array([3e37, 0.75, -3e37] * 10_000, dtype=F32)
    series = pl.Series("x", values)
    assert mean_of(series) == 0.25
    assert float(series.mean()) != 0.25


def test_polars_written_ipc_file(rng, tmp_arrow):
    values = (rng.standard_normal(20_000) * 10.0 ** rng.uniform(-20, 20, 20_000)).astype(F32)
    path = tmp_arrow()
    pl.DataFrame({"x": values, "n": np.arange(values.size)}).write_ipc(path, compression="uncompressed")
    assert_same(mean_of(path, "x"), exact_mean(values))


def test_polars_written_compressed_ipc_file(rng, tmp_arrow):
    values = (rng.standard_normal(20_000) * 10.0 ** rng.uniform(-20, 20, 20_000)).astype(F32)
    path = tmp_arrow()
    pl.DataFrame({"x": values}).write_ipc(path, compression="zstd")
    assert_same(mean_of(path, "x"), exact_mean(values))


def test_pyarrow_table_from_pydict_matches_pyarrow_on_benign_data(rng):
    values = benign(rng)
    table = pa.Table.from_pydict({"x": pa.array(values, type=pa.float32()), "label": ["a"] * values.size})
    assert_same(mean_of(table, "x"), pc.mean(table.column("x")).as_py())
    assert_same(mean_of(table, "x"), exact_mean(values))


def test_pyarrow_table_from_pydict_of_python_floats_with_nones():
    table = pa.Table.from_pydict(
        {"x": pa.array([1.5, None, 2.5, 4.0, None], type=pa.float32())},
    )
    assert mean_of(table, "x") == pc.mean(table.column("x")).as_py() == 8.0 / 3.0
    assert mean_of(table, "x", skip_nulls=False) is None


def test_file_written_by_pyarrow_read_back(rng, tmp_arrow):
    values = (rng.standard_normal(30_000) * 10.0 ** rng.uniform(-30, 30, 30_000)).astype(F32)
    valid = rng.random(values.size) < 0.8
    table = pa.Table.from_pydict({"x": pa.array(values, mask=~valid), "n": pa.array(np.arange(values.size))})
    path = tmp_arrow()
    with pa.ipc.new_file(path, table.schema) as writer:
        writer.write_table(table, max_chunksize=4096)
    assert_same(mean_of(path, "x"), exact_mean(values, valid))
    # And pyarrow reads back the same column mapmean averaged.
    with pa.ipc.open_file(path) as reader:
        again = reader.read_all().column("x")
    assert_same(mean_of(again), exact_mean(values, valid))


def test_benign_data_agrees_with_pyarrow_from_every_source(rng, tmp_arrow):
    values = benign(rng, 5000)
    valid = rng.random(values.size) < 0.9
    arr = pa.array(values, mask=~valid)
    want = pc.mean(arr).as_py()
    assert want == exact_mean(values, valid)
    path = mapmean.write_ipc(tmp_arrow(), values, mask=~valid, batch_rows=999)
    for source in (arr, path, np.ma.masked_array(values, mask=~valid), pl.from_arrow(arr)):
        assert_same(mean_of(source), want, type(source).__name__)


def test_feather_v2_written_by_pyarrow_default_compression(rng, tmp_arrow):
    values = benign(rng)
    path = tmp_arrow(".feather")
    feather.write_feather(pa.table({"x": values}), path)
    assert_same(mean_of(path, "x"), exact_mean(values))
    assert_same(mean_of(path, "x"), pc.mean(feather.read_table(path).column("x")).as_py())


def test_write_ipc_file_read_by_polars(rng, tmp_arrow):
    values = benign(rng)
    path = mapmean.write_ipc(tmp_arrow(), values, mask=values > 5000)
    df = pl.read_ipc(path)
    assert df.schema["values"] == pl.Float32
    assert df["values"].null_count() == int((values > 5000).sum())
    assert_same(float(df["values"].mean()), mean_of(path))


def test_large_float32_sums_where_pyarrow_rounds(rng):
    values = (rng.standard_normal(100_000) * 10.0 ** rng.uniform(-30, 30, 100_000)).astype(F32)
    got = mean_of(pa.array(values))
    assert_same(got, exact_mean(values))
    # pyarrow's answer is close but need not be exact.
    assert math.isclose(got, pc.mean(pa.array(values)).as_py(), rel_tol=1e-6, abs_tol=1e20)
