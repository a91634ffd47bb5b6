"""Type stubs of the compiled extension (private; use the functions in ``mapmean``)."""

from typing import Any, Optional, TypedDict, Union

import pyarrow as pa

__version__: str

class _BatchBuffers(TypedDict):
    values_addr: int
    values_len: int
    validity_addr: Optional[int]

class _ColumnBuffers(TypedDict):
    map_start: int
    map_len: int
    batches: list[_BatchBuffers]

class MeanState:
    """The exact, mergeable state of a mean of values of any numeric type: five
    counts and the exact sum.

    States of any parts of the data merge (``merge``) into bitwise the state
    of the whole; float states of different widths merge exactly (a float32
    value is a float64 value), an empty state takes the other's type, and
    integer and float states refuse to merge (TypeError naming both types).
    ``to_bytes`` / ``from_bytes`` give the byte form of
    ``docs/state-format.md`` (96 bytes for float32, the same as Rust's
    ``MeanState::to_bytes``); pickling uses the same bytes.

    Examples
    --------
    >>> import numpy as np, mapmean
    >>> a = mapmean.mean_state(np.array([3e37, 0.75], dtype=np.float32))
    >>> b = mapmean.MeanState.from_bytes(
    ...     mapmean.mean_state(np.array([-3e37], dtype=np.float32)).to_bytes())
    >>> a.merge(b)
    >>> a.finish()
    <pyarrow.DoubleScalar: 0.25>
    """

    def __init__(self) -> None:
        """An empty state (no values; float32 until merged with another type)."""
    @classmethod
    def from_bytes(cls, data: bytes) -> "MeanState":
        """The state whose byte form is ``data`` (the inverse of ``to_bytes``).

        Raises
        ------
        ValueError
            If ``data`` is not a valid state without a sum of squares, with the
            reason: wrong length, bad magic, a format version this mapmean does
            not read, an unknown type, counts that contradict each other, more
            than 2**64 - 1 rows, or a sum that no data of that many finite
            values can have.
        TypeError
            If ``data`` is not ``bytes``.
        """
    def merge(self, other: "MeanState") -> None:
        """Adds ``other`` into this state, exactly.

        Raises
        ------
        OverflowError
            If a count, or the rows in all, would pass 2**64 - 1.
        TypeError
            If the states hold integers and floats (or signed and unsigned
            integers). This state is unchanged on error.
        """
    @property
    def count(self) -> int:
        """Valid (non-null) values, NaN and infinities included."""
    @property
    def null_count(self) -> int:
        """Null values."""
    @property
    def nan_count(self) -> int:
        """Valid NaN values."""
    @property
    def pos_inf_count(self) -> int:
        """Valid +inf values."""
    @property
    def neg_inf_count(self) -> int:
        """Valid -inf values."""
    @property
    def type(self) -> Any:
        """The ``pyarrow.DataType`` of the values (the widest one merged)."""
    def to_bytes(self) -> bytes:
        """The state's byte form (``docs/state-format.md``): fixed width per input type
        and parts, little-endian, versioned; 96 bytes (``MeanState``) or 176 bytes
        (``MomentsState``) for float32 values, as before. Equal states give equal bytes."""
    def sum(self, *, skip_nulls: bool = True, min_count: int = 1) -> pa.Scalar:
        """The sum under pyarrow's rules (``pyarrow.compute.sum``), as ``mapmean.sum``
        returns it: a ``pyarrow.DoubleScalar`` for float values (correctly rounded),
        the exact ``Int64Scalar`` (``UInt64Scalar`` for unsigned values) for integers;
        a null scalar where it is null.

        Raises
        ------
        OverflowError
            An integer sum outside int64 (uint64 for unsigned values)."""
    def finish(self, *, skip_nulls: bool = True, min_count: int = 1) -> pa.DoubleScalar:
        """The mean under pyarrow's rules, correctly rounded, as ``mapmean.mean`` returns
        it: a ``pyarrow.DoubleScalar``, null where the mean is null (``.as_py()`` gives
        a float or None)."""
    def mean(self, *, skip_nulls: bool = True, min_count: int = 1) -> pa.DoubleScalar:
        """The same as ``finish``."""
    def variance(self, *, ddof: int = 0, skip_nulls: bool = True, min_count: int = 0) -> pa.DoubleScalar:
        """The correctly rounded variance, as ``mapmean.variance`` returns it (needs the
        sum of squares: a ``MomentsState``; ValueError for a ``MeanState``)."""
    def stddev(self, *, ddof: int = 0, skip_nulls: bool = True, min_count: int = 0) -> pa.DoubleScalar:
        """The correctly rounded square root of the exact variance, as ``mapmean.stddev``
        returns it (``MomentsState`` only)."""
    def min(self, *, skip_nulls: bool = True, min_count: int = 1) -> pa.Scalar:
        """The smallest value, a pyarrow scalar of the values' type, as ``mapmean.min``
        returns it (states computed with the extremes, as ``mapmean.min`` does;
        ValueError otherwise)."""
    def max(self, *, skip_nulls: bool = True, min_count: int = 1) -> pa.Scalar:
        """The largest value (as ``min``)."""
    def mean_state(self) -> "MeanState":
        """The counts and sum alone, as a ``MeanState``."""
    def to_arrow(self, column: str = "values", *, skip_nulls: bool = True, min_count: int = 1) -> Any:
        """The state as a one-row ``pyarrow.RecordBatch`` (column, count, null_count, nan_count, mean)."""
    def _result(self, statistic: str, skip_nulls: bool, min_count: int, ddof: int = 0) -> Any:
        """``statistic`` as a one-value pyarrow array of pyarrow's result type."""
    def _value(self, statistic: str, skip_nulls: bool, min_count: int, ddof: int = 0) -> Union[float, int, None]:
        """``statistic`` as a plain float, int or None (the module's functions wrap it)."""
    def __reduce__(self) -> tuple[Any, tuple[bytes]]: ...

