"""The byte form of mapmean.MeanState (docs/state-format.md): round trips, pickling, merging, and damaged bytes.

The layout is checked against an independent reader written here from the documentation, and the sums against
the exact Fraction reference of ``exact.py``.
"""

from __future__ import annotations

import pickle
import re
import struct
from fractions import Fraction

import mapmean
import numpy as np
import pytest
from exact import assert_same, exact_mean, exact_sum
from hypothesis import given, settings
from hypothesis import strategies as st

F32 = np.float32
U64_MAX = 2**64 - 1
STATE_BYTES = 96
# f32::MAX in units of 2**-149.
F32_MAX_UNITS = (2**24 - 1) * 2**253


def decode(data: bytes) -> tuple[tuple[int, ...], int]:
    """The five counts and the sum (in units of 2**-149) of a version-1 state, read as documented."""
    assert len(data) == STATE_BYTES and data[:4] == b"MMst"
    assert struct.unpack_from("<HH", data, 4) == (1, 0)
    return struct.unpack_from("<5Q", data, 8), int.from_bytes(data[48:96], "little", signed=True)


def encode(counts: tuple[int, ...], sum_units: int, *, version: int = 1, flags: int = 0) -> bytes:
    """A state's bytes, written as documented (counts and sum unchecked)."""
    return b"MMst" + struct.pack("<HH5Q", version, flags, *counts) + sum_units.to_bytes(48, "little", signed=True)


def state_of(values: np.ndarray, mask: np.ndarray | None = None) -> mapmean.MeanState:
    return mapmean.mean_state(values if mask is None else np.ma.masked_array(values, mask=mask))


def is_consistent(state: mapmean.MeanState) -> bool:
    """The rules of docs/state-format.md, computed with Python integers (no wrapping possible)."""
    specials = state.nan_count + state.pos_inf_count + state.neg_inf_count
    finite = state.count - specials
    _, sum_units = decode(state.to_bytes())
    return (
        0 <= finite
        and state.count + state.null_count <= U64_MAX
        and abs(sum_units) <= finite * F32_MAX_UNITS
    )


# float32 arrays with every kind of value: any bit pattern, extremes, nulls.
f32_values = st.lists(
    st.one_of(
        st.integers(0, 2**32 - 1).map(lambda b: struct.unpack("<f", struct.pack("<I", b))[0]),
        st.sampled_from([3.4028234663852886e38, -3.4028234663852886e38, 3e37, -3e37, 1e-45, 0.75, -0.0]),
    ),
    max_size=200,
).map(lambda xs: np.array(xs, dtype=F32))


def test_the_documented_example_has_the_documented_bytes():
    state = state_of(np.array([1.5, 0.0, 2.0, np.nan], dtype=F32), np.array([False, True, False, False]))
    data = state.to_bytes()
    assert isinstance(data, bytes) and len(data) == STATE_BYTES
    assert data.hex() == (
        "4d4d7374" "0100" "0000" "0300000000000000" "0100000000000000" "0100000000000000"
        + "00" * 16
        + "00" * 16
        + "0000700000000000"
        + "00" * 24
    )
    assert decode(data) == ((3, 1, 1, 0, 0), 7 * 2**148)


def test_states_round_trip_through_bytes_and_pickle_with_every_protocol():
    values = np.array([1.0, np.nan, np.inf, -np.inf, 3e37, -1e-45, 0.25], dtype=F32)
    state = state_of(values, np.array([False, False, False, False, False, True, False]))
    back = mapmean.MeanState.from_bytes(state.to_bytes())
    assert back == state and back.to_bytes() == state.to_bytes()
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        restored = pickle.loads(pickle.dumps(state, protocol=protocol))
        assert restored == state and restored.to_bytes() == state.to_bytes()
    assert pickle.loads(pickle.dumps(mapmean.MeanState())) == mapmean.MeanState()


