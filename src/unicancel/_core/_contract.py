"""The contract between the facade and the backends, typed without either.

* :class:`Backend`: what the facade needs from an event loop library;
* :class:`GroupImpl`: a backend's task group, behind :class:`~unicancel.TaskGroup`;
* :class:`Scope`: the facade's :class:`~unicancel.CancelScope` as backends see
  it (its state slots and the few methods they call), so a backend types its
  scopes without importing the facade;
* :data:`new_scope`: how a backend opens a scope of its own;
  :data:`scope_class`: where backend detection installs a backend's fast
  ``__enter__``/``__exit__``, and :data:`enter_scope`/:data:`exit_scope`
  the generic ones, which those hand back to.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ._scope_state import CancelOrigin

__all__ = [
    "Backend",
    "GroupImpl",
    "Scope",
    "ScopeFactory",
    "effectively_cancelled",
    "enter_scope",
    "exit_scope",
    "new_scope",
    "scope_class",
]


class Scope(Protocol):
    """A :class:`~unicancel.CancelScope` as the backends see it.

    The state common to all backends (deadline, shield, cancel_called, origin
    and reason) and each backend's bookkeeping live in the scope's slots (see
    the facade's class for which backend uses which).
    """

    _state: int
    _deadline: float
    _relative: float
    _shield: bool
    _cancel_called: bool
    _backend: Backend
    _host: object
    _parent: Scope | None
    _native: object
    _timer: object
    _entry_cancelling: int
    _delivered: int
    _cancel_seq: int
    _shield_log: tuple[int, tuple[float, Scope] | None]
    _below: set[Any] | None
    _busy: bool
    _origin: CancelOrigin | None
    _reason: str | None
    _cancelled_caught: bool
    _message: str | None
    _fail: bool  # set by every constructor with a deadline, and by the deadline setters

    def __enter__(self) -> Scope: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool: ...
    def cancel(self, reason: str | None = None) -> None: ...
    @property
    def cancel_called(self) -> bool: ...
    @property
    def cancelled_caught(self) -> bool: ...
    @property
    def cancel_origin(self) -> CancelOrigin | None: ...
    @property
    def cancel_reason(self) -> str | None: ...
    def _expire(self) -> None: ...
    def _set_enclosing(self, reason: str | None) -> None: ...
    def _cancel_message(self) -> str: ...
    def _timeout_message(self) -> str: ...
    def _wrong_loop(self) -> bool: ...


class ScopeFactory(Protocol):
    def __call__(self, *, shield: bool = False) -> Scope: ...


#: The facade's :class:`~unicancel.CancelScope` class, installed by
#: :mod:`unicancel._facade._scope` when it is imported (``import unicancel``
#: does that, so before any backend can run). Backends open scopes of their
#: own (a task group's scope, a shielded wait) with ``new_scope()`` and so
#: never import the facade.
new_scope: ScopeFactory

#: The same class, for backend detection (:mod:`unicancel._backends`): its
#: ``__enter__``/``__exit__`` are those of the backend that answered last. A
#: backend may have ``scope_enter``/``scope_exit`` attributes: functions used
#: as the class's ``__enter__``/``__exit__`` while it is that backend (the
#: whole entry or exit in one frame, the hot path). They must hand what they
#: do not handle (a scope of another backend, no task of theirs running) to
#: the generic :data:`enter_scope`/:data:`exit_scope`, which the others use.
scope_class: type[Any]

#: The generic entry and exit (``unicancel._backends.enter_scope`` and
#: ``exit_scope``, which set these): backend detection, then the backend's
#: ``try_enter()``/``exit()``. Here so that a backend reaches them without
#: importing the detection module, which imports the backends.
enter_scope: Callable[[Scope], Scope]
exit_scope: Callable[
    [Scope, type[BaseException] | None, BaseException | None, TracebackType | None], bool
]


class Backend(Protocol):
    """What the facade needs from an event loop library (15 members).

    Scope state common to all backends (deadline, shield, cancel_called,
    origin and reason) lives on the :class:`~unicancel.CancelScope`; the
    backend keeps its own bookkeeping in the scope's backend slots and makes
    the native cancel mechanism follow that state.
    """

    #: "asyncio" or "trio".
    name: str
    #: The exception class the backend raises to cancel a task.
    cancelled_exc_class: type[BaseException]

    def running(self) -> bool:
        """Whether this backend is running the current task."""

    def try_enter(self, scope: Scope) -> bool:
        """If this backend runs the current task, bind *scope* to that task
        (make a relative deadline absolute, arm the deadline, deliver a cancel
        made before entry) and return True; otherwise return False. Probing
        and binding are one call because the probe finds the task to bind."""

    def exit(self, scope: Scope, exc: BaseException | None) -> BaseException | None:
        """Unbind *scope*. Return the exception to propagate: ``None`` if the
        scope swallowed its own cancellation, *exc* unchanged, or a new error
        (misnesting) chained to *exc*. Raises for errors that change no state."""

    def cancel(self, scope: Scope) -> None:
        """*scope* (entered) has just been marked cancelled: deliver."""

    def outside_loop(self, scope: Scope) -> bool:
        """Whether the caller runs outside the event loop (or trio run) that
        the entered *scope* belongs to, e.g. in another thread. Cheap: it
        guards cancel(), the setters and the group's start calls."""

    def deadline_changed(self, scope: Scope) -> None:
        """The deadline of the entered *scope* changed: re-arm or expire."""

    def shield_changed(self, scope: Scope) -> None:
        """The shield of the entered *scope* changed: deliver if now exposed."""

    def current_time(self) -> float:
        """The clock that deadlines are measured on."""

    def current_effective_deadline(self) -> float:
        """Earliest deadline that applies to the current task, shields respected;
        ``-inf`` if it is already cancelled."""

    async def checkpoint(self) -> None:
        """Raise if cancelled, else yield to the scheduler once."""

    async def checkpoint_if_cancelled(self) -> None:
        """Raise if cancelled; never yields otherwise."""

    async def cancel_shielded_checkpoint(self) -> None:
        """Yield to the scheduler once without raising a cancellation."""

    def task_group(self) -> GroupImpl:
        """A fresh task group implementation for :class:`~unicancel.TaskGroup`."""


class GroupImpl(Protocol):
    """What a backend provides for a task group (see _backends/*/_taskgroup.py)."""

    cancel_scope: Scope

    async def aenter(self) -> None: ...
    async def aexit(self, exc: BaseException | None) -> bool: ...
    def start_soon(
        self, fn: Callable[..., Awaitable[Any]], args: tuple[Any, ...], name: object
    ) -> None: ...
    async def start(
        self, fn: Callable[..., Awaitable[Any]], args: tuple[Any, ...], name: object
    ) -> Any: ...
    def create_task(self, coro: Coroutine[Any, Any, Any], name: object) -> Any: ...


def effectively_cancelled(scope: Scope | None) -> bool:
    """Whether code running directly inside *scope* is cancelled: a cancelled
    scope is met, walking outwards, before a shielded one (trio's rule)."""
    while scope is not None:
        if scope._cancel_called:
            return True
        if scope._shield:
            return False
        scope = scope._parent
    return False
