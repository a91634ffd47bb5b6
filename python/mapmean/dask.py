"""Exact means on a Dask cluster: files, dask arrays and dask dataframes.

Each task computes the :class:`~mapmean.MeanState` of its own piece of the data
where it runs (one or a few Arrow IPC files, one array chunk, one dataframe
partition) and returns it as bytes (``MeanState.to_bytes()``, 96 bytes
whatever the data's size; see docs/state-format.md). The states are merged exactly in a tree of
tasks, ``split_every`` at a time, as ``dask.bag``'s reductions do, and the
client finishes the one state left. The result is bitwise equal to
:func:`mapmean.mean` over the concatenated data: the merge is exact, so the
chunking, the partitioning, the tree's shape and the worker count change
nothing.

The computation runs on the active ``distributed.Client`` when there is one,
otherwise on dask's default scheduler (or the one ``dask.config.set(scheduler=...)``
names).

Files are opened and memory-mapped by the workers, not by the client: every
worker must see the paths, as on a shared or network file system (NFS,
Lustre, a mounted volume) or on a single machine. The client only expands
directories and glob patterns into the list of files.

Install with ``pip install mapmean[dask]``.

Examples
--------
>>> import dask.array as da, numpy as np, mapmean.dask
>>> x = da.from_array(np.array([3e37, 0.75, -3e37] * 100, dtype=np.float32), chunks=7)
>>> mapmean.dask.mean(x)
<pyarrow.DoubleScalar: 0.25>

:func:`sum` does the same with the MeanState, which holds the exact sum;
:func:`variance` and :func:`stddev` with :class:`~mapmean.MomentsState` (176
bytes: the counts, the exact sum and the exact sum of squares). Each is bitwise
equal to :func:`mapmean.sum`, :func:`mapmean.variance` and
:func:`mapmean.stddev` over the concatenated data.
"""

from __future__ import annotations

import functools
import os
import sys
import uuid
from typing import Any, Callable, List, Optional, Sequence

import numpy as np
import pyarrow as pa

try:
    import dask
    from dask.base import tokenize
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError("mapmean.dask needs dask and distributed: pip install 'mapmean[dask]'") from error

import mapmean
from mapmean import MeanState, MomentsState, _check_int, _mapmean
from mapmean._api import _GroupStatistics, _normalize_aggregations

__all__ = ["mean", "mean_state", "sum", "variance", "stddev", "moments_state", "group_by", "GroupBy"]

#: How many states one merge task combines (dask.bag's default fan-in).
DEFAULT_SPLIT_EVERY = 8


