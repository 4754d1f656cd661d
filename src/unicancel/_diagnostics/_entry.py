"""One watched cancellation or deadline: the watchdog's table entry (weak
references only, so watching keeps no scope or task alive)."""

from __future__ import annotations

import weakref
from typing import Any

__all__ = ["Entry"]


class Entry:
    """A cancellation not landed yet, or an armed deadline, of one scope."""

    __slots__ = (
        "backend",
        "closed",
        "deadline",
        "due",
        "followers",
        "lead",
        "names",
        "reason",
        "requested",
        "scope",
        "task",
        "thread",
        "trio_time",
    )

    scope: weakref.ref[Any]
    task: weakref.ref[Any] | None
    thread: int
    backend: str
    requested: float
    due: float
    #: trio: the run's clock at the request (swallow detection compares with it).
    trio_time: float
    reason: str | None
    #: None: pending; "stuck": reported stuck; "merged": pending in the same
    #: task as a stuck one (``lead``), reported with it; "done": ended.
    closed: str | None
    #: merged: the stuck entry of the same task that speaks for it.
    lead: Entry | None
    #: stuck: the entries merged into it (one stuck and one end report per
    #: task for cancellations pending at once: nested scopes).
    followers: list[Entry] | None
    #: stuck: the tasks its stuck reports named (a group's scope: its
    #: children too); each gets its end report.
    names: list[str] | None
    #: A watched deadline (no cancel requested yet): the scope's deadline on
    #: its backend's clock (``requested`` is it on ours); else None.
    deadline: float | None
