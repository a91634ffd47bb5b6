//! The Float16/Float32 mean (and sum) of every group: the common case of
//! grouped statistics, kept in a [`MeanState`] per group plus a 16-byte
//! window accumulator in front of it.
//!
//! A row's value is `significand · 2^(eff - 149)` with `eff = max(e, 1) - 1`
//! for its biased exponent `e`. Most columns' values lie within a few
//! binades of each other, so each store picks a window of [`WINDOW`]
//! exponents `[base, base + WINDOW)` from the first values it sees. A value
//! `x` for which `v = x · 2^(149 - base)` is an integer below `2^47` in
//! magnitude ([`LIMIT`]) — every value of the window (`v` is its signed
//! significand shifted by `eff - base`), and zeros — goes into its group's
//! `i64`, with the row counted in the same word: the accumulator adds
//! `v · 2^8 + 1` (one integer add per row, in 16 bytes per group: a million
//! groups fit in 16 MiB), so it holds `sum · 2^8 + rows` while
//! `rows < 2^8`. A group's accumulator is carried into its exact sum
//! (`sum · 2^base` units, [`ExactSum`'s](crate::ExactSum) own) and its
//! count at 255 rows (below `2^63`: 255 values below `2^55` each), and
//! whenever a state is read.
//!
//! The increments `v · 2^8 + 1` of [`CHUNK`] rows are computed first, by a
//! loop without branches over `f64`s that the compiler turns into vector
//! instructions: `f64::from(x) · 2^(149 - base)` is exact (a power of two,
//! within `f64`'s normal range), and for an integer `|v| < 2^51`,
//! `v + 2^52 + 2^51` is exact with bits exceeding those of `2^52 + 2^51` by
//! `v`; `v` is an integer exactly when that sum minus `2^52 + 2^51` gives
//! `v` back. The scatter loop is then one add per row.
//! Values outside the window, NaN and infinities (increment 0) go straight
//! to the group's [`MeanState`] ([`add_valid`]) afterwards. Both paths are
//! exact integer additions, so the states are bitwise those of adding the
//! rows one by one in any order.

use arrow_buffer::NullBuffer;

use crate::kernel::arch::prefetch_line;
use crate::kernel::reference::add_valid;
use crate::kernel::MeanState;

/// Exponents per window: a shifted significand is below `2^(24 + WINDOW - 1)`.
const WINDOW: u32 = 24;

/// The bits of an accumulator that count its rows.
const ROW_BITS: u32 = 8;

/// Rows an accumulator takes before it is carried: its count fits in
/// [`ROW_BITS`] bits, and 255 values below `2^(47 + 8)` stay below `2^63`.
const ROWS_PER_CARRY: i64 = (1 << ROW_BITS) - 1;

/// The highest window base: every finite `eff` (at most 253) can be in a
/// window, the `eff` of NaN and infinities (254) never is.
const MAX_BASE: u32 = 254 - WINDOW;

/// Groups past which the accumulators are prefetched (1 MiB of them).
const PREFETCH_GROUPS: usize = 1 << 16;

/// Rows between a prefetch and its use.
const AHEAD: usize = 16;

/// No window chosen yet: far from every `eff` (0 to 254), so that no
/// value but a zero takes the accumulators (a zero adds nothing: the window
/// does not matter for it).
const NO_WINDOW: u32 = 1 << 31;

/// Values whose largest exponent sets the window.
const SAMPLE: usize = 4096;

/// Rows whose increments are computed at a time (8 KiB of them).
const CHUNK: usize = 1024;

/// `2^52 + 2^51`: for an integer `|v| < 2^51`, `MAGIC + v` is exact, and
/// its bits exceed `MAGIC`'s by `v`.
const MAGIC: f64 = 6_755_399_441_055_744.0;

/// The accumulators take a value `x` when `x · 2^(149 - base)` is an
/// integer below this in magnitude: 255 of them, shifted by [`ROW_BITS`],
/// stay below `2^63`.
const LIMIT: f64 = (1u64 << 47) as f64;

/// A group's values in the window since the last carry.
#[derive(Debug, Clone, Copy, Default)]
#[repr(C, align(16))]
struct Accumulator {
    /// `(Σ ±significand · 2^(eff - base)) · 2^ROW_BITS + rows`, for the
    /// valid values added (`rows < 2^ROW_BITS`).
    sum_rows: i64,
    /// Null rows.
    nulls: u32,
}

/// Accumulators per group while there are few groups: row `i` adds to its
/// group's accumulator `i % LANES`, so that rows close together rarely add
/// to one accumulator (a load that depends on a store still in flight
/// stalls the processor). The four fill one cache line.
const LANES: usize = 4;

/// Groups up to which each has [`LANES`] accumulators (64 KiB of them).
const LANE_GROUPS: usize = 1024;

