"""Writes small seed inputs for the fuzz targets into DIR/<target>/.

Valid Arrow IPC files and streams (and Parquet files) in the shapes mapmean meets (nulls,
slices, several batches, other column types, dictionaries, compression)
give the fuzzer a head start; it mutates them from there.

    python fuzz/seeds.py fuzz/corpus
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq


def tables() -> dict[str, pa.Table]:
    rng = np.random.default_rng(7)
    x = pa.array(rng.standard_normal(50).astype(np.float32))
    nulls = pa.array([1.5, None, 3e37, -3e37, 0.75, None, float("nan")], pa.float32())
    return {
        "plain": pa.table({"x": x}),
        "nulls": pa.table({"x": nulls}),
        "sliced": pa.table({"x": nulls.slice(1, 5)}),
        "columns": pa.table(
            {
                "x": x,
                "n": pa.array(range(50), pa.int64()),
                "s": pa.array([str(i) for i in range(50)]),
                "d": pa.array(["a", "b"] * 25).dictionary_encode(),
                "l": pa.array([[1.0]] * 50, pa.list_(pa.float32())),
            }
        ),
        "batches": pa.Table.from_batches(
            [pa.record_batch({"x": x.slice(i, 10)}) for i in range(0, 50, 10)]
        ),
        "empty": pa.table({"x": pa.array([], pa.float32())}),
    }


def write(table: pa.Table, stream: bool, compression: str | None) -> bytes:
    sink = pa.BufferOutputStream()
    options = ipc.IpcWriteOptions(compression=compression)
    opener = ipc.new_stream if stream else ipc.new_file
    with opener(sink, table.schema, options=options) as writer:
        writer.write_table(table, max_chunksize=16)
    return sink.getvalue().to_pybytes()


def write_parquet(table: pa.Table, compression: str, dictionary: bool) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(
        table.drop_columns([c for c in ("d", "l") if c in table.column_names]),
        sink,
        compression=compression,
        use_dictionary=dictionary,
        row_group_size=20,
        data_page_size=64,
    )
    return sink.getvalue().to_pybytes()


def main(out: Path) -> None:
    for target in ("ipc_file", "ipc_stream", "kernel", "state_bytes", "parquet_file"):
        (out / target).mkdir(parents=True, exist_ok=True)
    for name, table in tables().items():
        for compression in (None, "lz4", "zstd"):
            suffix = f"{name}-{compression or 'plain'}"
            (out / "ipc_file" / f"seed-{suffix}").write_bytes(write(table, False, compression))
            (out / "ipc_stream" / f"seed-{suffix}").write_bytes(write(table, True, compression))
        for compression, dictionary in (("none", False), ("snappy", True), ("zstd", False), ("gzip", True)):
            seed = out / "parquet_file" / f"seed-{name}-{compression}-{int(dictionary)}"
            seed.write_bytes(write_parquet(table, compression, dictionary))
    # Kernel inputs: [bit offset][has bitmap][count, u16 LE][f32 values][bitmap bytes]
    values = {
        "ones": np.ones(300, np.float32),
        "cancel": np.array([3e37, 0.75, -3e37] * 100, np.float32),
        "wide": (np.random.default_rng(1).standard_normal(3000) * 10.0 ** np.arange(-30, 30, 0.02)).astype(
            np.float32
        ),
        "specials": np.array([np.inf, -np.inf, np.nan, 0.0, -0.0, 1e-45, 3.4e38] * 40, np.float32),
    }
    for name, v in values.items():
        for offset, has_bitmap in ((0, 0), (3, 1)):
            head = struct.pack("<BBH", offset, has_bitmap, len(v))
            data = head + v.tobytes() + bytes([0b1011_0110, 0xFF, 0x00])
            (out / "kernel" / f"seed-{name}-{offset}-{has_bitmap}").write_bytes(data)

    # State bytes (docs/state-format.md): an empty state, one with a sum and
    # special counts, one at the bound (2 * f32::MAX over two values).
    for name, counts, units in (
        ("empty", (0, 0, 0, 0, 0), 0),
        ("mixed", (5, 2, 1, 1, 0), -(7 << 148)),
        ("bound", (2, 0, 0, 0, 0), 2 * ((1 << 24) - 1) << 253),
    ):
        state = b"MMst" + struct.pack("<HH5Q", 1, 0, *counts) + units.to_bytes(48, "little", signed=True)
        (out / "state_bytes" / f"seed-{name}").write_bytes(state)
    # Version-2 states (every numeric type): Float64 with both parts, Int64
    # and UInt64 with the extremes (docs/state-format.md).
    for name, code, parts, sum_limbs, square_limbs in (
        ("f64", 3, 3, 34, 67),
        ("i64", 7, 2, 3, 4),
        ("u8", 8, 3, 3, 4),
    ):
        counts = (2, 1, 0, 0, 0)
        state = b"MMsx" + struct.pack("<HBB5Q", 2, code, parts, *counts)
        state += (3 << 60).to_bytes(8 * sum_limbs, "little", signed=True)
        if parts & 1:
            state += (5 << 120).to_bytes(8 * square_limbs, "little")
        if parts & 2:
            state += struct.pack("<qq", 1 << 60, 2 << 60) if code != 3 else struct.pack("<dd", 1.0, 2.0)
        (out / "state_bytes" / f"seed-v2-{name}").write_bytes(state)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
