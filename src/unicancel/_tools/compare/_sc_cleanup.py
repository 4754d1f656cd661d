"""Scenarios: cleanup that runs, and sometimes awaits, under cancellation."""

from __future__ import annotations

import asyncio

import unicancel

from ._kit import Kit
from ._model import Scenario, Trace

# -- await in finally -----------------------------------------------------------------


async def finally_asyncio(t: Trace) -> None:
    started = asyncio.Event()

    async def worker() -> None:
        try:
            started.set()
            await asyncio.Event().wait()
        finally:
            t("cleanup", "started")
            try:
                await asyncio.sleep(0)  # e.g. flush a buffer, say goodbye
                t("await in finally", "returned")
            except asyncio.CancelledError:
                t("await in finally", "Cancelled")
                raise

    task = asyncio.create_task(worker())
    await started.wait()
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        t.info("caller saw", "Cancelled")


async def finally_trio(t: Trace) -> None:
    import trio

    with trio.CancelScope() as scope:
        scope.cancel()
        try:
            await trio.sleep_forever()
        finally:
            t("cleanup", "started")
            try:
                await trio.lowlevel.checkpoint()
                t("await in finally", "returned")
            except trio.Cancelled:
                t("await in finally", "Cancelled")
                raise
    t.info("scope caught it", scope.cancelled_caught)


async def finally_anyio(t: Trace) -> None:
    import anyio

    with anyio.CancelScope() as scope:
        scope.cancel()
        try:
            await anyio.sleep_forever()
        finally:
            t("cleanup", "started")
            try:
                await anyio.lowlevel.checkpoint()
                t("await in finally", "returned")
            except anyio.get_cancelled_exc_class():
                t("await in finally", "Cancelled")
                raise
    t.info("scope caught it", scope.cancelled_caught)


async def finally_unicancel(t: Trace, k: Kit) -> None:
    with unicancel.CancelScope() as scope:
        scope.cancel()
        try:
            await k.sleep_forever()
        finally:
            t("cleanup", "started")
            try:
                await k.sleep(0)
                t("await in finally", "returned")
            except unicancel.get_cancelled_exc_class():
                t("await in finally", "Cancelled")
                raise
    t.info("scope caught it", scope.cancelled_caught)


AWAIT_IN_FINALLY = Scenario(
    name="await-in-finally",
    title="Cleanup in `finally:` awaits after a cancellation",
    description=(
        "Edge-triggered asyncio lets a `finally:` block await freely after the one "
        "CancelledError. Level-triggered systems cancel that await too: cleanup "
        "that must await needs a shield (next scenario)."
    ),
    covers=("cleanup", "level"),
    headline="await in finally",
    asyncio=finally_asyncio,
    trio=finally_trio,
    anyio=finally_anyio,
    unicancel=finally_unicancel,
)

# -- shield vs asyncio.shield -------------------------------------------------------


async def shield_asyncio(t: Trace) -> None:
    started, committing, gate, committed = (asyncio.Event() for _ in range(4))

    async def commit() -> None:
        committing.set()
        await gate.wait()  # the commit takes a while
        t("commit", "finished")
        committed.set()

    async def worker() -> None:
        try:
            started.set()
            await asyncio.Event().wait()
        finally:
            await asyncio.shield(commit())  # "the commit must not be interrupted"

    task = asyncio.create_task(worker())
    await started.wait()
    task.cancel()  # stop the worker: it commits in its finally block
    await committing.wait()
    task.cancel()  # an impatient second cancel, e.g. at shutdown
    await asyncio.sleep(0)
    t("worker ended before the commit finished", task.done())
    gate.set()
    await committed.wait()
    t("worker ended as", "cancelled" if task.cancelled() else "not cancelled")


async def shield_trio(t: Trace) -> None:
    import trio

    committing, gate = trio.Event(), trio.Event()
    worker_scope = trio.CancelScope()
    done = False

    async def commit() -> None:
        committing.set()
        await gate.wait()
        t("commit", "finished")

    async def worker(task_status: trio.TaskStatus[None]) -> None:
        nonlocal done
        with worker_scope:
            try:
                task_status.started()
                await trio.sleep_forever()
            finally:
                with trio.CancelScope(shield=True):
                    await commit()
        done = True
        t("worker ended as", "cancelled" if worker_scope.cancelled_caught else "not cancelled")

    async with trio.open_nursery() as nursery:
        await nursery.start(worker)
        worker_scope.cancel()
        await committing.wait()
        worker_scope.cancel()  # a second cancel: a no-op, the scope stays cancelled
        await trio.lowlevel.checkpoint()
        t("worker ended before the commit finished", done)
        gate.set()


async def shield_anyio(t: Trace) -> None:
    import anyio
    from anyio.abc import TaskStatus

    committing, gate = anyio.Event(), anyio.Event()
    worker_scope = anyio.CancelScope()
    done = False

    async def commit() -> None:
        committing.set()
        await gate.wait()
        t("commit", "finished")

    async def worker(*, task_status: TaskStatus[None]) -> None:
        nonlocal done
        with worker_scope:
            try:
                task_status.started()
                await anyio.sleep_forever()
            finally:
                with anyio.CancelScope(shield=True):
                    await commit()
        done = True
        t("worker ended as", "cancelled" if worker_scope.cancelled_caught else "not cancelled")

    async with anyio.create_task_group() as tg:
        await tg.start(worker)
        worker_scope.cancel()
        await committing.wait()
        worker_scope.cancel()
        await anyio.lowlevel.checkpoint()
        t("worker ended before the commit finished", done)
        gate.set()


async def shield_unicancel(t: Trace, k: Kit) -> None:
    started, committing, gate = unicancel.Event(), unicancel.Event(), unicancel.Event()
    worker_scope = unicancel.CancelScope()
    done = False

    async def commit() -> None:
        committing.set()
        await gate.wait()
        t("commit", "finished")

    async def worker() -> None:
        nonlocal done
        with worker_scope:
            try:
                started.set()
                await k.sleep_forever()
            finally:
                with unicancel.CancelScope(shield=True):
                    await commit()
        done = True
        t("worker ended as", "cancelled" if worker_scope.cancelled_caught else "not cancelled")

    async with unicancel.TaskGroup() as tg:
        tg.start_soon(worker)
        await started.wait()
        worker_scope.cancel()
        await committing.wait()
        worker_scope.cancel()
        await k.sleep(0)
        t("worker ended before the commit finished", done)
        gate.set()


SHIELD = Scenario(
    name="shield-vs-asyncio-shield",
    title="Commit in cleanup under a shield; a second cancel arrives meanwhile",
    description=(
        "asyncio.shield(aw) protects the awaited task, not the awaiting code: the "
        "second cancel makes the worker leave at once while the commit runs on, "
        "orphaned, in its own task (if the loop closes first, it never finishes). "
        "A scope shield (trio, anyio, unicancel) keeps the cancellation out of the "
        "block itself: the worker waits for the commit, then the cancellation "
        "resumes and its scope catches it."
    ),
    covers=("cleanup", "shield"),
    headline="worker ended before the commit finished",
    asyncio=shield_asyncio,
    trio=shield_trio,
    anyio=shield_anyio,
    unicancel=shield_unicancel,
)

SCENARIOS = (AWAIT_IN_FINALLY, SHIELD)
