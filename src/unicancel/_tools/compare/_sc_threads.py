"""Scenarios: threads. A cancel requested from another thread; a cancel that
lands while the task waits for a blocking call in a worker thread."""

from __future__ import annotations

import asyncio
import contextlib
import threading

import unicancel

from ._kit import Kit
from ._model import Scenario, Trace

# -- cancel requested from another thread -------------------------------------------------


async def from_thread_asyncio(t: Trace) -> None:
    started = asyncio.Event()

    async def worker() -> None:
        try:
            started.set()
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            t("blocked await", "Cancelled")
            raise

    task = asyncio.create_task(worker())
    await started.wait()
    loop = asyncio.get_running_loop()
    thread = threading.Thread(target=lambda: loop.call_soon_threadsafe(task.cancel))
    thread.start()
    try:
        await task
    except asyncio.CancelledError:
        t("worker ended", "cancelled")
    await asyncio.to_thread(thread.join)


async def from_thread_trio(t: Trace) -> None:
    import trio

    token = trio.lowlevel.current_trio_token()
    with trio.CancelScope() as scope:
        thread = threading.Thread(
            target=lambda: trio.from_thread.run_sync(scope.cancel, trio_token=token)
        )
        thread.start()
        try:
            await trio.sleep_forever()
        except trio.Cancelled:
            t("blocked await", "Cancelled")
            raise
    t("worker ended", "cancelled" if scope.cancelled_caught else "normally")
    await trio.to_thread.run_sync(thread.join)


async def from_thread_anyio(t: Trace) -> None:
    import anyio
    import anyio.from_thread
    import anyio.lowlevel

    token = anyio.lowlevel.current_token()
    with anyio.CancelScope() as scope:
        thread = threading.Thread(
            target=lambda: anyio.from_thread.run_sync(scope.cancel, token=token)
        )
        thread.start()
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            t("blocked await", "Cancelled")
            raise
    t("worker ended", "cancelled" if scope.cancelled_caught else "normally")
    await anyio.to_thread.run_sync(thread.join)


async def from_thread_unicancel(t: Trace, k: Kit) -> None:
    call_in_loop = k.loop_caller()  # native: call_soon_threadsafe / trio.from_thread
    with unicancel.CancelScope() as scope:
        thread = threading.Thread(target=lambda: call_in_loop(scope.cancel))
        thread.start()
        try:
            await k.sleep_forever()
        except unicancel.get_cancelled_exc_class():
            t("blocked await", "Cancelled")
            raise
    t("worker ended", "cancelled" if scope.cancelled_caught else "normally")
    await unicancel.to_thread(thread.join)


FROM_THREAD = Scenario(
    name="cancel-from-thread",
    title="Another OS thread asks for the cancellation of a blocked task",
    description=(
        "Cancelling is not thread-safe anywhere: the other thread hands the "
        "cancel() call to the event loop (asyncio: loop.call_soon_threadsafe; "
        "trio: trio.from_thread.run_sync with a TrioToken; anyio: "
        "from_thread.run_sync with an EventLoopToken). unicancel's cancel() must "
        "also run in the loop's thread and has no helper yet: its variant uses "
        "the backend's own hand-off through the kit."
    ),
    covers=("threads",),
    headline="blocked await",
    asyncio=from_thread_asyncio,
    trio=from_thread_trio,
    anyio=from_thread_anyio,
    unicancel=from_thread_unicancel,
)

# -- cancel while waiting for a blocking call in a thread -----------------------------------


def _blocking(entered: threading.Event, gate: threading.Event) -> str:
    entered.set()
    gate.wait(5)  # bounded, so a failing run cannot leave the thread behind
    return "a result"


async def thread_call_asyncio(t: Trace) -> None:
    entered, gate = threading.Event(), threading.Event()

    async def worker() -> None:
        try:
            t("thread call returned", await asyncio.to_thread(_blocking, entered, gate))
            await asyncio.sleep(0)
        except asyncio.CancelledError:
            t("worker saw", "Cancelled")
            raise

    task = asyncio.create_task(worker())
    await asyncio.to_thread(entered.wait, 5)
    task.cancel()
    for _ in range(5):
        await asyncio.sleep(0)
    early = task.done()
    gate.set()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    t("cancel landed", "immediately" if early else "after the thread")


async def thread_call_trio(t: Trace) -> None:
    import trio

    entered, gate = threading.Event(), threading.Event()
    scope = trio.CancelScope()
    done = False

    async def worker() -> None:
        nonlocal done
        with scope:
            try:
                t("thread call returned", await trio.to_thread.run_sync(_blocking, entered, gate))
                await trio.lowlevel.checkpoint()
            except trio.Cancelled:
                t("worker saw", "Cancelled")
                raise
        done = True

    async with trio.open_nursery() as nursery:
        nursery.start_soon(worker)
        await trio.to_thread.run_sync(entered.wait, 5)
        scope.cancel()
        for _ in range(5):
            await trio.lowlevel.checkpoint()
        early = done
        gate.set()
    t("cancel landed", "immediately" if early else "after the thread")


async def thread_call_anyio(t: Trace) -> None:
    import anyio

    entered, gate = threading.Event(), threading.Event()
    scope = anyio.CancelScope()
    done = False

    async def worker() -> None:
        nonlocal done
        with scope:
            try:
                t("thread call returned", await anyio.to_thread.run_sync(_blocking, entered, gate))
                await anyio.lowlevel.checkpoint()
            except anyio.get_cancelled_exc_class():
                t("worker saw", "Cancelled")
                raise
        done = True

    async with anyio.create_task_group() as tg:
        tg.start_soon(worker)
        await anyio.to_thread.run_sync(entered.wait, 5)
        scope.cancel()
        for _ in range(5):
            await anyio.lowlevel.checkpoint()
        early = done
        gate.set()
    t("cancel landed", "immediately" if early else "after the thread")


async def thread_call_unicancel(t: Trace, k: Kit) -> None:
    entered, gate = threading.Event(), threading.Event()
    scope = unicancel.CancelScope()
    done = False

    async def worker() -> None:
        nonlocal done
        with scope:
            try:
                t("thread call returned", await unicancel.to_thread(_blocking, entered, gate))
                await k.sleep(0)
            except unicancel.get_cancelled_exc_class():
                t("worker saw", "Cancelled")
                raise
        done = True

    async with unicancel.TaskGroup() as tg:
        tg.start_soon(worker)
        await unicancel.to_thread(entered.wait, 5)
        scope.cancel()
        for _ in range(5):
            await k.sleep(0)
        early = done
        gate.set()
    t("cancel landed", "immediately" if early else "after the thread")


THREAD_CALL = Scenario(
    name="cancel-during-thread-call",
    title="Cancel a task while it waits for a blocking function in a worker thread",
    description=(
        "A thread cannot be interrupted. asyncio.to_thread gives up waiting at "
        "once and leaves the thread running, unobserved; trio's and anyio's "
        "to_thread.run_sync ignore the cancellation until the thread returns "
        "(unless abandon_on_cancel=True), then the next checkpoint raises. "
        "unicancel.to_thread has trio's semantics on both backends (on asyncio "
        "the wait for the default executor's thread is shielded)."
    ),
    covers=("task-state", "threads"),
    headline="cancel landed",
    asyncio=thread_call_asyncio,
    trio=thread_call_trio,
    anyio=thread_call_anyio,
    unicancel=thread_call_unicancel,
)

SCENARIOS = (FROM_THREAD, THREAD_CALL)
