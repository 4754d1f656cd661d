"""unicancel.Event and unicancel.to_thread: trio's semantics on every backend
(docs/semantics.md differences 2 and 7; `python -m unicancel compare`
scenarios await-that-does-not-suspend and cancel-during-thread-call).

Ordering is by events and wait_all_tasks_blocked(), never by sleeping; the
threads block on a threading.Event with a bounded wait, so a failing test
cannot leave one behind for long.
"""

from __future__ import annotations

import contextvars
import functools
import math
import threading
from typing import Any

import pytest

import unicancel
from unicancel import CancelScope, Event, TaskGroup, checkpoint, get_cancelled_exc_class, to_thread

from ._helpers import sleep_forever, wait_all_tasks_blocked

pytestmark = pytest.mark.anyio

#: Seconds a worker thread waits for its gate at most.
BOUND = 10


# -- Event ----------------------------------------------------------------------------


async def test_event_wait_on_a_set_event_is_a_checkpoint() -> None:
    """asyncio.Event.wait() on a set event does not suspend, so it is no
    cancellation point; unicancel.Event.wait() is one, as trio's is."""
    event = Event()
    event.set()
    reached = False
    with CancelScope() as scope:
        scope.cancel()
        await event.wait()
        reached = True
    assert not reached
    assert scope.cancelled_caught


async def test_event_wait_on_a_set_event_returns_when_not_cancelled() -> None:
    event = Event()
    event.set()
    await event.wait()
    assert event.is_set()


async def test_event_set_wakes_every_waiter() -> None:
    event = Event()
    woken: list[int] = []

    async def waiter(n: int) -> None:
        await event.wait()
        woken.append(n)

    async with TaskGroup() as tg:
        for n in range(3):
            tg.start_soon(waiter, n)
        await wait_all_tasks_blocked()
        assert woken == []
        assert not event.is_set()
        event.set()
        event.set()  # a second set() does nothing
    assert sorted(woken) == [0, 1, 2]


async def test_event_blocked_wait_is_cancelled_and_the_event_still_works() -> None:
    event = Event()
    exc = get_cancelled_exc_class()
    seen: list[str] = []

    async def waiter(scope: CancelScope) -> None:
        with scope:
            try:
                await event.wait()
            except exc:
                seen.append("cancelled")
                raise
        seen.append(f"caught: {scope.cancelled_caught}")
        await event.wait()  # the same event, set later
        seen.append("woken")

    scope = CancelScope()
    async with TaskGroup() as tg:
        tg.start_soon(waiter, scope)
        await wait_all_tasks_blocked()
        scope.cancel()
        await wait_all_tasks_blocked()
        assert seen == ["cancelled", "caught: True"]
        event.set()
    assert seen == ["cancelled", "caught: True", "woken"]


async def test_event_wait_in_a_shield_ignores_the_enclosing_cancellation() -> None:
    event = Event()
    event.set()
    reached: list[str] = []
    with CancelScope() as outer:
        outer.cancel()
        with CancelScope(shield=True):
            await event.wait()  # a checkpoint, but shielded: returns
        reached.append("after the shield")
        await event.wait()
        reached.append("after the second wait")
    assert reached == ["after the shield"]
    assert outer.cancelled_caught


def test_event_outside_async_code() -> None:
    """Created and set outside any event loop, like a trio.Event."""
    event = Event()
    assert not event.is_set()
    assert "unset" in repr(event)
    event.set()
    assert event.is_set()
    assert "set" in repr(event) and "unset" not in repr(event)


def test_event_is_bound_to_the_backend_it_first_blocked_on() -> None:
    import asyncio

    trio = pytest.importorskip("trio")
    event = Event()

    async def blocked_then_cancelled() -> None:
        with unicancel.move_on_after(0):
            await event.wait()

    asyncio.run(blocked_then_cancelled())  # the wait made an asyncio.Event

    async def on_trio() -> None:
        await event.wait()

    with pytest.raises(RuntimeError, match="already used on asyncio"):
        trio.run(on_trio)


# -- to_thread ----------------------------------------------------------------------


async def test_to_thread_returns_the_result_in_another_thread() -> None:
    here = threading.get_ident()

    def work(a: int, b: int) -> tuple[int, int]:
        return a**b, threading.get_ident()

    result, ident = await to_thread(work, 2, 10)
    assert result == 1024
    assert ident != here


async def test_to_thread_raises_what_the_function_raised() -> None:
    def fail() -> None:
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        await to_thread(fail)


async def test_to_thread_runs_in_a_copy_of_the_context() -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")
    var.set("caller")

    def read_and_write() -> str:
        seen = var.get()
        var.set("thread")
        return seen

    assert await to_thread(read_and_write) == "caller"
    assert var.get() == "caller"


async def test_to_thread_takes_keyword_arguments_through_partial() -> None:
    assert await to_thread(functools.partial(int, base=2), "101") == 5


