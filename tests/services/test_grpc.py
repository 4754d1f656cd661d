"""grpc.aio: the caller's deadline reaches the server as the RPC's timeout, and
the server's scope ends with the RPC. grpc.aio runs on asyncio only; the
server runs in-process on a free loopback port, without generated stubs
(raw bytes requests and responses)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from contextvars import ContextVar
from typing import Any

import pytest

pytest.importorskip("grpc", reason="grpcio missing: needs the `test` extra")

import grpc
import grpc.aio

import unicancel
from unicancel.services.grpc import DeadlineChannel, call_timeout, deadline_handler, rpc_scope

SERVICE = "unicancel.test.Svc"
WAIT = 15.0
# grpc's C core writes the timeout rounded up and re-reads it on its own clock.
TOLERANCE = 0.01


class Servicer:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.started = asyncio.Event()
        self.finished = asyncio.Event()
        self.outcome: dict[str, Any] = {}

    async def remaining(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        self.calls.append("remaining")
        return repr(context.time_remaining()).encode()

    async def hang(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        self.calls.append("hang")
        try:
            # The margin makes this scope's deadline come before grpc's own.
            async with rpc_scope(context, margin=0.05) as scope:
                self.outcome["budget"] = (
                    unicancel.current_effective_deadline() - unicancel.current_time()
                )
                self.started.set()
                await unicancel.Event().wait()
        finally:
            self.outcome["origin"] = scope.cancel_origin
            self.outcome["reason"] = scope.cancel_reason
            self.outcome["rpc_cancelled"] = context.cancelled()
            self.finished.set()
        return b"cut short"

    @deadline_handler
    async def decorated(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        self.calls.append("decorated")
        await unicancel.Event().wait()
        return b"never"


@pytest.fixture
async def target() -> AsyncIterator[tuple[str, Servicer]]:
    servicer = Servicer()
    handlers = {
        "Remaining": grpc.unary_unary_rpc_method_handler(servicer.remaining),
        "Hang": grpc.unary_unary_rpc_method_handler(servicer.hang),
        "Decorated": grpc.unary_unary_rpc_method_handler(servicer.decorated),
    }
    server = grpc.aio.server()
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(SERVICE, handlers)])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}", servicer
    finally:
        await server.stop(None)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # grpc.aio is asyncio only


async def _call(channel: DeadlineChannel, method: str, **kwargs: Any) -> bytes:
    result: bytes = await channel.unary_unary(f"/{SERVICE}/{method}")(b"", **kwargs)
    return result


async def test_caller_deadline_becomes_the_call_timeout(target: tuple[str, Servicer]) -> None:
    address, _ = target
    async with DeadlineChannel(grpc.aio.insecure_channel(address), margin=0.05) as channel:
        assert await _call(channel, "Remaining") == b"None"  # no deadline: no timeout
        with unicancel.fail_after(1.0):
            remaining = float(await _call(channel, "Remaining"))
            assert 0.5 < remaining <= 0.95 + TOLERANCE
            # An explicit shorter timeout wins.
            assert float(await _call(channel, "Remaining", timeout=0.3)) <= 0.3 + TOLERANCE
            assert float(await _call(channel, "Remaining", timeout=30)) <= 0.95 + TOLERANCE


async def test_spent_budget_is_not_sent(target: tuple[str, Servicer]) -> None:
    address, servicer = target
    async with DeadlineChannel(grpc.aio.insecure_channel(address), margin=0.5) as channel:
        with unicancel.fail_after(0.2):
            with pytest.raises(TimeoutError, match=r"^unicancel: .* the call was not sent"):
                await _call(channel, "Remaining")
    assert servicer.calls == []


async def test_client_cancel_cancels_the_server_scope(target: tuple[str, Servicer]) -> None:
    address, servicer = target
    async with DeadlineChannel(grpc.aio.insecure_channel(address)) as channel:
        async with unicancel.TaskGroup() as tg:
            tg.start_soon(_call, channel, "Hang")
            await servicer.started.wait()
            assert servicer.outcome["budget"] == math.inf
            tg.cancel()
    with unicancel.fail_after(WAIT):
        await servicer.finished.wait()
    # grpc.aio cancels the handler's task itself (Task.cancel(), no message):
    # the scope records a cancellation from outside it.
    assert servicer.outcome["origin"] is unicancel.CancelOrigin.ENCLOSING
    assert servicer.outcome["reason"] is None


async def test_server_scope_ends_at_the_rpc_deadline(target: tuple[str, Servicer]) -> None:
    address, servicer = target
    async with DeadlineChannel(grpc.aio.insecure_channel(address)) as channel:
        with unicancel.fail_after(0.3):
            # The server gives up 50 ms before the deadline and still answers.
            assert await _call(channel, "Hang") == b"cut short"
        assert servicer.finished.is_set()
    assert 0 < servicer.outcome["budget"] <= 0.3 - 0.05 + TOLERANCE
    assert servicer.outcome["origin"] is unicancel.CancelOrigin.DEADLINE
    assert servicer.outcome["reason"] == "deadline exceeded"


async def test_deadline_handler_aborts_at_the_deadline(target: tuple[str, Servicer]) -> None:
    address, servicer = target
    async with DeadlineChannel(grpc.aio.insecure_channel(address)) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await _call(channel, "Decorated", timeout=0.2)
    assert info.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    assert servicer.calls == ["decorated"]


_caller_var: ContextVar[str] = ContextVar("test_grpc_caller_var")


class _Probe(grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    """Records what a client interceptor sees of its caller."""

    def __init__(self) -> None:
        self.seen: dict[str, Any] = {}

    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        self.seen["task"] = asyncio.current_task()
        self.seen["deadline"] = unicancel.current_effective_deadline()
        self.seen["var"] = _caller_var.get(None)
        return await continuation(details, request)


async def test_a_client_interceptor_does_not_see_the_callers_deadline(
    target: tuple[str, Servicer],
) -> None:
    # Why DeadlineChannel rather than a client interceptor (docs/services.md):
    # grpc.aio runs the interceptors in a task it creates when the call is
    # made. The caller's contextvars are copied into it; the caller's cancel
    # scopes, which live on the caller's task, are not. If this fails, grpc.aio
    # changed and an interceptor may now be possible.
    address, _ = target
    probe = _Probe()
    async with grpc.aio.insecure_channel(address, interceptors=[probe]) as channel:
        reset = _caller_var.set("caller")
        try:
            with unicancel.fail_after(5.0):
                await channel.unary_unary(f"/{SERVICE}/Remaining")(b"")
        finally:
            _caller_var.reset(reset)
    assert probe.seen["task"] is not asyncio.current_task()
    assert probe.seen["var"] == "caller"
    assert probe.seen["deadline"] == math.inf


def test_call_timeout_outside_a_deadline() -> None:
    async def main() -> None:
        assert call_timeout() is None
        assert call_timeout(2.0) == 2.0

    unicancel.run(main, backend="asyncio")
