"""The main job: write 100 M float32 values (1% null) with numpy as an Arrow
IPC file, then compare mapmean's exact mean with numpy's and pyarrow's.

Run it with `make demo`.
"""

from __future__ import annotations

import os
import pathlib
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

import mapmean

N = int(os.environ.get("MAPMEAN_DEMO_N", 100_000_000))
DATA = pathlib.Path(__file__).resolve().parent.parent / "data"


def timed(f):
    start = time.perf_counter()
    result = f()
    return result, time.perf_counter() - start


def main() -> None:
    DATA.mkdir(exist_ok=True)
    path = DATA / "demo.arrow"
    rng = np.random.default_rng(2026)
    print(f"generating {N:,} float32 values: 1e4 + U[0, 1), 1% null ...")
    values = rng.random(N, dtype=np.float32)
    values += np.float32(1e4)
    nulls = rng.random(N, dtype=np.float32) < 0.01
    _, seconds = timed(lambda: mapmean.write_ipc(path, values, mask=nulls, batch_rows=1 << 24))
    size = path.stat().st_size
    print(f"wrote {path} ({size / 2**20:,.0f} MiB) in {seconds:.2f} s\n")

    valid = values[~nulls]
    mapmean.mean(path)  # warm the page cache, as the others read from memory
    table = pa.ipc.open_file(pa.memory_map(str(path))).read_all()
    rows = [
        ("mapmean (exact, mmap)", *timed(lambda: mapmean.mean(path).as_py())),
        ("numpy float32 mean", *timed(lambda: float(np.mean(valid)))),
        ("numpy float64 mean", *timed(lambda: float(np.mean(valid, dtype=np.float64)))),
        ("pyarrow.compute.mean", *timed(lambda: pc.mean(table["values"]).as_py())),
    ]
    exact = rows[0][1]
    print(f"{'method':<24}{'mean':>26}{'error (ulps of f64)':>22}{'time':>10}")
    for name, value, seconds in rows:
        ulps = abs(value - exact) / np.spacing(exact)
        print(f"{name:<24}{value!r:>26}{ulps:>22,.0f}{seconds * 1e3:>8.0f} ms")

    print("\nand the cancellation case [3e37, 0.75, -3e37] * 1,000,000:")
    cancel = np.array([3e37, 0.75, -3e37] * 1_000_000, dtype=np.float32)
    print(f"  mapmean {mapmean.mean(cancel).as_py()!r}   numpy {float(np.mean(cancel))!r}   "
          f"numpy f64 {float(np.mean(cancel, dtype=np.float64))!r}   "
          f"pyarrow {pc.mean(pa.array(cancel)).as_py()!r}")


if __name__ == "__main__":
    main()
