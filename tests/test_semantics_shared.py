"""Shared-suite pins for rules we chose where the backends (or the anchors)
disagree, and for the one place where unicancel deliberately differs from trio.
See docs/semantics.md."""

from __future__ import annotations

import pytest

from unicancel import CancelScope, get_cancelled_exc_class

from ._helpers import Event, backend, run_concurrently, sleep_forever, wait_all_tasks_blocked

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
    """Deliberate difference (docs/semantics.md, "retry loops"): code that
    catches the cancellation and awaits again *at the same await* is
    re-cancelled twice on asyncio, then left alone until something else wakes
    it. trio re-cancels every time. Both then leave the scope normally."""
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
    if backend() == "trio":
        assert outcomes == ["cancelled"] * 4
    else:
        assert outcomes == ["cancelled", "cancelled", "woke", "woke"]
