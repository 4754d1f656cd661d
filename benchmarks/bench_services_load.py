"""Overhead per request of DeadlineMiddleware and DeadlineTransport, at a fixed rate.

Server side: each app runs under uvicorn in a process of its own (started by
``bench_services.py --serve KIND``); this process is the load generator. It
sends the same keep-alive GET (with a ``grpc-timeout`` header, as
DeadlineTransport sends it) over raw sockets, open loop: request i is due at
``t0 + i / rate`` on connection ``i % connections``, and its latency counts
from that due time (a server that falls behind shows it). The server reports
its own CPU time (``time.process_time_ns()``, read through its stdin/stdout,
so nothing is added to its requests) before and after each run; CPU per
request is the difference over the number of requests. Apps:

* ``bare``: the app alone;
* ``wrap``: the smallest middleware there is, one that only awaits the app;
* ``watch``: the smallest that keeps "a disconnect cancels the handler": the
  app in a unicancel CancelScope beside a task waiting in receive();
* ``deadline``: ``DeadlineMiddleware(app)``;
* ``starlette`` and ``starlette+deadline`` (only asked for by name, e.g.
  ``bench_services_instr.py --kinds starlette,starlette+deadline``): a
  Starlette app giving the same kind of answer, without and with the middleware.

Client side: this process sends the requests with ``httpx.AsyncClient``, with
``DeadlineTransport`` or the plain ``AsyncHTTPTransport``, inside the same
deadline scope either way, to the bare server, paced the same way; its own
CPU time per request is measured.

Runs are interleaved (every kind once per round, the order rotating from round
to round) so that drift on a shared machine hits all kinds alike; the median
over rounds is reported.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

KINDS = ("bare", "wrap", "watch", "deadline")
BODY = b'{"ok": true}'
REQUEST = (
    b"GET / HTTP/1.1\r\nhost: 127.0.0.1\r\nuser-agent: bench\r\naccept: */*\r\n"
    b"accept-encoding: gzip, deflate\r\nconnection: keep-alive\r\ngrpc-timeout: 5S\r\n\r\n"
)


# -- the servers (run in their own processes) ----------------------------------------


async def bare(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"12")],
        }
    )
    await send({"type": "http.response.body", "body": BODY})


class Wrap:
    """Only awaits the app: the floor of any middleware."""

    def __init__(self, app: App) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


class Watch:
    """The least that notices a disconnect: the app in a CancelScope beside a
    task that waits in receive() (the request has no body) and cancels it."""

    def __init__(self, app: App) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        import unicancel

        first = await receive()
        with unicancel.CancelScope() as handler:

            async def watch() -> None:
                if (await receive())["type"] == "http.disconnect":
                    handler.cancel("client disconnected")

            task = asyncio.get_running_loop().create_task(watch())
            try:

                async def app_receive() -> MutableMapping[str, Any]:
                    return first

                await self.app(scope, app_receive, send)
            finally:
                task.cancel()


def starlette_app() -> App:
    """The same answer from a Starlette app (a routed endpoint returning a
    JSONResponse): what a Starlette/FastAPI user runs, beside the bare app,
    which makes any middleware's share as large as it can be."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def endpoint(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/", endpoint)])


def make_app(kind: str) -> App:
    if kind == "bare":
        return bare
    if kind == "starlette":
        return starlette_app()
    if kind == "starlette+deadline":
        from unicancel.services.asgi import DeadlineMiddleware

        return DeadlineMiddleware(starlette_app())
    if kind == "wrap":
        return Wrap(bare)
    if kind == "watch":
        return Watch(bare)
    if ":" in kind:  # module:Middleware, for experiments (bench_services_instr.py --kinds)
        import importlib

        module, name = kind.split(":")
        middleware: Callable[[App], App] = getattr(importlib.import_module(module), name)
        return middleware(bare)
    from unicancel.services.asgi import DeadlineMiddleware

    return DeadlineMiddleware(bare)


def serve(kind: str, loop: str) -> None:
    """The --serve mode: print the port, then answer 'cpu' lines on stdin."""
    import socket

    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    config = uvicorn.Config(
        make_app(kind), lifespan="off", log_level="warning", access_log=False, loop=loop
    )
    server = uvicorn.Server(config)

    def control() -> None:
        print(sock.getsockname()[1], flush=True)
        for line in sys.stdin:
            command = line.strip()
            if command == "cpu":
                print(time.process_time_ns(), flush=True)
            elif command in ("zero", "dump"):
                # Under callgrind (bench_services_instr.py): these two calls
                # are its --zero-before and --dump-before functions.
                os.getpgrp() if command == "zero" else os.getsid(0)
                print(command, flush=True)
        server.should_exit = True

    threading.Thread(target=control, daemon=True).start()
    server.run(sockets=[sock])


SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench_services.py")


def _env(src: str | None) -> dict[str, str] | None:
    """The environment of a child that imports unicancel from *src* (None: ours)."""
    if src is None:
        return None
    return {**os.environ, "PYTHONPATH": os.pathsep.join([src, *sys.path[1:]])}


class ServerProcess:
    def __init__(self, kind: str, loop: str, src: str | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, SCRIPT, "--serve", kind, "--loop", loop],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=_env(src),
        )
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline())

    def cpu_ns(self) -> int:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write("cpu\n")
        self.proc.stdin.flush()
        return int(self.proc.stdout.readline())

    def close(self) -> None:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.close()  # the server's control thread ends it
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()


# -- the raw load generator -----------------------------------------------------------


class _Conn(asyncio.Protocol):
    """One keep-alive connection: one request at a time, response parsed by length."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.done: asyncio.Future[None] | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0 or self.done is None:
            return
        head = bytes(self.buffer[: end + 2]).lower()  # each header line ends with CRLF
        start = head.find(b"content-length:")
        length = int(head[start + 15 : head.find(b"\r\n", start)]) if start >= 0 else 0
        if len(self.buffer) >= end + 4 + length:
            if not head.startswith(b"http/1.1 200"):
                self.done.set_exception(RuntimeError(bytes(self.buffer[:200]).decode()))
            else:
                self.done.set_result(None)
            del self.buffer[: end + 4 + length]

    def connection_lost(self, exc: Exception | None) -> None:
        if self.done is not None and not self.done.done():
            self.done.set_exception(ConnectionError("closed"))

    async def request(self) -> None:
        assert self.transport is not None
        self.done = asyncio.get_running_loop().create_future()
        self.transport.write(REQUEST)
        await self.done


@dataclasses.dataclass
class Run:
    cpu_us: float  # per request, of the measured process
    rate: float  # sustained: requests over the wall time from the first due time to the last answer
    p50_ms: float  # latency from each request's due time
    p99_ms: float


async def _paced(
    n: int, rate: float, workers: list[Callable[[], Awaitable[Any]]]
) -> tuple[list[float], float]:
    """Send n requests, request i due at t0 + i/rate on worker i % len(workers)."""
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    t0 = loop.time() + 0.05

    async def worker(k: int, send: Callable[[], Awaitable[Any]]) -> None:
        for i in range(k, n, len(workers)):
            due = t0 + i / rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            await send()
            latencies.append(loop.time() - due)

    await asyncio.gather(*(worker(k, send) for k, send in enumerate(workers)))
    return latencies, loop.time() - t0


def _run(n: int, latencies: list[float], wall: float, cpu_ns: int) -> Run:
    ms = sorted(x * 1000 for x in latencies)
    return Run(cpu_ns / n / 1000, n / wall, statistics.median(ms), ms[int(0.99 * (len(ms) - 1))])


async def server_run(server: ServerProcess, n: int, rate: float, connections: int) -> Run:
    loop = asyncio.get_running_loop()
    conns = []
    for _ in range(connections):
        _, conn = await loop.create_connection(_Conn, "127.0.0.1", server.port)
        conns.append(conn)
    for conn in conns:  # warm the connections (and the server) up
        await conn.request()
    before = server.cpu_ns()
    latencies, wall = await _paced(n, rate, [conn.request for conn in conns])
    cpu = server.cpu_ns() - before
    for conn in conns:
        assert conn.transport is not None
        conn.transport.close()
    await asyncio.sleep(0)  # the sockets close at the loop's next turn
    return _run(n, latencies, wall, cpu)


def client_process(
    port: int, n: int, rate: float, connections: int, transport: bool, src: str | None = None
) -> Run:
    """A client run in a fresh process (importing unicancel from *src*)."""
    argv = [SCRIPT, "--client", "transport" if transport else "plain", "--port", str(port)]
    argv += ["--paced", str(n), "--rate", str(rate), "--connections", str(connections)]
    out = subprocess.run(
        [sys.executable, *argv], env=_env(src), capture_output=True, text=True, check=True
    )
    return Run(**json.loads(out.stdout.splitlines()[-1]))


def client_main(kind: str, port: int, n: int, rate: float, connections: int) -> None:
    """The --client mode: one run; print it as JSON."""
    run = asyncio.run(client_run(port, n, rate, connections, kind == "transport"))
    print(json.dumps(dataclasses.asdict(run)))


async def client_run(port: int, n: int, rate: float, connections: int, transport: bool) -> Run:
    import httpx

    import unicancel
    from unicancel.services.httpx import DeadlineTransport

    inner: httpx.AsyncBaseTransport = (
        DeadlineTransport() if transport else httpx.AsyncHTTPTransport()
    )
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    url = f"http://127.0.0.1:{port}/"
    async with httpx.AsyncClient(transport=inner, limits=limits, timeout=None) as client:

        async def get() -> None:
            response = await client.get(url)
            if response.status_code != 200:
                raise RuntimeError(f"status {response.status_code}")

        with unicancel.move_on_after(3600):  # the caller's deadline, the same either way
            await asyncio.gather(*(get() for _ in range(connections)))  # open the connections
            before = time.process_time_ns()
            latencies, wall = await _paced(n, rate, [get] * connections)
            cpu = time.process_time_ns() - before
    return _run(n, latencies, wall, cpu)


def _rotated(items: tuple[str, ...], r: int) -> list[str]:
    return [*items[r % len(items) :], *items[: r % len(items)]]


def overhead(
    n: int,
    rate: float,
    client_rate: float,
    rounds: int,
    connections: int,
    loop: str,
    before: str | None,
) -> dict[str, list[Run]]:
    """Every kind once per round. *before*: a source tree whose unicancel also
    runs, as "deadline (before)" and "client+transport (before)"."""
    servers = {kind: ServerProcess(kind, loop) for kind in KINDS}
    if before is not None:
        servers["deadline (before)"] = ServerProcess("deadline", loop, before)
    clients: dict[str, tuple[bool, str | None]] = {"client": (False, None)}
    clients["client+transport"] = (True, None)
    if before is not None:
        clients["client+transport (before)"] = (True, before)
    results: dict[str, list[Run]] = {kind: [] for kind in (*servers, *clients)}
    try:
        for r in range(rounds):
            for kind in _rotated(tuple(servers), r):
                run = asyncio.run(server_run(servers[kind], n, rate, connections))
                results[kind].append(run)
            for kind in _rotated(tuple(clients), r):
                transport, src = clients[kind]
                port = servers["bare"].port
                m = max(1, int(n * client_rate / rate))
                results[kind].append(
                    client_process(port, m, client_rate, connections, transport, src)
                )
    finally:
        for server in servers.values():
            server.close()
    return results


def report(
    results: dict[str, list[Run]], n: int, rate: float, client_rate: float, rounds: int
) -> None:
    print(
        f"overhead per request ({rounds} interleaved rounds, medians): CPU of the server "
        f"process at {rate:g} req/s ({n} requests a run), of the client process at "
        f"{client_rate:g} req/s"
    )
    medians = {}
    for kind, runs in results.items():
        cpu = statistics.median(r.cpu_us for r in runs)
        medians[kind] = cpu
        print(
            f"  {kind:26s} CPU {cpu:7.1f} us/request (rounds {min(r.cpu_us for r in runs):.1f}"
            f"..{max(r.cpu_us for r in runs):.1f}), sustained "
            f"{statistics.median(r.rate for r in runs):.0f} req/s, latency p50 "
            f"{statistics.median(r.p50_ms for r in runs):.2f} ms p99 "
            f"{statistics.median(r.p99_ms for r in runs):.2f} ms"
        )

    def ratio(name: str, over: str) -> str:
        # Paired by round (both ran within seconds of each other): the median
        # of the per-round ratios cancels the machine's drift between rounds.
        pairs = zip(results[name], results[over], strict=True)
        extra = statistics.median(a.cpu_us / b.cpu_us for a, b in pairs) - 1
        return f"{medians[name] - medians[over]:+.1f} us ({extra * 100:+.1f}% paired by round)"

    print(f"  server, deadline vs bare: {ratio('deadline', 'bare')}; target <= +5%")
    if "deadline (before)" in medians:
        print(f"  server, deadline (before) vs bare: {ratio('deadline (before)', 'bare')}")
    print(f"  server floor, wrap vs bare: {ratio('wrap', 'bare')}")
    print(f"  server floor, watch vs bare: {ratio('watch', 'bare')}")
    print(f"  client, transport vs plain: {ratio('client+transport', 'client')}; target <= +5%")
    if "client+transport (before)" in medians:
        print(
            f"  client, transport (before) vs plain: {ratio('client+transport (before)', 'client')}"
        )
