"""Peer comparison benchmark: mapmean against numpy, pyarrow, polars, DuckDB and
the classic C float loop, on memory-mapped Arrow IPC files.

Run from the repository root (``make bench`` does)::

    .venv/bin/python benches/compare.py
    .venv/bin/python benches/compare.py streams   # only the streams section
    .venv/bin/python benches/compare.py variance  # only the variance section (updates the docs)
    .venv/bin/python benches/compare.py big       # only the larger-than-memory section (updates the docs)
    .venv/bin/python benches/compare.py types [TYPE ...]  # only the per-type section (all types: updates the docs)

``MAPMEAN_BENCH_TYPE_BYTES=N`` makes the per-type files N bytes instead of 1 GiB
(under other names); the section is then printed, and docs/ is left alone.

It writes five data sets of ``2**MAPMEAN_BENCH_LOG2N`` float32 values (default
2**28, 1 GiB each) to ``data/bench/``, computes each one's exact mean
independently of mapmean, times every method with the page cache warm; then
the scaling over in-memory array sizes, ``mapmean.share`` against memcpy, and
datasets of many files (10,000 × 10,000 rows, 8 × 32 M rows) against
pyarrow.dataset and polars.scan_ipc; streams (``RecordBatchReader`` and the CLI
reading a pipe) against the in-memory kernel. It writes ``docs/benchmarks.md`` and
``docs/benchmarks.png``.
"""

from __future__ import annotations

import ctypes
import datetime
import functools
import json
import math
import mmap
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Optional

import duckdb
import matplotlib
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
from matplotlib.figure import Figure

import mapmean
from mapmean import _mapmean

ROOT = Path(__file__).resolve().parent.parent
C_SOURCE = ROOT / "benches" / "classic_mean.c"
DATA_DIR = ROOT / "data" / "bench"
DOC_PATH = ROOT / "docs" / "benchmarks.md"
PLOT_PATH = ROOT / "docs" / "benchmarks.png"

LOG2N = int(os.environ.get("MAPMEAN_BENCH_LOG2N", "28"))
N = 1 << LOG2N
BATCH_ROWS = 1 << 24  # rows per record batch in the written files
CHUNK = 1 << 24  # values per generation / reference step (bounds peak memory)
SEED = 20_240_601
NULL_FRACTION = 0.1

REPEATS = 5  # timed runs per method; the median is reported
SLOW_REPEATS = 3  # for methods whose warm-up call takes longer than SLOW_SECONDS
SLOW_SECONDS = 0.5
SCALING_LOG2_SIZES = tuple(range(12, LOG2N + 1, 2))
SCALING_BATCH_SECONDS = 0.04  # each scaling measurement: REPEATS batches of at least this long
CPUS = os.cpu_count() or 1

CEILING_ALL = "ceiling (all cores)"
CEILING_ONE = "ceiling (1 thread)"
MAPMEAN_ALL = "mapmean (all cores)"
MAPMEAN_ONE = "mapmean (1 thread)"
POLARS = "polars Series.mean()"


# --------------------------------------------------------------------------- data sets


def _fill_uniform(rng: np.random.Generator, out: np.ndarray, start: int, n: int) -> None:
    out[:] = rng.random(len(out), dtype=np.float32)


def _fill_offset(rng: np.random.Generator, out: np.ndarray, start: int, n: int) -> None:
    np.add(rng.standard_normal(len(out), dtype=np.float32), np.float32(1e4), out=out)


def _fill_wide(rng: np.random.Generator, out: np.ndarray, start: int, n: int) -> None:
    magnitude = 10.0 ** rng.uniform(-38.0, 38.0, len(out))
    sign = np.where(rng.random(len(out)) < 0.5, -1.0, 1.0)
    out[:] = magnitude * sign


def _fill_cancel(rng: np.random.Generator, out: np.ndarray, start: int, n: int) -> None:
    index = np.arange(start, start + len(out))
    out[:] = np.array([3e37, 0.75, -3e37], dtype=np.float32)[index % 3]
    # The last n % 3 values would start an unfinished triple with 3e37, whose
    # uncancelled 3e37 / n would swamp the 0.25; they are 0.75 instead.
    out[index >= n - n % 3] = np.float32(0.75)


def _log_uniform(rng: np.random.Generator, out: np.ndarray, decades: float) -> None:
    magnitude = 10.0 ** rng.uniform(-decades, decades, len(out))
    out[:] = magnitude * np.where(rng.random(len(out)) < 0.5, -1.0, 1.0)


def _fill_wide30(rng: np.random.Generator, out: np.ndarray, start: int, n: int) -> None:
    _log_uniform(rng, out, 30.0)


def _fill_wide10(rng: np.random.Generator, out: np.ndarray, start: int, n: int) -> None:
    _log_uniform(rng, out, 10.0)


def _fill_all_exponents(rng: np.random.Generator, out: np.ndarray, start: int, n: int) -> None:
    # Random bit patterns with a finite exponent: every binade, both signs,
    # subnormals and zeros included (exponent 0 in 1 of 255).
    bits = rng.integers(0, 1 << 32, len(out), dtype=np.uint64).astype(np.uint32)
    exponent = ((bits >> 23) & 0xFF) % 255
    out.view(np.uint32)[:] = (bits & np.uint32(0x807FFFFF)) | (exponent << 23)


def _fill_wide_subnormals(rng: np.random.Generator, out: np.ndarray, start: int, n: int) -> None:
    _log_uniform(rng, out, 30.0)
    tiny = rng.random(len(out)) < 0.1
    bits = rng.integers(0, 1 << 32, int(np.count_nonzero(tiny)), dtype=np.uint64).astype(np.uint32)
    out.view(np.uint32)[tiny] = bits & np.uint32(0x807FFFFF)


@dataclass(frozen=True)
class DataSet:
    """One benchmark column: how its values are made, and its null fraction."""

    name: str
    description: str
    fill: Callable[[np.random.Generator, np.ndarray, int, int], None]
    null_fraction: float = 0.0

    @property
    def path(self) -> Path:
        return DATA_DIR / f"{self.name}.arrow"


DATA_SETS = (
    DataSet("uniform", "U[0,1) float32, no nulls", _fill_uniform),
    DataSet("nulls10", "the `uniform` values, 10% of them null (random)", _fill_uniform, NULL_FRACTION),
    DataSet("offset", "1e4 + N(0,1), no nulls", _fill_offset),
    DataSet("wide", "magnitudes log-uniform in [1e-38, 1e38], random signs, no nulls", _fill_wide),
    DataSet(
        "cancel",
        "[3e37, 0.75, -3e37] repeated (the last N mod 3 values are 0.75), no nulls",
        _fill_cancel,
    ),
)


def write_data_set(data_set: DataSet, n: int) -> None:
    """Generate the data set in chunks and write it as an Arrow IPC file."""
    values = np.empty(n, dtype=np.float32)
    rng = np.random.default_rng(SEED)
    for start in range(0, n, CHUNK):
        data_set.fill(rng, values[start : start + CHUNK], start, n)
    mask = None
    if data_set.null_fraction:
        mask = np.empty(n, dtype=bool)
        mask_rng = np.random.default_rng(SEED + 1)
        for start in range(0, n, CHUNK):
            part = mask[start : start + CHUNK]
            part[:] = mask_rng.random(len(part)) < data_set.null_fraction
    data_set.path.parent.mkdir(parents=True, exist_ok=True)
    mapmean.write_ipc(data_set.path, values, mask=mask, batch_rows=BATCH_ROWS)
    del values, mask
    # Put the file on disk now, so that write-back does not run during the timings.
    fd = os.open(data_set.path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- exact reference


def _exponent_sums(values: np.ndarray) -> tuple[np.ndarray, int]:
    """Per biased exponent, the sum of the signed 24-bit significands (exact in
    float64 while a bin's |sum| < 2**53, true for up to 2**29 values), and the
    number of Inf/NaN values."""
    bits = values.view(np.uint32)
    exponent = (bits >> 23) & 0xFF
    significand = ((bits & 0x7FFFFF) | ((exponent != 0).astype(np.uint32) << 23)).astype(np.float64)
    signed = np.where(bits >> 31 != 0, -significand, significand)
    return np.bincount(exponent, weights=signed, minlength=256), int(np.count_nonzero(exponent == 0xFF))


def exact_mean(table: pa.Table) -> tuple[float, int]:
    """The correctly rounded float64 mean of the valid values of the table's
    "values" column and their count, computed from the bits with Python ints
    (no mapmean code involved)."""
    sums = [0] * 256
    count = 0
    for chunk in table.column("values").chunks:
        valid = pc.drop_null(chunk).to_numpy(zero_copy_only=False)
        for start in range(0, len(valid), CHUNK):
            part_sums, non_finite = _exponent_sums(valid[start : start + CHUNK])
            if non_finite:
                raise ValueError("the reference handles finite values only")
            for e in np.flatnonzero(part_sums):
                sums[e] += int(part_sums[e])
        count += len(valid)
    # A value is significand * 2**(max(e, 1) - 150); in units of 2**-149:
    total = sum(s << (max(e, 1) - 1) for e, s in enumerate(sums) if s)
    # int / int true division is correctly rounded in CPython.
    return total / (count << 149), count


def ulp_error(result: Optional[float], exact: float) -> float:
    """|result - exact| in units of the float64 ulp of the exact mean."""
    if result is None or not math.isfinite(result):
        return math.nan if result is None or math.isnan(result) else math.inf
    return float(abs(Fraction(result) - Fraction(exact)) / Fraction(math.ulp(exact)))


# --------------------------------------------------------------------------- methods


@dataclass
class Source:
    """One opened data set, as each method reads it. Everything but mapmean
    and the ceiling (which take the path) is opened outside the timed calls."""

    path: str
    table: pa.Table
    count: int
    chunks: Optional[list[np.ndarray]]  # zero-copy numpy views; None when there are nulls
    series: pl.Series
    con: duckdb.DuckDBPyConnection
    classic_sum: Callable[..., float]


def open_source(path: Path, classic_sum: Callable[..., float]) -> Source:
    """Memory-map the file and hand each peer its zero-copy view of the column."""
    table = pa.ipc.open_file(pa.memory_map(str(path))).read_all()
    column = table.column("values")
    chunks = None
    if column.null_count == 0:
        chunks = [chunk.to_numpy(zero_copy_only=True) for chunk in column.chunks]
    con = duckdb.connect()
    con.register("tbl", table)
    return Source(
        path=str(path),
        table=table,
        count=len(column) - column.null_count,
        chunks=chunks,
        series=pl.from_arrow(table, rechunk=False)["values"],
        con=con,
        classic_sum=classic_sum,
    )


def load_classic_sum(build_dir: str) -> Callable[..., float]:
    """Compile benches/classic_mean.c and return its classic_sum(x, n, s)."""
    library = os.path.join(build_dir, "classic_mean.so")
    subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", library, str(C_SOURCE)], check=True)
    function = ctypes.CDLL(library).classic_sum
    function.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_float)
    function.restype = ctypes.c_float
    return function


def _ceiling(src: Source, threads: Optional[int]) -> None:
    _mapmean._read_ceiling(src.path, threads)


def _numpy_f32(src: Source) -> float:
    # numpy.mean's float32 sum (pairwise, float32 accumulator) per chunk, the
    # chunk sums added in float32 and divided in float32, as numpy.mean does.
    total = np.float32(0)
    with np.errstate(over="ignore", invalid="ignore"):
        for chunk in src.chunks:
            total += np.add.reduce(chunk)
        return float(total / np.float32(src.count))


def _numpy_f64(src: Source) -> float:
    total = 0.0
    for chunk in src.chunks:
        total += float(np.add.reduce(chunk, dtype=np.float64))
    return total / src.count


def _classic_c(src: Source) -> float:
    total = 0.0
    for chunk in src.chunks:
        total = src.classic_sum(chunk.ctypes.data, chunk.size, total)
    with np.errstate(over="ignore", invalid="ignore"):
        return float(np.float32(total) / np.float32(src.count))


def _duckdb_avg(src: Source) -> float:
    return src.con.execute('SELECT avg("values") FROM tbl').fetchone()[0]


@dataclass(frozen=True)
class Method:
    """A timed way to compute the mean; run returns the mean (None for the ceilings)."""

    name: str
    run: Callable[[Source], Optional[float]]
    needs_dense: bool = False  # cannot skip nulls: n/a on a column with nulls


METHODS = (
    Method(CEILING_ALL, lambda src: _ceiling(src, None)),
    Method(CEILING_ONE, lambda src: _ceiling(src, 1)),
    Method(MAPMEAN_ALL, lambda src: mapmean.mean(src.path).as_py()),
    Method(MAPMEAN_ONE, lambda src: mapmean.mean(src.path, threads=1).as_py()),
    Method("numpy.mean float32", _numpy_f32, needs_dense=True),
    Method("numpy.mean dtype=float64", _numpy_f64, needs_dense=True),
    Method("pyarrow.compute.mean", lambda src: pc.mean(src.table.column("values")).as_py()),
    Method(POLARS, lambda src: src.series.mean()),
    Method("DuckDB avg", _duckdb_avg),
    Method("classic C float loop", _classic_c, needs_dense=True),
)


@dataclass(frozen=True)
class Timing:
    """The median of the timed runs of one method on one data set, and its
    speed relative to the ceilings timed right before each run."""

    method: str
    seconds: float
    runs: int
    result: Optional[float]
    # Median over the runs of (ceiling time / method time), each ceiling
    # timed just before the method's run: the machine's state (other
    # tenants, frequency) is then the same for both, unlike two medians
    # taken minutes apart.
    per_ceiling: dict[str, float]


