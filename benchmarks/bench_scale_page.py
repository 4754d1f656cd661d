"""The scale results as a Markdown page (docs/benchmarks-scale.md): a summary
per Python and backend, the targets, and every run's tables."""

from __future__ import annotations

import os
from pathlib import Path

from bench_scale_report import (
    BACKEND_TITLES,
    HEAP_SLACK,
    NATIVE,
    Row,
    Run,
    _mib,
    _rows,
    _value,
    move_ratio,
    tables,
    verdicts,
)


def _md(cells: list[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def _summary(runs: list[Run]) -> list[str]:
    headers = [
        "Python",
        "backend",
        "park µs/task (asyncio.timeout / trio)",
        "KB/task (native)",
        "move ns (native)",
        "move / native",
        "heap after moves (live)",
        "churn RSS start → end MiB",
        "group ns/child (native)",
        "token ns/task (native)",
    ]
    lines = [_md(headers), "|" + "|".join("---" for _ in headers) + "|"]
    for run in runs:
        for backend in BACKEND_TITLES:
            native = NATIVE[backend]
            park, slide = _rows(run, "park", backend), _rows(run, "slide", backend)
            group, token = _rows(run, "group", backend), _rows(run, "token", backend)
            if not (park or slide or group or token):
                continue

            def pair(
                rows: list[Row], key: str, scale: float, fmt: str, native: str = native
            ) -> str:
                mine, other = _value(rows, "unicancel", key), _value(rows, native, key)
                if mine is None:
                    return "-"
                text = format(mine / scale, fmt)
                return text if other is None else f"{text} ({format(other / scale, fmt)})"

            heap, n = _value(slide, "unicancel", "heap"), _value(slide, "unicancel", "n")
            churn = next(
                (r for r in _rows(run, "churn", backend) if r["system"] == "unicancel"), {}
            )
            marks = churn.get("rss")
            ratio = move_ratio(run, backend)
            lines.append(
                _md(
                    [
                        run["python"],
                        backend,
                        pair(park, "value", 1000, ".2f"),
                        pair(park, "bytes", 1000, ".2f"),
                        pair(slide, "value", 1, ",.0f"),
                        "-" if ratio is None else f"{ratio:.2f}x",
                        "-" if heap is None or n is None else f"{heap:,.0f} ({n:,.0f})",
                        "-" if not marks else f"{_mib(marks[0])} → {_mib(marks[2])}",
                        pair(group, "value", 1, ",.0f"),
                        pair(token, "value", 1, ",.0f"),
                    ]
                )
            )
    return lines


READING = [
    "",
    "## Reading the results",
    "",
    "- **Sliding deadlines.** On asyncio a deadline moved later touches no heap: the",
    "  scope's entry stays where it was filed and, when it comes due, re-files the scope at",
    "  its current deadline (one wake-up per original deadline, not one per move). A move",
    "  is an attribute write and a comparison, next to `Timeout.reschedule()`, which",
    "  cancels a `TimerHandle` and schedules a new one; and the heap holds exactly one",
    "  entry per live scope. A move *earlier* files a new entry; dead entries are",
    "  compacted once they outnumber the live ones. On trio a unicancel scope is a",
    "  `trio.CancelScope`: a move is trio's setter plus a read of `cancel_called`, which",
    "  applies at once a deadline moved into the past, so it costs more than trio's own",
    "  setter (no target there), and the heap is trio's, which keeps moved entries",
    "  until they outnumber the live ones twice over (plus 1,000).",
    "- **Parked tasks.** On asyncio, what a unicancel scope adds to a parked task is the",
    "  scope and its heap entry, and up to Python 3.13 also the task's instance dictionary,",
    "  created when the scope records itself on the task as its innermost scope (no global",
    "  table may hold a task). On 3.14 and 3.15 the difference is gone: a scope adds about",
    "  what `asyncio.timeout` adds (a `TimerHandle`). The time per task is dominated by",
    "  creating and scheduling the task itself (the `none` row).",
    "- **A million scopes.** RSS does not move between the middle and the end of the",
    "  loop for any system: nothing is left behind per scope. `tests/test_scale.py`",
    "  checks the same with `tracemalloc` on every backend.",
    "- **Group and token cancel.** Cancelling a group costs about what the native group",
    "  costs plus unicancel's scope delivery, and far less than anyio's. Stopping",
    "  through a token costs about what cancelling each task's scope one by one costs",
    "  (the token cancels them in one batch on their loop), more than `task.cancel()`",
    "  or an event, which carry no scope.",
]


def render_page(runs: list[Run], page: Path, chart: Path) -> str:
    runs = sorted(runs, key=lambda run: tuple(int(p) for p in run["python"].split(".")[:2]))
    chart_link = Path(os.path.relpath(chart, page.resolve().parent))
    lines = [
        "# Benchmarks at scale",
        "",
        "How the cost grows with the work: 100,000 parked tasks, 100,000 sliding deadlines,",
        "a million scopes in a long-running loop, a group of 100,000 children and 10,000",
        "scopes bound to one stop token; unicancel beside `asyncio.timeout`, anyio and trio's",
        "own cancel scopes (quattro is not installed in these environments and is left out).",
        "The per-operation benchmarks are on [the results pages](benchmarks.md).",
        "",
        "## Method",
        "",
        "`benchmarks/scale.py` measures every backend (asyncio's default loop, uvloop, trio)",
        "on one Python in one process; each measurement runs in a fresh event loop, and the",
        "systems of a workload are interleaved repeat by repeat, so compare the ratios of one",
        "run. The asyncio and uvloop rows run before anything imports trio, as in a plain",
        "asyncio program. Timed values are medians of the repeats, with the cyclic garbage",
        "collector paused (as `timeit` does); memory and RSS are measured with it running.",
        "",
        "- **Parked tasks**: N tasks are spawned; each enters a scope with a deadline far",
        "  ahead and parks on an event. Time per task from the first spawn until all are",
        "  parked; then, in a separate run under `tracemalloc`, the memory they hold per task.",
        "  The row `none` is the same task without a scope; 'over none' is what the scope adds.",
        "- **Sliding deadlines** (an idle timeout reset on every message): N parked scopes,",
        "  each deadline moved later 10 times, in rounds of N moves with the loop running",
        "  between rounds. Only the moves are timed: `Timeout.reschedule()` for",
        "  `asyncio.timeout`, the `deadline` setter for the others. Then every other scope",
        "  moves once more (untimed: messages reach only some connections) and the size of",
        "  the heap that holds the deadlines is read.",
        "- **Churn**: a million scopes with a deadline entered and exited in one loop that",
        "  yields every 1,000; the process RSS after a warm-up, half-way and at the end.",
        "- **Group cancel**: workload 6 of the results pages with 100,000 children.",
        "- **Token cancel**: workload 9 of the results pages with 10,000 tasks: each child",
        "  waits in `move_on_when(token)`, one `request_stop()` stops them all; beside it, the",
        "  host cancelling one scope (or task) per child, and an event every child waits on.",
        "",
        "Targets: a move costs at most half of `Timeout.reschedule()`; after the",
        "moves, unicancel's deadline heap holds no more entries than there are live scopes",
        f"(plus {HEAP_SLACK}); RSS stays flat over the million scopes (end minus middle at most",
        "1 MiB).",
        "",
        "To reproduce, per Python (`--quick` runs small sizes, as `tests/test_benchmarks.py`",
        "does), then build this page and its chart from the saved results:",
        "",
        "```console",
        "$ python benchmarks/scale.py --json benchmarks/scale-results/scale-py3.13.json",
        "$ python benchmarks/scale.py --render docs/benchmarks-scale.md \\",
        "    benchmarks/scale-results/scale-*.json",
        "```",
        "",
        "## Summary",
        "",
        "![unicancel / native primitive at scale, per Python and backend]"
        f"({chart_link.as_posix()})",
        "",
        "unicancel's figures, with the backend's own primitive in parentheses",
        "(`asyncio.timeout`, `asyncio.TaskGroup`, `task.cancel()` on asyncio and uvloop;",
        "`trio.move_on_after`, a nursery, one `trio.CancelScope` per task on trio).",
        "",
        *_summary(runs),
        "",
        "| Python | backend | target | verdict |",
        "|---|---|---|---|",
    ]
    for run in runs:
        lines += [_md([run["python"], b, t, f"**{v}**"]) for b, t, v in verdicts(run)]
    lines += READING
    for run in runs:
        lines += ["", f"## Python {run['python']}", ""]
        lines += [f"- {key}: {value}" for key, value in run["environment"]]
        lines.append(
            f"- Mode: {'quick' if run['quick'] else 'full'}, {run['repeats']} repeats, "
            f"total run time {run['seconds']:.0f} s"
        )
        for update in run.get("updates", []):
            lines.append(
                f"- Measured again on {update['date']} ({update['seconds']:.0f} s): "
                + ", ".join(update["workloads"])
            )
        for title, headers, body, notes in tables(run):
            lines += [
                "",
                f"### {title} (Python {run['python']})",
                "",
                _md(headers),
                "|" + "|".join("---" for _ in headers) + "|",
            ]
            lines += [_md(cells + [""] * (len(headers) - len(cells))) for cells in body]
            if notes:
                lines += [""] + [note.replace("|", "\\|") for note in notes]
    return "\n".join(lines) + "\n"
