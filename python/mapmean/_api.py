"""The Python API of mapmean: the functions and the ``Dataset`` class that
``mapmean`` exports, with numpy and pyarrow, which they need.

``mapmean/__init__.py`` loads this module on the first use of one of its
names (``mapmean.mean``, ``from mapmean import scan``, ...), not on
``import mapmean``: the ``mapmean`` command and ``python -m mapmean`` load
only the extension and start at once. Each public item's ``__module__`` is
``"mapmean"``, so it shows, pickles and documents as ``mapmean.NAME``.
"""

from __future__ import annotations

import builtins
import io
import os
import pathlib
import threading
from typing import Any, BinaryIO, Literal, Mapping, Optional, Protocol, Sequence, Union

import numpy as np
import pyarrow as pa

from . import _mapmean
from ._mapmean import MeanState, MomentsState, SharedTable

PathLike = Union[str, "os.PathLike[str]"]

_FLOAT32 = np.dtype(np.float32)
_FLOAT64 = pa.float64()


_NULL_DOUBLE = pa.scalar(None, type=_FLOAT64)
_DOUBLE_SLOTS = threading.local()


def _double_scalar(value: Optional[float]) -> pa.DoubleScalar:
    """A ``pyarrow.DoubleScalar`` holding ``value`` (null for None).

    The value is written into this thread's one-element float64 array and
    read back as its element, which copies it into a new scalar: about
    0.3 µs, against 1.7-2 µs for ``pa.scalar(value, type=pa.float64())``,
    which is most of the call on small arrays. The array is the thread's own,
    so threads never read each other's value, and it is never handed out.
    """
    if value is None:
        return _NULL_DOUBLE
    try:
        slot, array = _DOUBLE_SLOTS.pair
    except AttributeError:
        slot = np.zeros(1, dtype=np.float64)
        array = pa.array(slot)  # a view of `slot`, no copy ...
        if array.buffers()[1].address != slot.ctypes.data:
            array = None  # ... or, should a pyarrow copy, the slow way
        _DOUBLE_SLOTS.pair = (slot, array)
    if array is None:
        return pa.scalar(value, type=_FLOAT64)
    slot[0] = value
    return array[0]


class ArrowArrayExportable(Protocol):
    """An object with the Arrow PyCapsule array interface."""

    def __arrow_c_array__(self, requested_schema: Optional[object] = None) -> tuple[object, object]: ...


class ArrowStreamExportable(Protocol):
    """An object with the Arrow PyCapsule stream interface (a ``RecordBatchReader``,
    a DuckDB relation, a polars frame, ...): consumed batch by batch."""

    def __arrow_c_stream__(self, requested_schema: Optional[object] = None) -> object: ...


#: What :func:`mean` and :func:`mean_state` accept.
Source = Union[
    PathLike,
    Sequence[PathLike],
    "Dataset",
    "SharedTable",
    np.ndarray,
    ArrowArrayExportable,
    ArrowStreamExportable,
    BinaryIO,
    pa.NativeFile,
]


def mean(
    source: Source,
    column: Optional[str] = None,
    *,
    skip_nulls: bool = True,
    min_count: int = 1,
    threads: Optional[int] = None,
) -> pa.DoubleScalar:
    """Exact mean of a numeric column, correctly rounded to float64.

    Parameters
    ----------
    source
        Where the values are:

        - a path (``str`` or ``os.PathLike``) to an Arrow IPC file or stream,
          memory-mapped and read without copying; ``"shm://NAME"`` for a
          shared-memory segment made by :func:`share`, or a
          :class:`SharedTable`; a :class:`Dataset` from :func:`open`, whose
          sources stay mapped between calls;
        - a directory, a glob pattern or a list of paths: the sources of a
          dataset, as :func:`open` and :func:`scan` take them (a directory
          searched recursively for ``*.arrow``, ``*.arrows``, ``*.feather``,
          ``*.ipc``, ``*.parquet``, ``*.parq``, ``*.pq``; files in sorted
          order), merged exactly;
        - any object with the Arrow PyCapsule interface
          (``__arrow_c_array__`` or ``__arrow_c_stream__``): pyarrow ``Array``,
          ``ChunkedArray``, ``RecordBatch``, ``Table``, ``RecordBatchReader``,
          polars ``Series`` and ``DataFrame``, DuckDB results, ...; consumed
          without copying, batch by batch: a stream (a generator-backed
          ``RecordBatchReader``, say) of any length needs memory for a few
          batches only;
        - a binary file object (``open(path, "rb")``, ``io.BytesIO``,
          ``sys.stdin.buffer``) or a ``pyarrow.NativeFile`` holding an Arrow
          IPC stream, read incrementally; one holding an IPC *file* is read
          batch by batch through its footer if it is seekable;
        - a numpy array of any numeric dtype (float16/32/64, int8-64,
          uint8-64), shape and strides (all elements count, as in
          ``numpy.mean``; NaN stays NaN), read in place; a masked array's
          masked elements are nulls; a numpy scalar is one value.
    column
        The column to average, of any numeric type (Float16/32/64,
        Int8/16/32/64, UInt8/16/32/64). May be omitted when the source has
        one column.
    skip_nulls
        Ignore nulls (default). If False, any null makes the result null.
    min_count
        The result is null when fewer values than this are valid (default 1,
        so empty and all-null inputs give null).
    threads
        Worker threads; default all cores. The result is bitwise the same for
        every value.

    Returns
    -------
    pyarrow.DoubleScalar
        The mean; a null scalar where the mean is null. NaN if a valid value
        is NaN or both infinities occur; ``±inf`` if only one sign of infinity
        occurs.

    Raises
    ------
    FileNotFoundError
        The path does not exist.
    KeyError
        No column of that name.
    TypeError
        The column is not numeric, or the source is not a supported kind.
    ValueError
        The data is corrupt or not Arrow IPC, a stream fails part-way (no
        partial result), several columns and none named, or an argument is
        out of range.

    Examples
    --------
    >>> import pyarrow as pa, mapmean
    >>> table = pa.table({"x": pa.array([1.0, None, 2.0], pa.float32())})
    >>> mapmean.mean(table, "x")
    <pyarrow.DoubleScalar: 1.5>
    >>> mapmean.mean(table, "x", skip_nulls=False)
    <pyarrow.DoubleScalar: None>
    """
    # The fast path for float32 numpy arrays, whose small sizes take a few
    # microseconds: the fewest checks and calls (one into Rust) around the work.
    if type(source) is np.ndarray and column is None and (source.dtype is _FLOAT32 or source.dtype == _FLOAT32):
        if type(min_count) is not int:
            _check_int("min_count", min_count)
        if threads is not None:
            _check_int("threads", threads)
        return _double_scalar(_mapmean._mean_ndarray(source, threads, skip_nulls, min_count))
    _check_int("min_count", min_count)
    state = mean_state(source, column, threads=threads)
    return _double_scalar(state._value("mean", skip_nulls, min_count))


