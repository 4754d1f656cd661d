"""GracefulShutdown and run_graceful: a signal requests a stop, a grace
period later (or at a second signal) the block is cancelled and what had not
finished is reported. In-process tests raise SIGUSR1 (the previous handler is
restored, and checked); run_graceful is run in subprocesses that get real
SIGINT/SIGTERM from outside."""

from __future__ import annotations

import asyncio
import functools
import math
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import threading
import traceback
from pathlib import Path
from typing import Any

import pytest

from unicancel import (
    ForcedShutdown,
    GracefulShutdown,
    StopToken,
    TaskGroup,
    current_time,
    run_graceful,
)

from ._helpers import backend, sleep_forever, wait_all_tasks_blocked
from .differential.clocks import VirtualClockLoop, trio_clock

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(sys.platform == "win32", reason="SIGUSR1 and os.kill signals are POSIX"),
]

SIG = signal.SIGUSR1


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    """Virtual clocks: grace periods pass without waiting."""
    if request.param == "trio":
        return ("trio", {"clock": trio_clock()})
    return ("asyncio", {"loop_factory": VirtualClockLoop})


@pytest.fixture
def previous_handler() -> Any:
    """The SIGUSR1 handler before the test; the test must leave it in place."""
    previous = signal.getsignal(SIG)
    yield previous
    assert signal.getsignal(SIG) is previous, "the handler was not restored"


async def stubborn() -> None:
    """Never looks at the token; waits on a native primitive, so that the
    report points at this function."""
    if backend() == "trio":
        import trio

        await trio.sleep_forever()
    else:
        await asyncio.Event().wait()


async def test_a_block_that_stops_in_time_leaves_normally(previous_handler: Any) -> None:
    async with GracefulShutdown(grace=5, signals=[SIG]) as token:
        assert signal.getsignal(SIG) is not previous_handler
        async with TaskGroup() as tg:
            tg.start_soon(token.wait)
            await wait_all_tasks_blocked()
            signal.raise_signal(SIG)
    assert token.stop_requested
    assert token.reason == "SIGUSR1 received"


async def test_after_the_grace_period_the_block_is_cancelled_and_reported(
    previous_handler: Any,
) -> None:
    start = current_time()
    with pytest.raises(ForcedShutdown) as info:
        async with GracefulShutdown(grace=5, signals=[SIG]) as token:
            async with TaskGroup() as tg:
                tg.start_soon(stubborn, name="stubborn")
                await wait_all_tasks_blocked()
                signal.raise_signal(SIG)
                await token.wait()
    assert current_time() - start >= 5
    error = info.value
    assert error.why == "the grace period of 5 s expired"
    assert error.stop_reason == "SIGUSR1 received"
    stubborn_lines = [line for line in error.unfinished if line.startswith("stubborn() at ")]
    assert len(stubborn_lines) == 1
    assert stubborn_lines[0].startswith(f"stubborn() at {__file__}:")
    assert stubborn_lines[0].endswith("stubborn')")  # the task's name (trio: qualified)
    assert len(error.unfinished) >= 2  # the task running the block, and the child
    message = str(error)
    assert message.startswith(
        "unicancel: graceful shutdown forced: the grace period of 5 s expired after the "
        "stop request (SIGUSR1 received); these had not finished and were cancelled:"
    )
    assert stubborn_lines[0] in message
    assert isinstance(error.__cause__, BaseException)  # the cancellation


async def test_the_report_names_children_after_their_function() -> None:
    """README: "stubborn() at shutdown.py:22 (task 'stubborn')" on both backends
    (asyncio alone named it 'Task-N', trio '<module>.stubborn'); a child that is
    library code all the way down is reported at the library call (sleep()),
    not at unicancel's internal child wrapper (it was _child() on asyncio)."""
    shutdown = GracefulShutdown(grace=1, signals=())
    with pytest.raises(ForcedShutdown) as info:
        async with shutdown:
            async with TaskGroup() as tg:
                tg.start_soon(stubborn)
                if backend() == "trio":
                    import trio

                    tg.start_soon(functools.partial(trio.sleep, 3600))
                else:
                    tg.start_soon(functools.partial(asyncio.sleep, 3600))
                await wait_all_tasks_blocked()
                shutdown.request_stop()
                await sleep_forever()
    lines = info.value.unfinished
    assert [li for li in lines if li.startswith("stubborn() at ")] == [
        li for li in lines if li.endswith("(task 'stubborn')")
    ]
    assert len([li for li in lines if li.endswith("(task 'stubborn')")]) == 1
    (sleeper,) = [li for li in lines if li.endswith("(task 'sleep')")]
    assert sleeper.startswith("sleep() at ")
    assert not [li for li in lines if "unicancel" in li.split(" (task ")[0]], lines


