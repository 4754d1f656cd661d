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

The middleware reads the first message of the request itself (a GET's whole,
empty body, already there), so the app starts with it in hand. While a longer
body is being read, the app's reads go straight to the server and a disconnect
is seen in them. Once the body has been read, the next message can only be
``http.disconnect``: a watcher task waits for it, and the app's later reads are
answered from what the watcher saw. The ``http.disconnect`` that a server sends
once the response is complete (the ASGI spec) is not a client giving up: work
the app does after its response (Starlette's background tasks) is not cancelled.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from contextvars import ContextVar
from typing import Any

import unicancel

from .._stop._state import State
from .._stop._token import _token
from .budget import (
    _MAX_DIGITS,
    _UNIT_RATIOS,
    ENVOY_HEADER,
    GRPC_TIMEOUT_HEADER,
    decode_envoy_timeout,
    decode_timeout,
    read_budget,
)

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

# grpc-timeout's units by their byte (bytes.isdigit() is ASCII only, as the format).
_BYTE_UNITS = {unit.encode(): ratio for unit, ratio in _UNIT_RATIOS}

_current_token: ContextVar[unicancel.StopToken] = ContextVar("unicancel.services.request_token")


def current_request_token() -> unicancel.StopToken:
    """The stop token of the request being handled by :class:`DeadlineMiddleware`,
    stopped (reason ``"client disconnected"``) when its client disconnects.
    Outside such a request: a token that never stops."""
    return _current_token.get(unicancel.StopToken())


class _Request:
    """One request's state. Its bound methods are the app's receive and send,
    and the watcher (no closures per request)."""

    __slots__ = (
        "_done_event",
        "_first",
        "_group",
        "_later",
        "_receive",
        "_send",
        "_starting",
        "_stop",
        "body_read",
        "disconnect",
        "disconnected",
        "failure",
        "handler",
        "response_complete",
        "started",
        "token",
        "watcher",
    )

    def __init__(self, receive: Receive, send: Send, handler: unicancel.CancelScope) -> None:
        self._receive = receive
        self._send = send
        # The request's StopSource, as the state it shares with its token:
        # a StopSource object costs twice as much (its parents' checks, its
        # __del__), per request, and nobody else holds it.
        self._stop = State()
        self.token = _token(self._stop)
        self.handler = handler
        self._first: Message | None = None
        self._later: deque[Message] | None = None  # messages after the body (none, by the spec)
        self._done_event: unicancel.Event | None = None  # made when the app waits after the body
        self._group: unicancel.TaskGroup | None = None  # the watcher's, on trio
        self._starting: asyncio.Handle | None = None  # on asyncio, the watcher's start
        self.watcher: asyncio.Task[None] | None = None  # on asyncio
        self.body_read = False
        self.disconnect: Message | None = None  # the http.disconnect seen, repeated to the app
        self.disconnected = False  # by the client, before the response was complete
        self.failure: Exception | None = None  # of the server's receive(), in the watcher
        self.started = False
        self.response_complete = False

    def close(self) -> None:
        self._stop.close()

    def _seen(self, message: Message) -> None:
        """Note a message read from the server (by us or by the app)."""
        kind = message["type"]
        if kind == "http.request":
            if not message.get("more_body", False):
                self.body_read = True
                if self._group is None:
                    # Once the app waits for something: until then no cancel
                    # could reach it, and most apps answer a GET without
                    # waiting at all, so the task is never made.
                    self._starting = asyncio.get_running_loop().call_soon(self._start_watch)
                else:
                    self._group.start_soon(self.watch)
        elif kind == "http.disconnect":
            self._disconnect(message)

    def _disconnect(self, message: Message) -> None:
        self.disconnect = message
        if not self.response_complete:
            self.disconnected = True
            self._stop.stop(DISCONNECTED)
            self.handler.cancel(DISCONNECTED)

    def _start_watch(self) -> None:
        self._starting = None
        self.watcher = asyncio.get_running_loop().create_task(self.watch())

    def stop_watching(self) -> None:
        """On asyncio: cancel the watcher (or its start), without waiting."""
        if self._starting is not None:
            self._starting.cancel()
            self._starting = None
        if self.watcher is not None:
            # Let go of it: its cancelled error will hold our frame, and so us.
            self.watcher.cancel()
            self.watcher = None

    async def watch(self) -> None:
        """The watcher: the server's next messages, once the body is read."""
        try:
            while True:
                message = await self._receive()
                if message["type"] == "http.disconnect":
                    self._disconnect(message)
                    return
                if self._later is None:
                    self._later = deque()
                self._later.append(message)
                self._wake()
        except Exception as exc:
            # Raised by the middleware once the app returns; the app, if it
            # waits in receive(), fails now rather than hang.
            self.failure = exc
        finally:
            self._wake()

    def _wake(self) -> None:
        if self._done_event is not None:
            self._done_event.set()
            self._done_event = None

    async def receive(self) -> Message:
        first = self._first
        if first is not None:
            self._first = None
            return first
        if not self.body_read and self.disconnect is None:
            message = await self._receive()  # the body: the app reads the server itself
            self._seen(message)
            return message
        while True:
            if self._later:
                return self._later.popleft()
            if self.disconnect is not None:
                return self.disconnect  # repeated to every later read
            if self.failure is not None:
                raise RuntimeError(
                    "unicancel: the server's receive() failed in DeadlineMiddleware"
                ) from self.failure
            if self._done_event is None:
                self._done_event = unicancel.Event()
            await self._done_event.wait()

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self.started = True
        elif kind == "http.response.body" and not message.get("more_body", False):
            self.response_complete = True
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
        decoders = ((header, _decode_grpc), (envoy_header, decode_envoy_timeout))
        # ASGI header names are lowercase bytes: a length test skips most
        # headers; only one of the right length is compared and decoded.
        self._decoders = {
            name.lower().encode("latin-1"): (decode, name.lower())
            for name, decode in decoders
            if name is not None
        }
        self._lengths = frozenset(map(len, self._decoders))

    def _budget(self, scope: Scope) -> float:
        """The request's budget less the margin (``ValueError`` if malformed)."""
        headers = scope.get("headers", ())
        lengths, decoders = self._lengths, self._decoders
        found: tuple[bytes, bytes] | None = None
        for item in headers:
            if len(item[0]) in lengths and item[0].lower() in decoders:
                if found is not None:  # both, or one twice: the general reader
                    budget = read_budget(
                        headers, header=self.header, envoy_header=self.envoy_header
                    )
                    assert budget is not None
                    return budget - self.margin
                found = item
        if found is None:
            return self.default_timeout - self.margin
        decode, name = decoders[found[0].lower()]
        return decode(found[1], header=name) - self.margin

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            budget = self._budget(scope)
        except ValueError as exc:
            await _respond(send, 400, f"{exc}\n")
            return
        if budget <= 0:
            await _respond(send, 504, "unicancel: the request's time budget was spent\n")
            return
        # Counted from entry, just below: the scope reads the loop's clock
        # itself (current_time() would find the backend again, per request).
        handler = (
            unicancel.CancelScope()
            if budget == math.inf
            else unicancel.CancelScope(relative_deadline=budget)
        )
        request = _Request(receive, send, handler)
        state = scope.get("state")
        if state is None:
            scope["state"] = state = {}
        state[STATE_KEY] = request.token
        reset = _current_token.set(request.token)
        try:
            if _in_asyncio_task():
                # The watcher is a bare task (a unicancel TaskGroup child
                # costs several times more). It is cancelled, not awaited,
                # when the app returns: all it does is wait in the server's
                # receive(), which the cancel ends at the loop's next turn (it
                # cannot fail after that); waiting would cost a turn per request.
                try:
                    with handler:
                        request._first = first = await receive()
                        request._seen(first)
                        await self.app(scope, request.receive, request.send)
                finally:
                    request.stop_watching()
            else:
                await _run_in_group(self.app, scope, request)
        finally:
            _current_token.reset(reset)
            request.close()
        if request.failure is not None:
            raise request.failure  # the server's receive() failed
        if handler.cancelled_caught and not request.started and not request.disconnected:
            await _respond(send, 504, "unicancel: the request's time budget ran out\n")


def _in_asyncio_task() -> bool:
    """Whether this runs in an asyncio task (else trio's, even in guest mode on
    an asyncio loop: trio then runs in the loop's callbacks, not in tasks).
    A C call, where get_cancelled_exc_class() looks the backend up in Python."""
    try:
        return asyncio.current_task() is not None
    except RuntimeError:  # no asyncio loop runs in this thread
        return False


def _decode_grpc(value: str | bytes, *, header: str) -> float:
    """decode_timeout(), with byte methods for a well-formed ASGI value (half
    the cost of its regular expression, per request); anything else goes to
    decode_timeout(), for its checks and error text."""
    if value.__class__ is bytes:
        ratio = _BYTE_UNITS.get(value[-1:])
        digits = value[:-1]
        if ratio is not None and len(digits) <= _MAX_DIGITS and digits.isdigit():
            return int(digits) * ratio[0] / ratio[1]
    return decode_timeout(value, header=header)


async def _run_in_group(app: ASGIApp, scope: Scope, request: _Request) -> None:
    """On trio the watcher runs in a nursery (unicancel's TaskGroup is one, and cheap)."""
    error: Exception | None = None
    async with unicancel.TaskGroup() as group:
        request._group = group
        try:
            with request.handler:
                request._first = first = await request._receive()
                request._seen(first)
                await app(scope, request.receive, request.send)
        except Exception as exc:  # raised as it is, not in the group's ExceptionGroup
            error = exc
        finally:
            group.cancel_scope.cancel()
    if error is not None:
        raise error


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
