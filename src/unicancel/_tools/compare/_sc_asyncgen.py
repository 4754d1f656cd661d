"""Scenarios: async generators whose consumer is cancelled."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator

import unicancel

from ._kit import Kit
from ._model import Scenario, Trace

# -- async generator cleanup ------------------------------------------------------------


async def aclosing_asyncio(t: Trace) -> None:
    started = asyncio.Event()

    async def numbers() -> AsyncGenerator[int, None]:
        try:
            for n in range(10):
                yield n
        finally:
            t("generator cleanup", "started")
            try:
                await asyncio.sleep(0)
                t("await in generator cleanup", "returned")
            except asyncio.CancelledError:
                t("await in generator cleanup", "Cancelled")
                raise

    async def consumer() -> None:
        async with contextlib.aclosing(numbers()) as gen:
            async for n in gen:
                if n == 2:
                    started.set()
                    await asyncio.Event().wait()

    task = asyncio.create_task(consumer())
    await started.wait()
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        t.info("caller saw", "Cancelled")


async def aclosing_trio(t: Trace) -> None:
    import trio

    async def numbers() -> AsyncGenerator[int, None]:
        try:
            for n in range(10):
                yield n
        finally:
            t("generator cleanup", "started")
            try:
                await trio.lowlevel.checkpoint()
                t("await in generator cleanup", "returned")
            except trio.Cancelled:
                t("await in generator cleanup", "Cancelled")
                raise

    with trio.CancelScope() as scope:
        async with contextlib.aclosing(numbers()) as gen:
            async for n in gen:
                if n == 2:
                    scope.cancel()
                    await trio.sleep_forever()
    t.info("scope caught it", scope.cancelled_caught)


async def aclosing_anyio(t: Trace) -> None:
    import anyio

    async def numbers() -> AsyncGenerator[int, None]:
        try:
            for n in range(10):
                yield n
        finally:
            t("generator cleanup", "started")
            try:
                await anyio.lowlevel.checkpoint()
                t("await in generator cleanup", "returned")
            except anyio.get_cancelled_exc_class():
                t("await in generator cleanup", "Cancelled")
                raise

    with anyio.CancelScope() as scope:
        async with contextlib.aclosing(numbers()) as gen:
            async for n in gen:
                if n == 2:
                    scope.cancel()
                    await anyio.sleep_forever()
    t.info("scope caught it", scope.cancelled_caught)


async def aclosing_unicancel(t: Trace, k: Kit) -> None:
    async def numbers() -> AsyncGenerator[int, None]:
        try:
            for n in range(10):
                yield n
        finally:
            t("generator cleanup", "started")
            try:
                await k.sleep(0)
                t("await in generator cleanup", "returned")
            except unicancel.get_cancelled_exc_class():
                t("await in generator cleanup", "Cancelled")
                raise

    with unicancel.CancelScope() as scope:
        async with contextlib.aclosing(numbers()) as gen:
            async for n in gen:
                if n == 2:
                    scope.cancel()
                    await k.sleep_forever()
    t.info("scope caught it", scope.cancelled_caught)


ASYNCGEN_ACLOSING = Scenario(
    name="asyncgen-cleanup-aclosing",
    title="Async generator closed with contextlib.aclosing while its consumer is cancelled",
    description=(
        "aclosing() runs the generator's `finally:` at once, in the consumer's "
        "task and so inside its cancelled scope: the generator's cleanup await "
        "raises on level-triggered systems and returns on asyncio."
    ),
    covers=("asyncgen", "cleanup"),
    headline="await in generator cleanup",
    asyncio=aclosing_asyncio,
    trio=aclosing_trio,
    anyio=aclosing_anyio,
    unicancel=aclosing_unicancel,
)


async def gc_asyncio(t: Trace) -> None:
    started = asyncio.Event()

    async def numbers() -> AsyncGenerator[int, None]:
        try:
            for n in range(10):
                yield n
        finally:
            t("generator cleanup", "started")
            try:
                await asyncio.sleep(0)
                t("await in generator cleanup", "returned")
            except asyncio.CancelledError:
                t("await in generator cleanup", "Cancelled")
                raise

    async def consumer() -> None:
        async for n in numbers():  # no aclosing(): cleanup is left to the GC
            if n == 2:
                started.set()
                await asyncio.Event().wait()

    task = asyncio.create_task(consumer())
    await started.wait()
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        t.info("caller saw", "Cancelled")
    t("generator cleaned up when the caller saw it", t.get("generator cleanup") is not None)
    for _ in range(10):  # give the loop's async-generator finalizer a chance
        if t.get("await in generator cleanup") is not None:
            break
        await asyncio.sleep(0)
    t("cleanup finished within 10 loop iterations", t.get("await in generator cleanup") is not None)


async def gc_trio(t: Trace) -> None:
    import trio

    async def numbers() -> AsyncGenerator[int, None]:
        try:
            for n in range(10):
                yield n
        finally:
            t("generator cleanup", "started")
            try:
                await trio.lowlevel.checkpoint()
                t("await in generator cleanup", "returned")
            except trio.Cancelled:
                t("await in generator cleanup", "Cancelled")
                raise

    with trio.CancelScope() as scope:
        async for n in numbers():
            if n == 2:
                scope.cancel()
                await trio.sleep_forever()
    t.info("scope caught it", scope.cancelled_caught)
    t("generator cleaned up when the caller saw it", t.get("generator cleanup") is not None)
    for _ in range(10):  # give the loop's async-generator finalizer a chance
        if t.get("await in generator cleanup") is not None:
            break
        await trio.lowlevel.checkpoint()
    t("cleanup finished within 10 loop iterations", t.get("await in generator cleanup") is not None)


async def gc_anyio(t: Trace) -> None:
    import anyio

    async def numbers() -> AsyncGenerator[int, None]:
        try:
            for n in range(10):
                yield n
        finally:
            t("generator cleanup", "started")
            try:
                await anyio.lowlevel.checkpoint()
                t("await in generator cleanup", "returned")
            except anyio.get_cancelled_exc_class():
                t("await in generator cleanup", "Cancelled")
                raise

    with anyio.CancelScope() as scope:
        async for n in numbers():
            if n == 2:
                scope.cancel()
                await anyio.sleep_forever()
    t.info("scope caught it", scope.cancelled_caught)
    t("generator cleaned up when the caller saw it", t.get("generator cleanup") is not None)
    for _ in range(10):  # give the loop's async-generator finalizer a chance
        if t.get("await in generator cleanup") is not None:
            break
        await anyio.lowlevel.checkpoint()
    t("cleanup finished within 10 loop iterations", t.get("await in generator cleanup") is not None)


async def gc_unicancel(t: Trace, k: Kit) -> None:
    async def numbers() -> AsyncGenerator[int, None]:
        try:
            for n in range(10):
                yield n
        finally:
            t("generator cleanup", "started")
            try:
                await k.sleep(0)
                t("await in generator cleanup", "returned")
            except unicancel.get_cancelled_exc_class():
                t("await in generator cleanup", "Cancelled")
                raise

    with unicancel.CancelScope() as scope:
        async for n in numbers():
            if n == 2:
                scope.cancel()
                await k.sleep_forever()
    t.info("scope caught it", scope.cancelled_caught)
    t("generator cleaned up when the caller saw it", t.get("generator cleanup") is not None)
    for _ in range(10):  # give the loop's async-generator finalizer a chance
        if t.get("await in generator cleanup") is not None:
            break
        await k.sleep(0)
    t("cleanup finished within 10 loop iterations", t.get("await in generator cleanup") is not None)


ASYNCGEN_GC = Scenario(
    name="asyncgen-cleanup-gc",
    title="Async generator abandoned (no aclosing) when its consumer is cancelled",
    description=(
        "Without aclosing() the generator is finalized by the event loop's "
        "async-generator hooks once it is garbage collected: its cleanup runs "
        "later, in another task, outside the consumer's cancelled scope. trio's "
        "runner closes it inside a cancelled scope (the cleanup's await raises) "
        "and warns; asyncio's loop closes it in a plain task. The hooks belong to "
        "the loop and finalize every library's generators, so unicancel leaves "
        "them alone and its two columns follow their loops: close generators "
        "with contextlib.aclosing(), which asyncgen-cleanup-aclosing shows "
        "cancelled the same way on both backends."
    ),
    covers=("asyncgen", "cleanup"),
    headline="await in generator cleanup",
    asyncio=gc_asyncio,
    trio=gc_trio,
    anyio=gc_anyio,
    unicancel=gc_unicancel,
    native="the loop's async-generator finaliser (the generator is not closed with aclosing())",
)

SCENARIOS = (ASYNCGEN_ACLOSING, ASYNCGEN_GC)