def test_forced_shutdown_is_shown_as_unicancel_forced_shutdown() -> None:
    error = ForcedShutdown("the grace period of 1 s expired", "deploy", ())
    text = "".join(traceback.format_exception_only(error))
    assert text.startswith("unicancel.ForcedShutdown: unicancel: graceful shutdown forced")
    assert pickle.loads(pickle.dumps(ForcedShutdown)) is ForcedShutdown


async def test_children_are_named_after_their_function() -> None:
    names: list[str] = []

    def this_task() -> str:
        if backend() == "trio":
            import trio

            return trio.lowlevel.current_task().name
        task = asyncio.current_task()
        assert task is not None
        return task.get_name()

    async def worker() -> None:
        names.append(this_task())

    async def starter(*, task_status: Any) -> None:
        names.append(this_task())
        task_status.started()

    async with TaskGroup() as tg:
        tg.start_soon(worker)
        tg.start_soon(functools.partial(worker))
        tg.start_soon(worker, name="given")
        await tg.start(starter)
        tg.create_task(worker())
    where = "test_children_are_named_after_their_function.<locals>."
    assert sorted(names) == sorted(
        [f"{where}worker", f"{where}worker", "given", f"{where}starter", f"{where}worker"]
    )


async def test_a_second_signal_forces_at_once(previous_handler: Any) -> None:
    start = current_time()
    with pytest.raises(ForcedShutdown, match="a second SIGUSR1 arrived") as info:
        async with GracefulShutdown(grace=math.inf, signals=[SIG]) as token:
            async with TaskGroup() as tg:
                tg.start_soon(stubborn, name="stubborn")
                await wait_all_tasks_blocked()
                signal.raise_signal(SIG)
                await token.wait()
                signal.raise_signal(SIG)
                # Restored at once: a third signal acts as without us.
                assert signal.getsignal(SIG) is previous_handler
                await sleep_forever()
    assert info.value.why == "a second SIGUSR1 arrived"
    assert current_time() - start < 1


async def test_request_stop_starts_the_grace_period_too() -> None:
    shutdown = GracefulShutdown(grace=2, signals=())
    with pytest.raises(ForcedShutdown) as info:
        async with shutdown as token:
            assert token is shutdown.token
            assert shutdown.request_stop("deploy") is True
            assert shutdown.request_stop("again") is False
            await sleep_forever()
    assert info.value.stop_reason == "deploy"


async def test_an_error_in_the_forced_block_keeps_its_type_and_gets_the_report() -> None:
    class CleanupError(Exception):
        pass

    async def fails_when_cancelled() -> None:
        try:
            await sleep_forever()
        finally:
            raise CleanupError("cleanup failed")

    shutdown = GracefulShutdown(grace=1, signals=())
    with pytest.raises(ExceptionGroup) as info:
        async with shutdown:
            async with TaskGroup() as tg:
                tg.start_soon(fails_when_cancelled, name="fails")
                await wait_all_tasks_blocked()
                shutdown.request_stop()
                await sleep_forever()
    assert info.group_contains(CleanupError)
    notes = getattr(info.value, "__notes__", [])
    assert any(note.startswith("unicancel: graceful shutdown forced") for note in notes)


async def test_handlers_are_restored_when_the_block_raises(previous_handler: Any) -> None:
    with pytest.raises(ZeroDivisionError):
        async with GracefulShutdown(signals=[SIG]):
            assert signal.getsignal(SIG) is not previous_handler
            1 / 0  # noqa: B018


async def test_a_shutdown_object_is_single_use() -> None:
    shutdown = GracefulShutdown(signals=())
    async with shutdown:
        pass
    with pytest.raises(RuntimeError, match="already been used; create a new one"):
        async with shutdown:
            pass  # pragma: no cover


def test_signal_handlers_need_the_main_thread() -> None:
    errors: list[BaseException] = []

    async def main() -> None:
        async with GracefulShutdown():
            pass  # pragma: no cover

    def in_thread() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=in_thread)
    thread.start()
    thread.join()
    assert len(errors) == 1
    assert isinstance(errors[0], RuntimeError)
    assert "only in the main thread" in str(errors[0])
    assert "signals=()" in str(errors[0])


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="grace must be non-negative"):
        GracefulShutdown(grace=-1)
    with pytest.raises(ValueError, match="signals must be signal numbers"):
        GracefulShutdown(signals=[12345])
    with pytest.raises(TypeError, match="reason must be a str"):
        GracefulShutdown().request_stop(3)  # type: ignore[arg-type]


# -- run_graceful in a subprocess, with real signals from outside -----------------------

