"""Checks an installed mapmean wheel from outside the source tree (``make test-wheel``).

Run with the Python of a fresh virtual environment into which only the built
wheel was installed, with no Rust toolchain on ``PATH``: the package, the
``mapmean`` console script and ``python -m mapmean`` must all work, and give
the exact means of a small file written here with pyarrow. The command
must start without importing numpy or pyarrow (what makes it start at once;
its median start-up time is printed, not asserted) and read a piped stream
in bounded memory, as the cargo-built binary does (``tests/cli_streams.rs``).
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
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


def imported_modules(*argv: str) -> set[str]:
    """The modules a Python command imports, from its ``-X importtime`` report."""
    proc = subprocess.run([sys.executable, "-X", "importtime", *argv], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"{argv}: exit {proc.returncode}: {proc.stderr}"
    lines = [line for line in proc.stderr.splitlines() if line.startswith("import time:")]
    assert lines, proc.stderr
    return {line.rsplit("|", 1)[1].strip() for line in lines[1:]}  # the first line is the header


def check_the_command_starts_without_numpy_or_pyarrow(script: str) -> None:
    """The console script (and ``python -m mapmean``) load the extension only."""
    for argv in ([script, "--version"], ["-m", "mapmean", "--version"]):
        modules = imported_modules(*argv)
        assert "mapmean._mapmean" in modules, sorted(modules)
        heavy = sorted(
            m
            for m in modules
            if m.split(".")[0] in ("numpy", "pyarrow") or m in ("mapmean._api", "mapmean.dask", "mapmean.datafusion")
        )
        assert not heavy, f"{argv} imports {heavy[:5]}"
    starts = []
    for _ in range(15):
        start = time.perf_counter()
        run(script, "--version")
        starts.append(time.perf_counter() - start)
    print(f"`mapmean --version`: median {statistics.median(starts) * 1e3:.1f} ms over {len(starts)} runs")


# The stream of tests/cli_streams.rs: 64 batches of 2**20 float32 values
# (256 MiB); batch k holds 0..2**20 permuted by xor with k.
STREAM_BATCH = 1 << 20
STREAM_BATCHES = 64
PEAK_RSS_BOUND_MIB = 128


def check_the_command_streams_a_pipe_in_bounded_memory(script: str) -> None:
    """``producer | mapmean mean -`` holds a few batches, not the stream."""
    schema = pa.schema([pa.field("x", pa.float32(), nullable=False)])
    ramp = np.arange(STREAM_BATCH, dtype=np.int64)
    with tempfile.TemporaryFile() as stderr:
        child = subprocess.Popen(
            [script, "mean", "-", "--format", "json"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr
        )

        def produce() -> None:
            with child.stdin, pa.ipc.new_stream(child.stdin, schema) as writer:
                for k in range(STREAM_BATCHES):
                    values = pa.array((ramp ^ k).astype(np.float32))
                    writer.write_batch(pa.record_batch([values], schema=schema))

        producer = threading.Thread(target=produce)
        producer.start()
        out = child.stdout.read()
        child.stdout.close()
        # wait4 reaps the child with its own resource usage (not that of
        # every child this process has had).
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        producer.join()
        stderr.seek(0)
        assert child.returncode == 0, stderr.read().decode()
    want = {
        "column": "x",
        "count": STREAM_BATCH * STREAM_BATCHES,
        "null_count": 0,
        "nan_count": 0,
        "mean": (STREAM_BATCH - 1) / 2,
    }
    assert json.loads(out) == want, out
    peak_mib = usage.ru_maxrss / 1024  # KiB on Linux
    stream_mib = STREAM_BATCH * STREAM_BATCHES * 4 / 2**20
    print(f"`mapmean mean -`: peak RSS {peak_mib:.0f} MiB for a {stream_mib:.0f} MiB stream")
    assert peak_mib < PEAK_RSS_BOUND_MIB, f"peak RSS {peak_mib:.0f} MiB for a {stream_mib:.0f} MiB stream"


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

    check_the_command_starts_without_numpy_or_pyarrow(script)
    check_the_command_streams_a_pipe_in_bounded_memory(script)
    print(f"wheel OK on Python {sys.version.split()[0]}: {mapmean.__file__}")


if __name__ == "__main__":
    os.chdir(tempfile.mkdtemp())  # never import mapmean from a source tree
    main()
