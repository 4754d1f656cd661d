"""trio: unicancel's task group is a nursery inside the group's cancel scope.

Only the exception rule needs work: trio's nursery wraps cancellations in an
ExceptionGroup; unicancel lets them out bare when nothing else happened, and
drops them when real errors did (errors win), the same as on asyncio.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import trio

from .._scope import CancelScope

__all__ = ["TaskHandle", "TrioTaskGroup"]


class TrioTaskGroup:
    def __init__(self) -> None:
        self.cancel_scope = CancelScope()
        self._closed = False

    def _open(self) -> trio.Nursery:
        if self._closed:
            raise RuntimeError(
                "unicancel: this TaskGroup has finished; start children only while "
                "its 'async with' block (or its children) are running"
            )
        return self._nursery

    async def aenter(self) -> None:
        self.cancel_scope.__enter__()
        self._manager = trio.open_nursery()
        try:
            self._nursery = await self._manager.__aenter__()
        except BaseException as exc:
            self.cancel_scope.__exit__(type(exc), exc, exc.__traceback__)
            raise

    async def aexit(self, exc: BaseException | None) -> bool:
        try:
            if exc is None:
                await self._manager.__aexit__(None, None, None)
            else:
                await self._manager.__aexit__(type(exc), exc, exc.__traceback__)
        except BaseException as raised:
            left: BaseException | None = raised
        else:
            left = None
        self._closed = True
        cancelled: BaseException | None = None
        errors: BaseException | None = None
        if isinstance(left, trio.Cancelled):
            cancelled = left
        elif isinstance(left, BaseExceptionGroup):
            matched, errors = left.split(trio.Cancelled)
            if matched is not None:
                cancelled = _first(matched)
        elif left is not None:
            errors = left
        swallowed = self.cancel_scope.__exit__(
            type(cancelled) if cancelled else None, cancelled, None
        )
        if errors is not None:
            if not isinstance(errors, BaseExceptionGroup):
                errors = BaseExceptionGroup("unhandled errors in a TaskGroup", [errors])
            raise errors
        if cancelled is not None and not swallowed:
            if cancelled is exc:
                return False
            raise cancelled
        return exc is not None

    def start_soon(
        self, fn: Callable[..., Awaitable[Any]], args: tuple[Any, ...], name: object
    ) -> None:
        self._open().start_soon(fn, *args, name=name)

    async def start(
        self, fn: Callable[..., Awaitable[Any]], args: tuple[Any, ...], name: object
    ) -> Any:
        return await self._open().start(fn, *args, name=name)

    def create_task(self, coro: Coroutine[Any, Any, Any], name: object) -> TaskHandle:
        handle = TaskHandle(coro, name)
        self._open().start_soon(handle._run, name=name or handle)
        return handle


class TaskHandle:
    """What :meth:`TaskGroup.create_task` returns on trio (trio has no task
    objects to hand out): cancel the child alone, or look at its outcome."""

    __slots__ = ("_coro", "_done", "_exc", "_name", "_result", "_scope")

    def __init__(self, coro: Coroutine[Any, Any, Any], name: object) -> None:
        self._coro = coro
        self._name = name
        self._scope = CancelScope()
        self._done = trio.Event()
        self._result: Any = None
        self._exc: BaseException | None = None

    async def _run(self) -> None:
        try:
            with self._scope:
                self._result = await self._coro
        except BaseException as exc:
            self._exc = exc
            raise
        finally:
            self._done.set()

    def cancel(self, reason: str | None = None) -> None:
        """Cancel this child only."""
        self._scope.cancel(reason)

    def done(self) -> bool:
        """Whether the child has finished."""
        return self._done.is_set()

    def cancelled(self) -> bool:
        """Whether the child ended by its own cancel()."""
        return self._scope.cancelled_caught

    def result(self) -> Any:
        """The child's return value; raises its exception, or RuntimeError if not done."""
        if not self.done():
            raise RuntimeError("unicancel: the task has not finished yet")
        if self._exc is not None:
            raise self._exc
        return self._result

    def exception(self) -> BaseException | None:
        """The exception the child raised, if any."""
        return self._exc

    async def wait(self) -> None:
        """Wait until the child has finished."""
        await self._done.wait()

    def __repr__(self) -> str:
        return f"<unicancel.TaskHandle {self._name or self._coro!r}>"


def _first(group: BaseExceptionGroup[BaseException]) -> BaseException:
    exc: BaseException = group
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc
