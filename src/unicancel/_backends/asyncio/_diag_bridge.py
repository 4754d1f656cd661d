"""asyncio: what delivery tells diagnostics when they are on (the hook slot
in :mod:`unicancel._core._diag_hooks`): a task that ended after one of our
cancellations reached it, for the swallow judgement. Kept apart from the
propagation itself (:mod:`._delivery`), which calls these only after
reading the slot."""

from __future__ import annotations

from asyncio import Task
from typing import TYPE_CHECKING, Any, Protocol

from ..._core import _diag_hooks
from ._private import failed

if TYPE_CHECKING:
    from ..._core._contract import Scope as CancelScope

__all__ = ["diag_task_done", "diag_task_end"]


class _Delivery(Protocol):
    """What of ``_delivery._Delivery`` this reads (no import: a circle)."""

    _target: CancelScope | None
    _diag_target: CancelScope | None


def diag_task_end(task: Task[Any], state: _Delivery) -> None:
    """Diagnostics (on): *task* is done; judge, once, the cancellation it got
    last, or the one a shield hid from it since (it caught that one)."""
    target = state._target or getattr(state, "_diag_target", None)
    state._target = state._diag_target = None
    if target is not None:
        diag_task_done(task, target)


def diag_task_done(task: Task[Any], target: CancelScope) -> None:
    """Diagnostics (on): *task* finished after *target*'s cancellation reached it."""
    hooks = _diag_hooks.hooks
    if hooks is not None and not task.cancelled() and not failed(task):
        hooks.task_done_after_delivery(task, target)
