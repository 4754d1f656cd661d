"""Scenarios: deadlines that are, or become, past; a fail_after cancelled by hand."""

from __future__ import annotations

import asyncio

import unicancel

from ._kit import Kit
from ._model import Scenario, Trace

# -- a deadline that has already passed --------------------------------------------------


async def past_asyncio(t: Trace) -> None:
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout_at(loop.time() - 1):
            t("code before the first await", "ran")
            try:
                await asyncio.sleep(0)
                t("first await", "returned")
            except asyncio.CancelledError:
                t("first await", "Cancelled")
                raise
    except TimeoutError as exc:
        t("caller saw", exc)


async def past_trio(t: Trace) -> None:
    import trio

    try:
        with trio.fail_at(trio.current_time() - 1):
            t("code before the first await", "ran")
            try:
                await trio.lowlevel.checkpoint()
                t("first await", "returned")
            except trio.Cancelled:
                t("first await", "Cancelled")
                raise
    except trio.TooSlowError as exc:
        t("caller saw", exc)


async def past_anyio(t: Trace) -> None:
    import anyio

    try:
        with anyio.fail_at(anyio.current_time() - 1):
            t("code before the first await", "ran")
            try:
                await anyio.lowlevel.checkpoint()
                t("first await", "returned")
            except anyio.get_cancelled_exc_class():
                t("first await", "Cancelled")
                raise
    except TimeoutError as exc:
        t("caller saw", exc)


async def past_unicancel(t: Trace, k: Kit) -> None:
    try:
        with unicancel.fail_at(unicancel.current_time() - 1):
            t("code before the first await", "ran")
            try:
                await k.sleep(0)
                t("first await", "returned")
            except unicancel.get_cancelled_exc_class():
                t("first await", "Cancelled")
                raise
    except TimeoutError as exc:
        t("caller saw", exc)


DEADLINE_IN_PAST = Scenario(
    name="deadline-in-past",
    title="Enter a timeout whose deadline has already passed",
    description=(
        "The block is entered and runs up to its first await, which raises; the "
        "caller sees the timeout error. No system refuses a past deadline."
    ),
    covers=("timeouts",),
    headline="first await",
    asyncio=past_asyncio,
    trio=past_trio,
    anyio=past_anyio,
    unicancel=past_unicancel,
)


async def no_checkpoint_asyncio(t: Trace) -> None:
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout_at(loop.time() - 1) as cm:  # noqa: ASYNC100 - on purpose
            t("body", "ran to the end without awaiting")
        t("caller saw", "nothing")
    except TimeoutError as exc:
        t("caller saw", exc)
    t.info("expired()", cm.expired())
    await asyncio.sleep(0)
    t("next await after the block", "returned")


async def no_checkpoint_trio(t: Trace) -> None:
    import trio

    try:
        with trio.fail_at(trio.current_time() - 1) as scope:  # noqa: ASYNC100 - on purpose
            t("body", "ran to the end without awaiting")
        t("caller saw", "nothing")
    except trio.TooSlowError as exc:
        t("caller saw", exc)
    t.info("cancel_called", scope.cancel_called)
    await trio.lowlevel.checkpoint()
    t("next await after the block", "returned")


async def no_checkpoint_anyio(t: Trace) -> None:
    import anyio

    try:
        with anyio.fail_at(anyio.current_time() - 1) as scope:
            t("body", "ran to the end without awaiting")
        t("caller saw", "nothing")
    except TimeoutError as exc:
        t("caller saw", exc)
    t.info("cancel_called", scope.cancel_called)
    await anyio.lowlevel.checkpoint()
    t("next await after the block", "returned")


async def no_checkpoint_unicancel(t: Trace, k: Kit) -> None:
    try:
        with unicancel.fail_at(unicancel.current_time() - 1) as scope:
            t("body", "ran to the end without awaiting")
        t("caller saw", "nothing")
    except TimeoutError as exc:
        t("caller saw", exc)
    t.info("cancel_called", scope.cancel_called)
    await k.sleep(0)
    t("next await after the block", "returned")


DEADLINE_NO_CHECKPOINT = Scenario(
    name="deadline-in-past-no-checkpoint",
    title="A past deadline around a block that never awaits",
    description=(
        "Cancellation is only delivered at an await: a block without one "
        "completes, no timeout error is raised, and nothing lingers to hit the "
        "next await after the block. The scope still says it was cancelled "
        "(trio, anyio, unicancel: cancel_called); asyncio's expired() does not."
    ),
    covers=("checkpoints", "timeouts", "stray-cancel"),
    headline="caller saw",
    asyncio=no_checkpoint_asyncio,
    trio=no_checkpoint_trio,
    anyio=no_checkpoint_anyio,
    unicancel=no_checkpoint_unicancel,
)

# -- a deadline moved into the past while entered ----------------------------------------


