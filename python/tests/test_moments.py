"""mapmean.sum, variance and stddev: correctly rounded against an exact oracle
(Python integers and fractions.Fraction), with pyarrow.compute's semantics."""

from __future__ import annotations

import io
import math
import os
import pickle
import statistics
import subprocess
import sys
from fractions import Fraction
from typing import Optional

import mapmean
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from exact import assert_same

F32 = np.float32
nan, inf = math.nan, math.inf


# --- the oracle ------------------------------------------------------------


def units(values: np.ndarray) -> list[int]:
    """Every finite float32 as an exact integer number of units 2**-149."""
    frac, exp = np.frexp(np.asarray(values, dtype=np.float64))
    mantissa = (frac * 2.0**24).astype(np.int64)  # exact: 24 significant bits
    shift = exp.astype(np.int64) - 24 + 149
    out = []
    for m, s in zip(mantissa.tolist(), shift.tolist()):
        out.append(m << s if s >= 0 else m >> -s)  # m has >= -s trailing zeros
    return out


def exact_variance(values: np.ndarray, ddof: int) -> Fraction:
    """Σ(x - μ)² / (n - ddof), exactly."""
    xs = units(values)
    n, total = len(xs), builtins_sum(xs)
    ss = builtins_sum((n * x - total) ** 2 for x in xs)
    return Fraction(ss, n * n * (n - ddof)) / 2**298


builtins_sum = sum


def exact_total(values: np.ndarray) -> Fraction:
    return Fraction(builtins_sum(units(values)), 2**149)


def rounded_sqrt(value: Fraction) -> float:
    """The float nearest sqrt(value), ties to even, checked with exact squares."""
    r = math.sqrt(float(value))
    for _ in range(4):
        up, down = math.nextafter(r, inf), math.nextafter(r, 0.0)
        hi = (Fraction(r) + Fraction(up)) / 2
        lo = (Fraction(down) + Fraction(r)) / 2 if r > 0 else Fraction(0)
        if value > hi * hi:
            r = up
        elif value < lo * lo:
            r = down
        else:
            return r
    raise AssertionError("no nearest float found")


def check(values: np.ndarray, ddof: int = 0, **kwargs) -> None:
    """mapmean's sum, variance and stddev equal the exact values rounded once."""
    values = np.asarray(values, dtype=F32)
    var = exact_variance(values, ddof)
    assert_same(mapmean.variance(values, ddof=ddof, **kwargs).as_py(), float(var), f"variance ddof={ddof}")
    assert_same(mapmean.stddev(values, ddof=ddof, **kwargs).as_py(), rounded_sqrt(var), f"stddev ddof={ddof}")
    assert_same(mapmean.sum(values, **kwargs).as_py(), float(exact_total(values)), "sum")


# --- adversarial data -------------------------------------------------------


@pytest.mark.parametrize("x", [0.1, 3e7, -1e-40, 3.4e38, 1.0])
def test_constant_arrays_have_variance_exactly_zero(x):
    values = np.full(100_003, x, dtype=F32)
    assert mapmean.variance(values).as_py() == 0.0
    assert mapmean.stddev(values, ddof=1).as_py() == 0.0


def test_offset_1e4_plus_normal_noise(rng):
    values = (1e4 + rng.standard_normal(200_000)).astype(F32)
    for ddof in (0, 1):
        check(values, ddof)
    sample = values[:2000]
    want = statistics.variance([Fraction(float(v)) for v in sample])
    assert mapmean.variance(sample, ddof=1).as_py() == float(want)


def test_offset_3e7_plus_uniform(rng):
    values = (3e7 + rng.uniform(0, 64, 100_000)).astype(F32)
    check(values, 1)
    want = statistics.pvariance([float(v) for v in values[:3000]])
    assert mapmean.variance(values[:3000]).as_py() == want


def test_cancelling_magnitudes():
    values = np.array([3e37, 0.75, -3e37, 1.5] * 5000, dtype=F32)
    check(values, 0)
    check(values, 1)


def test_subnormals(rng):
    values = (rng.integers(-(2**23), 2**23, 50_000).astype(np.int64)).astype(F32) * F32(2.0**-149)
    assert np.all(np.abs(values) < np.finfo(F32).tiny)
    check(values, 0)
    check(np.array([2.0**-149, 2.0**-148], dtype=F32), 1)


