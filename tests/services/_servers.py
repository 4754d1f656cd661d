"""Real ASGI servers on loopback, each in a thread of its own, for the tests.

The listening socket is bound and listening before the server starts, so a
client may connect at once (the kernel queues the connection): no polling for
readiness. The servers stop through a thread-safe StopSource.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

import unicancel

# (server, backend) pairs the tests run on.
SERVERS = (("uvicorn", "asyncio"), ("hypercorn", "asyncio"), ("hypercorn", "trio"))
SERVER_IDS = [f"{server}-{backend}" for server, backend in SERVERS]


def listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.setblocking(False)
    return sock


def _serve_uvicorn(app: Any, sock: socket.socket, stop: unicancel.StopSource) -> None:
    uvicorn = pytest.importorskip("uvicorn")
    config = uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False)
    server = uvicorn.Server(config)

    async def main() -> None:
        async with unicancel.TaskGroup() as tg:

            async def stopper() -> None:
                await stop.token.wait()
                server.should_exit = True  # uvicorn checks it in its own loop

            tg.start_soon(stopper)
            await server.serve(sockets=[sock])
            tg.cancel()

    unicancel.run(main, backend="asyncio")


def _serve_hypercorn(
    app: Any, sock: socket.socket, stop: unicancel.StopSource, backend: str
) -> None:
    config_module = pytest.importorskip("hypercorn.config")
    config = config_module.Config()
    # hypercorn owns (and closes) the descriptor it is given: hand it a duplicate.
    config.bind = [f"fd://{os.dup(sock.fileno())}"]
    config.loglevel = "WARNING"
    config.graceful_timeout = 1.0
    if backend == "trio":
        from hypercorn.trio import serve as trio_serve

        async def trio_main() -> None:
            await trio_serve(app, config, shutdown_trigger=stop.token.wait)

        unicancel.run(trio_main, backend="trio")
    else:
        from hypercorn.asyncio import serve as asyncio_serve

        async def main() -> None:
            await asyncio_serve(app, config, shutdown_trigger=stop.token.wait)

        unicancel.run(main, backend="asyncio")


@contextlib.contextmanager
def serve(app: Any, server: str, backend: str) -> Iterator[str]:
    """Run *app* on *server*/*backend* in a thread; yield its base URL."""
    pytest.importorskip(server, reason=f"{server} missing: needs the `test` extra")
    sock = listening_socket()
    port = sock.getsockname()[1]
    stop = unicancel.StopSource()
    errors: list[BaseException] = []

    def target() -> None:
        try:
            if server == "uvicorn":
                _serve_uvicorn(app, sock, stop)
            else:
                _serve_hypercorn(app, sock, stop, backend)
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)

    thread = threading.Thread(target=target, name=f"{server}-{backend}", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop.request_stop("test finished")
        thread.join(15)
        sock.close()
        assert not thread.is_alive(), f"{server}/{backend} did not stop"
        assert not errors, errors
