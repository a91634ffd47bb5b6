//! The `GROUP BY` accumulator of every numeric input type: DataFusion's
//! group index per row goes straight into the crate's grouped-state core,
//! the per-column store of [`crate::grouped`] that
//! [`GroupedStates`](crate::grouped::GroupedStates) uses too (one core, not
//! two: the same exact adds, the same merges, the same finishing).
//!
//! The store keeps one state per group in a flat vector indexed by the group
//! index, as DataFusion's own `avg` keeps its sums and counts: an 88-byte
//! [`MeanState`](crate::MeanState) behind a 16-byte window accumulator for
//! the mean or sum of Float16/Float32 values, an [`ExactState`] otherwise (the Float32
//! [`MomentsState`](crate::MomentsState) for a Float16/Float32 variance, wide
//! integer sums for Float64 and the integer types). DataFusion hands each
//! batch with a group index per row, so rows of one group are scattered:
//! each valid value goes straight into its group's exact sums through the
//! scalar reference path of each part (`kernel::reference`; for a Float32
//! mean or sum, a value within the window of binades the column chose adds
//! its shifted significand to its group's `i64` accumulator instead).
//! Sums are exact integers, so neither the order of rows nor the split into
//! batches and partitions changes a bit of any state.
//!
//! The partial state is one Binary column: each group's
//! [`ExactState::to_bytes`] — for Float32 input the version-1 form of
//! [`MeanState`](crate::MeanState) (96 bytes) or
//! [`MomentsState`](crate::MomentsState) (176 bytes), which the one-group
//! [`ExactAccumulator`](super::ExactAccumulator) writes and reads too; for
//! every other type the version-2 form that
//! [`ExactStateAccumulator`](super::ExactStateAccumulator) writes and reads.
//! `merge_batch` reads it back with [`ExactState::from_bytes`] (validated)
//! and checks every state of a batch before it merges any, so corrupt or
//! foreign bytes are an error that changes no group.
//!
//! Each group is finished by the registry ([`Statistic::finish`] with the
//! aggregate's SQL options), as [`ExactStateAccumulator`] finishes its one
//! state: the same value, bit for bit, for the same rows.
//!
//! [`Statistic::finish`]: crate::kernel::Statistic::finish
//! [`ExactStateAccumulator`]: super::ExactStateAccumulator

use std::mem::{size_of, size_of_val};
use std::sync::Arc;

use ::datafusion::arrow::compute::filter;
use ::datafusion::common::{exec_err, internal_err, Result};
use ::datafusion::logical_expr::{EmitTo, GroupsAccumulator};
use arrow_array::builder::BinaryBuilder;
use arrow_array::{Array, ArrayRef, BinaryArray, BooleanArray};
use arrow_schema::DataType;

use super::external;
use super::statistic::{Mean, Statistic};
use crate::grouped::{Aggregation, GroupedColumn};
use crate::kernel::{is_numeric, ExactState, Value};
use crate::results::values_to_array;

/// The [`GroupsAccumulator`] of an exact aggregate over a numeric column of
/// any type: the exact state of each group, finished into the
/// [`Statistic`] `T`.
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use arrow_array::{ArrayRef, Float32Array, Float64Array};
/// use datafusion::logical_expr::{EmitTo, GroupsAccumulator};
/// use mapmean::datafusion::{ExactGroupsAccumulator, Variance};
///
/// let values: ArrayRef = Arc::new(Float32Array::from(vec![Some(1e4 + 1.0), Some(7.0), None, Some(1e4 + 3.0)]));
/// let mut acc = ExactGroupsAccumulator::new(Variance::Sample);
/// acc.update_batch(&[values], &[0, 1, 2, 0], None, 3)?;
/// let variances = acc.evaluate(EmitTo::All)?;
/// // One value has no sample variance; no value has none either.
/// let expected = Float64Array::from(vec![Some(2.0), None, None]);
/// assert_eq!(variances.as_any().downcast_ref::<Float64Array>(), Some(&expected));
/// # Ok::<(), datafusion::error::DataFusionError>(())
/// ```
#[derive(Debug)]
pub struct ExactGroupsAccumulator<T: Statistic> {
    statistic: T,
    /// The aggregate's input type, fixed at planning (the result type
    /// follows from it).
    input: DataType,
    /// The registry's statistic and the SQL options each group is finished
    /// with.
    aggregation: Aggregation,
    /// The state of group `i` at index `i`.
    column: GroupedColumn,
    /// The group indices of the batch being added, as the column takes them
    /// (kept to reuse their memory).
    ids: Vec<u32>,
}

