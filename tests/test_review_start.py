"""Hostile review of TaskGroup.start() (public API only), against trio.

Each test runs on every backend (asyncio, uvloop, eager, trio): trio is the
reference. Tests marked with a finding in their docstring FAIL on asyncio at
the time of writing; the others are guards for attacks that broke nothing.
Every test is guarded by ``move_on_after`` (a hang shows as the guard firing)
and by pytest-timeout (``timeout = 60`` in pyproject.toml).

Findings (failing on asyncio/uvloop/eager, passing on trio):
1. A Task.cancel()/asyncio.timeout of start()'s caller that lands after
   started() kills the child although it already belongs to the group:
   test_task_cancel_of_caller_right_after_started_spares_the_moved_child,
   test_asyncio_timeout_expiring_during_setup_spares_the_started_child,
   test_task_cancel_swallowed_by_child_then_started_keeps_the_child.
2. An anyio scope's cancellation of start()'s caller escapes that scope:
   test_anyio_deadline_around_start_is_caught_by_its_scope.
3. An anyio scope's cancellation of start()'s caller ignores the child's
   shield: test_anyio_cancel_of_start_caller_respects_the_childs_shield.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
import trio.lowlevel

from unicancel import (
    CancelScope,
    TaskGroup,
    TaskStatus,
    get_cancelled_exc_class,
    move_on_after,
    to_thread,
)

from ._helpers import (
    Event,
    is_unicancel_object,
    no_cyclic_garbage,
    sleep,
    sleep_forever,
    wait_all_tasks_blocked,
)

pytestmark = [pytest.mark.anyio]

GUARD = 30.0


def _asyncio_only(backend_name: str) -> None:
    if backend_name != "asyncio":
        pytest.skip("Task.cancel()/asyncio.timeout exist on asyncio only")


# -- findings ------------------------------------------------------------------


async def test_task_cancel_of_caller_right_after_started_spares_the_moved_child(
    backend_name: str,
) -> None:
    """FINDING (high): a Task.cancel() of start()'s caller that arrives after
    ``started()`` but before the caller resumed kills the child, which already
    belongs to the group.

    Repro: the child calls ``task_status.started(1)`` then, in the same step,
    ``caller.cancel()`` (any outside cancel in that window does the same: an
    ``asyncio.timeout`` expiring in the same loop iteration, a sibling's
    cancel()). The child then sleeps.

    trio (nursery.start, cancelling the caller's scope right after started()):
    start() returns 1 and the child, now in the group, is untouched and keeps
    running (checked by the trio variant below and by this test on trio).

    asyncio: the child is cancelled. Suspected cause: ``wait_started`` catches
    the CancelledError of its ``wait()`` and calls ``task.cancel()`` without
    checking ``started.done()`` (the child has moved by then); and start()'s
    ``except BaseException`` cancels and waits for the child whenever
    wait_started raises, also after started().
    """
    log: list[str] = []
    child_ran = Event()

    async def child(cancel_caller: Any, *, task_status: TaskStatus[int]) -> None:
        task_status.started(1)
        cancel_caller()
        try:
            await child_ran.wait()
            log.append("child survived")
        except get_cancelled_exc_class():
            log.append("child cancelled")
            raise

    with move_on_after(GUARD) as guard:
        async with TaskGroup() as tg:
            with CancelScope() as caller_scope:
                if backend_name == "asyncio":
                    caller = asyncio.current_task()
                    assert caller is not None
                    cancel_caller: Any = caller.cancel
                else:
                    caller = None
                    cancel_caller = caller_scope.cancel
                try:
                    await tg.start(child, cancel_caller)
                    await sleep(0)
                except get_cancelled_exc_class():
                    log.append("caller cancelled")
                    if caller is not None:
                        caller.uncancel()
            await wait_all_tasks_blocked()
            child_ran.set()
    assert not guard.cancelled_caught
    assert log == ["caller cancelled", "child survived"]


async def test_native_trio_reference_cancel_right_after_started(backend_name: str) -> None:
    """The reference for the test above: native trio nursery.start()."""
    if backend_name != "trio":
        pytest.skip("native trio reference")
    import trio

    log: list[str] = []
    with trio.move_on_after(GUARD) as guard:
        async with trio.open_nursery() as nursery:

            async def child(task_status: trio.TaskStatus[int]) -> None:
                task_status.started(1)
                scope.cancel()
                try:
                    await trio.sleep(0.001)
                    log.append("child survived")
                except trio.Cancelled:
                    log.append("child cancelled")
                    raise

            with trio.CancelScope() as scope:
                value = await nursery.start(child)
                log.append(f"start returned {value}")
                await trio.lowlevel.checkpoint()
            log.append("caller cancelled" if scope.cancelled_caught else "caller not cancelled")
    assert not guard.cancelled_caught
    assert log == ["start returned 1", "caller cancelled", "child survived"]


# -- guards (attacks that broke nothing) ----------------------------------------


async def test_caller_scope_cancelled_right_after_started_spares_the_moved_child() -> None:
    """As trio: cancelling the caller's scope right after started() does not
    reach the child, which belongs to the group; start() returns its value."""
    log: list[str] = []
    child_ran = Event()

    async def child(scope: CancelScope, *, task_status: TaskStatus[int]) -> None:
        task_status.started(1)
        scope.cancel()
        try:
            await child_ran.wait()
            log.append("child survived")
        except get_cancelled_exc_class():
            log.append("child cancelled")
            raise

    with move_on_after(GUARD) as guard:
        async with TaskGroup() as tg:
            with CancelScope() as scope:
                log.append(f"start returned {await tg.start(child, scope)}")
                await sleep(0)
            log.append(f"caller cancelled: {scope.cancelled_caught}")
            await wait_all_tasks_blocked()
            child_ran.set()
    assert not guard.cancelled_caught
    assert log == ["start returned 1", "caller cancelled: True", "child survived"]


async def test_child_swallows_the_callers_cancellation_then_started() -> None:
    """The child swallows the caller's scope cancellation, then calls
    started(): the caller's place is still cancelled, so (as trio) the child
    is not moved; its next checkpoint raises again and start() follows how it
    ends (Cancelled, caught by the caller's scope)."""
    log: list[str] = []

    async def child(*, task_status: TaskStatus[str]) -> None:
        try:
            await sleep_forever()
        except get_cancelled_exc_class():
            log.append("child saw the cancel")
        task_status.started("v")
        try:
            await sleep_forever()
        except get_cancelled_exc_class():
            log.append("child cancelled again")
            raise

    with move_on_after(GUARD) as guard:
        async with TaskGroup() as tg:
            with CancelScope() as scope:
                tg.start_soon(_cancel_when_blocked, scope)
                value = await tg.start(child)
                log.append(f"start returned {value}")
            assert scope.cancelled_caught
    assert not guard.cancelled_caught
    assert log == ["child saw the cancel", "child cancelled again"]


async def _cancel_when_blocked(scope: CancelScope) -> None:
    await wait_all_tasks_blocked()
    scope.cancel()


async def test_child_returns_without_started_raises_runtime_error() -> None:
    async def child(*, task_status: TaskStatus[None]) -> None:
        await sleep(0)

    with move_on_after(GUARD) as guard:
        async with TaskGroup() as tg:
            with pytest.raises(RuntimeError):
                await tg.start(child)
    assert not guard.cancelled_caught


async def test_child_raising_before_started_leaves_through_start() -> None:
    async def child(*, task_status: TaskStatus[None]) -> None:
        await sleep(0)
        raise ValueError("boom")

    with move_on_after(GUARD) as guard:
        async with TaskGroup() as tg:
            with pytest.raises(ValueError, match="boom"):
                await tg.start(child)
            tg.start_soon(sleep, 0)  # the group still works
    assert not guard.cancelled_caught


async def test_keyboard_interrupt_before_started_leaves_through_start() -> None:
    seen: list[str] = []

    async def child(*, task_status: TaskStatus[None]) -> None:
        await sleep(0)
        raise KeyboardInterrupt

    with move_on_after(GUARD) as guard:
        with pytest.raises(BaseExceptionGroup) as info:
            async with TaskGroup() as tg:
                try:
                    await tg.start(child)
                except KeyboardInterrupt:
                    seen.append("start raised KeyboardInterrupt")
                    raise
    assert not guard.cancelled_caught
    assert seen == ["start raised KeyboardInterrupt"]
    assert info.group_contains(KeyboardInterrupt)


async def test_started_from_another_thread_raises_runtime_error() -> None:
    errors: list[BaseException] = []

    async def child(*, task_status: TaskStatus[None]) -> None:
        def in_thread() -> None:
            try:
                task_status.started()
            except BaseException as exc:
                errors.append(exc)

        await to_thread(in_thread)
        task_status.started()

    with move_on_after(GUARD) as guard:
        async with TaskGroup() as tg:
            await tg.start(child)
    assert not guard.cancelled_caught
    assert len(errors) == 1 and isinstance(errors[0], RuntimeError)


async def test_started_from_a_thread_running_its_own_loop_raises() -> None:
    """A thread that runs its own asyncio loop is still the wrong thread."""
    errors: list[BaseException] = []

    async def child(*, task_status: TaskStatus[None]) -> None:
        async def elsewhere() -> None:
            try:
                task_status.started()
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=asyncio.run, args=(elsewhere(),))
        thread.start()
        await to_thread(thread.join)
        task_status.started()

    with move_on_after(GUARD) as guard:
        async with TaskGroup() as tg:
            await tg.start(child)
    assert not guard.cancelled_caught
    assert len(errors) == 1 and isinstance(errors[0], RuntimeError), errors


async def test_started_by_a_grandchild_moves_the_child() -> None:
    """The child hands task_status to a grandchild in a group of its own."""
    ended: list[str] = []

    async def grandchild(task_status: TaskStatus[str]) -> None:
        task_status.started("from grandchild")
        try:
            await sleep_forever()
        finally:
            ended.append("grandchild")

    async def child(*, task_status: TaskStatus[str]) -> None:
        try:
            async with TaskGroup() as inner:
                inner.start_soon(grandchild, task_status)
        finally:
            ended.append("child")

    with move_on_after(GUARD) as guard:
        async with TaskGroup() as tg:
            with CancelScope() as caller_scope:
                value = await tg.start(child)
                caller_scope.cancel()  # does not reach the moved child
                await sleep(0)
            assert value == "from grandchild"
            await wait_all_tasks_blocked()
            assert ended == []
            tg.cancel_scope.cancel()
    assert not guard.cancelled_caught
    assert sorted(ended) == ["child", "grandchild"]


async def test_nested_start_chain() -> None:
    async def leaf(*, task_status: TaskStatus[int]) -> None:
        task_status.started(3)
        await sleep_forever()

    async def middle(tg: TaskGroup, *, task_status: TaskStatus[int]) -> None:
        task_status.started(await tg.start(leaf) + 1)
        await sleep_forever()

    async def top(tg: TaskGroup, *, task_status: TaskStatus[int]) -> None:
        task_status.started(await tg.start(middle, tg) + 1)
        await sleep_forever()

    with move_on_after(GUARD) as guard:
        async with TaskGroup() as tg:
            assert await tg.start(top, tg) == 5
            tg.cancel_scope.cancel()
    assert not guard.cancelled_caught


async def test_deadline_passing_during_cpu_work_before_started() -> None:
    """The caller's deadline passes while the child blocks the loop before
    started(): start() returns the value (trio too: the deadline is noticed
    at the next checkpoint), the caller's scope catches it there."""
    log: list[str] = []

    async def child(*, task_status: TaskStatus[str]) -> None:
        await sleep(0)
        time.sleep(0.05)  # noqa: ASYNC251 - CPU work past the caller's deadline
        task_status.started("v")
        try:
            await sleep_forever()
        except get_cancelled_exc_class():
            log.append("child cancelled")
            raise

    with move_on_after(GUARD) as guard:
        async with TaskGroup() as tg:
            with move_on_after(0.01) as scope:
                try:
                    log.append(f"start returned {await tg.start(child)}")
                except get_cancelled_exc_class():
                    log.append("start raised")
                    raise
                await sleep_forever()
            assert scope.cancelled_caught
            tg.cancel_scope.cancel()
    assert not guard.cancelled_caught
    assert log in (
        ["start returned v", "child cancelled"],
        ["child cancelled", "start returned v"],
    ), log


async def test_destination_cancelled_before_started() -> None:
    """The group is cancelled while the child is still starting: the child is
    not in it yet; started() moves it into the cancelled group, start()
    returns, the child's next checkpoint raises."""
    log: list[str] = []

    async def child(*, task_status: TaskStatus[str]) -> None:
        await sleep(0)
        await sleep(0)
        log.append("child before started")
        task_status.started("v")
        try:
            await sleep_forever()
        except get_cancelled_exc_class():
            log.append("child cancelled")
            raise

    with move_on_after(GUARD) as guard:
        async with TaskGroup() as tg:
            tg.cancel_scope.cancel()
            with CancelScope(shield=True):
                log.append(f"start returned {await tg.start(child)}")
    assert not guard.cancelled_caught
    assert log[0] == "child before started"
    assert sorted(log[1:]) == ["child cancelled", "start returned v"]


async def test_destination_cancelled_after_started() -> None:
    ended: list[str] = []

    async def child(*, task_status: TaskStatus[None]) -> None:
        task_status.started()
        try:
            await sleep_forever()
        finally:
            ended.append("child")

    with move_on_after(GUARD) as guard:
        async with TaskGroup() as tg:
            await tg.start(child)
            tg.cancel_scope.cancel()
    assert not guard.cancelled_caught
    assert ended == ["child"]


async def test_no_cycles_after_start_scenarios() -> None:
    async def ok(*, task_status: TaskStatus[int]) -> None:
        task_status.started(1)

    async def fails(*, task_status: TaskStatus[None]) -> None:
        await sleep(0)
        raise ValueError("fails")

    async def cancelled(*, task_status: TaskStatus[None]) -> None:
        await sleep_forever()

    with move_on_after(GUARD) as guard:
        with no_cyclic_garbage(is_unicancel_object):
            async with TaskGroup() as tg:
                await tg.start(ok)
                with pytest.raises(ValueError, match="fails"):
                    await tg.start(fails)
                with move_on_after(0.001):
                    await tg.start(cancelled)
    assert not guard.cancelled_caught


# -- asyncio: cancellations that ignore scopes ----------------------------------


async def test_task_cancel_swallowed_by_child_then_started_keeps_the_child(
    backend_name: str,
) -> None:
    """FINDING (high, same cause as the first test): a Task.cancel() of the
    caller while start() waits is passed to the child; the child swallows it,
    calls started() and goes on. docs/semantics.md: the cancel is "raised once
    it has started" -- it is, but the child, which started() has just moved
    into the group, is then cancelled again and awaited by start().

    Repro: caller.cancel() while the child sleeps before started(); the child
    catches CancelledError, calls started("v"), then waits for an event.

    trio has no Task.cancel(); its nearest, a scope cancel from outside,
    leaves the child where it is (the place is still cancelled). Here the
    child was moved (nothing is cancelled at the caller's place any more), so
    it belongs to the group and must not be cancelled by the caller's
    cancellation, which has been delivered once already (to the child).

    Suspected cause: start()'s ``except BaseException`` cancels and waits for
    the child whenever ``wait_started`` raises, even after started() moved it.
    """
    _asyncio_only(backend_name)
    log: list[str] = []
    go_on = Event()

    async def child(*, task_status: TaskStatus[str]) -> None:
        try:
            await sleep_forever()
        except asyncio.CancelledError:
            log.append("child swallowed")
        task_status.started("v")
        try:
            await go_on.wait()
            log.append("child survived")
        except asyncio.CancelledError:
            log.append("child cancelled")
            raise

    async def caller(tg: TaskGroup) -> None:
        try:
            await tg.start(child)
        except asyncio.CancelledError:
            log.append("start raised CancelledError")

    with move_on_after(GUARD) as guard:
        async with TaskGroup() as tg:
            task = asyncio.get_running_loop().create_task(caller(tg))
            await wait_all_tasks_blocked()
            task.cancel()
            await wait_all_tasks_blocked()
            go_on.set()
            await task
    assert not guard.cancelled_caught
    assert log == ["child swallowed", "start raised CancelledError", "child survived"]


async def test_asyncio_timeout_around_start_balances_cancelling(backend_name: str) -> None:
    _asyncio_only(backend_name)

    async def child(*, task_status: TaskStatus[None]) -> None:
        await sleep_forever()

    with move_on_after(GUARD) as guard:
        async with TaskGroup() as tg:
            me = asyncio.current_task()
            assert me is not None
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.01):
                    await tg.start(child)
            assert me.cancelling() == 0
            await sleep(0)  # no stray cancellation
            await sleep(0.001)
    assert not guard.cancelled_caught


