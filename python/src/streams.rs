//! Arrow C streams (anything with `__arrow_c_stream__` or
//! `__arrow_c_array__`) consumed batch by batch: the batches are imported on
//! a reader thread while the engine computes on earlier ones
//! ([`mapmean::engine::states_of_stream`]), so memory stays a few batches
//! whatever the stream's length.

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef};
use arrow_buffer::NullBuffer;
use arrow_schema::{DataType, Field};
use mapmean::kernel::{is_numeric, ExactState};
use mapmean::Error;

/// How the column is found in each imported array.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Pick {
    /// The array itself (a numeric array or chunked array).
    Whole,
    /// A child of a struct array (a column of a record batch or table).
    Child(usize),
}

/// The name that errors give Arrow objects handed in from Python.
pub(crate) const SOURCE: &str = "Arrow data";

/// Which array of each batch holds the column `wanted`, and its type.
pub(crate) fn pick(field: &Field, wanted: Option<&str>) -> mapmean::Result<(Pick, DataType)> {
    match field.data_type() {
        DataType::Struct(fields) => {
            let schema = arrow_schema::Schema::new(fields.clone());
            let index = mapmean::column::resolve_column(&schema, wanted, SOURCE)?;
            Ok((Pick::Child(index), fields[index].data_type().clone()))
        }
        t if is_numeric(t) => match wanted.filter(|w| *w != field.name()) {
            Some(wanted) => Err(Error::ColumnNotFound {
                source_name: SOURCE.into(),
                column: wanted.into(),
                available: format!("{}: {t} (a single array)", field.name()),
            }),
            None => Ok((Pick::Whole, t.clone())),
        },
        other => Err(Error::WrongType {
            source_name: SOURCE.into(),
            column: field.name().clone(),
            data_type: other.to_string(),
        }),
    }
}

/// The picked column of one batch, with a struct's own nulls applied.
fn column_of(array: &ArrayRef, pick: Pick) -> mapmean::Result<ArrayRef> {
    match pick {
        Pick::Whole => Ok(array.clone()),
        Pick::Child(index) => {
            let array = array.as_struct_opt().ok_or_else(|| Error::WrongType {
                source_name: SOURCE.into(),
                column: "values".into(),
                data_type: array.data_type().to_string(),
            })?;
            let child = array.column(index);
            if array.nulls().is_none() {
                return Ok(child.clone());
            }
            let nulls = NullBuffer::union(array.nulls(), child.nulls());
            let data = child
                .to_data()
                .into_builder()
                .nulls(nulls)
                .build()
                .map_err(|e| Error::Stream {
                    source_name: SOURCE.into(),
                    message: e.to_string(),
                })?;
            Ok(arrow_array::make_array(data))
        }
    }
}

/// Every numeric column of arrays of type `field` (a struct's numeric
/// children, or the array itself), or the columns named in `wanted` (each
/// must exist and be numeric), with how to find each and its name.
pub(crate) fn pick_columns(
    field: &Field,
    wanted: Option<&[String]>,
) -> mapmean::Result<Vec<(Pick, DataType, String)>> {
    let names: Vec<Option<&str>> = match (wanted, field.data_type()) {
        (Some(wanted), _) => wanted.iter().map(|w| Some(w.as_str())).collect(),
        (None, DataType::Struct(fields)) => fields
            .iter()
            .filter(|f| is_numeric(f.data_type()))
            .map(|f| Some(f.name().as_str()))
            .collect(),
        (None, _) => vec![None],
    };
    names
        .into_iter()
        .map(|name| {
            let (pick, data_type) = pick(field, name)?;
            let name = match (pick, field.data_type()) {
                (Pick::Child(i), DataType::Struct(fields)) => fields[i].name().clone(),
                _ => field.name().clone(),
            };
            Ok((pick, data_type, name))
        })
        .collect()
}

/// The states of several columns of a stream, in one pass over it.
pub(crate) fn states_of_arrays<I>(
    arrays: I,
    picks: Vec<Pick>,
    empties: Vec<ExactState>,
    threads: Option<usize>,
) -> mapmean::Result<Vec<ExactState>>
where
    I: Iterator<Item = Result<ArrayRef, arrow_schema::ArrowError>> + Send,
{
    let batches = arrays.map(move |array| {
        let array = array.map_err(|e| Error::Stream {
            source_name: SOURCE.into(),
            message: e.to_string(),
        })?;
        picks.iter().map(|&pick| column_of(&array, pick)).collect()
    });
    mapmean::engine::states_of_stream(empties, batches, threads)
}

/// The state of the picked column of every array the stream yields,
/// starting from `empty`, in bounded memory.
pub(crate) fn state_of_arrays<I>(
    arrays: I,
    pick: Pick,
    empty: ExactState,
    threads: Option<usize>,
) -> mapmean::Result<ExactState>
where
    I: Iterator<Item = Result<ArrayRef, arrow_schema::ArrowError>> + Send,
{
    let states = states_of_arrays(arrays, vec![pick], vec![empty.clone()], threads)?;
    Ok(states.into_iter().next().unwrap_or(empty))
}
