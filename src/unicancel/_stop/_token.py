"""Stop tokens: a :class:`StopSource` requests a stop, its :class:`StopToken`
only observes it. Backend-neutral and thread-safe; the shared state and its
lock-free stop live in :mod:`._state`.
"""

from __future__ import annotations

from collections.abc import Callable
from math import inf
from types import TracebackType
from typing import TYPE_CHECKING, final

from .._core._callables import check_callback
from .._core._deadline import check_deadline, check_timeout
from . import _errors as _stop_errors
from ._callbacks import StopRegistration
from ._errors import StopRequested
from ._state import DEADLINE_REASON, NEVER, Expire, State

if TYPE_CHECKING:
    from ._loop import Loop

__all__ = ["StopSource", "StopToken"]


def _check_token(token: object, where: str, param: str = "token") -> State:
    if not isinstance(token, StopToken):
        raise TypeError(
            _stop_errors.not_a_token(where, token, isinstance(token, StopSource), param)
        )
    return token._state


def _check_reason(reason: object) -> str | None:
    if reason is not None and not isinstance(reason, str):
        raise TypeError(_stop_errors.bad_reason(reason))
    return reason


@final
class StopToken:
    """The observing side of a :class:`StopSource`: ask whether a stop was
    requested, wait for it, or register callbacks. Hand tokens to the code
    that should stop; keep the source.

    ``StopToken()`` builds a token that never stops (``stop_possible`` is
    false): a default for functions that take an optional token.
    """

    __slots__ = ("_state",)

    _state: State

    def __init__(self) -> None:
        self._state = NEVER

    @property
    def stop_requested(self) -> bool:
        """True once a stop has been requested (of this token, or of a parent)."""
        return self._state.record() is not None

    @property
    def stop_possible(self) -> bool:
        """False if this token can never be stopped: its source was closed or
        garbage collected, it has no armed deadline and no parent that could
        still stop. True once stopped."""
        return self._state.possible()

    @property
    def reason(self) -> str | None:
        """The reason given with the stop request; ``"deadline exceeded"`` for
        a deadline; a parent's reason when a parent's stop reached this token;
        None if no stop was requested (or no reason given)."""
        record = self._state.record()
        return None if record is None else record.reason

    @property
    def stop_time(self) -> float | None:
        """When the stop was requested, on the :func:`time.monotonic` clock
        (requests may come from any thread); None if not stopped."""
        record = self._state.record()
        return None if record is None else record.time

    @property
    def deadline(self) -> float:
        """The earliest deadline at which this token will stop: its source's
        (:meth:`StopSource.stop_at`) or any parent's, on the clock of the loop
        that armed it (:func:`current_time`); ``inf`` if none. Frozen once the
        token stopped; ``inf`` once its source was closed."""
        return self._state.effective_deadline()

    def raise_if_stop_requested(self) -> None:
        """Raise :exc:`StopRequested` (with the reason) if a stop was requested."""
        record = self._state.record()
        if record is not None:
            raise StopRequested(record.reason)

    def on_stop(self, fn: Callable[[], object]) -> StopRegistration:
        """Call ``fn()`` once, when a stop is requested; return the registration.

        * If a stop was already requested, ``fn`` runs at once, in this call
          (an exception it raises propagates from ``on_stop``).
        * Otherwise it runs in the thread that calls ``request_stop()``,
          inside that call, before it returns (newest registration first);
          from a deadline, on the event loop that armed it. If several
          callbacks raise, every callback still runs and ``request_stop()``
          raises one ``ExceptionGroup`` of all their errors.
        * ``registration.cancel()`` (or leaving ``with token.on_stop(fn):``)
          unregisters it; see :meth:`StopRegistration.cancel` for the waiting
          rule. A token that can never stop does not keep ``fn``.
        """
        check_callback(fn, "on_stop", "fn")
        return self._state.on_stop(fn)

    async def wait(self) -> None:
        """Block until a stop is requested (forever for a token that cannot
        stop). Waits without polling on either backend, even when the request
        comes from another thread or a signal handler. It is a checkpoint:
        it raises the cancelled exception if the current code is cancelled."""
        from ._binding import wait

        await wait(self._state)

    def child(self) -> StopSource:
        """A new :class:`StopSource` whose token stops when this one does,
        and which can be stopped on its own: ``StopSource(self)``."""
        return StopSource(self)

    def __repr__(self) -> str:
        state = self._state
        record = state.record()
        if record is not None:
            status = f"stopped ({record.reason!r})"
        elif not state.possible():
            status = "never stops"
        else:
            deadline = state.effective_deadline()
            status = "running" + (f", deadline={deadline:.3f}" if deadline != inf else "")
        return f"<unicancel.StopToken at {id(self):#x}, {status}>"


