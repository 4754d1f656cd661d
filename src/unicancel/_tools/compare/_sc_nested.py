"""Scenarios: nested timeouts.

The three scenarios share one helper per system, parametrized by the two
deadlines relative to "now" (negative: already passed).
"""

from __future__ import annotations

import asyncio

import unicancel

from ._kit import Kit
from ._model import Scenario, Trace

_TIMEOUTS = ("TimeoutError", "TooSlowError")


def _reporter(t: Trace) -> None:
    inner, outer = t.get("inner block raised"), t.get("outer block raised")
    reporter = "inner" if inner in _TIMEOUTS else "outer" if outer in _TIMEOUTS else "none"
    t("timeout reported by", reporter)


async def _nested_asyncio(t: Trace, outer: float, inner: float) -> None:
    now = asyncio.get_running_loop().time()
    try:
        async with asyncio.timeout_at(now + outer):
            try:
                async with asyncio.timeout_at(now + inner):
                    await asyncio.Event().wait()
            except TimeoutError as exc:
                t("inner block raised", exc)  # handled: the code goes on
            except BaseException as exc:
                t("inner block raised", exc)
                raise
            t("code after the inner block", "ran")
        t("outer block raised", "nothing")
    except TimeoutError as exc:
        t("outer block raised", exc)
    _reporter(t)


async def _nested_trio(t: Trace, outer: float, inner: float) -> None:
    import trio

    now = trio.current_time()
    try:
        with trio.fail_at(now + outer):
            try:
                with trio.fail_at(now + inner):
                    await trio.sleep_forever()
            except trio.TooSlowError as exc:
                t("inner block raised", exc)  # handled: the code goes on
            except BaseException as exc:
                t("inner block raised", exc)
                raise
            t("code after the inner block", "ran")
        t("outer block raised", "nothing")
    except trio.TooSlowError as exc:
        t("outer block raised", exc)
    _reporter(t)


async def _nested_anyio(t: Trace, outer: float, inner: float) -> None:
    import anyio

    now = anyio.current_time()
    try:
        with anyio.fail_at(now + outer):
            try:
                with anyio.fail_at(now + inner):
                    await anyio.sleep_forever()
            except TimeoutError as exc:
                t("inner block raised", exc)  # handled: the code goes on
            except BaseException as exc:
                t("inner block raised", exc)
                raise
            t("code after the inner block", "ran")
        t("outer block raised", "nothing")
    except TimeoutError as exc:
        t("outer block raised", exc)
    _reporter(t)


async def _nested_unicancel(t: Trace, k: Kit, outer: float, inner: float) -> None:
    now = unicancel.current_time()
    try:
        with unicancel.fail_at(now + outer):
            try:
                with unicancel.fail_at(now + inner):
                    await k.sleep_forever()
            except TimeoutError as exc:
                t("inner block raised", exc)  # handled: the code goes on
            except BaseException as exc:
                t("inner block raised", exc)
                raise
            t("code after the inner block", "ran")
        t("outer block raised", "nothing")
    except TimeoutError as exc:
        t("outer block raised", exc)
    _reporter(t)


async def outer_fires_asyncio(t: Trace) -> None:
    await _nested_asyncio(t, outer=-1, inner=10)


async def outer_fires_trio(t: Trace) -> None:
    await _nested_trio(t, outer=-1, inner=10)


async def outer_fires_anyio(t: Trace) -> None:
    await _nested_anyio(t, outer=-1, inner=10)


async def outer_fires_unicancel(t: Trace, k: Kit) -> None:
    await _nested_unicancel(t, k, outer=-1, inner=10)


NESTED_OUTER_FIRES = Scenario(
    name="nested-timeouts-outer-fires",
    title="Nested timeouts: the outer one has expired, the inner one has not",
    description=(
        "The inner block must let the outer timeout's cancellation through "
        "untouched (as the cancelled exception), and only the outer block raises "
        "the timeout error."
    ),
    covers=("timeouts", "cancel-counting"),
    headline="timeout reported by",
    asyncio=outer_fires_asyncio,
    trio=outer_fires_trio,
    anyio=outer_fires_anyio,
    unicancel=outer_fires_unicancel,
)


async def inner_fires_asyncio(t: Trace) -> None:
    await _nested_asyncio(t, outer=10, inner=-1)


async def inner_fires_trio(t: Trace) -> None:
    await _nested_trio(t, outer=10, inner=-1)


async def inner_fires_anyio(t: Trace) -> None:
    await _nested_anyio(t, outer=10, inner=-1)


async def inner_fires_unicancel(t: Trace, k: Kit) -> None:
    await _nested_unicancel(t, k, outer=10, inner=-1)


NESTED_INNER_FIRES = Scenario(
    name="nested-timeouts-inner-fires",
    title="Nested timeouts: the inner one has expired, the outer one has not",
    description=(
        "The inner block raises the timeout error; the outer block is not "
        "disturbed (a timeout error is an ordinary exception to it)."
    ),
    covers=("timeouts",),
    headline="timeout reported by",
    asyncio=inner_fires_asyncio,
    trio=inner_fires_trio,
    anyio=inner_fires_anyio,
    unicancel=inner_fires_unicancel,
)


async def both_asyncio(t: Trace) -> None:
    await _nested_asyncio(t, outer=-1, inner=-1)


async def both_trio(t: Trace) -> None:
    await _nested_trio(t, outer=-1, inner=-1)


async def both_anyio(t: Trace) -> None:
    await _nested_anyio(t, outer=-1, inner=-1)


async def both_unicancel(t: Trace, k: Kit) -> None:
    await _nested_unicancel(t, k, outer=-1, inner=-1)


NESTED_BOTH = Scenario(
    name="nested-timeouts-both-expired",
    title="Nested timeouts with the same deadline, already passed",
    description=(
        "Both timeouts cancel in the same loop iteration; on asyncio that is two "
        "Task.cancel() calls folded into one CancelledError. The outer block "
        "reports: the inner one must see that someone else also wants the task "
        "cancelled (cancelling() above its entry value)."
    ),
    covers=("timeouts", "cancel-counting"),
    headline="timeout reported by",
    asyncio=both_asyncio,
    trio=both_trio,
    anyio=both_anyio,
    unicancel=both_unicancel,
)

SCENARIOS = (NESTED_OUTER_FIRES, NESTED_INNER_FIRES, NESTED_BOTH)
