"""Scenarios: timeouts are cancellations (what the caller and the inner code see)."""

from __future__ import annotations

import asyncio

import unicancel

from ._kit import Kit
from ._model import Scenario, Trace

# -- a timeout expires ----------------------------------------------------------------


async def expires_asyncio(t: Trace) -> None:
    async def inner() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError as exc:
            t("inner await saw", exc)
            raise
        finally:
            t("inner cleanup", "ran")

    try:
        async with asyncio.timeout(0.01):
            await inner()
    except TimeoutError as exc:
        t("caller saw", exc)
        t("chained from", exc.__cause__ or exc.__context__)


async def expires_trio(t: Trace) -> None:
    import trio

    async def inner() -> None:
        try:
            await trio.sleep_forever()
        except trio.Cancelled as exc:
            t("inner await saw", exc)
            raise
        finally:
            t("inner cleanup", "ran")

    try:
        with trio.fail_after(0.01):
            await inner()
    except trio.TooSlowError as exc:
        t("caller saw", exc)
        t("chained from", exc.__cause__ or exc.__context__)


async def expires_anyio(t: Trace) -> None:
    import anyio

    async def inner() -> None:
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class() as exc:
            t("inner await saw", exc)
            raise
        finally:
            t("inner cleanup", "ran")

    try:
        with anyio.fail_after(0.01):
            await inner()
    except TimeoutError as exc:
        t("caller saw", exc)
        t("chained from", exc.__cause__ or exc.__context__)


async def expires_unicancel(t: Trace, k: Kit) -> None:
    async def inner() -> None:
        try:
            await k.sleep_forever()
        except unicancel.get_cancelled_exc_class() as exc:
            t("inner await saw", exc)
            raise
        finally:
            t("inner cleanup", "ran")

    try:
        with unicancel.fail_after(0.01):
            await inner()
    except TimeoutError as exc:
        t("caller saw", exc)
        t("chained from", exc.__cause__ or exc.__context__)


TIMEOUT_EXPIRES = Scenario(
    name="timeout-expires",
    title="A timeout expires around code that waits forever",
    description=(
        "The inner code sees the cancelled exception and its cleanup runs; the "
        "caller sees a timeout error: builtin TimeoutError on asyncio "
        "(asyncio.timeout), anyio and unicancel (fail_after), trio.TooSlowError "
        "on trio (fail_after). Short real deadline (10 ms) around a wait that "
        "never ends: the outcome does not depend on timing."
    ),
    covers=("timeouts", "fail-after-exception"),
    headline="caller saw",
    asyncio=expires_asyncio,
    trio=expires_trio,
    anyio=expires_anyio,
    unicancel=expires_unicancel,
)

# -- wait_for ----------------------------------------------------------------------------


async def wait_for_asyncio(t: Trace) -> None:
    caller = asyncio.current_task()

    async def inner() -> None:
        t("inner runs in the caller's task", asyncio.current_task() is caller)
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError as exc:
            t("inner await saw", exc)
            raise
        finally:
            t("inner cleanup", "ran")

    try:
        await asyncio.wait_for(inner(), timeout=0.01)
    except TimeoutError as exc:
        t("caller saw", exc)


async def wait_for_trio(t: Trace) -> None:
    import trio

    caller = trio.lowlevel.current_task()

    async def inner() -> None:
        t("inner runs in the caller's task", trio.lowlevel.current_task() is caller)
        try:
            await trio.sleep_forever()
        except trio.Cancelled as exc:
            t("inner await saw", exc)
            raise
        finally:
            t("inner cleanup", "ran")

    try:
        with trio.fail_after(0.01):  # trio has no wait_for: a scope is the tool
            await inner()
    except trio.TooSlowError as exc:
        t("caller saw", exc)


async def wait_for_anyio(t: Trace) -> None:
    import anyio

    caller = anyio.get_current_task().id

    async def inner() -> None:
        t("inner runs in the caller's task", anyio.get_current_task().id == caller)
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class() as exc:
            t("inner await saw", exc)
            raise
        finally:
            t("inner cleanup", "ran")

    try:
        with anyio.fail_after(0.01):
            await inner()
    except TimeoutError as exc:
        t("caller saw", exc)


