"""The stuck-cancellation watchdog: a thread, started at the first
cancellation after enable(), that wakes only when a watched cancellation
falls due (no polling of the event loop; idle, it waits on a condition
without timeout).

A cancel registers an entry (weak references to the scope and its task);
leaving the scope removes it. If the scope has not been left
``stuck_after`` seconds later, the thread
reports where its tasks are: the loop thread's stack for the one that is
running (a CPU loop, a blocking call), the await chain for suspended ones.
When the scope is left, the loop thread reports "landed" with the latency
(asyncio: at an exit after a delivery; trio: at the exit of a cancelled
scope), or "never landed" if it was left first; a stuck scope left some
other way is noticed by the thread, which re-checks reported entries every
``stuck_after`` seconds, or by :func:`flush` (end of a run, of collect(),
disable()). One stuck report and one end per task and episode: a task's
entries pending at once (nested scopes) are merged into the first reported.

Deadlines are watched too (:func:`deadline_armed`, told when a scope's
deadline is armed): a deadline that passes while a task holds the event
loop (a CPU loop, a blocking call) is never applied, since the loop's timer
cannot run, so no cancel is ever requested. The thread wakes at the
deadline plus ``stuck_after`` and, if the scope is still entered, reports it
stuck like a requested cancel; the latency counts from the deadline. Such
entries are dropped lazily (when due, or in a sweep when the table doubles):
exiting a scope does not look at diagnostics.
"""

from __future__ import annotations

import os
import sys
import threading
import weakref
from math import inf
from time import monotonic
from typing import Any

from .._core._scope_state import _EXITED, CancelOrigin
from . import _visit
from ._dispatch import dispatch, settings
from ._entry import Entry
from ._where import ended

__all__ = ["deadline_armed", "entry_of", "flush", "landed", "stop_watchdog", "watch"]


_cond = threading.Condition()
#: The cancellations not landed yet, by id(scope): an entry leaves when its
#: scope is left (landed()) or found gone by the thread, so the table holds
#: only what is pending (a million cancels a second do not pile up). Plain
#: dict operations, atomic under the GIL; the thread reads a copy.
_watched: dict[int, Entry] = {}
#: A watched deadline not due yet: (weak scope, thread, backend, deadline on
#: the backend's clock, on ours).
_Armed = tuple[weakref.ref[Any], int, str, float, float]
#: The armed deadlines not due yet, by id(scope) (see deadline_armed): left
#: lazily (when due, or in a sweep when the table doubles).
_armed: dict[int, _Armed] = {}
_thread: threading.Thread | None = None
_idle = False
_generation = 0
#: When the thread means to look next (a deadline due earlier wakes it);
#: -inf while it is looking (it reads the tables before it waits).
_next_wake = inf
#: The size of _watched that triggers a sweep of the deadline entries of
#: scopes already left (twice what the last sweep kept).
_sweep_at = 64
#: Test knob: expedite(wait=True) waits until a visit started after it ended.
_expedited = 0
_visited = 0


def watch(scope: Any, host: Any, backend: str, trio_time: float = 0.0) -> Entry:
    """Watch *scope*, cancelled just now (with stuck_after=inf, only note it)."""
    origin = scope.cancel_origin
    if _armed:
        record = _armed.pop(id(scope), None)
        if record is not None and record[0]() is scope:
            _promote(id(scope), record)  # its deadline, maybe applied now
    old = _watched.get(id(scope))
    if old is not None and old.deadline is not None and old.scope() is scope:
        # Its watched deadline: the cancel is that deadline applied (late, if
        # the loop was held): keep the entry, latency counted from the deadline.
        if origin is CancelOrigin.DEADLINE or old.closed in ("stuck", "merged"):
            old.deadline = None
            old.trio_time = trio_time
            if old.closed is None and old.requested > monotonic():
                # Applied before the time watched (moved earlier, into the past).
                old.requested = monotonic()
                old.due = old.requested + settings.stuck_after
            return old
        old.closed = "done"
    entry = Entry()
    entry.scope = weakref.ref(scope)
    entry.task = weakref.ref(host) if host is not None else None
    entry.thread = threading.get_ident()
    entry.backend = backend
    entry.requested = now = monotonic()
    entry.due = now + settings.stuck_after
    entry.trio_time = trio_time
    entry.reason = None
    entry.closed = None
    entry.deadline = None
    entry.lead = entry.followers = entry.names = None
    if entry.due == inf:
        return entry
    _watched[id(scope)] = entry
    _wake(entry.due)
    return entry