/// The [`GroupsAccumulator`] of `exact_mean`.
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use arrow_array::{ArrayRef, Float32Array, Float64Array};
/// use datafusion::logical_expr::{EmitTo, GroupsAccumulator};
/// use mapmean::datafusion::ExactMeanGroupsAccumulator;
///
/// let values: ArrayRef = Arc::new(Float32Array::from(vec![Some(3e37), Some(1.0), None, Some(0.75), Some(-3e37)]));
/// let mut acc = ExactMeanGroupsAccumulator::default();
/// acc.update_batch(&[values], &[0, 1, 2, 0, 0], None, 3)?;
/// let means = acc.evaluate(EmitTo::All)?;
/// let expected = Float64Array::from(vec![Some(0.25), Some(1.0), None]);
/// assert_eq!(means.as_any().downcast_ref::<Float64Array>(), Some(&expected));
/// # Ok::<(), datafusion::error::DataFusionError>(())
/// ```
pub type ExactMeanGroupsAccumulator = ExactGroupsAccumulator<Mean>;

impl<T: Statistic> ExactGroupsAccumulator<T> {
    /// An accumulator of `statistic` over Float32 values, with no groups
    /// yet (see [`ExactGroupsAccumulator::for_input`] for other types).
    ///
    /// # Example
    ///
    /// ```
    /// use mapmean::datafusion::{ExactGroupsAccumulator, Stddev};
    /// let acc = ExactGroupsAccumulator::new(Stddev::Population);
    /// assert_eq!((acc.num_groups(), acc.input_type()), (0, &arrow_schema::DataType::Float32));
    /// ```
    pub fn new(statistic: T) -> Self {
        Self::for_input(statistic, &DataType::Float32)
            .unwrap_or_else(|_| unreachable!("Float32 is a numeric type"))
    }

    /// An accumulator of `statistic` over values of `input` (any numeric
    /// type), with no groups yet.
    ///
    /// # Errors
    ///
    /// A DataFusion execution error if `input` is not numeric.
    ///
    /// # Example
    ///
    /// ```
    /// use std::sync::Arc;
    /// use arrow_array::{ArrayRef, Int64Array};
    /// use arrow_schema::DataType;
    /// use datafusion::logical_expr::{EmitTo, GroupsAccumulator};
    /// use mapmean::datafusion::{ExactGroupsAccumulator, Sum};
    ///
    /// let mut acc = ExactGroupsAccumulator::for_input(Sum, &DataType::Int64)?;
    /// let values: ArrayRef = Arc::new(Int64Array::from(vec![i64::MAX, 5, i64::MIN + 1]));
    /// acc.update_batch(&[values], &[0, 1, 0], None, 2)?;
    /// // An integer column's exact sum is BIGINT, as SQL's SUM.
    /// let sums = acc.evaluate(EmitTo::All)?;
    /// assert_eq!(sums.as_any().downcast_ref::<Int64Array>(), Some(&Int64Array::from(vec![0, 5])));
    /// assert!(ExactGroupsAccumulator::for_input(Sum, &DataType::Utf8).is_err());
    /// # Ok::<(), datafusion::error::DataFusionError>(())
    /// ```
    pub fn for_input(statistic: T, input: &DataType) -> Result<Self> {
        if !is_numeric(input) {
            return exec_err!("{} takes a numeric column, got {input}", statistic.name());
        }
        let (kernel_statistic, options) = statistic.registry();
        let aggregation =
            Aggregation::new(statistic.name(), kernel_statistic).with_options(options);
        let column = GroupedColumn::for_input(statistic.name(), input, kernel_statistic.needs())
            .map_err(external)?;
        Ok(ExactGroupsAccumulator {
            statistic,
            input: input.clone(),
            aggregation,
            column,
            ids: Vec::new(),
        })
    }

    /// The type of the values this accumulator takes.
    ///
    /// # Example
    ///
    /// ```
    /// use arrow_schema::DataType;
    /// use mapmean::datafusion::{ExactGroupsAccumulator, Mean};
    /// let acc = ExactGroupsAccumulator::for_input(Mean, &DataType::UInt8)?;
    /// assert_eq!(acc.input_type(), &DataType::UInt8);
    /// # Ok::<(), datafusion::error::DataFusionError>(())
    /// ```
    pub fn input_type(&self) -> &DataType {
        &self.input
    }

    /// The number of groups held (those not emitted yet).
    ///
    /// # Example
    ///
    /// ```
    /// use std::sync::Arc;
    /// use arrow_array::{ArrayRef, Float32Array};
    /// use datafusion::logical_expr::{EmitTo, GroupsAccumulator};
    /// use mapmean::datafusion::ExactMeanGroupsAccumulator;
    ///
    /// let mut acc = ExactMeanGroupsAccumulator::default();
    /// let values: ArrayRef = Arc::new(Float32Array::from(vec![1.0, 2.0]));
    /// acc.update_batch(&[values], &[0, 2], None, 3)?;
    /// assert_eq!(acc.num_groups(), 3);
    /// acc.evaluate(EmitTo::First(2))?;
    /// assert_eq!(acc.num_groups(), 1);
    /// # Ok::<(), datafusion::error::DataFusionError>(())
    /// ```
    pub fn num_groups(&self) -> usize {
        self.column.num_groups()
    }

