"""What is measured: the workloads, the shape of a case, the notes printed
under each table, and the targets a ratio is judged against."""

from __future__ import annotations

import sys
from dataclasses import dataclass

from bench_common import CpuBench, OpBench
from bench_params import CLEANUP, DEPTH, FAR
from bench_stop import (
    STOP_SLEEP,
)
from bench_taskgroups import (
    AT_ONCE,
    GROUP_SLEEP,
    HOLD,
    LATE,
)


@dataclass(frozen=True)
class Workload:
    key: str
    title: str
    unit: str  # "ns/op", "ns/scope", "ns/child" or "CPU s/s"

    @property
    def cpu(self) -> bool:
        """Whether it reports CPU seconds per wall second (and wall time)."""
        return self.unit == CPU_UNIT


CPU_UNIT = "CPU s/s"


WORKLOADS = (
    Workload("unarmed", "1. Unarmed scope, enter+exit", "ns/op"),
    Workload("armed", f"2. Armed scope (deadline {FAR:g} s ahead), enter+exit", "ns/op"),
    Workload(
        "roundtrip", "3. Cancel round trip: move_on_after(0) around a blocking await", "ns/op"
    ),
    Workload("nesting", f"4. {DEPTH:,} nested unarmed scopes, enter all then exit all", "ns/scope"),
    Workload(
        "cpu",
        f"5. CPU while a cancelled scope waits for a child cleaning up for {CLEANUP:g} s",
        CPU_UNIT,
    ),
    Workload(
        "group",
        f"6. Cancel a group of N children sleeping {GROUP_SLEEP:g} s, per child",
        "ns/child",
    ),
    Workload(
        "cond",
        f"7. CPU while a cancelled asyncio.Condition.wait() re-acquires a lock held {HOLD:g} s",
        CPU_UNIT,
    ),
    Workload(
        "late",
        f"8. CPU while a cancelled scope waits for a child that swallowed the cancel "
        f"and sleeps {LATE:g} s",
        CPU_UNIT,
    ),
    Workload("stop", "9. Stop N blocked tasks at once, per task (request to exit)", "ns/task"),
    Workload("onstop", "10. Stop callback: register + unregister", "ns/op"),
)
WORKLOAD_BY_KEY = {workload.key: workload for workload in WORKLOADS}


@dataclass(frozen=True)
class Case:
    workload: str
    backend: str  # one of BACKENDS
    system: str  # "unicancel" or the anchor's name
    expr: str  # what is measured, as code
    requires: tuple[str, ...]  # import names that must be installed
    op: OpBench | None = None
    cpu: CpuBench | None = None
    #: 0: asyncio/uvloop, before trio is imported; 1: trio; 2: asyncio again, trio imported.
    phase: int = 0
    #: A CPU case whose block is expected to exit at once: its wall time is the
    #: measurement (CPU per wall second over a sub-millisecond wait means nothing).
    at_once: bool = False


