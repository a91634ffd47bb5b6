//! Grouped statistics: the exact state of every value column per distinct
//! key, `GROUP BY` outside SQL.
//!
//! [`GroupedStates`] is the one grouped-state core: key columns in, a dense
//! group index per row (`grouped::keys`), and one state per group and value
//! column: a Float16/Float32 mean's `MeanState` behind a window accumulator
//! (`grouped::means`), else an [`ExactState`] fed row by row through the
//! scalar reference path of each part (the same exact integers as the block
//! passes, so a group's state is bitwise the state of its rows computed any
//! other way). Sources are read
//! in parallel — IPC batches in slices of up to 2^20 rows, Parquet row groups
//! — each thread folding its share into its own [`GroupedStates`], which
//! then merge exactly. The result lists the groups sorted by key (ascending,
//! nulls last): the same table, bit for bit, for any thread count, batch
//! size or split of the data into files.

#[cfg(feature = "datafusion")]
mod datafusion_glue;
mod keys;
mod means;

use std::collections::HashSet;
use std::ffi::OsStr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float16Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, UInt16Type,
    UInt32Type, UInt64Type, UInt8Type,
};
use arrow_array::{Array, ArrayRef, ArrowPrimitiveType, BinaryArray, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use rayon::prelude::*;

use crate::column::{describe_columns, find_column};
use crate::decoded::Decoded;
use crate::engine::with_threads;
use crate::error::{catch_panic, Error, Result};
use crate::kernel::{
    is_numeric, Domain, ExactState, MeanOptions, Native, Parts, Statistic, StatisticOptions, Value,
};
use crate::results::values_to_array;

use keys::GroupKeys;
use means::Means;

/// Rows per task: a slice of a record batch that one thread folds in.
const TASK_ROWS: usize = 1 << 20;

/// Rows whose keys are interned, then whose values are added, at a time.
const BLOCK_ROWS: usize = 4096;

/// One statistic of one value column, per group: an output column named
/// `{column}_{statistic}` (`x_mean`), as `pyarrow.TableGroupBy.aggregate`
/// names them.
///
/// # Example
///
/// ```
/// use mapmean::grouped::Aggregation;
/// use mapmean::kernel::Statistic;
/// let a = Aggregation::new("x", Statistic::Stddev).with_ddof(1);
/// assert_eq!(a.output_name(), "x_stddev");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aggregation {
    /// The value column.
    pub column: String,
    /// The statistic.
    pub statistic: Statistic,
    /// How it is finished (pyarrow's defaults for the statistic unless set).
    pub options: StatisticOptions,
}

impl Aggregation {
    /// `statistic` of `column` with pyarrow's default options.
    pub fn new(column: impl Into<String>, statistic: Statistic) -> Self {
        Aggregation {
            column: column.into(),
            statistic,
            options: StatisticOptions::for_statistic(statistic),
        }
    }

    /// The same with delta degrees of freedom `ddof` (variance, stddev).
    pub fn with_ddof(mut self, ddof: i64) -> Self {
        self.options.ddof = ddof;
        self
    }

    /// The same with `options`.
    pub fn with_options(mut self, options: StatisticOptions) -> Self {
        self.options = options;
        self
    }

    /// The name of the output column: `{column}_{statistic}`.
    pub fn output_name(&self) -> String {
        format!("{}_{}", self.column, self.statistic.name())
    }
}

/// What a grouped computation reads: the key columns, and each value column
/// with the parts its statistics need (each column read once however many
/// statistics ask for it).
///
/// # Example
///
/// ```
/// use mapmean::grouped::{Aggregation, GroupSpec};
/// use mapmean::kernel::Statistic;
/// let spec = GroupSpec::new(
///     ["g"],
///     &[Aggregation::new("x", Statistic::Mean), Aggregation::new("x", Statistic::Variance)],
/// )?;
/// assert_eq!(spec.value_columns(), ["x"]);
/// # Ok::<(), mapmean::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSpec {
    keys: Vec<String>,
    values: Vec<(String, Parts)>,
}

impl GroupSpec {
    /// The spec of `aggregations` grouped by the columns `keys`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for no key, a repeated key, or a value
    /// column that is also a key.
    pub fn new<S: Into<String>>(
        keys: impl IntoIterator<Item = S>,
        aggregations: &[Aggregation],
    ) -> Result<Self> {
        let keys: Vec<String> = keys.into_iter().map(Into::into).collect();
        Self::with_parts(
            keys,
            aggregations
                .iter()
                .map(|a| (a.column.clone(), a.statistic.needs())),
        )
    }

    /// The spec of value columns with the parts given (for states that are
    /// finished later).
    ///
    /// # Errors
    ///
    /// As [`GroupSpec::new`].
    pub fn with_parts(
        keys: Vec<String>,
        values: impl IntoIterator<Item = (String, Parts)>,
    ) -> Result<Self> {
        if keys.is_empty() {
            return Err(Error::InvalidArgument(
                "group by needs at least one key column".into(),
            ));
        }
        let mut seen = HashSet::new();
        if let Some(repeated) = keys.iter().find(|k| !seen.insert(k.as_str())) {
            return Err(Error::InvalidArgument(format!(
                "key column {repeated:?} is given twice"
            )));
        }
        let mut merged: Vec<(String, Parts)> = Vec::new();
        for (column, parts) in values {
            if keys.contains(&column) {
                return Err(Error::InvalidArgument(format!(
                    "column {column:?} is a group key; its statistics per group are the key itself"
                )));
            }
            match merged.iter_mut().find(|(c, _)| *c == column) {
                Some((_, p)) => *p = p.union(parts),
                None => merged.push((column, parts)),
            }
        }
        Ok(GroupSpec {
            keys,
            values: merged,
        })
    }

