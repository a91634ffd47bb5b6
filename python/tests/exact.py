"""The exact reference for mapmean's results, independent of mapmean.

Every finite float32 is ``m * 2**k`` with an integer ``|m| < 2**24``. The sum of
the values is computed exactly as a Python integer times a power of two (the
mantissas are grouped by exponent and summed with numpy, exactly, then the few
group sums are shifted and added as Python ints), and the mean is rounded once
by ``float(Fraction(sum, count))`` -- CPython's int/int true division is
correctly rounded (to nearest, ties to even).

The rules for nulls, NaN, infinities and ``min_count`` are those of
``pyarrow.compute.mean`` (and of mapmean's contract).

Run ``python exact.py`` for self-checks.
"""

from __future__ import annotations

import math
import struct
from fractions import Fraction
from typing import Optional

import numpy as np

# Every finite float32 x, as float64, is frac * 2**exp with frac in [0.5, 1):
# frac * 2**24 is an integer (24 significant bits), so x = m * 2**(exp - 24).
_MANTISSA_BITS = 24


def _exact_sum_any(values: np.ndarray) -> Fraction:
    """The exact sum of finite values of any float or integer dtype (slower)."""
    if values.dtype.kind in "iu":
        return Fraction(sum(int(x) for x in values.reshape(-1).tolist()))
    if values.dtype.kind != "f":
        raise TypeError(f"exact_sum needs numeric values, got {values.dtype}")
    return sum((Fraction(float(x)) for x in values.reshape(-1).tolist()), Fraction(0))


def exact_sum(values: np.ndarray) -> Fraction:
    """The exact sum of finite float32 values, as a Fraction (a dyadic rational)."""
    values = np.asarray(values)
    if values.dtype != np.float32:
        return _exact_sum_any(values)
    values = values.reshape(-1)
    # sum = sum over exponents e of groups[e] * 2**(e - 24), groups[e] a Python int.
    groups: dict[int, int] = {}
    for start in range(0, values.size, _CHUNK):
        _add_groups(values[start : start + _CHUNK], groups)
    total = 0
    if groups:
        lo = min(groups)
        for e, group in groups.items():
            total += group << (e - lo)
        shift = lo - _MANTISSA_BITS
    else:
        shift = 0
    if shift >= 0:
        return Fraction(total << shift)
    return Fraction(total, 1 << -shift)


# Values are processed in chunks to keep memory modest for large arrays; group
# sums of integer mantissas in float64 are exact while every partial sum stays
# below 2**53, and _CHUNK * 2**24 < 2**53.
_CHUNK = 1 << 22


def _add_groups(values: np.ndarray, groups: dict) -> None:
    wide = values.astype(np.float64)
    if not np.all(np.isfinite(wide)):
        raise ValueError("exact_sum needs finite values")
    frac, exp = np.frexp(wide)
    del wide
    mant = frac * float(2**_MANTISSA_BITS)  # exact: integers with |m| < 2**24
    del frac
    assert np.all(mant == np.trunc(mant))
    nonzero = mant != 0
    if not np.any(nonzero):
        return
    mant = mant[nonzero]
    exp = exp[nonzero].astype(np.int64)
    lo = int(exp.min())
    group_sums = np.bincount(exp - lo, weights=mant)
    for offset, group in enumerate(group_sums.tolist()):
        if group:
            assert group == int(group)
            e = lo + offset
            groups[e] = groups.get(e, 0) + int(group)


def exact_mean(
    values: np.ndarray,
    valid: Optional[np.ndarray] = None,
    *,
    skip_nulls: bool = True,
    min_count: int = 1,
) -> Optional[float]:
    """The correctly rounded float64 of the exact mean of the valid float32 values.

    ``valid`` is a boolean array, True where the value is valid (not null);
    None means every value is valid. Returns None where the mean is null.
    """
    values = np.asarray(values)
    if values.dtype.kind not in "fiu":
        raise TypeError(f"exact_mean needs numeric values, got {values.dtype}")
    values = values.reshape(-1)
    if valid is not None:
        valid = np.asarray(valid, dtype=bool).reshape(-1)
        if valid.shape != values.shape:
            raise ValueError("valid must have the shape of values")
        null_count = int(values.size - np.count_nonzero(valid))
        values = values[valid]
    else:
        null_count = 0
    if not skip_nulls and null_count > 0:
        return None
    count = int(values.size)
    if count < min_count:
        return None
    if count == 0:
        return math.nan  # min_count == 0 and nothing to average: 0 / 0
    if np.any(np.isnan(values)):
        return math.nan
    has_pos_inf = bool(np.any(values == np.inf))
    has_neg_inf = bool(np.any(values == -np.inf))
    if has_pos_inf and has_neg_inf:
        return math.nan
    if has_pos_inf:
        return math.inf
    if has_neg_inf:
        return -math.inf
    total = exact_sum(values)
    # float(Fraction) is numerator / denominator: int true division, correctly rounded.
    return float(total / count)


