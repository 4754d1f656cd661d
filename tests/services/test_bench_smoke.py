"""benchmarks/bench_services.py still runs (a tiny --quick run: the numbers
are not checked, only that every part completes and reports)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent


def test_services_benchmark_quick_run() -> None:
    for module in ("httpx", "uvicorn"):
        pytest.importorskip(module, reason=f"{module} missing: needs the `test` extra")
    result = subprocess.run(
        [sys.executable, "-W", "error", str(ROOT / "benchmarks" / "bench_services.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "cancellation latency, edge gives up -> B's handler cancelled (20 requests)" in (
        result.stdout
    )
    assert "server, deadline vs bare: " in result.stdout
    assert "client, transport vs plain: " in result.stdout


def test_services_parts_benchmark_runs() -> None:
    pytest.importorskip("httpx", reason="httpx missing: needs the `test` extra")
    result = subprocess.run(
        [
            sys.executable,
            "-W",
            "error",
            str(ROOT / "benchmarks" / "bench_services_parts.py"),
            "--n",
            "20",
            "--repeats",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "DeadlineMiddleware, no budget" in result.stdout
