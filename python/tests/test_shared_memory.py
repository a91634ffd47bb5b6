"""Shared memory: ``mapmean.share``, ``mapmean.attach``, ``SharedTable`` and ``shm://NAME``.

Segments live in ``/dev/shm``. Every segment a test creates is registered with
the ``segments`` fixture, which unlinks leftovers after the test; the last test
of the file checks that none of the names used here is left behind.

``multiprocessing.shared_memory`` is deliberately not used (its resource
tracker unlinks segments behind our back).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import shutil
import stat
import subprocess
import sys
import time
import uuid

import mapmean
import numpy as np
import pytest
from exact import assert_same, exact_mean

F32 = np.float32
SHM = "/dev/shm"
TIMEOUT = 120  # seconds, for child processes (a loaded 2-core CI machine)

# Every segment name this module has created (or tried to), for the final check.
_ALL_NAMES: set[str] = set()

pytestmark = pytest.mark.skipif(not os.path.isdir(SHM), reason="no /dev/shm")


def shm_path(name: str) -> str:
    return os.path.join(SHM, name)


def exists(name: str) -> bool:
    return os.path.lexists(shm_path(name))


class Segments:
    """Creates and tracks segment names; cleans up whatever a test leaves."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.tables: list[mapmean.SharedTable] = []

    def fresh_name(self) -> str:
        name = f"mapmean-test-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self.register(name)
        return name

    def register(self, name: str) -> str:
        self.names.append(name)
        _ALL_NAMES.add(name)
        return name

    def share(self, data, **kwargs) -> mapmean.SharedTable:
        table = mapmean.share(data, **kwargs)
        self.register(table.name)
        self.tables.append(table)
        return table

    def attach(self, name: str) -> mapmean.SharedTable:
        table = mapmean.attach(name)
        self.tables.append(table)
        return table

    def raw(self, content: bytes, name: str | None = None) -> str:
        """A segment made by hand (not by mapmean) holding ``content``."""
        name = name or self.fresh_name()
        fd = os.open(shm_path(name), os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
        try:
            view = memoryview(content)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        return name

    def cleanup(self) -> None:
        for table in self.tables:
            table.close()
        self.tables.clear()
        for name in self.names:
            try:
                os.unlink(shm_path(name))
            except FileNotFoundError:
                pass


@pytest.fixture
def segments():
    registry = Segments()
    try:
        yield registry
    finally:
        registry.cleanup()


def mean_of(source, column=None, **kwargs):
    return mapmean.mean(source, column, **kwargs).as_py()


def run_python(code: str, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert proc.returncode == 0, f"child exited {proc.returncode}:\n{proc.stderr}"
    return proc


def run_cli(cli, *args) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(cli), *map(str, args)], capture_output=True, text=True, timeout=TIMEOUT)
    assert "panicked" not in proc.stderr
    return proc


@contextlib.contextmanager
def python_child(code: str, *args: str):
    """A child interpreter running ``code`` with pipes on stdin/stdout/stderr;
    killed on the way out if it is still running."""
    with subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as child:
        try:
            yield child
        finally:
            if child.poll() is None:
                child.kill()
                child.communicate()


def read_line(proc: subprocess.Popen, timeout: float = TIMEOUT) -> str:
    """One line from a child's stdout, failing (not hanging) after ``timeout``."""
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, f"no line from the child within {timeout} s"
    line = proc.stdout.readline()
    assert line, f"the child closed its stdout (exit {proc.poll()}): {proc.stderr.read()}"
    return line.strip()


def cancellation(n: int) -> np.ndarray:
    return np.array([3e37, 0.75, -3e37] * n, dtype=F32)


@pytest.fixture
def wide(rng) -> np.ndarray:
    """Float32 values over a wide range of magnitudes, with cancellation."""
    noise = (rng.standard_normal(30_000) * 10.0 ** rng.uniform(-20, 20, 30_000)).astype(F32)
    values = np.concatenate([cancellation(3000), noise])
    rng.shuffle(values)
    return values


# --------------------------------------------------------------------------
# Round trip in one process


