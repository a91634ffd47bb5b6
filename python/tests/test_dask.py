"""mapmean.dask: exact means of files, dask arrays and dask dataframes on a
two-process LocalCluster and on dask's local schedulers, checked bit for bit
against mapmean.mean over the concatenation and against the exact Fraction
reference."""

from __future__ import annotations

import math
import os
import pathlib

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mapmean

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")
pd = pytest.importorskip("pandas")

import mapmean.dask  # noqa: E402  (after the skips: needs dask)
from exact import assert_same, exact_mean  # noqa: E402

F32 = np.float32


@pytest.fixture(scope="module")
def cluster_client():
    """One two-process LocalCluster for the whole module, not the default
    client: the tests that want it enter ``client.as_current()``."""
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        worker_dashboard_address=None,
        host="127.0.0.1",
    ) as cluster, distributed.Client(cluster, set_as_default=False) as client:
        yield client


@pytest.fixture
def on_cluster(cluster_client):
    """Makes the cluster's client the active one for the test."""
    with cluster_client.as_current():
        yield cluster_client


def adversarial(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Values spread over forty decades, pairs of huge magnitudes that cancel
    exactly (a float64 running sum loses the small values under them), and
    nulls elsewhere: (values, valid)."""
    values = (rng.choice([-1.0, 1.0], n) * 10.0 ** rng.uniform(-30, 10, n)).astype(F32)
    valid = rng.random(n) > 0.1
    plus = np.arange(0, max(n - 3, 0), 7)
    values[plus], values[plus + 3] = np.float32(3e37), np.float32(-3e37)
    valid[plus] = valid[plus + 3] = True
    return values, valid


def write_files(rng: np.random.Generator, directory: pathlib.Path, count: int) -> tuple[list, np.ndarray, np.ndarray]:
    """``count`` IPC files of uneven lengths (one empty); returns the paths and
    the concatenated values and validity."""
    paths, values, valids = [], [], []
    for i in range(count):
        n = 0 if i == 5 else int(rng.integers(1, 3000))
        v, valid = adversarial(rng, n)
        paths.append(mapmean.write_ipc(directory / f"part-{i:03d}.arrow", v, mask=~valid, batch_rows=1000))
        values.append(v)
        valids.append(valid)
    return paths, np.concatenate(values), np.concatenate(valids)


def reference(values: np.ndarray, valid: np.ndarray) -> float:
    """The exact mean, checked to be what mapmean.mean gives on one array."""
    want = exact_mean(values, valid)
    table = pa.table({"values": pa.array(values, mask=~valid)})
    assert_same(mapmean.mean(table, "values").as_py(), want, "mapmean.mean of the concatenation")
    return want


def test_mean_over_forty_files_on_the_cluster_is_exact(on_cluster, rng, tmp_path):
    paths, values, valid = write_files(rng, tmp_path, 40)
    want = reference(values, valid)
    assert_same(mapmean.dask.mean(paths).as_py(), want, "list of paths")
    assert_same(mapmean.dask.mean(tmp_path, "values").as_py(), want, "directory")
    assert_same(mapmean.dask.mean(str(tmp_path / "part-*.arrow"), files_per_task=3).as_py(), want, "glob")
    assert_same(mapmean.dask.mean(paths, threads=1).as_py(), want, "one thread per task")
    state = mapmean.dask.mean_state(paths, split_every=2)
    assert isinstance(state, mapmean.MeanState)
    assert (state.count, state.null_count) == (int(valid.sum()), int((~valid).sum()))


def test_shared_memory_segments_mix_with_files_on_one_machine(on_cluster, rng, tmp_path):
    (a, valid_a), (b, valid_b) = adversarial(rng, 5000), adversarial(rng, 700)
    path = mapmean.write_ipc(tmp_path / "a.arrow", a, mask=~valid_a)
    with mapmean.share(b, mask=~valid_b) as segment:
        got = mapmean.dask.mean([path, "shm://" + segment.name]).as_py()
    assert_same(got, exact_mean(np.concatenate([a, b]), np.concatenate([valid_a, valid_b])))


def test_states_are_computed_on_both_workers_and_merged_in_a_tree(on_cluster, rng, tmp_path):
    paths, values, valid = write_files(rng, tmp_path, 20)
    with distributed.get_task_stream(on_cluster) as stream:
        got = mapmean.dask.mean(paths, files_per_task=2, split_every=3)
    assert_same(got.as_py(), exact_mean(values, valid))
    keys = [(str(task["key"]), task["worker"]) for task in stream.data]
    leaves = [worker for key, worker in keys if key.startswith("mapmean-state-")]
    merges = [key for key, _ in keys if key.startswith("mapmean-merge-")]
    assert len(leaves) == 10 and len(set(leaves)) == 2
    assert len(merges) == 4 + 2 + 1  # 10 states, 3 at a time: 4, then 2, then 1


def test_mean_of_an_unevenly_chunked_array_on_the_cluster_is_exact(on_cluster, rng):
    values, _ = adversarial(rng, 20_000)
    chunks = (1, 4999, 0, 3, 10_000, 4997)
    x = da.from_array(values, chunks=(chunks,))
    assert x.chunks == (chunks,)
    want = reference(values, np.ones(values.size, bool))
    assert_same(mapmean.dask.mean(x).as_py(), want)
    for split_every in (2, 3, 2, 16):  # trees of other shapes over the same chunks, back to back
        assert_same(mapmean.dask.mean(x, split_every=split_every).as_py(), want, f"split_every={split_every}")


def test_a_two_dimensional_array_counts_every_element(on_cluster, rng):
    values, _ = adversarial(rng, 60 * 70)
    grid = values.reshape(60, 70)
    x = da.from_array(grid, chunks=((7, 53), (1, 30, 39)))
    assert_same(mapmean.dask.mean(x).as_py(), exact_mean(values))
    assert_same(mapmean.dask.mean(x.T[::2]).as_py(), mapmean.mean(np.ascontiguousarray(grid.T[::2])).as_py())


def test_masked_chunks_are_nulls(on_cluster, rng):
    values, valid = adversarial(rng, 5000)
    x = da.ma.masked_array(da.from_array(values, chunks=999), mask=da.from_array(~valid, chunks=999))
    assert_same(mapmean.dask.mean(x).as_py(), exact_mean(values, valid))
    assert mapmean.dask.mean(x, skip_nulls=False).as_py() is None


def test_arrow_backed_dataframe_nulls_are_nulls(on_cluster, rng):
    values, valid = adversarial(rng, 10_000)
    column = pd.Series(pa.array(values, mask=~valid)).astype(pd.ArrowDtype(pa.float32()))
    frame = pd.DataFrame({"x": column, "other": np.arange(values.size)})
    ddf = dd.from_pandas(frame, npartitions=7)
    want = reference(values, valid)
    assert_same(mapmean.dask.mean(ddf, "x").as_py(), want, "DataFrame and column")
    assert_same(mapmean.dask.mean(ddf["x"]).as_py(), want, "Series")
    assert_same(mapmean.dask.mean(ddf[["x"]]).as_py(), want, "one-column DataFrame")
    assert mapmean.dask.mean(ddf["x"], skip_nulls=False).as_py() is None
    state = mapmean.dask.mean_state(ddf, "x")
    assert state.null_count == int((~valid).sum())


def test_nullable_float32_dataframe_nulls_are_nulls(on_cluster):
    column = pd.array([1.0, None, 2.0, None, 6.0], dtype="Float32")
    ddf = dd.from_pandas(pd.DataFrame({"x": column}), npartitions=2)
    assert mapmean.dask.mean(ddf, "x").as_py() == 3.0


def test_numpy_backed_dataframe_nan_is_missing_as_in_pandas(on_cluster):
    # pandas' rule on every pandas route: NaN is missing (docs/semantics.md).
    frame = pd.DataFrame({"x": np.array([1.0, np.nan, 2.0, 4.0], dtype=F32)})
    ddf = dd.from_pandas(frame, npartitions=2)
    assert mapmean.dask.mean(ddf, "x").as_py() == 7 / 3 == frame["x"].astype("float64").mean()
    assert mapmean.dask.mean(ddf, "x").as_py() == mapmean.mean(frame, "x").as_py()
    assert mapmean.dask.mean(ddf["x"]).as_py() == mapmean.mean(frame["x"]).as_py()
    state = mapmean.dask.mean_state(ddf["x"])
    local = mapmean.mean_state(frame, "x")
    assert (state.count, state.null_count, state.nan_count) == (3, 1, 0)
    assert (local.count, local.null_count, local.nan_count) == (3, 1, 0)
    moments = mapmean.dask.variance(ddf, "x").as_py()
    assert moments == mapmean.variance(frame, "x").as_py()
    # A numpy (or dask) array keeps NaN as a value, as numpy.mean does.
    assert math.isnan(mapmean.mean(frame["x"].to_numpy()).as_py())
    assert math.isnan(mapmean.dask.mean(da.from_array(frame["x"].to_numpy(), chunks=2)).as_py())
    no_nan = dd.from_pandas(pd.DataFrame({"x": np.array([1, 2, 4], dtype=F32)}), npartitions=3)
    assert mapmean.dask.mean(no_nan["x"]).as_py() == float(np.float64(7) / 3)


def test_without_a_client_the_local_scheduler_gives_the_same_bits(rng, tmp_path):
    with pytest.raises(ValueError):
        distributed.get_client()  # no client is active in this test
    paths, values, valid = write_files(rng, tmp_path, 12)
    want = reference(values, valid)
    assert_same(mapmean.dask.mean(paths).as_py(), want, "default scheduler")
    with dask.config.set(scheduler="sync"):
        assert_same(mapmean.dask.mean(tmp_path, files_per_task=5).as_py(), want, "sync scheduler")
        x = da.from_array(values, chunks=((5, values.size - 5),))
        assert_same(mapmean.dask.mean(x).as_py(), exact_mean(values))


@settings(max_examples=25)
@given(
    cuts=st.lists(st.integers(0, 3000), max_size=12),
    split_every=st.integers(2, 9),
    seed=st.integers(0, 2**32 - 1),
)
def test_any_chunking_and_tree_shape_gives_the_bits_of_one_pass(cuts, split_every, seed):
    values, valid = adversarial(np.random.default_rng(seed), 3000)
    edges = [0, *sorted(cuts), values.size]
    chunks = tuple(b - a for a, b in zip(edges, edges[1:]))
    x = da.ma.masked_array(da.from_array(values, chunks=(chunks,)), mask=da.from_array(~valid, chunks=(chunks,)))
    with dask.config.set(scheduler="sync"):
        got = mapmean.dask.mean(x, split_every=split_every).as_py()
    assert_same(got, mapmean.mean(np.ma.masked_array(values, mask=~valid)).as_py(), f"chunks {chunks}")


def huge_count_state(count: int) -> bytes:
    """The byte form (docs/state-format.md) of ``count`` zeros."""
    return b"MMst" + (1).to_bytes(2, "little") + bytes(2) + count.to_bytes(8, "little") + bytes(80)


def test_a_merge_past_two_to_the_64_values_raises_overflow_error_on_the_client(on_cluster):
    half = dask.delayed(huge_count_state)(2**63)
    assert mapmean.MeanState.from_bytes(huge_count_state(2**63)).count == 2**63
    tree = mapmean.dask._merge_tree("overflow-test", [half, half], split_every=2)
    with pytest.raises(OverflowError):
        dask.compute(tree)


def test_an_empty_list_of_files_has_a_null_mean():
    assert mapmean.dask.mean([]).as_py() is None
    assert math.isnan(mapmean.dask.mean([], min_count=0).as_py())


def test_a_missing_column_in_a_file_raises_key_error_from_the_worker(on_cluster, rng, tmp_path):
    paths, _, _ = write_files(rng, tmp_path, 3)
    with pytest.raises(KeyError, match="nope"):
        mapmean.dask.mean(paths, "nope")


def test_a_missing_file_raises_file_not_found_error(on_cluster, rng, tmp_path):
    paths, _, _ = write_files(rng, tmp_path, 3)
    with pytest.raises(FileNotFoundError, match="gone.arrow"):
        mapmean.dask.mean([*paths, tmp_path / "gone.arrow"])


def test_a_file_that_is_not_arrow_raises_value_error(on_cluster, rng, tmp_path):
    paths, _, _ = write_files(rng, tmp_path, 3)
    bad = tmp_path / "bad.arrow"
    bad.write_bytes(b"not an arrow file at all" * 10)
    with pytest.raises(ValueError, match="bad.arrow"):
        mapmean.dask.mean([*paths, bad])


def test_a_boolean_column_in_a_file_raises_type_error(on_cluster, tmp_path):
    path = mapmean.write_ipc(tmp_path / "flags.arrow", {"x": np.zeros(3, dtype=bool)})
    with pytest.raises(TypeError):
        mapmean.dask.mean(path, "x")


def test_an_empty_directory_or_a_pattern_matching_nothing_raises_value_error(tmp_path):
    with pytest.raises(ValueError, match="no"):
        mapmean.dask.mean(tmp_path)
    with pytest.raises(ValueError, match="matches no file"):
        mapmean.dask.mean(str(tmp_path / "*.arrow"))


def test_collections_of_the_wrong_type_or_columns_are_rejected_before_computing():
    flags = da.zeros(4, chunks=2, dtype=bool)
    with pytest.raises(TypeError, match="numeric"):
        mapmean.dask.mean(flags)
    with pytest.raises(KeyError):
        mapmean.dask.mean(da.zeros(4, chunks=2, dtype=F32), "x")
    ddf = dd.from_pandas(pd.DataFrame({"x": np.zeros(4, F32), "y": np.array(["a"] * 4, dtype=object)}), npartitions=2)
    with pytest.raises(KeyError, match="z"):
        mapmean.dask.mean(ddf, "z")
    with pytest.raises(ValueError, match="2 columns"):
        mapmean.dask.mean(ddf)
    with pytest.raises(TypeError, match="numeric"):
        mapmean.dask.mean(ddf, "y")
    with pytest.raises(KeyError):
        mapmean.dask.mean(ddf["x"], "y")
    with pytest.raises(TypeError, match="dask"):
        mapmean.dask.mean(np.zeros(3, F32))
    with pytest.raises(TypeError):
        mapmean.dask.mean([1, 2])


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"min_count": -1}, ValueError),
        ({"min_count": 1.5}, TypeError),
        ({"skip_nulls": "yes"}, TypeError),
        ({"split_every": 1}, ValueError),
        ({"files_per_task": 0}, ValueError),
        ({"threads": 0}, ValueError),
        ({"threads": 2.0}, TypeError),
        ({"column": 3}, TypeError),
    ],
)
def test_bad_arguments_raise_as_mapmean_mean_does(kwargs, error):
    x = da.zeros(4, chunks=2, dtype=F32)
    with pytest.raises(error):
        mapmean.dask.mean(x, **kwargs)
