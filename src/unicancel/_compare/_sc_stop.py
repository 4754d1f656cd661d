"""Scenarios: stopping a worker. A stop flag first, cancellation after a
grace period (SCENARIOS.md item 5: the stop token written by hand)."""

from __future__ import annotations

import asyncio

import unicancel

from ._kit import Kit
from ._model import Scenario, Trace

# -- stop flags: graceful first, forced after a grace period -------------------------------


async def graceful_asyncio(t: Trace) -> None:
    stop, working = asyncio.Event(), asyncio.Event()

    async def worker() -> None:
        try:
            while not stop.is_set():  # poll the stop flag between units of work
                working.set()
                await asyncio.sleep(0)
            t("worker", "saw the stop flag and returned")
        finally:
            t("worker cleanup", "ran")

    task = asyncio.create_task(worker())
    await working.wait()
    stop.set()
    try:
        await asyncio.wait_for(task, timeout=5)  # grace period
        t("worker stopped", "gracefully")
    except TimeoutError:
        task.cancel()
        t("worker stopped", "forced")


async def graceful_trio(t: Trace) -> None:
    import trio

    stop, done = trio.Event(), trio.Event()

    async def worker(task_status: trio.TaskStatus[None]) -> None:
        task_status.started()
        try:
            while not stop.is_set():
                await trio.lowlevel.checkpoint()
            t("worker", "saw the stop flag and returned")
        finally:
            t("worker cleanup", "ran")
            done.set()

    async with trio.open_nursery() as nursery:
        await nursery.start(worker)
        stop.set()
        with trio.move_on_after(5):  # grace period
            await done.wait()
        if done.is_set():
            t("worker stopped", "gracefully")
        else:
            nursery.cancel_scope.cancel()
            t("worker stopped", "forced")


async def graceful_anyio(t: Trace) -> None:
    import anyio
    from anyio.abc import TaskStatus

    stop, done = anyio.Event(), anyio.Event()

    async def worker(*, task_status: TaskStatus[None]) -> None:
        task_status.started()
        try:
            while not stop.is_set():
                await anyio.lowlevel.checkpoint()
            t("worker", "saw the stop flag and returned")
        finally:
            t("worker cleanup", "ran")
            done.set()

    async with anyio.create_task_group() as tg:
        await tg.start(worker)
        stop.set()
        with anyio.move_on_after(5):
            await done.wait()
        if done.is_set():
            t("worker stopped", "gracefully")
        else:
            tg.cancel_scope.cancel()
            t("worker stopped", "forced")


async def graceful_unicancel(t: Trace, k: Kit) -> None:
    stop, done, working = unicancel.Event(), unicancel.Event(), unicancel.Event()
    workers = unicancel.CancelScope()

    async def worker() -> None:
        try:
            while not stop.is_set():
                working.set()
                await unicancel.checkpoint()
            t("worker", "saw the stop flag and returned")
        finally:
            t("worker cleanup", "ran")
            done.set()

    with workers:
        async with unicancel.TaskGroup() as tg:
            tg.start_soon(worker)
            await working.wait()
            stop.set()
            with unicancel.move_on_after(5):
                await done.wait()
            if done.is_set():
                t("worker stopped", "gracefully")
            else:
                workers.cancel()
                t("worker stopped", "forced")


STOP_GRACEFUL = Scenario(
    name="stop-flag-graceful",
    title="Stop a worker with a flag it polls; a grace period, then a forced cancel",
    description=(
        "The hand-written stop token of SCENARIOS.md item 5: an event polled by "
        "the worker, a bounded wait for it to finish, cancellation as the "
        "fallback. Here the worker honours the flag. unicancel has no stop "
        "token yet: a native event, a TaskGroup, a scope for the grace period."
    ),
    covers=("S5",),
    headline="worker stopped",
    asyncio=graceful_asyncio,
    trio=graceful_trio,
    anyio=graceful_anyio,
    unicancel=graceful_unicancel,
)


async def forced_asyncio(t: Trace) -> None:
    stop, started = asyncio.Event(), asyncio.Event()
    forced = False

    async def worker() -> None:
        try:
            started.set()
            await asyncio.Event().wait()  # stuck: never looks at the stop flag
        except asyncio.CancelledError:
            t("worker cancelled by", "the forced cancel" if forced else "the grace wait")
            raise

    task = asyncio.create_task(worker())
    await started.wait()
    stop.set()
    try:
        await asyncio.wait_for(task, timeout=0.01)  # grace period
        t("worker stopped", "gracefully")
    except TimeoutError:
        forced = True
        task.cancel()
        t("worker stopped", "forced")


async def forced_trio(t: Trace) -> None:
    import trio

    stop, done = trio.Event(), trio.Event()
    forced = False

    async def worker(task_status: trio.TaskStatus[None]) -> None:
        task_status.started()
        try:
            await trio.sleep_forever()
        except trio.Cancelled:
            t("worker cancelled by", "the forced cancel" if forced else "the grace wait")
            raise
        finally:
            done.set()

    async with trio.open_nursery() as nursery:
        await nursery.start(worker)
        stop.set()
        with trio.move_on_after(0.01):
            await done.wait()
        if done.is_set():
            t("worker stopped", "gracefully")
        else:
            forced = True
            nursery.cancel_scope.cancel()
            t("worker stopped", "forced")


async def forced_anyio(t: Trace) -> None:
    import anyio
    from anyio.abc import TaskStatus

    stop, done = anyio.Event(), anyio.Event()
    forced = False

    async def worker(*, task_status: TaskStatus[None]) -> None:
        task_status.started()
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            t("worker cancelled by", "the forced cancel" if forced else "the grace wait")
            raise
        finally:
            done.set()

    async with anyio.create_task_group() as tg:
        await tg.start(worker)
        stop.set()
        with anyio.move_on_after(0.01):
            await done.wait()
        if done.is_set():
            t("worker stopped", "gracefully")
        else:
            forced = True
            tg.cancel_scope.cancel()
            t("worker stopped", "forced")


async def forced_unicancel(t: Trace, k: Kit) -> None:
    stop, done, started = unicancel.Event(), unicancel.Event(), unicancel.Event()
    workers = unicancel.CancelScope()
    forced = False

    async def worker() -> None:
        try:
            started.set()
            await k.sleep_forever()
        except unicancel.get_cancelled_exc_class():
            t("worker cancelled by", "the forced cancel" if forced else "the grace wait")
            raise
        finally:
            done.set()

    with workers:
        async with unicancel.TaskGroup() as tg:
            tg.start_soon(worker)
            await started.wait()
            stop.set()
            with unicancel.move_on_after(0.01):
                await done.wait()
            if done.is_set():
                t("worker stopped", "gracefully")
            else:
                forced = True
                workers.cancel()
                t("worker stopped", "forced")


STOP_FORCED = Scenario(
    name="stop-flag-forced",
    title="The same stop protocol with a worker that never looks at the flag",
    description=(
        "The grace period runs out. asyncio.wait_for(task, timeout) cancels the "
        "task itself when it times out, so the explicit cancel() after it comes "
        "too late to matter. A scope around the wait (trio, anyio, unicancel) "
        "only stops the waiting; the worker is cancelled by the forced cancel."
    ),
    covers=("S5", "S6"),
    headline="worker cancelled by",
    asyncio=forced_asyncio,
    trio=forced_trio,
    anyio=forced_anyio,
    unicancel=forced_unicancel,
)


SCENARIOS = (STOP_GRACEFUL, STOP_FORCED)
