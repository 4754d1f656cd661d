"""Deadlines across services (unicancel.services): two numbers on loopback.

1. Cancellation latency: a chain edge -> A -> B (uvicorn servers, asyncio); B's
   handler is blocked; the edge gives up (cancels its request); timed from the
   edge's cancel to the moment B's handler is cancelled (its ``finally``).
   Median and p99 over N requests.
2. Overhead per request of ``DeadlineMiddleware`` (server) + ``DeadlineTransport``
   (client, inside a deadline) against the same app and client without them, at
   a fixed request rate (open loop): CPU time of the process per request, and
   the median latency, with and without; the ratio is what is reported.

Everything runs in this process (the servers in threads): the CPU time covers
client and server together, and the latency includes the servers' threads
contending for the GIL with the client. Run: ``python benchmarks/bench_services.py``
(needs the ``test`` extra: httpx and uvicorn); ``--quick`` for a smoke run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import statistics
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any

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


# -- 2. overhead at a fixed rate ----------------------------------------------------------


async def _plain(scope: Scope, receive: Receive, send: Send) -> None:
    await _ok(send, b'{"ok": true}')


async def paced(url: str, n: int, rate: float, with_deadline: bool) -> tuple[float, float, float]:
    """(CPU s per request, median latency s, achieved rate) of n requests
    started every 1/rate s."""
    transport = DeadlineTransport() if with_deadline else httpx.AsyncHTTPTransport()
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    latencies: list[float] = []
    # No timeout: past the rate the process sustains, requests queue (and the
    # achieved rate says so) rather than fail.
    async with httpx.AsyncClient(transport=transport, limits=limits, timeout=None) as client:

        async def one() -> None:
            t0 = time.perf_counter()
            response = await client.get(url)
            latencies.append(time.perf_counter() - t0)
            if response.status_code != 200:
                raise RuntimeError(f"status {response.status_code}")

        await one()  # open a connection before timing
        latencies.clear()
        scope = unicancel.move_on_after(3600) if with_deadline else contextlib.nullcontext()
        c0, w0 = time.process_time(), time.perf_counter()
        with scope:
            async with unicancel.TaskGroup() as tg:
                for i in range(n):
                    delay = w0 + i / rate - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    tg.start_soon(one)
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    return cpu / n, statistics.median(latencies), n / wall


async def overhead(n: int, rate: float, rounds: int) -> dict[str, list[tuple[float, float, float]]]:
    results: dict[str, list[tuple[float, float, float]]] = {"bare": [], "unicancel": []}
    with serve(_plain) as bare_url, serve(DeadlineMiddleware(_plain)) as wrapped_url:
        for _ in range(rounds):  # interleaved, so that drift hits both alike
            results["bare"].append(await paced(bare_url, n, rate, False))
            results["unicancel"].append(await paced(wrapped_url, n, rate, True))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000, help="cancellations timed")
    parser.add_argument("--rate", type=float, default=1000.0, help="requests/s, overhead part")
    parser.add_argument("--paced", type=int, default=3000, help="requests per overhead round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="a smoke run (tiny numbers)")
    args = parser.parse_args()
    if args.quick:
        args.requests, args.paced, args.rounds = 20, 100, 1

    latencies = asyncio.run(cancellation_latency(args.requests))
    ms = sorted(x * 1000 for x in latencies)
    p99 = ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))]
    print(f"cancellation latency, edge gives up -> B's handler cancelled ({len(ms)} requests):")
    print(f"  median {statistics.median(ms):.3f} ms, p99 {p99:.3f} ms, max {ms[-1]:.3f} ms")

    results = asyncio.run(overhead(args.paced, args.rate, args.rounds))
    print(f"overhead at {args.rate:g} req/s ({args.paced} requests x {args.rounds} rounds):")
    summary = {}
    for name, rows in results.items():
        cpu = statistics.median(r[0] for r in rows)
        latency = statistics.median(r[1] for r in rows)
        achieved = statistics.median(r[2] for r in rows)
        summary[name] = (cpu, latency)
        print(
            f"  {name:9s} CPU {cpu * 1e6:7.1f} us/request, median latency "
            f"{latency * 1000:.3f} ms, achieved {achieved:.0f} req/s"
        )
    cpu_ratio = summary["unicancel"][0] / summary["bare"][0]
    latency_ratio = summary["unicancel"][1] / summary["bare"][1]
    print(
        f"  ratio unicancel/bare: CPU {cpu_ratio:.3f} ({(cpu_ratio - 1) * 100:+.1f}%), "
        f"latency {latency_ratio:.3f} ({(latency_ratio - 1) * 100:+.1f}%); target CPU <= +5%"
    )


if __name__ == "__main__":
    main()