def test_values_near_float32_max(rng):
    top = np.finfo(F32).max
    values = np.where(rng.random(50_000) < 0.5, top, np.nextafter(top, F32(0))).astype(F32)
    values[::7] *= -1
    check(values, 0)
    check(values, 1)


def test_sixty_decades_of_magnitudes(rng):
    values = (10.0 ** rng.uniform(-30, 30, 60_000) * rng.choice([-1, 1], 60_000)).astype(F32)
    check(values, 0)
    check(values, 1)


def test_one_and_two_values_with_ddof_one():
    assert mapmean.variance(np.array([5], dtype=F32), ddof=1).as_py() is None
    assert mapmean.stddev(np.array([5], dtype=F32), ddof=1).as_py() is None
    assert mapmean.variance(np.array([5], dtype=F32)).as_py() == 0.0
    check(np.array([1, 2], dtype=F32), 1)
    check(np.array([1e-45, 3e38], dtype=F32), 1)


def test_nulls_with_junk_under_them(rng):
    values = rng.standard_normal(10_000).astype(F32) + F32(100)
    valid = rng.random(10_000) < 0.7
    junk = values.copy()
    junk[~valid] = np.array([nan, inf, -inf, 3e38], dtype=F32)[np.arange((~valid).sum()) % 4]
    array = pa.Array.from_buffers(
        pa.float32(), len(junk), [pa.array(valid).buffers()[1], pa.py_buffer(junk.tobytes())]
    )
    assert array.null_count == (~valid).sum()
    for ddof in (0, 1):
        var = exact_variance(values[valid], ddof)
        assert_same(mapmean.variance(array, ddof=ddof).as_py(), float(var))
        assert_same(mapmean.stddev(array, ddof=ddof).as_py(), rounded_sqrt(var))
    assert_same(mapmean.sum(array).as_py(), float(exact_total(values[valid])))


# --- one answer for every split --------------------------------------------


def test_bitwise_the_same_for_every_thread_count_and_chunking(rng):
    values = (10.0 ** rng.uniform(-10, 10, 3_000_017)).astype(F32) + F32(1e4)
    whole = mapmean.moments_state(values, threads=1)
    for threads in (2, 3, 8):
        assert mapmean.moments_state(values, threads=threads) == whole
    for cuts in ([1], [2047, 2048, 1 << 20], [999_999, 2_000_000]):
        chunks = np.split(values, cuts)
        assert mapmean.moments_state(pa.chunked_array(chunks), threads=2) == whole
    assert mapmean.variance(values, threads=1).as_py() == mapmean.variance(values, threads=4).as_py()


# --- every source mean accepts ----------------------------------------------


def test_every_source_gives_the_same_state(rng, tmp_arrow):
    base = (rng.standard_normal((600, 50)) * 1e3 + 3e7).astype(F32)
    flat = np.ascontiguousarray(base).reshape(-1)
    want = mapmean.moments_state(flat)
    path = mapmean.write_ipc(tmp_arrow(), flat, batch_rows=7000)
    assert mapmean.moments_state(path) == want
    assert mapmean.moments_state(str(path)) == want
    assert mapmean.moments_state(pa.table({"x": flat}), "x") == want
    with mapmean.share({"x": flat}) as table:
        assert mapmean.moments_state("shm://" + table.name, "x") == want
        assert mapmean.moments_state(table, "x") == want
    # Strided and transposed views read in place.
    transposed = np.asfortranarray(base).T
    assert mapmean.variance(transposed).as_py() == mapmean.variance(np.ascontiguousarray(transposed)).as_py()
    strided = flat[::3]
    assert mapmean.moments_state(strided) == mapmean.moments_state(strided.copy())
    masked = np.ma.masked_array(flat, mask=flat > 3e7)
    got, kept = mapmean.moments_state(masked), mapmean.moments_state(flat[flat <= 3e7])
    assert (got.count, got.null_count) == (kept.count, int((flat > 3e7).sum()))
    assert got.variance(ddof=1).equals(kept.variance(ddof=1)) and got.sum().equals(kept.sum())


