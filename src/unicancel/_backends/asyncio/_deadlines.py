"""asyncio: one loop timer per loop for all scope deadlines (as trio does).

A ``TimerHandle`` per armed scope costs ``call_at`` plus ``cancel`` on every
enter/exit, most of an armed scope's price, although nearly every deadline is
cancelled long before it fires. Instead each loop has a heap of
``(deadline, seq, scope)`` entries and a single ``call_at`` for the earliest
one. Exiting a scope only forgets its entry (lazy deletion); the heap is
compacted when dead entries outnumber live ones, so it stays O(live scopes).

An entry is live while ``scope._timer is entry``. A deadline moved later
(an idle timeout pushed back on every message) keeps its entry: the entry
only has to come due no later than the deadline, and when it does, the scope
is re-filed at its current deadline instead of expiring. So a sliding
deadline costs no heap operation per move, and the heap holds one entry per
live scope however often they move (a move earlier pushes a new entry and
retires the old one, compacted like those of exited scopes).

The heap lives on its loop (``loop._unicancel_deadlines``), not in a
module-level table: its entries hold scopes, so their tasks and the loop,
and a table would keep them alive for good once the loop is closed with a
scope still open in it. On the loop they are part of cycles the garbage
collector frees with the loop.

trio expires deadlines in its scheduler, before it runs the next batch of
tasks, so every schedule point applies a deadline that passed while the task
was busy. asyncio's ``_run_once`` appends due timers to the ready queue
*behind* the callbacks already there, and a task that yielded with
``sleep(0)`` is one of those: it resumes before our timer runs. So
unicancel's own schedule points (:func:`schedule_point`) run the expiry
themselves when they resume and the timer is due: one clock read while a
deadline is armed, no polling.
"""

from __future__ import annotations

import heapq
from asyncio import AbstractEventLoop, TimerHandle
from collections.abc import Generator
from itertools import count
from math import inf
from types import coroutine
from typing import TYPE_CHECKING
from weakref import ref

from ._delivery import deliver_now
from ._private import running_loop

if TYPE_CHECKING:
    from ..._core._contract import Scope as CancelScope  # the facade's scope, as backends see it

__all__ = ["arm", "disarm", "expire_passed", "moved_later", "schedule_point"]

Entry = tuple[float, int, "CancelScope"]

_seq = count()


class _Deadlines:
    __slots__ = ("__weakref__", "handle", "heap", "live", "loop", "when")

    def __init__(self, loop: AbstractEventLoop) -> None:
        self.loop = ref(loop)
        self.heap: list[Entry] = []
        self.live = 0
        # Weak: the loop keeps its pending timer alive.
        self.handle: ref[TimerHandle] | None = None
        self.when = inf

    def _rearm(self, when: float) -> None:
        handle = self.handle() if self.handle is not None else None
        if handle is not None:
            handle.cancel()
        loop = self.loop()
        if loop is None:
            return
        self.when = when
        self.handle = ref(loop.call_at(when, self._fire))

    def forget(self) -> None:
        self.live -= 1
        heap = self.heap
        if not self.live:
            # Nothing armed: drop the dead entries now, so no exited scope
            # (nor its task) is kept alive. The timer stays: the next scope's
            # deadline is usually later, and then costs no call_at at all.
            heap.clear()
        elif len(heap) > 64 and len(heap) > 2 * self.live:
            heap[:] = [e for e in heap if e[2]._timer is e]
            heapq.heapify(heap)

    def _fire(self) -> None:
        self.handle = None
        # The loop decided `when` is due (its clock resolution allows firing a
        # hair early), so everything up to `when` expires now.
        loop = self.loop()
        if loop is None:
            return
        limit = max(self.when, loop.time())
        self.when = inf
        for scope in self._due(limit):
            scope._expire()
            # We run between task steps, so the cancellation can go out now
            # instead of one loop iteration later.
            deliver_now(scope._host)  # type: ignore[arg-type]

    def fire_early(self, now: float) -> None:
        """What the timer would do, run from inside a task step (the timer
        is due but queued behind that step)."""
        handle = self.handle() if self.handle is not None else None
        if handle is not None:
            handle.cancel()  # already in the ready queue: it is skipped
        self.handle = None
        self.when = inf
        for scope in self._due(now):
            # reach() (through _expire) delivers to suspended tasks now and
            # to the running one after its step: no deliver_now() here.
            scope._expire()

    def _due(self, limit: float) -> list[CancelScope]:
        """Pop the live entries due by *limit*, re-arm the timer for the rest."""
        heap = self.heap
        due: list[CancelScope] = []
        while heap and heap[0][0] <= limit:
            entry = heapq.heappop(heap)
            scope = entry[2]
            if scope._timer is entry:
                if scope._deadline > limit:
                    # Moved later since it was filed: re-file, still live.
                    later = (scope._deadline, next(_seq), scope)
                    heapq.heappush(heap, later)
                    scope._timer = later
                    continue
                scope._timer = None
                self.live -= 1
                due.append(scope)
        while heap and heap[0][2]._timer is not heap[0]:
            heapq.heappop(heap)
        if heap:
            self._rearm(heap[0][0])
        return due


