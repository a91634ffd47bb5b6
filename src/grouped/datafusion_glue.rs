//! What DataFusion's `GroupsAccumulator` (`crate::datafusion::groups`) needs
//! of a [`GroupedColumn`] beyond what [`GroupedStates`](super::GroupedStates)
//! uses: groups addressed by DataFusion's own dense group indices (no keys),
//! an input type fixed before the first row (the aggregate's result type
//! depends on it, rows or not), merging a batch of states only after all of
//! them passed their checks, taking the first groups off the front
//! (`EmitTo::First`), and the memory held.
//!
//! So DataFusion's `GROUP BY` and the crate's own grouped statistics share one
//! grouped-state core: the same stores, the same row-by-row (or windowed)
//! exact adds, the same finishing.
//!
//! Only [`GroupedColumn::take_front`] and [`GroupedColumn::heap_size`] look
//! inside [`Store`]; everything else goes through `GroupedColumn`'s own
//! methods.

use std::mem::size_of;

use ::datafusion::common::utils::split_vec_min_alloc;
use arrow_array::Array;
use arrow_schema::DataType;

use super::{GroupedColumn, Store};
use crate::error::{Error, Result};
use crate::kernel::{ExactState, Parts};

impl GroupedColumn {
    /// An empty column named `name` (in errors) of values of `input`,
    /// computing `parts`.
    ///
    /// # Errors
    ///
    /// [`Error::UnsupportedType`] if `input` is not numeric.
    pub(crate) fn for_input(name: &str, input: &DataType, parts: Parts) -> Result<Self> {
        let mut column = GroupedColumn::new(name, parts);
        column.accept(input)?;
        Ok(column)
    }

    /// The number of groups (each has a state, empty or not).
    pub(crate) fn num_groups(&self) -> usize {
        self.store.len()
    }

    /// Adds the rows of `array` to the groups `ids` (one per row), first
    /// making the column hold at least `groups` groups.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for an id at or past `groups`, or not one
    /// id per row (nothing is added then); as [`GroupedColumn::update`] for
    /// values of another kind of number.
    pub(crate) fn update_groups(
        &mut self,
        ids: &[u32],
        array: &dyn Array,
        groups: usize,
    ) -> Result<()> {
        check_ids(&self.name, ids, groups)?;
        if ids.len() != array.len() {
            return Err(Error::InvalidArgument(format!(
                "{}: {} group indices for {} values",
                self.name,
                ids.len(),
                array.len()
            )));
        }
        self.resize(groups)?;
        self.update(ids, array)
    }

    /// Merges `states[i]` into group `ids[i]`, first making the column hold
    /// at least `groups` groups. Every state is checked before any group
    /// changes: one that lacks a part the column computes, or is of another
    /// kind of number, is an error that leaves every group as it was.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for an id at or past `groups` or not one id
    /// per state; [`Error::InvalidState`] for a state without the column's
    /// parts; [`Error::TypeMismatch`] for one of another kind of number;
    /// [`Error::StateOverflow`] past `2^64 - 1` rows in a group.
    pub(crate) fn merge_groups(
        &mut self,
        ids: &[u32],
        states: &[ExactState],
        groups: usize,
    ) -> Result<()> {
        check_ids(&self.name, ids, groups)?;
        if ids.len() != states.len() {
            return Err(Error::InvalidArgument(format!(
                "{}: {} group indices for {} states",
                self.name,
                ids.len(),
                states.len()
            )));
        }
        let mut checked: Option<&DataType> = None;
        for state in states {
            if !state.parts().covers(self.parts) {
                return Err(Error::InvalidState {
                    reason: format!(
                        "a partial state of {} lacks the parts it needs (a mean state where a \
                         moments state is needed?)",
                        self.name
                    ),
                });
            }
            // Batches hold states of one type: probe each new type once.
            if checked != Some(state.input_type()) {
                self.empty_like().accept(state.input_type())?;
                checked = Some(state.input_type());
            }
        }
        self.resize(groups)?;
        for (state, &g) in states.iter().zip(ids) {
            self.accept(state.input_type())?;
            self.merge_state(g, state)?;
        }
        Ok(())
    }

    /// Takes the first `n` groups off the column: they come back as a column
    /// of their own (group `i` at index `i`), and this one keeps the rest,
    /// shifted down to index 0. Moves the states as DataFusion's own
    /// `EmitTo::take_needed` does (allocating for the smaller side); `n` of
    /// every group leaves this column empty.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if the column holds fewer than `n` groups.
    pub(crate) fn take_front(&mut self, n: usize) -> Result<GroupedColumn> {
        let groups = self.num_groups();
        if n > groups {
            return Err(Error::InvalidArgument(format!(
                "{}: the first {n} groups asked of {groups}",
                self.name
            )));
        }
        let mut front = self.empty_like();
        match (&mut self.store, &mut front.store) {
            (Store::Mean32(rest), Store::Mean32(taken)) => *taken = rest.take_front(n),
            (Store::Exact { states: rest, .. }, Store::Exact { states: taken, .. }) => {
                *taken = split_vec_min_alloc(rest, n);
            }
            _ => {
                return Err(Error::Internal(
                    "an empty column of another store than its own".into(),
                ))
            }
        }
        Ok(front)
    }

    /// Bytes the column holds on the heap beyond its own `size_of`: its
    /// name and its states (vectors by capacity, plus what each state boxes).
    pub(crate) fn heap_size(&self) -> usize {
        let store = match &self.store {
            Store::Mean32(means) => means.heap_size(),
            Store::Exact { empty, states } => {
                // The states of one column share their domain and parts (the
                // column widens them all at once), so they box the same bytes.
                let boxed = states.first().map_or(0, ExactState::heap_size);
                let template = empty
                    .as_ref()
                    .map_or(0, |e| size_of::<ExactState>() + e.heap_size());
                states.capacity() * size_of::<ExactState>() + states.len() * boxed + template
            }
        };
        self.name.capacity() + store
    }
}

/// Checks that every id is below `groups`.
fn check_ids(name: &str, ids: &[u32], groups: usize) -> Result<()> {
    let past = ids.iter().copied().max().map_or(0, |g| g as usize + 1);
    if past > groups {
        return Err(Error::InvalidArgument(format!(
            "{name}: group index {} of {groups} groups",
            past - 1
        )));
    }
    Ok(())
}