_CHILD = textwrap.dedent(
    """
    import signal
    import sys

    import unicancel

    backend, mode = sys.argv[1], sys.argv[2]
    # What this process started with: a shell's background job inherits SIGINT
    # ignored, so the defaults are not a given.
    initial = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))


    async def stubborn() -> None:
        if backend == "trio":
            import trio

            await trio.sleep_forever()
        else:
            import asyncio

            await asyncio.Event().wait()


    async def main(token: unicancel.StopToken) -> int:
        async with unicancel.TaskGroup() as tg:
            if mode == "stubborn":
                tg.start_soon(stubborn, name="stubborn-worker")
            print("ready", flush=True)
            await token.wait()
            print("stop requested:", token.reason, flush=True)
        return 42


    try:
        result = unicancel.run_graceful(main, backend=backend, grace=60)
    except unicancel.ForcedShutdown as exc:
        print("forced:", exc.why)
        print("\\n".join(exc.unfinished))
        sys.exit(3)
    restored = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == initial
    print("result:", result, "handlers restored:", restored)
    """
)


_CHILDREN: list[subprocess.Popen[str]] = []


@pytest.fixture(autouse=True)
def _no_child_left() -> Any:
    """A failing subprocess test must not leave its child running (its pipes
    and Popen object would then fail a later test with ResourceWarnings)."""
    yield
    while _CHILDREN:
        proc = _CHILDREN.pop()
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def _spawn(tmp_path: Path, backend: str, mode: str) -> subprocess.Popen[str]:
    script = tmp_path / "child.py"
    script.write_text(_CHILD, encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, str(script), backend, mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _CHILDREN.append(proc)
    assert proc.stdout is not None
    assert proc.stdout.readline() == "ready\n"
    return proc


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_run_graceful_stops_on_a_real_signal(
    tmp_path: Path, backend: str, signum: signal.Signals
) -> None:
    proc = _spawn(tmp_path, backend, "cooperative")
    os.kill(proc.pid, signum)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    assert stdout == (
        f"stop requested: {signum.name} received\nresult: 42 handlers restored: True\n"
    )


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_run_graceful_second_signal_forces_and_reports(tmp_path: Path, backend: str) -> None:
    proc = _spawn(tmp_path, backend, "stubborn")
    assert proc.stdout is not None
    os.kill(proc.pid, signal.SIGINT)
    assert proc.stdout.readline() == "stop requested: SIGINT received\n"
    os.kill(proc.pid, signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 3, stderr
    lines = stdout.splitlines()
    assert lines[0] == "forced: a second SIGINT arrived"
    worker = [line for line in lines if line.endswith("(task 'stubborn-worker')")]
    assert len(worker) == 1
    assert worker[0].startswith(f"stubborn() at {tmp_path / 'child.py'}:")


def test_run_graceful_returns_what_main_returns() -> None:
    async def main(token: StopToken, x: int) -> int:
        assert not token.stop_requested
        return x * 2

    assert run_graceful(main, 21, signals=()) == 42
    assert run_graceful(main, 4, backend="trio", signals=()) == 8


def _signal_from_another_thread(waiting: threading.Event) -> None:
    # Only this thread accepts SIGUSR1, so the kernel delivers it here: the
    # main thread, blocked in its event loop's select(), is not interrupted.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {SIG})
    waiting.wait(10)
    os.kill(os.getpid(), SIG)


@pytest.mark.parametrize("loop_kind", ["asyncio", "uvloop", "trio"])
def test_a_signal_wakes_a_loop_that_waits_for_io(loop_kind: str) -> None:
    """Regression (a second Ctrl-C was lost about once in 15 runs): a plain
    signal.signal() handler runs only once the main thread is back in Python
    code. A signal that reached the process just before asyncio's loop
    blocked in select() (here: one delivered to another thread, which is the
    same for the main thread) waited there forever, because asyncio sets a
    wakeup fd only in add_signal_handler(). Real loops and real time: the
    virtual-clock loop never blocks. The 10 s limit only ends a failing run."""

    async def body() -> str | None:
        async with GracefulShutdown(grace=math.inf, signals=[SIG]) as token:
            wakeup = signal.set_wakeup_fd(-1)
            signal.set_wakeup_fd(wakeup)
            assert wakeup != -1, "no wakeup fd: a signal cannot wake the loop"
            blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {SIG})
            try:
                waiting = threading.Event()
                thread = threading.Thread(target=_signal_from_another_thread, args=(waiting,))
                thread.start()
                # Set just before the loop blocks: the signal usually comes
                # while it waits in select() (if earlier, it is handled anyway).
                waiting.set()
                if loop_kind == "trio":
                    import trio

                    with trio.fail_after(10):
                        await token.wait()
                else:
                    async with asyncio.timeout(10):
                        await token.wait()
                thread.join()
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
            return token.reason

    previous = signal.getsignal(SIG)
    if loop_kind == "trio":
        import trio

        reason = trio.run(body)
    elif loop_kind == "uvloop":
        uvloop = pytest.importorskip("uvloop")
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            reason = runner.run(body())
    else:
        reason = asyncio.run(body())
    assert reason == "SIGUSR1 received"
    assert signal.getsignal(SIG) is previous
    wakeup = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(wakeup)
    assert wakeup == -1, "the wakeup fd was not restored"
