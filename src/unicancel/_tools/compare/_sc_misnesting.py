"""Scenarios: scopes exited out of order (ANCHORS trap 6).

The usual causes: a scope held open across a ``yield`` of an async generator,
``__enter__``/``__exit__`` called by hand, exit stacks closed out of order.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import unicancel

from ._kit import Kit
from ._model import Scenario, Trace


def _error(t: Trace, what: str, exc: BaseException) -> None:
    t(what, exc)
    t("the error names likely causes", "generator" in str(exc))


async def order_asyncio(t: Trace) -> None:
    outer, inner = asyncio.timeout(None), asyncio.timeout(None)
    await outer.__aenter__()
    await inner.__aenter__()
    try:
        await outer.__aexit__(None, None, None)
        t("exiting the outer scope first", "accepted")
    except RuntimeError as exc:
        _error(t, "exiting the outer scope first", exc)
    try:
        await inner.__aexit__(None, None, None)
        t("then exiting the inner scope", "accepted")
    except RuntimeError as exc:
        t("then exiting the inner scope", exc)
    await asyncio.sleep(0)
    t("next await", "returned")


async def order_trio(t: Trace) -> None:
    import trio

    outer, inner = trio.CancelScope(), trio.CancelScope()
    outer.__enter__()
    inner.__enter__()
    try:
        outer.__exit__(None, None, None)
        t("exiting the outer scope first", "accepted")
    except RuntimeError as exc:
        _error(t, "exiting the outer scope first", exc)
    try:
        inner.__exit__(None, None, None)
        t("then exiting the inner scope", "accepted")
    except RuntimeError as exc:
        t("then exiting the inner scope", exc)
    await trio.lowlevel.checkpoint()
    t("next await", "returned")


async def order_anyio(t: Trace) -> None:
    import anyio

    outer, inner = anyio.CancelScope(), anyio.CancelScope()
    outer.__enter__()
    inner.__enter__()
    try:
        outer.__exit__(None, None, None)
        t("exiting the outer scope first", "accepted")
    except RuntimeError as exc:
        _error(t, "exiting the outer scope first", exc)
    try:
        inner.__exit__(None, None, None)
        t("then exiting the inner scope", "accepted")
    except RuntimeError as exc:
        t("then exiting the inner scope", exc)
    await anyio.lowlevel.checkpoint()
    t("next await", "returned")


async def order_unicancel(t: Trace, k: Kit) -> None:
    outer, inner = unicancel.CancelScope(), unicancel.CancelScope()
    outer.__enter__()
    inner.__enter__()
    try:
        outer.__exit__(None, None, None)
        t("exiting the outer scope first", "accepted")
    except RuntimeError as exc:
        _error(t, "exiting the outer scope first", exc)
    try:
        inner.__exit__(None, None, None)
        t("then exiting the inner scope", "accepted")
    except RuntimeError as exc:
        t("then exiting the inner scope", exc)
    await k.sleep(0)
    t("next await", "returned")


MISNESTING_ORDER = Scenario(
    name="misnesting-out-of-order",
    title="Two scopes entered by hand, the outer one exited first",
    description=(
        "asyncio.timeout does not check nesting at all. trio, anyio and unicancel "
        "raise RuntimeError; trio's and unicancel's text lists the likely causes "
        "(async generators, exit stacks, __exit__ by hand), anyio's does not. "
        "What the inner scope's own exit does afterwards differs too."
    ),
    covers=("misnesting",),
    headline="exiting the outer scope first",
    asyncio=order_asyncio,
    trio=order_trio,
    anyio=order_anyio,
    unicancel=order_unicancel,
)

# -- a scope open across a yield --------------------------------------------------------------


async def agen_asyncio(t: Trace) -> None:
    async def ticks() -> AsyncGenerator[int, None]:
        async with asyncio.timeout(None):  # a scope held open across yields
            yield 1
            yield 2

    gen = ticks()
    await gen.__anext__()  # the generator's scope is now open in our task
    async with asyncio.timeout(None):
        try:
            await gen.aclose()  # closes the generator's scope inside ours
            t("closing the generator inside another scope", "accepted")
        except RuntimeError as exc:
            _error(t, "closing the generator inside another scope", exc)
    t("code after the consumer's scope", "ran")


async def agen_trio(t: Trace) -> None:
    import trio

    async def ticks() -> AsyncGenerator[int, None]:
        with trio.CancelScope():
            yield 1
            yield 2

    gen = ticks()
    await gen.__anext__()
    try:
        with trio.CancelScope():
            try:
                await gen.aclose()
                t("closing the generator inside another scope", "accepted")
            except RuntimeError as exc:
                _error(t, "closing the generator inside another scope", exc)
    except RuntimeError as exc:
        t("exiting the consumer's scope", exc)
    t("code after the consumer's scope", "ran")


async def agen_anyio(t: Trace) -> None:
    import anyio

    async def ticks() -> AsyncGenerator[int, None]:
        with anyio.CancelScope():
            yield 1
            yield 2

    gen = ticks()
    await gen.__anext__()
    try:
        with anyio.CancelScope():
            try:
                await gen.aclose()
                t("closing the generator inside another scope", "accepted")
            except RuntimeError as exc:
                _error(t, "closing the generator inside another scope", exc)
    except RuntimeError as exc:
        t("exiting the consumer's scope", exc)
    t("code after the consumer's scope", "ran")


async def agen_unicancel(t: Trace, k: Kit) -> None:
    async def ticks() -> AsyncGenerator[int, None]:
        with unicancel.CancelScope():
            yield 1
            yield 2

    gen = ticks()
    await gen.__anext__()
    try:
        with unicancel.CancelScope():
            try:
                await gen.aclose()
                t("closing the generator inside another scope", "accepted")
            except RuntimeError as exc:
                _error(t, "closing the generator inside another scope", exc)
    except RuntimeError as exc:
        t("exiting the consumer's scope", exc)
    t("code after the consumer's scope", "ran")


MISNESTING_AGEN = Scenario(
    name="misnesting-async-generator",
    title="An async generator holds a scope open across yield; it is closed inside another scope",
    description=(
        "The most reported misnesting: the generator's scope lives in the "
        "consumer's task and is exited out of order when the consumer closes the "
        "generator from inside a scope of its own. Only the scope libraries "
        "notice; asyncio.timeout silently accepts it."
    ),
    covers=("misnesting", "asyncgen"),
    headline="closing the generator inside another scope",
    asyncio=agen_asyncio,
    trio=agen_trio,
    anyio=agen_anyio,
    unicancel=agen_unicancel,
)

SCENARIOS = (MISNESTING_ORDER, MISNESTING_AGEN)
