"""Cancel scopes and task groups are not thread-safe: using an entered one
from another thread raises at once, with the same text on every backend,
naming the thread-safe ways (a StopSource, or the loop's own thread-safe
call). An unentered scope has no loop yet and may be configured from any
thread; an exited one records a late cancel() (both as trio does).
"""

from __future__ import annotations

import asyncio
import math
import re
import threading
from collections.abc import Callable
from typing import Any

import pytest

import unicancel
from unicancel import CancelScope, StopSource, TaskGroup

from ._helpers import backend, sleep_forever

WRONG_THREAD = re.escape("was called outside the event loop (or trio run) running the scope")


def _in_thread(fn: Callable[[], object]) -> BaseException | None:
    """Run *fn* in a new thread (the loop's thread blocks meanwhile: no event
    interleaves) and return what it raised."""
    raised: list[BaseException | None] = [None]

    def target() -> None:
        try:
            fn()
        except BaseException as exc:
            raised[0] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    return raised[0]


def _assert_wrong_thread(error: BaseException | None, what: str) -> None:
    assert isinstance(error, RuntimeError), repr(error)
    text = str(error)
    assert text.startswith(f"unicancel: {what} "), text
    assert re.search(WRONG_THREAD, text), text
    assert "move_on_when(source.token)" in text and "call_soon_threadsafe" in text, text


async def test_cancel_from_another_thread_raises_and_changes_nothing() -> None:
    with CancelScope() as scope:
        _assert_wrong_thread(_in_thread(scope.cancel), "CancelScope.cancel()")
        assert not scope.cancel_called
        await unicancel.checkpoint()  # not cancelled
    assert not scope.cancelled_caught


async def test_cancel_with_a_deadline_from_another_thread_raises() -> None:
    with unicancel.move_on_after(100) as scope:
        _assert_wrong_thread(_in_thread(scope.cancel), "CancelScope.cancel()")
        assert not scope.cancel_called
        await unicancel.checkpoint()
    assert not scope.cancelled_caught


@pytest.mark.parametrize(
    ("attr", "value"),
    [("deadline", 0.0), ("relative_deadline", 0.0), ("shield", True)],
)
async def test_setters_from_another_thread_raise_and_change_nothing(
    attr: str, value: object
) -> None:
    with CancelScope() as scope:
        error = _in_thread(lambda: setattr(scope, attr, value))
        _assert_wrong_thread(error, f"setting CancelScope.{attr}")
        assert (scope.deadline, scope.shield, scope.cancel_called) == (math.inf, False, False)
        await unicancel.checkpoint()
    assert not scope.cancelled_caught


async def test_task_group_from_another_thread_raises() -> None:
    started: list[str] = []

    async def child(*, task_status: Any = None) -> None:
        started.append("child")

    coro = child()
    async with TaskGroup() as tg:
        _assert_wrong_thread(_in_thread(lambda: tg.start_soon(child)), "TaskGroup.start_soon()")
        _assert_wrong_thread(_in_thread(lambda: tg.create_task(coro)), "TaskGroup.create_task()")
        _assert_wrong_thread(_in_thread(tg.cancel), "CancelScope.cancel()")
        # start() awaited on another thread's own loop or trio run.
        other = backend()
        error = _in_thread(lambda: unicancel.run(tg.start, child, backend=other))
        _assert_wrong_thread(error, "TaskGroup.start()")
    assert started == []
    assert not tg.cancel_scope.cancel_called
    coro.close()


async def test_exit_from_another_loops_thread_raises_and_the_scope_stays_usable() -> None:
    """The host is running (blocked in join()) while a thread with its own
    loop exits the host's scope: the exit must not unlink anything."""
    other = backend()
    with CancelScope() as outer:
        with CancelScope() as scope:

            async def exit_it() -> None:
                scope.__exit__(None, None, None)

            error = _in_thread(lambda: unicancel.run(exit_it, backend=other))
            _assert_wrong_thread(error, "exiting CancelScope")
            scope.cancel()  # still this task's scope: it works as usual
            await unicancel.checkpoint()
        assert scope.cancelled_caught
        outer.cancel()
        await unicancel.checkpoint()
        pytest.fail("outer scope did not cancel")  # pragma: no cover
    assert outer.cancelled_caught


async def test_exit_from_a_plain_thread_raises() -> None:
    with CancelScope() as scope:
        error = _in_thread(lambda: scope.__exit__(None, None, None))
        _assert_wrong_thread(error, "exiting CancelScope")
    assert not scope.cancelled_caught


async def test_unentered_and_exited_scopes_may_be_touched_from_any_thread() -> None:
    """As on trio: an unentered scope belongs to no loop yet; a cancel() after
    exit only records the call."""
    scope = CancelScope()

    def configure() -> None:
        scope.relative_deadline = 100
        scope.shield = True
        scope.cancel("from a thread")

    assert _in_thread(configure) is None
    with scope:
        await unicancel.checkpoint()
        pytest.fail("pre-entry cancel was lost")  # pragma: no cover
    assert scope.cancel_reason == "from a thread"

    with CancelScope() as done:
        pass
    assert _in_thread(done.cancel) is None
    assert done.cancel_called and not done.cancelled_caught


async def test_the_thread_safe_ways_named_in_the_error_work_on_an_idle_loop() -> None:
    """A StopSource stops a bound scope from another thread, at once, with
    nothing else to wake the loop; so does the loop's own thread-safe call."""
    source = StopSource()
    timer = threading.Timer(0.01, source.request_stop, args=("from a thread",))
    with unicancel.fail_after(30):  # a hang fails the test, it never passes it
        with unicancel.move_on_when(source.token) as scope:
            timer.start()
            await sleep_forever()
    assert scope.cancelled_caught and scope.cancel_reason == "from a thread"

    with unicancel.fail_after(30):
        with CancelScope() as scope:
            if backend() == "trio":
                import trio

                token = trio.lowlevel.current_trio_token()
                threading.Thread(
                    target=trio.from_thread.run_sync,
                    args=(scope.cancel,),
                    kwargs={"trio_token": token},
                ).start()
            else:
                loop = asyncio.get_running_loop()
                threading.Thread(target=loop.call_soon_threadsafe, args=(scope.cancel,)).start()
            await sleep_forever()
    assert scope.cancelled_caught


@pytest.mark.parametrize("loop_factory", ["asyncio", "uvloop"])
def test_cancel_while_the_loop_is_stopped_raises_and_loses_nothing(loop_factory: str) -> None:
    """Between two run_until_complete() calls no loop runs, even in the
    thread that entered the scope: cancel() must refuse (as on 3.12+; 3.11
    once let it through to Task.cancel() on the idle loop, whose task then
    died with InvalidStateError, destroyed while pending)."""
    if loop_factory == "uvloop":
        uvloop = pytest.importorskip("uvloop")
        loop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    scopes: list[CancelScope] = []

    async def hold(gate: asyncio.Future[None]) -> str:
        with CancelScope() as scope:
            scopes.append(scope)
            await gate
        return "finished" if not scope.cancelled_caught else "cancelled"

    try:
        gate: asyncio.Future[None] = loop.create_future()
        task = loop.create_task(hold(gate))
        loop.run_until_complete(asyncio.sleep(0))  # the task is now waiting on gate
        with pytest.raises(RuntimeError, match=WRONG_THREAD) as caught:
            scopes[0].cancel("while the loop is stopped")
        assert "CancelScope.cancel()" in str(caught.value)
        assert not scopes[0].cancel_called
        gate.set_result(None)
        assert loop.run_until_complete(task) == "finished"
    finally:
        loop.close()
