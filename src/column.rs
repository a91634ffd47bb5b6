//! [`Float32Column`]: the chunks of one Float32 column, however they were
//! decoded, and the rules for choosing a column by name.

use arrow_array::Float32Array;
use arrow_schema::{DataType, Schema};

use crate::error::{Error, Result};

/// One named Float32 column as a list of arrays (record batches' columns,
/// chunks of a chunked array), each possibly sliced and with nulls.
///
/// # Example
///
/// ```
/// use arrow_array::Float32Array;
/// use mapmean::Float32Column;
/// let column = Float32Column::new("x".into(), vec![Float32Array::from(vec![1.0, 2.0])]);
/// assert_eq!(column.len(), 2);
/// ```
#[derive(Debug, Clone)]
pub struct Float32Column {
    name: String,
    chunks: Vec<Float32Array>,
}

impl Float32Column {
    /// A column from its name and chunks.
    pub fn new(name: String, chunks: Vec<Float32Array>) -> Self {
        Float32Column { name, chunks }
    }

    /// The column's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The arrays that make up the column, in order.
    pub fn chunks(&self) -> &[Float32Array] {
        &self.chunks
    }

    /// Number of values (valid or null) over all chunks.
    pub fn len(&self) -> usize {
        self.chunks.iter().map(|c| c.len()).sum()
    }

    /// Whether the column has no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The index of column `name` in `schema` (or of its only column when `name`
/// is `None`), which must be Float32.
///
/// # Errors
///
/// [`Error::ColumnNotFound`] if there is no such column,
/// [`Error::AmbiguousColumn`] if `name` is `None` and there is not exactly one
/// column, and [`Error::WrongType`] if the column is not Float32. Each names
/// the source and lists the available columns or the type found.
///
/// # Example
///
/// ```
/// use arrow_schema::{DataType, Field, Schema};
/// use mapmean::column::resolve_column;
/// let schema = Schema::new(vec![
///     Field::new("a", DataType::Int64, false),
///     Field::new("b", DataType::Float32, true),
/// ]);
/// assert_eq!(resolve_column(&schema, Some("b"), "data.arrow")?, 1);
/// let err = resolve_column(&schema, Some("a"), "data.arrow").unwrap_err();
/// assert!(err.to_string().contains("Int64"));
/// # Ok::<(), mapmean::Error>(())
/// ```
pub fn resolve_column(schema: &Schema, name: Option<&str>, source_name: &str) -> Result<usize> {
    let index = match name {
        Some(name) => schema
            .fields()
            .iter()
            .position(|f| f.name() == name)
            .ok_or_else(|| Error::ColumnNotFound {
                source_name: source_name.to_string(),
                column: name.to_string(),
                available: describe_columns(schema),
            })?,
        None if schema.fields().len() == 1 => 0,
        None => {
            return Err(Error::AmbiguousColumn {
                source_name: source_name.to_string(),
                count: schema.fields().len(),
                available: describe_columns(schema),
            })
        }
    };
    let field = schema.field(index);
    if !is_float32(field.data_type()) {
        return Err(Error::WrongType {
            source_name: source_name.to_string(),
            column: field.name().clone(),
            data_type: field.data_type().to_string(),
        });
    }
    Ok(index)
}

/// Whether `data_type` is one mapmean computes on.
pub(crate) fn is_float32(data_type: &DataType) -> bool {
    *data_type == DataType::Float32
}

/// `"a: Int64, b: Float32"`, or `"none"`.
pub fn describe_columns(schema: &Schema) -> String {
    if schema.fields().is_empty() {
        return "none".to_string();
    }
    schema
        .fields()
        .iter()
        .map(|f| format!("{}: {}", f.name(), f.data_type()))
        .collect::<Vec<_>>()
        .join(", ")
}
