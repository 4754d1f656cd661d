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
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Final, final

from ._errors import callbacks_raised

__all__ = [
    "Descend",
    "Registry",
    "StopRegistration",
    "callback_errors",
    "drain",
    "new_registration",
]

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

    _fn: Callable[[], object] | None
    _regs: Registry | None
    # First element: _CANCELLED, or (thread id,) of the run that won.
    _claims: list[tuple[object]]
    _done: bool
    _waiting: bool

    def __init__(self, *args: object, **kwargs: object) -> None:
        raise TypeError(
            "unicancel: StopRegistration objects are created by StopToken.on_stop(fn), "
            "not directly; call token.on_stop(fn) to register a callback"
        )

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

    def _run(self) -> BaseException | Descend | None:
        """Run the callback if this call wins the claim; return its error, or
        the :class:`Descend` a link between tokens returned."""
        mark = (_get_ident(),)
        claims = self._claims
        claims.append(mark)
        if claims[0] is not mark:
            return None
        fn = self._fn
        self._fn = None  # release what the callback holds as soon as it ran
        self._regs = None
        try:
            result = fn()  # type: ignore[misc]  # a run claim only wins while _fn is set
        except BaseException as exc:  # collected; the caller re-raises it
            return exc
        finally:
            self._done = True
            if self._waiting:
                with _finished:
                    _finished.notify_all()
        if isinstance(result, Descend):
            return result
        if isinstance(result, Coroutine):
            # A sync wrapper around an async function (`lambda: cleanup()`):
            # nothing would ever await it. Say so, as to_thread() does.
            result.close()
            return TypeError(
                f"unicancel: the stop callback {fn!r} returned a coroutine, which nothing "
                "awaits (it has been closed); stop callbacks run synchronously: do the async "
                "work in a task that waits for token.wait() instead"
            )
        return None

    def _wait(self) -> None:
        # Dekker-style: we publish _waiting before reading _done, the runner
        # publishes _done before reading _waiting, so one of us sees the other.
        with _finished:
            self._waiting = True
            while not self._done:
                _finished.wait()


def new_registration(fn: Callable[[], object] | None, regs: Registry | None) -> StopRegistration:
    """A StopRegistration (its constructor is closed to users)."""
    reg = object.__new__(StopRegistration)
    reg._fn = fn
    reg._regs = regs
    reg._claims = [] if fn is not None else [_CANCELLED]
    reg._done = False
    reg._waiting = False
    return reg


@final
class Descend:
    """Returned by the callback that links a child token to its parent, once
    it has marked the child stopped: *regs* are the child's callbacks, which
    :func:`drain` runs next, in place of the link (depth first, as if the
    link had called the child's ``request_stop()``).

    Why not just recurse: a chain of 1,000 linked sources then needed ~4,000
    nested frames and stopped with a RecursionError, reported as a nest of
    1,000 "stop callbacks raised" groups, with the leaf never stopped."""

    __slots__ = ("regs",)

    def __init__(self, regs: Registry) -> None:
        self.regs = regs


def drain(regs: Registry) -> tuple[list[BaseException], int]:
    """Run every registration still in *regs*, newest first, and those of the
    linked children stopped on the way; return the errors and how many
    callbacks were taken (links between tokens do not count). Registrations
    added while this runs are run here too, or run themselves (they see the
    stop). Iterative: the stack of registries is local to this call, so a
    request from a signal handler that interrupted it drains on its own."""
    errors: list[BaseException] = []
    taken = 0
    stack = [regs]
    while stack:
        try:
            reg = stack[-1].popitem()[0]
        except KeyError:  # this registry is empty (maybe emptied by another thread)
            stack.pop()
            continue
        result = reg._run()
        if isinstance(result, Descend):
            stack.append(result.regs)
            continue
        taken += 1
        if result is not None:
            errors.append(result)
    return errors, taken


def callback_errors(errors: list[BaseException], ran: int) -> BaseExceptionGroup[BaseException]:
    """The group raised when stop callbacks raised (the others all ran)."""
    return BaseExceptionGroup(callbacks_raised(len(errors), ran), errors)
