"""The ASGI app the HTTP tests serve: hops A and B of a chain on one server.

Handlers record what they saw in a thread-safe :class:`Record`, under keys
prefixed by the request's ``id`` query parameter, for the test to wait on.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from typing import Any
from urllib.parse import parse_qs

import httpx

import unicancel
from unicancel.services.asgi import DeadlineMiddleware, Receive, Scope, Send, current_request_token
from unicancel.services.budget import remaining_budget
from unicancel.services.httpx import DeadlineTransport

MARGIN = 0.05  # seconds kept back at every hop
WAIT = 15.0  # generous: a loaded machine, never a way to order events


class Record:
    def __init__(self) -> None:
        self._values: dict[str, Any] = {}
        self._events: defaultdict[str, threading.Event] = defaultdict(threading.Event)
        self._lock = threading.Lock()

    def put(self, key: str, value: Any = True) -> None:
        with self._lock:
            self._values[key] = value
            event = self._events[key]
        event.set()

    def get(self, key: str, default: Any = None) -> Any:
        with self._lock:
            return self._values.get(key, default)

    def wait(self, key: str) -> Any:
        with self._lock:
            event = self._events[key]
        assert event.wait(WAIT), f"timed out waiting for {key!r}"
        return self.get(key)

    async def await_(self, key: str) -> Any:
        return await unicancel.to_thread(self.wait, key)


async def _json(send: Send, data: Any, status: int = 200) -> None:
    body = json.dumps(data).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: str) -> str | None:
    for key, value in scope["headers"]:
        if key.decode().lower() == name:
            return str(value.decode())
    return None


def make_app(record: Record) -> DeadlineMiddleware:
    clients: list[httpx.AsyncClient] = []  # A's client, kept open as a service would

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        rid = parse_qs(scope["query_string"].decode()).get("id", ["-"])[0]
        host, port = scope["server"]
        base = f"http://{host}:{port}"
        record.put(f"{rid}:{path}:ran")
        if path == "/b/budget":
            await _json(
                send, {"remaining": remaining_budget(), "header": _header(scope, "grpc-timeout")}
            )
        elif path == "/a/budget":
            sent_at_most = remaining_budget(MARGIN)
            async with httpx.AsyncClient(transport=DeadlineTransport(margin=MARGIN)) as client:
                response = await client.get(f"{base}/b/budget?id={rid}")
            await _json(
                send,
                {
                    "remaining": remaining_budget(),
                    "sent_at_most": sent_at_most,
                    "b": response.json(),
                },
            )
        elif path in ("/a/hang", "/b/hang"):
            token = current_request_token()
            try:
                with unicancel.CancelScope() as inner:
                    if path == "/a/hang":
                        if not clients:
                            clients.append(httpx.AsyncClient(transport=DeadlineTransport()))
                        await clients[0].get(f"{base}/b/hang?id={rid}", timeout=None)
                    else:
                        record.put(f"{rid}:b:started")
                        await unicancel.Event().wait()
            finally:
                record.put(f"{rid}:{path}:reason", inner.cancel_reason)
                record.put(f"{rid}:{path}:token", token.reason)
        elif path == "/stream":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"first", "more_body": True})
            try:
                with unicancel.CancelScope() as inner:
                    await unicancel.Event().wait()
            finally:
                record.put(f"{rid}:stream:reason", inner.cancel_reason)
        elif path == "/poll":
            # A worker that polls its stop token and is not cancelled meanwhile.
            token = current_request_token()
            with unicancel.CancelScope(shield=True):
                record.put(f"{rid}:poll:started")
                polls = 0
                while not token.stop_requested:
                    polls += 1
                    with unicancel.move_on_after(0.005):
                        await unicancel.Event().wait()
                record.put(f"{rid}:poll:stopped", (token.reason, polls))
        elif path == "/background":
            # Work after the complete response (Starlette's BackgroundTasks run
            # so): the server's disconnect that follows it is no client giving up.
            await _json(send, {"ok": True})
            token = current_request_token()
            try:
                with unicancel.CancelScope() as inner:
                    await record.await_(f"{rid}:go")
                    await unicancel.checkpoint()
            finally:
                record.put(f"{rid}:background", (inner.cancel_reason, token.stop_requested))
        elif path == "/slow":
            await unicancel.Event().wait()
        elif path == "/echo":
            body = b""
            while True:
                message = await receive()
                body += message.get("body", b"")
                if not message.get("more_body", False):
                    break
            await _json(send, {"body": body.decode(), "remaining": remaining_budget()})
        else:
            await _json(send, {"ok": True})

    return DeadlineMiddleware(app)
