"""Nesting with asyncio's own machinery and with anyio, in both directions.

After every scope exit, cancelling() is back at its entry value unless someone
else still wants the task cancelled; no cancellation is lost or duplicated.
(SCENARIOS 6: timeouts are cancellations; nested timeouts must not confuse
each other.)
"""

from __future__ import annotations

import asyncio
from typing import Any

import anyio
import pytest

from unicancel import CancelOrigin, CancelScope, checkpoint, fail_after, move_on_after

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def _asyncio_only(backend_name: str) -> None:
    if backend_name != "asyncio":
        pytest.skip("asyncio interop")


def _task() -> asyncio.Task[Any]:
    task = asyncio.current_task()
    assert task is not None
    return task


async def _forever() -> None:
    await asyncio.Event().wait()


async def test_our_cancel_wins_over_inner_asyncio_timeout() -> None:
    with CancelScope() as scope:
        async with asyncio.timeout(100):
            scope.cancel()
            await _forever()
    assert scope.cancelled_caught
    assert _task().cancelling() == 0


async def test_inner_asyncio_timeout_expiring_inside_our_scope() -> None:
    with CancelScope() as scope:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0):
                await _forever()
        await checkpoint()
    assert not scope.cancel_called
    assert _task().cancelling() == 0


async def test_outer_asyncio_timeout_passes_through_our_scope() -> None:
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.01):
            with CancelScope() as scope:
                await _forever()
    assert not scope.cancelled_caught
    assert scope.cancel_origin is CancelOrigin.ENCLOSING
    assert _task().cancelling() == 0


async def test_outer_asyncio_timeout_and_our_inner_scope_both_fire() -> None:
    """Both fire in the same iteration: the outer one (asyncio.timeout) wins."""
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0) as timeout:
            with CancelScope() as scope:
                scope.cancel()
                await _forever()
    assert timeout.expired()
    assert not scope.cancelled_caught
    assert _task().cancelling() == 0


async def test_outer_scope_and_inner_asyncio_timeout_both_fire() -> None:
    with CancelScope() as scope:
        async with asyncio.timeout(0):
            scope.cancel()
            await _forever()
    assert scope.cancelled_caught
    assert _task().cancelling() == 0


async def test_wait_for_inside_cancelled_scope() -> None:
    inner_cancelled = False

    async def inner() -> None:
        nonlocal inner_cancelled
        try:
            await _forever()
        except asyncio.CancelledError:
            inner_cancelled = True
            raise

    with move_on_after(0) as scope:
        await asyncio.wait_for(inner(), 100)
    assert scope.cancelled_caught
    assert inner_cancelled
    assert _task().cancelling() == 0


async def test_scope_inside_wait_for_times_out() -> None:
    async def work() -> None:
        with CancelScope() as scope:
            await _forever()
        assert not scope.cancelled_caught  # pragma: no cover

    with pytest.raises(TimeoutError):
        await asyncio.wait_for(work(), 0.01)
    assert _task().cancelling() == 0


async def test_external_task_cancel_is_not_swallowed() -> None:
    entered = asyncio.Event()
    scope = CancelScope()

    async def work() -> None:
        with scope:
            entered.set()
            await _forever()

    task = asyncio.create_task(work())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not scope.cancelled_caught
    assert scope.cancel_origin is CancelOrigin.ENCLOSING


async def test_taskgroup_sibling_error_cancels_child_scope_without_swallowing() -> None:
    """A TaskGroup cancels a child (whose body is in our scope) because a sibling
    failed: the scope must not swallow that, and the parent's count must end as
    it does without unicancel (3.11/3.12 TaskGroup itself leaves 1, gh-116720)."""
    scopes: list[CancelScope] = []

    async def child(use_scope: bool) -> None:
        if not use_scope:
            await _forever()
        with CancelScope() as scope:
            scopes.append(scope)
            await _forever()

    async def failing() -> None:
        await asyncio.sleep(0)
        raise ValueError("boom")

    async def scenario(use_scope: bool) -> int:
        with pytest.raises(ExceptionGroup) as info:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(child(use_scope))
                tg.create_task(failing())
        assert info.group_contains(ValueError)
        return _task().cancelling()

    baseline = await asyncio.create_task(scenario(False))
    assert await asyncio.create_task(scenario(True)) == baseline
    assert not scopes[0].cancelled_caught
    assert scopes[0].cancel_origin is CancelOrigin.ENCLOSING


