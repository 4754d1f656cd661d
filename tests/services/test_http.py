"""The ASGI middleware and the httpx transport, with real servers on loopback:
uvicorn (asyncio), hypercorn (asyncio and trio); the client runs on the
server's backend. A and B are two routes of one server, called over two
separate loopback connections (client -> A -> B)."""

from __future__ import annotations

import itertools
import socket
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

pytest.importorskip("httpx", reason="httpx missing: needs the `test` extra")

import httpx

import unicancel
from unicancel.services.asgi import DISCONNECTED
from unicancel.services.httpx import DeadlineTransport

from ._apps import MARGIN, Record, make_app
from ._servers import SERVER_IDS, SERVERS, serve

_ids = itertools.count()


class Server:
    def __init__(self, url: str, backend: str, record: Record) -> None:
        self.url = url
        self.backend = backend
        self.record = record

    def run(self, fn: Callable[[], Awaitable[Any]]) -> Any:
        return unicancel.run(fn, backend=self.backend)


@pytest.fixture(scope="module", params=SERVERS, ids=SERVER_IDS)
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    name, backend = request.param
    record = Record()
    with serve(make_app(record), name, backend) as url:
        yield Server(url, backend, record)


def new_id() -> str:
    return f"r{next(_ids)}"


def test_budget_shrinks_along_the_chain(server: Server) -> None:
    rid = new_id()

    async def main() -> tuple[float, Any]:
        async with httpx.AsyncClient(transport=DeadlineTransport(margin=MARGIN)) as client:
            with unicancel.fail_after(1.0):
                start = unicancel.current_time()
                response = await client.get(f"{server.url}/a/budget?id={rid}")
                return unicancel.current_time() - start, response.json()

    elapsed, data = server.run(main)
    # A got at most 1 s less its margin (rounding up adds under a microsecond).
    assert 0 < data["remaining"] <= 1.0 - MARGIN + 1e-6
    b = data["b"]
    # B got at most what A had left when it called, less A's margin.
    assert b["header"] is not None
    assert 0 < b["remaining"] <= data["sent_at_most"] + 1e-6
    assert b["remaining"] <= 1.0 - 2 * MARGIN + 1e-6
    # ... and no less than the edge's budget less both margins and the round trip.
    assert b["remaining"] >= 1.0 - 2 * MARGIN - elapsed - 1e-3


def test_edge_giving_up_cancels_both_hops(server: Server) -> None:
    rid = new_id()

    async def main() -> None:
        # The clients at the edge and in A stay open: only the cancelled
        # request's connection is closed, which is how A and B learn of it.
        async with httpx.AsyncClient(transport=DeadlineTransport()) as client:
            async with unicancel.TaskGroup() as tg:
                tg.start_soon(client.get, f"{server.url}/a/hang?id={rid}")
                await server.record.await_(f"{rid}:b:started")
                tg.cancel("edge gives up")
            # Each handler's finally ran, and its scope says why it was cancelled.
            for hop in ("/a/hang", "/b/hang"):
                assert await server.record.await_(f"{rid}:{hop}:reason") == DISCONNECTED
                assert await server.record.await_(f"{rid}:{hop}:token") == DISCONNECTED

    server.run(main)


