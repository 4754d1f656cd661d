"""Scale workloads (issue 16), for scale.py: how the cost grows with the work.

park   N tasks, each inside an armed scope, parked on an event: time from the
       first spawn until all are parked (per task), and, in a separate run
       under tracemalloc, the memory they hold (per task). "none" is the same
       task without a scope: the difference is what the scope costs.
slide  N parked armed scopes, each deadline moved later M times (an idle
       timeout reset on every message): only the moves are timed, in rounds
       of N, with the loop running between rounds; then, after every other
       scope moved once more, the size of the deadline heap (unicancel's on
       asyncio, the loop's timer heap for asyncio.timeout and anyio, trio's
       deadline heap on trio).
churn  C scopes with a deadline entered and exited in one long loop (a
       yield every 1,000): time per scope and the process RSS after a
       warm-up, half-way and at the end.

Group cancel and token cancel reuse workloads 6 and 9 of run.py at larger N.
Every system is imported inside its function, so that the asyncio phase runs
before anything has imported trio (as in run.py).
"""

from __future__ import annotations

import asyncio
import os
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import Any

from bench_common import BenchError

#: A deadline that never fires during a benchmark (s).
FAR = 1000.0
#: The churn loop yields to the event loop every this many scopes.
YIELD_EVERY = 1000

# A scope factory: (seconds) -> a context manager (sync or async) with a deadline.
Sync = Callable[[float], AbstractContextManager[Any]]
Async = Callable[[float], AbstractAsyncContextManager[Any]]


def rss() -> int:
    """Resident set size of this process in bytes (Linux; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def factories(backend: str, system: str) -> tuple[Sync | None, Async | None]:
    """The scope of *system* on *backend*: (sync factory, async factory)."""
    if system == "unicancel":
        from unicancel import move_on_after

        return move_on_after, None
    if system == "anyio":
        from anyio import move_on_after as anyio_move_on_after

        return anyio_move_on_after, None
    if system == "trio":
        import trio

        return trio.move_on_after, None
    if system == "asyncio":
        return None, asyncio.timeout
    raise ValueError(system)


# ----------------------------------------------------------------------------
# The backend's primitives, so that one workload body serves both.


class Kit:
    def __init__(self, backend: str) -> None:
        self.trio = backend == "trio"

    def event(self) -> Any:
        if self.trio:
            import trio

            return trio.Event()
        return asyncio.Event()

    async def spawn_all(self, child: Callable[[], Awaitable[None]], n: int, body: Any) -> Any:
        """Run *n* children and, beside them, ``await body()``; its result."""
        if self.trio:
            import trio

            async with trio.open_nursery() as nursery:
                for _ in range(n):
                    nursery.start_soon(child)
                return await body()
        loop = asyncio.get_running_loop()
        tasks: list[asyncio.Task[None]] = [
            loop.create_task(child())  # type: ignore[arg-type]
            for _ in range(n)
        ]
        try:
            return await body()
        finally:
            await asyncio.gather(*tasks)

    async def sleep0(self) -> None:
        if self.trio:
            import trio

            await trio.lowlevel.checkpoint()
        else:
            await asyncio.sleep(0)

    def now(self) -> float:
        if self.trio:
            import trio

            return trio.current_time()
        return asyncio.get_running_loop().time()


async def _parked(
    kit: Kit, system: str, n: int, then: Callable[[list[Any]], Awaitable[Any]]
) -> Any:
    """Spawn n tasks, each entering *system*'s armed scope and parking; once
    all are parked, ``await then(scopes)`` and release them."""
    sync, async_ = (
        factories("trio" if kit.trio else "asyncio", system)
        if system != "none"
        else (
            None,
            None,
        )
    )
    release, all_parked = kit.event(), kit.event()
    scopes: list[Any] = []
    count = 0

    async def park(scope: Any) -> None:
        nonlocal count
        scopes.append(scope)
        count += 1
        if count == n:
            all_parked.set()
        await release.wait()

    if sync is not None:

        async def child() -> None:
            with sync(FAR) as scope:
                await park(scope)
    elif async_ is not None:

        async def child() -> None:
            async with async_(FAR) as scope:
                await park(scope)
    else:

        async def child() -> None:
            await park(None)

    async def body() -> Any:
        await all_parked.wait()
        try:
            return await then(scopes)
        finally:
            release.set()

    return await kit.spawn_all(child, n, body)


async def park_time(backend: str, system: str, n: int) -> float:
    """ns per task: spawn n tasks, each enters an armed scope and parks."""
    kit = Kit(backend)
    await _parked(kit, system, max(1, n // 10), _nothing)  # warm-up
    t0 = time.perf_counter_ns()

    async def done(scopes: list[Any]) -> int:
        return time.perf_counter_ns() - t0

    elapsed: int = await _parked(kit, system, n, done)
    return elapsed / n


async def _nothing(scopes: list[Any]) -> None:
    pass


async def park_memory(backend: str, system: str, n: int) -> float:
    """Bytes per task (tracemalloc) held by n parked tasks in armed scopes."""
    kit = Kit(backend)
    await _parked(kit, system, max(1, n // 10), _nothing)  # imports, caches
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]

        async def done(scopes: list[Any]) -> int:
            return tracemalloc.get_traced_memory()[0] - base

        held: int = await _parked(kit, system, n, done)
    finally:
        tracemalloc.stop()
    return held / n


def _heap_size(backend: str, system: str) -> int | None:
    """Entries in the heap that holds *system*'s deadlines (None: not visible)."""
    if backend == "trio":
        from trio._core._run import GLOBAL_RUN_CONTEXT

        return len(GLOBAL_RUN_CONTEXT.runner.deadlines._heap)
    loop = asyncio.get_running_loop()
    if system == "unicancel":
        from unicancel._backends.asyncio import _deadlines

        return len(_deadlines._for(loop).heap)
    scheduled = getattr(loop, "_scheduled", None)  # uvloop keeps its timers in libuv
    return None if scheduled is None else len(scheduled)