/// The mean states of a column's groups.
#[derive(Debug, Clone)]
pub(super) struct Means {
    states: Vec<MeanState>,
    /// Group `g`'s accumulators: `accumulators[g * lanes..][..lanes]`.
    accumulators: Vec<Accumulator>,
    /// [`LANES`], or 1 past [`LANE_GROUPS`] groups.
    lanes: usize,
    /// The window's lowest `eff`, or [`NO_WINDOW`].
    base: u32,
}

impl Means {
    /// `groups` empty states.
    pub(super) fn new(groups: usize) -> Self {
        let lanes = if groups <= LANE_GROUPS { LANES } else { 1 };
        Means {
            states: vec![MeanState::default(); groups],
            accumulators: vec![Accumulator::default(); groups * lanes],
            lanes,
            base: NO_WINDOW,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.states.len()
    }

    /// Grows to at least `groups` groups (new ones empty).
    pub(super) fn resize(&mut self, groups: usize) {
        if groups <= self.states.len() {
            return;
        }
        if groups > LANE_GROUPS && self.lanes > 1 {
            self.carry_all();
            self.lanes = 1;
            self.accumulators = Vec::new();
        }
        self.states.resize(groups, MeanState::default());
        self.accumulators
            .resize(groups * self.lanes, Accumulator::default());
    }

    /// Carries group `g`'s accumulators into its state.
    #[inline]
    fn carry(&mut self, g: usize) {
        let state = &mut self.states[g];
        for a in &mut self.accumulators[g * self.lanes..][..self.lanes] {
            carry_into(state, std::mem::take(a), self.base);
        }
    }

    /// Carries every accumulator into its state.
    pub(super) fn carry_all(&mut self) {
        let base = self.base;
        for (state, lanes) in self
            .states
            .iter_mut()
            .zip(self.accumulators.chunks_exact_mut(self.lanes))
        {
            for a in lanes {
                carry_into(state, std::mem::take(a), base);
            }
        }
    }

    /// Group `g`'s state, accumulators included.
    pub(super) fn get(&self, g: usize) -> MeanState {
        let mut state = self.states[g];
        for a in &self.accumulators[g * self.lanes..][..self.lanes] {
            carry_into(&mut state, *a, self.base);
        }
        state
    }

    /// Takes the first `n` groups off: they come back as states of their
    /// own, and these keep the rest, shifted down to group 0.
    #[cfg(feature = "datafusion")]
    pub(super) fn take_front(&mut self, n: usize) -> Means {
        self.carry_all();
        let front: Vec<MeanState> = self.states.drain(..n.min(self.states.len())).collect();
        self.accumulators.truncate(self.states.len() * self.lanes);
        let mut taken = Means::new(0);
        taken.resize(front.len());
        taken.states = front;
        taken
    }

    /// Bytes held on the heap.
    #[cfg(feature = "datafusion")]
    pub(super) fn heap_size(&self) -> usize {
        self.states.capacity() * size_of::<MeanState>()
            + self.accumulators.capacity() * size_of::<Accumulator>()
    }

    /// Group `g`'s state, to change (its accumulator carried first).
    pub(super) fn get_mut(&mut self, g: usize) -> &mut MeanState {
        self.carry(g);
        &mut self.states[g]
    }

    /// Every group's state, accumulators carried.
    pub(super) fn into_states(mut self) -> Vec<MeanState> {
        self.carry_all();
        self.states
    }

    /// Adds the rows `values` (valid where `nulls` says so) to the groups
    /// `ids`, one per row.
    pub(super) fn add(&mut self, ids: &[u32], values: &[f32], nulls: Option<&NullBuffer>) {
        debug_assert_eq!(ids.len(), values.len());
        if self.base == NO_WINDOW {
            self.choose_window(values, nulls);
        }
        let nulls = nulls.filter(|n| n.null_count() > 0);
        let mut increments = [0i64; CHUNK];
        for (start, (ids, values)) in (0..)
            .step_by(CHUNK)
            .zip(ids.chunks(CHUNK).zip(values.chunks(CHUNK)))
        {
            let increments = &mut increments[..ids.len()];
            let mut outside = self.increments(values, increments);
            let nulls = nulls.map(|n| n.slice(start, ids.len()));
            if let Some(nulls) = &nulls {
                self.count_nulls(ids, nulls, increments);
                outside = true;
            }
            self.scatter(ids, increments);
            if outside {
                // The valid rows that the accumulators did not take.
                for (i, ((&g, &x), &d)) in ids.iter().zip(values).zip(&*increments).enumerate() {
                    if d == 0 && nulls.as_ref().is_none_or(|n| n.is_valid(i)) {
                        add_valid(&mut self.states[g as usize], x);
                    }
                }
            }
        }
    }

    /// Each row's accumulator increment into `out`: `v · 2^ROW_BITS + 1`
    /// for a value whose `v = x · 2^(149 - base)` is an integer below
    /// [`LIMIT`] in magnitude (any value of the window, and zeros; before a
    /// window is chosen, only zeros), else 0. Whether any row got 0.
    ///
    /// Branch-free over `f64`s, so that it compiles to vector instructions.
    #[inline]
    fn increments(&self, values: &[f32], out: &mut [i64]) -> bool {
        let windowed = self.base != NO_WINDOW;
        let scale = if windowed {
            // 2^(149 - base), with 149 - base in [-81, 149]: a normal f64.
            f64::from_bits(((1023 + 149 - i64::from(self.base)) as u64) << 52)
        } else {
            1.0
        };
        let mut outside = false;
        for (d, &x) in out.iter_mut().zip(values) {
            // Exact: a power of two times an f32 stays within f64's normal
            // range.
            let v = f64::from(x) * scale;
            // For an integer |v| < 2^51, `MAGIC + v` is exact and its bits
            // exceed MAGIC's by v.
            let t = v + MAGIC;
            let taken = (t - MAGIC == v) & (v.abs() < LIMIT) & (windowed | (x == 0.0));
            let n = (t.to_bits() as i64).wrapping_sub(MAGIC.to_bits() as i64);
            *d = if taken { (n << ROW_BITS) | 1 } else { 0 };
            outside |= !taken;
        }
        outside
    }

    /// Counts the null rows of a chunk in their accumulators, and clears
    /// their increments.
    fn count_nulls(&mut self, ids: &[u32], nulls: &NullBuffer, increments: &mut [i64]) {
        let (lanes, base) = (self.lanes, self.base);
        let len = ids.len();
        for (k, word) in nulls.inner().bit_chunks().iter_padded().enumerate() {
            let start = k * 64;
            let mut missing = !word;
            if len - start < 64 {
                missing &= (1u64 << (len - start)) - 1;
            }
            while missing != 0 {
                let i = start + missing.trailing_zeros() as usize;
                missing &= missing - 1;
                increments[i] = 0;
                let g = ids[i] as usize;
                let a = &mut self.accumulators[g * lanes + (i & (lanes - 1))];
                a.nulls += 1;
                if a.nulls == u32::MAX {
                    carry_into(&mut self.states[g], std::mem::take(a), base);
                }
            }
        }
    }

    /// Adds each row's increment to its group's accumulator, carrying one
    /// that has counted [`ROWS_PER_CARRY`] rows.
    #[inline]
    fn scatter(&mut self, ids: &[u32], increments: &[i64]) {
        let (lanes, base) = (self.lanes, self.base);
        let (states, accumulators) = (&mut self.states[..], &mut self.accumulators[..]);
        let (far, at) = (accumulators.len() > PREFETCH_GROUPS, accumulators.as_ptr());
        let mut add = |i: usize, g: u32, d: i64| {
            let g = g as usize;
            let a = &mut accumulators[g * lanes + (i & (lanes - 1))];
            a.sum_rows += d;
            if a.sum_rows & ROWS_PER_CARRY == ROWS_PER_CARRY {
                carry_into(&mut states[g], std::mem::take(a), base);
            }
        };
        // Past the second-level cache, each row's accumulator is a miss:
        // asked for `AHEAD` rows before it is added to.
        if far {
            for (i, (&g, &d)) in ids.iter().zip(increments).enumerate() {
                if let Some(&h) = ids.get(i + AHEAD) {
                    prefetch_line(at.wrapping_add(h as usize));
                }
                add(i, g, d);
            }
        } else {
            for (i, (&g, &d)) in ids.iter().zip(increments).enumerate() {
                add(i, g, d);
            }
        }
    }

    /// Sets the window so that its top is the largest finite exponent among
    /// the first valid values of `values` (the bottom binades then reach
    /// `2^-23` of it).
    fn choose_window(&mut self, values: &[f32], nulls: Option<&NullBuffer>) {
        let top = values
            .iter()
            .take(SAMPLE)
            .enumerate()
            .filter(|&(i, x)| nulls.is_none_or(|n| n.is_valid(i)) && x.is_finite() && *x != 0.0)
            .map(|(_, x)| ((x.to_bits() >> 23) & 0xff).max(1) - 1)
            .max();
        if let Some(top) = top {
            self.base = (top + 1).saturating_sub(WINDOW).min(MAX_BASE);
        }
    }

    /// Merges `other`'s groups into the groups `ids` (one per group of
    /// `other`); groups at or past `fresh` are new here and take `other`'s
    /// state as it is.
    pub(super) fn absorb(&mut self, other: Means, ids: &[u32], fresh: usize) -> crate::Result<()> {
        for (m, &g) in other.into_states().iter().zip(ids) {
            if g as usize >= fresh {
                // A group new here: nothing in its accumulators yet.
                self.states[g as usize] = *m;
            } else {
                self.get_mut(g as usize).merge(m)?;
            }
        }
        Ok(())
    }
}

/// Adds accumulator `a` (of a window starting at `base`) to `state`.
#[inline]
fn carry_into(state: &mut MeanState, a: Accumulator, base: u32) {
    let rows = a.sum_rows & ROWS_PER_CARRY;
    let sum = (a.sum_rows - rows) >> ROW_BITS;
    state.count += rows as u64;
    state.null_count += u64::from(a.nulls);
    if sum != 0 {
        state
            .exact_sum
            .add_shifted(sum.unsigned_abs(), base, sum < 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_by_one(
        ids: &[u32],
        values: &[f32],
        nulls: Option<&NullBuffer>,
        groups: usize,
    ) -> Vec<MeanState> {
        let mut states = vec![MeanState::default(); groups];
        for (i, (&g, &x)) in ids.iter().zip(values).enumerate() {
            if nulls.is_none_or(|n| n.is_valid(i)) {
                add_valid(&mut states[g as usize], x);
            } else {
                states[g as usize].null_count += 1;
            }
        }
        states
    }

    #[test]
    fn windowed_states_equal_adding_one_by_one() {
        let specials = [
            0.0,
            -0.0,
            1e-45,
            -1e-40,
            f32::MIN_POSITIVE,
            3e37,
            -3e37,
            f32::MAX,
            -f32::MAX,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            0.75,
            1e-9,
            0.5,
            1.0,
            -2.0,
        ];
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for groups in [1usize, 3, 100, 3000] {
            let n = 300_000;
            // The first half in at most 500 groups: a table of more than
            // `LANE_GROUPS` groups then grows past it with values in its
            // accumulators.
            let ids: Vec<u32> = (0..n)
                .map(|i| {
                    let first = if i < n / 2 { groups.min(500) } else { groups };
                    (next() % first as u64) as u32
                })
                .collect();
            let values: Vec<f32> = (0..n)
                .map(|i| {
                    let r = next();
                    if i % 97 == 0 {
                        specials[(r % specials.len() as u64) as usize]
                    } else {
                        (r >> 40) as f32 / (1u64 << 24) as f32 * if r & 1 == 1 { -1.0 } else { 1.0 }
                    }
                })
                .collect();
            let nulls = NullBuffer::from_iter((0..n).map(|i| i % 11 != 3));
            for nulls in [None, Some(&nulls)] {
                let expected = one_by_one(&ids, &values, nulls, groups);
                let mut means = Means::new(0);
                // In pieces, so the window is chosen by the first one.
                for (ids, (values, start)) in ids
                    .chunks(70_001)
                    .zip(values.chunks(70_001).zip((0..).step_by(70_001)))
                {
                    let nulls = nulls.map(|n| n.slice(start, ids.len()));
                    means.resize(ids.iter().map(|&g| g as usize + 1).max().unwrap_or(0));
                    means.add(ids, values, nulls.as_ref());
                }
                for (g, want) in expected.iter().enumerate() {
                    assert_eq!(means.get(g), *want, "group {g} of {groups}");
                }
                assert_eq!(means.into_states(), expected);
            }
        }
    }

    #[test]
    fn values_before_any_window_is_chosen_go_to_the_states() {
        // More zeros and nulls than the sample, then a subnormal and a
        // normal value in the same call; then a call that chooses a window.
        let mut values = vec![0.0f32; SAMPLE + 10];
        values.extend([1e-45, -3e-39, 2.5, 0.0]);
        let ids = vec![0u32; values.len()];
        let nulls = NullBuffer::from_iter((0..values.len()).map(|i| i % 3 != 0));
        let mut means = Means::new(1);
        means.add(&ids, &values, Some(&nulls));
        assert_eq!(means.base, NO_WINDOW);
        means.add(&ids, &values, None);
        means.add(&[0, 0], &[1.5, 1e-45], None);
        let mut expected = one_by_one(&ids, &values, Some(&nulls), 1)[0];
        expected
            .merge(&one_by_one(&ids, &values, None, 1)[0])
            .unwrap();
        expected
            .merge(&one_by_one(&[0, 0], &[1.5, 1e-45], None, 1)[0])
            .unwrap();
        assert_eq!(means.get(0), expected);
    }

    #[test]
    fn a_window_of_large_values_carries_before_it_overflows() {
        // 2^17 values at the top of the window, all in one group.
        let values = vec![f32::from_bits(0x7f7f_ffff); 1 << 17];
        let ids = vec![0u32; values.len()];
        let mut means = Means::new(1);
        means.add(&ids, &values, None);
        assert_eq!(means.get(0), one_by_one(&ids, &values, None, 1)[0]);
    }
}