def test_streams_and_file_objects_give_the_state_of_the_whole(rng, tmp_arrow):
    values = (rng.standard_normal(300_001) * 10 + 3e7).astype(F32)
    want = mapmean.moments_state(values)
    batches = (pa.record_batch({"x": values[i : i + 9_999]}) for i in range(0, len(values), 9_999))
    reader = pa.RecordBatchReader.from_batches(pa.schema({"x": pa.float32()}), batches)
    assert mapmean.moments_state(reader, "x") == want
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, pa.schema({"x": pa.float32()})) as writer:
        for i in range(0, len(values), 50_000):
            writer.write_batch(pa.record_batch({"x": values[i : i + 50_000]}))
    sink.seek(0)
    assert mapmean.variance(sink, "x", ddof=1).equals(want.variance(ddof=1))
    path = mapmean.write_ipc(tmp_arrow(), values, batch_rows=65_536)
    with open(path, "rb") as file:
        assert mapmean.moments_state(file) == want
    with pa.OSFile(str(path)) as file:
        assert mapmean.stddev(file).equals(want.stddev())


def test_a_stream_that_fails_part_way_gives_no_result():
    def batches():
        yield pa.record_batch({"x": pa.array([1.0, 2.0], pa.float32())})
        raise RuntimeError("the producer broke")

    reader = pa.RecordBatchReader.from_batches(pa.schema({"x": pa.float32()}), batches())
    with pytest.raises(ValueError, match="the producer broke"):
        mapmean.variance(reader)


def test_every_instruction_set_gives_the_same_bits(rng, tmp_path):
    values = (10.0 ** rng.uniform(-20, 20, 500_000) * rng.choice([-1, 1], 500_000)).astype(F32)
    values[::1000] = 1e4 + rng.standard_normal(500).astype(F32)
    np.save(tmp_path / "v.npy", values)
    code = (
        "import sys, numpy as np, mapmean; v = np.load(sys.argv[1]); "
        "s = mapmean.moments_state(v); s2 = mapmean.moments_state(v[::7]); "
        "sys.stdout.write((s.to_bytes() + s2.to_bytes()).hex())"
    )
    outputs = {}
    for isa in ("avx512", "avx2", "neon", "portable"):
        env = dict(os.environ, MAPMEAN_ISA=isa)
        run = subprocess.run([sys.executable, "-c", code, str(tmp_path / "v.npy")], env=env, capture_output=True, check=True)
        outputs[isa] = run.stdout
    assert len(set(outputs.values())) == 1, outputs.keys()
    assert outputs["portable"] == (mapmean.moments_state(values).to_bytes() + mapmean.moments_state(values[::7]).to_bytes()).hex().encode()


def test_non_numeric_numpy_is_a_type_error():
    with pytest.raises(TypeError):
        mapmean.variance(np.zeros(3, dtype=bool))


# --- pyarrow.compute semantics ---------------------------------------------

CASES = {
    "plain": [1, 2, 3, 4],
    "one_value": [7],
    "two_values": [1, 2],
    "empty": [],
    "all_null": [None, None],
    "one_null": [1, None, 3],
    "nan": [1, nan, 3],
    "only_nan": [nan],
    "nan_and_null": [None, nan, 2],
    "pos_inf": [1, inf],
    "neg_inf": [-inf, 1],
    "both_inf": [inf, -inf],
    "inf_and_nan": [inf, nan],
    "negative_zeros": [-0.0, -0.0],
}
OPTIONS = [
    {},
    {"skip_nulls": False},
    {"min_count": 0},
    {"min_count": 3},
    {"skip_nulls": False, "min_count": 0},
]
VAR_OPTIONS = OPTIONS + [{"ddof": 1}, {"ddof": 2}, {"ddof": -1}, {"ddof": 1, "min_count": 2}]