    /// The exact state of group `group` so far, or `None` past the last
    /// group.
    ///
    /// # Example
    ///
    /// ```
    /// use std::sync::Arc;
    /// use arrow_array::{ArrayRef, Float64Array};
    /// use arrow_schema::DataType;
    /// use datafusion::logical_expr::GroupsAccumulator;
    /// use mapmean::datafusion::{ExactGroupsAccumulator, Sum};
    ///
    /// let mut acc = ExactGroupsAccumulator::for_input(Sum, &DataType::Float64)?;
    /// let values: ArrayRef = Arc::new(Float64Array::from(vec![Some(1.0), None]));
    /// acc.update_batch(&[values], &[1, 1], None, 2)?;
    /// let counts = acc.group_state(1).map(|s| s.counts());
    /// assert_eq!(counts.map(|c| (c.count, c.null_count)), Some((1, 1)));
    /// assert!(acc.group_state(2).is_none());
    /// # Ok::<(), datafusion::error::DataFusionError>(())
    /// ```
    pub fn group_state(&self, group: usize) -> Option<ExactState> {
        let g = u32::try_from(group).ok()?;
        (group < self.num_groups()).then(|| self.column.state(g))
    }

    /// The one argument of an update, which must be of the input type (a
    /// guard: planning gives no other).
    fn argument<'a>(&self, values: &'a [ArrayRef]) -> Result<&'a ArrayRef> {
        let name = self.statistic.name();
        match values {
            [array] if array.data_type() == &self.input => Ok(array),
            [array] => exec_err!(
                "{name} takes a {} column here, got {}",
                self.input,
                array.data_type()
            ),
            _ => exec_err!("{name} takes one argument, got {}", values.len()),
        }
    }

    /// Takes the groups `emit_to` asks for off the front of the column.
    fn take(&mut self, emit_to: EmitTo) -> Result<GroupedColumn> {
        let n = match emit_to {
            EmitTo::All => self.column.num_groups(),
            EmitTo::First(n) => n,
        };
        self.column.take_front(n).map_err(external)
    }
}

impl<T: Statistic + Default> Default for ExactGroupsAccumulator<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

/// DataFusion's group indices as the column's `u32` ids, into `ids`: each
/// must be below `groups` (DataFusion promises it; a broken promise is an
/// error, not a panic), and `groups` at most `2^32`.
fn group_ids(name: &str, indices: &[usize], groups: usize, ids: &mut Vec<u32>) -> Result<()> {
    ids.clear();
    if let Some(&past) = indices.iter().max().filter(|&&g| g >= groups) {
        return internal_err!("{name}: group index {past} of {groups} groups");
    }
    if u32::try_from(groups.saturating_sub(1)).is_err() {
        return exec_err!("{name}: {groups} groups, more than the 2^32 a column holds");
    }
    // Below `groups`, so within `u32`.
    ids.extend(indices.iter().map(|&g| g as u32));
    Ok(())
}

/// Whether row `i` passes the aggregate's `FILTER` (a null filter value
/// excludes the row, as SQL's WHERE does, and as arrow's `filter` kernel
/// reads it).
#[inline]
fn passes(filter: Option<&BooleanArray>, i: usize) -> bool {
    filter.is_none_or(|f| f.is_valid(i) && f.value(i))
}

/// Keeps the items of `v` (one per row) whose row `keep` keeps.
fn retain_rows<V>(v: &mut Vec<V>, keep: impl Fn(usize) -> bool) {
    let mut row = 0;
    v.retain(|_| {
        row += 1;
        keep(row - 1)
    });
}

/// The rows of `array` that pass `opt_filter`, and their ids (of `ids`,
/// one per row of `array`, filtered in place).
fn passing_rows(
    name: &str,
    array: &ArrayRef,
    opt_filter: Option<&BooleanArray>,
    ids: &mut Vec<u32>,
) -> Result<ArrayRef> {
    let Some(f) = opt_filter else {
        return Ok(Arc::clone(array));
    };
    if f.len() != array.len() {
        return exec_err!("{name}: a filter of {} rows for {}", f.len(), array.len());
    }
    retain_rows(ids, |row| passes(opt_filter, row));
    Ok(filter(array.as_ref(), f)?)
}

