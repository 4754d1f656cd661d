"""Scenarios: what leaves a task group, and library scopes around the event
loop's own task groups (ANCHORS traps 4 and 8)."""

from __future__ import annotations

import asyncio

import unicancel

from ._kit import Kit
from ._model import Scenario, Trace
from ._sc_group_errors import lost_asyncio, lost_trio

# -- library scopes around native groups ----------------------------------------


async def lost_native_anyio(t: Trace) -> None:
    import anyio
    import sniffio

    started = anyio.Event()

    async def child() -> None:
        try:
            started.set()
            await anyio.sleep_forever()
        finally:
            raise ValueError("cleanup failed")

    with anyio.CancelScope() as scope:
        try:
            # Application code below the anyio library uses the loop's own group.
            if sniffio.current_async_library() == "asyncio":
                async with asyncio.TaskGroup() as tg:
                    tg.create_task(child())
                    await started.wait()
                    scope.cancel()
                    await anyio.sleep_forever()
            else:
                import trio

                async with trio.open_nursery() as nursery:
                    nursery.start_soon(child)
                    await started.wait()
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


async def lost_native_unicancel(t: Trace, k: Kit) -> None:
    started = unicancel.Event()

    async def child() -> None:
        try:
            started.set()
            await k.sleep_forever()
        finally:
            raise ValueError("cleanup failed")

    with unicancel.CancelScope() as scope:
        try:
            async with k.task_group() as tg:  # the backend's own group
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


LOST_CANCEL_NATIVE = Scenario(
    name="lost-cancel-native-group",
    title="The same, with an anyio or unicancel scope around the loop's own task group",
    description=(
        "Library scopes around application code that uses asyncio.TaskGroup or "
        "a trio nursery (plain asyncio and trio run the code of "
        "group-errors-win-lost-cancel). The scope is still cancelled after the "
        "group raised, so the cancellation must survive: trio's nursery keeps "
        "Cancelled in the group, which except* re-raises at once; "
        "asyncio.TaskGroup drops it (errors win) and the scope raises it at the "
        "next await. unicancel's two columns differ only in that: the native "
        "group builds its ExceptionGroup before any scope code runs. "
        "unicancel.TaskGroup builds the same group on both backends "
        "(group-errors-win-lost-cancel)."
    ),
    covers=("errors-win", "cancel-leaving-group"),
    headline="cancellation survived",
    asyncio=lost_asyncio,
    trio=lost_trio,
    anyio=lost_native_anyio,
    unicancel=lost_native_unicancel,
    native="the backend's own task group (asyncio.TaskGroup / trio nursery)",
    python_dependent={
        "asyncio": "3.13 re-cancels the parent of a TaskGroup that raises (gh-116720)",
        "uvloop": "3.13 re-cancels the parent of a TaskGroup that raises (gh-116720)",
        "anyio-asyncio": "on 3.13 the group's own re-cancel escapes anyio's scope",
    },
)


# -- what leaves a cancelled task group --------------------------------------------------


async def leaving_asyncio(t: Trace) -> None:
    started = asyncio.Event()

    async def child() -> None:
        started.set()
        await asyncio.Event().wait()

    async def parent() -> None:
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(child())
                await asyncio.Event().wait()
        except asyncio.CancelledError as exc:
            t("left the group", exc)
            t("except Cancelled around the group", "caught it")
            raise
        except BaseException as exc:
            t("left the group", exc)
            t("except Cancelled around the group", "missed it")
            raise

    task = asyncio.create_task(parent())
    await started.wait()
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        t.info("caller saw", "Cancelled")


async def leaving_trio(t: Trace) -> None:
    import trio

    with trio.CancelScope() as scope:
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(trio.sleep_forever)
                await trio.lowlevel.checkpoint()
                scope.cancel()
                await trio.sleep_forever()
        except trio.Cancelled as exc:
            t("left the group", exc)
            t("except Cancelled around the group", "caught it")
            raise
        except BaseException as exc:
            t("left the group", exc)
            t("except Cancelled around the group", "missed it")
            raise
    t.info("scope caught it", scope.cancelled_caught)


async def leaving_anyio(t: Trace) -> None:
    import anyio

    with anyio.CancelScope() as scope:
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(anyio.sleep_forever)
                await anyio.lowlevel.checkpoint()
                scope.cancel()
                await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class() as exc:
            t("left the group", exc)
            t("except Cancelled around the group", "caught it")
            raise
        except BaseException as exc:
            t("left the group", exc)
            t("except Cancelled around the group", "missed it")
            raise
    t.info("scope caught it", scope.cancelled_caught)


async def leaving_unicancel(t: Trace, k: Kit) -> None:
    started = unicancel.Event()

    async def child() -> None:
        started.set()
        await k.sleep_forever()

    with unicancel.CancelScope() as scope:
        try:
            async with unicancel.TaskGroup() as tg:
                tg.start_soon(child)
                await started.wait()
                scope.cancel()
                await k.sleep_forever()
        except unicancel.get_cancelled_exc_class() as exc:
            t("left the group", exc)
            t("except Cancelled around the group", "caught it")
            raise
        except BaseException as exc:
            t("left the group", exc)
            t("except Cancelled around the group", "missed it")
            raise
    t.info("scope caught it", scope.cancelled_caught)


LEAVING_GROUP = Scenario(
    name="cancel-leaving-group",
    title="What leaves a task group whose children were cancelled from outside",
    description=(
        "asyncio.TaskGroup and anyio's task group hand out a bare cancelled "
        "exception; a trio nursery raises an ExceptionGroup of Cancelled, which "
        "`except trio.Cancelled` around it does not catch. The "
        "enclosing scope catches it either way. unicancel's TaskGroup lets the "
        "bare cancelled exception out on both backends."
    ),
    covers=("cancel-leaving-group", "task-trees"),
    headline="except Cancelled around the group",
    asyncio=leaving_asyncio,
    trio=leaving_trio,
    anyio=leaving_anyio,
    unicancel=leaving_unicancel,
)


SCENARIOS = (LOST_CANCEL_NATIVE, LEAVING_GROUP)
