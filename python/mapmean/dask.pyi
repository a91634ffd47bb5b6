"""Type stubs of ``mapmean.dask``: exact means on a Dask cluster."""

import os
from typing import Any, List, Optional, Sequence, Union

import pyarrow as pa

from . import MeanState, MomentsState

PathLike = Union[str, "os.PathLike[str]"]
#: Paths, directories or glob patterns of Arrow IPC files, a
#: ``dask.array.Array`` of float32, or a ``dask.dataframe`` DataFrame or Series.
DaskSource = Union[PathLike, Sequence[PathLike], Any]

__all__: List[str]
DEFAULT_SPLIT_EVERY: int

def mean(
    data: DaskSource,
    column: Optional[str] = None,
    *,
    skip_nulls: bool = True,
    min_count: int = 1,
    files_per_task: int = 1,
    split_every: int = 8,
    threads: Optional[int] = None,
) -> pa.DoubleScalar: ...
def mean_state(
    data: DaskSource,
    column: Optional[str] = None,
    *,
    files_per_task: int = 1,
    split_every: int = 8,
    threads: Optional[int] = None,
) -> MeanState: ...
def moments_state(
    data: DaskSource,
    column: Optional[str] = None,
    *,
    files_per_task: int = 1,
    split_every: int = 8,
    threads: Optional[int] = None,
) -> MomentsState: ...
def sum(
    data: DaskSource,
    column: Optional[str] = None,
    *,
    skip_nulls: bool = True,
    min_count: int = 1,
    files_per_task: int = 1,
    split_every: int = 8,
    threads: Optional[int] = None,
) -> pa.DoubleScalar: ...
def variance(
    data: DaskSource,
    column: Optional[str] = None,
    *,
    ddof: int = 0,
    skip_nulls: bool = True,
    min_count: int = 0,
    files_per_task: int = 1,
    split_every: int = 8,
    threads: Optional[int] = None,
) -> pa.DoubleScalar: ...
def stddev(
    data: DaskSource,
    column: Optional[str] = None,
    *,
    ddof: int = 0,
    skip_nulls: bool = True,
    min_count: int = 0,
    files_per_task: int = 1,
    split_every: int = 8,
    threads: Optional[int] = None,
) -> pa.DoubleScalar: ...
def group_by(
    data: DaskSource,
    keys: Union[str, Sequence[str]],
    *,
    files_per_task: int = 1,
    split_every: int = 8,
    threads: Optional[int] = None,
) -> GroupBy: ...

class GroupBy:
    """Grouped statistics of Dask data (see :func:`group_by`)."""

    def aggregate(self, aggregations: Sequence[Any]) -> pa.Table: ...
    def mean(self, *columns: str, skip_nulls: bool = True, min_count: int = 1) -> pa.Table: ...
    def sum(self, *columns: str, skip_nulls: bool = True, min_count: int = 1) -> pa.Table: ...
    def variance(self, *columns: str, ddof: int = 0, skip_nulls: bool = True, min_count: int = 0) -> pa.Table: ...
    def stddev(self, *columns: str, ddof: int = 0, skip_nulls: bool = True, min_count: int = 0) -> pa.Table: ...
    def min(self, *columns: str, skip_nulls: bool = True, min_count: int = 1) -> pa.Table: ...
    def max(self, *columns: str, skip_nulls: bool = True, min_count: int = 1) -> pa.Table: ...