@settings(max_examples=300)
@given(f32_values, st.data())
def test_bytes_hold_the_exact_counts_and_sum(values, data):
    mask = np.array(data.draw(st.lists(st.booleans(), min_size=len(values), max_size=len(values))), dtype=bool)
    state = state_of(values, mask)
    counts, sum_units = decode(state.to_bytes())
    valid = values[~mask]
    finite = valid[np.isfinite(valid)]
    assert counts == (
        valid.size,
        int(mask.sum()),
        int(np.isnan(valid).sum()),
        int((valid == np.inf).sum()),
        int((valid == -np.inf).sum()),
    )
    assert Fraction(sum_units, 2**149) == exact_sum(finite)
    back = mapmean.MeanState.from_bytes(state.to_bytes())
    assert back == state
    for skip_nulls in (True, False):
        for min_count in (0, 1, 3):
            assert_same(
                back.finish(skip_nulls=skip_nulls, min_count=min_count).as_py(),
                state.finish(skip_nulls=skip_nulls, min_count=min_count).as_py(),
            )


@settings(max_examples=200)
@given(f32_values, st.lists(st.integers(0, 200), max_size=4), st.randoms(use_true_random=False))
def test_merged_states_of_split_arrays_give_the_exact_mean_of_the_whole(values, cuts, random):
    cuts = sorted(min(c, len(values)) for c in cuts)
    pieces = np.split(values, cuts)
    states = [mapmean.MeanState.from_bytes(state_of(p).to_bytes()) for p in pieces]
    random.shuffle(states)
    total = mapmean.MeanState()
    for state in states:
        total.merge(pickle.loads(pickle.dumps(state)))
    assert total == state_of(values)
    assert_same(total.finish().as_py(), exact_mean(values))


def _damage(data: bytes, how: str, at: int, payload: bytes) -> bytes:
    if how == "byte":
        return data[: at % len(data)] + payload[:1] + data[at % len(data) + 1 :]
    if how == "word":  # a whole count or limb replaced
        start = 8 + 8 * (at % 11)
        return data[:start] + payload[:8].ljust(8, b"\0") + data[start + 8 :]
    if how == "truncate":
        return data[: at % len(data)]
    if how == "extend":
        return data + payload
    return payload  # random bytes


damaged_bytes = st.tuples(
    f32_values,
    st.sampled_from(["byte", "word", "truncate", "extend", "random"]),
    st.integers(0, 10_000),
    st.binary(min_size=1, max_size=120),
)


@settings(max_examples=4000)
@given(damaged_bytes)
def test_damaged_bytes_are_a_value_error_or_exactly_a_valid_state(case):
    values, how, at, payload = case
    data = _damage(state_of(values).to_bytes(), how, at, payload)
    try:
        state = mapmean.MeanState.from_bytes(data)
    except ValueError as e:
        assert str(e).startswith("not a valid mean state: ")
        return
    # Accepted: exactly the bytes of a state that obeys every documented rule.
    assert state.to_bytes() == data
    assert is_consistent(state)
    state.finish()
    # Merging it with itself never wraps: exact doubled counts, or OverflowError and no change.
    counts = (state.count, state.null_count, state.nan_count, state.pos_inf_count, state.neg_inf_count)
    copy = mapmean.MeanState.from_bytes(data)
    try:
        state.merge(copy)
    except OverflowError:
        assert state.to_bytes() == data
        assert max(2 * c for c in counts) > U64_MAX or 2 * (counts[0] + counts[1]) > U64_MAX
    else:
        assert (state.count, state.null_count, state.nan_count, state.pos_inf_count, state.neg_inf_count) == tuple(
            2 * c for c in counts
        )
        assert is_consistent(state)


@settings(max_examples=2000)
@given(
    st.tuples(*[st.one_of(st.integers(0, 3), st.integers(0, U64_MAX)) for _ in range(5)]),
    st.one_of(st.integers(-(2**383), 2**383 - 1), st.integers(-(2**90), 2**90), st.just(0)),
)
def test_forged_counts_and_sums_are_accepted_exactly_when_the_rules_allow_them(counts, sum_units):
    data = encode(counts, sum_units)
    count, null_count, nan_count, pos_inf, neg_inf = counts
    finite = count - nan_count - pos_inf - neg_inf
    allowed = finite >= 0 and count + null_count <= U64_MAX and abs(sum_units) <= finite * F32_MAX_UNITS
    if allowed:
        state = mapmean.MeanState.from_bytes(data)
        assert state.to_bytes() == data
    else:
        with pytest.raises(ValueError, match="not a valid mean state"):
            mapmean.MeanState.from_bytes(data)