async def test_asyncio_timeout_child_turns_cancel_into_error(backend_name: str) -> None:
    """The child turns the passed-on cancellation into ValueError: start()
    raises it; asyncio.timeout takes its cancel back; nothing is redelivered."""
    _asyncio_only(backend_name)

    async def child(*, task_status: TaskStatus[None]) -> None:
        try:
            await sleep_forever()
        except asyncio.CancelledError:
            raise ValueError("converted") from None

    with move_on_after(GUARD) as guard:
        async with TaskGroup() as tg:
            me = asyncio.current_task()
            assert me is not None
            with pytest.raises(ValueError, match="converted"):
                async with asyncio.timeout(0.01):
                    await tg.start(child)
            assert me.cancelling() == 0
            await sleep(0)
            await sleep(0.001)
    assert not guard.cancelled_caught


async def test_task_cancel_before_the_childs_first_step(backend_name: str) -> None:
    _asyncio_only(backend_name)
    ran: list[str] = []

    async def child(*, task_status: TaskStatus[None]) -> None:
        ran.append("child ran")
        await sleep_forever()

    async def caller(tg: TaskGroup) -> None:
        await tg.start(child)

    with move_on_after(GUARD) as guard:
        async with TaskGroup() as tg:
            task = asyncio.get_running_loop().create_task(caller(tg))
            await asyncio.sleep(0)  # caller ran up to its wait; child not yet (unless eager)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert task.cancelling() == 1
    assert not guard.cancelled_caught


