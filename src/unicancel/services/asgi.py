"""ASGI middleware: the request's budget and its client's disconnect, as a cancel scope.

``DeadlineMiddleware(app)`` runs every HTTP request of *app* (Starlette,
FastAPI or any ASGI app; pure ASGI, no dependency) inside a unicancel scope:

* its deadline is the budget the request carries (``grpc-timeout``, or Envoy's
  ``x-envoy-expected-rq-timeout-ms``); a malformed budget is answered with 400
  and the handler does not run; a budget spent before the response starts is
  answered with 504;
* when the client disconnects, the scope is cancelled with the reason
  ``"client disconnected"`` and the request's :class:`~unicancel.StopToken`
  (:func:`current_request_token`, or ``scope["state"]["unicancel.stop_token"]``)
  stops, so handlers that poll a token stop too.

Disconnects are seen by one reader of the server's ``receive``: a task that
reads ahead by at most one body chunk (the app's reads are served from it, so
request bodies reach the app unchanged and uploads keep their flow control).
Once the body has been read, the next message can only be ``http.disconnect``.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any

import unicancel

from .budget import ENVOY_HEADER, GRPC_TIMEOUT_HEADER, read_budget

__all__ = ["DISCONNECTED", "DeadlineMiddleware", "current_request_token"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: The cancel reason (and stop reason) when the client goes away.
DISCONNECTED = "client disconnected"
#: Key of the request's StopToken in ``scope["state"]``.
STATE_KEY = "unicancel.stop_token"

_current_token: ContextVar[unicancel.StopToken] = ContextVar("unicancel.services.request_token")


def current_request_token() -> unicancel.StopToken:
    """The stop token of the request being handled by :class:`DeadlineMiddleware`,
    stopped (reason ``"client disconnected"``) when its client disconnects.
    Outside such a request: a token that never stops."""
    return _current_token.get(unicancel.StopToken())


class _Receiver:
    """The single reader of the server's ``receive``; the app reads from it."""

    def __init__(self, receive: Receive, on_disconnect: Callable[[], None]) -> None:
        self._receive = receive
        self._on_disconnect = on_disconnect
        self._buffer: deque[Message] = deque()
        self._arrived = unicancel.Event()
        self._taken = unicancel.Event()
        self.disconnected = False
        self._failure: Exception | None = None

    async def pump(self) -> None:
        try:
            await self._pump()
        except Exception as exc:
            # The app may be waiting in receive(): fail it rather than leave it hanging.
            self._failure = exc
            self._arrived.set()
            raise

    async def _pump(self) -> None:
        while True:
            message = await self._receive()
            self._buffer.append(message)
            self._arrived.set()
            if message["type"] == "http.disconnect":
                self.disconnected = True
                self._on_disconnect()
                return
            if message["type"] == "http.request" and message.get("more_body", False):
                # Read ahead by one chunk only: the upload keeps its flow control.
                while self._buffer:
                    self._taken = unicancel.Event()
                    await self._taken.wait()

    async def receive(self) -> Message:
        while not self._buffer:
            if self._failure is not None:
                raise RuntimeError(
                    "unicancel: the server's receive() failed in DeadlineMiddleware"
                ) from self._failure
            if self._arrived.is_set():
                self._arrived = unicancel.Event()
            await self._arrived.wait()
        message = self._buffer[0]
        if message["type"] != "http.disconnect":  # disconnect is repeated to every later read
            self._buffer.popleft()
            self._taken.set()
        return message


class _Sender:
    def __init__(self, send: Send) -> None:
        self._send = send
        self.started = False

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)


class DeadlineMiddleware:
    """Run each HTTP request inside a scope bounded by its budget and cancelled
    when its client disconnects (see the module's documentation).

    :param header: the budget header in the ``grpc-timeout`` format (None: not read).
    :param envoy_header: Envoy's millisecond header (None: not read).
    :param margin: seconds kept back from the incoming budget, for the response
        to travel back before the caller's own deadline.
    :param default_timeout: budget of a request that carries none (``inf``: none).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        header: str | None = GRPC_TIMEOUT_HEADER,
        envoy_header: str | None = ENVOY_HEADER,
        margin: float = 0.0,
        default_timeout: float = math.inf,
    ) -> None:
        if math.isnan(margin) or margin < 0:
            raise ValueError(f"unicancel: margin must be >= 0 seconds, got {margin!r}")
        self.app = app
        self.header = header
        self.envoy_header = envoy_header
        self.margin = margin
        self.default_timeout = default_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            budget = read_budget(
                scope.get("headers", []), header=self.header, envoy_header=self.envoy_header
            )
        except ValueError as exc:
            await _respond(send, 400, f"{exc}\n")
            return
        if budget is None:
            budget = self.default_timeout
        budget -= self.margin
        if budget <= 0:
            await _respond(send, 504, "unicancel: the request's time budget was spent\n")
            return
        deadline = unicancel.current_time() + budget
        source = unicancel.StopSource()
        scope.setdefault("state", {})[STATE_KEY] = source.token
        handler = unicancel.CancelScope(deadline=deadline)

        def disconnected() -> None:
            source.request_stop(DISCONNECTED)
            handler.cancel(DISCONNECTED)

        receiver = _Receiver(receive, disconnected)
        sender = _Sender(send)
        reset = _current_token.set(source.token)
        try:
            async with _watching(receiver.pump):
                with handler:
                    await self.app(scope, receiver.receive, sender.send)
        finally:
            _current_token.reset(reset)
            source.close()
        if handler.cancelled_caught and not sender.started and not receiver.disconnected:
            await _respond(send, 504, "unicancel: the request's time budget ran out\n")


@asynccontextmanager
async def _watching(pump: Callable[[], Awaitable[None]]) -> AsyncIterator[None]:
    """Run *pump* beside the block; cancel it and wait for it when the block ends.

    On asyncio a bare task: a unicancel TaskGroup that cancels a child costs
    about 45 us against 5 us, which would be most of the middleware's cost
    per request; the task is always awaited before the block is left. On trio
    a nursery is cheap (unicancel's TaskGroup is one).
    """
    if unicancel.get_cancelled_exc_class() is not asyncio.CancelledError:
        error: Exception | None = None
        failures: list[Exception] = []

        async def guarded() -> None:
            try:
                await pump()
            except Exception as exc:  # raised as on asyncio, after the block
                failures.append(exc)

        async with unicancel.TaskGroup() as tg:
            tg.start_soon(guarded)
            try:
                yield
            except Exception as exc:  # raised as it is, not in the group's ExceptionGroup
                error = exc
            finally:
                tg.cancel_scope.cancel()
        if error is not None:
            raise error
        if failures:
            raise failures[0]  # the server's receive() failed
        return
    task = asyncio.ensure_future(pump())
    try:
        yield
    except BaseException:
        await _stop(task)
        raise
    await _stop(task)
    if not task.cancelled() and (failure := task.exception()) is not None:
        raise failure  # the server's receive() failed


async def _stop(task: asyncio.Future[None]) -> None:
    task.cancel()
    with unicancel.CancelScope(shield=True):  # no pump left running behind us
        await asyncio.wait([task])


async def _respond(send: Send, status: int, text: str) -> None:
    body = text.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
