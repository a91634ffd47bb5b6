"""Null, NaN, infinity, min_count and skip_nulls rules: those of pyarrow.compute.mean."""

from __future__ import annotations

import math
import sys

import hypothesis.strategies as st
import mapmean
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from exact import assert_same, bits, exact_mean
from hypothesis import given, settings

F32 = np.float32
nan, inf = math.nan, math.inf


def mean_of(source, *args, **kwargs):
    result = mapmean.mean(source, *args, **kwargs)
    assert isinstance(result, pa.DoubleScalar)
    return result.as_py()


def pyarrow_mean(arr, **kwargs):
    return pc.mean(arr, **kwargs).as_py()


# Small integer-valued data: pyarrow's float64 sum is exact there, so its
# answer is the reference for every rule.
CASES = {
    "plain": [1, 2, 3, 4],
    "one_value": [7],
    "empty": [],
    "all_null": [None, None, None],
    "one_null": [1, None, 3],
    "leading_nulls": [None, None, 5, 6],
    "nan": [1, nan, 3],
    "nan_and_null": [None, nan, 2],
    "nan_under_null_is_not_a_nan": [1, None, 3],
    "pos_inf": [1, inf, 3],
    "neg_inf": [1, -inf, 3],
    "both_inf": [inf, 1, -inf],
    "inf_and_nan": [inf, nan],
    "inf_and_null": [inf, None],
    "only_nan": [nan],
    "zeros": [0, 0, 0],
    "negative": [-5, -6, -7, -9],
    "half": [1, 2],
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("skip_nulls", [True, False])
@pytest.mark.parametrize("min_count", [0, 1, 2, 3, 5])
def test_rules_agree_with_pyarrow_compute_mean(name, skip_nulls, min_count):
    arr = pa.array(CASES[name], type=pa.float32())
    want = pyarrow_mean(arr, skip_nulls=skip_nulls, min_count=min_count)
    got = mean_of(arr, skip_nulls=skip_nulls, min_count=min_count)
    assert_same(got, want, f"{name} skip_nulls={skip_nulls} min_count={min_count}")


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("skip_nulls", [True, False])
@pytest.mark.parametrize("min_count", [0, 1, 3])
def test_rules_agree_with_pyarrow_for_ipc_files(name, skip_nulls, min_count, tmp_arrow):
    arr = pa.array(CASES[name], type=pa.float32())
    values = arr.to_numpy(zero_copy_only=False).astype(F32)
    mask = np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    values[mask] = 0
    path = mapmean.write_ipc(tmp_arrow(), values, mask=mask)
    want = pyarrow_mean(arr, skip_nulls=skip_nulls, min_count=min_count)
    got = mean_of(path, skip_nulls=skip_nulls, min_count=min_count)
    assert_same(got, want, f"{name} skip_nulls={skip_nulls} min_count={min_count}")


def test_defaults_are_skip_nulls_and_min_count_one():
    arr = pa.array([1, None, 4], type=pa.float32())
    assert mean_of(arr) == 2.5
    assert mean_of(pa.array([], type=pa.float32())) is None
    assert mean_of(pa.array([None, None], type=pa.float32())) is None


def test_skip_nulls_false_gives_null_when_any_value_is_null():
    arr = pa.array([1, 2, None], type=pa.float32())
    assert mean_of(arr, skip_nulls=False) is None
    assert mean_of(arr, skip_nulls=True) == 1.5
    assert mean_of(pa.array([1, 2], type=pa.float32()), skip_nulls=False) == 1.5


def test_skip_nulls_false_null_wins_over_nan():
    arr = pa.array([nan, None], type=pa.float32())
    assert mean_of(arr, skip_nulls=False) is None
    assert pyarrow_mean(arr, skip_nulls=False) is None


def test_min_count_counts_valid_values_only():
    arr = pa.array([1, None, 3, None], type=pa.float32())
    assert mean_of(arr, min_count=2) == 2.0
    assert mean_of(arr, min_count=3) is None


def test_min_count_counts_nan_as_a_valid_value():
    arr = pa.array([nan, 1], type=pa.float32())
    assert math.isnan(mean_of(arr, min_count=2))
    assert mean_of(arr, min_count=3) is None


def test_min_count_zero_on_empty_input_is_nan():
    assert math.isnan(mean_of(pa.array([], type=pa.float32()), min_count=0))
    assert math.isnan(pyarrow_mean(pa.array([], type=pa.float32()), min_count=0))


def test_min_count_zero_on_all_null_input_is_nan():
    arr = pa.array([None, None], type=pa.float32())
    assert math.isnan(mean_of(arr, min_count=0))
    assert math.isnan(mean_of(arr, min_count=0, skip_nulls=True))


def test_empty_and_all_null_give_a_null_double_scalar():
    for arr in (pa.array([], type=pa.float32()), pa.array([None] * 10, type=pa.float32())):
        result = mapmean.mean(arr)
        assert isinstance(result, pa.DoubleScalar)
        assert result.type == pa.float64()
        assert not result.is_valid
        assert result.as_py() is None


def test_empty_numpy_array_gives_null():
    assert mean_of(np.array([], dtype=F32)) is None
    assert math.isnan(mean_of(np.array([], dtype=F32), min_count=0))


def test_result_is_a_valid_float64_scalar():
    result = mapmean.mean(pa.array([1.0, 2.0], type=pa.float32()))
    assert isinstance(result, pa.DoubleScalar)
    assert result.type == pa.float64()
    assert result.is_valid
    assert result == pa.scalar(1.5, pa.float64())


def test_nan_among_valid_values_gives_nan():
    assert math.isnan(mean_of(np.array([1, 2, np.nan, 4], dtype=F32)))
    assert math.isnan(mean_of(np.array([np.inf, np.nan], dtype=F32)))


def test_negative_nan_and_signalling_nan_patterns_give_nan():
    patterns = np.array([0xFFC00000, 0x7F800001, 0xFF800001, 0x7FBFFFFF], dtype=np.uint32)
    for p in patterns:
        values = np.array([1.0, 2.0, 0.0], dtype=F32)
        values.view(np.uint32)[2] = p
        assert math.isnan(mean_of(values)), hex(p)


def test_infinities():
    assert mean_of(np.array([1, np.inf], dtype=F32)) == inf
    assert mean_of(np.array([1, -np.inf], dtype=F32)) == -inf
    assert mean_of(np.array([np.inf, np.inf, 3e38], dtype=F32)) == inf
    assert math.isnan(mean_of(np.array([np.inf, 1, -np.inf], dtype=F32)))
    assert math.isnan(mean_of(np.array([np.inf, np.nan, -np.inf], dtype=F32)))


def test_infinity_with_huge_finite_values_stays_infinite():
    values = np.array([3e38] * 100 + [-3e38] * 200 + [np.inf], dtype=F32)
    assert mean_of(values) == inf


def test_negative_zero_only_gives_positive_zero():
    result = mean_of(np.array([-0.0, -0.0, -0.0], dtype=F32))
    assert result == 0.0
    assert bits(result) == bits(0.0), "the exact sum of zeros is +0"
    assert bits(mean_of(pa.array([-0.0], type=pa.float32()))) == bits(0.0)


def test_signed_zeros_mixed_give_zero():
    assert mean_of(np.array([0.0, -0.0], dtype=F32)) == 0.0


def test_values_that_cancel_to_zero_give_positive_zero():
    result = mean_of(np.array([-1.5, 1.5, -2.0, 2.0], dtype=F32))
    assert bits(result) == bits(0.0)


# ---------------------------------------------------------------- garbage under nulls


def arrow_with_garbage_under_nulls(values, valid):
    """A Float32Array whose null slots hold the given (garbage) values."""
    values = np.ascontiguousarray(values, dtype=F32)
    validity = pa.py_buffer(np.packbits(valid, bitorder="little").tobytes())
    data = pa.py_buffer(values.tobytes())
    arr = pa.Array.from_buffers(pa.float32(), len(values), [validity, data])
    arr.validate(full=True)
    return arr


@pytest.mark.parametrize("garbage", [nan, inf, -inf, 3e38, -3e38, 1e-45])
def test_values_under_nulls_are_never_read(garbage, rng):
    n = 1000
    valid = rng.random(n) < 0.6
    good = rng.integers(-100, 100, n).astype(F32)
    values = np.where(valid, good, F32(garbage)).astype(F32)
    arr = arrow_with_garbage_under_nulls(values, valid)
    assert arr.null_count == n - valid.sum()
    want = exact_mean(good, valid)
    assert_same(mean_of(arr), want)
    assert_same(mean_of(arr), pyarrow_mean(arr))
    assert_same(mean_of(np.ma.masked_array(values, mask=~valid)), want)


def test_garbage_under_nulls_in_ipc_files_is_never_read(rng, tmp_arrow):
    n = 5000
    valid = rng.random(n) < 0.5
    good = rng.integers(-100, 100, n).astype(F32)
    values = np.where(valid, good, F32(nan)).astype(F32)
    values[~valid & (np.arange(n) % 3 == 0)] = F32(3e38)
    values[~valid & (np.arange(n) % 3 == 1)] = F32(-inf)
    want = exact_mean(good, valid)
    for batch_rows in (None, 7, 1000):
        path = mapmean.write_ipc(tmp_arrow(), values, mask=~valid, batch_rows=batch_rows)
        assert_same(mean_of(path), want, f"batch_rows={batch_rows}")
    # pyarrow's own writer keeps the garbage too.
    arr = arrow_with_garbage_under_nulls(values, valid)
    path = tmp_arrow()
    with pa.ipc.new_file(path, pa.schema([("values", pa.float32())])) as writer:
        writer.write_batch(pa.record_batch([arr], names=["values"]))
    assert_same(mean_of(path), want, "pyarrow writer")


def test_nan_as_null_makes_nans_nulls(tmp_arrow):
    values = np.array([1, np.nan, 3, np.nan], dtype=F32)
    path = mapmean.write_ipc(tmp_arrow(), values, nan_as_null=True)
    assert mean_of(path) == 2.0
    assert mean_of(path, skip_nulls=False) is None
    assert math.isnan(mean_of(mapmean.write_ipc(tmp_arrow(), values)))


# ---------------------------------------------------------------- slices and offsets


@pytest.mark.parametrize("offset", [1, 3, 5, 7, 8, 9, 63, 65])
def test_slice_with_odd_offset(offset, rng):
    n = 700
    values = rng.integers(-1000, 1000, n).astype(F32)
    valid = rng.random(n) < 0.8
    arr = pa.array(values, mask=~valid)
    for length in (0, 1, 2, 13, 100, n - offset - 3):
        sliced = arr.slice(offset, length)
        assert sliced.offset == offset
        want = exact_mean(values[offset : offset + length], valid[offset : offset + length])
        assert_same(mean_of(sliced), want, f"offset={offset} length={length}")
        assert_same(mean_of(sliced), pyarrow_mean(sliced), f"pyarrow offset={offset} length={length}")
        assert_same(
            mean_of(sliced, skip_nulls=False),
            pyarrow_mean(sliced, skip_nulls=False),
            f"skip_nulls=False offset={offset} length={length}",
        )


def test_slice_without_nulls_and_odd_offset(rng):
    values = rng.random(1001, dtype=F32)
    arr = pa.array(values).slice(3, 995)
    assert_same(mean_of(arr), exact_mean(values[3:998]))


def test_slice_whose_nulls_are_all_outside_is_not_null_with_skip_nulls_false():
    arr = pa.array([None, None, None, 1, 2, 3, None], type=pa.float32())
    sliced = arr.slice(3, 3)
    assert sliced.null_count == 0
    assert mean_of(sliced, skip_nulls=False) == 2.0
    assert pyarrow_mean(sliced, skip_nulls=False) == 2.0


def test_sliced_chunks_in_a_chunked_array(rng):
    values = rng.integers(-50, 50, 300).astype(F32)
    valid = rng.random(300) < 0.7
    arr = pa.array(values, mask=~valid)
    chunked = pa.chunked_array([arr.slice(3, 50), arr.slice(101, 33), arr.slice(299, 1)])
    want_values = np.concatenate([values[3:53], values[101:134], values[299:300]])
    want_valid = np.concatenate([valid[3:53], valid[101:134], valid[299:300]])
    assert_same(mean_of(chunked), exact_mean(want_values, want_valid))
    assert_same(mean_of(chunked), pyarrow_mean(chunked))


def test_sliced_record_batch_and_table(rng):
    values = rng.integers(-50, 50, 200).astype(F32)
    batch = pa.record_batch([pa.array(values)], names=["x"]).slice(5, 77)
    table = pa.table({"x": values}).slice(11, 100)
    assert_same(mean_of(batch, "x"), exact_mean(values[5:82]))
    assert_same(mean_of(table, "x"), exact_mean(values[11:111]))


def test_min_count_larger_than_the_data_gives_null():
    assert mean_of(np.arange(10, dtype=F32), min_count=11) is None
    assert mean_of(np.arange(10, dtype=F32), min_count=10) == 4.5


def test_options_apply_to_every_source_kind(tmp_arrow):
    values = np.array([1, 2, 3, 100], dtype=F32)
    mask = np.array([False, False, False, True])
    sources = [
        pa.array(values, mask=mask),
        pa.chunked_array([pa.array(values[:2]), pa.array(values[2:], mask=mask[2:])]),
        np.ma.masked_array(values, mask=mask),
        mapmean.write_ipc(tmp_arrow(), values, mask=mask),
        mapmean.write_ipc(tmp_arrow(), values, mask=mask, format="stream"),
    ]
    for source in sources:
        assert mean_of(source) == 2.0
        assert mean_of(source, skip_nulls=False) is None
        assert mean_of(source, min_count=4) is None
        assert mean_of(source, min_count=3) == 2.0


# ---------------------------------------------------------------- against pyarrow, property-based

small_values = st.one_of(
    st.integers(-1000, 1000).map(float),
    st.sampled_from([nan, inf, -inf, 0.5, -0.0]),
    st.none(),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(small_values, max_size=60), st.booleans(), st.integers(0, 5), st.integers(0, 5))
def test_property_rules_agree_with_pyarrow_on_small_values(items, skip_nulls, min_count, offset):
    arr = pa.array(items, type=pa.float32())
    arr = arr.slice(min(offset, len(arr)))
    want = pyarrow_mean(arr, skip_nulls=skip_nulls, min_count=min_count)
    got = mean_of(arr, skip_nulls=skip_nulls, min_count=min_count)
    if want is not None and want == 0.0 and not math.isnan(want):
        # pyarrow keeps the sign of a -0.0 sum; mapmean's exact zero is +0.0.
        assert got == 0.0
        assert bits(got) == bits(0.0)
    else:
        assert_same(got, want, f"{items} offset={offset}")


def test_result_scalars_keep_their_values_and_are_float64():
    # The scalar is copied out of a per-thread array that the next call
    # overwrites: earlier results must not change.
    first = mapmean.mean(np.array([1.0, 2.0], F32))
    results = [mapmean.mean(np.array([x], F32)) for x in (5.0, nan, -inf, 0.25)]
    second = mapmean.sum(np.array([3.0, 4.0], F32))
    assert first.as_py() == 1.5 and second.as_py() == 7.0
    assert results[0].as_py() == 5.0 and results[2].as_py() == -inf
    assert math.isnan(results[1].as_py()) and results[3].as_py() == 0.25
    for r in [first, second, *results]:
        assert isinstance(r, pa.DoubleScalar) and r.type == pa.float64() and r.is_valid
    null = mapmean.mean(np.array([], F32))
    assert null.type == pa.float64() and not null.is_valid and null.as_py() is None


def test_results_computed_on_many_threads_at_once_are_each_their_own():
    import threading

    arrays = [np.full(100 + i, i, dtype=F32) for i in range(8)]
    failures = []

    def work(i):
        for _ in range(300):
            got = mapmean.mean(arrays[i]).as_py()
            if got != float(i):
                failures.append((i, got))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert failures == []


def test_each_thread_writes_results_into_its_own_array():
    import threading

    seen = []

    def work():
        mapmean._double_scalar(1.0)
        seen.append(mapmean._DOUBLE_SLOTS.pair[1])

    for _ in range(2):  # one after the other: the second finds the first's
        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
    assert len(seen) == 2 and seen[0] is not seen[1]


def test_results_are_right_even_if_pyarrow_copied_the_slot(monkeypatch):
    import threading

    real_array = pa.array
    monkeypatch.setattr(mapmean.pa, "array", lambda values: real_array(values.copy()))
    got = []

    def work():  # a fresh thread: its slot is made under the patch
        got.extend(mapmean._double_scalar(x).as_py() for x in (1.5, 2.5))

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert got == [1.5, 2.5]
