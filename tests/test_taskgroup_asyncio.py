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
