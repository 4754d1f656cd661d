"""Diagnostics: the stuck-cancellation watchdog (issue 13, SCENARIOS 1 and 10).

Deterministic, no clock: stuck_after is long, and the test makes the watched
cancellation due (``_watchdog.expedite()``) only once the task is where the
test wants it seen (blocked, spinning, suspended); the blocking call and the
CPU loop end when the stuck report arrives (a subscriber sets an Event).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from typing import Any

import pytest

import unicancel
from unicancel import CancelScope, TaskGroup, diagnostics, to_thread
from unicancel._diagnostics import _watchdog

from ._diag import Watch, cancel_then_release, line
from ._diag import watch as watch  # the fixture
from ._helpers import Event, wait_all_tasks_blocked

FILE = os.path.basename(__file__)


def block(entered: threading.Event, until: threading.Event) -> None:
    entered.set()
    until.wait(30)  # a blocking call: no checkpoint


def spin(entered: threading.Event, until: threading.Event) -> None:
    entered.set()
    while not until.is_set():  # a CPU loop without a checkpoint
        pass


@pytest.mark.parametrize("stuck_in", [block, spin])
async def test_running_task_reported_with_the_loop_threads_stack(
    watch: Watch, backend_name: str, stuck_in: Callable[[threading.Event, threading.Event], None]
) -> None:
    entered = threading.Event()
    watch.expedite_when(entered)
    call_line = line() + 3
    with CancelScope() as scope:
        scope.cancel("stop now")
        stuck_in(entered, watch.seen["stuck"])
        await unicancel.checkpoint()
    assert scope.cancelled_caught
    assert watch.kinds() == ["stuck", "landed"], [r.format() for r in watch.reports]
    stuck, landed = watch.reports
    assert stuck.backend == backend_name
    assert stuck.reason == "stop now"
    assert stuck.latency is not None and stuck.latency > 0
    assert "running; the event loop thread's stack" in stuck.stack
    # User frames first: the loop (or blocking call) line, then its caller;
    # unicancel, asyncio/trio and pytest frames after them.
    frames = stuck.stack.splitlines()
    assert frames[1].strip().startswith(f"tests/{FILE}:"), stuck.stack
    assert frames[1].strip().endswith(f" in {stuck_in.__name__}")
    assert frames[2].strip() == f"tests/{FILE}:{call_line} in {_test_name(frames)}"
    assert stuck.stack.index(f":{call_line} ") < stuck.stack.index("library frames:")
    assert stuck.scope_site is not None and stuck.scope_site.startswith(f"tests/{FILE}:")
    assert landed.latency is not None and landed.latency >= stuck.latency
    assert landed.task == stuck.task
    first = stuck.format().splitlines()[0]
    assert "cancellation stuck" in first and repr(stuck.task) in first and "pending for" in first


def _test_name(frames: list[str]) -> str:
    return frames[2].rsplit(" in ", 1)[1]


async def test_shielded_await_stuck_reported_with_its_await_chain(watch: Watch) -> None:
    release = Event()

    async with TaskGroup() as tg:
        with CancelScope() as outer:
            tg.start_soon(cancel_then_release, watch, outer, release)
            with CancelScope(shield=True):
                wait_line = line() + 1
                await release.wait()
            await unicancel.checkpoint()
    assert outer.cancelled_caught
    assert watch.kinds() == ["stuck", "landed"], [r.format() for r in watch.reports]
    stuck = watch.reports[0]
    assert "suspended; its await chain" in stuck.stack
    # Innermost first: the test helper's wait, then the test's await.
    assert stuck.stack.index("_helpers.py") < stuck.stack.index(f"{FILE}:{wait_line}")
    assert stuck.stack.index(f"{FILE}:{wait_line}") < stuck.stack.index("library frames:")
    assert stuck.reason == "shutdown"


async def test_group_child_stuck_in_a_cpu_loop_is_named(
    watch: Watch, anyio_backend: tuple[str, dict[str, Any]]
) -> None:
    entered = threading.Event()
    watch.expedite_when(entered)

    async def spinner(tg: TaskGroup) -> None:
        tg.cancel_scope.cancel("enough")
        spin(entered, watch.seen["stuck"])
        await unicancel.checkpoint()

    async with TaskGroup() as tg:
        await wait_all_tasks_blocked()
        tg.start_soon(spinner, tg, name="spinner")
    assert watch.kinds()[0] == "stuck"
    stuck = watch.reports[0]
    # An eager child stuck in its first step, inside create_task(), has no
    # name yet: the stack still names its function.
    if "eager" not in str(anyio_backend[1]):
        assert stuck.task == "spinner", stuck.format()
    assert " in spinner\n" in stuck.stack
    # The group's scope was left: the watchdog notices when it looks again.
    _watchdog.expedite()
    await to_thread(watch.wait, "landed")


async def test_cancel_that_lands_within_the_threshold_is_not_reported(watch: Watch) -> None:
    with CancelScope() as scope:
        scope.cancel()
        with CancelScope(shield=True):  # a shielded cleanup, well within the threshold
            await unicancel.checkpoint()
        await unicancel.checkpoint()
    async with TaskGroup() as tg:
        tg.start_soon(Event().wait)
        await wait_all_tasks_blocked()
        tg.cancel_scope.cancel()
    _watchdog.expedite()  # whatever it still watches is due now: all of it landed
    await to_thread(_watchdog_idle)
    assert scope.cancelled_caught
    assert watch.reports == []


def _watchdog_idle() -> None:
    """Wait until the watchdog has looked at everything it was given."""
    for _ in range(3000):
        with _watchdog._cond:
            if _watchdog._idle and not _watchdog._watched and not _watchdog._armed:
                return
        threading.Event().wait(0.01)
    raise AssertionError("the watchdog never became idle")


async def test_scope_left_without_landing_is_reported_as_left(watch: Watch) -> None:
    entered = threading.Event()
    watch.expedite_when(entered)
    with CancelScope() as scope:
        scope.cancel()
        block(entered, watch.seen["stuck"])
    # Nothing ever landed in the task: asyncio's watchdog notices the scope
    # was left when it looks again; trio's exit of a cancelled scope says so.
    _watchdog.expedite()
    await to_thread(watch.wait, "landed")
    assert watch.kinds() == ["stuck", "landed"]
    assert "the scope was left without the cancellation landing" in watch.reports[1].stack
    assert watch.reports[1].latency is None  # nothing landed: no latency to give
    assert "stuck cancellation never landed" in watch.reports[1].format()
    assert not scope.cancelled_caught


async def test_stuck_then_swallowed_landed_on_both_backends(
    watch: Watch, backend_name: str
) -> None:
    # The cancellation reached the task (and was swallowed there): it
    # landed, with its latency, on trio as on asyncio (asyncio tells by its
    # delivery count, trio by the catch record: Python 3.12+).
    if backend_name == "trio" and sys.version_info < (3, 12):
        pytest.skip("trio tells a swallow by its catch site: Python 3.12+")
    entered = threading.Event()
    watch.expedite_when(entered)
    with CancelScope() as scope:
        scope.cancel()
        block(entered, watch.seen["stuck"])
        try:
            await unicancel.checkpoint()
        except unicancel.get_cancelled_exc_class():
            pass
    assert not scope.cancelled_caught
    assert watch.kinds() == ["stuck", "landed", "swallowed"], watch.kinds()
    landed = watch.reports[1]
    assert landed.latency is not None and landed.latency > 0, landed.format()
    assert landed.format().startswith("unicancel: stuck cancellation landed in task")


def test_watchdog_thread_runs_only_while_enabled() -> None:
    def threads() -> list[str]:
        return [t.name for t in threading.enumerate() if t.name == "unicancel-watchdog"]

    async def main() -> None:
        with CancelScope() as scope:
            scope.cancel()
            await unicancel.checkpoint()

    assert threads() == []
    unicancel.run(main)  # diagnostics off: no thread
    assert threads() == []
    diagnostics.enable(stuck_after=60, warn=False, log=False)
    try:
        unicancel.run(main)
        assert threads() == ["unicancel-watchdog"]
    finally:
        diagnostics.disable()
    assert threads() == []
    assert _watchdog._thread is None


async def test_a_suspended_task_kept_waiting_by_another_task_names_that_task(
    watch: Watch,
) -> None:
    # The stuck scope's task waits innocently; another task holds the loop
    # (a blocking call): the report must show where the loop is held.
    entered = threading.Event()
    hold_line: list[int] = []

    async def hogger(scope: CancelScope) -> None:
        await wait_all_tasks_blocked()  # the waiter is suspended in its scope
        scope.cancel("stop now")
        watch.expedite_when(entered)
        hold_line.append(line() + 1)
        block(entered, watch.seen["stuck"])

    async with TaskGroup() as tg:
        with CancelScope() as scope:
            tg.start_soon(hogger, scope)
            await Event().wait()
    assert scope.cancelled_caught
    stuck = next(r for r in watch.reports if r.kind == "stuck")
    assert "suspended; its await chain" in stuck.stack, stuck.format()
    held = stuck.stack.split("the event loop is held by other code", 1)
    assert len(held) == 2, stuck.format()
    assert f"tests/{FILE}:{hold_line[0]} in hogger" in held[1], stuck.format()