def mean(
    data: Any,
    column: Optional[str] = None,
    *,
    skip_nulls: bool = True,
    min_count: int = 1,
    files_per_task: int = 1,
    split_every: int = DEFAULT_SPLIT_EVERY,
    threads: Optional[int] = None,
) -> pa.DoubleScalar:
    """Exact mean of a Float32 column spread over a Dask cluster.

    Parameters
    ----------
    data
        What to average:

        - Arrow IPC or Parquet files: a path (``str`` or ``os.PathLike``) to a
          file or to a directory (searched recursively for ``*.arrow``,
          ``*.arrows``, ``*.feather``, ``*.ipc``, ``*.parquet``, ``*.parq``,
          ``*.pq``), a glob pattern, or a list of these —
          expanded as :func:`mapmean.scan` expands them. Each task maps its
          own files on the worker where it runs, so the workers must see the
          same paths (a shared file system); relative paths are made absolute
          on the client first.
        - a ``dask.array.Array`` of any numeric dtype (float16/32/64,
          int8-64, uint8-64), with any chunks, regular or
          not, of any number of dimensions: every element counts, as in
          ``numpy.mean`` with ``axis=None``. Chunks that are numpy masked
          arrays (``dask.array.ma``) have nulls where they are masked.
        - a numeric ``dask.dataframe.Series``, or a
          ``dask.dataframe.DataFrame`` and the name of a numeric column.
          Arrow-backed columns (``double[pyarrow]``, ...) and pandas' nullable
          ``Int64``, ``Float64``, ... have nulls; in a numpy-backed column a NaN
          is missing (a null), as pandas' own ``mean`` and its Arrow export
          treat it — exactly as :func:`mapmean.mean` treats the same pandas
          frame. (A NaN in a numpy or dask array stays a value.)
    column
        The column to average: for files, as in :func:`mapmean.mean`; for a
        DataFrame, may be omitted when it has one column; for a Series, its
        name or None. Not allowed with an array.
    skip_nulls
        Ignore nulls (default). If False, any null makes the result null.
    min_count
        The result is null when fewer values than this are valid (default 1,
        so empty and all-null inputs give null).
    files_per_task
        How many files one task maps, one after the other (default 1, one
        task per file, as ``dask.dataframe.read_parquet`` does); group many
        small files to save the per-task overhead.
    split_every
        How many states one merge task combines (default 8); the merge tree
        has depth ``log(tasks) / log(split_every)``.
    threads
        Threads each task computes on (default: the worker process's shared
        pool, one thread per core, which the tasks that the process runs at
        once share). With several worker processes on one machine, set it to
        the machine's cores divided by the processes. The result is bitwise
        the same for every value.

    Returns
    -------
    pyarrow.DoubleScalar
        The mean, bitwise equal to :func:`mapmean.mean` over the concatenated
        data; a null scalar where the mean is null. NaN if a valid value is
        NaN or both infinities occur; ``±inf`` if only one sign of infinity
        occurs.

    Raises
    ------
    FileNotFoundError
        A file does not exist (raised by the worker that opened it).
    KeyError
        No column of that name.
    TypeError
        The column or array is not Float32, or ``data`` is not a supported
        kind.
    ValueError
        A file is corrupt or not Arrow IPC, a directory holds no IPC file, a
        pattern matches nothing, several columns and none named, or an
        argument is out of range.
    OverflowError
        Merging the states overflowed (more than ``2**64 - 1`` values).

    An error in a task is raised on the client with the task's exception
    type, and no result is returned.

    Examples
    --------
    >>> import dask.array as da, numpy as np, mapmean.dask
    >>> x = da.from_array(np.array([1, 2, 4, 8], dtype=np.float32), chunks=(1, 3))
    >>> mapmean.dask.mean(x)
    <pyarrow.DoubleScalar: 3.75>
    >>> mapmean.dask.mean(x, min_count=5)
    <pyarrow.DoubleScalar: None>
    """
    _check_int("min_count", min_count)
    # The same checks (and messages) as mapmean.mean, before any task runs.
    MeanState().finish(skip_nulls=skip_nulls, min_count=min_count)
    state = mean_state(data, column, files_per_task=files_per_task, split_every=split_every, threads=threads)
    return state.finish(skip_nulls=skip_nulls, min_count=min_count)


def mean_state(
    data: Any,
    column: Optional[str] = None,
    *,
    files_per_task: int = 1,
    split_every: int = DEFAULT_SPLIT_EVERY,
    threads: Optional[int] = None,
) -> MeanState:
    """The exact, mergeable state of a Float32 column spread over a Dask
    cluster: counts and the exact sum, merged from every task's state.

    Parameters
    ----------
    data, column, files_per_task, split_every, threads
        As in :func:`mean`.

    Returns
    -------
    MeanState
        Equal to :func:`mapmean.mean_state` over the concatenated data; merge
        it with states from anywhere else, or ``finish()`` it.

    Raises
    ------
    As :func:`mean`.

    Examples
    --------
    >>> import dask.array as da, numpy as np, mapmean, mapmean.dask
    >>> state = mapmean.dask.mean_state(da.from_array(np.array([3e37, 0.75], dtype=np.float32), chunks=1))
    >>> state.merge(mapmean.mean_state(np.array([-3e37], dtype=np.float32)))
    >>> state.finish()
    <pyarrow.DoubleScalar: 0.25>
    """
    return _state(data, column, files_per_task, split_every, threads, moments=False)


def _state(
    data: Any, column: Optional[str], files_per_task: int, split_every: int, threads: Optional[int], *, moments: bool
) -> Any:
    """The merged MeanState (``moments``: MomentsState) of ``data``, after the argument checks."""
    _check_int("files_per_task", files_per_task)
    if files_per_task < 1:
        raise ValueError(f"files_per_task must be >= 1, got {files_per_task}")
    _check_int("split_every", split_every)
    if split_every < 2:
        raise ValueError(f"split_every must be >= 2, got {split_every}")
    if threads is not None:
        _check_int("threads", threads)
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
    if column is not None and not isinstance(column, str):
        raise TypeError(f"column must be a str, got {type(column).__name__}")
    kind = MomentsState if moments else MeanState
    name, leaves = _leaves(data, column, files_per_task, threads, moments)
    if not leaves:
        return kind()
    (state,) = dask.compute(_merge_tree(name, leaves, split_every, moments))
    return kind.from_bytes(state)


