"""mapmean.datafusion: ``exact_mean``, ``exact_sum``, ``exact_var(_pop)`` and
``exact_stddev(_pop)`` in datafusion-python SQL through the FFI capsule, exact
per group against the Fraction reference.

Skipped when the optional DataFusion support is not installed, except under
``make test`` (MAPMEAN_REQUIRE_DATAFUSION=1), where it must run.
"""

from __future__ import annotations

import math
import os
from fractions import Fraction
from typing import Optional

import mapmean
import numpy as np
import pyarrow as pa
import pytest
from exact import assert_same, exact_mean, exact_sum

try:
    import datafusion
    import mapmean.datafusion
except ImportError:
    if os.environ.get("MAPMEAN_REQUIRE_DATAFUSION") == "1":
        raise
    pytest.skip("mapmean[datafusion] is not installed", allow_module_level=True)

F32 = np.float32
GROUPS = 1_000
ROWS = 60_000


@pytest.fixture(scope="module")
def table() -> pa.Table:
    """Group 0 cancels ([3e37, 0.75, -3e37] repeated), group 1 is all null,
    group 2 holds +inf, group 3 NaN, group 5 a large offset (1e4 plus
    multiples of 2**-10, the float32 spacing there), group 6 one value among
    nulls, group 7 a constant (0.1), group 8 -inf, group 9 both infinities;
    the rest hold values over many binades with scattered nulls."""
    rng = np.random.default_rng(55)
    g = rng.integers(0, GROUPS, ROWS)
    bits = rng.integers(0, 2**32, ROWS, dtype=np.uint64).astype(np.uint32)
    exponent = rng.integers(27, 227, ROWS).astype(np.uint32)
    x = ((bits & 0x807F_FFFF) | (exponent << 23)).view(F32)
    valid = rng.random(ROWS) > 0.1
    zeros = np.flatnonzero(g == 0)
    zeros = zeros[: len(zeros) - len(zeros) % 3]
    g[np.flatnonzero(g == 0)] = 4  # leftovers join an ordinary group
    g[zeros] = 0
    x[zeros] = np.resize(np.array([3e37, 0.75, -3e37], F32), len(zeros))
    valid[zeros] = True
    valid[g == 1] = False
    x[(g == 2) & valid] = np.inf
    x[g == 3] = np.nan
    x[g == 5] = (1e4 + rng.integers(0, 2048, np.count_nonzero(g == 5)) / 1024).astype(F32)
    sixes = np.flatnonzero(g == 6)
    valid[sixes] = False
    valid[sixes[0]] = True
    x[sixes[0]] = 42.5
    x[g == 7] = F32(0.1)
    x[(g == 8) & (np.arange(ROWS) % 3 == 0)] = -np.inf
    nines = np.flatnonzero(g == 9)
    x[nines[0::3]], x[nines[1::3]] = np.inf, -np.inf
    valid[nines[:2]] = True
    return pa.table({"g": pa.array(g), "x": pa.array(x, mask=~valid)})


@pytest.fixture(scope="module")
def expected(table: pa.Table) -> dict:
    g = table.column("g").to_numpy()
    x = table.column("x").fill_null(0).to_numpy().astype(F32)
    valid = table.column("x").is_valid().to_numpy(zero_copy_only=False)
    return {int(k): exact_mean(x[g == k], valid[g == k]) for k in np.unique(g)}


STATISTICS = ("exact_mean", "exact_sum", "exact_var", "exact_var_pop", "exact_stddev", "exact_stddev_pop")
ALL_GROUP_BY = (
    "SELECT g, " + ", ".join(f"{s}(x) AS {s}" for s in STATISTICS) + ", exact_var_samp(x) AS exact_var_samp, "
    "exact_stddev_samp(x) AS exact_stddev_samp FROM t GROUP BY g"
)


def exact_variance(values: np.ndarray, ddof: int) -> Fraction:
    """Σ(x - μ)² / (n - ddof) over finite float32 values, in Fractions."""
    xs = [Fraction(float(v)) for v in values]
    mu = sum(xs, Fraction(0)) / len(xs)
    return sum(((v - mu) ** 2 for v in xs), Fraction(0)) / (len(xs) - ddof)


