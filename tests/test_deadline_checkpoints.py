"""A deadline that passed while the task was busy (CPU work, a blocking call)
must be seen by the next unicancel schedule point, as trio's scheduler sees it
(issue 11, bug 1).

trio expires deadlines before it runs each batch of tasks, so any checkpoint
that yields applies a deadline that passed while the task ran. On asyncio a
task resuming from ``sleep(0)`` runs before the loop's due timers, so before
the fix ``checkpoint()`` went on, on every other scope of a loop (each test
runs its scenario twice in a row for that reason).

The work is ``time.sleep`` until the deadline has passed: blocking the task
is the scenario itself, and the deadline has always passed when it returns.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable

import pytest

import unicancel
from unicancel import CancelOrigin, CancelScope, TaskGroup, TaskStatus, current_time

from ._helpers import run_concurrently, sleep, sleep_forever

pytestmark = pytest.mark.anyio

Step = Callable[[], Awaitable[None]]

#: Seconds: short, since the task blocks until it has passed.
SHORT = 0.002


def work_past(deadline: float) -> None:
    """Block the task (no await) until *deadline* has passed on the backend clock."""
    while current_time() <= deadline:
        time.sleep(SHORT)


async def started_after_checkpoint(*, task_status: TaskStatus[None]) -> None:
    await unicancel.checkpoint()
    task_status.started()  # pragma: no cover - the checkpoint raises


# -- steps that raise the cancellation of a passed deadline --------------------


async def checkpoint() -> None:
    await unicancel.checkpoint()


async def event_wait_set() -> None:
    event = unicancel.Event()
    event.set()
    await event.wait()


async def shielded_then_if_cancelled() -> None:
    # trio's idiom: the schedule point applies the deadline, the check raises.
    await unicancel.cancel_shielded_checkpoint()
    await unicancel.checkpoint_if_cancelled()


async def to_thread_then_checkpoint() -> None:
    # Not abandoned: the thread's result comes back, the cancellation lands
    # at the next checkpoint (trio.to_thread.run_sync's rule).
    assert await unicancel.to_thread(lambda: 42) == 42
    await unicancel.checkpoint()


async def group_exit_with_child() -> None:
    async with TaskGroup() as tg:
        tg.start_soon(sleep_forever)


async def start() -> None:
    async with TaskGroup() as tg:
        await tg.start(started_after_checkpoint)


RAISING: dict[str, Step] = {
    "checkpoint": checkpoint,
    "event_wait_set": event_wait_set,
    "shielded_then_if_cancelled": shielded_then_if_cancelled,
    "to_thread_then_checkpoint": to_thread_then_checkpoint,
    "group_exit_with_child": group_exit_with_child,
    "start": start,
}


# -- schedule points that are no cancel points: they apply the deadline only ---


async def cancel_shielded_checkpoint() -> None:
    await unicancel.cancel_shielded_checkpoint()


async def to_thread() -> None:
    await unicancel.to_thread(lambda: None)


async def to_thread_abandoned() -> None:
    # Whether the thread's result or the cancellation wins is a race on trio;
    # either way the schedule point applied the deadline.
    try:
        await unicancel.to_thread(lambda: None, abandon_on_cancel=True)
    finally:
        assert unicancel.current_effective_deadline() == -math.inf


async def group_exit_empty() -> None:
    async with TaskGroup():
        pass


APPLYING: dict[str, Step] = {
    "cancel_shielded_checkpoint": cancel_shielded_checkpoint,
    "to_thread": to_thread,
    "to_thread_abandoned": to_thread_abandoned,
    "group_exit_empty": group_exit_empty,
}


def applied_then_checkpoint(step: Step) -> Step:
    async def run() -> None:
        await step()
        # The schedule point expired the scope: as trio reports it.
        assert unicancel.current_effective_deadline() == -math.inf
        await unicancel.checkpoint()

    return run


# -- the scenario, in a single scope and nested ----------------------------------


async def single(step: Step) -> None:
    reached = False
    with unicancel.move_on_after(SHORT) as scope:
        work_past(scope.deadline)
        await step()
        reached = True  # pragma: no cover
    assert not reached
    assert scope.cancelled_caught
    assert scope.cancel_origin is CancelOrigin.DEADLINE


async def inner_expires(step: Step) -> None:
    reached = False
    with unicancel.move_on_after(60) as outer:
        with unicancel.move_on_after(SHORT) as inner:
            work_past(inner.deadline)
            await step()
            reached = True  # pragma: no cover
        await unicancel.checkpoint()  # the outer scope is not cancelled
    assert not reached
    assert inner.cancelled_caught
    assert inner.cancel_origin is CancelOrigin.DEADLINE
    assert not outer.cancel_called


async def outer_expires(step: Step) -> None:
    reached = left_inner = False
    with unicancel.move_on_after(SHORT) as outer:
        with CancelScope() as inner:
            work_past(outer.deadline)
            await step()
            reached = True  # pragma: no cover
        left_inner = True  # pragma: no cover
    assert not reached
    assert not left_inner
    assert outer.cancelled_caught
    assert outer.cancel_origin is CancelOrigin.DEADLINE
    assert not inner.cancelled_caught
    assert inner.cancel_origin is CancelOrigin.ENCLOSING


NESTINGS: dict[str, Callable[[Step], Awaitable[None]]] = {
    "single": single,
    "inner_expires": inner_expires,
    "outer_expires": outer_expires,
}


@pytest.mark.parametrize("nesting", NESTINGS)
@pytest.mark.parametrize("kind", RAISING)
async def test_passed_deadline_raises_at_next_checkpoint(kind: str, nesting: str) -> None:
    """Issue 11 bug 1: each yielding checkpoint raises for a deadline that
    passed while the task was busy, on every scope (it was missed on every
    other one on asyncio: hence twice in a row)."""
    for _ in range(2):
        await NESTINGS[nesting](RAISING[kind])


@pytest.mark.parametrize("nesting", NESTINGS)
@pytest.mark.parametrize("kind", APPLYING)
async def test_passed_deadline_applied_at_schedule_point(kind: str, nesting: str) -> None:
    """A schedule point that is no cancel point (a shielded checkpoint, a
    thread, a group's exit) still applies the passed deadline, as trio's
    scheduler does: current_effective_deadline() is -inf after it and the
    next checkpoint raises. to_thread() of a function that is done before
    the wait starts (3.14+ then completes the future at once) did not yield
    at all."""
    for _ in range(2):
        await NESTINGS[nesting](applied_then_checkpoint(APPLYING[kind]))


async def test_many_scopes_in_a_row() -> None:
    """Every scope of a loop, not every other one."""
    caught = []
    for _ in range(6):
        with unicancel.move_on_after(SHORT) as scope:
            work_past(scope.deadline)
            await unicancel.checkpoint()
        caught.append(scope.cancelled_caught)
    assert caught == [True] * 6


async def test_sibling_tasks_each_see_their_passed_deadline() -> None:
    """Two tasks busy past their own deadlines: each checkpoint raises."""
    scopes: list[CancelScope] = []

    async def busy() -> None:
        for _ in range(2):
            with unicancel.move_on_after(SHORT) as scope:
                scopes.append(scope)
                work_past(scope.deadline)
                await unicancel.checkpoint()
                raise AssertionError("the checkpoint went on")  # pragma: no cover

    await run_concurrently(busy, busy)
    assert [scope.cancelled_caught for scope in scopes] == [True] * 4


async def test_checkpoint_if_cancelled_without_schedule_point_keeps_trios_answer() -> None:
    """trio's checkpoint_if_cancelled() does not read the clock: a deadline
    that passed with no schedule point since is not seen (trio applies
    deadlines in its scheduler). Pinned so both backends keep that answer;
    after a schedule point it raises (shielded_then_if_cancelled above)."""
    for _ in range(2):
        with unicancel.move_on_after(SHORT) as scope:
            work_past(scope.deadline)
            await unicancel.checkpoint_if_cancelled()
        assert not scope.cancelled_caught
        assert not scope.cancel_called  # trio's answer once the scope is exited
        await sleep(0)  # nothing was left pending for the task


async def test_deadline_passed_then_exit_without_checkpoint() -> None:
    """The body is done before any checkpoint: the exit does not raise and
    nothing is left pending. Read inside the scope, cancel_called is true
    (trio checks the clock there) and stays so; unread, trio reports false
    after the exit (it stops checking the clock), and so does unicancel."""
    for _ in range(2):
        with unicancel.move_on_after(SHORT) as scope:
            work_past(scope.deadline)
            assert scope.cancel_called
        assert scope.cancel_called
        assert scope.cancel_origin is CancelOrigin.DEADLINE
        assert not scope.cancelled_caught
        await sleep(0)  # the task is not cancelled outside the scope

        with unicancel.move_on_after(SHORT) as unread:
            work_past(unread.deadline)
        assert not unread.cancel_called
        assert not unread.cancelled_caught
        await sleep(0)
