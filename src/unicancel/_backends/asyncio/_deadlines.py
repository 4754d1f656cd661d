"""asyncio: one loop timer per loop for all scope deadlines (as trio does).

A ``TimerHandle`` per armed scope costs ``call_at`` plus ``cancel`` on every
enter/exit, most of an armed scope's price, although nearly every deadline is
cancelled long before it fires. Instead each loop has a heap of
``(deadline, seq, scope)`` entries and a single ``call_at`` for the earliest
one. Exiting a scope only forgets its entry (lazy deletion); the heap is
compacted when dead entries outnumber live ones, so it stays O(live scopes).

An entry is live while ``scope._timer is entry``: moving a deadline pushes a
new entry and so retires the old one.
"""

from __future__ import annotations

import heapq
from asyncio import AbstractEventLoop, TimerHandle
from itertools import count
from math import inf
from typing import TYPE_CHECKING
from weakref import WeakKeyDictionary, ref

from ._delivery import deliver_now

if TYPE_CHECKING:
    from ..._core._contract import Scope as CancelScope  # the facade's scope, as backends see it

__all__ = ["arm", "disarm"]

Entry = tuple[float, int, "CancelScope"]

_seq = count()
_by_loop: WeakKeyDictionary[AbstractEventLoop, _Deadlines] = WeakKeyDictionary()
# The last loop used and its heap, read as one tuple so threads running
# different loops never pair one loop with another's heap. Weak, like every
# reference to a loop here: a closed loop must be freed.
_last: tuple[ref[AbstractEventLoop] | None, _Deadlines | None] = (None, None)


class _Deadlines:
    __slots__ = ("__weakref__", "handle", "heap", "live", "loop", "when")

    def __init__(self, loop: AbstractEventLoop) -> None:
        self.loop = ref(loop)
        self.heap: list[Entry] = []
        self.live = 0
        # Weak: the loop keeps its pending timer alive, and a strong reference
        # here would keep the loop alive through our WeakKeyDictionary value.
        self.handle: ref[TimerHandle] | None = None
        self.when = inf

    def push(self, scope: CancelScope, deadline: float) -> None:
        entry = (deadline, next(_seq), scope)
        heapq.heappush(self.heap, entry)
        scope._timer = entry
        self.live += 1
        if deadline < self.when:
            self._rearm(deadline)

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
        heap = self.heap
        due: list[CancelScope] = []
        while heap and heap[0][0] <= limit:
            entry = heapq.heappop(heap)
            scope = entry[2]
            if scope._timer is entry:
                scope._timer = None
                self.live -= 1
                due.append(scope)
        while heap and heap[0][2]._timer is not heap[0]:
            heapq.heappop(heap)
        if heap:
            self._rearm(heap[0][0])
        for scope in due:
            scope._expire()
            # We run between task steps, so the cancellation can go out now
            # instead of one loop iteration later.
            deliver_now(scope._host)  # type: ignore[arg-type]


def _for(loop: AbstractEventLoop) -> _Deadlines:
    global _last
    last_loop, deadlines = _last
    if last_loop is None or last_loop() is not loop or deadlines is None:
        deadlines = _by_loop.get(loop)
        if deadlines is None:
            deadlines = _by_loop[loop] = _Deadlines(loop)
        _last = (ref(loop), deadlines)
    return deadlines


def arm(scope: CancelScope, loop: AbstractEventLoop, deadline: float) -> None:
    """Expire *scope* at *deadline* (a time on *loop*'s clock)."""
    _for(loop).push(scope, deadline)


def disarm(scope: CancelScope, loop: AbstractEventLoop) -> None:
    """Forget *scope*'s deadline, if it has one armed."""
    if scope._timer is not None:
        scope._timer = None
        _for(loop).forget()
