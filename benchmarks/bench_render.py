"""Rendering the report as text (stdout) and as a Markdown page."""

from __future__ import annotations

from pathlib import Path

from bench_params import BACKEND_TITLES, BLOCK, CLEANUP, DEPTH, FAR, N_OPS
from bench_registry import WORKLOADS
from bench_report import Row, Section, Verdict, environment
from bench_taskgroups import (
    AT_ONCE,
    GROUP_SLEEP,
    HOLD,
    LATE,
)

HEADERS = ("backend", "system", "measured", "value", "spread", "unicancel/this", "target", "")
#: CPU workloads also show the wall time of the measured wait, after the spread.
CPU_HEADERS = (*HEADERS[:5], "wall", *HEADERS[5:])
#: Columns aligned right (numbers).
NUMERIC = {"value", "spread", "wall", "unicancel/this"}


def _headers(section: Section) -> tuple[str, ...]:
    return CPU_HEADERS if section.workload.cpu else HEADERS


def _row_cells(row: Row, section: Section) -> tuple[str, ...]:
    wall = (row.wall,) if section.workload.cpu else ()
    return (
        row.backend,
        row.system,
        row.expr,
        row.value,
        row.spread,
        *wall,
        row.ratio,
        row.target,
        row.verdict,
    )


def _section_note(section: Section) -> str:
    if section.workload.cpu:
        return (
            f"{section.workload.unit}: process CPU seconds per wall second of the wait, "
            f"and its wall time; median of {section.repeats}"
        )
    n = f"N={section.n:,} children" if section.workload.key == "group" else f"N={section.n:,}"
    return f"{section.workload.unit}, median of {section.repeats}, {n}"


def render_text(sections: list[Section], verdicts: list[Verdict], elapsed: float) -> str:
    out: list[str] = ["unicancel benchmarks (lower is better; ratio = unicancel / anchor)"]
    out += [f"{key}: {value}" for key, value in environment()]
    for section in sections:
        out.append("")
        out.append(f"{section.workload.title}  [{_section_note(section)}]")
        headers = _headers(section)
        table = [headers, *(_row_cells(row, section) for row in section.rows)]
        widths = [max(len(cells[i]) for cells in table) for i in range(len(headers))]
        right = {i for i, name in enumerate(headers) if name in NUMERIC}
        for cells in table:
            parts = [
                cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
                for i, cell in enumerate(cells)
            ]
            out.append("  " + "  ".join(parts).rstrip())
        out += [f"  {note}" for note in section.notes]
    out.append("")
    out.append(f"Targets: {_tally(verdicts)}")
    width = max((len(v.workload) for v in verdicts), default=0)
    for v in verdicts:
        out.append(
            f"  {v.verdict:<5}  {BACKEND_TITLES[v.backend]:<22}  {v.workload:<{width}}  {v.target}"
        )
    out.append(f"(total run time {elapsed:.1f} s)")
    return "\n".join(out) + "\n"


