//! `mapmean_datafusion._mapmean_datafusion`: mapmean's Rust aggregates
//! (`exact_mean`, `exact_sum`, `exact_var`, `exact_var_pop`, `exact_stddev`,
//! `exact_stddev_pop`) handed to datafusion-python through DataFusion's FFI.
//!
//! `ExactAggregate(name)` exposes `__datafusion_aggregate_udf__`, which
//! returns a PyCapsule named `datafusion_aggregate_udf` around a
//! `FFI_AggregateUDF` (`mapmean::datafusion::ffi`): the ABI-stable form of
//! the Rust `AggregateUDF` that datafusion-python's
//! `AggregateUDF.from_pycapsule` (and `udaf`) consume. Every batch then runs
//! through the Rust accumulators; no Python code runs per batch or per group.
//!
//! This is a separate extension (and wheel) from `mapmean._mapmean`, so the
//! base wheel does not carry DataFusion.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

/// The capsule name datafusion-python checks.
const CAPSULE_NAME: &std::ffi::CStr = c"datafusion_aggregate_udf";

/// One of mapmean's aggregates, by SQL name, exportable to datafusion-python.
#[pyclass(name = "ExactAggregate", module = "mapmean_datafusion", frozen)]
struct ExactAggregate {
    /// The aggregate's SQL name (not an alias), as `ffi` resolved it.
    name: String,
}

#[pymethods]
impl ExactAggregate {
    /// The aggregate named `name` (or one of its aliases); a ValueError
    /// naming the known aggregates otherwise.
    #[new]
    fn new(name: &str) -> PyResult<Self> {
        let udf = mapmean::datafusion::aggregates()
            .into_iter()
            .find(|a| a.name() == name || a.aliases().iter().any(|alias| alias == name));
        match udf {
            Some(udf) => Ok(ExactAggregate {
                name: udf.name().to_string(),
            }),
            None => {
                let known: Vec<String> = mapmean::datafusion::aggregates()
                    .iter()
                    .map(|a| a.name().to_string())
                    .collect();
                Err(PyValueError::new_err(format!(
                    "mapmean has no aggregate {name:?}; its aggregates are {}",
                    known.join(", ")
                )))
            }
        }
    }

    /// The aggregate's SQL name.
    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    /// A PyCapsule holding the FFI form of the aggregate.
    fn __datafusion_aggregate_udf__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let ffi = mapmean::datafusion::ffi(&self.name)
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        PyCapsule::new_with_value(py, ffi, CAPSULE_NAME)
    }

    fn __repr__(&self) -> String {
        format!("ExactAggregate({:?})", self.name)
    }
}

#[pymodule]
fn _mapmean_datafusion(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<ExactAggregate>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
