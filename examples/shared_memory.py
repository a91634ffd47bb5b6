"""Share numpy data through POSIX shared memory and compute its exact mean in
other processes: a Python worker and the mapmean CLI.

    .venv/bin/python examples/shared_memory.py
"""

from __future__ import annotations

import pathlib
import subprocess
import sys

import numpy as np

import mapmean

ROOT = pathlib.Path(__file__).resolve().parent.parent
WORKER = """
import sys, mapmean
print(mapmean.mean(sys.argv[1], "x").as_py())
"""


def main() -> None:
    rng = np.random.default_rng(7)
    x = rng.normal(1e4, 1.0, 20_000_000).astype(np.float32)
    with mapmean.share({"x": x}, mask=None) as table:
        uri = "shm://" + table.name
        print(f"shared {table.nbytes / 2**20:.0f} MiB as {uri}")
        print("this process:  ", mapmean.mean(table, "x").as_py())
        worker = subprocess.run([sys.executable, "-c", WORKER, uri], capture_output=True, text=True, check=True)
        print("python worker: ", worker.stdout.strip())
        cli = ROOT / "target" / "release" / "mapmean"
        if cli.exists():
            out = subprocess.run([str(cli), "mean", uri, "--column", "x"], capture_output=True, text=True, check=True)
            print("mapmean CLI:\n" + out.stdout)
    print("unlinked:", not pathlib.Path("/dev/shm", table.name).exists())


if __name__ == "__main__":
    main()
