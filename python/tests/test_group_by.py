"""mapmean.group_by: exact statistics per group, against an exact oracle
(Fractions per group), against the ungrouped calls on each group's rows, and
against pyarrow's own group_by where pyarrow is exact (small integers); every
source kind, key type, thread count and chunking gives the same table."""

from __future__ import annotations

import io
import math
import os
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import mapmean
from exact import assert_same, exact_mean

STATISTICS = ("mean", "sum", "variance", "stddev", "min", "max")


def adversarial_table(rng: np.random.Generator, n: int, groups: int, dtype=np.float32) -> pa.Table:
    """Keys 0..groups-1 (and null), values that cancel (±3e37 around small
    ones), with nulls."""
    keys = rng.integers(0, groups, n).astype(np.int32)
    big = np.float32(3e37) if dtype == np.float32 else 1e300
    values = rng.standard_normal(n).astype(dtype)
    values[::7] = big
    values[3::7] = -big
    key_valid = rng.random(n) > 0.02
    value_valid = rng.random(n) > 0.1
    return pa.table(
        {
            "g": pa.array(keys, mask=~key_valid),
            "x": pa.array(values, mask=~value_valid),
        }
    )


def sorted_by_key(table: pa.Table, key: str) -> pa.Table:
    """``table`` sorted by ``key``, ascending, nulls last."""
    values = table[key].to_pylist()
    order = sorted(range(len(values)), key=lambda i: (values[i] is None, values[i] if values[i] is not None else 0))
    return table.take(pa.array(order, pa.int64()))


def same_table(a: pa.Table, b: pa.Table) -> bool:
    """Bitwise equality of two tables, NaN included (``Table.equals`` says NaN != NaN)."""
    if a.schema != b.schema or a.num_rows != b.num_rows:
        return False
    for x, y in zip(a.columns, b.columns):
        x, y = x.combine_chunks(), y.combine_chunks()
        if pa.types.is_floating(x.type):
            if x.is_null().to_pylist() != y.is_null().to_pylist():
                return False
            bits = lambda c: np.asarray(c.fill_null(0).to_numpy(zero_copy_only=False)).view(np.uint64 if c.type.bit_width == 64 else np.uint32)
            if not np.array_equal(bits(x), bits(y)):
                return False
        elif not x.equals(y):
            return False
    return True


def rows_of(table: pa.Table, key) -> pa.Array:
    g = table["g"]
    mask = pc.is_null(g) if key is None else pc.equal(g, key)
    return table.filter(pc.fill_null(mask, False))["x"].combine_chunks()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_group_means_are_the_correctly_rounded_exact_means(rng, dtype):
    table = adversarial_table(rng, 20_000, 60, dtype)
    result = mapmean.group_by(table, "g").mean("x")
    assert result.column_names == ["g", "x_mean"]
    keys = result["g"].to_pylist()
    assert keys == sorted(k for k in keys if k is not None) + [None]
    for key, got in zip(keys, result["x_mean"].to_pylist()):
        x = rows_of(table, key)
        values = x.to_numpy(zero_copy_only=False)
        valid = ~np.asarray(x.is_null())
        want = exact_mean(np.where(valid, values, 0).astype(dtype), valid)
        assert_same(got, want, f"group {key}")


