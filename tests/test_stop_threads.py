"""Stop tokens across threads and signal handlers: the unregistration rule
(C++ ``stop_callback``), a stress test, and a stop requested from a signal
handler at every bytecode of the code it interrupts."""

from __future__ import annotations

import gc
import random
import sys
import threading
import time
import weakref
from collections.abc import Callable
from types import FrameType
from typing import Any

import pytest

import unicancel._stop._callbacks as callbacks_module
import unicancel._stop._token as stop_module
from unicancel import StopRegistration, StopSource, move_on_when


def _wait_until(predicate: Callable[[], bool]) -> None:
    """Spin until *predicate* holds (a state to reach, not a time to wait)."""
    while not predicate():
        time.sleep(0.0005)


def test_cancel_waits_while_the_callback_runs_in_another_thread() -> None:
    """C++ rule: unregistering blocks until a callback running on another
    thread has returned, so the caller may free what it uses."""
    source = StopSource()
    started, release = threading.Event(), threading.Event()
    finished: list[bool] = []

    def callback() -> None:
        started.set()
        release.wait()
        finished.append(True)

    registration = source.token.on_stop(callback)
    stopper = threading.Thread(target=source.request_stop)
    stopper.start()
    started.wait()
    seen: dict[str, bool] = {}

    def unregister() -> None:
        seen["ran"] = registration.cancel()
        seen["finished"] = bool(finished)

    canceller = threading.Thread(target=unregister)
    canceller.start()
    _wait_until(lambda: registration._waiting)  # it is inside cancel(), waiting
    assert canceller.is_alive()
    release.set()
    canceller.join()
    stopper.join()
    assert seen == {"ran": True, "finished": True}


def test_a_callback_can_unregister_one_that_has_not_run_yet() -> None:
    """Callbacks run newest first: the newer one cancels the older one,
    which has not run (cancel() returns False) and then never runs."""
    source = StopSource()
    answers: list[str] = []
    older = source.token.on_stop(lambda: answers.append("older ran"))
    source.token.on_stop(lambda: answers.append(f"cancel -> {older.cancel()}"))
    source.request_stop()
    assert answers == ["cancel -> False"]


def test_stress_eight_threads_request_and_register_and_unregister() -> None:
    """8 threads race request_stop(), on_stop() and cancel() on shared
    sources, 100,000 operations in all: every callback runs exactly once
    unless cancel() returned False, cancel() returns only after the callback
    finished, nothing deadlocks, and nothing stays registered."""
    n_threads, ops, n_sources = 8, 100_000, 2_000
    per_thread = ops // n_threads
    sources = [StopSource() for _ in range(n_sources)]
    # (runs of the callback, what cancel() returned or None, runs when it returned)
    records: list[list[tuple[list[int], bool | None, int]]] = [[] for _ in range(n_threads)]
    # Callbacks that ran in another thread than the one registering them.
    foreign: list[int] = []
    errors: list[BaseException] = []

    def worker(tid: int) -> None:
        rng = random.Random(tid)
        mine = records[tid]
        try:
            for j in range(per_thread):
                source = sources[j * n_sources // per_thread]
                roll = rng.random()
                if roll < 0.05:
                    source.request_stop(f"thread {tid}")
                    continue
                runs: list[int] = []
                holder: list[StopRegistration] = []
                if roll < 0.15:
                    # Unregisters itself from inside (when it already has its
                    # registration): must not wait for itself.
                    def callback(runs: list[int] = runs, holder: list[Any] = holder) -> None:
                        runs.append(1)
                        if holder:
                            assert holder[0].cancel() is True

                    registration = source.token.on_stop(callback)
                else:

                    def plain(runs: list[int] = runs, tid: int = tid) -> None:
                        runs.append(1)
                        current = threading.current_thread()
                        if current is not threads[tid] and current in threads:
                            foreign.append(1)

                    registration = source.token.on_stop(plain)
                holder.append(registration)
                if roll < 0.6:
                    ran = registration.cancel()
                    mine.append((runs, ran, len(runs)))
                else:
                    mine.append((runs, None, -1))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often: more interleavings
    try:
        threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in threads), "deadlock"
    finally:
        sys.setswitchinterval(interval)
    assert not errors, errors
    for source in sources:
        source.request_stop("end")
    checked = 0
    for runs, ran, at_return in (record for mine in records for record in mine):
        checked += 1
        if ran is None:  # left registered: the final stop ran it
            assert runs == [1]
        elif ran:
            assert at_return == 1  # cancel() returned after the callback ran
            assert runs == [1]
        else:
            assert runs == []  # and never afterwards
    assert checked > ops * 0.9
    outcomes = [ran for mine in records for _, ran, _ in mine]
    assert outcomes.count(True) and outcomes.count(False)  # both sides of the race
    assert foreign  # callbacks really ran in other threads than their registrar
    assert all(not source._state.regs for source in sources)  # no leak


def test_stopping_in_a_collected_linked_child_while_the_parent_stops() -> None:
    """A child dropped while its parent stops in another thread: its weak
    link is either followed or forgotten, never crashes."""
    for _ in range(200):
        parent = StopSource()
        children = [StopSource(parent.token) for _ in range(20)]
        thread = threading.Thread(target=parent.request_stop)
        thread.start()
        del children  # freed at once (no cycles): their weak links die
        thread.join()
        assert not parent._state.regs