impl<T: Statistic> GroupsAccumulator for ExactGroupsAccumulator<T> {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        let name = self.statistic.name();
        let array = self.argument(values)?;
        if group_indices.len() != array.len() {
            return exec_err!(
                "{name}: {} group indices for {} values",
                group_indices.len(),
                array.len()
            );
        }
        group_ids(name, group_indices, total_num_groups, &mut self.ids)?;
        let rows = passing_rows(name, array, opt_filter, &mut self.ids)?;
        self.column
            .update_groups(&self.ids, rows.as_ref(), total_num_groups)
            .map_err(external)
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let groups = self.take(emit_to)?;
        let values = (0..groups.num_groups())
            .map(|g| groups.finish(g as u32, &self.aggregation))
            .collect::<crate::Result<Vec<Value>>>()
            .map_err(external)?;
        let output = self.aggregation.statistic.output_type(&self.input);
        Ok(values_to_array(&values, &output))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let groups = self.take(emit_to)?;
        let n = groups.num_groups();
        let mut bytes = BinaryBuilder::with_capacity(n, 0);
        for g in 0..n {
            bytes.append_value(groups.state(g as u32).to_bytes());
        }
        Ok(vec![Arc::new(bytes.finish())])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        let name = self.statistic.name();
        let partial = match values {
            [array] => match array.as_any().downcast_ref::<BinaryArray>() {
                Some(partial) => partial,
                None => {
                    return exec_err!(
                        "{name}: the partial state must be a Binary column of state bytes, got {}",
                        array.data_type()
                    )
                }
            },
            _ => {
                return exec_err!(
                    "{name}: the partial state is one column, got {}",
                    values.len()
                )
            }
        };
        if group_indices.len() != partial.len() {
            return exec_err!(
                "{name}: {} group indices for {} partial states",
                group_indices.len(),
                partial.len()
            );
        }
        group_ids(name, group_indices, total_num_groups, &mut self.ids)?;
        // Every state read (and validated) before any group changes.
        let states = partial
            .iter()
            .flatten()
            .map(ExactState::from_bytes)
            .collect::<crate::Result<Vec<_>>>()
            .map_err(external)?;
        if let Some(nulls) = partial.nulls().filter(|n| n.null_count() > 0) {
            retain_rows(&mut self.ids, |row| nulls.is_valid(row));
        }
        self.column
            .merge_groups(&self.ids, &states, total_num_groups)
            .map_err(external)
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let name = self.statistic.name();
        let array = self.argument(values)?;
        let rows = array.len();
        // Each row becomes the state of a one-row group: one null or one
        // valid value; a row the filter drops has no state (NULL, which
        // `merge_batch` skips).
        if u32::try_from(rows.saturating_sub(1)).is_err() {
            return exec_err!("{name}: {rows} rows, more than the 2^32 groups a column holds");
        }
        let mut ids: Vec<u32> = (0..rows).map(|row| row as u32).collect();
        let passing = passing_rows(name, array, opt_filter, &mut ids)?;
        let mut column =
            GroupedColumn::for_input(name, &self.input, self.aggregation.statistic.needs())
                .map_err(external)?;
        column
            .update_groups(&ids, passing.as_ref(), rows)
            .map_err(external)?;
        let mut bytes = BinaryBuilder::with_capacity(rows, 0);
        for row in 0..rows {
            if passes(opt_filter, row) {
                bytes.append_value(column.state(row as u32).to_bytes());
            } else {
                bytes.append_null();
            }
        }
        Ok(vec![Arc::new(bytes.finish())])
    }

    fn size(&self) -> usize {
        size_of_val(self)
            + self.column.heap_size()
            + self.ids.capacity() * size_of::<u32>()
            + self.aggregation.column.capacity()
    }
}

#[cfg(test)]
mod tests {
    use ::datafusion::arrow::compute::{cast, take};
    use ::datafusion::common::ScalarValue;
    use ::datafusion::logical_expr::Accumulator;
    use arrow_array::{
        Float32Array, Float64Array, Int16Array, Int32Array, Int64Array, Int8Array, UInt16Array,
        UInt32Array, UInt64Array, UInt8Array,
    };

    use super::*;
    use crate::datafusion::{ExactStateAccumulator, Stddev, Sum, Variance};

    fn values(v: Vec<Option<f32>>) -> ArrayRef {
        Arc::new(Float32Array::from(v))
    }

    fn means(array: &ArrayRef) -> Vec<Option<f64>> {
        array
            .as_any()
            .downcast_ref::<Float64Array>()
            .map(|a| a.iter().collect())
            .unwrap_or_default()
    }

    fn states<T: Statistic>(acc: &ExactGroupsAccumulator<T>) -> Vec<Option<ExactState>> {
        (0..acc.num_groups()).map(|g| acc.group_state(g)).collect()
    }

    #[test]
    fn groups_get_their_own_exact_means_and_nulls() -> Result<()> {
        let mut acc = ExactMeanGroupsAccumulator::default();
        let x = values(vec![
            Some(3e37),
            Some(2.0),
            None,
            Some(0.75),
            Some(-3e37),
            None,
        ]);
        acc.update_batch(&[x], &[0, 1, 2, 0, 0, 1], None, 3)?;
        assert_eq!(
            means(&acc.evaluate(EmitTo::All)?),
            vec![Some(0.25), Some(2.0), None]
        );
        assert_eq!(acc.num_groups(), 0, "EmitTo::All resets the state");
        Ok(())
    }

