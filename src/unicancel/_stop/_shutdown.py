"""Graceful shutdown: the first SIGINT/SIGTERM requests a stop on a root
token; after a grace period (or at a second signal) the block is cancelled
and what had not finished is reported.

The signal handlers are plain ``signal.signal`` handlers: ``request_stop()``
is safe in a signal handler, and everything that touches the event loop goes
through :meth:`Loop.soon`, which is too. The previous handlers are restored
when the block exits.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Awaitable, Callable, Iterable
from functools import partial
from math import inf
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, TypeVarTuple, final

from .._core._callables import check_async_fn, child_name, coroutine_or_error
from .._core._deadline import check_timeout
from .._core._errors import unknown_backend
from .._facade._run import run
from .._facade._scope import CancelScope
from . import _errors as _stop_errors
from ._loop_current import current_loop
from ._token import StopSource, StopToken

if TYPE_CHECKING:
    from ._callbacks import StopRegistration
    from ._loop import Loop, Timer

__all__ = ["ForcedShutdown", "GracefulShutdown", "run_graceful"]

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

_DEFAULT_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class ForcedShutdown(Exception):
    """Raised when a :class:`GracefulShutdown` block had to be cancelled: the
    grace period expired (or a second signal arrived) before it finished.

    :attr:`why` says what forced it, :attr:`stop_reason` why the stop was
    requested (e.g. ``"SIGTERM received"``), and :attr:`unfinished` lists the
    tasks that were still running when the cancellation began, each with
    where it was waiting (the message lists them too).
    """

    # Tracebacks print the module: show where users import it from.
    __module__ = "unicancel"

    def __init__(self, why: str, stop_reason: str | None, unfinished: tuple[str, ...]) -> None:
        self.why = why
        self.stop_reason = stop_reason
        self.unfinished = unfinished
        super().__init__(_stop_errors.forced_shutdown(why, stop_reason, unfinished))


def _check_signals(signals: Iterable[int]) -> tuple[signal.Signals, ...]:
    try:
        checked = tuple(signal.Signals(sig) for sig in signals)
    except (TypeError, ValueError):
        raise ValueError(_stop_errors.bad_signals(signals)) from None
    for sig in checked:
        # The OS refuses handlers for these: say so now, not as an OSError at entry.
        if sig in _UNCATCHABLE:
            raise ValueError(_stop_errors.uncatchable_signal(sig.name))
    return checked


_UNCATCHABLE = frozenset(
    getattr(signal, name) for name in ("SIGKILL", "SIGSTOP") if hasattr(signal, name)
)


@final
class GracefulShutdown:
    """``async with GracefulShutdown(grace=5.0) as token:`` runs a block that
    shuts down in two steps.

    1. The first of *signals* (default SIGINT and SIGTERM), or a call to
       :meth:`request_stop`, requests a stop on *token* (reason
       ``"SIGTERM received"``, ...). Code in the block watches the token and
       finishes on its own.
    2. If the block has not finished *grace* seconds later (on the backend
       clock), or when a second signal arrives, it is cancelled, and leaving
       it raises :exc:`ForcedShutdown`, which lists what had not finished.

    A block that finishes on its own (stopped or not) leaves normally. The
    previous signal handlers are restored when the block exits, and at the
    second signal already (a third one then acts as without this: Ctrl-C
    raises ``KeyboardInterrupt``). Signal
    handlers can only be installed in the main thread; ``signals=()`` works
    anywhere. Single use.
    """

    __slots__ = (
        "_entered",
        "_finished",
        "_forced",
        "_grace",
        "_host",
        "_loop",
        "_previous",
        "_registration",
        "_scope",
        "_signals",
        "_source",
        "_timer",
        "_unfinished",
        "_unwake",
    )

    def __init__(self, *, grace: float = 5.0, signals: Iterable[int] = _DEFAULT_SIGNALS) -> None:
        self._grace = check_timeout(grace, "grace", "use 0 for no grace period")
        self._signals = _check_signals(signals)
        self._source = StopSource()
        self._entered = False
        self._finished = False
        self._forced: str | None = None
        self._unfinished: tuple[str, ...] = ()
        self._previous: list[tuple[signal.Signals, Any]] = []
        self._timer: Timer | None = None
        self._registration: StopRegistration | None = None
        self._unwake: Callable[[], None] | None = None

    @property
    def token(self) -> StopToken:
        """The root token: stopped by the first signal or :meth:`request_stop`."""
        return self._source.token

    def request_stop(self, reason: str | None = None) -> bool:
        """Request the stop without a signal (the grace period starts); the
        same as the first signal. Returns whether this was the first request."""
        return self._source.request_stop(reason)

    async def __aenter__(self) -> StopToken:
        if self._entered:
            raise RuntimeError(_stop_errors.shutdown_reused())
        if self._signals and threading.current_thread() is not threading.main_thread():
            raise RuntimeError(_stop_errors.signals_need_main_thread())
        self._entered = True
        loop = self._loop = current_loop()
        self._host = loop.current_task()
        self._scope = CancelScope().__enter__()
        try:
            if self._signals:
                self._unwake = loop.wake_on_signals()
            for sig in self._signals:
                self._previous.append((sig, signal.signal(sig, self._on_signal)))
            self._registration = self.token.on_stop(partial(loop.soon, self._start_grace))
        except BaseException:
            # __aexit__ will not run: a signal that cannot be handled
            # (SIGKILL: OSError) left the handlers installed before it in
            # place and the scope entered, for good.
            self._restore_handlers()
            self._stop_waking()
            self._finished = True
            self._source.close()
            self._scope.__exit__(None, None, None)
            raise
        return self.token

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._restore_handlers()
        self._stop_waking()
        self._finished = True  # a late timer or signal does nothing
        if self._registration is not None:
            self._registration.cancel()
        if self._timer is not None:
            self._timer.cancel()
        forced = self._forced
        self._source.close()
        try:
            swallowed = self._scope.__exit__(exc_type, exc, tb)
        except BaseException as remaining:  # what is left of an exception group
            if forced:
                remaining.add_note(str(self._forced_error(forced)))
            raise
        if not forced:
            return
        error = self._forced_error(forced)
        if swallowed:
            raise error from exc
        if exc is not None:  # the block also failed: keep its error, add the report
            exc.add_note(str(error))

    def _restore_handlers(self) -> None:
        previous = self._previous
        while previous:
            sig, handler = previous.pop()
            # None: the handler was not installed from Python; the default
            # is the closest we can restore.
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)

    def _stop_waking(self) -> None:
        # Not in _restore_handlers(): that also runs in a signal handler,
        # where the loop's readers must not be touched.
        unwake, self._unwake = self._unwake, None
        if unwake is not None:
            unwake()

    def _forced_error(self, why: str) -> ForcedShutdown:
        return ForcedShutdown(why, self.token.reason, self._unfinished)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # Runs in a signal handler: only request_stop() and Loop.soon().
        name = signal.Signals(signum).name
        try:
            first = self._source.request_stop(f"{name} received")
        except BaseExceptionGroup as errors:  # a callback of the user's raised
            first = True
            self._loop.soon(partial(_log, errors))
        if not first:
            self._loop.soon(partial(self._force, f"a second {name} arrived"))
            # A third signal acts as without us (Ctrl-C: KeyboardInterrupt),
            # for a block that does not even let the event loop run.
            self._restore_handlers()

    def _start_grace(self) -> None:
        if self._finished or self._forced is not None or self._grace == inf:
            return
        loop: Loop = self._loop
        why = f"the grace period of {self._grace:g} s expired"
        self._timer = loop.call_at(loop.time() + self._grace, partial(self._force, why))

    def _force(self, why: str) -> None:
        if self._finished or self._forced is not None:
            return
        self._forced = why
        self._unfinished = tuple(self._loop.unfinished(self._host))
        self._scope.cancel(f"graceful shutdown: {why}")


def _log(errors: BaseException) -> None:
    import logging

    logging.getLogger("unicancel").error(
        "unicancel: stop callbacks raised when a signal requested the stop", exc_info=errors
    )


def run_graceful(
    main: Callable[[StopToken, *Ts], Awaitable[T]],
    *args: *Ts,
    backend: str = "asyncio",
    grace: float = 5.0,
    signals: Iterable[int] = _DEFAULT_SIGNALS,
) -> T:
    """Run ``main(token, *args)`` on *backend* inside a
    :class:`GracefulShutdown`: the first SIGINT/SIGTERM stops *token*, and
    after *grace* seconds (or a second signal) ``main`` is cancelled and
    :exc:`ForcedShutdown` is raised, listing what had not finished. Returns
    what ``main`` returns."""
    if backend != "asyncio" and backend != "trio":
        raise ValueError(unknown_backend(backend))
    check_async_fn(main, "run_graceful", "main")
    shutdown = GracefulShutdown(grace=grace, signals=signals)

    name = child_name(None, main)

    async def body() -> T:
        if name is not None:
            _name_this_task(backend, name)
        async with shutdown as token:
            result: T = await coroutine_or_error(main, (token, *args), "run_graceful", "main")
            return result

    return run(body, backend=backend)


def _name_this_task(backend: str, name: str) -> None:
    """Name the running task *name*, so that the report calls the task running
    ``main`` after it on both backends, as task groups name their children
    (asyncio alone says 'Task-1', trio '__main__.main')."""
    if backend == "trio":
        import trio

        trio.lowlevel.current_task().name = name
    else:
        import asyncio

        task = asyncio.current_task()
        if task is not None:
            task.set_name(name)
