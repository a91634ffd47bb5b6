"""The ``mapmean`` console script and ``python -m mapmean`` behave as the Rust binary does.

Both run the command line compiled into the extension; these tests compare
their bytes on stdout and stderr and their exit statuses with the binary's,
and check what only a Python process could get wrong: output order with
Python's own buffered streams, Ctrl-C and closed pipes without a traceback.
"""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import time

import mapmean
import numpy as np
import pyarrow as pa
import pytest
from exact import exact_mean

F32 = np.float32
TIMEOUT = 120


def console_script() -> list[str]:
    path = pathlib.Path(sys.executable).parent / "mapmean"
    if not path.is_file():
        pytest.fail(f"the mapmean console script is not installed next to {sys.executable}: run `make all`")
    return [str(path)]


@pytest.fixture(params=["console script", "python -m mapmean"])
def command(request) -> list[str]:
    """How a user of the Python package runs the command line."""
    if request.param == "console script":
        return console_script()
    return [sys.executable, "-m", "mapmean"]


def run(argv: list, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], capture_output=True, timeout=TIMEOUT, **kwargs)


@pytest.fixture
def two_files(tmp_arrow):
    a = mapmean.write_ipc(tmp_arrow(), {"x": np.array([3e37, 0.75], F32), "y": np.array([1, 2], F32)})
    b = mapmean.write_ipc(tmp_arrow(".arrows"), {"x": np.array([-3e37], F32), "y": np.array([4], F32)}, format="stream")
    return a, b


@pytest.mark.parametrize("fmt", ["json", "table", "csv", "arrow"])
def test_output_is_byte_for_byte_the_binarys(cli, command, two_files, fmt):
    args = ["mean", *two_files, "--format", fmt]
    expected = run([cli, *args])
    got = run([*command, *args])
    assert expected.returncode == 0, expected.stderr
    assert (got.returncode, got.stdout, got.stderr) == (0, expected.stdout, b"")


def test_arrow_output_on_stdout_reads_back_with_pyarrow(command, two_files):
    proc = run([*command, "mean", *two_files, "--format", "arrow", "--by-source"])
    assert proc.returncode == 0, proc.stderr
    table = pa.ipc.open_stream(proc.stdout).read_all()
    assert table.column("source").to_pylist() == [str(p) for p in two_files for _ in "xy"]
    assert table.column("column").to_pylist() == ["x", "y", "x", "y"]
    expected = [exact_mean(np.array([3e37, 0.75], F32)), 1.5, float(F32(-3e37)), 4.0]
    assert table.column("mean").to_pylist() == expected


@pytest.mark.parametrize(
    "args, status",
    [
        (["mean", "MISSING"], 1),  # a missing file: `error: …`
        (["mean", "FILE", "--column", "nope"], 1),  # a missing column
        (["mean"], 2),  # a usage error (clap)
        (["mean", "FILE", "--threads", "0"], 2),
        (["frobnicate"], 2),
    ],
)
def test_errors_give_the_binarys_message_and_status_without_a_traceback(cli, command, two_files, tmp_path, args, status):
    args = [str(tmp_path / "missing.arrow") if a == "MISSING" else str(two_files[0]) if a == "FILE" else a for a in args]
    expected = run([cli, *args], text=True)
    got = run([*command, *args], text=True)
    assert expected.returncode == status
    assert got.returncode == status
    assert got.stdout == ""
    assert got.stderr.startswith("error: ")
    assert "Traceback" not in got.stderr
    # The messages are the binary's, but for the program name in usage lines.
    prog = "mapmean" if command == console_script() else "python -m mapmean"
    assert got.stderr == expected.stderr.replace("Usage: mapmean", f"Usage: {prog}")


@pytest.mark.parametrize("flag", ["--version", "--help"])
def test_version_and_help_go_to_stdout_with_status_zero(cli, command, flag):
    expected = run([cli, flag], text=True)
    got = run([*command, flag], text=True)
    assert got.returncode == expected.returncode == 0
    prog = "mapmean" if command == console_script() else "python -m mapmean"
    assert got.stdout == expected.stdout.replace("Usage: mapmean", f"Usage: {prog}")
    assert got.stderr == ""
    if flag == "--version":
        assert got.stdout == f"mapmean {mapmean.__version__}\n"


