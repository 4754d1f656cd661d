"""docs/diagnostics.md: every command on the page prints what the page says.

Conventions of the page:

* a ```python block whose first line is ``# file: NAME.py`` is a file, written
  (with every other file of the page) to a fresh directory;
* a ```console block holds commands (lines starting with ``$ ``), each
  followed by its exact output (stdout, then the report that ``diagnose``
  writes to stderr). ``python`` is this interpreter, ``pytest`` is ``python
  -m pytest`` with anyio's plugin and unicancel's;
* the output is compared after :func:`normalise`: addresses, the lines under
  ``library frames:`` (paths of this machine), an ``awaiting <...>`` line and
  numbers of seconds are left out.

A command that ends with ``asyncio`` runs again with ``trio``: the program's
output and the report's summary (its part before ``details:``, "landed"
reports left out) must be the same. Catch sites need Python 3.12+
(sys.monitoring): on 3.11, outputs that name one are not compared.

Run this module as a script to rewrite the page's outputs from real runs:
``PYTHONPATH=src python tests/test_docs_diagnostics.py``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "diagnostics.md"
SRC = ROOT / "src"
FILE_MARKER = re.compile(r"^# file: (?P<name>[\w.]+\.py)$")
_FENCE = re.compile(r"^```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^```[ \t]*$", re.M | re.S)
PYTEST = ["-m", "pytest", "-p", "anyio", "-p", "unicancel.diagnostics._pytest_plugin"]
PYTEST += ["-p", "no:cacheprovider", "--no-header"]


@dataclass(frozen=True)
class Command:
    """A ``$ `` line of a console block, and the output the page shows."""

    line: int
    argv: list[str]
    output: str
    #: Offsets of the output in the page (to rewrite it).
    start: int
    end: int

    @property
    def id(self) -> str:
        return f"line{self.line}:" + "_".join(a for a in self.argv if a.endswith(".py"))


def files(text: str) -> dict[str, str]:
    found = {}
    for fence in _FENCE.finditer(text):
        if fence.group("lang") != "python":
            continue
        first, _, rest = fence.group("body").partition("\n")
        match = FILE_MARKER.match(first)
        assert match, f"python block without '# file: NAME.py': {first!r}"
        found[match["name"]] = rest
    return found


def commands(text: str) -> list[Command]:
    found = []
    for fence in _FENCE.finditer(text):
        if fence.group("lang") != "console":
            continue
        body_start = fence.start("body")
        body = fence.group("body")
        # Each "$ " line, with the output up to the next one.
        starts = [m.start() for m in re.finditer(r"^\$ ", body, re.M)]
        for i, start in enumerate(starts):
            end = starts[i + 1] if i + 1 < len(starts) else len(body)
            command, _, output = body[start:end].partition("\n")
            found.append(
                Command(
                    line=text.count("\n", 0, body_start + start) + 1,
                    argv=command[2:].split(),
                    output=output,
                    start=body_start + start + len(command) + 1,
                    end=body_start + end,
                )
            )
    return found


def normalise(output: str) -> list[str]:
    """The lines compared: without what depends on the machine or the timing."""
    lines: list[str] = []
    library = False
    for line in output.splitlines():
        if library and line.startswith("      "):
            continue  # a library frame: a path of this machine
        library = line.strip() == "library frames:"
        if library:
            lines.append(line)
            continue
        line = re.sub(r" at 0x[0-9a-fA-F.]+", " at 0x...", line)
        line = re.sub(r"^(\s*awaiting) <.*>$", r"\1 <...>", line)
        line = re.sub(r"\b\d+\.\d+ s\b", "N s", line)
        line = re.sub(r"\bin \d+\.\d+s\b", "in Ns", line)  # pytest's duration
        # The watchdog samples the loop thread wherever it is in crunch()'s
        # two-line busy loop (the `while` test or its body).
        line = re.sub(r"\bcrunch\.py:1[12]\b", "crunch.py:<loop>", line)
        if line.strip() == "...":
            continue
        lines.append(line)
    return lines


def run(command: Command, cwd: Path, backend: str | None = None) -> str:
    argv = list(command.argv)
    if backend is not None:
        assert argv[-1] == "asyncio", argv
        argv[-1] = backend
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UNICANCEL_", "PYTEST_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), *filter(None, [env.get("PYTHONPATH")])])
    env["COLUMNS"] = "80"  # pytest's rules and truncated lines
    # pytest does not truncate its summary lines on CI (CI or BUILD_NUMBER set).
    env.pop("CI", None)
    env.pop("BUILD_NUMBER", None)
    if argv[0] == "python":
        argv = [sys.executable, *argv[1:]]
    elif argv[0] == "pytest":
        # Both plugins named, whatever the installed unicancel declares.
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        argv = [sys.executable, *PYTEST, *argv[1:]]
    else:
        raise AssertionError(f"unknown command {argv[0]!r}")
    result = subprocess.run(
        argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        timeout=60,
    )  # fmt: skip
    return result.stdout


def summary(output: str) -> list[str]:
    """The program's output and the report's summary (before its details),
    without "landed" reports: asyncio does not report one when the stuck
    cancellation was a task group's and only its children got it (trio does)."""
    lines = []
    landed = False
    for line in normalise(output.partition("\ndetails:\n")[0]):
        landed = line.startswith("stuck cancellations that ended") or (
            landed and line.startswith("  ")
        )
        if not landed and line:
            line = re.sub(r"\d+ report\(s\)", "N report(s)", line)
            lines.append(re.sub(r", \d+ landed\b", "", line))
    return lines


_TEXT = PAGE.read_text(encoding="utf-8")
_COMMANDS = commands(_TEXT)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("diagnostics-page")
    for name, body in files(_TEXT).items():
        (path / name).write_text(body, encoding="utf-8")
    return path


def test_the_page_has_a_command_for_every_program() -> None:
    programs = set(files(_TEXT))
    run_ones = {arg for command in _COMMANDS for arg in command.argv if arg.endswith(".py")}
    assert programs == run_ones, programs ^ run_ones
    assert len(_COMMANDS) >= 8


@pytest.mark.parametrize("command", _COMMANDS, ids=[c.id for c in _COMMANDS])
def test_command_prints_what_the_page_shows(command: Command, workdir: Path) -> None:
    if "caught at" in command.output and sys.version_info < (3, 12):
        pytest.skip("catch sites need sys.monitoring: Python 3.12+")
    output = run(command, workdir)
    assert normalise(output) == normalise(command.output), output
    if command.argv[-1] == "asyncio":
        on_trio = run(command, workdir, "trio")
        expected = [line.replace("(asyncio)", "(trio)") for line in summary(output)]
        assert sorted(summary(on_trio)) == sorted(expected), on_trio


def regenerate() -> None:
    """Rewrite the outputs of the page's commands from real runs (asyncio)."""
    import tempfile

    text = _TEXT
    with tempfile.TemporaryDirectory() as tmp:
        for name, body in files(text).items():
            (Path(tmp) / name).write_text(body, encoding="utf-8")
        for command in reversed(_COMMANDS):
            lines = []
            library = False
            for line in run(command, Path(tmp)).splitlines():
                if library and line.startswith("      "):
                    continue
                library = line.strip() == "library frames:"
                lines.append(re.sub(r" at 0x[0-9a-fA-F]+", " at 0x...", line))
                if library:
                    lines.append("      ...")
            text = text[: command.start] + "".join(f"{li}\n" for li in lines) + text[command.end :]
    PAGE.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    regenerate()