def test_cancelling_groups_are_exact_where_peers_are_not():
    n = 3000
    x = np.tile(np.array([3e37, 0.75, -3e37], dtype=np.float32), n)
    g = np.repeat(np.arange(n // 3, dtype=np.int64), 9)
    table = pa.table({"g": g, "x": x})
    result = mapmean.group_by(table, "g").mean("x")
    assert set(result["x_mean"].to_pylist()) == {0.25}
    naive = table.group_by("g").aggregate([("x", "mean")])["x_mean"].to_pylist()
    assert set(naive) != {0.25}  # pyarrow sums naively


@pytest.mark.parametrize(
    "values",
    [
        pa.array([1.5, None, -2.0, float("nan"), 3.0, float("inf"), 7.0, None, 1e300, -1e300], pa.float64()),
        pa.array([1.5, None, -2.0, 4.0, 3.0, 0.25, 7.0, None, 3e37, -3e37], pa.float32()),
        pa.array([1.5, None, -2.0, 4.0, 3.0, 0.25, 7.0, None, 1.0, 2.0], pa.float16()),
        pa.array([2**62, None, -5, 2**62, 3, 2**62, 7, None, -(2**63), 9], pa.int64()),
        pa.array([200, None, 5, 255, 3, 0, 7, None, 1, 9], pa.uint8()),
        pa.array([2**64 - 1, None, 5, 2**63, 3, 0, 7, None, 1, 9], pa.uint64()),
    ],
    ids=lambda a: str(a.type),
)
def test_every_statistic_per_group_is_the_ungrouped_statistic_of_its_rows(values):
    keys = pa.array(["b", "a", "b", "c", "a", "b", "c", "d", "a", "c"])
    table = pa.table({"g": keys, "x": values})
    grouped = mapmean.group_by(table, "g")
    aggregations = [("x", s) for s in STATISTICS] + [("x", "variance", {"ddof": 1})]
    try:
        result = grouped.aggregate(aggregations)
    except OverflowError:
        # An integer group sum beyond int64: the same as the ungrouped sum.
        aggregations = [a for a in aggregations if a[1] != "sum"]
        result = grouped.aggregate(aggregations)
    names = [f"x_{a[1]}" for a in aggregations]
    assert result.column_names == ["g"] + names
    for row, key in enumerate(result["g"].to_pylist()):
        rows = table.filter(pc.equal(table["g"], key))
        for i, (column, statistic, *options) in enumerate(aggregations):
            name = names[i]
            kwargs = options[0] if options else {}
            want = getattr(mapmean, statistic)(rows, column, **kwargs).as_py()
            got = result.column(i + 1)[row].as_py()
            if isinstance(want, float) and math.isnan(want):
                assert math.isnan(got), (key, name)
            else:
                assert got == want, (key, name, got, want)


def test_null_and_empty_groups_follow_pyarrow():
    table = pa.table(
        {
            "g": pa.array([1, 1, 2, 2, 3, None, None], pa.int16()),
            "x": pa.array([1, 2, None, None, 5, 4, None], pa.int32()),
        }
    )
    aggregations = [("x", s) for s in STATISTICS] + [
        ("x", "stddev", pc.VarianceOptions(ddof=1)),
        ("x", "sum", pc.ScalarAggregateOptions(min_count=0)),
        ("x", "mean", pc.ScalarAggregateOptions(skip_nulls=False)),
    ]
    ours = mapmean.group_by(table, "g").aggregate(aggregations)
    # pyarrow names repeated statistics alike; compare column by column.
    theirs = sorted_by_key(table.group_by("g").aggregate(aggregations), "g")
    assert ours["g"].to_pylist() == [1, 2, 3, None]
    for i in range(len(aggregations)):
        assert ours.column(i + 1).to_pylist() == theirs.column(i + 1).to_pylist(), aggregations[i]
        assert ours.column(i + 1).type == theirs.column(i + 1).type, aggregations[i]


@pytest.mark.parametrize(
    "keys",
    [
        pa.array(["b", "a", None, "b", "ccc"]),
        pa.array(["b", "a", None, "b", "ccc"], pa.large_string()),
        pa.array(["b", "a", None, "b", "ccc"], pa.string_view()),
        pa.array(["b", "a", None, "b", "ccc"]).dictionary_encode(),
        pa.array([True, False, None, True, True]).cast(pa.bool_()),
        pa.array([3, 1, None, 3, 9], pa.date32()),
        pa.array([3, 1, None, 3, 9], pa.timestamp("us", tz="UTC")),
        pa.array([3, 1, None, 3, 9], pa.int8()),
        pa.array([2**64 - 1, 1, None, 2**64 - 1, 9], pa.uint64()),
        pa.array([-3, 1, None, -3, 9], pa.int64()),
    ],
    ids=lambda a: str(a.type),
)
def test_keys_of_every_type_sort_ascending_with_nulls_last(keys):
    table = pa.table({"k": keys, "x": pa.array([1.0, 2.0, 4.0, 3.0, 8.0])})
    result = mapmean.group_by(table, "k").mean("x")
    theirs = table.group_by("k").aggregate([("x", "mean")])
    if pa.types.is_dictionary(theirs["k"].type):
        theirs = theirs.set_column(0, "k", theirs["k"].cast(theirs["k"].type.value_type))
    if theirs["k"].type == pa.string_view():
        theirs = theirs.set_column(0, "k", theirs["k"].cast(pa.string()))
    theirs = sorted_by_key(theirs, "k")
    assert result["x_mean"].to_pylist() == theirs["x_mean"].to_pylist()
    assert result["k"].to_pylist() == theirs["k"].to_pylist()


def test_categorical_and_string_keys_group_by_value_in_every_layout(tmp_path, rng):
    """Strings of every length, as utf8, large_utf8 and utf8_view; pandas
    categoricals (dictionaries with unused and null categories) in chunks with
    different dictionaries; an IPC file whose batches share one dictionary:
    the same groups, keys and bits as the plain strings, for 1 and 3 threads."""
    import pandas as pd

    words = ["", "a", "b" * 7, "c" * 8, "d" * 12, "e" * 16, "f" * 17, "g" * 40, "é∂", "a\x00b"]
    n = 60_000
    picks = rng.integers(0, len(words) + 1, n)
    keys = [None if p == len(words) else words[p] for p in picks]
    x = rng.standard_normal(n).astype(np.float32) * 1e3
    x[::7] = np.float32(3e37)
    x[3::7] = np.float32(-3e37)
    expected = mapmean.group_by(pa.table({"k": pa.array(keys), "x": x}), "k").aggregate(
        [("x", "mean"), ("x", "sum"), ("x", "max")]
    )
    assert expected["k"].to_pylist() == sorted(set(words) & set(keys)) + [None]
    cat = pd.Categorical(keys, categories=words + ["never used"])
    chunks = [
        pa.array(pd.Categorical(keys[i : i + 7000], categories=(words + ["never used"])[:: (i // 7000) % 2 * 2 - 1]))
        for i in range(0, n, 7000)
    ]
    layouts = {
        "large": pa.array(keys, pa.large_string()),
        "view": pa.array(keys, pa.string_view()),
        "categorical": pa.array(cat),
        "chunks": pa.chunked_array(chunks),
    }
    for name, column in layouts.items():
        table = pa.table({"k": column, "x": x})
        for threads in (1, 3):
            got = mapmean.group_by(table, "k", threads=threads).aggregate(
                [("x", "mean"), ("x", "sum"), ("x", "max")]
            )
            assert got["k"].to_pylist() == expected["k"].to_pylist(), name
            assert got.select(["x_mean", "x_sum", "x_max"]) == expected.select(["x_mean", "x_sum", "x_max"]), name
    path = tmp_path / "cat.arrow"
    table = pa.table({"k": pa.array(cat), "x": x})
    with pa.OSFile(str(path), "wb") as f, pa.ipc.new_file(f, table.schema) as w:
        for batch in table.to_batches(max_chunksize=5000):
            w.write_batch(batch)
    got = mapmean.group_by(path, "k").aggregate([("x", "mean"), ("x", "sum"), ("x", "max")])
    # The keys come back as the dictionary's values (large_string here).
    assert got["k"].to_pylist() == expected["k"].to_pylist()
    assert got.select(["x_mean", "x_sum", "x_max"]) == expected.select(["x_mean", "x_sum", "x_max"])


def test_several_keys(rng):
    n = 5000
    table = pa.table(
        {
            "a": rng.integers(0, 5, n),
            "b": pa.array(rng.choice(["x", "y", "z"], n)),
            "v": rng.standard_normal(n),
        }
    )
    ours = mapmean.group_by(table, ["a", "b"]).aggregate([("v", "mean"), ("v", "max")])
    assert ours.column_names == ["a", "b", "v_mean", "v_max"]
    pairs = list(zip(ours["a"].to_pylist(), ours["b"].to_pylist()))
    assert pairs == sorted(pairs) and len(pairs) == 15
    for (a, b), mean in zip(pairs, ours["v_mean"].to_pylist()):
        rows = table.filter(pc.and_(pc.equal(table["a"], a), pc.equal(table["b"], b)))
        assert mean == mapmean.mean(rows, "v").as_py()


def test_the_result_is_bitwise_the_same_for_threads_and_chunkings(rng):
    n = 3 * (1 << 20) + 1234
    table = pa.table(
        {
            "g": rng.integers(0, 1000, n).astype(np.int32),
            "x": (rng.standard_normal(n) * 10.0 ** rng.integers(-30, 30, n)).astype(np.float64),
        }
    )
    aggregations = [("x", "mean"), ("x", "stddev", {"ddof": 1}), ("x", "sum")]
    one = mapmean.group_by(table, "g", threads=1).aggregate(aggregations)
    for threads in (2, 3, None):
        assert mapmean.group_by(table, "g", threads=threads).aggregate(aggregations).equals(one)
    rechunked = pa.Table.from_batches(table.to_batches(max_chunksize=77_777))
    assert mapmean.group_by(rechunked, "g").aggregate(aggregations).equals(one)
    reversed_rows = table.take(np.arange(n)[::-1])
    assert mapmean.group_by(reversed_rows, "g").aggregate(aggregations).equals(one)


def test_every_source_gives_the_same_table(tmp_path, rng):
    table = adversarial_table(rng, 50_000, 100)
    want = mapmean.group_by(table, "g").aggregate([("x", "mean"), ("x", "variance")])
    aggregations = [("x", "mean"), ("x", "variance")]

    def check(source, **kw):
        got = mapmean.group_by(source, "g", **kw).aggregate(aggregations)
        assert got.equals(want), type(source)

    parts = [table.slice(0, 20_000), table.slice(20_000, 10_000), table.slice(30_000)]
    (tmp_path / "d").mkdir()
    with pa.OSFile(str(tmp_path / "d" / "a.arrow"), "wb") as f, pa.ipc.new_file(f, table.schema) as w:
        w.write_table(parts[0], max_chunksize=5000)
    pq.write_table(parts[1], tmp_path / "d" / "b.parquet", row_group_size=3000)
    with pa.OSFile(str(tmp_path / "d" / "c.arrows"), "wb") as f, pa.ipc.new_stream(f, table.schema) as w:
        w.write_table(parts[2])
    check(tmp_path / "d")
    check(str(tmp_path / "d" / "*"))
    check(sorted(str(p) for p in (tmp_path / "d").iterdir()))
    with mapmean.open(tmp_path / "d") as data:
        check(data)
    whole = tmp_path / "whole.parquet"
    pq.write_table(table, whole, row_group_size=7000)
    check(whole)
    check(str(whole), threads=1)
    ipc = tmp_path / "whole.arrow"
    with pa.OSFile(str(ipc), "wb") as f, pa.ipc.new_file(f, table.schema) as w:
        w.write_table(table, max_chunksize=9999)
    check(ipc)
    with open(ipc, "rb") as f:
        check(f)
    check(table.combine_chunks().to_batches()[0])
    check(pa.RecordBatchReader.from_batches(table.schema, iter(table.to_batches(max_chunksize=4096))))
    pl = pytest.importorskip("polars")
    check(pl.from_arrow(table))
    duckdb = pytest.importorskip("duckdb")
    check(duckdb.from_arrow(table))


def test_shared_memory_segments(rng):
    data = {"g": rng.integers(0, 50, 10_000).astype(np.int16), "x": rng.standard_normal(10_000)}
    want = mapmean.group_by(data, "g").aggregate([("x", "mean"), ("x", "max")])
    shared = mapmean.share(data)
    try:
        assert mapmean.group_by(shared, "g").aggregate([("x", "mean"), ("x", "max")]).equals(want)
        assert mapmean.group_by("shm://" + shared.name, "g").aggregate([("x", "mean"), ("x", "max")]).equals(want)
    finally:
        shared.close()


def test_numpy_mappings_and_pandas_frames():
    pd = pytest.importorskip("pandas")
    g = np.array([1, 2, 1, 2], dtype=np.int64)
    x = np.array([1.0, np.nan, 2.0, 4.0], dtype=np.float32)
    # numpy: NaN is a value, as in numpy.mean.
    result = mapmean.group_by({"g": g, "x": x}, "g").mean("x")
    assert result["x_mean"].to_pylist()[0] == 1.5 and math.isnan(result["x_mean"].to_pylist()[1])
    # pandas: NaN is missing, as pandas' own groupby().mean() treats it.
    frame = pd.DataFrame({"g": g, "x": x})
    result = mapmean.group_by(frame, "g").mean("x")
    assert result["x_mean"].to_pylist() == [1.5, 4.0]
    assert result["x_mean"].to_pylist() == frame.groupby("g")["x"].mean().astype(float).tolist()
    masked = np.ma.masked_array(x, mask=[False, True, False, False])
    assert mapmean.group_by({"g": g, "x": masked}, "g").mean("x")["x_mean"].to_pylist() == [1.5, 4.0]
    strings = np.array(["b", "a", "b", "a"])
    assert mapmean.group_by({"s": strings, "x": g}, "s").sum("x").to_pydict() == {"s": ["a", "b"], "x_sum": [4, 2]}


def test_states_merge_exactly_across_parts(rng):
    table = adversarial_table(rng, 30_000, 500, np.float64)
    aggregations = [("x", "mean"), ("x", "stddev", {"ddof": 1}), ("x", "min")]
    whole = mapmean.group_by(table, "g").aggregate(aggregations)
    parts = [table.slice(i, 7000) for i in range(0, table.num_rows, 7000)]
    states = [mapmean.group_by(p, "g").states("x", kind="all") for p in parts]
    assert states[0].column_names == ["g", "x_state"]
    assert mapmean.merge_group_states(states, "g", aggregations).equals(whole)
    merged = mapmean.merge_group_states(states[::-1], "g", kind="all")
    assert mapmean.merge_group_states([merged], "g", aggregations).equals(whole)
    # A state's bytes are the MeanState / MomentsState byte form.
    first = mapmean.group_by(table, "g").states("x", kind="moments")
    state = mapmean.MomentsState.from_bytes(first["x_state"][0].as_py())
    rows = rows_of(table, first["g"][0].as_py())
    assert state.finish().as_py() == mapmean.mean(rows).as_py()


def test_a_million_groups(rng):
    n = 2_000_000
    keys = rng.permutation(np.repeat(np.arange(1_000_000, dtype=np.int64), 2))
    x = rng.standard_normal(n).astype(np.float32)
    result = mapmean.group_by({"g": keys, "x": x}, "g").mean("x")
    assert result.num_rows == 1_000_000
    assert result["g"].to_pylist()[:3] == [0, 1, 2]
    sums = np.zeros(1_000_000)
    np.add.at(sums, keys, x.astype(np.float64))  # two float32 values: an exact f64 sum
    np.testing.assert_array_equal(result["x_mean"].to_numpy(), sums / 2)


def test_errors_name_the_problem(tmp_path):
    table = pa.table({"g": [1, 2], "s": ["a", "b"], "x": [1.0, 2.0]})
    with pytest.raises(KeyError, match="nope"):
        mapmean.group_by(table, "nope").mean("x")
    with pytest.raises(KeyError, match="nope"):
        mapmean.group_by(table, "g").mean("nope")
    with pytest.raises(TypeError, match="s"):
        mapmean.group_by(table, "g").mean("s")
    with pytest.raises(ValueError, match="unknown statistic 'median'"):
        mapmean.group_by(table, "g").aggregate([("x", "median")])
    with pytest.raises(TypeError, match="aggregation"):
        mapmean.group_by(table, "g").aggregate(["x"])
    with pytest.raises(ValueError, match="group key"):
        mapmean.group_by(table, "g").mean("g")
    with pytest.raises(TypeError, match="keys"):
        mapmean.group_by(table, 3)
    with pytest.raises(ValueError, match="threads"):
        mapmean.group_by(table, "g", threads=0).mean("x")
    with pytest.raises(TypeError, match="ddof applies"):
        mapmean.group_by(table, "g").aggregate([("x", "mean", {"ddof": 1})])
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    pq.write_table(pa.table({"g": pa.array([1], pa.int32()), "x": [1.0]}), a)
    pq.write_table(pa.table({"g": pa.array(["1"]), "x": [1.0]}), b)
    with pytest.raises(TypeError, match='group key "g"'):
        mapmean.group_by([a, b], "g").mean("x")
    with pytest.raises(OverflowError):
        mapmean.group_by(pa.table({"g": [1, 1], "x": [2**62, 2**62]}), "g").sum("x")
    with pytest.raises(TypeError, match="group_by"):
        mapmean.GroupBy()


def test_pyarrow_option_objects_and_hash_names():
    table = pa.table({"g": [1, 1, 2], "x": [1.0, 3.0, None]})
    result = mapmean.group_by(table, "g").aggregate(
        [("x", "hash_variance", pc.VarianceOptions(ddof=1)), ("x", "mean", pc.ScalarAggregateOptions(min_count=0))]
    )
    theirs = table.group_by("g").aggregate(
        [("x", "variance", pc.VarianceOptions(ddof=1)), ("x", "mean", pc.ScalarAggregateOptions(min_count=0))]
    )
    # (pyarrow's 0/0 NaN has another sign bit: compare as values.)
    assert result.schema == theirs.schema and str(result.to_pydict()) == str(theirs.to_pydict())


def test_a_stream_is_read_in_bounded_memory(tmp_path):
    """2^26 rows streamed from a generator (256 MiB of float32 values): the
    process grows by far less than the data."""
    code = r"""
import resource, numpy as np, pyarrow as pa, mapmean
def batches():
    rng = np.random.default_rng(1)
    for _ in range(64):
        n = 1 << 20
        yield pa.record_batch({"g": rng.integers(0, 100, n).astype(np.int32),
                               "x": rng.random(n, dtype=np.float32)})
schema = pa.schema([("g", pa.int32()), ("x", pa.float32())])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = mapmean.group_by(pa.RecordBatchReader.from_batches(schema, batches()), "g").mean("x")
assert t.num_rows == 100
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) < 96, f"grew {out.stdout.strip()} MiB"


def test_dask_group_by_merges_partition_states_exactly(tmp_path, rng):
    dask = pytest.importorskip("dask")
    dd = pytest.importorskip("dask.dataframe")
    da = pytest.importorskip("dask.array")
    import mapmean.dask

    pd = pytest.importorskip("pandas")
    n = 40_000
    g = rng.integers(0, 300, n).astype(np.int64)
    x = rng.standard_normal(n) * 10.0 ** rng.integers(-20, 20, n)
    x[::97] = np.nan
    aggregations = [("x", "mean"), ("x", "stddev", {"ddof": 1}), ("x", "max")]
    with dask.config.set(scheduler="sync"):
        # Arrays: NaN is a value, as in numpy.
        want = mapmean.group_by({"g": g, "x": x}, "g").aggregate(aggregations)
        arrays = {"g": da.from_array(g, chunks=7_000), "x": da.from_array(x, chunks=7_000)}
        got = mapmean.dask.group_by(arrays, "g", split_every=3).aggregate(aggregations)
        assert same_table(got, want)
        # A dataframe: NaN is missing, as in pandas.
        frame = pd.DataFrame({"g": g, "x": x})
        want = mapmean.group_by(frame, "g").aggregate(aggregations)
        got = mapmean.dask.group_by(dd.from_pandas(frame, npartitions=5), "g").aggregate(aggregations)
        assert same_table(got, want)
        # Files, IPC and Parquet.
        table = pa.table({"g": g, "x": x})
        for i, start in enumerate(range(0, n, 9_000)):
            part = table.slice(start, 9_000)
            if i % 2:
                pq.write_table(part, tmp_path / f"p{i}.parquet")
            else:
                with pa.OSFile(str(tmp_path / f"p{i}.arrow"), "wb") as f, pa.ipc.new_file(f, part.schema) as w:
                    w.write_table(part)
        want = mapmean.group_by(table, "g").aggregate(aggregations)
        got = mapmean.dask.group_by(tmp_path, "g", files_per_task=2).aggregate(aggregations)
        assert same_table(got, want)
        assert same_table(mapmean.dask.group_by(str(tmp_path), "g").mean("x"), mapmean.group_by(table, "g").mean("x"))


def test_the_command_line_groups_in_every_format(tmp_path, rng, cli):
    import json

    n = 30_000
    table = pa.table(
        {
            "k": pa.array(rng.choice(["b", "a", "c"], n)).cast(pa.string()),
            "g": pa.array(rng.integers(0, 5, n).astype(np.int32), mask=rng.random(n) < 0.05),
            "x": (rng.standard_normal(n) * 1e30).astype(np.float32),
            "y": rng.integers(-(2**40), 2**40, n),
        }
    )
    path = tmp_path / "t.parquet"
    pq.write_table(table, path, row_group_size=4000)
    want = mapmean.group_by(table, ["k", "g"]).aggregate([("x", "mean"), ("y", "mean")])

    def run(*args, stdin=None):
        out = subprocess.run([str(cli), *args], capture_output=True, input=stdin, timeout=120)
        assert out.returncode == 0, out.stderr.decode()
        return out.stdout

    got = pa.ipc.open_stream(run("mean", str(path), "--by", "k,g", "--format", "arrow")).read_all()
    assert got.equals(want)
    rows = [json.loads(line) for line in run("mean", str(path), "--by", "k", "--by", "g", "--format", "json").splitlines()]
    assert [r["k"] for r in rows] == want["k"].to_pylist()
    assert [r["g"] for r in rows] == want["g"].to_pylist()
    assert [r["x_mean"] for r in rows] == want["x_mean"].to_pylist()
    csv = run("mean", str(path), "--by", "k,g", "--format", "csv").decode().splitlines()
    assert csv[0] == "k,g,x_mean,y_mean"
    assert csv[1].startswith("a,0,")
    assert "a" in run("mean", str(path), "--by", "k,g").decode().splitlines()[1]
    # A stream on standard input gives the same table.
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table, max_chunksize=7000)
    got = pa.ipc.open_stream(run("mean", "-", "--by", "k,g", "--format", "arrow", stdin=sink.getvalue().to_pybytes())).read_all()
    assert got.equals(want)
    # stats: every statistic of every column.
    stats = pa.ipc.open_stream(run("stats", str(path), "--by", "g", "--ddof", "1", "-c", "y", "--format", "arrow")).read_all()
    assert stats.column_names == ["g", "y_sum", "y_mean", "y_variance", "y_stddev", "y_min", "y_max"]
    assert stats.equals(
        mapmean.group_by(table, "g").aggregate(
            [("y", "sum"), ("y", "mean"), ("y", "variance", {"ddof": 1}), ("y", "stddev", {"ddof": 1}), ("y", "min"), ("y", "max")]
        )
    )
    bad = subprocess.run([str(cli), "mean", str(path), "--by", "nope"], capture_output=True, text=True)
    assert bad.returncode == 1 and "nope" in bad.stderr and "error:" in bad.stderr