def _for(loop: AbstractEventLoop) -> _Deadlines:
    deadlines: _Deadlines | None = getattr(loop, "_unicancel_deadlines", None)
    if deadlines is None:
        deadlines = loop._unicancel_deadlines = _Deadlines(loop)  # type: ignore[attr-defined]
    return deadlines


# arm() and disarm() run for every scope with a deadline: a plain attribute
# read (the heap exists once a deadline was armed on the loop) instead of
# _for()'s getattr() call, and push() inlined.


def arm(scope: CancelScope, loop: AbstractEventLoop, deadline: float) -> None:
    """Expire *scope* at *deadline* (a time on *loop*'s clock)."""
    try:
        deadlines: _Deadlines = loop._unicancel_deadlines  # type: ignore[attr-defined]
    except AttributeError:  # the first deadline on this loop
        deadlines = _for(loop)
    entry = (deadline, next(_seq), scope)
    heapq.heappush(deadlines.heap, entry)
    scope._timer = entry
    deadlines.live += 1
    if deadline < deadlines.when:
        deadlines._rearm(deadline)


def moved_later(scope: CancelScope) -> bool:
    """Whether *scope*'s armed entry still comes due no later than its (moved)
    finite deadline: then the entry stands and re-files itself when due."""
    entry: Entry | None = scope._timer  # type: ignore[assignment]
    return entry is not None and entry[0] <= scope._deadline != inf


def disarm(scope: CancelScope, loop: AbstractEventLoop) -> None:
    """Forget *scope*'s deadline, if it has one armed."""
    if scope._timer is not None:
        scope._timer = None
        loop._unicancel_deadlines.forget()  # type: ignore[attr-defined]  # armed: it exists


def expire_passed(loop: AbstractEventLoop) -> None:
    """Expire now every deadline of *loop* that has passed (as trio's
    scheduler does before running a task again), instead of when the timer
    callback gets its turn. For code running inside a task step."""
    deadlines: _Deadlines | None = getattr(loop, "_unicancel_deadlines", None)
    if deadlines is None:
        return  # no deadline was ever armed on this loop
    # `when` (the armed timer) is never later than the earliest live deadline,
    # so this one comparison rules out the common case.
    if deadlines.live and deadlines.when != inf:
        now = loop.time()
        if now >= deadlines.when:
            deadlines.fire_early(now)


@coroutine
def schedule_point() -> Generator[None, None, None]:
    """Yield to the loop once, then apply the deadlines that passed meanwhile
    (or before: while this task was busy). Every unicancel schedule point on
    asyncio goes through here. A bare yield is ``asyncio.sleep(0)``, one
    frame cheaper."""
    yield
    loop = running_loop()
    if loop is not None:
        expire_passed(loop)