    #[test]
    fn filtered_rows_count_neither_as_values_nor_as_nulls() -> Result<()> {
        let mut acc = ExactMeanGroupsAccumulator::default();
        let x = values(vec![Some(1.0), Some(100.0), None, Some(3.0)]);
        let filter = BooleanArray::from(vec![Some(true), Some(false), None, Some(true)]);
        acc.update_batch(&[x], &[0, 0, 0, 0], Some(&filter), 1)?;
        let counts = acc.group_state(0).map(|s| s.counts());
        assert_eq!(counts.map(|c| (c.count, c.null_count)), Some((2, 0)));
        assert_eq!(means(&acc.evaluate(EmitTo::All)?), vec![Some(2.0)]);
        Ok(())
    }

    #[test]
    fn emitting_the_first_groups_keeps_the_rest() -> Result<()> {
        let mut acc = ExactMeanGroupsAccumulator::default();
        let x = values(vec![Some(1.0), Some(2.0), Some(4.0)]);
        acc.update_batch(&[x], &[0, 1, 2], None, 3)?;
        assert_eq!(means(&acc.evaluate(EmitTo::First(1))?), vec![Some(1.0)]);
        // The rest moved down: old group 2 is group 1 now, and a new group 2
        // starts empty.
        acc.update_batch(&[values(vec![Some(8.0), Some(5.0)])], &[1, 2], None, 3)?;
        assert_eq!(
            means(&acc.evaluate(EmitTo::All)?),
            vec![Some(2.0), Some(6.0), Some(5.0)]
        );
        assert!(acc.evaluate(EmitTo::First(1)).is_err(), "no group left");
        Ok(())
    }

    const DATA: [Option<f32>; 8] = [
        Some(3e37),
        Some(0.75),
        None,
        Some(-3e37),
        Some(f32::INFINITY),
        Some(1e-45),
        Some(1e4 + 0.5),
        Some(1e4 - 0.25),
    ];
    const GROUPS: [usize; 8] = [0, 0, 1, 0, 1, 2, 3, 3];

    fn through_bytes_equals_one_pass<T: Statistic>(statistic: T) -> Result<()> {
        let mut whole = ExactGroupsAccumulator::new(statistic);
        whole.update_batch(&[values(DATA.to_vec())], &GROUPS, None, 4)?;

        let mut merged = ExactGroupsAccumulator::new(statistic);
        for (part, part_groups) in DATA.chunks(3).zip(GROUPS.chunks(3)) {
            let mut partial = ExactGroupsAccumulator::new(statistic);
            let local = part_groups.iter().copied().max().unwrap_or(0) + 1;
            partial.update_batch(&[values(part.to_vec())], part_groups, None, local)?;
            let state = partial.state(EmitTo::All)?;
            let indices: Vec<usize> = (0..local).collect();
            merged.merge_batch(&state, &indices, 4)?;
        }
        assert_eq!(states(&merged), states(&whole));
        Ok(())
    }

    #[test]
    fn states_through_bytes_merge_to_the_one_pass_states() -> Result<()> {
        through_bytes_equals_one_pass(Mean)?;
        through_bytes_equals_one_pass(Sum)?;
        through_bytes_equals_one_pass(Variance::Sample)?;
        through_bytes_equals_one_pass(Stddev::Population)
    }

    #[test]
    fn the_float32_partial_state_is_the_version_1_byte_form() -> Result<()> {
        let x = values(vec![Some(1.5), None, Some(-2.0)]);
        let mut mean = ExactMeanGroupsAccumulator::default();
        mean.update_batch(std::slice::from_ref(&x), &[0, 0, 1], None, 2)?;
        let mut moments = ExactGroupsAccumulator::new(Variance::Population);
        moments.update_batch(&[x], &[0, 0, 1], None, 2)?;
        let (m0, v0) = (mean.group_state(0), moments.group_state(0));
        let mean_bytes = m0
            .and_then(|s| s.as_mean_state())
            .map(|s| s.to_bytes().to_vec());
        let moments_bytes = v0
            .and_then(|s| s.as_moments_state())
            .map(|s| s.to_bytes().to_vec());
        for (acc_bytes, want, len) in [
            (
                mean.state(EmitTo::First(1))?,
                mean_bytes,
                crate::MeanState::BYTES,
            ),
            (
                moments.state(EmitTo::First(1))?,
                moments_bytes,
                crate::MomentsState::BYTES,
            ),
        ] {
            let column = acc_bytes[0].as_any().downcast_ref::<BinaryArray>();
            let got = column.map(|c| c.value(0).to_vec());
            assert_eq!(got.as_ref().map(Vec::len), Some(len));
            assert_eq!(got, want);
        }
        Ok(())
    }

