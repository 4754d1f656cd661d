"""Hostile review of the issue 11 fixes, through the public API only.

The first part holds findings: each test FAILS on the code it was written
against (none is marked xfail; the lead fixes them). The second part, after
the "guards" banner, holds attacks that did not break anything and are kept
as regression guards (they pass).
"""

from __future__ import annotations

import asyncio
import functools
import gc
import math
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import weakref
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest

import unicancel
from unicancel import CancelScope, StopSource, TaskGroup, TaskStatus, move_on_after, move_on_when

from ._helpers import (
    Event,
    backend,
    is_unicancel_object,
    no_cyclic_garbage,
    sleep,
    sleep_forever,
    wait_all_tasks_blocked,
)

# =============================================================================
# Findings (these fail today)
# =============================================================================


@pytest.mark.anyio
@pytest.mark.parametrize("how", ["caller deadline", "caller scope cancelled", "group cancelled"])
async def test_start_child_shield_holds_when_the_caller_is_cancelled(how: str) -> None:
    """A start() child shielded before started(): on asyncio/uvloop/eager the
    shield is broken (CancelledError inside `with CancelScope(shield=True)`)
    as soon as the caller's scope (deadline or cancel()) or the group is
    cancelled; start() then raises at once instead of waiting for the child.
    trio (native and unicancel): the shielded part finishes, started() is
    called, the child is cancelled at its next unshielded checkpoint and
    start() raises Cancelled. Suspect: _asyncio_taskgroup.AsyncioTaskGroup.
    start(): on any exception from _wait_started() it calls task.cancel(), a
    native cancel that no shield can stop; the child is in the caller's
    scopes already, so the scope tree would reach it (shield-aware)."""
    log: list[str] = []
    entered = Event()
    release = Event()

    async def child(*, task_status: TaskStatus[None]) -> None:
        with CancelScope(shield=True):
            entered.set()
            try:
                await release.wait()
            except BaseException:
                log.append("shield broken")
                raise
            log.append("shielded work done")
            task_status.started()
        await unicancel.checkpoint()
        log.append("child went on")  # pragma: no cover

    async def cancel_once_shielded(scope: CancelScope) -> None:
        await entered.wait()
        if how == "caller deadline":
            scope.deadline = unicancel.current_time()
        else:
            scope.cancel()
        with CancelScope(shield=True):  # this task is in the group: cancelled too
            await wait_all_tasks_blocked()
        release.set()

    async with TaskGroup() as tg:
        with CancelScope() as caller:
            target = tg.cancel_scope if how == "group cancelled" else caller
            tg.start_soon(cancel_once_shielded, target)
            await tg.start(child)
    assert log == ["shielded work done"]


async def _child_group_cancelled_from_outside() -> None:
    async def child() -> None:
        async with TaskGroup() as inner:  # bound to a name, as users do
            assert inner is not None
            await sleep_forever()

    async with TaskGroup() as tg:
        tg.start_soon(child)
        await wait_all_tasks_blocked()
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_nested_group_cancelled_from_outside_leaves_no_cyclic_garbage() -> None:
    """Issue 11 bug 5 one level deeper: a child that opened its own TaskGroup,
    cancelled by the outer group, leaves 11 unicancel objects in cycles on
    asyncio/uvloop/eager (CancelScope x4, AsyncioTaskGroup x2, Members x2, the
    _child frame); trio: 0. Only when the inner group is bound to a name
    (`as inner`): the child's frame holds it. The scenarios in test_leaks.py
    never bind the group they cancel from outside."""
    await _child_group_cancelled_from_outside()  # warm up
    with no_cyclic_garbage(is_unicancel_object):
        await _child_group_cancelled_from_outside()
        await wait_all_tasks_blocked()


class _AsyncCallable:
    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self) -> None:
        self.calls += 1


def test_on_stop_refuses_an_async_callable_object() -> None:
    """on_stop(async_fn) is refused since issue 11, but an object with an
    `async def __call__` passes (inspect.iscoroutinefunction is False for the
    instance) and its coroutine is silently dropped at request_stop(): only a
    'never awaited' RuntimeWarning at GC. trio's own checks look through
    __call__ for the same reason (coroutine_or_error)."""
    source = StopSource()
    with pytest.raises(TypeError, match=r"^unicancel: on_stop\(\)"):
        source.token.on_stop(_AsyncCallable())
    source.request_stop()