class MomentsState:
    """The exact, mergeable state of the sum, mean, variance and standard
    deviation of values of any numeric type: counts, the exact sum and the
    exact sum of squares. Merges and bytes as ``MeanState``."""

    def __init__(self) -> None: ...
    @classmethod
    def from_bytes(cls, data: bytes) -> "MomentsState":
        """The state read from its byte form (docs/state-format.md); ValueError with
        the reason for bytes that are not a valid moments state."""
    def merge(self, other: "MomentsState") -> None:
        """Adds ``other`` into this state, exactly (errors as ``MeanState.merge``)."""
    @property
    def count(self) -> int:
        """Valid (non-null) values, NaN and infinities included."""
    @property
    def null_count(self) -> int:
        """Null values."""
    @property
    def nan_count(self) -> int:
        """Valid NaN values."""
    @property
    def pos_inf_count(self) -> int:
        """Valid +inf values."""
    @property
    def neg_inf_count(self) -> int:
        """Valid -inf values."""
    @property
    def type(self) -> Any:
        """The ``pyarrow.DataType`` of the values (the widest one merged)."""
    def to_bytes(self) -> bytes:
        """The state's byte form (``docs/state-format.md``): fixed width per input type
        and parts, little-endian, versioned; 96 bytes (``MeanState``) or 176 bytes
        (``MomentsState``) for float32 values, as before. Equal states give equal bytes."""
    def sum(self, *, skip_nulls: bool = True, min_count: int = 1) -> pa.Scalar:
        """The sum under pyarrow's rules (``pyarrow.compute.sum``), as ``mapmean.sum``
        returns it: a ``pyarrow.DoubleScalar`` for float values (correctly rounded),
        the exact ``Int64Scalar`` (``UInt64Scalar`` for unsigned values) for integers;
        a null scalar where it is null.

        Raises
        ------
        OverflowError
            An integer sum outside int64 (uint64 for unsigned values)."""
    def finish(self, *, skip_nulls: bool = True, min_count: int = 1) -> pa.DoubleScalar:
        """The mean under pyarrow's rules, correctly rounded, as ``mapmean.mean`` returns
        it: a ``pyarrow.DoubleScalar``, null where the mean is null (``.as_py()`` gives
        a float or None)."""
    def mean(self, *, skip_nulls: bool = True, min_count: int = 1) -> pa.DoubleScalar:
        """The same as ``finish``."""
    def variance(self, *, ddof: int = 0, skip_nulls: bool = True, min_count: int = 0) -> pa.DoubleScalar:
        """The correctly rounded variance, as ``mapmean.variance`` returns it (needs the
        sum of squares: a ``MomentsState``; ValueError for a ``MeanState``)."""
    def stddev(self, *, ddof: int = 0, skip_nulls: bool = True, min_count: int = 0) -> pa.DoubleScalar:
        """The correctly rounded square root of the exact variance, as ``mapmean.stddev``
        returns it (``MomentsState`` only)."""
    def min(self, *, skip_nulls: bool = True, min_count: int = 1) -> pa.Scalar:
        """The smallest value, a pyarrow scalar of the values' type, as ``mapmean.min``
        returns it (states computed with the extremes, as ``mapmean.min`` does;
        ValueError otherwise)."""
    def max(self, *, skip_nulls: bool = True, min_count: int = 1) -> pa.Scalar:
        """The largest value (as ``min``)."""
    def mean_state(self) -> "MeanState":
        """The counts and sum alone, as a ``MeanState``."""
    def to_arrow(self, column: str = "values", *, skip_nulls: bool = True, min_count: int = 1) -> Any:
        """The state as a one-row ``pyarrow.RecordBatch`` (column, count, null_count, nan_count, mean)."""
    def _result(self, statistic: str, skip_nulls: bool, min_count: int, ddof: int = 0) -> Any:
        """``statistic`` as a one-value pyarrow array of pyarrow's result type."""
    def _value(self, statistic: str, skip_nulls: bool, min_count: int, ddof: int = 0) -> Union[float, int, None]:
        """``statistic`` as a plain float, int or None (the module's functions wrap it)."""
    def __reduce__(self) -> tuple[Any, tuple[bytes]]: ...

