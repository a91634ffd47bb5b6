"""mapmean's ``exact_mean`` for DataFusion, as an FFI aggregate (import ``mapmean.datafusion``).

This package only carries the compiled glue: :class:`ExactMean` exposes
``__datafusion_aggregate_udf__`` (a PyCapsule around the Rust aggregate),
which ``datafusion.AggregateUDF.from_pycapsule`` and ``datafusion.udaf``
accept. Use it through :mod:`mapmean.datafusion`.
"""

from __future__ import annotations

from ._mapmean_datafusion import ExactMean, __version__

__all__ = ["ExactMean", "__version__"]