async def test_task_cancel_while_child_is_shielded(backend_name: str) -> None:
    """The child is in a shielded scope when the caller's Task.cancel()
    arrives: the cancel reaches it (Task.cancel ignores scopes); start()
    raises CancelledError once the child ends, cancelling() == 1."""
    _asyncio_only(backend_name)
    log: list[str] = []

    async def child(*, task_status: TaskStatus[None]) -> None:
        with CancelScope(shield=True):
            try:
                await sleep_forever()
            except asyncio.CancelledError:
                log.append("child cancelled in shield")
                raise

    async def caller(tg: TaskGroup) -> None:
        await tg.start(child)

    with move_on_after(GUARD) as guard:
        async with TaskGroup() as tg:
            task = asyncio.get_running_loop().create_task(caller(tg))
            await wait_all_tasks_blocked()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert task.cancelling() == 1
    assert not guard.cancelled_caught
    assert log == ["child cancelled in shield"]


async def test_wait_for_start(backend_name: str) -> None:
    _asyncio_only(backend_name)
    ended: list[str] = []

    async def slow(*, task_status: TaskStatus[None]) -> None:
        try:
            await sleep_forever()
        finally:
            ended.append("slow")

    async def quick(*, task_status: TaskStatus[int]) -> None:
        task_status.started(7)
        try:
            await sleep_forever()
        finally:
            ended.append("quick")

    with move_on_after(GUARD) as guard:
        async with TaskGroup() as tg:
            assert await asyncio.wait_for(tg.start(quick), 5) == 7
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(tg.start(slow), 0.01)
            assert ended == ["slow"]
            me = asyncio.current_task()
            assert me is not None and me.cancelling() == 0
            tg.cancel_scope.cancel()
    assert not guard.cancelled_caught
    assert sorted(ended) == ["quick", "slow"]


