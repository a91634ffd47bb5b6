//! The `GROUP BY` accumulator: one [`GroupState`] per group in a flat vector
//! indexed by DataFusion's group index, as DataFusion's own `avg` keeps its
//! sums and counts.
//!
//! DataFusion hands each batch with a group index per row, so rows of one
//! group are scattered: each valid value goes straight into its group's exact
//! sums ([`ExactSum::add_f32`](crate::ExactSum::add_f32) and, for the
//! variance, [`ExactSquareSum::add_f32`](crate::kernel::ExactSquareSum::add_f32):
//! exact and branch-light), which is the scalar reference path
//! (`kernel::reference`) applied row by row. Sums are exact integers, so
//! neither the order of rows nor the split into batches and partitions
//! changes a bit of any state.
//!
//! The per-row count increments are unchecked: a state that only takes rows
//! counts at most the rows DataFusion fed it (far below `2^64`). States read
//! from bytes, which could hold any count, only ever meet the states' checked
//! `merge` ([`MeanState::merge`](crate::MeanState::merge),
//! [`MomentsState::merge`](crate::MomentsState::merge)), after the bytes
//! passed `from_bytes`' validation.

use std::mem::{size_of, size_of_val};
use std::sync::Arc;

use ::datafusion::common::{exec_err, internal_datafusion_err, Result};
use ::datafusion::logical_expr::{EmitTo, GroupsAccumulator};
use arrow_array::{Array, ArrayRef, BinaryArray, BooleanArray, Float64Array};

use super::accumulator::{float32_argument, state_argument};
use super::external;
use super::statistic::sealed::State;
use super::statistic::{GroupState, Mean, Statistic};

/// The [`GroupsAccumulator`] of an exact aggregate: a state of the
/// [`Statistic`] `T` per group.
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
#[derive(Debug, Default, Clone)]
pub struct ExactGroupsAccumulator<T: Statistic> {
    statistic: T,
    /// The state of group `i` at index `i`.
    states: Vec<T::State>,
}

/// The [`GroupsAccumulator`] of `exact_mean`: a [`MeanState`](crate::MeanState)
/// per group.
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
    /// An accumulator of `statistic` with no groups yet.
    ///
    /// # Example
    ///
    /// ```
    /// use mapmean::datafusion::{ExactGroupsAccumulator, Stddev};
    /// assert!(ExactGroupsAccumulator::new(Stddev::Population).group_states().is_empty());
    /// ```
    pub fn new(statistic: T) -> Self {
        ExactGroupsAccumulator {
            statistic,
            states: Vec::new(),
        }
    }

    /// The states of the groups seen so far, by group index.
    ///
    /// # Example
    ///
    /// ```
    /// use std::sync::Arc;
    /// use arrow_array::{ArrayRef, Float32Array};
    /// use datafusion::logical_expr::GroupsAccumulator;
    /// use mapmean::datafusion::{ExactGroupsAccumulator, Sum};
    ///
    /// let mut acc = ExactGroupsAccumulator::new(Sum);
    /// let values: ArrayRef = Arc::new(Float32Array::from(vec![Some(1.0), None]));
    /// acc.update_batch(&[values], &[1, 1], None, 2)?;
    /// assert_eq!(acc.group_states()[1].count, 1);
    /// # Ok::<(), datafusion::error::DataFusionError>(())
    /// ```
    pub fn group_states(&self) -> &[T::State] {
        &self.states
    }
}

/// The state of group `group`: DataFusion promises indices below
/// `total_num_groups`; a broken promise is an error, not a panic.
#[inline]
fn group_state<'a, S: GroupState>(
    name: &str,
    states: &'a mut [S],
    group: usize,
) -> Result<&'a mut S> {
    let groups = states.len();
    states
        .get_mut(group)
        .ok_or_else(|| internal_datafusion_err!("{name}: group index {group} of {groups}"))
}