def test_on_stop_callback_returning_a_coroutine_is_reported() -> None:
    """A sync callable that returns a coroutine (a lambda around an async
    function) cannot be refused at registration, but when it runs its
    coroutine is dropped without a word (request_stop() returns True; a
    RuntimeWarning appears later from the GC). to_thread() reports the same
    mistake ('... returned a coroutine; await it directly instead'); on_stop
    should too (an error from request_stop(), the coroutine closed)."""

    async def cleanup() -> None:
        pass  # pragma: no cover

    source = StopSource()
    coros: list[Any] = []

    def callback() -> Any:
        coro = cleanup()
        coros.append(coro)
        return coro

    source.token.on_stop(callback)
    try:
        with pytest.raises((TypeError, BaseExceptionGroup)):
            source.request_stop()
    finally:
        for coro in coros:
            coro.close()  # keep the test's own failure free of GC warnings


@pytest.mark.anyio
async def test_to_thread_async_callable_object_same_error_on_every_backend() -> None:
    """to_thread(obj_with_async_call): on asyncio 'unicancel: to_thread()
    expected a sync function for fn, but ... returned a coroutine', on trio
    trio's raw 'Trio expected a sync function, but ... appears to be
    asynchronous' (issue 11: same text on both backends)."""
    with pytest.raises(TypeError, match=r"^unicancel: to_thread\(\)"):
        await unicancel.to_thread(_AsyncCallable())  # type: ignore[unused-coroutine]


_STARTED_FROM_THREAD = """
import sys, threading
import unicancel

async def main():
    answers = []

    async def child(*, task_status):
        def call():
            try:
                task_status.started("from a thread")
                answers.append("accepted")
            except BaseException as exc:
                answers.append(f"{type(exc).__name__}: {exc}")
        thread = threading.Thread(target=call)
        thread.start()
        thread.join()
        if answers != ["accepted"]:
            task_status.started("from the loop")

    async with unicancel.TaskGroup() as tg:
        await tg.start(child)
    print(answers[0])

unicancel.run(main, backend=sys.argv[1])
"""


@pytest.mark.parametrize("name", ["asyncio", "trio"])
def test_task_status_started_from_another_thread_raises(name: str) -> None:
    """task_status.started() from a foreign thread: asyncio accepts it
    silently (moves the child's tasks and wakes start() from the wrong
    thread); trio raises a raw AttributeError("'RunContext' object has no
    attribute 'runner'") AFTER it moved the child, and the program hangs for
    good (no deadline ends it; native trio does the same). Issue 11's rule
    for the other TaskGroup methods: a RuntimeError at once naming the
    thread-safe way, nothing changed. Run in a subprocess: trio hangs."""
    out = _run_script(_STARTED_FROM_THREAD, name)
    assert out.startswith("RuntimeError: unicancel:"), out


_BASE_EXCEPTION_IN_START = """
import sys
import unicancel
from unicancel import CancelScope, TaskGroup

exc_type = {"KeyboardInterrupt": KeyboardInterrupt, "SystemExit": SystemExit}[sys.argv[2]]


async def main():
    import sniffio

    if sniffio.current_async_library() == "trio":
        from trio import sleep
    else:
        from asyncio import sleep
    log = []

    async def cleanup():
        try:
            await sleep(3600)
        finally:
            with CancelScope(shield=True):
                await sleep(0.01)
                log.append("cleanup finished")

    async def child(*, task_status):
        await sleep(0)
        raise exc_type

    try:
        async with TaskGroup() as tg:
            tg.start_soon(cleanup)
            await tg.start(child)
    except BaseException as exc:
        inner = [type(e).__name__ for e in getattr(exc, "exceptions", ())]
        log.append(":".join([type(exc).__name__, *inner]))
    print("|".join(log))


try:
    unicancel.run(main, backend=sys.argv[1])
except BaseException as exc:
    print("left run():", repr(exc))
"""