def mean_state(source: Source, column: Optional[str] = None, *, threads: Optional[int] = None) -> MeanState:
    """The exact, mergeable state behind :func:`mean`: counts and the exact sum.

    States computed anywhere — other processes, other machines, other files
    — merge exactly (``a.merge(b)``), and finish into the same mean as one pass
    over all the data, bit for bit. ``state.to_bytes()`` and
    ``MeanState.from_bytes(b)`` carry a state anywhere in one fixed, versioned
    96-byte form (``docs/state-format.md``), which pickling uses too; a merge
    that would pass 2**64 - 1 rows raises ``OverflowError``.

    Parameters
    ----------
    source, column, threads
        As in :func:`mean`.

    Returns
    -------
    MeanState

    Raises
    ------
    As :func:`mean`.

    Examples
    --------
    >>> import numpy as np, pickle, mapmean
    >>> a = mapmean.mean_state(np.array([3e37, 0.75], dtype=np.float32))
    >>> b = pickle.loads(pickle.dumps(mapmean.mean_state(np.array([-3e37], dtype=np.float32))))
    >>> a.merge(b)
    >>> a.finish()
    <pyarrow.DoubleScalar: 0.25>
    """
    return _state(source, column, threads, kind="mean")


#: numpy dtype kinds mapmean reads: floats, signed and unsigned integers.
_NUMERIC_KINDS = frozenset("fiu")


def _numeric_ndarray(array: np.ndarray) -> np.ndarray:
    """``array`` itself if mapmean can read it in place, else a native-order copy."""
    dtype = array.dtype
    if dtype.kind not in _NUMERIC_KINDS or dtype.itemsize > 8:
        raise TypeError(
            "mapmean needs a numeric array (float16/32/64, int8-64, uint8-64), "
            f"got dtype {dtype}" + (" (cast booleans to an integer type first)" if dtype.kind == "b" else "")
        )
    if not dtype.isnative:
        return array.astype(dtype.newbyteorder("="))
    return array


def _is_path_set(source: Any) -> bool:
    """Whether ``source`` names a set of files rather than one source: a
    directory, a glob pattern that is not itself a file, or a list or tuple
    of paths."""
    if isinstance(source, (list, tuple)):
        return len(source) > 0 and all(isinstance(s, (str, os.PathLike)) for s in source)
    if not isinstance(source, (str, os.PathLike)):
        return False
    path = os.fspath(source)
    if not isinstance(path, str) or path == "-" or path.startswith("shm://"):
        return False
    return os.path.isdir(path) or (any(c in path for c in "*?[") and not os.path.exists(path))


def _state(source: Any, column: Optional[str], threads: Optional[int], *, kind: str) -> Any:
    """The state of ``kind`` (``"mean"``, ``"moments"`` or ``"extremes"``) of any source :func:`mean` accepts."""
    if threads is not None:
        _check_int("threads", threads)
    if _is_path_set(source):
        # The dataset semantics of open and scan, for a one-shot call.
        with open(source) as data:
            return data._state(column, threads, kind)
    if isinstance(source, (str, os.PathLike)):
        return _mapmean._state_path(os.fspath(source), column, threads, kind)
    if isinstance(source, SharedTable):
        return source._state(column, threads, kind)
    if isinstance(source, Dataset):
        return source._state(column, threads, kind)
    if isinstance(source, np.generic):
        source = np.asarray(source)
    if isinstance(source, np.ma.MaskedArray):
        return _mapmean._state_arrow(_masked_to_arrow(source, column), None, threads, kind)
    if isinstance(source, np.ndarray):
        if column is not None:
            raise KeyError(f"column {column!r} given, but a numpy array has no columns")
        return _mapmean._state_ndarray(_numeric_ndarray(source), threads, kind)
    if hasattr(source, "__arrow_c_stream__") or hasattr(source, "__arrow_c_array__"):
        return _mapmean._state_arrow(source, column, threads, kind)
    if isinstance(source, pa.NativeFile) or hasattr(source, "read"):
        return _mapmean._state_arrow(_ipc_reader(source), column, threads, kind)
    raise TypeError(
        "mapmean needs a path, an Arrow object (with __arrow_c_array__ or "
        "__arrow_c_stream__), a binary file object holding Arrow IPC, or a "
        f"numeric numpy array, got {type(source).__name__}"
    )


def sum(
    source: Source,
    column: Optional[str] = None,
    *,
    skip_nulls: bool = True,
    min_count: int = 1,
    threads: Optional[int] = None,
) -> pa.DoubleScalar:
    """Exact sum of a numeric column, with pyarrow's result types.

    The semantics are those of ``pyarrow.compute.sum``. For floats the value
    is the float64 nearest the exact sum (ties to even; ``±inf`` only where
    the exact sum of float64 values lies beyond the largest double). For
    integers it is the exact sum as int64 (signed inputs) or uint64
    (unsigned): a sum that does not fit raises ``OverflowError`` — pyarrow
    wraps around silently — while the mean of the same data stays exact.

    Parameters
    ----------
    source, column, threads
        As in :func:`mean`.
    skip_nulls
        Ignore nulls (default). If False, any null makes the result null.
    min_count
        The result is null when fewer values than this are valid (default 1;
        with 0, an empty input sums to 0.0).

    Returns
    -------
    pyarrow.DoubleScalar, pyarrow.Int64Scalar or pyarrow.UInt64Scalar
        The sum; null as above. NaN if a valid value is NaN or both
        infinities occur; ``±inf`` if only one sign of infinity occurs.

    Raises
    ------
    OverflowError
        An integer sum outside int64 (uint64 for unsigned inputs).
    As :func:`mean`.

    Examples
    --------
    >>> import numpy as np, mapmean
    >>> mapmean.sum(np.array([1e30, 1.0, -1e30], dtype=np.float32))
    <pyarrow.DoubleScalar: 1.0>
    """
    _check_int("min_count", min_count)
    # The mean's state holds the exact sum: no sum of squares is computed.
    state = _state(source, column, threads, kind="mean")
    value = state._value("sum", skip_nulls, min_count)
    if isinstance(value, float):
        return _double_scalar(value)
    return state._result("sum", skip_nulls, min_count)[0]


def variance(
    source: Source,
    column: Optional[str] = None,
    *,
    ddof: int = 0,
    skip_nulls: bool = True,
    min_count: int = 0,
    threads: Optional[int] = None,
) -> pa.DoubleScalar:
    """Variance of a numeric column: the exact value, correctly rounded to float64.

    ``(n·Σx² − (Σx)²) / (n·(n − ddof))`` is computed in exact integers and
    rounded once (to nearest, ties to even): constant data gives exactly 0,
    and a large offset loses nothing. The semantics are those of
    ``pyarrow.compute.variance``.

    Parameters
    ----------
    source, column, threads
        As in :func:`mean`.
    ddof
        Delta degrees of freedom: the divisor is ``count - ddof`` (0, the
        default, is the population variance; 1 the sample variance).
    skip_nulls
        Ignore nulls (default). If False, any null makes the result null.
    min_count
        The result is null when fewer values than this are valid (default 0).

    Returns
    -------
    pyarrow.DoubleScalar
        The variance; null as above or when ``count <= ddof`` (NaN counts as a
        value); NaN if a valid value is NaN or infinite.

    Raises
    ------
    As :func:`mean`.

    Examples
    --------
    >>> import numpy as np, mapmean
    >>> mapmean.variance(np.array([3e7 + 2, 3e7 + 4], dtype=np.float32), ddof=1)
    <pyarrow.DoubleScalar: 2.0>
    """
    _check_int("ddof", ddof)
    _check_int("min_count", min_count)
    state = _state(source, column, threads, kind="moments")
    return _double_scalar(state._value("variance", skip_nulls, min_count, ddof))


