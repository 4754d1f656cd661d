"""Deterministic time for every system.

* trio: ``trio.testing.MockClock(autojump_threshold=0)``: when every task is
  blocked, the clock jumps to the next deadline.
* asyncio: :class:`VirtualClockLoop`, a ``SelectorEventLoop`` whose
  ``time()`` is a virtual clock. Its selector never sleeps: when the loop asks
  to wait ``timeout`` seconds for I/O (nothing is ready, the next timer is
  ``timeout`` away) the clock jumps forward by ``timeout`` instead, which is
  exactly autojump. Nothing of asyncio's scheduling is replaced: the loop
  still runs ``_run_once`` unchanged, handles in the same order.
* uvloop: its clock is libuv's and cannot be replaced, so uvloop runs only
  programs that never look at the clock (:func:`.rules.uvloop_can_run`); a
  real-time watchdog stops a run that hangs.

Both virtual clocks start at 0.0, and programs only use dyadic durations, so
every deadline and wake-up time is computed exactly on every system.

A run that would wait past :data:`HORIZON` (virtual seconds), or forever
(nothing ready, no timer), or spins for :data:`MAX_ITERATIONS` loop
iterations, *stalls*: the owner's ``on_stall`` callback runs (the runner
cancels every task and records a hang).
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Callable

import trio.testing

__all__ = ["HORIZON", "MAX_ITERATIONS", "Abandon", "VirtualClockLoop", "trio_clock"]

#: Virtual seconds after which a program counts as hung. Programs sleep and
#: set deadlines of a few seconds at most.
HORIZON = 10_000.0
#: Event-loop iterations after which an asyncio run counts as spinning.
MAX_ITERATIONS = 100_000
#: Stalls after which the runner gives up on a loop (tasks ignoring cancel()).
MAX_STALLS = 20


class Abandon(Exception):
    """Raised out of the loop when a stalled run does not wind down."""


def trio_clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=0)


class _VirtualSelector(selectors.DefaultSelector):
    def __init__(self, loop: VirtualClockLoop) -> None:
        super().__init__()
        self._virtual_loop = loop

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        events: list[tuple[selectors.SelectorKey, int]] = super().select(0)
        if events:
            return events
        self._virtual_loop._advance(timeout)
        return []


class VirtualClockLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        self._now = 0.0
        self.iterations = 0
        self.stalls = 0
        self.on_stall: Callable[[], None] | None = None
        super().__init__(selector=_VirtualSelector(self))

    def time(self) -> float:
        return self._now

    def work(self, seconds: float) -> None:
        """CPU work: time passes while a task runs, without a schedule point."""
        self._now += seconds

    def _advance(self, timeout: float | None) -> None:
        """The loop would block for *timeout* seconds (None: forever)."""
        self.iterations += 1
        if self.iterations > MAX_ITERATIONS * (self.stalls + 1) or timeout is None:
            self._stall()
        elif timeout > 0:
            if self._now + timeout >= HORIZON:
                self._stall()
            else:
                self._now += timeout

    def _stall(self) -> None:
        self.stalls += 1
        self._now = max(self._now, HORIZON)
        if self.stalls > MAX_STALLS:
            raise Abandon(f"the run did not wind down after {MAX_STALLS} stalls")
        if self.on_stall is not None:
            self.on_stall()