def _run_script(script: str, *args: str) -> str:
    """Run *script* in a fresh interpreter (a bare KeyboardInterrupt would end
    pytest's session; a hang must not hang the suite); return its stdout."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(script), *args],
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"the program hung ({args})")
    return done.stdout + done.stderr


@pytest.mark.parametrize("exc_name", ["KeyboardInterrupt", "SystemExit"])
@pytest.mark.parametrize("name", ["asyncio", "trio"])
def test_base_exception_in_a_start_child_before_started_is_grouped(
    name: str, exc_name: str
) -> None:
    """Issue 11 bug 8 through start(): a KeyboardInterrupt/SystemExit raised
    by the child of tg.start() BEFORE task_status.started(). trio (native
    and unicancel): the sibling's shielded cleanup finishes and the group
    raises BaseExceptionGroup([KeyboardInterrupt()]), which the program can
    catch. asyncio/uvloop/eager: the exception goes straight out of the event
    loop; the group body only sees CancelledError from asyncio.run's
    teardown and a bare KeyboardInterrupt leaves run().
    Suspect: _asyncio_taskgroup._child(): the KeyboardInterrupt/SystemExit
    branch applies only when `status is None or status._started.done()`;
    before started() it re-raises from the task's step."""
    out = _run_script(_BASE_EXCEPTION_IN_START, name, exc_name)
    assert out == f"cleanup finished|BaseExceptionGroup:{exc_name}\n", out


@pytest.mark.anyio
async def test_request_stop_from_the_scopes_own_task_lands_by_the_next_blocking_await(
    backend_name: str,
) -> None:
    """request_stop() from the bound scope's own task, then one checkpoint():
    on asyncio the scope's cancellation always lands there; on trio it may land
    one schedule point later, because trio runs run_sync_soon() callbacks in a
    system task that its randomised batch may run after ours (a deliberate
    difference, docs/semantics.md "Stop tokens"): the stop is delivered
    through the loop since request_stop() may run in a signal handler. The
    promise on both backends: by the next await that blocks."""
    caught_at_checkpoint = 0
    for _ in range(50):
        source = StopSource()
        with move_on_when(source.token) as scope:
            source.request_stop()
            await unicancel.checkpoint()
            caught_at_checkpoint += 1  # reached only when the checkpoint did not raise
            await sleep_forever()  # blocks: the cancellation lands by now
        assert scope.cancelled_caught
    if backend_name == "asyncio":
        assert caught_at_checkpoint == 0


# =============================================================================
# Guards (attacks that did not break anything; these pass)
# =============================================================================

# -- bug 1: deadlines that pass while the task is busy -------------------------


def _block_past(deadline: float) -> None:
    """CPU work: block the task (no await) until *deadline* has passed."""
    while unicancel.current_time() <= deadline:
        time.sleep(0.002)


@pytest.mark.anyio
async def test_guard_busy_deadline_nested_scopes_twice() -> None:
    for _ in range(3):
        with move_on_after(10) as outer:
            with move_on_after(0.01) as inner:
                _block_past(inner.deadline)
                await unicancel.checkpoint()
                pytest.fail("checkpoint missed the passed deadline")  # pragma: no cover
        assert inner.cancelled_caught and not outer.cancelled_caught


@pytest.mark.anyio
async def test_guard_busy_deadline_under_a_shield_lands_after_it() -> None:
    for _ in range(2):
        reached = []
        with move_on_after(0.01) as outer:
            with CancelScope(shield=True):
                _block_past(outer.deadline)
                await unicancel.checkpoint()
                reached.append("shielded")
            await unicancel.checkpoint()
            reached.append("bad")  # pragma: no cover
        assert reached == ["shielded"] and outer.cancelled_caught


@pytest.mark.anyio
async def test_guard_busy_deadline_shield_dropped_while_busy() -> None:
    for _ in range(2):
        with move_on_after(0.01) as outer:
            with CancelScope(shield=True) as inner:
                _block_past(outer.deadline)
                inner.shield = False
                await unicancel.checkpoint()
                pytest.fail("checkpoint missed the passed deadline")  # pragma: no cover
        assert outer.cancelled_caught


@pytest.mark.anyio
@pytest.mark.parametrize("which", ["deadline", "relative_deadline"])
async def test_guard_busy_deadline_set_while_entered(which: str) -> None:
    for _ in range(2):
        with CancelScope() as scope:
            if which == "deadline":
                scope.deadline = unicancel.current_time() + 0.01
            else:
                scope.relative_deadline = 0.01
            _block_past(scope.deadline)
            await unicancel.checkpoint()
            pytest.fail("checkpoint missed the passed deadline")  # pragma: no cover
        assert scope.cancelled_caught