async def test_taskgroup_inside_cancelled_scope_cancels_children() -> None:
    """SCENARIOS 4: children of a TaskGroup in a cancelled scope are cancelled."""
    cleaned: list[int] = []

    async def child(i: int) -> None:
        try:
            await _forever()
        finally:
            cleaned.append(i)

    with CancelScope() as scope:
        async with asyncio.TaskGroup() as tg:
            for i in range(5):
                tg.create_task(child(i))
            await asyncio.sleep(0)
            scope.cancel()
    assert sorted(cleaned) == [0, 1, 2, 3, 4]
    assert scope.cancelled_caught
    assert _task().cancelling() == 0


async def test_gather_inside_cancelled_scope() -> None:
    with move_on_after(0.01) as scope:
        await asyncio.gather(_forever(), _forever())
    assert scope.cancelled_caught
    assert _task().cancelling() == 0


async def test_asyncio_shield_inside_scope() -> None:
    """asyncio.shield protects the inner task; our scope still exits promptly."""
    done = asyncio.Event()

    async def protected() -> None:
        await asyncio.sleep(0.01)
        done.set()

    inner = asyncio.ensure_future(protected())
    with move_on_after(0) as scope:
        await asyncio.shield(inner)
    assert scope.cancelled_caught
    await inner
    assert done.is_set()


async def test_fail_after_inside_asyncio_timeout() -> None:
    with pytest.raises(TimeoutError) as info:
        async with asyncio.timeout(100):
            with fail_after(0):
                await _forever()
    assert "unicancel" in str(info.value)
    assert _task().cancelling() == 0


# -- anyio ----------------------------------------------------------------


async def test_anyio_scope_inside_our_cancelled_scope() -> None:
    with CancelScope() as scope:
        with anyio.CancelScope() as inner:
            scope.cancel()
            await _forever()
    assert scope.cancelled_caught
    assert not inner.cancelled_caught
    assert _task().cancelling() == 0


async def test_our_scope_inside_cancelled_anyio_scope() -> None:
    with anyio.CancelScope() as outer:
        with CancelScope() as scope:
            outer.cancel()
            await _forever()
    assert outer.cancelled_caught
    assert not scope.cancelled_caught
    assert _task().cancelling() == 0


async def test_anyio_move_on_after_inside_our_scope() -> None:
    with CancelScope() as scope:
        with anyio.move_on_after(0) as inner:
            await _forever()
        await checkpoint()
    assert inner.cancelled_caught
    assert not scope.cancel_called
    assert _task().cancelling() == 0


async def test_anyio_task_group_inside_our_cancelled_scope() -> None:
    cleaned = 0

    async def child() -> None:
        nonlocal cleaned
        try:
            await _forever()
        finally:
            cleaned += 1

    with CancelScope() as scope:
        async with anyio.create_task_group() as tg:
            tg.start_soon(child)
            tg.start_soon(child)
            await asyncio.sleep(0)
            scope.cancel()
    assert cleaned == 2
    assert scope.cancelled_caught
    assert _task().cancelling() == 0


async def test_our_scope_in_anyio_task_group_child() -> None:
    scopes: list[CancelScope] = []

    async def child() -> None:
        with CancelScope() as scope:
            scopes.append(scope)
            await _forever()

    async with anyio.create_task_group() as tg:
        tg.start_soon(child)
        await asyncio.sleep(0)
        tg.cancel_scope.cancel()
    assert not scopes[0].cancelled_caught
    assert _task().cancelling() == 0