def _token(state: State) -> StopToken:
    token = object.__new__(StopToken)
    token._state = state
    return token


@final
class StopSource:
    """Requests a stop; :attr:`token` observes it.

    ``StopSource(*parents)`` links the new source to parent tokens: its token
    also stops, with the parent's reason, as soon as ANY parent stops. A
    linked source keeps its parents until it is stopped or closed; the
    parents do not keep it (dropped without closing, it unregisters itself
    when garbage collected). Use it as ``with StopSource(parent) as source:``
    to close it at the end of the block.
    """

    __slots__ = ("__weakref__", "_state", "_token")

    def __init__(self, *parents: StopToken) -> None:
        states = tuple(_check_token(parent, "StopSource", "parents") for parent in parents)
        self._state = State()
        self._token = _token(self._state)
        if states:
            self._state.link(states)

    @property
    def token(self) -> StopToken:
        """The token observing this source (always the same object)."""
        return self._token

    @property
    def stop_requested(self) -> bool:
        """Same as ``source.token.stop_requested``."""
        return self._state.record() is not None

    def request_stop(self, reason: str | None = None) -> bool:
        """Request a stop; return True if this call was the first.

        Idempotent: only the first request counts; later calls return False
        and change nothing (after :meth:`close`, every call does). The reason
        and the time (:attr:`StopToken.stop_time`) of the first request are
        kept. Safe from any thread and from a signal handler.

        Callbacks registered with :meth:`StopToken.on_stop` run in this call,
        newest first. If any raised, all of them have still run and this
        raises a ``BaseExceptionGroup`` (an ``ExceptionGroup`` unless one was
        a ``BaseException``) holding every error; the stop has happened.
        Scopes bound to the token and ``wait()`` calls are woken through their
        event loop, never from this thread directly.
        """
        return self._state.stop(_check_reason(reason))

    def stop_at(self, deadline: float) -> None:
        """Request a stop (reason ``"deadline exceeded"``) at *deadline* on the
        running backend's clock (:func:`current_time`). A later call moves
        the deadline; ``math.inf`` removes it; a time already passed stops at
        once (in this call). Call it from async code: the timer runs on its
        event loop. No effect once stopped or closed."""
        deadline = check_deadline(deadline)
        from ._loop_current import current_loop

        loop = current_loop()
        self._arm(deadline, loop.time(), loop)

    def stop_after(self, seconds: float) -> None:
        """:meth:`stop_at` ``current_time() + seconds``."""
        seconds = check_timeout(seconds, "seconds")
        from ._loop_current import current_loop

        loop = current_loop()
        now = loop.time()
        self._arm(now + seconds, now, loop)

    def _arm(self, deadline: float, now: float, loop: Loop) -> None:
        state = self._state
        if state.box:
            return
        old, state.timer = state.timer, None
        if old is not None:
            old.cancel()
        state.deadline = deadline
        if deadline <= now:
            state.stop(DEADLINE_REASON)
        elif deadline != inf:
            expire = Expire(state)
            expire.timer = loop.call_at(deadline, expire)
            state.timer = expire
        if state.box:
            # Stopped or closed by another thread or a signal handler since
            # the test above: its release() may have run before we armed, and
            # then the timer stayed armed on a finished token (keeping it and
            # its loop busy until the deadline), and a closed token reported
            # our deadline instead of inf. Undo what release() missed.
            timer, state.timer = state.timer, None
            if timer is not None:
                timer.cancel()
            if state.record() is None:  # closed
                state.deadline = inf

    def close(self) -> None:
        """Give up the ability to stop: unregister from the parents, drop the
        deadline and forget the callbacks, which will never run. Closing does
        not stop the token: if it had not stopped, it never will
        (``stop_possible`` becomes false). Idempotent; a source that already
        stopped stays stopped."""
        self._state.close()

    def __enter__(self) -> StopSource:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        # Nothing can call request_stop() any more (stop_possible).
        state = getattr(self, "_state", None)  # None if __init__ raised
        if state is not None:
            state.source_alive = False

    def __repr__(self) -> str:
        return f"<unicancel.StopSource at {id(self):#x}, token={self._token!r}>"
