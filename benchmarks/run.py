"""Side-by-side benchmarks: unicancel against asyncio, anyio, quattro and trio.

One command, one process::

    python benchmarks/run.py [--quick] [--repeats N] [--markdown docs/benchmarks.md]

Every workload runs inside a fresh event loop (``asyncio.Runner``, the same
with uvloop's loop factory, or ``trio.run``), loops N times and reports
nanoseconds per operation: the MEDIAN over several repeats, the systems of one
workload interleaved repeat by repeat so that machine drift hits them all
alike. Each timed loop is preceded by a warm-up of N/10 iterations in the same
loop and runs with the cyclic garbage collector paused (as ``timeit`` does).
Workload 6 (a group of N children) runs "N operations" as one group of N
children and reports nanoseconds per child. The CPU workloads (5, 7, 8)
instead report process CPU seconds per wall-clock second
(``time.process_time`` / ``time.perf_counter``) and the wall time.

Workloads 1-5 (scopes) are defined here; 6-8 (task groups, issue 3) in
bench_taskgroups.py; what both share in bench_common.py.

Ratios are unicancel divided by the anchor, measured in the same run: lower is
better, and below 1.00x means unicancel is faster. Targets come from the
project's performance issue; each ratio that has one is marked PASS or FAIL.
Anchor libraries that are not installed are reported as "not installed" and
skipped.
"""

# Empty scope bodies are the point of the enter/exit workloads.
# ruff: noqa: ASYNC100

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import gc
import importlib.metadata
import importlib.util
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench_common import BenchError, CpuBench, OpBench, cpu_result
from bench_stop import (
    STOP_SLEEP,
    a_onstop_future,
    a_stop_event,
    a_stop_scopes,
    a_stop_task_cancel,
    a_stop_unicancel,
    onstop_unicancel,
    t_stop_event,
    t_stop_scopes,
    t_stop_uc_scopes,
    t_stop_unicancel,
)
from bench_taskgroups import (
    AT_ONCE,
    GROUP_SLEEP,
    HOLD,
    LATE,
    a_cond_anyio,
    a_cond_asyncio,
    a_cond_unicancel,
    a_group_anyio,
    a_group_asyncio,
    a_group_asyncio_raise,
    a_group_unicancel,
    a_late_anyio,
    a_late_asyncio,
    a_late_unicancel,
    a_late_unicancel_tg,
    t_group_anyio,
    t_group_trio,
    t_group_unicancel,
    t_late_trio,
    t_late_unicancel_tg,
)

# Run from a checkout without installing: fall back to the source tree.
if importlib.util.find_spec("unicancel") is None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

# ----------------------------------------------------------------------------
# Parameters

#: Nesting depth of workload 4.
DEPTH = 1000
#: How long the child of workload 5 keeps cleaning up after being cancelled (s).
CLEANUP = 0.2
#: A deadline that never fires during a benchmark (s).
FAR = 10.0
#: How long a "blocking" await would block if the scope did not cancel it (s).
BLOCK = 1.0

#: Operations per timed loop, per workload: (full, quick).
N_OPS: dict[str, tuple[int, int]] = {
    "unarmed": (40_000, 1_000),
    "armed": (40_000, 1_000),
    "roundtrip": (10_000, 300),
    "nesting": (40 * DEPTH, 2 * DEPTH),
    # Children in the group (one group per timed "loop").
    "group": (10_000, 1_000),
    # Children stopped at once (workload 9); register+unregister (workload 10).
    "stop": (10_000, 1_000),
    "onstop": (40_000, 1_000),
}
#: Repeats (the median is reported): (full, quick).
REPEATS = (9, 3)
CPU_REPEATS = (5, 1)
#: Workloads with their own repeats: (full, quick).
WORKLOAD_REPEATS: dict[str, tuple[int, int]] = {"group": (5, 3), "stop": (5, 3)}

BACKENDS = ("asyncio", "uvloop", "trio")
BACKEND_TITLES = {
    "asyncio": "asyncio (default loop)",
    "uvloop": "asyncio on uvloop",
    "trio": "trio",
}


def installed(dist: str) -> bool:
    return importlib.util.find_spec(dist) is not None


def dist_version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "(source tree)" if installed(dist) else "not installed"


