"""The :class:`~unicancel._stop._loop.Loop` of a running asyncio loop."""

from __future__ import annotations

import signal
import socket
import weakref
from asyncio import AbstractEventLoop, Task, TimerHandle, all_tasks, current_task, get_running_loop
from collections.abc import Callable
from contextlib import suppress
from typing import Any

from .._core._errors import no_running_backend
from ._loop import describe_await, no_undo

__all__ = ["AsyncioLoop"]


class _Timer:
    __slots__ = ("_handle", "_loop")

    def __init__(self, loop: AsyncioLoop, handle: TimerHandle) -> None:
        self._loop = loop
        self._handle = handle

    def cancel(self) -> None:
        # TimerHandle.cancel() is not thread-safe: always go through the loop.
        self._loop.soon(self._handle.cancel)

    def finished(self) -> bool:
        return self._loop._loop.is_closed()


class AsyncioLoop:
    __slots__ = ("_loop", "key")

    def __init__(self, loop: AbstractEventLoop | None = None) -> None:
        if loop is None:
            try:
                loop = get_running_loop()
            except RuntimeError:
                raise RuntimeError(no_running_backend()) from None
        self._loop = loop
        # Weak: a token keys its bindings by it, and must not keep a closed
        # loop (and through it, what its deadline heap holds) alive.
        self.key: object = weakref.ref(loop)

    def soon(self, fn: Callable[[], object]) -> None:
        # Documented as safe from another thread and from a signal handler
        # (gh-79149).
        with suppress(RuntimeError):  # the loop is closed: nothing is left to wake
            self._loop.call_soon_threadsafe(fn)

    def time(self) -> float:
        return self._loop.time()

    def call_at(self, when: float, fn: Callable[[], object]) -> _Timer:
        return _Timer(self, self._loop.call_at(when, fn))

    async def sleep_forever(self) -> None:
        await self._loop.create_future()

    def current_task(self) -> object:
        # Called on the loop's thread: the task it runs now, or None (a callback).
        return current_task(self._loop)

    def wake_on_signals(self) -> Callable[[], None]:
        # A plain signal.signal() handler runs only when the main thread
        # returns to Python code: a signal that arrives just before the loop
        # blocks in select() would wait for the next I/O, forever if none
        # comes. asyncio sets a wakeup fd only in add_signal_handler(), so do
        # what it does, with our own socket pair, unless one is set already
        # (trio in guest mode, the application): that one wakes its owner.
        reader, writer = socket.socketpair()
        reader.setblocking(False)
        writer.setblocking(False)
        try:
            previous = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
        except ValueError:  # not the main thread
            reader.close()
            writer.close()
            return no_undo
        if previous != -1:
            signal.set_wakeup_fd(previous)
            reader.close()
            writer.close()
            return no_undo
        loop = self._loop

        def drain() -> None:
            with suppress(OSError):
                while reader.recv(4096):
                    pass

        loop.add_reader(reader.fileno(), drain)

        def undo() -> None:
            current = signal.set_wakeup_fd(-1)
            if current != writer.fileno():
                signal.set_wakeup_fd(current)  # someone replaced ours: keep theirs
            with suppress(Exception):
                loop.remove_reader(reader.fileno())
            reader.close()
            writer.close()

        return undo

    def unfinished(self, host: object) -> list[str]:
        tasks: list[Task[Any]] = [t for t in all_tasks(self._loop) if t is not host]
        tasks.sort(key=lambda t: t.get_name())
        if isinstance(host, Task) and not host.done():
            tasks.insert(0, host)
        return [f"{describe_await(task.get_coro())} (task {task.get_name()!r})" for task in tasks]
