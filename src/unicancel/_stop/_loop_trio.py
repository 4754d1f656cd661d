"""The :class:`~unicancel._stop._loop.Loop` of a running trio run."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress

import trio
from trio.lowlevel import Task, TrioToken, current_trio_token, spawn_system_task

from ._loop import describe_await, no_undo

__all__ = ["TrioLoop"]


class _Timer:
    """A system task sleeping until the deadline (trio has no call_at)."""

    __slots__ = ("_finished", "_fn", "_loop", "_scope")

    def __init__(self, loop: TrioLoop, when: float, fn: Callable[[], object]) -> None:
        self._loop = loop
        self._fn: Callable[[], object] | None = fn
        self._scope = trio.CancelScope(deadline=when)
        self._finished = False
        spawn_system_task(self._sleep, name="unicancel stop timer")

    async def _sleep(self) -> None:
        try:
            with self._scope:
                await trio.sleep_forever()
        finally:
            # Also when the run ends first (system tasks are cancelled).
            self._finished = True
        fn = self._fn
        if fn is not None and self._scope.cancelled_caught:
            fn()

    def finished(self) -> bool:
        return self._finished

    def cancel(self) -> None:
        self._fn = None
        self._loop.soon(self._scope.cancel)


class TrioLoop:
    __slots__ = ("_token", "key")

    def __init__(self) -> None:
        self._token: TrioToken = current_trio_token()
        self.key: object = self._token

    def soon(self, fn: Callable[[], object]) -> None:
        # Documented as safe from another thread and from a signal handler.
        with suppress(trio.RunFinishedError):  # nothing is left to wake
            self._token.run_sync_soon(fn)

    def time(self) -> float:
        return trio.current_time()

    def call_at(self, when: float, fn: Callable[[], object]) -> _Timer:
        return _Timer(self, when, fn)

    async def sleep_forever(self) -> None:
        await trio.sleep_forever()

    def current_task(self) -> object:
        return trio.lowlevel.current_task()

    def wake_on_signals(self) -> Callable[[], None]:
        # trio.run() already sets a wakeup fd for its signal handling.
        return no_undo

    def unfinished(self, host: object) -> list[str]:
        lines: list[str] = []
        if isinstance(host, Task):
            self._walk(host, lines)
        return lines

    def _walk(self, task: Task, lines: list[str]) -> None:
        lines.append(f"{describe_await(task.coro)} (task {task.name!r})")
        for nursery in task.child_nurseries:
            for child in sorted(nursery.child_tasks, key=lambda t: t.name):
                self._walk(child, lines)
