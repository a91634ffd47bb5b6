import os
import pathlib
from typing import Any, Literal, Mapping, Optional, Union

import numpy as np
import pyarrow as pa

__version__: str

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
