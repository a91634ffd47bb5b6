"""Type stubs of the compiled extension (private; use the functions in ``mapmean``)."""

from typing import Any, Optional, TypedDict, Union

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
    """The exact, mergeable state of a mean: counts and the exact sum."""

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
    def merge(self, other: "MeanState") -> None: ...
    def finish(self, *, skip_nulls: bool = True, min_count: int = 1) -> Optional[float]: ...
    def to_arrow(self, column: str = "values", *, skip_nulls: bool = True, min_count: int = 1) -> Any: ...
    def to_bytes(self) -> bytes: ...

class MomentsState:
    """The exact, mergeable state of the sum, mean, variance and standard
    deviation: counts, the exact sum and the exact sum of squares."""

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
    def merge(self, other: "MomentsState") -> None: ...
    def sum(self, *, skip_nulls: bool = True, min_count: int = 1) -> Optional[float]: ...
    def mean(self, *, skip_nulls: bool = True, min_count: int = 1) -> Optional[float]: ...
    def variance(self, *, ddof: int = 0, skip_nulls: bool = True, min_count: int = 0) -> Optional[float]: ...
    def stddev(self, *, ddof: int = 0, skip_nulls: bool = True, min_count: int = 0) -> Optional[float]: ...
    def mean_state(self) -> MeanState: ...
    def to_bytes(self) -> bytes: ...

def _state_path(
    path: str, column: Optional[str], threads: Optional[int], moments: bool = False
) -> Union[MeanState, MomentsState]:
    """State of a column of the Arrow IPC file or stream at ``path`` (or ``shm://NAME``)."""

def _state_arrow(
    source: Any, column: Optional[str], threads: Optional[int], moments: bool = False
) -> Union[MeanState, MomentsState]:
    """State of a column of an Arrow PyCapsule object."""

def _state_buffer(source: Any, threads: Optional[int], moments: bool = False) -> Union[MeanState, MomentsState]:
    """State of a float32 buffer-protocol object (numpy array), any shape and strides."""

def _scan(
    sources: list[str], columns: Optional[list[str]], by_source: bool, threads: Optional[int], progress: bool
) -> Any:
    """Rows over many sources as a pyarrow Table."""

def _write_ipc(path: str, data: Any, format: str) -> None:
    """Write record batches as an IPC file or stream with 64-byte aligned buffers."""

def _column_buffers(path: str, column: Optional[str] = None) -> _ColumnBuffers:
    """Addresses of the mapping and of each decoded batch's buffers (zero-copy checks)."""

def _read_ceiling(path: str, threads: Optional[int] = None) -> int:
    """Benchmark helper: map ``path`` as ``mean`` does and sum its bytes as u64 words."""

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
        self, column: Optional[str], threads: Optional[int], moments: bool = False
    ) -> Union[MeanState, MomentsState]: ...

def _share(name: Optional[str], data: Any) -> SharedTable:
    """Create a segment (random name if None) holding the record batches of ``data``."""

def _attach(name: str) -> SharedTable:
    """Map an existing segment read-only."""
