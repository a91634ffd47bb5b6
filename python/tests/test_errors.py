"""Every failure is a proper Python exception of the documented type, never a panic."""

from __future__ import annotations

import os
import warnings

import mapmean
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.feather as feather
import pytest

F32 = np.float32


def check_exception(excinfo: pytest.ExceptionInfo) -> BaseException:
    exc = excinfo.value
    assert type(exc).__name__ != "PanicException", f"a Rust panic escaped: {exc!r}"
    assert isinstance(exc, Exception)
    assert "panicked" not in str(exc)
    return exc


def raises(expected, fn, *args, **kwargs) -> BaseException:
    """Call fn and check it raises `expected` (and not a panic)."""
    try:
        fn(*args, **kwargs)
    except BaseException as exc:  # noqa: BLE001 - a PanicException derives from BaseException
        assert type(exc).__name__ != "PanicException", f"a Rust panic escaped: {exc!r}"
        assert isinstance(exc, Exception), f"{type(exc).__name__} is not an Exception subclass"
        assert isinstance(exc, expected), f"expected {expected}, got {type(exc).__name__}: {exc}"
        assert "panicked" not in str(exc)
        return exc
    raise AssertionError(f"{fn.__name__}{args} did not raise {expected}")


@pytest.fixture
def good_file(rng, tmp_arrow):
    values = rng.random(10_000, dtype=F32)
    mask = rng.random(10_000) < 0.1
    return mapmean.write_ipc(tmp_arrow(), values, mask=mask, batch_rows=3000)


