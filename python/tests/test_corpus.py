"""A corpus of damaged and unsuitable inputs (Arrow IPC and Parquet), through Python and the CLI.

Every input gives a clear error — a Python exception of the documented kinds
(never ``RuntimeError``, which mapmean keeps for internal errors), or
``error: …`` and exit status 1 from the CLI — or, where the damage left a
valid file, the same mean from both. Never a crash or a hang.
"""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import mapmean
import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest

EXPECTED = (ValueError, OSError, KeyError, TypeError)


def _ipc_bytes(stream: bool, compression: str | None = None) -> bytes:
    rng = np.random.default_rng(3)
    x = rng.standard_normal(300).astype(np.float32)
    mask = rng.random(300) < 0.1
    table = pa.table(
        {"x": pa.array(x, mask=mask), "n": pa.array(np.arange(300, dtype=np.int64))}
    )
    sink = pa.BufferOutputStream()
    opener = ipc.new_stream if stream else ipc.new_file
    with opener(sink, table.schema, options=ipc.IpcWriteOptions(compression=compression)) as writer:
        writer.write_table(table, max_chunksize=100)
    return sink.getvalue().to_pybytes()


def _parquet_bytes(compression: str) -> bytes:
    rng = np.random.default_rng(4)
    x = rng.standard_normal(300).astype(np.float32)
    mask = rng.random(300) < 0.1
    table = pa.table({"x": pa.array(x, mask=mask), "n": pa.array(np.arange(300, dtype=np.int64))})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression=compression, row_group_size=100, data_page_size=256)
    return sink.getvalue().to_pybytes()


def corpus() -> dict[str, bytes]:
    """Name -> damaged bytes."""
    items: dict[str, bytes] = {"empty": b"", "garbage": b"not arrow at all\n" * 10, "magic-only": b"ARROW1\0\0"}
    for kind, stream, compression in (("file", False, None), ("stream", True, None), ("file-zstd", False, "zstd")):
        good = _ipc_bytes(stream, compression)
        # Every section boundary is 8-byte aligned: truncate at each.
        for cut in range(0, len(good), 8):
            items[f"{kind}-cut-{cut}"] = good[:cut]
        # Bit flips in the headers (schema message) and the footer / last message.
        for at in [*range(0, 400, 7), *range(len(good) - 400, len(good), 7)]:
            damaged = bytearray(good)
            damaged[at] ^= 0x40
            items[f"{kind}-flip-{at}"] = bytes(damaged)
        # Lying 64-bit lengths and offsets (block and buffer fields are
        # 8-byte aligned little-endian words), including ones past the end.
        for at in range(8, len(good) - 8, 24):
            for lie in (len(good) + 64, 1 << 40, -8):
                damaged = bytearray(good)
                damaged[at : at + 8] = lie.to_bytes(8, "little", signed=True)
                items[f"{kind}-lie-{at}-{lie}"] = bytes(damaged)
    # Parquet (thrift varints, no aligned words): cuts, and flips everywhere.
    for kind, compression in (("parquet", "snappy"), ("parquet-zstd", "zstd")):
        good = _parquet_bytes(compression)
        for cut in range(0, len(good), 37):
            items[f"{kind}-cut-{cut}"] = good[:cut]
        for at in range(0, len(good), 13):
            damaged = bytearray(good)
            damaged[at] ^= 0x40
            items[f"{kind}-flip-{at}"] = bytes(damaged)
    return items


CORPUS = corpus()


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("corpus")
    for name, data in CORPUS.items():
        (directory / f"{name}.arrow").write_bytes(data)
    return directory


def _python_outcome(path: Path):
    try:
        return ("ok", mapmean.mean(path, "x").as_py())
    except EXPECTED as e:
        assert str(e), f"{path.name}: an empty error message"
        return ("error", type(e).__name__)


def test_every_damaged_input_is_an_error_or_a_mean_in_python(corpus_dir):
    outcomes = {name: _python_outcome(corpus_dir / f"{name}.arrow") for name in CORPUS}
    errors = sum(kind == "error" for kind, _ in outcomes.values())
    # Most damage is detected; all cuts of the file format are.
    assert errors > len(CORPUS) // 2, errors
    for name, (kind, _) in outcomes.items():
        if name.startswith(("file-cut-", "parquet-cut-", "parquet-zstd-cut-")) or name in (
            "empty",
            "garbage",
            "magic-only",
        ):
            assert kind == "error", name


def test_every_damaged_input_is_an_error_or_the_same_mean_in_the_cli(corpus_dir, cli):
    # Every third input (the CLI is a process per file): cuts, flips and lies alike.
    for name in list(CORPUS)[::3]:
        path = corpus_dir / f"{name}.arrow"
        proc = subprocess.run(
            [str(cli), "mean", str(path), "--column", "x", "--format", "json"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode in (0, 1), f"{name}: exit {proc.returncode}: {proc.stderr}"
        kind, value = _python_outcome(path)
        if proc.returncode == 0:
            assert kind == "ok", f"{name}: the CLI succeeded where Python raised {value}"
            mean = json.loads(proc.stdout)["mean"]
            # JSON has no NaN: the CLI writes a NaN mean as null.
            assert mean == value or (mean is None and (value is None or math.isnan(value))), name
        else:
            assert kind == "error", f"{name}: the CLI failed where Python gave {value}: {proc.stderr}"
            assert proc.stderr.startswith("error: ") and str(path) in proc.stderr, proc.stderr
            assert proc.stdout == "", name


def test_a_directory_and_an_empty_file_name_the_path(tmp_path, cli):
    empty = tmp_path / "empty.arrow"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        mapmean.mean(empty)
    # A directory is a dataset (as in open and scan): here its one file is empty.
    with pytest.raises(ValueError, match="empty"):
        mapmean.mean(tmp_path / ".")
    for target in (empty, tmp_path):
        proc = subprocess.run([str(cli), "mean", str(target / "." if target == tmp_path else target)],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 1 and proc.stderr.startswith("error: "), proc.stderr


@pytest.mark.parametrize(
    "array, type_name",
    [
        (pa.array([True, False]), "Boolean"),
        (pa.array(["a", "b"]), "Utf8"),
        (pa.array(["a", "b"]).dictionary_encode(), "Dictionary"),
        (pa.array([[1.0], [2.0]], pa.list_(pa.float32())), "List"),
        (pa.array([1, 2], pa.decimal128(5, 2)), "Decimal128"),
    ],
)
def test_unsupported_types_are_type_errors_naming_the_type(tmp_path, cli, array, type_name):
    path = tmp_path / "t.arrow"
    with ipc.new_file(path, pa.schema([("c", array.type)])) as writer:
        writer.write_table(pa.table({"c": array}))
    with pytest.raises(TypeError, match=type_name):
        mapmean.mean(path, "c")
    proc = subprocess.run([str(cli), "mean", str(path), "--column", "c"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and type_name in proc.stderr, proc.stderr