def fraction_results(x: np.ndarray, valid: np.ndarray) -> dict:
    """Every statistic of one group's values, by pyarrow's and SQL's rules:
    the sum and the variances from Fractions, correctly rounded once; the
    standard deviations from :func:`mapmean.stddev` (itself checked against
    Fractions in test_moments.py), which must agree with the Fraction
    variance squared to within its rounding."""
    v = x[valid]
    n = v.size
    nan, pos, neg = bool(np.isnan(v).any()), bool((v == np.inf).any()), bool((v == -np.inf).any())
    if n == 0:
        total: Optional[float] = None
    elif nan or (pos and neg):
        total = math.nan
    elif pos or neg:
        total = math.inf if pos else -math.inf
    else:
        total = float(exact_sum(v))
    out = {"exact_mean": exact_mean(x, valid), "exact_sum": total}
    for ddof, suffix in ((1, ""), (0, "_pop")):
        if n <= ddof:
            var: Optional[float] = None
            std: Optional[float] = None
        elif nan or pos or neg:
            var = std = math.nan
        else:
            exact = exact_variance(v, ddof)
            var = float(exact)
            std = mapmean.stddev(pa.array(v), ddof=ddof).as_py()
            # The nearest float to sqrt(exact): its square is within an ulp
            # or so of the exact variance.
            assert abs(Fraction(std) ** 2 - exact) <= exact * Fraction(2 ** -51)
        out["exact_var" + suffix] = var
        out["exact_stddev" + suffix] = std
    return out


@pytest.fixture(scope="module")
def expected_all(table: pa.Table) -> dict:
    g = table.column("g").to_numpy()
    x = table.column("x").fill_null(0).to_numpy().astype(F32)
    valid = table.column("x").is_valid().to_numpy(zero_copy_only=False)
    return {int(k): fraction_results(x[g == k], valid[g == k]) for k in np.unique(g)}


def context(partitions: int) -> datafusion.SessionContext:
    config = datafusion.SessionConfig().with_target_partitions(partitions)
    ctx = datafusion.SessionContext(config)
    mapmean.datafusion.register(ctx)
    return ctx


def grouped(ctx: datafusion.SessionContext) -> dict:
    result = ctx.sql("SELECT g, exact_mean(x) AS m FROM t GROUP BY g").to_pydict()
    assert len(set(result["g"])) == len(result["g"])
    return dict(zip(result["g"], result["m"]))


def grouped_all(ctx: datafusion.SessionContext) -> dict:
    """Every statistic by group; the aliases must equal their aggregates."""
    result = ctx.sql(ALL_GROUP_BY).to_pydict()
    assert len(set(result["g"])) == len(result["g"])
    for alias, name in (("exact_var_samp", "exact_var"), ("exact_stddev_samp", "exact_stddev")):
        for a, b in zip(result.pop(alias), result[name]):
            assert_same(a, b, alias)
    return {k: {s: result[s][i] for s in STATISTICS} for i, k in enumerate(result["g"])}


