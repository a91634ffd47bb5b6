"""Shared fixtures for the mapmean Python tests.

The tests directory is put on ``sys.path`` so that ``from exact import ...``
works from every test module, whatever pytest's import mode.
"""

from __future__ import annotations

import os
import pathlib
import sys

import numpy as np
import pytest
from hypothesis import settings

TESTS_DIR = pathlib.Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parents[1]

if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))

# No example database on disk (nothing written to the work tree), no deadline
# (timings on a loaded 2-core machine vary).
settings.register_profile("mapmean", database=None, deadline=None)
settings.load_profile("mapmean")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: a test that takes several seconds (still run by default; deselect with -m 'not slow')"
    )


@pytest.fixture
def rng() -> np.random.Generator:
    """A generator with a fixed seed, fresh for every test."""
    return np.random.default_rng(20240601)


@pytest.fixture
def tmp_arrow(tmp_path: pathlib.Path):
    """A factory of fresh file paths in the test's temporary directory."""
    counter = iter(range(1_000_000))

    def make(suffix: str = ".arrow") -> pathlib.Path:
        return tmp_path / f"data{next(counter)}{suffix}"

    return make


def _cli_path() -> pathlib.Path:
    env = os.environ.get("MAPMEAN_BIN")
    if env:
        return pathlib.Path(env)
    return REPO_ROOT / "target" / "release" / "mapmean"


@pytest.fixture(scope="session")
def cli() -> pathlib.Path:
    """The mapmean command-line binary (``make all`` builds it); a test that
    needs it fails when it is missing, never skips."""
    path = _cli_path()
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(f"mapmean CLI binary not found at {path}: run `make all` (or set MAPMEAN_BIN)")
    return path
