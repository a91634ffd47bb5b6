"""``exact_mean`` for DataFusion SQL (``pip install mapmean[datafusion]``).

:func:`register` adds the aggregate ``exact_mean(x)`` to a
``datafusion.SessionContext``: over a Float32 column it returns the Float64
exact mean, correctly rounded, per group under ``GROUP BY``, with the null,
NaN and infinity rules of :func:`mapmean.mean` (null for a group without valid
values). It is mapmean's Rust aggregate handed over DataFusion's FFI (the
``__datafusion_aggregate_udf__`` capsule), so no Python runs per batch or per
group, and the result is bitwise the same for any partitioning.

Only Float32 columns are accepted; other types fail when the query is planned.

Examples
--------
>>> import datafusion, pyarrow as pa
>>> import mapmean.datafusion
>>> ctx = datafusion.SessionContext()
>>> mapmean.datafusion.register(ctx)
>>> batch = pa.record_batch({"g": [1, 1, 1, 2], "x": pa.array([3e37, 0.75, -3e37, 2.0], pa.float32())})
>>> ctx.register_record_batches("t", [[batch]])
>>> ctx.sql("SELECT g, exact_mean(x) AS m FROM t GROUP BY g ORDER BY g").to_pydict()
{'g': [1, 2], 'm': [0.25, 2.0]}
"""

from __future__ import annotations

try:
    import datafusion as _datafusion
    from mapmean_datafusion import ExactMean as _ExactMean
except ImportError as error:  # pragma: no cover - depends on what is installed
    raise ImportError(
        "mapmean.datafusion needs the optional DataFusion support: "
        "pip install 'mapmean[datafusion]' (from a source checkout: "
        "pip install ./python-datafusion, which also installs datafusion>=55,<56)"
    ) from error

__all__ = ["exact_mean", "register"]


def exact_mean() -> _datafusion.AggregateUDF:
    """The ``exact_mean`` aggregate as a ``datafusion.AggregateUDF``.

    Use it in the DataFrame API, or register it under its name ``exact_mean``
    with ``ctx.register_udaf`` (which :func:`register` does).

    Returns
    -------
    datafusion.AggregateUDF
        The Rust aggregate, imported through DataFusion's FFI.

    Examples
    --------
    >>> import datafusion, pyarrow as pa
    >>> from datafusion import col
    >>> from mapmean.datafusion import exact_mean
    >>> ctx = datafusion.SessionContext()
    >>> df = ctx.from_arrow(pa.table({"x": pa.array([1e8, 1.0, -1e8], pa.float32())}))
    >>> df.aggregate([], [exact_mean()(col("x")).alias("m")]).to_pydict()
    {'m': [0.3333333333333333]}
    """
    return _datafusion.AggregateUDF.from_pycapsule(_ExactMean())


def register(ctx: _datafusion.SessionContext) -> None:
    """Registers ``exact_mean`` on ``ctx`` for SQL.

    Parameters
    ----------
    ctx : datafusion.SessionContext
        The context whose SQL should know ``exact_mean(x)``.

    Examples
    --------
    >>> import datafusion
    >>> import mapmean.datafusion
    >>> ctx = datafusion.SessionContext()
    >>> mapmean.datafusion.register(ctx)
    >>> ctx.sql("SELECT exact_mean(CAST(1.5 AS REAL)) AS m").to_pydict()
    {'m': [1.5]}
    """
    ctx.register_udaf(exact_mean())
