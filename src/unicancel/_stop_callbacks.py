"""Stop callbacks: registration, exactly-once execution, unregistration.

No lock is taken on the way from ``request_stop()`` to a callback, so a stop
can be requested from a signal handler that interrupted any of this code in
the same thread. Every decision is one operation that is atomic in CPython
(a single C call on a builtin ``dict`` or ``list``):

* the pending callbacks of a token are the keys of a dict (``regs``); whoever
  removes a key (``popitem``/``pop``) is the only one to look at it again;
* who runs or cancels a registration is settled by appending a *claim* to
  its ``_claims`` list: the first element wins, and a run claim carries the
  thread that made it, so ``cancel()`` knows whether to wait.

Waiting (``cancel()`` while the callback runs on another thread) uses one
process-wide condition; the runner only touches it when someone waits.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import TracebackType
from typing import Final, final

from ._stop_errors import callbacks_raised

__all__ = ["Registry", "StopRegistration", "callback_errors", "drain"]

#: Pending registrations of one token (a dict used as an ordered set).
Registry = dict["StopRegistration", bool]

# The claim of cancel(): the callback will not run.
_CANCELLED: Final = ("cancelled",)
# Taken only by waiters, and by runners that have one (RLock: a signal handler
# may run a callback while its thread is inside the waiting code below).
_finished = threading.Condition(threading.RLock())
_get_ident = threading.get_ident


@final
class StopRegistration:
    """A callback registered with :meth:`StopToken.on_stop`.

    :meth:`cancel` (or leaving its ``with`` block) unregisters it. The
    callback runs at most once; it never runs after :meth:`cancel` returned
    False.
    """

    __slots__ = ("_claims", "_done", "_fn", "_regs", "_waiting")

    def __init__(self, fn: Callable[[], object] | None, regs: Registry | None) -> None:
        self._fn = fn
        self._regs = regs
        # First element: _CANCELLED, or (thread id,) of the run that won.
        self._claims: list[tuple[object]] = [] if fn is not None else [_CANCELLED]
        self._done = False
        self._waiting = False

    def cancel(self) -> bool:
        """Unregister the callback; return whether it ran.

        False: it has not run and never will. True: it ran; if it is still
        running in another thread, this waits until it has returned, so that
        what the callback uses can be released safely afterwards. Called from
        inside the callback itself (or in the thread running it), it returns
        True at once instead of waiting for itself. Idempotent.
        """
        regs = self._regs
        if regs is not None:
            regs.pop(self, None)  # atomic; forgets it, whoever claims it
        claims = self._claims
        if not claims:
            claims.append(_CANCELLED)
        first = claims[0]
        if first is _CANCELLED:
            self._fn = None
            self._regs = None
            return False
        if first[0] != _get_ident() and not self._done:
            self._wait()
        return True

    def _forget(self) -> None:
        """Unregister without waiting (links between tokens, closing)."""
        regs = self._regs
        if regs is not None:
            regs.pop(self, None)
        claims = self._claims
        if not claims:
            claims.append(_CANCELLED)
        if claims[0] is _CANCELLED:
            self._fn = None
            self._regs = None

    def __enter__(self) -> StopRegistration:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cancel()

    def __repr__(self) -> str:
        if not self._claims:
            state = "pending"
        elif self._claims[0] is _CANCELLED:
            state = "cancelled"
        else:
            state = "ran" if self._done else "running"
        return f"<unicancel.StopRegistration at {id(self):#x}, {state}>"

    def _run(self) -> BaseException | None:
        """Run the callback if this call wins the claim; return its error."""
        mark = (_get_ident(),)
        claims = self._claims
        claims.append(mark)
        if claims[0] is not mark:
            return None
        fn = self._fn
        self._fn = None  # release what the callback holds as soon as it ran
        self._regs = None
        try:
            fn()  # type: ignore[misc]  # a run claim only wins while _fn is set
        except BaseException as exc:  # collected; the caller re-raises it
            return exc
        finally:
            self._done = True
            if self._waiting:
                with _finished:
                    _finished.notify_all()
        return None

    def _wait(self) -> None:
        # Dekker-style: we publish _waiting before reading _done, the runner
        # publishes _done before reading _waiting, so one of us sees the other.
        with _finished:
            self._waiting = True
            while not self._done:
                _finished.wait()


def drain(regs: Registry) -> tuple[list[BaseException], int]:
    """Run every registration still in *regs*, newest first; return the
    errors and how many were taken. Registrations added while this runs are
    run here too, or run themselves (they see the stop)."""
    errors: list[BaseException] = []
    taken = 0
    while regs:
        try:
            reg = regs.popitem()[0]
        except KeyError:  # emptied by another thread since the test
            break
        taken += 1
        error = reg._run()
        if error is not None:
            errors.append(error)
    return errors, taken


def callback_errors(errors: list[BaseException], ran: int) -> BaseExceptionGroup[BaseException]:
    """The group raised when stop callbacks raised (the others all ran)."""
    return BaseExceptionGroup(callbacks_raised(len(errors), ran), errors)
