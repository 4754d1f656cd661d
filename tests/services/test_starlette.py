"""The middleware under Starlette (as FastAPI uses it): request bodies and
Starlette's own disconnect check still work, and a handler is cancelled when
its client goes away, on every server and backend."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

pytest.importorskip("starlette", reason="starlette missing: needs the `test` extra")
pytest.importorskip("httpx", reason="httpx missing: needs the `test` extra")

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import unicancel
from unicancel.services.asgi import DISCONNECTED, STATE_KEY, DeadlineMiddleware

from ._apps import Record
from ._servers import SERVER_IDS, SERVERS, serve

_ids = itertools.count()


def make_app(record: Record) -> Starlette:
    async def upload(request: Request) -> Response:
        body = await request.body()
        return JSONResponse({"size": len(body), "disconnected": await request.is_disconnected()})

    async def wait(request: Request) -> Response:
        rid = request.query_params["id"]
        token = request.scope["state"][STATE_KEY]
        record.put(f"{rid}:connected", not await request.is_disconnected())
        try:
            with unicancel.CancelScope() as inner:
                record.put(f"{rid}:started")
                await unicancel.Event().wait()
        finally:
            record.put(f"{rid}:reason", (inner.cancel_reason, token.reason))
        return Response("never")

    routes = [Route("/upload", upload, methods=["POST"]), Route("/wait", wait)]
    return Starlette(routes=routes, middleware=[Middleware(DeadlineMiddleware, margin=0.01)])


@pytest.fixture(scope="module", params=SERVERS, ids=SERVER_IDS)
def server(request: pytest.FixtureRequest) -> Iterator[tuple[str, str, Record]]:
    name, backend = request.param
    record = Record()
    with serve(make_app(record), name, backend) as url:
        yield url, backend, record


def test_body_reaches_the_endpoint(server: tuple[str, str, Record]) -> None:
    url, backend, _ = server
    body = b"y" * 300_000

    async def main() -> httpx.Response:
        async with httpx.AsyncClient() as client:
            return await client.post(f"{url}/upload", content=body, headers={"grpc-timeout": "5S"})

    response = unicancel.run(main, backend=backend)
    assert response.json() == {"size": len(body), "disconnected": False}


def test_disconnect_cancels_the_endpoint(server: tuple[str, str, Record]) -> None:
    url, backend, record = server
    rid = f"s{next(_ids)}"

    async def main() -> None:
        async with httpx.AsyncClient() as client, unicancel.TaskGroup() as tg:
            tg.start_soon(client.get, f"{url}/wait?id={rid}")
            await record.await_(f"{rid}:started")
            tg.cancel()

    unicancel.run(main, backend=backend)
    assert record.wait(f"{rid}:connected") is True
    assert record.wait(f"{rid}:reason") == (DISCONNECTED, DISCONNECTED)
