import os
import pathlib
from typing import Any, Literal, Mapping, Optional, Sequence, Union

import numpy as np
import pyarrow as pa

__version__: str

class MeanState:
    """The exact, mergeable state of a mean: counts and the exact sum.

    Picklable; ``MeanState(state.to_bytes())`` restores a state.
    """

    def __init__(self, state: Optional[bytes] = None) -> None: ...
    @property
    def count(self) -> int: ...
    @property
    def null_count(self) -> int: ...
    @property
    def nan_count(self) -> int: ...
    @property
    def pos_inf_count(self) -> int: ...
    @property
    def neg_inf_count(self) -> int: ...
    def merge(self, other: MeanState) -> None: ...
    def finish(self, *, skip_nulls: bool = True, min_count: int = 1) -> Optional[float]: ...
    def to_arrow(self, column: str = "values", *, skip_nulls: bool = True, min_count: int = 1) -> pa.RecordBatch: ...
    def to_bytes(self) -> bytes: ...

class SharedTable:
    """A shared-memory segment holding an Arrow IPC file image (see share/attach)."""

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

def mean(
    source: Any,
    column: Optional[str] = None,
    *,
    skip_nulls: bool = True,
    min_count: int = 1,
    threads: Optional[int] = None,
) -> pa.DoubleScalar: ...
def write_ipc(
    path: Union[str, os.PathLike[str]],
    data: Union[np.ndarray, Mapping[str, np.ndarray]],
    *,
    mask: Optional[np.ndarray] = None,
    nan_as_null: bool = False,
    batch_rows: Optional[int] = None,
    format: Literal["file", "stream"] = "file",
) -> pathlib.Path: ...
def share(
    data: Union[np.ndarray, Mapping[str, np.ndarray]],
    *,
    name: Optional[str] = None,
    mask: Optional[np.ndarray] = None,
    nan_as_null: bool = False,
) -> SharedTable: ...
def attach(name: str) -> SharedTable: ...
def mean_state(source: Any, column: Optional[str] = None, *, threads: Optional[int] = None) -> MeanState: ...
def scan(
    sources: Union[str, os.PathLike[str], Sequence[Union[str, os.PathLike[str]]]],
    columns: Union[str, Sequence[str], None] = None,
    *,
    by_source: bool = False,
    threads: Optional[int] = None,
    progress: bool = False,
) -> pa.Table: ...
