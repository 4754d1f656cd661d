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


async def test_armed_scopes_in_a_long_loop_do_not_grow_memory() -> None:
    """Inside an outer armed scope (so exited entries are dead, not cleared at
    once), 20,000 armed scopes entered and exited leave traced memory where
    2,000 left it: what an exited scope leaves behind is compacted away."""
    with CancelScope(relative_deadline=1000):
        _churn(2000)
        await checkpoint()
        tracemalloc.start()
        try:
            _churn(2000)
            await checkpoint()
            before = tracemalloc.get_traced_memory()[0]
            for _ in range(20):
                _churn(1000)
                await checkpoint()
            after = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
    assert after - before < 16 * 1024, f"grew by {after - before:,} bytes"