@pytest.mark.anyio
async def test_guard_busy_deadline_seen_by_set_event_to_thread_and_group_exit() -> None:
    event = unicancel.Event()
    event.set()
    for _ in range(2):
        with move_on_after(0.01) as scope:
            _block_past(scope.deadline)
            await event.wait()
            pytest.fail("Event.wait() missed the passed deadline")  # pragma: no cover
        assert scope.cancelled_caught
        with move_on_after(0.01) as scope:
            _block_past(scope.deadline)
            await unicancel.to_thread(lambda: None)
            await unicancel.checkpoint()
            pytest.fail("to_thread + checkpoint missed the deadline")  # pragma: no cover
        assert scope.cancelled_caught

        async def quick() -> None:
            pass

        with move_on_after(0.01) as scope:
            async with TaskGroup() as tg:
                tg.start_soon(quick)
                _block_past(scope.deadline)
            await unicancel.checkpoint()
            pytest.fail("group exit + checkpoint missed the deadline")  # pragma: no cover
        assert scope.cancelled_caught


@pytest.mark.anyio
async def test_guard_busy_deadline_seen_in_a_busy_child() -> None:
    for _ in range(2):

        async def child() -> None:
            _block_past(unicancel.current_effective_deadline())
            await unicancel.checkpoint()
            pytest.fail("the child's checkpoint missed the deadline")  # pragma: no cover

        with move_on_after(0.01) as scope:
            async with TaskGroup() as tg:
                tg.start_soon(child)
        assert scope.cancelled_caught


# -- bug 2: start() moves everything -------------------------------------------


@pytest.mark.anyio
async def test_guard_start_caller_scope_cancelled_after_started_spares_the_child() -> None:
    log: list[str] = []

    async def grandchild() -> None:
        try:
            await sleep_forever()
        finally:
            log.append("grandchild")

    async def child(*, task_status: TaskStatus[None]) -> None:
        async with TaskGroup() as inner:
            inner.start_soon(grandchild)
            with CancelScope():
                task_status.started()
                try:
                    await sleep_forever()
                finally:
                    log.append("child")

    async with TaskGroup() as tg:
        with CancelScope() as caller:
            await tg.start(child)
            caller.cancel()
            await unicancel.checkpoint()
        await wait_all_tasks_blocked()
        assert log == []
        tg.cancel_scope.cancel()
    assert sorted(log) == ["child", "grandchild"]


@pytest.mark.anyio
async def test_guard_start_effective_deadline_is_the_new_parents() -> None:
    seen: list[float] = []

    async def child(*, task_status: TaskStatus[None]) -> None:
        seen.append(unicancel.current_effective_deadline() - unicancel.current_time())
        task_status.started()
        seen.append(unicancel.current_effective_deadline() - unicancel.current_time())

    with move_on_after(50):
        async with TaskGroup() as tg:
            with move_on_after(5):
                await tg.start(child)
    assert seen[0] <= 5 < 40 < seen[1] <= 50


@pytest.mark.anyio
async def test_guard_start_caller_deadline_passing_after_started_spares_grandchildren() -> None:
    log: list[str] = []

    async def grandchild() -> None:
        try:
            await sleep_forever()
        finally:
            log.append("grandchild")

    async def child(*, task_status: TaskStatus[None]) -> None:
        async with TaskGroup() as inner:
            inner.start_soon(grandchild)
            task_status.started()
            await sleep_forever()

    async with TaskGroup() as tg:
        with move_on_after(0.01) as caller:
            await tg.start(child)
            await sleep_forever()
        assert caller.cancelled_caught
        await wait_all_tasks_blocked()
        assert log == []
        tg.cancel_scope.cancel()
    assert log == ["grandchild"]


@pytest.mark.anyio
async def test_guard_started_by_a_grandchild_that_then_exits() -> None:
    log: list[object] = []

    async def grandchild(status: TaskStatus[str]) -> None:
        status.started("g")

    async def child(*, task_status: TaskStatus[str]) -> None:
        async with TaskGroup() as inner:
            inner.start_soon(grandchild, task_status)
        try:
            await sleep_forever()
        finally:
            log.append("child")

    with move_on_after(30) as outer:
        async with TaskGroup() as tg:
            log.append(await tg.start(child))
            await wait_all_tasks_blocked()
            tg.cancel_scope.cancel()
    assert log == ["g", "child"] and not outer.cancelled_caught


