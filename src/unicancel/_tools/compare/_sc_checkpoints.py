"""Scenarios: where a cancellation can land. CPU-bound loops, with and
without checkpoints, and awaits that do not suspend.

The loops are bounded and deterministic: the deadline has passed before the
loop starts, and the trace counts the iterations run before the cancellation
landed.
"""

from __future__ import annotations

import asyncio

import unicancel

from ._kit import Kit
from ._model import Scenario, Trace

N = 10_000
EVERY = 1_000


async def busy_asyncio(t: Trace) -> None:
    done = 0
    try:
        async with asyncio.timeout(0):  # expired before the loop starts
            for _ in range(N):
                done += 1  # CPU work that never awaits
            await asyncio.sleep(0)
    except TimeoutError as exc:
        t.info("caller saw", exc)
    t("iterations before the cancel landed", done)


async def busy_trio(t: Trace) -> None:
    import trio

    done = 0
    with trio.move_on_after(0):
        for _ in range(N):
            done += 1
        await trio.lowlevel.checkpoint()
    t("iterations before the cancel landed", done)


async def busy_anyio(t: Trace) -> None:
    import anyio

    done = 0
    with anyio.move_on_after(0):
        for _ in range(N):
            done += 1
        await anyio.lowlevel.checkpoint()
    t("iterations before the cancel landed", done)


async def busy_unicancel(t: Trace, k: Kit) -> None:
    done = 0
    with unicancel.move_on_after(0):
        for _ in range(N):
            done += 1
        await k.sleep(0)
    t("iterations before the cancel landed", done)


CPU_NO_CHECKPOINT = Scenario(
    name="cpu-loop-no-checkpoint",
    title=f"A CPU-bound loop of {N:,} iterations that never awaits, under an expired deadline",
    description=(
        "Cancellation is cooperative everywhere: it can only land at an await, so "
        "the loop runs to the end and the first await after it raises."
    ),
    covers=("checkpoints",),
    headline="iterations before the cancel landed",
    asyncio=busy_asyncio,
    trio=busy_trio,
    anyio=busy_anyio,
    unicancel=busy_unicancel,
)


async def checkpointed_asyncio(t: Trace) -> None:
    done = 0
    try:
        async with asyncio.timeout(0):
            for i in range(N):
                done += 1
                if i % EVERY == EVERY - 1:
                    await asyncio.sleep(0)  # asyncio's checkpoint
    except TimeoutError as exc:
        t.info("caller saw", exc)
    t("iterations before the cancel landed", done)


async def checkpointed_trio(t: Trace) -> None:
    import trio

    done = 0
    with trio.move_on_after(0):
        for i in range(N):
            done += 1
            if i % EVERY == EVERY - 1:
                await trio.lowlevel.checkpoint()
    t("iterations before the cancel landed", done)


async def checkpointed_anyio(t: Trace) -> None:
    import anyio

    done = 0
    with anyio.move_on_after(0):
        for i in range(N):
            done += 1
            if i % EVERY == EVERY - 1:
                await anyio.lowlevel.checkpoint()
    t("iterations before the cancel landed", done)


async def checkpointed_unicancel(t: Trace, k: Kit) -> None:
    done = 0
    with unicancel.move_on_after(0):
        for i in range(N):
            done += 1
            if i % EVERY == EVERY - 1:
                await unicancel.checkpoint()
    t("iterations before the cancel landed", done)


CPU_WITH_CHECKPOINT = Scenario(
    name="cpu-loop-with-checkpoint",
    title=f"The same loop with a checkpoint every {EVERY:,} iterations",
    description=(
        "A cheap checkpoint in the loop lets the cancellation land at the first "
        "one (asyncio: await asyncio.sleep(0); trio/anyio: lowlevel.checkpoint(); "
        "unicancel: checkpoint())."
    ),
    covers=("checkpoints",),
    headline="iterations before the cancel landed",
    asyncio=checkpointed_asyncio,
    trio=checkpointed_trio,
    anyio=checkpointed_anyio,
    unicancel=checkpointed_unicancel,
)


# -- an await that does not suspend ----------------------------------------------------------


async def ready_asyncio(t: Trace) -> None:
    ready = asyncio.Event()
    ready.set()
    task = asyncio.current_task()
    assert task is not None
    task.cancel()  # pending: delivered at the next suspension
    try:
        await ready.wait()  # already set: returns without suspending
        t("await on a set event", "returned")
        await asyncio.sleep(0)
        t("next await that suspends", "returned")
    except asyncio.CancelledError:
        t("cancellation landed at", "a later await")
    task.uncancel()


async def ready_trio(t: Trace) -> None:
    import trio

    ready = trio.Event()
    ready.set()
    with trio.CancelScope() as scope:
        scope.cancel()
        try:
            await ready.wait()
            t("await on a set event", "returned")
            await trio.lowlevel.checkpoint()
            t("next await that suspends", "returned")
        except trio.Cancelled:
            landed = "a later await" if t.get("await on a set event") else "the set event"
            t("cancellation landed at", landed)
            raise


async def ready_anyio(t: Trace) -> None:
    import anyio

    ready = anyio.Event()
    ready.set()
    with anyio.CancelScope() as scope:
        scope.cancel()
        try:
            await ready.wait()
            t("await on a set event", "returned")
            await anyio.lowlevel.checkpoint()
            t("next await that suspends", "returned")
        except anyio.get_cancelled_exc_class():
            landed = "a later await" if t.get("await on a set event") else "the set event"
            t("cancellation landed at", landed)
            raise


async def ready_unicancel(t: Trace, k: Kit) -> None:
    ready = unicancel.Event()
    ready.set()
    with unicancel.CancelScope() as scope:
        scope.cancel()
        try:
            await ready.wait()
            t("await on a set event", "returned")
            await k.sleep(0)
            t("next await that suspends", "returned")
        except unicancel.get_cancelled_exc_class():
            landed = "a later await" if t.get("await on a set event") else "the set event"
            t("cancellation landed at", landed)
            raise


AWAIT_READY = Scenario(
    name="await-that-does-not-suspend",
    title="In a cancelled block, await an event that is already set",
    description=(
        "An await is only a checkpoint if it suspends. asyncio.Event.wait() on a "
        "set event returns without suspending, so a pending cancellation waits "
        "for the next await that does; trio's and anyio's Event.wait() always "
        "checkpoint, and so does unicancel.Event.wait() on both backends."
    ),
    covers=("level", "checkpoints"),
    headline="cancellation landed at",
    asyncio=ready_asyncio,
    trio=ready_trio,
    anyio=ready_anyio,
    unicancel=ready_unicancel,
)


SCENARIOS = (CPU_NO_CHECKPOINT, CPU_WITH_CHECKPOINT, AWAIT_READY)