def stddev(
    source: Source,
    column: Optional[str] = None,
    *,
    ddof: int = 0,
    skip_nulls: bool = True,
    min_count: int = 0,
    threads: Optional[int] = None,
) -> pa.DoubleScalar:
    """Standard deviation of a numeric column, correctly rounded to float64.

    The float64 nearest the square root of the *exact* variance (one rounding,
    not the square root of a rounded variance). Arguments, nulls and NaN as in
    :func:`variance` and ``pyarrow.compute.stddev``.

    Returns
    -------
    pyarrow.DoubleScalar

    Raises
    ------
    As :func:`mean`.

    Examples
    --------
    >>> import numpy as np, mapmean
    >>> mapmean.stddev(np.array([1, 2, 3, 4], dtype=np.float32), ddof=1)
    <pyarrow.DoubleScalar: 1.2909944487358056>
    """
    _check_int("ddof", ddof)
    _check_int("min_count", min_count)
    state = _state(source, column, threads, kind="moments")
    return _double_scalar(state._value("stddev", skip_nulls, min_count, ddof))


def moments_state(source: Source, column: Optional[str] = None, *, threads: Optional[int] = None) -> MomentsState:
    """The exact, mergeable state behind :func:`sum`, :func:`variance` and
    :func:`stddev`: counts, the exact sum and the exact sum of squares.

    States merge exactly (``a.merge(b)``), pickle, and round-trip through
    ``to_bytes()`` / ``MomentsState.from_bytes(data)`` (fixed width per input
    type: 176 bytes for float32, ``docs/state-format.md``); any split of the data gives the
    same results, bit for bit.

    Parameters
    ----------
    source, column, threads
        As in :func:`mean`.

    Returns
    -------
    MomentsState

    Raises
    ------
    As :func:`mean`.

    Examples
    --------
    >>> import numpy as np, pickle, mapmean
    >>> a = mapmean.moments_state(np.array([1, 2], dtype=np.float32))
    >>> b = pickle.loads(pickle.dumps(mapmean.moments_state(np.array([3, 4], dtype=np.float32))))
    >>> a.merge(b)
    >>> a.variance(ddof=1), a.sum()
    (<pyarrow.DoubleScalar: 1.6666666666666667>, <pyarrow.DoubleScalar: 10.0>)
    """
    return _state(source, column, threads, kind="moments")


def min(
    source: Source,
    column: Optional[str] = None,
    *,
    skip_nulls: bool = True,
    min_count: int = 1,
    threads: Optional[int] = None,
) -> pa.Scalar:
    """Smallest valid value of a numeric column, as a scalar of its type.

    The semantics are those of ``pyarrow.compute.min`` (``min_max``): nulls
    are skipped (any null gives null with ``skip_nulls=False``), NaN is
    skipped unless every valid value is NaN (then NaN), and the result is null
    below ``min_count`` valid values. One deliberate difference: of ``-0.0``
    and ``0.0`` the minimum is ``-0.0`` whatever their order (pyarrow keeps
    the first one seen, which makes its answer depend on the order).
    Float16, which pyarrow has no kernel for, works too.

    Parameters
    ----------
    source, column, threads, skip_nulls, min_count
        As in :func:`mean`.

    Returns
    -------
    pyarrow.Scalar
        Of the column's type (``pyarrow.Int8Scalar`` for int8, ...).

    Raises
    ------
    As :func:`mean`.

    Examples
    --------
    >>> import numpy as np, mapmean
    >>> mapmean.min(np.array([3, -7, 5], dtype=np.int16))
    <pyarrow.Int16Scalar: -7>
    """
    return _extreme("min", source, column, skip_nulls, min_count, threads)


def max(
    source: Source,
    column: Optional[str] = None,
    *,
    skip_nulls: bool = True,
    min_count: int = 1,
    threads: Optional[int] = None,
) -> pa.Scalar:
    """Largest valid value of a numeric column, as a scalar of its type.

    As :func:`min`, with ``0.0`` above ``-0.0``.

    Examples
    --------
    >>> import numpy as np, mapmean
    >>> mapmean.max(np.array([1.5, np.nan, -2.0]))
    <pyarrow.DoubleScalar: 1.5>
    """
    return _extreme("max", source, column, skip_nulls, min_count, threads)


def _extreme(
    which: str, source: Any, column: Optional[str], skip_nulls: bool, min_count: int, threads: Optional[int]
) -> pa.Scalar:
    _check_int("min_count", min_count)
    state = _state(source, column, threads, kind="extremes")
    return state._result(which, skip_nulls, min_count)[0]


_FILE_MAGIC = b"ARROW1"


def _ipc_reader(source: Any) -> pa.RecordBatchReader:
    """A reader of the Arrow IPC held by a binary file object or NativeFile.

    A stream is read incrementally (``pyarrow.ipc.open_stream``). An IPC file
    is read batch by batch through its footer, which needs a seekable
    object; a non-seekable one (a pipe) holding a file is refused.
    """
    if isinstance(source, io.TextIOBase):
        raise TypeError("mapmean reads Arrow IPC from a binary file object; open the file in 'rb' mode")
    if isinstance(source, io.RawIOBase) and not source.seekable():
        source = io.BufferedReader(source)
    head = _peek(source, len(_FILE_MAGIC))
    if head == _FILE_MAGIC:
        if not _seekable(source):
            raise ValueError(
                "this is an Arrow IPC file, not a stream; an IPC file needs a seekable "
                "file object or a path: pass the file's path, or convert it to a stream"
            )
        file = pa.ipc.open_file(source)
        batches = (file.get_batch(i) for i in range(file.num_record_batches))
        return pa.RecordBatchReader.from_batches(file.schema, batches)
    return pa.ipc.open_stream(source)


def _seekable(source: Any) -> bool:
    seekable = getattr(source, "seekable", None)
    return bool(seekable()) if callable(seekable) else False


def _peek(source: Any, n: int) -> Optional[bytes]:
    """The first ``n`` bytes, left unread; None where that cannot be done."""
    peek = getattr(source, "peek", None)
    if callable(peek) and not isinstance(source, pa.NativeFile):
        return bytes(peek(n)[:n])
    if _seekable(source):
        start = source.tell()
        head = source.read(n)
        source.seek(start)
        return bytes(head)
    return None


