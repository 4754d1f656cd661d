"""Shared-suite pins for rules we chose where the backends (or the anchors)
disagree, and for the one place where unicancel deliberately differs from trio.
See docs/semantics.md."""

from __future__ import annotations

import pytest

from unicancel import CancelScope, get_cancelled_exc_class

from ._helpers import Event, run_concurrently, sleep_forever, wait_all_tasks_blocked

pytestmark = pytest.mark.anyio


async def test_cancelled_task_group_leaves_no_exception_group() -> None:
    """ANCHORS trap 8 (the scope side): a cancelled scope around a native task
    group (trio nursery / asyncio.TaskGroup) whose children were cancelled
    swallows everything: callers never see an ExceptionGroup of cancellations."""
    with CancelScope() as scope:
        await run_concurrently(sleep_forever, sleep_forever, lambda: _cancel_soon(scope))
    assert scope.cancelled_caught


async def _cancel_soon(scope: CancelScope) -> None:
    await wait_all_tasks_blocked()
    scope.cancel()


async def test_same_site_retry_loop_difference_is_pinned() -> None:
    """docs/semantics.md difference 1: *your own* loop that catches the
    cancellation and awaits again at the same await is re-cancelled every
    time, on asyncio as on trio (the retry-loop rule is only for asyncio's and
    anyio's own loops, pinned by test_trap1_* in test_traps_asyncio.py). The
    waker would end the waits if a re-delivery were skipped."""
    exc = get_cancelled_exc_class()
    wake = Event()
    outcomes: list[str] = []

    async def waker() -> None:
        await wait_all_tasks_blocked()
        wake.set()

    async def retrier() -> None:
        with CancelScope() as scope:
            scope.cancel()
            for _ in range(4):
                try:
                    await wake.wait()
                    outcomes.append("woke")
                except exc:
                    outcomes.append("cancelled")
        assert not scope.cancelled_caught

    await run_concurrently(retrier, waker)
    assert outcomes == ["cancelled"] * 4


async def test_asyncio_shield_only_blocks_unicancel_scopes(backend_name: str) -> None:
    """Deliberate difference (docs/semantics.md, "shields"): on asyncio a
    unicancel shield keeps out unicancel scopes (and anyio's, through an anyio
    shield held alongside: tests/test_interop_anyio.py); asyncio.timeout and
    Task.cancel() cancel the task directly and never consult it. On trio
    every enclosing trio scope is kept out (native)."""
    if backend_name == "trio":
        import trio

        with trio.move_on_after(0) as outer:
            with CancelScope(shield=True):
                await trio.sleep(0.001)
            await trio.sleep_forever()
        assert outer.cancelled_caught
        return

    import asyncio

    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0):
            with CancelScope(shield=True) as shield:
                await asyncio.sleep(10)
    assert not shield.cancelled_caught


async def test_effective_deadline_sees_only_unicancel_scopes_on_asyncio(backend_name: str) -> None:
    """Deliberate difference: asyncio.timeout keeps its deadline private, so on
    asyncio current_effective_deadline() reports unicancel scopes only."""
    import math

    from unicancel import current_effective_deadline, current_time

    if backend_name == "trio":
        import trio

        with trio.move_on_after(50):
            assert current_effective_deadline() < math.inf
        return

    import asyncio

    async with asyncio.timeout(50):
        assert current_effective_deadline() == math.inf
        with CancelScope(deadline=current_time() + 100):
            assert current_effective_deadline() < math.inf