_Kind = str  # "mean", "moments" or "extremes"

def _state_path(
    path: str, column: Optional[str], threads: Optional[int], kind: _Kind = "mean"
) -> Union[MeanState, MomentsState]:
    """State of a column of the Arrow IPC file or stream at ``path`` (or ``shm://NAME``):
    a MomentsState for ``kind="moments"``, else a MeanState (with the extremes for
    ``kind="extremes"``)."""

def _state_arrow(
    source: Any, column: Optional[str], threads: Optional[int], kind: _Kind = "mean"
) -> Union[MeanState, MomentsState]:
    """State of a column of an Arrow PyCapsule object (``__arrow_c_stream__`` or
    ``__arrow_c_array__``), consumed batch by batch: memory stays a few batches whatever
    the stream's length. A stream that fails part-way raises ValueError."""

def _state_ndarray(source: Any, threads: Optional[int], kind: _Kind = "mean") -> Union[MeanState, MomentsState]:
    """State of a numpy array of any numeric dtype in native byte order, any shape and
    strides, read in place; TypeError for other dtypes."""

def _scan(
    sources: list[str],
    columns: Optional[list[str]],
    by_source: bool,
    threads: Optional[int],
    progress: bool,
    statistics: Optional[list[str]] = None,
) -> Any:
    """Rows over many sources as a pyarrow Table, one column per statistic."""

def _scan_arrow(
    source: Any,
    columns: Optional[list[str]],
    threads: Optional[int],
    statistics: Optional[list[str]] = None,
) -> Any:
    """Rows for the numeric columns of an Arrow object or stream, in one pass, as a pyarrow Table."""

def _expand_sources(sources: list[str]) -> list[str]:
    """The files that paths, directories and glob patterns name, as ``scan`` expands them."""

def _write_ipc(path: str, data: Any, format: str) -> None:
    """Write record batches as an IPC file or stream with 64-byte aligned buffers."""

def _column_buffers(path: str, column: Optional[str] = None) -> _ColumnBuffers:
    """Addresses of the mapping and of each decoded batch's buffers (zero-copy checks)."""

