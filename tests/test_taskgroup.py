"""unicancel.TaskGroup: structured children on every backend (issue 3)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from unicancel import (
    CancelScope,
    TaskGroup,
    TaskStatus,
    checkpoint,
    current_effective_deadline,
    current_time,
    get_cancelled_exc_class,
    move_on_after,
)

from ._helpers import (
    Event,
    backend,
    run_concurrently,
    sleep,
    sleep_forever,
    wait_all_tasks_blocked,
)

pytestmark = pytest.mark.anyio


async def test_enclosing_scope_cancels_children_and_body() -> None:
    cleaned: list[int] = []

    async def child(i: int) -> None:
        try:
            await sleep_forever()
        finally:
            cleaned.append(i)

    with CancelScope() as scope:
        async with TaskGroup() as tg:
            for i in range(5):
                tg.start_soon(child, i)
            await wait_all_tasks_blocked()
            scope.cancel()
            await sleep_forever()
    assert sorted(cleaned) == [0, 1, 2, 3, 4]
    assert scope.cancelled_caught


async def test_children_are_cancelled_level_triggered() -> None:
    """A child that catches one cancellation is cancelled again at its next await."""
    exc = get_cancelled_exc_class()
    seen: list[str] = []

    async def stubborn() -> None:
        try:
            await sleep_forever()
        except exc:
            seen.append("first")
        try:
            await sleep(0.5)
        except exc:
            seen.append("second")
            raise

    with CancelScope() as scope:
        async with TaskGroup() as tg:
            tg.start_soon(stubborn)
            await wait_all_tasks_blocked()
            scope.cancel()
    assert seen == ["first", "second"]
    assert scope.cancelled_caught


async def test_enclosing_deadline_reaches_children() -> None:
    done = False

    async def child() -> None:
        nonlocal done
        await sleep_forever()
        done = True  # pragma: no cover

    with move_on_after(0.01) as scope:
        async with TaskGroup() as tg:
            tg.start_soon(child)
    assert scope.cancelled_caught
    assert not done


async def test_shield_inside_child_protects_it() -> None:
    committed = Event()

    async def child() -> None:
        with CancelScope(shield=True):
            await wait_all_tasks_blocked()
            await sleep(0.01)
            committed.set()
        await sleep_forever()

    with CancelScope() as scope:
        async with TaskGroup() as tg:
            tg.start_soon(child)
            await wait_all_tasks_blocked()
            scope.cancel()
    assert committed.is_set()
    assert scope.cancelled_caught


async def test_effective_deadline_inside_child() -> None:
    seen: list[float] = []
    deadline = current_time() + 100

    async def child() -> None:
        seen.append(current_effective_deadline())
        with CancelScope(deadline=deadline - 50):
            seen.append(current_effective_deadline())
        with CancelScope(shield=True):
            seen.append(current_effective_deadline())

    with CancelScope(deadline=deadline):
        async with TaskGroup() as tg:
            tg.start_soon(child)
    assert seen == [deadline, deadline - 50, math.inf]


async def test_child_error_cancels_siblings_and_body() -> None:
    exc = get_cancelled_exc_class()
    sibling_cancelled = False
    body_cancelled = False

    async def sibling() -> None:
        nonlocal sibling_cancelled
        try:
            await sleep_forever()
        except exc:
            sibling_cancelled = True
            raise

    async def failing() -> None:
        await wait_all_tasks_blocked()
        raise ValueError("boom")

    with pytest.raises(ExceptionGroup) as info:
        async with TaskGroup() as tg:
            tg.start_soon(sibling)
            tg.start_soon(failing)
            try:
                await sleep_forever()
            except exc:
                body_cancelled = True
                raise
    assert info.group_contains(ValueError, match="boom")
    assert [type(e) for e in info.value.exceptions] == [ValueError]
    assert sibling_cancelled
    assert body_cancelled
    # A child's error cancels through the group's internal scope (trio's
    # nursery does the same): tg.cancel_scope shows only user cancellations.
    assert not tg.cancel_scope.cancel_called


async def test_errors_win_over_an_enclosing_cancellation() -> None:
    """ANCHORS trap 8: errors leave as an ExceptionGroup of errors only."""

    async def fail_on_cancel() -> None:
        try:
            await sleep_forever()
        finally:
            raise KeyError("cleanup failed")

    with pytest.raises(ExceptionGroup) as info:
        with CancelScope() as scope:
            async with TaskGroup() as tg:
                tg.start_soon(fail_on_cancel)
                await wait_all_tasks_blocked()
                scope.cancel()
    assert [type(e) for e in info.value.exceptions] == [KeyError]
    await checkpoint()  # the cancellation did not escape the scope


async def test_cancellation_leaves_the_group_bare() -> None:
    """ANCHORS trap 8, the rule we chose: only cancellations happened, so the
    bare cancelled exception leaves the group, never an ExceptionGroup."""
    exc = get_cancelled_exc_class()
    left: list[BaseException] = []
    with CancelScope() as scope:
        try:
            async with TaskGroup() as tg:
                tg.start_soon(sleep_forever)
                tg.start_soon(sleep_forever)
                await wait_all_tasks_blocked()
                scope.cancel()
        except BaseException as e:
            left.append(e)
            raise
    assert len(left) == 1
    assert isinstance(left[0], exc)
    assert not isinstance(left[0], BaseExceptionGroup)


async def test_body_error_cancels_children() -> None:
    cleaned = Event()

    async def child() -> None:
        try:
            await sleep_forever()
        finally:
            cleaned.set()

    with pytest.raises(ExceptionGroup) as info:
        async with TaskGroup() as tg:
            tg.start_soon(child)
            await wait_all_tasks_blocked()
            raise RuntimeError("body failed")
    assert info.group_contains(RuntimeError, match="body failed")
    assert cleaned.is_set()


async def test_group_cancel_is_swallowed_by_the_group() -> None:
    async with TaskGroup() as tg:
        tg.start_soon(sleep_forever)
        await wait_all_tasks_blocked()
        tg.cancel("enough")
        await sleep_forever()
    assert tg.cancel_scope.cancelled_caught
    assert tg.cancel_scope.cancel_reason == "enough"


async def test_parent_waits_for_all_children() -> None:
    finished: list[int] = []

    async def child(i: int) -> None:
        for _ in range(i):
            await checkpoint()
        finished.append(i)

    async with TaskGroup() as tg:
        for i in range(10):
            tg.start_soon(child, i)
    assert sorted(finished) == list(range(10))


async def test_start_returns_the_started_value() -> None:
    async def server(task_status: TaskStatus[int]) -> None:
        await checkpoint()
        task_status.started(8080)
        await sleep_forever()

    async with TaskGroup() as tg:
        port = await tg.start(server)
        assert port == 8080
        tg.cancel()


async def test_start_child_that_never_starts() -> None:
    async def lazy(task_status: TaskStatus[None]) -> None:
        await checkpoint()

    async def broken(task_status: TaskStatus[None]) -> None:
        raise OSError("bind failed")

    async with TaskGroup() as tg:
        with pytest.raises(RuntimeError, match="started"):
            await tg.start(lazy)
    with pytest.raises(BaseException) as info:  # noqa: PT011 - checked below
        async with TaskGroup() as tg:
            await tg.start(broken)
    flat = info.value
    while isinstance(flat, BaseExceptionGroup):
        flat = flat.exceptions[0]
    assert isinstance(flat, OSError)


async def test_cancel_during_start() -> None:
    """The caller's scope is cancelled while the child initialises: the child
    is cancelled too (it still runs in the caller's scopes) and start() raises."""
    exc = get_cancelled_exc_class()
    child_cancelled = False
    caller_scope = CancelScope()

    async def slow_start(task_status: TaskStatus[None]) -> None:
        nonlocal child_cancelled
        try:
            caller_scope.cancel()
            await sleep_forever()
        except exc:
            child_cancelled = True
            raise

    async with TaskGroup() as tg:
        with caller_scope:
            await tg.start(slow_start)
    assert caller_scope.cancelled_caught
    assert child_cancelled


async def test_nested_groups_in_nested_scopes() -> None:
    """Cancelling a middle scope cancels its subtree only."""
    outer_child_done = Event()
    inner_cleaned: list[int] = []

    async def inner_child(i: int) -> None:
        try:
            await sleep_forever()
        finally:
            inner_cleaned.append(i)

    async def outer_child() -> None:
        for _ in range(5):
            await checkpoint()
        outer_child_done.set()

    async with TaskGroup() as outer:
        outer.start_soon(outer_child)
        with CancelScope() as middle:
            async with TaskGroup() as inner:
                for i in range(3):
                    inner.start_soon(inner_child, i)
                await wait_all_tasks_blocked()
                middle.cancel()
    assert middle.cancelled_caught
    assert sorted(inner_cleaned) == [0, 1, 2]
    assert outer_child_done.is_set()
    assert not outer.cancel_scope.cancel_called


async def test_deep_tree_of_5000_tasks_is_cancelled() -> None:
    cleaned = 0

    async def leaf() -> None:
        nonlocal cleaned
        try:
            await sleep_forever()
        finally:
            cleaned += 1

    async def branch() -> None:
        async with TaskGroup() as tg:
            for _ in range(99):
                tg.start_soon(leaf)

    with CancelScope() as scope:
        async with TaskGroup() as tg:
            for _ in range(50):
                tg.start_soon(branch)
            await wait_all_tasks_blocked()
            scope.cancel()
    assert cleaned == 50 * 99
    assert scope.cancelled_caught


async def test_create_task_can_be_cancelled_alone() -> None:
    results: list[Any] = []

    async def work(value: int) -> int:
        await checkpoint()
        return value

    async with TaskGroup() as tg:
        keep = tg.create_task(work(1))
        drop = tg.create_task(sleep_forever())
        await wait_all_tasks_blocked()
        drop.cancel()
    assert keep.result() == 1
    assert drop.cancelled()
    results.append(keep.done())
    assert results == [True]
    if backend() == "asyncio":
        import asyncio

        assert isinstance(keep, asyncio.Task)


async def test_task_group_misuse() -> None:
    tg = TaskGroup()
    async with tg:
        pass
    with pytest.raises(RuntimeError, match="already been entered"):
        async with tg:
            pass  # pragma: no cover
    with pytest.raises(RuntimeError, match="has finished"):
        tg.start_soon(checkpoint)
    with pytest.raises(RuntimeError, match="not active"):
        TaskGroup().start_soon(checkpoint)


async def test_start_error_is_raised_by_start_and_group_carries_on() -> None:
    """Regression: a child failing before started() raises from start() and
    does not tear the group down (as trio does)."""

    async def broken(task_status: TaskStatus[None]) -> None:
        raise OSError("bind failed")

    async def ok(task_status: TaskStatus[str]) -> None:
        task_status.started("up")

    async with TaskGroup() as tg:
        with pytest.raises(OSError, match="bind failed"):
            await tg.start(broken)
        assert await tg.start(ok) == "up"
    assert not tg.cancel_scope.cancel_called


async def test_child_spawned_into_cancelled_scope_runs_to_first_await() -> None:
    """Regression: as on trio, a child started inside an already cancelled
    scope runs until its first checkpoint, which raises."""
    log: list[str] = []

    async def child() -> None:
        log.append("ran")
        await checkpoint()
        log.append("not reached")  # pragma: no cover

    with CancelScope() as scope:
        async with TaskGroup() as tg:
            scope.cancel()
            tg.start_soon(child)
    assert log == ["ran"]
    assert scope.cancelled_caught


async def test_group_texts_are_the_same_everywhere() -> None:
    async def lazy(task_status: TaskStatus[None]) -> None:
        await checkpoint()

    async def twice(task_status: TaskStatus[None]) -> None:
        task_status.started()
        task_status.started()

    async def fail() -> None:
        raise ValueError("x")

    async with TaskGroup() as tg:
        with pytest.raises(RuntimeError) as never:
            await tg.start(lazy)
    assert str(never.value) == (
        "unicancel: the child passed to TaskGroup.start() finished without calling "
        "task_status.started()"
    )
    with pytest.raises(BaseExceptionGroup) as twice_info:
        async with TaskGroup() as tg:
            await tg.start(twice)
    assert [str(e) for e in twice_info.value.exceptions] == [
        "unicancel: task_status.started() called more than once"
    ]
    with pytest.raises(ExceptionGroup) as group:
        async with TaskGroup() as tg:
            tg.start_soon(fail)
    assert group.value.message == "unhandled errors in a TaskGroup"


async def test_create_task_child_cancelled_by_enclosing_scope() -> None:
    with CancelScope() as outer:
        async with TaskGroup() as tg:
            child = tg.create_task(sleep(10))
            await wait_all_tasks_blocked()
            outer.cancel()
    assert child.cancelled()


async def test_outside_cancel_during_a_failing_exit_still_lands(backend_name: str) -> None:
    """Issue 11, bug 4: a native cancellation from outside (asyncio:
    Task.cancel() of the host; trio: an enclosing trio scope) arrives while
    the group waits for a child's shielded cleanup, and another child failed.
    The errors leave the group, and the cancellation is not lost: the host's
    next await raises it (as trio's level-triggered scope does)."""
    exc_class = get_cancelled_exc_class()
    in_cleanup = Event()
    cleanup_may_end = Event()
    log: list[str] = []
    cancel_from_outside: list[Any] = []

    async def slow_cleanup() -> None:
        try:
            await sleep_forever()
        finally:
            with CancelScope(shield=True):
                in_cleanup.set()
                await cleanup_may_end.wait()

    async def fail() -> None:
        raise ValueError("boom")

    async def host() -> None:
        try:
            async with TaskGroup() as tg:
                tg.start_soon(slow_cleanup)
                await wait_all_tasks_blocked()
                tg.start_soon(fail)
        except* ValueError:
            log.append("errors")
        try:
            await sleep(0)
        except exc_class:
            log.append("next await cancelled")
            raise
        log.append("next await went on")  # pragma: no cover - the bug

    async def run_host() -> None:
        if backend_name == "trio":
            import trio

            with trio.CancelScope() as outside:
                cancel_from_outside.append(outside.cancel)
                await host()
        else:
            import asyncio

            task = asyncio.current_task()
            assert task is not None
            cancel_from_outside.append(task.cancel)
            with pytest.raises(asyncio.CancelledError):
                await host()

    async def canceller() -> None:
        await in_cleanup.wait()
        cancel_from_outside[0]()
        await wait_all_tasks_blocked()
        cleanup_may_end.set()

    await run_concurrently(run_host, canceller)
    assert log == ["errors", "next await cancelled"]
