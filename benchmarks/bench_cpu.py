"""Workload 5: CPU used while a cancelled scope waits for a child that is
still cleaning up."""

from __future__ import annotations

import asyncio
import contextlib
import time

from bench_common import cpu_result
from bench_params import CLEANUP

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
