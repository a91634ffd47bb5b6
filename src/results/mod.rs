//! Results as Arrow: one [`RecordBatch`] row per column, with the counts and
//! the mean.

use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray, UInt64Array};
use arrow_schema::{DataType, Field, Schema, SchemaRef};

use crate::kernel::{MeanOptions, MeanState, MomentsState, VarianceOptions};

/// One result: a column's name (and source, per source) and its state.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultRow<S = MeanState> {
    /// The source, for per-source results.
    pub source: Option<String>,
    /// The column.
    pub column: String,
    /// Its state over everything read.
    pub state: S,
}

/// The schema of [`to_record_batch`]'s output: `[source: Utf8,] column:
/// Utf8, count: UInt64, null_count: UInt64, nan_count: UInt64, mean: Float64`
/// (`mean` is null where the mean is null; `source` only `with_source`).
pub fn schema(with_source: bool) -> SchemaRef {
    let source = Field::new("source", DataType::Utf8, false);
    Arc::new(Schema::new(
        with_source
            .then_some(source)
            .into_iter()
            .chain([
                Field::new("column", DataType::Utf8, false),
                Field::new("count", DataType::UInt64, false),
                Field::new("null_count", DataType::UInt64, false),
                Field::new("nan_count", DataType::UInt64, false),
                Field::new("mean", DataType::Float64, true),
            ])
            .collect::<Vec<_>>(),
    ))
}

/// The rows as an Arrow record batch (see [`schema`]; with a `source`
/// column when any row has a source), means finished under `options`.
///
/// # Example
///
/// ```
/// use arrow_array::{cast::AsArray, types::Float64Type, Float32Array};
/// use mapmean::{results::{to_record_batch, ResultRow}, MeanOptions, MeanState};
///
/// let mut state = MeanState::default();
/// state.update(&Float32Array::from(vec![Some(1.0), None]))?;
/// let row = ResultRow { source: None, column: "x".into(), state };
/// let batch = to_record_batch(&[row], &MeanOptions::default());
/// assert_eq!(batch.num_rows(), 1);
/// assert_eq!(batch.column(4).as_primitive::<Float64Type>().value(0), 1.0);
/// # Ok::<(), mapmean::Error>(())
/// ```
pub fn to_record_batch(rows: &[ResultRow], options: &MeanOptions) -> RecordBatch {
    let with_source = rows.iter().any(|r| r.source.is_some());
    let source =
        StringArray::from_iter_values(rows.iter().map(|r| r.source.as_deref().unwrap_or("")));
    let column = StringArray::from_iter_values(rows.iter().map(|r| r.column.as_str()));
    let count = UInt64Array::from_iter_values(rows.iter().map(|r| r.state.count));
    let nulls = UInt64Array::from_iter_values(rows.iter().map(|r| r.state.null_count));
    let nans = UInt64Array::from_iter_values(rows.iter().map(|r| r.state.nan_count));
    let mean: Float64Array = rows.iter().map(|r| r.state.finish_with(options)).collect();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(column),
        Arc::new(count),
        Arc::new(nulls),
        Arc::new(nans),
        Arc::new(mean),
    ];
    let columns = with_source
        .then(|| Arc::new(source) as ArrayRef)
        .into_iter()
        .chain(columns)
        .collect();
    RecordBatch::try_new(schema(with_source), columns)
        .unwrap_or_else(|e| unreachable!("the columns match the schema by construction: {e}"))
}

/// The schema of [`to_stats_record_batch`]'s output: `[source: Utf8,]
/// column: Utf8, count: UInt64, null_count: UInt64, nan_count: UInt64, sum,
/// mean, variance, stddev: Float64` (each null where pyarrow's rules give
/// null; `source` only `with_source`).
pub fn stats_schema(with_source: bool) -> SchemaRef {
    let source = Field::new("source", DataType::Utf8, false);
    let float = |name: &str| Field::new(name, DataType::Float64, true);
    Arc::new(Schema::new(
        with_source
            .then_some(source)
            .into_iter()
            .chain([
                Field::new("column", DataType::Utf8, false),
                Field::new("count", DataType::UInt64, false),
                Field::new("null_count", DataType::UInt64, false),
                Field::new("nan_count", DataType::UInt64, false),
                float("sum"),
                float("mean"),
                float("variance"),
                float("stddev"),
            ])
            .collect::<Vec<_>>(),
    ))
}

/// Rows of [`MomentsState`]s as an Arrow record batch (see
/// [`stats_schema`]): the sum and mean under `options`, the variance and
/// standard deviation under `variance`, each correctly rounded.
///
/// # Example
///
/// ```
/// use arrow_array::{cast::AsArray, types::Float64Type, Float32Array};
/// use mapmean::results::{to_stats_record_batch, ResultRow};
/// use mapmean::{MeanOptions, MomentsState, VarianceOptions};
///
/// let mut state = MomentsState::default();
/// state.update(&Float32Array::from(vec![1.0, 2.0]))?;
/// let row = ResultRow { source: None, column: "x".into(), state };
/// let batch = to_stats_record_batch(&[row], &MeanOptions::default(), &VarianceOptions::new(1));
/// assert_eq!(batch.column(6).as_primitive::<Float64Type>().value(0), 0.5);
/// # Ok::<(), mapmean::Error>(())
/// ```
pub fn to_stats_record_batch(
    rows: &[ResultRow<MomentsState>],
    options: &MeanOptions,
    variance: &VarianceOptions,
) -> RecordBatch {
    let with_source = rows.iter().any(|r| r.source.is_some());
    let source =
        StringArray::from_iter_values(rows.iter().map(|r| r.source.as_deref().unwrap_or("")));
    let column = StringArray::from_iter_values(rows.iter().map(|r| r.column.as_str()));
    let count = UInt64Array::from_iter_values(rows.iter().map(|r| r.state.mean.count));
    let nulls = UInt64Array::from_iter_values(rows.iter().map(|r| r.state.mean.null_count));
    let nans = UInt64Array::from_iter_values(rows.iter().map(|r| r.state.mean.nan_count));
    let sum: Float64Array = rows.iter().map(|r| r.state.sum_with(options)).collect();
    let mean: Float64Array = rows.iter().map(|r| r.state.mean_with(options)).collect();
    let var: Float64Array = rows
        .iter()
        .map(|r| r.state.variance_with(variance))
        .collect();
    let std: Float64Array = rows.iter().map(|r| r.state.stddev_with(variance)).collect();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(column),
        Arc::new(count),
        Arc::new(nulls),
        Arc::new(nans),
        Arc::new(sum),
        Arc::new(mean),
        Arc::new(var),
        Arc::new(std),
    ];
    let columns = with_source
        .then(|| Arc::new(source) as ArrayRef)
        .into_iter()
        .chain(columns)
        .collect();
    RecordBatch::try_new(stats_schema(with_source), columns)
        .unwrap_or_else(|e| unreachable!("the columns match the schema by construction: {e}"))
}
