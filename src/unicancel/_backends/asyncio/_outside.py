"""asyncio: a cancellation from outside (``Task.cancel()``, ``asyncio.timeout``)
that a task group or ``start()`` absorbed while something else leaves in its
place (the group's errors, a child's error) stays pending for the host.
"""

from __future__ import annotations

from asyncio import CancelledError, Task
from typing import Any

from ._delivery import innermost

__all__ = ["keep_pending"]


def keep_pending(host: Task[Any], cancelled: CancelledError | None) -> None:
    """The errors leaving the group replace a cancellation asked for from
    outside (Task.cancel(), asyncio.timeout; *cancelled*, or None where the
    one that reached the group looked like ours): make it land at the host's
    next await, as on trio (level-triggered) and 3.13's TaskGroup. What is
    pending is counted, not taken from *cancelled*: cancelling() less what
    the host's own scopes were charged for.

    Not by cancel() from inside this step, as 3.13's TaskGroup does: that
    sets _must_cancel, which uncancel() leaves behind on 3.11/3.12
    (gh-116720), so an asyncio.timeout taking its cancellation back as the
    errors pass would cancel an unrelated await later. Right after the step
    instead, and only if whoever asked has not taken it back meanwhile."""
    pending = _foreign_cancels(host)
    if pending > 0:
        message = cancelled.args[0] if cancelled is not None and cancelled.args else None
        host.get_loop().call_soon(_redeliver, host, pending, message)


def _redeliver(host: Task[Any], pending: int, message: object) -> None:
    if not host.done() and _foreign_cancels(host) >= pending:
        host.uncancel()  # the same request again: cancelling() stays as it is
        host.cancel(message)


def _foreign_cancels(host: Task[Any]) -> int:
    """cancelling() of *host*, less the cancels that its unicancel scopes
    were charged for and will take back when they exit."""
    charged = 0
    scope = innermost(host)
    while scope is not None and scope._host is host:
        charged += getattr(scope, "_delivered", 0)
        scope = scope._parent
    return host.cancelling() - charged
