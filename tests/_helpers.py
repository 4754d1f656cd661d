"""Backend-neutral test helpers: native sleeps, events and task spawning.

They call the running backend's own primitives, so what a test observes is
unicancel's behaviour, not a compatibility layer's.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from typing import Any

import sniffio


def backend() -> str:
    return sniffio.current_async_library()


async def sleep(seconds: float) -> None:
    if backend() == "trio":
        import trio

        await trio.sleep(seconds)
    else:
        await asyncio.sleep(seconds)


async def sleep_forever() -> None:
    await sleep(math.inf) if backend() == "trio" else await asyncio.Event().wait()


class Event:
    """A one-shot event backed by the native primitive."""

    def __init__(self) -> None:
        self._native: Any
        if backend() == "trio":
            import trio

            self._native = trio.Event()
        else:
            self._native = asyncio.Event()

    def set(self) -> None:
        self._native.set()

    def is_set(self) -> bool:
        return bool(self._native.is_set())

    async def wait(self) -> None:
        await self._native.wait()


async def wait_all_tasks_blocked() -> None:
    """Return once every other task is blocked (trio) or after the ready queue
    has drained several times (asyncio: no task is runnable any more)."""
    if backend() == "trio":
        import trio.testing

        await trio.testing.wait_all_tasks_blocked()
    else:
        from anyio.lowlevel import checkpoint

        for _ in range(20):
            await checkpoint()


async def run_concurrently(*fns: Callable[[], Awaitable[Any]]) -> None:
    """Run *fns* as sibling tasks of a native task group / nursery."""
    if backend() == "trio":
        import trio

        async with trio.open_nursery() as nursery:
            for fn in fns:
                nursery.start_soon(fn)
    else:
        async with asyncio.TaskGroup() as tg:
            for fn in fns:
                tg.create_task(fn())  # type: ignore[arg-type]
