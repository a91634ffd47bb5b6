//! Results as Arrow: one [`RecordBatch`] row per column, with its counts and the statistics asked for, each finished by the registry
//! ([`Statistic::finish`]).

use std::sync::Arc;

use arrow_array::{
    ArrayRef, Float16Array, Float32Array, Float64Array, Int16Array, Int32Array, Int64Array,
    Int8Array, RecordBatch, StringArray, UInt16Array, UInt32Array, UInt64Array, UInt8Array,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef};

use crate::error::{Error, Result};
use crate::kernel::{ExactState, Statistic, StatisticOptions, Value};

/// One result: a column's name (and source, per source) and its state.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultRow {
    /// The source, for per-source results.
    pub source: Option<String>,
    /// The column.
    pub column: String,
    /// Its state over everything read.
    pub state: ExactState,
}

/// The output type of `statistic` over `rows`: the statistic's type for the
/// rows' input types when they agree ([`Statistic::output_type`]); Float64
/// when the rows mix float types, or mix types for a Float64 statistic;
/// Utf8 (the exact values as text) when they mix integers with other types
/// for the sum, min or max.
///
/// # Example
///
/// ```
/// use arrow_schema::DataType;
/// use mapmean::{kernel::{ExactState, Parts, Statistic}, results::{output_type, ResultRow}};
/// let row = |t: &DataType| ResultRow { source: None, column: "x".into(), state: ExactState::new(t, Parts::ALL).unwrap() };
/// let rows = [row(&DataType::Int8), row(&DataType::Int64)];
/// assert_eq!(output_type(Statistic::Sum, &rows), DataType::Int64);
/// assert_eq!(output_type(Statistic::Max, &rows), DataType::Utf8);
/// assert_eq!(output_type(Statistic::Mean, &rows), DataType::Float64);
/// ```
pub fn output_type(statistic: Statistic, rows: &[ResultRow]) -> DataType {
    let mut types = rows
        .iter()
        .map(|r| statistic.output_type(r.state.input_type()));
    let Some(first) = types.next() else {
        return statistic.output_type(&DataType::Float64);
    };
    let mut all_float = first.is_floating();
    let mut same = true;
    for t in types {
        same &= t == first;
        all_float &= t.is_floating();
    }
    if same {
        first
    } else if all_float {
        DataType::Float64
    } else {
        DataType::Utf8
    }
}

/// The schema of [`to_record_batch`]'s output: `[source: Utf8,] column:
/// Utf8, count: UInt64, null_count: UInt64, nan_count: UInt64`,
/// then one nullable column per statistic, named after it, of
/// [`output_type`].
pub fn schema(with_source: bool, statistics: &[(Statistic, DataType)]) -> SchemaRef {
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
            ])
            .chain(
                statistics
                    .iter()
                    .map(|(s, t)| Field::new(s.name(), t.clone(), true)),
            )
            .collect::<Vec<_>>(),
    ))
}

