"""The Python examples in examples/ run and check their own results."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import REPO_ROOT


@pytest.mark.parametrize(
    ("script", "needs", "shows"),
    [
        ("state_bytes.py", None, "merged from bytes:"),
        ("dask_mean.py", "distributed", "merged"),
        # The CLI part runs (target/release/mapmean, else the venv's `mapmean`), never skips.
        ("shared_memory.py", None, "mapmean CLI ("),
    ],
)
def test_the_example_runs_and_its_checks_pass(script, needs, shows):
    if needs is not None:
        pytest.importorskip(needs)
    run = subprocess.run(
        [sys.executable, str(REPO_ROOT / "examples" / script)],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, MAPMEAN_EXAMPLE_N="200000"),
    )
    assert run.returncode == 0, run.stderr
    assert shows in run.stdout, run.stdout