@pytest.mark.anyio
async def test_guard_started_twice_and_never() -> None:
    errors: list[str] = []

    async def twice(*, task_status: TaskStatus[int]) -> None:
        task_status.started(1)
        try:
            task_status.started(2)
        except RuntimeError as exc:
            errors.append(str(exc))

    async def never(*, task_status: TaskStatus[int]) -> None:
        pass

    async with TaskGroup() as tg:
        assert await tg.start(twice) == 1
    assert len(errors) == 1 and errors[0].startswith("unicancel:")
    with pytest.raises(BaseExceptionGroup) as info:
        async with TaskGroup() as tg:
            await tg.start(never)
    assert "without calling task_status.started()" in str(info.value.exceptions[0])


# -- bug 3: leaks with loops closed while tasks are inside ----------------------

_LONG_LIVED = StopSource()


def _closed_loop_scenario(kind: str) -> tuple[list[str], bool]:
    finals: list[str] = []
    refs: list[weakref.ref[Any]] = []

    async def child(*, task_status: TaskStatus[None]) -> None:
        await asyncio.Event().wait()

    async def owner() -> None:
        try:
            if kind == "move_on_when":
                with move_on_when(_LONG_LIVED.token):
                    await asyncio.Event().wait()
            elif kind == "start":
                # A native asyncio.TaskGroup closed by the GC logs the same
                # "Event loop is closed" as ours: not a finding.
                async with TaskGroup() as tg:
                    await tg.start(child)
            else:
                async with TaskGroup() as tg:
                    handle = tg.create_task(asyncio.sleep(3600))
                    await handle
        finally:
            finals.append(kind)

    async def main() -> None:
        refs.append(weakref.ref(asyncio.get_running_loop().create_task(owner())))
        for _ in range(5):
            await asyncio.sleep(0)

    loop = asyncio.new_event_loop()
    loop.run_until_complete(main())
    loop.close()
    del loop
    gc.collect()
    gc.collect()
    return finals, refs[0]() is None


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("kind", ["move_on_when", "start", "awaited child"])
def test_guard_closed_loop_collects_tasks(kind: str, caplog: pytest.LogCaptureFixture) -> None:
    finals, collected = _closed_loop_scenario(kind)
    assert finals == [kind] and collected


# -- bug 4: outside cancels around a failing group (asyncio) -------------------


def _failing_group_with_shielded_cleanup(fire: Callable[[], object]) -> Any:
    """A group whose child fails while a sibling's shielded cleanup runs; *fire*
    (the outside cancellation) is called inside that cleanup, and the cleanup
    goes on until the host task has seen it: no wall clock decides the order."""

    async def body() -> None:
        host = asyncio.current_task()  # under 3.11's wait_for: its inner task
        assert host is not None
        started = asyncio.Event()

        async def fails() -> None:
            await started.wait()
            raise ValueError("boom")

        async def cleanup() -> None:
            try:
                started.set()
                await asyncio.Event().wait()
            finally:
                with CancelScope(shield=True):
                    before = host.cancelling()
                    fire()
                    for _ in range(10_000):  # a wait_for timer: real time, bounded
                        if host.cancelling() > before:
                            break
                        await asyncio.sleep(0.001)
                    assert host.cancelling() > before, "the outside cancel never came"
                    await asyncio.sleep(0)

        async with TaskGroup() as tg:
            tg.start_soon(fails)
            tg.start_soon(cleanup)

    return body()


@pytest.mark.anyio
@pytest.mark.parametrize("outer", ["timeout", "wait_for", "task.cancel"])
async def test_guard_outside_cancel_around_failing_group(backend_name: str, outer: str) -> None:
    if backend_name != "asyncio":
        pytest.skip("asyncio's own cancellation tools")
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    with pytest.raises(ExceptionGroup):
        if outer == "timeout":
            async with asyncio.timeout(None) as cm:
                # A past deadline: the timeout cancels the task at the next iteration.
                await _failing_group_with_shielded_cleanup(lambda: cm.reschedule(loop.time() - 1))
        elif outer == "wait_for":
            # wait_for has no handle to move its deadline: a timer long enough that
            # the group fails first, however loaded the machine, and a cleanup that
            # waits for it (see the helper).
            await asyncio.wait_for(_failing_group_with_shielded_cleanup(lambda: None), 0.5)
        else:
            await _failing_group_with_shielded_cleanup(task.cancel)
    if outer == "task.cancel":
        assert task.cancelling() == 1
        with pytest.raises(asyncio.CancelledError):
            await asyncio.sleep(0)
        task.uncancel()
    else:  # the timeout consumed its own cancel: nothing may be re-delivered
        assert task.cancelling() == 0
        await asyncio.sleep(0.001)


