"""Turning results into report sections, ratios and verdicts."""

from __future__ import annotations

import datetime
import os
import platform
from dataclasses import dataclass
from pathlib import Path

from bench_measure import Result, _repeats
from bench_params import BACKEND_TITLES, BACKENDS, N_OPS, dist_version, installed
from bench_registry import (
    AT_ONCE_NOTE,
    CPU_UNIT,
    TARGETS,
    UC_TRIO,
    UC_TRIO_NOTE,
    WORKLOAD_NOTES,
    WORKLOADS,
    Target,
    Workload,
)


@dataclass(frozen=True)
class Row:
    backend: str
    system: str
    expr: str
    value: str
    spread: str
    ratio: str  # unicancel / this system
    target: str
    verdict: str
    wall: str = ""  # CPU workloads: median wall time of the measured wait


@dataclass(frozen=True)
class Verdict:
    backend: str
    workload: str
    target: str
    verdict: str  # PASS, FAIL, ERROR (a system failed), SKIP (a system not installed)


@dataclass(frozen=True)
class Section:
    workload: Workload
    n: int
    repeats: int
    rows: list[Row]
    notes: list[str]


def _fmt_value(value: float, unit: str) -> str:
    if unit == CPU_UNIT:
        return f"{value:.3f}"
    return f"{value:,.0f}"


def _fmt_wall(seconds: float) -> str:
    if seconds >= 0.1:
        return f"{seconds:.3f} s"
    return f"{seconds * 1000:.2f} ms"


def _verdict(target: Target, mine: Result | None, this: Result) -> str | None:
    """PASS/FAIL/ERROR/SKIP of *target* on the row of *this*; None if it does not apply."""
    if target.anchor is None:
        if this.case.system != target.system:
            return None
        if this.missing:
            return "SKIP"
        if this.error:
            return "ERROR"
        return _pass(this.wall if target.metric == "wall" else this.value, target.limit)
    if this.case.system != target.anchor:
        return None
    if this.missing or mine is None or mine.missing:
        return "SKIP"
    if this.error or mine.error or mine.value is None or not this.value:
        return "ERROR"
    return _pass(mine.value / this.value, target.limit)


def _pass(value: float | None, limit: float) -> str:
    return "PASS" if value is not None and value <= limit else "FAIL"


def build_report(
    results: list[Result], quick: bool, repeats: int | None
) -> tuple[list[Section], list[Verdict]]:
    """One section (table rows and notes) per workload, and every target's verdict."""
    mode = 1 if quick else 0
    sections: list[Section] = []
    verdicts: list[Verdict] = []
    for workload in WORKLOADS:
        if not any(r.case.workload == workload.key for r in results):
            continue  # not selected by --only
        rows: list[Row] = []
        notes: list[str] = []
        for backend in BACKENDS:
            group = [
                r for r in results if r.case.workload == workload.key and r.case.backend == backend
            ]
            runtime = {"uvloop": "uvloop", "trio": "trio"}.get(backend)
            hide = runtime is not None and not installed(runtime)
            if hide and group:
                notes.append(f"{BACKEND_TITLES[backend]}: skipped ({runtime} not installed)")
            mine = next((r for r in group if r.case.system == "unicancel"), None)
            starred = next((r for r in group if r.case.system == UC_TRIO), None)
            for result in group:
                case = result.case
                value = result.value
                spread = ""
                if result.missing:
                    shown = "not installed"
                elif result.error:
                    notes.append(
                        f"[E{len(notes) + 1}] {case.system} on {BACKEND_TITLES[backend]}: "
                        f"{result.error}"
                    )
                    shown = f"ERROR [E{len(notes)}]"
                elif case.at_once:
                    shown = "-"  # see AT_ONCE_NOTE: the wall time is the measurement
                else:
                    assert value is not None
                    shown = _fmt_value(value, workload.unit)
                    if result.spread is not None:
                        spread = f"±{result.spread / 2:.0%}"
                wall = "" if result.wall is None else _fmt_wall(result.wall)
                ratio = ""
                ref = starred if case.system.endswith("*") else mine
                ref_value = ref.value if ref else None
                if (
                    case.system not in ("unicancel", UC_TRIO)
                    and not workload.cpu
                    and value
                    and ref_value is not None
                ):
                    ratio = f"{ref_value / value:.2f}x"
                target_text, verdict = "", ""
                for target in TARGETS:
                    if target.workload == workload.key and backend in target.backends:
                        got = _verdict(target, mine, result)
                        if got is not None:
                            target_text, verdict = target.text, got
                            verdicts.append(Verdict(backend, workload.title, target.text, got))
                if hide or (case.system.endswith("*") and result.missing):
                    continue
                rows.append(
                    Row(
                        BACKEND_TITLES[backend],
                        case.system,
                        case.expr,
                        shown,
                        spread,
                        ratio,
                        target_text,
                        verdict,
                        wall,
                    )
                )
        if any(row.system == UC_TRIO for row in rows):
            notes.append(UC_TRIO_NOTE)
        if any(r.case.at_once for r in results if r.case.workload == workload.key):
            notes.append(AT_ONCE_NOTE)
        notes += WORKLOAD_NOTES.get(workload.key, [])
        n = 0 if workload.cpu else N_OPS[workload.key][mode]
        reps = repeats or _repeats(workload)[mode]
        sections.append(Section(workload, n, reps, rows, notes))
    return sections, verdicts


def _unicancel_revision() -> str:
    """Which commit unicancel was imported from, if it comes from this checkout."""
    import subprocess

    import unicancel

    repo = Path(__file__).resolve().parent.parent
    if not Path(unicancel.__file__).resolve().is_relative_to(repo / "src"):
        return ""
    try:
        head = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--", "src"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""
    return f" (git {head}{' + uncommitted changes in src/' if dirty else ''})"


def environment() -> list[tuple[str, str]]:
    libs = ", ".join(
        f"{name} {dist_version(name)}" + (_unicancel_revision() if name == "unicancel" else "")
        for name in ("unicancel", "anyio", "trio", "quattro", "uvloop")
    )
    return [
        ("Python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("Libraries", libs),
        ("Machine", f"{platform.system()} {platform.machine()}, {os.cpu_count()}-core machine"),
        ("Date", datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")),
    ]
