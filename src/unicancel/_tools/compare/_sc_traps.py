"""Scenarios: the traps that bit the anchor libraries (ANCHORS.md)."""

from __future__ import annotations

import asyncio

import unicancel

from ._kit import Kit, describe_wakeups, wakeup_probe
from ._model import Scenario, Trace

#: Loop iterations the child spends cleaning up in the spin scenario.
K = 200

# -- trap 1: spinning while a cancelled scope waits -----------------------------------------


async def spin_asyncio(t: Trace) -> None:
    started = asyncio.Event()
    loop = asyncio.get_running_loop()
    probe = wakeup_probe()  # measuring instrument, not part of the scenario

    async def child() -> None:
        try:
            started.set()
            await asyncio.Event().wait()
        finally:
            probe.reset()
            for _ in range(K):  # a long cleanup, K loop iterations
                await asyncio.sleep(0)
                probe.sample()
            t("host woken while the child cleaned up", describe_wakeups(probe.stop(), K))

    try:
        async with asyncio.timeout(None) as cm:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(child())
                await started.wait()
                cm.reschedule(loop.time() - 1)
                await asyncio.Event().wait()
    except TimeoutError as exc:
        t.info("caller saw", exc)


async def spin_trio(t: Trace) -> None:
    import trio

    probe = wakeup_probe()

    async def child(task_status: trio.TaskStatus[None]) -> None:
        try:
            task_status.started()
            await trio.sleep_forever()
        finally:
            with trio.CancelScope(shield=True):
                probe.reset()
                for _ in range(K):
                    await trio.lowlevel.checkpoint()
                    probe.sample()
                t("host woken while the child cleaned up", describe_wakeups(probe.stop(), K))

    with trio.CancelScope() as scope:
        async with trio.open_nursery() as nursery:
            await nursery.start(child)
            scope.cancel()
            await trio.sleep_forever()
    t.info("scope caught it", scope.cancelled_caught)


async def spin_anyio(t: Trace) -> None:
    import anyio
    from anyio.abc import TaskStatus

    probe = wakeup_probe()

    async def child(*, task_status: TaskStatus[None]) -> None:
        try:
            task_status.started()
            await anyio.sleep_forever()
        finally:
            with anyio.CancelScope(shield=True):
                probe.reset()
                for _ in range(K):
                    await anyio.lowlevel.checkpoint()
                    probe.sample()
                t("host woken while the child cleaned up", describe_wakeups(probe.stop(), K))

    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:
            await tg.start(child)
            scope.cancel()
            await anyio.sleep_forever()
    t.info("scope caught it", scope.cancelled_caught)


async def spin_unicancel(t: Trace, k: Kit) -> None:
    started = unicancel.Event()
    probe = wakeup_probe()

    async def child() -> None:
        try:
            started.set()
            await k.sleep_forever()
        finally:
            with unicancel.CancelScope(shield=True):
                probe.reset()
                for _ in range(K):
                    await k.sleep(0)
                    probe.sample()
                t("host woken while the child cleaned up", describe_wakeups(probe.stop(), K))

    with unicancel.CancelScope() as scope:
        async with unicancel.TaskGroup() as tg:
            tg.start_soon(child)
            await started.wait()
            scope.cancel()
            await k.sleep_forever()
    t.info("scope caught it", scope.cancelled_caught)


SPIN = Scenario(
    name="spin-while-cancelled",
    title=f"A cancelled scope waits for a task group whose child cleans up for {K} iterations",
    description=(
        "The busy-wait trap: emulated level triggering that re-delivers the "
        "cancellation on every loop iteration keeps waking the waiting host, "
        "burning CPU while the child cleans up. Measured deterministically, not "
        "by time: cancel requests aimed at the host (asyncio: peak of "
        "Task.cancelling()) or host wake-ups (trio: an instrument counting its "
        "steps) during the cleanup; 'every iteration' means about one per loop "
        "iteration."
    ),
    covers=("busy-wait",),
    headline="host woken while the child cleaned up",
    asyncio=spin_asyncio,
    trio=spin_trio,
    anyio=spin_anyio,
    unicancel=spin_unicancel,
)


async def spin_native_anyio(t: Trace) -> None:
    import anyio
    import sniffio

    probe = wakeup_probe()
    started = anyio.Event()

    async def child() -> None:
        try:
            started.set()
            await anyio.sleep_forever()
        finally:
            with anyio.CancelScope(shield=True):
                probe.reset()
                for _ in range(K):
                    await anyio.lowlevel.checkpoint()
                    probe.sample()
                t("host woken while the child cleaned up", describe_wakeups(probe.stop(), K))

    with anyio.CancelScope() as scope:
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
    t.info("scope caught it", scope.cancelled_caught)


async def spin_native_unicancel(t: Trace, k: Kit) -> None:
    started = unicancel.Event()
    probe = wakeup_probe()

    async def child() -> None:
        try:
            started.set()
            await k.sleep_forever()
        finally:
            with unicancel.CancelScope(shield=True):
                probe.reset()
                for _ in range(K):
                    await k.sleep(0)
                    probe.sample()
                t("host woken while the child cleaned up", describe_wakeups(probe.stop(), K))

    with unicancel.CancelScope() as scope:
        async with k.task_group() as tg:
            tg.start_soon(child)
            await started.wait()
            scope.cancel()
            await k.sleep_forever()
    t.info("scope caught it", scope.cancelled_caught)


SPIN_NATIVE = Scenario(
    name="spin-native-group",
    title="The same, with anyio's and unicancel's scopes around the loop's own task group",
    description=(
        "The busy-wait trap as it was found: anyio code cancelling application code "
        "that uses asyncio.TaskGroup (or a trio nursery); unicancel's scope "
        "around a native group likewise. Plain asyncio and trio run the code of "
        "spin-while-cancelled, which already uses their own groups."
    ),
    covers=("busy-wait",),
    headline="host woken while the child cleaned up",
    asyncio=spin_asyncio,
    trio=spin_trio,
    anyio=spin_native_anyio,
    unicancel=spin_native_unicancel,
    native="the backend's own task group (asyncio.TaskGroup / trio nursery)",
)

SCENARIOS = (SPIN, SPIN_NATIVE)
