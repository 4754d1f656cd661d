"""DeadlineMiddleware driven by hand (no server), on every backend: messages
reach the app in order, the read-ahead is one chunk, and a disconnect cancels
the handler, stops its token and is repeated to every later read."""

from __future__ import annotations

import math
from collections.abc import MutableMapping
from typing import Any

import pytest

import unicancel
from unicancel.services.asgi import DISCONNECTED, DeadlineMiddleware, current_request_token
from unicancel.services.budget import decode_timeout, read_budget

from .._helpers import is_unicancel_object, no_cyclic_garbage, wait_all_tasks_blocked

Message = MutableMapping[str, Any]


class FakeServer:
    """receive() hands out queued messages, blocking when there are none."""

    def __init__(self) -> None:
        self.queue: list[Message] = []
        self.arrived = unicancel.Event()
        self.reads = 0
        self.sent: list[Message] = []

    def push(self, message: Message) -> None:
        self.queue.append(message)
        self.arrived.set()

    async def receive(self) -> Message:
        while not self.queue:
            self.arrived = unicancel.Event()
            await self.arrived.wait()
        self.reads += 1
        return self.queue.pop(0)

    async def send(self, message: Message) -> None:
        self.sent.append(message)


def _chunk(body: bytes, more: bool) -> Message:
    return {"type": "http.request", "body": body, "more_body": more}


async def test_body_in_order_then_disconnect_cancels() -> None:
    server = FakeServer()
    for i in range(3):
        server.push(_chunk(b"%d" % i, i < 2))
    seen: list[Any] = []
    handler_waiting = unicancel.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message["body"]
            if not message["more_body"]:
                break
        seen.append(body)
        token = current_request_token()
        try:
            with unicancel.CancelScope() as inner:
                handler_waiting.set()
                await unicancel.Event().wait()
        finally:
            seen.append((inner.cancel_reason, token.reason))
            # Later reads keep returning the disconnect, without blocking.
            seen.append((await receive())["type"])
            seen.append((await receive())["type"])

    async with unicancel.TaskGroup() as tg:
        tg.start_soon(
            DeadlineMiddleware(app), {"type": "http", "headers": []}, server.receive, server.send
        )
        await handler_waiting.wait()
        server.push({"type": "http.disconnect"})
    assert seen == [b"012", (DISCONNECTED, DISCONNECTED), "http.disconnect", "http.disconnect"]
    assert server.sent == []  # nobody to answer


async def test_read_ahead_is_one_chunk() -> None:
    server = FakeServer()
    for i in range(5):
        server.push(_chunk(b"x", i < 4))
    app_started = unicancel.Event()
    release = unicancel.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        app_started.set()
        await release.wait()
        while (await receive())["more_body"]:
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async with unicancel.TaskGroup() as tg:
        tg.start_soon(
            DeadlineMiddleware(app), {"type": "http", "headers": []}, server.receive, server.send
        )
        await app_started.wait()
        await wait_all_tasks_blocked()  # the watcher has read all it will
        assert server.reads == 1
        release.set()
    assert server.reads == 5
    assert server.sent[0]["status"] == 200


async def test_other_scope_types_pass_through() -> None:
    calls: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        calls.append(scope["type"])

    server = FakeServer()
    await DeadlineMiddleware(app)({"type": "lifespan"}, server.receive, server.send)
    assert calls == ["lifespan"]
    assert current_request_token().stop_possible is False


async def test_a_failing_server_receive_fails_the_app_read_and_the_request() -> None:
    server = FakeServer()
    server.push(_chunk(b"", False))
    app_reading = unicancel.Event()
    seen: list[str] = []

    async def broken_receive() -> Message:
        if server.queue:
            return await server.receive()
        await app_reading.wait()
        raise OSError("connection reset")

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()  # the body
        app_reading.set()
        try:
            await receive()  # would block until a disconnect that never comes
        except RuntimeError as exc:
            seen.append(f"{exc} ({exc.__cause__!r})")

    with pytest.raises(OSError, match="connection reset"):
        await DeadlineMiddleware(app)({"type": "http", "headers": []}, broken_receive, server.send)
    assert seen == [
        "unicancel: the server's receive() failed in DeadlineMiddleware "
        "(OSError('connection reset'))"
    ]


async def test_a_request_leaves_no_reference_cycle() -> None:
    # On asyncio the watcher is cancelled and not awaited: its cancelled
    # error holds its frame, which must not keep the request alive in a cycle.
    server = FakeServer()
    server.push(_chunk(b"", False))

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await unicancel.checkpoint()  # the app waits once: the watcher starts
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    with no_cyclic_garbage(is_unicancel_object):
        await DeadlineMiddleware(app)({"type": "http", "headers": []}, server.receive, server.send)
        await wait_all_tasks_blocked()  # the cancelled watcher has finished
    assert server.sent[1]["body"] == b"ok"


_BUDGET_HEADERS = [
    [(b"grpc-timeout", b"5S")],
    [(b"host", b"x"), (b"grpc-timeout", b"250m"), (b"accept", b"*/*")],
    [(b"grpc-timeout", b"00000001H")],
    [(b"grpc-timeout", b"99999999u")],
    [(b"GRPC-Timeout", b"2500m")],  # ASGI does not require lowercase names
    [(b"x-envoy-expected-rq-timeout-ms", b"1500")],
    [(b"grpc-timeout", b"2S"), (b"x-envoy-expected-rq-timeout-ms", b"1500")],
    [(b"grpc-timeout", b"3S"), (b"grpc-timeout", b"3S")],
]
_MALFORMED = [b"123456789S", b"5", b"5x", b"-5S", b" 5S", b"5S ", b"S", b"", b"5\xffS", b"+5S"]


async def _middleware_budget(headers: list[tuple[bytes, bytes]]) -> tuple[float, list[Message]]:
    """What the handler sees as its remaining time, and what the server got."""
    server = FakeServer()
    server.push(_chunk(b"", False))
    remaining: list[float] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        remaining.append(unicancel.current_effective_deadline() - unicancel.current_time())
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    scope = {"type": "http", "headers": headers}
    await DeadlineMiddleware(app)(scope, server.receive, server.send)
    return (remaining[0] if remaining else math.nan), server.sent


@pytest.mark.parametrize("headers", _BUDGET_HEADERS)
async def test_the_handler_gets_the_budget_the_header_says(
    headers: list[tuple[bytes, bytes]],
) -> None:
    # The middleware decodes grpc-timeout values itself (faster than the
    # regular expression): it must agree with read_budget() on every value.
    expected = read_budget(headers)
    assert expected is not None
    remaining, sent = await _middleware_budget(headers)
    assert sent[0]["status"] == 200
    assert expected - 0.5 < remaining <= expected + 1e-6  # + float rounding


@pytest.mark.parametrize("value", _MALFORMED)
async def test_a_malformed_budget_is_the_same_400_whatever_the_value(value: bytes) -> None:
    with pytest.raises(ValueError, match=r"^unicancel: grpc-timeout: ") as expected:
        decode_timeout(value)
    remaining, sent = await _middleware_budget([(b"grpc-timeout", value)])
    assert math.isnan(remaining)  # the handler did not run
    assert sent[0]["status"] == 400
    assert sent[1]["body"].decode() == f"{expected.value}\n"