    /// The key columns.
    pub fn key_columns(&self) -> &[String] {
        &self.keys
    }

    /// The value columns, each once.
    pub fn value_columns(&self) -> Vec<&str> {
        self.values.iter().map(|(c, _)| c.as_str()).collect()
    }

    /// The schema indices of the key columns, then of the value columns, in
    /// `schema` (of `source_name`, for errors).
    ///
    /// # Errors
    ///
    /// [`Error::ColumnNotFound`] for a missing column (listing those there
    /// are); [`Error::WrongType`] for a value column that is not numeric.
    pub fn resolve(&self, schema: &Schema, source_name: &str) -> Result<Vec<usize>> {
        let find = |name: &str| find_column(schema, name, source_name);
        let mut indices = Vec::with_capacity(self.keys.len() + self.values.len());
        for key in &self.keys {
            indices.push(find(key)?);
        }
        for (column, _) in &self.values {
            let index = find(column)?;
            let field = schema.field(index);
            if !is_numeric(field.data_type()) {
                return Err(Error::WrongType {
                    source_name: source_name.to_string(),
                    column: column.clone(),
                    data_type: field.data_type().to_string(),
                });
            }
            indices.push(index);
        }
        Ok(indices)
    }
}

/// The per-group states of one value column.
#[derive(Debug)]
pub(crate) struct GroupedColumn {
    name: String,
    /// The widest input type read so far (`None` before any batch).
    input: Option<DataType>,
    parts: Parts,
    store: Store,
}

/// A column's states, group by group: a Float16/Float32 mean (the common
/// case) keeps an 88-byte [`MeanState`](crate::MeanState) and a 16-byte
/// window accumulator in front of it ([`Means`]); everything else a whole
/// [`ExactState`].
#[derive(Debug)]
enum Store {
    Mean32(Means),
    Exact {
        empty: Option<Box<ExactState>>,
        states: Vec<ExactState>,
    },
}

impl Store {
    fn len(&self) -> usize {
        match self {
            Store::Mean32(m) => m.len(),
            Store::Exact { states, .. } => states.len(),
        }
    }
}

impl GroupedColumn {
    fn new(name: &str, parts: Parts) -> Self {
        GroupedColumn {
            name: name.to_string(),
            input: None,
            parts,
            store: Store::Exact {
                empty: None,
                states: Vec::new(),
            },
        }
    }

    fn empty_like(&self) -> Self {
        GroupedColumn {
            name: self.name.clone(),
            input: self.input.clone(),
            parts: self.parts,
            store: match &self.store {
                Store::Mean32(_) => Store::Mean32(Means::new(0)),
                Store::Exact { empty, .. } => Store::Exact {
                    empty: empty.clone(),
                    states: Vec::new(),
                },
            },
        }
    }

    /// The store for values of `data_type`, holding `groups` empty states.
    fn store_for(data_type: &DataType, parts: Parts, groups: usize) -> Result<Store> {
        if Domain::of(data_type) == Some(Domain::Float32) && parts == Parts::default() {
            return Ok(Store::Mean32(Means::new(groups)));
        }
        let empty = ExactState::new(data_type, parts)?;
        Ok(Store::Exact {
            states: vec![empty.clone(); groups],
            empty: Some(Box::new(empty)),
        })
    }

    /// Makes the column ready for values of `data_type`: the first type
    /// read sets its kind; a wider type of the same kind widens it (Float64
    /// after Float32 turns every state into a Float64 one, exactly).
    fn accept(&mut self, data_type: &DataType) -> Result<()> {
        let Some(input) = &self.input else {
            // No values yet: every state so far is empty.
            self.store = Self::store_for(data_type, self.parts, self.store.len())?;
            self.input = Some(data_type.clone());
            return Ok(());
        };
        let (have, new) = (Domain::of(input), Domain::of(data_type));
        if have == new {
            if data_type.primitive_width() > input.primitive_width() {
                self.input = Some(data_type.clone());
            }
            return Ok(());
        }
        match (have, new) {
            (Some(Domain::Float64), Some(Domain::Float32)) => Ok(()),
            (Some(Domain::Float32), Some(Domain::Float64)) => {
                let widened: Vec<ExactState> = match &self.store {
                    Store::Mean32(means) => (0..means.len())
                        .map(|g| ExactState::from_mean(means.get(g)).widened())
                        .collect(),
                    Store::Exact { states, .. } => states.iter().map(ExactState::widened).collect(),
                };
                self.store = Store::Exact {
                    empty: Some(Box::new(ExactState::new(data_type, self.parts)?)),
                    states: widened,
                };
                self.input = Some(data_type.clone());
                Ok(())
            }
            _ => Err(Error::TypeMismatch {
                left: format!("{input} (column {:?})", self.name),
                right: data_type.to_string(),
            }),
        }
    }