async def test_asyncio_timeout_expiring_during_setup_spares_the_started_child(
    backend_name: str,
) -> None:
    """FINDING (high, same cause as the first test), the everyday form:
    ``async with asyncio.timeout(0.01): await tg.start(server)`` where the
    server's setup blocks the loop for 50 ms, then calls started(). The
    timeout's callback runs after started(): the caller's Task.cancel()
    lands while start() is about to return, and start() cancels the server,
    which already belongs to the group. The server is gone although it
    reported itself started.

    trio (move_on_after around nursery.start, the deadline passing during the
    child's blocking setup): started() moves the child, the deadline is
    noticed at the caller's next checkpoint, the child keeps running
    (test_deadline_passing_during_cpu_work_before_started pins that with
    unicancel scopes on every backend).

    Suspected cause: wait_started's ``except CancelledError: task.cancel()``
    does not check ``started.done()``; start()'s ``except BaseException``
    then cancels and awaits the moved child.
    """
    _asyncio_only(backend_name)
    log: list[str] = []
    go_on = Event()

    async def server(*, task_status: TaskStatus[str]) -> None:
        await asyncio.sleep(0)
        time.sleep(0.05)  # noqa: ASYNC251 - blocking setup past the timeout
        task_status.started("listening")
        try:
            await go_on.wait()
            log.append("server survived")
        except asyncio.CancelledError:
            log.append("server cancelled")
            raise

    with move_on_after(GUARD) as guard:
        async with TaskGroup() as tg:
            try:
                async with asyncio.timeout(0.01):
                    await tg.start(server)
            except TimeoutError:
                log.append("timeout")
            await wait_all_tasks_blocked()
            go_on.set()
    assert not guard.cancelled_caught
    assert log == ["timeout", "server survived"]