    #[test]
    fn row_by_row_moments_equal_the_block_kernel_s() -> Result<()> {
        let mut acc = ExactGroupsAccumulator::new(Variance::Sample);
        acc.update_batch(&[values(DATA.to_vec())], &GROUPS, None, 4)?;
        for group in 0..4 {
            let rows: Vec<Option<f32>> = DATA
                .iter()
                .zip(GROUPS)
                .filter(|(_, g)| *g == group)
                .map(|(x, _)| *x)
                .collect();
            let mut kernel = crate::MomentsState::default();
            kernel.update(&Float32Array::from(rows)).map_err(external)?;
            let state = acc.group_state(group).and_then(|s| s.as_moments_state());
            assert_eq!(state, Some(kernel), "group {group}");
        }
        Ok(())
    }

    fn converted_equals_updated<T: Statistic>(statistic: T, input: &DataType) -> Result<()> {
        let data = values(vec![Some(1.5), None, Some(-2.0), Some(f32::NAN), Some(3.0)]);
        let data = cast(&data, input)?;
        let filter =
            BooleanArray::from(vec![Some(true), Some(true), None, Some(false), Some(true)]);
        let groups = [1, 0, 1, 1, 0];
        let mut updated = ExactGroupsAccumulator::for_input(statistic, input)?;
        updated.update_batch(std::slice::from_ref(&data), &groups, Some(&filter), 2)?;

        let mut merged = ExactGroupsAccumulator::for_input(statistic, input)?;
        let state = merged.convert_to_state(&[data], Some(&filter))?;
        assert_eq!(
            state[0].null_count(),
            2,
            "rows the filter drops have no state"
        );
        merged.merge_batch(&state, &groups, 2)?;
        assert_eq!(states(&merged), states(&updated));
        Ok(())
    }

    #[test]
    fn converted_rows_merge_like_updates() -> Result<()> {
        converted_equals_updated(Mean, &DataType::Float32)?;
        converted_equals_updated(Stddev::Sample, &DataType::Float32)?;
        converted_equals_updated(Sum, &DataType::Int16)?;
        converted_equals_updated(Variance::Population, &DataType::Float64)
    }

    #[test]
    fn a_corrupt_partial_state_is_an_error_and_leaves_every_group_alone() -> Result<()> {
        let mut acc = ExactGroupsAccumulator::new(Variance::Population);
        acc.update_batch(&[values(vec![Some(2.0), Some(5.0)])], &[0, 1], None, 2)?;
        let before = states(&acc);
        let mut good = ExactGroupsAccumulator::new(Variance::Population);
        good.update_batch(&[values(vec![Some(1.0)])], &[0], None, 1)?;
        let good = good.state(EmitTo::All)?;
        let good = good[0]
            .as_any()
            .downcast_ref::<BinaryArray>()
            .map(|b| b.value(0).to_vec());
        let mut corrupt = crate::MomentsState::default().to_bytes();
        corrupt[24] = 1; // a NaN among no values
        let partial: ArrayRef = Arc::new(BinaryArray::from(vec![
            good.as_deref().unwrap_or_default(),
            &corrupt[..],
        ]));
        assert!(acc.merge_batch(&[partial], &[0, 1], 2).is_err());
        assert_eq!(states(&acc), before);

        // A mean state lacks the squares a variance needs: refused, not misread.
        let mut mean = ExactMeanGroupsAccumulator::default();
        mean.update_batch(&[values(vec![Some(1.0)])], &[0], None, 1)?;
        let err = acc
            .merge_batch(&mean.state(EmitTo::All)?, &[1], 2)
            .unwrap_err();
        assert!(err.to_string().contains("lacks"), "{err}");
        // So is a state of another kind of number.
        let mut ints = ExactGroupsAccumulator::for_input(Variance::Population, &DataType::Int32)?;
        ints.update_batch(&[Arc::new(Int32Array::from(vec![7]))], &[0], None, 1)?;
        assert!(acc.merge_batch(&ints.state(EmitTo::All)?, &[1], 2).is_err());
        assert_eq!(states(&acc), before);
        Ok(())
    }

    #[test]
    fn a_group_index_out_of_range_is_an_error() {
        let mut acc = ExactMeanGroupsAccumulator::default();
        assert!(acc
            .update_batch(&[values(vec![Some(1.0)])], &[5], None, 1)
            .is_err());
        // Group ids are `u32`: more groups are an error before any memory
        // is taken for them.
        let past_u32 = u32::MAX as usize + 1;
        assert!(acc
            .update_batch(&[values(vec![Some(1.0)])], &[past_u32], None, past_u32 + 1)
            .is_err());
        let state = ExactMeanGroupsAccumulator::default()
            .convert_to_state(&[values(vec![Some(1.0)])], None)
            .unwrap_or_default();
        assert!(acc.merge_batch(&state, &[1], 1).is_err());
        assert_eq!(acc.num_groups(), 0, "nothing was added");
    }

