"""``unicancel.to_thread``: run a blocking function in a worker thread with
``trio.to_thread.run_sync``'s cancellation semantics on every backend.

A thread cannot be interrupted. ``asyncio.to_thread`` stops waiting for it
when cancelled and leaves it running; trio waits for it (unless
``abandon_on_cancel=True``) and lets the cancellation land at the next
checkpoint. On trio this is ``trio.to_thread.run_sync``; on asyncio the call
runs in the loop's default executor and the wait is shielded.
"""

from __future__ import annotations

import contextvars
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, TypeVarTuple

from .._backends import current_backend
from .._core._callables import check_sync_fn
from ._scope import CancelScope

if TYPE_CHECKING:
    from asyncio import Future

__all__ = ["to_thread"]

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


async def to_thread(fn: Callable[[*Ts], T], *args: *Ts, abandon_on_cancel: bool = False) -> T:
    """Run ``fn(*args)`` in a worker thread and return its result, as
    ``trio.to_thread.run_sync`` does, on every backend.

    A cancelled caller never starts the thread. Once it runs, a cancellation
    does not interrupt the wait: the call returns (or raises) what ``fn``
    did once the thread has finished, and the cancellation lands at the next
    checkpoint. With ``abandon_on_cancel=True`` a cancellation raises at once
    instead and the thread is left to finish on its own, its result or error
    discarded (``asyncio.to_thread``'s behaviour).

    ``fn`` runs in a copy of the caller's context variables. Keyword
    arguments are not passed through; use :func:`functools.partial`. On
    asyncio the thread comes from the loop's default executor, and a
    cancellation from outside unicancel (``asyncio.timeout``, ``Task.cancel()``)
    also waits for the thread, then raises, because such a cancellation is
    not delivered again at a later await.
    """
    check_sync_fn(fn, "to_thread", "fn")
    if abandon_on_cancel is not False and abandon_on_cancel is not True:
        raise TypeError(
            f"unicancel: to_thread() takes a bool for abandon_on_cancel, got {abandon_on_cancel!r}"
        )
    backend = current_backend()
    if backend.name == "trio":
        import trio

        return await trio.to_thread.run_sync(fn, *args, abandon_on_cancel=abandon_on_cancel)
    from asyncio import get_running_loop  # not imported when running on trio

    await backend.checkpoint_if_cancelled()
    context = contextvars.copy_context()
    future = get_running_loop().run_in_executor(None, _call, context, fn, args)
    if abandon_on_cancel:
        if future.done():
            await _schedule_point()  # see _wait_for_thread
        return await future
    # Keeps unicancel's cancellations (and deadlines) out until the thread is
    # done; leaving the shield re-delivers them at the next await.
    with CancelScope(shield=True):
        result = await _wait_for_thread(future)
    return result


async def _schedule_point() -> None:
    from .._backends.asyncio._deadlines import schedule_point  # asyncio only

    await schedule_point()


def _call(context: contextvars.Context, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
    result = context.run(fn, *args)
    if inspect.iscoroutine(result):
        result.close()
        raise TypeError(_not_sync(fn))
    return result


async def _wait_for_thread(future: Future[T]) -> T:
    from asyncio import CancelledError, wait

    cancelled: CancelledError | None = None
    if future.done():
        # The thread finished before we could wait (3.14+ then sets the
        # future at once): still one schedule point, as trio's run_sync
        # always is, so that a passed deadline is applied here too.
        try:
            await _schedule_point()
        except CancelledError as exc:
            cancelled = exc
    while not future.done():
        try:
            # asyncio.wait() never cancels what it waits for, so a native
            # Task.cancel() ends this wait only, not the thread's future.
            await wait((future,))
        except CancelledError as exc:
            cancelled = exc
    if cancelled is not None:
        if not future.cancelled():
            future.exception()  # mark it retrieved: the cancellation wins
        raise cancelled
    return future.result()


def _not_sync(fn: object) -> str:
    name = getattr(fn, "__qualname__", None) or repr(fn)
    return (
        f"unicancel: to_thread() expected a sync function for fn, but {name} returned a "
        "coroutine; await it directly instead"
    )
