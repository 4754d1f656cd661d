"""Backend detection and the contract every backend implements.

The facade (:mod:`unicancel._scope`) asks :func:`current_backend` once per
scope, at ``__enter__``, and then talks only to the returned object. Backend
modules are imported lazily, so running on asyncio never imports trio and the
reverse.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Protocol

from .._core._errors import already_entered, no_running_backend, no_task, unknown_backend

if TYPE_CHECKING:
    from .._facade._scope import CancelScope
    from .._facade._taskgroup import GroupImpl

__all__ = ["Backend", "backend_by_name", "current_backend", "enter_scope"]


class Backend(Protocol):
    """What the facade needs from an event loop library (14 members).

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

    def try_enter(self, scope: CancelScope) -> bool:
        """If this backend runs the current task, bind *scope* to that task
        (make a relative deadline absolute, arm the deadline, deliver a cancel
        made before entry) and return True; otherwise return False. Probing
        and binding are one call because the probe finds the task to bind."""

    def exit(self, scope: CancelScope, exc: BaseException | None) -> BaseException | None:
        """Unbind *scope*. Return the exception to propagate: ``None`` if the
        scope swallowed its own cancellation, *exc* unchanged, or a new error
        (misnesting) chained to *exc*. Raises for errors that change no state."""

    def cancel(self, scope: CancelScope) -> None:
        """*scope* (entered) has just been marked cancelled: deliver."""

    def deadline_changed(self, scope: CancelScope) -> None:
        """The deadline of the entered *scope* changed: re-arm or expire."""

    def shield_changed(self, scope: CancelScope) -> None:
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


class _Absent:
    """Stands in for a backend whose library has not been imported: it cannot
    be running, and we never import asyncio for trio or trio for asyncio."""

    def running(self) -> bool:
        return False

    def try_enter(self, scope: CancelScope) -> bool:
        return False


_ABSENT = _Absent()
_asyncio_backend: Backend | None = None
_trio_backend: Backend | None = None
# Which backend to probe first: the one that answered last. A wrong guess
# costs one failed probe (a loop lookup for asyncio; for trio, an
# AttributeError raised and caught inside trio), once per switch.
_trio_first = False


def _load_asyncio() -> Backend | _Absent:
    global _asyncio_backend
    if "asyncio" not in sys.modules:
        return _ABSENT
    from .asyncio._backend import AsyncioBackend

    backend: Backend = AsyncioBackend()
    _asyncio_backend = backend
    return backend


def _load_trio() -> Backend | _Absent:
    global _trio_backend
    if "trio" not in sys.modules:
        return _ABSENT
    from .trio._backend import TrioBackend

    backend: Backend = TrioBackend()
    _trio_backend = backend
    return backend


def enter_scope(scope: CancelScope) -> CancelScope:
    """Enter *scope*: find the backend running the current task, bind the
    scope to it, return the scope. This *is* ``CancelScope.__enter__``.

    The single dispatch point; detection state stays private to this module.
    asyncio's probe is safe to try first under trio's guest mode: trio code
    then runs in asyncio callbacks, never inside an asyncio task.
    """
    global _trio_first
    if scope._state:
        raise RuntimeError(already_entered(scope))
    if not _trio_first:
        backend = _asyncio_backend or _load_asyncio()
        if not backend.try_enter(scope):
            backend = _trio_backend or _load_trio()
            if not backend.try_enter(scope):
                raise RuntimeError(_why_no_backend())
            _trio_first = True
    else:
        backend = _trio_backend or _load_trio()
        if not backend.try_enter(scope):
            _trio_first = False
            return enter_scope(scope)
    scope._backend = backend  # type: ignore[assignment]
    scope._state = 1  # _ACTIVE, set last: a failed enter leaves the scope unused
    return scope


def _why_no_backend() -> str:
    if "asyncio" in sys.modules:
        from .asyncio._private import running_loop

        if running_loop() is not None:
            return no_task()  # a loop runs, but this is a callback, not a task
    return no_running_backend()


def current_backend() -> Backend:
    """The backend running the current task; raise if there is none.

    Outside a task but inside a running asyncio loop (a plain callback) the
    answer is asyncio, so current_time() works there too.
    """
    global _trio_first
    for backend, trio_first in (
        (_trio_backend or _load_trio(), True),
        (_asyncio_backend or _load_asyncio(), False),
        (_trio_backend or _load_trio(), True),
    )[0 if _trio_first else 1 :]:
        if backend.running():
            _trio_first = trio_first
            return backend  # type: ignore[return-value]
    if "asyncio" in sys.modules:
        from .asyncio._private import running_loop

        if running_loop() is not None:
            return _asyncio_backend or _load_asyncio()  # type: ignore[return-value]
    raise RuntimeError(no_running_backend())


def backend_by_name(name: str) -> Backend:
    """The backend called *name*, for code that chooses one explicitly."""
    if name == "asyncio":
        import asyncio  # noqa: F401  (make the backend loadable)

        return _asyncio_backend or _load_asyncio()  # type: ignore[return-value]
    if name == "trio":
        import trio  # noqa: F401

        return _trio_backend or _load_trio()  # type: ignore[return-value]
    raise ValueError(unknown_backend(name))