    fn resize(&mut self, groups: usize) -> Result<()> {
        match &mut self.store {
            Store::Mean32(means) => means.resize(groups),
            Store::Exact { empty, states } => {
                if states.len() < groups {
                    let empty = match empty {
                        Some(e) => (**e).clone(),
                        // No batch yet (a merge of states of no rows): any kind.
                        None => ExactState::new(&DataType::Float32, self.parts)?,
                    };
                    states.resize(groups, empty);
                }
            }
        }
        Ok(())
    }

    /// Adds the rows of `array` to the groups `ids` (one per row).
    fn update(&mut self, ids: &[u32], array: &dyn Array) -> Result<()> {
        self.accept(array.data_type())?;
        macro_rules! dispatch {
            ($f:ident, $($args:expr),*) => {
                match array.data_type() {
                    DataType::Float16 => $f($($args,)* array.as_primitive::<Float16Type>()),
                    DataType::Float32 => $f($($args,)* array.as_primitive::<Float32Type>()),
                    DataType::Float64 => $f($($args,)* array.as_primitive::<Float64Type>()),
                    DataType::Int8 => $f($($args,)* array.as_primitive::<Int8Type>()),
                    DataType::Int16 => $f($($args,)* array.as_primitive::<Int16Type>()),
                    DataType::Int32 => $f($($args,)* array.as_primitive::<Int32Type>()),
                    DataType::Int64 => $f($($args,)* array.as_primitive::<Int64Type>()),
                    DataType::UInt8 => $f($($args,)* array.as_primitive::<UInt8Type>()),
                    DataType::UInt16 => $f($($args,)* array.as_primitive::<UInt16Type>()),
                    DataType::UInt32 => $f($($args,)* array.as_primitive::<UInt32Type>()),
                    DataType::UInt64 => $f($($args,)* array.as_primitive::<UInt64Type>()),
                    other => {
                        return Err(Error::UnsupportedType {
                            data_type: other.to_string(),
                        })
                    }
                }
            };
        }
        match &mut self.store {
            Store::Mean32(means) => dispatch!(add_means, means, ids),
            Store::Exact { states, .. } => {
                dispatch!(add_states, states, ids);
                Ok(())
            }
        }
    }

    /// The state of group `g`, with the column's input type.
    pub(crate) fn state(&self, g: u32) -> ExactState {
        let mut state = match &self.store {
            Store::Mean32(means) => ExactState::from_mean(means.get(g as usize)),
            Store::Exact { states, .. } => states[g as usize].clone(),
        };
        if let Some(input) = &self.input {
            if Some(state.domain()) == Domain::of(input) {
                state.set_input(input);
            }
        }
        state
    }

    /// `aggregation` of group `g`: a Float32 mean or sum straight from its
    /// [`MeanState`](crate::MeanState) (what the registry computes, without building a state),
    /// anything else through the registry.
    pub(crate) fn finish(&self, g: u32, aggregation: &Aggregation) -> Result<Value> {
        if let Store::Mean32(means) = &self.store {
            let options = MeanOptions {
                skip_nulls: aggregation.options.skip_nulls,
                min_count: aggregation.options.min_count,
            };
            let m = &means.get(g as usize);
            let value = match aggregation.statistic {
                Statistic::Mean => Some(m.finish_with(&options)),
                Statistic::Sum => Some(m.sum_with(&options)),
                _ => None,
            };
            if let Some(value) = value {
                return Ok(value.map_or(Value::Null, Value::Float));
            }
        }
        aggregation
            .statistic
            .finish(&self.state(g), &aggregation.options)
    }

    /// Merges `state` (of the column's kind, after [`GroupedColumn::accept`]
    /// of its input type) into group `g`.
    fn merge_state(&mut self, g: u32, state: &ExactState) -> Result<()> {
        match &mut self.store {
            Store::Mean32(means) => match state.as_mean_state() {
                Some(m) => means.get_mut(g as usize).merge(&m),
                None => Err(Error::Internal(
                    "a Float32 mean column met another state".into(),
                )),
            },
            Store::Exact { states, .. } => states[g as usize].merge(state),
        }
    }

    /// Merges `other`'s states into the groups `ids` (one per group of
    /// `other`); groups at or past `fresh` are new here and take `other`'s
    /// state as it is.
    fn absorb(&mut self, other: GroupedColumn, ids: &[u32], fresh: usize) -> Result<()> {
        if let Some(t) = &other.input {
            self.accept(t)?;
        }
        let groups = ids.iter().map(|&g| g as usize + 1).max().unwrap_or(0);
        self.resize(groups)?;
        match (&mut self.store, other.store) {
            (Store::Mean32(mine), Store::Mean32(theirs)) => mine.absorb(theirs, ids, fresh)?,
            (Store::Exact { states: mine, .. }, Store::Exact { states: theirs, .. }) => {
                let domain = mine.first().map(ExactState::domain);
                for (s, &g) in theirs.into_iter().zip(ids) {
                    if g as usize >= fresh && Some(s.domain()) == domain {
                        mine[g as usize] = s;
                    } else {
                        mine[g as usize].merge(&s)?;
                    }
                }
            }
            (_, theirs) => {
                let other = GroupedColumn {
                    store: theirs,
                    ..other
                };
                for (i, &g) in ids.iter().enumerate() {
                    let state = other.state(i as u32);
                    self.merge_state(g, &state)?;
                }
            }
        }
        Ok(())
    }
}