    #[test]
    fn values_of_another_type_than_planned_are_an_error() -> Result<()> {
        let mut acc = ExactGroupsAccumulator::for_input(Mean, &DataType::Int64)?;
        let err = acc
            .update_batch(&[Arc::new(Int32Array::from(vec![1]))], &[0], None, 1)
            .unwrap_err();
        assert!(err.to_string().contains("Int64"), "{err}");
        Ok(())
    }

    #[test]
    fn the_size_counts_every_group_s_state_and_its_boxed_sums() -> Result<()> {
        let mut acc = ExactGroupsAccumulator::for_input(Variance::Sample, &DataType::Float64)?;
        let empty = acc.size();
        let x: ArrayRef = Arc::new(Float64Array::from(vec![1.0; 1000]));
        let groups: Vec<usize> = (0..1000).collect();
        acc.update_batch(&[x], &groups, None, 1000)?;
        let one = acc
            .group_state(0)
            .map_or(0, |s| size_of::<ExactState>() + s.heap_size());
        assert!(
            one > size_of::<ExactState>(),
            "a Float64 state boxes its sums"
        );
        assert!(
            acc.size() >= empty + 1000 * one,
            "{} for 1000 groups of {one}",
            acc.size()
        );
        acc.evaluate(EmitTo::All)?;
        // What stays: the group indices' buffer (4 bytes a row).
        assert!(acc.size() < empty + 10 * one, "emitted groups are freed");
        Ok(())
    }

    /// 16 rows in 8 groups: group 0 cancels (`big, small, -big` and a tiny
    /// value; one more row dropped by the filter), group 1 holds NaN (the
    /// most negative integer), group 2 both infinities (`7, -7`), group 3
    /// only nulls, group 4 values and a null, group 5 one value, group 6
    /// `+inf` (`7`), group 7 only a row the filter drops.
    static ROW_GROUPS: [usize; 16] = [0, 0, 1, 0, 2, 3, 2, 4, 0, 0, 3, 5, 4, 6, 7, 4];
    const FILTER: [Option<bool>; 16] = [
        Some(true),
        Some(true),
        Some(true),
        Some(true),
        Some(true),
        Some(true),
        Some(true),
        Some(true),
        Some(false),
        Some(true),
        Some(true),
        Some(true),
        Some(true),
        Some(true),
        Some(false),
        None,
    ];

    fn floats(big: f64, tiny: f64, data_type: DataType) -> Result<ArrayRef> {
        let (nan, inf) = (f64::NAN, f64::INFINITY);
        let rows = Float64Array::from(vec![
            Some(big),
            Some(0.75),
            Some(nan),
            Some(-big),
            Some(inf),
            None,
            Some(-inf),
            Some(1.5),
            Some(3.0),
            Some(tiny),
            None,
            Some(2.25),
            None,
            Some(inf),
            Some(5.0),
            Some(2.0),
        ]);
        Ok(cast(&rows, &data_type)?)
    }

    macro_rules! signed {
        ($array:ident, $t:ty) => {
            Arc::new($array::from(vec![
                Some(<$t>::MAX),
                Some(3),
                Some(<$t>::MIN),
                Some(-<$t>::MAX),
                Some(7),
                None,
                Some(-7),
                Some(1),
                Some(5),
                Some(1),
                None,
                Some(2),
                None,
                Some(7),
                Some(5),
                Some(2),
            ])) as ArrayRef
        };
    }

    /// Group 0 sums to exactly the type's maximum.
    macro_rules! unsigned {
        ($array:ident, $t:ty) => {
            Arc::new($array::from(vec![
                Some(<$t>::MAX / 2),
                Some(0),
                Some(<$t>::MAX),
                Some(<$t>::MAX / 2),
                Some(7),
                None,
                Some(7),
                Some(1),
                Some(5),
                Some(1),
                None,
                Some(2),
                None,
                Some(7),
                Some(5),
                Some(2),
            ])) as ArrayRef
        };
    }

    /// A finished value's type and bits (NaN equals NaN, `0.0` is not `-0.0`).
    fn bits(value: &ScalarValue) -> (DataType, Option<u64>) {
        let bits = match value {
            ScalarValue::Float64(v) => v.map(f64::to_bits),
            ScalarValue::Int64(v) => v.map(|x| x as u64),
            ScalarValue::UInt64(v) => *v,
            _ => Some(u64::MAX), // no other type is a result: fails below
        };
        (value.data_type(), bits)
    }

    fn all_bits(arrays: &[ArrayRef]) -> Result<Vec<(DataType, Option<u64>)>> {
        let mut out = Vec::new();
        for array in arrays {
            for i in 0..array.len() {
                out.push(bits(&ScalarValue::try_from_array(array, i)?));
            }
        }
        Ok(out)
    }