# -- bug 6: threads --------------------------------------------------------------


@pytest.mark.anyio
async def test_guard_threadsafe_ways_are_allowed() -> None:
    with CancelScope() as scope:
        if backend() == "trio":
            import trio

            token = trio.lowlevel.current_trio_token()
            threading.Thread(target=token.run_sync_soon, args=(scope.cancel,)).start()
        else:
            loop = asyncio.get_running_loop()
            threading.Thread(target=loop.call_soon_threadsafe, args=(scope.cancel,)).start()
        await sleep_forever()
    assert scope.cancelled_caught


@pytest.mark.anyio
async def test_guard_signal_handler_in_the_loop_thread_may_cancel() -> None:
    with CancelScope() as scope:
        previous = signal.signal(signal.SIGUSR1, lambda *_: scope.cancel("signal"))
        try:
            os.kill(os.getpid(), signal.SIGUSR1)
            with move_on_after(5):
                await sleep_forever()
        finally:
            signal.signal(signal.SIGUSR1, previous)
    assert scope.cancelled_caught and scope.cancel_reason == "signal"


@pytest.mark.anyio
async def test_guard_scope_and_group_from_another_loops_thread_raise() -> None:
    answers: list[str] = []

    async def touch(scope: CancelScope, tg: TaskGroup) -> None:
        def start() -> None:
            tg.start_soon(unicancel.checkpoint)

        calls: list[Callable[[], None]] = [scope.cancel, start]
        for call in calls:
            try:
                call()
            except RuntimeError as exc:
                answers.append(str(exc))

    async with TaskGroup() as tg:
        with CancelScope() as scope:
            thread = threading.Thread(target=asyncio.run, args=(touch(scope, tg),))
            thread.start()
            thread.join()
        assert not scope.cancel_called
    assert len(answers) == 2 and all(a.startswith("unicancel:") for a in answers)


@pytest.mark.anyio
async def test_guard_unentered_scope_cancelled_from_a_thread() -> None:
    scope = CancelScope()
    thread = threading.Thread(target=scope.cancel)
    thread.start()
    thread.join()
    with scope:
        await unicancel.checkpoint()
        pytest.fail("cancel before entry was lost")  # pragma: no cover
    assert scope.cancelled_caught


# -- bad input that must keep working (trio accepts it too) ------------------------


class _FloatLike:
    def __float__(self) -> float:
        return 0.5


class _F(float):
    pass


@pytest.mark.anyio
@pytest.mark.parametrize(
    "value",
    [True, Fraction(1, 2), Decimal("1.5"), -0.0, _FloatLike(), _F(0.5)],
    ids=["True", "Fraction", "Decimal", "-0.0", "__float__", "float-subclass"],
)
async def test_guard_numbers_accepted_as_seconds(value: Any) -> None:
    with move_on_after(value) as scope:
        pass
    assert type(scope.deadline) is float
    with CancelScope() as scope:
        scope.deadline = value
    assert type(scope.deadline) is float


@pytest.mark.anyio
async def test_guard_nan_float_subclass_refused_by_setter() -> None:
    with CancelScope() as scope:
        with pytest.raises(ValueError, match=r"^unicancel: deadline must not be NaN"):
            scope.deadline = _F("nan")
    assert scope.deadline == math.inf


@pytest.mark.anyio
async def test_guard_start_soon_accepts_what_trio_accepts() -> None:
    ran: list[object] = []

    async def fn(x: object = "default") -> None:
        ran.append(x)

    class Obj:
        async def __call__(self) -> None:
            ran.append("obj")

    async with TaskGroup() as tg:
        tg.start_soon(functools.partial(fn, "partial"))
        tg.start_soon(Obj())
        tg.start_soon(lambda: fn("lambda"))
    assert sorted(map(str, ran)) == ["lambda", "obj", "partial"]


