"""The state a :class:`~unicancel.StopSource` shares with its tokens: the
lock-free stop, closing, callbacks, links to parents and the deadline timer.

Stopping takes no lock (see :mod:`._callbacks`), so it is safe from any
thread and from a signal handler. The first request is decided by one atomic
``dict.setdefault`` on ``box``, which also publishes the reason and time in
the same step; ``close()`` competes for the same slot, so a state is either
stopped or closed, never both.

Linking: a child holds its parents strongly until it is stopped or closed
(a chain keeps working when the middle source is dropped); a parent reaches
its children only through a weak reference, so a child dropped without
``close()`` unregisters itself from its parents when it is collected.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from math import inf
from time import monotonic
from typing import TYPE_CHECKING, Any, Final, final

from ._callbacks import (
    Descend,
    Registry,
    StopRegistration,
    callback_errors,
    drain,
    new_registration,
)

if TYPE_CHECKING:
    from ._loop import Timer

__all__ = ["DEADLINE_REASON", "NEVER", "Expire", "State"]

_KEY: Final = "stop"
#: The reason a stop requested by a deadline carries (as a scope's deadline).
DEADLINE_REASON: Final = "deadline exceeded"


@final
class _Stopped:
    __slots__ = ("reason", "time")

    def __init__(self, reason: str | None, time: float) -> None:
        self.reason = reason
        self.time = time


#: In the box of a source that was closed before any stop: it never stops.
_CLOSED: Final = _Stopped(None, inf)


class State:
    """What a source and its tokens share."""

    __slots__ = (
        "__weakref__",
        "bindings",
        "box",
        "deadline",
        "links",
        "parents",
        "regs",
        "source_alive",
        "timer",
    )

    def __init__(self) -> None:
        # Empty until stopped or closed; then one _Stopped (or _CLOSED).
        self.box: dict[str, _Stopped] = {}
        self.regs: Registry = {}
        self.deadline = inf
        self.parents: tuple[State, ...] = ()
        # Our registrations with the parents (dropped when we stop or close).
        self.links: list[StopRegistration] = []
        self.source_alive = True
        self.timer: Expire | None = None
        # Per event loop: the scopes bound to this token (a ._binding.Binding,
        # held weakly: the bound scopes hold it; typed loosely because that
        # module sits above this one).
        self.bindings: dict[object, weakref.ref[Any]] = {}

    def record(self) -> _Stopped | None:
        """The stop record; None if not stopped (closed counts as not)."""
        record = self.box.get(_KEY)
        return None if record is _CLOSED else record

    def stop(self, reason: str | None) -> bool:
        if not self.mark_stopped(reason):
            return False
        errors, ran = drain(self.regs)  # and, iteratively, the children's
        if errors:
            raise callback_errors(errors, ran)
        return True

    def mark_stopped(self, reason: str | None) -> bool:
        """The stop without the callbacks; whether this call was the first."""
        box = self.box
        if box:
            return False
        record = _Stopped(reason, monotonic())
        if box.setdefault(_KEY, record) is not record:
            return False  # another thread (or close()) won
        self.release(frozen=True)
        return True

    def close(self) -> None:
        if self.box.setdefault(_KEY, _CLOSED) is _CLOSED:
            # Never stopped: callbacks will never run; let go of them.
            self.release(frozen=False)
            regs = self.regs
            while regs:
                try:
                    reg = regs.popitem()[0]
                except KeyError:
                    break
                reg._forget()

    def release(self, *, frozen: bool) -> None:
        """Drop the timer and the links to the parents, which are no longer
        needed. *frozen*: keep reporting the deadline we had."""
        self.deadline = self.effective_deadline() if frozen else inf
        timer, self.timer = self.timer, None
        if timer is not None:
            timer.cancel()
        links, self.links = self.links, []
        for reg in links:
            reg._forget()
        self.parents = ()

    def on_stop(self, fn: Callable[[], object]) -> StopRegistration:
        regs = self.regs
        if not self.box:
            reg = new_registration(fn, regs)
            regs[reg] = True
            if not self.box:
                return reg
            # Stopped (or closed) meanwhile: the drain may have taken it.
            regs.pop(reg, None)
        else:
            reg = new_registration(fn, None)
        if self.box[_KEY] is _CLOSED:
            reg._forget()
            return reg
        error = reg._run()
        if isinstance(error, Descend):  # a link to a stopped parent
            errors, ran = drain(error.regs)
            if errors:
                raise callback_errors(errors, ran)
        elif error is not None:
            raise error
        return reg

    def ancestors(self) -> list[State]:
        """This state and every state above it, each once. Iterative, with a
        visited set: recursing was a RecursionError on a chain of 1,000
        sources, and exponential on a lattice of diamonds (each source
        linked to the same two parents: 2**depth paths)."""
        found = [self]
        seen = {id(self)}
        i = 0
        while i < len(found):
            for parent in found[i].parents:
                if id(parent) not in seen:
                    seen.add(id(parent))
                    found.append(parent)
            i += 1
        return found

    def possible(self) -> bool:
        for state in self.ancestors():
            record = state.box.get(_KEY)
            if record is not None:
                if record is not _CLOSED:
                    return True
            elif state.source_alive or _armed(state.timer):
                return True
        return False

    def effective_deadline(self) -> float:
        return min(state.deadline for state in self.ancestors())

    def link(self, parents: tuple[State, ...]) -> None:
        links = self.links
        # The parents call us through this weak reference; when we are
        # collected, its callback unregisters us from them.
        me = weakref.ref(self, lambda _: _forget_all(links))
        self.parents = parents
        for parent in parents:
            links.append(parent.on_stop(Propagate(me, parent.box)))
        if self.box:
            # A parent had stopped (here, or in another thread): release()
            # may have run before the later links were made; undo them.
            _forget_all(links)


def _armed(expire: Expire | None) -> bool:
    """Whether *expire* can still fire: not once its event loop has finished
    (the token then said stop_possible forever, though nothing could stop it)."""
    if expire is None:
        return False
    timer = expire.timer
    return timer is not None and not timer.finished()


def _forget_all(links: list[StopRegistration]) -> None:
    for reg in links:
        reg._forget()
    links.clear()


@final
class Propagate:
    """A parent's callback that stops its child (with the parent's reason)."""

    __slots__ = ("child", "parent_box")

    def __init__(self, child: weakref.ref[State], parent_box: dict[str, _Stopped]) -> None:
        self.child = child
        self.parent_box = parent_box

    def __call__(self) -> Descend:
        # Not child.stop(): the drain that runs us runs the child's callbacks
        # next, without recursing (see Descend).
        child = self.child()
        if child is not None and child.mark_stopped(self.parent_box[_KEY].reason):
            return Descend(child.regs)
        return Descend({})


@final
class Expire:
    """A deadline timer's callback (runs on the loop; must not raise). It is
    ``state.timer`` while current: a moved deadline's old timer may still
    fire once, and then does nothing."""

    __slots__ = ("state", "timer")

    def __init__(self, state: State) -> None:
        self.state = state
        self.timer: Timer | None = None

    def cancel(self) -> None:
        timer, self.timer = self.timer, None
        if timer is not None:
            timer.cancel()

    def __call__(self) -> None:
        state = self.state
        if state.timer is not self:
            return
        state.timer = None
        try:
            state.stop(DEADLINE_REASON)
        except BaseExceptionGroup as errors:
            # Nobody called request_stop(): there is no caller to raise to.
            import logging

            logging.getLogger("unicancel").error(
                "unicancel: stop callbacks raised when a deadline stopped a token",
                exc_info=errors,
            )


#: The state of ``StopToken()``: closed, it never stops.
NEVER = State()
NEVER.close()
