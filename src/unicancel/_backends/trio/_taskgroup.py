"""trio: unicancel's task group is a nursery inside the group's cancel scope.

Only the exception rule needs work: trio's nursery wraps cancellations in an
ExceptionGroup; unicancel lets them out bare when nothing else happened, and
drops them when real errors did (errors win), the same as on asyncio.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import trio

from ..._core import _contract, _errors
from ..._core._callables import check_coro, child_name, coroutine_or_error
from ._handle import TaskHandle

__all__ = ["TrioTaskGroup"]


class TrioTaskGroup:
    def __init__(self) -> None:
        self.cancel_scope = _contract.new_scope()
        self._closed = False

    def _open(self) -> trio.Nursery:
        if self._closed:
            raise RuntimeError(_errors.group_finished())
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
            del matched
        elif left is not None:
            errors = left
        try:
            swallowed = self.cancel_scope.__exit__(
                type(cancelled) if cancelled else None, cancelled, None
            )
            if errors is not None:
                # One message on every backend (trio says "Exceptions from
                # Trio nursery"); the leaves keep their tracebacks.
                leaves = errors.exceptions if isinstance(errors, BaseExceptionGroup) else [errors]
                raise BaseExceptionGroup(_errors.GROUP_ERRORS, list(leaves)) from None
            if cancelled is not None and not swallowed:
                if cancelled is exc:
                    return False
                raise cancelled
            return exc is not None
        finally:
            # What is raised here keeps this frame (its traceback): its
            # locals must not hold the exceptions, or they would form a cycle
            # with it, freed (with the body's and children's locals) only by
            # the garbage collector (trio's nursery does the same).
            del left, cancelled, errors, exc

    def start_soon(
        self, fn: Callable[..., Awaitable[Any]], args: tuple[Any, ...], name: object
    ) -> None:
        nursery = self._open()
        coro = coroutine_or_error(fn, args, "start_soon", "fn")
        # The function's __qualname__, as on asyncio (trio alone: "module.qualname").
        nursery.start_soon(_given, coro, name=child_name(name, fn))

    async def start(
        self, fn: Callable[..., Awaitable[Any]], args: tuple[Any, ...], name: object
    ) -> Any:
        try:
            label = child_name(name, fn) or fn
            return await self._open().start(_with_status, fn, args, name=label)
        except RuntimeError as error:
            if "without calling task_status.started()" not in str(error):
                raise
            raise RuntimeError(_errors.never_started()) from None

    def create_task(self, coro: Coroutine[Any, Any, Any], name: object) -> TaskHandle:
        check_coro(coro, "create_task", "coro")
        handle = TaskHandle._create(coro, name)
        self._open().start_soon(handle._run, name=child_name(name, coro) or handle)
        return handle


class _OnceStatus:
    """trio's task status with unicancel's error for a second started()."""

    __slots__ = ("_native", "_used")

    def __init__(self, native: trio.TaskStatus[Any]) -> None:
        self._native = native
        self._used = False

    def started(self, value: Any = None) -> None:
        if not trio.lowlevel.in_trio_run():
            # trio itself fails half-way here (the child already moved) and
            # the run then hangs: refuse before anything changes.
            raise RuntimeError(_errors.wrong_thread("task_status.started()"))
        if self._used:
            raise RuntimeError(_errors.started_twice())
        self._used = True
        self._native.started(value)


def _with_status(
    fn: Callable[..., Awaitable[Any]],
    args: tuple[Any, ...],
    *,
    task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED,
) -> Coroutine[Any, Any, Any]:
    # Sync: trio calls it inside start(), so a wrong fn fails at the call.
    return coroutine_or_error(fn, args, "start", "fn", {"task_status": _OnceStatus(task_status)})


def _given(coro: Coroutine[Any, Any, Any]) -> Coroutine[Any, Any, Any]:
    """Hand trio a coroutine already checked (and built) by start_soon()."""
    return coro


def _first(group: BaseExceptionGroup[BaseException]) -> BaseException:
    exc: BaseException = group
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc
