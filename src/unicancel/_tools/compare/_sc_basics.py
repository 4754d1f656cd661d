"""Scenarios: what a cancellation does to the code it lands in."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import unicancel

from ._kit import Kit
from ._model import Scenario, Trace

# -- edge vs level triggering -------------------------------------------------


async def edge_asyncio(t: Trace) -> None:
    started = asyncio.Event()

    async def attempt(n: int, wait: Callable[[], Awaitable[object]]) -> None:
        try:
            await wait()
            t(f"await {n}", "returned")
        except asyncio.CancelledError:
            t(f"await {n}", "Cancelled")

    async def worker() -> None:
        started.set()
        await attempt(1, asyncio.Event().wait)  # blocked here when cancelled
        await attempt(2, lambda: asyncio.sleep(0))
        await attempt(3, lambda: asyncio.sleep(0))

    task = asyncio.create_task(worker())
    await started.wait()
    task.cancel()
    await task
    t("worker ended", "cancelled" if task.cancelled() else "normally")
    t("awaits that raised", f"{sum(e[1] == 'Cancelled' for e in t.entries)} of 3")


async def edge_trio(t: Trace) -> None:
    import trio

    async def attempt(n: int, wait: Callable[[], Awaitable[object]]) -> None:
        try:
            await wait()
            t(f"await {n}", "returned")
        except trio.Cancelled:
            t(f"await {n}", "Cancelled")

    scope = trio.CancelScope()

    async def worker(task_status: trio.TaskStatus[None]) -> None:
        with scope:
            task_status.started()
            await attempt(1, trio.sleep_forever)
            await attempt(2, trio.lowlevel.checkpoint)
            await attempt(3, trio.lowlevel.checkpoint)
        t("worker ended", "cancelled" if scope.cancelled_caught else "normally")

    async with trio.open_nursery() as nursery:
        await nursery.start(worker)
        scope.cancel()
    t("awaits that raised", f"{sum(e[1] == 'Cancelled' for e in t.entries)} of 3")


async def edge_anyio(t: Trace) -> None:
    import anyio
    from anyio.abc import TaskStatus

    async def attempt(n: int, wait: Callable[[], Awaitable[object]]) -> None:
        try:
            await wait()
            t(f"await {n}", "returned")
        except anyio.get_cancelled_exc_class():
            t(f"await {n}", "Cancelled")

    scope = anyio.CancelScope()

    async def worker(*, task_status: TaskStatus[None]) -> None:
        with scope:
            task_status.started()
            await attempt(1, anyio.sleep_forever)
            await attempt(2, anyio.lowlevel.checkpoint)
            await attempt(3, anyio.lowlevel.checkpoint)
        t("worker ended", "cancelled" if scope.cancelled_caught else "normally")

    async with anyio.create_task_group() as tg:
        await tg.start(worker)
        scope.cancel()
    t("awaits that raised", f"{sum(e[1] == 'Cancelled' for e in t.entries)} of 3")


async def edge_unicancel(t: Trace, k: Kit) -> None:
    cancelled = unicancel.get_cancelled_exc_class()

    async def attempt(n: int, wait: Callable[[], Awaitable[object]]) -> None:
        try:
            await wait()
            t(f"await {n}", "returned")
        except cancelled:
            t(f"await {n}", "Cancelled")

    scope = unicancel.CancelScope()
    started = unicancel.Event()

    async def worker() -> None:
        with scope:
            started.set()
            await attempt(1, k.sleep_forever)
            await attempt(2, lambda: k.sleep(0))
            await attempt(3, lambda: k.sleep(0))
        t("worker ended", "cancelled" if scope.cancelled_caught else "normally")

    async with unicancel.TaskGroup() as tg:
        tg.start_soon(worker)
        await started.wait()
        scope.cancel()
    t("awaits that raised", f"{sum(e[1] == 'Cancelled' for e in t.entries)} of 3")


EDGE_VS_LEVEL = Scenario(
    name="edge-vs-level",
    title="A cancelled worker catches the cancellation and awaits twice more",
    description=(
        "Edge-triggered (asyncio): Task.cancel() raises CancelledError once, at the "
        "await the task is blocked in; later awaits run normally. Level-triggered "
        "(trio, anyio, unicancel): every await inside the cancelled scope raises "
        "until the scope is left. The worker swallows each cancellation here only "
        "to show the next await; real code re-raises."
    ),
    covers=("swallowed-cancel", "level"),
    headline="awaits that raised",
    asyncio=edge_asyncio,
    trio=edge_trio,
    anyio=edge_anyio,
    unicancel=edge_unicancel,
)

# -- cancel before entering -----------------------------------------------------


async def before_asyncio(t: Trace) -> None:
    async def worker() -> None:
        t("code before the first await", "ran")
        await asyncio.sleep(0)
        t("first await", "returned")

    task = asyncio.create_task(worker())
    task.cancel()  # before the task had a chance to start
    try:
        await task
    except asyncio.CancelledError:
        t.info("awaiting the task", "Cancelled")
    if t.get("code before the first await") is None:
        t("code before the first await", "never ran")


async def before_trio(t: Trace) -> None:
    import trio

    scope = trio.CancelScope()
    scope.cancel()
    with scope:
        t("code before the first await", "ran")
        try:
            await trio.lowlevel.checkpoint()
            t("first await", "returned")
        except trio.Cancelled:
            t("first await", "Cancelled")
            raise
    t.info("scope caught it", scope.cancelled_caught)


async def before_anyio(t: Trace) -> None:
    import anyio

    scope = anyio.CancelScope()
    scope.cancel()
    with scope:
        t("code before the first await", "ran")
        try:
            await anyio.lowlevel.checkpoint()
            t("first await", "returned")
        except anyio.get_cancelled_exc_class():
            t("first await", "Cancelled")
            raise
    t.info("scope caught it", scope.cancelled_caught)


async def before_unicancel(t: Trace, k: Kit) -> None:
    scope = unicancel.CancelScope()
    scope.cancel()
    with scope:
        t("code before the first await", "ran")
        try:
            await k.sleep(0)
            t("first await", "returned")
        except unicancel.get_cancelled_exc_class():
            t("first await", "Cancelled")
            raise
    t.info("scope caught it", scope.cancelled_caught)


CANCEL_BEFORE_ENTERING = Scenario(
    name="cancel-before-entering",
    title="Cancel a block before it starts",
    description=(
        "trio, anyio and unicancel scopes can be cancelled before they are entered: "
        "the body runs up to its first await, which raises. asyncio has no such "
        "scope (asyncio.timeout cannot be cancelled before entry); the asyncio "
        "idiom is to cancel a task before it first runs, and then none of its "
        "code runs at all, not even a try/finally."
    ),
    covers=("task-state",),
    headline="code before the first await",
    asyncio=before_asyncio,
    trio=before_trio,
    anyio=before_anyio,
    unicancel=before_unicancel,
)

# -- except Exception -------------------------------------------------------------


async def broad_asyncio(t: Trace) -> None:
    async def worker() -> None:
        try:
            await asyncio.Event().wait()
        except Exception:  # "catch everything"
            t("except Exception caught it", True)
        t("worker went on", True)

    task = asyncio.create_task(worker())
    await asyncio.sleep(0)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError as exc:
        t("caller saw", exc)
        t("is an Exception", isinstance(exc, Exception))
    if t.get("except Exception caught it") is None:
        t("except Exception caught it", False)


async def broad_trio(t: Trace) -> None:
    import trio

    with trio.CancelScope() as scope:
        scope.cancel()
        try:
            try:
                await trio.sleep_forever()
            except Exception:
                t("except Exception caught it", True)
            t("worker went on", True)
        except trio.Cancelled as exc:
            t("caller saw", exc)
            t("is an Exception", isinstance(exc, Exception))
            raise
    if t.get("except Exception caught it") is None:
        t("except Exception caught it", False)


async def broad_anyio(t: Trace) -> None:
    import anyio

    with anyio.CancelScope() as scope:
        scope.cancel()
        try:
            try:
                await anyio.sleep_forever()
            except Exception:
                t("except Exception caught it", True)
            t("worker went on", True)
        except anyio.get_cancelled_exc_class() as exc:
            t("caller saw", exc)
            t("is an Exception", isinstance(exc, Exception))
            raise
    if t.get("except Exception caught it") is None:
        t("except Exception caught it", False)


async def broad_unicancel(t: Trace, k: Kit) -> None:
    with unicancel.CancelScope() as scope:
        scope.cancel()
        try:
            try:
                await k.sleep_forever()
            except Exception:
                t("except Exception caught it", True)
            t("worker went on", True)
        except unicancel.get_cancelled_exc_class() as exc:
            t("caller saw", exc)
            t("is an Exception", isinstance(exc, Exception))
            raise
    if t.get("except Exception caught it") is None:
        t("except Exception caught it", False)


EXCEPT_EXCEPTION = Scenario(
    name="except-exception",
    title="except Exception around a cancelled await",
    description=(
        "The cancelled exception derives from BaseException on every system "
        "(asyncio.CancelledError since Python 3.8, trio.Cancelled always), so a "
        "broad `except Exception:` does not swallow it. Articles that say "
        "otherwise describe Python 3.7."
    ),
    covers=("swallowed-cancel",),
    headline="except Exception caught it",
    asyncio=broad_asyncio,
    trio=broad_trio,
    anyio=broad_anyio,
    unicancel=broad_unicancel,
)


SCENARIOS = (EDGE_VS_LEVEL, CANCEL_BEFORE_ENTERING, EXCEPT_EXCEPTION)
