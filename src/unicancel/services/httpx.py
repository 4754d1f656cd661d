"""httpx integration: send the caller's remaining budget with every request.

``httpx.AsyncClient(transport=DeadlineTransport())`` writes the remaining time
of :func:`unicancel.current_effective_deadline` (less ``margin``) in the
``grpc-timeout`` header of every request and runs the request inside
:func:`unicancel.fail_at` of that deadline; a request whose budget is already
spent is not sent (``TimeoutError``). Without a deadline nothing is added.
Works on asyncio and trio (httpx runs on both through anyio).
Needs ``pip install 'unicancel[httpx]'``.
"""

from __future__ import annotations

import math

from ._optional import missing

try:
    import httpx
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise missing("httpx", "httpx", "unicancel.services.httpx") from exc

import unicancel

from .budget import GRPC_TIMEOUT_HEADER, outgoing_timeout

__all__ = ["DeadlineTransport"]


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
        value = outgoing_timeout(self.margin, what=f"{request.method} {request.url}")
        if value is None:
            return await self.transport.handle_async_request(request)
        request.headers[self.header] = value
        # Our own deadline, not the margin's: the server answers (504) before it.
        with unicancel.fail_at(unicancel.current_effective_deadline()):
            return await self.transport.handle_async_request(request)

    async def aclose(self) -> None:
        await self.transport.aclose()
