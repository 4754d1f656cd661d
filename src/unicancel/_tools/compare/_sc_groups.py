"""Scenarios: task trees. Bare tasks, task groups/nurseries, gather."""

from __future__ import annotations

import asyncio

import unicancel

from ._kit import Kit
from ._model import Scenario, Trace

# -- a bare child task outlives its parent -------------------------------------------------


async def orphan_asyncio(t: Trace) -> None:
    started, release = asyncio.Event(), asyncio.Event()
    children: list[asyncio.Task[None]] = []

    async def child() -> None:
        started.set()
        await release.wait()
        t("child", "finished its work")

    async def parent() -> None:
        children.append(asyncio.create_task(child()))  # a bare task: nobody owns it
        await asyncio.Event().wait()

    task = asyncio.create_task(parent())
    await started.wait()
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        t("parent", "Cancelled")
    t("child survived its parent's cancel", not children[0].done())
    release.set()
    await children[0]


async def orphan_trio(t: Trace) -> None:
    import trio

    release = trio.Event()

    async def child(task_status: trio.TaskStatus[None]) -> None:
        task_status.started()
        try:
            await release.wait()
            t("child", "finished its work")
        except trio.Cancelled:
            t("child", "Cancelled")
            raise

    with trio.CancelScope() as parent:
        async with trio.open_nursery() as nursery:  # the only way to start a task
            await nursery.start(child)
            parent.cancel()
    t("parent", "Cancelled" if parent.cancelled_caught else "finished")
    t("child survived its parent's cancel", t.get("child") is None)


async def orphan_anyio(t: Trace) -> None:
    import anyio
    from anyio.abc import TaskStatus

    release = anyio.Event()

    async def child(*, task_status: TaskStatus[None]) -> None:
        task_status.started()
        try:
            await release.wait()
            t("child", "finished its work")
        except anyio.get_cancelled_exc_class():
            t("child", "Cancelled")
            raise

    with anyio.CancelScope() as parent:
        async with anyio.create_task_group() as tg:
            await tg.start(child)
            parent.cancel()
    t("parent", "Cancelled" if parent.cancelled_caught else "finished")
    t("child survived its parent's cancel", t.get("child") is None)


async def orphan_unicancel(t: Trace, k: Kit) -> None:
    started, release = unicancel.Event(), unicancel.Event()

    async def child() -> None:
        started.set()
        try:
            await release.wait()
            t("child", "finished its work")
        except unicancel.get_cancelled_exc_class():
            t("child", "Cancelled")
            raise

    with unicancel.CancelScope() as parent:
        async with unicancel.TaskGroup() as tg:
            tg.start_soon(child)
            await started.wait()
            parent.cancel()
    t("parent", "Cancelled" if parent.cancelled_caught else "finished")
    t("child survived its parent's cancel", t.get("child") is None)


BARE_TASK = Scenario(
    name="bare-task-orphaned",
    title="A parent that started a child task is cancelled",
    description=(
        "A child started with bare asyncio.create_task() is not cancelled with "
        "its parent: it runs on, orphaned. trio and anyio can only start tasks "
        "in a nursery/task group (unicancel: TaskGroup), which cancels and "
        "waits for its children."
    ),
    covers=("task-trees",),
    headline="child survived its parent's cancel",
    asyncio=orphan_asyncio,
    trio=orphan_trio,
    anyio=orphan_anyio,
    unicancel=orphan_unicancel,
)

# -- one child fails -----------------------------------------------------------------------------


async def child_error_asyncio(t: Trace) -> None:
    started = asyncio.Event()

    async def sibling() -> None:
        try:
            started.set()
            await asyncio.Event().wait()
        finally:
            t("sibling cleanup", "ran")

    async def failing() -> None:
        await started.wait()
        raise ValueError("boom")

    try:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(sibling())
            tg.create_task(failing())
    except BaseException as exc:
        t("caller saw", exc)


async def child_error_trio(t: Trace) -> None:
    import trio

    started = trio.Event()

    async def sibling() -> None:
        try:
            started.set()
            await trio.sleep_forever()
        finally:
            t("sibling cleanup", "ran")

    async def failing() -> None:
        await started.wait()
        raise ValueError("boom")

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(sibling)
            nursery.start_soon(failing)
    except BaseException as exc:
        t("caller saw", exc)


async def child_error_anyio(t: Trace) -> None:
    import anyio

    started = anyio.Event()

    async def sibling() -> None:
        try:
            started.set()
            await anyio.sleep_forever()
        finally:
            t("sibling cleanup", "ran")

    async def failing() -> None:
        await started.wait()
        raise ValueError("boom")

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(sibling)
            tg.start_soon(failing)
    except BaseException as exc:
        t("caller saw", exc)


async def child_error_unicancel(t: Trace, k: Kit) -> None:
    started = unicancel.Event()

    async def sibling() -> None:
        try:
            started.set()
            await k.sleep_forever()
        finally:
            t("sibling cleanup", "ran")

    async def failing() -> None:
        await started.wait()
        raise ValueError("boom")

    try:
        with unicancel.CancelScope() as scope:
            async with unicancel.TaskGroup() as tg:
                tg.start_soon(sibling)
                tg.start_soon(failing)
    except BaseException as exc:
        t("caller saw", exc)
    t.info("scope caught a cancellation", scope.cancelled_caught)


