"""Scenarios: finding the code that ignored or swallowed a cancellation
(SCENARIOS items 2 and 10)."""

from __future__ import annotations

import asyncio
import linecache
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import unicancel
from unicancel import diagnostics
from unicancel.diagnostics import Report

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
    t("site named", "no API")  # the task's stack, at best: not the line that ignored it
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
        t("site named", "no API")
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
        t("site named", "no API")
        release.set()


@contextmanager
def _diagnosed(k: Kit, kind: str) -> Iterator[tuple[list[Report], unicancel.Event]]:
    """Diagnostics on for the block, with a short stuck threshold: the reports
    of *kind*, and an event set (in the loop) at the first of them. A
    subscriber runs in the thread that made the report (the watchdog's for a
    stuck one), hence the loop caller."""
    call = k.loop_caller()
    loop_thread = threading.get_ident()
    found: list[Report] = []
    arrived = unicancel.Event()

    def on_report(report: Report) -> None:
        if report.kind == kind:
            found.append(report)
            if threading.get_ident() == loop_thread:
                arrived.set()
            else:
                call(arrived.set)

    was_enabled = diagnostics.is_enabled()
    if not was_enabled:
        diagnostics.enable(stuck_after=STUCK_AFTER, warn=False, log=False)
    unsubscribe = diagnostics.subscribe(on_report)
    try:
        yield found, arrived
    finally:
        unsubscribe()
        if not was_enabled:
            diagnostics.disable()


#: Seconds after which the unicancel variant's cancellation counts as stuck.
STUCK_AFTER = 0.05
#: Whether diagnostics can name the code that caught a cancellation (sys.monitoring).
CATCH_SITES: bool = sys.version_info >= (3, 12)


def _source(site: str) -> str:
    """The source line at *site* (``file:line``), as a report names it: the
    same text on every backend, unlike a path or a line number."""
    path, _, line = site.rpartition(":")
    return f"`{linecache.getline(path, int(line)).strip()}`"


def _named_site(report: Report, function: str) -> str:
    """The site of *function*'s frame in *report*'s stack (``file:line in
    function``), as source text."""
    match = re.search(rf"^\s*(\S+:\d+) in {function}$", report.stack, re.M)
    return "no site" if match is None else _source(match[1])


async def stuck_unicancel(t: Trace, k: Kit) -> None:
    release, waiting = unicancel.Event(), unicancel.Event()
    scope = unicancel.CancelScope()

    async def stubborn() -> None:
        # Ignores the cancellation: a shielded wait that does not end (a
        # cleanup waiting for a lock, a retry loop under a shield).
        with scope, unicancel.CancelScope(shield=True):
            t("stubborn worker", "waits under a shield")
            waiting.set()
            await release.wait()

    with _diagnosed(k, "stuck") as (stuck, arrived):
        async with unicancel.TaskGroup() as tg:
            tg.start_soon(stubborn, name="stubborn")
            await waiting.wait()
            scope.cancel()
            # unicancel.diagnostics: the watchdog reports the cancellation
            # that has not landed after STUCK_AFTER seconds, and where the
            # task waits.
            await arrived.wait()
            (report,) = stuck
            t("stuck task found", f"yes: {report.task} + site")
            t("site named", _named_site(report, "stubborn"))
            t.info("scope.cancel_called", scope.cancel_called)
            release.set()


STUCK = Scenario(
    name="stuck-cancel-detection",
    title="A worker does not act on its cancellation; can the program find it, and where?",
    description=(
        "asyncio: all_tasks() plus cancelling() lists tasks that were asked to "
        "cancel and are still running. anyio: get_running_tasks() and "
        "has_pending_cancellation(). trio exposes no cancellation state of other "
        "tasks. None of them says where the task is. unicancel's worker ignores "
        "the cancellation the way a unicancel program can (swallowing it would "
        "only get it delivered again): it waits under a shield; unicancel.diagnostics "
        "reports the cancellation that has not landed after a threshold, with the "
        "task and the line where it waits."
    ),
    covers=("debugging", "swallowed-cancel"),
    headline="stuck task found",
    asyncio=stuck_asyncio,
    trio=stuck_trio,
    anyio=stuck_anyio,
    unicancel=stuck_unicancel,
)


