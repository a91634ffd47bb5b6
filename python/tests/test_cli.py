"""The mapmean command line: table, csv and JSON Lines output, merged sources, errors."""

from __future__ import annotations

import csv
import io
import json
import math
import subprocess

import mapmean
import numpy as np
import pytest
from exact import assert_same, exact_mean

F32 = np.float32
KEYS = ["column", "count", "null_count", "nan_count", "mean"]


def run(cli, *args, check=True) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [str(cli), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "panicked" not in proc.stderr
    assert "panicked" not in proc.stdout
    if check:
        assert proc.returncode == 0, f"exit {proc.returncode}: {proc.stderr}"
    return proc


def run_json(cli, *args) -> list[dict]:
    proc = run(cli, *args, "--format", "json")
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    return [json.loads(line) for line in lines]


def assert_error(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode != 0
    assert proc.stderr.startswith("error: "), f"stderr: {proc.stderr!r}"
    assert "panicked" not in proc.stderr


@pytest.fixture
def data(rng):
    noise = (rng.standard_normal(20_000) * 10.0 ** rng.uniform(-10, 10, 20_000)).astype(F32)
    values = np.concatenate([np.array([3e37, 0.75, -3e37] * 2000, dtype=F32), noise])
    rng.shuffle(values)
    valid = rng.random(values.size) < 0.9
    return values, valid


@pytest.fixture
def one_column_file(data, tmp_arrow):
    values, valid = data
    return mapmean.write_ipc(tmp_arrow(), values, mask=~valid, batch_rows=7000)


def test_json_output_has_exactly_the_documented_keys(cli, one_column_file, data):
    values, valid = data
    rows = run_json(cli, "mean", one_column_file)
    assert len(rows) == 1
    row = rows[0]
    assert list(row) == KEYS
    assert row["column"] == "values"
    assert row["count"] == int(valid.sum())
    assert row["null_count"] == int((~valid).sum())
    assert row["nan_count"] == 0
    assert isinstance(row["mean"], float)
    assert_same(row["mean"], exact_mean(values, valid))


def test_json_mean_is_bitwise_the_python_mean(cli, one_column_file):
    row = run_json(cli, "mean", one_column_file)[0]
    assert_same(row["mean"], mapmean.mean(one_column_file).as_py())


def test_table_output(cli, one_column_file, data):
    values, valid = data
    proc = run(cli, "mean", one_column_file)
    lines = [line.split() for line in proc.stdout.splitlines() if line.strip()]
    assert lines[0] == KEYS
    assert len(lines) == 2
    row = dict(zip(KEYS, lines[1]))
    assert row["column"] == "values"
    assert int(row["count"]) == int(valid.sum())
    assert int(row["null_count"]) == int((~valid).sum())
    assert int(row["nan_count"]) == 0
    assert_same(float(row["mean"]), exact_mean(values, valid))


def test_table_is_the_default_format(cli, one_column_file):
    assert run(cli, "mean", one_column_file).stdout == run(cli, "mean", one_column_file, "--format", "table").stdout


def test_csv_output_has_a_header_line(cli, one_column_file, data):
    values, valid = data
    proc = run(cli, "mean", one_column_file, "--format", "csv")
    rows = list(csv.reader(io.StringIO(proc.stdout)))
    rows = [r for r in rows if r]
    assert rows[0] == KEYS
    assert len(rows) == 2
    row = dict(zip(KEYS, rows[1]))
    assert row["column"] == "values"
    assert int(row["count"]) == int(valid.sum())
    assert int(row["null_count"]) == int((~valid).sum())
    assert_same(float(row["mean"]), exact_mean(values, valid))


def test_cancellation_gives_exactly_a_quarter(cli, tmp_arrow):
    path = mapmean.write_ipc(tmp_arrow(), np.array([3e37, 0.75, -3e37] * 10_000, dtype=F32))
    row = run_json(cli, "mean", path)[0]
    assert row["mean"] == 0.25
    assert row["count"] == 30_000


def test_named_columns_of_a_multi_column_file(cli, rng, tmp_arrow):
    a = rng.random(1000, dtype=F32)
    b = np.array([3e37, 0.75, -3e37] * 333 + [0.25], dtype=F32)
    path = mapmean.write_ipc(tmp_arrow(), {"a": a, "b": b, "i": np.arange(1000, dtype=np.int64)})
    rows = run_json(cli, "mean", path, "--column", "a", "--column", "b")
    assert [r["column"] for r in rows] == ["a", "b"]
    assert_same(rows[0]["mean"], exact_mean(a))
    assert rows[1]["mean"] == 0.25
    assert [r["count"] for r in rows] == [1000, 1000]
    rows = run_json(cli, "mean", path, "--column", "b")
    assert len(rows) == 1 and rows[0]["column"] == "b"


def test_several_sources_are_merged_into_the_mean_of_the_concatenation(cli, rng, tmp_arrow):
    parts = [
        np.array([3e37] * 100, dtype=F32),
        (rng.standard_normal(5000) * 1e20).astype(F32),
        np.array([0.75] * 100 + [-3e37] * 100, dtype=F32),
    ]
    masks = [np.zeros(100, bool), rng.random(5000) < 0.3, np.zeros(200, bool)]
    paths = [
        mapmean.write_ipc(tmp_arrow(), {"x": np.ma.masked_array(p, mask=m)}, batch_rows=1000)
        for p, m in zip(parts, masks)
    ]
    values = np.concatenate(parts)
    valid = ~np.concatenate(masks)
    rows = run_json(cli, "mean", *paths, "--column", "x")
    assert len(rows) == 1
    row = rows[0]
    assert row["count"] == int(valid.sum())
    assert row["null_count"] == int((~valid).sum())
    assert_same(row["mean"], exact_mean(values, valid))


def test_file_and_stream_sources_merge(cli, tmp_arrow):
    a = mapmean.write_ipc(tmp_arrow(), np.array([3e37, 0.75], dtype=F32))
    b = mapmean.write_ipc(tmp_arrow(".arrows"), np.array([-3e37], dtype=F32), format="stream")
    row = run_json(cli, "mean", a, b)[0]
    assert row["mean"] == 0.25
    assert row["count"] == 3


@pytest.mark.parametrize("threads", ["1", "2", "3"])
def test_threads_do_not_change_the_answer(cli, one_column_file, data, threads):
    values, valid = data
    row = run_json(cli, "mean", one_column_file, "--threads", threads)[0]
    assert_same(row["mean"], exact_mean(values, valid))


def test_nan_gives_json_null_and_is_counted(cli, tmp_arrow):
    values = np.array([1, np.nan, 2, np.nan, 5], dtype=F32)
    mask = np.array([False, False, False, False, True])
    row = run_json(cli, "mean", mapmean.write_ipc(tmp_arrow(), values, mask=mask))[0]
    assert row["nan_count"] == 2
    assert row["null_count"] == 1
    assert row["mean"] is None


@pytest.mark.parametrize("values", [[1.0, np.inf], [-np.inf, 1.0], [np.inf, -np.inf]])
def test_infinite_and_nan_means_are_json_null(cli, tmp_arrow, values):
    row = run_json(cli, "mean", mapmean.write_ipc(tmp_arrow(), np.array(values, dtype=F32)))[0]
    assert row["mean"] is None
    assert row["count"] == 2


def test_json_lines_are_strict_json(cli, tmp_arrow):
    path = mapmean.write_ipc(tmp_arrow(), np.array([np.inf, 1.0], dtype=F32))
    proc = run(cli, "mean", path, "--format", "json")
    for line in proc.stdout.splitlines():
        if line.strip():
            json.loads(line, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))


def test_all_null_file_has_null_mean(cli, tmp_arrow):
    path = mapmean.write_ipc(tmp_arrow(), np.ones(10, F32), mask=np.ones(10, bool))
    row = run_json(cli, "mean", path)[0]
    assert row["count"] == 0
    assert row["null_count"] == 10
    assert row["mean"] is None


def test_empty_file_has_null_mean_and_zero_count(cli, tmp_arrow):
    row = run_json(cli, "mean", mapmean.write_ipc(tmp_arrow(), np.array([], dtype=F32)))[0]
    assert row["count"] == 0
    assert row["mean"] is None


def test_file_written_by_pyarrow(cli, tmp_arrow, data):
    import pyarrow as pa
    import pyarrow.feather as feather

    values, valid = data
    path = tmp_arrow(".feather")
    feather.write_feather(pa.table({"v": pa.array(values, mask=~valid)}), path, compression="zstd")
    row = run_json(cli, "mean", path, "--column", "v")[0]
    assert_same(row["mean"], exact_mean(values, valid))


# ---------------------------------------------------------------- errors


def test_missing_file_is_an_error(cli, tmp_path):
    proc = run(cli, "mean", tmp_path / "nope.arrow", check=False)
    assert_error(proc)
    assert "nope.arrow" in proc.stderr
    assert proc.stdout.strip() == "" or "nope" not in proc.stdout


def test_missing_column_is_an_error_naming_it(cli, one_column_file):
    proc = run(cli, "mean", one_column_file, "--column", "nope", check=False)
    assert_error(proc)
    assert "nope" in proc.stderr
    assert "values" in proc.stderr


def test_a_named_non_numeric_column_is_an_error(cli, tmp_arrow):
    path = mapmean.write_ipc(tmp_arrow(), {"flag": np.zeros(5, dtype=bool), "f": np.ones(5, F32)})
    proc = run(cli, "mean", path, "--column", "flag", check=False)
    assert_error(proc)
    assert "flag" in proc.stderr and "Boolean" in proc.stderr


def test_garbage_file_is_an_error(cli, tmp_arrow, rng):
    path = tmp_arrow()
    path.write_bytes(rng.integers(0, 256, 3000, dtype=np.uint8).tobytes())
    assert_error(run(cli, "mean", path, check=False))


def test_empty_file_is_an_error(cli, tmp_arrow):
    path = tmp_arrow()
    path.write_bytes(b"")
    assert_error(run(cli, "mean", path, check=False))


@pytest.mark.parametrize("size", [10, 100, 1000, -20])
def test_truncated_file_is_an_error(cli, one_column_file, tmp_arrow, size):
    raw = one_column_file.read_bytes()
    path = tmp_arrow()
    path.write_bytes(raw[:size])
    assert_error(run(cli, "mean", path, check=False))


def test_directory_is_an_error(cli, tmp_path):
    assert_error(run(cli, "mean", tmp_path, check=False))


def test_one_missing_source_among_good_ones_is_an_error(cli, one_column_file, tmp_path):
    proc = run(cli, "mean", one_column_file, tmp_path / "missing.arrow", check=False)
    assert_error(proc)


def test_bad_format_option_is_an_error(cli, one_column_file):
    proc = run(cli, "mean", one_column_file, "--format", "xml", check=False)
    assert_error(proc)


def test_zero_threads_is_an_error(cli, one_column_file):
    proc = run(cli, "mean", one_column_file, "--threads", "0", check=False)
    assert_error(proc)


def test_json_mean_values_parse_as_finite_floats_when_present(cli, one_column_file):
    row = run_json(cli, "mean", one_column_file)[0]
    assert math.isfinite(row["mean"])


def test_unicode_column_name(cli, tmp_arrow):
    path = mapmean.write_ipc(tmp_arrow(), {"température °C": np.array([1.0, 2.0], F32), "b": np.ones(2, F32)})
    rows = run_json(cli, "mean", path, "--column", "température °C")
    assert rows[0]["column"] == "température °C"
    assert rows[0]["mean"] == 1.5


def test_column_missing_in_one_of_several_sources_is_an_error(cli, tmp_arrow):
    a = mapmean.write_ipc(tmp_arrow(), {"x": np.ones(3, F32)})
    b = mapmean.write_ipc(tmp_arrow(), {"y": np.ones(3, F32)})
    proc = run(cli, "mean", a, b, "--column", "x", check=False)
    assert_error(proc)
    assert "x" in proc.stderr


def test_extreme_means_print_as_round_tripping_numbers(cli, tmp_arrow):
    f32 = np.finfo(F32)
    cases = [
        np.array([f32.max] * 3, F32),
        np.array([f32.smallest_subnormal, 0, 0], F32),
        np.array([-f32.max, 1.0], F32),
        np.array([0.1] * 7, F32),
        np.array([-0.0], F32),
    ]
    for values in cases:
        path = mapmean.write_ipc(tmp_arrow(), values)
        row = run_json(cli, "mean", path)[0]
        assert_same(float(row["mean"]), exact_mean(values), str(values))
        csv_rows = [r for r in csv.reader(io.StringIO(run(cli, "mean", path, "--format", "csv").stdout)) if r]
        assert_same(float(csv_rows[1][4]), exact_mean(values), f"csv {values}")


@pytest.mark.parametrize("kind", ["file", "stream", "lz4", "zstd"])
def test_corrupted_files_give_an_error_line_never_a_crash(cli, tmp_path, kind):
    import pyarrow as pa
    import pyarrow.feather as feather

    values = np.arange(300, dtype=F32)
    if kind in ("file", "stream"):
        src = mapmean.write_ipc(tmp_path / "src.arrow", {"a": values, "b": values * 2}, batch_rows=100, format=kind)
    else:
        src = tmp_path / "src.feather"
        table = pa.table({"a": pa.array(values, mask=values % 7 == 0), "b": values * 2})
        feather.write_feather(table, src, compression=kind, chunksize=100)
    raw = src.read_bytes()
    rng = np.random.default_rng(7)
    for i in range(150):
        data = bytearray(raw)
        for _ in range(int(rng.integers(1, 4))):
            pos = int(rng.integers(max(0, len(raw) - 600), len(raw))) if rng.random() < 0.5 else int(
                rng.integers(0, min(600, len(raw)))
            )
            data[pos] = int(rng.integers(0, 256))
        path = tmp_path / f"mutated{i}.arrow"
        path.write_bytes(bytes(data))
        proc = run(cli, "mean", path, "--column", "a", "--format", "json", check=False)
        assert proc.returncode >= 0, f"{path}: killed by signal {-proc.returncode}: {proc.stderr[:500]}"
        if proc.returncode != 0:
            assert proc.stderr.startswith("error: "), f"{path}: {proc.stderr[:500]}"
        path.unlink()
