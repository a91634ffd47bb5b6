//! The reference kernel: one value at a time, straight into [`ExactSum`](crate::ExactSum).
//!
//! Obviously correct and slow. Tests hold every faster path to bitwise
//! equality with it; the block kernel also uses it for blocks that hold NaN
//! or infinities.

use super::{MeanState, Validity};

/// Adds `values` (with `validity` covering exactly these values)
/// to `state`, one value at a time.
///
/// # Example
///
/// ```
/// use mapmean::{kernel::reference, MeanState};
/// let mut state = MeanState::default();
/// reference::update(&mut state, &[1.0, 2.0, f32::INFINITY], None);
/// assert_eq!(state.pos_inf_count, 1);
/// assert_eq!(state.finish(), Some(f64::INFINITY));
/// ```
pub fn update(state: &mut MeanState, values: &[f32], validity: Option<Validity<'_>>) {
    for (i, &x) in values.iter().enumerate() {
        if validity.is_some_and(|v| !v.is_valid(i)) {
            state.null_count += 1;
            continue;
        }
        add_valid(state, x);
    }
}

/// Counts one valid value and adds it to the sum if it is finite.
#[inline]
pub(crate) fn add_valid(state: &mut MeanState, x: f32) {
    state.count += 1;
    if x.is_nan() {
        state.nan_count += 1;
    } else if x == f32::INFINITY {
        state.pos_inf_count += 1;
    } else if x == f32::NEG_INFINITY {
        state.neg_inf_count += 1;
    } else {
        state.exact_sum.add_f32(x);
    }
}
