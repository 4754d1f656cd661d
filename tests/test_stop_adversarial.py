"""Adversarial review of stop tokens (issue 4): each test whose docstring
starts with "Bug:" failed before the fix it names; the others pin rules that
held up under attack (races at every bytecode, re-entrant callbacks, deep and
diamond-shaped links, bound scopes after exit)."""

from __future__ import annotations

import asyncio
import gc
import signal
import sys
import threading
from collections.abc import Callable
from functools import partial
from types import FrameType
from typing import Any

import pytest

import unicancel._stop._callbacks as callbacks_module
import unicancel._stop._state as state_module
import unicancel._stop._token as stop_module
from unicancel import (
    GracefulShutdown,
    StopRegistration,
    StopRequested,
    StopSource,
    StopToken,
    checkpoint,
    fail_when,
    move_on_when,
)

from ._helpers import sleep_forever, wait_all_tasks_blocked

DEPTH = 1000


# -- links: deep chains and diamonds ------------------------------------------------------


def test_deep_chain_of_linked_sources_stops_without_recursion() -> None:
    """Bug: a stop propagated to children by recursion (~4 frames a level),
    so stopping the root of a 1,000-level chain hit RecursionError, raised
    as 1,000 nested "stop callbacks raised" groups, and the leaf never
    stopped. Fix: drain() walks linked children with an explicit stack."""
    sources = [StopSource()]
    for _ in range(DEPTH):
        sources.append(StopSource(sources[-1].token))
    order: list[str] = []
    sources[1].token.on_stop(lambda: order.append("level 1"))
    sources[-1].token.on_stop(lambda: order.append("leaf"))
    sources[0].token.on_stop(lambda: order.append("root, newest"))
    assert sources[0].request_stop("root") is True
    assert all(source.token.reason == "root" for source in sources)
    # Depth first, newest first per token, as with the recursion: each link
    # is older than the callbacks registered after the child was created.
    assert order == ["root, newest", "level 1", "leaf"]
    assert all(not source._state.regs for source in sources)


def test_errors_from_deep_in_a_chain_reach_the_root_in_one_flat_group() -> None:
    """Bug (same root cause): an error 1,000 levels down needed the same
    recursion; now it is reported in the root's group with the others, and
    the links between tokens are not counted as callbacks."""
    sources = [StopSource()]
    for _ in range(DEPTH):
        sources.append(StopSource(sources[-1].token))

    def fail() -> None:
        raise ValueError("at the leaf")

    sources[-1].token.on_stop(fail)
    with pytest.raises(ExceptionGroup) as info:
        sources[0].request_stop()
    assert info.value.message == "unicancel: 1 of 1 stop callbacks raised; every callback ran"
    assert [str(e) for e in info.value.exceptions] == ["at the leaf"]
    assert sources[-1].token.stop_requested


@pytest.mark.anyio
async def test_deadline_and_stop_possible_of_a_deep_chain() -> None:
    """Bug: token.deadline and token.stop_possible walked the parents by
    recursion: RecursionError on a 1,000-level chain (whose middle sources
    were dropped, as a chain of request -> step -> sub-step tokens is)."""
    root = StopSource()
    root.stop_after(3600)
    token = root.token
    for _ in range(DEPTH):
        token = StopSource(token).token  # only the token is kept
    gc.collect()
    assert token.deadline == root.token.deadline
    assert token.stop_possible
    root.close()
    assert not token.stop_possible


def test_diamond_lattice_is_walked_once_per_source() -> None:
    """Bug: exponential time. Each level's two sources linked to both of the
    level above: token.deadline visited 2**depth paths (40 levels: hours).
    Fix: walk the ancestors once, with a visited set. Counted in calls into
    the state module, not in seconds."""
    a = b = StopSource().token
    keep: list[StopSource] = []
    for _ in range(16):
        left, right = StopSource(a, b), StopSource(a, b)
        keep += [left, right]
        a, b = left.token, right.token
    calls = 0

    def profile(frame: FrameType, event: str, arg: object) -> None:
        nonlocal calls
        if event == "call" and frame.f_code.co_filename == state_module.__file__:
            calls += 1

    sys.setprofile(profile)
    try:
        _ = a.deadline
        _ = a.stop_possible
    finally:
        sys.setprofile(None)
    assert calls < 100, calls  # 2**16 calls each before


# -- re-entrant callbacks -------------------------------------------------------------------