#: unicancel on asyncio measured again once trio has been imported into the process.
UC_TRIO = "unicancel*"
#: Workloads whose unicancel and asyncio rows are measured again with trio imported.
STARRED = ("unarmed", "armed", "roundtrip")
#: Native asyncio.TaskGroup cancelled by raising out of its body (workload 6).
AIO_RAISE = "asyncio/raise"
#: Workload 1's floor: the least work an unarmed scope's semantics need (bench_floor).
FLOOR = "floor"
#: unicancel's own TaskGroup, where a workload also has unicancel + a native group.
UC_TG = "unicancel.TaskGroup"
AT_ONCE_NOTE = (
    f"value '-': the child lives inside the cancelled scope, so its {LATE:g} s sleep is "
    "cancelled at once and the block exits at once; CPU per wall second over such a short "
    "wait means nothing, the wall time is the measurement."
)
NESTED_NOTE = "In 'measured', A > B means that B runs inside A."
#: Extra notes printed under a workload's table.
WORKLOAD_NOTES: dict[str, list[str]] = {
    "unarmed": [
        "floor: FloorScope (benchmarks/bench_floor.py), the least work an unarmed scope "
        "with unicancel's semantics needs, inline in one __enter__/__exit__: the public "
        "keyword-only constructor, single use, the running task, the task's innermost "
        "scope kept on the task, cancelling() at entry; at exit the same task and thread, "
        "still innermost, unlink. unicancel/floor is what backend detection and the "
        "deadline, shield and cancel state cost on top. On 3.11 the floor finds the task "
        "as asyncio.current_task() does (a getpid() per loop lookup), which unicancel "
        "caches: there it is no floor.",
        "floor on trio: TrioFloorScope (same file), the least a wrapper of trio.CancelScope "
        "does: the same constructor and single use, the running task read at entry (the "
        "probe) and checked at exit, a native scope entered and exited; floor/trio bounds "
        "what a target can ask of any wrapper, unicancel/floor is what the dispatch to the "
        "backend and the deadline, shield and cancel state cost on top.",
    ],
    "cond": [NESTED_NOTE],
    "late": [NESTED_NOTE],
    "group": [
        NESTED_NOTE,
        "Per child: create the group, start N children, let them all block (asyncio: one "
        "sleep(0); trio: wait_all_tasks_blocked()), cancel, wait for the block to exit.",
        "asyncio = the targets' anchor: the native group cancelled through an enclosing "
        "asyncio.timeout(None) rescheduled to now (the shape of the unicancel case); "
        f"{AIO_RAISE} = cancelled by raising out of its body, for comparison.",
        "No target on trio: there unicancel.TaskGroup is a trio nursery inside a "
        "unicancel CancelScope.",
    ],
    "stop": [
        NESTED_NOTE,
        f"N children wait for a stop (blocked in a {STOP_SLEEP:g} s sleep, or on the event) "
        "in a native TaskGroup/nursery; timed from the request to the block's exit, per "
        "child (spawning and blocking, alike for all, are not timed).",
        "asyncio.Event: the blocking form of the hand-written stop flag; task.cancel() / "
        "trio.CancelScope: the host cancels every child itself, one call each.",
        "unicancel scopes: unicancel without a token, each child's CancelScope cancelled "
        "by the host: the floor under move_on_when (the scopes' own delivery).",
    ],
    "onstop": [
        "Future callback: asyncio's cheapest register/unregister, for scale (not "
        "thread-safe; a stop callback is). Backend-neutral: measured once, on asyncio.",
    ],
}
UC_TRIO_NOTE = (
    "* measured again at the end, once trio has been imported into the process "
    "and has run (the first asyncio scope then puts asyncio's own entry and exit back); "
    "ratio = unicancel* / asyncio*. "
    "The other asyncio rows ran before trio was imported."
)


@dataclass(frozen=True)
class Target:
    """unicancel / anchor must be <= limit (anchor None: the value of *system*'s
    own row, or with metric "wall" its wall time in seconds, must be <= limit)."""

    workload: str
    backends: tuple[str, ...]
    anchor: str | None
    limit: float
    text: str
    system: str = "unicancel"
    metric: str = "value"  # or "wall" (CPU workloads)


#: The first targets were set on 3.11, where asyncio.timeout was slow; from 3.12
#: on (asyncio.current_task() in C, no getpid() per loop lookup) the
#: performance issue sets its own (issue 16, "target on 3.14").
_PY311 = sys.version_info < (3, 12)

TARGETS = (
    Target("unarmed", ("asyncio", "uvloop"), "asyncio", 0.5, "<= 0.50x asyncio.timeout(None)")
    if _PY311
    else Target("unarmed", ("asyncio", "uvloop"), "asyncio", 0.8, "<= 0.80x asyncio.timeout(None)"),
    Target("armed", ("asyncio", "uvloop"), "asyncio", 0.8, "<= 0.80x asyncio.timeout(10)"),
    Target("roundtrip", ("asyncio", "uvloop"), "asyncio", 1.0, "<= 1.00x asyncio.timeout(0)"),
    Target("roundtrip", ("asyncio",), "anyio", 0.35, "<= 0.35x anyio")
    if _PY311
    else Target("roundtrip", ("asyncio",), "anyio", 0.4, "<= 0.40x anyio"),
    Target("unarmed", ("trio",), "trio", 1.15, "<= 1.15x trio.CancelScope()"),
    Target("armed", ("trio",), "trio", 1.15, "<= 1.15x trio.move_on_after(10)"),
    Target("roundtrip", ("trio",), "trio", 1.15, "<= 1.15x trio.move_on_after(0)"),
    Target("cpu", ("asyncio", "uvloop", "trio"), None, 0.02, "<= 0.02 CPU s per wall s"),
    Target("group", ("asyncio", "uvloop"), "asyncio", 1.3, "<= 1.30x asyncio.TaskGroup"),
    Target("group", ("asyncio",), "anyio", 1 / 3, "<= 0.33x anyio (>= 3x faster)"),
    Target("cond", ("asyncio", "uvloop"), None, 0.02, "<= 0.02 CPU s per wall s"),
    Target("late", ("asyncio", "uvloop"), None, 0.02, "<= 0.02 CPU s per wall s"),
    Target(
        "late",
        ("asyncio", "uvloop", "trio"),
        None,
        AT_ONCE,
        f"wall <= {AT_ONCE * 1000:g} ms: the {LATE:g} s sleep cancelled at once",
        system=UC_TG,
        metric="wall",
    ),
)