def moments_state(
    data: Any,
    column: Optional[str] = None,
    *,
    files_per_task: int = 1,
    split_every: int = DEFAULT_SPLIT_EVERY,
    threads: Optional[int] = None,
) -> MomentsState:
    """The exact, mergeable state of the sum, variance and standard deviation
    of a Float32 column spread over a Dask cluster: counts, the exact sum and
    the exact sum of squares, merged from every task's 176-byte state.

    Parameters
    ----------
    data, column, files_per_task, split_every, threads
        As in :func:`mean`.

    Returns
    -------
    MomentsState
        Equal to :func:`mapmean.moments_state` over the concatenated data.

    Raises
    ------
    As :func:`mean`.

    Examples
    --------
    >>> import dask.array as da, numpy as np, mapmean.dask
    >>> x = da.from_array(np.array([3e7 + 2, 3e7 + 4] * 50, dtype=np.float32), chunks=7)
    >>> mapmean.dask.moments_state(x).variance()
    <pyarrow.DoubleScalar: 1.0>
    """
    return _state(data, column, files_per_task, split_every, threads, moments=True)


def sum(
    data: Any,
    column: Optional[str] = None,
    *,
    skip_nulls: bool = True,
    min_count: int = 1,
    files_per_task: int = 1,
    split_every: int = DEFAULT_SPLIT_EVERY,
    threads: Optional[int] = None,
) -> pa.Scalar:
    """Exact sum of a Float32 column spread over a Dask cluster, correctly
    rounded to float64: :func:`mapmean.sum` over the concatenated data.

    Parameters
    ----------
    data, column, files_per_task, split_every, threads
        As in :func:`mean`.
    skip_nulls, min_count
        As in :func:`mapmean.sum` (pyarrow's defaults).

    Returns
    -------
    pyarrow.DoubleScalar

    Raises
    ------
    As :func:`mean`.

    Examples
    --------
    >>> import dask.array as da, numpy as np, mapmean.dask
    >>> mapmean.dask.sum(da.from_array(np.array([1e30, 1.0, -1e30], dtype=np.float32), chunks=1))
    <pyarrow.DoubleScalar: 1.0>
    """
    _check_int("min_count", min_count)
    # The mean's state holds the exact sum: the tasks compute no sum of squares.
    MeanState().sum(skip_nulls=skip_nulls, min_count=min_count)  # bad options fail before any task runs
    state = _state(data, column, files_per_task, split_every, threads, moments=False)
    # Of integers: exact int64 / uint64, or OverflowError (as mapmean.sum).
    return state.sum(skip_nulls=skip_nulls, min_count=min_count)


def variance(
    data: Any,
    column: Optional[str] = None,
    *,
    ddof: int = 0,
    skip_nulls: bool = True,
    min_count: int = 0,
    files_per_task: int = 1,
    split_every: int = DEFAULT_SPLIT_EVERY,
    threads: Optional[int] = None,
) -> pa.DoubleScalar:
    """Variance of a Float32 column spread over a Dask cluster: the exact
    value, correctly rounded once, as :func:`mapmean.variance` over the
    concatenated data.

    Parameters
    ----------
    data, column, files_per_task, split_every, threads
        As in :func:`mean`.
    ddof, skip_nulls, min_count
        As in :func:`mapmean.variance` (pyarrow's defaults).

    Returns
    -------
    pyarrow.DoubleScalar

    Raises
    ------
    As :func:`mean`.

    Examples
    --------
    >>> import dask.array as da, numpy as np, mapmean.dask
    >>> mapmean.dask.variance(da.from_array(np.array([3e7 + 2, 3e7 + 4], dtype=np.float32), chunks=1), ddof=1)
    <pyarrow.DoubleScalar: 2.0>
    """
    _check_int("ddof", ddof)
    _check_int("min_count", min_count)
    finish = functools.partial(MomentsState.variance, ddof=ddof, skip_nulls=skip_nulls, min_count=min_count)
    return _finished(finish, data, column, files_per_task, split_every, threads, moments=True)