def _read_ceiling(path: str, threads: Optional[int] = None) -> int:
    """Benchmark helper: map ``path`` as ``mean`` does and sum its bytes as u64 words."""

def _read_ceiling_kept(path: str, threads: Optional[int] = None, passes: int = 3) -> list[float]:
    """Benchmark helper: map ``path`` once, sum its bytes once untimed, then ``passes`` times; seconds per timed pass."""

def _main(argv: list[str]) -> int:
    """Run the ``mapmean`` command line (``argv[0]`` is the program name); returns the exit status.

    Writes to the process's file descriptors 1 and 2 (not to ``sys.stdout``); flush Python's streams first.
    """

class SharedTable:
    """A shared-memory segment holding an Arrow IPC file image."""

    @property
    def name(self) -> str: ...
    @property
    def nbytes(self) -> int: ...
    @property
    def owner(self) -> bool: ...
    @property
    def closed(self) -> bool: ...
    def close(self) -> None: ...
    def unlink(self) -> None: ...
    def __enter__(self) -> "SharedTable": ...
    def __exit__(self, exc_type: object, exc: object, tb: object) -> bool: ...
    def _state(
        self, column: Optional[str], threads: Optional[int], kind: _Kind = "mean"
    ) -> Union[MeanState, MomentsState]: ...
    def _group(
        self,
        keys: list[str],
        aggregations: list[_Aggregation],
        threads: Optional[int],
        states: Optional[str] = None,
    ) -> Any:
        """Grouped statistics (a ``pyarrow.Table``, sorted by key) or, with ``states``, group states."""

def _share(name: Optional[str], data: Any) -> SharedTable:
    """Create a segment (random name if None) holding the record batches of ``data``."""

def _attach(name: str) -> SharedTable:
    """Map an existing segment read-only."""

def _mean_ndarray(source: Any, threads: Optional[int], skip_nulls: bool, min_count: int) -> Optional[float]:
    """The mean (None where null) of a native float32 numpy array: ``_state_ndarray`` and ``finish`` in one call."""

class _Dataset:
    """The compiled half of ``mapmean.Dataset``: sources kept mapped and decoded."""

    @property
    def schema(self) -> Any:
        """The first source's schema, as a ``pyarrow.Schema``; ValueError once closed."""
    @property
    def sources(self) -> list[str]:
        """The sources' names, in merge order; ValueError once closed."""
    @property
    def closed(self) -> bool: ...
    def close(self) -> None:
        """Drop the mappings (a running query keeps them until it ends); idempotent."""
    def _state(
        self, column: Optional[str], threads: Optional[int], kind: _Kind = "mean"
    ) -> Union[MeanState, MomentsState]:
        """State of a column over every source (of ``kind``, as ``_state_path``); ValueError once closed."""
    def _group(
        self,
        keys: list[str],
        aggregations: list[_Aggregation],
        threads: Optional[int],
        states: Optional[str] = None,
    ) -> Any:
        """Grouped statistics (a ``pyarrow.Table``, sorted by key) or, with ``states``, group states."""

def _open(sources: list[str]) -> _Dataset:
    """Map the sources (files, directories, glob patterns, ``shm://NAME``) and read their metadata."""

#: One aggregation: column, statistic, skip_nulls, min_count (None: the
#: statistic's default), ddof.
_Aggregation = tuple[str, str, bool, Optional[int], int]

def _group_arrow(
    source: Any,
    keys: list[str],
    aggregations: list[_Aggregation],
    threads: Optional[int],
    states: Optional[str] = None,
) -> Any:
    """Grouped statistics of an Arrow table, batch or stream, read batch by batch: a
    ``pyarrow.Table`` of one row per group, sorted by key (with ``states``: the group states)."""

def _merge_group_states(
    tables: list[Any],
    keys: list[str],
    aggregations: list[_Aggregation],
    states: Optional[str] = None,
) -> Any:
    """Merge tables of group states exactly and finish them (or, with ``states``, keep them)."""