async def swallowed_asyncio(t: Trace) -> None:
    async def worker() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            t("worker", "caught its cancellation and returned")

    task = asyncio.create_task(worker(), name="worker")
    await asyncio.sleep(0)
    task.cancel()
    await task  # returns normally: the caller sees nothing
    # The recipe: a finished task that was asked to cancel and was not
    # cancelled swallowed it (cancelling() still counts the request).
    swallowed = task.done() and not task.cancelled() and task.cancelling() > 0
    t("swallow found", "yes: worker" if swallowed else "no")
    t("site named", "no API")


async def swallowed_trio(t: Trace) -> None:
    import trio

    async def worker() -> None:
        try:
            await trio.sleep_forever()
        except trio.Cancelled:
            t("worker", "caught its cancellation and returned")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(worker, name="worker")
        await trio.lowlevel.checkpoint()
        nursery.cancel_scope.cancel()
    # The nursery's scope caught the parent's own Cancelled: nothing tells
    # that a child swallowed its own.
    t("swallow found", "no API")
    t("site named", "no API")


async def swallowed_anyio(t: Trace) -> None:
    import anyio

    async def worker() -> None:
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            t("worker", "caught its cancellation and returned")

    async with anyio.create_task_group() as tg:
        tg.start_soon(worker, name="worker")
        await anyio.lowlevel.checkpoint()
        tg.cancel_scope.cancel()
    t("swallow found", "no API")
    t("site named", "no API")


async def swallowed_unicancel(t: Trace, k: Kit) -> None:
    cancelled = unicancel.get_cancelled_exc_class()
    started = unicancel.Event()

    async def worker() -> None:
        try:
            started.set()
            await k.sleep_forever()
        except cancelled:
            t("worker", "caught its cancellation and returned")

    with _diagnosed(k, "swallowed") as (swallowed, _):
        async with unicancel.TaskGroup() as tg:
            tg.start_soon(worker, name="worker")
            await started.wait()
            tg.cancel_scope.cancel()
    # unicancel.diagnostics: the catch site comes from sys.monitoring; on
    # Python 3.11, asyncio reports the task and scope only, trio nothing.
    if not CATCH_SITES:
        t("swallow found", "needs Python 3.12+")
        return
    if not swallowed:
        t("swallow found", "no")
        return
    (report,) = swallowed
    t("swallow found", f"yes: {report.task} + site")
    t("site named", _source(report.catch_site) if report.catch_site else "no site")


SWALLOWED = Scenario(
    name="swallowed-cancel-detection",
    title="A worker swallows its cancellation and returns; can the program find the code?",
    description=(
        "A task group (asyncio: a bare task) is cancelled; its worker catches the "
        "cancellation and returns normally, so the group ends as if nothing was "
        "wrong. asyncio: the finished task still counts the request in cancelling() "
        "and was not cancelled(), which names the task but not the code. trio and "
        "anyio keep no trace. unicancel.diagnostics reports the task and the except "
        "clause that caught it (the catch site needs Python 3.12+: sys.monitoring)."
    ),
    covers=("debugging", "swallowed-cancel"),
    headline="swallow found",
    asyncio=swallowed_asyncio,
    trio=swallowed_trio,
    anyio=swallowed_anyio,
    unicancel=swallowed_unicancel,
    python_dependent={
        "unicancel-asyncio": "the catch site needs sys.monitoring (Python 3.12+)",
        "unicancel-trio": "the catch site needs sys.monitoring (Python 3.12+)",
    },
)

SCENARIOS = (STUCK, SWALLOWED)