async def test_task_cancel_child_turns_into_error_keeps_the_cancel_pending(
    backend_name: str,
) -> None:
    """The child turns the passed-on Task.cancel() into ValueError: start()
    raises ValueError and the cancellation stays pending (next await raises
    it), cancelling() == 1."""
    _asyncio_only(backend_name)
    log: list[object] = []

    async def child(*, task_status: TaskStatus[None]) -> None:
        try:
            await sleep_forever()
        except asyncio.CancelledError:
            raise ValueError("converted") from None

    async def caller(tg: TaskGroup) -> None:
        me = asyncio.current_task()
        assert me is not None
        try:
            await tg.start(child)
        except ValueError:
            log.append("ValueError")
        log.append(me.cancelling())
        try:
            await asyncio.sleep(0.001)
        except asyncio.CancelledError:
            log.append("cancelled at next await")
        log.append(me.cancelling())

    with move_on_after(GUARD) as guard:
        async with TaskGroup() as tg:
            task = asyncio.get_running_loop().create_task(caller(tg))
            await wait_all_tasks_blocked()
            task.cancel()
            await asyncio.wait([task])
    assert not guard.cancelled_caught
    assert log == ["ValueError", 1, "cancelled at next await", 1]


async def test_task_cancel_twice_while_waiting_counts_twice(backend_name: str) -> None:
    _asyncio_only(backend_name)
    log: list[object] = []

    async def child(*, task_status: TaskStatus[None]) -> None:
        for name in ("first", "second"):
            try:
                await sleep_forever()
            except asyncio.CancelledError:
                log.append(name)

    async def caller(tg: TaskGroup) -> None:
        await tg.start(child)

    with move_on_after(GUARD) as guard:
        async with TaskGroup() as tg:
            task = asyncio.get_running_loop().create_task(caller(tg))
            await wait_all_tasks_blocked()
            task.cancel()
            await wait_all_tasks_blocked()
            task.cancel()
            await asyncio.wait([task])
            assert task.cancelled()
            assert task.cancelling() == 2
    assert not guard.cancelled_caught
    assert log == ["first", "second"]


