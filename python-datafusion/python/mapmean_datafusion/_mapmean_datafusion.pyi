"""Type stubs of the compiled DataFusion glue."""

__version__: str

class ExactMean:
    """mapmean's ``exact_mean`` aggregate, exportable to datafusion-python."""

    def __init__(self) -> None: ...
    def __datafusion_aggregate_udf__(self) -> object:
        """A PyCapsule named ``datafusion_aggregate_udf`` (DataFusion's FFI)."""
