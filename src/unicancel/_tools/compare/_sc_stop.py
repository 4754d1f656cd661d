"""Scenarios: stopping a worker. A stop flag first, cancellation after a
grace period (SCENARIOS.md item 5): written by hand with an event on plain
asyncio, trio and anyio; with unicancel's stop token and GracefulShutdown."""

from __future__ import annotations

import asyncio

import unicancel

from ._kit import Kit
from ._model import Scenario, Trace


def unfinished_tasks(exc: unicancel.ForcedShutdown) -> list[str]:
    """The tasks a ForcedShutdown reported, by task name: its first line is
    the task that ran the shutdown block ("main"). The rest of each line says
    where the task waited, which differs between backends."""
    names = [line.rpartition("(task ")[2].strip("')\"") for line in exc.unfinished[1:]]
    return ["main", *names]


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
    working = unicancel.Event()

    async def worker(token: unicancel.StopToken) -> None:
        try:
            while not token.stop_requested:  # poll the token between units of work
                working.set()
                await unicancel.checkpoint()
            t("worker", "saw the stop flag and returned")
            t.info("stop reason", token.reason)
        finally:
            t("worker cleanup", "ran")

    # In a program: run_graceful(main), and SIGTERM or Ctrl-C requests the stop.
    # Signal handlers need the main thread (the scenarios run in another one),
    # so here the stop is requested in code: the same sequence, without a signal.
    shutdown = unicancel.GracefulShutdown(grace=5, signals=())
    try:
        async with shutdown as token, unicancel.TaskGroup() as tg:
            tg.start_soon(worker, token, name="worker")
            await working.wait()
            shutdown.request_stop("shutting down")  # the grace period starts
        t("worker stopped", "gracefully")
    except unicancel.ForcedShutdown as exc:  # the grace period ran out: cancelled
        t("worker stopped", "forced")
        t("not finished when forced", ", ".join(unfinished_tasks(exc)))


STOP_GRACEFUL = Scenario(
    name="stop-flag-graceful",
    title="Stop a worker with a flag it polls; a grace period, then a forced cancel",
    description=(
        "The stop token asyncio users write by hand: an event polled by "
        "the worker, a bounded wait for it to finish, cancellation as the "
        "fallback. Here the worker honours the flag. unicancel has the protocol "
        "built in: GracefulShutdown hands the worker a StopToken to poll; "
        "request_stop() (in a program, run_graceful() does it on SIGTERM or "
        "Ctrl-C; signal handlers need the main thread, which the scenarios do "
        "not run in) starts the grace period, after which the block would be "
        "cancelled and ForcedShutdown would name what had not finished."
    ),
    covers=("stop-tokens",),
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
    started = unicancel.Event()
    cancelled = False

    async def worker() -> None:
        nonlocal cancelled
        try:
            started.set()
            await k.sleep_forever()  # stuck: never looks at the stop token
        except unicancel.get_cancelled_exc_class():
            cancelled = True
            raise

    shutdown = unicancel.GracefulShutdown(grace=0.01, signals=())  # see stop-flag-graceful
    try:
        async with shutdown, unicancel.TaskGroup() as tg:
            tg.start_soon(worker, name="worker")
            await started.wait()
            shutdown.request_stop("shutting down")  # the grace period starts
        t("worker stopped", "gracefully")
    except unicancel.ForcedShutdown as exc:  # the grace period ran out: cancelled
        t("worker stopped", "forced")
        # The report lists the tasks still running when the forced cancel began.
        reported = unfinished_tasks(exc)
        if cancelled:
            t(
                "worker cancelled by",
                "the forced cancel" if "worker" in reported else "an earlier cancel",
            )
        t.info("not finished when forced", ", ".join(reported))


STOP_FORCED = Scenario(
    name="stop-flag-forced",
    title="The same stop protocol with a worker that never looks at the flag",
    description=(
        "The grace period runs out. asyncio.wait_for(task, timeout) cancels the "
        "task itself when it times out, so the explicit cancel() after it comes "
        "too late to matter. A scope around the wait (trio, anyio) only stops "
        "the waiting; the worker is cancelled by the forced cancel. unicancel's "
        "GracefulShutdown cancels its block when the grace period expires and "
        "raises ForcedShutdown, which names the worker among the tasks that had "
        "not finished (the info entry). A worker that waits inside "
        "move_on_when(token) would instead be cancelled by the stop itself."
    ),
    covers=("stop-tokens", "timeouts"),
    headline="worker cancelled by",
    asyncio=forced_asyncio,
    trio=forced_trio,
    anyio=forced_anyio,
    unicancel=forced_unicancel,
)


SCENARIOS = (STOP_GRACEFUL, STOP_FORCED)
