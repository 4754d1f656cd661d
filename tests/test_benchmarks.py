"""The benchmark harness still runs: every system it measures does what it
promises (a system that does not is reported as ERROR), in a quick run."""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(script: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run benchmarks/*script* with *args*; it must exit 0."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    return result


def test_quick_benchmark_run_has_no_errors(tmp_path: Path) -> None:
    page = tmp_path / "benchmarks.md"
    result = _run(
        "run.py",
        *("--quick", "--repeats", "1"),
        *("--only", "unarmed,armed,roundtrip,nesting,group,stop,onstop"),
        *("--markdown", str(page)),
    )
    tally = re.search(r"Targets: (\d+) of (\d+) PASS, (\d+) FAIL, (\d+) ERROR", result.stdout)
    assert tally is not None, result.stdout
    assert int(tally[2]) > 0 and tally[4] == "0", result.stdout
    text = page.read_text()
    assert "--only unarmed,armed,roundtrip,nesting,group,stop,onstop" in text
    assert "### 5." not in text  # not selected


def test_diagnostics_cost_benchmark_runs() -> None:
    """bench_diagnostics.py (issue 13's cost figures) measures every workload
    with diagnostics off and on, and finds the watchdog thread it idles."""
    backends = "asyncio,trio" if importlib.util.find_spec("trio") else "asyncio"
    result = _run(
        "bench_diagnostics.py",
        *("--n", "20", "--bursts", "1", "--idle", "0.1", "--backends", backends),
    )
    rows = re.findall(
        r"^  (\w+) +(unarmed|armed|roundtrip) +[\d,]+ +[\d,]+ +[\d.]+x$", result.stdout, re.M
    )
    assert len(rows) == 3 * len(backends.split(",")), result.stdout
    assert "idle watchdog (running)" in result.stdout, result.stdout


@pytest.mark.parametrize("loop", ["asyncio", "trio"])
def test_steady_benchmark_gives_every_ratio(loop: str) -> None:
    """bench_steady.py (the overview's load-independent figures) times every
    row of its loop, unicancel and the reference, and gives their ratio."""
    if importlib.util.find_spec(loop) is None:  # pragma: no cover
        pytest.skip(f"{loop} is not installed")
    result = _run("bench_steady.py", "--loop", loop, "--n", "40", "--bursts", "1")
    rows = re.findall(r"^  (\w[\w ]*?) {2,}\S.*? +[\d,]+ +[\d,]+ +([\d.]+)x$", result.stdout, re.M)
    assert len(rows) == (5 if loop == "asyncio" else 4), result.stdout
    assert all(float(ratio) > 0 for _, ratio in rows), result.stdout


def test_quick_scale_run_has_no_errors_and_renders(tmp_path: Path) -> None:
    """benchmarks/scale.py --quick: every system on every backend measured
    without error, the deterministic targets met (unicancel's deadline heap
    after the moves holds no more than the live scopes), and the saved
    results render as a page with its chart."""
    results = tmp_path / "scale.json"
    result = _run("scale.py", "--quick", "--json", str(results), timeout=240)
    run = json.loads(results.read_text())
    errors = [row for row in run["rows"] if "error" in row or "value" not in row]
    assert not errors, errors
    assert {row["workload"] for row in run["rows"]} == {"park", "slide", "churn", "group", "token"}
    backends = {row["backend"] for row in run["rows"]}
    assert "asyncio" in backends
    for row in run["rows"]:
        # On trio the heap is trio's own (it prunes at twice the live deadlines).
        if row["workload"] == "slide" and row["system"] == "unicancel" and row["backend"] != "trio":
            assert row["heap"] <= row["n"] + 64, row
    assert "heap after the moves <= live scopes + 64" in result.stdout
    assert re.search(r"FAIL\s+\w+\s+heap after the moves", result.stdout) is None, result.stdout

    page = tmp_path / "scale.md"
    _run("scale.py", "--render", str(page), str(results), timeout=60)
    text = page.read_text()
    assert f"## Python {run['python']}" in text
    assert "](assets/benchmark-scale.svg)" in text
    svg = (tmp_path / "assets" / "benchmark-scale.svg").read_text()
    assert svg.startswith("<svg") and f"Python {'.'.join(run['python'].split('.')[:2])}" in svg


def _benchmark_module(name: str) -> Any:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))


def test_scale_page_and_chart_are_drawn_from_the_saved_results() -> None:
    """docs/benchmarks-scale.md and its chart are what scale.py --render makes
    of benchmarks/scale-results/scale-*.json: rerun it after a new measurement."""
    report = _benchmark_module("bench_scale_report")
    page_module = _benchmark_module("bench_scale_page")
    runs = [
        json.loads(path.read_text(encoding="utf-8"))
        for path in sorted((ROOT / "benchmarks" / "scale-results").glob("scale-py*.json"))
    ]
    assert {run["python"].rsplit(".", 1)[0] for run in runs} >= {"3.11", "3.13", "3.14"}
    page = ROOT / "docs" / "benchmarks-scale.md"
    stale = "stale: run python benchmarks/scale.py --render docs/benchmarks-scale.md ..."
    assert report.CHART.read_text(encoding="utf-8") == report.chart_svg(runs), stale
    assert page.read_text(encoding="utf-8") == page_module.render_page(runs, page, report.CHART), (
        stale
    )
