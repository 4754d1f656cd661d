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
import re
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


@pytest.mark.parametrize("value", ["0", "-1", "nan", "soon"])
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
    # The text enable(stuck_after=...) and UNICANCEL_DEBUG_STUCK_AFTER give,
    # naming the option, the value as written.
    expected = (
        "must be a number of seconds, got 'soon'"
        if value == "soon"
        else "must be a positive number of seconds (or inf to never report stuck "
        f"cancellations), got {value}"
    )
    assert f"argument --stuck-after: unicancel: --stuck-after {expected}\n" in err, err


def test_diagnose_takes_inf_for_never_stuck(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    script = tmp_path / "ok.py"
    script.write_text("pass\n")
    status, out, err = _cli(capsys, "diagnose", "--stuck-after=inf", str(script))
    assert status == 0, err
    assert "no cancellation was swallowed, stuck or outlived" in err + out


def test_diagnose_help_names_both_forms(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _cli(capsys, "diagnose", "--help")
    assert status == 0
    usage = "usage: python -m unicancel diagnose [-h] [--stuck-after SECONDS] "
    assert out.startswith(usage + "(SCRIPT | -m MODULE) [ARG ...]\n"), out
    assert "-m MODULE [ARG ...]: run a module" in out


# -- the program runs as `python` would run it --------------------------------------------

ECHO = """\
import os
import sys

print(__name__, os.path.basename(sys.argv[0]), sys.argv[1:])
first = os.getcwd() if __spec__ else os.path.dirname(__file__)  # -m: cwd; else script dir
print(os.path.realpath(sys.path[0]) == os.path.realpath(first))
"""


def test_a_script_gets_its_arguments_name_and_path_as_under_python(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    script = tmp_path / "sub" / "echo.py"
    script.write_text(ECHO, encoding="utf-8")
    # Options after the script are the script's, even those diagnose knows.
    args = ["sub/echo.py", "--stuck-after", "3", "-m", "x", "--", "last"]
    plain = subprocess.run(
        [sys.executable, *args], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    diagnosed = _diagnose(*args, cwd=tmp_path)
    assert plain.returncode == diagnosed.returncode == 0, diagnosed.stderr
    assert diagnosed.stdout == plain.stdout
    assert diagnosed.stdout == (
        "__main__ echo.py ['--stuck-after', '3', '-m', 'x', '--', 'last']\nTrue\n"
    )


def test_a_module_gets_its_arguments_as_under_python_m(tmp_path: Path) -> None:
    (tmp_path / "echo.py").write_text(ECHO, encoding="utf-8")
    args = ["-m", "echo", "--verbose", "-m", "x"]
    plain = subprocess.run(
        [sys.executable, *args], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    diagnosed = _diagnose(*args, cwd=tmp_path)
    assert plain.returncode == diagnosed.returncode == 0, diagnosed.stderr
    assert diagnosed.stdout == plain.stdout == "__main__ echo.py ['--verbose', '-m', 'x']\nTrue\n"
    assert "unicancel diagnose: -m echo: no cancellation was swallowed" in diagnosed.stderr


@pytest.mark.parametrize(
    ("ending", "status", "stderr"),
    [
        ("sys.exit(3)", 3, ""),
        ("sys.exit('goodbye')", 1, "goodbye\n"),
        ("raise SystemExit", 0, ""),
        ("raise ValueError('boom')  # RAISE", 1, "Traceback"),
    ],
)
def test_the_exit_status_is_the_programs(
    tmp_path: Path, ending: str, status: int, stderr: str
) -> None:
    script = _script(tmp_path, "ends.py", f"print('ran')\n{ending}\n")
    result = _diagnose(script.name, cwd=tmp_path)
    assert result.returncode == status, result.stderr
    assert result.stdout == "ran\n"
    assert result.stderr.startswith(stderr)
    assert "unicancel diagnose: ends.py: no cancellation was swallowed" in result.stderr
    if stderr == "Traceback":
        # As python prints it: the program's frames only, not runpy's or diagnose's.
        frames = re.findall(r'^  File "([^"]+)", line (\d+)', result.stderr, re.M)
        assert frames == [(script.name, str(_line(script, "# RAISE")))], result.stderr
        assert "ValueError: boom" in result.stderr


# -- what the report says ------------------------------------------------------------------

SWALLOW = """
async def download(url):
    try:
        await sleep(10)
    except unicancel.get_cancelled_exc_class():  # CATCH
        print(f"{url}: interrupted, skipped")


async def main():
    with unicancel.move_on_after(0.05) as scope:  # SCOPE
        await download("a")
    print("cancelled_caught:", scope.cancelled_caught)


unicancel.run(main, backend=BACKEND)
"""

STALL = """
async def main():
    with unicancel.CancelScope() as scope:
        scope.cancel("shutting down")
        with unicancel.CancelScope(shield=True):
            await sleep(0.5)  # STALL
        await unicancel.checkpoint()
    print("cancelled_caught:", scope.cancelled_caught)


unicancel.run(main, backend=BACKEND)
"""

CLEAN = """
async def main():
    with unicancel.move_on_after(0.01) as scope:
        await sleep(10)
    print("cancelled_caught:", scope.cancelled_caught)


unicancel.run(main, backend=BACKEND)
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_swallowed_cancellation_is_reported_with_its_sites(tmp_path: Path, backend: str) -> None:
    if backend == "trio" and sys.version_info < (3, 12):
        pytest.skip("trio's swallows are told apart by their catch site: Python 3.12+")
    script = _script(tmp_path, "swallow.py", SWALLOW)
    result = _diagnose(script.name, backend, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "a: interrupted, skipped\ncancelled_caught: False\n"
    err = result.stderr
    assert err.startswith("unicancel diagnose: swallow.py: 1 report(s): 1 swallowed\n"), err
    scope = f"swallow.py:{_line(script, '# SCOPE')}"
    sites = (
        f"caught at swallow.py:{_line(script, '# CATCH')}, " if sys.version_info >= (3, 12) else ""
    )
    assert (
        f"\ncancellations swallowed (caught and not re-raised): 1\n  {sites}scope at {scope}\n"
        in err
    )
    assert "cancellation swallowed in task " in err and f"({backend})" in err
    assert "reason: deadline exceeded" in err


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_stuck_cancellation_is_reported_with_where_the_task_waits(
    tmp_path: Path, backend: str
) -> None:
    script = _script(tmp_path, "stall.py", STALL)
    result = _diagnose("--stuck-after", "0.1", script.name, backend, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "cancelled_caught: True\n"
    err = result.stderr
    assert err.startswith("unicancel diagnose: stall.py: 2 report(s): 1 stuck, 1 landed\n"), err
    stall = f"stall.py:{_line(script, '# STALL')}"
    assert "\ncancellations stuck (requested, not delivered within the threshold): 1\n" in err
    assert f"  now at {stall}\n" in err
    assert f"{stall} in main" in err  # the await chain
    assert "reason: shutting down" in err
    landed = re.search(r"stuck cancellation landed in task .*, after (\d+\.\d+) s", err)
    assert landed and float(landed[1]) >= 0.1, err


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_clean_program_gets_a_clean_report(tmp_path: Path, backend: str) -> None:
    script = _script(tmp_path, "clean.py", CLEAN)
    result = _diagnose(script.name, backend, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "cancelled_caught: True\n"
    assert result.stderr == (
        "unicancel diagnose: clean.py: no cancellation was swallowed, stuck or outlived "
        "its shutdown.\n"
    )


OUTLIVE = """
async def flush_forever():
    while True:
        await asyncio.sleep(0.01)  # WAIT


async def main():
    asyncio.create_task(flush_forever(), name="flusher")  # CREATE
    await asyncio.sleep(0.05)
    print("main returned")


unicancel.run(main, backend="asyncio")
"""


def test_a_task_that_outlives_the_run_is_reported(tmp_path: Path) -> None:
    """asyncio.run (under unicancel.run) cancels leftover tasks silently: the
    report names the task, where it was created and where it waited."""
    script = _script(tmp_path, "outlive.py", OUTLIVE)
    result = _diagnose(script.name, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "main returned\n"
    err = result.stderr
    assert err.startswith("unicancel diagnose: outlive.py: 1 report(s): 1 outlived\n"), err
    created = f"outlive.py:{_line(script, '# CREATE')}"
    assert f"\ntasks that outlived their shutdown: 1\n  created at {created}\n" in err
    assert "task outlived its run in task 'flusher' (asyncio)" in err
    assert f"outlive.py:{_line(script, '# WAIT')} in flush_forever" in err


@pytest.mark.parametrize("on_again", [False, True])
def test_a_program_that_turns_diagnostics_off_is_told_so(tmp_path: Path, on_again: bool) -> None:
    # An all-clear would be a lie: what came after disable() was not checked
    # (until it turned them on again, if it did).
    script = _script(
        tmp_path,
        "off.py",
        f"""
        import unicancel.diagnostics

        unicancel.diagnostics.disable()
        print("diagnostics off")
        if {on_again}:
            unicancel.diagnostics.enable()
        """,
    )
    result = _diagnose(script.name, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr.endswith(
        "unicancel diagnose: off.py turned diagnostics off while it ran "
        "(unicancel.diagnostics.disable()): nothing after that was checked.\n"
    ), result.stderr