def stddev(
    data: Any,
    column: Optional[str] = None,
    *,
    ddof: int = 0,
    skip_nulls: bool = True,
    min_count: int = 0,
    files_per_task: int = 1,
    split_every: int = DEFAULT_SPLIT_EVERY,
    threads: Optional[int] = None,
) -> pa.DoubleScalar:
    """Standard deviation of a Float32 column spread over a Dask cluster: the
    correctly rounded square root of the exact variance, as
    :func:`mapmean.stddev` over the concatenated data.

    Parameters
    ----------
    data, column, files_per_task, split_every, threads
        As in :func:`mean`.
    ddof, skip_nulls, min_count
        As in :func:`mapmean.stddev` (pyarrow's defaults).

    Returns
    -------
    pyarrow.DoubleScalar

    Raises
    ------
    As :func:`mean`.

    Examples
    --------
    >>> import dask.array as da, numpy as np, mapmean.dask
    >>> mapmean.dask.stddev(da.from_array(np.array([3e7 + 2, 3e7 + 6] * 3, dtype=np.float32), chunks=2))
    <pyarrow.DoubleScalar: 2.0>
    """
    _check_int("ddof", ddof)
    _check_int("min_count", min_count)
    finish = functools.partial(MomentsState.stddev, ddof=ddof, skip_nulls=skip_nulls, min_count=min_count)
    return _finished(finish, data, column, files_per_task, split_every, threads, moments=True)


def _finished(
    finish: Callable[[Any], pa.DoubleScalar],
    data: Any,
    column: Optional[str],
    files_per_task: int,
    split_every: int,
    threads: Optional[int],
    *,
    moments: bool,
) -> pa.DoubleScalar:
    """``finish`` of the merged state of ``data`` (``moments``: the MomentsState, else the
    MeanState), as a ``pyarrow.DoubleScalar``. ``finish`` runs on an empty state first, so
    that bad options fail before any task runs."""
    finish(MomentsState() if moments else MeanState())
    state = _state(data, column, files_per_task, split_every, threads, moments=moments)
    return finish(state)


def group_by(
    data: Any,
    keys: Any,
    *,
    files_per_task: int = 1,
    split_every: int = DEFAULT_SPLIT_EVERY,
    threads: Optional[int] = None,
) -> "GroupBy":
    """Exact grouped statistics over a Dask cluster (see :func:`mapmean.group_by`).

    Each task computes the group states of its piece of the data where it
    runs (``GroupBy.states``: a small table of keys and state bytes, whose
    size grows with the groups, not the rows); the tables are merged exactly
    in a tree, ``split_every`` at a time; the client finishes the last one.
    The result is bitwise :func:`mapmean.group_by` over the concatenated data,
    sorted by key.

    Parameters
    ----------
    data
        Arrow IPC or Parquet files (a path, directory, glob or list, as in
        :func:`mean`); a ``dask.dataframe.DataFrame`` (a NaN of a numpy-backed
        float column is missing, as in pandas); or a mapping of column names
        to 1-D dask arrays with the same chunks (keys and values; a NaN stays
        a value, as in numpy).
    keys
        The key column(s).
    files_per_task, split_every, threads
        As in :func:`mean`.

    Returns
    -------
    GroupBy
        Its ``aggregate``, ``mean``, ``sum``, ``variance``, ``stddev``,
        ``min`` and ``max`` run the graph.

    Examples
    --------
    >>> import dask.dataframe as dd, pandas as pd, mapmean.dask
    >>> frame = dd.from_pandas(pd.DataFrame({"g": [1, 2, 1, 1], "x": [3e37, 5.0, 0.75, -3e37]}), npartitions=2)
    >>> mapmean.dask.group_by(frame, "g").mean("x").to_pydict()
    {'g': [1, 2], 'x_mean': [0.25, 5.0]}
    """
    if isinstance(keys, str):
        keys = [keys]
    keys = list(keys)
    if not keys or not all(isinstance(k, str) for k in keys):
        raise TypeError(f"keys must be a column name or a list of them, got {keys!r}")
    _check_int("files_per_task", files_per_task)
    _check_int("split_every", split_every)
    if files_per_task < 1 or split_every < 2:
        raise ValueError("files_per_task must be >= 1 and split_every >= 2")
    if threads is not None:
        _check_int("threads", threads)
    return GroupBy(data, keys, files_per_task, split_every, threads)


