"""asyncio: a task's chain of scopes, and which scope a delivered cancel is
charged to.

A task's innermost scope is kept on the task (``task._unicancel_scope``;
None or missing: none); scopes point up through ``_parent``.
:func:`catcher` finds the scope that swallows a cancellation raised at the
bottom of a chain; :func:`charge` records which of the task's own scopes
owes the ``uncancel()`` of a ``Task.cancel()`` made for it, and
:func:`make_busy` gives a scope the state that its exit then reads.
"""

from __future__ import annotations

from asyncio import Task
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..._core._contract import Scope as CancelScope  # the facade's scope, as backends see it

__all__ = ["catcher", "charge", "innermost", "make_busy", "set_innermost"]


def innermost(task: Task[Any]) -> CancelScope | None:
    """The innermost unicancel scope *task* is in, or None."""
    scope: CancelScope | None = getattr(task, "_unicancel_scope", None)
    return scope


def set_innermost(task: Task[Any], scope: CancelScope | None) -> None:
    task._unicancel_scope = scope  # type: ignore[attr-defined]


def catcher(scope: CancelScope | None) -> CancelScope | None:
    """The scope that will swallow a cancellation raised inside *scope*: the
    outermost cancelled scope reachable without crossing a shield."""
    found = None
    while scope is not None:
        if scope._cancel_called:
            found = scope
        if scope._shield:
            break
        scope = scope._parent
    return found


def make_busy(scope: CancelScope) -> None:
    """Mark the entered *scope* busy: its exit has work beyond unlinking.

    Entering an unarmed scope (no deadline, shield or cancel) stores neither
    ``_timer`` nor ``_delivered``, two stores fewer on the hot path; a busy
    scope has both. So whatever makes a scope busy later (a cancel, a
    deadline or shield set while entered, a cancel charged to it) comes here
    first, and only a busy scope's ``_timer``/``_delivered`` are read.
    """
    if not scope._busy:
        scope._timer = None
        scope._delivered = 0
        scope._busy = True


def charge(task: Task[Any], target: CancelScope) -> None:
    """Charge one ``cancel()`` to the outermost scope of *task* below *target*
    so that exactly one ``uncancel()`` follows it (CPython timeouts.py rule)."""
    scope = innermost(task)
    owner = None
    while scope is not None and scope._host is task:
        owner = scope
        if scope is target:
            break
        scope = scope._parent
    if owner is not None:
        make_busy(owner)
        owner._delivered += 1
        # Scopes inside *owner* see cancelling() one higher until *owner*
        # exits, after them: tell them it is ours, not a foreign cancel()
        # (their exit compares cancelling() with their entry value).
        scope = innermost(task)
        while scope is not owner and scope is not None:
            scope._entry_cancelling += 1
            scope = scope._parent
