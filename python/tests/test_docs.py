"""The code in README.md and docs/*.md runs, and gives the output it shows.

Each document's blocks run in order in one temporary directory, as a reader
would type them:

- ```python blocks share one namespace; a block of ``>>>`` lines runs as a
  doctest, so the output it shows is checked;
- ```sh blocks are ``$ command`` lines, each followed by the output it shows
  (checked, up to trailing blanks; a command showing none must succeed), run
  with bash where ``mapmean`` and ``python`` are this venv's.

A block that cannot run here says so, with its reason, in an HTML comment
(invisible on GitHub) on the line before it::

    <!-- docs-test: skip needs a dask cluster -->

and what the text takes for granted (a directory of files, say) is made by
a block inside such a comment, run where it stands::

    <!-- docs-test: setup
    ```python
    ...
    ```
    -->

Every ```python and ```sh block is run or carries a skip marker (a block
with neither fails the test), so no example goes unchecked by accident.
```rust blocks are compiled by cargo's examples and tests elsewhere, not
here; ```text, ```toml and unlabelled blocks are not code.
"""

from __future__ import annotations

import dataclasses
import doctest
import os
import pathlib
import re
import subprocess
import sys

import pytest
from conftest import REPO_ROOT

DOCUMENTS = ["README.md", *sorted(p.relative_to(REPO_ROOT).as_posix() for p in (REPO_ROOT / "docs").glob("*.md"))]
RUN = ("python", "sh")
NOT_RUN = ("rust", "text", "toml", "")
SKIP = re.compile(r"<!-- docs-test: skip (?P<reason>\S.*?)\s*-->")
SETUP = "<!-- docs-test: setup"


@dataclasses.dataclass
class Block:
    """One fenced code block of a document."""

    document: str
    line: int  # of the opening fence, 1-based
    language: str
    code: str
    skip: str | None  # the reason, where marked
    setup: bool  # inside a hidden setup comment

    @property
    def where(self) -> str:
        return f"{self.document}:{self.line}"


def blocks(document: str) -> list[Block]:
    """The fenced blocks of ``document``, in order, with their markers."""
    lines = (REPO_ROOT / document).read_text().splitlines()
    found: list[Block] = []
    in_setup = False
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.strip() == SETUP:
            in_setup = True
        elif in_setup and line.strip() == "-->":
            in_setup = False
        elif line.startswith("```"):
            language = line[3:].strip()
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            before = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
            marker = SKIP.fullmatch(before.strip())
            code = "\n".join(lines[i + 1 : end]) + "\n"
            found.append(Block(document, i + 1, language, code, marker and marker["reason"], in_setup))
            i = end
        i += 1
    return found


def run_python(block: Block, namespace: dict) -> None:
    if block.code.lstrip().startswith(">>>"):
        test = doctest.DocTestParser().get_doctest(block.code, namespace, block.where, block.document, block.line)
        runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
        report: list[str] = []
        runner.run(test, out=report.append, clear_globs=False)
        assert runner.failures == 0, f"{block.where}: the shown output differs:\n" + "".join(report)
    else:
        exec(compile(block.code, block.where, "exec"), namespace)


def shell_commands(block: Block) -> list[tuple[str, str]]:
    """The ``$ command`` lines of a sh block, each with the output shown under it."""
    commands: list[tuple[str, list[str]]] = []
    for line in block.code.splitlines():
        if line.startswith("$ "):
            commands.append((line[2:], []))
        else:
            assert commands, f"{block.where}: a sh block starts with `$ command` lines (or is marked skip)"
            commands[-1][1].append(line)
    return [(command, "\n".join(shown)) for command, shown in commands]


def run_sh(block: Block, cwd: pathlib.Path) -> None:
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    for command, shown in shell_commands(block):
        proc = subprocess.run(
            ["bash", "-o", "pipefail", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
        )
        where = f"{block.where}: `{command}`"
        if not shown.strip():
            assert proc.returncode == 0, f"{where}: exit {proc.returncode}: {proc.stderr}"
            continue
        # What a terminal shows: stdout and stderr (notes, warnings) in order.
        got = "\n".join(line.rstrip() for line in (proc.stdout + proc.stderr).splitlines())
        want = "\n".join(line.rstrip() for line in shown.splitlines())
        assert got == want, f"{where}: shows\n{want}\nbut gives\n{got}"


@pytest.mark.parametrize("document", DOCUMENTS)
def test_the_code_of_the_document_runs_and_gives_what_it_shows(document, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__docs__"}
    for block in blocks(document):
        if block.language in NOT_RUN:
            continue
        assert block.language in RUN, f"{block.where}: a ```{block.language} block: say in test_docs.py what to do"
        if block.skip:
            continue
        if block.language == "python":
            run_python(block, namespace)
        else:
            run_sh(block, tmp_path)


def test_every_skip_marker_gives_a_reason_and_marks_a_block():
    for document in DOCUMENTS:
        lines = (REPO_ROOT / document).read_text().splitlines()
        for number, line in enumerate(lines, 1):
            if line.startswith("<!-- docs-test:") and line.strip() != SETUP:
                assert SKIP.fullmatch(line.strip()), f"{document}:{number}: unknown docs-test marker {line!r}"
                following = next((s for s in lines[number:] if s.strip()), "")
                assert following.startswith("```"), f"{document}:{number}: the marker is not right before a block"