/// Whether row `i` passes the aggregate's `FILTER` (a null filter value
/// excludes the row, as SQL's WHERE does).
#[inline]
fn passes(filter: Option<&BooleanArray>, i: usize) -> bool {
    filter.is_none_or(|f| f.is_valid(i) && f.value(i))
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
        let values = float32_argument(name, values)?;
        if group_indices.len() != values.len() {
            return exec_err!(
                "{name}: {} group indices for {} values",
                group_indices.len(),
                values.len()
            );
        }
        self.states.resize(total_num_groups, T::State::default());
        let states = self.states.as_mut_slice();
        let rows = group_indices.iter().zip(values.values().iter());
        match (values.nulls().filter(|n| n.null_count() > 0), opt_filter) {
            // The common case: one exact add per row, no per-row tests.
            (None, None) => {
                for (&group, &x) in rows {
                    group_state(name, states, group)?.add_valid(x);
                }
            }
            (nulls, filter) => {
                for (i, (&group, &x)) in rows.enumerate() {
                    if !passes(filter, i) {
                        continue;
                    }
                    let state = group_state(name, states, group)?;
                    if nulls.is_some_and(|n| n.is_null(i)) {
                        state.add_null();
                    } else {
                        state.add_valid(x);
                    }
                }
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let states = emit_to.take_needed(&mut self.states);
        let results: Float64Array = states.iter().map(|s| self.statistic.finish(s)).collect();
        Ok(Arc::new(results))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let states = emit_to.take_needed(&mut self.states);
        let bytes = BinaryArray::from_iter_values(states.iter().map(State::to_bytes));
        Ok(vec![Arc::new(bytes)])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        let name = self.statistic.name();
        let partial = state_argument::<T::State>(name, values)?;
        if group_indices.len() != partial.len() {
            return exec_err!(
                "{name}: {} group indices for {} partial states",
                group_indices.len(),
                partial.len()
            );
        }
        self.states.resize(total_num_groups, T::State::default());
        for (i, &group) in group_indices.iter().enumerate() {
            if partial.is_valid(i) {
                group_state(name, &mut self.states, group)?
                    .merge_bytes(partial.value(i))
                    .map_err(external)?;
            }
        }
        Ok(())
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let values = float32_argument(self.statistic.name(), values)?;
        let nulls = values.nulls().filter(|n| n.null_count() > 0);
        // Each row becomes the state of a one-row group: empty when filtered
        // out, one null, or one valid value.
        let states = values.values().iter().enumerate().map(|(i, &x)| {
            let mut state = T::State::default();
            if passes(opt_filter, i) {
                if nulls.is_some_and(|n| n.is_null(i)) {
                    state.add_null();
                } else {
                    state.add_valid(x);
                }
            }
            state.to_bytes()
        });
        Ok(vec![Arc::new(BinaryArray::from_iter_values(states))])
    }

    fn size(&self) -> usize {
        self.states.capacity() * size_of::<T::State>() + size_of_val(self)
    }
}

#[cfg(test)]
mod tests {
    use arrow_array::Float32Array;

    use super::*;

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
        assert!(
            acc.group_states().is_empty(),
            "EmitTo::All resets the state"
        );
        Ok(())
    }

    #[test]
    fn filtered_rows_count_neither_as_values_nor_as_nulls() -> Result<()> {
        let mut acc = ExactMeanGroupsAccumulator::default();
        let x = values(vec![Some(1.0), Some(100.0), None, Some(3.0)]);
        let filter = BooleanArray::from(vec![Some(true), Some(false), None, Some(true)]);
        acc.update_batch(&[x], &[0, 0, 0, 0], Some(&filter), 1)?;
        let state = acc.group_states()[0];
        assert_eq!((state.count, state.null_count), (2, 0));
        assert_eq!(means(&acc.evaluate(EmitTo::All)?), vec![Some(2.0)]);
        Ok(())
    }

    #[test]
    fn emitting_the_first_groups_keeps_the_rest() -> Result<()> {
        let mut acc = ExactMeanGroupsAccumulator::default();
        let x = values(vec![Some(1.0), Some(2.0), Some(4.0)]);
        acc.update_batch(&[x], &[0, 1, 2], None, 3)?;
        assert_eq!(means(&acc.evaluate(EmitTo::First(1))?), vec![Some(1.0)]);
        assert_eq!(
            means(&acc.evaluate(EmitTo::All)?),
            vec![Some(2.0), Some(4.0)]
        );
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
        assert_eq!(merged.group_states(), whole.group_states());
        Ok(())
    }

    #[test]
    fn states_through_bytes_merge_to_the_one_pass_states() -> Result<()> {
        through_bytes_equals_one_pass(Mean)?;
        through_bytes_equals_one_pass(crate::datafusion::Sum)?;
        through_bytes_equals_one_pass(crate::datafusion::Variance::Sample)?;
        through_bytes_equals_one_pass(crate::datafusion::Stddev::Population)
    }

    #[test]
    fn row_by_row_moments_equal_the_block_kernel_s() -> Result<()> {
        let mut acc = ExactGroupsAccumulator::new(crate::datafusion::Variance::Sample);
        acc.update_batch(&[values(DATA.to_vec())], &GROUPS, None, 4)?;
        for (group, state) in acc.group_states().iter().enumerate() {
            let rows: Vec<Option<f32>> = DATA
                .iter()
                .zip(GROUPS)
                .filter(|(_, g)| *g == group)
                .map(|(x, _)| *x)
                .collect();
            let mut kernel = crate::MomentsState::default();
            kernel.update(&Float32Array::from(rows)).map_err(external)?;
            assert_eq!(state, &kernel, "group {group}");
        }
        Ok(())
    }

    fn converted_equals_updated<T: Statistic>(statistic: T) -> Result<()> {
        let data = values(vec![Some(1.5), None, Some(-2.0), Some(f32::NAN), Some(3.0)]);
        let filter = BooleanArray::from(vec![true, true, true, false, true]);
        let groups = [1, 0, 1, 1, 0];
        let mut updated = ExactGroupsAccumulator::new(statistic);
        updated.update_batch(std::slice::from_ref(&data), &groups, Some(&filter), 2)?;

        let mut merged = ExactGroupsAccumulator::new(statistic);
        let state = merged.convert_to_state(&[data], Some(&filter))?;
        merged.merge_batch(&state, &groups, 2)?;
        assert_eq!(merged.group_states(), updated.group_states());
        Ok(())
    }

    #[test]
    fn converted_rows_merge_like_updates() -> Result<()> {
        converted_equals_updated(Mean)?;
        converted_equals_updated(crate::datafusion::Stddev::Sample)
    }

    #[test]
    fn a_corrupt_partial_state_is_an_error_and_leaves_the_group_alone() -> Result<()> {
        let mut acc = ExactGroupsAccumulator::new(crate::datafusion::Variance::Population);
        acc.update_batch(&[values(vec![Some(2.0)])], &[0], None, 1)?;
        let before = acc.group_states().to_vec();
        let mut bytes = crate::MomentsState::default().to_bytes();
        bytes[24] = 1; // a NaN among no values
        let partial: ArrayRef = Arc::new(BinaryArray::from(vec![&bytes[..]]));
        assert!(acc.merge_batch(&[partial], &[0], 1).is_err());
        assert_eq!(acc.group_states(), &before[..]);
        Ok(())
    }

    #[test]
    fn a_group_index_out_of_range_is_an_error() {
        let mut acc = ExactMeanGroupsAccumulator::default();
        assert!(acc
            .update_batch(&[values(vec![Some(1.0)])], &[5], None, 1)
            .is_err());
    }
}
