"""The benchmark harness still runs: every system it measures does what it
promises (a system that does not is reported as ERROR), in a quick run."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_quick_benchmark_run_has_no_errors(tmp_path: Path) -> None:
    page = tmp_path / "benchmarks.md"
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "run.py"),
            "--quick",
            "--repeats",
            "1",
            "--only",
            "unarmed,armed,roundtrip,nesting,group,stop,onstop",
            "--markdown",
            str(page),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    tally = re.search(r"Targets: (\d+) of (\d+) PASS, (\d+) FAIL, (\d+) ERROR", result.stdout)
    assert tally is not None, result.stdout
    assert int(tally[2]) > 0 and tally[4] == "0", result.stdout
    text = page.read_text()
    assert "--only unarmed,armed,roundtrip,nesting,group,stop,onstop" in text
    assert "### 5." not in text  # not selected
