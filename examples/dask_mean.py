"""The exact mean of a directory of Arrow IPC files on a two-worker Dask
cluster, checked against mapmean.mean over the concatenated data.

    .venv/bin/python examples/dask_mean.py

Needs ``pip install mapmean[dask]`` (``make all`` installs it). The workers
map the files themselves: on a real cluster the directory must be on a file
system that every worker sees under the same path.
"""

from __future__ import annotations

import pathlib
import tempfile

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from distributed import Client, LocalCluster

import mapmean
import mapmean.dask


def write_parts(directory: pathlib.Path, parts: int, rows: int) -> list[np.ndarray]:
    """``parts`` files of values over many decades, with huge values that cancel."""
    rng = np.random.default_rng(11)
    written = []
    for i in range(parts):
        x = (rng.standard_normal(rows) * 10.0 ** rng.uniform(-10, 3, rows)).astype(np.float32)
        x[::5], x[1::5] = 3e37, -3e37
        mapmean.write_ipc(directory / f"part-{i:02d}.arrow", {"x": x})
        written.append(x)
    return written


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        directory = pathlib.Path(tmp)
        parts = write_parts(directory, parts=16, rows=500_000)
        everything = np.concatenate(parts)
        with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster, Client(cluster):
            exact = mapmean.dask.mean(directory, "x")
            state = mapmean.dask.mean_state(str(directory / "part-*.arrow"), "x", files_per_task=4)
            workers = len(cluster.workers)
        print(f"{len(parts)} files, {everything.size:,} values on {workers} workers")
        print("mapmean.dask.mean:        ", exact.as_py())
        print("mapmean.mean (one process):", mapmean.mean(everything).as_py())
        print("merged state:             ", state)
        print("pyarrow (float64 sum):    ", pc.mean(pa.array(everything)).as_py())
        assert exact.as_py() == mapmean.mean(everything).as_py() == state.finish().as_py()


if __name__ == "__main__":
    main()
