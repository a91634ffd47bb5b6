"""Share numpy data through POSIX shared memory and compute its exact mean in
other processes: a Python worker and the mapmean CLI (``target/release/mapmean``
if cargo built it, else the ``mapmean`` command that installing the package
gives; without either, the output says the CLI part is skipped).

    .venv/bin/python examples/shared_memory.py

``MAPMEAN_EXAMPLE_N`` sets the number of values (default 20 M).
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
from typing import Optional

import numpy as np

import mapmean

ROOT = pathlib.Path(__file__).resolve().parent.parent
WORKER = """
import sys, mapmean
print(mapmean.mean(sys.argv[1], "x").as_py())
"""


def mapmean_command() -> Optional[str]:
    """The mapmean CLI: the cargo-built ``target/release/mapmean`` if there is
    one, else the ``mapmean`` command that installing the package put on PATH
    (beside this Python first, for an unactivated venv)."""
    built = ROOT / "target" / "release" / "mapmean"
    if built.exists():
        return str(built)
    beside = pathlib.Path(sys.executable).parent / "mapmean"
    if beside.exists() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("mapmean")


def main() -> None:
    rng = np.random.default_rng(7)
    x = rng.normal(1e4, 1.0, int(os.environ.get("MAPMEAN_EXAMPLE_N", 20_000_000))).astype(np.float32)
    with mapmean.share({"x": x}, mask=None) as table:
        uri = "shm://" + table.name
        print(f"shared {table.nbytes / 2**20:.0f} MiB as {uri}")
        print("this process:  ", mapmean.mean(table, "x").as_py())
        worker = subprocess.run([sys.executable, "-c", WORKER, uri], capture_output=True, text=True, check=True)
        print("python worker: ", worker.stdout.strip())
        cli = mapmean_command()
        if cli is None:
            print("mapmean CLI:    skipped: no target/release/mapmean (`make all` builds it) and no `mapmean` on PATH")
        else:
            out = subprocess.run([cli, "mean", uri, "--column", "x"], capture_output=True, text=True, check=True)
            print(f"mapmean CLI ({cli}):\n" + out.stdout)
    print("unlinked:", not pathlib.Path("/dev/shm", table.name).exists())


if __name__ == "__main__":
    main()
