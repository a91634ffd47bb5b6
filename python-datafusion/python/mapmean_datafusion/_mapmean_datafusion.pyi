"""Type stubs of the compiled DataFusion glue."""

__version__: str

class ExactAggregate:
    """One of mapmean's aggregates, by SQL name, exportable to datafusion-python.

    ``name`` is ``exact_mean``, ``exact_sum``, ``exact_var`` (alias
    ``exact_var_samp``), ``exact_var_pop``, ``exact_stddev`` (alias
    ``exact_stddev_samp``) or ``exact_stddev_pop``; any other raises
    ``ValueError``.
    """

    def __init__(self, name: str) -> None: ...
    @property
    def name(self) -> str:
        """The aggregate's SQL name (an alias resolves to it)."""
    def __datafusion_aggregate_udf__(self) -> object:
        """A PyCapsule named ``datafusion_aggregate_udf`` (DataFusion's FFI)."""
