"""mapmean returns the correctly rounded float64 of the exact mean."""

from __future__ import annotations

import math
from fractions import Fraction

import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st
import mapmean
import numpy as np
import pyarrow as pa
import pytest
from exact import assert_same, exact_mean, exact_sum
from hypothesis import HealthCheck, given, settings

F32 = np.float32
F32_MAX = float(np.finfo(F32).max)
F32_TINY = float(np.finfo(F32).tiny)  # smallest normal
F32_SUB = float(np.finfo(F32).smallest_subnormal)

HYPOTHESIS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def mean_of(source, *args, **kwargs):
    result = mapmean.mean(source, *args, **kwargs)
    assert isinstance(result, pa.DoubleScalar)
    return result.as_py()


def check_all_ways(values: np.ndarray, tmp_arrow, valid=None) -> None:
    """The mean of values from numpy, pyarrow and an IPC file equals the exact mean."""
    want = exact_mean(values, valid)
    if valid is None:
        assert_same(mean_of(values), want, "numpy")
        arr = pa.array(values, type=pa.float32())
        mask = None
    else:
        mask = ~np.asarray(valid)
        assert_same(mean_of(np.ma.masked_array(values, mask=mask)), want, "numpy masked")
        arr = pa.array(values, type=pa.float32(), mask=mask)
    assert_same(mean_of(arr), want, "pa.Array")
    path = mapmean.write_ipc(tmp_arrow(), values, mask=mask)
    assert_same(mean_of(path), want, "IPC file")


# ---------------------------------------------------------------- random data


@pytest.mark.parametrize(
    "distribution",
    ["uniform", "normal", "lognormal", "wide_magnitudes", "mixed_signs_wide", "integers"],
)
def test_random_data_has_the_exact_mean(distribution, rng, tmp_arrow):
    n = 200_003
    if distribution == "uniform":
        values = rng.random(n, dtype=F32)
    elif distribution == "normal":
        values = rng.standard_normal(n, dtype=F32) * F32(1e3)
    elif distribution == "lognormal":
        values = rng.lognormal(0.0, 8.0, n).astype(F32)
    elif distribution == "wide_magnitudes":
        values = (10.0 ** rng.uniform(-38, 38, n)).astype(F32)
    elif distribution == "mixed_signs_wide":
        values = (rng.choice([-1.0, 1.0], n) * 10.0 ** rng.uniform(-45, 38.5, n)).astype(F32)
    else:
        values = rng.integers(-1000, 1000, n).astype(F32)
    values = values[np.isfinite(values)]
    check_all_ways(values, tmp_arrow)


def test_random_data_with_random_nulls_has_the_exact_mean(rng, tmp_arrow):
    values = (rng.standard_normal(100_000) * 10.0 ** rng.uniform(-20, 30, 100_000)).astype(F32)
    valid = rng.random(100_000) < 0.7
    check_all_ways(values, tmp_arrow, valid)


def test_a_million_values_have_the_exact_mean(rng, tmp_arrow):
    values = (rng.standard_normal(1_000_000) * 10.0 ** rng.uniform(-10, 10, 1_000_000)).astype(F32)
    check_all_ways(values, tmp_arrow)


# ---------------------------------------------------------------- adversarial


def test_cancellation_gives_exactly_a_quarter(tmp_arrow):
    values = np.array([3e37, 0.75, -3e37] * 100_000, dtype=F32)
    assert float(np.mean(values, dtype=np.float64)) != 0.25  # the naive answer is wrong
    assert mean_of(values) == 0.25
    assert mean_of(pa.array(values)) == 0.25
    assert mean_of(mapmean.write_ipc(tmp_arrow(), values)) == 0.25
    check_all_ways(values, tmp_arrow)


def test_cancellation_in_any_order_gives_exactly_a_quarter(rng, tmp_arrow):
    values = np.array([3e37, 0.75, -3e37] * 30_000, dtype=F32)
    rng.shuffle(values)
    assert mean_of(values) == 0.25
    assert mean_of(values, threads=1) == 0.25
    assert mean_of(values, threads=2) == 0.25


def test_magnitudes_from_1e_minus_38_to_3e38(tmp_arrow):
    exps = np.arange(-38, 39)
    values = np.concatenate([(10.0**exps).astype(F32), np.array([3e38], F32)])
    values = np.concatenate([values, -values[::2], values[1::3]])
    check_all_ways(values, tmp_arrow)


def test_huge_values_cancel_and_leave_tiny_ones(tmp_arrow):
    tiny = np.array([1e-38, 2e-38, 3e-38], dtype=F32)
    values = np.concatenate([np.array([3e38, -3e38, 3e38, -3e38], F32), tiny])
    want = exact_mean(values)
    assert want == float(exact_sum(tiny) / len(values))
    assert want > 0
    check_all_ways(values, tmp_arrow)


