"""The oracle: native trio, plus the rules unicancel documents on top of it.

The generated program (unicancel's API) runs here with these names bound to
native trio: cancellation, shields, deadlines, checkpoints, nurseries and
``trio.Cancelled`` are trio's own. Where unicancel *chose* a rule that trio
does not have (docs/semantics.md, "Rules we chose where the backends (or the
anchors) disagree"), the thin wrappers below state that rule on top of the
native objects, written from the documentation, not from unicancel's code:

* ``fail_after``/``fail_at`` raise builtin ``TimeoutError``, and only when the
  scope's own deadline caused the cancellation it caught; an explicit
  ``cancel()`` moves on; if the deadline had already passed when ``cancel()``
  was called (on trio's clock at that moment, also before entry), the
  deadline wins (:class:`OScope`).
* Deadlines are movable while entered and "a deadline in the past cancels
  at once" (trio applies it at the next schedule point; the oracle applies
  it when it is set, by reading trio's ``cancel_called``) (:class:`OScope`).
* ``cancel_origin``/``cancel_reason``: EXPLICIT (its ``cancel()``), DEADLINE
  (its deadline), ENCLOSING (a bare cancellation from outside passed through
  it) (:class:`OScope`).
* A task group lets a cancellation out bare, never in an exception group;
  errors leave as one ``ExceptionGroup`` of errors only; ``tg.cancel_scope``
  is the group's own scope, so a child's error does not set its
  ``cancel_called`` (:class:`OGroup`, a nursery inside a cancel scope).
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from math import inf
from types import TracebackType
from typing import Any

import trio
import trio.testing

__all__ = ["NAMESPACE", "OGroup", "OScope", "make_jitter", "namespace"]


class OScope:
    """unicancel's ``CancelScope`` contract over a native ``trio.CancelScope``."""

    def __init__(
        self,
        *,
        deadline: float = inf,
        relative_deadline: float = inf,
        shield: bool = False,
        fail: bool = False,
    ) -> None:
        if relative_deadline != inf:
            self._native = trio.CancelScope(relative_deadline=relative_deadline, shield=shield)
        else:
            self._native = trio.CancelScope(deadline=deadline, shield=shield)
        self._fail = fail
        self._explicit = False
        self._enclosing = False
        self._reason: str | None = None

    def __enter__(self) -> OScope:
        self._native.__enter__()
        return self

    def __exit__(
        self,
        etype: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        try:
            swallowed = self._native.__exit__(etype, exc, tb)
        except BaseException as remaining:
            self._note_enclosing(remaining)
            raise
        if swallowed:
            if exc is not None and self._fail and self.cancel_origin == "deadline":
                raise TimeoutError("the deadline passed before the block finished") from exc
            return True
        self._note_enclosing(exc)
        return False

    def _note_enclosing(self, exc: BaseException | None) -> None:
        if isinstance(exc, trio.Cancelled) and not self.cancel_called and not self._enclosing:
            # The reason the exception carries (trio: that of the first
            # cancellation to reach the code it was raised in); a deadline
            # has none but its source, which unicancel words as "deadline exceeded".
            self._enclosing = True
            reason = exc.reason
            if reason is None and exc.source == "deadline":
                reason = "deadline exceeded"
            self._reason = reason

    def cancel(self, reason: str | None = None) -> None:
        # trio's cancel_called applies a deadline that has passed (also before
        # entry, read on trio's clock now): the deadline wins.
        if self.cancel_called:
            return
        self._explicit = True
        self._reason = reason
        self._native.cancel(reason)

    @property
    def cancel_called(self) -> bool:
        return self._native.cancel_called

    @property
    def cancelled_caught(self) -> bool:
        return self._native.cancelled_caught

    @property
    def cancel_origin(self) -> str | None:
        if self._explicit:
            return "explicit"
        if self._native.cancel_called:
            return "deadline"
        return "enclosing" if self._enclosing else None

    @property
    def cancel_reason(self) -> str | None:
        origin = self.cancel_origin
        if origin == "deadline":
            return "deadline exceeded"
        return self._reason if origin else None

    @property
    def shield(self) -> bool:
        return self._native.shield

    @shield.setter
    def shield(self, value: bool) -> None:
        self._native.shield = value

    @property
    def deadline(self) -> float:
        return self._native.deadline

    @deadline.setter
    def deadline(self, value: float) -> None:
        self._native.deadline = value
        self._expire_now()

    @property
    def relative_deadline(self) -> float:
        return self._native.relative_deadline

    @relative_deadline.setter
    def relative_deadline(self, value: float) -> None:
        self._native.relative_deadline = value
        self._expire_now()

    def _expire_now(self) -> None:
        # "A deadline in the past cancels at once": trio itself applies a
        # passed deadline at the next schedule point, or when cancel_called
        # is read; reading it applies it now.
        self._native.cancel_called  # noqa: B018 - the read has the effect


Jitter = Callable[[], Awaitable[None]]


async def _no_jitter() -> None:
    pass


class OGroup:
    """unicancel's ``TaskGroup`` contract: a trio nursery inside the group's
    own cancel scope, with the documented exception rule applied to what
    leaves the nursery."""

    def __init__(self, jitter: Jitter = _no_jitter) -> None:
        self.cancel_scope = OScope()
        self._jitter = jitter

    async def __aenter__(self) -> OGroup:
        await self._jitter()
        self.cancel_scope.__enter__()
        self._manager = trio.open_nursery()
        self._nursery = await self._manager.__aenter__()
        return self

    async def __aexit__(
        self,
        etype: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        left: BaseException | None
        await self._jitter()
        try:
            swallowed = await self._manager.__aexit__(etype, exc, tb)
        except BaseException as raised:
            left = raised
        else:
            left = None if swallowed else exc
        cancelled: BaseException | None = None
        errors: BaseException | None = None
        if isinstance(left, BaseExceptionGroup):
            matched, errors = left.split(trio.Cancelled)
            if matched is not None:
                cancelled = _a_leaf(matched)
        elif isinstance(left, trio.Cancelled):
            cancelled = left
        else:
            errors = left
        # The group's own scope sees the cancellation (bare), as any scope would.
        caught = self.cancel_scope.__exit__(type(cancelled) if cancelled else None, cancelled, None)
        await self._jitter()
        if errors is not None:
            if not isinstance(errors, BaseExceptionGroup):
                errors = BaseExceptionGroup("errors in a task group", [errors])
            raise errors
        if cancelled is not None and not caught:
            if cancelled is exc:
                return False
            raise cancelled
        return exc is not None

    def start_soon(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> None:
        self._nursery.start_soon(fn, *args)

    async def start(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        # trio's own start(): the child runs in the caller's scopes until
        # task_status.started(), then is moved under the nursery.
        if not hasattr(self, "_nursery"):
            raise RuntimeError("the group is not entered yet")
        await self._jitter()
        return await self._nursery.start(fn, *args)

    def cancel(self, reason: str | None = None) -> None:
        self.cancel_scope.cancel(reason)


def _a_leaf(group: BaseExceptionGroup[BaseException]) -> BaseException:
    exc: BaseException = group
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc


def _move_on_at(deadline: float, *, shield: bool = False) -> OScope:
    return OScope(deadline=deadline, shield=shield)


def _move_on_after(seconds: float, *, shield: bool = False) -> OScope:
    return OScope(relative_deadline=seconds, shield=shield)


def _fail_at(deadline: float, *, shield: bool = False) -> OScope:
    return OScope(deadline=deadline, shield=shield, fail=True)


def _fail_after(seconds: float, *, shield: bool = False) -> OScope:
    return OScope(relative_deadline=seconds, shield=shield, fail=True)


def _work(seconds: float) -> None:
    # CPU work: MockClock time passes inside the task's step; trio applies a
    # passed deadline at the next schedule point.
    clock = trio.lowlevel.current_clock()
    assert isinstance(clock, trio.testing.MockClock)
    clock.jump(seconds)


def make_jitter(rng: random.Random) -> Jitter:
    """Extra schedule points (``cancel_shielded_checkpoint``) at random: a
    task that runs a little longer before or after an await, which any real
    trio run may do. Used to sample trio's zero-time schedules."""

    async def jitter() -> None:
        if rng.random() < 0.3:
            for _ in range(rng.randint(1, 3)):
                await trio.lowlevel.cancel_shielded_checkpoint()

    return jitter


def _jittered(op: Callable[..., Awaitable[None]], jitter: Jitter) -> Callable[..., Awaitable[None]]:
    async def jittered(*args: Any) -> None:
        await jitter()
        await op(*args)
        await jitter()

    return jittered


_AWAITS = (
    "checkpoint",
    "checkpoint_if_cancelled",
    "cancel_shielded_checkpoint",
    "sleep",
    "sleep_forever",
)


def namespace(
    sleep_forever: Callable[[], Awaitable[None]], jitter: Jitter | None = None
) -> dict[str, object]:
    """The names the generated program uses, bound to native trio; with
    *jitter*, every await (and task group entry and exit) may take extra
    schedule points."""
    names = {**NAMESPACE, "sleep_forever": sleep_forever}
    if jitter is not None:
        for name in _AWAITS:
            names[name] = _jittered(names[name], jitter)  # type: ignore[arg-type]
        names["TaskGroup"] = lambda: OGroup(jitter)
    return names


#: The names the generated program uses, bound to native trio (but for
#: ``sleep_forever``, see :func:`namespace`).
NAMESPACE: dict[str, object] = {
    "CancelScope": OScope,
    "TaskGroup": OGroup,
    "move_on_at": _move_on_at,
    "move_on_after": _move_on_after,
    "fail_at": _fail_at,
    "fail_after": _fail_after,
    "checkpoint": trio.lowlevel.checkpoint,
    "checkpoint_if_cancelled": trio.lowlevel.checkpoint_if_cancelled,
    "cancel_shielded_checkpoint": trio.lowlevel.cancel_shielded_checkpoint,
    "current_effective_deadline": trio.current_effective_deadline,
    "current_time": trio.current_time,
    "sleep": trio.sleep,
    "Cancelled": trio.Cancelled,
    "work": _work,
    "inf": inf,
}
