"""The Python examples in examples/ run and check their own results."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import REPO_ROOT


@pytest.mark.parametrize(
    ("script", "needs"),
    [("state_bytes.py", None), ("dask_mean.py", "distributed")],
)
def test_the_example_runs_and_its_checks_pass(script, needs):
    if needs is not None:
        pytest.importorskip(needs)
    run = subprocess.run(
        [sys.executable, str(REPO_ROOT / "examples" / script)], capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr
    assert "merged" in run.stdout
