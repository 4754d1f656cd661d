"""``unicancel.run``: start an async function on a backend chosen by name."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar, TypeVarTuple

from ._callables import check_async_fn, coroutine_or_error
from ._errors import unknown_backend

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
    if backend != "asyncio" and backend != "trio":
        raise ValueError(unknown_backend(backend))
    # What can never be an async function fails here, before a loop starts;
    # the coroutine is built inside the run, as trio.run does.
    check_async_fn(async_fn, "run", "async_fn")
    if backend == "asyncio":
        import asyncio

        async def main() -> T:
            result: T = await coroutine_or_error(async_fn, args, "run", "async_fn")
            return result

        return asyncio.run(main())
    import trio

    def start() -> Coroutine[Any, Any, T]:
        return coroutine_or_error(async_fn, args, "run", "async_fn")

    # trio names the main task after the function it runs: keep async_fn's name.
    for attr in ("__module__", "__qualname__"):
        if isinstance(getattr(async_fn, attr, None), str):
            setattr(start, attr, getattr(async_fn, attr))
    return trio.run(start)
