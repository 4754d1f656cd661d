"""Native primitives for the unicancel variants, and a measuring probe.

unicancel provides scopes, deadlines, checkpoints, task groups, an event
(``unicancel.Event``) and a thread helper (``unicancel.to_thread``), but (in
this release) no sleep: a unicancel user takes that from the backend. A
unicancel variant is written once, against unicancel plus this small kit, so
that its two columns run exactly the same code. Each kit method is the
one-line native call a user would write. ``task_group()`` is the backend's
own group, for the scenarios about unicancel scopes around native groups
(ANCHORS trap 1).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol

__all__ = ["AsyncioKit", "Kit", "Spawner", "TrioKit", "WakeupProbe", "wakeup_probe"]


class Spawner(Protocol):
    def start_soon(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> None: ...


class Kit(Protocol):
    """What a unicancel variant takes from its backend."""

    #: "asyncio" or "trio".
    backend: str

    async def sleep(self, seconds: float) -> None: ...
    async def sleep_forever(self) -> None: ...
    def task_group(self) -> Any:
        """``async with`` -> :class:`Spawner`: the backend's own group
        (asyncio.TaskGroup / trio nursery), not unicancel.TaskGroup."""

    def current_task(self) -> object: ...
    def loop_caller(self) -> Callable[[Callable[[], object]], None]:
        """A function that any thread may call to run a callable in this loop."""


class _AsyncioSpawner:
    def __init__(self, tg: asyncio.TaskGroup) -> None:
        self._tg = tg

    def start_soon(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> None:
        async def call() -> None:
            await fn(*args)

        self._tg.create_task(call())


class AsyncioKit:
    backend = "asyncio"

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def sleep_forever(self) -> None:
        await asyncio.get_running_loop().create_future()

    @asynccontextmanager
    async def task_group(self) -> AsyncIterator[Spawner]:
        async with asyncio.TaskGroup() as tg:
            yield _AsyncioSpawner(tg)

    def current_task(self) -> object:
        return asyncio.current_task()

    def loop_caller(self) -> Callable[[Callable[[], object]], None]:
        loop = asyncio.get_running_loop()

        def call(fn: Callable[[], object]) -> None:
            loop.call_soon_threadsafe(fn)

        return call


class TrioKit:
    backend = "trio"

    async def sleep(self, seconds: float) -> None:
        import trio

        await trio.sleep(seconds)

    async def sleep_forever(self) -> None:
        import trio

        await trio.sleep_forever()

    @asynccontextmanager
    async def task_group(self) -> AsyncIterator[Spawner]:
        import trio

        async with trio.open_nursery() as nursery:
            yield nursery

    def current_task(self) -> object:
        import trio

        return trio.lowlevel.current_task()

    def loop_caller(self) -> Callable[[Callable[[], object]], None]:
        import trio

        token = trio.lowlevel.current_trio_token()

        def call(fn: Callable[[], object]) -> None:
            trio.from_thread.run_sync(fn, trio_token=token)

        return call


#: Samples after which the trio probe starts counting (see _TrioProbe).
SETTLE = 5


class WakeupProbe(Protocol):
    """Counts how often the host task (the one that created the probe) is
    woken by a cancellation between :meth:`reset` and :meth:`stop`."""

    def reset(self) -> None: ...
    def sample(self) -> None: ...
    def stop(self) -> int: ...


class _AsyncioProbe:
    """asyncio: each ``Task.cancel()`` aimed at the host wakes it and raises
    ``cancelling()``, which stays raised until the canceller uncancels; the
    peak during the window is the number of cancel requests."""

    def __init__(self) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._task = task
        self._base = task.cancelling()
        self._peak = 0

    def reset(self) -> None:
        self._peak = 0
        self.sample()

    def sample(self) -> None:
        self._peak = max(self._peak, self._task.cancelling() - self._base)

    def stop(self) -> int:
        self.sample()
        return self._peak


class _TrioProbe:
    """trio: count the host task's scheduler steps with an instrument. Steps
    before the :data:`SETTLE`-th sample are ignored: whether the host's own
    step after the cancel falls inside the window depends on trio's
    (randomised) order of runnable tasks."""

    def __init__(self) -> None:
        import trio

        self._host = trio.lowlevel.current_task()
        self._steps = 0
        self._samples = 0
        self._settled = 0
        probe = self

        class Counter(trio.abc.Instrument):
            def before_task_step(self, task: trio.lowlevel.Task) -> None:
                if task is probe._host:
                    probe._steps += 1

        self._instrument = Counter()
        trio.lowlevel.add_instrument(self._instrument)

    def reset(self) -> None:
        self._samples = 0

    def sample(self) -> None:
        self._samples += 1
        if self._samples == SETTLE:
            self._settled = self._steps

    def stop(self) -> int:
        import trio

        trio.lowlevel.remove_instrument(self._instrument)
        return self._steps - self._settled


def wakeup_probe() -> WakeupProbe:
    """A probe for the running backend, bound to the current task."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _TrioProbe()
    return _AsyncioProbe()


def describe_wakeups(count: int, iterations: int) -> str:
    """Bucket a wake-up count so that the trace does not depend on the exact
    number of loop iterations a backend needs for its bookkeeping."""
    if count <= 3:
        return "bounded"
    if count >= iterations // 2:
        return "every iteration"
    return f"many (>3, <{iterations // 2})"


def run_in_thread(fn: Callable[[], object]) -> threading.Thread:
    """Start *fn* in a new daemon thread (for the thread scenarios)."""
    thread = threading.Thread(target=fn, daemon=True)
    thread.start()
    return thread