def deadline_armed(backend: str, scope: Any, host: Any, now: float) -> None:
    """The hook (``_diag_hooks``' ``deadline_armed``, called directly: every
    armed scope's entry pays it): *scope* (entered, run by *host*) has its
    deadline armed; *now* is the backend's clock (in the loop's thread, so
    the two clocks are compared here, once)."""
    stuck_after = settings.stuck_after
    if stuck_after == inf:
        return
    if backend == "trio":
        import trio

        clock = trio.lowlevel.current_clock()
        if type(clock).__name__ != "SystemClock" or not type(clock).__module__.startswith("trio"):
            # A virtual clock (MockClock): its deadlines are not on the
            # wall clock the watchdog thread waits on; not watched.
            return
        now = trio.current_time()
    deadline = scope._deadline
    key = id(scope)
    entry = _watched.get(key)
    requested = deadline - now + monotonic()
    if entry is not None and entry.scope() is scope:
        if entry.deadline is None:
            return  # already cancelled, watched as such
        # Promoted (due, or reported stuck): moved, it is watched anew.
        entry.deadline = deadline
        entry.requested = requested
        entry.due = requested + stuck_after
        _wake(entry.due)
        return
    if len(_armed) >= _sweep_at:
        _sweep()
    # A light record (every armed scope pays it, and most are left long
    # before they could be stuck): an Entry only when the thread finds it due
    # with its scope still entered, or when its scope is cancelled. Built
    # whole before it is published: the thread may read the table any time.
    _armed[key] = (weakref.ref(scope), threading.get_ident(), backend, deadline, requested)
    due = requested + stuck_after
    if _thread is None or _idle or due < _next_wake:
        _wake(due)


def _promote(key: int, record: _Armed) -> Entry | None:
    """*record*'s full entry in _watched (by whichever thread pops it first:
    the loop's at a cancel, the watchdog's when it is due), or None if its
    scope is gone or another entry watches it already."""
    ref, thread, backend, deadline, requested = record
    scope = ref()
    if scope is None or scope._state >= _EXITED:
        return None
    host = getattr(scope, "_host", None)  # the record keeps no task alive
    entry = Entry()
    entry.scope = ref
    entry.task = weakref.ref(host) if host is not None else None
    entry.thread = thread
    entry.backend = backend
    entry.trio_time = 0.0
    entry.reason = None
    entry.closed = None
    entry.lead = entry.followers = entry.names = None
    entry.deadline = deadline
    entry.requested = requested
    entry.due = requested + settings.stuck_after
    other = _watched.setdefault(key, entry)
    if other is not entry and other.scope() is scope:
        return None
    _watched[key] = entry
    return entry


def _sweep() -> None:
    """Drop the deadline records of scopes left (or gone) meanwhile."""
    global _sweep_at
    for key, record in list(_armed.items()):
        scope = record[0]()
        if (scope is None or scope._state >= _EXITED) and _armed.get(key) is record:
            _armed.pop(key, None)
    _sweep_at = max(64, 2 * len(_armed))


def _wake(due: float) -> None:
    """Make sure the thread looks by *due*."""
    global _thread, _next_wake
    if _thread is None or _idle or due < _next_wake:
        # The thread sets _idle before it looks at _watched one last time, and
        # waits holding the lock: it sees this entry, or this notify wakes it.
        with _cond:
            if _thread is None:
                _next_wake = -inf  # it looks at the tables first
                _thread = threading.Thread(
                    target=_run, args=(_generation,), name="unicancel-watchdog", daemon=True
                )
                _thread.start()
            _cond.notify()


def entry_of(scope: Any) -> Entry | None:
    """*scope*'s entry, if it is watched."""
    entry = _watched.get(id(scope))
    return entry if entry is not None and entry.scope() is scope else None


def watched_deadline(scope: Any) -> float | None:
    """The deadline of *scope* that is watched (on its backend's clock), if any."""
    record = _armed.get(id(scope))
    if record is not None and record[0]() is scope:
        return record[3]
    entry = entry_of(scope)
    return entry.deadline if entry is not None else None


_LEFT = "  (the scope was left without the cancellation landing; noticed by the watchdog)"


def landed(entry: Entry, scope: Any, *, how: str = "", exc: BaseException | None = None) -> None:
    """The watched scope was left (in the loop's thread): report it if it
    had been reported stuck (or the stuck entry it was merged into). *how*:
    a note for the report's stack text (set: it never landed); *exc*: the
    exception leaving the scope (then the report is never raised as an
    error: it must not replace the program's own exception)."""
    if _watched.get(id(scope)) is entry:
        _watched.pop(id(scope), None)
    with _cond:
        was = entry.closed
        entry.closed = "done"
        lead = entry.lead
        if was == "merged" and lead is not None:
            entry = lead  # its episode ends here
            was = lead.closed
            lead.closed = "done"
    if was == "stuck":
        _end(entry, in_loop=exc is None, how=how)


