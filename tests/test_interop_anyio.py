"""unicancel mixed with anyio: anyio's scopes keep working around and inside
unicancel's, and a unicancel shield keeps anyio's cancellations out on every
backend (issue 11: bug 7, "Interop with anyio"; docs/semantics.md, difference 4).
"""

from __future__ import annotations

import asyncio

import anyio
import anyio.lowlevel
import pytest

import unicancel

from ._helpers import backend, wait_all_tasks_blocked

pytestmark = pytest.mark.anyio


def _cancelling() -> int:
    """cancelling() of the running asyncio task; 0 on trio (no counts there)."""
    if backend() == "trio":
        return 0
    task = asyncio.current_task()
    assert task is not None
    return task.cancelling()


# -- bug 7: an anyio scope lets its own cancellation escape ----------------------


async def test_anyio_scope_catches_its_cancel_when_ours_lands_in_the_same_iteration() -> None:
    """anyio's cancel() and a unicancel delivery reach a runnable task in the
    same loop iteration. The second Task.cancel() used to replace the message
    of the coming CancelledError, by which alone anyio recognises its own
    cancellation: the anyio scope let it escape (the fuzzer's first find)."""
    with anyio.CancelScope() as outer:
        outer.cancel()  # the host is running: anyio delivers in a callback
        with unicancel.move_on_after(0) as inner:  # so do we, after it
            await anyio.lowlevel.checkpoint()
    assert outer.cancelled_caught
    assert not inner.cancelled_caught  # anyio's arrived first; ours passes through it
    assert _cancelling() == 0


# -- a unicancel shield keeps anyio's cancellations out ---------------------------


async def test_our_shield_keeps_an_anyio_cancellation_out_until_it_ends() -> None:
    steps: list[str] = []
    with anyio.CancelScope() as outer:
        with unicancel.CancelScope(shield=True):
            outer.cancel()
            await anyio.lowlevel.checkpoint()  # not cancelled: shielded
            await unicancel.checkpoint()
            steps.append("shielded work done")
        steps.append("after the shield")
        await anyio.lowlevel.checkpoint()  # anyio's cancellation lands here
        steps.append("not reached")  # pragma: no cover
    assert steps == ["shielded work done", "after the shield"]
    assert outer.cancelled_caught
    assert _cancelling() == 0


async def test_an_anyio_deadline_waits_for_our_shield() -> None:
    with anyio.move_on_after(0) as outer:
        with unicancel.CancelScope(shield=True):
            await anyio.lowlevel.checkpoint()
            await anyio.lowlevel.checkpoint()
            finished = True
        await anyio.lowlevel.checkpoint()
    assert finished
    assert outer.cancelled_caught


async def test_lowering_our_shield_lets_the_anyio_cancellation_in() -> None:
    with anyio.CancelScope() as outer:
        with unicancel.CancelScope(shield=True) as shield:
            outer.cancel()
            await anyio.lowlevel.checkpoint()
            shield.shield = False
            with pytest.raises(anyio.get_cancelled_exc_class()):
                await anyio.lowlevel.checkpoint()
            shield.shield = True
            await anyio.lowlevel.checkpoint()  # shielded again
        await anyio.lowlevel.checkpoint()
    assert outer.cancelled_caught


async def test_anyio_scopes_nest_inside_our_shield() -> None:
    with anyio.CancelScope() as outer:
        with unicancel.CancelScope(shield=True):
            outer.cancel()
            with anyio.move_on_after(0) as inner:
                await anyio.sleep(1)
            assert inner.cancelled_caught
            await anyio.lowlevel.checkpoint()
        await anyio.lowlevel.checkpoint()
    assert outer.cancelled_caught


async def test_our_group_children_get_an_anyio_cancellation_while_the_group_waits() -> None:
    """The group's exit wait is shielded against unicancel cancellations only
    at first: anyio's must reach it, since that is how it reaches the
    children (on trio they are inside the anyio scope anyway)."""
    with anyio.move_on_after(0.01) as outer:
        async with unicancel.TaskGroup() as tg:
            tg.start_soon(anyio.sleep_forever)
    assert outer.cancelled_caught


async def test_our_group_does_not_spin_under_anyio_while_a_child_cleans_up(
    backend_name: str,
) -> None:
    """anyio re-cancels a waiting task at every loop iteration: the group's
    exit must not turn that into a busy loop while a child finishes its
    shielded cleanup (found by the interop fuzzer as a hang)."""
    host = asyncio.current_task() if backend_name == "asyncio" else None
    seen: list[int] = []

    async def canceller() -> None:
        with unicancel.CancelScope(shield=True):
            await wait_all_tasks_blocked()  # the host waits in the group's exit
            outer.cancel()
            for _ in range(50):  # 50 loop iterations of shielded cleanup
                await anyio.lowlevel.checkpoint()
            seen.append(host.cancelling() if host is not None else 0)

    with anyio.CancelScope() as outer:
        async with unicancel.TaskGroup() as tg:
            tg.start_soon(canceller)
        # On trio the nursery's exit is no cancel point; on asyncio anyio's
        # Task.cancel() reached it. Either way this one is:
        await anyio.lowlevel.checkpoint()
    assert outer.cancelled_caught
    assert seen and seen[0] <= 1  # before: one anyio cancel() per iteration (51)
    assert _cancelling() == 0


async def test_a_shield_lowered_for_good_leaves_anyio_consistent() -> None:
    """The anyio shield held alongside is left with our scope, also when our
    shield was lowered before the exit."""
    with anyio.CancelScope() as outer:
        with unicancel.CancelScope(shield=True) as shield:
            shield.shield = False
        outer.cancel()
        with anyio.move_on_after(0) as inner:  # anyio's own scopes still nest right
            await anyio.lowlevel.checkpoint()
        await anyio.lowlevel.checkpoint()
    assert outer.cancelled_caught
    assert not inner.cancelled_caught  # the outer scope was cancelled first: it catches
    assert _cancelling() == 0
