"""Scenarios: finding the code that ignored a cancellation (SCENARIOS item 10)."""

from __future__ import annotations

import asyncio

import unicancel

from ._kit import Kit
from ._model import Scenario, Trace


async def stuck_asyncio(t: Trace) -> None:
    release, swallowed = asyncio.Event(), asyncio.Event()

    async def stubborn() -> None:
        while not release.is_set():
            try:
                await release.wait()
            except asyncio.CancelledError:
                t("stubborn worker", "swallowed a cancellation")
                swallowed.set()

    task = asyncio.create_task(stubborn(), name="stubborn")
    await asyncio.sleep(0)
    task.cancel()
    await swallowed.wait()
    # The debugging recipe: tasks asked to cancel that are still running.
    stuck = [x.get_name() for x in asyncio.all_tasks() if x.cancelling() and not x.done()]
    t("stuck task found", f"yes: {', '.join(stuck)}" if stuck else "no")
    release.set()
    await task


async def stuck_trio(t: Trace) -> None:
    import trio

    release, swallowed = trio.Event(), trio.Event()
    scope = trio.CancelScope()

    async def stubborn() -> None:
        with scope:
            while not release.is_set():
                try:
                    await release.wait()
                except trio.Cancelled:
                    if not swallowed.is_set():
                        t("stubborn worker", "swallowed a cancellation")
                        swallowed.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(stubborn, name="stubborn")
        await trio.lowlevel.checkpoint()
        scope.cancel()
        await swallowed.wait()
        # Tasks can be listed (root task -> nurseries -> tasks), but their
        # cancellation state is not public.
        t("stuck task found", "no API")
        release.set()


async def stuck_anyio(t: Trace) -> None:
    import anyio

    release, swallowed = anyio.Event(), anyio.Event()
    scope = anyio.CancelScope()

    async def stubborn() -> None:
        with scope:
            while not release.is_set():
                try:
                    await release.wait()
                except anyio.get_cancelled_exc_class():
                    if not swallowed.is_set():
                        t("stubborn worker", "swallowed a cancellation")
                        swallowed.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(stubborn, name="stubborn")
        await anyio.lowlevel.checkpoint()
        scope.cancel()
        await swallowed.wait()
        stuck = [str(x.name) for x in anyio.get_running_tasks() if x.has_pending_cancellation()]
        t("stuck task found", f"yes: {', '.join(stuck)}" if stuck else "no")
        release.set()


async def stuck_unicancel(t: Trace, k: Kit) -> None:
    release, swallowed = unicancel.Event(), unicancel.Event()
    scope = unicancel.CancelScope()

    async def stubborn() -> None:
        with scope:
            while not release.is_set():
                try:
                    await release.wait()
                except unicancel.get_cancelled_exc_class():
                    if not swallowed.is_set():
                        t("stubborn worker", "swallowed a cancellation")
                        swallowed.set()

    async with unicancel.TaskGroup() as tg:
        tg.start_soon(stubborn)
        await k.sleep(0)
        scope.cancel()
        await swallowed.wait()
        # unicancel has no task registry or swallow detector yet: only the
        # scope object itself says that it was cancelled.
        t("stuck task found", "no API")
        t.info("scope.cancel_called", scope.cancel_called)
        release.set()


STUCK = Scenario(
    name="stuck-cancel-detection",
    title="A worker swallows its cancellation; can the program find it?",
    description=(
        "asyncio: all_tasks() plus cancelling() lists tasks that were asked to "
        "cancel and are still running. anyio: get_running_tasks() and "
        "has_pending_cancellation(). trio exposes no cancellation state of other "
        "tasks. unicancel has no diagnostics yet (planned: report which code "
        "swallowed which cancel)."
    ),
    covers=("debugging", "swallowed-cancel"),
    headline="stuck task found",
    asyncio=stuck_asyncio,
    trio=stuck_trio,
    anyio=stuck_anyio,
    unicancel=stuck_unicancel,
)

SCENARIOS = (STUCK,)
