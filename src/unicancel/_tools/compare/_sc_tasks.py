"""Scenarios: cancelling tasks, twice, too late, or while they compute."""

from __future__ import annotations

import asyncio

import unicancel

from ._kit import Kit
from ._model import Scenario, Trace

# -- a swallowed cancel -------------------------------------------------------------


async def swallow_asyncio(t: Trace) -> None:
    started = asyncio.Event()

    async def worker() -> None:
        started.set()
        for n in (1, 2, 3):  # a work loop that "survives" errors
            try:
                await asyncio.sleep(0)  # one unit of work
            except asyncio.CancelledError:
                t(f"iteration {n}", "swallowed a cancellation")
                continue
            t(f"iteration {n}", "worked")
        t("worker", "finished its loop")

    task = asyncio.create_task(worker())
    await started.wait()
    task.cancel()
    await task
    t("caller saw", "cancelled" if task.cancelled() else "a normal return")
    t("cancellations swallowed", f"{sum('swallowed' in e[1] for e in t.entries)} of 3")


async def swallow_trio(t: Trace) -> None:
    import trio

    scope = trio.CancelScope()

    async def worker() -> None:
        with scope:
            for n in (1, 2, 3):
                try:
                    await trio.lowlevel.checkpoint()
                except trio.Cancelled:
                    t(f"iteration {n}", "swallowed a cancellation")
                    continue
                t(f"iteration {n}", "worked")
            t("worker", "finished its loop")
        t("caller saw", "cancelled" if scope.cancelled_caught else "a normal return")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(worker)
        scope.cancel()  # before the worker runs: it enters a cancelled scope
    t("cancellations swallowed", f"{sum('swallowed' in e[1] for e in t.entries)} of 3")


async def swallow_anyio(t: Trace) -> None:
    import anyio

    scope = anyio.CancelScope()

    async def worker() -> None:
        with scope:
            for n in (1, 2, 3):
                try:
                    await anyio.lowlevel.checkpoint()
                except anyio.get_cancelled_exc_class():
                    t(f"iteration {n}", "swallowed a cancellation")
                    continue
                t(f"iteration {n}", "worked")
            t("worker", "finished its loop")
        t("caller saw", "cancelled" if scope.cancelled_caught else "a normal return")

    async with anyio.create_task_group() as tg:
        tg.start_soon(worker)
        scope.cancel()  # before the worker runs: it enters a cancelled scope
    t("cancellations swallowed", f"{sum('swallowed' in e[1] for e in t.entries)} of 3")


async def swallow_unicancel(t: Trace, k: Kit) -> None:
    scope = unicancel.CancelScope()

    async def worker() -> None:
        with scope:
            for n in (1, 2, 3):
                try:
                    await k.sleep(0)
                except unicancel.get_cancelled_exc_class():
                    t(f"iteration {n}", "swallowed a cancellation")
                    continue
                t(f"iteration {n}", "worked")
            t("worker", "finished its loop")
        t("caller saw", "cancelled" if scope.cancelled_caught else "a normal return")

    async with unicancel.TaskGroup() as tg:
        tg.start_soon(worker)
        scope.cancel()  # before the worker runs: it enters a cancelled scope
    t("cancellations swallowed", f"{sum('swallowed' in e[1] for e in t.entries)} of 3")


SWALLOWED_CANCEL = Scenario(
    name="swallowed-cancel",
    title="A work loop swallows CancelledError (`except CancelledError: continue`)",
    description=(
        "On asyncio the one cancellation is swallowed and the worker carries on as "
        "if it had never been cancelled: the caller sees a normal return (with a "
        "blocking await instead of sleep(0) it would wait forever). "
        "Level-triggered systems raise again at every await of the loop, so the "
        "worker cannot make progress inside the cancelled scope."
    ),
    covers=("swallowed-cancel", "level"),
    headline="cancellations swallowed",
    asyncio=swallow_asyncio,
    trio=swallow_trio,
    anyio=swallow_anyio,
    unicancel=swallow_unicancel,
)

# -- double cancel ------------------------------------------------------------------


async def double_asyncio(t: Trace) -> None:
    async def worker() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError as exc:
            t("reason the worker saw", exc.args[0] if exc.args else None)
            t.info("cancelling()", asyncio.current_task().cancelling())  # type: ignore[union-attr]
            try:
                await asyncio.sleep(0)
                t("next await", "returned")
            except asyncio.CancelledError:
                t("next await", "Cancelled")
            raise

    task = asyncio.create_task(worker())
    await asyncio.sleep(0)
    t.info("first cancel() returned", task.cancel("first"))
    t.info("second cancel() returned", task.cancel("second"))
    try:
        await task
    except asyncio.CancelledError:
        t.info("caller saw", "Cancelled")


