"""``unicancel.run``: start an async function on a backend chosen by name."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar, TypeVarTuple

from .._core._errors import unknown_backend

__all__ = ["run"]

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


def run(
    async_fn: Callable[[*Ts], Awaitable[T]],
    *args: *Ts,
    backend: str = "asyncio",
) -> T:
    """Run ``async_fn(*args)`` to completion on *backend* ("asyncio" or "trio")
    and return its result. A convenience for scripts and examples: code that
    already runs under ``asyncio.run``/``trio.run``/``anyio.run`` needs nothing."""
    if backend == "asyncio":
        import asyncio

        async def main() -> T:
            return await async_fn(*args)

        return asyncio.run(main())
    if backend == "trio":
        import trio

        return trio.run(async_fn, *args)
    raise ValueError(unknown_backend(backend))