def test_one_token_wakes_bound_scopes_on_loops_in_other_threads() -> None:
    """An asyncio loop and a trio run, each in its own thread, each with a
    scope bound to the same token and a wait(); a third thread stops it."""
    import asyncio

    import trio

    source = StopSource()
    bound = {"asyncio": threading.Event(), "trio": threading.Event()}
    results: dict[str, tuple[str | None, str | None]] = {}

    async def body(name: str, sleep_forever: Callable[[], Any]) -> None:
        with move_on_when(source.token) as scope:
            bound[name].set()
            await sleep_forever()
        await source.token.wait()
        results[name] = (scope.cancel_reason, source.token.reason)

    runners = [
        threading.Thread(
            target=asyncio.run, args=(body("asyncio", lambda: asyncio.Event().wait()),)
        ),
        threading.Thread(target=trio.run, args=(body, "trio", trio.sleep_forever)),
    ]
    for runner in runners:
        runner.start()
    for event in bound.values():
        assert event.wait(timeout=30)
    stopper = threading.Thread(target=source.request_stop, args=("from a third thread",))
    stopper.start()
    for thread in (*runners, stopper):
        thread.join(timeout=30)
        assert not thread.is_alive()
    expected = ("from a third thread", "from a third thread")
    assert results == {"asyncio": expected, "trio": expected}
    assert not source._state.bindings
    assert not source._state.regs


# -- a stop requested from a "signal handler" at every bytecode --------------------------

_TRACED = {stop_module.__file__, callbacks_module.__file__}


class _Interrupter:
    """Runs *handler* once, as a signal handler would: between two bytecodes
    of whatever unicancel stop code the thread runs, at the *at*-th one."""

    def __init__(self, at: int, handler: Callable[[], None]) -> None:
        self.at = at
        self.count = 0
        self.fired = False
        self.handler = handler

    def __call__(self, frame: FrameType, event: str, arg: object) -> Any:
        if event == "call" and frame.f_code.co_filename not in _TRACED:
            return None
        # Set again at 'line': 3.12 and 3.13 ignore it when set at 'call'
        # (and 3.12.1 sends no opcode events at all: lines only, then).
        frame.f_trace_opcodes = True
        if event in ("line", "opcode"):
            self.count += 1
            if self.count == self.at and not self.fired:
                self.fired = True
                self.handler()  # tracing is off while a trace function runs
        return self


def _run_interrupted(scenario: Callable[[], None]) -> None:
    """Run *scenario* in a thread (a deadlock fails the test instead of hanging)."""
    failure: list[BaseException] = []

    def target() -> None:
        try:
            scenario()
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout=10)
    assert not thread.is_alive(), "deadlock"
    if failure:
        raise failure[0]


def _interrupt_at(at: int, handler_action: str) -> bool:
    """Run the scenario with the handler interrupting at point *at*; check
    the outcome; return whether point *at* exists (the handler ran)."""
    source = StopSource()
    runs: dict[str, int] = {}
    regs: dict[str, StopRegistration] = {}
    cancelled: dict[str, bool] = {}

    def callback(name: str) -> Callable[[], None]:
        return lambda: runs.__setitem__(name, runs.get(name, 0) + 1)

    def handler() -> None:
        if handler_action == "request_stop":
            source.request_stop("signal")
        elif handler_action == "cancel" and "b" in regs:
            cancelled["b"] = regs["b"].cancel()
        elif handler_action == "on_stop":
            regs["h"] = source.token.on_stop(callback("h"))

    interrupter = _Interrupter(at, handler)

    def scenario() -> None:
        sys.settrace(interrupter)
        try:
            regs["a"] = source.token.on_stop(callback("a"))
            regs["b"] = source.token.on_stop(callback("b"))
            cancelled["a"] = regs["a"].cancel()
            source.request_stop("main")
            regs["c"] = source.token.on_stop(callback("c"))
        finally:
            sys.settrace(None)

    _run_interrupted(scenario)
    assert source.token.stop_requested
    for name in regs:
        expected = 0 if cancelled.get(name) is False else 1
        assert runs.get(name, 0) == expected, (at, name, runs, cancelled)
    assert not source._state.regs
    return interrupter.fired


@pytest.mark.parametrize("handler_action", ["request_stop", "cancel", "on_stop"])
def test_signal_handler_interrupting_any_bytecode(handler_action: str) -> None:
    """request_stop(), on_stop() and cancel() from a handler that interrupts
    registering, unregistering or stopping, at each of their bytecodes (each
    line on 3.12.1, which sends no opcode events): no deadlock, and every
    callback runs exactly once unless it was cancelled before it ran."""
    at = 1
    while _interrupt_at(at, handler_action):
        at += 1
    assert at > 50  # the scenario really has that many interruption points


def test_weakref_to_a_stopped_sources_callback_dies() -> None:
    class Payload:
        def __call__(self) -> None:
            pass

    source = StopSource()
    payload = Payload()
    ref = weakref.ref(payload)
    source.token.on_stop(payload)
    del payload
    source.request_stop()
    gc.collect()
    assert ref() is None
