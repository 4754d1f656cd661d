"""What a request costs in DeadlineMiddleware and DeadlineTransport, part by part.

In-process and without sockets, so that a few microseconds can be resolved
(bench_services.py measures the whole, through real servers, where the noise
of a shared machine is tens of microseconds). Each figure is the CPU time per
request (``time.process_time``), the median of interleaved repeats, of:

server side, each request a task of its own (as a server runs it), receiving
from a fake server that behaves as uvicorn does (the body is there; a later
receive() waits until the response is complete, then says http.disconnect):

* ``bare``: the app alone; ``wrap``: a middleware that only awaits it;
* ``wrap + X``: that middleware plus one part of DeadlineMiddleware's work:
  ``budget`` (find and decode the grpc-timeout header), ``scope`` (a
  CancelScope), ``deadline scope`` (a CancelScope with a deadline),
  ``token`` (the request's stop state, its token in a ContextVar), ``watcher`` (a task
  waiting in receive(), cancelled at the end);
* ``DeadlineMiddleware``, with and without a budget header.

client side, httpx with a MockTransport (no network), inside a deadline:
the plain transport against DeadlineTransport around it; and
``outgoing_timeout()`` (the budget read and formatted) alone.

Run: ``python benchmarks/bench_services_parts.py [--repeats N] [--n N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import httpx

import unicancel
from unicancel.services.asgi import DeadlineMiddleware
from unicancel.services.budget import outgoing_timeout
from unicancel.services.httpx import DeadlineTransport

Message = MutableMapping[str, Any]
App = Callable[[Message, Any, Any], Awaitable[None]]
HEADERS = [
    (b"host", b"127.0.0.1:8000"),
    (b"user-agent", b"python-httpx/0.28.1"),
    (b"accept", b"*/*"),
    (b"accept-encoding", b"gzip, deflate"),
    (b"connection", b"keep-alive"),
    (b"grpc-timeout", b"4999872u"),
]
NO_BUDGET = HEADERS[:-1]


class Cycle:
    """One request of a uvicorn-like server."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.event.set()
        self.complete = False
        self.given = False

    async def receive(self) -> Message:
        if not self.complete:
            await self.event.wait()
            self.event.clear()
        if self.complete or self.given:
            return {"type": "http.disconnect"}
        self.given = True
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            self.complete = True
            self.event.set()


async def app(scope: Message, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


MIDDLEWARE = DeadlineMiddleware(app)


async def wrap(scope: Message, receive: Any, send: Any) -> None:
    await app(scope, receive, send)


async def wrap_budget(scope: Message, receive: Any, send: Any) -> None:
    MIDDLEWARE._budget(scope)
    await app(scope, receive, send)


async def wrap_scope(scope: Message, receive: Any, send: Any) -> None:
    with unicancel.CancelScope():
        await app(scope, receive, send)


async def wrap_deadline_scope(scope: Message, receive: Any, send: Any) -> None:
    with unicancel.CancelScope(relative_deadline=5.0):  # as the middleware makes it
        await app(scope, receive, send)


async def wrap_token(scope: Message, receive: Any, send: Any) -> None:
    from unicancel._stop._state import State
    from unicancel._stop._token import _token
    from unicancel.services.asgi import _current_token

    state = State()  # the middleware's StopSource, without the object
    reset = _current_token.set(_token(state))
    try:
        await app(scope, receive, send)
    finally:
        _current_token.reset(reset)
        state.close()


async def _wait_disconnect(receive: Any) -> None:
    await receive()


async def wrap_watcher(scope: Message, receive: Any, send: Any) -> None:
    first: Message = await receive()
    task = asyncio.get_running_loop().create_task(_wait_disconnect(receive))
    try:

        async def again() -> Message:
            return first

        await app(scope, again, send)
    finally:
        task.cancel()


SERVER: dict[str, tuple[App, list[tuple[bytes, bytes]]]] = {
    "bare": (app, HEADERS),
    "wrap": (wrap, HEADERS),
    "wrap + budget": (wrap_budget, HEADERS),
    "wrap + scope": (wrap_scope, HEADERS),
    "wrap + deadline scope": (wrap_deadline_scope, HEADERS),
    "wrap + token": (wrap_token, HEADERS),
    "wrap + watcher": (wrap_watcher, HEADERS),
    "DeadlineMiddleware": (MIDDLEWARE, HEADERS),
    "DeadlineMiddleware, no budget": (MIDDLEWARE, NO_BUDGET),
}


async def _request(handler: App, headers: list[tuple[bytes, bytes]]) -> None:
    cycle = Cycle()
    await handler({"type": "http", "headers": headers, "path": "/"}, cycle.receive, cycle.send)


async def server_part(handler: App, headers: list[tuple[bytes, bytes]], n: int) -> float:
    loop = asyncio.get_running_loop()
    c0 = time.process_time()
    for _ in range(n):
        await loop.create_task(_request(handler, headers))
    return (time.process_time() - c0) / n


def _mock() -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: httpx.Response(200, content=b'{"ok": true}'))


