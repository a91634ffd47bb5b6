"""Sources truncated by another process while mapped: an ``OSError``, or the
exact mean if the read finished first — never a crash of the interpreter.

Each scenario runs in a child interpreter, so that a crash (SIGBUS) would fail
the test instead of killing pytest.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the SIGBUS guard is Linux-only")

TIMEOUT = 300


def run_child(code: str, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert proc.returncode == 0, f"child exited {proc.returncode}:\n{proc.stderr}"
    return proc.stdout


def test_a_shared_segment_truncated_under_a_reader_gives_os_error():
    out = run_child(
        """
        import os, numpy as np, mapmean
        values = np.arange(1 << 22, dtype=np.float32)
        with mapmean.share(values) as owner:
            reader = mapmean.attach(owner.name)
            assert mapmean.mean(reader).as_py() == float(values.astype(np.float64).mean())
            # Another process cuts the segment short.
            import subprocess
            subprocess.run(["truncate", "-s", "4096", "/dev/shm/" + owner.name], check=True)
            for table in (reader, owner):
                try:
                    mapmean.mean(table)
                except OSError as e:
                    assert "truncated" in str(e) and owner.name in str(e), e
                    print("OSError")
                else:
                    print("no error")
            reader.close()
        """
    )
    assert out.split() == ["OSError", "OSError"]


def test_a_file_truncated_during_computations_never_crashes(tmp_path):
    path = tmp_path / "big.arrow"
    out = run_child(
        """
        import subprocess, sys, time, numpy as np, mapmean
        path = sys.argv[1]
        values = (np.arange(1 << 26) % 1000).astype(np.float32)  # 256 MiB
        mapmean.write_ipc(path, values, batch_rows=1 << 22)
        want = float(np.mean(values, dtype=np.float64))
        child = subprocess.Popen(["sh", "-c", 'sleep 0.3; truncate -s 1000000 "$0"', path])
        ok = errors = 0
        while True:
            done = child.poll() is not None
            try:
                got = mapmean.mean(path, threads=1).as_py()
            except (OSError, ValueError) as e:
                # OSError: truncated during the computation; ValueError: the
                # file opened after the truncation is too short to be IPC.
                errors += 1
            else:
                assert got == want, (got, want)
                ok += 1
            if done:
                break
        assert child.wait() == 0
        print(ok, errors)
        """,
        str(path),
    )
    ok, errors = map(int, out.split())
    assert errors >= 1, out


def test_the_cli_reports_a_truncation_as_an_error(tmp_path, cli):
    """The CLI over a file that another process truncates while it runs:
    either the exact mean (it finished first) or ``error: …`` and exit 1."""
    path = tmp_path / "big.arrow"
    import mapmean
    import numpy as np

    values = (np.arange(1 << 26) % 1000).astype(np.float32)
    mapmean.write_ipc(path, values, batch_rows=1 << 22)
    want = float(np.mean(values, dtype=np.float64))
    del values
    outcomes = set()
    for delay in ("0", "0.01", "0.02", "0.05"):
        cutter = subprocess.Popen(["sh", "-c", f'sleep {delay}; truncate -s 1000000 "$0"', str(path)])
        proc = subprocess.run(
            [str(cli), "mean", str(path), "--column", "values", "--threads", "1", "--format", "json"],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        assert cutter.wait() == 0
        assert "panicked" not in proc.stderr
        assert proc.returncode in (0, 1), (proc.returncode, proc.stderr)
        if proc.returncode == 0:
            import json

            assert json.loads(proc.stdout)["mean"] == want
            outcomes.add("ok")
        else:
            assert proc.stderr.startswith("error: "), proc.stderr
            assert proc.stdout == ""
            outcomes.add("truncated" if "truncated" in proc.stderr else "corrupt")
        # Restore the file for the next round.
        mapmean.write_ipc(path, (np.arange(1 << 26) % 1000).astype(np.float32), batch_rows=1 << 22)
    assert outcomes, outcomes
    assert os.path.exists(path)
