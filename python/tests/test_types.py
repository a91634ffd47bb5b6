"""Every numeric Arrow type: float16, float32, float64, int8 ... int64, uint8 ... uint64.

mean, sum, variance, stddev, min and max of each type are checked against an exact
oracle written here (Python ints and ``fractions.Fraction``, rounded once by
``float(Fraction)``, which is correctly rounded, to nearest, ties to even) and,
where ``pyarrow.compute`` has a kernel (not for float16), against pyarrow's
rules case by case.

Result types follow pyarrow.compute: mean, variance and stddev are
``DoubleScalar``; sum is ``DoubleScalar`` for floats, ``Int64Scalar`` for signed
and ``UInt64Scalar`` for unsigned integers (an exact sum outside that range is an
``OverflowError``); min and max are scalars of the input type. The one documented
deviation from pyarrow: min of -0.0 and 0.0 is -0.0 and max is 0.0 in any order.
"""

from __future__ import annotations

import builtins
import math
import pickle
import re
import struct
import sys
from decimal import Decimal
from fractions import Fraction
from typing import Any, Optional

import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st
import mapmean
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from exact import bits
from hypothesis import HealthCheck, given, settings

FLOATS = ("float16", "float32", "float64")
SIGNED = ("int8", "int16", "int32", "int64")
UNSIGNED = ("uint8", "uint16", "uint32", "uint64")
INTEGERS = SIGNED + UNSIGNED
TYPES = FLOATS + INTEGERS
FUNCTIONS = ("mean", "sum", "variance", "stddev", "min", "max")

ARROW = {name: pa.from_numpy_dtype(np.dtype(name)) for name in TYPES}
SCALAR_CLASS = {
    "float16": pa.HalfFloatScalar,
    "float32": pa.FloatScalar,
    "float64": pa.DoubleScalar,
    "int8": pa.Int8Scalar,
    "int16": pa.Int16Scalar,
    "int32": pa.Int32Scalar,
    "int64": pa.Int64Scalar,
    "uint8": pa.UInt8Scalar,
    "uint16": pa.UInt16Scalar,
    "uint32": pa.UInt32Scalar,
    "uint64": pa.UInt64Scalar,
}

nan, inf = math.nan, math.inf
F64_MAX = sys.float_info.max
F64_TINY = sys.float_info.min  # smallest normal
F64_SUB = math.ulp(0.0)  # 5e-324
F16_MAX = 65504.0
F16_SUB = 2.0**-24
I64_MIN, I64_MAX = -(2**63), 2**63 - 1
U64_MAX = 2**64 - 1

HYPOTHESIS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# --- the exact oracle ---------------------------------------------------------


def exact_total(values: np.ndarray) -> Fraction:
    """The exact sum of finite values of any numeric dtype.

    Integers are summed as Python ints. Every finite float is ``m * 2**(e - 53)``
    with an integer ``|m| < 2**53``; the mantissas are grouped by exponent and
    summed exactly in int64 halves (``m = hi * 2**32 + lo``), then the few group
    sums are shifted and added as Python ints.
    """
    values = np.asarray(values).reshape(-1)
    if values.dtype.kind in "iu":
        return Fraction(builtins.sum(values.tolist()))
    frac, exp = np.frexp(values.astype(np.float64))
    mant = (frac * 2.0**53).astype(np.int64)  # exact: 53 significant bits at most
    nonzero = mant != 0
    mant, exp = mant[nonzero], exp[nonzero].astype(np.int64)
    if mant.size == 0:
        return Fraction(0)
    order = np.argsort(exp, kind="stable")
    mant, exp = mant[order], exp[order]
    starts = np.flatnonzero(np.concatenate([[True], exp[1:] != exp[:-1]]))
    # |hi| < 2**21 and 0 <= lo < 2**32: int64 group sums of fewer than 2**31 values are exact.
    hi = np.add.reduceat(mant >> 32, starts)
    lo = np.add.reduceat(mant & 0xFFFFFFFF, starts)
    base = int(exp[0]) - 53
    total = 0
    for e, h, low in zip(exp[starts].tolist(), hi.tolist(), lo.tolist()):
        total += ((h << 32) + low) << (e - 53 - base)
    return Fraction(total) * Fraction(2) ** base


def units(values: np.ndarray) -> tuple[list[int], int]:
    """Integers ``xs`` and a shift with ``values[i] == xs[i] * 2**shift`` exactly (finite values)."""
    values = np.asarray(values).reshape(-1)
    if values.dtype.kind in "iu":
        return values.tolist(), 0
    frac, exp = np.frexp(values.astype(np.float64))
    mant = (frac * 2.0**53).astype(np.int64)
    exps = exp.astype(np.int64) - 53
    nonzero = mant != 0
    if not np.any(nonzero):
        return [0] * values.size, 0
    shift = int(exps[nonzero].min())
    return [m << (e - shift) if m else 0 for m, e in zip(mant.tolist(), exps.tolist())], shift


def exact_variance(values: np.ndarray, ddof: int) -> Fraction:
    """``Σ(x - μ)² / (n - ddof)`` exactly, for n > max(ddof, 0) finite values."""
    xs, shift = units(values)
    n = len(xs)
    s = builtins.sum(xs)
    q = builtins.sum(x * x for x in xs)
    return Fraction(n * q - s * s, n * (n - ddof)) * Fraction(2) ** (2 * shift)


def to_double(value: Fraction) -> float:
    """The float64 nearest ``value`` (ties to even); ±inf past the largest double's rounding boundary."""
    try:
        return float(value)
    except OverflowError:
        return inf if value > 0 else -inf