def _deadline_mock() -> httpx.AsyncBaseTransport:
    return DeadlineTransport(_mock())


CLIENT: dict[str, Callable[[], httpx.AsyncBaseTransport]] = {
    "httpx, plain": _mock,
    "httpx, DeadlineTransport": _deadline_mock,
}


async def client_part(make: Callable[[], httpx.AsyncBaseTransport], n: int) -> float:
    async with httpx.AsyncClient(transport=make()) as client:
        with unicancel.move_on_after(3600):
            c0 = time.process_time()
            for _ in range(n):
                await client.get("http://service/")
            cpu = time.process_time() - c0
    return cpu / n


async def budget_part(n: int) -> float:
    with unicancel.move_on_after(3600):
        c0 = time.process_time()
        for _ in range(n):
            outgoing_timeout()
        cpu = time.process_time() - c0
    return cpu / n


def _server(handler: App, headers: list[tuple[bytes, bytes]]) -> Callable[[int], Awaitable[float]]:
    return lambda n: server_part(handler, headers, n)


def _client(make: Callable[[], httpx.AsyncBaseTransport]) -> Callable[[int], Awaitable[float]]:
    return lambda n: client_part(make, n)


async def main(n: int, repeats: int, marks: bool = False) -> None:
    parts: dict[str, Callable[[int], Awaitable[float]]] = {}
    for name, (handler, headers) in SERVER.items():
        parts[name] = _server(handler, headers)
    for name, make in CLIENT.items():
        parts[name] = _client(make)
    parts["outgoing_timeout()"] = budget_part
    if marks:
        # Under callgrind (bench_services_instr.py): os.getpgrp() zeroes its
        # counters and os.getsid() dumps them, around each part's n requests.
        for part in parts.values():
            await part(max(1, n // 10))  # warm up
        for _ in range(repeats):
            for name, part in parts.items():
                os.getpgrp()
                await part(n)
                os.getsid(0)
                print(f"part: {name}", flush=True)
        return
    results: dict[str, list[float]] = {name: [] for name in parts}
    for part in parts.values():
        await part(max(1, n // 10))  # warm up
    for _ in range(repeats):
        for name, part in parts.items():
            results[name].append(await part(n))
    us = {name: statistics.median(values) * 1e6 for name, values in results.items()}
    print(f"Python {sys.version.split()[0]}, {n} requests x {repeats} repeats, CPU us/request:")
    for name, value in us.items():
        over = "bare" if name in SERVER else "httpx, plain"
        extra = "" if name in (over, "outgoing_timeout()") else f" ({value - us[over]:+.2f})"
        print(f"  {name:30s} {value:7.2f}{extra}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=4000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--marks", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    asyncio.run(main(args.n, args.repeats, args.marks))