def _end(entry: Entry, *, in_loop: bool, how: str = "") -> None:
    """The end of *entry*'s stuck episode: its report, then its merged
    entries go back to being watched (a scope still entered may get stuck
    again, a new episode) or are dropped."""
    followers, entry.followers = entry.followers or [], None
    for follower in followers:
        with _cond:
            if follower.closed != "merged":
                continue
            follower.lead = None
            gone = _exited(follower)
            follower.closed = "done" if gone else None
        scope = follower.scope()
        if gone:
            if scope is not None and _watched.get(id(scope)) is follower:
                _watched.pop(id(scope), None)
        else:
            follower.due = monotonic() + settings.stuck_after
            _wake(follower.due)
    _report_landed(entry, in_loop=in_loop, how=how)


def flush() -> None:
    """End the stuck episodes whose scopes were left unseen (no exit hook
    ran: a deadline the loop never applied, a scope left before its
    cancellation was delivered): "never landed", now rather than at the
    watchdog's next look (the end of a run, of collect(), disable())."""
    for key, entry in list(_watched.items()):
        with _cond:
            if entry.closed != "stuck" or not _exited(entry):
                continue
            entry.closed = "done"
        if _watched.get(key) is entry:
            _watched.pop(key, None)
        _end(entry, in_loop=False, how=_LEFT)


def _report_landed(entry: Entry, *, in_loop: bool, how: str = _LEFT) -> None:
    for report in ended(entry, how):
        dispatch(report, in_loop=in_loop)


def expedite(*, wait: bool = False) -> None:
    """Make every watched cancellation due now, and every watched deadline
    due as soon as it passes (tests: no waiting on the clock). *wait*: return
    once the thread has looked (the caller's thread waits, up to 30 s)."""
    global _expedited
    with _cond:
        for key, record in list(_armed.items()):
            if _armed.pop(key, None) is record:
                _promote(key, record)
        for entry in list(_watched.values()):
            entry.due = -inf
        _expedited += 1
        target = _expedited
        _cond.notify_all()
        if wait and _thread is not None:
            _cond.wait_for(lambda: _visited >= target or _thread is None, 30)


def stop_watchdog() -> None:
    global _thread, _generation, _idle, _next_wake
    with _cond:
        _generation += 1
        _watched.clear()
        _armed.clear()
        _next_wake = inf
        thread, _thread = _thread, None
        _idle = False
        _cond.notify_all()
    if thread is not None and thread is not threading.current_thread():
        thread.join(5.0)  # it holds no lock while reporting: it ends promptly


def _after_fork_in_child() -> None:
    """A forked child has no watchdog thread (only the forking thread goes
    on), and the lock may have been held by it: start afresh, the thread on
    demand (at the next cancellation), what was watched still watched."""
    global _cond, _thread, _idle, _next_wake, _generation
    _cond = threading.Condition()
    _thread = None
    _idle = False
    _next_wake = inf
    _generation += 1


os.register_at_fork(after_in_child=_after_fork_in_child)
_visit._w = sys.modules[__name__]  # its look reads our state


def _run(generation: int) -> None:
    global _idle, _next_wake, _visited
    while True:
        with _cond:
            if generation != _generation:
                return
            _idle = True
            if not _watched and not _armed:
                _visited = _expedited
                _cond.notify_all()
                _cond.wait()  # nothing to watch: sleep until watch() notifies
                _idle = False
                continue
            _idle = False
            expedited = _expedited
        wake = _visit.visit(monotonic())
        with _cond:
            if generation != _generation:
                return
            _visited = expedited
            _cond.notify_all()
            # Entries added during the visit count too (a deadline may be due
            # before anything the visit saw): read after this store, so one
            # added meanwhile is seen here, or its adder sees the store and
            # notifies (taking the lock: once this thread waits) if it is due
            # earlier.
            _next_wake = wake
            stuck_after = settings.stuck_after
            wake = min(
                [
                    wake,
                    *(e.due for e in list(_watched.values())),
                    *(r[4] + stuck_after for r in list(_armed.values())),
                ]
            )
            now = monotonic()
            # (Nothing left to wait for: the top of the loop waits, idle.)
            if now < wake < inf:
                _next_wake = wake
                # A huge stuck_after (1e10 s) overflows the lock's timeout.
                _cond.wait(min(wake - now, threading.TIMEOUT_MAX))
            # Looking (until the store above): the tables are read after
            # anything added meanwhile, which needs no notify (each would
            # cost the loop's thread a lock and a GIL hand-off).
            _next_wake = -inf


def _exited(entry: Entry) -> bool:
    scope = entry.scope()
    return scope is None or scope._state >= _EXITED