def test_guard_on_stop_callables_with_defaults_and_partials() -> None:
    calls: list[str] = []

    def with_default(x: str = "default") -> None:
        calls.append(x)

    def varargs(*args: object, **kwargs: object) -> None:
        calls.append("varargs")

    def needs(x: str) -> None:
        calls.append(x)

    source = StopSource()
    source.token.on_stop(with_default)
    source.token.on_stop(varargs)
    source.token.on_stop(functools.partial(needs, "partial"))
    with pytest.raises(TypeError, match=r"^unicancel: on_stop\(\)"):
        source.token.on_stop(needs)  # type: ignore[arg-type]

    async def later() -> None:
        pass  # pragma: no cover

    with pytest.raises(TypeError, match=r"^unicancel: on_stop\(\)"):
        source.token.on_stop(functools.partial(later))
    source.request_stop()
    assert sorted(calls) == ["default", "partial", "varargs"]


# -- bug 5 guards: user-held exceptions and other shapes -----------------------------


async def _except_star_after_a_checkpoint() -> None:
    async def bad() -> None:
        await sleep(0)
        raise ValueError("boom")

    try:
        async with TaskGroup() as tg:
            tg.start_soon(bad)
    except* ValueError:
        pass


async def _nested_scopes_cancelled_through_shield() -> None:
    with CancelScope() as a:
        with CancelScope():
            with CancelScope(shield=True):
                a.cancel()
            await unicancel.checkpoint()


async def _fail_after_caught() -> None:
    try:
        with unicancel.fail_after(0):
            await sleep_forever()
    except TimeoutError:
        pass


async def _event_and_to_thread_cancelled() -> None:
    with move_on_after(0):
        await unicancel.Event().wait()
    with move_on_after(0):
        await unicancel.to_thread(time.sleep, 0.001)


async def _keyboard_interrupt_group() -> None:
    async def interrupt() -> None:
        raise KeyboardInterrupt

    try:
        async with TaskGroup() as tg:
            tg.start_soon(interrupt)
            tg.start_soon(sleep_forever)
    except* KeyboardInterrupt:
        pass


_GUARD_SCENARIOS = {
    "except* after a checkpoint": _except_star_after_a_checkpoint,
    "nested scopes through a shield": _nested_scopes_cancelled_through_shield,
    "fail_after caught": _fail_after_caught,
    "Event and to_thread cancelled": _event_and_to_thread_cancelled,
    "KeyboardInterrupt group": _keyboard_interrupt_group,
}


@pytest.mark.anyio
@pytest.mark.parametrize("name", _GUARD_SCENARIOS)
async def test_guard_no_cyclic_garbage(name: str) -> None:
    scenario = _GUARD_SCENARIOS[name]
    await scenario()
    with no_cyclic_garbage(is_unicancel_object):
        await scenario()
        await wait_all_tasks_blocked()


@pytest.mark.anyio
async def test_guard_start_without_await_before_started_moves_nested_groups() -> None:
    """No await before started() (eager tasks run it all inside start()),
    two nested groups, a grandchild started after started(): the caller's
    cancel reaches none of them; the destination's cancel reaches all."""
    log: list[str] = []

    async def grandchild(name: str) -> None:
        try:
            await sleep_forever()
        finally:
            log.append(name)

    async def child(*, task_status: TaskStatus[None]) -> None:
        async with TaskGroup() as inner:
            inner.start_soon(grandchild, "g1")
            async with TaskGroup() as inner2:
                inner2.start_soon(grandchild, "g2")
                task_status.started()
                inner2.start_soon(grandchild, "g3")
                await sleep_forever()

    async def owner(*, task_status: TaskStatus[TaskGroup]) -> None:
        async with TaskGroup() as target:
            task_status.started(target)
            await sleep_forever()

    async with TaskGroup() as outer:
        target = await outer.start(owner)
        with CancelScope() as caller:
            await target.start(child)
            caller.cancel()
        await wait_all_tasks_blocked()
        assert log == []
        with move_on_after(30) as guard:
            target.cancel_scope.cancel()
            outer.cancel_scope.cancel()
    assert sorted(log) == ["g1", "g2", "g3"] and not guard.cancelled_caught