def test_callbacks_that_cancel_register_and_stop_a_linked_child() -> None:
    """Held up: cancel() of itself from inside returns True at once; a
    callback registered from a callback runs at once; a parent's callback
    that stops a linked child (before the link reached it) keeps its own
    reason for the child, and each callback runs once."""
    parent = StopSource()
    child = StopSource(parent.token)
    runs: dict[str, int] = {}
    regs: dict[str, StopRegistration] = {}
    seen: dict[str, object] = {}

    def count(name: str) -> None:
        runs[name] = runs.get(name, 0) + 1

    child.token.on_stop(lambda: count("child"))

    def first() -> None:
        count("first")
        seen["self cancel"] = regs["first"].cancel()
        regs["inner"] = parent.token.on_stop(lambda: count("inner"))
        seen["inner ran at once"] = runs.get("inner") == 1
        seen["child first"] = child.request_stop("from a callback")

    regs["first"] = parent.token.on_stop(first)  # newer than the link: runs first
    parent.request_stop("parent")
    assert seen == {"self cancel": True, "inner ran at once": True, "child first": True}
    assert runs == {"first": 1, "inner": 1, "child": 1}
    assert child.token.reason == "from a callback"
    assert not parent._state.regs and not child._state.regs


# -- a "signal handler" at every bytecode of linking, closing and arming ------------------

_TRACED = {stop_module.__file__, callbacks_module.__file__, state_module.__file__}


class _Interrupter:
    """Calls *handler* once, as a signal handler would: between two
    bytecodes of the stop code this thread runs, at the *at*-th one."""

    def __init__(self, at: int, handler: Callable[[], object]) -> None:
        self.at = at
        self.count = 0
        self.fired = False
        self.handler = handler

    def __call__(self, frame: FrameType, event: str, arg: object) -> Any:
        if event == "call" and frame.f_code.co_filename not in _TRACED:
            return None
        frame.f_trace_opcodes = True
        if event in ("line", "opcode"):
            self.count += 1
            if self.count == self.at and not self.fired:
                self.fired = True
                self.handler()
        return self


def _traced(interrupter: _Interrupter, fn: Callable[[], object]) -> None:
    previous = sys.gettrace()
    sys.settrace(interrupter)
    try:
        fn()
    finally:
        sys.settrace(previous)


def _link_interrupted(at: int, action: str) -> bool:
    parent = StopSource()
    runs: dict[str, int] = {}
    holder: dict[str, StopSource] = {}

    def handler() -> None:
        if action == "parent stops":
            parent.request_stop("handler")
        elif "child" in holder:
            holder["child"].close()

    def scenario() -> None:
        child = holder["child"] = StopSource(parent.token)
        child.token.on_stop(lambda: runs.__setitem__("child", runs.get("child", 0) + 1))
        child.close() if action == "parent stops" else parent.request_stop("main")

    interrupter = _Interrupter(at, handler)
    _traced(interrupter, scenario)
    child = holder["child"]
    # The child is either stopped (its callback ran once) or closed (never).
    assert runs.get("child", 0) == (1 if child.token.stop_requested else 0), (at, runs)
    assert not parent._state.regs, at  # no registration left with the parent
    assert child._state.parents == () and not child._state.links
    return interrupter.fired


@pytest.mark.parametrize("action", ["parent stops", "child closes"])
def test_linking_and_closing_interrupted_at_every_bytecode(action: str) -> None:
    """Held up: a parent's stop (or the child's close()) from a handler that
    interrupts creating a linked child, registering on it and closing it (or
    stopping the parent), at each bytecode of the state code (which the
    signal test of test_stop_threads.py does not trace)."""
    at = 1
    while _link_interrupted(at, action):
        at += 1
    assert at > 50


@pytest.mark.anyio
@pytest.mark.parametrize("action", ["request_stop", "close"])
async def test_arming_a_deadline_interrupted_by_a_stop_or_close(action: str) -> None:
    """Bug: stop_after() checked "not stopped" first and armed the timer at
    the end: a request_stop()/close() from a signal handler (or another
    thread) in between released nothing, so a stopped token kept an armed
    timer (and the loop kept it until the deadline), and a closed token
    reported the deadline instead of inf. Fix: _arm() checks again after
    publishing the timer and undoes it."""
    at = 1
    while True:
        source = StopSource()
        interrupter = _Interrupter(at, source.close)
        if action == "request_stop":
            interrupter.handler = source.request_stop
        _traced(interrupter, partial(source.stop_after, 3600))
        if not interrupter.fired:
            break
        state = source._state
        assert state.box, at
        assert state.timer is None, at
        if action == "close":
            assert source.token.deadline == float("inf"), at
            assert not source.token.stop_possible, at
        at += 1
    assert at > 10


