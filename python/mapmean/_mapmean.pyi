"""Type stubs of the compiled extension (private; use the functions in ``mapmean``)."""

from typing import Any, Optional, TypedDict

__version__: str

class _BatchBuffers(TypedDict):
    values_addr: int
    values_len: int
    validity_addr: Optional[int]

class _ColumnBuffers(TypedDict):
    map_start: int
    map_len: int
    batches: list[_BatchBuffers]

def _mean_path(
    path: str, column: Optional[str], skip_nulls: bool, min_count: int, threads: Optional[int]
) -> Optional[float]:
    """Mean of a column of the Arrow IPC file or stream at ``path``."""

def _mean_arrow(
    source: Any, column: Optional[str], skip_nulls: bool, min_count: int, threads: Optional[int]
) -> Optional[float]:
    """Mean of a column of an Arrow PyCapsule object."""

def _mean_buffer(source: Any, skip_nulls: bool, min_count: int, threads: Optional[int]) -> Optional[float]:
    """Mean of a float32 buffer-protocol object (numpy array), any shape and strides."""

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
    def _mean(
        self, column: Optional[str], skip_nulls: bool, min_count: int, threads: Optional[int]
    ) -> Optional[float]: ...

def _share(name: Optional[str], data: Any) -> SharedTable:
    """Create a segment (random name if None) holding the record batches of ``data``."""

def _attach(name: str) -> SharedTable:
    """Map an existing segment read-only."""
