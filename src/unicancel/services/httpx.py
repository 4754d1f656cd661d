"""httpx integration: send the caller's remaining budget with every request.

``httpx.AsyncClient(transport=DeadlineTransport())`` writes the remaining time
of :func:`unicancel.current_effective_deadline` (less ``margin``) in the
``grpc-timeout`` header of every request and runs the request inside
:func:`unicancel.fail_at` of that deadline; a request whose budget is already
spent is not sent (``TimeoutError``). Without a deadline nothing is added.
Works on asyncio and trio (httpx runs on both through anyio).
Needs ``pip install 'unicancel[httpx]'``.

On asyncio, httpcore cleans up a cancelled request (closes its connection,
which is how the server learns that the client gave up) inside an anyio
shield, and an anyio shield does not keep out unicancel's level-triggered
re-cancellation (docs/semantics.md): the cleanup would be cut short, leaving
the connection open and the server unaware. So on asyncio the transport runs
httpcore's part in a task of its own and cancels it once, as plain asyncio
would, then waits (shielded) for its cleanup.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Awaitable
from typing import TypeVar

from ._optional import missing

try:
    import httpx
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise missing("httpx", "httpx", "unicancel.services.httpx") from exc

import unicancel

from .budget import GRPC_TIMEOUT_HEADER, encode_timeout, no_budget

__all__ = ["DeadlineTransport"]

T = TypeVar("T")


async def _cancel_once(coro: Awaitable[T]) -> T:
    """Await *coro*; if we are cancelled, cancel it once and wait for it
    (shielded) before re-raising, so that its own shielded cleanup finishes."""
    if unicancel.get_cancelled_exc_class() is not asyncio.CancelledError:
        return await coro  # trio: anyio's shields are trio's, nothing to do
    inner = asyncio.ensure_future(coro)
    try:
        # Cancelling a task that awaits a task cancels the awaited one once, and
        # the outer one then waits for it: plain asyncio's edge-triggered cancel.
        return await inner
    except BaseException:
        if not inner.done():  # woken by something else: let the cleanup finish
            inner.cancel()
            with unicancel.CancelScope(shield=True):
                await asyncio.wait([inner])
        raise


class _Stream(httpx.AsyncByteStream):
    """The response body, read through :func:`_cancel_once`."""

    def __init__(self, stream: httpx.AsyncByteStream) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        chunks = self._stream.__aiter__()
        while True:
            try:
                chunk: bytes = await _cancel_once(anext(chunks))
            except StopAsyncIteration:
                return
            yield chunk

    async def aclose(self) -> None:
        await _cancel_once(self._stream.aclose())


class DeadlineTransport(httpx.AsyncBaseTransport):
    """An ``httpx`` transport that carries the current deadline to the server.

    :param transport: the transport that does the I/O (default
        ``httpx.AsyncHTTPTransport()``); closed with this one.
    :param header: the header the budget is written to.
    :param margin: seconds kept back from the budget sent, so that the server
        gives up (and its answer travels back) before the caller's deadline.
    """

    def __init__(
        self,
        transport: httpx.AsyncBaseTransport | None = None,
        *,
        header: str = GRPC_TIMEOUT_HEADER,
        margin: float = 0.0,
    ) -> None:
        if math.isnan(margin) or margin < 0:
            raise ValueError(f"unicancel: margin must be >= 0 seconds, got {margin!r}")
        self.transport = transport if transport is not None else httpx.AsyncHTTPTransport()
        self.header = header
        self.margin = margin

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        # outgoing_timeout(), inlined: the deadline is read once (and the
        # request's URL formatted only for the error), on every request.
        deadline = unicancel.current_effective_deadline()
        if deadline == math.inf:
            return await self._send(request)
        remaining = deadline - unicancel.current_time() - self.margin
        if remaining <= 0:
            raise TimeoutError(no_budget(self.margin, f"{request.method} {request.url}"))
        request.headers[self.header] = encode_timeout(remaining)
        # Our own deadline, not the margin's: the server answers (504) before it.
        with unicancel.fail_at(deadline):
            return await self._send(request)

    async def _send(self, request: httpx.Request) -> httpx.Response:
        if unicancel.get_cancelled_exc_class() is not asyncio.CancelledError:
            return await self.transport.handle_async_request(request)  # trio: as it is
        response = await _cancel_once(self.transport.handle_async_request(request))
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _Stream(response.stream)
        return response

    async def aclose(self) -> None:
        await self.transport.aclose()