async def test_no_cycles_after_outside_cancels_of_start(backend_name: str) -> None:
    _asyncio_only(backend_name)

    async def parked(*, task_status: TaskStatus[None]) -> None:
        await sleep_forever()

    async def converts(*, task_status: TaskStatus[None]) -> None:
        try:
            await sleep_forever()
        except asyncio.CancelledError:
            raise ValueError("converted") from None

    async def caller(tg: TaskGroup, fn: Any) -> None:
        await tg.start(fn)

    with move_on_after(GUARD) as guard:
        with no_cyclic_garbage(is_unicancel_object):
            async with TaskGroup() as tg:
                with pytest.raises(TimeoutError):
                    async with asyncio.timeout(0.001):
                        await tg.start(parked)
                for fn in (parked, converts):
                    task = asyncio.get_running_loop().create_task(caller(tg, fn))
                    await wait_all_tasks_blocked()
                    task.cancel()
                    await asyncio.wait([task])
                    if not task.cancelled():
                        assert isinstance(task.exception(), ValueError)
                    del task
    assert not guard.cancelled_caught


# -- anyio scopes around start() -----------------------------------------------


async def test_anyio_deadline_around_start_is_caught_by_its_scope() -> None:
    """FINDING (high): on asyncio, ``with anyio.move_on_after(0.01):
    await tg.start(child)`` lets a bare CancelledError out of the anyio
    scope (cancelled_caught never set; the task dies cancelled, cancelling()
    already 0 so nothing above expects it).

    Repro: the child sleeps forever before started(); the anyio deadline
    fires while start() waits.

    trio (and unicancel on trio): the child is cancelled, start() raises
    Cancelled, the anyio scope catches it (cancelled_caught True).

    Suspected cause: wait_started raises the *child's* cancellation
    (``_cancellation_of(task)``) although the caller's own cancellation
    (``external``, anyio's, carrying anyio's "Cancelled via cancel scope"
    message) is at hand; anyio recognises its cancellations by that message
    (``is_anyio_cancellation``), so it does not swallow the child's. The child
    is cancelled with a bare ``task.cancel()`` (no message) as well.
    """
    import anyio

    log: list[object] = []

    async def child(*, task_status: TaskStatus[None]) -> None:
        try:
            await sleep_forever()
        except get_cancelled_exc_class():
            log.append("child cancelled")
            raise

    with move_on_after(GUARD) as guard:
        async with TaskGroup() as tg:
            try:
                with anyio.move_on_after(0.01) as scope:
                    await tg.start(child)
            except get_cancelled_exc_class():
                log.append("cancellation escaped the anyio scope")
            log.append(scope.cancelled_caught)
    assert not guard.cancelled_caught
    assert log == ["child cancelled", True]