/// Adds the rows of `array` (Float16 or Float32) to the mean states of the
/// groups `ids`.
fn add_means<T: ArrowPrimitiveType>(
    means: &mut Means,
    ids: &[u32],
    array: &arrow_array::PrimitiveArray<T>,
) -> Result<()>
where
    T::Native: Native,
{
    let values = array.values();
    let nulls = array.nulls();
    if let Some(floats) = <T::Native as Native>::as_f32s(values) {
        means.add(ids, floats, nulls);
        return Ok(());
    }
    // Float16 (exactly a Float32), converted a block at a time.
    const BLOCK: usize = 4096;
    let mut floats = Vec::with_capacity(BLOCK);
    for (i, (ids, values)) in ids.chunks(BLOCK).zip(values.chunks(BLOCK)).enumerate() {
        floats.clear();
        floats.extend(values.iter().map(|x| x.to_f64() as f32));
        let nulls = nulls.map(|n| n.slice(i * BLOCK, ids.len()));
        means.add(ids, &floats, nulls.as_ref());
    }
    Ok(())
}

fn add_states<T: ArrowPrimitiveType>(
    states: &mut [ExactState],
    ids: &[u32],
    array: &arrow_array::PrimitiveArray<T>,
) where
    T::Native: Native,
{
    let values = array.values();
    match array.nulls().filter(|n| n.null_count() > 0) {
        None => {
            for (&g, &x) in ids.iter().zip(values.iter()) {
                states[g as usize].add_one(x);
            }
        }
        Some(nulls) => {
            for (i, (&g, &x)) in ids.iter().zip(values.iter()).enumerate() {
                let state = &mut states[g as usize];
                if nulls.is_valid(i) {
                    state.add_one(x);
                } else {
                    state.add_nulls(1);
                }
            }
        }
    }
}

/// The exact states of value columns per group: the grouped-state core.
///
/// Made for a [`GroupSpec`] and the types of its key columns; fed batches of
/// key and value columns ([`GroupedStates::update`]); merged exactly with
/// other such states ([`GroupedStates::merge`], which is how threads, files
/// and processes combine); finished into one row per group, sorted by key
/// ([`GroupedStates::finish`]), or into each group's state bytes
/// ([`GroupedStates::to_state_batch`]).
///
/// Memory, per group: its key (an integer key: 32 bytes, plus a 4-byte slot
/// per value of the key range while that range is dense; other keys: their
/// row encoding and a hash-table entry; a string key: its bytes, an
/// 8-byte offset and a hash-table entry), and per value column 104 bytes
/// for a Float16/Float32 mean (an 88-byte `MeanState` and a 16-byte
/// accumulator), else a 232-byte [`ExactState`] (Float64 adds 320 bytes for
/// its 2,176-bit sum; the sum of squares 536 more). A million groups of a
/// Float32 mean take about 140 MB per worker thread; memory grows with the
/// groups, never with the rows.
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use arrow_array::{ArrayRef, Float32Array, Float64Array, StringArray};
/// use mapmean::grouped::{Aggregation, GroupSpec, GroupedStates};
/// use mapmean::kernel::Statistic;
///
/// let spec = GroupSpec::new(["g"], &[Aggregation::new("x", Statistic::Mean)])?;
/// let mut states = GroupedStates::new(&spec, &[arrow_schema::DataType::Utf8])?;
/// let g: ArrayRef = Arc::new(StringArray::from(vec![Some("b"), Some("a"), None, Some("b"), Some("b")]));
/// let x: ArrayRef = Arc::new(Float32Array::from(vec![3e37, 1.0, 2.0, 0.75, -3e37]));
/// states.update(&[g], &[x])?;
/// let result = states.finish(&[Aggregation::new("x", Statistic::Mean)])?;
/// let means = result.column(1).as_any().downcast_ref::<Float64Array>().unwrap();
/// assert_eq!(means.values().as_ref(), &[1.0, 0.25, 2.0]); // "a", "b", null
/// # Ok::<(), mapmean::Error>(())
/// ```
#[derive(Debug)]
pub struct GroupedStates {
    key_names: Vec<String>,
    key_types: Vec<DataType>,
    keys: GroupKeys,
    columns: Vec<GroupedColumn>,
    /// Group indices of the batch being added (kept to reuse its memory).
    ids: Vec<u32>,
}

impl GroupedStates {
    /// Empty states for `spec`, whose key columns have the types
    /// `key_types` (in the spec's order).
    ///
    /// # Errors
    ///
    /// [`Error::KeyType`] for a type that cannot be a key;
    /// [`Error::InvalidArgument`] if there are not as many types as keys.
    pub fn new(spec: &GroupSpec, key_types: &[DataType]) -> Result<Self> {
        if key_types.len() != spec.keys.len() {
            return Err(Error::InvalidArgument(format!(
                "{} key types for {} key columns",
                key_types.len(),
                spec.keys.len()
            )));
        }
        Ok(GroupedStates {
            key_names: spec.keys.clone(),
            key_types: key_types.to_vec(),
            keys: GroupKeys::new(&spec.keys, key_types)?,
            columns: spec
                .values
                .iter()
                .map(|(name, parts)| GroupedColumn::new(name, *parts))
                .collect(),
            ids: Vec::new(),
        })
    }

