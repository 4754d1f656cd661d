"""Deadlines across services (unicancel.services): two numbers on loopback.

1. Cancellation latency: a chain edge -> A -> B (uvicorn servers, asyncio); B's
   handler is blocked; the edge gives up (cancels its request); timed from the
   edge's cancel to the moment B's handler is cancelled (its ``finally``).
   Median and p99 over N requests.
2. Overhead per request of ``DeadlineMiddleware`` (server) and
   ``DeadlineTransport`` (client) against the same app and client without
   them, at a fixed request rate: CPU time per request of the server process
   (the servers run in processes of their own, this one generates the load)
   and of the client process; see bench_services_load.py.

The latency part runs the servers in threads of this process.
Run: ``python benchmarks/bench_services.py``
(needs the ``test`` extra: httpx and uvicorn); ``--quick`` for a smoke run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import statistics
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any

import bench_services_load
import httpx
import uvicorn

import unicancel
from unicancel.services.asgi import DeadlineMiddleware
from unicancel.services.httpx import DeadlineTransport

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


@contextlib.contextmanager
def serve(app: Any) -> Iterator[str]:
    """Run *app* with uvicorn in a thread on a free loopback port."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)  # connections queue before the server runs: no readiness polling
    config = uvicorn.Config(
        app, interface="asgi3", lifespan="off", log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])))
    thread.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


async def _ok(send: Send, body: bytes = b"ok") -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


# -- 1. cancellation latency ---------------------------------------------------------


class Chain:
    """Routes /a (calls /b) and /b (blocks until cancelled) of one server."""

    def __init__(self) -> None:
        self.b_started = threading.Event()
        self.b_done = threading.Event()
        self.cancelled_at = 0.0
        self.reason: str | None = None
        self._client: httpx.AsyncClient | None = None

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] == "/a":
            if self._client is None:  # one per server loop, as a service would keep
                self._client = httpx.AsyncClient(transport=DeadlineTransport())
            host, port = scope["server"]
            await self._client.get(f"http://{host}:{port}/b", timeout=None)
            await _ok(send)
        else:
            try:
                with unicancel.CancelScope() as inner:
                    self.b_started.set()
                    await unicancel.Event().wait()
            finally:
                self.cancelled_at = time.perf_counter()
                self.reason = inner.cancel_reason
                self.b_done.set()


async def cancellation_latency(n: int) -> list[float]:
    chain = Chain()
    latencies: list[float] = []
    with serve(DeadlineMiddleware(chain.app)) as url:
        # DeadlineTransport at the edge too: on asyncio it is what lets httpcore
        # close a connection whose request a unicancel scope cancelled.
        async with httpx.AsyncClient(transport=DeadlineTransport()) as client:
            for _ in range(n):
                chain.b_started.clear()
                chain.b_done.clear()
                async with unicancel.TaskGroup() as tg:
                    tg.start_soon(client.get, f"{url}/a")
                    if not await unicancel.to_thread(chain.b_started.wait, 10):
                        raise RuntimeError("B's handler did not start")
                    t0 = time.perf_counter()
                    tg.cancel()
                if not await unicancel.to_thread(chain.b_done.wait, 10):
                    raise RuntimeError(f"B's handler was not cancelled (request {len(latencies)})")
                if chain.reason != "client disconnected":
                    raise RuntimeError(f"B was cancelled for {chain.reason!r}")
                latencies.append(chain.cancelled_at - t0)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000, help="cancellations timed")
    parser.add_argument("--rate", type=float, default=1000.0, help="requests/s, overhead part")
    parser.add_argument("--paced", type=int, default=4000, help="requests per overhead run")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds, overhead")
    parser.add_argument("--connections", type=int, default=16, help="keep-alive connections")
    parser.add_argument("--loop", default="auto", help="uvicorn's loop: auto, asyncio, uvloop")
    parser.add_argument("--skip-latency", action="store_true", help="the overhead part only")
    parser.add_argument("--quick", action="store_true", help="a smoke run (tiny numbers)")
    parser.add_argument(
        "--client-rate", type=float, default=200.0, help="requests/s of the httpx client"
    )
    parser.add_argument(
        "--before", metavar="SRC", help="also run the middleware and transport of this src tree"
    )
    parser.add_argument("--serve", help=argparse.SUPPRESS)  # a kind, or module:Middleware
    parser.add_argument("--client", choices=("plain", "transport"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        bench_services_load.serve(args.serve, args.loop)
        return
    if args.client:
        bench_services_load.client_main(
            args.client, args.port, args.paced, args.rate, args.connections
        )
        return
    if args.quick:
        args.requests, args.paced, args.rounds, args.rate = 20, 100, 1, 200.0

    print(f"Python {sys.version.split()[0]}, uvicorn loop {args.loop!r}")
    if not args.skip_latency:
        latencies = asyncio.run(cancellation_latency(args.requests))
        ms = sorted(x * 1000 for x in latencies)
        p99 = ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))]
        print(f"cancellation latency, edge gives up -> B's handler cancelled ({len(ms)} requests):")
        print(f"  median {statistics.median(ms):.3f} ms, p99 {p99:.3f} ms, max {ms[-1]:.3f} ms")

    results = bench_services_load.overhead(
        args.paced,
        args.rate,
        args.client_rate,
        args.rounds,
        args.connections,
        args.loop,
        args.before,
    )
    bench_services_load.report(results, args.paced, args.rate, args.client_rate, args.rounds)


if __name__ == "__main__":
    main()