async def test_anyio_cancel_of_start_caller_respects_the_childs_shield(backend_name: str) -> None:
    if backend_name == "asyncio":
        # Known gap (docs/semantics.md, difference 4): on asyncio start() passes
        # a cancellation that ignores unicancel's scopes on to the child as a
        # native Task.cancel(), which the child's shield cannot stop. Not run
        # there: the cut-short child then waits for the 30 s guard (see the
        # semantics page; to be closed with an anyio-aware hand-over).
        pytest.xfail("asyncio: an anyio cancel of start()'s caller reaches a shielded child")
    """FINDING (medium-high): on asyncio, cancelling an anyio scope around
    start() interrupts the child inside its own shielded unicancel scope,
    once per loop iteration for as long as the shield lasts (here each of
    three shielded sleeps is cut short).

    docs/semantics.md section 4: a unicancel shield keeps anyio's
    cancellations out on asyncio. trio (and unicancel on trio): the shielded
    sleeps all complete; after the shield the child is cancelled (it is not
    moved: its caller's place is cancelled) and the anyio scope catches it.

    Suspected cause: anyio delivers its cancellation to start()'s caller
    (re-cancelling it at every iteration while it waits); wait_started
    answers each by ``task.cancel()`` on the child, a native cancel that
    shields do not stop. The child is inside the caller's anyio scope only
    through this forwarding, which ignores the child's shields.
    """
    import anyio

    log: list[str] = []

    async def child(*, task_status: TaskStatus[None]) -> None:
        with CancelScope(shield=True):
            for _ in range(3):
                try:
                    await sleep(0.01)
                    log.append("shielded sleep done")
                except get_cancelled_exc_class():
                    log.append("cancelled inside the shield")
        task_status.started()
        try:
            await sleep_forever()
        except get_cancelled_exc_class():
            log.append("child cancelled after the shield")
            raise

    async def cancel_soon(scope: anyio.CancelScope) -> None:
        await sleep(0.005)
        scope.cancel()

    with move_on_after(GUARD) as guard:
        async with TaskGroup() as tg:
            with anyio.CancelScope() as scope:
                tg.start_soon(cancel_soon, scope)
                await tg.start(child)
            assert scope.cancelled_caught
    assert not guard.cancelled_caught
    assert log == ["shielded sleep done"] * 3 + ["child cancelled after the shield"]


# -- more guards -----------------------------------------------------------------


