"""Checks an installed mapmean wheel from outside the source tree (``make test-wheel``).

Run with the Python of a fresh virtual environment into which only the built
wheel was installed, with no Rust toolchain on ``PATH``: the package, the
``mapmean`` console script and ``python -m mapmean`` must all work, and give
the exact means of a small file written here with pyarrow.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

import pyarrow as pa
import pyarrow.ipc

import mapmean

# Exact means: 3e37 + 0.75 - 3e37 cancels in float32 and float64 sums alike.
X = [3e37, 0.75, None, -3e37]
Y = [1.0, 2.0, 4.0, None]
EXPECTED = [
    {"column": "x", "count": 3, "null_count": 1, "nan_count": 0, "mean": 0.25},
    {"column": "y", "count": 3, "null_count": 1, "nan_count": 0, "mean": 7 / 3},
]


def run(*argv: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(argv), capture_output=True, timeout=120)
    assert proc.returncode == 0, f"{argv}: exit {proc.returncode}: {proc.stderr.decode()}"
    assert proc.stderr == b"", proc.stderr.decode()
    return proc


def main() -> None:
    for tool in ("cargo", "rustc"):
        assert shutil.which(tool) is None, f"{tool} is on PATH: {shutil.which(tool)}"
    assert "site-packages" in mapmean.__file__, f"mapmean imported from {mapmean.__file__}, not the wheel"
    script = shutil.which("mapmean")
    assert script is not None and pathlib.Path(script).parent == pathlib.Path(sys.executable).parent, script

    path = pathlib.Path(tempfile.mkdtemp()) / "xy.arrow"
    table = pa.table({"x": pa.array(X, pa.float32()), "y": pa.array(Y, pa.float32())})
    with pa.ipc.new_file(path, table.schema) as writer:
        writer.write_table(table)

    assert mapmean.mean(str(path), "x").as_py() == 0.25
    assert mapmean.mean(table, "y").as_py() == 7 / 3
    import numpy as np

    assert mapmean.mean(np.array([3e37, 0.75, -3e37], np.float32)[::-1]).as_py() == 0.25

    rows = [json.loads(line) for line in run(script, "mean", str(path), "--format", "json").stdout.splitlines()]
    assert rows == EXPECTED, rows
    module_rows = run(sys.executable, "-m", "mapmean", "mean", str(path), "--format", "json").stdout
    assert [json.loads(line) for line in module_rows.splitlines()] == EXPECTED
    table_out = run(sys.executable, "-m", "mapmean", "mean", str(path)).stdout.decode().split()
    assert table_out[:5] == ["column", "count", "null_count", "nan_count", "mean"], table_out

    arrow = pa.ipc.open_stream(run(script, "mean", str(path), "--format", "arrow").stdout).read_all()
    assert arrow.column("mean").to_pylist() == [0.25, 7 / 3], arrow

    missing = subprocess.run([script, "mean", str(path.with_name("missing.arrow"))], capture_output=True, text=True)
    assert missing.returncode == 1 and missing.stderr.startswith("error: "), missing
    assert "Traceback" not in missing.stderr
    print(f"wheel OK on Python {sys.version.split()[0]}: {mapmean.__file__}")


if __name__ == "__main__":
    os.chdir(tempfile.mkdtemp())  # never import mapmean from a source tree
    main()