def open(sources: Union[PathLike, Sequence[PathLike]]) -> "Dataset":
    """Map Arrow IPC sources once and keep them, for repeated queries.

    Every :func:`mean` of a path maps the file, decodes its metadata and
    unmaps it again. The :class:`Dataset` this returns keeps the mappings,
    each source's schema and footer, and each column decoded so far, so that
    later queries (of the same column or another) only read the values: no
    new mapping, no page faults once the pages are in, no decoding.

    Parameters
    ----------
    sources
        One or a list of: Arrow IPC files or streams, Parquet files,
        directories (searched recursively for ``*.arrow``, ``*.arrows``,
        ``*.feather``, ``*.ipc``, ``*.parquet``, ``*.parq``, ``*.pq``), glob
        patterns, ``"shm://NAME"`` segments. Parquet sources are decoded
        again by each query (batch by batch; only Arrow IPC stays mapped). Means merge
        the sources exactly, in order (a directory's or pattern's files
        sorted).

    Returns
    -------
    Dataset
        Close it with ``close()`` or use it as a context manager.

    Raises
    ------
    FileNotFoundError
        A path or segment does not exist.
    ValueError
        A source is not Arrow IPC, a directory or pattern holds no file, no
        source is given, or a source is a pipe or standard input (which cannot
        be kept: pass it to :func:`mean`).

    Notes
    -----
    A source that changes while open: a file replaced by a new one (renamed
    over it) is not seen, the old contents stay mapped; a file truncated
    underneath makes every later query raise ``OSError`` (never a crash, never
    a partial result); open it again to read its new contents. See
    ``docs/robustness.md``.

    Examples
    --------
    >>> import numpy as np, mapmean, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "x.arrow")
    >>> _ = mapmean.write_ipc(path, {"x": np.array([3e37, 0.75, -3e37], dtype=np.float32),
    ...                               "y": np.array([1, 2, 4], dtype=np.float32)})
    >>> with mapmean.open(path) as data:
    ...     data.mean("x"), data.mean("y")
    (<pyarrow.DoubleScalar: 0.25>, <pyarrow.DoubleScalar: 2.3333333333333335>)
    """
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    return Dataset._open([os.fspath(s) for s in sources])


class Dataset:
    """Arrow IPC sources kept mapped and decoded by :func:`open`.

    Queries (:meth:`mean`, :meth:`mean_state`, or :func:`mean` with the
    dataset as its source) give bitwise the results of :func:`mean` over the
    same paths, without mapping or decoding anything again. A Dataset may be
    queried from several threads at once; each query releases the GIL.

    Examples
    --------
    >>> import numpy as np, mapmean, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "x.arrow")
    >>> _ = mapmean.write_ipc(path, np.array([1, 2, 4], dtype=np.float32))
    >>> data = mapmean.open(path)
    >>> data.mean(), data.mean_state().count
    (<pyarrow.DoubleScalar: 2.3333333333333335>, 3)
    >>> data.close()
    >>> data.mean()
    Traceback (most recent call last):
    ...
    ValueError: the Dataset is closed
    """

    __slots__ = ("_inner",)

    def __init__(self) -> None:
        raise TypeError("use mapmean.open(sources) to open a Dataset")

    @classmethod
    def _open(cls, sources: list[str]) -> "Dataset":
        dataset = object.__new__(cls)
        dataset._inner = _mapmean._open(sources)
        return dataset

    def mean(
        self,
        column: Optional[str] = None,
        *,
        skip_nulls: bool = True,
        min_count: int = 1,
        threads: Optional[int] = None,
    ) -> pa.DoubleScalar:
        """Exact mean of a Float32 column over every source.

        Parameters
        ----------
        column, skip_nulls, min_count, threads
            As in :func:`mean`; ``column`` may be omitted when the sources
            have one column. The column must be in every source.

        Returns
        -------
        pyarrow.DoubleScalar

        Raises
        ------
        KeyError, TypeError, ValueError
            As :func:`mean`, naming the source; ValueError also once the
            Dataset is closed.
        OSError
            A source was truncated since the open (every later query raises
            it too).
        """
        _check_int("min_count", min_count)
        state = self.mean_state(column, threads=threads)
        return _double_scalar(state._value("mean", skip_nulls, min_count))

    def mean_state(self, column: Optional[str] = None, *, threads: Optional[int] = None) -> MeanState:
        """The exact, mergeable state behind :meth:`mean` (see :func:`mean_state`).

        Parameters
        ----------
        column, threads
            As in :meth:`mean`.

        Returns
        -------
        MeanState

        Raises
        ------
        As :meth:`mean`.
        """
        return self._state(column, threads, "mean")

    def _state(self, column: Optional[str], threads: Optional[int], kind: str) -> Any:
        """The state of ``kind`` (``"mean"``, ``"moments"``, ``"extremes"``) of ``column``."""
        if threads is not None:
            _check_int("threads", threads)
        if column is not None and not isinstance(column, str):
            raise TypeError(f"column must be a str, got {type(column).__name__}")
        return self._inner._state(column, threads, kind)

    @property
    def schema(self) -> pa.Schema:
        """The first source's schema (queried columns must be in every source)."""
        return self._inner.schema

    @property
    def sources(self) -> list[str]:
        """The sources' names (paths or ``shm://NAME``), in merge order."""
        return self._inner.sources

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._inner.closed

    def close(self) -> None:
        """Unmap the sources. Later use raises ValueError; closing again does nothing.

        A query running in another thread keeps the mappings until it ends.
        """
        self._inner.close()

    def __enter__(self) -> "Dataset":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        if self.closed:
            return "<mapmean.Dataset (closed)>"
        sources = self.sources
        shown = ", ".join(repr(s) for s in sources[:3]) + (f", ... ({len(sources)} sources)" if len(sources) > 3 else "")
        columns = ", ".join(f"{f.name}: {f.type}" for f in self.schema)
        return f"<mapmean.Dataset [{shown}] ({columns})>"