def assert_all_same(got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    for k, w in want.items():
        if isinstance(w, dict):
            for s in STATISTICS:
                assert_same(got[k][s], w[s], f"group {k}, {s}")
        else:
            assert_same(got[k], w, f"group {k}")


def test_the_reference_has_the_hand_known_answers(expected):
    assert len(expected) == GROUPS
    assert expected[0] == 0.25
    assert expected[1] is None
    assert expected[2] == np.inf
    assert np.isnan(expected[3])


def test_the_reference_of_every_statistic_has_the_hand_known_answers(table, expected_all):
    nan = math.nan
    assert_same(expected_all[0]["exact_sum"], 0.75 * np.count_nonzero(table.column("g").to_numpy() == 0) / 3)
    assert all(v is None for v in expected_all[1].values())
    assert expected_all[2]["exact_sum"] == math.inf
    assert all(math.isnan(expected_all[2][s]) for s in STATISTICS[2:])
    assert all(math.isnan(v) for v in expected_all[3].values())
    assert expected_all[6] == {
        "exact_mean": 42.5,
        "exact_sum": 42.5,
        "exact_var": None,
        "exact_var_pop": 0.0,
        "exact_stddev": None,
        "exact_stddev_pop": 0.0,
    }
    assert all(expected_all[7][s] == 0.0 for s in STATISTICS[2:])
    assert expected_all[8]["exact_sum"] == -math.inf
    assert_same(expected_all[9]["exact_sum"], nan)
    assert abs(expected_all[5]["exact_var"] - 1 / 3) < 0.05


@pytest.mark.parametrize("partitions", [1, 2, 8])
def test_group_by_over_record_batches_is_exact_for_every_group(table, expected, expected_all, partitions):
    batches = table.to_batches(max_chunksize=7_000)
    ctx = context(partitions)
    ctx.register_record_batches("t", [batches[0::2], batches[1::2]])
    got = grouped(ctx)
    assert_all_same(got, expected)
    assert got[0] == 0.25 and got[1] is None
    assert_all_same(grouped_all(ctx), expected_all)


@pytest.mark.parametrize("partitions", [1, 2, 8])
def test_every_statistic_per_group_matches_mapmean_on_the_group_s_values(table, partitions):
    ctx = context(partitions)
    ctx.register_record_batches("t", [table.to_batches(max_chunksize=3_000)])
    got = grouped_all(ctx)
    g = table.column("g")
    for k in (0, 4, 5, 7, 10, 11, 999):
        values = table.filter(pa.compute.equal(g, k)).column("x")
        for ddof, suffix in ((1, ""), (0, "_pop")):
            assert_same(got[k]["exact_var" + suffix], mapmean.variance(values, ddof=ddof).as_py(), f"{k}")
            assert_same(got[k]["exact_stddev" + suffix], mapmean.stddev(values, ddof=ddof).as_py(), f"{k}")
        assert_same(got[k]["exact_sum"], mapmean.sum(values).as_py(), f"{k}")


@pytest.mark.parametrize("partitions", [1, 2, 8])
def test_group_by_over_an_ipc_file_is_exact_for_every_group(table, expected, expected_all, tmp_path, partitions):
    path = tmp_path / "t.arrow"
    with pa.ipc.new_file(path, table.schema) as writer:
        writer.write_table(table, max_chunksize=5_000)
    ctx = context(partitions)
    ctx.register_arrow("t", str(path))
    assert_all_same(grouped(ctx), expected)
    assert_all_same(grouped_all(ctx), expected_all)


def test_without_group_by_the_whole_column_matches_mapmean_mean(table):
    ctx = context(2)
    ctx.register_record_batches("t", [table.to_batches(max_chunksize=10_000)])
    got = ctx.sql("SELECT exact_mean(x) AS m FROM t WHERE g > 3").to_pydict()["m"][0]
    want = mapmean.mean(table.filter(pa.compute.greater(table.column("g"), 3)), "x").as_py()
    assert_same(got, want)


@pytest.mark.parametrize("partitions", [1, 2, 8])
def test_the_dataframe_api_groups_every_aggregate_exactly(table, expected_all, partitions):
    ctx = datafusion.SessionContext(datafusion.SessionConfig().with_target_partitions(partitions))
    df = ctx.from_arrow(table)
    x = datafusion.col("x")
    aggregates = [getattr(mapmean.datafusion, s)()(x).alias(s) for s in STATISTICS]
    result = df.aggregate([datafusion.col("g")], aggregates).to_pydict()
    got = {k: {s: result[s][i] for s in STATISTICS} for i, k in enumerate(result["g"])}
    assert_all_same(got, expected_all)


def test_without_group_by_every_statistic_matches_mapmean(table):
    ctx = context(2)
    ctx.register_record_batches("t", [table.to_batches(max_chunksize=10_000)])
    sql = "SELECT " + ", ".join(f"{s}(x) AS {s}" for s in STATISTICS) + " FROM t WHERE g > 9"
    got = ctx.sql(sql).to_pydict()
    values = table.filter(pa.compute.greater(table.column("g"), 9)).column("x")
    want = {
        "exact_mean": mapmean.mean(values),
        "exact_sum": mapmean.sum(values),
        "exact_var": mapmean.variance(values, ddof=1),
        "exact_var_pop": mapmean.variance(values),
        "exact_stddev": mapmean.stddev(values, ddof=1),
        "exact_stddev_pop": mapmean.stddev(values),
    }
    for s in STATISTICS:
        assert_same(got[s][0], want[s].as_py(), s)
        assert math.isfinite(got[s][0])


def test_the_aggregates_know_their_names_and_refuse_unknown_ones():
    from mapmean_datafusion import ExactAggregate

    assert ExactAggregate("exact_var_samp").name == "exact_var"
    with pytest.raises(ValueError, match="exact_median.*exact_stddev_pop"):
        ExactAggregate("exact_median")


def test_the_dataframe_api_takes_the_aggregate_too():
    ctx = datafusion.SessionContext()
    df = ctx.from_arrow(pa.table({"x": pa.array([3e37, 0.75, -3e37], pa.float32())}))
    got = df.aggregate([], [mapmean.datafusion.exact_mean()(datafusion.col("x")).alias("m")])
    assert got.to_pydict() == {"m": [0.25]}


@pytest.mark.parametrize("name", STATISTICS)
def test_a_string_column_is_refused_with_a_message_naming_its_type(name):
    ctx = context(1)
    ctx.register_record_batches("t", [[pa.record_batch({"x": pa.array(["a", "b"])})]])
    with pytest.raises(Exception, match="numeric") as info:
        ctx.sql(f"SELECT {name}(x) FROM t").collect()
    assert "Utf8" in str(info.value) and name in str(info.value)


@pytest.mark.parametrize("partitions", [1, 3])
def test_double_and_bigint_columns_agree_with_mapmean(partitions):
    rng = np.random.default_rng(7)
    x = rng.standard_normal(5000) * 10.0 ** rng.integers(-300, 300, 5000)
    n = rng.integers(-(2**62), 2**62, 5000)
    g = rng.integers(0, 5, 5000)
    table = pa.table({"g": g, "x": x, "n": n})
    ctx = context(partitions)
    ctx.register_record_batches("t", [table.to_batches(max_chunksize=701)])
    got = ctx.sql(
        "SELECT g, exact_mean(x) AS mx, exact_stddev_pop(x) AS sx, exact_mean(n) AS mn FROM t GROUP BY g ORDER BY g"
    ).collect()
    got = pa.Table.from_batches(got).to_pydict()
    for i, key in enumerate(got["g"]):
        sel = g == key
        assert got["mx"][i] == mapmean.mean(x[sel]).as_py()
        assert got["sx"][i] == mapmean.stddev(x[sel]).as_py()
        assert got["mn"][i] == mapmean.mean(n[sel]).as_py()
    total = ctx.sql("SELECT exact_sum(n) AS s FROM t WHERE n < 1000 AND n > -1000").collect()
    assert pa.Table.from_batches(total).schema.field("s").type == pa.int64()


@pytest.mark.parametrize("partitions", [1, 3])
def test_sql_group_by_agrees_with_mapmean_group_by_and_the_cli(table, partitions, tmp_path, cli):
    """DataFusion's exact aggregates, mapmean.group_by and `mapmean stats --by`
    give the same bits per group on the same data."""
    import subprocess

    ctx = context(partitions)
    ctx.register_record_batches("t", [table.to_batches(max_chunksize=5_000)])
    sql = ctx.sql(
        "SELECT g, exact_mean(x) AS m, exact_sum(x) AS s, exact_stddev(x) AS sd FROM t GROUP BY g ORDER BY g"
    ).to_pydict()
    ours = mapmean.group_by(table, "g").aggregate(
        [("x", "mean"), ("x", "sum"), ("x", "stddev", {"ddof": 1})]
    )
    sql_keys = [k for k in sql["g"] if k is not None]
    assert ours["g"].to_pylist()[: len(sql_keys)] == sql_keys
    for column, name in (("m", "x_mean"), ("s", "x_sum"), ("sd", "x_stddev")):
        got = dict(zip(ours["g"].to_pylist(), ours[name].to_pylist()))
        for key, want in zip(sql["g"], sql[column]):
            assert_same(got[key], want, f"{name} of group {key}")
    path = tmp_path / "t.arrow"
    with pa.OSFile(str(path), "wb") as f, pa.ipc.new_file(f, table.schema) as w:
        w.write_table(table)
    out = subprocess.run(
        [str(cli), "mean", str(path), "--by", "g", "-c", "x", "--format", "arrow"], capture_output=True, check=True
    ).stdout
    from_cli = pa.ipc.open_stream(out).read_all()["x_mean"].to_pylist()
    assert len(from_cli) == ours.num_rows
    for got, want in zip(from_cli, ours["x_mean"].to_pylist()):
        assert_same(got, want, "CLI")