def _timed(function: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def time_method(method: Method, src: Source) -> Timing:
    """One untimed warm-up call, then REPEATS (SLOW_REPEATS if slow) timed
    calls, each preceded by one call of each ceiling."""
    warm_up, _ = _timed(lambda: method.run(src))
    runs = SLOW_REPEATS if warm_up > SLOW_SECONDS else REPEATS
    seconds = []
    ratios: dict[str, list[float]] = {CEILING_ALL: [], CEILING_ONE: []}
    result = None
    for _ in range(runs):
        ceilings = {CEILING_ALL: _timed(lambda: _ceiling(src, None))[0], CEILING_ONE: _timed(lambda: _ceiling(src, 1))[0]}
        elapsed, result = _timed(lambda: method.run(src))
        seconds.append(elapsed)
        for name, ceiling_seconds in ceilings.items():
            ratios[name].append(ceiling_seconds / elapsed)
    per_ceiling = {name: statistics.median(values) for name, values in ratios.items()}
    return Timing(method.name, statistics.median(seconds), runs, result, per_ceiling)


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class DataSetResult:
    """Every method's timing on one data set, with the exact mean."""

    data_set: DataSet
    exact: float
    count: int
    timings: dict[str, Timing]  # methods that do not apply are absent

    def gbps(self, method: str) -> Optional[float]:
        timing = self.timings.get(method)
        return 4 * N / timing.seconds / 1e9 if timing else None

    def ratio(self, method: str, reference: str) -> Optional[float]:
        """How many times faster method is than reference (a time ratio);
        against a ceiling, the median of the paired per-run ratios."""
        if method not in self.timings or reference not in self.timings:
            return None
        timing = self.timings[method]
        if reference in timing.per_ceiling:
            return timing.per_ceiling[reference]
        return self.timings[reference].seconds / timing.seconds


def prepare_data_set(data_set: DataSet) -> tuple[float, int]:
    """Write one data set's file; return its exact mean and valid count."""
    print(f"\n## {data_set.name}: {data_set.description}", flush=True)
    start = time.perf_counter()
    write_data_set(data_set, N)
    print(f"written {data_set.path.relative_to(ROOT)} in {time.perf_counter() - start:.1f} s", flush=True)
    start = time.perf_counter()
    exact, count = exact_mean(pa.ipc.open_file(pa.memory_map(str(data_set.path))).read_all())
    print(f"exact mean {exact!r} of {count} values ({time.perf_counter() - start:.1f} s)", flush=True)
    return exact, count


def bench_data_set(
    data_set: DataSet, exact: float, count: int, classic_sum: Callable[..., float]
) -> DataSetResult:
    """Time every method on one data set's file."""
    print(f"\n## {data_set.name}: exact mean {exact!r}", flush=True)
    src = open_source(data_set.path, classic_sum)
    timings = {}
    for method in METHODS:
        if method.needs_dense and src.chunks is None:
            print(f"  {method.name:<26} n/a (no null support)", flush=True)
            continue
        timing = time_method(method, src)
        timings[method.name] = timing
        line = f"  {method.name:<26} {timing.seconds * 1e3:9.2f} ms  {4 * N / timing.seconds / 1e9:6.2f} GB/s"
        if timing.result is not None:
            line += f"  {timing.result!r}  ({_format_ulps(ulp_error(timing.result, exact))} ulps)"
        print(line, flush=True)
    src.con.close()
    del src
    return DataSetResult(data_set, exact, count, timings)


def measure_rate(function: Callable[[], object], nbytes: int) -> float:
    """GB/s of function: the median over REPEATS batches of calls, each batch
    long enough (SCALING_BATCH_SECONDS) for the timer to resolve it."""
    start = time.perf_counter()
    function()
    once = max(time.perf_counter() - start, 1e-7)
    calls = max(1, math.ceil(SCALING_BATCH_SECONDS / once))
    per_call = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        for _ in range(calls):
            function()
        per_call.append((time.perf_counter() - start) / calls)
    return nbytes / statistics.median(per_call) / 1e9


SCALING_LINES = (
    ("mapmean (1 thread)", lambda array: mapmean.mean(array, threads=1)),
    ("mapmean (all cores)", lambda array: mapmean.mean(array)),
    ("np.sum float32", np.sum),
)


def bench_scaling() -> dict[int, dict[str, float]]:
    """GB/s of mapmean.mean and np.sum on in-memory float32 arrays of 2**k values."""
    print("\n## scaling: in-memory numpy float32 arrays (U[0,1))", flush=True)
    array = np.random.default_rng(SEED).random(1 << SCALING_LOG2_SIZES[-1], dtype=np.float32)
    rows = {}
    for log2_size in SCALING_LOG2_SIZES:
        view = array[: 1 << log2_size]
        rows[log2_size] = {
            name: measure_rate(functools.partial(function, view), view.nbytes) for name, function in SCALING_LINES
        }
        cells = "  ".join(f"{name} {gbps:7.2f}" for name, gbps in rows[log2_size].items())
        print(f"  2^{log2_size:<3} {cells}  GB/s", flush=True)
    del array
    return rows


# --------------------------------------------------------------------------- streams


STREAM_LOG2N = min(LOG2N, 26)  # values streamed per measurement (256 MiB at the default size)
STREAM_BATCH_MIB = (1, 4, 16)
STREAM_IN_MEMORY = "mapmean.mean(one array)"
CLI_BINARY = ROOT / "target" / "release" / "mapmean"


def _median_time(function: Callable[[], object], repeats: int = REPEATS) -> float:
    function()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_streams() -> dict[str, tuple[float, float]]:
    """Median seconds and ratio (in-memory time / streamed time) of mapmean
    over a RecordBatchReader of batches of 1, 4 and 16 MiB against
    ``mapmean.mean`` of the same values as one array; and of the CLI reading
    an IPC stream from a pipe (``cat file | mapmean mean -``) against the CLI
    mapping the same file."""
    n = 1 << STREAM_LOG2N
    print(f"\n## streams: 2^{STREAM_LOG2N} U[0,1) float32 values", flush=True)
    values = np.random.default_rng(SEED).random(n, dtype=np.float32)
    array = pa.array(values)
    schema = pa.schema([("x", pa.float32())])
    rows: dict[str, tuple[float, float]] = {}
    base = _median_time(lambda: mapmean.mean(array))
    rows[STREAM_IN_MEMORY] = (base, 1.0)
    for mib in STREAM_BATCH_MIB:
        rows_per_batch = mib << 18
        batches = [pa.record_batch([array.slice(i, rows_per_batch)], schema=schema) for i in range(0, n, rows_per_batch)]
        seconds = _median_time(lambda: mapmean.mean(pa.RecordBatchReader.from_batches(schema, batches), "x"))
        rows[f"RecordBatchReader, {mib} MiB batches"] = (seconds, base / seconds)
    if CLI_BINARY.exists():
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        path = DATA_DIR / f"stream-2^{STREAM_LOG2N}.arrows"
        mapmean.write_ipc(path, values, batch_rows=1 << 20, format="stream")
        mapped = _median_time(lambda: subprocess.run([CLI_BINARY, "mean", path, "--format", "json"], check=True, capture_output=True))
        rows["CLI, mapped file (4 MiB batches)"] = (mapped, 1.0)

        def piped() -> None:
            cat = subprocess.Popen(["cat", path], stdout=subprocess.PIPE)
            subprocess.run([CLI_BINARY, "mean", "-", "--format", "json"], stdin=cat.stdout, check=True, capture_output=True)
            cat.stdout.close()
            cat.wait()

        seconds = _median_time(piped)
        rows["CLI, `cat file | mapmean mean -`"] = (seconds, mapped / seconds)
        path.unlink()
    else:
        print(f"  (the CLI rows are skipped: no {CLI_BINARY}; `make all` builds it)", flush=True)
    for name, (seconds, ratio) in rows.items():
        print(f"  {name:<40} {seconds * 1e3:9.1f} ms  {n * 4 / seconds / 1e9:6.2f} GB/s  ratio {ratio:.2f}", flush=True)
    return rows


def streams_table(rows: dict[str, tuple[float, float]]) -> list[str]:
    n = 1 << STREAM_LOG2N
    lines = ["| method | median time | GB/s | ratio |", "|---|---:|---:|---:|"]
    lines += [
        f"| {name} | {seconds * 1e3:.1f} ms | {n * 4 / seconds / 1e9:.2f} | {ratio:.2f} |"
        for name, (seconds, ratio) in rows.items()
    ]
    return lines


# --------------------------------------------------------------------------- shared memory: the write path


SHARE_LINES = (
    "mapmean.share",
    "memcpy into a fresh /dev/shm file",
    "memcpy into fresh anonymous pages",
    "memcpy into touched pages",
)
SHARE_BASELINE = SHARE_LINES[1]


def _copy_into_shm(array: np.ndarray) -> str:
    """The plain way to put the bytes in shared memory: create a /dev/shm file,
    size it, map it, copy (what ``share`` does, without the IPC framing)."""
    path = f"/dev/shm/mapmean-bench-{os.getpid()}"
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
    try:
        os.ftruncate(fd, array.nbytes)
        with mmap.mmap(fd, array.nbytes) as mapping:
            view = np.frombuffer(mapping, dtype=array.dtype)
            view[:] = array
            del view
    finally:
        os.close(fd)
    return path


def bench_share() -> dict[str, float]:
    """GB/s of ``mapmean.share`` (creating the segment and writing the IPC image
    into it) against copies of the same bytes: into a fresh /dev/shm file
    (the same kernel work: tmpfs pages allocated and zeroed on first touch),
    into a fresh ``np.empty`` (anonymous memory, transparent huge pages), and
    into pages already touched (the memory-copy speed)."""
    print("\n## shared memory: mapmean.share vs memcpy, U[0,1) float32", flush=True)
    array = np.random.default_rng(SEED).random(N, dtype=np.float32)
    touched = np.empty_like(array)
    touched[:] = 0
    cleanup: list[Callable[[], None]] = []  # run after each call, not timed

    def share() -> None:
        table = mapmean.share(array)
        table.close()
        cleanup.append(table.unlink)

    def shm_copy() -> None:
        path = _copy_into_shm(array)
        cleanup.append(lambda: os.unlink(path))

    functions = (share, shm_copy, lambda: np.copyto(np.empty_like(array), array), lambda: np.copyto(touched, array))
    rates = {}
    for name, function in zip(SHARE_LINES, functions):
        seconds = []
        for _ in range(REPEATS + 1):  # the first call is the warm-up
            start = time.perf_counter()
            function()
            seconds.append(time.perf_counter() - start)
            while cleanup:  # unlinking (freeing the pages) is not timed
                cleanup.pop()()
        rates[name] = array.nbytes / statistics.median(seconds[1:]) / 1e9
        print(f"  {name:<34} {rates[name]:6.2f} GB/s", flush=True)
    with mapmean.share(array) as table:  # the segment holds what was shared
        assert mapmean.mean(table).as_py() == mapmean.mean(array).as_py()
    return rates


# --------------------------------------------------------------------------- datasets: many files


@dataclass(frozen=True)
class FileSet:
    """A dataset of `files` IPC files of `rows` U[0,1) values each, and one
    file (`single`) holding the same values, to tell per-file overhead from
    bytes."""

    name: str
    files: int
    rows: int

    @property
    def directory(self) -> Path:
        return DATA_DIR / self.name

    @property
    def single(self) -> Path:
        return DATA_DIR / f"{self.name}-single.arrow"

    @property
    def nbytes(self) -> int:
        return 4 * self.files * self.rows


# The sizes the issue asks for; a quick run (MAPMEAN_BENCH_LOG2N < 26) uses fewer, smaller files.
FILE_SETS = (
    FileSet("many-small", 10_000 if LOG2N >= 26 else 1000, 10_000),
    FileSet("few-large", 8, min(32 << 20, N // 8)),
)

DATASET_LINES = (
    "mapmean.scan (all cores)",
    "mapmean.scan (1 thread)",
    "pyarrow.dataset + pc.mean",
    "polars.scan_ipc mean",
)


def _dataset_call(line: str, target: str) -> Callable[[], float]:
    """The call of `line` over `target` (a directory or one file), discovery included."""
    if line.startswith("mapmean"):
        threads = 1 if "1 thread" in line else None
        return lambda: mapmean.scan(target, "values", threads=threads).column("mean")[0].as_py()
    if line.startswith("pyarrow"):
        import pyarrow.dataset as pads

        return lambda: pc.mean(pads.dataset(target, format="ipc").to_table(columns=["values"])["values"]).as_py()
    pattern = os.path.join(target, "*.arrow") if os.path.isdir(target) else target
    return lambda: pl.scan_ipc(pattern).select(pl.col("values").mean()).collect().item()


@dataclass(frozen=True)
class FileSetResult:
    file_set: FileSet
    exact: float
    seconds: dict[str, float]  # line -> median seconds over the directory
    single_seconds: dict[str, float]  # line -> median seconds over the single file
    results: dict[str, float]

    def per_file_us(self, line: str) -> float:
        return (self.seconds[line] - self.single_seconds[line]) / self.file_set.files * 1e6

    def gbps(self, line: str) -> float:
        return self.file_set.nbytes / self.seconds[line] / 1e9


def prepare_file_set(file_set: FileSet) -> float:
    """Write the files and the single file; return the exact mean."""
    print(f"\n## {file_set.name}: {file_set.files} files × {file_set.rows} rows", flush=True)
    start = time.perf_counter()
    values = np.random.default_rng(SEED + 2).random(file_set.files * file_set.rows, dtype=np.float32)
    if file_set.directory.exists():
        for old in file_set.directory.glob("*.arrow"):
            old.unlink()
    file_set.directory.mkdir(parents=True, exist_ok=True)
    width = len(str(file_set.files - 1))
    for i in range(file_set.files):
        part = values[i * file_set.rows : (i + 1) * file_set.rows]
        mapmean.write_ipc(file_set.directory / f"part-{i:0{width}d}.arrow", part, batch_rows=BATCH_ROWS)
    mapmean.write_ipc(file_set.single, values, batch_rows=BATCH_ROWS)
    os.sync()
    exact, _ = exact_mean(pa.table({"values": values}))
    print(f"written in {time.perf_counter() - start:.1f} s; exact mean {exact!r}", flush=True)
    return exact


def _median_seconds(function: Callable[[], float]) -> tuple[float, float]:
    """Median seconds of `function` after one warm-up (runs as in time_method), and its result."""
    warm_up, _ = _timed(function)
    runs = [_timed(function) for _ in range(SLOW_REPEATS if warm_up > SLOW_SECONDS else REPEATS)]
    return statistics.median(seconds for seconds, _ in runs), runs[-1][1]


def bench_file_set(file_set: FileSet, exact: float) -> FileSetResult:
    print(f"\n## {file_set.name}: exact mean {exact!r}", flush=True)
    seconds, single, results = {}, {}, {}
    for line in DATASET_LINES:
        seconds[line], results[line] = _median_seconds(_dataset_call(line, str(file_set.directory)))
        single[line], _ = _median_seconds(_dataset_call(line, str(file_set.single)))
        result = FileSetResult(file_set, exact, seconds, single, results)
        print(
            f"  {line:<26} {seconds[line] * 1e3:9.1f} ms  (one file: {single[line] * 1e3:8.1f} ms)"
            f"  {result.gbps(line):6.2f} GB/s  {result.per_file_us(line):8.1f} µs/file"
            f"  {results[line]!r} ({_format_ulps(ulp_error(results[line], exact))} ulps)",
            flush=True,
        )
    return FileSetResult(file_set, exact, seconds, single, results)


# --------------------------------------------------------------------------- speed: kept mappings, small arrays, cold cache


KEPT_LINES = (
    "ceiling, fresh mapping per call",
    "ceiling, kept mapping",
    "mapmean.mean(path), one-shot",
    "Dataset.mean(), kept (mapmean.open)",
)


def _uniform_path() -> Path:
    """The `uniform` data set's file, written if an earlier run left none."""
    data_set = DATA_SETS[0]
    if not data_set.path.exists():
        write_data_set(data_set, N)
    return data_set.path


def bench_kept() -> dict[str, tuple[float, float]]:
    """Median seconds of each KEPT_LINES entry on the `uniform` file (page cache
    warm, all cores), and its ratio against its own ceiling: the one-shot call
    against the ceiling that maps per call, the kept handle against the
    ceiling that keeps its mapping. Each round times every line once (the kept
    ceiling and the handle as the best of three passes each, the others once),
    so the ratios pair measurements a few hundred ms apart."""
    path = str(_uniform_path())
    print(f"\n## kept mappings: {path}, page cache warm", flush=True)
    times: dict[str, list[float]] = {line: [] for line in KEPT_LINES}
    ratios: dict[str, list[float]] = {line: [] for line in KEPT_LINES}
    with mapmean.open(path) as data:
        assert data.mean().equals(mapmean.mean(path))
        for _ in range(REPEATS + 1):  # the first round is the warm-up
            fresh = _timed(lambda: _mapmean._read_ceiling(path, None))[0]
            kept = min(_mapmean._read_ceiling_kept(path, None, 3))
            one_shot = _timed(lambda: mapmean.mean(path))[0]
            # The best of three, as the kept ceiling's: like against like.
            handle = min(_timed(lambda: data.mean())[0] for _ in range(3))
            for line, seconds, ceiling in zip(KEPT_LINES, (fresh, kept, one_shot, handle), (fresh, kept, fresh, kept)):
                times[line].append(seconds)
                ratios[line].append(ceiling / seconds)
    rows = {line: (statistics.median(times[line][1:]), statistics.median(ratios[line][1:])) for line in KEPT_LINES}
    nbytes = os.path.getsize(path)
    for line, (seconds, ratio) in rows.items():
        print(f"  {line:<38} {seconds * 1e3:8.1f} ms  {nbytes / seconds / 1e9:6.2f} GB/s  × own ceiling {ratio:.2f}", flush=True)
    return rows


def kept_table(rows: dict[str, tuple[float, float]]) -> list[str]:
    nbytes = DATA_SETS[0].path.stat().st_size if DATA_SETS[0].path.exists() else 4 * N
    one_shot, handle = rows[KEPT_LINES[2]][0], rows[KEPT_LINES[3]][0]
    lines = ["| method | median time | GB/s (file bytes) | × its ceiling | ceiling |", "|---|---:|---:|---:|---|"]
    for line, (seconds, ratio) in rows.items():
        ceiling = "itself" if line.startswith("ceiling") else KEPT_LINES[0] if "one-shot" in line else KEPT_LINES[1]
        lines.append(f"| {line} | {seconds * 1e3:.1f} ms | {nbytes / seconds / 1e9:.2f} | {ratio:.2f} | {ceiling} |")
    lines.append(f"| kept handle / one-shot (time ratio) | | | {one_shot / handle:.2f} | |")
    return lines


#: The `types` section: TYPE_BYTES of each type, warm, through a kept handle on all cores.
TYPE_SETS = (
    ("float32", lambda rng, n: rng.random(n, dtype=np.float32)),
    ("float64", lambda rng, n: rng.random(n)),
    ("float16", lambda rng, n: rng.random(n).astype(np.float16)),
    ("int32", lambda rng, n: rng.integers(-(2**31), 2**31, n, dtype=np.int32)),
    ("int64", lambda rng, n: rng.integers(-(2**62), 2**62, n, dtype=np.int64)),
    ("int8", lambda rng, n: rng.integers(-128, 128, n, dtype=np.int8)),
    ("uint64", lambda rng, n: rng.integers(0, 2**64, n, dtype=np.uint64)),
    # Issue 21's other Float64 shapes: 1e3 + 10·N(0,1), and 600 decades with random signs.
    ("float64-normal", lambda rng, n: 1e3 + 10 * rng.standard_normal(n)),
    ("float64-wide", lambda rng, n: rng.choice([-1.0, 1.0], n) * 10.0 ** rng.uniform(-300, 300, n)),
)
#: 1 GiB per type. MAPMEAN_BENCH_TYPE_BYTES in the environment makes a quicker
#: run: its files get other names (a small file is never reused by a full run),
#: and neither docs/benchmarks.md nor docs/benchmarks-types.png is rewritten.
DEFAULT_TYPE_BYTES = 1 << 30
TYPE_BYTES = int(os.environ.get("MAPMEAN_BENCH_TYPE_BYTES", DEFAULT_TYPE_BYTES))
TYPES_PLOT_PATH = ROOT / "docs" / "benchmarks-types.png"
#: The peers of the kept handle's mean, each given the mapped column outside the timed region.
TYPE_PEERS = {
    "numpy": "numpy `mean`",
    "polars": "polars `mean`",
    "pyarrow": "pyarrow `pc.mean`",
    "duckdb": "DuckDB `avg`",
}
#: The types whose variance is timed too (issue 21: Float64 variance ≥ 0.3 × the kept ceiling).
VARIANCE_TYPES = ("float32", "float64", "float16", "float64-normal", "float64-wide")
TYPE_VARIANCE_DDOF = 0  # the default of mapmean.variance and pyarrow.compute.variance
#: Issue 21's targets on the kept-ceiling ratio: (type, row key, statistic, target, goal).
TYPE_TARGETS = (
    ("float64", "ratio", "mean", 0.5, 0.9),
    ("float64-normal", "ratio", "mean", 0.5, 0.9),
    ("float64-wide", "ratio", "mean", 0.2, 0.4),
    ("float64", "variance_ratio", "variance", 0.3, 0.5),
    ("float64-normal", "variance_ratio", "variance", 0.3, 0.5),
    ("float64-wide", "variance_ratio", "variance", 0.3, 0.5),
)
FLOAT64_TYPES = ("float64", "float64-normal", "float64-wide")


def _type_path(name: str) -> Path:
    """The file of one type set; a size other than the default gets its own name."""
    suffix = "" if TYPE_BYTES == DEFAULT_TYPE_BYTES else f"-{TYPE_BYTES}B"
    return DATA_DIR / f"types-{name}{suffix}.arrow"


def _type_ulps(result: float, exact: float) -> float:
    """|result - exact| in float64 ulps of exact: 0 when they are equal (the
    same infinity too), inf when only one of them is finite or either is NaN."""
    if result == exact:
        return 0.0
    if not (math.isfinite(result) and math.isfinite(exact)):
        return math.inf
    return abs(result - exact) / math.ulp(exact) if exact else abs(result)


def _failure(error: BaseException) -> str:
    """One line naming an exception, for the n/a cells."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}".rstrip(": ")


def bench_types(only: Optional[list[str]] = None) -> dict[str, dict[str, Any]]:
    """Per type (those in `only`, or all): the kept handle's mean against the
    kept-mapping ceiling (median of REPEATS rounds, each the best of three), and
    numpy's, polars', pyarrow's and DuckDB's means on the same mapped values
    (one call each per round) with their error in ulps against the exact mean;
    for the float types, the kept handle's variance too (best of three per
    round, against the same ceiling) and pyarrow's. A peer that raises is
    recorded as None, its reason in the row's "failures"."""
    rows: dict[str, dict[str, Any]] = {}
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    for index, (name, make) in enumerate(TYPE_SETS):
        if only and name not in only:
            continue
        rng = np.random.default_rng(20 + index)
        path = _type_path(name)
        itemsize = np.dtype(name.split("-")[0]).itemsize
        if not path.exists() or path.stat().st_size < TYPE_BYTES:
            mapmean.write_ipc(path, make(rng, TYPE_BYTES // itemsize))
        path = str(path)
        has_variance = name in VARIANCE_TYPES
        con = duckdb.connect()
        with mapmean.open(path) as data:
            table = pa.ipc.open_file(pa.memory_map(path)).read_all()
            column = table.column(0)
            values = column.to_numpy() if column.num_chunks == 1 else column.combine_chunks().to_numpy()
            series = pl.from_arrow(column)
            query = f'SELECT avg("{table.column_names[0]}") FROM tbl'
            exact = data.mean().as_py()
            peers: dict[str, Callable[[], Any]] = {
                "numpy": lambda: float(np.mean(values)),
                "polars": lambda: float(series.mean()),
                "pyarrow": lambda: pc.mean(column).as_py(),
                "duckdb": lambda: float(con.execute(query).fetchone()[0]),
            }
            if has_variance:
                peers["mapmean_variance"] = lambda: mapmean.variance(data, ddof=TYPE_VARIANCE_DDOF).as_py()
                peers["pyarrow_variance"] = lambda: pc.variance(column, ddof=TYPE_VARIANCE_DDOF).as_py()
            failures: dict[str, str] = {}
            try:
                con.register("tbl", table)  # outside the timed region, as the other peers' views
            except Exception as error:  # noqa: BLE001 - a peer's failure is a result
                failures["duckdb"] = _failure(error)
            results: dict[str, Any] = {}
            for peer, function in peers.items():
                if peer in failures:
                    continue
                try:
                    results[peer] = function()
                except Exception as error:  # noqa: BLE001 - a peer's failure is a result
                    failures[peer] = _failure(error)
            for peer, reason in failures.items():
                print(f"  {name:<8} {peer}: n/a ({reason})", flush=True)
            times: dict[str, list[float]] = {key: [] for key in ("mean", "ceiling", "ratio", "variance_ratio", *results)}
            for _ in range(REPEATS + 1):
                kept = min(_mapmean._read_ceiling_kept(path, None, 3))
                handle = min(_timed(lambda: data.mean())[0] for _ in range(3))
                times["ceiling"].append(kept)
                times["mean"].append(handle)
                times["ratio"].append(kept / handle)
                for peer in results:
                    if peer == "mapmean_variance":
                        # The best of three, as the kept ceiling's: like against like.
                        seconds = min(_timed(peers[peer])[0] for _ in range(3))
                        times["variance_ratio"].append(kept / seconds)
                    else:
                        seconds = _timed(peers[peer])[0]
                    times[peer].append(seconds)
        con.close()
        ulps = lambda x: _type_ulps(x, exact)  # noqa: E731
        row: dict[str, Any] = {
            "seconds": statistics.median(times["mean"][1:]),
            "ratio": statistics.median(times["ratio"][1:]),
            "ceiling": statistics.median(times["ceiling"][1:]),
            "bytes": os.path.getsize(path),
            "failures": failures,
        }
        for peer in TYPE_PEERS:
            found = peer in results and results[peer] is not None
            row[peer] = statistics.median(times[peer][1:]) if found else None
            row[f"{peer}_ulps"] = ulps(results[peer]) if found else None
        row["variance"] = row["variance_ratio"] = row["variance_value"] = None
        row["pyarrow_variance"] = row["pyarrow_variance_ulps"] = None
        if results.get("mapmean_variance") is not None:
            exact_variance = results["mapmean_variance"]  # exact, correctly rounded (tested)
            row["variance"] = statistics.median(times["mapmean_variance"][1:])
            row["variance_ratio"] = statistics.median(times["variance_ratio"][1:])
            row["variance_value"] = exact_variance
            if results.get("pyarrow_variance") is not None:
                got = results["pyarrow_variance"]
                row["pyarrow_variance"] = statistics.median(times["pyarrow_variance"][1:])
                row["pyarrow_variance_ulps"] = _type_ulps(got, exact_variance)
        rows[name] = row
        peers_text = "  ".join(
            f"{peer} " + ("n/a" if row[peer] is None else f"{row[peer] * 1e3:.1f} ms ({row[f'{peer}_ulps']:.3g} ulps)")
            for peer in TYPE_PEERS
        )
        variance_text = ""
        if row["variance"] is not None:
            variance_text = f"  variance {row['variance'] * 1e3:.1f} ms × kept ceiling {row['variance_ratio']:.2f}"
            if row["pyarrow_variance"] is not None:
                variance_text += (
                    f" (pyarrow {row['pyarrow_variance'] * 1e3:.1f} ms, {row['pyarrow_variance_ulps']:.3g} ulps)"
                )
        print(
            f"  {name:<8} {row['seconds'] * 1e3:7.1f} ms  {row['bytes'] / row['seconds'] / 1e9:6.2f} GB/s  × kept ceiling "
            f"{row['ratio']:.2f}  {peers_text}{variance_text}",
            flush=True,
        )
    return rows


TYPES_HEADING = "## Every numeric type"


def types_targets(rows: dict[str, dict[str, Any]]) -> list[str]:
    """Issue 21's targets, PASS or MISS from this run (the types measured)."""
    lines = []
    for name, key, statistic, target, goal in TYPE_TARGETS:
        if name not in rows:
            continue
        ratio = rows[name][key]
        if ratio is None:
            lines.append(f"- {name} {statistic} ≥ {target} × the kept ceiling: not measured — **MISS**")
            continue
        verdict = "PASS" if ratio >= target else "MISS"
        reached = "reached" if ratio >= goal else "not reached"
        lines.append(
            f"- {name} {statistic} ≥ {target} × the kept ceiling: {ratio:.2f} × — **{verdict}** (goal ≥ {goal} ×: {reached})"
        )
    for name in FLOAT64_TYPES:
        if name not in rows:
            continue
        row = rows[name]
        compared = []
        for peer in ("numpy", "polars"):
            peer_seconds = row[peer]
            compared.append(f"{peer} n/a" if peer_seconds is None else f"{peer} {peer_seconds * 1e3:.1f} ms")
        ahead = all(row[peer] is not None and row["seconds"] < row[peer] for peer in ("numpy", "polars"))
        lines.append(
            f"- {name} mean ahead of numpy and polars: mapmean {row['seconds'] * 1e3:.1f} ms, "
            f"{', '.join(compared)} — **{'PASS' if ahead else 'MISS'}**"
        )
    return lines


def types_section(rows: dict[str, dict[str, Any]], other_cpu: str) -> list[str]:
    """The per-type section of docs/benchmarks.md."""
    cpu = dict(machine_description()).get("CPU", platform.processor())
    lines = [
        TYPES_HEADING,
        "",
        f"{_format_bytes(TYPE_BYTES)} of values per type in one IPC file (U[0,1) for the floats, uniform over the "
        "type's range for the integers, int64 over ±2^62; `float64-normal` is 1e3 + 10·N(0,1), `float64-wide` "
        "magnitudes 10^U(-300,300) with random signs), page cache warm, all cores, through a kept `mapmean.open` "
        "handle: `Dataset.mean()` against the kept-mapping ceiling of the same file (the best of 3 each, median over "
        f"{REPEATS} rounds after a warm-up round). The peers get the same mapped column, prepared outside the timed "
        "region: numpy `np.mean` on the zero-copy array, polars `Series.mean()`, pyarrow `pc.mean` on the "
        "ChunkedArray, DuckDB `SELECT avg(col)` over the mapped table registered on a connection opened beforehand; "
        "one call each per round, the median over the same rounds. Their error is in float64 ulps of the exact mean "
        "(mapmean's). n/a: the peer raised on the type (the reasons are listed below the tables). GB/s are file "
        "bytes per second. For the float types, `mapmean.variance(data)` on the kept handle "
        f"(ddof={TYPE_VARIANCE_DDOF}, the exact variance correctly rounded) is timed the same way (best of 3 per "
        "round, against that round's kept ceiling), with pyarrow's `pc.variance` and its error in ulps of mapmean's "
        "variance. Targets (issue 20): integers ≥ 0.9 ×, Float16 ≥ 0.8 ×. Issue 21: Float64 mean (uniform, and "
        "`float64-normal`, the offset shape) ≥ 0.5 × (goal 0.9 ×), `float64-wide` ≥ 0.2 × (goal 0.4 ×), Float64 "
        "variance ≥ 0.3 × (goal 0.5 ×; the same target applied to each Float64 shape), and the Float64 mean ahead of "
        "numpy and polars (a shorter median time than each). "
        f"Machine: {cpu}, {CPUS} cores; other processes' CPU use during the timings: {other_cpu}. "
        "Reproduce with `.venv/bin/python benches/compare.py types [TYPE ...]` "
        "(`MAPMEAN_BENCH_TYPE_BYTES=N` for smaller files; the docs are then left alone).",
        "",
        *types_table(rows),
    ]
    variance = types_variance_table(rows)
    if variance:
        lines += ["", *variance]
    lines += ["", "Issue 21's targets in this run:", "", *types_targets(rows)]
    labels = {**TYPE_PEERS, "mapmean_variance": "`mapmean.variance`", "pyarrow_variance": "pyarrow `pc.variance`"}
    failures = [
        f"- {name}, {labels.get(peer, peer)}: `{reason}`"
        for name, row in rows.items()
        for peer, reason in row["failures"].items()
    ]
    if failures:
        lines += [
            "",
            "Not available: the call raised (recorded, not timed). DuckDB has no half-precision type (its Arrow scan "
            "rejects Float16, Arrow format `e`), and pyarrow's `mean` and `variance` have no half-float kernel "
            f"(pyarrow {pa.__version__}, DuckDB {duckdb.__version__}):",
            "",
            *failures,
        ]
    lines += ["", f"![GB/s per type: mapmean's kept handle, its peers and the kept ceiling]({TYPES_PLOT_PATH.name})"]
    return lines


def update_section_docs(heading: str, lines: list[str]) -> None:
    """Put a section into docs/benchmarks.md, replacing an earlier one with the
    same heading, else at the end."""
    text = DOC_PATH.read_text() if DOC_PATH.exists() else ""
    section = "\n".join(lines) + "\n"
    start = text.find(heading + "\n")
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + len(heading))
        text = text[:start] + section + (text[end + 1 :] if end >= 0 else "")
    DOC_PATH.write_text(text)


def _ms_cell(seconds: Optional[float]) -> str:
    return "n/a" if seconds is None else f"{seconds * 1e3:.1f} ms"


def _ulps_cell(ulps: Optional[float]) -> str:
    return "n/a" if ulps is None else f"{ulps:.3g} ulps"


def types_table(rows: dict[str, dict[str, Any]]) -> list[str]:
    peers = "".join(f" {label} | error |" for label in TYPE_PEERS.values())
    lines = [
        f"| type | mapmean (kept handle) | GB/s | × kept ceiling | ceiling GB/s |{peers}",
        "|---|---:|---:|---:|---:|" + "---:|---:|" * len(TYPE_PEERS),
    ]
    for name, r in rows.items():
        cells = "".join(f" {_ms_cell(r[peer])} | {_ulps_cell(r[f'{peer}_ulps'])} |" for peer in TYPE_PEERS)
        lines.append(
            f"| {name} | {r['seconds'] * 1e3:.1f} ms | {r['bytes'] / r['seconds'] / 1e9:.2f} | {r['ratio']:.2f} "
            f"| {r['bytes'] / r['ceiling'] / 1e9:.2f} |{cells}"
        )
    return lines


def types_variance_table(rows: dict[str, dict[str, Any]]) -> list[str]:
    """The variance of the float types; empty when none was measured."""
    measured = {name: r for name, r in rows.items() if name in VARIANCE_TYPES}
    if not measured:
        return []
    lines = [
        f"| type | `mapmean.variance` (kept handle, ddof={TYPE_VARIANCE_DDOF}) | GB/s | × kept ceiling "
        "| pyarrow `pc.variance` | error |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in measured.items():
        gbps = "n/a" if r["variance"] is None else f"{r['bytes'] / r['variance'] / 1e9:.2f}"
        ratio = "n/a" if r["variance_ratio"] is None else f"{r['variance_ratio']:.2f}"
        lines.append(
            f"| {name} | {_ms_cell(r['variance'])} | {gbps} | {ratio} | {_ms_cell(r['pyarrow_variance'])} "
            f"| {_ulps_cell(r['pyarrow_variance_ulps'])} |"
        )
    return lines


def write_types_plot(rows: dict[str, dict[str, Any]], path: Path) -> None:
    """GB/s (file bytes / median time) per type: mapmean's kept handle, its
    peers and (float types) its variance as bars, the kept ceiling as a line."""
    figure = Figure(figsize=(max(9, 1.6 * len(rows) + 3), 5), layout="constrained")
    axes = figure.subplots()
    colors = matplotlib.colormaps["tab10"].colors
    series = [("seconds", "mapmean mean (kept handle, exact)"), *((peer, label.replace("`", "")) for peer, label in TYPE_PEERS.items())]
    series.append(("variance", "mapmean variance (kept handle, exact)"))
    width = 0.8 / len(series)
    names = list(rows)
    for index, (key, label) in enumerate(series):
        labelled = False
        for group, name in enumerate(names):
            x = group - 0.4 + (index + 0.5) * width
            seconds = rows[name][key]
            if seconds is None:
                if key != "variance" or name in VARIANCE_TYPES:
                    axes.annotate("n/a", (x, 0), ha="center", va="bottom", fontsize="x-small", rotation=90)
                continue
            axes.bar(
                x, rows[name]["bytes"] / seconds / 1e9, width, color=colors[index % len(colors)],
                hatch="//" if key == "variance" else None, label=None if labelled else label,
            )
            labelled = True
    for group, name in enumerate(names):
        axes.hlines(rows[name]["bytes"] / rows[name]["ceiling"] / 1e9, group - 0.45, group + 0.45, colors="black",
                    label="kept-mapping ceiling" if group == 0 else None)
    axes.set_xticks(range(len(names)), names, rotation=20)
    axes.set_ylabel("GB/s (file bytes / median time)")
    axes.set_title(f"Every numeric type, {_format_bytes(TYPE_BYTES)} per file, memory-mapped, page cache warm, all cores")
    axes.legend(fontsize="small", ncols=4, loc="upper center", bbox_to_anchor=(0.5, -0.12))
    figure.savefig(path, dpi=110)


def publish_types(rows: dict[str, dict[str, Any]], other_cpu: str, to_docs: bool) -> None:
    """Print the per-type section and write its plot; with to_docs and the
    default size, put both into docs/, else the plot goes under data/bench/."""
    section = types_section(rows, other_cpu)
    print("\n".join(["", *section]), flush=True)
    if to_docs and TYPE_BYTES == DEFAULT_TYPE_BYTES:
        write_types_plot(rows, TYPES_PLOT_PATH)
        update_section_docs(TYPES_HEADING, section)
        return
    plot = DATA_DIR / f"benchmarks-types-{TYPE_BYTES}B.png"
    write_types_plot(rows, plot)
    print(f"\n(docs/benchmarks.md not updated; the plot is {plot.relative_to(ROOT)})", flush=True)


PARQUET_SETS = (("float32", "snappy"), ("float32", "none"), ("float64", "snappy"), ("float64", "none"))
PARQUET_HEADING = "## Parquet"


def bench_parquet() -> dict[str, dict[str, float]]:
    """Per (type, compression): 1 GiB of U[0,1) values written by pyarrow
    (default row groups and pages), page cache warm. mapmean.mean(path),
    DuckDB's avg over the file, pyarrow's read_table + pc.mean and polars'
    scan_parquet + mean run in turn, once each per round; the median over
    REPEATS rounds (after one warm-up round), and each peer's error in ulps."""
    import pyarrow.parquet as pq

    con = duckdb.connect()
    rows: dict[str, dict[str, float]] = {}
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    for index, (dtype, compression) in enumerate(PARQUET_SETS):
        path = DATA_DIR / f"parquet-{dtype}-{compression}.parquet"
        if not path.exists():
            rng = np.random.default_rng(40 + index)
            pq.write_table(pa.table({"x": rng.random(DEFAULT_TYPE_BYTES // np.dtype(dtype).itemsize).astype(dtype)}),
                           path, compression=compression)
        file = str(path)
        methods = {
            "mapmean": lambda: mapmean.mean(file, "x").as_py(),
            "duckdb": lambda: con.execute(f"SELECT avg(x) FROM '{file}'").fetchone()[0],
            "pyarrow": lambda: pc.mean(pq.read_table(file, columns=["x"])["x"]).as_py(),
            "polars": lambda: pl.scan_parquet(file).select(pl.col("x").mean()).collect().item(),
        }
        times: dict[str, list[float]] = {name: [] for name in methods}
        values: dict[str, float] = {}
        for round_ in range(REPEATS + 1):
            for name, function in methods.items():
                seconds, value = _timed(function)
                values[name] = float(value)
                if round_:
                    times[name].append(seconds)
        exact = values["mapmean"]
        row = {name: statistics.median(t) for name, t in times.items()}
        for name in ("duckdb", "pyarrow", "polars"):
            row[f"{name}_ulps"] = abs(values[name] - exact) / math.ulp(exact)
        row["ratio"] = min(row["duckdb"], row["pyarrow"], row["polars"]) / row["mapmean"]
        row["bytes"] = path.stat().st_size
        rows[f"{dtype}, {compression}"] = row
        print(
            f"  {dtype} {compression:<6} mapmean {row['mapmean'] * 1e3:6.0f} ms  duckdb {row['duckdb'] * 1e3:6.0f} ms  "
            f"pyarrow {row['pyarrow'] * 1e3:6.0f} ms  polars {row['polars'] * 1e3:6.0f} ms  "
            f"fastest peer / mapmean {row['ratio']:.2f}",
            flush=True,
        )
    return rows


def parquet_section(rows: dict[str, dict[str, float]], other_cpu: str) -> list[str]:
    """The Parquet section of docs/benchmarks.md."""
    cpu = dict(machine_description()).get("CPU", platform.processor())
    lines = [
        PARQUET_HEADING,
        "",
        "1 GiB of U[0,1) values (2^28 float32 or 2^27 float64) in one Parquet file written by pyarrow with its "
        "defaults (row groups of 2^20 rows, 1 MiB pages, dictionary pages until the dictionary reaches 1 MiB, then "
        "plain), snappy or uncompressed; page cache warm, all cores. mapmean: `mapmean.mean(path, \"x\")`, the "
        "one-shot call (map, decode only `x`, row groups in parallel). Peers: DuckDB `SELECT avg(x) FROM 'f.parquet'`, "
        "pyarrow `pc.mean(pq.read_table(f, columns=[\"x\"])[\"x\"])`, polars "
        "`pl.scan_parquet(f).select(pl.col(\"x\").mean()).collect()`. The four run in turn, once each per round; "
        f"medians over {REPEATS} rounds after a warm-up round. Errors are float64 ulps of the exact mean (mapmean's). "
        "Target (issue 23): ≥ 1.0 × the fastest peer. "
        f"Machine: {cpu}, {CPUS} cores; other processes' CPU use during the timings: {other_cpu}. "
        "Reproduce with `.venv/bin/python benches/compare.py parquet`.",
        "",
        "| data | file | mapmean | DuckDB | error | pyarrow | error | polars | error | fastest peer ÷ mapmean |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in rows.items():
        lines.append(
            f"| {name} | {r['bytes'] / 2**30:.2f} GiB | {r['mapmean'] * 1e3:.0f} ms "
            f"| {r['duckdb'] * 1e3:.0f} ms | {r['duckdb_ulps']:.3g} ulps | {r['pyarrow'] * 1e3:.0f} ms "
            f"| {r['pyarrow_ulps']:.3g} ulps | {r['polars'] * 1e3:.0f} ms | {r['polars_ulps']:.3g} ulps "
            f"| {r['ratio']:.2f} |"
        )
    return lines


GROUPS_HEADING = "## Grouped statistics"
GROUPS_PLOT_PATH = Path(__file__).resolve().parent.parent / "docs" / "benchmarks-groups.png"
#: Rows of the grouped benchmark (issue 22 asks for 10^8; GROUP_ROWS in the
#: environment makes a quicker run).
GROUP_ROWS = int(os.environ.get("GROUP_ROWS", 10**8))
GROUP_ROUNDS = 3
GROUP_SETS = (("int32", 100), ("int32", 10_000), ("int32", 1_000_000), ("string", 10_000))


def _group_errors(keys: np.ndarray, groups: int, x: np.ndarray, means: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
    """Each method's largest error over the groups, in float64 ulps of the
    exact per-group mean. U[0,1) float32 values are multiples of 2^-24, so
    x * 2^24 are integers below 2^24, and a group's sum of them stays below
    2^53 for up to 2^29 rows: a float64 bincount of them is exact."""
    sums = np.bincount(keys, weights=x.astype(np.float64) * 2**24, minlength=groups)
    counts = np.bincount(keys, minlength=groups)
    exact = np.array(
        [float(Fraction(int(s), int(c) << 24)) if c else math.nan for s, c in zip(sums.tolist(), counts.tolist())]
    )
    ok = counts > 0
    ulp = np.spacing(np.abs(exact[ok]))
    errors = {}
    for name, (got_keys, got) in means.items():
        full = np.full(groups, np.nan)
        full[got_keys] = got
        errors[name] = float(np.max(np.abs(full[ok] - exact[ok]) / ulp))
    return errors


def bench_groups() -> dict[str, dict[str, float]]:
    """Per key set: GROUP_ROWS rows of U[0,1) float32 values and keys drawn
    uniformly from the groups, in memory (a pyarrow table; polars and DuckDB
    read the same buffers). The mean per group by mapmean.group_by, pyarrow's
    TableGroupBy.aggregate, polars' group_by, DuckDB's GROUP BY avg and numpy's
    single-threaded bincount (inexact, no nulls: the floor the issue names),
    in turn, once each per round; medians over GROUP_ROUNDS rounds after a
    warm-up round; each peer's largest error in ulps over the groups."""
    rows: dict[str, dict[str, float]] = {}
    rng = np.random.default_rng(22)
    x = rng.random(GROUP_ROWS, dtype=np.float32)
    for kind, groups in GROUP_SETS:
        codes = rng.integers(0, groups, GROUP_ROWS).astype(np.int32)
        if kind == "string":
            names = pa.array([f"key-{i:06d}" for i in range(groups)])
            keys = pa.DictionaryArray.from_arrays(pa.array(codes), names).cast(pa.string())
        else:
            keys = pa.array(codes)
        table = pa.table({"g": keys, "x": x})
        frame = pl.from_arrow(table)
        con = duckdb.connect()
        con.register("t", table)

        def to_codes(key_column: Any) -> np.ndarray:
            if kind == "string":
                return np.array([int(k[4:]) for k in key_column.to_pylist()], dtype=np.int64)
            return np.asarray(key_column.to_numpy(zero_copy_only=False), dtype=np.int64)

        methods = {
            "mapmean": lambda: mapmean.group_by(table, "g").mean("x"),
            "pyarrow": lambda: table.group_by("g").aggregate([("x", "mean")]),
            "polars": lambda: frame.group_by("g").agg(pl.col("x").mean()),
            "duckdb": lambda: con.sql("SELECT g, avg(x) AS x_mean FROM t GROUP BY g").to_arrow_table(),
            "bincount": lambda: np.bincount(codes, weights=x, minlength=groups) / np.bincount(codes, minlength=groups),
        }
        times: dict[str, list[float]] = {name: [] for name in methods}
        results: dict[str, Any] = {}
        for round_ in range(GROUP_ROUNDS + 1):
            for name, function in methods.items():
                seconds, value = _timed(function)
                results[name] = value
                if round_:
                    times[name].append(seconds)
        row = {name: statistics.median(t) for name, t in times.items()}
        means = {}
        for name in ("mapmean", "pyarrow", "duckdb"):
            t = results[name]
            means[name] = (to_codes(t["g"]), t["x_mean"].to_numpy(zero_copy_only=False))
        polars_result = results["polars"]
        means["polars"] = (to_codes(polars_result["g"].to_arrow()), polars_result["x"].to_numpy())
        means["bincount"] = (np.arange(groups), results["bincount"])
        errors = _group_errors(codes, groups, x, means)
        for name, error in errors.items():
            row[f"{name}_ulps"] = error
        row["ratio"] = min(row["pyarrow"], row["polars"], row["duckdb"]) / row["mapmean"]
        row["bincount_ratio"] = row["mapmean"] / row["bincount"]
        label = f"{kind} keys, {groups:,} groups"
        rows[label] = row
        print(
            f"  {label:<28} mapmean {row['mapmean'] * 1e3:7.0f} ms  pyarrow {row['pyarrow'] * 1e3:7.0f} ms  "
            f"polars {row['polars'] * 1e3:7.0f} ms  duckdb {row['duckdb'] * 1e3:7.0f} ms  "
            f"bincount {row['bincount'] * 1e3:7.0f} ms  fastest peer / mapmean {row['ratio']:.2f}  "
            f"mapmean error {row['mapmean_ulps']:.3g} ulps",
            flush=True,
        )
        del table, frame, con
    return rows


def groups_section(rows: dict[str, dict[str, float]], other_cpu: str) -> list[str]:
    """The grouped-statistics section of docs/benchmarks.md, and its plot."""
    cpu = dict(machine_description()).get("CPU", platform.processor())
    lines = [
        GROUPS_HEADING,
        "",
        f"The mean of a float32 column per group, {GROUP_ROWS:,} rows of U[0,1) values with keys drawn uniformly "
        "from the groups, in memory as one pyarrow table (polars and DuckDB read the same Arrow buffers): "
        "`mapmean.group_by(t, 'g').mean('x')`, pyarrow `t.group_by('g').aggregate([('x', 'mean')])`, "
        "polars `df.group_by('g').agg(pl.col('x').mean())`, DuckDB `SELECT g, avg(x) FROM t GROUP BY g`, and "
        "numpy's single-threaded `bincount(codes, weights=x) / bincount(codes)` (inexact, no nulls, integer codes "
        "only: the floor). The five run in turn, once each per round; medians over "
        f"{GROUP_ROUNDS} rounds after a warm-up round. Errors: the largest over the groups, in float64 ulps of the "
        "exact per-group mean (integer arithmetic). Target (issue 22): ≥ 1.0 × the fastest of pyarrow, polars and "
        "DuckDB (goal: within 2 × bincount). "
        f"Machine: {cpu}, {CPUS} cores; other processes' CPU use during the timings: {other_cpu}. "
        "Reproduce with `.venv/bin/python benches/compare.py groups` (`GROUP_ROWS=N` for fewer rows).",
        "",
        "| keys | mapmean | error | pyarrow | error | polars | error | DuckDB | error | bincount | fastest peer ÷ mapmean | mapmean ÷ bincount |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in rows.items():
        lines.append(
            f"| {name} | {r['mapmean'] * 1e3:.0f} ms | {r['mapmean_ulps']:.3g} ulps "
            f"| {r['pyarrow'] * 1e3:.0f} ms | {r['pyarrow_ulps']:.3g} ulps "
            f"| {r['polars'] * 1e3:.0f} ms | {r['polars_ulps']:.3g} ulps "
            f"| {r['duckdb'] * 1e3:.0f} ms | {r['duckdb_ulps']:.3g} ulps "
            f"| {r['bincount'] * 1e3:.0f} ms | **{r['ratio']:.2f}** | {r['bincount_ratio']:.2f} |"
        )
    lines += ["", f"![grouped mean times]({GROUPS_PLOT_PATH.name})"]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(9, 4.5))
    names = ["mapmean", "pyarrow", "polars", "duckdb", "bincount"]
    labels = list(rows)
    width = 0.16
    for i, name in enumerate(names):
        axes.bar(
            [j + (i - 2) * width for j in range(len(labels))],
            [rows[label][name] * 1e3 for label in labels],
            width,
            label=name + (" (exact)" if name == "mapmean" else ""),
        )
    axes.set_xticks(range(len(labels)), labels)
    axes.set_ylabel("ms (median)")
    axes.set_yscale("log")
    axes.set_title(f"Mean per group, {GROUP_ROWS:,} float32 rows")
    axes.legend()
    figure.tight_layout()
    figure.savefig(GROUPS_PLOT_PATH, dpi=110)
    plt.close(figure)
    return lines


SMALL_LOG2_SIZES = tuple(range(16, 23))
SMALL_LINES = ("mapmean.mean(array)", POLARS, "np.mean(array) float32")


def bench_small() -> dict[int, dict[str, float]]:
    """Median seconds per call of mapmean.mean, polars Series.mean() and
    np.mean on in-cache float32 arrays of 2^16..2^22 values; the calls of the
    three alternate batch by batch, so that each ratio pairs batches taken
    milliseconds apart. Adds `× polars` = polars time / mapmean time, the
    median of the paired ratios."""
    print("\n## small arrays: in-cache numpy float32 (U[0,1)), seconds per call", flush=True)
    array = np.random.default_rng(SEED).random(1 << SMALL_LOG2_SIZES[-1], dtype=np.float32)
    rows: dict[int, dict[str, float]] = {}
    for log2_size in SMALL_LOG2_SIZES:
        view = array[: 1 << log2_size]
        series = pl.Series(view)
        functions = (lambda: mapmean.mean(view), series.mean, lambda: np.mean(view))
        assert mapmean.mean(view).as_py() == series.mean()
        once = max(_timed(functions[0])[0], 1e-7)
        calls = max(1, math.ceil(SCALING_BATCH_SECONDS / 4 / once))
        per_call: dict[str, list[float]] = {name: [] for name in SMALL_LINES}
        ratio = []
        for _ in range(3 * REPEATS):
            for name, function in zip(SMALL_LINES, functions):
                start = time.perf_counter()
                for _ in range(calls):
                    function()
                per_call[name].append((time.perf_counter() - start) / calls)
            ratio.append(per_call[POLARS][-1] / per_call[SMALL_LINES[0]][-1])
        rows[log2_size] = {name: statistics.median(values) for name, values in per_call.items()}
        rows[log2_size]["× polars"] = statistics.median(ratio)
        cells = "  ".join(f"{name} {rows[log2_size][name] * 1e6:8.1f} µs" for name in SMALL_LINES)
        print(f"  2^{log2_size:<3} {cells}  × polars {rows[log2_size]['× polars']:.2f}", flush=True)
    return rows


def small_table(rows: dict[int, dict[str, float]]) -> list[str]:
    lines = ["| values | bytes | " + " | ".join(f"{name} µs" for name in SMALL_LINES) + " | mapmean × polars | mapmean × numpy |"]
    lines.append("|---|---:|" + "---:|" * (len(SMALL_LINES) + 2))
    for log2_size, row in rows.items():
        lines.append(
            f"| 2^{log2_size} | {_format_bytes(4 << log2_size)} | "
            + " | ".join(f"{row[name] * 1e6:.1f}" for name in SMALL_LINES)
            + f" | {row['× polars']:.2f} | {row[SMALL_LINES[2]] / row[SMALL_LINES[0]]:.2f} |"
        )
    return lines


COLD_LINES = ("dd bs=1M", "Python read, 1 MiB chunks", "mapmean.mean(path)", "mapmean.mean(path), no readahead")


def _drop_from_page_cache(path: Path) -> None:
    """Evict the file's pages (clean, and mapped by nobody) from the page cache."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _read_in_chunks(path: Path) -> None:
    with open(path, "rb", buffering=0) as file:
        buffer = memoryview(bytearray(1 << 20))
        while file.readinto(buffer):
            pass


def _without_readahead(function: Callable[[], object]) -> object:
    os.environ["MAPMEAN_NO_READAHEAD"] = "1"
    try:
        return function()
    finally:
        del os.environ["MAPMEAN_NO_READAHEAD"]


def bench_cold() -> dict[str, tuple[float, float]]:
    """Median seconds of reading the `uniform` file with the page cache cold,
    by dd, by Python in 1 MiB chunks and by mapmean.mean, each run after
    evicting the file (posix_fadvise DONTNEED); and mapmean's ratio to each
    reader (its time / mapmean's), paired round by round."""
    path = _uniform_path()
    print(f"\n## cold page cache: {path}", flush=True)
    functions = (
        lambda: subprocess.run(["dd", f"if={path}", "of=/dev/null", "bs=1M"], check=True, capture_output=True),
        lambda: _read_in_chunks(path),
        lambda: mapmean.mean(path),
        lambda: _without_readahead(lambda: mapmean.mean(path)),
    )
    times: dict[str, list[float]] = {line: [] for line in COLD_LINES}
    for _ in range(REPEATS):
        for line, function in zip(COLD_LINES, functions):
            _drop_from_page_cache(path)
            times[line].append(_timed(function)[0])
    mapmean_times = times[COLD_LINES[2]]
    rows = {
        line: (statistics.median(seconds), statistics.median(s / m for s, m in zip(seconds, mapmean_times)))
        for line, seconds in times.items()
    }
    nbytes = path.stat().st_size
    for line, (seconds, ratio) in rows.items():
        print(f"  {line:<28} {seconds * 1e3:8.1f} ms  {nbytes / seconds / 1e9:6.2f} GB/s  mapmean × this {ratio:.2f}", flush=True)
    return rows


BIG_HEADING = "## Larger than memory"
BIG_LINES = ("dd bs=1M", "mapmean mean (CLI)", "mapmean mean (CLI), no readahead")
BIG_REPEATS = 3
BIG_SPARE_DISK = 4 << 30  # left free on the file system after writing the file


def _meminfo_bytes(key: str) -> int:
    words = _first_line_with("/proc/meminfo", key).split()
    return int(words[0]) * 1024 if words and words[0].isdigit() else 0


def _write_big_file(path: Path, nbytes: int) -> int:
    """A Float32 IPC file of about `nbytes` (64 MiB batches of one random
    block, repeated: the read is what is measured); its value count."""
    rng = np.random.default_rng(SEED)
    block = pa.array(rng.random(BATCH_ROWS, dtype=np.float32))
    schema = pa.schema([("x", pa.float32())])
    batches = nbytes // (4 * BATCH_ROWS)
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
        for _ in range(batches):
            writer.write_batch(pa.record_batch([block], schema=schema))
    return batches * BATCH_ROWS


BigResult = tuple[Optional[dict[str, tuple[float, float]]], str, int]


def bench_larger_than_memory() -> BigResult:
    """Median seconds of reading a Float32 file 1.15 times the size of the
    machine's memory, cold, by dd and by the CLI (with and without its
    read-ahead), rounds interleaved, and the ratio of each to the CLI's
    (its time / the CLI's), a description and the file's size; or None and
    why it was skipped (too little free disk). The file is deleted afterwards."""
    memory = _meminfo_bytes("MemTotal:")
    nbytes = int(memory * 1.15)
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    free = os.statvfs(DATA_DIR).f_bavail * os.statvfs(DATA_DIR).f_frsize
    print(f"\n## larger than memory: {nbytes / 2**30:.1f} GiB file, {memory / 2**30:.1f} GiB of memory", flush=True)
    if not memory or free < nbytes + BIG_SPARE_DISK:
        reason = (
            f"Skipped: a file larger than memory needs {(nbytes + BIG_SPARE_DISK) / 2**30:.1f} GiB of free disk "
            f"in `{DATA_DIR.relative_to(ROOT)}`, which has {free / 2**30:.1f} GiB."
        )
        print(f"  {reason}", flush=True)
        return None, reason, 0
    path = DATA_DIR / "larger-than-memory.arrow"
    try:
        values = _write_big_file(path, nbytes)
        size = path.stat().st_size
        description = f"{values:,} Float32 values, {size / 1e9:.1f} GB ({memory / 2**30:.1f} GiB of memory)"
        commands = (
            ["dd", f"if={path}", "of=/dev/null", "bs=1M"],
            [str(CLI_BINARY), "mean", str(path)],
            ["env", "MAPMEAN_NO_READAHEAD=1", str(CLI_BINARY), "mean", str(path)],
        )
        times: dict[str, list[float]] = {line: [] for line in BIG_LINES}
        for _ in range(BIG_REPEATS):
            for line, command in zip(BIG_LINES, commands):
                _drop_from_page_cache(path)
                seconds = _timed(lambda: subprocess.run(command, check=True, capture_output=True))[0]
                times[line].append(seconds)
                print(f"  {line:<34} {seconds:7.2f} s  (load {os.getloadavg()[0]:.2f})", flush=True)
    finally:
        path.unlink(missing_ok=True)
    cli_times = times[BIG_LINES[1]]
    rows = {
        line: (statistics.median(seconds), statistics.median(s / m for s, m in zip(seconds, cli_times)))
        for line, seconds in times.items()
    }
    return rows, description, size


def big_section(result: BigResult, other_cpu: str) -> list[str]:
    rows, description, nbytes = result
    lines = [
        BIG_HEADING,
        "",
        "A Float32 IPC file 1.15 times the size of the machine's memory, written for the run and deleted after it, "
        "read with none of it in the page cache (evicted before every run): `dd if=file of=/dev/null bs=1M` and "
        "`mapmean mean file` (the CLI), also with its read-ahead switched off (`MAPMEAN_NO_READAHEAD=1`). "
        "The read-ahead stays within a bounded lead of the engine's threads and unmaps the pages behind them "
        "(`src/source/readahead.rs`). **CLI × this reader** = reader's time / the CLI's time, the median of "
        f"{BIG_REPEATS} paired rounds (≥ 1.0 against dd is the target). Needs free disk for the file: a run without "
        "it skips this section and says so here.",
        "",
    ]
    if rows is None:
        return [*lines, description]
    lines += [
        f"{description}; other processes' CPU use during the timings: {other_cpu}.",
        "",
        "| reader | median time | GB/s (file bytes) | CLI × this reader |",
        "|---|---:|---:|---:|",
    ]
    lines += [
        f"| {line} | {seconds:.2f} s | {nbytes / seconds / 1e9:.2f} | {ratio:.2f} |" for line, (seconds, ratio) in rows.items()
    ]
    return lines


def cold_table(rows: dict[str, tuple[float, float]]) -> list[str]:
    nbytes = DATA_SETS[0].path.stat().st_size if DATA_SETS[0].path.exists() else 4 * N
    lines = ["| reader | median time | GB/s (file bytes) | mapmean × this reader |", "|---|---:|---:|---:|"]
    lines += [f"| {line} | {seconds * 1e3:.1f} ms | {nbytes / seconds / 1e9:.2f} | {ratio:.2f} |" for line, (seconds, ratio) in rows.items()]
    return lines


def speed_markdown(kept: dict, small: dict, cold: dict) -> list[str]:
    """The kept-mapping, small-array and cold-cache sections of docs/benchmarks.md."""
    return [
        "## Kept mappings: `mapmean.open`",
        "",
        "The `uniform` file, page cache warm, all cores. Two ceilings, both the vectorised u64 sum of the file's"
        " bytes: **fresh mapping** (`_read_ceiling`: maps, faults the pages in, sums, unmaps; what a one-shot"
        " call can reach) and **kept mapping** (`_read_ceiling_kept`: one mapping, summed once untimed, then the"
        " best of 3 timed passes; what a handle can reach). `mapmean.mean(path)` is against the first,"
        " `Dataset.mean()` on a handle from `mapmean.open(path)` (no new mapping, no decode, no page fault)"
        f" against the second, each the best of 3 calls, as that ceiling is. Each of {REPEATS} rounds (after one"
        " warm-up round) times every line; the ratios are medians of per-round ratios. GB/s counts the file's"
        " bytes (values and metadata).",
        "",
        *kept_table(kept),
        "",
        "## Small arrays against polars",
        "",
        "`mapmean.mean(array)` (which returns a `pyarrow.DoubleScalar`, copied out of a one-value array:"
        " about 0.3 µs of the call), polars"
        " `Series.mean()` (a Python float) and `np.mean(array)` (float32 pairwise sum) on in-cache float32"
        " arrays of U[0,1); seconds per call, the median over batches of calls that alternate between the"
        " three; **mapmean × polars** = polars time / mapmean time, the median of paired batches (≥ 1 is"
        " the target).",
        "",
        *small_table(small),
        "",
        "## Cold page cache",
        "",
        "The `uniform` file read with none of it in the page cache (evicted with `posix_fadvise(DONTNEED)`"
        " before every run): `dd if=file of=/dev/null bs=1M`, Python reading 1 MiB chunks into one buffer"
        " (`readinto`), and `mapmean.mean(path)`, which maps the file and reads ahead of its threads"
        " (`src/source/readahead.rs`), also with that read-ahead switched off (`MAPMEAN_NO_READAHEAD=1`). **mapmean × this reader** = reader's time / mapmean's time, the median"
        f" of {REPEATS} paired rounds (≥ 0.9 against the buffered read is the target). The device is shared"
        " with other tenants here.",
        "",
        *cold_table(cold),
        "",
    ]


# --------------------------------------------------------------------------- machine


def _first_line_with(path: str, key: str) -> str:
    try:
        with open(path) as file:
            for line in file:
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def _command_output(*command: str) -> str:
    try:
        return subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def _busy_cpu_seconds() -> float:
    """CPU seconds all processes have run (user, nice, system, irq, softirq, steal)."""
    with open("/proc/stat") as file:
        fields = [int(field) for field in file.readline().split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class OtherCpu:
    """The CPU time other processes take while the timings run: the machine's
    busy time minus this process's (work elsewhere skews the timings)."""

    def __init__(self) -> None:
        self.start = self._sample()

    @staticmethod
    def _sample() -> tuple[float, float, float]:
        own = os.times()
        own_cpu = own.user + own.system + own.children_user + own.children_system
        return time.perf_counter(), _busy_cpu_seconds(), own_cpu

    def report(self) -> str:
        (wall0, busy0, own0), (wall1, busy1, own1) = self.start, self._sample()
        other = max(0.0, (busy1 - busy0) - (own1 - own0))
        return f"{other:.1f} CPU-s in {wall1 - wall0:.0f} s ({other / (wall1 - wall0):.0%} of one core)"


def _thp(name: str) -> str:
    """The selected value of /sys/kernel/mm/transparent_hugepage/<name>."""
    try:
        text = Path("/sys/kernel/mm/transparent_hugepage", name).read_text()
    except OSError:
        return "unknown"
    chosen = [word.strip("[]") for word in text.split() if word.startswith("[")]
    return chosen[0] if chosen else text.strip()


def machine_description() -> list[tuple[str, str]]:
    """(label, value) pairs describing the machine and the software."""
    flags = _first_line_with("/proc/cpuinfo", "flags").split()
    simd = " ".join(flag for flag in ("avx2", "avx512f", "avx512bw", "avx512vl") if flag in flags)
    mem_kib = _first_line_with("/proc/meminfo", "MemTotal").split()[0]
    mem = f"{int(mem_kib) / 2**20:.1f} GiB" if mem_kib.isdigit() else "unknown"
    commit = _command_output("git", "rev-parse", "--short", "HEAD") or "unknown"
    if _command_output("git", "status", "--porcelain", "--untracked-files=no"):
        commit += " (with uncommitted changes)"
    return [
        ("CPU", f"{_first_line_with('/proc/cpuinfo', 'model name')} ({simd or 'no AVX2'})"),
        ("os.cpu_count()", str(CPUS)),
        ("memory", mem),
        ("kernel", f"{platform.system()} {platform.release()}"),
        ("huge pages (anonymous / tmpfs)", f"{_thp('enabled')} / {_thp('shmem_enabled')}"),
        ("C compiler", (_command_output("cc", "--version").splitlines() or ["unknown"])[0]),
        ("Python", platform.python_version()),
        ("mapmean", f"{mapmean.__version__}, source tree at {commit}"),
        ("numpy", np.__version__),
        ("pyarrow", pa.__version__),
        ("polars", pl.__version__),
        ("duckdb", duckdb.__version__),
        ("date", datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")),
    ]


# --------------------------------------------------------------------------- report


def _format_ulps(ulps: float) -> str:
    return f"{ulps:.3g}"


def _plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def _format_ratio(ratio: Optional[float]) -> str:
    return "" if ratio is None else f"{ratio:.2f}"


def data_set_table(result: DataSetResult) -> list[str]:
    """The markdown table of one data set."""
    header = ("method", "median time", "GB/s", "× ceiling (all cores)", "× ceiling (1 thread)", "result")
    lines = [
        "| " + " | ".join(header) + " | error (ulps) | exact |",
        "|---|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for method in METHODS:
        timing = result.timings.get(method.name)
        if timing is None:
            lines.append(f"| {method.name} | n/a (no null support) | | | | | | |")
            continue
        if timing.result is None:
            value = error = exact = "—"
        else:
            ulps = ulp_error(timing.result, result.exact)
            value, error, exact = f"`{timing.result!r}`", _format_ulps(ulps), "yes" if ulps == 0 else "no"
        lines.append(
            f"| {method.name} | {timing.seconds * 1e3:.1f} ms ({timing.runs} runs)"
            f" | {result.gbps(method.name):.2f}"
            f" | {_format_ratio(result.ratio(method.name, CEILING_ALL))}"
            f" | {_format_ratio(result.ratio(method.name, CEILING_ONE))}"
            f" | {value} | {error} | {exact} |"
        )
    return lines


TARGETS = (
    # (data set, reference method, minimum of mapmean's speed / reference's speed)
    ("uniform", CEILING_ALL, 0.9),
    ("uniform", POLARS, 1.0),
    ("nulls10", CEILING_ALL, 0.8),
    ("nulls10", POLARS, 2.0),
    ("wide", CEILING_ALL, 0.6),
)


def summary_table(results: dict[str, DataSetResult]) -> list[str]:
    """The targets, with mapmean's measured speed ratios."""
    lines = [
        "| data set | target (mapmean all cores) | measured | PASS/MISS | mapmean 1 thread (for reference) | reachable? |",
        "|---|---|---:|:---:|---|---|",
    ]
    for name, reference, minimum in TARGETS:
        result = results[name]
        measured = result.ratio(MAPMEAN_ALL, reference)
        single_reference = CEILING_ONE if reference == CEILING_ALL else reference
        single = result.ratio(MAPMEAN_ONE, single_reference)
        reference_label = "ceiling" if reference == CEILING_ALL else "polars"
        single_label = "× ceiling (1 thread)" if reference == CEILING_ALL else "× polars"
        verdict = "PASS" if measured >= minimum else "MISS"
        # A target relative to a peer asks for a speed; past the ceiling no
        # reader of the file can go.
        needed = minimum * (result.gbps(reference) or 0.0)
        ceiling = result.gbps(CEILING_ALL) or 0.0
        reachable = (
            "yes"
            if needed <= ceiling
            else f"no: {minimum:g} × {reference_label} = {needed:.1f} GB/s > ceiling {ceiling:.1f} GB/s"
        )
        lines.append(
            f"| {name} | ≥ {minimum:g} × {reference_label} | {measured:.2f} × | {verdict}"
            f" | {single:.2f} {single_label} | {reachable} |"
        )
    return lines


def scaling_table(rows: dict[int, dict[str, float]]) -> list[str]:
    names = [name for name, _ in SCALING_LINES]
    lines = ["| values | bytes | " + " | ".join(f"{name} GB/s" for name in names) + " |"]
    lines.append("|---|---:|" + "---:|" * len(names))
    for log2_size, row in rows.items():
        lines.append(
            f"| 2^{log2_size} | {_format_bytes(4 << log2_size)} | "
            + " | ".join(f"{row[name]:.2f}" for name in names)
            + " |"
        )
    return lines


def _format_bytes(nbytes: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if nbytes < 1024 or unit == "GiB":
            return f"{nbytes:g} {unit}"
        nbytes /= 1024
    return str(nbytes)


def share_table(rates: dict[str, float]) -> list[str]:
    base = rates[SHARE_BASELINE]
    lines = [f"| write path | GB/s | × {SHARE_BASELINE} |", "|---|---:|---:|"]
    lines += [f"| {name} | {gbps:.2f} | {gbps / base:.2f} |" for name, gbps in rates.items()]
    return lines


def file_set_table(result: FileSetResult) -> list[str]:
    lines = [
        "| method | median time | one file, same values | GB/s | per-file overhead | result | error (ulps) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for line in DATASET_LINES:
        value = result.results[line]
        lines.append(
            f"| {line} | {result.seconds[line] * 1e3:.1f} ms | {result.single_seconds[line] * 1e3:.1f} ms"
            f" | {result.gbps(line):.2f} | {result.per_file_us(line):.1f} µs | `{value!r}`"
            f" | {_format_ulps(ulp_error(value, result.exact))} |"
        )
    return lines


def file_set_targets(results: dict[str, FileSetResult]) -> list[str]:
    many, few = results["many-small"], results["few-large"]
    line = DATASET_LINES[0]
    overhead = many.per_file_us(line)
    throughput = few.single_seconds[line] / few.seconds[line]
    return [
        "| target (mapmean.scan, all cores) | measured | PASS/MISS |",
        "|---|---:|:---:|",
        f"| per-file overhead < 100 µs ({many.file_set.files:,} files) | {overhead:.1f} µs"
        f" | {'PASS' if overhead < 100 else 'MISS'} |",
        f"| {few.file_set.files} large files as fast as one file of the same values (≥ 0.95 ×)"
        f" | {throughput:.2f} × | {'PASS' if throughput >= 0.95 else 'MISS'} |",
    ]


# --------------------------------------------------------------------------- wide exponent ranges

WIDE_SETS = (
    DataSet("wide30", "magnitudes log-uniform in [1e-30, 1e30], random signs", _fill_wide30),
    DataSet("wide10", "magnitudes log-uniform in [1e-10, 1e10], random signs", _fill_wide10),
    DataSet("allexp", "random finite bit patterns: every exponent, both signs, subnormals", _fill_all_exponents),
    DataSet("widesub", "`wide30` with 10% random subnormals", _fill_wide_subnormals),
    DataSet("wide30nulls", "`wide30`, 10% of the values null (random)", _fill_wide30, NULL_FRACTION),
)
# The uniform file too, for the instruction-set comparison (AVX2 on uniform data).
WIDE_ISA_SETS = ("uniform", "nulls10", "wide30", "allexp", "cancel")

# Runs in a fresh interpreter per MAPMEAN_ISA value (the kernel reads it once
# per process): per file, one warm-up, then REPEATS rounds of (ceiling all
# cores, ceiling 1 thread, mean all cores, mean 1 thread), paired ratios.
_WIDE_CHILD = r"""
import json, statistics, sys, time
import mapmean
from mapmean import _mapmean
paths, repeats = json.loads(sys.argv[1]), int(sys.argv[2])
def timed(f):
    t = time.perf_counter(); r = f(); return time.perf_counter() - t, r
out = {}
for name, path in paths.items():
    mapmean.mean(path); _mapmean._read_ceiling(path, None)
    rows = {"all": [], "one": [], "ratio_all": [], "ratio_one": [], "ceiling_all": [], "ceiling_one": []}
    result = None
    for _ in range(repeats):
        c_all, _ = timed(lambda: _mapmean._read_ceiling(path, None))
        c_one, _ = timed(lambda: _mapmean._read_ceiling(path, 1))
        m_all, result = timed(lambda: mapmean.mean(path).as_py())
        m_one, _ = timed(lambda: mapmean.mean(path, threads=1).as_py())
        rows["all"].append(m_all); rows["one"].append(m_one)
        rows["ceiling_all"].append(c_all); rows["ceiling_one"].append(c_one)
        rows["ratio_all"].append(c_all / m_all); rows["ratio_one"].append(c_one / m_one)
    out[name] = {k: statistics.median(v) for k, v in rows.items()} | {"result": result}
print(json.dumps(out))
"""


def machine_isas() -> list[str]:
    """The instruction sets the kernel can use here (MAPMEAN_ISA names), best first."""
    flags = _first_line_with("/proc/cpuinfo", "flags").split() + _first_line_with("/proc/cpuinfo", "Features").split()
    isas = []
    if "avx512f" in flags and "avx2" in flags:
        isas.append("avx512")
    if "avx2" in flags:
        isas.append("avx2")
    if "asimd" in flags:
        isas.append("neon")
    return isas + ["portable"]


@dataclass
class WideResult:
    """Per data set and MAPMEAN_ISA ("default" = unset), the child's medians."""

    exact: dict[str, float]
    rows: dict[str, dict[str, dict[str, float]]]  # isa -> data set -> medians


def bench_wide(exact: dict[str, float]) -> WideResult:
    """Time mapmean with each instruction set on the wide-range files (and a few
    of the main ones), each against both ceilings in the same process."""
    print("\n## wide exponent ranges, per instruction set", flush=True)
    paths = {name: str(DATA_DIR / f"{name}.arrow") for name in exact}
    rows = {}
    for isa in ["default", *machine_isas()]:
        env = dict(os.environ)
        env.pop("MAPMEAN_ISA", None)
        if isa != "default":
            env["MAPMEAN_ISA"] = isa
        output = subprocess.run(
            [sys.executable, "-c", _WIDE_CHILD, json.dumps(paths), str(REPEATS)],
            env=env, check=True, capture_output=True, text=True,
        ).stdout
        rows[isa] = json.loads(output)
        for name, row in rows[isa].items():
            print(
                f"  {isa:<9} {name:<12} all cores {4 * N / row['all'] / 1e9:6.2f} GB/s {row['ratio_all']:.2f} ×,"
                f" 1 thread {4 * N / row['one'] / 1e9:6.2f} GB/s {row['ratio_one']:.2f} ×"
                f"  ({_format_ulps(ulp_error(row['result'], exact[name]))} ulps)",
                flush=True,
            )
    return WideResult(exact, rows)


def prepare_wide(known: Optional[dict[str, float]] = None) -> dict[str, float]:
    """Write the wide-range files and the main files the comparison reuses
    (unless `known` gives the exact means of those written in this run);
    return every file's exact mean."""
    exact = {}
    for data_set in (*WIDE_SETS, *(d for d in DATA_SETS if d.name in WIDE_ISA_SETS)):
        if known and data_set.name in known:
            exact[data_set.name] = known[data_set.name]
        else:
            exact[data_set.name] = prepare_data_set(data_set)[0]
    return exact


def wide_table(result: WideResult) -> list[str]:
    """One row per data set and instruction set: GB/s and × each ceiling."""
    lines = [
        "| data set | MAPMEAN_ISA | all cores GB/s | × ceiling (all cores) | 1 thread GB/s | × ceiling (1 thread)"
        " | ceiling (all cores) GB/s | exact |",
        "|---|---|---:|---:|---:|---:|---:|:---:|",
    ]
    for name in result.exact:
        for isa, per_set in result.rows.items():
            row = per_set[name]
            exact = "yes" if row["result"] == result.exact[name] else "no"
            lines.append(
                f"| {name} | {isa} | {4 * N / row['all'] / 1e9:.2f} | {row['ratio_all']:.2f} |"
                f" {4 * N / row['one'] / 1e9:.2f} | {row['ratio_one']:.2f} |"
                f" {4 * N / row['ceiling_all'] / 1e9:.2f} | {exact} |"
            )
    return lines


def wide_targets(result: WideResult) -> list[str]:
    """Issue 12 items 2 and 5: wide data at >= 0.6 x the ceiling on the default
    path, no forced path faster than the default, AVX2 uniform at >= 0.9 x."""
    lines = ["| target | measured | PASS/MISS |", "|---|---:|:---:|"]
    default = result.rows["default"]
    for name in ("wide30", "wide10", "allexp", "widesub"):
        ratio = default[name]["ratio_all"]
        lines.append(f"| {name}, default, ≥ 0.6 × ceiling (all cores) | {ratio:.2f} × | {'PASS' if ratio >= 0.6 else 'MISS'} |")
    for name in result.exact:
        best_isa, best = max(((isa, rows[name]["ratio_all"]) for isa, rows in result.rows.items()), key=lambda p: p[1])
        mine = default[name]["ratio_all"]
        # Within the run-to-run spread of a shared machine (5%) counts as as fast.
        verdict = "PASS" if mine >= 0.95 * best else "MISS"
        lines.append(f"| {name}: default within 5% of the fastest path ({best_isa}) | {mine:.2f} × vs {best:.2f} × | {verdict} |")
    if "avx2" in result.rows and "uniform" in result.rows["avx2"]:
        ratio = result.rows["avx2"]["uniform"]["ratio_all"]
        lines.append(f"| uniform, MAPMEAN_ISA=avx2, ≥ 0.9 × ceiling (all cores) | {ratio:.2f} × | {'PASS' if ratio >= 0.9 else 'MISS'} |")
    return lines


def wide_markdown(result: WideResult) -> list[str]:
    """The wide section of docs/benchmarks.md."""
    return [
        "## Wide exponent ranges and instruction sets",
        "",
        "mapmean on files whose values spread over many binades (the `wide` path: the exponent bins of"
        " `docs/exactness.md`), and on a few of the files above, once per instruction set: `default` leaves"
        " `MAPMEAN_ISA` unset (the kernel's own choice), the others force it. Each row runs in a fresh process;"
        f" per file one warm-up, then {REPEATS} rounds of (ceiling all cores, ceiling 1 thread, mapmean all cores,"
        " mapmean 1 thread); × ceiling is the median of the paired ratios (the **warm read ceiling**: the same"
        " mapping and page cache, `_read_ceiling`), GB/s the median time's. Data sets:"
        + "".join(f" `{d.name}`: {d.description};" for d in WIDE_SETS)
        + " the others as above.",
        "",
        *wide_table(result),
        "",
        "### Targets (issue 12, items 2 and 5)",
        "",
        *wide_targets(result),
        "",
    ]


def write_markdown(
    machine: list[tuple[str, str]],
    results: dict[str, DataSetResult],
    scaling: dict[int, dict[str, float]],
    share_rates: dict[str, float],
    file_sets: dict[str, FileSetResult],
    stream_rows: dict[str, tuple[float, float]],
    speed: tuple[dict, dict, dict],
    runtime: float,
) -> None:
    """Write docs/benchmarks.md."""
    size = _format_bytes(4 * N)
    batches = _plural(max(1, N // BATCH_ROWS), "record batch", "record batches")
    lines = [
        "# Benchmarks: mapmean against its peers",
        "",
        "Generated by `benches/compare.py`; reproduce with `make bench` (which also runs the Rust kernel"
        " benchmark first) or `.venv/bin/python benches/compare.py`. `MAPMEAN_BENCH_LOG2N=22` gives a quick,"
        f" small run. This run: N = 2^{LOG2N} float32 values per data set ({size} of values),"
        f" total runtime {runtime / 60:.1f} min.",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        *(f"| {label} | {value} |" for label, value in machine),
        "",
        "## How to read the tables",
        "",
        f"- **GB/s** = 4 × N bytes (the column's value bytes, {4 * N:,} B) / median time, GB = 10^9 bytes, for"
        " every method and data set, the ceilings included, so that all ratios are time ratios."
        " The `nulls10` file also holds a validity bitmap, not counted.",
        "- **ceiling**: `mapmean._mapmean._read_ceiling(path, threads)` maps the file as `mapmean.mean` does"
        " and sums all of its bytes as u64 words in a vectorised loop: the read bandwidth reachable through the"
        " mapping, on all cores or on 1 thread.",
        "- **× ceiling** = ceiling time / method time (1.00 = as fast as reading the file), the median over the"
        " timed runs of a paired ratio: before each timed call of a method, each ceiling is timed once, so that"
        " both see the same machine (the machines here are shared, and their memory bandwidth varies from minute"
        " to minute). The ceilings' own GB/s and times are from their own rows.",
        "- **What a timed call includes.** `mapmean` and the ceilings take the path: each call maps the file,"
        " faults its pages in and (mapmean) decodes the IPC metadata. The peers are handed the column outside"
        " the timed region — `pa.ipc.open_file(pa.memory_map(path)).read_all()` once per data set, then per"
        " chunk `.to_numpy(zero_copy_only=True)` for numpy and the C loop, `pl.from_arrow(table, rechunk=False)"
        '["values"]` for polars, `con.register("tbl", table)` for DuckDB — so their calls pay no mapping or'
        " page-fault cost.",
        "- All files are written (and synced to disk) and their exact means computed before any timing."
        f" Page cache warm: one untimed call first, then the median of {REPEATS} timed calls"
        f" ({SLOW_REPEATS} for methods whose warm-up call took over {SLOW_SECONDS} s). The machine table gives"
        " the CPU time other processes took during the timings (from /proc/stat), as work elsewhere on the"
        " machine slows the methods down.",
        f"- Files are written with `batch_rows=2^{BATCH_ROWS.bit_length() - 1}`"
        f" ({batches}). numpy and the C loop work chunk by chunk: numpy's"
        " per-chunk sums are added in the same dtype (float32 or float64) and divided as `numpy.mean` divides;"
        " the C loop (`benches/classic_mean.c`, `cc -O2`) continues one float accumulator across the chunks and"
        " divides in float. Both are n/a on `nulls10` (they cannot skip nulls).",
        "- **error (ulps)** = |result − exact| / ulp(exact), in float64 ulps of the exact mean, which is"
        " computed independently of mapmean (exact integer sums per exponent of the float32 bits, one correctly"
        " rounded division). **exact** = the result is the correctly rounded mean.",
        "",
    ]
    for result in results.values():
        data_set = result.data_set
        lines += [
            f"## `{data_set.name}`: {data_set.description}",
            "",
            f"{result.count:,} valid values; exact mean `{result.exact!r}`.",
            "",
            *data_set_table(result),
            "",
        ]
    lines += [
        "## Targets",
        "",
        "Speed ratios of `mapmean (all cores)` (time of the reference / time of mapmean); the 1-thread column"
        " gives `mapmean (1 thread)` against `ceiling (1 thread)` or against polars (polars with its default"
        " threads).",
        "",
        *summary_table(results),
        "",
        "## Scaling: in-memory arrays",
        "",
        "`mapmean.mean(array, threads=t)` on numpy float32 arrays (U[0,1)) of 2^k values, against `np.sum(array)`"
        " (numpy's float32 pairwise sum) as a reference line. GB/s = array bytes / median time per call over"
        f" {REPEATS} batches of calls, each batch at least {SCALING_BATCH_SECONDS} s; small sizes include the"
        " Python call overhead (for mapmean also building the `pyarrow.DoubleScalar`).",
        "",
        *scaling_table(scaling),
        "",
        "![GB/s per data set and method; scaling with array size](benchmarks.png)",
        "",
        "## Shared memory: the write path",
        "",
        f"`mapmean.share(array)` of {size} of U[0,1) float32 (creating the segment, writing the Arrow IPC"
        " image into it, trimming it; unlinking is not timed) against plain copies of the same bytes: into a"
        " fresh `/dev/shm` file (`os.open`, `ftruncate`, `mmap`, `np.copyto`: the same kernel work, as tmpfs"
        " allocates and zeroes each page on first touch), into a fresh `np.empty` (anonymous memory, which"
        " numpy backs with transparent huge pages) and into an array whose pages are already touched (the"
        f" memory-copy speed). Median of {REPEATS} calls after one warm-up. Where tmpfs huge pages are off"
        " (`/sys/kernel/mm/transparent_hugepage/shmem_enabled`), allocating the segment's 4 KiB pages, not"
        " copying, sets the pace of any write into shared memory.",
        "",
        *share_table(share_rates),
        "",
        "## Datasets: many files",
        "",
        "Each set is a directory of IPC files of U[0,1) float32 values (column `values`), and one more file"
        " holding the same values. Every call includes discovering the files: `mapmean.scan(directory,"
        ' "values")`, `pc.mean(pyarrow.dataset.dataset(directory, format="ipc").to_table(columns=["values"])'
        '["values"])`, `pl.scan_ipc(directory + "/*.arrow").select(pl.col("values").mean()).collect()`.'
        " **per-file overhead** = (time over the directory − time over the one file) / number of files, per"
        " method. Page cache warm; median of the timed calls after one warm-up.",
        "",
    ]
    for result in file_sets.values():
        fs = result.file_set
        lines += [
            f"### `{fs.name}`: {fs.files:,} files × {fs.rows:,} rows ({_format_bytes(fs.nbytes)} of values)",
            "",
            f"Exact mean `{result.exact!r}`.",
            "",
            *file_set_table(result),
            "",
        ]
    lines += [
        "### Targets",
        "",
        *file_set_targets(file_sets),
        "",
        "## Streams",
        "",
        f"2^{STREAM_LOG2N} U[0,1) float32 values, consumed as a stream. `RecordBatchReader` rows: `mapmean.mean("
        "pa.RecordBatchReader.from_batches(schema, batches))` over zero-copy slices of one array; ratio = time of"
        f" `{STREAM_IN_MEMORY}` over the same `pyarrow.Array` / time of the stream (target ≥ 0.8 for batches of"
        " 1 MiB and more). CLI rows: `cat file | mapmean mean - --format json` against `mapmean mean file"
        " --format json` on the same IPC stream file (4 MiB batches, page cache warm), process start included;"
        f" ratio = mapped time / piped time. Median of {REPEATS} runs after one warm-up.",
        "",
        *streams_table(stream_rows),
        "",
        *speed_markdown(*speed),
        *datafusion_section(),
    ]
    DOC_PATH.parent.mkdir(parents=True, exist_ok=True)
    DOC_PATH.write_text("\n".join(lines))


DATAFUSION_RESULT = ROOT / "target" / "datafusion-bench.json"


def datafusion_section() -> list[str]:
    """The DataFusion GROUP BY figures that `make bench-datafusion` (run by `make bench` just before
    this script) wrote; none if it did not run."""
    if not DATAFUSION_RESULT.exists():
        return ["## DataFusion GROUP BY", "", "Not run: `make bench-datafusion` writes it.", ""]
    r = json.loads(DATAFUSION_RESULT.read_text())
    written = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(DATAFUSION_RESULT.stat().st_mtime))
    return [
        "## DataFusion GROUP BY",
        "",
        f"`SELECT g, exact_mean(x) FROM t GROUP BY g` against DataFusion's own `avg(x)` on the same query:"
        f" {r['rows']:,} float32 rows in memory over {r['groups']:,} groups, `target_partitions` {r['partitions']},"
        " one tokio thread, the two queries alternating"
        f" ({r['rounds']} rounds, medians; `benches/datafusion.rs`, profile `datafusion-release`, run {written})."
        " Target: within 3 × `avg`.",
        "",
        "| query | median time | × avg |",
        "|---|---:|---:|",
        f"| `avg(x)` | {r['avg_s']:.3f} s | 1.00 |",
        f"| `exact_mean(x)` | {r['exact_mean_s']:.3f} s | {r['ratio']:.2f} |",
        "",
        "(× avg is the median of the per-round ratios.)",
        "",
    ]


def plot_wide(axes, wide: WideResult) -> None:
    """Bars of × ceiling (all cores) per data set, one per MAPMEAN_ISA."""
    colors = matplotlib.colormaps["tab10"].colors
    isas = list(wide.rows)
    width = 0.8 / len(isas)
    names = list(wide.exact)
    for index, isa in enumerate(isas):
        xs = [group - 0.4 + (index + 0.5) * width for group in range(len(names))]
        axes.bar(xs, [wide.rows[isa][name]["ratio_all"] for name in names], width, color=colors[index], label=isa)
    axes.axhline(0.6, color="black", linestyle="--", linewidth=0.8, label="0.6 × (wide target)")
    axes.axhline(1.0, color="black", linewidth=0.8)
    axes.set_xticks(range(len(names)), names, rotation=30)
    axes.set_ylabel("× warm read ceiling (all cores)")
    axes.set_title("mapmean per MAPMEAN_ISA (default: unset)")
    axes.legend(fontsize="small")


def write_plot(
    results: dict[str, DataSetResult],
    scaling: dict[int, dict[str, float]],
    small: dict[int, dict[str, float]],
    wide: Optional[WideResult] = None,
) -> None:
    """Write docs/benchmarks.png: GB/s per data set and method; the scaling curve;
    small arrays against polars and numpy; × ceiling per wide-range data set and
    instruction set (when the wide section ran)."""
    figure = Figure(figsize=(26 if wide else 20, 5.5), layout="constrained")
    if wide:
        bars_axes, scaling_axes, small_axes, wide_axes = figure.subplots(1, 4, width_ratios=(1.6, 1, 1, 1.2))
        plot_wide(wide_axes, wide)
    else:
        bars_axes, scaling_axes, small_axes = figure.subplots(1, 3, width_ratios=(1.6, 1, 1))
    methods = [m.name for m in METHODS if m.name not in (CEILING_ALL, CEILING_ONE)]
    colors = matplotlib.colormaps["tab10"].colors
    width = 0.8 / len(methods)
    for group, result in enumerate(results.values()):
        for index, name in enumerate(methods):
            gbps = result.gbps(name)
            if gbps is not None:
                x = group - 0.4 + (index + 0.5) * width
                bars_axes.bar(x, gbps, width, color=colors[index], label=name if group == 0 else None)
        for name, style in ((CEILING_ALL, "-"), (CEILING_ONE, "--")):
            bars_axes.hlines(
                result.gbps(name), group - 0.45, group + 0.45, colors="black", linestyles=style,
                label=name if group == 0 else None,
            )
    bars_axes.set_xticks(range(len(results)), list(results))
    bars_axes.set_ylabel(f"GB/s (4·N bytes / time), N = $2^{{{LOG2N}}}$")
    bars_axes.set_title("Memory-mapped Arrow IPC file, page cache warm")
    bars_axes.legend(fontsize="small", ncols=5, loc="upper center", bbox_to_anchor=(0.5, -0.07))
    sizes = list(scaling)
    for index, (name, _) in enumerate(SCALING_LINES):
        scaling_axes.plot(sizes, [scaling[k][name] for k in sizes], marker="o", color=colors[index], label=name)
    scaling_axes.set_xticks(sizes, [f"$2^{{{k}}}$" for k in sizes])
    scaling_axes.set_xlabel("float32 values in the array")
    scaling_axes.set_ylabel("GB/s (array bytes / time)")
    scaling_axes.set_title("In-memory numpy arrays")
    scaling_axes.legend(fontsize="small")
    small_sizes = list(small)
    for index, name in enumerate(SMALL_LINES):
        gbps = [(4 << k) / small[k][name] / 1e9 for k in small_sizes]
        small_axes.plot(small_sizes, gbps, marker="o", color=colors[index], label=name)
    small_axes.set_xticks(small_sizes, [f"$2^{{{k}}}$" for k in small_sizes])
    small_axes.set_xlabel("float32 values in the array (in cache)")
    small_axes.set_ylabel("GB/s (array bytes / time per call)")
    small_axes.set_title("Small arrays: mapmean.mean against polars and numpy")
    small_axes.legend(fontsize="small")
    figure.savefig(PLOT_PATH, dpi=110)


# --------------------------------------------------------------------------- moments (variance)


VARIANCE_DATA_SET = "offset"  # 1e4 + N(0,1): a large offset, where float variances lose the most
VARIANCE_DDOF = 1  # the sample variance: DuckDB var_samp and polars' default
VARIANCE_PLOT_PATH = ROOT / "docs" / "benchmarks-variance.png"
VARIANCE_HEADING = "## Variance"


def exact_variance_of(table: pa.Table, ddof: int) -> Fraction:
    """The exact variance of the valid values of the "values" column, from the
    float32 bits with Python ints (no mapmean code involved): per exponent, the
    sums of the significands and of their squares (split in 12-bit halves so
    that every float64 bincount stays exact), then (n·Σx² − (Σx)²) / (n·(n − ddof))."""
    sums, squares, count = [0] * 256, [0] * 256, 0
    for chunk in table.column("values").chunks:
        valid = pc.drop_null(chunk).to_numpy(zero_copy_only=False)
        for start in range(0, len(valid), CHUNK):
            part = valid[start : start + CHUNK]
            part_sums, non_finite = _exponent_sums(part)
            if non_finite:
                raise ValueError("the reference handles finite values only")
            bits = part.view(np.uint32)
            exponent = (bits >> 23) & 0xFF
            m = (bits & 0x7FFFFF) | ((exponent != 0).astype(np.uint32) << 23)
            high, low = (m >> 12).astype(np.float64), (m & 0xFFF).astype(np.float64)
            # Each bincount adds < 2**24 terms below 2**25: exact in float64.
            a = np.bincount(exponent, weights=high * high, minlength=256)
            b = np.bincount(exponent, weights=high * low, minlength=256)
            c = np.bincount(exponent, weights=low * low, minlength=256)
            for e in np.flatnonzero(part_sums):
                sums[e] += int(part_sums[e])
            for e in np.flatnonzero(a + b + c):
                squares[e] += (int(a[e]) << 24) + (int(b[e]) << 13) + int(c[e])
        count += len(valid)
    # x = m · 2**(max(e, 1) − 150): Σx in units of 2**-149, Σx² in units of 2**-298.
    s = sum(v << (max(e, 1) - 1) for e, v in enumerate(sums) if v)
    q = sum(v << (2 * max(e, 1) - 2) for e, v in enumerate(squares) if v)
    return Fraction(count * q - s * s, count * (count - ddof) << 298)


def variance_ulps(result: Optional[float], exact: Fraction) -> float:
    """|result − exact| in float64 ulps of the exact variance."""
    if result is None or not math.isfinite(result):
        return math.nan if result is None or math.isnan(result) else math.inf
    return float(abs(Fraction(result) - exact) / Fraction(math.ulp(float(exact))))


def variance_methods(contiguous: np.ndarray) -> tuple[Method, ...]:
    """The timed ways to compute the sample variance; numpy works on one
    contiguous in-memory copy of the column (``np.var`` takes one array)."""
    ddof = VARIANCE_DDOF
    return (
        Method(CEILING_ALL, lambda src: _ceiling(src, None)),
        Method(CEILING_ONE, lambda src: _ceiling(src, 1)),
        Method("mapmean.variance (all cores)", lambda src: mapmean.variance(src.path, ddof=ddof).as_py()),
        Method("mapmean.variance (1 thread)", lambda src: mapmean.variance(src.path, ddof=ddof, threads=1).as_py()),
        Method("mapmean.mean (all cores)", lambda src: mapmean.mean(src.path).as_py()),
        Method("numpy.var float32", lambda src: float(np.var(contiguous, ddof=ddof))),
        Method("numpy.var dtype=float64", lambda src: float(np.var(contiguous, ddof=ddof, dtype=np.float64))),
        Method("pyarrow.compute.variance", lambda src: pc.variance(src.table.column("values"), ddof=ddof).as_py()),
        Method("polars Series.var()", lambda src: src.series.var(ddof=ddof)),
        Method("DuckDB var_samp", lambda src: src.con.execute('SELECT var_samp("values") FROM tbl').fetchone()[0]),
    )


@dataclass(frozen=True)
class VarianceResult:
    """Every method's timing on the variance data set, with the exact variance."""

    exact: Fraction
    count: int
    timings: dict[str, Timing]


def bench_variance() -> VarianceResult:
    """Time the sample variance of the `offset` data set by mapmean and its
    peers, each with its error against the exact variance."""
    data_set = next(d for d in DATA_SETS if d.name == VARIANCE_DATA_SET)
    if not data_set.path.exists():
        write_data_set(data_set, N)
    table = pa.ipc.open_file(pa.memory_map(str(data_set.path))).read_all()
    if len(table) != N:
        write_data_set(data_set, N)
        table = pa.ipc.open_file(pa.memory_map(str(data_set.path))).read_all()
    exact = exact_variance_of(table, VARIANCE_DDOF)
    print(f"\n## variance (ddof={VARIANCE_DDOF}) of `{data_set.name}`: exact {float(exact)!r}", flush=True)
    src = open_source(data_set.path, lambda *_: math.nan)  # the C loop has no variance
    contiguous = np.concatenate(src.chunks)
    timings = {}
    for method in variance_methods(contiguous):
        timing = time_method(method, src)
        timings[method.name] = timing
        line = f"  {method.name:<30} {timing.seconds * 1e3:9.2f} ms  {4 * N / timing.seconds / 1e9:6.2f} GB/s"
        line += f"  {timing.per_ceiling[CEILING_ALL]:.2f} × ceiling"
        if _is_variance(method.name):
            line += f"  {timing.result!r}  ({_format_ulps(variance_ulps(timing.result, exact))} ulps)"
        print(line, flush=True)
    src.con.close()
    return VarianceResult(exact, src.count, timings)


def _is_variance(name: str) -> bool:
    """Whether the method computes the variance (not a ceiling, not the mean)."""
    return name not in (CEILING_ALL, CEILING_ONE) and not name.startswith("mapmean.mean")


def variance_table(result: VarianceResult) -> list[str]:
    rows = [
        "| method | median time | GB/s | × ceiling (all cores) | × ceiling (1 thread) | result | error (ulps) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, timing in result.timings.items():
        if _is_variance(name):
            ulps = variance_ulps(timing.result, result.exact)
            rounded = timing.result == float(result.exact)
            error = f"{_format_ulps(ulps)} (**correctly rounded**)" if rounded else _format_ulps(ulps)
            value = f"`{timing.result!r}`"
        else:
            error = value = ""
        rows.append(
            f"| {name} | {timing.seconds * 1e3:.1f} ms | {4 * N / timing.seconds / 1e9:.2f}"
            f" | {timing.per_ceiling[CEILING_ALL]:.2f} | {timing.per_ceiling[CEILING_ONE]:.2f} | {value} | {error} |"
        )
    return rows


def variance_section(result: VarianceResult, other_cpu: str) -> list[str]:
    ratio = result.timings["mapmean.variance (all cores)"].per_ceiling[CEILING_ALL]
    verdict = "PASS" if ratio >= 0.5 else "MISS"
    goal = " (goal ≥ 0.8 ×: PASS)" if ratio >= 0.8 else " (goal ≥ 0.8 ×: not reached)"
    return [
        VARIANCE_HEADING,
        "",
        f"The sample variance (`ddof={VARIANCE_DDOF}`) of the `{VARIANCE_DATA_SET}` file (1e4 + N(0,1), {N:,}"
        f" float32 values, {_format_bytes(4 * N)}), memory-mapped, page cache warm. mapmean takes the path, as"
        " above; pyarrow, polars and DuckDB get the mapped table outside the timed call; numpy works on one"
        " contiguous in-memory copy of the column (`np.var` takes one array). The exact variance"
        f" (`{float(result.exact)!r}` rounded) is computed from the float32 bits with Python integers, without"
        " mapmean; **error** is |result − exact| in float64 ulps of the exact variance (at most 0.5 for the correctly rounded float64, which the exact value need not be). × ceiling is the paired"
        " ratio described above (ceiling time / method time, median over the runs).",
        "",
        *variance_table(result),
        "",
        f"Machine: {_first_line_with('/proc/cpuinfo', 'model name')}, os.cpu_count() = {CPUS}, shared with other"
        f" tenants (other processes' CPU use during this section: {other_cpu}), so the times are noisy; every"
        " figure is a median.",
        "",
        f"Target: `mapmean.variance` at ≥ 0.5 × the read ceiling (all cores): {ratio:.2f} × — **{verdict}**{goal}.",
        "",
        "![GB/s of the sample variance per method, with its error in ulps](benchmarks-variance.png)",
        "",
    ]


def write_variance_plot(result: VarianceResult) -> None:
    """Write docs/benchmarks-variance.png: GB/s per method, labelled with its error."""
    figure = Figure(figsize=(11, 4.8), layout="constrained")
    axes = figure.subplots()
    names = [name for name in result.timings if name not in (CEILING_ALL, CEILING_ONE)]
    colors = matplotlib.colormaps["tab10"].colors
    for index, name in enumerate(names):
        timing = result.timings[name]
        gbps = 4 * N / timing.seconds / 1e9
        axes.bar(index, gbps, color=colors[index % len(colors)])
        if _is_variance(name):
            ulps = variance_ulps(timing.result, result.exact)
            label = "correctly\nrounded" if timing.result == float(result.exact) else f"{ulps:.3g} ulps"
            axes.annotate(label, (index, gbps), ha="center", va="bottom", fontsize="small")
    for name, style in ((CEILING_ALL, "-"), (CEILING_ONE, "--")):
        gbps = 4 * N / result.timings[name].seconds / 1e9
        axes.axhline(gbps, color="black", linestyle=style, label=name)
    axes.set_xticks(range(len(names)), [n.replace(" (", "\n(") for n in names], fontsize="small", rotation=30, ha="right")
    axes.set_ylabel(f"GB/s (4·N bytes / time), N = $2^{{{LOG2N}}}$")
    axes.set_title("Sample variance of 1e4 + N(0,1) float32, memory-mapped; label: error against the exact value")
    axes.legend(fontsize="small")
    figure.savefig(VARIANCE_PLOT_PATH, dpi=110)


def update_variance_docs(result: VarianceResult, other_cpu: str) -> None:
    """Put the variance section into docs/benchmarks.md (replacing an earlier
    one, else at the end) and write its plot."""
    update_section_docs(VARIANCE_HEADING, variance_section(result, other_cpu))
    write_variance_plot(result)


def main() -> None:
    start = time.perf_counter()
    machine = machine_description()
    print(f"# mapmean peer comparison, N = 2^{LOG2N}", flush=True)
    for label, value in machine:
        print(f"{label}: {value}", flush=True)
    references = {data_set.name: prepare_data_set(data_set) for data_set in DATA_SETS}
    file_set_exact = {fs.name: prepare_file_set(fs) for fs in FILE_SETS}
    wide_exact = prepare_wide({name: reference[0] for name, reference in references.items()})
    print("\n# timings", flush=True)
    other_cpu = OtherCpu()
    results = {}
    with tempfile.TemporaryDirectory() as build_dir:
        classic_sum = load_classic_sum(build_dir)
        for data_set in DATA_SETS:
            results[data_set.name] = bench_data_set(data_set, *references[data_set.name], classic_sum)
    scaling = bench_scaling()
    share_rates = bench_share()
    file_sets = {fs.name: bench_file_set(fs, file_set_exact[fs.name]) for fs in FILE_SETS}
    stream_rows = bench_streams()
    speed = (bench_kept(), bench_small(), bench_cold())
    wide = bench_wide(wide_exact)
    runtime = time.perf_counter() - start
    machine.append(("other processes' CPU use during the timings", other_cpu.report()))
    print(f"\nother processes' CPU use during the timings: {other_cpu.report()}", flush=True)
    print("\n## targets", flush=True)
    print("\n".join(summary_table(results)), flush=True)
    print("\n".join(file_set_targets(file_sets)), flush=True)
    print("\n".join(wide_targets(wide)), flush=True)
    variance_cpu = OtherCpu()
    variance = bench_variance()
    variance_cpu_report = variance_cpu.report()
    types_cpu = OtherCpu()
    types = bench_types()
    types_cpu_report = types_cpu.report()
    parquet_cpu = OtherCpu()
    parquet = bench_parquet()
    parquet_cpu_report = parquet_cpu.report()
    groups_cpu = OtherCpu()
    groups = bench_groups()
    groups_cpu_report = groups_cpu.report()
    big_cpu = OtherCpu()
    big = bench_larger_than_memory()
    big_cpu_report = big_cpu.report()
    write_markdown(machine, results, scaling, share_rates, file_sets, stream_rows, speed, runtime)
    with DOC_PATH.open("a") as doc:
        doc.write("\n" + "\n".join(wide_markdown(wide)))
    write_plot(results, scaling, speed[1], wide)
    update_variance_docs(variance, variance_cpu_report)
    publish_types(types, types_cpu_report, to_docs=True)
    update_section_docs(PARQUET_HEADING, parquet_section(parquet, parquet_cpu_report))
    update_section_docs(GROUPS_HEADING, groups_section(groups, groups_cpu_report))
    update_section_docs(BIG_HEADING, big_section(big, big_cpu_report))
    print(f"\nwrote {DOC_PATH.relative_to(ROOT)} and {PLOT_PATH.relative_to(ROOT)} in {runtime:.0f} s", flush=True)


if __name__ == "__main__":
    if sys.argv[1:] == ["streams"]:
        # Only the streams section, printed (docs are not rewritten).
        print("\n".join(streams_table(bench_streams())))
    elif sys.argv[1:] == ["variance"]:
        # Only the variance section: printed, and put into docs/benchmarks.md.
        other_cpu = OtherCpu()
        variance = bench_variance()
        report = other_cpu.report()
        print(f"other processes' CPU use during the timings: {report}", flush=True)
        update_variance_docs(variance, report)
    elif sys.argv[1:] and set(sys.argv[1:]) <= {"kept", "small", "cold"}:
        # Only these sections, printed as markdown (docs are not rewritten).
        sections = {"kept": (bench_kept, kept_table), "small": (bench_small, small_table), "cold": (bench_cold, cold_table)}
        for name in sys.argv[1:]:
            bench, table = sections[name]
            print("\n".join(["", *table(bench())]), flush=True)
    elif sys.argv[1:2] == ["types"]:
        # Only the per-type section (or the types named after it), printed; a
        # run of every type at the default size also puts it and its plot into
        # docs/ (MAPMEAN_BENCH_TYPE_BYTES set: the plot goes under data/bench/).
        other_cpu = OtherCpu()
        rows = bench_types(sys.argv[2:])
        publish_types(rows, other_cpu.report(), to_docs=not sys.argv[2:])
    elif sys.argv[1:] == ["parquet"]:
        # Only the Parquet section: printed, and put into docs/benchmarks.md.
        other_cpu = OtherCpu()
        rows = bench_parquet()
        section = parquet_section(rows, other_cpu.report())
        print("\n".join(["", *section]), flush=True)
        update_section_docs(PARQUET_HEADING, section)
    elif sys.argv[1:] == ["groups"]:
        # Only the grouped section: printed, and put into docs/benchmarks.md.
        other_cpu = OtherCpu()
        rows = bench_groups()
        section = groups_section(rows, other_cpu.report())
        print("\n".join(["", *section]), flush=True)
        update_section_docs(GROUPS_HEADING, section)
    elif sys.argv[1:] == ["big"]:
        # Only the larger-than-memory section: printed, and put into docs/benchmarks.md.
        other_cpu = OtherCpu()
        big = bench_larger_than_memory()
        section = big_section(big, other_cpu.report())
        print("\n".join(["", *section]), flush=True)
        update_section_docs(BIG_HEADING, section)
    elif sys.argv[1:] == ["wide"]:
        # Only the wide section, printed (docs are not rewritten).
        print("\n".join(wide_markdown(bench_wide(prepare_wide()))))
    else:
        main()
