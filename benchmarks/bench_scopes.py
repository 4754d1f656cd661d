"""Workloads 1-4: scope enter/exit (unarmed, armed), the cancel round trip and
nesting, for unicancel and each anchor library."""

# Empty scope bodies are the point of the enter/exit workloads.
# ruff: noqa: ASYNC100

from __future__ import annotations

import asyncio
import time

from bench_common import BenchError
from bench_params import BLOCK, DEPTH, FAR


async def unarmed_unicancel(n: int) -> int:
    from unicancel import CancelScope

    t0 = time.perf_counter_ns()
    for _ in range(n):
        with CancelScope():
            pass
    return time.perf_counter_ns() - t0


async def a_unarmed_asyncio(n: int) -> int:
    timeout = asyncio.timeout
    t0 = time.perf_counter_ns()
    for _ in range(n):
        async with timeout(None):
            pass
    return time.perf_counter_ns() - t0


async def unarmed_anyio(n: int) -> int:
    from anyio import CancelScope

    t0 = time.perf_counter_ns()
    for _ in range(n):
        with CancelScope():
            pass
    return time.perf_counter_ns() - t0


async def a_unarmed_quattro(n: int) -> int:
    from quattro import CancelScope

    t0 = time.perf_counter_ns()
    for _ in range(n):
        with CancelScope():
            pass
    return time.perf_counter_ns() - t0


async def t_unarmed_trio(n: int) -> int:
    from trio import CancelScope

    t0 = time.perf_counter_ns()
    for _ in range(n):
        with CancelScope():
            pass
    return time.perf_counter_ns() - t0


# ----------------------------------------------------------------------------
# Workload 2: armed scope (deadline FAR seconds ahead) enter+exit


async def armed_unicancel(n: int) -> int:
    from unicancel import move_on_after

    t0 = time.perf_counter_ns()
    for _ in range(n):
        with move_on_after(FAR):
            pass
    return time.perf_counter_ns() - t0


async def a_armed_asyncio(n: int) -> int:
    timeout = asyncio.timeout
    t0 = time.perf_counter_ns()
    for _ in range(n):
        async with timeout(FAR):
            pass
    return time.perf_counter_ns() - t0


async def armed_anyio(n: int) -> int:
    from anyio import move_on_after

    t0 = time.perf_counter_ns()
    for _ in range(n):
        with move_on_after(FAR):
            pass
    return time.perf_counter_ns() - t0


async def a_armed_quattro(n: int) -> int:
    from quattro import move_on_after

    t0 = time.perf_counter_ns()
    for _ in range(n):
        with move_on_after(FAR):
            pass
    return time.perf_counter_ns() - t0


async def t_armed_trio(n: int) -> int:
    from trio import move_on_after

    t0 = time.perf_counter_ns()
    for _ in range(n):
        with move_on_after(FAR):
            pass
    return time.perf_counter_ns() - t0


# ----------------------------------------------------------------------------
# Workload 3: cancel round trip, move_on_after(0) around an await that would block


async def a_roundtrip_unicancel(n: int) -> int:
    from unicancel import move_on_after

    sleep = asyncio.sleep
    t0 = time.perf_counter_ns()
    for i in range(n):
        with move_on_after(0) as scope:
            await sleep(BLOCK)
        if not scope.cancelled_caught:
            _missed(i, n)
    return time.perf_counter_ns() - t0


async def a_roundtrip_asyncio(n: int) -> int:
    timeout = asyncio.timeout
    sleep = asyncio.sleep
    t0 = time.perf_counter_ns()
    for i in range(n):
        try:
            async with timeout(0):
                await sleep(BLOCK)
        except TimeoutError:
            pass
        else:
            _missed(i, n)
    return time.perf_counter_ns() - t0


async def a_roundtrip_anyio(n: int) -> int:
    from anyio import move_on_after

    sleep = asyncio.sleep
    t0 = time.perf_counter_ns()
    for i in range(n):
        with move_on_after(0) as scope:
            await sleep(BLOCK)
        if not scope.cancelled_caught:
            _missed(i, n)
    return time.perf_counter_ns() - t0


