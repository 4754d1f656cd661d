"""Backend detection: which backend runs the current task.

The contract every backend implements is :class:`unicancel._core._contract.Backend`.
A scope finds its backend once, at ``__enter__`` (:func:`enter_scope`), and
then talks only to it. Backend modules are imported lazily, so running on
asyncio never imports trio and the reverse.

The scope class's ``__enter__``/``__exit__`` are those of the backend that
answered last: :func:`enter_scope`/:func:`exit_scope` (detection, then the
backend's ``try_enter``/``exit``), or the backend's own ``scope_enter``/
``scope_exit`` where it has them (the whole entry or exit in one frame, which
hands anything else back to these two). A switch of backend reinstalls them.
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import TypeVar

from .._core import _contract
from .._core._contract import Backend, Scope
from .._core._errors import (
    already_entered,
    already_exited,
    never_entered,
    no_running_backend,
    no_task,
    unknown_backend,
)
from .._core._scope_state import _ABANDONED, _ACTIVE, _EXITED, _NEW, CancelOrigin

__all__ = ["backend_by_name", "current_backend", "enter_scope", "exit_scope"]

S = TypeVar("S", bound=Scope)


class _Absent:
    """Stands in for a backend whose library has not been imported: it cannot
    be running, and we never import asyncio for trio or trio for asyncio."""

    def running(self) -> bool:
        return False

    def try_enter(self, scope: Scope) -> bool:
        return False


_ABSENT = _Absent()
_asyncio_backend: Backend | None = None
_trio_backend: Backend | None = None
# Which backend to probe first: the one that answered last. A wrong guess
# costs one failed probe (a loop lookup for asyncio; for trio, an
# AttributeError raised and caught inside trio), once per switch.
_trio_first = False
# The backend whose scope_enter/scope_exit (or these generic ones, for a
# backend without) the scope class has now (None: the generic ones, as defined).
_installed: object = None


def _load_asyncio() -> Backend | _Absent:
    global _asyncio_backend
    if "asyncio" not in sys.modules:
        return _ABSENT
    from .asyncio._backend import BACKEND

    backend: Backend = BACKEND
    _asyncio_backend = backend
    return backend


def _load_trio() -> Backend | _Absent:
    global _trio_backend
    if "trio" not in sys.modules:
        return _ABSENT
    from .trio._backend import BACKEND

    backend: Backend = BACKEND
    _trio_backend = backend
    return backend


def enter_scope(scope: S) -> S:
    """Enter *scope*: find the backend running the current task, bind the
    scope to it, return the scope. This is ``CancelScope.__enter__`` unless
    the backend that answered last has its own (``scope_enter``, which
    comes here when its probe fails).

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
    if backend is not _installed:
        _install(backend)
    return scope


def _install(backend: object) -> None:
    """Make *backend*'s entry and exit the scope class's (once per switch of
    backend: a type attribute write, which also resets CPython's lookup
    caches for the class)."""
    global _installed
    _installed = backend
    cls = _contract.scope_class
    cls.__enter__ = getattr(backend, "scope_enter", enter_scope)
    cls.__exit__ = getattr(backend, "scope_exit", exit_scope)


_DEADLINE = CancelOrigin.DEADLINE


def exit_scope(
    scope: Scope,
    exc_type: type[BaseException] | None,
    exc: BaseException | None,
    tb: TracebackType | None,
) -> bool:
    """``CancelScope.__exit__`` for a backend without its own ``scope_exit``,
    and what such a function hands back to (a scope not entered, exited
    already, or of another backend): the backend's ``exit()``, then what it
    left to propagate."""
    state = scope._state
    if state != _ACTIVE:
        if state == _ABANDONED:
            # The misnesting error was raised when the outer scope closed.
            scope._state = _EXITED
            return False
        msg = never_entered(scope) if state == _NEW else already_exited(scope)
        raise RuntimeError(msg) from exc
    remaining = scope._backend.exit(scope, exc)
    if remaining is None:
        # A scope that swallowed was cancelled: it has _origin; one that a
        # deadline cancelled has _fail (see the facade's _may_expire).
        if exc is not None and scope._origin is _DEADLINE and scope._fail:
            raise TimeoutError(scope._timeout_message()) from exc
        return True
    if remaining is exc:
        return False
    # A new error (misnesting) or a smaller exception group: raise it, but
    # keep the context Python would give the original exception.
    context = remaining.__context__
    try:
        raise remaining
    finally:
        remaining.__context__ = context
        del remaining, context, exc


_contract.enter_scope = enter_scope
_contract.exit_scope = exit_scope


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
