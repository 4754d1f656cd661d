"""Diagnostics: every stuck report is followed by exactly one end report for
its task, on every backend (the hostile review of issue 13): "landed" with
its latency when the cancellation reached the task, "never landed" (no
latency) when the scope was left first (its body ended, or another
exception left it); cancellations pending at once in one task (nested
scopes) make one episode: one stuck report, one end.
"""

from __future__ import annotations

import pytest

import unicancel
from unicancel import CancelScope, TaskGroup, diagnostics, to_thread
from unicancel._diagnostics import _watchdog

from ._diag import Watch, cancel_then_release
from ._diag import watch as watch  # the fixture
from ._helpers import Event, wait_all_tasks_blocked
from .test_diagnostics_stuck import block


def _ends(watch: Watch) -> list[tuple[str, str, bool]]:
    """(kind, task, has a latency) of each report."""
    return [(r.kind, r.task, r.latency is not None) for r in watch.reports]


def _stuck_now(watch: Watch) -> None:
    """Block the loop (no checkpoint) until the watchdog reported it stuck."""
    import threading

    entered = threading.Event()
    watch.expedite_when(entered)
    block(entered, watch.seen["stuck"])


async def test_body_ends_after_a_stuck_cancel_never_landed_before_disable(
    watch: Watch,
) -> None:
    # No exit hook sees this scope's exit (nothing was delivered): the end
    # report is made at the latest when diagnostics stop (or a run ends).
    with CancelScope() as scope:
        scope.cancel("manual")
        _stuck_now(watch)
    assert not scope.cancelled_caught
    diagnostics.disable()
    name = watch.reports[0].task
    assert _ends(watch) == [("stuck", name, True), ("landed", name, False)], _ends(watch)
    assert "never landed" in watch.reports[1].format()


async def test_scope_left_by_another_exception_never_landed(watch: Watch) -> None:
    with pytest.raises(ValueError, match="user error"):
        with CancelScope() as scope:
            scope.cancel()
            _stuck_now(watch)
            raise ValueError("user error")
    diagnostics.disable()
    name = watch.reports[0].task
    assert _ends(watch) == [("stuck", name, True), ("landed", name, False)], _ends(watch)


async def test_nested_scopes_cancelled_at_once_one_stuck_one_landed(watch: Watch) -> None:
    with CancelScope() as outer:
        with CancelScope() as inner:
            outer.cancel("outer")
            inner.cancel("inner")
            _stuck_now(watch)
            await unicancel.checkpoint()
    assert outer.cancelled_caught
    diagnostics.disable()
    name = watch.reports[0].task
    assert _ends(watch) == [("stuck", name, True), ("landed", name, True)], _ends(watch)


async def test_group_cancel_one_end_report_per_stuck_task(watch: Watch) -> None:
    release = Event()

    async def child() -> None:
        try:
            await Event().wait()
        finally:
            with CancelScope(shield=True):
                await release.wait()  # a long shielded cleanup

    async def releaser() -> None:
        await to_thread(watch.wait, "stuck")
        release.set()

    async with TaskGroup() as outside:
        outside.start_soon(releaser)
        async with TaskGroup() as tg:
            tg.start_soon(child, name="child")
            await wait_all_tasks_blocked()
            tg.cancel_scope.cancel("stop")
            _watchdog.expedite()
    stuck = sorted(r.task for r in watch.reports if r.kind == "stuck")
    ended = sorted(r.task for r in watch.reports if r.kind == "landed")
    assert "child" in stuck, _ends(watch)
    assert ended == stuck, _ends(watch)


async def test_shielded_wait_stuck_then_left_by_an_error_never_landed(watch: Watch) -> None:
    release = Event()

    async with TaskGroup() as tg:
        outer = CancelScope()
        tg.start_soon(cancel_then_release, watch, outer, release)
        with pytest.raises(KeyError):
            with outer:
                with CancelScope(shield=True):
                    await release.wait()
                raise KeyError("k")
    diagnostics.disable()
    name = watch.reports[0].task
    assert _ends(watch) == [("stuck", name, True), ("landed", name, False)], _ends(watch)
