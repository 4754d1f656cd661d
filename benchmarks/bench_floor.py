"""The floor of workload 1: the least work an unarmed scope with unicancel's
semantics needs, measured beside unicancel and asyncio.timeout (asyncio) or
trio.CancelScope (trio; :class:`TrioFloorScope`, at the end).

:class:`FloorScope` does only what is semantically required, inline, in one
``__enter__`` and one ``__exit__`` (no backend detection, no hooks, no other
bookkeeping): the public constructor (keyword-only arguments, validated,
here by the same identity test unicancel uses for the defaults), single use,
the running task (one C call on 3.12+), the task's innermost scope kept on
the task (delivery, current_effective_deadline() and the misnesting check
need it) and ``cancelling()`` at entry (the uncancel() counting rule); at
exit: entered, same task in the same thread, still the innermost scope,
unlink, let go of the task. An unarmed unicancel scope does this plus the
detection of the backend and the state its deadline, shield and cancel
need; the ratio unicancel/floor is what that costs.
"""

from __future__ import annotations

import sys
import time
from asyncio import Task
from math import inf
from types import TracebackType
from typing import Any, Literal

if sys.version_info >= (3, 12):
    from asyncio import current_task as _this_task  # C: this thread's running task
else:  # 3.11: asyncio.current_task() is Python; the C parts it uses
    from _asyncio import _current_tasks, _get_running_loop  # type: ignore[attr-defined]

    def _this_task() -> Task[Any] | None:
        task: Task[Any] | None = _current_tasks.get(_get_running_loop())
        return task


class _Constructed:
    """The public constructor, as both floors have it: keyword-only, the
    defaults told by identity (as unicancel tells them), the state a scope
    starts with."""

    __slots__ = ("_cancel_called", "_deadline", "_relative", "_shield", "_state")

    def __init__(
        self, *, deadline: float = inf, relative_deadline: float = inf, shield: bool = False
    ) -> None:
        if deadline is not inf or relative_deadline is not inf or shield is not False:
            raise NotImplementedError("the floor measures the unarmed scope only")
        self._deadline = deadline
        self._relative = relative_deadline
        self._shield = shield
        self._cancel_called = False
        self._state = 0


class FloorScope(_Constructed):
    __slots__ = ("_entry", "_host", "_parent")

    def __enter__(self) -> FloorScope:
        if self._state:
            raise RuntimeError("already entered")
        host = _this_task()
        if host is None:
            raise RuntimeError("not in a task")
        self._host = host
        try:  # a direct read: getattr(host, name, None) costs a fifth of a scope
            self._parent = host._floor_scope  # type: ignore[attr-defined]
        except AttributeError:  # the task's first scope
            self._parent = None
        host._floor_scope = self  # type: ignore[attr-defined]
        self._entry = host.cancelling()
        if self._shield or self._cancel_called or self._relative != self._deadline:
            raise NotImplementedError("the floor measures the unarmed scope only")
        self._state = 1
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Literal[False]:
        if self._state != 1:
            raise RuntimeError("not entered")
        host = self._host
        if _this_task() is not host:
            raise RuntimeError("another task or thread")
        if host._floor_scope is not self:  # type: ignore[attr-defined]
            raise RuntimeError("exited out of order")
        host._floor_scope = self._parent  # type: ignore[attr-defined]
        self._state = 2
        self._host = None
        if exc is not None:
            raise NotImplementedError("the floor measures the empty body only")
        return False


async def a_unarmed_floor(n: int) -> int:
    t0 = time.perf_counter_ns()
    for _ in range(n):
        with FloorScope():
            pass
    return time.perf_counter_ns() - t0


# ----------------------------------------------------------------------------
# trio: the least a wrapper of trio.CancelScope does.


class TrioFloorScope(_Constructed):
    """The unarmed scope's floor on trio, inline in one ``__enter__`` and one
    ``__exit__``: the public constructor (as :class:`FloorScope`), single use,
    the running task (read as unicancel reads it: the probe that this is a
    trio task, kept for the exit), a native ``trio.CancelScope`` entered (it
    keeps the innermost scope, delivers, and checks the nesting); at exit:
    entered, the same task in the same thread (trio's own check would mend
    its state for a task nested inside the scope, not refuse), the native
    exit. An unarmed unicancel scope does this plus the backend detection,
    the dispatch to the backend (one call each way) and the state its
    deadline, shield and cancel need."""

    __slots__ = ("_host", "_native")

    def __enter__(self) -> TrioFloorScope:
        if self._state:
            raise RuntimeError("already entered")
        try:
            host = _trio_run_context.task
        except AttributeError:
            raise RuntimeError("not in a trio task") from None
        if self._shield or self._cancel_called or self._relative != self._deadline:
            raise NotImplementedError("the floor measures the unarmed scope only")
        native = _TrioScope()
        self._host = host
        self._native = native
        native.__enter__()
        self._state = 1
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        if self._state != 1:
            raise RuntimeError("not entered")
        try:
            task = _trio_run_context.task
        except AttributeError:
            raise RuntimeError("another thread") from None
        if task is not self._host:
            raise RuntimeError("another task")
        swallowed: bool = self._native.__exit__(exc_type, exc, tb)
        self._state = 2
        if exc is not None:
            raise NotImplementedError("the floor measures the empty body only")
        return swallowed


def _load_trio() -> None:
    """Import trio only for the trio rows (the asyncio rows run before trio is
    imported, as in a plain asyncio program)."""
    global _TrioScope, _trio_run_context
    from trio import CancelScope
    from trio._core._run import GLOBAL_RUN_CONTEXT  # what unicancel reads (its _private)

    _TrioScope = CancelScope
    _trio_run_context = GLOBAL_RUN_CONTEXT


_TrioScope: Any = None
_trio_run_context: Any = None


async def t_unarmed_floor(n: int) -> int:
    if _TrioScope is None:
        _load_trio()
    t0 = time.perf_counter_ns()
    for _ in range(n):
        with TrioFloorScope():
            pass
    return time.perf_counter_ns() - t0