class GroupBy(_GroupStatistics):
    """Grouped statistics of Dask data, made by :func:`group_by`: the methods of
    :class:`mapmean.GroupBy`, computed on the cluster."""

    def __init__(self, data: Any, keys: List[str], files_per_task: int, split_every: int, threads: Optional[int]):
        self._data = data
        self._keys = keys
        self._files_per_task = files_per_task
        self._split_every = split_every
        self._threads = threads

    def __repr__(self) -> str:
        return f"<mapmean.dask.GroupBy keys={self._keys!r} of {type(self._data).__name__}>"

    def aggregate(self, aggregations: Sequence[Any]) -> pa.Table:
        """As :meth:`mapmean.GroupBy.aggregate`, over the whole collection."""
        normalized = _normalize_aggregations(aggregations)
        statistics = {a[1] for a in normalized}
        kind = "all" if statistics & {"min", "max"} else "moments" if statistics & {"variance", "stddev"} else "mean"
        columns = list(dict.fromkeys(a[0] for a in normalized))
        name, leaves = _group_leaves(self._data, self._keys, columns, kind, self._files_per_task, self._threads)
        if not leaves:
            raise ValueError("no data to group")
        root = _group_tree(name, leaves, self._keys, kind, self._split_every)
        (table,) = dask.compute(root)
        return mapmean.merge_group_states([table], self._keys, aggregations)


def _group_leaves(
    data: Any, keys: List[str], columns: List[str], kind: str, files_per_task: int, threads: Optional[int]
) -> tuple[str, List[Any]]:
    """A name and one delayed table of group states per task."""
    if isinstance(data, (str, os.PathLike, list, tuple)):
        groups = _file_groups(data, files_per_task)
        name = tokenize(groups, keys, columns, kind, threads, uuid.uuid4().hex)
        return name, [
            _call(_files_group_states, g, keys, columns, kind, threads, key=f"mapmean-groups-{name}-{i}")
            for i, g in enumerate(groups)
        ]
    frame = sys.modules.get("dask.dataframe")
    if frame is not None and isinstance(data, frame.DataFrame):
        missing = [c for c in keys + columns if c not in data.columns]
        if missing:
            raise KeyError(f"dask DataFrame: no column {missing[0]!r} (available: {_names(list(data.columns))})")
        for column in columns:
            if not _is_numeric(data[column].dtype):
                raise TypeError(f"column {column!r}: mapmean needs a numeric dtype, got dtype {data[column].dtype}")
        selected = data[keys + columns]
        name = tokenize(selected, keys, columns, kind, threads)
        return name, [
            _call(_frame_group_states, p, keys, columns, kind, threads, key=f"mapmean-groups-{name}-{i}")
            for i, p in enumerate(selected.to_delayed())
        ]
    array = sys.modules.get("dask.array")
    if array is not None and isinstance(data, dict) and data and all(isinstance(a, array.Array) for a in data.values()):
        names = list(data)
        missing = [c for c in keys + columns if c not in data]
        if missing:
            raise KeyError(f"no array named {missing[0]!r} (available: {_names(names)})")
        arrays = [data[n] for n in names]
        if any(a.ndim != 1 for a in arrays) or len({a.chunks for a in arrays}) != 1:
            raise ValueError("group_by needs 1-D dask arrays with the same chunks")
        name = tokenize(*arrays, names, keys, columns, kind, threads)
        chunks = [a.to_delayed().ravel() for a in arrays]
        return name, [
            _call(_arrays_group_states, names, keys, columns, kind, threads, *parts, key=f"mapmean-groups-{name}-{i}")
            for i, parts in enumerate(zip(*chunks))
        ]
    raise TypeError(
        "mapmean.dask.group_by needs paths to Arrow IPC or Parquet files, a dask DataFrame, "
        f"or a dict of dask arrays, got {type(data).__name__}"
    )


def _states_of(source: Any, keys: List[str], columns: List[str], kind: str, threads: Optional[int]) -> pa.Table:
    return mapmean.group_by(source, keys, threads=threads).states(*columns, kind=kind)


def _files_group_states(
    paths: Sequence[str], keys: List[str], columns: List[str], kind: str, threads: Optional[int]
) -> pa.Table:
    """The group states of a few files, mapped where the task runs."""
    return _states_of(list(paths), keys, columns, kind, threads)


def _frame_group_states(part: Any, keys: List[str], columns: List[str], kind: str, threads: Optional[int]) -> pa.Table:
    """The group states of one partition (a pandas DataFrame; NaN is missing, as in pandas)."""
    return _states_of(part, keys, columns, kind, threads)


