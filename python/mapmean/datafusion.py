"""Exact aggregates for DataFusion SQL.

Needs the glue wheel ``mapmean-datafusion``, built from mapmean's source tree
(``pip install ./python-datafusion``; it is not on a package index).

:func:`register` adds six aggregates to a ``datafusion.SessionContext``. Each
takes a numeric column of any type (REAL, DOUBLE, the integer types and their
unsigned forms, Float16) and returns a Float64, correctly rounded from the
exact value, per group under ``GROUP BY`` (``exact_sum`` of an integer column:
its exact BIGINT / BIGINT UNSIGNED sum, an error where it does not fit):

===========================================  ==========================================  ==========================
SQL                                          result                                      NULL when
===========================================  ==========================================  ==========================
``exact_mean(x)``                            the mean, as :func:`mapmean.mean`           no valid value
``exact_sum(x)``                             the sum, as :func:`mapmean.sum`             no valid value
``exact_var(x)``, ``exact_var_samp(x)``      the sample variance (``ddof=1``)            fewer than 2 valid values
``exact_var_pop(x)``                         the population variance (``ddof=0``)        no valid value
``exact_stddev(x)``, ``exact_stddev_samp(x)``  the sample standard deviation (``ddof=1``)  fewer than 2 valid values
``exact_stddev_pop(x)``                      the population standard deviation           no valid value
===========================================  ==========================================  ==========================

Nulls are skipped, and the NULL cases are those of DataFusion's ``avg``,
``sum``, ``var_samp``, ``var_pop``, ``stddev`` and ``stddev_pop``. NaN and
infinities follow ``pyarrow.compute`` (as :func:`mapmean.mean`,
:func:`mapmean.sum`, :func:`mapmean.variance` and :func:`mapmean.stddev`): the
mean and the sum are NaN when a value is NaN or both infinities occur and
``±inf`` for infinities of one sign; the variance and the standard deviation
are NaN when any value is NaN or infinite. The variance is computed exactly and
rounded once (exactly ``0.0`` for constant data); the standard deviation is the
correctly rounded square root of the exact variance.

They are mapmean's Rust aggregates handed over DataFusion's FFI (the
``__datafusion_aggregate_udf__`` capsule), so no Python runs per batch or per
group, and the result is bitwise the same for any partitioning.

Non-numeric columns (strings, booleans, decimals, ...) fail when the query is
planned.

Examples
--------
>>> import datafusion, pyarrow as pa
>>> import mapmean.datafusion
>>> ctx = datafusion.SessionContext()
>>> mapmean.datafusion.register(ctx)
>>> batch = pa.record_batch({"g": [1, 1, 1, 2], "x": pa.array([3e37, 0.75, -3e37, 2.0], pa.float32())})
>>> ctx.register_record_batches("t", [[batch]])
>>> ctx.sql("SELECT g, exact_mean(x) AS m, exact_sum(x) AS s, exact_var(x) AS v "
...         "FROM t GROUP BY g ORDER BY g").to_pydict()
{'g': [1, 2], 'm': [0.25, 2.0], 's': [0.75, 2.0], 'v': [9.000000641458834e+74, None]}
"""

from __future__ import annotations

try:
    import datafusion as _datafusion
    from mapmean_datafusion import ExactAggregate as _ExactAggregate
except ImportError as error:  # pragma: no cover - depends on what is installed
    raise ImportError(
        "mapmean.datafusion needs the DataFusion glue, mapmean-datafusion, which is not on a package "
        "index: build it from a checkout of mapmean's source tree with "
        "`pip install ./python-datafusion` (it also installs datafusion>=55,<56), "
        f"or `make test-datafusion` there ({error})"
    ) from error

__all__ = [
    "exact_mean",
    "exact_stddev",
    "exact_stddev_pop",
    "exact_sum",
    "exact_var",
    "exact_var_pop",
    "register",
]


def _aggregate(name: str) -> _datafusion.AggregateUDF:
    return _datafusion.AggregateUDF.from_pycapsule(_ExactAggregate(name))