def test_subnormals_have_the_exact_mean(rng, tmp_arrow):
    # Random bit patterns with a zero exponent field are subnormals.
    raw = rng.integers(1, 2**23, 10_000, dtype=np.uint32) | (rng.integers(0, 2, 10_000, dtype=np.uint32) << 31)
    values = raw.view(F32)
    assert np.all(np.abs(values) < F32_TINY)
    check_all_ways(values, tmp_arrow)


def test_smallest_subnormal_alone(tmp_arrow):
    values = np.array([F32_SUB], dtype=F32)
    assert mean_of(values) == F32_SUB
    check_all_ways(np.array([F32_SUB, 0.0, 0.0], dtype=F32), tmp_arrow)


def test_float32_max_repeated_does_not_overflow(tmp_arrow):
    values = np.full(100_001, F32_MAX, dtype=F32)
    assert mean_of(values) == F32_MAX
    check_all_ways(values, tmp_arrow)
    assert mean_of(-values) == -F32_MAX


def test_float32_max_and_min_cancel(tmp_arrow):
    values = np.array([F32_MAX, -F32_MAX] * 5000 + [1.5], dtype=F32)
    assert mean_of(values) == float(Fraction(3, 2) / 10_001)
    check_all_ways(values, tmp_arrow)


def test_long_run_of_one_value(tmp_arrow):
    for v in (0.1, 1e-30, 3.3e33, -7.25):
        values = np.full(300_000, v, dtype=F32)
        assert mean_of(values) == float(F32(v))
    check_all_ways(np.full(300_000, 0.1, dtype=F32), tmp_arrow)


def test_alternating_huge_positive_and_negative_with_a_small_remainder(tmp_arrow):
    values = np.empty(200_001, dtype=F32)
    values[0:-1:2] = 1e38
    values[1:-1:2] = -1e38
    values[-1] = 3.0
    assert mean_of(values) == float(Fraction(3, 200_001))
    check_all_ways(values, tmp_arrow)


def test_mean_that_needs_round_to_nearest_even(tmp_arrow):
    # (1 + (1 + 2**-23)) / 2 = 1 + 2**-24: exact in float64.
    values = np.array([1.0, 1.0 + 2.0**-23], dtype=F32)
    assert mean_of(values) == 1.0 + 2.0**-24
    # 1/3 of a value is not representable: correctly rounded.
    values = np.array([1.0, 0.0, 0.0], dtype=F32)
    assert mean_of(values) == 1.0 / 3.0
    values = np.array([2.0**-149, 0.0, 0.0], dtype=F32)
    assert mean_of(values) == float(Fraction(1, 3 * 2**149))
    check_all_ways(values, tmp_arrow)


def test_sum_beyond_float64_precision_is_exact(tmp_arrow):
    # 1e30 + many values of 1: the float64 sum drops the ones, the exact sum keeps them.
    values = np.concatenate([np.array([1e30], F32), np.ones(99_999, F32)])
    want = float((Fraction(float(F32(1e30))) + 99_999) / 100_000)
    assert mean_of(values) == want
    check_all_ways(values, tmp_arrow)


@pytest.mark.slow
def test_more_than_2_to_the_24_values_where_a_float32_loop_is_wrong(tmp_arrow):
    n_ones = 2**24 + 3
    tiny = np.array([1e-20, 3e-30, 0.5, 0.25], dtype=F32)
    values = np.concatenate([np.full(n_ones, 1.0, dtype=F32), tiny])
    n = values.size
    want = float((n_ones + exact_sum(tiny)) / n)
    # A float32 accumulator stops growing at 2**24.
    acc = F32(2**24)
    assert acc + F32(1.0) == acc
    assert mean_of(values) == want
    assert mean_of(values, threads=1) == want
    assert mean_of(pa.array(values)) == want
    path = mapmean.write_ipc(tmp_arrow(), values, batch_rows=5_000_000)
    assert mean_of(path) == want
    assert exact_mean(values) == want


# ---------------------------------------------------------------- hypothesis

finite_f32 = st.floats(width=32, allow_nan=False, allow_infinity=False)
any_f32 = st.floats(width=32, allow_nan=True, allow_infinity=True)
# Mostly finite values, sometimes a NaN or an infinity.
mostly_finite_f32 = st.one_of(finite_f32, finite_f32, finite_f32, finite_f32, finite_f32, any_f32)


@st.composite
def arrays_with_masks(draw, elements=mostly_finite_f32, max_size=300):
    values = draw(hnp.arrays(F32, st.integers(0, max_size), elements=elements))
    if draw(st.booleans()):
        valid = draw(hnp.arrays(np.bool_, values.shape))
    else:
        valid = None
    return values, valid


