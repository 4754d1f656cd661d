"""The only place unicancel touches asyncio internals. Read-only, never written.

Each function says why no public API will do and which versions it was checked
on: CPython 3.11.7, 3.12.1 and 3.13.0 (C tasks, and the pure-Python Task),
uvloop 0.23 (which runs asyncio's own Task class) and the eager task factory.
"""

from __future__ import annotations

import sys
from asyncio import Future, Task
from typing import Any

from .._errors import no_running_backend, no_task

__all__ = ["current_task", "fut_waiter", "running_loop", "task_or_none", "task_running_in"]

if sys.version_info >= (3, 12):
    from asyncio import _get_running_loop as running_loop
    from asyncio import current_task as task_running_in
else:
    # 3.11's asyncio.current_task() is pure Python and looks the loop up a
    # second time (~330 ns on the project machine, a fifth of a whole scope).
    # The mapping it reads, _asyncio._current_tasks, is C and keyed by loop.
    from _asyncio import _current_tasks  # type: ignore[attr-defined]
    from _asyncio import _get_running_loop as running_loop

    task_running_in = _current_tasks.get

# Both are C callables (no Python frame on the hot path):
#   running_loop() -> the running loop or None;
#   task_running_in(loop) -> the task that loop is running right now, or None.


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


def fut_waiter(task: Task[Any]) -> Future[Any] | None:
    """The future *task* is suspended on, or None if it is runnable.

    asyncio has no public way to ask what a task waits for; delivery needs it
    to tell "the task has not run since we cancelled it" from "it caught the
    cancellation and awaits something new" (level-triggered re-delivery).
    """
    waiter: Future[Any] | None = task._fut_waiter  # type: ignore[attr-defined]
    return waiter