def same(got: Optional[float], want: Optional[float]) -> bool:
    if got is None or want is None:
        return got is want
    if math.isnan(want):
        return math.isnan(got)
    return got == want and math.copysign(1, got) == math.copysign(1, want)


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("options", OPTIONS, ids=str)
def test_sum_follows_pyarrow(name, options):
    # Small integer-valued data: pyarrow's float64 sum is exact here.
    array = pa.array(CASES[name], pa.float32())
    got = mapmean.sum(array, **options).as_py()
    assert same(got, pc.sum(array, **options).as_py()), (got, pc.sum(array, **options))


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("options", OPTIONS, ids=str)
def test_the_mean_state_sums_as_the_moments_state(name, options):
    # mapmean.sum reads only a MeanState: its sum must be the moments state's, rule for rule.
    array = pa.array(CASES[name], pa.float32())
    want = mapmean.moments_state(array).sum(**options)
    assert isinstance(want, pa.DoubleScalar)  # as mapmean.sum returns
    want = want.as_py()
    assert same(mapmean.mean_state(array).sum(**options).as_py(), want)
    assert same(mapmean.sum(array, **options).as_py(), want)


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("options", VAR_OPTIONS, ids=str)
@pytest.mark.parametrize("function", ["variance", "stddev"])
def test_variance_and_stddev_follow_pyarrow(name, options, function):
    array = pa.array(CASES[name], pa.float32())
    got = getattr(mapmean, function)(array, **options)
    assert isinstance(got, pa.DoubleScalar)
    want = getattr(pc, function)(array, **options).as_py()
    if want is not None and math.isfinite(want):
        # pyarrow's value may be off in the last place: compare with the
        # exact oracle instead, and with pyarrow within a relative 1e-15.
        valid = np.array([v for v in CASES[name] if v is not None], dtype=F32)
        # No values with a negative ddof: 0 (pyarrow's answer, and the empty sum over a nonzero divisor).
        var = exact_variance(valid, options.get("ddof", 0)) if len(valid) else Fraction(0)
        exact = float(var) if function == "variance" else rounded_sqrt(var)
        assert same(got.as_py(), exact)
        assert math.isclose(got.as_py(), want, rel_tol=1e-15, abs_tol=1e-300)
    else:
        assert same(got.as_py(), want), (got, want)


# --- the state ---------------------------------------------------------------


def test_state_pickles_serialises_and_merges_exactly(rng):
    values = (rng.standard_normal(100_000) + 1e4).astype(F32)
    whole = mapmean.moments_state(values)
    a, b = mapmean.moments_state(values[:33_333]), mapmean.moments_state(values[33_333:])
    b = pickle.loads(pickle.dumps(b))
    a.merge(mapmean.MomentsState.from_bytes(b.to_bytes()))
    assert a == whole
    assert a.variance(ddof=1).equals(mapmean.variance(values, ddof=1))
    assert a.mean().equals(mapmean.mean(values))
    assert a.mean_state() == mapmean.mean_state(values)
    assert len(whole.to_bytes()) == 176
    assert "MomentsState(count=100000" in repr(whole)


def test_corrupt_state_bytes_are_a_value_error():
    good = mapmean.moments_state(np.array([1, 2, 3], dtype=F32)).to_bytes()
    assert good[:8] == b"MMmo\x01\x00\x00\x00"
    for bad in (good[:-1], b"X" + good[1:], good[:8] + bytes(8) + good[16:], good[:96] + bytes(80)):
        with pytest.raises(ValueError):
            mapmean.MomentsState.from_bytes(bad)
    with pytest.raises(ValueError, match="mean state"):
        mapmean.MomentsState.from_bytes(mapmean.mean_state(np.ones(3, dtype=F32)).to_bytes())


def test_the_bytes_hold_the_exact_sums_as_documented(rng):
    values = (rng.standard_normal(1000) * 1e3).astype(F32)
    b = mapmean.moments_state(values).to_bytes()
    count = int.from_bytes(b[8:16], "little")
    s = int.from_bytes(b[48:96], "little", signed=True)
    q = int.from_bytes(b[96:176], "little")
    assert Fraction(s, 2**149) == exact_total(values)
    assert Fraction(count * q - s * s, count * (count - 1)) / 2**298 == exact_variance(values, 1)


def test_a_merge_past_two_to_the_64_rows_is_an_overflow_error():
    one = mapmean.moments_state(np.ones(1, dtype=F32))
    full = bytearray(mapmean.MomentsState().to_bytes())
    full[16:24] = (2**64 - 1).to_bytes(8, "little")  # null_count
    full = mapmean.MomentsState.from_bytes(bytes(full))
    before = one.to_bytes()
    with pytest.raises(OverflowError):
        one.merge(full)
    assert one.to_bytes() == before


@pytest.mark.parametrize("function", [mapmean.variance, mapmean.stddev])
def test_bad_ddof_and_min_count(function):
    values = np.ones(3, dtype=F32)
    with pytest.raises(TypeError):
        function(values, ddof=1.5)
    with pytest.raises(ValueError):
        function(values, min_count=-1)
    with pytest.raises(ValueError):
        function(values, ddof=2**40)
