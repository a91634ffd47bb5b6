//! [`Column`]: the chunks of one numeric column, however they were decoded
//! (what the read layer hands the engine), its Float32 view
//! [`Float32Column`], and the rules for choosing a column by name.

use arrow_array::{ArrayRef, Float32Array};
use arrow_schema::{DataType, Schema};

use crate::error::{Error, Result};
use crate::kernel::is_numeric;

/// One named column of a numeric type as a list of arrays (record batches'
/// columns, chunks of a chunked array), each possibly sliced and with nulls,
/// all of the column's type.
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use arrow_array::{ArrayRef, Int64Array};
/// use arrow_schema::DataType;
/// use mapmean::column::Column;
/// let column = Column::new("n".into(), DataType::Int64, vec![Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef]);
/// assert_eq!((column.len(), column.data_type()), (2, &DataType::Int64));
/// ```
#[derive(Debug, Clone)]
pub struct Column {
    name: String,
    data_type: DataType,
    chunks: Vec<ArrayRef>,
}

impl Column {
    /// A column from its name, type and chunks (each of that type).
    pub fn new(name: String, data_type: DataType, chunks: Vec<ArrayRef>) -> Self {
        Column {
            name,
            data_type,
            chunks,
        }
    }

    /// The column's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The column's Arrow type.
    pub fn data_type(&self) -> &DataType {
        &self.data_type
    }

    /// The arrays that make up the column, in order.
    pub fn chunks(&self) -> &[ArrayRef] {
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

    /// The column as Float32 arrays (no copy).
    ///
    /// # Errors
    ///
    /// [`Error::WrongType`] naming `source_name` if the column is not
    /// Float32.
    pub fn into_float32(self, source_name: &str) -> Result<Float32Column> {
        let chunks = self
            .chunks
            .iter()
            .map(|array| {
                array
                    .as_any()
                    .downcast_ref::<Float32Array>()
                    .cloned()
                    .ok_or_else(|| Error::WrongType {
                        source_name: source_name.to_string(),
                        column: self.name.clone(),
                        data_type: self.data_type.to_string(),
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Float32Column::new(self.name, chunks))
    }
}

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
/// is `None`), which must be of a numeric type.
///
/// # Errors
///
/// [`Error::ColumnNotFound`] if there is no such column,
/// [`Error::AmbiguousColumn`] if `name` is `None` and there is not exactly one
/// column, and [`Error::WrongType`] if the column is not numeric. Each names
/// the source and lists the available columns or the type found.
///
/// # Example
///
/// ```
/// use arrow_schema::{DataType, Field, Schema};
/// use mapmean::column::resolve_column;
/// let schema = Schema::new(vec![
///     Field::new("a", DataType::Utf8, false),
///     Field::new("b", DataType::Float32, true),
/// ]);
/// assert_eq!(resolve_column(&schema, Some("b"), "data.arrow")?, 1);
/// let err = resolve_column(&schema, Some("a"), "data.arrow").unwrap_err();
/// assert!(err.to_string().contains("Utf8"));
/// # Ok::<(), mapmean::Error>(())
/// ```
pub fn resolve_column(schema: &Schema, name: Option<&str>, source_name: &str) -> Result<usize> {
    let index = match name {
        Some(name) => find_column(schema, name, source_name)?,
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
    if !is_numeric(field.data_type()) {
        return Err(Error::WrongType {
            source_name: source_name.to_string(),
            column: field.name().clone(),
            data_type: field.data_type().to_string(),
        });
    }
    Ok(index)
}


/// The index of the column `name` in `schema`, of any type (a group key,
/// say); `source_name` names the source in the error.
///
/// # Errors
///
/// [`Error::ColumnNotFound`], listing the columns there are.
///
/// # Example
///
/// ```
/// use arrow_schema::{DataType, Field, Schema};
/// use mapmean::column::find_column;
/// let schema = Schema::new(vec![Field::new("a", DataType::Utf8, true)]);
/// assert_eq!(find_column(&schema, "a", "data.arrow")?, 0);
/// assert!(find_column(&schema, "b", "data.arrow").is_err());
/// # Ok::<(), mapmean::Error>(())
/// ```
pub fn find_column(schema: &Schema, name: &str, source_name: &str) -> Result<usize> {
    schema
        .fields()
        .iter()
        .position(|f| f.name() == name)
        .ok_or_else(|| Error::ColumnNotFound {
            source_name: source_name.to_string(),
            column: name.to_string(),
            available: describe_columns(schema),
        })
}

/// A projection of the schema indices `indices` (which may repeat, in any
/// order) as decoders take it — sorted, each once — and where each asked-for
/// index lies in the decoded batch.
pub(crate) fn projection(indices: &[usize]) -> (Vec<usize>, Vec<usize>) {
    let mut sorted = indices.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let positions = indices
        .iter()
        .map(|c| sorted.binary_search(c).unwrap_or_default())
        .collect();
    (sorted, positions)
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