def _arrays_group_states(
    names: List[str], keys: List[str], columns: List[str], kind: str, threads: Optional[int], *chunks: Any
) -> pa.Table:
    """The group states of one chunk of each dask array."""
    return _states_of(dict(zip(names, chunks)), keys, columns, kind, threads)


def _merge_group_tables(keys: List[str], kind: str, *tables: pa.Table) -> pa.Table:
    """Several tables of group states merged into one (a node of the tree)."""
    return mapmean.merge_group_states(list(tables), keys, kind=kind)


def _group_tree(name: str, tables: List[Any], keys: List[str], kind: str, split_every: int) -> Any:
    """Merges delayed tables of group states ``split_every`` at a time until one is left."""
    name = tokenize(name, split_every, kind)
    depth = 0
    while len(tables) > 1:
        depth += 1
        tables = [
            _call(
                _merge_group_tables, keys, kind, *tables[i : i + split_every],
                key=f"mapmean-group-merge-{name}-{depth}-{i // split_every}",
            )
            for i in range(0, len(tables), split_every)
        ]
    return tables[0]


# --- Tasks: everything below the client runs these, with bytes in and out. ---



def _of(source: Any, column: Optional[str], threads: Optional[int], moments: bool) -> Any:
    """The MeanState (``moments``: MomentsState) of one source, where the task runs."""
    if moments:
        return mapmean.moments_state(source, column, threads=threads)
    return mapmean.mean_state(source, column, threads=threads)


def _files_state(paths: Sequence[str], column: Optional[str], threads: Optional[int], moments: bool = False) -> bytes:
    """The merged state of a column of a few IPC files, mapped where the task runs."""
    state = _of(paths[0], column, threads, moments)
    for path in paths[1:]:
        state.merge(_of(path, column, threads, moments))
    return state.to_bytes()


def _array_state(chunk: Any, threads: Optional[int], moments: bool = False) -> bytes:
    """The state of one chunk of a dask array (numpy, masked or not)."""
    return _of(chunk, None, threads, moments).to_bytes()


def _series_state(part: Any, threads: Optional[int], moments: bool = False) -> bytes:
    """The state of one partition of a dask Series (a pandas Series)."""
    if isinstance(part.dtype, np.dtype):
        values = part.to_numpy(copy=False)
        if values.dtype.kind == "f":
            # pandas' rule: in a pandas object NaN is missing, as in pandas'
            # own mean and in its Arrow export (what mapmean.mean(frame) reads).
            nan = np.isnan(values)
            if nan.any():
                values = np.ma.MaskedArray(values, mask=nan)
        return _of(values, None, threads, moments).to_bytes()
    arrow = getattr(part.array, "__arrow_array__", None)
    if arrow is None:
        raise TypeError(f"mapmean needs a numeric column, got dtype {part.dtype}")
    # Arrow-backed and pandas' masked arrays: their nulls stay nulls.
    return _of(arrow(), None, threads, moments).to_bytes()


def _merge_states(moments: bool, *states: bytes) -> bytes:
    """Several states' bytes merged into one state's bytes (a node of the
    tree), of the kind the computation asked for."""
    kind = MomentsState if moments else MeanState
    merged = kind.from_bytes(states[0])
    for state in states[1:]:
        merged.merge(kind.from_bytes(state))
    return merged.to_bytes()


# --- The graph, built on the client. ---


