"""Scenarios: shutting a program down with work still running."""

from __future__ import annotations

import asyncio

import unicancel

from ._kit import Kit
from ._model import Scenario, Trace
from ._sc_stop import unfinished_tasks

# -- shutdown of leftover tasks -------------------------------------------------------------


async def shutdown_asyncio(t: Trace) -> None:
    started = asyncio.Event()
    main_returned = False

    async def worker() -> None:
        try:
            started.set()
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            t("worker saw", "Cancelled")
            raise
        finally:
            t("worker cleanup ran", "after main" if main_returned else "before main")
            try:
                await asyncio.sleep(0)
                t("await in worker cleanup", "returned")
            except asyncio.CancelledError:
                t("await in worker cleanup", "Cancelled")
                raise

    asyncio.create_task(worker())  # noqa: RUF006 - a leftover task, on purpose
    await started.wait()
    main_returned = True
    t("main", "returned")  # asyncio.run now cancels the leftover worker


async def shutdown_trio(t: Trace) -> None:
    import trio

    main_returned = False

    async def worker(task_status: trio.TaskStatus[None]) -> None:
        try:
            task_status.started()
            await trio.sleep_forever()
        except trio.Cancelled:
            t("worker saw", "Cancelled")
            raise
        finally:
            t("worker cleanup ran", "after main" if main_returned else "before main")
            try:
                await trio.lowlevel.checkpoint()
                t("await in worker cleanup", "returned")
            except trio.Cancelled:
                t("await in worker cleanup", "Cancelled")
                raise

    async with trio.open_nursery() as nursery:
        await nursery.start(worker)
        # trio never cancels a task behind your back: without this line the
        # nursery (and so main) would wait for the worker forever.
        nursery.cancel_scope.cancel()
    main_returned = True
    t("main", "returned")


async def shutdown_anyio(t: Trace) -> None:
    import anyio
    from anyio.abc import TaskStatus

    main_returned = False

    async def worker(*, task_status: TaskStatus[None]) -> None:
        try:
            task_status.started()
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            t("worker saw", "Cancelled")
            raise
        finally:
            t("worker cleanup ran", "after main" if main_returned else "before main")
            try:
                await anyio.lowlevel.checkpoint()
                t("await in worker cleanup", "returned")
            except anyio.get_cancelled_exc_class():
                t("await in worker cleanup", "Cancelled")
                raise

    async with anyio.create_task_group() as tg:
        await tg.start(worker)
        tg.cancel_scope.cancel()  # as on trio: nothing is cancelled implicitly
    main_returned = True
    t("main", "returned")


async def shutdown_unicancel(t: Trace, k: Kit) -> None:
    started = unicancel.Event()
    main_returned = False

    async def worker() -> None:
        try:
            started.set()
            await k.sleep_forever()
        except unicancel.get_cancelled_exc_class():
            t("worker saw", "Cancelled")
            raise
        finally:
            t("worker cleanup ran", "after main" if main_returned else "before main")
            try:
                await k.sleep(0)
                t("await in worker cleanup", "returned")
            except unicancel.get_cancelled_exc_class():
                t("await in worker cleanup", "Cancelled")
                raise

    # In a program: run_graceful(main), and SIGTERM or Ctrl-C requests the stop
    # (signal handlers need the main thread: the scenarios run in another one).
    shutdown = unicancel.GracefulShutdown(grace=0.01, signals=())
    try:
        async with shutdown, unicancel.TaskGroup() as tg:
            tg.start_soon(worker, name="worker")  # it never looks at the token
            await started.wait()
            shutdown.request_stop("main is done")  # the grace period starts
    except unicancel.ForcedShutdown as exc:  # the grace period ran out: cancelled
        t("reported as not finished", ", ".join(unfinished_tasks(exc)))
    main_returned = True
    t("main", "returned")


SHUTDOWN = Scenario(
    name="shutdown-leftover-tasks",
    title="main() returns while a worker task is still running",
    description=(
        "asyncio.run cancels leftover tasks after main() returns and drops their "
        "CancelledError: the worker's cleanup runs after main, and nothing reports "
        "that it was cut short. trio, anyio and unicancel have no leftover "
        "tasks: the worker lives in a nursery/task group that must be cancelled "
        "explicitly, and its cleanup runs (cancelled, level-triggered) before "
        "main returns. unicancel shuts down gracefully and reports: "
        "main runs in a GracefulShutdown (run_graceful() in a program, where "
        "SIGTERM or Ctrl-C requests the stop; here main requests it when its own "
        "work is done), the worker ignores the stop token, so once the grace "
        "period has run out it is cancelled, and ForcedShutdown reports it (and "
        "main, which was waiting for it) as not finished."
    ),
    covers=("shutdown", "task-trees"),
    headline="worker cleanup ran",
    asyncio=shutdown_asyncio,
    trio=shutdown_trio,
    anyio=shutdown_anyio,
    unicancel=shutdown_unicancel,
)


SCENARIOS = (SHUTDOWN,)
