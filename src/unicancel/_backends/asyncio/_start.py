"""asyncio: ``TaskGroup.start()``'s task status and its wait.

Until ``task_status.started()`` the child lives in the caller's scopes; then
it, and everything it opened, moves under the group (as on trio).
"""

from __future__ import annotations

from asyncio import FIRST_COMPLETED, CancelledError, Future, Task, wait
from typing import Any, Protocol

from ..._core import _contract, _errors
from ..._core._contract import Scope as CancelScope  # the facade's scope, as backends see it
from ._delivery import catcher, innermost, schedule, set_innermost
from ._outside import keep_pending
from ._private import current_task
from ._reach import Members, reparented

__all__ = ["Status", "wait_started"]


class _Group(Protocol):
    """What the status needs of its task group (no import of the group module)."""

    cancel_scope: CancelScope
    _abort: CancelScope
    _members: Members | None


_NO_VALUE: Any = object()


class Status:
    __slots__ = ("_error", "_group", "_members", "_started", "_value")

    def __init__(self, group: _Group, members: Members, started: Future[Any]) -> None:
        self._group = group
        self._members = members
        self._started = started
        self._value = _NO_VALUE
        self._error: BaseException | None = None  # KeyboardInterrupt/SystemExit before started()

    def started(self, value: Any = None) -> None:
        scope = self._group.cancel_scope
        if scope._wrong_loop():
            raise RuntimeError(_errors.wrong_thread("task_status.started()"))
        if self._value is not _NO_VALUE:
            raise RuntimeError(_errors.started_twice())
        self._value = value
        if catcher(self._members.root) is not None:
            # As trio: where start() was called is cancelled, so the child
            # stays there (moving it could carry a cancellation it is
            # raising to where nothing catches it); start() then follows
            # how the child ends (its value if it returns normally).
            return
        # The child moves, whichever task calls started() (as on trio, where
        # a grandchild may be handed task_status): the child is the one task
        # in our Members, attached before its first line ran.
        task = next(iter(self._members.tasks), None)
        if task is not None and task.done():
            task = None  # it ended without started(): start() has raised
        group = self._group
        if task is not None:
            _reparent(task, group._abort)
            self._members.tasks.pop(task)
            assert group._members is not None
            group._members.add(task)
        self._started.set_result(value)
        if task is not None and catcher(group._abort) is not None:
            schedule(task)


def _reparent(task: Task[Any], new_root: CancelScope) -> None:
    """Move *task* (and any scopes it has open) under *new_root*."""
    scope = innermost(task)
    own = None
    while scope is not None and scope._host is task:
        own = scope
        scope = scope._parent
    if own is None:
        set_innermost(task, new_root)
    else:
        own._parent = new_root
        reparented(own)


async def wait_started(started: Future[Any], task: Task[Any], status: Status) -> Any:
    """Wait for ``started()``, or fail if the child ends first.

    As on trio, ``start()`` only waits: it is no cancel point of its own. The
    child runs inside the caller's scopes, so their cancellation reaches the
    child, and ``start()`` follows the child: it returns what the child passed
    to ``started()`` (even if the child swallowed that cancellation first) or
    raises how the child ended; the caller's next checkpoint raises the
    cancellation (level-triggered). Our scopes cannot interrupt the wait (the
    shield). A cancellation that ignores shields (``Task.cancel()``,
    ``asyncio.timeout``) is passed on to the child, which is not inside it,
    and is raised (or kept pending) once the child has started or ended.
    """
    external: CancelledError | None = None
    error: BaseException | None = None
    shield = _contract.new_scope(shield=True)
    shield._native = False  # no anyio shield: anyio's cancels must reach the child too
    with shield:
        while not started.done() and not task.done():
            try:
                await wait([started, task], return_when=FIRST_COMPLETED)
            except CancelledError as cancelled:
                if not started.done():
                    # Passed on with its message (anyio recognises its own
                    # cancellation by it); never to a child that started.
                    task.cancel(cancelled.args[0] if cancelled.args else None)
                if external is None:
                    # Raised again below: its traceback so far runs through
                    # asyncio.wait(), whose frame keeps the task (a cycle, 3.14+).
                    external = cancelled.with_traceback(None)
    try:
        if started.done():
            if external is not None:
                raise external
            return started.result()
        if task.cancelled():
            # The child's cancellation leaves through start(), as on trio
            # (for the caller's scope that cancelled it to catch); the
            # caller's own, if it was cancelled from outside (its message).
            error = external if external is not None else _cancellation_of(task)
        else:
            error = task.exception() or status._error
            status._error = None  # its traceback keeps the frame that holds status
            if error is None and status._value is not _NO_VALUE:
                # started() while start()'s caller was cancelled, then a normal end.
                del task
                if external is not None:
                    raise external
                value = status._value
                status._value = None  # started() twice still raises
                return value
        # The error is the task's own, and its traceback will keep this frame:
        # neither may hold the task (a cycle only the garbage collector frees).
        del task
        if error is not None:
            if external is not None and not isinstance(error, CancelledError):
                keep_pending(current_task(), external)
            raise error
        if external is not None:
            raise external
        raise RuntimeError(_errors.never_started())
    finally:
        del external, error


def _cancellation_of(task: Task[Any]) -> CancelledError:
    try:
        task.result()
    except CancelledError as cancelled:
        return cancelled
    raise AssertionError("not cancelled")  # pragma: no cover