# ----------------------------------------------------------------------------
# Workload 1: unarmed scope enter+exit


async def unarmed_unicancel(n: int) -> int:
    from unicancel import CancelScope

    t0 = time.perf_counter_ns()
    for _ in range(n):
        with CancelScope():
            pass
    return time.perf_counter_ns() - t0


async def a_unarmed_asyncio(n: int) -> int:
    timeout = asyncio.timeout
    t0 = time.perf_counter_ns()
    for _ in range(n):
        async with timeout(None):
            pass
    return time.perf_counter_ns() - t0


async def unarmed_anyio(n: int) -> int:
    from anyio import CancelScope

    t0 = time.perf_counter_ns()
    for _ in range(n):
        with CancelScope():
            pass
    return time.perf_counter_ns() - t0


async def a_unarmed_quattro(n: int) -> int:
    from quattro import CancelScope

    t0 = time.perf_counter_ns()
    for _ in range(n):
        with CancelScope():
            pass
    return time.perf_counter_ns() - t0


async def t_unarmed_trio(n: int) -> int:
    from trio import CancelScope

    t0 = time.perf_counter_ns()
    for _ in range(n):
        with CancelScope():
            pass
    return time.perf_counter_ns() - t0


# ----------------------------------------------------------------------------
# Workload 2: armed scope (deadline FAR seconds ahead) enter+exit


async def armed_unicancel(n: int) -> int:
    from unicancel import move_on_after

    t0 = time.perf_counter_ns()
    for _ in range(n):
        with move_on_after(FAR):
            pass
    return time.perf_counter_ns() - t0


async def a_armed_asyncio(n: int) -> int:
    timeout = asyncio.timeout
    t0 = time.perf_counter_ns()
    for _ in range(n):
        async with timeout(FAR):
            pass
    return time.perf_counter_ns() - t0


async def armed_anyio(n: int) -> int:
    from anyio import move_on_after

    t0 = time.perf_counter_ns()
    for _ in range(n):
        with move_on_after(FAR):
            pass
    return time.perf_counter_ns() - t0


async def a_armed_quattro(n: int) -> int:
    from quattro import move_on_after

    t0 = time.perf_counter_ns()
    for _ in range(n):
        with move_on_after(FAR):
            pass
    return time.perf_counter_ns() - t0


async def t_armed_trio(n: int) -> int:
    from trio import move_on_after

    t0 = time.perf_counter_ns()
    for _ in range(n):
        with move_on_after(FAR):
            pass
    return time.perf_counter_ns() - t0


# ----------------------------------------------------------------------------
# Workload 3: cancel round trip, move_on_after(0) around an await that would block


async def a_roundtrip_unicancel(n: int) -> int:
    from unicancel import move_on_after

    sleep = asyncio.sleep
    t0 = time.perf_counter_ns()
    for i in range(n):
        with move_on_after(0) as scope:
            await sleep(BLOCK)
        if not scope.cancelled_caught:
            _missed(i, n)
    return time.perf_counter_ns() - t0


async def a_roundtrip_asyncio(n: int) -> int:
    timeout = asyncio.timeout
    sleep = asyncio.sleep
    t0 = time.perf_counter_ns()
    for i in range(n):
        try:
            async with timeout(0):
                await sleep(BLOCK)
        except TimeoutError:
            pass
        else:
            _missed(i, n)
    return time.perf_counter_ns() - t0


async def a_roundtrip_anyio(n: int) -> int:
    from anyio import move_on_after

    sleep = asyncio.sleep
    t0 = time.perf_counter_ns()
    for i in range(n):
        with move_on_after(0) as scope:
            await sleep(BLOCK)
        if not scope.cancelled_caught:
            _missed(i, n)
    return time.perf_counter_ns() - t0


async def a_roundtrip_quattro(n: int) -> int:
    from quattro import move_on_after

    sleep = asyncio.sleep
    t0 = time.perf_counter_ns()
    for i in range(n):
        with move_on_after(0) as scope:
            await sleep(BLOCK)
        if not scope.cancelled_caught:
            _missed(i, n)
    return time.perf_counter_ns() - t0


async def t_roundtrip_unicancel(n: int) -> int:
    import trio

    from unicancel import move_on_after

    sleep = trio.sleep
    t0 = time.perf_counter_ns()
    for i in range(n):
        with move_on_after(0) as scope:
            await sleep(BLOCK)
        if not scope.cancelled_caught:
            _missed(i, n)
    return time.perf_counter_ns() - t0