def bits(x: float) -> int:
    """The IEEE 754 bit pattern of a float64."""
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def same_result(got: Optional[float], want: Optional[float]) -> bool:
    """True when two mean results agree: both None, both NaN, or bitwise equal
    (so 0.0 and -0.0 differ)."""
    if got is None or want is None:
        return got is None and want is None
    if math.isnan(got) or math.isnan(want):
        return math.isnan(got) and math.isnan(want)
    return bits(got) == bits(want)


def assert_same(got: Optional[float], want: Optional[float], context: str = "") -> None:
    """Assert ``same_result`` with a readable message."""
    assert same_result(got, want), (
        f"mean mismatch{' (' + context + ')' if context else ''}: got {got!r}"
        f"{'' if got is None else ' = ' + float(got).hex()}, want {want!r}"
        f"{'' if want is None else ' = ' + float(want).hex()}"
    )


def _self_check() -> None:
    f32 = np.float32
    # Cancellation.
    x = np.array([3e37, 0.75, -3e37] * 1000, dtype=f32)
    assert exact_mean(x) == 0.25
    # Agrees with Fraction over the float32 values themselves.
    rng = np.random.default_rng(1)
    for dist in ("uniform", "normal", "lognormal", "wide"):
        if dist == "uniform":
            v = rng.random(1000, dtype=f32)
        elif dist == "normal":
            v = rng.standard_normal(1000, dtype=f32)
        elif dist == "lognormal":
            v = rng.lognormal(0, 20, 1000).astype(f32)
        else:
            v = (rng.choice([-1.0, 1.0], 1000) * 10.0 ** rng.uniform(-45, 38, 1000)).astype(f32)
        v = v[np.isfinite(v)]
        want = float(sum((Fraction(float(a)) for a in v), Fraction(0)) / len(v))
        assert exact_mean(v) == want, (dist, exact_mean(v), want)
    # Subnormals and extremes.
    tiny = np.array([np.finfo(f32).smallest_subnormal] * 3, dtype=f32)
    assert exact_mean(tiny) == float(Fraction(1, 2**149))
    big = np.array([np.finfo(f32).max] * 5, dtype=f32)
    assert exact_mean(big) == float(np.finfo(f32).max)
    assert exact_mean(np.array([np.finfo(f32).max, np.finfo(f32).min], f32)) == 0.0
    # Nulls and special values.
    v = np.array([1, 2, 100], dtype=f32)
    assert exact_mean(v, np.array([True, True, False])) == 1.5
    assert exact_mean(v, np.array([True, True, False]), skip_nulls=False) is None
    assert exact_mean(v, np.array([False] * 3)) is None
    assert math.isnan(exact_mean(v, np.array([False] * 3), min_count=0))
    assert exact_mean(v, min_count=4) is None
    assert math.isnan(exact_mean(np.array([1, np.nan], f32)))
    assert exact_mean(np.array([1, np.inf], f32)) == math.inf
    assert exact_mean(np.array([1, -np.inf], f32)) == -math.inf
    assert math.isnan(exact_mean(np.array([np.inf, -np.inf], f32)))
    assert bits(exact_mean(np.array([-0.0, -0.0], f32))) == bits(0.0)
    # Rounding ties to even: (1 + 2**-52) style cases via three values.
    one_ulp = np.array([1.0, 1.0 + 2.0**-23], dtype=f32)
    assert exact_mean(one_ulp) == 1.0 + 2.0**-24
    # Chunked group sums give the same sum as one chunk.
    global _CHUNK
    v = (rng.standard_normal(10_000) * 10.0 ** rng.uniform(-40, 38, 10_000)).astype(f32)
    whole = exact_sum(v)
    saved, _CHUNK = _CHUNK, 7
    try:
        assert exact_sum(v) == whole
    finally:
        _CHUNK = saved
    assert whole == sum((Fraction(float(a)) for a in v), Fraction(0))
    print("exact.py self-checks passed")


if __name__ == "__main__":
    _self_check()