def scan(
    sources: Union[PathLike, Sequence[PathLike], ArrowArrayExportable, ArrowStreamExportable],
    columns: Union[str, Sequence[str], None] = None,
    *,
    by_source: bool = False,
    threads: Optional[int] = None,
    progress: bool = False,
    statistics: Union[str, Sequence[str]] = "mean",
) -> pa.Table:
    """Exact statistics of every numeric column, over a dataset of many Arrow
    IPC files or over an in-memory table.

    Parameters
    ----------
    sources
        Arrow IPC or Parquet files, directories (searched recursively for
        ``*.arrow``, ``*.arrows``, ``*.feather``, ``*.ipc``, ``*.parquet``,
        ``*.parq``, ``*.pq``), glob patterns, or ``shm://NAME``; one or a
        list. Or one Arrow object or stream (anything with
        ``__arrow_c_stream__`` or ``__arrow_c_array__``: a pyarrow ``Table``,
        ``RecordBatch`` or ``RecordBatchReader``, a polars or pandas
        ``DataFrame``, a DuckDB result), read once for all its columns
        (``by_source`` and ``progress`` do not apply; a pandas NaN is a null,
        as pandas' Arrow export makes it).
    columns
        Column name(s). Default: every numeric column common to all sources
        (with ``by_source``: every numeric column of each source).
    by_source
        One row per (source, column) instead of one per column.
    threads
        Worker threads (default: all cores), shared by files and batches.
    progress
        Show a progress bar on stderr (on a terminal).
    statistics
        The statistics to compute, in order: any of ``"mean"`` (default),
        ``"sum"``, ``"variance"``, ``"stddev"``, ``"min"``, ``"max"``, with
        pyarrow's default options.

    Returns
    -------
    pyarrow.Table
        Columns ``[source,] column, count, null_count, nan_count``, then one
        per statistic. Per column, the states of all sources are merged
        exactly: each result equals that of the concatenated data, bit for
        bit. A statistic column has the type pyarrow gives it (the sum of an
        integer column is int64, its min the column's type); where rows mix
        integers with other types, the sum, min and max are given as exact
        text.

    Raises
    ------
    FileNotFoundError, KeyError, TypeError, ValueError
        The first source that fails, named in the message; no partial table is
        returned.

    Examples
    --------
    >>> import numpy as np, mapmean, tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> for i, part in enumerate([[3e37, 0.75], [-3e37]]):
    ...     _ = mapmean.write_ipc(os.path.join(d, f"part-{i}.arrow"), np.array(part, dtype=np.float32))
    >>> mapmean.scan(d).column("mean")[0].as_py()
    0.25
    """
    if isinstance(columns, str):
        columns = [columns]
    if threads is not None:
        _check_int("threads", threads)
    if isinstance(statistics, str):
        statistics = [statistics]
    if not isinstance(sources, (str, os.PathLike, list, tuple)) and (
        hasattr(sources, "__arrow_c_stream__") or hasattr(sources, "__arrow_c_array__")
    ):
        if by_source:
            raise ValueError("by_source applies to a dataset of files, not to one Arrow object")
        return _mapmean._scan_arrow(
            sources,
            None if columns is None else [str(c) for c in columns],
            threads,
            [str(s) for s in statistics],
        )
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    if not isinstance(sources, (list, tuple)) or not all(isinstance(s, (str, os.PathLike)) for s in sources):
        raise TypeError(
            "scan needs paths (files, directories, glob patterns, shm://NAME) or one Arrow object "
            f"(with __arrow_c_stream__ or __arrow_c_array__), got {type(sources).__name__}"
        )
    return _mapmean._scan(
        [os.fspath(s) for s in sources],
        None if columns is None else [str(c) for c in columns],
        bool(by_source),
        threads,
        bool(progress),
        [str(s) for s in statistics],
    )


#: The statistics ``GroupBy.aggregate`` takes, by the names pyarrow gives them.
_GROUP_STATISTICS = ("mean", "sum", "variance", "stddev", "min", "max")


def group_by(
    source: Union[Source, Mapping[str, Any]],
    keys: Union[str, Sequence[str]],
    *,
    threads: Optional[int] = None,
) -> "GroupBy":
    """Exact statistics per group: ``GROUP BY`` without SQL.

    Nothing is read until a statistic is asked for (:meth:`GroupBy.aggregate`,
    :meth:`GroupBy.mean`, ...); each call reads the source once, for all its
    statistics. Every group's result is the correctly rounded value of its
    exact statistic, the same bits for any thread count, batch size or split
    of the data into files — unlike pyarrow's, polars' and DuckDB's grouped
    sums, which depend on the order of the rows.

    Parameters
    ----------
    source
        Anything :func:`mean` takes: a path, directory, glob or list of
        Arrow IPC and Parquet files (per-file states merged exactly),
        ``"shm://NAME"``, a :class:`SharedTable`, a :class:`Dataset`, an Arrow
        table, record batch or stream (pyarrow, polars, pandas — whose NaN is a
        null, as pandas' Arrow export makes it —, DuckDB results; read batch by
        batch, so memory grows with the number of groups, not of rows), a
        binary file object holding an Arrow IPC stream; or a mapping of
        column names to numpy arrays (keys and values).
    keys
        The key column, or a list of them. Keys may be integers, strings
        (``utf8``, ``large_utf8``, ``utf8_view``), dictionary-encoded columns,
        booleans, dates, timestamps, or any other type that Arrow's row format
        encodes; a null key is a group of its own.
    threads
        Worker threads; default all cores. The result is bitwise the same
        for every value.

    Returns
    -------
    GroupBy

    Examples
    --------
    >>> import pyarrow as pa, mapmean
    >>> t = pa.table({"g": ["b", "a", "b", "b", None],
    ...               "x": pa.array([3e37, 1.0, 0.75, -3e37, 2.0], pa.float32())})
    >>> mapmean.group_by(t, "g").mean("x").to_pydict()
    {'g': ['a', 'b', None], 'x_mean': [1.0, 0.25, 2.0]}
    """
    if isinstance(keys, str):
        keys = [keys]
    elif isinstance(keys, Sequence) and all(isinstance(k, str) for k in keys):
        keys = list(keys)
    else:
        raise TypeError(f"keys must be a column name or a list of them, got {keys!r}")
    if not keys:
        raise ValueError("group_by needs at least one key column")
    if threads is not None:
        _check_int("threads", threads)
    return GroupBy._new(source, keys, threads)


def _normalize_aggregations(aggregations: Any) -> list[tuple[str, str, bool, Optional[int], int]]:
    """The aggregations of ``GroupBy.aggregate`` as the extension takes them
    (one bare ``(column, statistic[, options])`` tuple counts as a list of one)."""
    if isinstance(aggregations, tuple) and len(aggregations) in (2, 3) and isinstance(aggregations[1], str):
        aggregations = [aggregations]
    normalized = [_normalize_aggregation(a) for a in aggregations]
    if not normalized:
        raise ValueError("aggregate needs at least one (column, statistic)")
    return normalized


