"""Workloads 9-10: stop tokens (issue 4), for run.py.

9. Stop N tasks at once. N children each wait for a stop, blocked; the host
   requests it and waits for all of them to finish. Timed from the request to
   the end of the block (spawning the children and letting them block is the
   same for every system and is not timed); reported per child. unicancel:
   each child waits in ``move_on_when(token)`` (a cancel scope bound to the
   token), the host calls ``source.request_stop()``. Anchors: the
   ``asyncio.Event`` pattern (every child awaits ``stop.wait()``, the host
   calls ``stop.set()``; the blocking form of the hand-written stop flag), and
   a direct ``task.cancel()`` of every child; on trio, ``trio.Event`` and one
   ``trio.CancelScope`` per child cancelled one by one. Beside them, unicancel
   without a token: one ``CancelScope`` per child, cancelled one by one (the
   floor under ``move_on_when``: what the scopes' own delivery costs).
10. ``token.on_stop(fn)`` then ``registration.cancel()``: the cost of
   registering and unregistering a stop callback, next to
   ``Future.add_done_callback`` + ``remove_done_callback`` (which, unlike a
   stop callback, is not thread-safe).

Every system is imported inside its function, as in run.py, so that the
asyncio phase runs before anything has imported trio.
"""

from __future__ import annotations

import asyncio
import time

from bench_common import BenchError

#: How long a child of workload 9 would block if nothing stopped it (s).
STOP_SLEEP = 100.0


# ----------------------------------------------------------------------------
# Workload 9: stop n blocked children; per child, from the request to the exit.


async def a_stop_unicancel(n: int) -> int:
    from unicancel import StopSource, move_on_when

    source = StopSource()
    token = source.token
    sleep = asyncio.sleep
    left: list[bool] = []

    async def child() -> None:
        with move_on_when(token) as scope:
            await sleep(STOP_SLEEP)
        left.append(scope.cancelled_caught)

    async with asyncio.TaskGroup() as tg:
        for _ in range(n):
            tg.create_task(child())
        await sleep(0)  # every child runs to its sleep (scheduled before us)
        t0 = time.perf_counter_ns()
        source.request_stop()
    elapsed = time.perf_counter_ns() - t0
    _check(left, n)
    return elapsed


async def a_stop_event(n: int) -> int:
    stop = asyncio.Event()
    sleep = asyncio.sleep
    left: list[bool] = []

    async def child() -> None:
        await stop.wait()
        left.append(stop.is_set())

    async with asyncio.TaskGroup() as tg:
        for _ in range(n):
            tg.create_task(child())
        await sleep(0)
        t0 = time.perf_counter_ns()
        stop.set()
    elapsed = time.perf_counter_ns() - t0
    _check(left, n)
    return elapsed


async def a_stop_task_cancel(n: int) -> int:
    sleep = asyncio.sleep
    left: list[bool] = []

    async def child() -> None:
        try:
            await sleep(STOP_SLEEP)
        except asyncio.CancelledError:
            left.append(True)  # return: the group must not see a cancellation

    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(child()) for _ in range(n)]
        await sleep(0)
        t0 = time.perf_counter_ns()
        for task in tasks:
            task.cancel()
    elapsed = time.perf_counter_ns() - t0
    _check(left, n)
    return elapsed


async def a_stop_scopes(n: int) -> int:
    """unicancel without a token: the host cancels each child's scope (the
    floor under move_on_when: the scopes' own delivery)."""
    from unicancel import CancelScope

    scopes: list[CancelScope] = []
    sleep = asyncio.sleep
    left: list[bool] = []

    async def child() -> None:
        with CancelScope() as scope:
            scopes.append(scope)
            await sleep(STOP_SLEEP)
        left.append(scope.cancelled_caught)

    async with asyncio.TaskGroup() as tg:
        for _ in range(n):
            tg.create_task(child())
        await sleep(0)
        t0 = time.perf_counter_ns()
        for scope in scopes:
            scope.cancel()
    elapsed = time.perf_counter_ns() - t0
    _check(left, n)
    return elapsed


