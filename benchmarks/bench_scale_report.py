"""The scale results as text (stdout), as a Markdown page, and as a chart.

A *run* is what scale.py saves: one Python, every backend. The page puts the
runs of several Pythons side by side; the chart is drawn by
scripts/benchmark_chart.py's renderer from the unicancel / native ratios.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "docs" / "assets" / "benchmark-scale.svg"
BACKEND_TITLES = {"asyncio": "asyncio", "uvloop": "uvloop", "trio": "trio"}
#: The backend's own primitive, the ratios' anchor.
NATIVE = {"asyncio": "asyncio", "uvloop": "asyncio", "trio": "trio"}
#: Entries the unicancel heap may hold beyond the live scopes.
HEAP_SLACK = 64
#: RSS growth from the middle to the end of the churn that still counts as flat.
FLAT = 1 << 20
MOVE_LIMIT = 0.5

Run = dict[str, Any]
Row = dict[str, Any]
Table = tuple[str, list[str], list[list[str]], list[str]]  # title, headers, rows, notes

WHAT = {
    "none": "task without a scope",
    "unicancel": "unicancel.move_on_after",
    "asyncio": "asyncio.timeout",
    "anyio": "anyio.move_on_after",
    "trio": "trio.move_on_after",
}
GROUP_WHAT = {
    "unicancel": "CancelScope around unicancel.TaskGroup, cancel()",
    "asyncio": "asyncio.timeout(None) around asyncio.TaskGroup, reschedule(now)",
    "anyio": "anyio task group, cancel_scope.cancel()",
    "trio": "nursery.cancel_scope.cancel()",
}
TOKEN_WHAT = {
    "unicancel": "move_on_when(token) each, request_stop()",
    "unicancel scopes": "a unicancel CancelScope each, cancel() one by one",
    "asyncio": "task.cancel() each",
    "asyncio.Event": "event.wait() each, set()",
    "trio": "a trio.CancelScope each, cancel() one by one",
    "trio.Event": "event.wait() each, set()",
}


def _rows(run: Run, workload: str, backend: str) -> list[Row]:
    return [r for r in run["rows"] if r["workload"] == workload and r["backend"] == backend]


def _value(rows: list[Row], system: str, key: str = "value") -> float | None:
    for row in rows:
        if row["system"] == system and "error" not in row:
            value = row.get(key)
            return None if value is None else float(value)
    return None


def _ratio(mine: float | None, this: float | None) -> str:
    return "" if mine is None or not this else f"{mine / this:.2f}x"


def _mib(size: float) -> str:
    return f"{size / (1 << 20):,.1f}"


def move_ratio(run: Run, backend: str) -> float | None:
    rows = _rows(run, "slide", backend)
    mine, native = _value(rows, "unicancel"), _value(rows, NATIVE[backend])
    return None if mine is None or not native else mine / native


def verdicts(run: Run) -> list[tuple[str, str, str]]:
    """(backend, target, PASS/FAIL/ERROR) of the scale targets in *run*."""
    out: list[tuple[str, str, str]] = []
    for backend in BACKEND_TITLES:
        slide = _rows(run, "slide", backend)
        if slide and backend != "trio":
            ratio = move_ratio(run, backend)
            ok = "ERROR" if ratio is None else "PASS" if ratio <= MOVE_LIMIT else "FAIL"
            out.append((backend, f"move <= {MOVE_LIMIT:.2f}x Timeout.reschedule()", ok))
            heap, n = _value(slide, "unicancel", "heap"), _value(slide, "unicancel", "n")
            ok = (
                "ERROR"
                if heap is None or n is None
                else "PASS"
                if heap <= n + HEAP_SLACK
                else "FAIL"
            )
            out.append((backend, f"heap after the moves <= live scopes + {HEAP_SLACK}", ok))
        churn = next((r for r in _rows(run, "churn", backend) if r["system"] == "unicancel"), None)
        if churn is not None:
            marks = churn.get("rss")
            ok = "ERROR" if not marks else "PASS" if marks[2] - marks[1] <= FLAT else "FAIL"
            out.append((backend, "RSS flat: end - middle <= 1 MiB", ok))
    return out


def tables(run: Run) -> list[Table]:
    out: list[Table] = []
    backends = [b for b in BACKEND_TITLES if any(r["backend"] == b for r in run["rows"])]

    def table(
        workload: str,
        title: str,
        headers: list[str],
        cells: Callable[[Row, list[Row]], list[str]],
        notes: list[str],
    ) -> None:
        body: list[list[str]] = []
        for backend in backends:
            rows = _rows(run, workload, backend)
            for row in rows:
                if "error" in row:
                    body.append([BACKEND_TITLES[backend], row["system"], f"ERROR: {row['error']}"])
                    continue
                body.append([BACKEND_TITLES[backend], row["system"], *cells(row, rows)])
        if body:
            out.append((title, ["backend", "system", *headers], body, notes))

    def park(row: Row, rows: list[Row]) -> list[str]:
        none_t, none_b = _value(rows, "none"), _value(rows, "none", "bytes")
        value, size = float(row["value"]), float(row["bytes"])
        mine, mine_b = _value(rows, "unicancel"), _value(rows, "unicancel", "bytes")
        own = row["system"] in ("none", "unicancel")
        return [
            WHAT[row["system"]],
            f"{value / 1000:.2f}",
            "" if none_t is None or row["system"] == "none" else f"{(value - none_t) / 1000:+.2f}",
            f"{size / 1000:.2f}",
            "" if none_b is None or row["system"] == "none" else f"{(size - none_b):+,.0f}",
            "" if own else _ratio(mine, value),
            "" if own else _ratio(mine_b, size),
        ]

    n = _first(run, "park", "n")
    table(
        "park",
        f"Parked tasks, each in an armed scope (N={n:,})",
        [
            "scope",
            "µs/task",
            "µs over none",
            "KB/task",
            "bytes over none",
            "time unicancel/this",
            "memory unicancel/this",
        ],
        park,
        [
            "µs/task: from the first spawn until all N tasks have entered their scope and parked "
            "(median of the repeats). KB/task: tracemalloc'd memory held by the parked tasks, "
            "measured in a separate run. 'over none': minus the same task without a scope."
        ],
    )

    def slide(row: Row, rows: list[Row]) -> list[str]:
        heap = row.get("heap")
        return [
            "Timeout.reschedule()"
            if row["system"] == "asyncio"
            else f"{row['system']} deadline setter",
            f"{float(row['value']):,.0f}",
            ""
            if row["system"] == "unicancel"
            else _ratio(_value(rows, "unicancel"), float(row["value"])),
            "n/a" if heap is None else f"{heap:,}",
        ]

    n, moves = _first(run, "slide", "n"), _first(run, "slide", "moves")
    table(
        "slide",
        f"Sliding deadlines: {n:,} scopes, each moved later {moves} times",
        ["move", "ns/move", "unicancel/this", "heap entries after"],
        slide,
        [
            "Only the moves are timed, in rounds of N with the loop running between rounds. "
            "Heap: read after every other scope moved once more (untimed); unicancel's "
            "deadline heap on asyncio/uvloop; the loop's timer heap "
            "(loop._scheduled, with cancelled timers not yet dropped) for asyncio.timeout and "
            "anyio; trio's deadline heap on trio (shared by all scopes of the run). n/a: uvloop "
            "keeps its timers in libuv.",
        ],
    )

    def churn(row: Row, rows: list[Row]) -> list[str]:
        marks = row["rss"]
        return [
            WHAT[row["system"]],
            f"{float(row['value']):,.0f}",
            _mib(marks[0]),
            _mib(marks[1]),
            _mib(marks[2]),
            f"{(marks[2] - marks[1]) / 1024:+,.0f}",
        ]

    n = _first(run, "churn", "n")
    table(
        "churn",
        f"{n:,} armed scopes entered and exited in one loop",
        ["scope", "ns/scope", "RSS start MiB", "RSS middle MiB", "RSS end MiB", "end - middle KiB"],
        churn,
        [
            "RSS of the whole process (all earlier workloads included) after a warm-up, "
            "half-way and at the end."
        ],
    )

    for workload, what, title, unit in (
        ("group", GROUP_WHAT, "Cancel a group of {n:,} sleeping children", "ns/child"),
        (
            "token",
            TOKEN_WHAT,
            "Stop {n:,} blocked tasks, each scope bound to one stop token",
            "ns/task",
        ),
    ):

        def timed(row: Row, rows: list[Row], what: dict[str, str] = what) -> list[str]:
            return [
                what[row["system"]],
                f"{float(row['value']):,.0f}",
                ""
                if row["system"] == "unicancel"
                else _ratio(_value(rows, "unicancel"), float(row["value"])),
            ]

        n = _first(run, workload, "n")
        table(workload, title.format(n=n), ["measured", unit, "unicancel/this"], timed, [])
    return out


def _first(run: Run, workload: str, key: str) -> int:
    return int(next((r[key] for r in run["rows"] if r["workload"] == workload and key in r), 0))


def render_text(run: Run) -> str:
    lines = [
        f"unicancel scale benchmarks, Python {run['python']} "
        f"({'quick' if run['quick'] else 'full'})"
    ]
    lines += [f"{key}: {value}" for key, value in run["environment"]]
    for title, headers, body, notes in tables(run):
        lines += ["", title]
        width = [
            max(len(r[i]) if i < len(r) else 0 for r in [headers, *body])
            for i in range(len(headers))
        ]
        for cells in [headers, *body]:
            lines.append("  " + "  ".join(c.ljust(width[i]) for i, c in enumerate(cells)).rstrip())
        lines += [f"  {note}" for note in notes]
    found = verdicts(run)
    lines += ["", f"Targets: {sum(v == 'PASS' for _, _, v in found)} of {len(found)} PASS"]
    lines += [f"  {v:<5}  {b:<8}  {t}" for b, t, v in found]
    lines.append(f"(total run time {run['seconds']} s)")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------
# The chart: scripts/benchmark_chart.py's renderer, fed with the scale ratios.


def _chart_module() -> Any:
    spec = importlib.util.spec_from_file_location(
        "benchmark_chart", ROOT / "scripts" / "benchmark_chart.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = sys.modules.get("benchmark_chart")
    if module is None:
        module = importlib.util.module_from_spec(spec)
        sys.modules["benchmark_chart"] = module
        spec.loader.exec_module(module)
    return module


CHART_ROWS = (
    ("park", "value", "Parked task in an armed scope: time"),
    ("park", "bytes", "Parked task in an armed scope: memory"),
    ("slide", "value", "Move a deadline later"),
    ("group", "value", "Cancel a group, per child"),
    ("token", "value", "Stop via a token, per task"),
)


def chart_svg(runs: list[Run]) -> str:
    chart = _chart_module()
    bars = []
    for label, (workload, key, title) in enumerate(CHART_ROWS, 1):
        for run in runs:
            python = ".".join(run["python"].split(".")[:2])
            for backend in BACKEND_TITLES:
                rows = _rows(run, workload, backend)
                mine, native = _value(rows, "unicancel", key), _value(rows, NATIVE[backend], key)
                if mine is not None and native:
                    bars.append(chart.Bar(f"{label}. {title}", python, backend, mine / native))
    svg: str = chart.render(
        bars,
        title="unicancel / native primitive at scale (lower is better)",
    )
    return svg


def write_chart(runs: list[Run], page: Path) -> Path:
    """Draw the chart beside *page* (``assets/benchmark-scale.svg``)."""
    chart = page.parent / "assets" / CHART.name
    chart.parent.mkdir(parents=True, exist_ok=True)
    chart.write_text(chart_svg(runs), encoding="utf-8")
    return chart
