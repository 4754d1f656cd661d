"""Module-level functions that act on the current task's cancellation state."""

from __future__ import annotations

from .._backends import backend_by_name, current_backend

__all__ = [
    "cancel_shielded_checkpoint",
    "checkpoint",
    "checkpoint_if_cancelled",
    "current_effective_deadline",
    "current_time",
    "get_cancelled_exc_class",
]


def current_time() -> float:
    """The current time on the running backend's clock, which deadlines use
    (``loop.time()`` on asyncio, ``trio.current_time()`` on trio)."""
    return current_backend().current_time()


def current_effective_deadline() -> float:
    """The earliest deadline of the scopes enclosing the current code,
    stopping at the first shield; ``-inf`` if it is already cancelled and
    ``inf`` if no deadline applies.

    On asyncio only unicancel scopes are seen (``asyncio.timeout`` keeps its
    deadline private); on trio every trio scope counts.
    """
    return current_backend().current_effective_deadline()


async def checkpoint() -> None:
    """Let other tasks run, and raise the cancelled exception if the current
    code is cancelled. Put one in CPU-bound loops so they can be cancelled."""
    await current_backend().checkpoint()


async def checkpoint_if_cancelled() -> None:
    """Raise the cancelled exception if the current code is cancelled; never
    yields to other tasks otherwise (cheaper than :func:`checkpoint`)."""
    await current_backend().checkpoint_if_cancelled()


async def cancel_shielded_checkpoint() -> None:
    """Yield to other tasks once, without raising even if cancelled."""
    await current_backend().cancel_shielded_checkpoint()


def get_cancelled_exc_class(backend: str | None = None) -> type[BaseException]:
    """The exception class used to cancel tasks: ``asyncio.CancelledError`` or
    ``trio.Cancelled``. Never catch it without re-raising.

    Without *backend*, the running backend's; with ``"asyncio"`` or
    ``"trio"``, that backend's (usable outside async code).
    """
    if backend is None:
        return current_backend().cancelled_exc_class
    return backend_by_name(backend).cancelled_exc_class
