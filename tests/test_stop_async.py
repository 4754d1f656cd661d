"""Stop tokens on every backend: ``wait()``, scopes bound to a token
(``move_on_when``/``fail_when``), requests from other threads and from
signal handlers."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from unicancel import (
    CancelOrigin,
    CancelScope,
    StopRequested,
    StopSource,
    StopToken,
    TaskGroup,
    checkpoint,
    fail_when,
    get_cancelled_exc_class,
    move_on_when,
)

from ._helpers import Event, sleep, sleep_forever, wait_all_tasks_blocked

pytestmark = pytest.mark.anyio


# -- wait() --------------------------------------------------------------------------------


async def test_wait_returns_when_stop_is_requested() -> None:
    source = StopSource()
    woke = Event()

    async def waiter() -> None:
        await source.token.wait()
        woke.set()

    async with TaskGroup() as tg:
        tg.start_soon(waiter)
        await wait_all_tasks_blocked()
        assert not woke.is_set()
        source.request_stop("go")
    assert woke.is_set()


async def test_wait_on_a_stopped_token_returns_but_is_a_checkpoint() -> None:
    source = StopSource()
    source.request_stop()
    await source.token.wait()  # returns
    with CancelScope() as scope:
        scope.cancel()
        await source.token.wait()  # raises: it is a checkpoint
        pytest.fail("wait() did not raise in a cancelled scope")  # pragma: no cover
    assert scope.cancelled_caught


async def test_wait_is_cancellable_and_leaves_nothing_bound() -> None:
    source = StopSource()
    with CancelScope() as scope:
        scope.cancel("outer")
        await source.token.wait()
    assert scope.cancelled_caught
    assert scope.cancel_reason == "outer"
    assert not source._state.regs  # the waiter unregistered
    assert not source._state.bindings


async def test_wait_on_a_never_stopping_token_blocks_until_cancelled() -> None:
    with CancelScope() as scope:
        async with TaskGroup() as tg:
            tg.start_soon(StopToken().wait)
            await wait_all_tasks_blocked()
            scope.cancel()
    assert scope.cancelled_caught


async def test_many_waiters_one_registration() -> None:
    source = StopSource()
    woke: list[int] = []

    async def waiter(i: int) -> None:
        await source.token.wait()
        woke.append(i)

    async with TaskGroup() as tg:
        for i in range(50):
            tg.start_soon(waiter, i)
        await wait_all_tasks_blocked()
        assert len(source._state.regs) == 1  # one per event loop, not per waiter
        source.request_stop()
    assert sorted(woke) == list(range(50))
    assert not source._state.bindings


# -- move_on_when / fail_when --------------------------------------------------------------


async def test_bound_scope_is_cancelled_with_the_tokens_reason() -> None:
    source = StopSource()
    entered = Event()

    async def worker() -> None:
        with move_on_when(source.token) as scope:
            entered.set()
            await sleep_forever()
        assert scope.cancelled_caught
        assert scope.cancel_origin is CancelOrigin.EXPLICIT
        assert scope.cancel_reason == "shutting down"
        done.set()

    done = Event()
    async with TaskGroup() as tg:
        tg.start_soon(worker)
        await entered.wait()
        source.request_stop("shutting down")
    assert done.is_set()


async def test_bound_scope_is_level_triggered() -> None:
    """Native cancellation: every await inside the bound scope raises."""
    source = StopSource()
    raised = 0
    with move_on_when(source.token):
        source.request_stop()
        for _ in range(3):
            try:
                await sleep_forever()
            except get_cancelled_exc_class():
                raised += 1
        await checkpoint()
    assert raised == 3


async def test_bound_scope_is_cancelled_on_the_loops_next_turn() -> None:
    """Even from the task itself, the scope is cancelled through the loop
    (the rule that keeps requests from threads and signal handlers safe):
    not yet when request_stop() returns, at the next await that blocks."""
    source = StopSource()
    with move_on_when(source.token) as scope:
        source.request_stop("now")
        assert not scope.cancel_called
        await sleep_forever()
    assert scope.cancelled_caught
    assert scope.cancel_reason == "now"


async def test_token_stopped_before_entry_cancels_at_the_first_checkpoint() -> None:
    source = StopSource()
    source.request_stop("already")
    reached = False
    with move_on_when(source.token) as scope:
        assert scope.cancel_called  # before any await
        await checkpoint()
        reached = True  # pragma: no cover
    assert not reached
    assert scope.cancelled_caught
    assert scope.cancel_reason == "already"


async def test_scope_that_exits_before_the_stop_is_not_touched_and_unbinds() -> None:
    source = StopSource()
    with move_on_when(source.token) as scope:
        await checkpoint()
    assert not source._state.regs
    assert not source._state.bindings
    source.request_stop()
    await sleep(0)
    assert not scope.cancel_called


async def test_enclosing_cancellation_passes_through_a_bound_scope() -> None:
    source = StopSource()
    with CancelScope() as outer:
        with move_on_when(source.token) as inner:
            outer.cancel("outer")
            await sleep_forever()
    assert outer.cancelled_caught
    assert not inner.cancelled_caught
    assert inner.cancel_origin is CancelOrigin.ENCLOSING


async def test_shielded_bound_scope_keeps_enclosing_cancellation_out() -> None:
    source = StopSource()
    with CancelScope() as outer:
        outer.cancel()
        with move_on_when(source.token, shield=True) as inner:
            source.request_stop("stop")
            await sleep_forever()  # only the token can end this
        assert inner.cancelled_caught
        assert inner.cancel_reason == "stop"
        await sleep_forever()  # outside the shield: the outer cancellation
    assert outer.cancelled_caught


async def test_many_bound_scopes_share_one_registration() -> None:
    source = StopSource()
    reasons: list[str | None] = []

    async def worker() -> None:
        with move_on_when(source.token) as scope:
            await sleep_forever()
        reasons.append(scope.cancel_reason)

    async with TaskGroup() as tg:
        for _ in range(100):
            tg.start_soon(worker)
        await wait_all_tasks_blocked()
        assert len(source._state.regs) == 1
        source.request_stop("all")
    assert reasons == ["all"] * 100


async def test_bound_to_a_linked_token() -> None:
    a, b = StopSource(), StopSource()
    with StopSource(a.token, b.token) as linked:
        with move_on_when(linked.token) as scope:
            b.request_stop("from b")
            await sleep_forever()
    assert scope.cancel_reason == "from b"


async def test_bound_to_a_closed_token_is_never_cancelled() -> None:
    source = StopSource()
    source.close()
    with move_on_when(source.token) as scope:
        await checkpoint()
    assert not scope.cancel_called
    assert not source._state.bindings


async def test_fail_when_raises_stop_requested() -> None:
    source = StopSource()
    with pytest.raises(StopRequested, match="unicancel: stop requested: quota") as info:
        with fail_when(source.token):
            source.request_stop("quota")
            await sleep_forever()
    assert info.value.reason == "quota"
    assert isinstance(info.value.__cause__, get_cancelled_exc_class())


async def test_fail_when_after_an_explicit_cancel_moves_on() -> None:
    source = StopSource()
    with fail_when(source.token) as scope:
        scope.cancel("mine")
        source.request_stop("token")
        await sleep_forever()
    assert scope.cancel_reason == "mine"


async def test_fail_when_without_a_stop_leaves_normally() -> None:
    source = StopSource()
    with fail_when(source.token) as scope:
        await checkpoint()
    assert not scope.cancel_called


async def test_binding_needs_a_token() -> None:
    source = StopSource()
    with pytest.raises(TypeError, match=r"move_on_when\(\) takes StopToken .*pass source\.token"):
        move_on_when(source)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"fail_when\(\) takes StopToken"):
        fail_when(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="shield must be a bool"):
        move_on_when(source.token, shield=1)  # type: ignore[arg-type]


# -- other threads and signal handlers -----------------------------------------------------


async def test_request_from_another_thread_reaches_bound_scopes_and_waiters() -> None:
    source = StopSource()
    results: list[str] = []

    async def bound() -> None:
        with move_on_when(source.token) as scope:
            await sleep_forever()
        results.append(f"scope: {scope.cancel_reason}")

    async def waiter() -> None:
        await source.token.wait()
        results.append(f"wait: {source.token.reason}")

    async with TaskGroup() as tg:
        tg.start_soon(bound)
        tg.start_soon(waiter)
        await wait_all_tasks_blocked()
        thread = threading.Thread(target=source.request_stop, args=("from a thread",))
        thread.start()
    thread.join()
    assert sorted(results) == ["scope: from a thread", "wait: from a thread"]


async def test_callbacks_run_in_the_requesting_thread() -> None:
    source = StopSource()
    threads: list[int] = []
    source.token.on_stop(lambda: threads.append(threading.get_ident()))
    thread = threading.Thread(target=source.request_stop)
    thread.start()
    thread.join()
    assert threads == [thread.ident]


@contextmanager
def _signal_handler(signum: int, handler: signal._HANDLER) -> Iterator[None]:
    previous = signal.signal(signum, handler)
    try:
        yield
    finally:
        signal.signal(signum, previous)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGUSR1 is POSIX")
async def test_request_from_a_signal_handler_reaches_awaiting_tasks() -> None:
    source = StopSource()
    answers: list[bool] = []

    def handler(signum: int, frame: object) -> None:
        answers.append(source.request_stop(f"signal {signum}"))

    with _signal_handler(signal.SIGUSR1, handler):
        with move_on_when(source.token) as scope:
            async with TaskGroup() as tg:
                tg.start_soon(source.token.wait)
                await wait_all_tasks_blocked()
                signal.raise_signal(signal.SIGUSR1)
                await sleep_forever()
    assert answers == [True]
    assert scope.cancel_reason == f"signal {signal.SIGUSR1}"
