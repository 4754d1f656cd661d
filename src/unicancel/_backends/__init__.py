"""Backend detection and the contract every backend implements.

The facade (:mod:`unicancel._scope`) asks :func:`current_backend` once per
scope, at ``__enter__``, and then talks only to the returned object. Backend
modules are imported lazily, so running on asyncio never imports trio and the
reverse.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from .._errors import unknown_backend

if TYPE_CHECKING:
    from .._scope import CancelScope

__all__ = ["Backend", "backend_by_name", "current_backend"]


class Backend(Protocol):
    """What the facade needs from an event loop library (11 members).

    Scope state common to all backends (deadline, shield, cancel_called,
    origin and reason) lives on the :class:`~unicancel.CancelScope`; the
    backend keeps its own bookkeeping in the scope's backend slots and makes
    the native cancel mechanism follow that state.
    """

    #: "asyncio" or "trio".
    name: str
    #: The exception class the backend raises to cancel a task.
    cancelled_exc_class: type[BaseException]

    def enter(self, scope: CancelScope) -> None:
        """Bind *scope* to the current task; turn a relative deadline into an
        absolute one, arm the deadline and deliver a cancel made before entry."""

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


_asyncio_backend: Backend | None = None
_trio_backend: Backend | None = None
_in_trio_task: Callable[[], bool] | None = None


def _load_asyncio() -> Backend:
    global _asyncio_backend
    from ._asyncio import AsyncioBackend

    backend: Backend = AsyncioBackend()
    _asyncio_backend = backend
    return backend


def _load_trio() -> Backend:
    global _trio_backend
    from ._trio import TrioBackend

    backend: Backend = TrioBackend()
    _trio_backend = backend
    return backend


def current_backend() -> Backend:
    """The backend running the current task.

    trio is asked first because trio's guest mode runs inside an asyncio loop;
    only if trio has been imported can it be running. Otherwise the answer is
    asyncio, whose backend raises unicancel's "no running loop" error itself
    when it finds no loop: that saves a second loop lookup on the hot path.
    """
    global _in_trio_task
    if _in_trio_task is None:
        if "trio" not in sys.modules:
            return _asyncio_backend or _load_asyncio()
        from trio.lowlevel import in_trio_task

        _in_trio_task = in_trio_task
    if _in_trio_task():
        return _trio_backend or _load_trio()
    return _asyncio_backend or _load_asyncio()


def backend_by_name(name: str) -> Backend:
    """The backend called *name*, for code that chooses one explicitly."""
    if name == "asyncio":
        return _asyncio_backend or _load_asyncio()
    if name == "trio":
        return _trio_backend or _load_trio()
    raise ValueError(unknown_backend(name))