async def wait_for_unicancel(t: Trace, k: Kit) -> None:
    caller = k.current_task()

    async def inner() -> None:
        t("inner runs in the caller's task", k.current_task() is caller)
        try:
            await k.sleep_forever()
        except unicancel.get_cancelled_exc_class() as exc:
            t("inner await saw", exc)
            raise
        finally:
            t("inner cleanup", "ran")

    try:
        with unicancel.fail_after(0.01):
            await inner()
    except TimeoutError as exc:
        t("caller saw", exc)


WAIT_FOR = Scenario(
    name="wait-for-timeout",
    title="asyncio.wait_for and its scope equivalents on a coroutine that never ends",
    description=(
        "wait_for cancels the coroutine at the deadline, waits for its cleanup "
        "and converts the cancellation into TimeoutError; up to Python 3.11 it "
        "runs the coroutine in a new task, since 3.12 in the caller's own task. "
        "Scope-based systems run the code in the caller's own task under a "
        "deadline (fail_after); trio's raises TooSlowError."
    ),
    covers=("timeouts", "fail-after-exception"),
    headline="caller saw",
    asyncio=wait_for_asyncio,
    trio=wait_for_trio,
    anyio=wait_for_anyio,
    unicancel=wait_for_unicancel,
    python_dependent={
        "asyncio": "since 3.12 wait_for awaits a coroutine in the caller's task",
        "uvloop": "since 3.12 wait_for awaits a coroutine in the caller's task",
    },
)

# -- the inner code swallows the timeout's cancellation -------------------------------------


async def swallowed_asyncio(t: Trace) -> None:
    async def inner() -> str:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            t("inner", "swallowed the cancellation")
        try:
            await asyncio.sleep(0)  # e.g. log the failure
            t("inner's next await", "returned")
        except asyncio.CancelledError:
            t("inner's next await", "Cancelled")
            raise
        return "partial result"

    try:
        async with asyncio.timeout(0.01):
            t("caller got", await inner())
    except TimeoutError as exc:
        t("caller got", exc)


async def swallowed_trio(t: Trace) -> None:
    import trio

    async def inner() -> str:
        try:
            await trio.sleep_forever()
        except trio.Cancelled:
            t("inner", "swallowed the cancellation")
        try:
            await trio.lowlevel.checkpoint()
            t("inner's next await", "returned")
        except trio.Cancelled:
            t("inner's next await", "Cancelled")
            raise
        return "partial result"

    try:
        with trio.fail_after(0.01):
            t("caller got", await inner())
    except trio.TooSlowError as exc:
        t("caller got", exc)


async def swallowed_anyio(t: Trace) -> None:
    import anyio

    async def inner() -> str:
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            t("inner", "swallowed the cancellation")
        try:
            await anyio.lowlevel.checkpoint()
            t("inner's next await", "returned")
        except anyio.get_cancelled_exc_class():
            t("inner's next await", "Cancelled")
            raise
        return "partial result"

    try:
        with anyio.fail_after(0.01):
            t("caller got", await inner())
    except TimeoutError as exc:
        t("caller got", exc)


async def swallowed_unicancel(t: Trace, k: Kit) -> None:
    async def inner() -> str:
        try:
            await k.sleep_forever()
        except unicancel.get_cancelled_exc_class():
            t("inner", "swallowed the cancellation")
        try:
            await k.sleep(0)
            t("inner's next await", "returned")
        except unicancel.get_cancelled_exc_class():
            t("inner's next await", "Cancelled")
            raise
        return "partial result"

    try:
        with unicancel.fail_after(0.01):
            t("caller got", await inner())
    except TimeoutError as exc:
        t("caller got", exc)


TIMEOUT_SWALLOWED = Scenario(
    name="timeout-swallowed",
    title="The code under a timeout swallows its cancellation, awaits once more, returns",
    description=(
        "asyncio.timeout only converts a CancelledError that reaches it: when the "
        "body swallows it, the block ends normally and the caller gets a result "
        "although the deadline passed. Level-triggered deadlines raise again at "
        "the next await, so the timeout is still reported."
    ),
    covers=("timeouts", "swallowed-cancel", "level"),
    headline="caller got",
    asyncio=swallowed_asyncio,
    trio=swallowed_trio,
    anyio=swallowed_anyio,
    unicancel=swallowed_unicancel,
)

SCENARIOS = (TIMEOUT_EXPIRES, WAIT_FOR, TIMEOUT_SWALLOWED)