async def double_trio(t: Trace) -> None:
    import trio

    with trio.CancelScope() as scope:
        scope.cancel(reason="first")
        scope.cancel(reason="second")
        try:
            await trio.sleep_forever()
        except trio.Cancelled as exc:
            t("reason the worker saw", exc.reason)
            try:
                await trio.lowlevel.checkpoint()
                t("next await", "returned")
            except trio.Cancelled:
                t("next await", "Cancelled")
            raise
    t.info("scope caught it", scope.cancelled_caught)


async def double_anyio(t: Trace) -> None:
    import anyio

    with anyio.CancelScope() as scope:
        scope.cancel(reason="first")
        scope.cancel(reason="second")
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class() as exc:
            # anyio puts the reason into the message text on asyncio, and
            # into trio.Cancelled.reason on trio.
            text = f"{exc} {getattr(exc, 'reason', '')}"
            t("reason the worker saw", next((r for r in ("first", "second") if r in text), None))
            try:
                await anyio.lowlevel.checkpoint()
                t("next await", "returned")
            except anyio.get_cancelled_exc_class():
                t("next await", "Cancelled")
            raise
    t.info("scope caught it", scope.cancelled_caught)


async def double_unicancel(t: Trace, k: Kit) -> None:
    with unicancel.CancelScope() as scope:
        scope.cancel("first")
        scope.cancel("second")
        try:
            await k.sleep_forever()
        except unicancel.get_cancelled_exc_class():
            t("reason the worker saw", scope.cancel_reason)
            try:
                await k.sleep(0)
                t("next await", "returned")
            except unicancel.get_cancelled_exc_class():
                t("next await", "Cancelled")
            raise
    t.info("scope caught it", scope.cancelled_caught)


DOUBLE_CANCEL = Scenario(
    name="double-cancel",
    title="Cancel twice, with two different reasons",
    description=(
        "Two Task.cancel() calls before the task runs fold into one "
        "CancelledError carrying the first message, while cancelling() counts 2 "
        "(so never recognise a cancellation by its message). "
        "Scopes are idempotent: the first cancel() decides the reason."
    ),
    covers=("task-state", "cancel-counting"),
    headline="reason the worker saw",
    asyncio=double_asyncio,
    trio=double_trio,
    anyio=double_anyio,
    unicancel=double_unicancel,
)

# -- cancel after done ----------------------------------------------------------------------


async def finished_asyncio(t: Trace) -> None:
    async def job() -> int:
        return 42

    task = asyncio.create_task(job())
    await task
    t.info("cancel() of the finished task returned", task.cancel())
    t.info("cancelled() / result()", f"{task.cancelled()} / {task.result()}")
    other = asyncio.create_task(asyncio.Event().wait())
    await asyncio.sleep(0)
    other.cancel()
    try:
        await other
    except asyncio.CancelledError:
        t.info("awaiting a cancelled task", "Cancelled")
    try:
        other.exception()
    except asyncio.CancelledError:
        t.info("exception() of a cancelled task", "raises Cancelled")
    await asyncio.sleep(0)
    t("next await", "returned")
    t("cancel after finish", "no effect" if task.result() == 42 else "changed the result")


async def finished_trio(t: Trace) -> None:
    import trio

    with trio.CancelScope() as scope:
        await trio.lowlevel.checkpoint()
    scope.cancel()  # the block has finished: nothing is left to cancel
    t.info("cancel_called / cancelled_caught", f"{scope.cancel_called} / {scope.cancelled_caught}")
    await trio.lowlevel.checkpoint()
    t("next await", "returned")
    t("cancel after finish", "no effect")


async def finished_anyio(t: Trace) -> None:
    import anyio

    with anyio.CancelScope() as scope:
        await anyio.lowlevel.checkpoint()
    scope.cancel()
    t.info("cancel_called / cancelled_caught", f"{scope.cancel_called} / {scope.cancelled_caught}")
    await anyio.lowlevel.checkpoint()
    t("next await", "returned")
    t("cancel after finish", "no effect")


async def finished_unicancel(t: Trace, k: Kit) -> None:
    with unicancel.CancelScope() as scope:
        await unicancel.checkpoint()
    scope.cancel()
    t.info("cancel_called / cancelled_caught", f"{scope.cancel_called} / {scope.cancelled_caught}")
    await k.sleep(0)
    t("next await", "returned")
    t("cancel after finish", "no effect")


CANCEL_FINISHED = Scenario(
    name="cancel-finished-task",
    title="Cancel something that has already finished",
    description=(
        "Task.cancel() on a finished task returns False and changes nothing; "
        "awaiting a task that was cancelled raises at once, and its exception() "
        "raises CancelledError too. Cancelling a scope whose block has exited "
        "records cancel_called and nothing else."
    ),
    covers=("task-state",),
    headline="cancel after finish",
    asyncio=finished_asyncio,
    trio=finished_trio,
    anyio=finished_anyio,
    unicancel=finished_unicancel,
)

SCENARIOS = (SWALLOWED_CANCEL, DOUBLE_CANCEL, CANCEL_FINISHED)
