"""Parquet files, read wherever an Arrow IPC file is.

Files are written by pyarrow (every compression it writes, dictionary and
plain pages, small row groups and pages), by polars and by DuckDB. Each
result is checked against the exact oracle (``exact.py``) or, for every
statistic and type, against the same data in an Arrow IPC file: the two must
agree bitwise, for every thread count and through every route (one-shot
calls, ``open``, ``scan``, datasets mixing both formats, the CLI, Dask).
"""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import mapmean
import mapmean.dask
import numpy as np
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest
from exact import assert_same, exact_mean

COMPRESSIONS = ("none", "snappy", "gzip", "brotli", "zstd", "lz4")
STATISTICS = ("mean", "sum", "variance", "stddev", "min", "max")
TYPES = ("float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")


def _adversarial(rng: np.random.Generator, n: int, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    """Values that cancel (±big around small ones), wide-ranged values, and a validity mask."""
    big = 3e37 if dtype == "float32" else 1e300
    values = np.empty(n, dtype=dtype)
    values[0::3] = big
    values[1::3] = 0.75
    values[2::3] = -big
    wide = rng.standard_normal(n // 4) * 10.0 ** rng.integers(-30, 30, n // 4)
    values[: n // 4] = np.where(np.arange(n // 4) % 3 == 1, wide, values[: n // 4]).astype(dtype)
    valid = rng.random(n) > 0.1
    return values, valid


def _write_both(tmp_path: Path, table: pa.Table, name: str = "t", **parquet_options) -> tuple[Path, Path]:
    parquet = tmp_path / f"{name}.parquet"
    ipc = tmp_path / f"{name}.arrow"
    pq.write_table(table, parquet, **parquet_options)
    feather.write_feather(table, ipc, compression="uncompressed")
    return parquet, ipc


@pytest.mark.parametrize("compression", COMPRESSIONS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("dictionary", [True, False])
def test_every_compression_gives_the_exact_mean(tmp_path, rng, compression, dtype, dictionary):
    values, valid = _adversarial(rng, 30_000, dtype)
    table = pa.table({"x": pa.array(values, mask=~valid)})
    parquet, ipc = _write_both(
        tmp_path,
        table,
        compression=compression,
        use_dictionary=dictionary,
        row_group_size=7_000,
        data_page_size=4096,
    )
    want = exact_mean(values, valid)
    for threads in (None, 1, 2, 3):
        assert_same(mapmean.mean(parquet, "x", threads=threads).as_py(), want, f"{compression} threads={threads}")
    for statistic in STATISTICS:
        got = getattr(mapmean, statistic)(parquet, "x").as_py()
        assert_same(got, getattr(mapmean, statistic)(ipc, "x").as_py(), statistic)


@pytest.mark.parametrize("dtype", TYPES)
def test_every_numeric_type_agrees_with_the_ipc_file_bitwise(tmp_path, rng, dtype):
    info = np.finfo(dtype) if dtype.startswith("float") else np.iinfo(dtype)
    n = 20_000
    if dtype.startswith("float"):
        values = (rng.standard_normal(n) * (float(info.max) / 8)).astype(dtype)
    else:
        values = rng.integers(info.min, info.max, n, dtype=dtype, endpoint=True)
    valid = rng.random(n) > 0.2
    table = pa.table({"v": pa.array(values, mask=~valid), "s": pa.array([str(i) for i in range(n)])})
    parquet, ipc = _write_both(tmp_path, table, row_group_size=3_000)
    for statistic in STATISTICS:
        want = _outcome(statistic, ipc, None)
        for threads in (1, 2):
            got = _outcome(statistic, parquet, threads)
            if isinstance(want, pa.Scalar) and isinstance(got, pa.Scalar):
                assert got.type == want.type, statistic
                if isinstance(want.as_py(), float):
                    assert_same(got.as_py(), want.as_py(), f"{dtype} {statistic} threads={threads}")
                else:
                    assert got.as_py() == want.as_py(), f"{dtype} {statistic} threads={threads}"
            else:
                assert got == want, f"{dtype} {statistic} threads={threads}"


def _outcome(statistic: str, path: Path, threads):
    """The statistic's scalar, or the type of the error it raised (an exact int64 sum may overflow)."""
    try:
        return getattr(mapmean, statistic)(path, "v", threads=threads)
    except OverflowError as e:
        return type(e)


def test_written_by_polars_and_duckdb(tmp_path, rng):
    polars = pytest.importorskip("polars")
    duckdb = pytest.importorskip("duckdb")
    values, valid = _adversarial(rng, 50_000, "float64")
    x = [float(v) if ok else None for v, ok in zip(values, valid)]
    want = exact_mean(values, valid)
    by_polars = tmp_path / "polars.parquet"
    polars.DataFrame({"x": x, "n": np.arange(len(x))}).write_parquet(by_polars, row_group_size=9_000)
    by_duckdb = tmp_path / "duckdb.parquet"
    con = duckdb.connect()
    con.register("t", pa.table({"x": pa.array(x, pa.float64())}))
    con.execute(f"COPY t TO '{by_duckdb}' (FORMAT parquet, ROW_GROUP_SIZE 10000)")
    for path in (by_polars, by_duckdb):
        assert_same(mapmean.mean(path, "x").as_py(), want, path.name)
    assert mapmean.sum(by_polars, "n").as_py() == sum(range(len(x)))


def test_a_dataset_mixes_parquet_and_ipc_through_every_route(tmp_path, rng, cli):
    values, valid = _adversarial(rng, 40_000, "float32")
    parts = np.array_split(np.arange(values.size), 4)
    data = tmp_path / "data"
    data.mkdir()
    for i, index in enumerate(parts):
        table = pa.table({"x": pa.array(values[index], mask=~valid[index]), "label": pa.array(["a"] * index.size)})
        if i % 2:
            pq.write_table(table, data / f"part-{i}.parquet", row_group_size=3_000)
        else:
            feather.write_feather(table, data / f"part-{i}.arrow", compression="uncompressed")
    want = exact_mean(values, valid)
    assert_same(mapmean.mean(data, "x").as_py(), want, "mean(dir)")
    assert_same(mapmean.mean(str(data / "part-*"), "x").as_py(), want, "mean(glob)")
    with mapmean.open(data) as opened:
        assert len(opened.sources) == 4
        assert_same(opened.mean("x").as_py(), want, "open")
        assert_same(opened.mean("x", threads=1).as_py(), want, "open, again")
    scanned = mapmean.scan(data)
    assert scanned.column("column").to_pylist() == ["x"]
    assert_same(scanned.column("mean")[0].as_py(), want, "scan")
    assert_same(mapmean.dask.mean(sorted(str(p) for p in data.iterdir()), "x").as_py(), want, "dask")
    proc = subprocess.run(
        [str(cli), "mean", str(data), "--column", "x", "--format", "json"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert_same(json.loads(proc.stdout)["mean"], want, "cli")


def test_scan_of_a_parquet_file_gives_every_numeric_column(tmp_path, cli):
    table = pa.table(
        {
            "a": pa.array([1.0, None, 3.0], pa.float64()),
            "s": pa.array(["x", "y", "z"]),
            "n": pa.array([1, 2, 4], pa.int16()),
            "t": pa.array([1, 2, 3], pa.timestamp("ms")),
        }
    )
    parquet, ipc = _write_both(tmp_path, table)
    assert mapmean.scan(parquet).equals(mapmean.scan(ipc))
    assert mapmean.scan(parquet).column("column").to_pylist() == ["a", "n"]
    proc = subprocess.run([str(cli), "stats", str(parquet), "--format", "json"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()] if not proc.stdout.startswith("[") else json.loads(proc.stdout)
    assert [row["column"] for row in rows] == ["a", "n"], proc.stdout


def test_a_large_row_group_is_read_in_ranges_with_the_same_result(tmp_path, rng):
    values = rng.standard_normal((1 << 22) + 12_345).astype(np.float32)
    path = tmp_path / "one-group.parquet"
    pq.write_table(pa.table({"x": values}), path, row_group_size=values.size, compression="none")
    assert pq.ParquetFile(path).metadata.num_row_groups == 1
    want = exact_mean(values)
    for threads in (1, 2):
        assert_same(mapmean.mean(path, "x", threads=threads).as_py(), want, f"threads={threads}")


def test_column_errors_name_the_parquet_file(tmp_path):
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"x": [1.0], "s": ["a"]}), path)
    with pytest.raises(KeyError, match="nope"):
        mapmean.mean(path, "nope")
    with pytest.raises(TypeError, match="s"):
        mapmean.mean(path, "s")
    with pytest.raises(ValueError, match="t.parquet"):
        mapmean.mean(path)  # two columns: name one


def test_parquet_on_a_pipe_says_to_save_it_to_a_file(tmp_path, cli):
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"x": [1.0, 2.0]}), path)
    proc = subprocess.run(f"cat {path} | {cli} mean -", shell=True, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "Parquet" in proc.stderr and "file" in proc.stderr, proc.stderr


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads RssAnon from /proc (Linux)")
def test_memory_stays_a_few_batches_per_thread_whatever_the_file_size(tmp_path, cli):
    """The CLI reads 512 MiB of float64 (64 row groups) in bounded anonymous memory:
    the mapped file's pages are the page cache's, not the process's, so RssAnon
    (sampled every few milliseconds) is what the decoding holds."""
    path = tmp_path / "big.parquet"
    rows = 1 << 26
    writer = pq.ParquetWriter(path, pa.schema([("x", pa.float64())]), compression="snappy")
    rng = np.random.default_rng(5)
    for _ in range(64):
        writer.write_table(pa.table({"x": rng.random(rows // 64)}), row_group_size=rows // 64)
    writer.close()
    proc = subprocess.Popen([str(cli), "mean", str(path), "--format", "json"], stdout=subprocess.PIPE, text=True)
    peak_kib = 0
    status = Path(f"/proc/{proc.pid}/status")
    while proc.poll() is None:
        try:
            text = status.read_text()
        except OSError:
            break
        for line in text.splitlines():
            if line.startswith("RssAnon:"):
                peak_kib = max(peak_kib, int(line.split()[1]))
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0
    assert json.loads(out)["count"] == rows
    assert peak_kib > 0, "RssAnon was never sampled"
    assert peak_kib < 96 * 1024, f"peak anonymous memory {peak_kib / 1024:.0f} MiB for a 512 MiB file"