async def slide(backend: str, system: str, n: int, moves: int) -> tuple[float, int | None]:
    """(ns per move, heap entries afterwards) for n scopes moved *moves* times."""
    kit = Kit(backend)
    await _parked(kit, system, max(1, n // 10), _nothing)  # warm-up

    async def move_all(scopes: list[Any]) -> tuple[float, int | None]:
        total = 0
        for k in range(moves):
            later = kit.now() + FAR + k + 1
            t0 = time.perf_counter_ns()
            if system == "asyncio":
                for timeout in scopes:
                    timeout.reschedule(later)
            else:  # unicancel, anyio, trio: the deadline setter
                for scope in scopes:
                    scope.deadline = later
            total += time.perf_counter_ns() - t0
            # A message arrives: the loop runs (asyncio drops cancelled timers here).
            await kit.sleep0()
            await kit.sleep0()
        # Then messages reach only every other scope (untimed): the heap is read
        # off a round's end, where a heap that retires an entry per move and
        # compacts at twice the live scopes can happen to be back at N.
        later = kit.now() + FAR + moves + 1
        for scope in scopes[::2]:
            if system == "asyncio":
                scope.reschedule(later)
            else:
                scope.deadline = later
        await kit.sleep0()
        await kit.sleep0()
        for scope in scopes:
            if getattr(scope, "cancel_called", False) or (system == "asyncio" and scope.expired()):
                raise BenchError("a moved deadline fired")
        return total / (n * moves), _heap_size(backend, system)

    result: tuple[float, int | None] = await _parked(kit, system, n, move_all)
    return result


async def churn(backend: str, system: str, count: int) -> tuple[float, list[int]]:
    """(ns per scope, [RSS after warm-up, half-way, at the end]) for *count*
    armed scopes entered and exited in one loop."""
    kit = Kit(backend)
    sync, async_ = factories(backend, system)
    warm = min(count // 10, 10_000)

    async def loop(k: int, marks: dict[int, int]) -> None:
        for i in range(1, k + 1):
            if sync is not None:
                with sync(FAR):
                    pass
            else:
                assert async_ is not None
                async with async_(FAR):
                    pass
            if not i % YIELD_EVERY:
                await kit.sleep0()
            if i in marks:
                marks[i] = rss()

    await loop(warm, {})
    marks = {count // 2: 0, count: 0}
    start = rss()
    t0 = time.perf_counter_ns()
    await loop(count, marks)
    elapsed = time.perf_counter_ns() - t0
    return elapsed / count, [start, marks[count // 2], marks[count]]
