"""Backend detection: which backend runs the current task.

The contract every backend implements is :class:`unicancel._core._contract.Backend`.
The facade (:mod:`unicancel._facade._scope`) asks :func:`current_backend` once per
scope, at ``__enter__``, and then talks only to the returned object. Backend
modules are imported lazily, so running on asyncio never imports trio and the
reverse.
"""

from __future__ import annotations

import sys
from typing import TypeVar

from .._core._contract import Backend, Scope
from .._core._errors import already_entered, no_running_backend, no_task, unknown_backend

__all__ = ["backend_by_name", "current_backend", "enter_scope"]

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


def enter_scope(scope: S) -> S:
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