def _normalize_aggregation(item: Any) -> tuple[str, str, bool, Optional[int], int]:
    """One ``(column, statistic[, options])`` as the extension takes it."""
    if not isinstance(item, (tuple, list)) or len(item) not in (2, 3):
        raise TypeError(
            "each aggregation is (column, statistic) or (column, statistic, options), "
            f"as in pyarrow.TableGroupBy.aggregate; got {item!r}"
        )
    column, name = item[0], item[1]
    if not isinstance(column, str):
        raise TypeError(f"an aggregation's column must be a name (str), got {column!r}")
    if not isinstance(name, str):
        raise TypeError(f"an aggregation's statistic must be a name (str), got {name!r}")
    statistic = name[len("hash_"):] if name.startswith("hash_") else name
    if statistic not in _GROUP_STATISTICS:
        raise ValueError(
            f"unknown statistic {name!r} for column {column!r}: mapmean computes "
            + ", ".join(_GROUP_STATISTICS)
        )
    options: dict[str, Any] = {}
    if len(item) == 3 and item[2] is not None:
        given = item[2]
        if isinstance(given, Mapping):
            options = dict(given)
        else:
            options = _pyarrow_options(given)
            if options is None:
                raise TypeError(
                    f"options of {column!r} {name!r} must be a dict with skip_nulls, min_count or ddof, got {given!r}"
                )
    unknown = set(options) - {"skip_nulls", "min_count", "ddof"}
    if unknown:
        raise TypeError(f"unknown option(s) {sorted(unknown)} for {column!r} {name!r}")
    skip_nulls = options.get("skip_nulls", True)
    if not isinstance(skip_nulls, (bool, np.bool_)):
        raise TypeError(f"skip_nulls must be a bool, got {type(skip_nulls).__name__}")
    min_count = options.get("min_count")
    if min_count is not None:
        _check_int("min_count", min_count)
        min_count = int(min_count)
    ddof = options.get("ddof", 0)
    _check_int("ddof", ddof)
    if "ddof" in options and statistic not in ("variance", "stddev"):
        raise TypeError(f"ddof applies to variance and stddev, not {statistic}")
    return (column, statistic, bool(skip_nulls), min_count, int(ddof))


def _pyarrow_options(given: Any) -> Optional[dict[str, Any]]:
    """The fields of pyarrow's ``ScalarAggregateOptions`` or ``VarianceOptions``
    (which expose them only in their repr), else None."""
    if type(given).__name__ not in ("ScalarAggregateOptions", "VarianceOptions"):
        return None
    import re

    fields = dict(re.findall(r"(\w+)=(\w+)", repr(given)))
    options: dict[str, Any] = {}
    for name, text in fields.items():
        if name == "skip_nulls":
            options[name] = text == "true"
        elif name in ("min_count", "ddof"):
            options[name] = int(text)
    return options


class _GroupStatistics:
    """The shortcuts of :class:`GroupBy` and ``mapmean.dask.GroupBy``: one
    statistic of some columns, through the class's ``aggregate``."""

    __slots__ = ()

    def aggregate(self, aggregations: Sequence[Any]) -> pa.Table:  # pragma: no cover - overridden
        raise NotImplementedError

    def _one(self, statistic: str, columns: Sequence[str], options: dict[str, Any]) -> pa.Table:
        if not columns:
            raise TypeError(f"{statistic}() needs at least one column name")
        return self.aggregate([(c, statistic, options) for c in columns])

    def mean(self, *columns: str, skip_nulls: bool = True, min_count: int = 1) -> pa.Table:
        """Exact mean of each of ``columns`` per group (see :meth:`aggregate`).

        Examples
        --------
        >>> import pyarrow as pa, mapmean
        >>> mapmean.group_by(pa.table({"g": [2, 1, 2], "x": [1, 5, 4]}), "g").mean("x").to_pydict()
        {'g': [1, 2], 'x_mean': [5.0, 2.5]}
        """
        return self._one("mean", columns, {"skip_nulls": skip_nulls, "min_count": min_count})

    def sum(self, *columns: str, skip_nulls: bool = True, min_count: int = 1) -> pa.Table:
        """Exact sum of each of ``columns`` per group, with pyarrow's result types."""
        return self._one("sum", columns, {"skip_nulls": skip_nulls, "min_count": min_count})

    def variance(self, *columns: str, ddof: int = 0, skip_nulls: bool = True, min_count: int = 0) -> pa.Table:
        """Correctly rounded variance of each of ``columns`` per group."""
        return self._one("variance", columns, {"ddof": ddof, "skip_nulls": skip_nulls, "min_count": min_count})

    def stddev(self, *columns: str, ddof: int = 0, skip_nulls: bool = True, min_count: int = 0) -> pa.Table:
        """Correctly rounded standard deviation of each of ``columns`` per group."""
        return self._one("stddev", columns, {"ddof": ddof, "skip_nulls": skip_nulls, "min_count": min_count})

    def min(self, *columns: str, skip_nulls: bool = True, min_count: int = 1) -> pa.Table:
        """Smallest valid value of each of ``columns`` per group, of the column's type."""
        return self._one("min", columns, {"skip_nulls": skip_nulls, "min_count": min_count})

    def max(self, *columns: str, skip_nulls: bool = True, min_count: int = 1) -> pa.Table:
        """Largest valid value of each of ``columns`` per group, of the column's type."""
        return self._one("max", columns, {"skip_nulls": skip_nulls, "min_count": min_count})


class GroupBy(_GroupStatistics):
    """Grouped statistics of a source, made by :func:`group_by`.

    Results are ``pyarrow.Table`` s with one row per group, **sorted by key**
    (ascending; a null key last; several keys compare in order): first the
    key columns (dictionary-encoded keys come back as their values), then
    one column per statistic, named ``{column}_{statistic}``, as
    ``pyarrow.TableGroupBy.aggregate`` lays them out (pyarrow 14 and later). Null, NaN and
    infinity rules, ``min_count`` and ``ddof`` are those of
    ``pyarrow.compute`` per group: a group whose values are all null has a
    null mean.
    """

    __slots__ = ("_source", "_keys", "_threads")

    def __init__(self) -> None:
        raise TypeError("use mapmean.group_by(source, keys) to group a source")

    @classmethod
    def _new(cls, source: Any, keys: list[str], threads: Optional[int]) -> "GroupBy":
        grouped = object.__new__(cls)
        grouped._source = source
        grouped._keys = keys
        grouped._threads = threads
        return grouped

    @property
    def keys(self) -> list[str]:
        """The key columns."""
        return list(self._keys)

    def __repr__(self) -> str:
        return f"<mapmean.GroupBy keys={self._keys!r} of {type(self._source).__name__}>"

    def aggregate(self, aggregations: Sequence[Any]) -> pa.Table:
        """Statistics per group, as ``pyarrow.TableGroupBy.aggregate``.

        Parameters
        ----------
        aggregations
            A list of ``(column, statistic)`` or ``(column, statistic,
            options)``: ``statistic`` one of ``"mean"``, ``"sum"``,
            ``"variance"``, ``"stddev"``, ``"min"``, ``"max"`` (pyarrow's
            ``"hash_mean"`` spelling works too); ``options`` a dict of
            ``skip_nulls``, ``min_count`` and (variance, stddev) ``ddof``, or
            pyarrow's ``ScalarAggregateOptions`` / ``VarianceOptions``.
            Defaults are pyarrow's (``min_count`` 1 for mean and sum, 0 for
            variance and stddev; ``ddof`` 0).

        Returns
        -------
        pyarrow.Table
            The keys, then one column per aggregation, in order; one row per
            group, sorted by key.

        Raises
        ------
        KeyError
            A key or value column is missing.
        TypeError
            A value column is not numeric, a key cannot be a key (or has
            different types in different sources), or an aggregation is
            malformed.
        ValueError
            Corrupt data, an unknown statistic, a value column that is also a
            key.
        OverflowError
            An integer group sum that does not fit int64 / uint64.

        Examples
        --------
        >>> import pyarrow as pa, mapmean
        >>> t = pa.table({"g": [1, 1, 2], "x": [1.0, 2.0, 4.0]})
        >>> mapmean.group_by(t, "g").aggregate([("x", "mean"), ("x", "stddev", {"ddof": 1})]).to_pydict()
        {'g': [1, 2], 'x_mean': [1.5, 4.0], 'x_stddev': [0.7071067811865476, None]}
        """
        return _group(self._source, self._keys, _normalize_aggregations(aggregations), self._threads, None)

    def states(self, *columns: str, kind: Literal["mean", "moments", "all"] = "mean") -> pa.Table:
        """Each group's exact state of each of ``columns``, for merging elsewhere.

        Parameters
        ----------
        columns
            The value columns.
        kind
            What the states compute: ``"mean"`` (mean and sum), ``"moments"``
            (also variance and stddev) or ``"all"`` (also min and max).

        Returns
        -------
        pyarrow.Table
            The keys, then a binary column ``{column}_state`` per column (the
            bytes of ``docs/state-format.md``: a ``MeanState`` or
            ``MomentsState`` reads them), one row per group, sorted by key.
            :func:`merge_group_states` merges such tables exactly.

        Examples
        --------
        >>> import pyarrow as pa, mapmean
        >>> a = mapmean.group_by(pa.table({"g": [1, 2], "x": [3e37, 1.0]}), "g").states("x")
        >>> b = mapmean.group_by(pa.table({"g": [1, 1], "x": [0.75, -3e37]}), "g").states("x")
        >>> mapmean.merge_group_states([a, b], "g", [("x", "mean")]).to_pydict()
        {'g': [1, 2], 'x_mean': [0.25, 1.0]}
        """
        if not columns or not all(isinstance(c, str) for c in columns):
            raise TypeError("states() needs one or more column names")
        if kind not in ("mean", "moments", "all"):
            raise ValueError(f"kind must be 'mean', 'moments' or 'all', got {kind!r}")
        return _group(self._source, self._keys, [(c, "mean", True, None, 0) for c in columns], self._threads, kind)


