"""mapmean's exact aggregates for DataFusion, as FFI aggregates (import ``mapmean.datafusion``).

This package only carries the compiled glue: :class:`ExactAggregate` (built
from an SQL name such as ``"exact_var"``) exposes
``__datafusion_aggregate_udf__`` (a PyCapsule around the Rust aggregate),
which ``datafusion.AggregateUDF.from_pycapsule`` and ``datafusion.udaf``
accept. Use it through :mod:`mapmean.datafusion`.
"""

from __future__ import annotations

from ._mapmean_datafusion import ExactAggregate, __version__

__all__ = ["ExactAggregate", "__version__"]