def _tally(verdicts: list[Verdict]) -> str:
    counts = {key: sum(v.verdict == key for v in verdicts) for key in ("PASS", "FAIL", "ERROR")}
    skipped = sum(v.verdict == "SKIP" for v in verdicts)
    text = f"{counts['PASS']} of {len(verdicts) - skipped} PASS"
    text += "".join(f", {count} {key}" for key, count in counts.items() if key != "PASS")
    return text + (f", {skipped} SKIP (not installed)" if skipped else "")


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(
    sections: list[Section],
    verdicts: list[Verdict],
    quick: bool,
    repeats: int | None,
    elapsed: float,
    path: Path = Path("docs/benchmarks.md"),
    only: frozenset[str] | None = None,
) -> str:
    command = "python benchmarks/run.py" + (" --quick" if quick else "")
    if repeats:
        command += f" --repeats {repeats}"
    if only:
        command += " --only " + ",".join(w.key for w in WORKLOADS if w.key in only)
    command += f" --markdown {path}"
    env = environment()
    lines = [
        "# Benchmarks",
        "",
        "How much unicancel costs next to the cancellation primitives it replaces: native",
        "`asyncio.timeout`, anyio's cancel scopes, quattro's, and trio's own `CancelScope`;",
        "and unicancel's `TaskGroup` next to `asyncio.TaskGroup`, anyio's task groups and",
        "trio's nurseries.",
        "",
        "How the cost grows with the work (100,000 tasks, sliding deadlines, a million scopes):"
        " [Benchmarks at scale](benchmarks-scale.md).",
        "",
        "## Method",
        "",
        "All systems are measured side by side in one process by `benchmarks/run.py`.",
        "Every measurement runs in a fresh event loop (`asyncio.Runner`, the same with",
        "uvloop's loop factory, or `trio.run`): a warm-up of N/10 iterations, then a loop of",
        "N operations timed with `time.perf_counter_ns()` while the cyclic garbage collector",
        "is paused, as `timeit` does. The value shown is the **median** of several repeats;",
        "the systems of a workload are interleaved repeat by repeat so that machine drift",
        "hits them alike, and the spread column is half the range of the repeats relative",
        "to the median. Workload 6 times one group of N children and reports the cost per",
        "child. Workloads 5, 7 and 8 instead report process CPU time",
        "(`time.process_time()`) per wall-clock second of a wait, and the wall time of that",
        "wait. The ratio column is unicancel divided by that anchor, both",
        "measured in the same run: lower is better, below 1.00x means unicancel is faster.",
        "Absolute numbers drift between machines and runs; compare ratios.",
        "",
        "Workloads:",
        "",
        "1. **Unarmed scope**: enter and exit a scope without a deadline, empty body.",
        f"2. **Armed scope**: the same with a deadline {FAR:g} s ahead (a timer is armed and",
        "   cancelled).",
        "3. **Cancel round trip**: a scope with a zero timeout around an await that would",
        f"   block for {BLOCK:g} s: the deadline is noticed, the task cancelled, the",
        "   exception swallowed by the scope.",
        f"4. **Nesting**: {DEPTH:,} unarmed scopes entered one inside the other by a manual",
        "   loop calling `__enter__` (awaiting `__aenter__` for `asyncio.timeout`), then",
        "   exited in LIFO order; cost per scope.",
        "5. **CPU while waiting** (the busy-wait trap): inside a scope, a native",
        "   `asyncio.TaskGroup` (trio: a nursery) whose child, once cancelled, cleans up",
        f"   for {CLEANUP:g} s protected from re-delivery; the scope is cancelled and the",
        "   host waits in the task group's exit for the child. A level-triggered",
        "   implementation that re-delivers by polling burns a core during that wait.",
        f"6. **Cancel a group of N sleeping children** (N = {N_OPS['group'][0]:,};",
        f"   {N_OPS['group'][1]:,} with `--quick`): create the group, start N children",
        f"   that sleep {GROUP_SLEEP:g} s, let them all block (asyncio: one `sleep(0)`;",
        "   trio: `trio.testing.wait_all_tasks_blocked()`), cancel, and wait for the",
        "   block to exit; cost per child. unicancel: a `TaskGroup` inside a `CancelScope`",
        "   that is cancelled. Native asyncio: an `asyncio.TaskGroup` inside",
        "   `asyncio.timeout(None)` rescheduled to now (the anchor of the targets), and,",
        "   for comparison, the same group cancelled by raising out of its body. anyio",
        "   and trio: `tg.cancel_scope.cancel()` / `nursery.cancel_scope.cancel()`.",
        "7. **CPU in a `Condition.wait()` re-acquire loop** (anyio #884): a task in a",
        "   scope waits in `asyncio.Condition.wait()`; another task takes the lock,",
        f"   cancels the scope and holds the lock for {HOLD:g} s with a plain sleep. The",
        "   cancelled `wait()` loops on re-acquiring the lock, catching `CancelledError`,",
        "   until the lock is free; measured from the cancel to the scope's exit.",
        f"8. **CPU while a child that swallowed the cancel sleeps {LATE:g} s**: a scope",
        "   around a native `asyncio.TaskGroup` is cancelled; the group cancels its child",
        f"   once; the child catches that and then awaits `asyncio.sleep({LATE:g})`, and the",
        "   host waits for it in the group's exit. The same child in a",
        "   `unicancel.TaskGroup` (and in a trio nursery) lives inside the cancelled scope:",
        "   its sleep is cancelled at once, so the block exits at once; its wall time is",
        f"   the measurement (target: under {AT_ONCE * 1000:g} ms).",
        f"9. **Stop N blocked tasks at once** (N = {N_OPS['stop'][0]:,}): N children of a",
        "   native task group wait for a stop; the host requests it; timed from the request",
        "   to the group's exit, per child. unicancel: each child waits in",
        "   `move_on_when(token)`, the host calls `request_stop()`. Anchors: every child",
        "   awaits an `asyncio.Event`/`trio.Event` that the host sets (the hand-written",
        "   stop flag), and the host cancelling each child itself (`task.cancel()`; on",
        "   trio one `CancelScope` per child). Beside them, unicancel without a token",
        "   (one unicancel `CancelScope` per child, cancelled by the host): the floor.",
        "10. **Stop callback**: `token.on_stop(fn)` then `registration.cancel()`, next to",
        "   `Future.add_done_callback` + `remove_done_callback` for scale.",
        "",
        "The first targets were set on Python 3.11, the project machine's default",
        "`python3`, where the project's first baselines were measured. From 3.12 on,",
        "`asyncio.timeout` itself is much cheaper (`asyncio.current_task()` is C, and",
        "finding the running loop no longer calls `getpid()`), so the asyncio ratios are",
        "higher there, and the page applies the targets the performance issue sets for",
        "3.12 and later (unarmed scope <= 0.80x `asyncio.timeout(None)`, round trip",
        "<= 0.40x anyio; the others are unchanged).",
        "[benchmarks-py3.13.md](benchmarks-py3.13.md) and",
        "[benchmarks-py3.14.md](benchmarks-py3.14.md) have the same run on Python 3.13",
        "and 3.14.",
        "",
        "Workload 1 also measures its **floor** on asyncio: `FloorScope`",
        "(`benchmarks/bench_floor.py`), a class that does, inline in one `__enter__` and",
        "one `__exit__`, only what an unarmed scope with unicancel's semantics needs (the",
        "keyword-only, validated constructor; single use; the running task; the task's",
        "innermost scope kept on the task; `cancelling()` at entry; at exit the same task",
        "and thread, still the innermost scope, unlink). Its ratio (unicancel / floor) is",
        "what backend detection and a scope's deadline, shield and cancel state cost on",
        "top; the floor's own ratio to `asyncio.timeout(None)` bounds what any target can",
        "ask. On trio the floor is `TrioFloorScope` (same file): the least any wrapper of",
        "`trio.CancelScope` does (the same constructor, single use, the running task read",
        "at entry and checked at exit, a native scope entered and exited).",
        "",
        "The asyncio and uvloop rows are measured first, before anything has imported trio,",
        "as in a plain asyncio program; then the trio rows. The row `unicancel*` repeats",
        "unicancel on asyncio at the end, once trio has been imported into the process,",
        "to show what asyncio scopes cost in a process that also runs trio (the first asyncio",
        "scope after trio's puts asyncio's own entry and exit back on the class).",
        "",
        "Targets (from the performance issue) are marked PASS/FAIL next to the ratio they",
        "constrain; under uvloop the asyncio targets are applied as well. Each benchmark",
        "also checks that the system did what it promised (every round trip was cancelled",
        "and caught, `Task.cancelling()` is back at 0 and no stray `CancelledError` hits",
        "the next await); a system that fails a check is reported as ERROR with the",
        "reason, and a target that depends on it as ERROR too.",
        "",
        "To reproduce (`pip install -e .[bench]` first; missing anchors are skipped):",
        "",
        "```console",
        f"$ {command}",
        "```",
        "",
        "`--quick` runs with small N (a smoke test for CI, under 30 s).",
        "",
        "## Results",
        "",
    ]
    lines += [f"- {key}: {value}" for key, value in env]
    lines.append(f"- Mode: {'quick' if quick else 'full'}, total run time {elapsed:.0f} s")
    for section in sections:
        lines += ["", f"### {section.workload.title}", "", f"{_section_note(section)}.", ""]
        headers = _headers(section)
        lines.append("| " + " | ".join(headers[:-1]) + " | verdict |")
        lines.append("|" + "|".join("--:" if name in NUMERIC else "---" for name in headers) + "|")
        for row in section.rows:
            cells = list(_row_cells(row, section))
            cells[1] = cells[1].replace("*", "\\*")
            cells[2] = f"`{cells[2]}`"
            cells[-1] = f"**{cells[-1]}**" if cells[-1] else ""
            lines.append("| " + " | ".join(_md_escape(c) for c in cells) + " |")
        if section.notes:
            lines.append("")
            lines += [_md_escape(note).replace("*", "\\*") + "  " for note in section.notes]
    lines += [
        "",
        "## Targets",
        "",
        f"{_tally(verdicts)}.",
        "",
        "| backend | workload | target | verdict |",
        "|---|---|---|---|",
    ]
    for v in verdicts:
        lines.append(
            f"| {BACKEND_TITLES[v.backend]} | {_md_escape(v.workload)} | "
            f"{_md_escape(v.target)} | **{v.verdict}** |"
        )
    return "\n".join(lines) + "\n"