    fn same_bits_as_one_accumulator_per_group<T: Statistic>(
        statistic: T,
        data: &ArrayRef,
    ) -> Result<()> {
        let input = data.data_type();
        let filter = BooleanArray::from(FILTER.to_vec());
        let groups = 8;
        let context = format!("{} of {input}", statistic.name());

        // The reference: one `ExactStateAccumulator` per group (what
        // DataFusion ran per group before), fed its rows that pass.
        let (kernel, options) = statistic.registry();
        let mut want = Vec::new();
        for g in 0..groups {
            let rows: Vec<u32> = (0..ROW_GROUPS.len())
                .filter(|&i| ROW_GROUPS[i] == g && passes(Some(&filter), i))
                .map(|i| i as u32)
                .collect();
            let mut one = ExactStateAccumulator::new(input, kernel, options)?;
            one.update_batch(&[take(data.as_ref(), &UInt32Array::from(rows), None)?])?;
            want.push(bits(&one.evaluate()?));
        }

        // One pass.
        let mut whole = ExactGroupsAccumulator::for_input(statistic, input)?;
        whole.update_batch(
            std::slice::from_ref(data),
            &ROW_GROUPS,
            Some(&filter),
            groups,
        )?;
        let whole_states = states(&whole);
        assert_eq!(
            all_bits(&[whole.evaluate(EmitTo::All)?])?,
            want,
            "{context}"
        );

        // Three partial aggregations merged through bytes: rows 0..6 updated,
        // rows 6..11 converted to row states, rows 11..16 updated and emitted
        // in two parts (the first 3 groups, then the rest moved down).
        let part = |start: usize, len: usize| {
            let filter = filter.slice(start, len);
            (
                data.slice(start, len),
                &ROW_GROUPS[start..start + len],
                filter,
            )
        };
        let mut merged = ExactGroupsAccumulator::for_input(statistic, input)?;
        let all: Vec<usize> = (0..groups).collect();

        let (rows, ids, f) = part(0, 6);
        let mut first = ExactGroupsAccumulator::for_input(statistic, input)?;
        first.update_batch(&[rows], ids, Some(&f), groups)?;
        merged.merge_batch(&first.state(EmitTo::All)?, &all, groups)?;

        let (rows, ids, f) = part(6, 5);
        merged.merge_batch(&merged.convert_to_state(&[rows], Some(&f))?, ids, groups)?;

        let (rows, ids, f) = part(11, 5);
        let mut last = ExactGroupsAccumulator::for_input(statistic, input)?;
        last.update_batch(&[rows], ids, Some(&f), groups)?;
        merged.merge_batch(&last.state(EmitTo::First(3))?, &all[..3], groups)?;
        merged.merge_batch(&last.state(EmitTo::All)?, &all[3..], groups)?;

        assert_eq!(states(&merged), whole_states, "{context}");
        let results = [
            merged.evaluate(EmitTo::First(5))?,
            merged.evaluate(EmitTo::All)?,
        ];
        assert_eq!(all_bits(&results)?, want, "{context}, merged");
        Ok(())
    }

    #[test]
    fn every_numeric_type_gives_the_bits_of_one_accumulator_per_group() -> Result<()> {
        let columns = [
            floats(60_000.0, 6e-8, DataType::Float16)?,
            floats(3e37, 1e-45, DataType::Float32)?,
            floats(1e308, 5e-324, DataType::Float64)?,
            signed!(Int8Array, i8),
            signed!(Int16Array, i16),
            signed!(Int32Array, i32),
            signed!(Int64Array, i64),
            unsigned!(UInt8Array, u8),
            unsigned!(UInt16Array, u16),
            unsigned!(UInt32Array, u32),
            unsigned!(UInt64Array, u64),
        ];
        for data in &columns {
            same_bits_as_one_accumulator_per_group(Mean, data)?;
            same_bits_as_one_accumulator_per_group(Sum, data)?;
            same_bits_as_one_accumulator_per_group(Variance::Sample, data)?;
            same_bits_as_one_accumulator_per_group(Variance::Population, data)?;
            same_bits_as_one_accumulator_per_group(Stddev::Sample, data)?;
            same_bits_as_one_accumulator_per_group(Stddev::Population, data)?;
        }
        Ok(())
    }

    #[test]
    fn an_integer_sum_that_does_not_fit_is_an_error_as_for_one_group() -> Result<()> {
        let data: ArrayRef = Arc::new(Int64Array::from(vec![i64::MAX, 1]));
        let mut acc = ExactGroupsAccumulator::for_input(Sum, &DataType::Int64)?;
        acc.update_batch(std::slice::from_ref(&data), &[0, 0], None, 1)?;
        assert!(acc.evaluate(EmitTo::All).is_err());
        let (kernel, options) = Sum.registry();
        let mut one = ExactStateAccumulator::new(&DataType::Int64, kernel, options)?;
        one.update_batch(&[data])?;
        assert!(one.evaluate().is_err());
        Ok(())
    }
}