@pytest.mark.parametrize("kind", ["random", "mask", "masked_array", "nan_as_null", "cancellation", "empty", "all_null"])
def test_shared_data_round_trips_to_the_exact_mean(segments, rng, wide, kind):
    valid = None
    kwargs = {}
    if kind == "random":
        values = rng.random(50_001, dtype=F32)
        data = values
    elif kind == "mask":
        values = wide
        valid = rng.random(values.size) < 0.8
        data = values
        kwargs["mask"] = ~valid
    elif kind == "masked_array":
        values = wide
        valid = rng.random(values.size) < 0.5
        data = np.ma.masked_array(values, mask=~valid)
    elif kind == "nan_as_null":
        values = wide.copy()
        values[rng.random(values.size) < 0.1] = np.nan
        valid = ~np.isnan(values)
        data = values
        kwargs["nan_as_null"] = True
    elif kind == "cancellation":
        values = cancellation(10_000)
        data = values
    elif kind == "empty":
        values = np.array([], dtype=F32)
        data = values
    else:
        values = rng.random(1000, dtype=F32)
        valid = np.zeros(values.size, dtype=bool)
        data = values
        kwargs["mask"] = ~valid
    want = exact_mean(values, valid)
    if kind == "cancellation":
        assert want == 0.25
    table = segments.share(data, **kwargs)
    assert table.owner and not table.closed
    assert table.nbytes == os.stat(shm_path(table.name)).st_size
    assert_same(mean_of("shm://" + table.name), want, "shm://NAME")
    assert_same(mean_of(table), want, "owner table")
    assert_same(mean_of(table, "values"), want, "owner table, column named")
    assert_same(mean_of("shm://" + table.name, "values"), want, "shm://NAME, column named")
    reader = segments.attach(table.name)
    assert not reader.owner and not reader.closed
    assert reader.name == table.name and reader.nbytes == table.nbytes
    assert_same(mean_of(reader), want, "reader table")
    for threads in (1, 2, 3):
        assert_same(mean_of(reader, threads=threads), want, f"threads={threads}")


def test_skip_nulls_and_min_count_apply_to_shared_data(segments, rng):
    values = rng.random(999, dtype=F32)
    valid = rng.random(values.size) < 0.7
    table = segments.share(values, mask=~valid)
    source = "shm://" + table.name
    assert mean_of(source, skip_nulls=False) is None
    assert mean_of(table, skip_nulls=False) is None
    count = int(valid.sum())
    assert mean_of(source, min_count=count + 1) is None
    assert_same(mean_of(source, min_count=count), exact_mean(values, valid))


