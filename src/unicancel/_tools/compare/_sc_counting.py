"""Scenarios: asyncio's cancel counting (ANCHORS traps 2, 3 and 5).

Each is a regression check: a library that counts its cancel() and
uncancel() calls wrongly shows up here as a swallowed or stray cancellation.
"""

from __future__ import annotations

import asyncio
import contextlib

import unicancel

from ._kit import Kit
from ._model import Scenario, Trace

# -- trap 2: two cancellations in one loop iteration ------------------------------------------


async def two_asyncio(t: Trace) -> None:
    blocked = asyncio.Event()

    async def worker() -> None:
        try:
            async with asyncio.timeout(0):  # the inner scope cancels...
                blocked.set()
                await asyncio.Event().wait()
        except BaseException as exc:
            t("inner block raised", exc)
            raise

    task = asyncio.create_task(worker())
    await blocked.wait()
    task.cancel()  # ...and, in the same iteration, someone cancels the task
    try:
        await task
        t("the outer cancel reached its target", False)
    except asyncio.CancelledError:
        t("the outer cancel reached its target", True)


async def two_trio(t: Trace) -> None:
    import trio

    with trio.CancelScope() as outer:
        try:
            with trio.CancelScope() as inner:
                inner.cancel()
                outer.cancel()  # same step: both scopes are cancelled
                await trio.sleep_forever()
        except BaseException as exc:
            t("inner block raised", exc)
            raise
    t("the outer cancel reached its target", outer.cancelled_caught)
    t.info("inner scope caught it", inner.cancelled_caught)


async def two_anyio(t: Trace) -> None:
    import anyio

    with anyio.CancelScope() as outer:
        try:
            with anyio.CancelScope() as inner:
                inner.cancel()
                outer.cancel()
                await anyio.sleep_forever()
        except BaseException as exc:
            t("inner block raised", exc)
            raise
    t("the outer cancel reached its target", outer.cancelled_caught)
    t.info("inner scope caught it", inner.cancelled_caught)


async def two_unicancel(t: Trace, k: Kit) -> None:
    with unicancel.CancelScope() as outer:
        try:
            with unicancel.CancelScope() as inner:
                inner.cancel()
                outer.cancel()
                await k.sleep_forever()
        except BaseException as exc:
            t("inner block raised", exc)
            raise
    t("the outer cancel reached its target", outer.cancelled_caught)
    t.info("inner scope caught it", inner.cancelled_caught)


TWO_CANCELS = Scenario(
    name="two-cancels-one-iteration",
    title="An inner scope and an outer canceller act in the same loop iteration",
    description=(
        "On asyncio both become Task.cancel() calls folded into one "
        "CancelledError. The inner scope must not swallow it as its own: it "
        "compares cancelling() with its entry value instead of reading the "
        "message (anyio #1214). asyncio: an inner "
        "asyncio.timeout(0) and a Task.cancel() from the parent; the others: "
        "two nested scopes."
    ),
    covers=("cancel-counting",),
    headline="the outer cancel reached its target",
    asyncio=two_asyncio,
    trio=two_trio,
    anyio=two_anyio,
    unicancel=two_unicancel,
)

# -- trap 2: the body swallows its scope's cancellation -------------------------------------


async def balance_asyncio(t: Trace) -> None:
    async with asyncio.timeout(0):
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            t("body", "swallowed its timeout's cancellation")
    t.info("cancelling() after the block", asyncio.current_task().cancelling())  # type: ignore[union-attr]
    try:
        async with asyncio.timeout(0.01):
            await asyncio.Event().wait()
    except TimeoutError as exc:
        t("a later timeout raised", exc)
    t("later timeout still works", t.get("a later timeout raised") is not None)


async def balance_trio(t: Trace) -> None:
    import trio

    with trio.move_on_after(0):
        try:
            await trio.sleep_forever()
        except trio.Cancelled:
            t("body", "swallowed its timeout's cancellation")
    try:
        with trio.fail_after(0.01):
            await trio.sleep_forever()
    except trio.TooSlowError as exc:
        t("a later timeout raised", exc)
    t("later timeout still works", t.get("a later timeout raised") is not None)


async def balance_anyio(t: Trace) -> None:
    import anyio

    with anyio.move_on_after(0):
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            t("body", "swallowed its timeout's cancellation")
    try:
        with anyio.fail_after(0.01):
            await anyio.sleep_forever()
    except TimeoutError as exc:
        t("a later timeout raised", exc)
    t("later timeout still works", t.get("a later timeout raised") is not None)


async def balance_unicancel(t: Trace, k: Kit) -> None:
    with unicancel.move_on_after(0):
        try:
            await k.sleep_forever()
        except unicancel.get_cancelled_exc_class():
            t("body", "swallowed its timeout's cancellation")
    try:
        with unicancel.fail_after(0.01):
            await k.sleep_forever()
    except TimeoutError as exc:
        t("a later timeout raised", exc)
    t("later timeout still works", t.get("a later timeout raised") is not None)


UNCANCEL_BALANCE = Scenario(
    name="uncancel-balance-after-swallow",
    title="A body swallows its timeout's cancellation; a later timeout in the same task",
    description=(
        "A scope must call uncancel() once per cancel() it issued even when the "
        "body swallowed the error, or the task's cancelling() count stays raised "
        "and later timeouts and task groups misread it."
    ),
    covers=("cancel-counting", "swallowed-cancel"),
    headline="later timeout still works",
    asyncio=balance_asyncio,
    trio=balance_trio,
    anyio=balance_anyio,
    unicancel=balance_unicancel,
)

# -- trap 3: a stray cancellation after cancel() + uncancel() ---------------------------------