/// A record batch of `rows`, one column per statistic finished under its
/// options. A source column is included when any row has a source.
///
/// A value that cannot be given, an integer sum outside Int64 / UInt64, is
/// null in the batch and reported in the list of problems returned beside
/// it (naming the column), so that the other statistics still show.
///
/// # Errors
///
/// [`Error::InvalidArgument`] if a row's state lacks what a statistic needs.
///
/// # Example
///
/// ```
/// use arrow_schema::DataType;
/// use mapmean::kernel::{ExactState, Parts, Statistic, StatisticOptions};
/// use mapmean::results::{to_record_batch, ResultRow};
/// let mut state = ExactState::new(&DataType::Int64, Parts::ALL)?;
/// state.update_values(&[i64::MAX, 1], None)?;
/// let rows = [ResultRow { source: None, column: "n".into(), state }];
/// let stats: Vec<_> = [Statistic::Mean, Statistic::Sum].map(|s| (s, StatisticOptions::for_statistic(s))).into();
/// let (batch, problems) = to_record_batch(&rows, &stats)?;
/// assert_eq!(batch.num_columns(), 6);
/// assert!(batch.column(5).is_null(0) && problems[0].contains("\"n\""));
/// # Ok::<(), mapmean::Error>(())
/// ```
pub fn to_record_batch(
    rows: &[ResultRow],
    statistics: &[(Statistic, StatisticOptions)],
) -> Result<(RecordBatch, Vec<String>)> {
    let with_source = rows.iter().any(|r| r.source.is_some());
    let source =
        StringArray::from_iter_values(rows.iter().map(|r| r.source.as_deref().unwrap_or("")));
    let column = StringArray::from_iter_values(rows.iter().map(|r| r.column.as_str()));
    let counts = |f: fn(&crate::kernel::Counts) -> u64| {
        Arc::new(UInt64Array::from_iter_values(
            rows.iter().map(|r| f(&r.state.counts())),
        )) as ArrayRef
    };
    let mut columns: Vec<ArrayRef> = with_source
        .then(|| Arc::new(source) as ArrayRef)
        .into_iter()
        .chain([
            Arc::new(column) as ArrayRef,
            counts(|c| c.count),
            counts(|c| c.null_count),
            counts(|c| c.nan_count),
        ])
        .collect();
    let mut problems = Vec::new();
    let mut typed = Vec::with_capacity(statistics.len());
    for &(statistic, options) in statistics {
        let data_type = output_type(statistic, rows);
        let mut values = Vec::with_capacity(rows.len());
        for row in rows {
            match statistic.finish(&row.state, &options) {
                Ok(v) => values.push(v),
                Err(e @ Error::SumOverflow { .. }) => {
                    problems.push(format!(
                        "column {:?}: {e}; its {} is null",
                        row.column,
                        statistic.name()
                    ));
                    values.push(Value::Null);
                }
                Err(e) => return Err(e),
            }
        }
        if data_type == DataType::Utf8 {
            // Mixed types as exact text, each value in its own type's shortest form.
            let text = values.iter().zip(rows).map(|(v, row)| {
                let narrow = matches!(statistic, Statistic::Min | Statistic::Max)
                    && matches!(
                        row.state.input_type(),
                        DataType::Float16 | DataType::Float32
                    );
                match *v {
                    Value::Float(x) if narrow => Some(format!("{:?}", x as f32)),
                    _ => text_of(v),
                }
            });
            columns.push(Arc::new(text.collect::<StringArray>()));
        } else {
            columns.push(values_to_array(&values, &data_type));
        }
        typed.push((statistic, data_type));
    }
    let batch = RecordBatch::try_new(schema(with_source, &typed), columns)
        .unwrap_or_else(|e| unreachable!("the columns match the schema by construction: {e}"));
    Ok((batch, problems))
}

/// Finished values as an array of `data_type` (one of the statistics'
/// output types, Float64 or Utf8); every value converts exactly.
pub fn values_to_array(values: &[Value], data_type: &DataType) -> ArrayRef {
    fn f(v: &Value) -> Option<f64> {
        v.as_f64()
    }
    fn i(v: &Value) -> Option<i64> {
        match *v {
            Value::Signed(x) => Some(x),
            _ => None,
        }
    }
    fn u(v: &Value) -> Option<u64> {
        match *v {
            Value::Unsigned(x) => Some(x),
            _ => None,
        }
    }
    let it = values.iter();
    match data_type {
        DataType::Float64 => Arc::new(it.map(f).collect::<Float64Array>()),
        DataType::Float32 => Arc::new(it.map(|v| f(v).map(|x| x as f32)).collect::<Float32Array>()),
        DataType::Float16 => Arc::new(
            it.map(|v| f(v).map(half::f16::from_f64))
                .collect::<Float16Array>(),
        ),
        DataType::Int64 => Arc::new(it.map(i).collect::<Int64Array>()),
        DataType::Int32 => Arc::new(it.map(|v| i(v).map(|x| x as i32)).collect::<Int32Array>()),
        DataType::Int16 => Arc::new(it.map(|v| i(v).map(|x| x as i16)).collect::<Int16Array>()),
        DataType::Int8 => Arc::new(it.map(|v| i(v).map(|x| x as i8)).collect::<Int8Array>()),
        DataType::UInt64 => Arc::new(it.map(u).collect::<UInt64Array>()),
        DataType::UInt32 => Arc::new(it.map(|v| u(v).map(|x| x as u32)).collect::<UInt32Array>()),
        DataType::UInt16 => Arc::new(it.map(|v| u(v).map(|x| x as u16)).collect::<UInt16Array>()),
        DataType::UInt8 => Arc::new(it.map(|v| u(v).map(|x| x as u8)).collect::<UInt8Array>()),
        _ => Arc::new(it.map(text_of).collect::<StringArray>()),
    }
}

/// A value as exact text (`f64`'s shortest round-trip form for floats).
fn text_of(v: &Value) -> Option<String> {
    match *v {
        Value::Null => None,
        Value::Float(x) => Some(format!("{x:?}")),
        Value::Signed(x) => Some(x.to_string()),
        Value::Unsigned(x) => Some(x.to_string()),
    }
}
