"""The only place unicancel reads trio internals. Read-only, never written.

Checked on trio 0.35.0 (Python 3.11-3.15).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from operator import attrgetter
from typing import Any

import trio
from trio._core._run import GLOBAL_RUN_CONTEXT

__all__ = ["cancel_recorded", "enclosing_natives", "now", "run_context", "tasks_inside"]

#: trio's per-thread run state. Scope entry and exit read ``run_context.task``
#: (what ``trio.lowlevel.current_task()`` returns; AttributeError outside a
#: trio task, where that function raises RuntimeError): entering and exiting
#: a scope is the hot path, and the read saves a call. Read only, never
#: written. Checked on trio 0.35.0 (Python 3.11-3.15).
run_context: Any = GLOBAL_RUN_CONTEXT


def now(task: Any) -> float:
    """``trio.current_time()`` in *task*, the running trio task, two calls
    shorter: an armed scope reads the clock at entry, and the task's runner
    (what ``current_time()`` asks, through ``runner.current_time()``, which
    returns exactly this) is a plain read where the thread-local run
    context is not. Checked on trio 0.35.0 (Python 3.11-3.15); 0.31.0 has
    the same fields."""
    time: float = task._runner.clock.current_time()
    return time


#: Whether *native* has been cancelled already, without applying a deadline
#: that passed unnoticed.
#:
#: The public ``cancel_called`` cancels the scope when its deadline has
#: passed. That is wrong just before moving the deadline: trio's own setter
#: does not look, so a deadline that passed during CPU work and is moved
#: before any schedule point never cancels (what trio code observes, and
#: what the asyncio backend does). No public API answers without that side
#: effect (``repr()`` does, as text). After exit it is what ``cancel_called``
#: returns; the exit of an armed scope reads it, so it is a C getter (no
#: Python frame, unlike the property). Checked on trio 0.35.0 (Python 3.11-3.15).
cancel_recorded: Callable[[trio.CancelScope], bool] = attrgetter("_cancel_called")


def enclosing_natives() -> Iterator[trio.CancelScope]:
    """The native scopes enclosing the running code, innermost first, across
    tasks (a nursery child's chain goes on into its parent task's scopes).

    Cold path only (a cancellation from outside passed through a scope): trio
    has no public way to walk the enclosing scopes; its cancel-status tree
    (``_cancel_status``, ``_parent``, ``_scope``) is that walk. Checked on
    trio 0.35.0 (Python 3.11-3.15); 0.31.0 has the same fields.
    """
    status: Any = GLOBAL_RUN_CONTEXT.task._cancel_status
    while status is not None:
        yield status._scope
        status = status._parent


def tasks_inside(native: trio.CancelScope) -> list[Any]:
    """The tasks running inside *native* (entered), its nested scopes' too.

    Diagnostics only (the stuck-cancellation watchdog, from its own thread:
    a snapshot, read under the GIL): trio has no public way to list the
    tasks a scope covers; its cancel-status tree (``_cancel_status``,
    ``_children``, ``_tasks``) is that list. Checked on trio 0.35.0.
    """
    found: list[Any] = []
    status = native._cancel_status
    queue = [status] if status is not None else []
    while queue:
        status = queue.pop()
        found.extend(list(status._tasks))
        queue.extend(list(status._children))
    return found
