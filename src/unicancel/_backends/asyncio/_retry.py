"""asyncio: telling a retry loop from new code (docs/semantics.md, difference 1).

asyncio's own code (``TaskGroup.__aexit__``, ``Condition.wait()``) and anyio's
catch a cancellation and await again at the same place; re-cancelling them at
every await would spin (ANCHORS trap 1). :mod:`._delivery` asks two
questions here before a re-delivery: is the task suspended at the same await
site as last time (:func:`await_site`), and did the code that caught and
retried belong to asyncio or anyio (:func:`retried_by_edge_triggered_code`)?
Only then does it wait for the task to be woken instead. Both walk the await
chain only on that rare path, never on scope enter/exit.
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import weakref
from asyncio import Future, Task
from types import AsyncGeneratorType, CoroutineType, GeneratorType
from typing import Any

__all__ = ["SAME_SITE_LIMIT", "await_site", "retried_by_edge_triggered_code"]

#: Re-deliveries in a row at one await site (same scope) before waiting for
#: the task to be woken by something else.
SAME_SITE_LIMIT = 1


def await_site(task: Task[Any]) -> tuple[tuple[tuple[object, int], ...], list[Any]]:
    """Where *task* is suspended: (code, instruction) of every frame in its
    await chain (two suspensions at the same site mean a retry loop), and the
    coroutine objects of that chain (which of them survived tells who caught)."""
    site: list[tuple[object, int]] = []
    chain: list[Any] = []
    obj: Any = task.get_coro()
    while obj is not None:
        frame = getattr(obj, "cr_frame", None) or getattr(obj, "gi_frame", None)
        if frame is None:
            frame = getattr(obj, "ag_frame", None)
        if frame is None:
            if isinstance(obj, Future) or type(obj).__name__ == "FutureIter":
                break  # the normal bottom: a future, or the C iterator awaiting one
            inner = _delegate(obj)
            if inner is None:
                # An awaitable we cannot see into: this site matches no other
                # (never mistake distinct awaits for a retry loop).
                site.append((obj, id(obj)))
                break
            obj = inner
            continue
        site.append((frame.f_code, frame.f_lasti))
        chain.append(obj)
        obj = (
            getattr(obj, "cr_await", None)
            or getattr(obj, "gi_yieldfrom", None)
            or getattr(obj, "ag_await", None)
        )
    return tuple(site), chain


def _delegate(wrapper: object) -> Any:
    """The coroutine or generator behind a frameless awaitable wrapper (an
    async generator's asend()/athrow(), ``coro.__await__()``): the only
    public way to it is the garbage collector's referents."""
    for ref in gc.get_referents(wrapper):
        if isinstance(ref, (CoroutineType, GeneratorType, AsyncGeneratorType)):
            return ref
    return None


def _edge_triggered_dirs() -> tuple[str, ...]:
    dirs = [os.path.dirname(asyncio.__file__) + os.sep]
    anyio = sys.modules.get("anyio")
    if anyio is not None and anyio.__file__:
        dirs.append(os.path.dirname(anyio.__file__) + os.sep)
    return tuple(dirs)


def retried_by_edge_triggered_code(before: list[weakref.ref[Any]], chain: list[Any]) -> bool:
    """Whether the code that caught the last cancellation and awaited again
    was written for edge-triggered cancellation (asyncio's own, anyio's).

    The catcher is the deepest coroutine of the chain that is still the same
    object as at the last delivery: everything below it was re-created by the
    retry. Only those loops get the retry-loop rule; a loop in any other code
    is re-cancelled at every await, as on trio."""
    catcher_frame = None
    for ref, obj in zip(before, chain, strict=False):
        if ref() is not obj:
            break
        catcher_frame = (
            getattr(obj, "cr_frame", None)
            or getattr(obj, "gi_frame", None)
            or getattr(obj, "ag_frame", None)
        )
    if catcher_frame is None:
        return False
    return bool(catcher_frame.f_code.co_filename.startswith(_edge_triggered_dirs()))