async def stray_asyncio(t: Trace) -> None:
    task = asyncio.current_task()
    assert task is not None
    task.cancel()  # a library cancels the running task...
    task.uncancel()  # ...and takes it back in the same step
    t.info("cancelling()", task.cancelling())
    try:
        await asyncio.sleep(0)
        t("next await", "returned")
    except asyncio.CancelledError:
        t("next await", "stray Cancelled")


async def stray_trio(t: Trace) -> None:
    import trio

    with trio.CancelScope() as scope:  # noqa: ASYNC100 - no checkpoint, on purpose
        scope.cancel()  # cancelled, then left without a checkpoint
    try:
        await trio.lowlevel.checkpoint()
        t("next await", "returned")
    except trio.Cancelled:
        t("next await", "stray Cancelled")


async def stray_anyio(t: Trace) -> None:
    import anyio

    with anyio.CancelScope() as scope:  # noqa: ASYNC100 - no checkpoint, on purpose
        scope.cancel()
    try:
        await anyio.lowlevel.checkpoint()
        t("next await", "returned")
    except anyio.get_cancelled_exc_class():
        t("next await", "stray Cancelled")


async def stray_unicancel(t: Trace, k: Kit) -> None:
    with unicancel.CancelScope() as scope:
        scope.cancel()
    try:
        await k.sleep(0)
        t("next await", "returned")
    except unicancel.get_cancelled_exc_class():
        t("next await", "stray Cancelled")


STRAY = Scenario(
    name="stray-cancel-after-uncancel",
    title="A cancellation requested and withdrawn before the next await",
    description=(
        "On Python 3.11 and 3.12 Task.cancel() of the running task followed by "
        "uncancel() leaves _must_cancel set: the next, unrelated await raises a "
        "stray CancelledError (fixed in 3.13, gh-116720). The "
        "scope equivalent, a scope cancelled and exited without a checkpoint, "
        "leaves nothing behind on every system."
    ),
    covers=("stray-cancel",),
    headline="next await",
    asyncio=stray_asyncio,
    trio=stray_trio,
    anyio=stray_anyio,
    unicancel=stray_unicancel,
    python_dependent={
        "asyncio": "3.13 clears _must_cancel in uncancel() (gh-116720)",
        "uvloop": "3.13 clears _must_cancel in uncancel() (gh-116720)",
    },
)

# -- trap 5: cancels delivered to children are not the host's ------------------------------


async def children_asyncio(t: Trace) -> None:
    scope_done = asyncio.Event()
    loop = asyncio.get_running_loop()

    async def host() -> None:
        try:
            async with asyncio.timeout(None) as cm:
                async with asyncio.TaskGroup() as tg:
                    for _ in range(3):
                        tg.create_task(asyncio.Event().wait())
                    await asyncio.sleep(0)
                    cm.reschedule(loop.time() - 1)  # cancels the host; the group its children
                    await asyncio.Event().wait()
        except TimeoutError:
            t.info("scope around the group", "timed out")
        t.info("cancelling() after the scope", asyncio.current_task().cancelling())  # type: ignore[union-attr]
        scope_done.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            t("a later cancel of the host", "landed")
            raise

    task = asyncio.create_task(host())
    await scope_done.wait()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    t("later cancel still lands", t.get("a later cancel of the host") == "landed")


async def children_trio(t: Trace) -> None:
    import trio

    with trio.CancelScope() as outer:
        with trio.CancelScope() as scope:
            async with trio.open_nursery() as nursery:
                for _ in range(3):
                    nursery.start_soon(trio.sleep_forever)
                await trio.lowlevel.checkpoint()
                scope.cancel()  # delivered to the host and its three children
        t.info("scope around the group", "caught it" if scope.cancelled_caught else "did not catch")
        outer.cancel()
        try:
            await trio.sleep_forever()
        except trio.Cancelled:
            t("a later cancel of the host", "landed")
            raise
    t("later cancel still lands", outer.cancelled_caught)


async def children_anyio(t: Trace) -> None:
    import anyio

    with anyio.CancelScope() as outer:
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as tg:
                for _ in range(3):
                    tg.start_soon(anyio.sleep_forever)
                await anyio.lowlevel.checkpoint()
                scope.cancel()
        t.info("scope around the group", "caught it" if scope.cancelled_caught else "did not catch")
        outer.cancel()
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            t("a later cancel of the host", "landed")
            raise
    t("later cancel still lands", outer.cancelled_caught)


async def children_unicancel(t: Trace, k: Kit) -> None:
    with unicancel.CancelScope() as outer:
        with unicancel.CancelScope() as scope:
            async with unicancel.TaskGroup() as tg:
                for _ in range(3):
                    tg.start_soon(k.sleep_forever)
                await k.sleep(0)
                scope.cancel()
        t.info("scope around the group", "caught it" if scope.cancelled_caught else "did not catch")
        outer.cancel()
        try:
            await k.sleep_forever()
        except unicancel.get_cancelled_exc_class():
            t("a later cancel of the host", "landed")
            raise
    t("later cancel still lands", outer.cancelled_caught)


CHILD_CANCELS = Scenario(
    name="cross-task-cancel-not-counted",
    title="A scope cancels a group of three children; later the host is cancelled again",
    description=(
        "Cancellations delivered to the children must not be counted (and later "
        "uncancelled) against the host task, or the host's next, legitimate "
        "cancellation is swallowed (anyio #716)."
    ),
    covers=("cross-task-cancel", "cancel-counting"),
    headline="later cancel still lands",
    asyncio=children_asyncio,
    trio=children_trio,
    anyio=children_anyio,
    unicancel=children_unicancel,
)

SCENARIOS = (TWO_CANCELS, UNCANCEL_BALANCE, STRAY, CHILD_CANCELS)
