"""gRPC (``grpc.aio``) integration: the caller's deadline on every call, and a
server-side scope bounded by the RPC's deadline and cancelled with the RPC.

Client: ``channel = DeadlineChannel(grpc.aio.insecure_channel(target))``: every
call made through it (generated stubs included) gets ``timeout=`` the remaining
time of :func:`unicancel.current_effective_deadline` less ``margin``, or the
call's own ``timeout=`` if that is shorter; a call whose budget is spent is not
sent (``TimeoutError``). The timeout is computed when the call is made, in the
caller's task: ``grpc.aio`` runs client interceptors in a task of their own,
which does not see the caller's cancel scopes, so an interceptor could not.

Server: ``async with rpc_scope(context) as scope:`` (or ``@deadline_handler``)
runs the body inside a scope whose deadline is ``context.time_remaining()``
(less ``margin``: the handler then gives up, and can still answer, before the
caller does) and which is cancelled when the RPC is. grpc.aio itself cancels a
handler's task when its client cancels (``Task.cancel()``, no message): the
scope records that as ``CancelOrigin.ENCLOSING``; the scope's own
``"RPC cancelled"`` cancel covers a cancellation seen only by the context.

grpc.aio runs on asyncio only. Needs ``pip install 'unicancel[grpc]'``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Concatenate, ParamSpec, TypeVar

from ._optional import missing

try:
    import grpc
    import grpc.aio
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise missing("grpcio", "grpc", "unicancel.services.grpc") from exc

import unicancel

from .budget import remaining_budget

__all__ = ["RPC_CANCELLED", "DeadlineChannel", "call_timeout", "deadline_handler", "rpc_scope"]

#: The cancel reason of a server scope whose RPC was cancelled.
RPC_CANCELLED = "RPC cancelled"

P = ParamSpec("P")
T = TypeVar("T")
S = TypeVar("S")
R = TypeVar("R")


def call_timeout(timeout: float | None = None, *, margin: float = 0.0) -> float | None:
    """The ``timeout=`` for a call made now: the smaller of *timeout* and the
    remaining budget less *margin*; None if neither applies. Raises
    ``TimeoutError`` when the budget is spent (the call must not be sent)."""
    remaining = remaining_budget(margin)
    if math.isinf(remaining):
        return timeout
    if remaining <= 0:
        raise TimeoutError(
            f"unicancel: the deadline leaves no budget (margin {margin} s); the call was not sent"
        )
    return remaining if timeout is None else min(timeout, remaining)


class _MultiCallable:
    def __init__(self, inner: Any, margin: float) -> None:
        self._inner = inner
        self._margin = margin

    def __call__(self, request: Any, *, timeout: float | None = None, **kwargs: Any) -> Any:
        return self._inner(request, timeout=call_timeout(timeout, margin=self._margin), **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class DeadlineChannel:
    """Wrap a ``grpc.aio.Channel``: calls made through it carry the caller's
    deadline (see the module's documentation). Everything else is the channel's.

    :param margin: seconds kept back from the budget, so the server gives up
        (and its status travels back) before the caller's own deadline.
    """

    def __init__(self, channel: grpc.aio.Channel, *, margin: float = 0.0) -> None:
        if math.isnan(margin) or margin < 0:
            raise ValueError(f"unicancel: margin must be >= 0 seconds, got {margin!r}")
        self.channel = channel
        self.margin = margin

    def unary_unary(self, *args: Any, **kwargs: Any) -> Any:
        return _MultiCallable(self.channel.unary_unary(*args, **kwargs), self.margin)

    def unary_stream(self, *args: Any, **kwargs: Any) -> Any:
        return _MultiCallable(self.channel.unary_stream(*args, **kwargs), self.margin)

    def stream_unary(self, *args: Any, **kwargs: Any) -> Any:
        return _MultiCallable(self.channel.stream_unary(*args, **kwargs), self.margin)

    def stream_stream(self, *args: Any, **kwargs: Any) -> Any:
        return _MultiCallable(self.channel.stream_stream(*args, **kwargs), self.margin)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.channel, name)

    async def __aenter__(self) -> DeadlineChannel:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.channel.close()


@asynccontextmanager
async def rpc_scope(
    context: grpc.aio.ServicerContext, *, margin: float = 0.0
) -> AsyncIterator[unicancel.CancelScope]:
    """A scope for a ``grpc.aio`` handler: deadline ``context.time_remaining()``
    less *margin*; cancelled (reason ``"RPC cancelled"``) when the RPC is."""
    remaining = context.time_remaining()
    deadline = math.inf if remaining is None else unicancel.current_time() + remaining - margin
    scope = unicancel.CancelScope(deadline=deadline)

    def done(ctx: Any) -> None:
        if ctx.cancelled():
            scope.cancel(RPC_CANCELLED)  # no effect once the scope has exited

    with scope:
        context.add_done_callback(done)
        if context.cancelled():
            scope.cancel(RPC_CANCELLED)
        yield scope


def deadline_handler(
    fn: Callable[Concatenate[S, R, grpc.aio.ServicerContext, P], Awaitable[T]],
) -> Callable[Concatenate[S, R, grpc.aio.ServicerContext, P], Awaitable[T | None]]:
    """Decorate a unary ``grpc.aio`` servicer method to run it inside
    :func:`rpc_scope`; a handler cut short returns None after aborting the RPC
    with ``DEADLINE_EXCEEDED`` (deadline) or ``CANCELLED``."""

    async def wrapper(
        self: S,
        request: R,
        context: grpc.aio.ServicerContext,
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T | None:
        result: T | None = None
        async with rpc_scope(context) as scope:
            result = await fn(self, request, context, *args, **kwargs)
        if scope.cancel_origin is unicancel.CancelOrigin.DEADLINE:
            await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "unicancel: deadline exceeded")
        elif scope.cancelled_caught:
            await context.abort(grpc.StatusCode.CANCELLED, f"unicancel: {scope.cancel_reason}")
        return result

    functools.update_wrapper(wrapper, fn)
    return wrapper
