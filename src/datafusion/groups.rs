//! The `GROUP BY` accumulator of `exact_mean`: one [`MeanState`] per group in
//! a flat vector indexed by DataFusion's group index, as DataFusion's own
//! `avg` keeps its sums and counts.
//!
//! DataFusion hands each batch with a group index per row, so rows of one
//! group are scattered: each valid value goes straight into its group's exact
//! sum ([`ExactSum::add_f32`](crate::ExactSum::add_f32), exact and
//! branch-light), which is the scalar reference path (`kernel::reference`)
//! kernel applied row by row. Sums are exact integers, so neither the order
//! of rows nor the split into batches and partitions changes a bit of any
//! state.
//!
//! The per-row count increments are unchecked: a state that only takes rows
//! counts at most the rows DataFusion fed it (far below `2^64`). States read
//! from bytes, which could hold any count, only ever meet
//! [`MeanState::merge`], which checks every count.

use std::mem::{size_of, size_of_val};
use std::sync::Arc;

use ::datafusion::common::{exec_err, internal_datafusion_err, Result};
use ::datafusion::logical_expr::{EmitTo, GroupsAccumulator};
use arrow_array::{Array, ArrayRef, BinaryArray, BooleanArray, Float64Array};

use super::accumulator::{float32_argument, merge_bytes, state_argument};
use super::NAME;
use crate::kernel::reference::add_valid;
use crate::MeanState;

/// The [`GroupsAccumulator`] of `exact_mean`: a [`MeanState`] per group.
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
#[derive(Debug, Default, Clone)]
pub struct ExactMeanGroupsAccumulator {
    /// The state of group `i` at index `i`.
    states: Vec<MeanState>,
}

impl ExactMeanGroupsAccumulator {
    /// The states of the groups seen so far, by group index.
    pub fn mean_states(&self) -> &[MeanState] {
        &self.states
    }
}

/// The state of group `group`: DataFusion promises indices below
/// `total_num_groups`; a broken promise is an error, not a panic.
#[inline]
fn group_state(states: &mut [MeanState], group: usize) -> Result<&mut MeanState> {
    let groups = states.len();
    states
        .get_mut(group)
        .ok_or_else(|| internal_datafusion_err!("{NAME}: group index {group} of {groups}"))
}

/// Whether row `i` passes the aggregate's `FILTER` (a null filter value
/// excludes the row, as SQL's WHERE does).
#[inline]
fn passes(filter: Option<&BooleanArray>, i: usize) -> bool {
    filter.is_none_or(|f| f.is_valid(i) && f.value(i))
}

impl GroupsAccumulator for ExactMeanGroupsAccumulator {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        let values = float32_argument(values)?;
        if group_indices.len() != values.len() {
            return exec_err!(
                "{NAME}: {} group indices for {} values",
                group_indices.len(),
                values.len()
            );
        }
        self.states.resize(total_num_groups, MeanState::default());
        let states = self.states.as_mut_slice();
        let rows = group_indices.iter().zip(values.values().iter());
        match (values.nulls().filter(|n| n.null_count() > 0), opt_filter) {
            // The common case: one exact add per row, no per-row tests.
            (None, None) => {
                for (&group, &x) in rows {
                    add_valid(group_state(states, group)?, x);
                }
            }
            (nulls, filter) => {
                for (i, (&group, &x)) in rows.enumerate() {
                    if !passes(filter, i) {
                        continue;
                    }
                    let state = group_state(states, group)?;
                    if nulls.is_some_and(|n| n.is_null(i)) {
                        state.null_count += 1;
                    } else {
                        add_valid(state, x);
                    }
                }
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let states = emit_to.take_needed(&mut self.states);
        let means: Float64Array = states.iter().map(MeanState::finish).collect();
        Ok(Arc::new(means))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let states = emit_to.take_needed(&mut self.states);
        let bytes = BinaryArray::from_iter_values(states.iter().map(MeanState::to_bytes));
        Ok(vec![Arc::new(bytes)])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        let partial = state_argument(values)?;
        if group_indices.len() != partial.len() {
            return exec_err!(
                "{NAME}: {} group indices for {} partial states",
                group_indices.len(),
                partial.len()
            );
        }
        self.states.resize(total_num_groups, MeanState::default());
        for (i, &group) in group_indices.iter().enumerate() {
            if partial.is_valid(i) {
                merge_bytes(group_state(&mut self.states, group)?, partial.value(i))?;
            }
        }
        Ok(())
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let values = float32_argument(values)?;
        let nulls = values.nulls().filter(|n| n.null_count() > 0);
        // Each row becomes the state of a one-row group: empty when filtered
        // out, one null, or one valid value.
        let states = values.values().iter().enumerate().map(|(i, &x)| {
            let mut state = MeanState::default();
            if passes(opt_filter, i) {
                if nulls.is_some_and(|n| n.is_null(i)) {
                    state.null_count = 1;
                } else {
                    add_valid(&mut state, x);
                }
            }
            state.to_bytes()
        });
        Ok(vec![Arc::new(BinaryArray::from_iter_values(states))])
    }

    fn size(&self) -> usize {
        self.states.capacity() * size_of::<MeanState>() + size_of_val(self)
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
        assert!(acc.mean_states().is_empty(), "EmitTo::All resets the state");
        Ok(())
    }

    #[test]
    fn filtered_rows_count_neither_as_values_nor_as_nulls() -> Result<()> {
        let mut acc = ExactMeanGroupsAccumulator::default();
        let x = values(vec![Some(1.0), Some(100.0), None, Some(3.0)]);
        let filter = BooleanArray::from(vec![Some(true), Some(false), None, Some(true)]);
        acc.update_batch(&[x], &[0, 0, 0, 0], Some(&filter), 1)?;
        let state = acc.mean_states()[0];
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

    #[test]
    fn states_through_bytes_merge_to_the_one_pass_states() -> Result<()> {
        let data = vec![
            Some(3e37),
            Some(0.75),
            None,
            Some(-3e37),
            Some(f32::INFINITY),
            Some(1e-45),
        ];
        let groups = [0, 0, 1, 0, 1, 2];
        let mut whole = ExactMeanGroupsAccumulator::default();
        whole.update_batch(&[values(data.clone())], &groups, None, 3)?;

        let mut merged = ExactMeanGroupsAccumulator::default();
        for (part, part_groups) in data.chunks(4).zip(groups.chunks(4)) {
            let mut partial = ExactMeanGroupsAccumulator::default();
            let local = part_groups.iter().copied().max().unwrap_or(0) + 1;
            partial.update_batch(&[values(part.to_vec())], part_groups, None, local)?;
            let state = partial.state(EmitTo::All)?;
            let indices: Vec<usize> = (0..local).collect();
            merged.merge_batch(&state, &indices, 3)?;
        }
        assert_eq!(merged.mean_states(), whole.mean_states());
        Ok(())
    }

    #[test]
    fn converted_rows_merge_like_updates() -> Result<()> {
        let data = values(vec![Some(1.5), None, Some(-2.0), Some(f32::NAN)]);
        let filter = BooleanArray::from(vec![true, true, true, false]);
        let groups = [1, 0, 1, 1];
        let mut updated = ExactMeanGroupsAccumulator::default();
        updated.update_batch(std::slice::from_ref(&data), &groups, Some(&filter), 2)?;

        let mut merged = ExactMeanGroupsAccumulator::default();
        let state = merged.convert_to_state(&[data], Some(&filter))?;
        merged.merge_batch(&state, &groups, 2)?;
        assert_eq!(merged.mean_states(), updated.mean_states());
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
