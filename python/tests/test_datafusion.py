"""mapmean.datafusion: ``exact_mean`` in datafusion-python SQL through the FFI
capsule, exact per group against the Fraction reference.

Skipped when the optional DataFusion support is not installed, except under
``make test`` (MAPMEAN_REQUIRE_DATAFUSION=1), where it must run.
"""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pytest
from exact import assert_same, exact_mean

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
    group 2 holds +inf, group 3 NaN; the rest hold values over many binades
    with scattered nulls."""
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
    return pa.table({"g": pa.array(g), "x": pa.array(x, mask=~valid)})


@pytest.fixture(scope="module")
def expected(table: pa.Table) -> dict:
    g = table.column("g").to_numpy()
    x = table.column("x").fill_null(0).to_numpy().astype(F32)
    valid = table.column("x").is_valid().to_numpy(zero_copy_only=False)
    return {int(k): exact_mean(x[g == k], valid[g == k]) for k in np.unique(g)}


def context(partitions: int) -> datafusion.SessionContext:
    config = datafusion.SessionConfig().with_target_partitions(partitions)
    ctx = datafusion.SessionContext(config)
    mapmean.datafusion.register(ctx)
    return ctx


def grouped(ctx: datafusion.SessionContext) -> dict:
    result = ctx.sql("SELECT g, exact_mean(x) AS m FROM t GROUP BY g").to_pydict()
    assert len(set(result["g"])) == len(result["g"])
    return dict(zip(result["g"], result["m"]))


def assert_all_same(got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    for k, w in want.items():
        assert_same(got[k], w, f"group {k}")


def test_the_reference_has_the_hand_known_answers(expected):
    assert len(expected) == GROUPS
    assert expected[0] == 0.25
    assert expected[1] is None
    assert expected[2] == np.inf
    assert np.isnan(expected[3])


@pytest.mark.parametrize("partitions", [1, 2, 8])
def test_group_by_over_record_batches_is_exact_for_every_group(table, expected, partitions):
    batches = table.to_batches(max_chunksize=7_000)
    ctx = context(partitions)
    ctx.register_record_batches("t", [batches[0::2], batches[1::2]])
    got = grouped(ctx)
    assert_all_same(got, expected)
    assert got[0] == 0.25 and got[1] is None


@pytest.mark.parametrize("partitions", [1, 2, 8])
def test_group_by_over_an_ipc_file_is_exact_for_every_group(table, expected, tmp_path, partitions):
    path = tmp_path / "t.arrow"
    with pa.ipc.new_file(path, table.schema) as writer:
        writer.write_table(table, max_chunksize=5_000)
    ctx = context(partitions)
    ctx.register_arrow("t", str(path))
    assert_all_same(grouped(ctx), expected)


def test_without_group_by_the_whole_column_matches_mapmean_mean(table):
    ctx = context(2)
    ctx.register_record_batches("t", [table.to_batches(max_chunksize=10_000)])
    got = ctx.sql("SELECT exact_mean(x) AS m FROM t WHERE g > 3").to_pydict()["m"][0]
    want = mapmean.mean(table.filter(pa.compute.greater(table.column("g"), 3)), "x").as_py()
    assert_same(got, want)


def test_the_dataframe_api_takes_the_aggregate_too():
    ctx = datafusion.SessionContext()
    df = ctx.from_arrow(pa.table({"x": pa.array([3e37, 0.75, -3e37], pa.float32())}))
    got = df.aggregate([], [mapmean.datafusion.exact_mean()(datafusion.col("x")).alias("m")])
    assert got.to_pydict() == {"m": [0.25]}


def test_a_float64_column_is_refused_with_a_message_naming_float32():
    ctx = context(1)
    ctx.register_record_batches("t", [[pa.record_batch({"x": pa.array([1.0, 2.0])})]])
    with pytest.raises(Exception, match="Float32") as info:
        ctx.sql("SELECT exact_mean(x) FROM t").collect()
    assert "Float64" in str(info.value)