async def test_to_thread_rejects_an_async_function() -> None:
    async def not_sync() -> None:
        pass

    with pytest.raises(
        TypeError, match=r"expected a sync function for fn, but .*not_sync is async"
    ):
        await to_thread(not_sync)  # type: ignore[unused-coroutine]


async def test_to_thread_in_a_cancelled_scope_never_starts_the_thread() -> None:
    called = threading.Event()
    with CancelScope() as scope:
        scope.cancel()
        await to_thread(called.set)
    assert scope.cancelled_caught
    assert not called.is_set()


class _Gate:
    """A blocking call that waits for the test to open the gate."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.finished = threading.Event()

    def blocking(self) -> str:
        self.entered.set()
        try:
            self.gate.wait(BOUND)
            return "a result"
        finally:
            self.finished.set()


async def test_to_thread_waits_for_the_thread_then_the_next_checkpoint_raises() -> None:
    """trio.to_thread.run_sync's rule on every backend: a cancellation does not
    interrupt the wait; the result is returned once the thread is done, and
    the next checkpoint raises (asyncio.to_thread would abandon the thread)."""
    gate = _Gate()
    exc = get_cancelled_exc_class()
    log: list[Any] = []

    async def worker(scope: CancelScope) -> None:
        with scope:
            log.append(("returned", await to_thread(gate.blocking)))
            try:
                await checkpoint()
                log.append("next checkpoint returned")
            except exc:
                log.append("next checkpoint raised")
                raise
        log.append(("scope caught it", scope.cancelled_caught))

    scope = CancelScope()
    async with TaskGroup() as tg:
        tg.start_soon(worker, scope)
        await to_thread(gate.entered.wait, BOUND)
        scope.cancel()
        await wait_all_tasks_blocked()
        assert log == []  # still waiting for the thread
        assert not gate.finished.is_set()
        gate.gate.set()
    assert log == [("returned", "a result"), "next checkpoint raised", ("scope caught it", True)]


async def test_to_thread_waits_for_the_thread_past_a_deadline() -> None:
    gate = _Gate()
    scope = CancelScope()

    async def opener() -> None:
        await to_thread(gate.entered.wait, BOUND)
        scope.deadline = -math.inf  # passes while the thread runs
        await wait_all_tasks_blocked()
        assert not gate.finished.is_set()
        gate.gate.set()

    async with TaskGroup() as tg:
        tg.start_soon(opener)
        with scope:
            result = await to_thread(gate.blocking)
            await checkpoint()
    assert result == "a result"
    assert scope.cancelled_caught
    assert scope.cancel_origin is unicancel.CancelOrigin.DEADLINE


async def test_to_thread_abandon_on_cancel_raises_at_once() -> None:
    """abandon_on_cancel=True: the cancellation raises now and the thread is
    left to finish on its own; its result is discarded."""
    gate = _Gate()
    exc = get_cancelled_exc_class()
    log: list[str] = []

    async def worker(scope: CancelScope) -> None:
        with scope:
            try:
                await to_thread(gate.blocking, abandon_on_cancel=True)
                log.append("returned")
            except exc:
                log.append("cancelled")
                raise

    scope = CancelScope()
    async with TaskGroup() as tg:
        tg.start_soon(worker, scope)
        await to_thread(gate.entered.wait, BOUND)
        scope.cancel()
    assert log == ["cancelled"]
    assert scope.cancelled_caught
    assert not gate.finished.is_set()  # abandoned, still running
    gate.gate.set()
    assert await to_thread(gate.finished.wait, BOUND)


async def test_to_thread_native_asyncio_cancel_waits_for_the_thread_too(
    backend_name: str,
) -> None:
    """asyncio only: a Task.cancel() from outside unicancel (here by hand; also
    asyncio.timeout, TaskGroup) cannot be re-delivered at a later await, so
    to_thread waits for the thread and then raises it."""
    if backend_name != "asyncio":
        pytest.skip("a native asyncio cancellation")
    import asyncio

    gate = _Gate()
    task = asyncio.create_task(to_thread(gate.blocking))
    await to_thread(gate.entered.wait, BOUND)
    task.cancel()
    await wait_all_tasks_blocked()
    assert not task.done()
    gate.gate.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert gate.finished.is_set()


async def test_to_thread_native_asyncio_timeout_still_raises_timeout_error(
    backend_name: str,
) -> None:
    if backend_name != "asyncio":
        pytest.skip("asyncio.timeout")
    import asyncio

    gate = _Gate()

    async def expire(cm: asyncio.Timeout) -> None:
        await to_thread(gate.entered.wait, BOUND)
        cm.reschedule(asyncio.get_running_loop().time() - 1)
        await wait_all_tasks_blocked()
        gate.gate.set()

    with pytest.raises(TimeoutError):
        async with asyncio.timeout(None) as cm:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(expire(cm))
                await to_thread(gate.blocking)
                await sleep_forever()
    assert gate.finished.is_set()
