"""TaskGroup.start(): after ``task_status.started()`` everything the child
opened (scopes, groups, grandchildren) lives under the new group (issue 11,
bug 2: a group opened before started() kept its grandchildren out of reach
of the destination group's cancellation on asyncio; the program hung until
an enclosing deadline fired).

Each test runs inside a generous ``move_on_after`` guard: a cancellation that
does not reach a task shows as the guard firing, not as a hung test run."""

from __future__ import annotations

import pytest

from unicancel import (
    CancelOrigin,
    CancelScope,
    TaskGroup,
    TaskStatus,
    current_effective_deadline,
    current_time,
    move_on_after,
)

from ._helpers import Event, sleep_forever, wait_all_tasks_blocked

pytestmark = pytest.mark.anyio

GUARD = 30.0  # seconds; a passing run takes milliseconds


async def _owner(task_status: TaskStatus[TaskGroup]) -> None:
    """The destination group's host: opens it, hands it out, waits forever."""
    async with TaskGroup() as target:
        task_status.started(target)
        await sleep_forever()


async def _park(ended: list[str], name: str, running: Event | None = None) -> None:
    try:
        if running is not None:
            running.set()
        await sleep_forever()
    finally:
        ended.append(name)


async def test_cancelling_the_new_group_reaches_a_grandchild_started_before_started() -> None:
    """The issue's reproduction: the child opens a group, starts a
    grandchild, then calls started(); cancelling the destination group ends
    owner, child and grandchild at once."""
    ended: list[str] = []

    async def child(task_status: TaskStatus[None]) -> None:
        try:
            async with TaskGroup() as inner:
                running = Event()
                inner.start_soon(_park, ended, "grandchild", running)
                await running.wait()
                task_status.started()
                await sleep_forever()
        finally:
            ended.append("child")

    with move_on_after(GUARD) as guard:
        async with TaskGroup() as outer:
            target = await outer.start(_owner)
            await target.start(child)
            await wait_all_tasks_blocked()
            target.cancel_scope.cancel()
    assert not guard.cancelled_caught, "the cancellation did not reach the grandchild"
    assert sorted(ended) == ["child", "grandchild"]
    assert target.cancel_scope.cancelled_caught


async def test_groups_nested_two_deep_before_started_move_too() -> None:
    ended: list[str] = []

    async def grandchild(running: Event) -> None:
        try:
            async with TaskGroup() as deepest:
                deepest.start_soon(_park, ended, "great-grandchild", running)
                await sleep_forever()
        finally:
            ended.append("grandchild")

    async def child(task_status: TaskStatus[None]) -> None:
        try:
            async with TaskGroup() as inner:
                running = Event()
                inner.start_soon(grandchild, running)
                await running.wait()
                task_status.started()
                await sleep_forever()
        finally:
            ended.append("child")

    with move_on_after(GUARD) as guard:
        async with TaskGroup() as outer:
            target = await outer.start(_owner)
            await target.start(child)
            await wait_all_tasks_blocked()
            target.cancel_scope.cancel()
    assert not guard.cancelled_caught, "the cancellation did not reach the great-grandchild"
    assert sorted(ended) == ["child", "grandchild", "great-grandchild"]


async def test_grandchild_started_after_started_in_a_group_opened_before() -> None:
    ended: list[str] = []

    async def child(task_status: TaskStatus[TaskGroup]) -> None:
        try:
            async with TaskGroup() as inner:
                task_status.started(inner)
                inner.start_soon(_park, ended, "late grandchild")
                await sleep_forever()
        finally:
            ended.append("child")

    with move_on_after(GUARD) as guard:
        async with TaskGroup() as outer:
            target = await outer.start(_owner)
            inner = await target.start(child)
            inner.start_soon(_park, ended, "grandchild started by the caller")
            await wait_all_tasks_blocked()
            target.cancel_scope.cancel()
    assert not guard.cancelled_caught, "the cancellation did not reach the grandchildren"
    assert sorted(ended) == ["child", "grandchild started by the caller", "late grandchild"]


