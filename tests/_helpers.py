"""Backend-neutral test helpers: native sleeps, events and task spawning.

They call the running backend's own primitives, so what a test observes is
unicancel's behaviour, not a compatibility layer's.
"""

from __future__ import annotations

import asyncio
import gc
import math
import os
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from types import FrameType
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


# -- reference cycles ----------------------------------------------------------


def is_unicancel_object(obj: object) -> bool:
    """Whether *obj* was made by unicancel: an instance of one of its classes,
    or a frame, coroutine or function of its code."""
    if type(obj).__module__.startswith("unicancel"):
        return True
    code = getattr(obj, "f_code", None) or getattr(obj, "cr_code", None)
    code = code or getattr(obj, "__code__", None)
    filename = getattr(code, "co_filename", "")
    return isinstance(filename, str) and f"{os.sep}unicancel{os.sep}" in filename


@contextmanager
def no_cyclic_garbage(only: Callable[[object], bool] | None = None) -> Iterator[None]:
    """Fail if the block leaves reference cycles behind: objects that, once
    the block is done with them, only the cyclic garbage collector can free
    (their frames' locals with them: a buffer, a socket, a task).

    Works around sync code (``with no_cyclic_garbage(): asyncio.run(...)``)
    and inside async code (``with no_cyclic_garbage(): await scenario()``).
    The gc is disabled in the block, after a full collection; at the end, a
    collection with ``gc.DEBUG_SAVEALL`` finds what the block left in cycles.
    *only* keeps the objects to report (e.g. :func:`is_unicancel_object`,
    when the block runs code that has cycles of its own, like ``trio.run``).
    The gc's state is restored whatever happens.
    """
    gc.collect()
    enabled = gc.isenabled()
    flags = gc.get_debug()
    gc.disable()
    found: list[object] = []
    try:
        yield
        gc.set_debug(flags | gc.DEBUG_SAVEALL)
        gc.collect()
        found = [obj for obj in gc.garbage if only is None or only(obj)]
    finally:
        gc.garbage.clear()
        gc.set_debug(flags)
        if enabled:
            gc.enable()
    assert not found, f"{len(found)} objects left in reference cycles: {_describe(found)}"


def assert_no_cyclic_garbage(
    fn: Callable[[], object], only: Callable[[object], bool] | None = None
) -> None:
    """Call *fn* and fail if it left reference cycles (see :func:`no_cyclic_garbage`)."""
    with no_cyclic_garbage(only):
        fn()


def _describe(objects: list[object]) -> str:
    counts = Counter(type(obj).__qualname__ for obj in objects)
    frames = sorted(
        {
            f"{obj.f_code.co_name} ({os.path.basename(obj.f_code.co_filename)})"
            for obj in objects
            if isinstance(obj, FrameType)
        }
    )
    return f"{dict(counts.most_common(12))}; frames: {frames}"
