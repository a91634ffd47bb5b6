"""Datasets of many files (mapmean.scan) and mergeable states (mapmean.MeanState)."""

from __future__ import annotations

import pickle

import mapmean
import numpy as np
import pyarrow as pa
import pyarrow.feather as feather
import pytest
from exact import assert_same, exact_mean

F32 = np.float32


def _parts(rng: np.random.Generator, n: int) -> list[np.ndarray]:
    scales = [1e-30, 1.0, 1e4, 3e37]
    return [(rng.standard_normal(rng.integers(1, 5000)) * scales[i % 4]).astype(F32) for i in range(n)]


def test_scan_of_a_directory_equals_the_exact_mean_of_the_concatenation(tmp_path, rng):
    parts = _parts(rng, 9)
    (tmp_path / "sub").mkdir()
    for i, part in enumerate(parts):
        folder = tmp_path / "sub" if i % 3 == 0 else tmp_path
        mapmean.write_ipc(folder / f"part-{i:02}.arrow", {"x": part, "y": part * F32(2)})
    table = mapmean.scan(tmp_path)
    assert table.column_names == ["column", "count", "null_count", "nan_count", "mean"]
    assert table.column("column").to_pylist() == ["x", "y"]
    whole = np.concatenate(parts)
    assert_same(table.column("mean")[0].as_py(), exact_mean(whole))
    assert_same(table.column("mean")[1].as_py(), exact_mean(whole * F32(2)))
    assert table.column("count")[0].as_py() == len(whole)


def test_scan_by_source_gives_one_row_per_file_and_column(tmp_path, rng):
    parts = _parts(rng, 3)
    paths = [mapmean.write_ipc(tmp_path / f"p{i}.arrow", p) for i, p in enumerate(parts)]
    table = mapmean.scan([str(p) for p in paths], "values", by_source=True, threads=1)
    assert table.column_names[0] == "source"
    assert table.column("source").to_pylist() == [str(p) for p in paths]
    for row, part in zip(table.to_pylist(), parts):
        assert_same(row["mean"], exact_mean(part))


def test_scan_with_a_glob_and_columns_common_to_all_sources(tmp_path):
    mapmean.write_ipc(tmp_path / "a.arrow", {"x": np.ones(3, F32), "only_a": np.ones(3, F32)})
    mapmean.write_ipc(tmp_path / "b.arrow", {"x": np.zeros(1, F32)})
    table = mapmean.scan(str(tmp_path / "*.arrow"))
    assert table.column("column").to_pylist() == ["x"]
    assert table.column("mean").to_pylist() == [0.75]


def test_scan_stops_at_a_bad_source_and_names_it(tmp_path):
    mapmean.write_ipc(tmp_path / "a.arrow", np.ones(3, F32))
    (tmp_path / "b.arrow").write_bytes(b"not arrow at all")
    with pytest.raises(ValueError, match="b.arrow"):
        mapmean.scan(tmp_path)
    with pytest.raises(FileNotFoundError):
        mapmean.scan([tmp_path / "a.arrow", tmp_path / "missing.arrow"])
    with pytest.raises(KeyError, match="nope"):
        mapmean.scan(tmp_path / "a.arrow", "nope")


def test_mean_state_merges_exactly_across_sources_and_pickles(tmp_path, rng):
    parts = _parts(rng, 4)
    path = mapmean.write_ipc(tmp_path / "p.arrow", parts[0])
    states = [
        mapmean.mean_state(path),
        mapmean.mean_state(pa.array(parts[1])),
        mapmean.mean_state(parts[2][::-1]),
        pickle.loads(pickle.dumps(mapmean.mean_state(np.ma.masked_array(parts[3])))),
    ]
    total = mapmean.MeanState()
    for state in reversed(states):
        total.merge(state)
    assert total.count == sum(len(p) for p in parts)
    assert_same(total.finish().as_py(), exact_mean(np.concatenate(parts)))
    assert mapmean.MeanState.from_bytes(total.to_bytes()) == total
    assert pickle.loads(pickle.dumps(total)) == total


def test_mean_state_follows_the_null_rules_and_has_an_arrow_form():
    values = np.array([1.0, np.nan, 4.0, np.inf], dtype=F32)
    state = mapmean.mean_state(np.ma.masked_array(values, mask=[False, False, False, True]))
    assert (state.count, state.null_count, state.nan_count) == (3, 1, 1)
    assert isinstance(state.finish(), pa.DoubleScalar)  # as mapmean.mean returns
    assert np.isnan(state.finish().as_py())
    assert state.finish(skip_nulls=False).as_py() is None
    assert state.finish(min_count=4).as_py() is None
    batch = state.to_arrow("v")
    assert isinstance(batch, pa.RecordBatch)
    assert batch.to_pylist()[0]["column"] == "v" and batch.to_pylist()[0]["null_count"] == 1
    assert mapmean.MeanState().finish().equals(mapmean.mean(pa.array([], pa.float32())))
    assert "count=3" in repr(state)


def test_scan_takes_in_memory_frames_and_streams_like_files(tmp_path):
    """scan of a pyarrow table, a polars or pandas frame, or a one-shot
    RecordBatchReader gives the same table as scan of the same data in a file,
    every numeric column in one pass."""
    import pandas as pd
    import polars as pl

    rng = np.random.default_rng(3)
    n = 5000
    table = pa.table(
        {
            "x": pa.array(rng.standard_normal(n).astype(np.float32), mask=rng.random(n) < 0.1),
            "y": pa.array(rng.standard_normal(n) * 1e300),
            "i": pa.array(rng.integers(-(2**40), 2**40, n)),
            "s": pa.array([str(k) for k in range(n)]),
        }
    )
    path = tmp_path / "t.arrow"
    feather.write_feather(table, path, compression="uncompressed")
    stats = ["mean", "sum", "variance", "stddev", "min", "max"]
    want = mapmean.scan(path, statistics=stats)
    assert want.column("column").to_pylist() == ["x", "y", "i"]
    reader = pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=700))
    for source in (table, pl.from_arrow(table), reader):
        got = mapmean.scan(source, statistics=stats)
        assert got.equals(want), type(source).__name__
    assert mapmean.scan(table, ["y", "x"]).column("column").to_pylist() == ["y", "x"]
    # pandas: NaN is missing, as in pandas' own mean.
    frame = pd.DataFrame({"x": np.array([1.0, np.nan, 2.0, 4.0], dtype=np.float32)})
    row = mapmean.scan(frame).to_pylist()[0]
    assert (row["count"], row["null_count"], row["mean"]) == (3, 1, 7 / 3)
    with pytest.raises(TypeError, match="numeric"):
        mapmean.scan(table, "s")
    with pytest.raises(ValueError, match="by_source"):
        mapmean.scan(table, by_source=True)
    with pytest.raises(TypeError, match="scan needs paths"):
        mapmean.scan(5)
