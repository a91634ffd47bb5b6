//! Arrow C streams (anything with `__arrow_c_stream__` or
//! `__arrow_c_array__`) consumed batch by batch: the batches are imported on
//! a reader thread while the engine computes on earlier ones
//! ([`mapmean::engine::accumulate_stream`]), so memory stays a few batches
//! whatever the stream's length.

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, Float32Array};
use arrow_buffer::NullBuffer;
use arrow_schema::{DataType, Field};
use mapmean::kernel::Accumulate;
use mapmean::Error;

/// How the Float32 column is found in each imported array.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Pick {
    /// The arrays are the column.
    Whole,
    /// The arrays are structs (record batches): the child at this index.
    Child(usize),
}

/// The name the errors of imported data use.
pub(crate) const SOURCE: &str = "Arrow data";

/// Which column of the stream's `field` is `wanted`.
///
/// # Errors
///
/// As [`mapmean::column::resolve_column`] for structs; for a bare array,
/// [`Error::ColumnNotFound`] if another name is asked for and
/// [`Error::WrongType`] if it is not Float32.
pub(crate) fn pick(field: &Field, wanted: Option<&str>) -> mapmean::Result<Pick> {
    match field.data_type() {
        DataType::Struct(fields) => {
            let schema = arrow_schema::Schema::new(fields.clone());
            Ok(Pick::Child(mapmean::column::resolve_column(
                &schema, wanted, SOURCE,
            )?))
        }
        DataType::Float32 => match wanted.filter(|w| *w != field.name()) {
            Some(wanted) => Err(Error::ColumnNotFound {
                source_name: SOURCE.into(),
                column: wanted.into(),
                available: format!("{}: Float32 (a single array)", field.name()),
            }),
            None => Ok(Pick::Whole),
        },
        other => Err(Error::WrongType {
            source_name: SOURCE.into(),
            column: field.name().clone(),
            data_type: other.to_string(),
        }),
    }
}

/// The Float32 column of one imported array; a null struct slot nulls its
/// child too.
fn column_of(array: &ArrayRef, pick: Pick) -> mapmean::Result<Float32Array> {
    let wrong = |column: &str, data_type: &DataType| Error::WrongType {
        source_name: SOURCE.into(),
        column: column.to_string(),
        data_type: data_type.to_string(),
    };
    match pick {
        Pick::Whole => array
            .as_primitive_opt::<arrow_array::types::Float32Type>()
            .cloned()
            .ok_or_else(|| wrong("values", array.data_type())),
        Pick::Child(index) => {
            let array = array
                .as_struct_opt()
                .ok_or_else(|| wrong("values", array.data_type()))?;
            let child = array
                .column(index)
                .as_primitive_opt::<arrow_array::types::Float32Type>()
                .ok_or_else(|| wrong(&index.to_string(), array.column(index).data_type()))?;
            let nulls = NullBuffer::union(array.nulls(), child.nulls());
            Ok(Float32Array::new(child.values().clone(), nulls))
        }
    }
}

/// The state of the column `pick` of every array of `arrays`, in bounded
/// memory; an error part-way is the stream's error, with no state.
///
/// # Errors
///
/// The first import error ([`Error::Stream`]) or column error.
pub(crate) fn state_of_arrays<S, I>(
    arrays: I,
    pick: Pick,
    threads: Option<usize>,
) -> mapmean::Result<S>
where
    S: Accumulate,
    I: Iterator<Item = Result<ArrayRef, arrow_schema::ArrowError>> + Send,
{
    let batches = arrays.map(move |array| {
        let array = array.map_err(|e| Error::Stream {
            source_name: SOURCE.into(),
            message: e.to_string(),
        })?;
        Ok(vec![column_of(&array, pick)?])
    });
    let states = mapmean::engine::accumulate_stream(1, batches, threads)?;
    Ok(states.into_iter().next().unwrap_or_default())
}
