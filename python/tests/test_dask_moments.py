"""mapmean.dask.sum, variance, stddev and moments_state: merged from every
task's 176-byte MomentsState, bitwise equal to mapmean's over the
concatenation, on dask's synchronous scheduler and on a two-process cluster."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

import mapmean

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")
pd = pytest.importorskip("pandas")

import mapmean.dask  # noqa: E402  (after the skips: needs dask)

F32 = np.float32


@pytest.fixture
def values():
    rng = np.random.default_rng(13)
    x = (3e7 + rng.standard_normal(100_003) * 100).astype(F32)
    x[::17] = (10.0 ** rng.uniform(-20, 20, len(x[::17]))).astype(F32)
    return x


@pytest.mark.parametrize("chunks", [1000, 33_333, 100_003])
@pytest.mark.parametrize("split_every", [2, 8])
def test_arrays_give_the_bits_of_one_pass(values, chunks, split_every):
    x = da.from_array(values, chunks=chunks)
    with dask.config.set(scheduler="sync"):
        state = mapmean.dask.moments_state(x, split_every=split_every)
        assert state == mapmean.moments_state(values)
        for ddof in (0, 1):
            assert mapmean.dask.variance(x, ddof=ddof).as_py() == mapmean.variance(values, ddof=ddof).as_py()
            assert mapmean.dask.stddev(x, ddof=ddof).as_py() == mapmean.stddev(values, ddof=ddof).as_py()
        assert mapmean.dask.sum(x).as_py() == mapmean.sum(values).as_py()


def test_files_and_dataframes_with_nulls(values, tmp_path):
    valid = np.arange(len(values)) % 5 != 0
    for i, part in enumerate(np.array_split(np.arange(len(values)), 4)):
        mapmean.write_ipc(tmp_path / f"part-{i}.arrow", values[part], mask=~valid[part])
    whole = pa.array(values, mask=~valid)
    want = mapmean.moments_state(whole)
    with dask.config.set(scheduler="sync"):
        assert mapmean.dask.moments_state(str(tmp_path), "values", files_per_task=3) == want
        frame = dd.from_pandas(
            pd.DataFrame({"x": pd.array(whole.to_pandas(types_mapper=pd.ArrowDtype))}), npartitions=3
        )
        assert mapmean.dask.moments_state(frame, "x") == want
        assert mapmean.dask.variance(frame, "x", ddof=1, skip_nulls=False).as_py() is None


def test_on_a_two_process_cluster(values):
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, host="127.0.0.1"
    ) as cluster, distributed.Client(cluster):
        x = da.from_array(values, chunks=10_000)
        assert mapmean.dask.variance(x, ddof=1).as_py() == mapmean.variance(values, ddof=1).as_py()


def test_an_empty_source_and_bad_arguments(tmp_path):
    with dask.config.set(scheduler="sync"):
        empty = da.from_array(np.zeros(0, dtype=F32), chunks=1)
        assert mapmean.dask.variance(empty).as_py() is None
        assert mapmean.dask.sum(empty, min_count=0).as_py() == 0.0
        with pytest.raises(ValueError):
            mapmean.dask.variance(empty, min_count=-1)
        with pytest.raises(TypeError):
            mapmean.dask.stddev(empty, ddof=0.5)
