"""The only place unicancel touches asyncio internals. Read-only, never written.

Each function says why no public API will do and which versions it was checked
on: CPython 3.11.7, 3.12.1 and 3.13.0 (C tasks, and the pure-Python Task),
uvloop 0.23 (which runs asyncio's own Task class) and the eager task factory.

Not private state, but an implementation fact unicancel relies on: asyncio
tasks and event loops accept attributes of our own (the C Task and Future
have an instance dict slot, the pure-Python ones a ``__dict__``; every loop
is a Python subclass of AbstractEventLoop, uvloop's too). unicancel keeps its
per-task and per-loop state there (``_unicancel_*`` attributes, see
_delivery), so that no module-level table keeps a task or a loop
alive. Checked on 3.11 to 3.15, uvloop 0.23 and the eager task factory.
"""

from __future__ import annotations

import os
import sys
from asyncio import AbstractEventLoop, Future, Task
from collections.abc import Callable
from contextvars import ContextVar
from operator import attrgetter
from threading import get_ident
from typing import Any
from weakref import ref

from ..._core._errors import no_running_backend, no_task

__all__ = [
    "current_task",
    "failed",
    "fut_waiter",
    "pending_cancel_message",
    "running_loop",
    "task_here",
    "task_or_none",
    "task_running_in",
]

if sys.version_info >= (3, 12):
    from asyncio import _get_running_loop as running_loop
    from asyncio import current_task as task_here
    from asyncio import current_task as task_running_in
else:
    # 3.11's asyncio.current_task() is pure Python and looks the loop up a
    # second time (~330 ns on the project machine, a fifth of a whole scope).
    # The mapping it reads, _asyncio._current_tasks, is C and keyed by loop.
    from _asyncio import _current_tasks  # type: ignore[attr-defined]
    from _asyncio import _get_running_loop  # isort: skip

    task_running_in: Callable[[AbstractEventLoop], Task[Any] | None] = _current_tasks.get

    # 3.11's _get_running_loop() calls getpid() on every call (a fork check;
    # 3.12 keeps the loop in the thread state instead): ~300 ns on the
    # project machine, a third of a whole unarmed scope. So remember, in the
    # task's own context, which task ran on which loop in which thread, and
    # trust that while the same task is running on that loop in that thread.
    # Context copies that outlive the task's step (a worker thread's copy)
    # fail the thread or "running now" check; a forked child never trusts it.
    # Task and loop are weak: a context copied from the task (a thread's, a
    # callback's) may outlive both, and must not keep them alive.
    _found: ContextVar[tuple[ref[Task[Any]], int, ref[AbstractEventLoop]]] = ContextVar(
        "unicancel_running_task"
    )
    _forked = False

    def _after_fork() -> None:
        global _forked
        _forked = True

    os.register_at_fork(after_in_child=_after_fork)

    def task_here() -> Task[Any] | None:
        """This thread's running task, or None; RuntimeError where no loop
        runs (what the C current_task() of 3.12+ does). Scope entry and exit
        call it: running_loop()'s cache, inline (one frame)."""
        found = _found.get(None)
        if found is not None and not _forked:
            task: Task[Any] | None = found[0]()
            if task is not None and found[1] == get_ident():
                cached = found[2]()
                if cached is not None and task_running_in(cached) is task:
                    return task
        loop: AbstractEventLoop | None = _get_running_loop()
        if loop is None:
            raise RuntimeError(no_running_backend())
        running = task_running_in(loop)
        if running is not None and not _forked:
            _found.set((ref(running), get_ident(), ref(loop)))
        return running

    def running_loop() -> AbstractEventLoop | None:
        found = _found.get(None)
        if found is not None and not _forked:
            task = found[0]()
            if task is not None and found[1] == get_ident():
                cached = found[2]()
                if cached is not None and task_running_in(cached) is task:
                    return cached
        loop: AbstractEventLoop | None = _get_running_loop()
        if loop is not None and not _forked:
            running = task_running_in(loop)
            if running is not None:
                _found.set((ref(running), get_ident(), ref(loop)))
        return loop


# running_loop() -> the running loop or None (C on 3.12+; on 3.11 the
#   cached lookup above, one Python frame instead of a getpid() call);
# task_running_in(loop) -> the task that loop is running right now, or None
#   (C on every version);
# task_here() -> this thread's running task or None; RuntimeError where no
#   loop runs (C from 3.12 on: one call where the two above take two).


def task_or_none() -> Task[Any] | None:
    """The running asyncio task, or None (no loop, or a plain callback)."""
    loop = running_loop()
    return None if loop is None else task_running_in(loop)


def current_task() -> Task[Any]:
    """The running task; raise unicancel's error outside one."""
    loop = running_loop()
    if loop is None:
        raise RuntimeError(no_running_backend())
    task: Task[Any] | None = task_running_in(loop)
    if task is None:
        raise RuntimeError(no_task())
    return task


#: ``fut_waiter(task)``: the future *task* is suspended on, or None if it is
#: runnable.
#:
#: asyncio has no public way to ask what a task waits for; delivery needs it
#: to tell "the task has not run since we cancelled it" from "it caught the
#: cancellation and awaits something new" (level-triggered re-delivery).
#: An attrgetter, not a function: it runs once per delivery, and a C call
#: costs no Python frame (the cancel round trip's path). ``_fut_waiter`` is
#: on the C and the pure-Python Task, 3.11-3.15 and uvloop.
fut_waiter: Callable[[Task[Any]], Future[Any] | None] = attrgetter("_fut_waiter")

#: pending_cancel_message() of a task with no cancellation pending.
NOT_PENDING: Any = object()


def pending_cancel_message(task: Task[Any]) -> Any:
    """The message of a ``Task.cancel()`` that *task* (runnable: no waiter) has
    not received yet, or :data:`NOT_PENDING`.

    A second ``cancel()`` of a runnable task replaces the message its coming
    CancelledError carries; anyio recognises its own cancellation only by that
    message, so a unicancel delivery landing in the same loop iteration as
    anyio's made anyio's scope let its cancellation escape. asyncio has no
    public way to ask; ``_must_cancel``/``_cancel_message`` exist on the C and
    Python Task of 3.11-3.15 (checked 3.11.14, 3.12, 3.13, 3.14, 3.15).
    """
    if not task._must_cancel:  # type: ignore[attr-defined]
        return NOT_PENDING
    return task._cancel_message  # type: ignore[attr-defined]


def failed(task: Task[Any]) -> bool:
    """Whether the finished, not cancelled, *task* raised, without marking its
    exception retrieved (``Task.exception()`` would: asyncio then no longer
    logs "Task exception was never retrieved"). Diagnostics only.
    ``_exception`` exists on the C and Python Task of 3.11-3.15 (checked)."""
    return task._exception is not None
