"""Scale: deadlines that slide (an idle timeout reset on every message) keep
the deadline heap at one entry per live scope, a moved deadline fires at its
new time and only then, and entering and exiting armed scopes in a long loop
does not grow memory. benchmarks/scale.py measures the same at full size."""

from __future__ import annotations

import asyncio
import tracemalloc
from contextlib import ExitStack

import anyio
import pytest

from unicancel import CancelScope, checkpoint, current_time

pytestmark = [pytest.mark.anyio]

#: Scopes whose deadline slides, and how often each one moves.
LIVE = 10_000
MOVES = 10
#: Entries the heap may hold beyond the live scopes (its compaction slack).
SLACK = 64


async def test_sliding_deadlines_keep_the_heap_at_the_live_scopes(backend_name: str) -> None:
    """10,000 armed scopes, each deadline pushed back 10 times: the heap never
    holds more than the live scopes (plus a small constant), and the loop gets
    no timer per move. Before the fix a move retired its entry and pushed a new
    one, so the heap grew to twice the live scopes between compactions."""
    if backend_name != "asyncio":
        pytest.skip("the asyncio backend's own deadline heap (trio keeps its own)")
    from unicancel._backends.asyncio import _deadlines

    loop = asyncio.get_running_loop()
    scheduled = getattr(loop, "_scheduled", None)  # uvloop has none
    with ExitStack() as stack:
        scopes = [stack.enter_context(CancelScope(relative_deadline=1000)) for _ in range(LIVE)]
        heap = _deadlines._for(loop)
        timers_before = None if scheduled is None else len(scheduled)
        peak = 0
        for move in range(MOVES):
            later = current_time() + 1000 + move + 1
            for scope in scopes:
                scope.deadline = later
                peak = max(peak, len(heap.heap))
            await checkpoint()
        assert heap.live == LIVE
        assert peak <= LIVE + SLACK, f"{peak:,} heap entries for {LIVE:,} live scopes"
        if scheduled is not None:
            assert timers_before is not None
            assert len(scheduled) <= timers_before + 2
    assert heap.live == 0


async def test_deadline_moved_later_does_not_fire_at_its_old_time() -> None:
    with CancelScope(relative_deadline=0.005) as scope:
        old = scope.deadline
        scope.deadline = current_time() + 1000
        # A sleep until after the old deadline: any timer armed for it ran first.
        await anyio.sleep_until(old + 0.02)
        assert not scope.cancel_called
        assert scope.deadline > old
    assert not scope.cancelled_caught


async def test_deadline_moved_later_fires_at_its_new_time() -> None:
    with CancelScope(relative_deadline=0.005) as scope:
        later = scope.deadline + 0.03
        scope.deadline = later
        await anyio.sleep(1000)
    assert scope.cancelled_caught
    assert current_time() >= later


async def test_deadline_moved_later_then_earlier_fires_at_the_earlier_time() -> None:
    with CancelScope(relative_deadline=1000) as scope:
        scope.deadline = current_time() + 2000
        scope.deadline = current_time() + 0.01
        await anyio.sleep(1000)
    assert scope.cancelled_caught


def _churn(count: int) -> None:
    for _ in range(count):
        with CancelScope(relative_deadline=1000):
            pass


async def _churn_peak(count: int) -> int:
    """Enter and exit *count* armed scopes (a checkpoint every 1,000); the
    peak of traced memory meanwhile."""
    tracemalloc.reset_peak()
    for _ in range(count // 1000):
        _churn(1000)
        await checkpoint()
    return tracemalloc.get_traced_memory()[1]


#: Scopes per measured window of the memory test, and the growth of the peak
#: it allows per scope: a leak of even one small object per scope (16 bytes or
#: more) exceeds it; the interpreter's free lists (up to 2,000 tuples of each
#: size on 3.11, counted as allocated by tracemalloc while they fill) do not.
WINDOW = 20_000
BYTES_PER_SCOPE = 8


async def test_armed_scopes_in_a_long_loop_do_not_grow_memory() -> None:
    """Inside an outer armed scope (so exited entries are dead, not cleared at
    once), armed scopes entered and exited in a long loop: the peak of traced
    memory over the second 20,000 is where it was over the first 20,000.
    Peaks, not the current size: the deadline heaps compact in cycles (trio's
    every thousand or so dead entries), a leak raises every cycle's peak."""
    with CancelScope(relative_deadline=1000):
        _churn(2000)
        await checkpoint()
        tracemalloc.start()
        try:
            await _churn_peak(2000)
            first = await _churn_peak(WINDOW)
            second = await _churn_peak(WINDOW)
        finally:
            tracemalloc.stop()
    growth = second - first
    assert growth < WINDOW * BYTES_PER_SCOPE, f"the peak grew by {growth:,} bytes"