async def test_scope_with_a_deadline_opened_before_started_moves_under_the_new_group() -> None:
    """A scope of the child's, with a deadline of its own, keeps it; the new
    group's deadline reaches the subtree (current_effective_deadline sees it,
    and it firing ends everything)."""
    ended: list[str] = []
    seen: list[float] = []
    far = current_time() + 100 * GUARD
    moved = Event()

    async def grandchild() -> None:
        await moved.wait()
        seen.append(current_effective_deadline())
        await _park(ended, "grandchild")

    async def child(task_status: TaskStatus[None]) -> None:
        try:
            with CancelScope(deadline=far):
                async with TaskGroup() as inner:
                    inner.start_soon(grandchild)
                    await wait_all_tasks_blocked()
                    task_status.started()
                    await sleep_forever()
        finally:
            ended.append("child")

    with move_on_after(GUARD) as guard:
        async with TaskGroup() as outer:
            target = await outer.start(_owner)
            await target.start(child)
            mid = current_time() + GUARD / 2  # before the guard: the effective one
            target.cancel_scope.deadline = mid
            moved.set()
            await wait_all_tasks_blocked()
            assert seen == [mid]
            target.cancel_scope.relative_deadline = 0.01
    assert not guard.cancelled_caught, "the new group's deadline did not reach the grandchild"
    assert sorted(ended) == ["child", "grandchild"]
    assert target.cancel_scope.cancel_origin is CancelOrigin.DEADLINE


async def test_shield_opened_before_started_moves_with_the_child() -> None:
    """A shielded scope of the child's keeps the new group's cancellation out
    after the move; once lowered, that cancellation reaches the subtree."""
    ended: list[str] = []

    async def child(name: str, task_status: TaskStatus[CancelScope]) -> None:
        try:
            with CancelScope(shield=True) as shield:
                async with TaskGroup() as inner:
                    running = Event()
                    inner.start_soon(_park, ended, f"{name}'s child", running)
                    await running.wait()
                    task_status.started(shield)
                    await sleep_forever()
        finally:
            ended.append(name)

    with move_on_after(GUARD) as guard:
        async with TaskGroup() as outer:
            target = await outer.start(_owner)
            kept = await target.start(child, "kept")
            lowered = await target.start(child, "lowered")
            try:
                lowered.shield = False
                target.cancel_scope.cancel()
                await wait_all_tasks_blocked()
                while_kept = sorted(ended)
            finally:
                kept.shield = False  # else a failure here would hang in the shield
    assert while_kept == ["lowered", "lowered's child"]  # "kept" was shielded
    assert not guard.cancelled_caught, "lowering the shield did not expose the grandchild"
    assert sorted(ended) == ["kept", "kept's child", "lowered", "lowered's child"]


async def test_cancelling_the_callers_group_after_started_does_not_reach_the_moved_child() -> None:
    """As on trio: once started(), the child is no longer in the scopes of
    the task that called start()."""
    ended: list[str] = []

    async def child(task_status: TaskStatus[None]) -> None:
        try:
            async with TaskGroup() as inner:
                running = Event()
                inner.start_soon(_park, ended, "grandchild", running)
                await running.wait()
                task_status.started()
                await sleep_forever()
        finally:
            ended.append("child")

    with move_on_after(GUARD) as guard:
        async with TaskGroup() as outer:
            target = await outer.start(_owner)
            async with TaskGroup() as origin:
                await target.start(child)
                origin.cancel_scope.cancel()
            await wait_all_tasks_blocked()
            assert ended == []
            target.cancel_scope.cancel()
    assert not guard.cancelled_caught, "the cancellation did not reach the grandchild"
    assert sorted(ended) == ["child", "grandchild"]


async def test_started_called_by_a_grandchild_moves_the_child() -> None:
    """As on trio: task_status handed to a grandchild; its started() moves
    the child (the task start() ran), with its group, not the grandchild."""
    ended: list[str] = []
    released = Event()  # ends the child only if the cancellation missed it

    async def grandchild(task_status: TaskStatus[str]) -> None:
        try:
            task_status.started("up")
            await sleep_forever()
        finally:
            ended.append("grandchild")

    async def child(task_status: TaskStatus[str]) -> None:
        try:
            async with TaskGroup() as inner:
                inner.start_soon(grandchild, task_status)
                await released.wait()
        finally:
            ended.append("child")

    with move_on_after(GUARD) as guard:
        async with TaskGroup() as outer:
            target = await outer.start(_owner)
            async with TaskGroup() as origin:
                assert await target.start(child) == "up"
                origin.cancel_scope.cancel()
            await wait_all_tasks_blocked()
            after_origin = sorted(ended)
            try:
                target.cancel_scope.cancel()
                await wait_all_tasks_blocked()
                after_target = sorted(ended)
            finally:
                released.set()  # a failing run ends instead of hanging
    assert not guard.cancelled_caught
    assert after_origin == []
    assert after_target == ["child", "grandchild"]
