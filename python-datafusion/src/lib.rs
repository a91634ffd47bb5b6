//! `mapmean_datafusion._mapmean_datafusion`: mapmean's Rust `exact_mean`
//! aggregate handed to datafusion-python through DataFusion's FFI.
//!
//! `ExactMean` exposes `__datafusion_aggregate_udf__`, which returns a
//! PyCapsule named `datafusion_aggregate_udf` around a
//! `FFI_AggregateUDF` (`mapmean::datafusion::exact_mean_ffi`): the ABI-stable form of the Rust `AggregateUDF` that
//! datafusion-python's `AggregateUDF.from_pycapsule` (and `udaf`) consume.
//! Every batch then runs through the Rust accumulators; no Python code runs
//! per batch or per group.
//!
//! This is a separate extension (and wheel) from `mapmean._mapmean`, so the
//! base wheel does not carry DataFusion.

use pyo3::prelude::*;
use pyo3::types::PyCapsule;

/// The capsule name datafusion-python checks.
const CAPSULE_NAME: &std::ffi::CStr = c"datafusion_aggregate_udf";

/// mapmean's `exact_mean` aggregate, exportable to datafusion-python.
#[pyclass(name = "ExactMean", module = "mapmean_datafusion", frozen)]
struct ExactMean;

#[pymethods]
impl ExactMean {
    #[new]
    fn new() -> Self {
        ExactMean
    }

    /// A PyCapsule holding the FFI form of the `exact_mean` aggregate.
    fn __datafusion_aggregate_udf__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        PyCapsule::new_with_value(py, mapmean::datafusion::exact_mean_ffi(), CAPSULE_NAME)
    }

    fn __repr__(&self) -> &'static str {
        "ExactMean()"
    }
}

#[pymodule]
fn _mapmean_datafusion(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<ExactMean>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