def merge_group_states(
    tables: Sequence[Any],
    keys: Union[str, Sequence[str]],
    aggregations: Optional[Sequence[Any]] = None,
    *,
    kind: Literal["mean", "moments", "all"] = "mean",
) -> pa.Table:
    """Merge tables of group states (:meth:`GroupBy.states`) exactly.

    Parameters
    ----------
    tables
        Tables (or record batches, or anything with the Arrow PyCapsule
        interface) with the key columns and ``{column}_state`` columns, from
        any process or machine.
    keys
        The key column(s).
    aggregations
        As in :meth:`GroupBy.aggregate`: the merged states are finished into
        these. ``None``: the merged states themselves, of ``kind``, for every
        ``*_state`` column of the first table.

    Returns
    -------
    pyarrow.Table
        One row per group, sorted by key: bitwise what one pass over all the
        data gives.
    """
    if isinstance(keys, str):
        keys = [keys]
    keys = list(keys)
    tables = list(tables)
    if not tables:
        raise ValueError("no table of group states to merge")
    if aggregations is None:
        first = tables[0]
        names = first.schema.names if hasattr(first, "schema") else pa.table(first).schema.names
        columns = [n[: -len("_state")] for n in names if n.endswith("_state") and n not in keys]
        if not columns:
            raise ValueError("the first table has no *_state column")
        normalized = [(c, "mean", True, None, 0) for c in columns]
        return _mapmean._merge_group_states(tables, keys, normalized, kind)
    normalized = _normalize_aggregations(aggregations)
    return _mapmean._merge_group_states(tables, keys, normalized, None)


def _group(
    source: Any,
    keys: list[str],
    aggregations: list[tuple[str, str, bool, Optional[int], int]],
    threads: Optional[int],
    states: Optional[str],
) -> pa.Table:
    """Grouped results (or states, with ``states``) of any source :func:`group_by` takes."""
    if isinstance(source, Dataset):
        return source._inner._group(keys, aggregations, threads, states)
    if isinstance(source, SharedTable):
        return source._group(keys, aggregations, threads, states)
    if isinstance(source, (str, os.PathLike)) and not _is_path_set(source):
        path = os.fspath(source)
        if isinstance(path, str) and (path == "-" or (os.path.exists(path) and not os.path.isfile(path))):
            # Standard input or a pipe: an IPC stream, read batch by batch.
            if path == "-":
                import sys

                return _group(sys.stdin.buffer, keys, aggregations, threads, states)
            with builtins.open(path, "rb") as f:
                return _group(f, keys, aggregations, threads, states)
    if _is_path_set(source) or isinstance(source, (str, os.PathLike)):
        with open(source) as data:
            return data._inner._group(keys, aggregations, threads, states)
    if isinstance(source, Mapping):
        columns = {}
        for name, array in source.items():
            if isinstance(array, np.ma.MaskedArray):
                array = pa.array(np.ma.getdata(array), mask=np.ma.getmaskarray(array))
            columns[str(name)] = array
        try:
            source = pa.table(columns)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as e:
            raise ValueError(f"cannot make a table of the mapping's columns: {e}") from None
    if hasattr(source, "__arrow_c_stream__") or hasattr(source, "__arrow_c_array__"):
        return _mapmean._group_arrow(source, keys, aggregations, threads, states)
    if isinstance(source, pa.NativeFile) or hasattr(source, "read"):
        return _mapmean._group_arrow(_ipc_reader(source), keys, aggregations, threads, states)
    raise TypeError(
        "group_by needs a path, an Arrow table or stream (with __arrow_c_stream__ or "
        "__arrow_c_array__), a binary file object holding Arrow IPC, or a mapping of "
        f"column names to numpy arrays, got {type(source).__name__}"
    )


def write_ipc(
    path: PathLike,
    data: Union[np.ndarray, Mapping[str, np.ndarray]],
    *,
    mask: Optional[np.ndarray] = None,
    nan_as_null: bool = False,
    batch_rows: Optional[int] = None,
    format: Literal["file", "stream"] = "file",
) -> pathlib.Path:
    """Write numpy arrays as an Arrow IPC file (or stream) with 64-byte
    aligned buffers, ready to be memory-mapped by mapmean or any Arrow reader.

    Parameters
    ----------
    path
        Where to write; an existing file is replaced.
    data
        A 1-D numpy array (written as one column named ``"values"``), a numpy
        masked array (masked elements become nulls), or a mapping from column
        name to 1-D array. Arrays keep their own type: float32 arrays become
        Float32 columns, other dtypes their Arrow counterparts.
    mask
        With a single array only: a boolean array, True where the value is
        null (the numpy.ma convention).
    nan_as_null
        Write NaN values as nulls.
    batch_rows
        Split the data into record batches of at most this many rows
        (default: one batch).
    format
        ``"file"`` (the IPC file format, default) or ``"stream"``.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    ValueError
        Arrays that are not 1-D, of different lengths, a mask of the wrong
        shape, ``mask`` with a mapping, or a bad ``batch_rows`` or ``format``.
    TypeError
        ``data`` is not an array or a mapping of arrays.

    Examples
    --------
    >>> import numpy as np, mapmean, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "x.arrow")
    >>> values = np.array([1, 2, 4], dtype=np.float32)
    >>> mapmean.mean(mapmean.write_ipc(path, values, mask=values > 3))
    <pyarrow.DoubleScalar: 1.5>
    """
    if format not in ("file", "stream"):
        raise ValueError(f"format must be 'file' or 'stream', got {format!r}")
    path = pathlib.Path(path)
    _mapmean._write_ipc(os.fspath(path), _record_batches(data, mask, nan_as_null, batch_rows), format)
    return path


