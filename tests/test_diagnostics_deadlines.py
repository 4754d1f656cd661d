"""Diagnostics: a deadline that passes while a task holds the event loop (a
CPU loop, a blocking call) is reported stuck, with the loop's line, and
landed after (issue 13's bar: "a stuck CPU loop reported with the loop line").

The loop's timer cannot run while the task holds the loop, so no cancel is
ever requested: the watchdog is told of armed deadlines and looks when one
has passed. Deterministic: stuck_after is long; the CPU loop, once the
backend's clock is past the deadline, makes the watchdog look now
(``_watchdog.expedite()``) and spins until the stuck report arrives (a
subscriber sets an Event).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from time import monotonic

import pytest

import unicancel
from unicancel import CancelScope, TaskGroup, fail_after, move_on_after
from unicancel._diagnostics import _watchdog

from ._diag import Watch, line
from ._diag import watch as watch  # the fixture
from ._helpers import wait_all_tasks_blocked

FILE = os.path.basename(__file__)


def spin_past(scope: CancelScope, until: threading.Event) -> None:
    """A CPU loop without a checkpoint, past *scope*'s deadline, until *until*
    is set (a guard ends it after 20 s: then the test fails, not hangs)."""
    expedited = False
    guard = monotonic() + 20
    while not until.is_set() and monotonic() < guard:
        if not expedited and unicancel.current_time() >= scope.deadline:
            _watchdog.expedite()  # the deadline passed: look now, not in 60 s
            expedited = True


def _is_watched(scope: CancelScope) -> bool:
    return _watchdog.watched_deadline(scope) is not None


@pytest.mark.parametrize("opener", [move_on_after, fail_after])
async def test_cpu_loop_past_a_deadline_reported_with_the_loop_line(
    watch: Watch, backend_name: str, opener: Callable[[float], CancelScope]
) -> None:
    try:
        with opener(0.05) as scope:
            call_line = line() + 1
            spin_past(scope, watch.seen["stuck"])
            await unicancel.checkpoint()
    except TimeoutError:
        assert opener is fail_after
    else:
        assert opener is move_on_after
    assert scope.cancelled_caught
    assert watch.kinds() == ["stuck", "landed"], [r.format() for r in watch.reports]
    stuck, landed = watch.reports
    assert stuck.backend == backend_name
    assert stuck.reason == "deadline exceeded"
    assert "running; the event loop thread's stack" in stuck.stack
    frames = stuck.stack.splitlines()
    # The loop's line first, then the test's call of it.
    assert frames[1].strip().startswith(f"tests/{FILE}:"), stuck.stack
    assert frames[1].strip().endswith(" in spin_past"), stuck.stack
    assert frames[2].strip().startswith(f"tests/{FILE}:{call_line} in "), stuck.stack
    assert stuck.latency is not None and stuck.latency > 0
    assert landed.latency is not None and landed.latency >= stuck.latency
    assert landed.task == stuck.task
    assert "landed" in landed.format().splitlines()[0]


async def test_no_report_when_the_block_ends_before_its_deadline(watch: Watch) -> None:
    with move_on_after(3600) as scope:
        assert _is_watched(scope)  # watched while the deadline is armed
        await unicancel.checkpoint()
    assert not scope.cancelled_caught
    _watchdog.expedite(wait=True)  # the watchdog has looked at everything
    assert watch.reports == []
    assert _watchdog.watched_deadline(scope) is None  # dropped once the scope was left


async def test_no_report_for_a_deadline_moved_later_before_it_passed(watch: Watch) -> None:
    with move_on_after(0.05) as scope:
        first = scope.deadline
        assert _is_watched(scope)
        scope.deadline = first + 3600  # moved later (an idle timeout pushed back)
        guard = monotonic() + 20
        while unicancel.current_time() < first and monotonic() < guard:
            pass  # a CPU loop past the first deadline
        _watchdog.expedite(wait=True)  # the watchdog looks, with the loop held
        assert watch.reports == []
        assert _is_watched(scope)  # still watched, at the new deadline
    assert not scope.cancelled_caught


async def test_a_deadline_moved_earlier_is_watched_at_the_new_time(watch: Watch) -> None:
    with move_on_after(3600) as scope:
        scope.deadline = unicancel.current_time() + 0.05
        spin_past(scope, watch.seen["stuck"])
        await unicancel.checkpoint()
    assert scope.cancelled_caught
    assert watch.kinds() == ["stuck", "landed"], [r.format() for r in watch.reports]


async def test_watched_deadlines_keep_nothing_alive(watch: Watch) -> None:
    import gc
    import weakref

    refs = []
    for _ in range(200):
        with move_on_after(3600) as scope:
            await unicancel.checkpoint()
        refs.append(weakref.ref(scope))
    del scope
    gc.collect()
    assert [r() for r in refs] == [None] * len(refs)
    # The table is swept as it grows: bounded by the live scopes, not by
    # every scope that ever had a deadline.
    assert len(_watchdog._watched) + len(_watchdog._armed) <= 64


def test_trio_deadlines_on_a_virtual_clock_are_not_watched(watch: Watch) -> None:
    """A MockClock's time is not the wall clock the watchdog waits on: its
    deadlines are left to trio (documented), never misreported."""
    trio = pytest.importorskip("trio")
    from trio.testing import MockClock

    watched: list[bool] = []

    async def main() -> None:
        with move_on_after(5) as scope:
            watched.append(_watchdog.watched_deadline(scope) is not None)
            await trio.sleep(10)  # the mock clock jumps: the deadline cancels it
        assert scope.cancelled_caught

    trio.run(main, clock=MockClock(autojump_threshold=0))
    assert watched == [False]

    async def real() -> None:
        with move_on_after(5) as scope:
            watched.append(_watchdog.watched_deadline(scope) is not None)

    trio.run(real)
    assert watched == [False, True]
    assert watch.reports == []


async def test_stuck_group_cancel_reported_landed_when_the_group_is_left(watch: Watch) -> None:
    """A group's scope delivers to its children, not to the task that leaves
    it: "landed" comes when the group is left (as on trio), not when the
    watchdog next looks (``stuck_after`` later)."""
    entered = threading.Event()

    async def spinner(tg: TaskGroup) -> None:
        tg.cancel_scope.cancel("enough")
        entered.set()
        _watchdog.expedite()
        guard = monotonic() + 20
        while not watch.seen["stuck"].is_set() and monotonic() < guard:
            pass  # a CPU loop without a checkpoint
        await unicancel.checkpoint()

    async with TaskGroup() as tg:
        await wait_all_tasks_blocked()
        tg.start_soon(spinner, tg, name="spinner")
    assert entered.is_set()
    assert watch.kinds() == ["stuck", "landed"], [r.format() for r in watch.reports]
    assert watch.reports[1].reason == "enough"
    # Named as their tasks: none 'None' (Python 3.13.0 names a task created
    # through a task factory without a name so); the eager child stuck in its
    # first step has its default name (set_name() comes after that step).
    assert "None" not in [r.task for r in watch.reports]


async def test_a_deadline_passed_in_a_blocking_call_then_left_never_landed(watch: Watch) -> None:
    # The deadline passed while a blocking call held the loop; the body then
    # finished without a checkpoint: nothing was cancelled. The stuck report
    # was right; its end must not say "landed" with a latency.
    with move_on_after(0.05) as scope:
        while unicancel.current_time() < scope.deadline:
            threading.Event().wait(0.005)  # a blocking call, past the deadline
        _watchdog.expedite()
        watch.seen["stuck"].wait(30)  # still blocking: the watchdog reports it stuck
    assert not scope.cancelled_caught
    _watchdog.expedite()  # the watchdog notices the scope was left
    await unicancel.to_thread(watch.seen["landed"].wait, 30)
    assert watch.kinds() == ["stuck", "landed"], [r.format() for r in watch.reports]
    ended = watch.reports[1]
    assert ended.latency is None, ended.format()
    first = ended.format().splitlines()[0]
    assert first.startswith("unicancel: stuck cancellation never landed in task"), first
    assert "after" not in first
    assert "the scope was left before the cancellation reached the task" in ended.format()