    /// Empty states for `spec` over a source with `schema` (named
    /// `source_name` in errors).
    ///
    /// # Errors
    ///
    /// As [`GroupSpec::resolve`] and [`GroupedStates::new`].
    pub fn for_schema(spec: &GroupSpec, schema: &Schema, source_name: &str) -> Result<Self> {
        let indices = spec.resolve(schema, source_name)?;
        let key_types: Vec<DataType> = indices[..spec.keys.len()]
            .iter()
            .map(|&i| schema.field(i).data_type().clone())
            .collect();
        GroupedStates::new(spec, &key_types)
    }

    /// Empty states like these: same keys (sharing their encoding), same
    /// value columns.
    pub fn empty_like(&self) -> Self {
        GroupedStates {
            key_names: self.key_names.clone(),
            key_types: self.key_types.clone(),
            keys: self.keys.empty_like(),
            columns: self.columns.iter().map(GroupedColumn::empty_like).collect(),
            ids: Vec::new(),
        }
    }

    /// The number of groups.
    pub fn num_groups(&self) -> usize {
        self.keys.len()
    }

    /// Checks that `keys` are of the key types; `source_name` names them.
    fn check_keys(&self, keys: &[ArrayRef], source_name: &str) -> Result<()> {
        if keys.len() != self.key_types.len() {
            return Err(Error::InvalidArgument(format!(
                "{} key columns given for {} keys",
                keys.len(),
                self.key_types.len()
            )));
        }
        for ((name, expected), array) in self.key_names.iter().zip(&self.key_types).zip(keys) {
            if array.data_type() != expected {
                return Err(Error::KeyType {
                    column: name.clone(),
                    message: format!(
                        "{source_name} holds it as {}, where other data holds {expected}; cast one of them first",
                        array.data_type()
                    ),
                });
            }
        }
        Ok(())
    }

    /// Adds a batch: the key columns (in the spec's order, of the key
    /// types) and the value columns (in the spec's order), all of one
    /// length.
    ///
    /// # Errors
    ///
    /// [`Error::KeyType`] for a key column of another type;
    /// [`Error::TypeMismatch`] for a value column of another kind of number
    /// than before (floats widen); [`Error::InvalidArgument`] for columns of
    /// different lengths or counts. These are checked before anything is
    /// added; no value is added on error.
    pub fn update(&mut self, keys: &[ArrayRef], values: &[ArrayRef]) -> Result<()> {
        self.update_from(keys, values, "the batch")
    }

    fn update_from(
        &mut self,
        keys: &[ArrayRef],
        values: &[ArrayRef],
        source_name: &str,
    ) -> Result<()> {
        self.check_keys(keys, source_name)?;
        if values.len() != self.columns.len() {
            return Err(Error::InvalidArgument(format!(
                "{} value columns given for {}",
                values.len(),
                self.columns.len()
            )));
        }
        let rows = keys[0].len();
        if keys.iter().chain(values).any(|a| a.len() != rows) {
            return Err(Error::InvalidArgument(
                "the key and value columns of a batch differ in length".into(),
            ));
        }
        // Type checks before any change.
        for (column, array) in self.columns.iter().zip(values) {
            let mut probe = column.empty_like();
            probe.accept(array.data_type())?;
        }
        let mut ids = std::mem::take(&mut self.ids);
        // A block of rows at a time, so that its group indices stay in the
        // first-level cache between interning them and adding the values.
        let mut result = Ok(());
        for start in (0..rows).step_by(BLOCK_ROWS) {
            let len = BLOCK_ROWS.min(rows - start);
            let slice = |arrays: &[ArrayRef]| -> Vec<ArrayRef> {
                if len == rows {
                    arrays.to_vec()
                } else {
                    arrays.iter().map(|a| a.slice(start, len)).collect()
                }
            };
            ids.clear();
            let interned = self.keys.intern(&slice(keys), &mut ids);
            // Every group has a state in every column, even after an error
            // (the only one possible here: past 2^32 - 1 groups).
            let groups = self.keys.len();
            for column in &mut self.columns {
                column.resize(groups)?;
            }
            result = interned.and_then(|()| {
                for (column, array) in self.columns.iter_mut().zip(slice(values)) {
                    column.update(&ids, array.as_ref())?;
                }
                Ok(())
            });
            if result.is_err() {
                break;
            }
        }
        self.ids = ids;
        result
    }

    /// Merges `other` (states of the same spec and key types) exactly.
    ///
    /// # Errors
    ///
    /// [`Error::TypeMismatch`] if a value column holds different kinds of
    /// number in the two; [`Error::StateOverflow`] past `2^64 - 1` rows in
    /// a group.
    pub fn merge(&mut self, other: GroupedStates) -> Result<()> {
        if self.key_types != other.key_types || self.columns.len() != other.columns.len() {
            return Err(Error::Internal(
                "merging grouped states of different specs".into(),
            ));
        }
        // Type checks before any change.
        for (column, theirs) in self.columns.iter().zip(&other.columns) {
            if let Some(t) = &theirs.input {
                column.empty_like().accept(t)?;
            }
        }
        let same_inputs = self
            .columns
            .iter()
            .zip(&other.columns)
            .all(|(mine, theirs)| {
                mine.name == theirs.name && (mine.input.is_none() || mine.input == theirs.input)
            });
        if self.num_groups() == 0 && same_inputs && self.key_names == other.key_names {
            // Nothing to merge into (the first part of a stream's batch).
            let ids = std::mem::take(&mut self.ids);
            *self = other;
            self.ids = ids;
            return Ok(());
        }
        let fresh = self.keys.len();
        let ids = self.keys.absorb(&other.keys)?;
        for (column, theirs) in self.columns.iter_mut().zip(other.columns) {
            column.absorb(theirs, &ids, fresh)?;
        }
        let groups = self.keys.len();
        for column in &mut self.columns {
            column.resize(groups)?;
        }
        Ok(())
    }

