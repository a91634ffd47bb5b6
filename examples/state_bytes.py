"""Carry mapmean's states between processes as bytes: a multiprocessing pool
computes one state per file, sends back ``state.to_bytes()``, and the parent
merges them exactly. Any engine that can run a function per partition and
return a few bytes (Ray, Spark's mapInArrow, your own RPC) does the same.

    .venv/bin/python examples/state_bytes.py
"""

from __future__ import annotations

import pathlib
import tempfile
from multiprocessing import Pool

import numpy as np

import mapmean


def state_of(path: str) -> bytes:
    """Runs in a worker process: the file's state, as bytes."""
    return mapmean.mean_state(path, "x").to_bytes()


def main() -> None:
    rng = np.random.default_rng(3)
    with tempfile.TemporaryDirectory() as tmp:
        paths, parts = [], []
        for i in range(12):
            x = rng.normal(1e6, 1.0, 200_000).astype(np.float32)
            x[::7], x[1::7] = 3e37, -3e37  # huge values that cancel
            null = rng.random(x.size) < 0.01
            null[::7] = null[1::7] = False  # keep the cancelling pairs whole
            part = np.ma.masked_array(x, mask=null)  # masked: null
            paths.append(str(mapmean.write_ipc(pathlib.Path(tmp) / f"part-{i}.arrow", {"x": part})))
            parts.append(part)
        with Pool(4) as pool:
            total = mapmean.MeanState()
            for data in pool.imap_unordered(state_of, paths):
                total.merge(mapmean.MeanState.from_bytes(data))  # exact, in any order
        one_pass = mapmean.mean(np.ma.concatenate(parts)).as_py()
        print(f"{len(paths)} files, {total.count:,} valid values, {total.null_count:,} nulls")
        merged = total.finish().as_py()  # a pyarrow.DoubleScalar, as mapmean.mean returns
        print("merged from bytes:", merged)
        print("one pass:         ", one_pass)
        assert merged == one_pass


if __name__ == "__main__":
    main()