def test_the_sum_bound_is_exactly_finite_count_times_f32_max():
    for n in (1, 7, U64_MAX):
        for sign in (1, -1):
            at_bound = encode((n, 0, 0, 0, 0), sign * n * F32_MAX_UNITS)
            assert mapmean.MeanState.from_bytes(at_bound).finish().as_py() == sign * float(F32(3.4028234663852886e38))
            with pytest.raises(ValueError, match="exceeds"):
                mapmean.MeanState.from_bytes(encode((n, 0, 0, 0, 0), sign * (n * F32_MAX_UNITS + 1)))
    with pytest.raises(ValueError, match="0 finite f32"):
        mapmean.MeanState.from_bytes(encode((1, 0, 1, 0, 0), 1))


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "0 bytes, shorter than the 8-byte header"),
        (b"MMst\x01\x00", "6 bytes"),
        (encode((0,) * 5, 0)[:95], "95 bytes; a version-1 state has exactly 96"),
        (encode((0,) * 5, 0) + b"\0", "97 bytes"),
        (b"XXst" + encode((0,) * 5, 0)[4:], "magic"),
        (encode((0,) * 5, 0, version=2), "version 2 is newer than this mapmean reads"),
        (encode((0,) * 5, 0, version=2)[:40], "version 2 is newer"),
        (encode((0,) * 5, 0, version=0), "version 0"),
        (encode((0,) * 5, 0, flags=1), "reserved flags 0x0001"),
        (encode((1, 0, 1, 1, 0), 0), "exceed count"),
        (encode((2, U64_MAX - 1, 0, 0, 0), 0), "2^64 - 1 rows"),
        (encode((0, 0, 0, 0, 0), -1), "0 finite f32"),
    ],
)
def test_invalid_bytes_raise_value_error_with_the_reason(data, reason):
    with pytest.raises(ValueError, match="not a valid mean state") as error:
        mapmean.MeanState.from_bytes(data)
    assert reason in str(error.value)


def test_from_bytes_takes_bytes_and_the_constructor_takes_nothing():
    with pytest.raises(TypeError):
        mapmean.MeanState.from_bytes("MMst")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        mapmean.MeanState(b"MMst")  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("a", "b", "field"),
    [
        ((2**63, 0, 2**63, 0, 0), (2**63, 0, 0, 2**63, 0), "count"),
        ((1, U64_MAX - 1, 0, 0, 0), (0, 2, 0, 0, 0), "null_count"),
        ((U64_MAX - 1, 1, U64_MAX - 1, 0, 0), (0, 0, 0, 0, 0), None),
        ((U64_MAX - 1, 0, U64_MAX - 1, 0, 0), (0, 2, 0, 0, 0), "count + null_count"),
        ((U64_MAX, 0, U64_MAX, 0, 0), (1, 0, 0, 0, 1), "count"),
    ],
)
def test_merging_near_full_states_raises_overflow_error_and_changes_nothing(a, b, field):
    left, right = mapmean.MeanState.from_bytes(encode(a, 0)), mapmean.MeanState.from_bytes(encode(b, 0))
    if field is None:  # exactly full: fine
        left.merge(right)
        assert left.count + left.null_count == U64_MAX
        return
    before = left.to_bytes()
    with pytest.raises(OverflowError, match=rf"would overflow {re.escape(field)} \("):
        left.merge(right)
    assert left.to_bytes() == before
    assert is_consistent(left)


def test_merge_keeps_the_exact_sum_of_extreme_states():
    half = (2**63 - 1, 0, 0, 0, 0)
    big = mapmean.MeanState.from_bytes(encode(half, (2**63 - 1) * F32_MAX_UNITS))
    small = mapmean.MeanState.from_bytes(encode(half, -(2**63 - 1) * F32_MAX_UNITS + 2**149))
    big.merge(small)
    counts, sum_units = decode(big.to_bytes())
    assert counts == (2**64 - 2, 0, 0, 0, 0) and sum_units == 2**149
    assert big.finish().as_py() == float(Fraction(1, 2**64 - 2))