def masked_arrow(values, valid):
    mask = None if valid is None else ~valid
    return pa.array(values, type=pa.float32(), mask=mask)


@HYPOTHESIS
@given(arrays_with_masks(), st.booleans(), st.integers(0, 3))
def test_property_mean_of_arrow_array_is_exact(data, skip_nulls, min_count):
    values, valid = data
    want = exact_mean(values, valid, skip_nulls=skip_nulls, min_count=min_count)
    got = mean_of(masked_arrow(values, valid), skip_nulls=skip_nulls, min_count=min_count)
    assert_same(got, want)


@HYPOTHESIS
@given(hnp.arrays(F32, st.integers(0, 300), elements=mostly_finite_f32))
def test_property_mean_of_numpy_array_is_exact(values):
    assert_same(mean_of(values), exact_mean(values))


@HYPOTHESIS
@given(hnp.arrays(F32, st.integers(1, 200), elements=finite_f32))
def test_property_finite_values_have_the_exact_mean(values):
    assert_same(mean_of(values), exact_mean(values))


@HYPOTHESIS
@given(arrays_with_masks(max_size=400), st.data())
def test_property_chunked_array_gives_bitwise_the_same_result(data, draw):
    values, valid = data
    arr = masked_arrow(values, valid)
    cuts = sorted(draw.draw(st.lists(st.integers(0, len(values)), max_size=6)))
    bounds = [0, *cuts, len(values)]
    chunks = [arr.slice(a, b - a) for a, b in zip(bounds, bounds[1:])]
    chunked = pa.chunked_array(chunks, type=pa.float32())
    whole = mean_of(arr)
    assert_same(mean_of(chunked), whole, f"chunks at {cuts}")
    assert_same(whole, exact_mean(values, valid))


@settings(HYPOTHESIS, max_examples=25)
@given(arrays_with_masks(max_size=400), st.integers(1, 50))
def test_property_batch_rows_give_bitwise_the_same_result(tmp_path_factory, data, batch_rows):
    values, valid = data
    directory = tmp_path_factory.mktemp("batches")
    mask = None if valid is None else ~valid
    one = mapmean.write_ipc(directory / "one.arrow", values, mask=mask)
    many = mapmean.write_ipc(directory / "many.arrow", values, mask=mask, batch_rows=batch_rows)
    stream = mapmean.write_ipc(directory / "many.arrows", values, mask=mask, batch_rows=batch_rows, format="stream")
    want = exact_mean(values, valid)
    assert_same(mean_of(one), want, "one batch")
    assert_same(mean_of(many), want, f"batch_rows={batch_rows}")
    assert_same(mean_of(stream), want, f"stream batch_rows={batch_rows}")


@HYPOTHESIS
@given(arrays_with_masks(max_size=2000))
def test_property_thread_count_does_not_change_a_bit(data):
    values, valid = data
    arr = masked_arrow(values, valid)
    one = mean_of(arr, threads=1)
    two = mean_of(arr, threads=2)
    three = mean_of(arr, threads=3)
    assert_same(two, one, "threads=2 vs 1")
    assert_same(three, one, "threads=3 vs 1")
    assert_same(one, exact_mean(values, valid))


@HYPOTHESIS
@given(hnp.arrays(F32, st.integers(0, 500), elements=finite_f32), st.randoms(use_true_random=False))
def test_property_order_does_not_change_a_bit(values, random):
    shuffled = values.copy()
    order = list(range(len(values)))
    random.shuffle(order)
    shuffled = values[np.array(order, dtype=np.intp)]
    assert_same(mean_of(shuffled), mean_of(values))


def test_large_array_threads_one_and_two_are_bitwise_identical(rng):
    values = (rng.standard_normal(2_000_000) * 10.0 ** rng.uniform(-30, 30, 2_000_000)).astype(F32)
    valid = rng.random(values.size) < 0.9
    arr = pa.array(values, mask=~valid)
    want = exact_mean(values, valid)
    for threads in (1, 2, 4, None):
        assert_same(mean_of(arr, threads=threads), want, f"threads={threads}")
        assert_same(mean_of(values, threads=threads), exact_mean(values), f"numpy threads={threads}")


def test_large_chunked_array_with_random_chunks_is_exact(rng):
    values = (rng.standard_normal(500_000) * 10.0 ** rng.uniform(-30, 30, 500_000)).astype(F32)
    cuts = np.sort(rng.integers(0, values.size, 40))
    chunks = [pa.array(c) for c in np.split(values, cuts)]
    assert_same(mean_of(pa.chunked_array(chunks, type=pa.float32())), exact_mean(values))


