"""The watchdog thread's look at its table (see _watchdog): which watched
cancellations and deadlines are due, and the stuck reports of those whose
scopes are still entered. Split from _watchdog for size; its state (the
tables, the lock, rebound after a fork) is read there at each call (_w)."""

from __future__ import annotations

from math import inf
from time import monotonic
from typing import Any

from .._core._scope_state import DEADLINE_EXCEEDED
from ._dispatch import dispatch, settings
from ._entry import Entry
from ._where import where

__all__ = ["visit"]

#: The _watchdog module, set by it when it is imported (it imports this one:
#: no import circle).
_w: Any = None


def visit(now: float) -> float:
    """Look at every watched entry that is due; return when to look next."""
    wake = inf
    stuck_after = settings.stuck_after
    for key, record in list(_w._armed.items()):
        due = record[4] + stuck_after
        if due > now:
            wake = min(wake, due)
            continue
        got = _w._armed.pop(key, None)
        if got is not record:  # re-armed meanwhile: look at it next time
            if got is not None:
                _w._armed.setdefault(key, got)
            continue
        _w._promote(key, record)  # due: looked at below, if still entered
    for key, entry in list(_w._watched.items()):
        if entry.due > now:
            wake = min(wake, entry.due)
            continue
        if entry.closed == "merged":
            entry.due = inf  # its lead speaks for it, and frees it
            continue
        if entry.closed == "done" or _w._exited(entry):
            if _w._watched.get(key) is entry:
                _w._watched.pop(key, None)
            with _w._cond:
                was, entry.closed = entry.closed, "done"
            if was == "stuck":
                _w._end(entry, in_loop=False, how=_w._LEFT)
            continue
        if entry.closed is None and entry.deadline is not None and not _passed(entry, now):
            wake = min(wake, entry.due)
            continue
        entry.due = monotonic() + settings.stuck_after  # look again then (landed?)
        wake = min(wake, entry.due)
        if entry.closed is None:
            _check(entry)
    return wake


def _passed(entry: Entry, now: float) -> bool:
    """A watched deadline: whether it passed; if not (moved later, or an
    expedited look before it passed), set when to look next."""
    scope = entry.scope()
    deadline = scope._deadline if scope is not None else inf
    if deadline == inf:  # its deadline was removed: forget it
        entry.due = inf
        entry.closed = "done"
        if scope is not None and _w._watched.get(id(scope)) is entry:
            _w._watched.pop(id(scope), None)
        return False
    if deadline != entry.deadline:
        # Moved later (an earlier move re-arms, and tells us): same offset.
        entry.requested += deadline - entry.deadline  # type: ignore[operator]
        entry.deadline = deadline
        expedited = entry.due == -inf
        entry.due = entry.requested + (0.0 if expedited else settings.stuck_after)
        return False
    if entry.requested > now:
        # An expedited look before the deadline: look again when it passes.
        entry.due = entry.requested
        return False
    return True


def _check(entry: Entry) -> None:
    scope = entry.scope()
    if scope is None:
        return
    entry.reason = scope.cancel_reason
    if entry.reason is None and entry.deadline is not None:
        # A deadline the loop has not applied yet (it is held by a task).
        entry.reason = DEADLINE_EXCEEDED
    reports = where(entry, scope)
    host = entry.task() if entry.task is not None else None
    with _w._cond:
        if entry.closed is not None:
            return  # landed meanwhile
        lead = _stuck_in(host, entry) if host is not None else None
        if lead is not None:
            # Another cancellation of this task is already reported stuck
            # (nested scopes, cancelled at once): one episode, one report.
            entry.closed = "merged"
            entry.lead = lead
            entry.due = inf
            if lead.followers is None:
                lead.followers = []
            lead.followers.append(entry)
            return
        entry.closed = "stuck"
        entry.names = [report.task for report in reports]
    for report in reports:
        dispatch(report, in_loop=False)


def _stuck_in(host: Any, entry: Entry) -> Entry | None:
    """The entry reported stuck (still open) for task *host*, if any."""
    watched: dict[int, Entry] = _w._watched
    for other in list(watched.values()):
        task = other.task() if other.task is not None else None
        if other is not entry and other.closed == "stuck" and task is host:
            return other
    return None