def rounded_sqrt(value: Fraction) -> float:
    """The float64 nearest ``sqrt(value)``, from an integer square root.

    With ``y = value * 4**k`` scaled so that ``r = isqrt(floor(y)) >= 2**59``,
    the float64 grid (and its midpoints) falls on even integers of ``r``'s
    scale, so the true root in ``[r, r + 1)`` rounds as ``r`` (exact) or as
    ``r + 1/2`` (inexact) does.
    """
    if value < 0:
        raise ValueError("negative variance")
    if value == 0:
        return 0.0
    p, q = value.numerator, value.denominator
    k = max(0, 60 - (p.bit_length() - q.bit_length()) // 2)
    y = p << (2 * k)
    r = math.isqrt(y // q)
    exact = r * r * q == y
    return to_double(Fraction(2 * r + (0 if exact else 1), 2 ** (k + 1)))


def integer_sum(total: int, type_name: str) -> Any:
    """The exact integer sum, or OverflowError (the class) where it leaves int64 / uint64."""
    if type_name in UNSIGNED:
        return total if 0 <= total <= U64_MAX else OverflowError
    return total if I64_MIN <= total <= I64_MAX else OverflowError


def expectations(
    values: np.ndarray,
    valid: Optional[np.ndarray] = None,
    *,
    skip_nulls: bool = True,
    min_count: Optional[int] = None,
    ddof: int = 0,
    moments: bool = True,
) -> dict[str, Any]:
    """pyarrow.compute's answer for each function, computed exactly.

    None where the result is null; a float or an int; ``OverflowError`` (the
    class) for an integer sum out of range. ``min_count=None`` is each
    function's default (1, and 0 for variance and stddev). Without
    ``moments`` the (slower) variance and stddev are left out.
    """
    values = np.asarray(values)
    type_name = values.dtype.name
    values = values.reshape(-1)
    nulls = 0
    if valid is not None:
        valid = np.asarray(valid, dtype=bool).reshape(-1)
        nulls = values.size - int(np.count_nonzero(valid))
        values = values[valid]
    if not skip_nulls and nulls:
        return dict.fromkeys(FUNCTIONS)
    n = values.size
    floating = values.dtype.kind == "f"
    if floating:
        is_nan = np.isnan(values)
        has_nan = bool(is_nan.any())
        has_pos, has_neg = bool(np.any(values == np.inf)), bool(np.any(values == -np.inf))
    else:
        has_nan = has_pos = has_neg = False

    def enough(default: int) -> bool:
        return n >= (default if min_count is None else min_count)

    out: dict[str, Any] = {}
    # mean and sum
    if not enough(1):
        out["mean"] = out["sum"] = None
    elif has_nan or (has_pos and has_neg):
        out["mean"] = out["sum"] = nan
    elif has_pos or has_neg:
        out["mean"] = out["sum"] = inf if has_pos else -inf
    elif n == 0:
        out["mean"], out["sum"] = nan, (0.0 if floating else 0)
    else:
        total = exact_total(values)
        out["mean"] = to_double(total / n)
        out["sum"] = to_double(total) if floating else integer_sum(int(total), type_name)
    # variance and stddev
    if not moments:
        pass
    elif not enough(0) or n <= ddof:
        out["variance"] = out["stddev"] = None
    elif has_nan or has_pos or has_neg:
        out["variance"] = out["stddev"] = nan
    elif n == 0:  # a negative ddof and no values
        out["variance"] = out["stddev"] = 0.0
    else:
        var = exact_variance(values, ddof)
        out["variance"], out["stddev"] = to_double(var), rounded_sqrt(var)
    # min and max
    if not enough(1) or n == 0:
        out["min"] = out["max"] = None
    elif floating:
        rest = values[~is_nan].astype(np.float64)
        if rest.size == 0:
            out["min"] = out["max"] = nan
        else:
            lo, hi = float(rest.min()), float(rest.max())
            zeros = rest[rest == 0]
            if lo == 0:
                lo = -0.0 if np.any(np.signbit(zeros)) else 0.0
            if hi == 0:
                hi = 0.0 if not np.all(np.signbit(zeros)) else -0.0
            out["min"], out["max"] = lo, hi
    else:
        out["min"], out["max"] = int(values.min()), int(values.max())
    return out


# --- calling mapmean and comparing --------------------------------------------


def result_type(function: str, type_name: str) -> pa.DataType:
    if function in ("min", "max"):
        return ARROW[type_name]
    if function == "sum" and type_name in SIGNED:
        return pa.int64()
    if function == "sum" and type_name in UNSIGNED:
        return pa.uint64()
    return pa.float64()


def outcome(function: str, source: Any, type_name: str, *args: Any, **kwargs: Any) -> Any:
    """mapmean's result as a Python value (None for null), after checking its
    scalar type; ``OverflowError`` (the class) where that is raised."""
    try:
        result = getattr(mapmean, function)(source, *args, **kwargs)
    except OverflowError:
        return OverflowError
    want_type = result_type(function, type_name)
    assert isinstance(result, pa.Scalar), f"{function} of {type_name} gave {type(result).__name__}"
    assert result.type == want_type, f"{function} of {type_name} gave a {result.type} scalar, want {want_type}"
    value = result.as_py()
    if value is not None and pa.types.is_floating(result.type):
        value = float(value)
    return value


def describe(value: Any) -> str:
    if isinstance(value, float):
        return f"{value!r} ({value.hex()})"
    return repr(value)


def same(got: Any, want: Any) -> bool:
    """Both null, both NaN, bitwise equal floats (0.0 and -0.0 differ), equal ints, or both OverflowError.

    A pyarrow scalar (what the states' methods return, as the module's
    functions do) is compared by its value."""
    if isinstance(got, pa.Scalar):
        got = got.as_py()
    if got is None or want is None or want is OverflowError or got is OverflowError:
        return got is want
    if isinstance(want, float):
        if not isinstance(got, float):
            return False
        if math.isnan(want) or math.isnan(got):
            return math.isnan(want) and math.isnan(got)
        return bits(got) == bits(want)
    return type(got) is int and got == want


def check(function: str, source: Any, type_name: str, want: Any, context: str = "", **kwargs: Any) -> None:
    """mapmean's ``function`` of ``source`` is ``want`` (see ``same``)."""
    got = outcome(function, source, type_name, **kwargs)
    assert same(got, want), (
        f"{function}({type_name}{', ' + context if context else ''}{', ' if kwargs else ''}"
        f"{', '.join(f'{k}={v!r}' for k, v in kwargs.items())}): got {describe(got)}, want {describe(want)}"
    )


def check_everything(
    values: np.ndarray, valid: Optional[np.ndarray] = None, context: str = "", **kwargs: Any
) -> None:
    """Every function of ``values`` (nulls where ``valid`` is False), from numpy
    and from a pyarrow Array, equals the exact oracle."""
    type_name = values.dtype.name
    want = expectations(values, valid, **{k: v for k, v in kwargs.items() if k != "threads"})
    if valid is None:
        sources = {"numpy": values, "pa.Array": pa.array(values.reshape(-1), type=ARROW[type_name])}
    else:
        mask = ~np.asarray(valid, dtype=bool)
        sources = {
            "numpy masked": np.ma.masked_array(values, mask=mask),
            "pa.Array": pa.array(values.reshape(-1), type=ARROW[type_name], mask=mask.reshape(-1)),
        }
    for name, source in sources.items():
        for function in FUNCTIONS:
            options = {k: v for k, v in kwargs.items() if k != "ddof" or function in ("variance", "stddev")}
            check(function, source, type_name, want[function], f"{name} {context}".strip(), **options)


def random_values(type_name: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """Finite values of the type: every bit pattern for float16 and float32,
    300 decades with both signs for float64, the full range for integers."""
    if type_name == "float16":
        raw = rng.integers(0, 2**16, n, dtype=np.uint16)
        raw[(raw & 0x7C00) == 0x7C00] ^= 0x4000  # no inf or NaN: clear an exponent bit
        return raw.view(np.float16)
    if type_name == "float32":
        raw = rng.integers(0, 2**32, n, dtype=np.uint32)
        raw[(raw & 0x7F800000) == 0x7F800000] ^= 0x40000000
        return raw.view(np.float32)
    if type_name == "float64":
        return rng.standard_normal(n) * 10.0 ** rng.uniform(-150, 150, n)
    info = np.iinfo(type_name)
    return rng.integers(info.min, info.max, size=n, dtype=type_name, endpoint=True)


def split_points(rng: np.random.Generator, n: int, k: int) -> list[int]:
    """k random cut points in [0, n], repeats (empty chunks) allowed."""
    return sorted(rng.integers(0, n + 1, k).tolist())


def chunked(array: pa.Array, cuts: list[int]) -> pa.ChunkedArray:
    bounds = [0, *cuts, len(array)]
    return pa.chunked_array([array.slice(a, b - a) for a, b in zip(bounds, bounds[1:])], type=array.type)


# --- the oracle itself ----------------------------------------------------------


def test_the_oracle_is_exact_for_every_type(rng):
    for type_name in TYPES:
        values = random_values(type_name, 300, rng)
        exact = [Fraction(int(v)) if type_name in INTEGERS else Fraction(float(v)) for v in values]
        assert exact_total(values) == builtins.sum(exact), type_name
        mu = builtins.sum(exact) / len(exact)
        for ddof in (0, 1):
            want = builtins.sum((x - mu) ** 2 for x in exact) / (len(exact) - ddof)
            assert exact_variance(values, ddof) == want, (type_name, ddof)
    wide = np.array([F64_MAX, -F64_SUB, 1.0, F64_TINY, -1e308, 0.0, -0.0, 2.0**-1060])
    assert exact_total(wide) == builtins.sum(Fraction(v) for v in wide.tolist())


def test_the_oracle_rounds_correctly_at_the_edges():
    assert to_double(Fraction(2**1024 - 2**970)) == inf  # the tie above the largest double goes to even: inf
    assert to_double(Fraction(2**1024 - 2**970 - 1)) == F64_MAX
    assert to_double(-Fraction(2**1030)) == -inf
    assert bits(to_double(Fraction(-1, 3 * 2**1074))) == bits(-0.0)
    assert to_double(Fraction(3, 2 * 2**1074)) == 2 * F64_SUB  # 1.5 units: the tie goes to even
    rng = np.random.default_rng(7)
    cases = [Fraction(2), Fraction(1, 3), Fraction(10**620), Fraction(1, 10**640), Fraction(F64_MAX) ** 2 * 2]
    cases += [Fraction(F64_SUB) ** 2 * k for k in (1, 2, 3, 10**6)]
    cases += [Fraction(int(a), int(b)) for a, b in rng.integers(1, 2**62, (200, 2)).tolist()]
    for value in cases:
        r = rounded_sqrt(value)
        if r == inf:
            top = (Fraction(F64_MAX) + Fraction(2**1024)) / 2
            assert value >= top * top
            continue
        up, down = math.nextafter(r, inf), math.nextafter(r, 0.0)
        hi = (Fraction(r) + Fraction(up)) / 2 if up != inf else Fraction(2**1024)
        lo = (Fraction(down) + Fraction(r)) / 2 if r > 0 else Fraction(0)
        assert lo * lo <= value <= hi * hi, value
    assert rounded_sqrt(Fraction(2)) == math.sqrt(2.0)
    assert rounded_sqrt(Fraction(1e308) ** 2) == 1e308


# --- pyarrow.compute's rules, case by case ----------------------------------------

CASES = {
    "plain": [1, 2, 3, 4],
    "one_value": [7],
    "two_values": [1, 2],
    "thirds": [1, 0, 0],
    "empty": [],
    "all_null": [None, None],
    "one_null": [1, None, 3],
    "leading_nulls": [None, None, 5, 6],
    "zeros": [0, 0, 0],
    "negative": [-5, -6, -7, -9],
    "mixed_signs": [-3, 5, -1, 8],
    "fractions": [0.5, 0.25, 1.75],
    "nan": [1, nan, 3],
    "only_nan": [nan],
    "nan_first": [nan, 5, 2],
    "nan_and_null": [None, nan, 2],
    "pos_inf": [1, inf],
    "neg_inf": [-inf, 1],
    "both_inf": [inf, -inf],
    "inf_and_nan": [inf, nan],
    "only_inf": [inf, inf],
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


def representable(data: list, type_name: str) -> bool:
    if type_name in FLOATS:
        return True
    info = np.iinfo(type_name)
    for v in data:
        if v is None:
            continue
        if not float(v).is_integer() or not info.min <= v <= info.max:
            return False  # NaN, inf, fractions, out of range
        if v == 0 and math.copysign(1.0, v) < 0:
            return False  # -0.0
    return True


TYPED_CASES = [(t, c) for t in TYPES for c in CASES if representable(CASES[c], t)]


def pyarrow_result(function: str, array: pa.Array, options: dict) -> Any:
    value = getattr(pc, function)(array, **options).as_py()
    return float(value) if isinstance(value, float) else value


@pytest.mark.parametrize("type_name, case", TYPED_CASES)
def test_every_function_follows_pyarrow_compute_case_by_case(type_name, case):
    data = CASES[case]
    array = pa.array(data, type=ARROW[type_name])
    values = np.array([0 if v is None else v for v in data], dtype=type_name)
    valid = np.array([v is not None for v in data], dtype=bool)
    for options in VAR_OPTIONS:
        wants = expectations(values, valid, **options)
        for function in FUNCTIONS:
            if options not in OPTIONS and function not in ("variance", "stddev"):
                continue
            want = wants[function]
            if type_name != "float16":  # pyarrow has no float16 kernels: the oracle alone decides
                theirs = pyarrow_result(function, array, options)
                if function in ("variance", "stddev") and isinstance(theirs, float) and math.isfinite(theirs):
                    # pyarrow's variance may be off in the last place.
                    assert math.isclose(want, theirs, rel_tol=1e-15, abs_tol=1e-300), (function, options, theirs)
                else:
                    assert same(want, theirs), (
                        f"oracle {describe(want)} vs pyarrow {describe(theirs)}: {function} {options}"
                    )
            check(function, array, type_name, want, case, **options)


@pytest.mark.parametrize("type_name", TYPES)
def test_results_are_scalars_of_pyarrows_result_types(type_name):
    sources = {
        "values": pa.array([1, 2, None], ARROW[type_name]),
        "all null": pa.array([None, None], ARROW[type_name]),
        "numpy": np.array([1, 2], dtype=type_name),
    }
    for name, source in sources.items():
        for function in FUNCTIONS:
            result = getattr(mapmean, function)(source)
            if function in ("min", "max"):
                cls = SCALAR_CLASS[type_name]
            elif function == "sum" and type_name in SIGNED:
                cls = pa.Int64Scalar
            elif function == "sum" and type_name in UNSIGNED:
                cls = pa.UInt64Scalar
            else:
                cls = pa.DoubleScalar
            assert type(result) is cls, (
                f"{function} of {name} {type_name}: {type(result).__name__}, want {cls.__name__}"
            )
            assert result.is_valid == (name != "all null"), (function, name)
            if type_name != "float16" and name != "numpy":
                assert type(result) is type(getattr(pc, function)(source)), (function, name)


@pytest.mark.parametrize("type_name", FLOATS)
def test_min_of_signed_zeros_is_negative_zero_and_max_is_positive_zero_in_any_order(type_name, rng):
    # The documented deviation: pyarrow keeps whichever zero it sees first.
    for data in ([-0.0, 0.0], [0.0, -0.0], [0.0, None, -0.0, 0.0], [-0.0, -0.0, 0.0], [0.0, nan, -0.0]):
        array = pa.array(data, ARROW[type_name])
        assert bits(outcome("min", array, type_name)) == bits(-0.0), data
        assert bits(outcome("max", array, type_name)) == bits(0.0), data
    assert bits(outcome("min", pa.array([0.0, 0.0], ARROW[type_name]), type_name)) == bits(0.0)
    assert bits(outcome("max", pa.array([-0.0, -0.0], ARROW[type_name]), type_name)) == bits(-0.0)
    # One zero of the other sign anywhere in a long array, read by several threads.
    for position in (0, 1, 4095, 65_536, 199_999):
        values = np.zeros(200_000, dtype=type_name)
        values[position] = -0.0
        for threads in (1, 2, None):
            assert bits(outcome("min", values, type_name, threads=threads)) == bits(-0.0), (position, threads)
            assert bits(outcome("max", values, type_name, threads=threads)) == bits(0.0), (position, threads)
        values = -values
        for threads in (1, 2, None):
            assert bits(outcome("max", values, type_name, threads=threads)) == bits(0.0), (position, threads)
            assert bits(outcome("min", values, type_name, threads=threads)) == bits(-0.0), (position, threads)


@pytest.mark.parametrize("type_name", FLOATS)
def test_min_and_max_ignore_nan_unless_every_valid_value_is_nan(type_name):
    array = pa.array([nan, 2.5, None, nan, -1.5, nan], ARROW[type_name])
    assert outcome("min", array, type_name) == -1.5
    assert outcome("max", array, type_name) == 2.5
    assert math.isnan(outcome("mean", array, type_name))
    only_nan = pa.array([nan, None, nan], ARROW[type_name])
    assert math.isnan(outcome("min", only_nan, type_name))
    assert math.isnan(outcome("max", only_nan, type_name))
    assert outcome("min", only_nan, type_name, skip_nulls=False) is None
    with_inf = pa.array([nan, -inf, inf, nan], ARROW[type_name])
    assert outcome("min", with_inf, type_name) == -inf
    assert outcome("max", with_inf, type_name) == inf
    assert math.isnan(outcome("mean", with_inf, type_name))
    # NaN stays NaN from numpy too: it is a value, not a null.
    values = np.array([1, nan, 3], dtype=type_name)
    assert math.isnan(outcome("mean", values, type_name))
    assert math.isnan(outcome("sum", values, type_name))
    assert math.isnan(outcome("variance", values, type_name))
    assert (outcome("min", values, type_name), outcome("max", values, type_name)) == (1.0, 3.0)


# --- float64 adversaries -----------------------------------------------------------


def test_huge_float64_values_cancelling_around_a_one_leave_exactly_a_third(rng):
    values = np.array([1e308, 1.0, -1e308] * 100_000)
    with np.errstate(all="ignore"):
        assert float(np.mean(values)) != 1 / 3  # a float64 loop overflows or loses the ones
    for threads in (1, 2, None):
        assert outcome("mean", values, "float64", threads=threads) == 1 / 3
        assert outcome("sum", values, "float64", threads=threads) == 100_000.0
    assert outcome("min", values, "float64") == -1e308
    assert outcome("max", values, "float64") == 1e308
    shuffled = rng.permutation(values)
    assert outcome("mean", shuffled, "float64") == 1 / 3
    assert outcome("mean", pa.array(shuffled), "float64") == 1 / 3
    assert outcome("mean", chunked(pa.array(shuffled), split_points(rng, values.size, 9)), "float64") == 1 / 3
    small = np.array([1e308, 1.0, -1e308] * 300)
    check_everything(small)


def test_the_variance_overflows_but_the_stddev_of_the_exact_variance_does_not():
    # The exact variance of ±1e308 is 1e616: it rounds to inf; its square root is 1e308 exactly.
    values = np.array([1e308, -1e308])
    assert outcome("variance", values, "float64") == inf
    assert outcome("stddev", values, "float64") == 1e308
    assert outcome("stddev", np.array([1e308, 1.0, -1e308] * 1000), "float64") == rounded_sqrt(
        exact_variance(np.array([1e308, 1.0, -1e308]), 0)
    )
    assert outcome("stddev", np.array([F64_MAX, -F64_MAX]), "float64") == F64_MAX
    assert outcome("stddev", np.array([F64_MAX, -F64_MAX]), "float64", ddof=1) == inf  # sqrt(2) * max


def test_four_copies_of_the_largest_double_sum_to_infinity_and_average_to_it():
    values = np.full(4, F64_MAX)
    assert outcome("sum", values, "float64") == inf
    assert outcome("mean", values, "float64") == F64_MAX
    assert outcome("variance", values, "float64") == 0.0
    assert outcome("stddev", values, "float64") == 0.0
    assert outcome("max", values, "float64") == F64_MAX
    assert outcome("sum", -values, "float64") == -inf
    assert outcome("mean", -values, "float64") == -F64_MAX
    assert outcome("mean", pa.array(values), "float64") == F64_MAX
    many = np.full(100_001, F64_MAX)
    for threads in (1, 2, None):
        assert outcome("mean", many, "float64", threads=threads) == F64_MAX
        assert outcome("sum", many, "float64", threads=threads) == inf
    # The sum leaves the range and comes back: the exact value decides.
    assert outcome("sum", np.array([F64_MAX, F64_MAX, -F64_MAX]), "float64") == F64_MAX
    assert outcome("sum", np.array([F64_MAX, F64_MAX, -F64_MAX, -F64_MAX, 1.0]), "float64") == 1.0
    assert outcome("mean", np.array([F64_MAX, F64_MAX, -F64_MAX]), "float64") == to_double(Fraction(F64_MAX) / 3)
    # At the rounding boundary above the largest double: half an ulp more is a tie, and it goes to inf.
    assert outcome("sum", np.array([F64_MAX, 2.0**970]), "float64") == inf
    assert outcome("sum", np.array([F64_MAX, math.nextafter(2.0**970, 0.0)]), "float64") == F64_MAX
    below = math.nextafter(F64_MAX, 0.0)
    assert outcome("mean", np.array([F64_MAX, below]), "float64") == below  # the tie goes to even
    check_everything(np.array([F64_MAX, -F64_MAX] * 500 + [1.5]))


def test_float64_subnormals_have_correctly_rounded_means(rng):
    cases = {
        (F64_SUB, 0.0, 0.0): 0.0,  # a third of a unit rounds to zero
        (F64_SUB, F64_SUB, 0.0): F64_SUB,  # two thirds of a unit rounds up
        (F64_SUB, 0.0): 0.0,  # half a unit: the tie goes to even (zero)
        (3 * F64_SUB, 0.0): 2 * F64_SUB,  # 1.5 units: the tie goes to even (two)
        (5 * F64_SUB, 0.0): 2 * F64_SUB,  # 2.5 units: even is two
        (-F64_SUB, 0.0, 0.0): -0.0,  # a negative third of a unit rounds to -0.0
        (F64_TINY, F64_SUB): to_double((Fraction(F64_TINY) + Fraction(F64_SUB)) / 2),
    }
    for values, want in cases.items():
        got = outcome("mean", np.array(values), "float64")
        assert same(got, want), (values, describe(got), describe(want))
        assert same(got, to_double(exact_total(np.array(values)) / len(values)))
    # Random subnormal bit patterns of both signs.
    signs = rng.integers(0, 2, 20_000, dtype=np.uint64) << np.uint64(63)
    raw = rng.integers(1, 2**52, 20_000, dtype=np.uint64) | signs
    values = raw.view(np.float64)
    assert np.all(np.abs(values) < F64_TINY)
    check_everything(values)
    check_everything(values, rng.random(values.size) < 0.5)
    # Subnormals among ones: the ones must not swallow them.
    mixed = np.where(rng.random(30_001) < 0.5, 1.0, F64_SUB)
    check_everything(mixed)
    assert outcome("sum", np.array([F64_SUB] * 1001), "float64") == 1001 * F64_SUB
    assert outcome("min", np.array([F64_SUB, 0.0, -F64_SUB]), "float64") == -F64_SUB


def test_six_hundred_decades_of_magnitudes_with_random_signs(rng):
    n = 100_000
    values = rng.uniform(1, 10, n) * rng.choice([-1.0, 1.0], n) * 10.0 ** rng.integers(-300, 301, n)
    want = expectations(values, moments=False)
    for function in ("mean", "sum", "min", "max"):
        check(function, values, "float64", want[function])
        check(function, pa.array(values), "float64", want[function], "pa.Array")
    for threads in (1, 2):
        check("mean", values, "float64", want["mean"], threads=threads)
    # Squares of 1e300 overflow: the exact variance rounds to inf, its square root is finite.
    part = values[:20_000]
    want = expectations(part, ddof=1)
    assert want["variance"] == inf and math.isfinite(want["stddev"])
    check("variance", part, "float64", want["variance"], ddof=1)
    check("stddev", part, "float64", want["stddev"], ddof=1)
    # Three hundred decades keep the variance finite.
    narrow = rng.uniform(1, 10, 20_000) * rng.choice([-1.0, 1.0], 20_000) * 10.0 ** rng.integers(-150, 151, 20_000)
    check_everything(narrow)
    check_everything(narrow, ddof=1)


def test_a_large_value_then_a_million_small_ones_keeps_every_small_one(rng):
    values = np.concatenate([[1e16], rng.random(1_000_000)])
    want = expectations(values, moments=False)
    for function in ("mean", "sum", "min", "max"):
        check(function, values, "float64", want[function])
    for threads in (1, 2, None):
        check("sum", values, "float64", want["sum"], threads=threads)


def test_1e16_plus_uniform_noise_keeps_every_bit(rng):
    # 1e16 + U[0, 1) rounds to 1e16 itself (the ulp there is 2): the mean is 1e16, the variance 0.
    collapsed = 1e16 + rng.random(200_000)
    assert outcome("mean", collapsed, "float64") == 1e16
    assert outcome("variance", collapsed, "float64") == 0.0
    assert outcome("sum", collapsed, "float64") == 2e21
    # With noise above the ulp, mean and variance need every bit of the offset.
    values = 1e16 + rng.uniform(0, 64, 300_000)
    check_everything(values)
    check_everything(values, ddof=1)


def test_pairs_that_cancel_to_one_ulp(rng):
    one = np.array([1.0, -math.nextafter(1.0, 2.0)])
    assert outcome("sum", one, "float64") == -(2.0**-52)
    assert outcome("mean", one, "float64") == -(2.0**-53)
    x = np.abs(rng.standard_normal(50_000)) * 10.0 ** rng.integers(-250, 250, 50_000)
    values = np.empty(100_000)
    values[0::2], values[1::2] = x, -np.nextafter(x, np.inf)
    assert builtins.sum(Fraction(v) for v in values[:2000].tolist()) == -builtins.sum(
        Fraction(math.ulp(v)) for v in x[:1000].tolist()
    )
    total = -exact_total(np.spacing(x))  # each pair leaves minus the ulp of its x
    assert exact_total(values) == total
    check("sum", values, "float64", to_double(total))
    check("mean", values, "float64", to_double(total / values.size))
    check_everything(values[:20_000])
    for type_name in ("float16", "float32"):
        values = np.array([1.0, -np.nextafter(np.array(1.0, type_name), np.array(2.0, type_name))], dtype=type_name)
        ulp = float(np.finfo(type_name).eps)
        assert outcome("sum", values, type_name) == -ulp
        assert outcome("mean", values, type_name) == -ulp / 2


# --- integer extremes -----------------------------------------------------------------


def test_int64_at_its_extremes(rng):
    big = np.array([2**62, 2**62], dtype=np.int64)
    with pytest.raises(OverflowError):
        mapmean.sum(big)
    assert outcome("mean", big, "int64") == 4.611686018427388e18
    assert outcome("variance", big, "int64") == 0.0
    cases = {
        "max three times": [I64_MAX] * 3,
        "min twice": [I64_MIN] * 2,
        "min and max": [I64_MIN, I64_MAX],
        "max, then past it and back": [I64_MAX, 1, -1],
        "min, then past it and back": [I64_MIN, -1, 1],
        "two of each": [I64_MAX, I64_MAX, I64_MIN, I64_MIN],
        "max and one below": [I64_MAX, I64_MAX - 1],
        "min and one above": [I64_MIN, I64_MIN + 1],
        "min alone": [I64_MIN],
        "just past min": [I64_MIN, -1],
    }
    for name, data in cases.items():
        check_everything(np.array(data, dtype=np.int64), context=name)
    assert outcome("sum", np.array([I64_MAX, 1, -1], dtype=np.int64), "int64") == I64_MAX
    assert outcome("mean", np.array([I64_MAX] * 3, dtype=np.int64), "int64") == 9.223372036854776e18
    assert outcome("variance", np.array([I64_MAX, I64_MAX - 1], dtype=np.int64), "int64") == 0.25
    assert outcome("min", np.array([I64_MAX, I64_MIN], dtype=np.int64), "int64") == I64_MIN
    # A null hides an overflow.
    with pytest.raises(OverflowError):
        mapmean.sum(pa.array([I64_MAX, I64_MAX, -5], pa.int64()))
    hidden = pa.array([I64_MAX, I64_MAX, -5], pa.int64(), mask=np.array([False, True, False]))
    assert outcome("sum", hidden, "int64") == I64_MAX - 5
    assert outcome("sum", hidden, "int64", skip_nulls=False) is None
    # Random mixtures of the extremes; the sum may or may not fit.
    pool = np.array([I64_MIN, I64_MAX, I64_MIN + 1, I64_MAX - 1, 0, 1, -1, 2**62, -(2**62)], dtype=np.int64)
    for n in (2, 3, 17, 1000, 100_003):
        values = rng.choice(pool, n)
        check_everything(values, context=f"n={n}")
    balanced = np.array([I64_MAX, I64_MIN] * 50_000 + [7], dtype=np.int64)
    check_everything(balanced, rng.random(balanced.size) < 0.9)
    assert outcome("sum", balanced, "int64") == 7 - 50_000


def test_uint64_at_its_extremes(rng):
    three = np.array([U64_MAX] * 3, dtype=np.uint64)
    with pytest.raises(OverflowError):
        mapmean.sum(three)
    assert outcome("mean", three, "uint64") == 1.8446744073709552e19
    assert outcome("variance", three, "uint64") == 0.0
    assert outcome("max", three, "uint64") == U64_MAX
    assert outcome("sum", np.array([U64_MAX, 0], dtype=np.uint64), "uint64") == U64_MAX
    assert outcome("sum", np.array([2**63, 2**63 - 1], dtype=np.uint64), "uint64") == U64_MAX
    with pytest.raises(OverflowError):
        mapmean.sum(np.array([2**63, 2**63], dtype=np.uint64))
    assert outcome("variance", np.array([U64_MAX, U64_MAX - 1], dtype=np.uint64), "uint64") == 0.25
    cases = {
        "max and zero": [U64_MAX, 0],
        "max and one below": [U64_MAX, U64_MAX - 1],
        "top bit": [2**63, 2**63],
        "max three times": [U64_MAX] * 3,
        "zeros and max": [0, 0, U64_MAX],
    }
    for name, data in cases.items():
        check_everything(np.array(data, dtype=np.uint64), context=name)
    pool = np.array([0, 1, U64_MAX, U64_MAX - 1, 2**63, 2**63 - 1, 2**32], dtype=np.uint64)
    for n in (2, 5, 64, 1000, 100_003):
        values = rng.choice(pool, n)
        check_everything(values, context=f"n={n}")
        check_everything(values, rng.random(n) < 0.5, context=f"n={n} with nulls")


@pytest.mark.parametrize("type_name", ["int8", "int16", "int32", "uint8", "uint16", "uint32"])
def test_narrow_integers_at_their_extremes(type_name, rng):
    info = np.iinfo(type_name)
    lo, hi = int(info.min), int(info.max)
    pool = np.array(sorted({lo, hi, lo + 1, hi - 1, 0, 1, hi // 2}), dtype=type_name)
    values = rng.choice(pool, 100_003)
    check_everything(values)
    check_everything(values, rng.random(values.size) < 0.7)
    check_everything(np.full(200_000, hi, dtype=type_name))
    assert outcome("sum", np.full(1_000_000, hi, dtype=type_name), type_name) == hi * 1_000_000
    assert outcome("sum", np.full(1_000_000, lo, dtype=type_name), type_name) == lo * 1_000_000
    assert outcome("variance", np.array([hi, hi - 1], dtype=type_name), type_name) == 0.25
    assert outcome("min", np.array([hi, lo, 0], dtype=type_name), type_name) == lo


# --- float16 and float32 adversaries ------------------------------------------------


def test_float16_at_its_largest_and_smallest():
    assert float(np.finfo(np.float16).max) == F16_MAX
    assert float(np.finfo(np.float16).smallest_subnormal) == F16_SUB
    top = np.full(1_000_000, F16_MAX, dtype=np.float16)
    assert outcome("mean", top, "float16") == F16_MAX
    assert outcome("sum", top, "float16") == F16_MAX * 1_000_000  # no float16 overflow: a float64 result
    assert outcome("variance", top, "float16") == 0.0
    max_result = mapmean.max(top)
    assert isinstance(max_result, pa.HalfFloatScalar) and float(max_result.as_py()) == F16_MAX
    assert outcome("mean", np.array([F16_MAX, -F16_MAX, 0.5], dtype=np.float16), "float16") == 0.5 / 3
    tiny = np.array([F16_SUB, 0.0, 0.0], dtype=np.float16)
    assert outcome("mean", tiny, "float16") == to_double(Fraction(1, 3 * 2**24))  # far below float16's range
    assert outcome("sum", tiny, "float16") == F16_SUB
    min_result = mapmean.min(np.array([2 * F16_SUB, F16_SUB, 3 * F16_SUB], dtype=np.float16))
    assert isinstance(min_result, pa.HalfFloatScalar) and float(min_result.as_py()) == F16_SUB
    check_everything(np.array([F16_MAX, F16_SUB, -F16_SUB, 1.0, 2.0**-14] * 999, dtype=np.float16))
    check_everything(np.array([F16_MAX, F16_MAX, -F16_SUB], dtype=np.float16), ddof=1)


def test_float32_cancellation_still_gives_exactly_a_quarter(rng, tmp_path):
    values = np.array([3e37, 0.75, -3e37] * 100_000, dtype=np.float32)
    for threads in (1, 2, None):
        assert outcome("mean", values, "float32", threads=threads) == 0.25
    assert outcome("mean", pa.array(values), "float32") == 0.25
    assert outcome("mean", chunked(pa.array(values), split_points(rng, values.size, 5)), "float32") == 0.25
    assert outcome("sum", values, "float32") == 75_000.0
    path = str(tmp_path / "quarter.arrow")
    table = pa.table({"x": values})
    with pa.ipc.new_file(path, table.schema) as writer:
        writer.write_table(table, max_chunksize=70_001)
    assert outcome("mean", path, "float32") == 0.25
    assert outcome("max", path, "float32", "x") == float(np.float32(3e37))
    check_everything(values[:3000])


# --- random data, block sizes, special values ----------------------------------------


@pytest.mark.parametrize("type_name", TYPES)
def test_random_data_of_every_type_matches_the_exact_oracle(type_name, rng):
    n = 50_001
    values = random_values(type_name, n, rng)
    valid = rng.random(n) < 0.8
    check_everything(values)
    check_everything(values, valid)
    check_everything(values, valid, ddof=1, min_count=2)
    want = expectations(values, valid, skip_nulls=False)
    assert all(v is None for v in want.values())
    check_everything(values, valid, skip_nulls=False)


@pytest.mark.parametrize("type_name", TYPES)
def test_a_million_values_of_every_type(type_name, rng):
    values = random_values(type_name, 1_000_000, rng)
    array = pa.array(values)
    want = expectations(values, moments=False)
    for function in ("mean", "sum", "min", "max"):
        check(function, values, type_name, want[function])
        check(function, array, type_name, want[function], "pa.Array")


def extremes(type_name: str) -> np.ndarray:
    """Values at the edges of each type's range, for block and tail tests."""
    if type_name == "float16":
        info = np.finfo(np.float16)
        vals = [F16_MAX, -F16_MAX, float(info.tiny), -float(info.tiny), F16_SUB, -F16_SUB, 1.0, -1.0, 0.5, 0.0, -0.0]
        vals += [1.0 + 2.0**-10, 2048.0, float(np.nextafter(np.float16(F16_MAX), np.float16(0)))]
    elif type_name == "float32":
        info = np.finfo(np.float32)
        vals = [float(info.max), -float(info.max), float(info.tiny), float(info.smallest_subnormal), 1.0, -1.0, 0.75]
        vals += [3e37, -3e37, 1.0 + 2.0**-23, 2.0**24, 2.0**24 + 2, 1e-30, -1e-30, 0.0, -0.0]
    elif type_name == "float64":
        vals = [F64_MAX, -F64_MAX, F64_TINY, -F64_TINY, F64_SUB, -F64_SUB, 1e308, -1e308, 1.0, -1.0, 0.75]
        vals += [1.0 + 2.0**-52, 2.0**53, 2.0**53 + 2, 1e-300, 0.0, -0.0, math.nextafter(F64_MAX, 0.0)]
    else:
        info = np.iinfo(type_name)
        lo, hi = int(info.min), int(info.max)
        vals = sorted({lo, hi, lo + 1, hi - 1, 0, 1, hi // 2, lo // 2} | ({-1} if lo < 0 else set()))
    return np.array(vals, dtype=type_name)


BLOCK_SIZES = [*range(1, 10), 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 256, 257]
BLOCK_SIZES += [511, 512, 513, 1023, 1024, 1025, 4095, 4096, 4097]


@pytest.mark.parametrize("type_name", TYPES)
def test_extremes_at_block_and_tail_sizes(type_name, rng):
    pool = extremes(type_name)
    for n in BLOCK_SIZES:
        values = rng.choice(pool, n)
        valid = rng.random(n) < 0.6
        want = expectations(values)
        for function in FUNCTIONS:
            check(function, values, type_name, want[function], f"n={n}")
        want = expectations(values, valid)
        array = pa.array(values, mask=~valid)
        for function in FUNCTIONS:
            check(function, array, type_name, want[function], f"n={n} masked")
        want = expectations(values[1:], valid[1:])
        for function in FUNCTIONS:
            check(function, array.slice(1), type_name, want[function], f"n={n} masked, sliced by one")


@pytest.mark.parametrize("type_name", FLOATS)
@pytest.mark.parametrize("special", [nan, inf, -inf], ids=["nan", "inf", "-inf"])
def test_a_special_value_at_any_position_is_seen(type_name, special, rng):
    small = [*range(18), 31, 32, 33, 47, 48, 49, 50, 51, 58, 59, 60, 63, 64, 65, 66]
    for n, positions in ((67, small), (33_335, [0, 1, 7, 8, 63, 16_667, 33_326, 33_327, 33_334])):
        base = rng.integers(-100, 100, n).astype(type_name)
        for pos in positions:
            values = base.copy()
            values[pos] = special
            want = expectations(values)
            for function in FUNCTIONS:
                check(function, values, type_name, want[function], f"n={n}, position {pos}")
            mask = np.zeros(n, dtype=bool)
            mask[pos] = True
            want = expectations(values, ~mask, moments=False)
            for function in ("mean", "min", "max"):
                check(function, pa.array(values, mask=mask), type_name, want[function], f"null at {pos}")


@pytest.mark.parametrize("type_name", TYPES)
def test_nulls_ignore_whatever_lies_under_them(type_name, rng):
    n = 10_000
    good = rng.integers(0, 100, n).astype(type_name)
    valid = rng.random(n) < 0.7
    junk_pool = extremes(type_name)
    if type_name in FLOATS:
        junk_pool = np.concatenate([junk_pool, np.array([nan, inf, -inf], dtype=type_name)])
    junk = good.copy()
    junk[~valid] = rng.choice(junk_pool, int((~valid).sum()))
    array = pa.Array.from_buffers(
        ARROW[type_name], n, [pa.array(valid).buffers()[1], pa.py_buffer(junk.tobytes())]
    )
    assert array.null_count == int((~valid).sum())
    want = expectations(good, valid)
    for function in FUNCTIONS:
        check(function, array, type_name, want[function], "junk under nulls")
    masked = np.ma.masked_array(junk, mask=~valid)
    for function in FUNCTIONS:
        check(function, masked, type_name, want[function], "junk under a numpy mask")


# --- numpy layouts ----------------------------------------------------------------------


@pytest.mark.parametrize("type_name", TYPES)
def test_numpy_arrays_of_any_shape_and_strides_count_every_element(type_name, rng):
    base = random_values(type_name, 6 * 1001, rng).reshape(6, 1001)
    views = {
        "2-D": base,
        "Fortran order": np.asfortranarray(base),
        "transposed": base.T,
        "every third": base.reshape(-1)[::3],
        "reversed, every second": base.reshape(-1)[::-2],
        "one column": base[:, 7],
        "3-D slice": base.reshape(6, 7, 143)[1:, ::2, 3:],
        "one element": base[2:3, 5],
        "empty": base[:0],
    }
    for name, view in views.items():
        want = expectations(np.ascontiguousarray(view))
        for function in FUNCTIONS:
            check(function, view, type_name, want[function], name)
    assert mapmean.mean_state(base.T) == mapmean.mean_state(np.ascontiguousarray(base.T).reshape(-1))


@pytest.mark.parametrize("type_name", TYPES)
def test_numpy_masked_arrays_treat_masked_elements_as_nulls(type_name, rng):
    values = random_values(type_name, 40 * 50, rng).reshape(40, 50)
    mask = rng.random(values.shape) < 0.3
    if type_name in FLOATS:
        values[mask & (rng.random(values.shape) < 0.5)] = nan  # masked NaN: a null, not a NaN
    masked = np.ma.masked_array(values, mask=mask)
    want = expectations(values, ~mask)
    for function in FUNCTIONS:
        check(function, masked, type_name, want[function], "masked")
        check(function, masked.T, type_name, want[function], "masked, transposed")
        check(function, masked, type_name, None, "masked", skip_nulls=False)
    strided = np.ma.masked_array(values[:, ::3], mask=mask[:, ::3])
    want = expectations(values[:, ::3], ~mask[:, ::3])
    for function in FUNCTIONS:
        check(function, strided, type_name, want[function], "masked, strided")
    all_masked = np.ma.masked_array(values[0], mask=np.ones(50, dtype=bool))
    for function in ("mean", "sum", "min", "max", "variance"):
        check(function, all_masked, type_name, None, "all masked")
    nomask = np.ma.masked_array(values[1])
    want = expectations(values[1])
    for function in FUNCTIONS:
        check(function, nomask, type_name, want[function], "nomask")


# --- threads and chunks --------------------------------------------------------------------


def all_outcomes(source: Any, type_name: str, **kwargs: Any) -> dict[str, Any]:
    return {function: outcome(function, source, type_name, **kwargs) for function in FUNCTIONS}


def assert_same_outcomes(got: dict[str, Any], want: dict[str, Any], context: str) -> None:
    for function in FUNCTIONS:
        assert same(got[function], want[function]), (
            f"{function} ({context}): got {describe(got[function])}, want {describe(want[function])}"
        )


@pytest.mark.parametrize("type_name", TYPES)
def test_thread_counts_give_bitwise_the_same_results(type_name, rng):
    n = 200_003
    values = random_values(type_name, n, rng)
    valid = rng.random(n) < 0.9
    for name, source in {"numpy": values, "pa.Array": pa.array(values, mask=~valid)}.items():
        one = all_outcomes(source, type_name, threads=1)
        state = mapmean.mean_state(source, threads=1)
        moments = mapmean.moments_state(source, threads=1)
        for threads in (2, None):
            assert_same_outcomes(all_outcomes(source, type_name, threads=threads), one, f"{name}, threads={threads}")
            assert mapmean.mean_state(source, threads=threads) == state, (name, threads)
            assert mapmean.moments_state(source, threads=threads) == moments, (name, threads)
    want = expectations(values, moments=False)
    for function in ("mean", "min", "max"):
        check(function, values, type_name, want[function], threads=2)


@pytest.mark.parametrize("type_name", TYPES)
def test_a_chunked_array_split_at_random_points_gives_the_bits_of_one_array(type_name, rng):
    n = 100_003
    values = random_values(type_name, n, rng)
    valid = rng.random(n) < 0.85
    array = pa.array(values, mask=~valid)
    whole = all_outcomes(array, type_name)
    state, moments = mapmean.mean_state(array), mapmean.moments_state(array)
    for k in (1, 7, 40):
        cuts = split_points(rng, n, k)
        pieces = chunked(array, cuts)
        assert_same_outcomes(all_outcomes(pieces, type_name), whole, f"chunks at {cuts}")
        assert_same_outcomes(all_outcomes(pieces, type_name, threads=1), whole, f"chunks at {cuts}, one thread")
        assert mapmean.mean_state(pieces) == state
        assert mapmean.moments_state(pieces) == moments
        bounds = [0, *cuts, n]
        copies = pa.chunked_array(
            [pa.array(values[a:b], mask=~valid[a:b]) for a, b in zip(bounds, bounds[1:])], type=array.type
        )
        assert_same_outcomes(all_outcomes(copies, type_name), whole, f"copied chunks at {cuts}")


# --- sources ------------------------------------------------------------------------------


@pytest.mark.parametrize("type_name", TYPES)
def test_a_table_a_reader_and_ipc_files_give_the_bits_of_the_numpy_route(type_name, rng, tmp_path):
    n = 50_001
    values = random_values(type_name, n, rng)
    want = all_outcomes(values, type_name)
    table = pa.table({"label": pa.array(np.arange(n) % 7).cast(pa.string()), "x": values})
    assert table.schema.field("x").type == ARROW[type_name]
    batches = table.to_batches(max_chunksize=7_777)
    file_path = str(tmp_path / "x.arrow")
    with pa.ipc.new_file(file_path, table.schema) as writer:
        for batch in batches:
            writer.write_batch(batch)
    stream_path = str(tmp_path / "x.arrows")
    with pa.ipc.new_stream(stream_path, table.schema) as writer:
        for batch in batches:
            writer.write_batch(batch)
    sources = {
        "Table": lambda: table,
        "RecordBatch": lambda: table.combine_chunks().to_batches()[0],
        "RecordBatchReader": lambda: pa.RecordBatchReader.from_batches(table.schema, batches),
        "IPC file": lambda: file_path,
        "IPC file (pathlib)": lambda: tmp_path / "x.arrow",
        "IPC stream": lambda: stream_path,
    }
    for name, make in sources.items():
        got = {function: outcome(function, make(), type_name, "x") for function in FUNCTIONS}
        assert_same_outcomes(got, want, name)
    assert mapmean.mean_state(file_path, "x") == mapmean.mean_state(values)
    assert mapmean.moments_state(file_path, "x") == mapmean.moments_state(values)
    with pytest.raises(TypeError, match="(?i)string|utf8"):
        mapmean.mean(file_path, "label")


def test_a_float64_column_on_disk_gives_the_bits_of_numpy_for_adversarial_data(rng, tmp_path):
    values = np.concatenate(
        [np.array([1e308, 1.0, -1e308] * 1000), rng.standard_normal(10_000) * 1e-300, [F64_SUB] * 3]
    )
    rng.shuffle(values)
    path = str(tmp_path / "adversarial.arrow")
    table = pa.table({"x": values, "y": np.arange(values.size, dtype=np.float32)})
    with pa.ipc.new_file(path, table.schema) as writer:
        writer.write_table(table, max_chunksize=1_000)
    want = expectations(values)
    for function in FUNCTIONS:
        check(function, path, "float64", want[function], "IPC file", column="x")
        check(function, table, "float64", want[function], "Table", column="x")
        check(function, values, "float64", want[function], "numpy")


# --- states -----------------------------------------------------------------------------------


@pytest.mark.parametrize("type_name", TYPES)
def test_states_of_any_type_merge_into_the_state_of_the_whole(type_name, rng):
    n = 30_001
    values = random_values(type_name, n, rng)
    valid = rng.random(n) < 0.8
    whole = np.ma.masked_array(values, mask=~valid)
    cuts = [0, *split_points(rng, n, 3), n]
    parts = [np.ma.masked_array(values[a:b], mask=~valid[a:b]) for a, b in zip(cuts, cuts[1:])]
    for make, cls in ((mapmean.mean_state, mapmean.MeanState), (mapmean.moments_state, mapmean.MomentsState)):
        want = make(whole)
        states = [make(part) for part in parts]
        merged = states[0]
        for i, other in enumerate(states[1:]):
            if i % 2:
                other = cls.from_bytes(other.to_bytes())
            else:
                other = pickle.loads(pickle.dumps(other))
            merged.merge(other)
        assert merged == want, (type_name, cls.__name__)
        backwards = make(parts[-1])
        for part in reversed(parts[:-1]):
            backwards.merge(make(part))
        assert backwards == want
        assert cls.from_bytes(want.to_bytes()) == want
        assert pickle.loads(pickle.dumps(want)) == want
        assert (merged.count, merged.null_count) == (int(valid.sum()), int((~valid).sum()))
    mean_state = mapmean.mean_state(parts[0])
    for part in parts[1:]:
        mean_state.merge(mapmean.mean_state(part))
    assert same(mean_state.finish(), outcome("mean", whole, type_name))
    moments = mapmean.moments_state(parts[0])
    for part in parts[1:]:
        moments.merge(mapmean.moments_state(part))
    assert same(moments.mean(), outcome("mean", whole, type_name))
    for ddof in (0, 1):
        assert same(moments.variance(ddof=ddof), outcome("variance", whole, type_name, ddof=ddof))
        assert same(moments.stddev(ddof=ddof), outcome("stddev", whole, type_name, ddof=ddof))
    want = expectations(values, valid)
    assert same(mean_state.finish(), want["mean"])
    assert same(moments.variance(), want["variance"])


@pytest.mark.parametrize("type_name", TYPES)
def test_states_of_any_type_round_trip_through_bytes_and_pickle(type_name, rng):
    values = random_values(type_name, 1000, rng)
    if type_name in FLOATS:
        values[:3] = [nan, inf, -inf]
    source = np.ma.masked_array(values, mask=rng.random(1000) < 0.1)
    for make, cls in ((mapmean.mean_state, mapmean.MeanState), (mapmean.moments_state, mapmean.MomentsState)):
        state = make(source)
        data = state.to_bytes()
        assert isinstance(data, bytes)
        again = cls.from_bytes(data)
        assert again == state and again.to_bytes() == data
        for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
            assert pickle.loads(pickle.dumps(state, protocol=protocol)) == state
    empty = mapmean.mean_state(np.array([], dtype=type_name))
    assert mapmean.MeanState.from_bytes(empty.to_bytes()) == empty


def test_a_float32_state_merges_with_a_float64_state_into_one_exact_answer():
    x = np.array([3e37, 0.75, 1e-45], dtype=np.float32)
    y = np.array([-float(np.float32(3e37)), 1e-300, F64_SUB, 0.5])
    both = np.concatenate([x.astype(np.float64), y])
    want = expectations(both)
    rest = Fraction(0.75) + Fraction(float(np.float32(1e-45))) + Fraction(1e-300) + Fraction(F64_SUB) + Fraction(0.5)
    assert want["mean"] == to_double(rest / 7)  # +-3e37 cancel
    for first, second in ((x, y), (y, x)):
        state = mapmean.mean_state(first)
        state.merge(mapmean.mean_state(second))
        assert same(state.finish(), want["mean"])
        assert same(state.sum(), want["sum"])
        assert same(mapmean.MeanState.from_bytes(state.to_bytes()).finish(), want["mean"])
        moments = mapmean.moments_state(first)
        moments.merge(mapmean.moments_state(second))
        assert same(moments.mean(), want["mean"])
        assert same(moments.variance(), want["variance"])
        assert same(moments.stddev(ddof=1), expectations(both, ddof=1)["stddev"])
        assert same(pickle.loads(pickle.dumps(moments)).variance(), want["variance"])


def test_a_float16_state_merges_with_wider_float_states_exactly():
    h = np.array([F16_MAX, F16_SUB, 0.5], dtype=np.float16)
    for other in (np.array([-F16_MAX, 0.25], dtype=np.float32), np.array([-F16_MAX, 1e-300])):
        both = np.concatenate([h.astype(np.float64), other.astype(np.float64)])
        want = expectations(both)
        for first, second in ((h, other), (other, h)):
            state = mapmean.mean_state(first)
            state.merge(mapmean.mean_state(second))
            assert same(state.finish(), want["mean"]), (first.dtype, second.dtype)
            moments = mapmean.moments_state(first)
            moments.merge(mapmean.moments_state(second))
            assert same(moments.variance(), want["variance"]), (first.dtype, second.dtype)


INT_NAME = re.compile(r"(?i)\bu?int(8|16|32|64)?\b|integer|signed")
FLOAT_NAME = re.compile(r"(?i)float|double|half")


@pytest.mark.parametrize(
    "int_type, float_type", [("int64", "float64"), ("uint8", "float32"), ("int32", "float16"), ("uint64", "float64")]
)
def test_merging_an_integer_state_with_a_float_state_is_a_type_error_naming_both(int_type, float_type):
    for make in (mapmean.mean_state, mapmean.moments_state):
        ints = make(np.array([1, 2, 3], dtype=int_type))
        floats = make(np.array([1.5, 2.5], dtype=float_type))
        for state, other in ((ints, floats), (floats, ints)):
            before = state.to_bytes()
            with pytest.raises(TypeError) as info:
                state.merge(other)
            message = str(info.value)
            assert INT_NAME.search(message) and FLOAT_NAME.search(message), message
            assert state.to_bytes() == before  # a failed merge changes nothing


# The state of [1.5, null, 2.0, NaN] in the version-1 form of docs/state-format.md.
DOCUMENTED_STATE = bytes.fromhex(
    "4d4d7374" "0100" "0000" "0300000000000000" "0100000000000000" "0100000000000000"
    + "00" * 16
    + "00" * 16
    + "0000700000000000"
    + "00" * 24
)


def test_old_96_byte_float32_state_bytes_still_load():
    old = mapmean.MeanState.from_bytes(DOCUMENTED_STATE)
    assert (old.count, old.null_count, old.nan_count) == (3, 1, 1)
    assert math.isnan(old.finish().as_py())
    computed = mapmean.mean_state(
        np.ma.masked_array(np.array([1.5, 0.0, 2.0, nan], dtype=np.float32), mask=[False, True, False, False])
    )
    assert computed == old
    assert computed.to_bytes() == DOCUMENTED_STATE  # float32 states keep the 96-byte form
    quarter = mapmean.mean_state(np.array([3e37, 0.75], dtype=np.float32)).to_bytes()
    assert len(quarter) == 96
    assert struct.unpack_from("<4sH", quarter) == (b"MMst", 1)
    loaded = mapmean.MeanState.from_bytes(quarter)
    loaded.merge(mapmean.mean_state(np.array([-3e37], dtype=np.float32)))
    assert loaded.finish().as_py() == 0.25
    # An old float32 state merges with a float64 state.
    loaded = mapmean.MeanState.from_bytes(quarter)
    loaded.merge(mapmean.mean_state(np.array([-float(np.float32(3e37)), 1e-300])))
    assert loaded.finish().as_py() == to_double((Fraction(0.75) + Fraction(1e-300)) / 4)


# --- dictionaries and unsupported types --------------------------------------------------


@pytest.mark.parametrize("type_name", ["float64", "float32", "float16", "int64", "int32", "uint8", "uint64"])
def test_dictionary_encoded_numbers_give_the_right_answer_or_a_type_error_naming_dictionary(type_name, rng):
    dictionary = random_values(type_name, 5, rng)
    index = rng.integers(0, 5, 1000)
    null = rng.random(1000) < 0.1
    encoded = pa.DictionaryArray.from_arrays(pa.array(index.astype(np.int32), mask=null), pa.array(dictionary))
    plain = pa.array(dictionary[index], mask=null)
    want = all_outcomes(plain, type_name)
    sources = {
        "DictionaryArray": encoded,
        "ChunkedArray": pa.chunked_array([encoded.slice(0, 400), encoded.slice(400)]),
        "Table": pa.table({"x": encoded}),
    }
    for name, source in sources.items():
        for function in FUNCTIONS:
            args = ("x",) if name == "Table" else ()
            try:
                got = outcome(function, source, type_name, *args)
            except TypeError as error:
                assert "dictionary" in str(error).lower(), (name, function, str(error))
                continue
            assert same(got, want[function]), (name, function, describe(got), describe(want[function]))


UNSUPPORTED = {
    "string": (pa.array(["a", "b"]), "string|utf8"),
    "large_string": (pa.array(["a", "b"], pa.large_string()), "string|utf8"),
    "bool": (pa.array([True, False]), "bool"),
    "decimal": (pa.array([Decimal("1.5"), Decimal("2.5")]), "decimal"),
    "timestamp": (pa.array([1, 2], pa.timestamp("s")), "timestamp"),
    "numpy bool": (np.array([True, False]), "bool"),
    "numpy datetime64": (np.array([1, 2], dtype="datetime64[s]"), "datetime64|timestamp"),
    "numpy complex": (np.array([1 + 2j]), "complex"),
    "numpy str": (np.array(["a", "b"]), "<U1|U1|str|unicode"),
}


@pytest.mark.parametrize("name", UNSUPPORTED)
@pytest.mark.parametrize("function", [*FUNCTIONS, "mean_state", "moments_state"])
def test_unsupported_types_are_a_type_error_naming_the_type(name, function):
    source, pattern = UNSUPPORTED[name]
    with pytest.raises(TypeError, match="(?i)" + pattern):
        getattr(mapmean, function)(source)
    if isinstance(source, pa.Array):
        with pytest.raises(TypeError, match="(?i)" + pattern):
            getattr(mapmean, function)(pa.table({"x": source}), "x")
        with pytest.raises(TypeError, match="(?i)" + pattern):
            getattr(mapmean, function)(pa.chunked_array([source]))


# --- hypothesis ------------------------------------------------------------------------------


def elements_of(type_name: str) -> st.SearchStrategy:
    if type_name in FLOATS:
        width = np.dtype(type_name).itemsize * 8
        finite = st.floats(width=width, allow_nan=False, allow_infinity=False)
        special = st.floats(width=width)
        edges = st.sampled_from(extremes(type_name).tolist())
        return st.one_of(finite, finite, edges, edges, special)
    info = np.iinfo(type_name)
    return st.one_of(st.integers(int(info.min), int(info.max)), st.sampled_from(extremes(type_name).tolist()))


@st.composite
def typed_arrays(draw, max_size: int = 300) -> tuple[str, np.ndarray, Optional[np.ndarray]]:
    type_name = draw(st.sampled_from(TYPES))
    values = draw(hnp.arrays(np.dtype(type_name), st.integers(0, max_size), elements=elements_of(type_name)))
    valid = draw(st.one_of(st.none(), hnp.arrays(np.bool_, values.shape)))
    return type_name, values, valid


@HYPOTHESIS
@given(typed_arrays(), st.booleans(), st.integers(0, 3), st.integers(-1, 2))
def test_property_every_function_of_every_type_is_exact(data, skip_nulls, min_count, ddof):
    type_name, values, valid = data
    mask = None if valid is None else ~valid
    array = pa.array(values, type=ARROW[type_name], mask=mask)
    want = expectations(values, valid, skip_nulls=skip_nulls, min_count=min_count, ddof=ddof)
    for function in FUNCTIONS:
        options = {"skip_nulls": skip_nulls, "min_count": min_count}
        if function in ("variance", "stddev"):
            options["ddof"] = ddof
        check(function, array, type_name, want[function], **options)
    want = expectations(values, valid)
    source = values if valid is None else np.ma.masked_array(values, mask=mask)
    for function in FUNCTIONS:
        check(function, source, type_name, want[function], "numpy")


@HYPOTHESIS
@given(typed_arrays(max_size=600), st.data())
def test_property_chunks_and_threads_do_not_change_a_bit(data, draw):
    type_name, values, valid = data
    array = pa.array(values, type=ARROW[type_name], mask=None if valid is None else ~valid)
    cuts = sorted(draw.draw(st.lists(st.integers(0, len(values)), max_size=6)))
    whole = all_outcomes(array, type_name, threads=1)
    assert_same_outcomes(all_outcomes(chunked(array, cuts), type_name, threads=2), whole, f"chunks at {cuts}")
    assert_same_outcomes(all_outcomes(array, type_name, threads=3), whole, "threads=3")
    assert mapmean.moments_state(chunked(array, cuts)) == mapmean.moments_state(array, threads=1)