def test_nan_is_not_swallowed_by_exact_arithmetic():
    values = np.array([1.0, np.nan, 2.0], dtype=F32)
    assert math.isnan(mean_of(values))


# ---------------------------------------------------------------- SIMD blocks and tails

EXTREMES = np.array(
    [
        F32_MAX,
        -F32_MAX,
        F32_TINY,
        -F32_TINY,
        F32_SUB,
        -F32_SUB,
        1.0,
        -1.0,
        0.75,
        3e37,
        -3e37,
        1.0 + 2.0**-23,
        2.0**24,
        2.0**24 + 2.0,
        float(np.nextafter(F32(0.0), F32(1.0)) * 3),
        1e-30,
        -1e-30,
        0.0,
        -0.0,
        float(np.nextafter(F32(F32_MAX), F32(0.0))),
    ],
    dtype=F32,
)

BLOCK_SIZES = [*range(1, 70), 127, 128, 129, 255, 256, 257, 511, 512, 513, 1023, 1024, 1025, 4095, 4096, 4097]
BLOCK_SIZES += [65_535, 65_536, 65_537, 262_143, 262_145]


@pytest.mark.parametrize("n", BLOCK_SIZES)
def test_extreme_mixtures_at_block_and_tail_sizes(n, rng):
    values = rng.choice(EXTREMES, n)
    want = exact_mean(values)
    assert_same(mean_of(values), want, "numpy")
    assert_same(mean_of(values, threads=1), want, "numpy threads=1")
    valid = rng.random(n) < 0.6
    arr = pa.array(values, mask=~valid)
    assert_same(mean_of(arr), exact_mean(values, valid), "masked arrow")
    assert_same(mean_of(arr.slice(1)), exact_mean(values[1:], valid[1:]), "masked arrow sliced by 1")


@pytest.mark.parametrize("n", [67, 1000, 4097, 100_003])
@pytest.mark.parametrize("special", [np.nan, np.inf, -np.inf])
def test_special_value_at_any_position_is_seen(n, special, rng):
    base = rng.integers(-100, 100, n).astype(F32)
    positions = sorted({0, 1, 7, 8, 15, 16, 31, 63, n // 2, n - 17, n - 9, n - 8, n - 2, n - 1} & set(range(n)))
    for pos in positions:
        values = base.copy()
        values[pos] = special
        assert_same(mean_of(values), exact_mean(values), f"position {pos}")
        # The same slot as a null is ignored.
        mask = np.zeros(n, bool)
        mask[pos] = True
        assert_same(mean_of(pa.array(values, mask=mask)), exact_mean(values, ~mask), f"null at {pos}")


@pytest.mark.parametrize("n", [8, 9, 63, 64, 65, 511, 513, 4096, 4099])
def test_null_at_any_boundary_position(n, rng):
    values = rng.choice(EXTREMES[:12], n)
    for pos in sorted({0, 1, 7, 8, 31, 32, 63, n - 1, n - 2, n // 2} & set(range(n))):
        mask = np.zeros(n, bool)
        mask[pos] = True
        arr = pa.array(values, mask=mask)
        assert_same(mean_of(arr), exact_mean(values, ~mask), f"null at {pos}")
        assert mean_of(arr, skip_nulls=False) is None


extreme_or_finite = st.one_of(st.sampled_from(EXTREMES.tolist()), finite_f32)


@settings(HYPOTHESIS, max_examples=40)
@given(hnp.arrays(F32, st.integers(0, 5000), elements=extreme_or_finite), st.integers(0, 2**32 - 1))
def test_property_extreme_mixtures_of_any_length(values, seed):
    local = np.random.default_rng(seed)
    assert_same(mean_of(values), exact_mean(values))
    valid = local.random(values.size) < local.random()
    assert_same(mean_of(pa.array(values, mask=~valid), threads=2), exact_mean(values, valid))


def test_long_run_of_extremes_in_large_blocks(rng):
    n = 1_000_003
    values = rng.choice(EXTREMES, n)
    for threads in (1, 2):
        assert_same(mean_of(values, threads=threads), exact_mean(values), f"threads={threads}")
    ones_and_subnormals = np.where(rng.random(n) < 0.5, F32(1.0), F32(F32_SUB)).astype(F32)
    assert_same(mean_of(ones_and_subnormals), exact_mean(ones_and_subnormals))
    max_and_subnormals = np.where(rng.random(n) < 0.5, F32(F32_MAX), F32(-F32_SUB)).astype(F32)
    assert_same(mean_of(max_and_subnormals), exact_mean(max_and_subnormals))


def test_the_exact_reference_passes_its_own_self_checks():
    import exact

    exact._self_check()