# -- timers and finished loops -----------------------------------------------------------


def _run_on(anyio_backend: Any, main: Callable[[], Any]) -> None:
    """Run *main* on a fresh loop of the fixture's backend, to completion."""
    name, options = anyio_backend
    if name == "trio":
        import trio

        trio.run(main)
    else:
        with asyncio.Runner(loop_factory=options.get("loop_factory")) as runner:
            runner.run(main())


def test_a_timer_whose_loop_has_finished_does_not_keep_the_token_possible(
    anyio_backend: Any,
) -> None:
    """Bug: a deadline armed on a loop that then finished can never fire,
    but the token kept saying stop_possible (its source gone), forever.
    Fix: Timer.finished(); an armed deadline only counts while its loop
    lives."""
    sources = [StopSource()]
    token = sources[0].token

    async def main() -> None:
        sources[0].stop_after(3600)
        assert token.stop_possible

    _run_on(anyio_backend, main)
    sources.clear()  # only the token is left, and its dead timer
    gc.collect()
    assert not token.stop_possible


# -- bound scopes ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_stop_after_the_scope_exited_cancels_nothing_later() -> None:
    """Held up: a stop requested while the hop to the loop is pending, after
    the bound scope was left, touches neither that scope nor the code after
    it, and leaves no binding or registration behind."""
    source = StopSource()
    with move_on_when(source.token) as scope:
        await checkpoint()
        source.request_stop("late")  # the hop is queued; the block ends first
    assert not scope.cancel_called
    await wait_all_tasks_blocked()  # the hop runs now
    await checkpoint()  # not cancelled
    assert not scope.cancel_called
    assert not source._state.bindings and not source._state.regs


@pytest.mark.anyio
async def test_stop_from_another_thread_while_the_loop_is_busy() -> None:
    """Held up: the loop thread is blocked (no await) while another thread
    stops the token; the next await in the bound scope is cancelled, with
    the reason, and fail_when raises StopRequested."""
    source = StopSource()
    done = threading.Event()

    def stopper() -> None:
        source.request_stop("from a thread")
        done.set()

    with pytest.raises(StopRequested) as info:
        with fail_when(source.token) as scope:
            thread = threading.Thread(target=stopper)
            thread.start()
            done.wait()  # the loop is busy: blocked in this thread
            thread.join()
            assert not scope.cancel_called  # reaches the scope through the loop
            await sleep_forever()
    assert info.value.reason == "from a thread" == scope.cancel_reason
    assert not source._state.bindings and not source._state.regs


@pytest.mark.anyio
async def test_fail_when_does_not_blame_the_token_for_an_outer_cancel() -> None:
    """Held up: cancelled from outside, fail_when lets the cancellation pass
    and raises no StopRequested; a closed token never cancels."""
    from unicancel import CancelScope

    source = StopSource()
    with CancelScope() as outer:
        with fail_when(source.token):
            outer.cancel("outer")
            await sleep_forever()
    assert outer.cancelled_caught
    source.close()
    with fail_when(source.token) as scope:
        await checkpoint()
    assert not scope.cancel_called
    with fail_when(StopToken()) as scope:
        await checkpoint()
    assert not scope.cancel_called


# -- graceful shutdown ----------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
async def test_shutdown_restores_handlers_when_a_signal_cannot_be_handled() -> None:
    """Bug: __aenter__ installed the handlers one by one; when one could not
    be installed (SIGKILL: OSError) it raised with the handlers before it
    left installed for good (and its cancel scope entered, never exited).
    Fix: undo both on the way out of __aenter__. (The constructor now refuses
    SIGKILL; the undo path stays for any failure, so it is reached here by
    handing SIGKILL past the constructor's check.)"""
    previous = signal.getsignal(signal.SIGUSR1)
    shutdown = GracefulShutdown(signals=(signal.SIGUSR1,))
    shutdown._signals = (signal.SIGUSR1, signal.SIGKILL)
    with pytest.raises(OSError, match="Invalid argument"):
        async with shutdown:
            pytest.fail("entered")  # pragma: no cover
    assert signal.getsignal(signal.SIGUSR1) is previous
    assert not shutdown.token.stop_possible
    with move_on_when(StopToken()):  # the scope stack is intact
        await checkpoint()
