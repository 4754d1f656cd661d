"""``unicancel.run``: start an async function on a backend chosen by name."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar, TypeVarTuple

from .._backends import backend_by_name
from .._core import _diag_hooks
from .._core._callables import check_async_fn, coroutine_or_error
from .._core._errors import unknown_backend, unseen_misnesting

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
    unseen: list[BaseException] = []
    token = unseen_misnesting.set(unseen)  # the run's tasks get a copy of this context
    try:
        return _run(async_fn, args, backend)
    except BaseException as exc:
        # A cancellation escaped because a scope was misnested (an async
        # generator yielded inside it); the misnesting error itself was raised
        # in a finaliser, where only a log saw it. Show it instead.
        if unseen and isinstance(exc, backend_by_name(backend).cancelled_exc_class):
            error = unseen[0]
            del unseen[:]
            raise error from exc
        raise
    finally:
        unseen_misnesting.reset(token)


def _run(async_fn: Callable[..., Awaitable[T]], args: tuple[Any, ...], backend: str) -> T:
    if backend == "asyncio":
        import asyncio

        async def main() -> T:
            hooks = _diag_hooks.hooks
            if hooks is not None:
                hooks.run_started("asyncio")
            try:
                result: T = await coroutine_or_error(async_fn, args, "run", "async_fn")
            finally:
                # Diagnostics: what is still running now would be cancelled
                # silently by asyncio.run (SCENARIOS 8); report it first.
                hooks = _diag_hooks.hooks
                if hooks is not None:
                    hooks.run_finished("asyncio")
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