async def moved_asyncio(t: Trace) -> None:
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(10) as cm:
            await asyncio.sleep(0)
            cm.reschedule(loop.time() - 1)
            try:
                await asyncio.sleep(0)
                t("await after moving the deadline", "returned")
            except asyncio.CancelledError:
                t("await after moving the deadline", "Cancelled")
                raise
    except TimeoutError as exc:
        t("caller saw", exc)


async def moved_trio(t: Trace) -> None:
    import trio

    try:
        with trio.fail_after(10) as scope:
            await trio.lowlevel.checkpoint()
            scope.deadline = trio.current_time() - 1
            try:
                await trio.lowlevel.checkpoint()
                t("await after moving the deadline", "returned")
            except trio.Cancelled:
                t("await after moving the deadline", "Cancelled")
                raise
    except trio.TooSlowError as exc:
        t("caller saw", exc)


async def moved_anyio(t: Trace) -> None:
    import anyio

    try:
        with anyio.fail_after(10) as scope:
            await anyio.lowlevel.checkpoint()
            scope.deadline = anyio.current_time() - 1
            try:
                await anyio.lowlevel.checkpoint()
                t("await after moving the deadline", "returned")
            except anyio.get_cancelled_exc_class():
                t("await after moving the deadline", "Cancelled")
                raise
    except TimeoutError as exc:
        t("caller saw", exc)


async def moved_unicancel(t: Trace, k: Kit) -> None:
    try:
        with unicancel.fail_after(10) as scope:
            await k.sleep(0)
            scope.deadline = unicancel.current_time() - 1
            try:
                await k.sleep(0)
                t("await after moving the deadline", "returned")
            except unicancel.get_cancelled_exc_class():
                t("await after moving the deadline", "Cancelled")
                raise
    except TimeoutError as exc:
        t("caller saw", exc)


DEADLINE_MOVED = Scenario(
    name="deadline-moved-into-past",
    title="Move a running timeout's deadline into the past",
    description=(
        "asyncio.timeout's reschedule() and the scopes' deadline setter both "
        "take effect at the next await."
    ),
    covers=("timeouts",),
    headline="await after moving the deadline",
    asyncio=moved_asyncio,
    trio=moved_trio,
    anyio=moved_anyio,
    unicancel=moved_unicancel,
)


# -- fail_after + explicit cancel --------------------------------------------------------


async def explicit_asyncio(t: Trace) -> None:
    started = asyncio.Event()

    async def worker() -> None:
        async with asyncio.timeout(10):
            started.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(worker())
    await started.wait()
    task.cancel()  # asyncio's explicit cancel: Task.cancel(), inside the timeout
    try:
        await task
        t("caller saw", "nothing")
    except asyncio.CancelledError as exc:
        t("caller saw", exc)
    except TimeoutError as exc:
        t("caller saw", exc)


async def explicit_trio(t: Trace) -> None:
    import trio

    outcome: object = "nothing"
    try:
        with trio.fail_after(10) as scope:
            scope.cancel()
            await trio.sleep_forever()
    except trio.TooSlowError as exc:
        outcome = exc
    t("caller saw", outcome)
    t.info("scope caught it", scope.cancelled_caught)


async def explicit_anyio(t: Trace) -> None:
    import anyio

    outcome: object = "nothing"
    try:
        with anyio.fail_after(10) as scope:
            scope.cancel()
            await anyio.sleep_forever()
    except TimeoutError as exc:
        outcome = exc
    t("caller saw", outcome)
    t.info("scope caught it", scope.cancelled_caught)


async def explicit_unicancel(t: Trace, k: Kit) -> None:
    outcome: object = "nothing"
    try:
        with unicancel.fail_after(10) as scope:
            scope.cancel()
            await k.sleep_forever()
    except TimeoutError as exc:
        outcome = exc
    t("caller saw", outcome)
    t.info("scope caught it", scope.cancelled_caught)


FAIL_AFTER_EXPLICIT = Scenario(
    name="fail-after-explicit-cancel",
    title="A fail_after/timeout block is cancelled explicitly, long before its deadline",
    description=(
        "trio's fail_after raises TooSlowError whenever its scope caught a "
        "cancellation, even one from an explicit cancel(); anyio and unicancel "
        "raise TimeoutError only when the deadline caused it, and otherwise move "
        "on (docs/semantics.md). asyncio.timeout has no cancel(): the explicit cancel "
        "is Task.cancel(), which the timeout lets through as CancelledError."
    ),
    covers=("fail-after-exception", "timeouts"),
    headline="caller saw",
    asyncio=explicit_asyncio,
    trio=explicit_trio,
    anyio=explicit_anyio,
    unicancel=explicit_unicancel,
)


SCENARIOS = (FAIL_AFTER_EXPLICIT, DEADLINE_IN_PAST, DEADLINE_NO_CHECKPOINT, DEADLINE_MOVED)