async def t_stop_unicancel(n: int) -> int:
    import trio
    import trio.testing

    from unicancel import StopSource, move_on_when

    source = StopSource()
    token = source.token
    sleep = trio.sleep
    left: list[bool] = []

    async def child() -> None:
        with move_on_when(token) as scope:
            await sleep(STOP_SLEEP)
        left.append(scope.cancelled_caught)

    async with trio.open_nursery() as nursery:
        for _ in range(n):
            nursery.start_soon(child)
        await trio.testing.wait_all_tasks_blocked()
        t0 = time.perf_counter_ns()
        source.request_stop()
    elapsed = time.perf_counter_ns() - t0
    _check(left, n)
    return elapsed


async def t_stop_uc_scopes(n: int) -> int:
    import trio
    import trio.testing

    from unicancel import CancelScope

    scopes: list[CancelScope] = []
    sleep = trio.sleep
    left: list[bool] = []

    async def child() -> None:
        with CancelScope() as scope:
            scopes.append(scope)
            await sleep(STOP_SLEEP)
        left.append(scope.cancelled_caught)

    async with trio.open_nursery() as nursery:
        for _ in range(n):
            nursery.start_soon(child)
        await trio.testing.wait_all_tasks_blocked()
        t0 = time.perf_counter_ns()
        for scope in scopes:
            scope.cancel()
    elapsed = time.perf_counter_ns() - t0
    _check(left, n)
    return elapsed


async def t_stop_event(n: int) -> int:
    import trio
    import trio.testing

    stop = trio.Event()
    left: list[bool] = []

    async def child() -> None:
        await stop.wait()
        left.append(stop.is_set())

    async with trio.open_nursery() as nursery:
        for _ in range(n):
            nursery.start_soon(child)
        await trio.testing.wait_all_tasks_blocked()
        t0 = time.perf_counter_ns()
        stop.set()
    elapsed = time.perf_counter_ns() - t0
    _check(left, n)
    return elapsed


async def t_stop_scopes(n: int) -> int:
    import trio
    import trio.testing

    scopes: list[trio.CancelScope] = []
    sleep = trio.sleep
    left: list[bool] = []

    async def child() -> None:
        with trio.CancelScope() as scope:
            scopes.append(scope)
            await sleep(STOP_SLEEP)
        left.append(scope.cancelled_caught)

    async with trio.open_nursery() as nursery:
        for _ in range(n):
            nursery.start_soon(child)
        await trio.testing.wait_all_tasks_blocked()
        t0 = time.perf_counter_ns()
        for scope in scopes:
            scope.cancel()
    elapsed = time.perf_counter_ns() - t0
    _check(left, n)
    return elapsed


def _check(left: list[bool], n: int) -> None:
    if len(left) != n or not all(left):
        raise BenchError(f"{left.count(True)} of {n} children were stopped")


# ----------------------------------------------------------------------------
# Workload 10: register and unregister a stop callback.


def _noop(*args: object) -> None:
    pass


async def onstop_unicancel(n: int) -> int:
    from unicancel import StopSource

    source = StopSource()
    on_stop = source.token.on_stop
    fn = _noop
    t0 = time.perf_counter_ns()
    for _ in range(n):
        if on_stop(fn).cancel():
            raise BenchError("the callback ran, but no stop was requested")
    elapsed = time.perf_counter_ns() - t0
    if source._state.regs:
        raise BenchError("registrations were left behind")
    return elapsed


async def a_onstop_future(n: int) -> int:
    future = asyncio.get_running_loop().create_future()
    add, remove = future.add_done_callback, future.remove_done_callback
    fn = _noop
    t0 = time.perf_counter_ns()
    for _ in range(n):
        add(fn)
        remove(fn)
    return time.perf_counter_ns() - t0
