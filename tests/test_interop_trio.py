"""Nesting with trio's own scopes and nurseries, and with anyio on trio."""

from __future__ import annotations

import math

import anyio
import pytest

from unicancel import CancelOrigin, CancelScope, checkpoint, current_effective_deadline

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def _trio_only(backend_name: str) -> None:
    if backend_name != "trio":
        pytest.skip("trio interop")


async def test_trio_scope_inside_our_cancelled_scope() -> None:
    import trio

    with CancelScope() as scope:
        with trio.CancelScope() as inner:
            scope.cancel()
            await trio.sleep_forever()
    assert scope.cancelled_caught
    assert not inner.cancelled_caught


async def test_our_scope_inside_trio_move_on_after() -> None:
    import trio

    with trio.move_on_after(0) as outer:
        with CancelScope() as scope:
            await trio.sleep_forever()
    assert outer.cancelled_caught
    assert not scope.cancelled_caught
    assert scope.cancel_origin is CancelOrigin.ENCLOSING


async def test_our_shield_blocks_outer_trio_scope() -> None:
    import trio

    with trio.CancelScope() as outer:
        outer.cancel()
        with CancelScope(shield=True):
            await trio.sleep(0.001)
        with pytest.raises(trio.Cancelled):
            await checkpoint()
    assert not outer.cancelled_caught


async def test_effective_deadline_sees_native_trio_scopes() -> None:
    import trio

    deadline = trio.current_time() + 50
    with trio.CancelScope(deadline=deadline):
        with CancelScope(deadline=deadline + 10):
            assert current_effective_deadline() == deadline
    with CancelScope(shield=True):
        assert current_effective_deadline() == math.inf


async def test_nursery_children_cancelled_by_our_scope() -> None:
    """ANCHORS trap 8: a nursery whose children were cancelled raises an
    ExceptionGroup holding Cancelled; our scope still catches all of it."""
    import trio
    import trio.testing

    cleaned: list[int] = []

    async def child(i: int) -> None:
        try:
            await trio.sleep_forever()
        finally:
            cleaned.append(i)

    with CancelScope() as scope:
        async with trio.open_nursery() as nursery:
            for i in range(3):
                nursery.start_soon(child, i)
            await trio.testing.wait_all_tasks_blocked()
            scope.cancel()
    assert sorted(cleaned) == [0, 1, 2]
    assert scope.cancelled_caught


async def test_anyio_scope_on_trio_both_directions() -> None:
    import trio

    with CancelScope() as ours:
        with anyio.CancelScope() as theirs:
            ours.cancel()
            await trio.sleep_forever()
    assert ours.cancelled_caught and not theirs.cancelled_caught

    with anyio.CancelScope() as theirs:
        with CancelScope() as ours:
            theirs.cancel()
            await trio.sleep_forever()
    assert theirs.cancelled_caught and not ours.cancelled_caught


async def test_cancel_reason_reaches_trio_cancelled() -> None:
    import trio

    with CancelScope() as scope:
        scope.cancel("stop now")
        try:
            await trio.sleep_forever()
        except trio.Cancelled as exc:
            assert exc.reason == "stop now"
            assert exc.source == "explicit"
            raise