    /// The states of `parts` (each folded by one thread) merged into one:
    /// the smaller into the larger.
    fn merge_all(parts: Vec<GroupedStates>) -> Result<Option<GroupedStates>> {
        let mut parts = parts;
        parts.sort_by_key(|p| std::cmp::Reverse(p.num_groups()));
        let mut parts = parts.into_iter();
        let Some(mut merged) = parts.next() else {
            return Ok(None);
        };
        for part in parts {
            merged.merge(part)?;
        }
        Ok(Some(merged))
    }

    /// One row per group, sorted by key (ascending, nulls last): the key
    /// columns, then a column per aggregation (named as
    /// [`Aggregation::output_name`]), as `pyarrow.TableGroupBy.aggregate`
    /// lays them out (pyarrow 14 and later).
    ///
    /// # Errors
    ///
    /// [`Error::ColumnNotFound`] for an aggregation of a column these states
    /// do not hold; [`Error::InvalidArgument`] for a statistic the states
    /// were not computed for (a variance of mean-only states);
    /// [`Error::SumOverflow`] for an integer sum that does not fit its type.
    pub fn finish(&self, aggregations: &[Aggregation]) -> Result<RecordBatch> {
        let order = self.keys.sorted();
        let mut fields = Vec::new();
        let mut arrays = Vec::new();
        for aggregation in aggregations {
            let column = self.column(&aggregation.column)?;
            let input = column.input.clone().unwrap_or(DataType::Float64);
            let output_type = aggregation.statistic.output_type(&input);
            // Finished in group order (the states read one after the other),
            // then put in key order.
            let by_group = (0..self.num_groups() as u32)
                .into_par_iter()
                .map(|g| column.finish(g, aggregation))
                .collect::<Result<Vec<_>>>()?;
            let values: Vec<Value> = order.iter().map(|&g| by_group[g as usize]).collect();
            arrays.push(values_to_array(&values, &output_type));
            fields.push(Field::new(aggregation.output_name(), output_type, true));
        }
        self.with_keys(fields, arrays, &order)
    }

    /// Each group's state bytes ([`ExactState::to_bytes`]), sorted by key:
    /// the key columns, then a Binary column `{column}_state` per value
    /// column. [`GroupedStates::merge_state_batch`] reads it back.
    ///
    /// # Errors
    ///
    /// [`Error::Internal`] if the keys cannot be decoded.
    pub fn to_state_batch(&self) -> Result<RecordBatch> {
        let order = self.keys.sorted();
        let mut fields = Vec::new();
        let mut arrays: Vec<ArrayRef> = Vec::new();
        for column in &self.columns {
            let states: Vec<Vec<u8>> = order
                .par_iter()
                .map(|&g| column.state(g).to_bytes())
                .collect();
            let bytes = BinaryArray::from_iter_values(states);
            arrays.push(Arc::new(bytes));
            fields.push(Field::new(
                format!("{}_state", column.name),
                DataType::Binary,
                false,
            ));
        }
        self.with_keys(fields, arrays, &order)
    }

    /// Merges a batch written by [`GroupedStates::to_state_batch`] (by
    /// these states or any others of the same spec): its key columns by
    /// name, its `{column}_state` columns.
    ///
    /// # Errors
    ///
    /// [`Error::ColumnNotFound`] for a missing column; [`Error::KeyType`] for
    /// a key of another type; [`Error::InvalidState`] for bytes that are not
    /// a state; as [`GroupedStates::merge`].
    pub fn merge_state_batch(&mut self, batch: &RecordBatch) -> Result<()> {
        let schema = batch.schema();
        let find = |name: &str| -> Result<ArrayRef> {
            schema
                .index_of(name)
                .map(|i| batch.column(i).clone())
                .map_err(|_| Error::ColumnNotFound {
                    source_name: "the state batch".into(),
                    column: name.to_string(),
                    available: describe_columns(&schema),
                })
        };
        let keys = self
            .key_names
            .iter()
            .map(|k| find(k))
            .collect::<Result<Vec<_>>>()?;
        self.check_keys(&keys, "the state batch")?;
        let mut part = self.empty_like();
        let mut ids = Vec::with_capacity(batch.num_rows());
        part.keys.intern(&keys, &mut ids)?;
        let groups = part.keys.len();
        for column in &mut part.columns {
            let array = find(&format!("{}_state", column.name))?;
            let bytes = array
                .as_binary_opt::<i32>()
                .ok_or_else(|| Error::InvalidState {
                    reason: format!(
                        "column {}_state must be Binary, got {}",
                        column.name,
                        array.data_type()
                    ),
                })?;
            for (i, &g) in ids.iter().enumerate() {
                if bytes.is_null(i) {
                    continue;
                }
                let state = ExactState::from_bytes(bytes.value(i))?;
                if state.parts().covers(column.parts) {
                    column.accept(state.input_type())?;
                    column.resize(groups)?;
                    column.merge_state(g, &state)?;
                } else {
                    return Err(Error::InvalidState {
                        reason: format!(
                            "a state of column {:?} lacks parts these statistics need",
                            column.name
                        ),
                    });
                }
            }
            column.resize(groups)?;
        }
        self.merge(part)
    }