def test_disconnect_mid_response_cancels_the_handler(server: Server) -> None:
    rid = new_id()

    # A plain socket: httpx's streaming iterators are nested async generators,
    # which trio reports as garbage collected unfinished when left early.
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=15) as sock:
        sock.sendall(f"GET /stream?id={rid} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        received = b""
        while b"first" not in received:
            chunk = sock.recv(4096)
            assert chunk, received
            received += chunk
    # The client has gone mid-response.
    assert server.record.wait(f"{rid}:stream:reason") == DISCONNECTED


def test_polling_handler_stops_through_its_token(server: Server) -> None:
    rid = new_id()

    async def main() -> None:
        async with httpx.AsyncClient() as client, unicancel.TaskGroup() as tg:
            tg.start_soon(client.get, f"{server.url}/poll?id={rid}")
            await server.record.await_(f"{rid}:poll:started")
            tg.cancel()

    server.run(main)
    reason, polls = server.record.wait(f"{rid}:poll:stopped")
    assert reason == DISCONNECTED
    assert polls >= 1


def test_spent_budget_never_sends_the_request(server: Server) -> None:
    rid = new_id()

    async def main() -> None:
        async with httpx.AsyncClient(transport=DeadlineTransport(margin=0.5)) as client:
            with unicancel.fail_after(0.2):
                with pytest.raises(
                    TimeoutError, match=r"^unicancel: the deadline leaves no budget"
                ):
                    await client.get(f"{server.url}/count?id={rid}")
            # The connection is still usable, and the server saw one request only.
            await client.get(f"{server.url}/count?id={rid}-after")

    server.run(main)
    assert server.record.wait(f"{rid}-after:/count:ran")
    assert server.record.get(f"{rid}:/count:ran") is None


@pytest.mark.parametrize(
    ("header", "value", "what"),
    [
        ("grpc-timeout", "abc", "a malformed value"),
        ("grpc-timeout", "-1S", "a negative value"),
        ("grpc-timeout", "123456789m", "9 digits"),
        ("grpc-timeout", "10x", "'x'"),
        ("grpc-timeout", "10", "no unit"),
        ("x-envoy-expected-rq-timeout-ms", "1.5", "a malformed value"),
    ],
)
def test_malformed_budget_is_a_400_and_the_handler_does_not_run(
    server: Server, header: str, value: str, what: str
) -> None:
    rid = new_id()

    async def main() -> httpx.Response:
        async with httpx.AsyncClient() as client:
            return await client.get(f"{server.url}/count?id={rid}", headers={header: value})

    response = server.run(main)
    assert response.status_code == 400
    assert response.text.startswith(f"unicancel: {header}: ")
    assert what in response.text
    assert server.record.get(f"{rid}:/count:ran") is None


def test_budget_spent_before_the_response_is_a_504(server: Server) -> None:
    rid = new_id()

    async def main() -> tuple[httpx.Response, httpx.Response]:
        async with httpx.AsyncClient() as client:
            slow = await client.get(f"{server.url}/slow?id={rid}", headers={"grpc-timeout": "50m"})
            spent = await client.get(f"{server.url}/count?id={rid}", headers={"grpc-timeout": "0n"})
            return slow, spent

    slow, spent = server.run(main)
    assert slow.status_code == 504
    assert slow.text == "unicancel: the request's time budget ran out\n"
    assert server.record.get(f"{rid}:/slow:ran")
    # Arrived already spent: answered without running the handler.
    assert spent.status_code == 504
    assert server.record.get(f"{rid}:/count:ran") is None


def test_request_body_reaches_the_app_and_envoy_budget_applies(server: Server) -> None:
    rid = new_id()
    body = b"x" * 200_000  # several chunks: read ahead one chunk at a time

    async def main() -> httpx.Response:
        async with httpx.AsyncClient() as client:
            return await client.post(
                f"{server.url}/echo?id={rid}",
                content=body,
                headers={"x-envoy-expected-rq-timeout-ms": "5000"},
            )

    response = server.run(main)
    assert response.status_code == 200
    assert response.json()["body"] == body.decode()
    assert 0 < response.json()["remaining"] <= 5.0


def test_work_after_the_response_is_not_cancelled(server: Server) -> None:
    # After the response, the server answers receive() with http.disconnect
    # (the ASGI spec says so): that is not the client giving up.
    rid = new_id()

    async def main() -> httpx.Response:
        async with httpx.AsyncClient() as client:
            response = await client.get(f"{server.url}/background?id={rid}")
            server.record.put(f"{rid}:go")
            # The client is still connected while the handler finishes.
            await server.record.await_(f"{rid}:background")
            return response

    assert server.run(main).status_code == 200
    assert server.record.wait(f"{rid}:background") == (None, False)
