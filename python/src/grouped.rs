//! `mapmean.group_by`: the compiled half of grouped statistics
//! ([`mapmean::grouped`]). The Python side (`_api.py`) decides which kind of
//! source it has and calls one of these; each returns a ``pyarrow.Table`` of
//! one row per group, sorted by key: the aggregations' columns then the
//! keys, or (for ``states``) each value column's state bytes then the keys.

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{DataType, Schema};
use mapmean::grouped::{group_batches, Aggregation, GroupSpec, GroupedStates};
use mapmean::kernel::{Parts, Statistic, StatisticOptions};
use mapmean::Error;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3_arrow::input::AnyRecordBatch;
use pyo3_arrow::PyTable;

use crate::arguments;
use crate::errors::{compute, PyMapmeanResult};
use crate::streams::SOURCE;

/// One aggregation as Python passes it: column, statistic name,
/// `skip_nulls`, `min_count` (`None`: the statistic's default), `ddof`.
pub type PyAggregation = (String, String, bool, Option<i64>, i64);

/// What a call computes: the spec, and either the aggregations to finish
/// or (`states`) the state bytes of each value column.
pub struct Request {
    spec: GroupSpec,
    aggregations: Vec<Aggregation>,
    states: bool,
}

impl Request {
    /// The request of `keys` and `aggregations`; with `states` (`"mean"`,
    /// `"moments"` or `"all"`), the state bytes of the aggregations'
    /// columns with those parts instead of their results.
    pub fn new(
        keys: Vec<String>,
        aggregations: Vec<PyAggregation>,
        states: Option<&str>,
    ) -> PyResult<Self> {
        let aggregations = aggregations
            .into_iter()
            .map(|(column, name, skip_nulls, min_count, ddof)| {
                let statistic = Statistic::from_name(&name).ok_or_else(|| {
                    PyValueError::new_err(format!(
                        "unknown statistic {name:?} for column {column:?}: mapmean computes mean, sum, variance, stddev, min and max"
                    ))
                })?;
                let default = StatisticOptions::for_statistic(statistic).min_count as i64;
                let options = arguments::options(skip_nulls, min_count.unwrap_or(default), ddof)?;
                Ok(Aggregation::new(column, statistic).with_options(options))
            })
            .collect::<PyResult<Vec<_>>>()?;
        let spec = match states {
            None => GroupSpec::new(keys, &aggregations),
            Some(kind) => {
                let parts = match kind {
                    "mean" => Parts::default(),
                    "moments" => Statistic::Variance.needs(),
                    "all" => Parts::ALL,
                    other => {
                        return Err(PyValueError::new_err(format!(
                            "kind must be 'mean', 'moments' or 'all', got {other:?}"
                        )))
                    }
                };
                GroupSpec::with_parts(keys, aggregations.iter().map(|a| (a.column.clone(), parts)))
            }
        }
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(Request {
            spec,
            aggregations,
            states: states.is_some(),
        })
    }

    /// The spec to compute.
    pub fn spec(&self) -> &GroupSpec {
        &self.spec
    }

    /// The result of computed states.
    pub fn output(&self, states: &GroupedStates) -> mapmean::Result<RecordBatch> {
        if self.states {
            states.to_state_batch()
        } else {
            states.finish(&self.aggregations)
        }
    }
}

/// A result batch as a ``pyarrow.Table``.
pub fn to_table(py: Python<'_>, batch: RecordBatch) -> PyResult<Py<PyAny>> {
    let schema = batch.schema();
    Ok(PyTable::try_new(vec![batch], schema)?
        .into_pyarrow(py)?
        .unbind())
}

/// Runs one grouped call: checks the arguments, computes the states with
/// `states_of` (given the spec and the thread count) without the GIL, and
/// returns the result as a ``pyarrow.Table``. Every source kind goes
/// through here.
pub fn run(
    py: Python<'_>,
    keys: Vec<String>,
    aggregations: Vec<PyAggregation>,
    threads: Option<i64>,
    states: Option<&str>,
    states_of: impl FnOnce(&GroupSpec, Option<usize>) -> mapmean::Result<GroupedStates> + Send,
) -> PyMapmeanResult<Py<PyAny>> {
    let threads = arguments::threads(threads)?;
    let request = Request::new(keys, aggregations, states)?;
    let batch = compute(py, || request.output(&states_of(request.spec(), threads)?))?;
    Ok(to_table(py, batch)?)
}

/// Grouped statistics of an Arrow table, record batch or stream (anything
/// with `__arrow_c_stream__` or `__arrow_c_array__` whose arrays are record
/// batches), read batch by batch: memory grows with the groups, not the
/// rows.
#[pyfunction]
#[pyo3(signature = (source, keys, aggregations, threads, states=None))]
pub fn _group_arrow(
    py: Python<'_>,
    source: AnyRecordBatch,
    keys: Vec<String>,
    aggregations: Vec<PyAggregation>,
    threads: Option<i64>,
    states: Option<&str>,
) -> PyMapmeanResult<Py<PyAny>> {
    let reader = source.into_reader()?;
    let schema = reader.schema();
    let batches = reader.map(|batch| {
        batch.map_err(|e| Error::Stream {
            source_name: SOURCE.into(),
            message: e.to_string(),
        })
    });
    run(
        py,
        keys,
        aggregations,
        threads,
        states,
        move |spec, threads| group_batches(schema, batches, spec, SOURCE, threads),
    )
}

/// Merges tables of group states (from ``GroupBy.states``) and finishes
/// them into `aggregations`, or (with `states`) into one table of states.
#[pyfunction]
#[pyo3(signature = (tables, keys, aggregations, states=None))]
pub fn _merge_group_states(
    py: Python<'_>,
    tables: Vec<AnyRecordBatch>,
    keys: Vec<String>,
    aggregations: Vec<PyAggregation>,
    states: Option<&str>,
) -> PyMapmeanResult<Py<PyAny>> {
    let request = Request::new(keys, aggregations, states)?;
    let mut batches = Vec::new();
    for table in tables {
        let reader = table.into_reader()?;
        for batch in reader {
            batches.push(batch.map_err(|e| Error::Stream {
                source_name: "the table of group states".into(),
                message: e.to_string(),
            })?);
        }
    }
    let Some(first) = batches.first() else {
        return Err(PyValueError::new_err("no table of group states to merge").into());
    };
    let schema: Arc<Schema> = first.schema();
    let key_types = request
        .spec()
        .key_columns()
        .iter()
        .map(|k| {
            schema
                .field_with_name(k)
                .map(|f| f.data_type().clone())
                .map_err(|_| {
                    PyTypeError::new_err(format!(
                        "key column {k:?} is not in the table of group states (it has: {})",
                        schema
                            .fields()
                            .iter()
                            .map(|f| f.name().as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })
        })
        .collect::<PyResult<Vec<DataType>>>()?;
    let batch = compute(py, move || {
        let mut merged = GroupedStates::new(request.spec(), &key_types)?;
        for batch in &batches {
            merged.merge_state_batch(batch)?;
        }
        request.output(&merged)
    })?;
    Ok(to_table(py, batch)?)
}