def _leaves(
    data: Any, column: Optional[str], files_per_task: int, threads: Optional[int], moments: bool = False
) -> tuple[str, List[Any]]:
    """A name for the computation and one delayed state (bytes) per task.

    Every argument of a task goes into its key's token: the scheduler may
    still hold a task of the same key from the last call, and a key must
    always name the same task."""
    if isinstance(data, (str, os.PathLike, list, tuple)):
        groups = _file_groups(data, files_per_task)
        # Impure: a file's content may change between two calls.
        name = tokenize(groups, column, threads, moments, uuid.uuid4().hex)
        return name, [
            _call(_files_state, group, column, threads, moments, key=f"mapmean-state-{name}-{i}")
            for i, group in enumerate(groups)
        ]
    array = sys.modules.get("dask.array")
    if array is not None and isinstance(data, array.Array):
        if not _is_numeric(data.dtype):
            raise TypeError(
                f"mapmean needs a numeric array (float16/32/64, int8-64, uint8-64), got dtype {data.dtype}"
            )
        if column is not None:
            raise KeyError(f"column {column!r} given, but a dask array has no columns")
        name = tokenize(data, threads, moments)
        chunks = data.to_delayed().ravel()
        return name, [
            _call(_array_state, c, threads, moments, key=f"mapmean-state-{name}-{i}") for i, c in enumerate(chunks)
        ]
    frame = sys.modules.get("dask.dataframe")
    if frame is not None and isinstance(data, (frame.DataFrame, frame.Series)):
        series = _series(frame, data, column)
        name = tokenize(series, threads, moments)
        parts = series.to_delayed()
        return name, [
            _call(_series_state, p, threads, moments, key=f"mapmean-state-{name}-{i}") for i, p in enumerate(parts)
        ]
    raise TypeError(
        "mapmean.dask needs paths to Arrow IPC files, a dask array or a dask dataframe, "
        f"got {type(data).__name__}"
    )


def _file_groups(sources: Any, files_per_task: int) -> List[List[str]]:
    """The files that ``sources`` name, absolute, in groups of ``files_per_task``."""
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    specs = []
    for source in sources:
        if not isinstance(source, (str, os.PathLike)):
            raise TypeError(f"a source must be a path (str or os.PathLike), got {type(source).__name__}")
        spec = os.fspath(source)
        if not isinstance(spec, str):
            raise TypeError(f"a source must be a str path, got {type(spec).__name__}")
        specs.append(spec)
    files = [os.fspath(f) for f in _mapmean._expand_sources(specs)]
    # Workers may run in another directory: give them absolute paths.
    files = [f if f.startswith("shm://") else os.path.abspath(f) for f in files]
    return [files[i : i + files_per_task] for i in range(0, len(files), files_per_task)]


def _series(frame: Any, data: Any, column: Optional[str]) -> Any:
    """The numeric Series to average, checked on the collection's metadata."""
    if isinstance(data, frame.DataFrame):
        columns = list(data.columns)
        if column is None:
            if len(columns) != 1:
                raise ValueError(
                    f"the dask DataFrame has {len(columns)} columns ({_names(columns)}); name the one to average"
                )
            series = data[columns[0]]
        elif column not in columns:
            raise KeyError(f"dask DataFrame: no column {column!r} (available: {_names(columns)})")
        else:
            series = data[column]
    else:
        if column is not None and column != data.name:
            raise KeyError(f"column {column!r} given, but the dask Series is {data.name!r}")
        series = data
    if not _is_numeric(series.dtype):
        raise TypeError(
            f"column {series.name!r}: mapmean needs a numeric dtype (float16/32/64, int8-64, uint8-64), "
            f"got dtype {series.dtype}"
        )
    return series


def _names(columns: Sequence[Any]) -> str:
    return ", ".join(repr(c) for c in columns)


def _is_numeric(dtype: Any) -> bool:
    """A numeric numpy dtype, a numeric ``[pyarrow]`` dtype, or one of pandas'
    nullable ``Int*``, ``UInt*`` and ``Float*`` dtypes."""
    if isinstance(dtype, np.dtype):
        return dtype.kind in "fiu" and dtype.itemsize <= 8
    pandas = sys.modules["pandas"]  # loaded with dask.dataframe
    if isinstance(dtype, pandas.ArrowDtype):
        t = dtype.pyarrow_dtype
        return pa.types.is_floating(t) or pa.types.is_integer(t)
    return isinstance(dtype, pandas.api.extensions.ExtensionDtype) and getattr(dtype, "kind", None) in ("f", "i", "u")


def _call(function: Callable[..., bytes], *args: Any, key: str) -> Any:
    return dask.delayed(function, pure=True)(*args, dask_key_name=key)


def _merge_tree(name: str, states: List[Any], split_every: int, moments: bool = False) -> Any:
    """Merges delayed states ``split_every`` at a time until one is left."""
    # A key names one task for good: trees of other shapes over the same
    # states need other keys (the scheduler may still hold the last result).
    name = tokenize(name, split_every, moments)
    depth = 0
    while len(states) > 1:
        depth += 1
        states = [
            _call(_merge_states, moments, *states[i : i + split_every], key=f"mapmean-merge-{name}-{depth}-{i // split_every}")
            for i in range(0, len(states), split_every)
        ]
    return states[0]