def share(
    data: Union[np.ndarray, Mapping[str, np.ndarray]],
    *,
    name: Optional[str] = None,
    mask: Optional[np.ndarray] = None,
    nan_as_null: bool = False,
) -> SharedTable:
    """Write arrays into a new POSIX shared-memory segment, as an Arrow IPC
    file image, for other processes to read without copying.

    The segment is created exclusively with mode 0600 (private to its
    owner). Its size is bounded up front, the image is written straight into
    the segment (no temporary file), and the segment is then trimmed to the
    image's exact size. Readers use ``mapmean.mean("shm://" + table.name)``,
    :func:`attach`, or ``mapmean mean shm://NAME`` on the command line.

    Parameters
    ----------
    data, mask, nan_as_null
        As in :func:`write_ipc`.
    name
        The segment's name (an optional leading ``/`` or ``shm://``, then at
        most 240 bytes without ``/``). Default: ``mapmean-`` and 16 random
        hex digits.

    Returns
    -------
    SharedTable
        The owner's handle. Used as a context manager it closes and unlinks
        the segment on exit; otherwise call ``close()`` and ``unlink()``.
        Readers that attached keep a valid mapping after the unlink.

    Raises
    ------
    FileExistsError
        A segment of that name exists (it is never replaced).
    ValueError
        An invalid name, or invalid data (as in :func:`write_ipc`).

    Examples
    --------
    >>> import numpy as np, mapmean
    >>> with mapmean.share(np.array([3e37, 0.75, -3e37], dtype=np.float32)) as table:
    ...     mapmean.mean("shm://" + table.name)
    <pyarrow.DoubleScalar: 0.25>
    """
    if name is not None:
        name = _segment_name(name)
    return _mapmean._share(name, _record_batches(data, mask, nan_as_null, None))


def attach(name: str) -> SharedTable:
    """Map an existing shared-memory segment read-only, from any process.

    Parameters
    ----------
    name
        The segment's name, with or without ``shm://``.

    Returns
    -------
    SharedTable
        A reader's handle: ``mapmean.mean(table, column)`` computes from it;
        ``close()`` unmaps it. It stays valid after the owner unlinks.

    Raises
    ------
    FileNotFoundError
        No segment of that name.
    ValueError
        An invalid name.

    Examples
    --------
    >>> import numpy as np, mapmean
    >>> owner = mapmean.share({"x": np.arange(4, dtype=np.float32)})
    >>> reader = mapmean.attach(owner.name)
    >>> owner.unlink()
    >>> mapmean.mean(reader, "x")
    <pyarrow.DoubleScalar: 1.5>
    >>> reader.close(); owner.close()
    """
    return _mapmean._attach(_segment_name(name))


def _segment_name(name: str) -> str:
    if not isinstance(name, str):
        raise TypeError(f"a segment name must be a str, got {type(name).__name__}")
    return name[len("shm://"):] if name.startswith("shm://") else name


def _record_batches(
    data: Any, mask: Optional[np.ndarray], nan_as_null: bool, batch_rows: Optional[int]
) -> pa.RecordBatchReader:
    """The arrays of ``data`` as record batches (see :func:`write_ipc`)."""
    if batch_rows is not None:
        _check_int("batch_rows", batch_rows)
        if batch_rows < 1:
            raise ValueError(f"batch_rows must be >= 1, got {batch_rows}")
    if isinstance(data, Mapping):
        if mask is not None:
            raise ValueError("mask applies to a single array; use numpy masked arrays in a mapping")
        columns = {str(name): _to_arrow(array, None, nan_as_null, name) for name, array in data.items()}
        if not columns:
            raise ValueError("data has no columns")
    elif isinstance(data, np.ndarray):
        columns = {"values": _to_arrow(data, mask, nan_as_null, "values")}
    else:
        raise TypeError(
            f"data must be a numpy array or a mapping of column name to array, got {type(data).__name__}"
        )
    lengths = {name: len(array) for name, array in columns.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"columns have different lengths: {lengths}")
    table = pa.table(columns)
    batches = table.to_batches(max_chunksize=batch_rows) if batch_rows else table.combine_chunks().to_batches()
    if not batches:
        batches = [pa.record_batch([pa.array([], a.type) for a in table.columns], schema=table.schema)]
    return pa.RecordBatchReader.from_batches(table.schema, batches)


def _to_arrow(array: Any, mask: Optional[np.ndarray], nan_as_null: bool, name: Any) -> pa.Array:
    if not isinstance(array, np.ndarray):
        raise TypeError(f"column {name!r}: expected a numpy array, got {type(array).__name__}")
    if array.ndim != 1:
        raise ValueError(f"column {name!r}: expected a 1-D array, got shape {array.shape}")
    if isinstance(array, np.ma.MaskedArray):
        if mask is not None:
            raise ValueError("give either a masked array or mask, not both")
        mask = np.ma.getmaskarray(array)
        array = np.ma.getdata(array)
    if mask is not None:
        mask = np.asarray(mask)
        if mask.dtype != np.bool_ or mask.shape != array.shape:
            raise ValueError(
                f"mask must be a boolean array of shape {array.shape}, got {mask.dtype} of shape {mask.shape}"
            )
    if nan_as_null and np.issubdtype(array.dtype, np.floating):
        # pyarrow ignores from_pandas when a mask is given: fold NaN into it.
        nan = np.isnan(array)
        mask = nan if mask is None else mask | nan
    return pa.array(array, mask=mask)


def _masked_to_arrow(array: np.ma.MaskedArray, column: Optional[str]) -> pa.Array:
    if column is not None:
        raise KeyError(f"column {column!r} given, but a numpy array has no columns")
    data = np.ascontiguousarray(_numeric_ndarray(np.ma.getdata(array))).reshape(-1)
    mask = np.ascontiguousarray(np.ma.getmaskarray(array)).reshape(-1)
    return pa.array(data, mask=mask)


def _check_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")


# Every public item shows and pickles as mapmean.NAME (see the module doc).
for _item in (
    mean,
    mean_state,
    sum,
    variance,
    stddev,
    min,
    max,
    moments_state,
    open,
    Dataset,
    scan,
    group_by,
    GroupBy,
    merge_group_states,
    write_ipc,
    share,
    attach,
):
    _item.__module__ = "mapmean"
del _item
