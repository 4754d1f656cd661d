"""``current_loop()``: the :class:`~._loop.Loop` of the backend running the
current code. Imports the implementations lazily, so running on asyncio
never imports trio."""

from __future__ import annotations

from collections.abc import Callable

from .._backends import current_backend
from ._loop import Loop

__all__ = ["current_loop"]


_LOOPS: dict[str, Callable[[], Loop]] = {}


def current_loop(backend: str | None = None) -> Loop:
    """The loop running the current code; raises RuntimeError outside one.
    *backend*: its name, when the caller knows it (skips the detection)."""
    name = backend or current_backend().name
    factory = _LOOPS.get(name)
    if factory is None:
        if name == "trio":
            from ._loop_trio import TrioLoop

            factory = _LOOPS[name] = TrioLoop
        else:
            from ._loop_asyncio import AsyncioLoop

            factory = _LOOPS[name] = AsyncioLoop
    return factory()