def exact_mean() -> _datafusion.AggregateUDF:
    """The ``exact_mean`` aggregate as a ``datafusion.AggregateUDF``.

    The correctly rounded mean of a numeric column, as :func:`mapmean.mean`:
    NULL without valid values. Use it in the DataFrame API, or register it
    under its name with ``ctx.register_udaf`` (which :func:`register` does).

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
    return _aggregate("exact_mean")


def exact_sum() -> _datafusion.AggregateUDF:
    """The ``exact_sum`` aggregate as a ``datafusion.AggregateUDF``.

    The exact sum of a numeric column (integers: exact, as BIGINT or BIGINT
    UNSIGNED; floats: correctly rounded to a double), as
    :func:`mapmean.sum`: NULL without valid values (as SQL ``SUM``), NaN when a
    value is NaN or both infinities occur, ``±inf`` for infinities of one sign.

    Returns
    -------
    datafusion.AggregateUDF
        The Rust aggregate, imported through DataFusion's FFI.

    Examples
    --------
    >>> import datafusion, pyarrow as pa
    >>> from datafusion import col
    >>> from mapmean.datafusion import exact_sum
    >>> ctx = datafusion.SessionContext()
    >>> df = ctx.from_arrow(pa.table({"x": pa.array([1e8, 1.0, -1e8], pa.float32())}))
    >>> df.aggregate([], [exact_sum()(col("x")).alias("s")]).to_pydict()
    {'s': [1.0]}
    """
    return _aggregate("exact_sum")


def exact_var() -> _datafusion.AggregateUDF:
    """The ``exact_var`` aggregate (SQL alias ``exact_var_samp``): the sample variance.

    ``(n·Σx² - (Σx)²) / (n·(n - 1))`` computed exactly and correctly rounded
    once, as :func:`mapmean.variance` with ``ddof=1``: NULL for fewer than two
    valid values (as SQL ``var_samp``), NaN when any value is NaN or infinite.

    Returns
    -------
    datafusion.AggregateUDF
        The Rust aggregate, imported through DataFusion's FFI.

    Examples
    --------
    >>> import datafusion, pyarrow as pa
    >>> from datafusion import col
    >>> from mapmean.datafusion import exact_var
    >>> ctx = datafusion.SessionContext()
    >>> df = ctx.from_arrow(pa.table({"x": pa.array([3e7 + 2, 3e7 + 4], pa.float32())}))
    >>> df.aggregate([], [exact_var()(col("x")).alias("v")]).to_pydict()
    {'v': [2.0]}
    """
    return _aggregate("exact_var")


def exact_var_pop() -> _datafusion.AggregateUDF:
    """The ``exact_var_pop`` aggregate: the population variance.

    As :func:`exact_var` with the divisor ``n`` (:func:`mapmean.variance` with
    ``ddof=0``): NULL without valid values (as SQL ``var_pop``).

    Returns
    -------
    datafusion.AggregateUDF
        The Rust aggregate, imported through DataFusion's FFI.

    Examples
    --------
    >>> import datafusion, pyarrow as pa
    >>> from datafusion import col
    >>> from mapmean.datafusion import exact_var_pop
    >>> ctx = datafusion.SessionContext()
    >>> df = ctx.from_arrow(pa.table({"x": pa.array([3e7 + 2, 3e7 + 4], pa.float32())}))
    >>> df.aggregate([], [exact_var_pop()(col("x")).alias("v")]).to_pydict()
    {'v': [1.0]}
    """
    return _aggregate("exact_var_pop")


def exact_stddev() -> _datafusion.AggregateUDF:
    """The ``exact_stddev`` aggregate (SQL alias ``exact_stddev_samp``): the sample standard deviation.

    The correctly rounded square root of the exact sample variance (one
    rounding, not two), as :func:`mapmean.stddev` with ``ddof=1``; NULL and
    NaN as :func:`exact_var`.

    Returns
    -------
    datafusion.AggregateUDF
        The Rust aggregate, imported through DataFusion's FFI.

    Examples
    --------
    >>> import datafusion, pyarrow as pa
    >>> from datafusion import col
    >>> from mapmean.datafusion import exact_stddev
    >>> ctx = datafusion.SessionContext()
    >>> df = ctx.from_arrow(pa.table({"x": pa.array([1.0, 2.0], pa.float32())}))
    >>> df.aggregate([], [exact_stddev()(col("x")).alias("s")]).to_pydict()
    {'s': [0.7071067811865476]}
    """
    return _aggregate("exact_stddev")


def exact_stddev_pop() -> _datafusion.AggregateUDF:
    """The ``exact_stddev_pop`` aggregate: the population standard deviation.

    The correctly rounded square root of the exact population variance, as
    :func:`mapmean.stddev` with ``ddof=0``; NULL and NaN as
    :func:`exact_var_pop`.

    Returns
    -------
    datafusion.AggregateUDF
        The Rust aggregate, imported through DataFusion's FFI.

    Examples
    --------
    >>> import datafusion, pyarrow as pa
    >>> from datafusion import col
    >>> from mapmean.datafusion import exact_stddev_pop
    >>> ctx = datafusion.SessionContext()
    >>> df = ctx.from_arrow(pa.table({"x": pa.array([3e7 + 2, 3e7 + 6], pa.float32())}))
    >>> df.aggregate([], [exact_stddev_pop()(col("x")).alias("s")]).to_pydict()
    {'s': [2.0]}
    """
    return _aggregate("exact_stddev_pop")


def register(ctx: _datafusion.SessionContext) -> None:
    """Registers every aggregate of this module on ``ctx`` for SQL.

    ``exact_mean``, ``exact_sum``, ``exact_var`` (and its alias
    ``exact_var_samp``), ``exact_var_pop``, ``exact_stddev`` (and
    ``exact_stddev_samp``) and ``exact_stddev_pop``.

    Parameters
    ----------
    ctx : datafusion.SessionContext
        The context whose SQL should know the aggregates.

    Examples
    --------
    >>> import datafusion
    >>> import mapmean.datafusion
    >>> ctx = datafusion.SessionContext()
    >>> mapmean.datafusion.register(ctx)
    >>> ctx.sql("SELECT exact_mean(CAST(1.5 AS REAL)) AS m, exact_var_samp(CAST(1.5 AS REAL)) AS v").to_pydict()
    {'m': [1.5], 'v': [None]}
    """
    for aggregate in (exact_mean, exact_sum, exact_var, exact_var_pop, exact_stddev, exact_stddev_pop):
        ctx.register_udaf(aggregate())