async def a_roundtrip_quattro(n: int) -> int:
    from quattro import move_on_after

    sleep = asyncio.sleep
    t0 = time.perf_counter_ns()
    for i in range(n):
        with move_on_after(0) as scope:
            await sleep(BLOCK)
        if not scope.cancelled_caught:
            _missed(i, n)
    return time.perf_counter_ns() - t0


async def t_roundtrip_unicancel(n: int) -> int:
    import trio

    from unicancel import move_on_after

    sleep = trio.sleep
    t0 = time.perf_counter_ns()
    for i in range(n):
        with move_on_after(0) as scope:
            await sleep(BLOCK)
        if not scope.cancelled_caught:
            _missed(i, n)
    return time.perf_counter_ns() - t0


async def t_roundtrip_trio(n: int) -> int:
    import trio

    move_on_after = trio.move_on_after
    sleep = trio.sleep
    t0 = time.perf_counter_ns()
    for i in range(n):
        with move_on_after(0) as scope:
            await sleep(BLOCK)
        if not scope.cancelled_caught:
            _missed(i, n)
    return time.perf_counter_ns() - t0


async def t_roundtrip_anyio(n: int) -> int:
    import trio
    from anyio import move_on_after

    sleep = trio.sleep
    t0 = time.perf_counter_ns()
    for i in range(n):
        with move_on_after(0) as scope:
            await sleep(BLOCK)
        if not scope.cancelled_caught:
            _missed(i, n)
    return time.perf_counter_ns() - t0


def _missed(i: int, n: int) -> None:
    # Checked inside the loop (one attribute test per iteration, the same for every
    # system) so that a scope that does not cancel costs one BLOCK, not n of them.
    raise BenchError(
        f"round trip {i + 1} of {n}: the scope did not cancel the await "
        f"(it blocked for the full {BLOCK:g} s; cancelled_caught is False)"
    )


# ----------------------------------------------------------------------------
# Workload 4: DEPTH nested unarmed scopes, entered then exited in LIFO order by
# a manual loop (the same loop for every system; an async context manager's
# __aenter__/__aexit__ are awaited, as `async with` would). Cost per scope.


async def nesting_unicancel(n: int) -> int:
    from unicancel import CancelScope

    stack: list[CancelScope] = []
    t0 = time.perf_counter_ns()
    for _ in range(max(1, n // DEPTH)):
        for _ in range(DEPTH):
            scope = CancelScope()
            scope.__enter__()
            stack.append(scope)
        while stack:
            stack.pop().__exit__(None, None, None)
    return time.perf_counter_ns() - t0


async def a_nesting_asyncio(n: int) -> int:
    timeout = asyncio.timeout
    stack: list[asyncio.Timeout] = []
    t0 = time.perf_counter_ns()
    for _ in range(max(1, n // DEPTH)):
        for _ in range(DEPTH):
            scope = timeout(None)
            await scope.__aenter__()
            stack.append(scope)
        while stack:
            await stack.pop().__aexit__(None, None, None)
    return time.perf_counter_ns() - t0


async def nesting_anyio(n: int) -> int:
    from anyio import CancelScope

    stack: list[CancelScope] = []
    t0 = time.perf_counter_ns()
    for _ in range(max(1, n // DEPTH)):
        for _ in range(DEPTH):
            scope = CancelScope()
            scope.__enter__()
            stack.append(scope)
        while stack:
            stack.pop().__exit__(None, None, None)
    return time.perf_counter_ns() - t0


async def a_nesting_quattro(n: int) -> int:
    from quattro import CancelScope

    stack: list[CancelScope] = []
    t0 = time.perf_counter_ns()
    for _ in range(max(1, n // DEPTH)):
        for _ in range(DEPTH):
            scope = CancelScope()
            scope.__enter__()
            stack.append(scope)
        while stack:
            stack.pop().__exit__(None, None, None)
    return time.perf_counter_ns() - t0


async def t_nesting_trio(n: int) -> int:
    from trio import CancelScope

    stack: list[CancelScope] = []
    t0 = time.perf_counter_ns()
    for _ in range(max(1, n // DEPTH)):
        for _ in range(DEPTH):
            scope = CancelScope()
            scope.__enter__()
            stack.append(scope)
        while stack:
            stack.pop().__exit__(None, None, None)
    return time.perf_counter_ns() - t0
