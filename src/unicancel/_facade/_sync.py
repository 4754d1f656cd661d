"""``unicancel.Event``: a one-shot event whose ``wait()`` is always a checkpoint.

``asyncio.Event.wait()`` on a set event returns without suspending, so it is
no cancellation point; ``trio.Event.wait()`` always is. This event keeps the
native event of the backend that waits on it (created at the first wait that
blocks) and gives the set case trio's answer: a checkpoint.
"""

from __future__ import annotations

from typing import Any, final

from .._backends import current_backend

__all__ = ["Event"]


@final
class Event:
    """A one-shot event with trio's semantics on every backend.

    :meth:`set` wakes every task blocked in :meth:`wait` and makes later
    waits return at once. :meth:`wait` is always a checkpoint, as on trio: in
    a cancelled scope it raises even if the event is already set (an
    ``asyncio.Event`` then returns without suspending, so it is no
    cancellation point). Like ``asyncio.Event`` and ``trio.Event`` it is not
    thread-safe: call :meth:`set` from the thread running the event loop.
    """

    __slots__ = ("_flag", "_native")

    def __init__(self) -> None:
        self._flag = False
        # The backend's own event, made by the first wait that blocks (so an
        # Event can be created outside async code, as a trio.Event can).
        self._native: Any = None

    def is_set(self) -> bool:
        """Whether :meth:`set` has been called."""
        return self._flag

    def set(self) -> None:
        """Set the event and wake every waiting task; later calls do nothing."""
        if not self._flag:
            self._flag = True
            if self._native is not None:
                self._native.set()

    async def wait(self) -> None:
        """Wait until the event is set; a checkpoint either way.

        If the event is already set this yields once and raises the
        cancelled exception when the current code is cancelled (as trio's
        ``Event.wait()`` does); otherwise it blocks until :meth:`set`.
        """
        backend = current_backend()
        if self._flag:
            await backend.checkpoint()
            return
        native = self._native
        if native is None:
            native = self._native = _native_event(backend.name)
        elif _backend_of(native) != backend.name:
            raise RuntimeError(
                f"unicancel: this Event is already used on {_backend_of(native)}; "
                f"an Event cannot be waited on from {backend.name} too"
            )
        await native.wait()

    def __repr__(self) -> str:
        return f"<unicancel.Event at {id(self):#x}, {'set' if self._flag else 'unset'}>"


def _native_event(backend: str) -> Any:
    if backend == "trio":
        import trio

        return trio.Event()
    import asyncio

    return asyncio.Event()


def _backend_of(native: object) -> str:
    return "trio" if type(native).__module__.startswith("trio") else "asyncio"
