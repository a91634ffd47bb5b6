"""The ``mapmean`` command: ``python -m mapmean`` and the ``mapmean`` console script.

Both run the command line compiled into the extension, the very code of the
Rust ``mapmean`` binary: same options, same output, same exit statuses
(0 success, 1 an error reported as ``error: …`` on stderr, 2 a usage error).
The command writes to the process's file descriptors 1 and 2 directly, so
``--format arrow`` gives the same bytes on stdout as the binary.

Examples
--------
From a shell::

    mapmean mean data.arrow --format json
    python -m mapmean mean data.arrow
"""

from __future__ import annotations

import os
import signal
import sys

# Type checkers take a module-level `TYPE_CHECKING` as true; importing
# `typing` would cost the command's start a few milliseconds (see __init__.py).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Run the ``mapmean`` command line and return its exit status.

    Parameters
    ----------
    argv
        The arguments after the program name (default: ``sys.argv[1:]``).
    prog
        The program name that usage and help messages show (default: the
        name the console script was started as, ``mapmean``).

    Returns
    -------
    int
        The exit status: 0 on success, 1 after an error, 2 after a usage
        error.

    Examples
    --------
    >>> import mapmean.__main__
    >>> mapmean.__main__.main(["--version"])  # doctest: +SKIP
    mapmean 0.1.0
    0
    """
    from . import _mapmean

    if argv is None:
        argv = sys.argv[1:]
    if prog is None:
        prog = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "mapmean"
    # Output written by Python so far comes first: the command writes to the
    # file descriptors underneath Python's buffered streams.
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()
    return int(_mapmean._main([prog, *argv]))


def _run_as_command(prog: str | None = None) -> None:
    """Run as a process's command: Ctrl-C ends it as it ends the binary."""
    # Die of SIGINT, as the binary does, instead of raising KeyboardInterrupt
    # (with a traceback) once the GIL-free command returns. SIGPIPE stays
    # ignored, as in the binary: writing to a closed pipe (`| head`) is the
    # command's `error: …` and status 1. Python's buffers were flushed before
    # the command ran, so its flush at exit has nothing to write.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    sys.exit(main(prog=prog))


def console_script() -> None:
    """The ``mapmean`` console script that ``pip install`` puts on ``PATH``."""
    _run_as_command()


if __name__ == "__main__":
    _run_as_command(prog="python -m mapmean")
