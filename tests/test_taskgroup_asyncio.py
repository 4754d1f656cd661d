"""asyncio-specific guarantees of unicancel.TaskGroup: asyncio.TaskGroup's
contract, clean bookkeeping, and interplay with asyncio's own cancellation."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from unicancel import CancelScope, TaskGroup
from unicancel._backends.asyncio import _delivery as _asyncio_delivery
from unicancel._backends.asyncio import _reach as _asyncio_reach

pytestmark = pytest.mark.anyio

MAX_DELIVERIES = 2  # see test_traps_asyncio.py


@pytest.fixture(autouse=True)
def _asyncio_only(backend_name: str) -> None:
    if backend_name != "asyncio":
        pytest.skip("asyncio task machinery")


def _task() -> asyncio.Task[Any]:
    task = asyncio.current_task()
    assert task is not None
    return task


async def test_no_leaked_tasks_or_counts() -> None:
    before = asyncio.all_tasks()
    children: list[asyncio.Task[Any]] = []
    with CancelScope() as scope:
        async with TaskGroup() as tg:
            for _ in range(20):
                children.append(tg.create_task(asyncio.Event().wait()))
            await asyncio.sleep(0)
            scope.cancel()
    assert scope.cancelled_caught
    assert all(c.done() for c in children)
    assert asyncio.all_tasks() == before
    assert _task().cancelling() == 0
    assert not any(_asyncio_delivery.innermost(c) for c in children)
    group_scopes = (scope, tg.cancel_scope, tg._impl._abort)  # type: ignore[union-attr]
    assert not any(_asyncio_reach.members_under(s) for s in group_scopes)


async def test_external_cancel_of_host_while_group_waits() -> None:
    """Like asyncio.TaskGroup: Task.cancel() of the parent cancels the children
    and the CancelledError propagates once they are done."""
    cleaned = 0
    entered = asyncio.Event()

    async def child() -> None:
        nonlocal cleaned
        try:
            await asyncio.Event().wait()
        finally:
            cleaned += 1

    async def parent() -> None:
        async with TaskGroup() as tg:
            tg.start_soon(child)
            tg.start_soon(child)
            entered.set()

    task = asyncio.create_task(parent())
    await entered.wait()
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cleaned == 2


async def test_group_wait_does_not_spin_while_children_clean_up() -> None:
    """ANCHORS trap 1 for our own group: the parent waits without being
    re-cancelled while a cancelled child takes 2,000 iterations to clean up."""
    host = _task()
    peak = 0

    async def slow_cleanup() -> None:
        nonlocal peak
        try:
            await asyncio.Event().wait()
        finally:
            with CancelScope(shield=True):
                for _ in range(2000):
                    await asyncio.sleep(0)
                    peak = max(peak, host.cancelling())

    with CancelScope() as scope:
        async with TaskGroup() as tg:
            tg.start_soon(slow_cleanup)
            await asyncio.sleep(0)
            scope.cancel()
    assert scope.cancelled_caught
    assert peak <= MAX_DELIVERIES
    assert host.cancelling() == 0


async def test_inside_asyncio_timeout_the_group_times_out() -> None:
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.01):
            async with TaskGroup() as tg:
                tg.start_soon(asyncio.Event().wait)
    assert _task().cancelling() == 0


async def test_native_taskgroup_inside_unicancel_group_child() -> None:
    cleaned = 0

    async def native_parent() -> None:
        nonlocal cleaned

        async def leaf() -> None:
            nonlocal cleaned
            try:
                await asyncio.Event().wait()
            finally:
                cleaned += 1

        async with asyncio.TaskGroup() as native:
            native.create_task(leaf())
            native.create_task(leaf())

    with CancelScope() as scope:
        async with TaskGroup() as tg:
            tg.start_soon(native_parent)
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            scope.cancel()
    assert cleaned == 2
    assert scope.cancelled_caught


async def test_child_exceptions_are_retrieved() -> None:
    """No 'Task exception was never retrieved' warnings (warnings are errors)."""

    async def fail() -> None:
        raise ValueError("x")

    with pytest.raises(ExceptionGroup):
        async with TaskGroup() as tg:
            tg.start_soon(fail)
            tg.start_soon(fail)


async def test_native_cancel_of_body_cancels_children() -> None:
    """Regression: asyncio.timeout / Task.cancel() cancelling the body (not a
    unicancel scope) must cancel the children, as asyncio.TaskGroup does."""
    cleaned = 0

    async def child() -> None:
        nonlocal cleaned
        try:
            await asyncio.Event().wait()
        finally:
            cleaned += 1

    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.01):
            async with TaskGroup() as tg:
                tg.start_soon(child)
                tg.start_soon(child)
                await asyncio.Event().wait()
    assert cleaned == 2
    assert _task().cancelling() == 0


async def test_child_cancelled_before_its_first_step() -> None:
    """Task.cancel() before a child's first step ends it without running any
    of its code: the group must still see it end (and not hang)."""

    async def work() -> None:
        await asyncio.sleep(10)  # pragma: no cover

    async with asyncio.timeout(5):
        async with TaskGroup() as tg:
            early = tg.create_task(work())
            early.cancel()
            await asyncio.sleep(0)
            late = tg.create_task(work())
            late.cancel()
    assert early.cancelled() and late.cancelled()
    assert _asyncio_delivery.innermost(early) is None
    assert _asyncio_delivery.innermost(late) is None


async def test_lazy_task_factory_children_are_waited_for() -> None:
    """With a lazy (non-eager) custom task factory the group still waits for
    children that have not started when the body ends."""
    loop = asyncio.get_running_loop()
    old = loop.get_task_factory()
    loop.set_task_factory(lambda loop, coro, **kw: asyncio.Task(coro, loop=loop, **kw))
    try:
        done: list[int] = []

        async def work() -> None:
            await asyncio.sleep(0)
            done.append(1)

        async with TaskGroup() as tg:
            tg.start_soon(work)
        assert done == [1]
    finally:
        loop.set_task_factory(old)


async def _failing_group_exit_with_slow_cleanup(
    in_cleanup: asyncio.Event, cleanup_may_end: asyncio.Event
) -> None:
    """A group whose child fails while a sibling cleans up under a shield
    until *cleanup_may_end* is set."""

    async def slow_cleanup() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            with CancelScope(shield=True):
                in_cleanup.set()
                await cleanup_may_end.wait()

    async def fail() -> None:
        raise ValueError("boom")

    async with TaskGroup() as tg:
        tg.start_soon(slow_cleanup)
        await asyncio.sleep(0)
        tg.start_soon(fail)


async def test_outside_cancel_kept_when_the_group_exits_with_errors() -> None:
    """Issue 11, bug 4, as 3.13's asyncio.TaskGroup does on every Python: a
    Task.cancel() that arrives while the group waits for a shielded cleanup
    stays pending (cancelling() stays 1) and lands at the next await, after
    the errors left the group."""
    in_cleanup, cleanup_may_end = asyncio.Event(), asyncio.Event()
    log: list[object] = []

    async def host() -> None:
        try:
            await _failing_group_exit_with_slow_cleanup(in_cleanup, cleanup_may_end)
        except* ValueError:
            log.append(("errors", _task().cancelling()))
        try:
            await asyncio.sleep(0)
        except asyncio.CancelledError as cancelled:
            log.append(("cancelled", cancelled.args))
            raise

    task = asyncio.create_task(host())
    await in_cleanup.wait()
    task.cancel("from outside")
    await asyncio.sleep(0)
    cleanup_may_end.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert log == [("errors", 1), ("cancelled", ("from outside",))]
    assert task.cancelling() == 1


async def test_outside_cancel_of_the_body_kept_when_a_child_fails() -> None:
    """The same when the outside cancel hits the body: a child fails while
    being cancelled, the errors leave the group, the cancel lands next."""
    log: list[str] = []
    body_waits = asyncio.Event()

    async def fails_when_cancelled() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise ValueError("cleanup failed") from None

    async def host() -> None:
        try:
            async with TaskGroup() as tg:
                tg.start_soon(fails_when_cancelled)
                body_waits.set()
                await asyncio.Event().wait()
        except* ValueError:
            log.append("errors")
        try:
            await asyncio.sleep(0)
        except asyncio.CancelledError:
            log.append("cancelled")
            raise

    task = asyncio.create_task(host())
    await body_waits.wait()
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert log == ["errors", "cancelled"]


async def test_cancel_taken_back_by_asyncio_timeout_is_not_redelivered() -> None:
    """An asyncio.timeout whose cancellation the failing group absorbed takes
    it back (uncancel) as the errors pass through it: then nothing is left
    to land, and the awaits after the timeout block go on (gh-116720: a
    cancel() from inside the step would stay behind on 3.11/3.12)."""
    in_cleanup, cleanup_may_end = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()
    host = _task()

    async def expire_then_release() -> None:
        await in_cleanup.wait()
        timeout.reschedule(loop.time())  # expires: the host is cancelled
        for _ in range(3):
            await asyncio.sleep(0)
        cleanup_may_end.set()

    releaser = asyncio.create_task(expire_then_release())
    with pytest.raises(ExceptionGroup):
        async with asyncio.timeout(None) as timeout:
            await _failing_group_exit_with_slow_cleanup(in_cleanup, cleanup_may_end)
    assert timeout.expired()
    assert host.cancelling() == 0
    for _ in range(3):
        await asyncio.sleep(0)  # not cancelled
    await releaser
