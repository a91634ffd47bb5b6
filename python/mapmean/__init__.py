"""mapmean: exact statistics of numeric data, read in place.

mapmean memory-maps Arrow IPC files and streams, and Parquet files (or takes
Arrow objects and numpy arrays as they are) of any numeric type (float16/32/64, int8-64,
uint8-64) and returns the correctly rounded ``float64`` of the exact mean,
sum, variance or standard deviation of the valid values (an integer sum
exactly, an ``OverflowError`` where it does not fit), and their min and max,
following the null, NaN and infinity rules of ``pyarrow.compute``.

Examples
--------
>>> import numpy as np, mapmean
>>> values = np.array([3e37, 0.75, -3e37] * 1000, dtype=np.float32)
>>> mapmean.mean(values)
<pyarrow.DoubleScalar: 0.25>
>>> float(np.mean(values, dtype=np.float64))  # the f64 sum cancels to zero
0.0
"""

# This module imports only the compiled extension, so that the `mapmean`
# command (whose console script imports this package first) starts at once,
# without numpy and pyarrow (~0.3 s and ~60 MB). The functions, which need
# them, live in `_api.py` and load on the first use of any of their names
# (PEP 562); `python/wheel_check.py` checks that the command imports neither.

from __future__ import annotations

from . import _mapmean
from ._mapmean import MeanState, MomentsState, SharedTable

# Type checkers (mypy, pyright) take a module-level `TYPE_CHECKING` as true;
# importing `typing` for it would cost the command a few milliseconds.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from ._api import (
        Dataset,
        attach,
        max,
        mean,
        mean_state,
        min,
        moments_state,
        open,
        scan,
        group_by,
        GroupBy,
        merge_group_states,
        share,
        stddev,
        sum,
        variance,
        write_ipc,
    )

__all__ = [
    "mean",
    "mean_state",
    "sum",
    "variance",
    "stddev",
    "min",
    "max",
    "moments_state",
    "open",
    "Dataset",
    "scan",
    "group_by",
    "GroupBy",
    "merge_group_states",
    "write_ipc",
    "share",
    "attach",
    "MeanState",
    "MomentsState",
    "SharedTable",
    "__version__",
]
__version__: str = _mapmean.__version__


def __getattr__(name: str) -> object:
    """The names of ``_api`` (every public function, ``Dataset``, and the
    private helpers ``mapmean.dask`` uses), imported on first use.

    The public ones are then bound here, so later look-ups cost what a plain
    module attribute costs.
    """
    if name.startswith("__") or name == "_api":
        # Probes such as `__wrapped__` never load numpy; `_api` is looked up
        # by the import below before it is imported.
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from . import _api

    try:
        value = getattr(_api, name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    if name in __all__:
        globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The public API only (``__all__``), not the modules this one imports."""
    return sorted(__all__)
