"""Scenarios: cancellation meets errors inside task groups (ANCHORS traps 4, 8)."""

from __future__ import annotations

import asyncio

import unicancel

from ._kit import Kit
from ._model import Scenario, Trace

# -- errors win over cancellation ---------------------------------------------------------


async def errors_win_asyncio(t: Trace) -> None:
    started = asyncio.Event()
    loop = asyncio.get_running_loop()

    async def child() -> None:
        try:
            started.set()
            await asyncio.Event().wait()
        finally:
            raise ValueError("cleanup failed")

    try:
        async with asyncio.timeout(None) as cm:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(child())
                await started.wait()
                cm.reschedule(loop.time() - 1)  # expire it now (there is no cancel())
                await asyncio.Event().wait()
    except BaseException as exc:
        t("caller saw", exc)
    t.info("timeout expired()", cm.expired())
    t.info("cancelling() afterwards", asyncio.current_task().cancelling())  # type: ignore[union-attr]


async def errors_win_trio(t: Trace) -> None:
    import trio

    async def child(task_status: trio.TaskStatus[None]) -> None:
        try:
            task_status.started()
            await trio.sleep_forever()
        finally:
            raise ValueError("cleanup failed")

    try:
        with trio.CancelScope() as scope:
            async with trio.open_nursery() as nursery:
                await nursery.start(child)
                scope.cancel()
                await trio.sleep_forever()
    except BaseException as exc:
        t("caller saw", exc)
    t("scope caught the cancellation", scope.cancelled_caught)


async def errors_win_anyio(t: Trace) -> None:
    import anyio
    from anyio.abc import TaskStatus

    async def child(*, task_status: TaskStatus[None]) -> None:
        try:
            task_status.started()
            await anyio.sleep_forever()
        finally:
            raise ValueError("cleanup failed")

    try:
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as tg:
                await tg.start(child)
                scope.cancel()
                await anyio.sleep_forever()
    except BaseException as exc:
        t("caller saw", exc)
    t("scope caught the cancellation", scope.cancelled_caught)


async def errors_win_unicancel(t: Trace, k: Kit) -> None:
    started = unicancel.Event()

    async def child() -> None:
        try:
            started.set()
            await k.sleep_forever()
        finally:
            raise ValueError("cleanup failed")

    try:
        with unicancel.CancelScope() as scope:
            async with unicancel.TaskGroup() as tg:
                tg.start_soon(child)
                await started.wait()
                scope.cancel()
                await k.sleep_forever()
    except BaseException as exc:
        t("caller saw", exc)
    t("scope caught the cancellation", scope.cancelled_caught)


ERRORS_WIN = Scenario(
    name="group-errors-win",
    title="A cancelled scope around a task group whose child fails while cleaning up",
    description=(
        "asyncio.TaskGroup drops CancelledError when a child raised ('errors "
        "win'): the timeout around it sees an ExceptionGroup without a "
        "cancellation, does not raise TimeoutError, and must still balance its "
        "uncancel(). trio's nursery keeps Cancelled in the "
        "group and its scope catches that part. unicancel's TaskGroup lets "
        "only the errors out, on both backends."
    ),
    covers=("errors-win", "task-trees"),
    headline="caller saw",
    asyncio=errors_win_asyncio,
    trio=errors_win_trio,
    anyio=errors_win_anyio,
    unicancel=errors_win_unicancel,
)

# -- the lost cancellation (gh-116720) ------------------------------------------------------


async def lost_asyncio(t: Trace) -> None:
    started = asyncio.Event()

    async def child() -> None:
        try:
            started.set()
            await asyncio.Event().wait()
        finally:
            raise ValueError("cleanup failed")

    async def parent() -> None:
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(child())
                await asyncio.Event().wait()
        except* ValueError:
            t("parent caught", "the ValueError")
        try:
            await asyncio.sleep(0)
            t("parent's next await", "returned")
        except asyncio.CancelledError:
            t("parent's next await", "Cancelled")
            raise

    task = asyncio.create_task(parent())
    await started.wait()
    task.cancel()
    try:
        await task
        t("cancellation survived", False)
    except asyncio.CancelledError:
        t("cancellation survived", True)


async def lost_trio(t: Trace) -> None:
    import trio

    async def child(task_status: trio.TaskStatus[None]) -> None:
        try:
            task_status.started()
            await trio.sleep_forever()
        finally:
            raise ValueError("cleanup failed")

    with trio.CancelScope() as scope:
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(child)
                scope.cancel()
                await trio.sleep_forever()
        except* ValueError:
            t("parent caught", "the ValueError")
        try:
            await trio.lowlevel.checkpoint()
            t("parent's next await", "returned")
        except trio.Cancelled:
            t("parent's next await", "Cancelled")
            raise
    t("cancellation survived", scope.cancelled_caught)


async def lost_anyio(t: Trace) -> None:
    import anyio
    from anyio.abc import TaskStatus

    async def child(*, task_status: TaskStatus[None]) -> None:
        try:
            task_status.started()
            await anyio.sleep_forever()
        finally:
            raise ValueError("cleanup failed")

    with anyio.CancelScope() as scope:
        try:
            async with anyio.create_task_group() as tg:
                await tg.start(child)
                scope.cancel()
                await anyio.sleep_forever()
        except* ValueError:
            t("parent caught", "the ValueError")
        try:
            await anyio.lowlevel.checkpoint()
            t("parent's next await", "returned")
        except anyio.get_cancelled_exc_class():
            t("parent's next await", "Cancelled")
            raise
    t("cancellation survived", scope.cancelled_caught)


async def lost_unicancel(t: Trace, k: Kit) -> None:
    started = unicancel.Event()

    async def child() -> None:
        try:
            started.set()
            await k.sleep_forever()
        finally:
            raise ValueError("cleanup failed")

    with unicancel.CancelScope() as scope:
        try:
            async with unicancel.TaskGroup() as tg:
                tg.start_soon(child)
                await started.wait()
                scope.cancel()
                await k.sleep_forever()
        except* ValueError:
            t("parent caught", "the ValueError")
        try:
            await k.sleep(0)
            t("parent's next await", "returned")
        except unicancel.get_cancelled_exc_class():
            t("parent's next await", "Cancelled")
            raise
    t("cancellation survived", scope.cancelled_caught)


LOST_CANCEL = Scenario(
    name="group-errors-win-lost-cancel",
    title="The parent catches the group's error: is its own cancellation still there?",
    description=(
        "The parent of a task group is cancelled from outside while a child "
        "fails in its cleanup; the parent handles the ExceptionGroup (except*) "
        "and awaits again. Before Python 3.13 asyncio.TaskGroup lost the "
        "parent's cancellation here: the task carried on as if never cancelled "
        "(fixed in 3.13, gh-116720: the group re-cancels the parent). "
        "Level-triggered scopes cancel the next await in any case."
    ),
    covers=("errors-win", "task-trees"),
    headline="cancellation survived",
    asyncio=lost_asyncio,
    trio=lost_trio,
    anyio=lost_anyio,
    unicancel=lost_unicancel,
    python_dependent={
        "asyncio": "3.13 re-cancels the parent of a TaskGroup that raises (gh-116720)",
        "uvloop": "3.13 re-cancels the parent of a TaskGroup that raises (gh-116720)",
    },
)


SCENARIOS = (ERRORS_WIN, LOST_CANCEL)
