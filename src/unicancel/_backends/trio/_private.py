"""The only place unicancel reads trio internals. Read-only, never written.

Checked on trio 0.35.0 (Python 3.11-3.15).
"""

from __future__ import annotations

from typing import Any

import trio
from trio._core._run import GLOBAL_RUN_CONTEXT

__all__ = ["cancel_recorded", "now", "run_context", "tasks_inside"]

#: trio's per-thread run state. Scope entry and exit read ``run_context.task``
#: (what ``trio.lowlevel.current_task()`` returns; AttributeError outside a
#: trio task, where that function raises RuntimeError): entering and exiting
#: a scope is the hot path, and the read saves a call. Read only, never
#: written. Checked on trio 0.35.0 (Python 3.11-3.15).
run_context: Any = GLOBAL_RUN_CONTEXT


def now() -> float:
    """``trio.current_time()`` inside a trio task, one call shorter (it goes
    through ``runner.current_time()``, which returns exactly this): an armed
    scope reads the clock at entry. Checked on trio 0.35.0 (Python 3.11-3.15)."""
    time: float = GLOBAL_RUN_CONTEXT.runner.clock.current_time()
    return time


def cancel_recorded(native: trio.CancelScope) -> bool:
    """Whether *native* has been cancelled already, without applying a
    deadline that passed unnoticed.

    The public ``cancel_called`` cancels the scope when its deadline has
    passed. That is wrong just before moving the deadline: trio's own setter
    does not look, so a deadline that passed during CPU work and is moved
    before any schedule point never cancels (what trio code observes, and
    what the asyncio backend does). No public API answers without that side
    effect (``repr()`` does, as text).
    """
    recorded: bool = native._cancel_called
    return recorded


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
