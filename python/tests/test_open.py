"""``mapmean.open``: sources kept mapped and decoded, queried many times with
results bitwise equal to the one-shot calls, closed cleanly."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pyarrow as pa
import pytest
from exact import assert_same, exact_mean

import mapmean


def _wide_values(rng: np.random.Generator, n: int) -> np.ndarray:
    magnitude = 10.0 ** rng.uniform(-30, 30, n)
    return (magnitude * np.where(rng.random(n) < 0.5, -1, 1)).astype(np.float32)


@pytest.fixture
def two_columns(tmp_arrow, rng):
    """A file with Float32 columns x (nulls) and y, in several batches."""
    x = _wide_values(rng, 50_000)
    mask = rng.random(x.size) < 0.1
    y = rng.random(x.size, dtype=np.float32)
    path = mapmean.write_ipc(tmp_arrow(), {"x": np.ma.masked_array(x, mask), "y": y}, batch_rows=7000)
    return path, x, mask, y


def test_queries_give_the_one_shot_results_bitwise_and_the_exact_mean(two_columns):
    path, x, mask, y = two_columns
    with mapmean.open(path) as data:
        for _ in range(3):
            for column, values, valid in (("x", x, ~mask), ("y", y, None)):
                got = data.mean(column)
                assert got.equals(mapmean.mean(path, column))
                assert_same(got.as_py(), exact_mean(values, valid), column)
                assert data.mean_state(column, threads=1) == mapmean.mean_state(path, column)
        assert data.mean("x", skip_nulls=False).as_py() is None
        assert data.mean("y", min_count=10**6).as_py() is None
        assert mapmean.mean(data, "y").equals(data.mean("y"))


def test_sum_variance_and_stddev_take_an_open_dataset_and_match_the_path(two_columns):
    path, x, mask, y = two_columns
    with mapmean.open(path) as data:
        for column in ("x", "y"):
            for _ in range(2):
                assert mapmean.sum(data, column).equals(mapmean.sum(path, column))
                assert mapmean.variance(data, column, ddof=1).equals(mapmean.variance(path, column, ddof=1))
                assert mapmean.stddev(data, column).equals(mapmean.stddev(path, column))
            assert mapmean.moments_state(data, column).to_bytes() == mapmean.moments_state(path, column).to_bytes()
        assert mapmean.variance(data, "x", skip_nulls=False).as_py() is None
    with pytest.raises(ValueError, match="closed"):
        mapmean.variance(data, "y")


def test_a_directory_a_pattern_and_a_list_are_merged_in_order(tmp_path, rng):
    parts = [_wide_values(rng, 1000 + 17 * i) for i in range(5)]
    for i, part in enumerate(parts):
        mapmean.write_ipc(tmp_path / f"part-{i}.arrow", part, format=("file", "stream")[i % 2])
    want = exact_mean(np.concatenate(parts))
    files = sorted(str(p) for p in tmp_path.glob("*.arrow"))
    for sources in (tmp_path, str(tmp_path / "part-*.arrow"), files, [pathlib.Path(f) for f in files]):
        with mapmean.open(sources) as data:
            assert data.sources == files
            assert_same(data.mean().as_py(), want, str(sources))
            assert data.mean().equals(mapmean.scan(tmp_path).column("mean")[0])


def test_a_shared_segment_stays_readable_after_its_owner_unlinks(rng):
    values = _wide_values(rng, 10_000)
    with mapmean.share({"v": values}) as owner:
        data = mapmean.open("shm://" + owner.name)
        owner.unlink()
    assert_same(data.mean("v").as_py(), exact_mean(values))
    data.close()


def test_the_schema_is_pyarrow_and_the_repr_names_sources_and_columns(two_columns):
    path = two_columns[0]
    data = mapmean.open(path)
    assert data.schema == pa.schema([("x", pa.float32()), ("y", pa.float32())])
    assert repr(data) == f"<mapmean.Dataset [{str(path)!r}] (x: float, y: float)>"
    assert not data.closed
    data.close()
    assert data.closed
    assert repr(data) == "<mapmean.Dataset (closed)>"


def test_a_closed_dataset_raises_a_clear_error_and_closes_again_quietly(two_columns):
    path = two_columns[0]
    with mapmean.open(path) as data:
        assert data.mean("y").as_py() is not None
    for use in (lambda: data.mean("y"), lambda: data.mean_state("y"), lambda: data.schema, lambda: mapmean.mean(data, "y")):
        with pytest.raises(ValueError, match="the Dataset is closed"):
            use()
    data.close()


def test_a_deleted_file_is_still_read_through_the_kept_mapping(two_columns):
    path, _, _, y = two_columns
    data = mapmean.open(path)
    os.unlink(path)
    with pytest.raises(FileNotFoundError):
        mapmean.mean(path, "y")
    assert_same(data.mean("y").as_py(), exact_mean(y))
    data.close()


def test_errors_name_the_source_and_map_to_the_usual_exceptions(two_columns, tmp_path):
    path = two_columns[0]
    with mapmean.open(path) as data:
        with pytest.raises(KeyError, match="nope"):
            data.mean("nope")
        with pytest.raises(ValueError, match="name a column"):
            data.mean()
        with pytest.raises(ValueError, match="threads"):
            data.mean("y", threads=0)
        with pytest.raises(TypeError):
            data.mean("y", min_count=True)
        with pytest.raises(TypeError):
            data.mean(3)
        assert data.mean("y").as_py() is not None  # still usable
    with pytest.raises(FileNotFoundError):
        mapmean.open(tmp_path / "missing.arrow")
    with pytest.raises(ValueError, match="matches no file"):
        mapmean.open(str(tmp_path / "*.nothing"))
    with pytest.raises(ValueError, match="cannot be kept open"):
        mapmean.open("-")
    with pytest.raises(ValueError, match="no source"):
        mapmean.open([])
    with pytest.raises(TypeError, match="mapmean.open"):
        mapmean.Dataset()


def test_threads_may_query_at_once_and_close_while_others_compute(tmp_arrow, rng):
    values = rng.random(1 << 22, dtype=np.float32)
    path = mapmean.write_ipc(tmp_arrow(), values)
    want = mapmean.mean(path).as_py()
    data = mapmean.open(path)
    outcomes: list[object] = []

    def query() -> None:
        for _ in range(20):
            try:
                outcomes.append(data.mean().as_py())
            except ValueError as e:  # closed meanwhile
                outcomes.append(str(e))

    threads = [threading.Thread(target=query) for _ in range(3)]
    for t in threads:
        t.start()
    data.close()
    for t in threads:
        t.join()
    assert set(outcomes) <= {want, "the Dataset is closed"}


@pytest.mark.skipif(sys.platform != "linux", reason="the SIGBUS guard is Linux-only")
def test_a_file_truncated_after_the_open_gives_os_error_not_a_crash(tmp_arrow):
    # In a child interpreter, so that a SIGBUS would fail the test instead of killing pytest.
    path = mapmean.write_ipc(tmp_arrow(), np.arange(1 << 22, dtype=np.float32))
    code = textwrap.dedent(
        """
        import subprocess, sys, mapmean
        data = mapmean.open(sys.argv[1])
        print(data.mean().as_py())
        subprocess.run(["truncate", "-s", "100000", sys.argv[1]], check=True)
        for threads in (1, None):
            try:
                data.mean(threads=threads)
            except OSError as e:
                assert "truncated" in str(e) and sys.argv[1] in str(e), e
                print("OSError")
        """
    )
    proc = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [repr(float((1 << 22) - 1) / 2), "OSError", "OSError"]


def test_numpy_arrays_of_every_small_size_give_the_exact_mean_on_the_fast_path(rng):
    for n in (0, 1, 3, 2047, 2048, 65_535, 65_536, 65_537, 200_001):
        values = _wide_values(rng, n)
        for threads in (None, 1, 2):
            got = mapmean.mean(values, threads=threads)
            assert isinstance(got, pa.DoubleScalar)
            assert_same(got.as_py(), exact_mean(values), f"{n} values, threads={threads}")
        assert mapmean.mean(values, min_count=n + 1).as_py() is None
        assert mapmean.mean(values[::3]).equals(mapmean.mean(np.ascontiguousarray(values[::3])))
    with pytest.raises(TypeError, match="min_count"):
        mapmean.mean(values, min_count=1.0)
    with pytest.raises(ValueError, match="min_count"):
        mapmean.mean(values, min_count=-1)
    with pytest.raises(TypeError, match="threads"):
        mapmean.mean(values, threads=True)