async def test_caller_scope_cancel_respects_the_childs_shield() -> None:
    """The unicancel form of the anyio attack: the caller's scope is
    cancelled while the child is shielded; the shielded sleeps complete, the
    child is cancelled after the shield, start() raises, the scope catches."""
    log: list[str] = []

    async def child(*, task_status: TaskStatus[None]) -> None:
        with CancelScope(shield=True):
            for _ in range(3):
                try:
                    await sleep(0.01)
                    log.append("shielded sleep done")
                except get_cancelled_exc_class():
                    log.append("cancelled inside the shield")
        task_status.started()
        try:
            await sleep_forever()
        except get_cancelled_exc_class():
            log.append("child cancelled after the shield")
            raise

    async def cancel_soon(scope: CancelScope) -> None:
        await sleep(0.005)
        scope.cancel()

    with move_on_after(GUARD) as guard:
        async with TaskGroup() as tg:
            with CancelScope() as scope:
                tg.start_soon(cancel_soon, scope)
                await tg.start(child)
            assert scope.cancelled_caught
    assert not guard.cancelled_caught
    assert log == ["shielded sleep done"] * 3 + ["child cancelled after the shield"]


async def test_swallowed_cancel_then_started_and_return_gives_the_value() -> None:
    """The child swallows the caller's cancellation, calls started("v") (not
    moved: the caller's place is cancelled) and returns: start() returns "v"
    as on trio; started() a second time raises RuntimeError."""
    log: list[object] = []
    statuses: list[TaskStatus[str]] = []

    async def child(*, task_status: TaskStatus[str]) -> None:
        statuses.append(task_status)
        try:
            await sleep_forever()
        except get_cancelled_exc_class():
            log.append("swallowed")
        task_status.started("v")

    with move_on_after(GUARD) as guard:
        async with TaskGroup() as tg:
            with CancelScope() as scope:
                tg.start_soon(_cancel_when_blocked, scope)
                log.append(await tg.start(child))
            with pytest.raises(RuntimeError):
                statuses[0].started("again")
    assert not guard.cancelled_caught
    assert log == ["swallowed", "v"]


async def test_no_cycles_after_keyboard_interrupt_and_unmoved_child() -> None:
    async def interrupts(*, task_status: TaskStatus[None]) -> None:
        await sleep(0)
        raise KeyboardInterrupt

    async def unmoved(*, task_status: TaskStatus[int]) -> None:
        task_status.started(1)
        await sleep(0)

    with move_on_after(GUARD) as guard:
        with no_cyclic_garbage(is_unicancel_object):
            async with TaskGroup() as tg:
                with CancelScope() as scope:
                    scope.cancel()
                    with pytest.raises(get_cancelled_exc_class()):
                        await tg.start(unmoved)
            with pytest.raises(BaseExceptionGroup):
                async with TaskGroup() as tg:
                    await tg.start(interrupts)
    assert not guard.cancelled_caught


async def test_host_task_cancel_while_a_start_is_pending(backend_name: str) -> None:
    """The destination group's host is Task.cancel()ed while another task's
    start() waits: the host's exit waits for the start, started() moves the
    child into the aborted group (cancelled there), start() returns the
    value and the host ends cancelled -- as a cancelled nursery on trio."""
    _asyncio_only(backend_name)
    log: list[object] = []
    go = Event()

    async def child(*, task_status: TaskStatus[str]) -> None:
        await go.wait()
        task_status.started("v")
        try:
            await sleep_forever()
        except asyncio.CancelledError:
            log.append("child cancelled")
            raise

    async def host(holder: list[TaskGroup], ready: Event) -> None:
        async with TaskGroup() as tg:
            holder.append(tg)
            ready.set()
            await sleep_forever()

    async def caller(tg: TaskGroup) -> None:
        log.append(await tg.start(child))

    with move_on_after(GUARD) as guard:
        holder: list[TaskGroup] = []
        ready = Event()
        loop = asyncio.get_running_loop()
        host_task = loop.create_task(host(holder, ready))
        await ready.wait()
        caller_task = loop.create_task(caller(holder[0]))
        await wait_all_tasks_blocked()
        host_task.cancel()
        await wait_all_tasks_blocked()
        assert not host_task.done()  # waits for the pending start()
        go.set()
        await asyncio.wait([host_task, caller_task])
        assert host_task.cancelled()
    assert not guard.cancelled_caught
    assert sorted(map(str, log)) == ["child cancelled", "v"]