    fn column(&self, name: &str) -> Result<&GroupedColumn> {
        self.columns
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| Error::ColumnNotFound {
                source_name: "the grouped states".into(),
                column: name.to_string(),
                available: self
                    .columns
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    fn with_keys(
        &self,
        fields: Vec<Field>,
        arrays: Vec<ArrayRef>,
        order: &[u32],
    ) -> Result<RecordBatch> {
        let keys = self.keys.columns(order)?;
        // Dictionary-encoded keys come back as their values.
        let mut all_fields: Vec<Field> = self
            .key_names
            .iter()
            .zip(&keys)
            .map(|(name, array)| Field::new(name, array.data_type().clone(), true))
            .collect();
        all_fields.extend(fields);
        let mut all_arrays = keys;
        all_arrays.extend(arrays);
        let schema: SchemaRef = Arc::new(Schema::new(all_fields));
        RecordBatch::try_new(schema, all_arrays)
            .map_err(|e| Error::Internal(format!("building the grouped result: {e}")))
    }
}

/// The tasks a batch of `rows` rows is cut into: slices of up to
/// [`TASK_ROWS`].
fn slices(rows: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..rows)
        .step_by(TASK_ROWS)
        .map(move |start| (start, TASK_ROWS.min(rows - start)))
}

/// The grouped states of every batch of the sources `data` (opened files
/// or segments: Arrow IPC or Parquet, which may mix), computed on `threads`
/// threads (`None`: all cores) and merged exactly.
///
/// # Errors
///
/// As [`GroupSpec::resolve`] (naming the source), [`GroupedStates::update`]
/// and the sources' decoding ([`Error::Corrupt`], [`Error::Truncated`]);
/// [`Error::InvalidArgument`] for `threads` of `Some(0)` or no source.
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use arrow_array::{Float64Array, Int32Array, RecordBatch};
/// use mapmean::decoded::Decoded;
/// use mapmean::grouped::{group_data, Aggregation, GroupSpec};
/// use mapmean::ipc::{write::write_batches, IpcFormat};
/// use mapmean::kernel::Statistic;
///
/// let batch = RecordBatch::try_from_iter([
///     ("g", Arc::new(Int32Array::from(vec![2, 1, 2])) as _),
///     ("x", Arc::new(Float64Array::from(vec![1e308, 5.0, -1e308])) as _),
/// ])?;
/// let mut bytes = Vec::new();
/// write_batches(&mut bytes, "memory", &batch.schema(), &[batch], IpcFormat::File)?;
/// let data = Decoded::open(bytes.into(), "memory")?;
/// let aggregations = [Aggregation::new("x", Statistic::Sum)];
/// let spec = GroupSpec::new(["g"], &aggregations)?;
/// let result = group_data(&[data], &spec, None)?.finish(&aggregations)?;
/// let sums = result.column(1).as_any().downcast_ref::<Float64Array>().unwrap();
/// assert_eq!(sums.values().as_ref(), &[5.0, 0.0]); // g = 1, g = 2
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn group_data(
    data: &[Decoded],
    spec: &GroupSpec,
    threads: Option<usize>,
) -> Result<GroupedStates> {
    let Some(first) = data.first() else {
        return Err(Error::InvalidArgument("no source to group".into()));
    };
    let template = GroupedStates::for_schema(spec, first.schema(), source_name(first))?;
    let keys = spec.keys.len();
    // The tasks: slices of IPC batches (arrays over the mapped bytes), and
    // Parquet units (decoded by the thread that takes them).
    enum Task<'a> {
        Arrays(&'a str, Vec<ArrayRef>),
        Parquet(
            &'a crate::parquet::ParquetData,
            crate::parquet::Unit,
            Vec<usize>,
        ),
    }
    let mut tasks = Vec::new();
    for source in data {
        let name = source_name(source);
        let indices = spec.resolve(source.schema(), name)?;
        match source {
            Decoded::Ipc(ipc) => {
                for batch in ipc.columns_at(&indices)? {
                    let rows = batch.first().map_or(0, |a| a.len());
                    for (start, len) in slices(rows) {
                        tasks.push(Task::Arrays(
                            name,
                            batch.iter().map(|a| a.slice(start, len)).collect(),
                        ));
                    }
                }
            }
            Decoded::Parquet(parquet) => {
                for unit in parquet.units() {
                    tasks.push(Task::Parquet(parquet, unit, indices.clone()));
                }
            }
        }
    }
    let run = |states: &mut GroupedStates, task: &Task<'_>| -> Result<()> {
        match task {
            Task::Arrays(name, arrays) => {
                states.update_from(&arrays[..keys], &arrays[keys..], name)
            }
            Task::Parquet(parquet, unit, indices) => {
                for batch in parquet.batches(*unit, indices)? {
                    let batch = batch?;
                    states.update_from(&batch[..keys], &batch[keys..], parquet.source_name())?;
                }
                Ok(())
            }
        }
    };
    let states = with_threads(threads, || {
        catch_panic(|| by_workers(&template, tasks.len(), |states, i| run(states, &tasks[i])))
    })??;
    for source in data {
        if let Decoded::Parquet(parquet) = source {
            parquet.check_mapping()?;
        }
    }
    Ok(states)
}

