"""``python -m unicancel diagnose``: run a user's program with cancellation
diagnostics on, as ``python`` would run it, and report at exit.

Real subprocesses run small buggy scripts on asyncio and trio (the backend is
the script's first argument); the report goes to stderr and names the file and
line of the code at fault; the program's own output, arguments and exit
status are what plain ``python`` gives. Bad command lines are argparse
errors (exit status 2, never a traceback).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from unicancel.__main__ import main

BACKENDS = ("asyncio", "trio")
SRC = Path(__file__).resolve().parent.parent / "src"

#: Prepended to every script: the backend from the command line, its sleep.
HEADER = """\
import sys
import unicancel

BACKEND = sys.argv[1] if len(sys.argv) > 1 else "asyncio"
if BACKEND == "trio":
    import trio

    sleep = trio.sleep
else:
    import asyncio

    sleep = asyncio.sleep
"""


def _script(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(HEADER + textwrap.dedent(body), encoding="utf-8")
    return path


def _line(path: Path, marker: str) -> int:
    """The line number of the line of *path* that holds *marker*."""
    lines = path.read_text(encoding="utf-8").splitlines()
    (number,) = [i for i, line in enumerate(lines, 1) if marker in line]
    return number


def _diagnose(
    *args: str | Path, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environ = dict(os.environ)
    # This checkout's unicancel, wherever the test runs from.
    environ["PYTHONPATH"] = os.pathsep.join([str(SRC), *filter(None, [environ.get("PYTHONPATH")])])
    environ.pop("UNICANCEL_DEBUG", None)
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "unicancel", "diagnose", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env=environ,
    )


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        status = main(list(args))
    except SystemExit as exc:  # argparse's own errors
        status = exc.code if isinstance(exc.code, int) else 2
    out, err = capsys.readouterr()
    return status, out, err


# -- a bad command line: argparse errors, exit status 2 ---------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "name the program to run: diagnose SCRIPT [ARG ...] or -m MODULE [ARG ...]"),
        (("--",), "name the program to run"),
        (("-m",), "argument -m: expected a module name (-m MODULE [ARG ...])"),
        (("-m", "--stuck-after"), "argument -m: expected a module name"),
        (("missing.py",), "cannot open 'missing.py': no such file (give the path"),
        (("-m", "no_such_module_here"), "no module named 'no_such_module_here' (-m takes"),
        (("-m", "no_such_package.sub"), "no module named 'no_such_package.sub'"),
    ],
)
def test_diagnose_without_a_program_to_run_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    args: tuple[str, ...],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    status, out, err = _cli(capsys, "diagnose", *args)
    assert status == 2
    assert out == ""
    assert err.startswith("usage: python -m unicancel diagnose"), err
    assert f"python -m unicancel diagnose: error: {message}" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "soon"])
def test_diagnose_rejects_a_threshold_that_is_not_positive(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, value: str
) -> None:
    script = tmp_path / "ok.py"
    script.write_text("pass\n")
    status, out, err = _cli(capsys, "diagnose", f"--stuck-after={value}", str(script))
    assert status == 2
    assert out == ""
    assert "error: argument --stuck-after: " in err
    assert "seconds" in err and "Traceback" not in err


def test_diagnose_help_names_both_forms(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _cli(capsys, "diagnose", "--help")
    assert status == 0
    usage = "usage: python -m unicancel diagnose [-h] [--stuck-after SECONDS] "
    assert out.startswith(usage + "(SCRIPT | -m MODULE) [ARG ...]\n"), out
    assert "-m MODULE [ARG ...]: run a module" in out