async def t_roundtrip_trio(n: int) -> int:
    import trio

    move_on_after = trio.move_on_after
    sleep = trio.sleep
    t0 = time.perf_counter_ns()
    for i in range(n):
        with move_on_after(0) as scope:
            await sleep(BLOCK)
        if not scope.cancelled_caught:
            _missed(i, n)
    return time.perf_counter_ns() - t0


async def t_roundtrip_anyio(n: int) -> int:
    import trio
    from anyio import move_on_after

    sleep = trio.sleep
    t0 = time.perf_counter_ns()
    for i in range(n):
        with move_on_after(0) as scope:
            await sleep(BLOCK)
        if not scope.cancelled_caught:
            _missed(i, n)
    return time.perf_counter_ns() - t0


def _missed(i: int, n: int) -> None:
    # Checked inside the loop (one attribute test per iteration, the same for every
    # system) so that a scope that does not cancel costs one BLOCK, not n of them.
    raise BenchError(
        f"round trip {i + 1} of {n}: the scope did not cancel the await "
        f"(it blocked for the full {BLOCK:g} s; cancelled_caught is False)"
    )


# ----------------------------------------------------------------------------
# Workload 4: DEPTH nested unarmed scopes, entered then exited in LIFO order by
# a manual loop (the same loop for every system; an async context manager's
# __aenter__/__aexit__ are awaited, as `async with` would). Cost per scope.