@pytest.fixture
def multi_file(tmp_arrow):
    n = 50
    arrays = {
        "alpha": np.arange(n, dtype=F32),
        "beta": np.arange(n, dtype=F32) * 2,
        "count32": np.arange(n, dtype=np.int32),
        "wide": np.arange(n, dtype=np.float64),
    }
    path = tmp_arrow()
    table = pa.table(
        {
            **arrays,
            "name": pa.array([f"s{i}" for i in range(n)]),
            "category": pa.array(["a", "b"] * (n // 2)).dictionary_encode(),
            "nested": pa.array([[1.0, 2.0]] * n, type=pa.list_(pa.float32())),
            "half": pa.array(np.arange(n, dtype=np.float16)),
        }
    )
    with pa.ipc.new_file(path, table.schema) as writer:
        writer.write_table(table)
    return path


# ---------------------------------------------------------------- missing things


def test_missing_file_raises_file_not_found(tmp_path):
    missing = tmp_path / "nope.arrow"
    exc = raises(FileNotFoundError, mapmean.mean, missing)
    raises(FileNotFoundError, mapmean.mean, str(missing))
    raises(FileNotFoundError, mapmean.mean, str(missing), "values")
    assert "nope.arrow" in str(exc)


def test_missing_directory_in_path_raises_file_not_found(tmp_path):
    raises(FileNotFoundError, mapmean.mean, tmp_path / "no" / "such" / "dir.arrow")


def test_missing_column_raises_key_error_naming_it_and_listing_the_columns(multi_file):
    exc = raises(KeyError, mapmean.mean, multi_file, "gamma")
    message = str(exc)
    assert "gamma" in message
    for name in ("alpha", "beta"):
        assert name in message, f"available column {name!r} not listed in {message!r}"


def test_missing_column_in_a_one_column_file(good_file):
    exc = raises(KeyError, mapmean.mean, good_file, "valuez")
    assert "valuez" in str(exc)
    assert "values" in str(exc).replace("valuez", "")


def test_missing_column_in_arrow_objects_raises_key_error():
    table = pa.table({"alpha": np.ones(3, F32), "beta": np.ones(3, F32)})
    for source in (table, table.to_batches()[0], pl.from_arrow(table)):
        exc = raises(KeyError, mapmean.mean, source, "gamma")
        assert "gamma" in str(exc)
        assert "alpha" in str(exc) and "beta" in str(exc)
    reader = pa.RecordBatchReader.from_batches(table.schema, table.to_batches())
    exc = raises(KeyError, mapmean.mean, reader, "gamma")
    assert "alpha" in str(exc)


def test_column_names_are_case_sensitive(multi_file):
    raises(KeyError, mapmean.mean, multi_file, "ALPHA")


# ---------------------------------------------------------------- wrong types


@pytest.mark.parametrize(
    "column,type_words",
    [
        ("name", ("string", "Utf8", "utf8", "String")),
        ("category", ("dictionary", "Dictionary")),
        ("nested", ("list", "List")),
    ],
)
def test_column_of_another_type_raises_type_error_naming_column_and_type(multi_file, column, type_words):
    exc = raises(TypeError, mapmean.mean, multi_file, column)
    message = str(exc)
    assert column in message
    assert any(word in message for word in type_words), f"type not named in {message!r}"


@pytest.mark.parametrize(
    "arr",
    [
        pa.array([True, False]),
        pa.array(["a", "b"]),
        pa.array(["a", "b"]).dictionary_encode(),
        pa.array([[1.0]], pa.list_(pa.float32())),
    ],
    ids=["bool", "string", "dictionary", "list"],
)
def test_arrow_array_of_another_type_raises_type_error(arr):
    raises(TypeError, mapmean.mean, arr)
    raises(TypeError, mapmean.mean, pa.table({"col": arr}), "col")
    raises(TypeError, mapmean.mean, pa.chunked_array([arr]))


def test_type_error_for_arrow_table_names_column_and_type():
    table = pa.table({"flags": pa.array([True, False]), "x": pa.array([1.0, 2.0], pa.float32())})
    exc = raises(TypeError, mapmean.mean, table, "flags")
    assert "flags" in str(exc)
    assert "bool" in str(exc).lower()


def test_non_numeric_file_written_by_write_ipc_raises_type_error(tmp_arrow):
    for values in (np.array([True, False]), np.array(["a", "b"])):
        path = mapmean.write_ipc(tmp_arrow(), values)
        exc = raises(TypeError, mapmean.mean, path)
        assert "values" in str(exc)


@pytest.mark.parametrize("dtype", [np.bool_, np.complex64, np.complex128, "datetime64[s]", "U3", np.longdouble])
def test_numpy_array_of_a_non_numeric_dtype_raises_type_error(dtype):
    raises(TypeError, mapmean.mean, np.zeros(5, dtype=dtype))


def test_numpy_masked_array_of_a_non_numeric_dtype_raises_type_error():
    raises(TypeError, mapmean.mean, np.ma.masked_array(np.zeros(5, bool), mask=[True, False, False, False, False]))


def test_numpy_object_array_raises_type_error():
    raises(TypeError, mapmean.mean, np.array([1.0, "x"], dtype=object))


def test_polars_series_of_another_type_raises_type_error():
    raises(TypeError, mapmean.mean, pl.Series("x", ["a", "b"]))
    raises(TypeError, mapmean.mean, pl.Series("x", [True, False]))


@pytest.mark.parametrize(
    "source",
    [[1.0, 2.0], (1.0,), 3, 2.5, None, b"ARROW1", {"values": [1.0]}, object()],
    ids=["list", "tuple", "int", "float", "none", "bytes", "dict", "object"],
)
def test_unsupported_source_raises_type_error(source):
    raises(TypeError, mapmean.mean, source)


# ---------------------------------------------------------------- several columns


def test_several_columns_without_a_name_raises_value_error(multi_file, tmp_arrow):
    raises(ValueError, mapmean.mean, multi_file)
    two = mapmean.write_ipc(tmp_arrow(), {"a": np.ones(3, F32), "b": np.ones(3, F32)})
    exc = raises(ValueError, mapmean.mean, two)
    assert "a" in str(exc) and "b" in str(exc)


def test_several_columns_in_arrow_objects_without_a_name_raises_value_error():
    table = pa.table({"a": np.ones(3, F32), "b": np.ones(3, F32)})
    raises(ValueError, mapmean.mean, table)
    raises(ValueError, mapmean.mean, table.to_batches()[0])
    raises(ValueError, mapmean.mean, pl.from_arrow(table))
    raises(ValueError, mapmean.mean, pa.RecordBatchReader.from_batches(table.schema, table.to_batches()))


# ---------------------------------------------------------------- bad arguments


@pytest.mark.parametrize("min_count", [-1, -100])
def test_negative_min_count_raises_value_error(min_count):
    raises(ValueError, mapmean.mean, np.ones(3, F32), min_count=min_count)
    raises(ValueError, mapmean.mean, pa.array(np.ones(3, F32)), min_count=min_count)


@pytest.mark.parametrize("threads", [0, -1])
def test_threads_below_one_raises_value_error(threads, good_file):
    raises(ValueError, mapmean.mean, np.ones(3, F32), threads=threads)
    raises(ValueError, mapmean.mean, good_file, threads=threads)
    raises(ValueError, mapmean.mean, pa.array(np.ones(3, F32)), threads=threads)


def test_huge_min_count_gives_null_not_an_error():
    assert mapmean.mean(np.ones(3, F32), min_count=2**40).as_py() is None


# ---------------------------------------------------------------- corrupt files


def test_empty_file_raises_value_error(tmp_arrow):
    path = tmp_arrow()
    path.write_bytes(b"")
    raises(ValueError, mapmean.mean, path)


@pytest.mark.parametrize("fmt", ["file", "stream"])
def test_truncated_files_raise_value_error(good_file, tmp_arrow, fmt):
    if fmt == "stream":
        source = mapmean.write_ipc(tmp_arrow(), np.arange(10_000, dtype=F32), batch_rows=3000, format="stream")
    else:
        source = good_file
    raw = source.read_bytes()
    sizes = sorted({1, 4, 6, 8, 9, 12, 50, 100, 200, 500, len(raw) // 3, len(raw) // 2, len(raw) - 100, len(raw) - 10})
    sizes += [len(raw) - 1]
    if fmt == "stream":
        # A stream cut exactly between messages is a valid, shorter stream; cut inside one.
        sizes = [s for s in sizes if s < len(raw) - 8]
    for size in sizes:
        cut = tmp_arrow()
        cut.write_bytes(raw[:size])
        try:
            mapmean.mean(cut)
        except ValueError as exc:
            assert type(exc).__name__ != "PanicException"
            continue
        except BaseException as exc:  # noqa: BLE001
            raise AssertionError(f"cut at {size} of {len(raw)}: {type(exc).__name__}: {exc}") from exc
        raise AssertionError(f"cut at {size} of {len(raw)} bytes: no error")


def test_truncated_file_with_missing_footer_raises_value_error(good_file, tmp_arrow):
    raw = good_file.read_bytes()
    cut = tmp_arrow()
    cut.write_bytes(raw[:-6])  # the trailing magic is gone
    raises(ValueError, mapmean.mean, cut)


@pytest.mark.parametrize("seed", range(8))
def test_random_garbage_bytes_raise_value_error(tmp_arrow, seed):
    rng = np.random.default_rng(seed)
    path = tmp_arrow()
    path.write_bytes(rng.integers(0, 256, int(rng.integers(1, 5000)), dtype=np.uint8).tobytes())
    raises(ValueError, mapmean.mean, path)


def test_garbage_after_a_valid_magic_raises_value_error(tmp_arrow, rng):
    path = tmp_arrow()
    path.write_bytes(b"ARROW1\x00\x00" + rng.integers(0, 256, 1000, dtype=np.uint8).tobytes() + b"ARROW1")
    raises(ValueError, mapmean.mean, path)


def test_text_file_raises_value_error(tmp_arrow):
    path = tmp_arrow(".csv")
    path.write_text("values\n1.0\n2.0\n")
    raises(ValueError, mapmean.mean, path)


@pytest.mark.parametrize("seed", range(12))
def test_corrupted_bytes_inside_a_valid_file_never_panic(good_file, tmp_arrow, seed):
    """Flipping bytes may give an error or (if only values changed) a number, never a panic or crash."""
    rng = np.random.default_rng(seed)
    raw = bytearray(good_file.read_bytes())
    for pos in rng.integers(0, len(raw), 8):
        raw[pos] = int(rng.integers(0, 256))
    path = tmp_arrow()
    path.write_bytes(bytes(raw))
    try:
        result = mapmean.mean(path)
    except BaseException as exc:  # noqa: BLE001
        assert type(exc).__name__ != "PanicException", f"a Rust panic escaped: {exc!r}"
        assert isinstance(exc, (ValueError, TypeError, KeyError)), f"{type(exc).__name__}: {exc}"
    else:
        assert isinstance(result, pa.DoubleScalar)


def test_directory_path_raises_an_error_not_a_panic(tmp_path):
    exc = raises((IsADirectoryError, ValueError, OSError), mapmean.mean, tmp_path)
    assert not isinstance(exc, FileNotFoundError)


def test_a_damaged_parquet_file_raises_value_error(tmp_arrow):
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_arrow(".parquet")
    pq.write_table(pa.table({"values": np.ones(10, F32)}), path)
    assert mapmean.mean(path).as_py() == 1.0
    data = path.read_bytes()
    path.write_bytes(data[:4] + data[len(data) // 2 :])
    exc = raises(ValueError, mapmean.mean, path)
    assert "damaged Parquet file" in str(exc) and str(path) in str(exc), str(exc)


# ---------------------------------------------------------------- write_ipc errors


def test_write_ipc_rejects_bad_arguments(tmp_arrow):
    values = np.ones(4, F32)
    raises(ValueError, mapmean.write_ipc, tmp_arrow(), values, format="parquet")
    raises(ValueError, mapmean.write_ipc, tmp_arrow(), values, batch_rows=0)
    raises(ValueError, mapmean.write_ipc, tmp_arrow(), values, mask=np.ones(3, bool))
    raises(ValueError, mapmean.write_ipc, tmp_arrow(), {"a": values}, mask=np.ones(4, bool))
    raises(ValueError, mapmean.write_ipc, tmp_arrow(), {"a": values, "b": np.ones(5, F32)})
    raises(ValueError, mapmean.write_ipc, tmp_arrow(), np.ones((2, 2), F32))
    raises(TypeError, mapmean.write_ipc, tmp_arrow(), [1.0, 2.0])


def test_write_ipc_into_a_missing_directory_raises_an_os_error(tmp_path):
    raises(OSError, mapmean.write_ipc, tmp_path / "missing" / "x.arrow", np.ones(3, F32))


# ---------------------------------------------------------------- all exceptions


def test_every_error_is_an_exception_subclass_and_no_panic(multi_file, tmp_path):
    cases = [
        (mapmean.mean, (tmp_path / "missing.arrow",), {}),
        (mapmean.mean, (multi_file, "nope"), {}),
        (mapmean.mean, (multi_file, "name"), {}),
        (mapmean.mean, (multi_file,), {}),
        (mapmean.mean, ([1, 2],), {}),
        (mapmean.mean, (np.ones(3, bool),), {}),
        (mapmean.sum, (np.array([2**62, 2**62]),), {}),
        (mapmean.mean, (np.ones(3, F32),), {"min_count": -1}),
        (mapmean.mean, (np.ones(3, F32),), {"threads": 0}),
        (mapmean.mean, (tmp_path,), {}),
    ]
    for fn, args, kwargs in cases:
        with pytest.raises(Exception) as excinfo:
            fn(*args, **kwargs)
        check_exception(excinfo)


def test_errors_leave_the_file_usable(good_file):
    raises(KeyError, mapmean.mean, good_file, "nope")
    assert mapmean.mean(good_file).is_valid
    # The file can still be replaced (no mapping left open on Windows-like semantics).
    os.replace(good_file, good_file.with_suffix(".moved"))


def test_unicode_missing_column_is_named_in_the_key_error(tmp_arrow):
    path = mapmean.write_ipc(tmp_arrow(), {"température": np.ones(2, F32), "b": np.ones(2, F32)})
    exc = raises(KeyError, mapmean.mean, path, "températur")
    assert "températur" in str(exc)
    assert "température" in str(exc)
    assert mapmean.mean(path, "température").as_py() == 1.0


FUZZ_SCRIPT = r"""
import sys, pathlib
import numpy as np
import mapmean

src = pathlib.Path(sys.argv[1])
out = pathlib.Path(sys.argv[2])
seed = int(sys.argv[3])
raw = src.read_bytes()
rng = np.random.default_rng(seed)
head = min(len(raw), 600)
outcomes = {}
for i in range(800):
    data = bytearray(raw)
    for _ in range(int(rng.integers(1, 5))):
        # Mostly the metadata (schema and batch headers at the start, the footer at the end).
        where = rng.random()
        if where < 0.45:
            pos = int(rng.integers(0, head))
        elif where < 0.9:
            pos = int(rng.integers(max(0, len(raw) - 600), len(raw)))
        else:
            pos = int(rng.integers(0, len(raw)))
        data[pos] = int(rng.integers(0, 256))
    out.write_bytes(bytes(data))
    try:
        result = mapmean.mean(out, "a")
        kind = "ok"
        assert result.type == mapmean.mean(src, "a").type
    except (ValueError, TypeError, KeyError, FileNotFoundError) as exc:
        kind = type(exc).__name__
    except BaseException as exc:
        print(f"mutation {i}: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(3)
    outcomes[kind] = outcomes.get(kind, 0) + 1
print(outcomes)
"""


@pytest.mark.parametrize("fmt", ["file", "stream", "lz4", "zstd"])
def test_corrupted_metadata_never_panics_or_crashes(tmp_path, fmt):
    """Hundreds of byte mutations in headers and footer, run in a child process so
    that a crash (not only a panic) is reported as a failure."""
    import subprocess
    import sys

    values = np.arange(300, dtype=F32)
    if fmt in ("file", "stream"):
        src = mapmean.write_ipc(
            tmp_path / f"src.{fmt}", {"a": values, "b": values * 2}, batch_rows=100, format=fmt
        )
    else:
        src = tmp_path / f"src.{fmt}.feather"
        table = pa.table({"a": pa.array(values, mask=values % 7 == 0), "b": values * 2})
        feather.write_feather(table, src, compression=fmt, chunksize=100)
    script = tmp_path / "fuzz.py"
    script.write_text(FUZZ_SCRIPT)
    for seed in (1, 2):
        proc = subprocess.run(
            [sys.executable, str(script), str(src), str(tmp_path / "mutated.arrow"), str(seed)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, (
            f"seed {seed}: exit {proc.returncode} on {tmp_path / 'mutated.arrow'} "
            f"(a mutation of {src}):\n{proc.stderr[:1500]}"
        )
        assert "panicked" not in proc.stderr


def test_files_that_are_not_arrow_ipc_are_named_with_the_next_step(tmp_path):
    """A Feather version 1 or CSV file is named as what it is, with the
    command that converts it (not as a broken IPC message)."""
    import pyarrow.csv as pacsv

    table = pa.table({"x": pa.array([1.0, 2.0], pa.float64())})
    cases = []
    with warnings.catch_warnings():
        # pyarrow deprecates writing version 1; reading it is what is tested.
        warnings.simplefilter("ignore", DeprecationWarning)
        feather.write_feather(table, tmp_path / "v1.feather", version=1)
    cases.append((tmp_path / "v1.feather", "Feather version 1"))
    pacsv.write_csv(table, tmp_path / "t.csv")
    cases.append((tmp_path / "t.csv", "looks like text"))
    for path, expected in cases:
        exc = raises(ValueError, mapmean.mean, str(path), "x")
        assert expected in str(exc), str(exc)
        assert f'"{path}"' in str(exc), str(exc)


def test_the_datafusion_hint_says_how_to_install_the_glue(monkeypatch):
    """Without the glue wheel, importing mapmean.datafusion says how to build it
    from the source tree, not a pip extra that cannot be resolved."""
    import importlib
    import sys

    monkeypatch.setitem(sys.modules, "mapmean_datafusion", None)
    monkeypatch.delitem(sys.modules, "mapmean.datafusion", raising=False)
    with pytest.raises(ImportError) as excinfo:
        importlib.import_module("mapmean.datafusion")
    message = str(excinfo.value)
    assert "pip install ./python-datafusion" in message
    assert "mapmean[datafusion]" not in message