def test_a_mapping_of_several_columns_is_shared_and_chosen_by_name(segments, rng, wide):
    n = wide.size
    b = rng.random(n, dtype=F32)
    b_valid = rng.random(n) < 0.6
    columns = {
        "a": wide,
        "b": np.ma.masked_array(b, mask=~b_valid),
        "c": cancellation(n // 3),
        "f64": rng.random(n),
    }
    assert columns["c"].size == n
    table = segments.share(columns)
    want = {"a": exact_mean(wide), "b": exact_mean(b, b_valid), "c": 0.25, "f64": exact_mean(columns["f64"])}
    reader = segments.attach("shm://" + table.name)
    for column, expected in want.items():
        assert_same(mean_of("shm://" + table.name, column), expected, column)
        assert_same(mean_of(table, column), expected, column)
        assert_same(mean_of(reader, column), expected, column)
    with pytest.raises(ValueError):
        mapmean.mean("shm://" + table.name)  # several columns, none named
    with pytest.raises(ValueError):
        mapmean.mean(reader)
    with pytest.raises(KeyError):
        mapmean.mean("shm://" + table.name, "nope")
    with pytest.raises(KeyError):
        mapmean.mean(reader, "nope")



@pytest.mark.parametrize("prefix", ["", "shm://", "/"])
def test_a_chosen_name_is_used_without_its_prefix(segments, prefix):
    name = segments.fresh_name()
    values = cancellation(100)
    table = segments.share(values, name=prefix + name)
    assert table.name == name
    assert exists(name)
    assert table.nbytes == os.stat(shm_path(name)).st_size
    assert_same(mean_of("shm://" + name), 0.25)
    reader = segments.attach(prefix + name if prefix != "/" else name)
    assert reader.name == name
    assert_same(mean_of(reader), 0.25)


def test_a_name_of_240_bytes_is_accepted(segments):
    name = segments.register("m" * 240)
    assert not exists(name), "a stale segment of that name"
    table = segments.share(cancellation(10), name=name)
    assert table.name == name
    assert_same(mean_of("shm://" + name), 0.25)


# --------------------------------------------------------------------------
# Other processes

_CHILD_MEAN = """
import sys, mapmean
name, column = sys.argv[1], sys.argv[2]
print(repr(mapmean.mean("shm://" + name, column).as_py()))
reader = mapmean.attach(name)
assert not reader.owner
print(repr(mapmean.mean(reader, column).as_py()))
with mapmean.attach("shm://" + name) as other:
    print(repr(mapmean.mean(other, column).as_py()))
assert other.closed
reader.close()
"""


def child_floats(proc: subprocess.CompletedProcess) -> list[float]:
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    return [float(line) for line in lines]


def test_another_process_computes_the_exact_mean_of_a_shared_segment(segments, rng, wide):
    valid = rng.random(wide.size) < 0.75
    columns = {"wide": np.ma.masked_array(wide, mask=~valid), "cancel": cancellation(wide.size // 3)}
    table = segments.share(columns)
    for column, want in (("wide", exact_mean(wide, valid)), ("cancel", 0.25)):
        got = child_floats(run_python(_CHILD_MEAN, table.name, column))
        assert len(got) == 3
        for value in got:
            assert_same(value, want, f"child process, column {column}")
    # The owner's segment is untouched by the readers.
    assert exists(table.name)
    assert_same(mean_of(table, "cancel"), 0.25)


def test_the_cli_computes_the_exact_mean_of_a_shared_segment(segments, cli, rng, wide):
    valid = rng.random(wide.size) < 0.75
    nan_values = rng.random(wide.size, dtype=F32)
    nan_values[::97] = np.nan
    columns = {
        "wide": np.ma.masked_array(wide, mask=~valid),
        "cancel": cancellation(wide.size // 3),
        "nan": nan_values,
    }
    table = segments.share(columns)
    source = "shm://" + table.name
    proc = run_cli(cli, "mean", source, "--column", "wide", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    assert len(rows) == 1
    row = rows[0]
    assert row["column"] == "wide"
    assert row["count"] == int(valid.sum())
    assert row["null_count"] == int((~valid).sum())
    assert row["nan_count"] == 0
    assert_same(row["mean"], exact_mean(wide, valid), "CLI, column wide")

    proc = run_cli(cli, "mean", source, "--column", "cancel", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    (row,) = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    assert row["column"] == "cancel" and row["count"] == wide.size and row["null_count"] == 0
    assert_same(row["mean"], 0.25, "CLI, column cancel")

    proc = run_cli(cli, "mean", source, "--column", "nan", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    (row,) = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    assert row["nan_count"] == int(np.isnan(nan_values).sum())
    assert exists(table.name)


def test_the_cli_reads_a_single_column_segment_without_naming_the_column(segments, cli):
    table = segments.share(cancellation(1000))
    proc = run_cli(cli, "mean", "shm://" + table.name, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    (row,) = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    assert row["column"] == "values" and row["count"] == 3000
    assert_same(row["mean"], 0.25)


# --------------------------------------------------------------------------
# Readers outlive the unlink


def test_a_reader_in_this_process_still_computes_after_the_owner_unlinks(segments, wide):
    want = exact_mean(wide)
    owner = segments.share(wide)
    name = owner.name
    reader = segments.attach(name)
    owner.unlink()
    assert not exists(name)
    owner.close()
    assert owner.closed
    assert not reader.closed
    assert_same(mean_of(reader), want, "reader after unlink")
    assert_same(mean_of(reader, "values"), want, "reader after unlink")
    with pytest.raises(FileNotFoundError):
        mapmean.mean("shm://" + name)
    with pytest.raises(FileNotFoundError):
        mapmean.attach(name)
    reader.close()
    assert reader.closed
    with pytest.raises(ValueError):
        mapmean.mean(reader)


def test_a_reader_that_survives_the_owner_context_manager_still_computes(segments, wide):
    want = exact_mean(wide)
    with mapmean.share(wide) as owner:
        segments.register(owner.name)
        reader = segments.attach(owner.name)
    assert owner.closed
    assert not exists(owner.name)
    assert_same(mean_of(reader), want)


_CHILD_ATTACH_THEN_WAIT = """
import os, sys, mapmean
name = sys.argv[1]
reader = mapmean.attach(name)
print("ready", flush=True)
assert sys.stdin.readline().strip() == "go"
gone = not os.path.exists("/dev/shm/" + name)
try:
    mapmean.mean("shm://" + name)
    by_name = "found"
except FileNotFoundError:
    by_name = "FileNotFoundError"
print(gone, by_name, repr(mapmean.mean(reader).as_py()), flush=True)
reader.close()
"""


def test_a_reader_in_another_process_still_computes_after_the_owner_unlinks(segments, rng, wide):
    valid = rng.random(wide.size) < 0.9
    want = exact_mean(wide, valid)
    owner = segments.share(wide, mask=~valid)
    name = owner.name
    with python_child(_CHILD_ATTACH_THEN_WAIT, name) as child:
        assert read_line(child) == "ready"
        owner.unlink()
        owner.close()
        assert not exists(name)
        out, err = child.communicate("go\n", timeout=TIMEOUT)
    assert child.returncode == 0, err
    gone, by_name, value = out.split()
    assert gone == "True"
    assert by_name == "FileNotFoundError"
    assert_same(float(value), want, "child reader after unlink")


# --------------------------------------------------------------------------
# Permissions, exclusivity, lifetime, names


def test_a_segment_is_private_to_its_owner_mode_0600(segments):
    table = segments.share(cancellation(10))
    st = os.stat(shm_path(table.name))
    assert stat.S_ISREG(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
    assert st.st_uid == os.getuid()


@pytest.mark.parametrize("umask", [0o000, 0o002, 0o022])
def test_a_segment_is_mode_0600_even_with_a_permissive_umask(segments, umask):
    name = segments.fresh_name()
    old = os.umask(umask)
    try:
        table = segments.share(cancellation(10), name=name)
        default = segments.share(cancellation(10))
    finally:
        os.umask(old)
    assert os.umask(old) == old  # restored
    for segment in (table, default):
        mode = stat.S_IMODE(os.stat(shm_path(segment.name)).st_mode)
        assert mode == 0o600, f"umask {umask:#o}: mode {mode:#o}"


@pytest.mark.parametrize("prefix", ["", "shm://", "/"])
def test_a_taken_name_fails_and_leaves_the_existing_segment_unchanged(segments, rng, prefix):
    first = cancellation(1000)
    table = segments.share(first, name=segments.fresh_name())
    name = table.name
    with open(shm_path(name), "rb") as f:
        before = f.read()
    stat_before = os.stat(shm_path(name))
    other = rng.random(5000, dtype=F32)
    with pytest.raises(FileExistsError):
        mapmean.share(other, name=prefix + name)
    with pytest.raises(FileExistsError):
        mapmean.share({"x": other}, name=prefix + name)
    with open(shm_path(name), "rb") as f:
        assert f.read() == before
    stat_after = os.stat(shm_path(name))
    assert stat_after.st_size == stat_before.st_size == table.nbytes
    assert stat.S_IMODE(stat_after.st_mode) == 0o600
    assert_same(mean_of("shm://" + name), 0.25)
    assert_same(mean_of(table), 0.25)
    assert not table.closed


def test_a_name_taken_by_a_foreign_segment_is_not_clobbered(segments, rng):
    content = b"not mapmean's: " + bytes(range(256)) * 4
    name = segments.raw(content)
    with pytest.raises(FileExistsError):
        mapmean.share(rng.random(100, dtype=F32), name=name)
    with open(shm_path(name), "rb") as f:
        assert f.read() == content


def test_the_owner_context_manager_closes_and_unlinks(segments):
    with segments.share(cancellation(10)) as table:
        assert table.owner
        assert exists(table.name)
        assert_same(mean_of(table), 0.25)
    assert table.closed
    assert not exists(table.name)
    with pytest.raises(ValueError):
        mapmean.mean(table)
    with pytest.raises(FileNotFoundError):
        mapmean.mean("shm://" + table.name)


def test_the_owner_context_manager_unlinks_when_the_block_raises(segments):
    with pytest.raises(RuntimeError, match="boom"):
        with segments.share(cancellation(10)) as table:
            raise RuntimeError("boom")
    assert table.closed
    assert not exists(table.name)


def test_a_reader_context_manager_only_closes(segments):
    owner = segments.share(cancellation(10))
    with mapmean.attach(owner.name) as reader:
        assert not reader.owner
        assert_same(mean_of(reader), 0.25)
    assert reader.closed
    assert exists(owner.name)
    assert not owner.closed
    assert_same(mean_of(owner), 0.25)
    assert_same(mean_of("shm://" + owner.name), 0.25)


def test_unlink_removes_the_segment_and_a_second_unlink_raises(segments):
    table = segments.share(cancellation(10))
    table.unlink()
    assert not exists(table.name)
    with pytest.raises(FileNotFoundError):
        table.unlink()
    # The owner's own mapping is still usable until it is closed.
    assert not table.closed
    assert_same(mean_of(table), 0.25)
    table.close()
    assert table.closed


def test_close_is_idempotent_and_keeps_the_segment(segments):
    table = segments.share(cancellation(10))
    reader = segments.attach(table.name)
    for handle in (reader, table):
        handle.close()
        handle.close()
        assert handle.closed
        with pytest.raises(ValueError):
            mapmean.mean(handle)
    assert exists(table.name)
    assert_same(mean_of("shm://" + table.name), 0.25)
    # A closed owner can still unlink its segment.
    table.unlink()
    assert not exists(table.name)


def test_default_names_are_random_and_well_formed(segments):
    a = segments.share(cancellation(1))
    b = segments.share(cancellation(1))
    for table in (a, b):
        assert re.fullmatch(r"mapmean-[0-9a-f]{16}", table.name), table.name
        assert exists(table.name)
    assert a.name != b.name
    names = {segments.share(np.zeros(1, F32)).name for _ in range(20)}
    assert len(names) == 20


def test_nbytes_is_the_segment_size(segments, rng):
    for n in (0, 1, 1000, 123_457):
        table = segments.share(rng.random(n, dtype=F32))
        size = os.stat(shm_path(table.name)).st_size
        assert table.nbytes == size
        assert segments.attach(table.name).nbytes == size
        # An Arrow IPC file image: the magic at both ends.
        with open(shm_path(table.name), "rb") as f:
            image = f.read()
        assert image[:6] == b"ARROW1" and image[-6:] == b"ARROW1"
        assert size >= 4 * n


# --------------------------------------------------------------------------
# Errors


def _valid_image(segments) -> bytes:
    with segments.share(np.arange(1000, dtype=F32)) as table:
        with open(shm_path(table.name), "rb") as f:
            return f.read()


CORRUPT = ["garbage", "empty", "magic_only", "first_half", "last_byte_missing", "no_footer_magic", "zeroed_footer"]


def _corrupt(kind: str, image: bytes) -> bytes:
    if kind == "garbage":
        return b"this is not an Arrow IPC file, only some garbage bytes\n" * 50
    if kind == "empty":
        return b""
    if kind == "magic_only":
        return b"ARROW1\x00\x00"
    if kind == "first_half":
        return image[: len(image) // 2]
    if kind == "last_byte_missing":
        return image[:-1]
    if kind == "no_footer_magic":
        return image[:-6] + b"\x00" * 6
    if kind == "zeroed_footer":
        # The footer length (4 bytes before the trailing magic) points nowhere.
        return image[:-10] + b"\xff\xff\xff\x7f" + image[-6:]
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", CORRUPT)
def test_a_corrupt_segment_gives_value_error(segments, kind):
    name = segments.raw(_corrupt(kind, _valid_image(segments)))
    with pytest.raises(ValueError):
        mapmean.mean("shm://" + name)
    with pytest.raises(ValueError):
        mapmean.mean("shm://" + name, "values")
    # Attaching may refuse the segment at once; if it maps it, computing refuses it.
    try:
        reader = segments.attach(name)
    except ValueError:
        pass
    else:
        with pytest.raises(ValueError):
            mapmean.mean(reader)
    assert exists(name)  # readers never unlink


@pytest.mark.parametrize("kind", CORRUPT)
def test_the_cli_fails_cleanly_on_a_corrupt_segment(segments, cli, kind):
    name = segments.raw(_corrupt(kind, _valid_image(segments)))
    proc = run_cli(cli, "mean", "shm://" + name, "--format", "json")
    assert proc.returncode != 0
    assert proc.stderr.startswith("error: "), f"stderr: {proc.stderr!r}"
    assert proc.stdout.strip() == ""


def test_the_cli_fails_cleanly_on_a_missing_segment(segments, cli):
    name = segments.fresh_name()
    proc = run_cli(cli, "mean", "shm://" + name, "--format", "json")
    assert proc.returncode != 0
    assert proc.stderr.startswith("error: "), f"stderr: {proc.stderr!r}"


def test_a_missing_segment_gives_file_not_found(segments):
    name = segments.fresh_name()
    with pytest.raises(FileNotFoundError):
        mapmean.attach(name)
    with pytest.raises(FileNotFoundError):
        mapmean.attach("shm://" + name)
    with pytest.raises(FileNotFoundError):
        mapmean.mean("shm://" + name)
    assert not exists(name)


INVALID_NAMES = [
    "",
    "shm://",
    "/",
    "a/b",
    "shm://a/b",
    "//x",
    "..",
    "shm://..",
    "x" * 241,
    "shm://" + "x" * 241,
    "\u00e9" * 121,  # 121 characters, 242 bytes
]


@pytest.mark.parametrize("name", INVALID_NAMES, ids=lambda n: repr(n)[:24])
def test_an_invalid_name_gives_value_error(segments, name):
    # The file such a name could have created (checked by name, not by listing
    # /dev/shm, so that other processes' segments cannot disturb the test).
    bare = name[len("shm://") :] if name.startswith("shm://") else name
    candidate = bare.lstrip("/") if bare.lstrip("/") not in ("", ".", "..") else None
    if candidate is not None and "/" not in candidate:
        segments.register(candidate)
        assert not exists(candidate), "a stale segment of that name"
    with pytest.raises(ValueError):
        mapmean.share(cancellation(1), name=name)
    with pytest.raises(ValueError):
        mapmean.attach(name)
    if candidate is not None and "/" not in candidate:
        assert not exists(candidate), f"the invalid name {name!r} created a segment"


def test_mean_of_a_closed_table_gives_value_error(segments):
    table = segments.share(cancellation(1))
    reader = segments.attach(table.name)
    reader.close()
    with pytest.raises(ValueError):
        mapmean.mean(reader)
    table.close()
    with pytest.raises(ValueError):
        mapmean.mean(table, "values")


# --------------------------------------------------------------------------
# Zero copy


def assert_buffers_inside_mapping(info: dict, expect_validity: bool) -> None:
    start, length = info["map_start"], info["map_len"]
    assert isinstance(start, int) and isinstance(length, int) and start > 0 and length > 0
    end = start + length
    assert info["batches"], "no batches"
    for i, batch in enumerate(info["batches"]):
        addr, size = batch["values_addr"], batch["values_len"]
        if size:
            assert start <= addr and addr + size <= end, f"batch {i}: values [{addr:#x}, +{size}) outside the mapping"
        validity = batch["validity_addr"]
        if expect_validity:
            assert validity is not None, f"batch {i}: no validity buffer"
        if validity is not None:
            bitmap_bytes = (size // 4 + 7) // 8
            assert start <= validity and validity + bitmap_bytes <= end, f"batch {i}: validity outside the mapping"


def test_a_reader_reads_the_segment_in_place(segments, rng, wide):
    from mapmean import _mapmean

    valid = rng.random(wide.size) < 0.8
    owner = segments.share({"plain": wide, "nulls": np.ma.masked_array(wide, mask=~valid)})
    reader = segments.attach(owner.name)
    for column, has_nulls in (("plain", False), ("nulls", True)):
        info = _mapmean._column_buffers("shm://" + owner.name, column)
        assert info["map_len"] == owner.nbytes == reader.nbytes
        assert sum(b["values_len"] for b in info["batches"]) == wide.nbytes
        assert_buffers_inside_mapping(info, expect_validity=has_nulls)
        assert_same(mean_of(reader, column), exact_mean(wide, valid if has_nulls else None))


def test_a_single_column_segment_is_read_in_place(segments, rng):
    from mapmean import _mapmean

    values = rng.random(200_001, dtype=F32)
    owner = segments.share(values)
    with mapmean.attach(owner.name) as reader:
        info = _mapmean._column_buffers("shm://" + reader.name)
        assert info["map_len"] == reader.nbytes
        assert info["batches"][0]["values_len"] == values.nbytes
        assert_buffers_inside_mapping(info, expect_validity=False)
        assert_same(mean_of(reader), exact_mean(values))


# --------------------------------------------------------------------------
# Memory: the reader does not copy the segment

_CHILD_RSS = """
import sys, mapmean, numpy as np

def rss_anon():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no RssAnon")

name = sys.argv[1]
# One-time costs are not the reader's: pyarrow imports pandas (when it is
# installed, as mapmean[dask] installs it) on the first scalar it builds.
mapmean.mean(np.zeros(1, dtype=np.float32))
before = rss_anon()
print("ready", before, flush=True)
assert sys.stdin.readline().strip() == "go"
value = mapmean.mean("shm://" + name).as_py()
after = rss_anon()
print(repr(value), before, after, flush=True)
"""

_MiB = 1 << 20


def _rss_anon_of(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


@pytest.mark.slow
def test_a_reader_of_a_large_segment_uses_little_private_memory(segments, rng):
    free = shutil.disk_usage(SHM).free
    n = 1 << 28 if free >= 3 * (1 << 30) else 1 << 26
    # A random block tiled: the exact mean of the tiling is the block's (k*S / k*N).
    block = (rng.standard_normal(1 << 16) * 10.0 ** rng.uniform(-5, 5, 1 << 16)).astype(F32)
    want = exact_mean(block)
    data = np.tile(block, n // block.size)
    assert data.size == n
    owner = segments.share(data)
    del data
    try:
        assert owner.nbytes >= 4 * n
        with python_child(_CHILD_RSS, owner.name) as child:
            ready = read_line(child).split()
            assert ready[0] == "ready"
            before = int(ready[1])
            child.stdin.write("go\n")
            child.stdin.flush()
            # Sample the child's private memory while it computes: a transient
            # copy of the segment would show here even if freed before returning.
            peak = before
            deadline = time.monotonic() + TIMEOUT
            while child.poll() is None and time.monotonic() < deadline:
                sample = _rss_anon_of(child.pid)
                if sample is not None:
                    peak = max(peak, sample)
                time.sleep(0.0005)
            out, err = child.communicate(timeout=TIMEOUT)
        assert child.returncode == 0, err
        value, before2, after = out.split()
        assert int(before2) == before
        growth = int(after) - before
        peak_growth = peak - before
        print(
            f"\nshm segment of {owner.nbytes / _MiB:.0f} MiB ({n} float32): RssAnon growth "
            f"{growth / _MiB:.2f} MiB after mean, sampled peak growth {peak_growth / _MiB:.2f} MiB"
        )
        assert_same(float(value), want, "large segment")
        assert growth < 16 * _MiB, f"RssAnon grew by {growth / _MiB:.1f} MiB"
        assert peak_growth < 16 * _MiB, f"RssAnon peaked {peak_growth / _MiB:.1f} MiB above the start"
    finally:
        owner.close()
        owner.unlink()
    assert not exists(owner.name)


# --------------------------------------------------------------------------
# Keep last: nothing left behind


def test_no_segment_created_by_this_file_is_left_in_dev_shm():
    if not _ALL_NAMES:
        pytest.skip("no other test of this file ran")
    left = sorted(name for name in _ALL_NAMES if exists(name))
    assert not left, f"segments left in {SHM}: {left}"