async def nesting_unicancel(n: int) -> int:
    from unicancel import CancelScope

    stack: list[CancelScope] = []
    t0 = time.perf_counter_ns()
    for _ in range(max(1, n // DEPTH)):
        for _ in range(DEPTH):
            scope = CancelScope()
            scope.__enter__()
            stack.append(scope)
        while stack:
            stack.pop().__exit__(None, None, None)
    return time.perf_counter_ns() - t0


async def a_nesting_asyncio(n: int) -> int:
    timeout = asyncio.timeout
    stack: list[asyncio.Timeout] = []
    t0 = time.perf_counter_ns()
    for _ in range(max(1, n // DEPTH)):
        for _ in range(DEPTH):
            scope = timeout(None)
            await scope.__aenter__()
            stack.append(scope)
        while stack:
            await stack.pop().__aexit__(None, None, None)
    return time.perf_counter_ns() - t0


async def nesting_anyio(n: int) -> int:
    from anyio import CancelScope

    stack: list[CancelScope] = []
    t0 = time.perf_counter_ns()
    for _ in range(max(1, n // DEPTH)):
        for _ in range(DEPTH):
            scope = CancelScope()
            scope.__enter__()
            stack.append(scope)
        while stack:
            stack.pop().__exit__(None, None, None)
    return time.perf_counter_ns() - t0


async def a_nesting_quattro(n: int) -> int:
    from quattro import CancelScope

    stack: list[CancelScope] = []
    t0 = time.perf_counter_ns()
    for _ in range(max(1, n // DEPTH)):
        for _ in range(DEPTH):
            scope = CancelScope()
            scope.__enter__()
            stack.append(scope)
        while stack:
            stack.pop().__exit__(None, None, None)
    return time.perf_counter_ns() - t0


async def t_nesting_trio(n: int) -> int:
    from trio import CancelScope

    stack: list[CancelScope] = []
    t0 = time.perf_counter_ns()
    for _ in range(max(1, n // DEPTH)):
        for _ in range(DEPTH):
            scope = CancelScope()
            scope.__enter__()
            stack.append(scope)
        while stack:
            stack.pop().__exit__(None, None, None)
    return time.perf_counter_ns() - t0


# ----------------------------------------------------------------------------
# Workload 5: CPU burnt while a cancelled scope waits for work that is still
# cleaning up (ANCHORS.md trap 1). The host task is inside a scope and a native
# asyncio.TaskGroup (trio: a nursery); the child is blocked. The scope is
# cancelled; the task group cancels the child, which then cleans up for CLEANUP
# seconds, protected from re-delivery; the host waits in the task group's exit
# the whole time. Measured: process CPU seconds / wall seconds of that wait.


async def _asyncio_child() -> None:
    loop = asyncio.get_running_loop()
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        end = loop.time() + CLEANUP
        while (left := end - loop.time()) > 0:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(left)
        raise


def _cpu_result(c0: float, w0: float, caught: bool) -> tuple[float, float]:
    return cpu_result(c0, w0, caught, expected=CLEANUP)


async def a_cpu_unicancel() -> tuple[float, float]:
    from unicancel import CancelScope

    with CancelScope() as scope:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(_asyncio_child())
            await asyncio.sleep(0.01)
            c0, w0 = time.process_time(), time.perf_counter()
            scope.cancel()
            await asyncio.sleep(2)
    return _cpu_result(c0, w0, scope.cancelled_caught)


async def a_cpu_asyncio() -> tuple[float, float]:
    loop = asyncio.get_running_loop()
    caught = False
    try:
        async with asyncio.timeout(None) as scope:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(_asyncio_child())
                await asyncio.sleep(0.01)
                c0, w0 = time.process_time(), time.perf_counter()
                scope.reschedule(loop.time())
                await asyncio.sleep(2)
    except TimeoutError:
        caught = True
    return _cpu_result(c0, w0, caught)


async def a_cpu_anyio() -> tuple[float, float]:
    from anyio import CancelScope

    with CancelScope() as scope:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(_asyncio_child())
            await asyncio.sleep(0.01)
            c0, w0 = time.process_time(), time.perf_counter()
            scope.cancel()
            await asyncio.sleep(2)
    return _cpu_result(c0, w0, scope.cancelled_caught)


async def a_cpu_quattro() -> tuple[float, float]:
    from quattro import CancelScope

    with CancelScope() as scope:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(_asyncio_child())
            await asyncio.sleep(0.01)
            c0, w0 = time.process_time(), time.perf_counter()
            scope.cancel()
            await asyncio.sleep(2)
    return _cpu_result(c0, w0, scope.cancelled_caught)


async def _trio_child_unicancel() -> None:
    import trio

    from unicancel import CancelScope

    try:
        await trio.sleep_forever()
    finally:
        with CancelScope(shield=True):
            await trio.sleep(CLEANUP)


async def _trio_child_trio() -> None:
    import trio

    try:
        await trio.sleep_forever()
    finally:
        with trio.CancelScope(shield=True):
            await trio.sleep(CLEANUP)


async def _trio_child_anyio() -> None:
    import trio
    from anyio import CancelScope

    try:
        await trio.sleep_forever()
    finally:
        with CancelScope(shield=True):
            await trio.sleep(CLEANUP)


async def t_cpu_unicancel() -> tuple[float, float]:
    import trio

    from unicancel import CancelScope

    with CancelScope() as scope:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_trio_child_unicancel)
            await trio.sleep(0.01)
            c0, w0 = time.process_time(), time.perf_counter()
            scope.cancel()
            await trio.sleep(2)
    return _cpu_result(c0, w0, scope.cancelled_caught)


async def t_cpu_trio() -> tuple[float, float]:
    import trio

    with trio.CancelScope() as scope:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_trio_child_trio)
            await trio.sleep(0.01)
            c0, w0 = time.process_time(), time.perf_counter()
            scope.cancel()
            await trio.sleep(2)
    return _cpu_result(c0, w0, scope.cancelled_caught)


async def t_cpu_anyio() -> tuple[float, float]:
    import trio
    from anyio import CancelScope

    with CancelScope() as scope:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_trio_child_anyio)
            await trio.sleep(0.01)
            c0, w0 = time.process_time(), time.perf_counter()
            scope.cancel()
            await trio.sleep(2)
    return _cpu_result(c0, w0, scope.cancelled_caught)


# ----------------------------------------------------------------------------
# Registry


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
    "(unicancel's backend detection costs more then); ratio = unicancel* / asyncio*. "
    "The other asyncio rows ran before trio was imported."
)


def _cases() -> list[Case]:
    uc, aio, any_, qua, tri = "unicancel", "asyncio", "anyio", "quattro", "trio"
    cases: list[Case] = []

    def case(
        workload: str,
        backend: str,
        system: str,
        expr: str,
        requires: tuple[str, ...],
        fn: Any,
        phase: int,
        at_once: Sequence[str],
    ) -> Case:
        if WORKLOAD_BY_KEY[workload].cpu:
            return Case(
                workload,
                backend,
                system,
                expr,
                requires,
                cpu=fn,
                phase=phase,
                at_once=system in at_once,
            )
        return Case(workload, backend, system, expr, requires, op=fn, phase=phase)

    def asyncio_cases(
        workload: str,
        rows: Sequence[tuple[str, str, tuple[str, ...], Any]],
        *,
        uvloop: Sequence[str] = (uc, aio),
        at_once: Sequence[str] = (),
    ) -> None:
        """The rows on asyncio; those of the *uvloop* systems again on uvloop."""
        for backend in ("asyncio", "uvloop"):
            for system, expr, requires, fn in rows:
                if backend == "uvloop":
                    if system not in uvloop:
                        continue
                    requires = (*requires, "uvloop")
                cases.append(case(workload, backend, system, expr, requires, fn, 0, at_once))
            if backend == "asyncio" and workload in STARRED:
                # Again at the end, with trio imported: unicancel and asyncio.timeout.
                for system, expr, _, fn in rows:
                    if system in (uc, aio):
                        star = Case(
                            workload, backend, f"{system}*", expr, ("trio",), op=fn, phase=2
                        )
                        cases.append(star)

    def trio_cases(
        workload: str,
        rows: Sequence[tuple[str, str, tuple[str, ...], Any]],
        *,
        at_once: Sequence[str] = (),
    ) -> None:
        for system, expr, requires, fn in rows:
            requires = ("trio", *requires)
            cases.append(case(workload, "trio", system, expr, requires, fn, 1, at_once))

    asyncio_cases(
        "unarmed",
        [
            (uc, "with CancelScope()", (), unarmed_unicancel),
            (aio, "async with asyncio.timeout(None)", (), a_unarmed_asyncio),
            (any_, "with anyio.CancelScope()", ("anyio",), unarmed_anyio),
            (qua, "with quattro.CancelScope()", ("quattro",), a_unarmed_quattro),
        ],
    )
    trio_cases(
        "unarmed",
        [
            (uc, "with CancelScope()", (), unarmed_unicancel),
            (tri, "with trio.CancelScope()", (), t_unarmed_trio),
            (any_, "with anyio.CancelScope()", ("anyio",), unarmed_anyio),
        ],
    )
    asyncio_cases(
        "armed",
        [
            (uc, "with move_on_after(10)", (), armed_unicancel),
            (aio, "async with asyncio.timeout(10)", (), a_armed_asyncio),
            (any_, "with anyio.move_on_after(10)", ("anyio",), armed_anyio),
            (qua, "with quattro.move_on_after(10)", ("quattro",), a_armed_quattro),
        ],
    )
    trio_cases(
        "armed",
        [
            (uc, "with move_on_after(10)", (), armed_unicancel),
            (tri, "with trio.move_on_after(10)", (), t_armed_trio),
            (any_, "with anyio.move_on_after(10)", ("anyio",), armed_anyio),
        ],
    )
    asyncio_cases(
        "roundtrip",
        [
            (uc, "with move_on_after(0): await asyncio.sleep(1)", (), a_roundtrip_unicancel),
            (
                aio,
                "async with asyncio.timeout(0): ... (+ except TimeoutError)",
                (),
                a_roundtrip_asyncio,
            ),
            (any_, "with anyio.move_on_after(0): ...", ("anyio",), a_roundtrip_anyio),
            (qua, "with quattro.move_on_after(0): ...", ("quattro",), a_roundtrip_quattro),
        ],
    )
    trio_cases(
        "roundtrip",
        [
            (uc, "with move_on_after(0): await trio.sleep(1)", (), t_roundtrip_unicancel),
            (tri, "with trio.move_on_after(0): ...", (), t_roundtrip_trio),
            (any_, "with anyio.move_on_after(0): ...", ("anyio",), t_roundtrip_anyio),
        ],
    )
    asyncio_cases(
        "nesting",
        [
            (uc, "CancelScope().__enter__() x1000", (), nesting_unicancel),
            (aio, "await asyncio.timeout(None).__aenter__() x1000", (), a_nesting_asyncio),
            (any_, "anyio.CancelScope().__enter__() x1000", ("anyio",), nesting_anyio),
            (qua, "quattro.CancelScope().__enter__() x1000", ("quattro",), a_nesting_quattro),
        ],
    )
    trio_cases(
        "nesting",
        [
            (uc, "CancelScope().__enter__() x1000", (), nesting_unicancel),
            (tri, "trio.CancelScope().__enter__() x1000", (), t_nesting_trio),
            (any_, "anyio.CancelScope().__enter__() x1000", ("anyio",), nesting_anyio),
        ],
    )
    asyncio_cases(
        "cpu",
        [
            (uc, "CancelScope() + asyncio.TaskGroup", (), a_cpu_unicancel),
            (aio, "asyncio.timeout(None) + reschedule(now)", (), a_cpu_asyncio),
            (any_, "anyio.CancelScope() + asyncio.TaskGroup", ("anyio",), a_cpu_anyio),
            (qua, "quattro.CancelScope() + asyncio.TaskGroup", ("quattro",), a_cpu_quattro),
        ],
    )
    trio_cases(
        "cpu",
        [
            (uc, "CancelScope() + nursery, child shields with CancelScope", (), t_cpu_unicancel),
            (tri, "trio.CancelScope() + nursery, trio shield", (), t_cpu_trio),
            (any_, "anyio.CancelScope() + nursery, anyio shield", ("anyio",), t_cpu_anyio),
        ],
    )
    sleeps = f"start_soon(asyncio.sleep, {GROUP_SLEEP:g}) xN"
    asyncio_cases(
        "group",
        [
            (uc, f"CancelScope > TaskGroup, {sleeps}, scope.cancel()", (), a_group_unicancel),
            (
                aio,
                "timeout(None) > asyncio.TaskGroup, create_task xN, reschedule(now)",
                (),
                a_group_asyncio,
            ),
            (
                AIO_RAISE,
                "asyncio.TaskGroup, create_task xN, raise out of body + except*",
                (),
                a_group_asyncio_raise,
            ),
            (
                any_,
                f"anyio.create_task_group(), {sleeps}, cancel_scope.cancel()",
                ("anyio",),
                a_group_anyio,
            ),
        ],
    )
    sleeps = f"start_soon(trio.sleep, {GROUP_SLEEP:g}) xN"
    trio_cases(
        "group",
        [
            (uc, f"CancelScope > TaskGroup, {sleeps}, scope.cancel()", (), t_group_unicancel),
            (tri, f"open_nursery(), {sleeps}, cancel_scope.cancel()", (), t_group_trio),
            (
                any_,
                f"anyio.create_task_group(), {sleeps}, cancel_scope.cancel()",
                ("anyio",),
                t_group_anyio,
            ),
        ],
    )
    asyncio_cases(
        "cond",
        [
            (uc, "CancelScope() > cond.wait(), scope.cancel()", (), a_cond_unicancel),
            (aio, "asyncio.timeout(None) > cond.wait(), reschedule(now)", (), a_cond_asyncio),
            (any_, "anyio.CancelScope() > cond.wait(), scope.cancel()", ("anyio",), a_cond_anyio),
        ],
    )
    asyncio_cases(
        "late",
        [
            (uc, "CancelScope() > asyncio.TaskGroup", (), a_late_unicancel),
            (aio, "asyncio.timeout(None) > asyncio.TaskGroup", (), a_late_asyncio),
            (any_, "anyio.CancelScope() > asyncio.TaskGroup", ("anyio",), a_late_anyio),
            (UC_TG, "CancelScope() > unicancel.TaskGroup", (), a_late_unicancel_tg),
        ],
        uvloop=(uc, aio, UC_TG),
        at_once=(UC_TG,),
    )
    trio_cases(
        "late",
        [
            (UC_TG, "CancelScope() > unicancel.TaskGroup", (), t_late_unicancel_tg),
            (tri, "trio.CancelScope() > nursery", (), t_late_trio),
        ],
        at_once=(UC_TG, tri),
    )
    ev, tc, ucs = "asyncio.Event", "task.cancel()", "unicancel scopes"
    scopes_expr = "CancelScope > sleep xN, cancel() xN"
    asyncio_cases(
        "stop",
        [
            (uc, "move_on_when(token) > sleep xN, request_stop()", (), a_stop_unicancel),
            (ev, "await stop.wait() xN, stop.set()", (), a_stop_event),
            (tc, "sleep xN, task.cancel() xN", (), a_stop_task_cancel),
            (ucs, scopes_expr, (), a_stop_scopes),
        ],
        uvloop=(uc, ev, tc, ucs),
    )
    trio_cases(
        "stop",
        [
            (uc, "move_on_when(token) > sleep xN, request_stop()", (), t_stop_unicancel),
            ("trio.Event", "await stop.wait() xN, stop.set()", (), t_stop_event),
            ("trio.CancelScope", f"trio.{scopes_expr}", (), t_stop_scopes),
            (ucs, scopes_expr, (), t_stop_uc_scopes),
        ],
    )
    asyncio_cases(
        "onstop",
        [
            (uc, "token.on_stop(fn).cancel()", (), onstop_unicancel),
            (
                "Future callback",
                "fut.add_done_callback(fn); fut.remove_done_callback(fn)",
                (),
                a_onstop_future,
            ),
        ],
        uvloop=(),
    )
    return cases


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


TARGETS = (
    Target("unarmed", ("asyncio", "uvloop"), "asyncio", 0.5, "<= 0.50x asyncio.timeout(None)"),
    Target("armed", ("asyncio", "uvloop"), "asyncio", 0.8, "<= 0.80x asyncio.timeout(10)"),
    Target("roundtrip", ("asyncio", "uvloop"), "asyncio", 1.0, "<= 1.00x asyncio.timeout(0)"),
    Target("roundtrip", ("asyncio",), "anyio", 0.35, "<= 0.35x anyio"),
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


# ----------------------------------------------------------------------------
# Running


async def _timed_asyncio(fn: OpBench, n: int) -> int:
    await fn(max(1, n // 10))  # warm-up
    gc.collect()
    gc.disable()
    try:
        elapsed = await fn(n)
    finally:
        gc.enable()
    task = asyncio.current_task()
    assert task is not None
    if task.cancelling():
        raise BenchError(f"task.cancelling() is {task.cancelling()} after the loop, not 0")
    try:
        await asyncio.sleep(0)
    except asyncio.CancelledError:
        raise BenchError("a stray CancelledError hit the next await after the loop") from None
    return elapsed


async def _timed_trio(fn: OpBench, n: int) -> int:
    import trio

    await fn(max(1, n // 10))
    gc.collect()
    gc.disable()
    try:
        elapsed = await fn(n)
    finally:
        gc.enable()
    await trio.lowlevel.checkpoint()
    return elapsed


def _loop_factory(backend: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    if backend == "uvloop":
        import uvloop

        factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
        return factory
    return None


def run_op(backend: str, fn: OpBench, n: int) -> int:
    if backend == "trio":
        import trio

        return trio.run(_timed_trio, fn, n)
    with asyncio.Runner(loop_factory=_loop_factory(backend)) as runner:
        return runner.run(_timed_asyncio(fn, n))


def run_cpu(backend: str, fn: CpuBench) -> tuple[float, float]:
    if backend == "trio":
        import trio

        return trio.run(fn)
    with asyncio.Runner(loop_factory=_loop_factory(backend)) as runner:
        return runner.run(fn())


@dataclass
class Result:
    case: Case
    samples: list[float] = field(default_factory=list)
    #: Wall seconds of each sample (CPU workloads only).
    walls: list[float] = field(default_factory=list)
    error: str | None = None
    missing: str | None = None

    @property
    def value(self) -> float | None:
        if self.error or self.missing or not self.samples:
            return None
        return statistics.median(self.samples)

    @property
    def wall(self) -> float | None:
        if self.error or self.missing or not self.walls:
            return None
        return statistics.median(self.walls)

    @property
    def spread(self) -> float | None:
        value = self.value
        if value is None or len(self.samples) < 2 or value == 0:
            return None
        return (max(self.samples) - min(self.samples)) / value


def measure(
    quick: bool,
    repeats: int | None,
    log: Callable[[str], None],
    only: frozenset[str] | None = None,
) -> list[Result]:
    """Run every case (of the workloads in *only*, if given); results in registry order.

    asyncio and uvloop run first, before anything imports trio (as in a plain
    asyncio program), then trio, then unicancel on asyncio once more with trio
    imported. Within a phase and workload the systems are interleaved per repeat.
    """
    mode = 1 if quick else 0
    results = [Result(case) for case in _cases() if only is None or case.workload in only]
    for result in results:
        absent = [name for name in result.case.requires if not installed(name)]
        if absent:
            result.missing = f"{', '.join(absent)} not installed"
    for phase, title in enumerate(("asyncio", "trio", "asyncio with trio imported")):
        if phase == 1 and "trio" in sys.modules:
            log("  note: trio was imported during the asyncio phase")
        if phase == 2 and installed("trio"):
            import trio  # noqa: F401  (normally already imported by phase 1)
        for workload in WORKLOADS:
            group = [
                r for r in results if r.case.phase == phase and r.case.workload == workload.key
            ]
            if not group:
                continue
            reps = repeats or _repeats(workload)[mode]
            n = N_OPS.get(workload.key, (0, 0))[mode]
            log(f"  [{title}] {workload.title} ...")
            for _ in range(reps):
                for result in group:
                    if not (result.missing or result.error):
                        _measure_once(result, n)
    return results


def _repeats(workload: Workload) -> tuple[int, int]:
    """Default repeats of *workload*: (full, quick)."""
    if workload.key in WORKLOAD_REPEATS:
        return WORKLOAD_REPEATS[workload.key]
    return CPU_REPEATS if workload.cpu else REPEATS


def _measure_once(result: Result, n: int) -> None:
    case = result.case
    try:
        if case.cpu is not None:
            cpu, wall = run_cpu(case.backend, case.cpu)
            result.samples.append(cpu / wall)
            result.walls.append(wall)
        else:
            assert case.op is not None
            result.samples.append(run_op(case.backend, case.op, n) / n)
    except Exception as exc:  # a broken system must not stop the others
        result.error = f"{type(exc).__name__}: {exc}"


# ----------------------------------------------------------------------------
# Reporting


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
        "The targets were set on Python 3.11, the project machine's default `python3`,",
        "where the project's first baselines were measured. From 3.12 on, `asyncio.timeout`",
        "itself is much cheaper (`asyncio.current_task()` is C, and finding the running",
        "loop no longer calls `getpid()`), while a unicancel scope costs about the same,",
        "so the asyncio ratios are higher there: [benchmarks-py3.13.md](benchmarks-py3.13.md)",
        "has the same run on Python 3.13.",
        "",
        "The asyncio and uvloop rows are measured first, before anything has imported trio,",
        "as in a plain asyncio program; then the trio rows. The row `unicancel*` repeats",
        "unicancel on asyncio at the end, once trio has been imported into the process,",
        "because unicancel's backend detection costs more then.",
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small N: a smoke run under 30 s")
    parser.add_argument("--repeats", type=int, default=None, help="repeats per measurement")
    parser.add_argument(
        "--markdown",
        type=Path,
        default=None,
        metavar="PATH",
        help="also write the results as a Markdown page",
    )
    parser.add_argument(
        "--only",
        default=None,
        metavar="KEYS",
        help="comma-separated workloads to run: "
        + ", ".join(w.key for w in WORKLOADS)
        + " (default: all)",
    )
    args = parser.parse_args(argv)
    only: frozenset[str] | None = None
    if args.only is not None:
        only = frozenset(key.strip() for key in args.only.split(","))
        unknown = only - {w.key for w in WORKLOADS}
        if unknown:
            parser.error(f"--only: unknown workload(s) {', '.join(sorted(unknown))}")
    quick: bool = args.quick
    repeats: int | None = args.repeats
    if repeats is not None and repeats < 1:
        parser.error("--repeats must be at least 1")

    for name in ("anyio", "trio", "quattro", "uvloop"):
        if not installed(name):
            print(f"{name}: not installed (its rows are skipped)", file=sys.stderr)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    log(f"running {'quick' if quick else 'full'} benchmarks ...")
    start = time.perf_counter()
    results = measure(quick, repeats, log, only)
    elapsed = time.perf_counter() - start
    sections, verdicts = build_report(results, quick, repeats)
    sys.stdout.write(render_text(sections, verdicts, elapsed))
    if args.markdown is not None:
        path: Path = args.markdown
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render_markdown(sections, verdicts, quick, repeats, elapsed, path, only))
        log(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
