"""What stop tokens need from an event loop, behind one small interface.

Tokens are backend-neutral and may be stopped from any thread or a signal
handler; everything that touches a loop goes through a :class:`Loop`:
:meth:`Loop.soon` is the only way in from outside (``call_soon_threadsafe``
on asyncio, ``TrioToken.run_sync_soon`` on trio, both documented as safe in
threads and signal handlers). The implementations live in
``_loop_asyncio``/``_loop_trio``; :func:`._loop_current.current_loop` imports
them lazily, so running on asyncio never imports trio.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["Loop", "Timer", "describe_await", "no_undo"]


class Timer(Protocol):
    def cancel(self) -> None:
        """Drop the timer; safe from any thread (it may still fire once if
        it was due already: its callback must check that it is wanted)."""

    def finished(self) -> bool:
        """True once its event loop has finished (closed, or the trio run
        ended): then it will never fire."""


class Loop(Protocol):
    """One running asyncio loop or trio run."""

    #: Identifies the loop (hashable; equal for the same loop; must not
    #: keep the loop alive: tokens that outlive it keep their keys).
    key: object

    def soon(self, fn: Callable[[], object]) -> None:
        """Run *fn* on the loop soon; safe from any thread and from a signal
        handler. Dropped silently if the loop has finished."""

    def time(self) -> float:
        """The loop's clock (what deadlines are measured on)."""

    def call_at(self, when: float, fn: Callable[[], object]) -> Timer:
        """Run *fn* on the loop at *when*; call from the loop's thread.
        *fn* must not raise."""

    async def sleep_forever(self) -> None:
        """Block until cancelled."""

    def current_task(self) -> object:
        """The running task."""

    def wake_on_signals(self) -> Callable[[], None]:
        """Make a signal arriving while the loop waits for I/O wake it up
        (so that Python runs the signal's handler); returns the undo. Call
        from the loop's thread, which must be the main thread."""

    def unfinished(self, host: object) -> list[str]:
        """One line per task still running, ``"fn() at file:line (task
        'name')"`` (where it waits): *host* (a task of this loop) first, then
        the others (asyncio: every task of the loop; trio: the tasks below
        *host*)."""


def no_undo() -> None:
    """What :meth:`Loop.wake_on_signals` returns when it had nothing to do."""


def _library_dirs() -> tuple[str, ...]:
    """Library code a suspended task's await chain passes through; reports
    point at the innermost frame outside it (the user's own await)."""
    import sys

    files = [
        mod.__file__
        for name in ("asyncio", "trio", "anyio", "unicancel")
        if (mod := sys.modules.get(name)) is not None and mod.__file__
    ]
    return tuple(os.path.dirname(file) + os.sep for file in files)


def describe_await(coro: Any) -> str:
    """``"fn() at file.py:12"`` for the innermost frame of *coro*'s await
    chain that is not library code; if all of it is, the outermost frame that
    is not unicancel's own (the library call the user's code made, e.g.
    ``sleep()``), never a unicancel wrapper such as a task group's child."""
    found = fallback = None
    library = _library_dirs()
    own = os.path.dirname(os.path.dirname(__file__)) + os.sep  # the package (we are in _stop/)
    obj = coro
    while obj is not None:
        frame = getattr(obj, "cr_frame", None) or getattr(obj, "gi_frame", None)
        frame = frame or getattr(obj, "ag_frame", None)
        if frame is None:
            break
        filename = frame.f_code.co_filename
        if not filename.startswith(library):
            found = frame
        elif fallback is None and not filename.startswith(own):
            fallback = frame
        inner = (
            getattr(obj, "cr_await", None)
            or getattr(obj, "gi_yieldfrom", None)
            or getattr(obj, "ag_await", None)
        )
        created = getattr(obj, "cr_suspended", True) is False and not obj.cr_running
        if inner is None and created and filename.startswith(own):
            # A wrapper of ours that has not started (a child task created
            # but not yet run): what it will await is its coroutine argument.
            inner = next((v for v in frame.f_locals.values() if hasattr(v, "cr_frame")), None)
        obj = inner
    found = found or fallback
    if found is None:
        return "(not started, or finishing)"
    code = found.f_code
    return f"{code.co_name}() at {code.co_filename}:{found.f_lineno}"