GROUP_CHILD_ERROR = Scenario(
    name="group-child-error",
    title="One child of a task group raises; its sibling is blocked",
    description=(
        "Every task group cancels the siblings, runs their cleanup and raises an "
        "ExceptionGroup holding only the error. unicancel: its TaskGroup inside "
        "a scope, which must neither catch nor add anything."
    ),
    covers=("task-trees", "errors-win"),
    headline="caller saw",
    asyncio=child_error_asyncio,
    trio=child_error_trio,
    anyio=child_error_anyio,
    unicancel=child_error_unicancel,
)

# -- gather(return_exceptions=True) ------------------------------------------------------


def _tally(results: list[object]) -> str:
    """ok/failed/cancelled, counted the way callers usually do it."""
    failed = sum(isinstance(r, Exception) for r in results)
    cancelled = sum(r == "cancelled" for r in results)
    return f"{len(results) - failed - cancelled} / {failed} / {cancelled}"


async def gather_asyncio(t: Trace) -> None:
    started = asyncio.Event()

    async def ok() -> int:
        return 1

    async def fails() -> int:
        raise ValueError("boom")

    async def slow() -> int:
        started.set()
        await asyncio.Event().wait()
        return 3

    tasks = [asyncio.create_task(fn()) for fn in (ok, fails, slow)]
    await started.wait()
    tasks[2].cancel()  # e.g. by a timeout elsewhere
    results = await asyncio.gather(*tasks, return_exceptions=True)
    t("results", ", ".join(t.show(r) for r in results))
    # The usual check: a CancelledError is a BaseException, not an Exception,
    # so the cancelled child is counted as a success.
    t("ok / failed / cancelled", _tally(list(results)))


async def gather_trio(t: Trace) -> None:
    import trio

    started = trio.Event()
    results: list[object] = [None] * 3
    scopes = [trio.CancelScope() for _ in range(3)]

    async def ok() -> int:
        return 1

    async def fails() -> int:
        raise ValueError("boom")

    async def slow() -> int:
        started.set()
        await trio.sleep_forever()

    async def run(i: int, fn: object) -> None:  # trio has no gather: collect by hand
        with scopes[i]:
            try:
                results[i] = await fn()  # type: ignore[operator]
            except Exception as exc:
                results[i] = exc
        if scopes[i].cancelled_caught:
            results[i] = "cancelled"

    async with trio.open_nursery() as nursery:
        for i, fn in enumerate((ok, fails, slow)):
            nursery.start_soon(run, i, fn)
        await started.wait()
        scopes[2].cancel()
    t("results", ", ".join(t.show(r) for r in results))
    t("ok / failed / cancelled", _tally(results))


async def gather_anyio(t: Trace) -> None:
    import anyio

    started = anyio.Event()
    results: list[object] = [None] * 3
    scopes = [anyio.CancelScope() for _ in range(3)]

    async def ok() -> int:
        return 1

    async def fails() -> int:
        raise ValueError("boom")

    async def slow() -> int:
        started.set()
        await anyio.sleep_forever()
        return 3

    async def run(i: int, fn: object) -> None:
        with scopes[i]:
            try:
                results[i] = await fn()  # type: ignore[operator]
            except Exception as exc:
                results[i] = exc
        if scopes[i].cancelled_caught:
            results[i] = "cancelled"

    async with anyio.create_task_group() as tg:
        for i, fn in enumerate((ok, fails, slow)):
            tg.start_soon(run, i, fn)
        await started.wait()
        scopes[2].cancel()
    t("results", ", ".join(t.show(r) for r in results))
    t("ok / failed / cancelled", _tally(results))


async def gather_unicancel(t: Trace, k: Kit) -> None:
    started = unicancel.Event()
    results: list[object] = [None] * 3
    scopes = [unicancel.CancelScope() for _ in range(3)]

    async def ok() -> int:
        return 1

    async def fails() -> int:
        raise ValueError("boom")

    async def slow() -> int:
        started.set()
        await k.sleep_forever()
        return 3

    async def run(i: int, fn: object) -> None:
        with scopes[i]:
            try:
                results[i] = await fn()  # type: ignore[operator]
            except Exception as exc:
                results[i] = exc
        if scopes[i].cancelled_caught:
            results[i] = "cancelled"

    async with unicancel.TaskGroup() as tg:
        for i, fn in enumerate((ok, fails, slow)):
            tg.start_soon(run, i, fn)
        await started.wait()
        scopes[2].cancel()
    t("results", ", ".join(t.show(r) for r in results))
    t("ok / failed / cancelled", _tally(results))


GATHER = Scenario(
    name="gather-return-exceptions",
    title="Collect three children's outcomes: one returns, one fails, one is cancelled",
    description=(
        "gather(return_exceptions=True) puts the CancelledError object among the "
        "results, where the usual `isinstance(r, Exception)` check counts it as a "
        "success. trio and anyio have no gather: each child runs in its own scope "
        "and the caller records a cancellation only if it asks the scope "
        "(cancelled_caught). unicancel: TaskGroup and a scope per child."
    ),
    covers=("gather",),
    headline="ok / failed / cancelled",
    asyncio=gather_asyncio,
    trio=gather_trio,
    anyio=gather_anyio,
    unicancel=gather_unicancel,
)

SCENARIOS = (BARE_TASK, GROUP_CHILD_ERROR, GATHER)
