"""scripts/mutate.py (the mutation-testing runner, issue 17) on a tiny module.

The real runs are too slow for CI; this checks the runner itself: it finds a
killed and a surviving mutant, reports the survivor as file:line, and never
touches the module it mutates.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

MODULE = """\
def double(x):
    return x * 2


def describe(x):
    return "big" if x > 100 else "small"
"""

TEST = """\
from tiny import double


def test_double():
    assert double(3) == 6
"""

CONFIG = """\
[tool.unicancel-mutate]
timeout = 30
pytest-args = ["-x", "-q", "-p", "no:cacheprovider"]

[tool.unicancel-mutate.modules."src/tiny.py"]
tests = ["tests/test_tiny.py"]
equivalent = ["describe: \\"small\\" -> ('XXsmallXX')"]
"""


def test_runner_reports_killed_and_surviving_mutants(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "tests").mkdir()
    (tmp_path / "src" / "tiny.py").write_text(MODULE)
    (tmp_path / "tests" / "test_tiny.py").write_text(TEST)
    (tmp_path / "pyproject.toml").write_text(CONFIG)
    # `x * 2` -> `x / 2` is caught by test_double; nothing tests describe(),
    # so its mutants survive ("small" is declared equivalent). Four mutants
    # only, and no pytest plugins: this must stay fast.
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "mutate.py"),
            "--root",
            str(tmp_path),
            "--workers",
            "2",
            "--only",
            r"\[operator\]|: 100 ->|\[compare\]|: \"small\" ->",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    out = result.stdout
    assert result.returncode == 1, out + result.stderr  # survivors: exit status 1
    assert "baseline: tests pass" in out
    assert "killed 1, timed out 0, survived 2, equivalent 1" in out, out
    assert "SURVIVED src/tiny.py:6: [constant] describe: 100 -> (101)" in out
    assert "SURVIVED src/tiny.py:6: [compare] describe: x > 100 -> (x <= 100)" in out
    assert "equivalent src/tiny.py:6: [constant] describe: \"small\" -> ('XXsmallXX')" in out
    assert "score 33.3% (1/3)" in out
    assert (tmp_path / "src" / "tiny.py").read_text() == MODULE  # mutated in a copy only