def test_python_output_written_before_the_command_comes_first(two_files):
    # stdout is a pipe, so Python's sys.stdout is block-buffered: unless main()
    # flushes it, "before" would come out after the command's rows.
    code = (
        "import sys, mapmean.__main__ as m\n"
        "print('before')\n"
        "status = m.main(sys.argv[1:])\n"
        "print('after', status)\n"
    )
    proc = run([sys.executable, "-c", code, "mean", two_files[0], "--format", "json"], text=True)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "before"
    assert lines[-1] == "after 0"
    assert [line.split(",")[0] for line in lines[1:-1]] == ['{"column":"x"', '{"column":"y"']


def test_main_returns_the_status_instead_of_exiting(tmp_path):
    code = "import mapmean.__main__ as m, sys; print(m.main(['mean', sys.argv[1]]))"
    proc = run([sys.executable, "-c", code, tmp_path / "missing.arrow"], text=True)
    assert proc.returncode == 0
    assert proc.stdout == "1\n"
    assert proc.stderr.startswith("error: ")


def test_a_reader_that_closes_the_pipe_gives_the_binarys_error_not_a_traceback(cli, command, tmp_arrow):
    paths = [mapmean.write_ipc(tmp_arrow(), {f"c{i}": np.ones(4, F32) for i in range(200)}) for _ in range(50)]
    results = {}
    for name, argv in [("binary", [cli]), ("python", command)]:
        proc = subprocess.Popen(
            [str(a) for a in [*argv, "mean", *paths, "--by-source", "--format", "csv"]],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        proc.stdout.read(10)  # `| head -c 10`
        proc.stdout.close()
        stderr = proc.stderr.read().decode()
        proc.stderr.close()
        proc.wait(TIMEOUT)
        results[name] = (proc.returncode, stderr)
    assert results["python"] == results["binary"]
    assert results["python"][0] == 1
    assert "Broken pipe" in results["python"][1]
    assert "Traceback" not in results["python"][1]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs a FIFO")
def test_ctrl_c_ends_the_command_as_it_ends_the_binary(cli, command, tmp_path):
    # Reading a FIFO that no one writes blocks inside the command (without the
    # GIL), where only the signal's default action can end the process.
    fifo = tmp_path / "fifo.arrow"
    os.mkfifo(fifo)
    statuses = {}
    for name, argv in [("binary", [cli]), ("python", command)]:
        proc = subprocess.Popen(
            [str(a) for a in [*argv, "mean", fifo]], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        time.sleep(0.2 if name == "binary" else 3.0)  # Python imports numpy and pyarrow first
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=TIMEOUT)
        statuses[name] = proc.returncode
        assert "Traceback" not in err
        assert "KeyboardInterrupt" not in err
    assert statuses["python"] == statuses["binary"] == -signal.SIGINT


def test_the_command_imports_neither_numpy_nor_pyarrow(command):
    # What makes it start at once (python/wheel_check.py checks the installed wheel the same way).
    script_or_module = command[1:] if command[0] == sys.executable else command  # run by this Python
    proc = run([sys.executable, "-X", "importtime", *script_or_module, "--version"])
    assert proc.returncode == 0, proc.stderr
    modules = {line.rsplit("|", 1)[1].strip() for line in proc.stderr.decode().splitlines()[1:] if "|" in line}
    assert "mapmean._mapmean" in modules
    assert not {m for m in modules if m.split(".")[0] in ("numpy", "pyarrow") or m == "mapmean._api"}


def test_importing_the_package_loads_numpy_and_pyarrow_on_first_use_only():
    code = (
        "import sys, mapmean\n"
        "assert 'numpy' not in sys.modules and 'pyarrow' not in sys.modules, 'imported with the package'\n"
        "assert mapmean.__version__ and mapmean.MeanState\n"
        "assert 'numpy' not in sys.modules, 'imported with the extension'\n"
        "mean = mapmean.mean\n"
        "assert 'numpy' in sys.modules and 'pyarrow' in sys.modules\n"
        "assert mean is mapmean.mean and mean.__module__ == 'mapmean'\n"
        "assert repr(mapmean.Dataset) == \"<class 'mapmean.Dataset'>\"\n"
        "from mapmean import scan, write_ipc\n"
        "assert sorted(dir(mapmean)) == sorted(mapmean.__all__)\n"
        "try:\n"
        "    mapmean.no_such_name\n"
        "except AttributeError as e:\n"
        "    assert 'no_such_name' in str(e)\n"
        "else:\n"
        "    raise AssertionError('no AttributeError')\n"
    )
    proc = run([sys.executable, "-c", code])
    assert proc.returncode == 0, proc.stderr.decode()