/// Runs `tasks` tasks on the current pool: one worker per thread, each
/// taking the next task and folding it into its own states (so that there
/// are as many tables of groups as threads, not as tasks), then merged.
fn by_workers(
    template: &GroupedStates,
    tasks: usize,
    run: impl Fn(&mut GroupedStates, usize) -> Result<()> + Sync,
) -> Result<GroupedStates> {
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let workers = rayon::current_num_threads().clamp(1, tasks.max(1));
    let parts = (0..workers)
        .into_par_iter()
        .map(|_| {
            let mut states = template.empty_like();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= tasks || failed.load(Ordering::Relaxed) {
                    return Ok(states);
                }
                if let Err(e) = run(&mut states, i) {
                    failed.store(true, Ordering::Relaxed);
                    return Err(e);
                }
            }
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(GroupedStates::merge_all(parts)?.unwrap_or_else(|| template.empty_like()))
}

fn source_name(data: &Decoded) -> &str {
    match data {
        Decoded::Ipc(d) => d.source_name(),
        Decoded::Parquet(d) => d.source_name(),
    }
}

/// The grouped states of the record batches `batches` (any iterator of
/// them: an Arrow stream, say, read in memory that grows with the number of
/// groups, not of rows), each batch's rows folded in on `threads` threads.
/// `source_name` names the batches in errors.
///
/// # Errors
///
/// As [`GroupSpec::resolve`] and [`GroupedStates::update`]; the first error
/// of `batches` (no partial result).
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use arrow_array::{Float32Array, RecordBatch, StringArray};
/// use mapmean::grouped::{group_batches, Aggregation, GroupSpec};
/// use mapmean::kernel::Statistic;
///
/// let batch = RecordBatch::try_from_iter([
///     ("g", Arc::new(StringArray::from(vec!["a", "b", "a"])) as _),
///     ("x", Arc::new(Float32Array::from(vec![1.0, 2.0, 4.0])) as _),
/// ])?;
/// let aggregations = [Aggregation::new("x", Statistic::Mean)];
/// let spec = GroupSpec::new(["g"], &aggregations)?;
/// let states = group_batches(batch.schema(), [Ok(batch.clone()), Ok(batch)], &spec, "memory", Some(1))?;
/// assert_eq!(states.num_groups(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn group_batches(
    schema: SchemaRef,
    batches: impl IntoIterator<Item = Result<RecordBatch>>,
    spec: &GroupSpec,
    source_name: &str,
    threads: Option<usize>,
) -> Result<GroupedStates> {
    let indices = spec.resolve(&schema, source_name)?;
    let mut states = GroupedStates::for_schema(spec, &schema, source_name)?;
    let keys = spec.keys.len();
    for batch in batches {
        let batch = batch?;
        if batch.num_columns() != schema.fields().len() {
            return Err(Error::InvalidArgument(format!(
                "{source_name}: a batch of {} columns in a stream of {}",
                batch.num_columns(),
                schema.fields().len()
            )));
        }
        let columns: Vec<ArrayRef> = indices.iter().map(|&i| batch.column(i).clone()).collect();
        if batch.num_rows() <= TASK_ROWS || threads == Some(1) {
            states.update_from(&columns[..keys], &columns[keys..], source_name)?;
            continue;
        }
        let template = states.empty_like();
        let parts: Vec<(usize, usize)> = slices(batch.num_rows()).collect();
        let part = with_threads(threads, || {
            catch_panic(|| {
                by_workers(&template, parts.len(), |s, i| {
                    let (start, len) = parts[i];
                    let sliced: Vec<ArrayRef> =
                        columns.iter().map(|a| a.slice(start, len)).collect();
                    s.update_from(&sliced[..keys], &sliced[keys..], source_name)
                })
            })
        })??;
        states.merge(part)?;
    }
    Ok(states)
}

/// The grouped states of the files, directories, globs or `shm://`
/// segments `specs` (the dataset semantics of [`crate::Dataset::open`]),
/// on `threads` threads.
///
/// # Errors
///
/// As [`crate::Dataset::open`] and [`group_data`].
///
/// # Example
///
/// ```no_run
/// use mapmean::grouped::{group_sources, Aggregation, GroupSpec};
/// use mapmean::kernel::Statistic;
/// let aggregations = [Aggregation::new("fare", Statistic::Mean)];
/// let spec = GroupSpec::new(["vendor"], &aggregations)?;
/// let table = group_sources(["trips/"], &spec, None)?.finish(&aggregations)?;
/// # Ok::<(), mapmean::Error>(())
/// ```
pub fn group_sources<S: AsRef<OsStr>>(
    specs: impl IntoIterator<Item = S>,
    spec: &GroupSpec,
    threads: Option<usize>,
) -> Result<GroupedStates> {
    crate::Dataset::open(specs)?.group(spec, threads)
}

#[cfg(test)]
mod tests;
