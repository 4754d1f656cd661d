"""Diagnostics keep nothing alive: catch records, watchdog entries and task
origins hold weak references or text, never a task, a loop or a frame."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator
from typing import Any

import pytest

import unicancel
from unicancel import CancelScope, TaskGroup, diagnostics, get_cancelled_exc_class

from ._helpers import is_unicancel_object, no_cyclic_garbage, sleep, wait_all_tasks_blocked
from .test_leaks import assert_globals_hold_nothing


@pytest.fixture(autouse=True)
def _on() -> Iterator[None]:
    diagnostics.enable(warn=False, log=False, stuck_after=60)  # the watchdog keeps its entries
    try:
        yield
    finally:
        diagnostics.disable()


def _current_task() -> Any:
    if unicancel.get_cancelled_exc_class() is asyncio.CancelledError:
        return asyncio.current_task()
    import trio

    return trio.lowlevel.current_task()


async def _everything(tasks: list[weakref.ref[Any]]) -> None:
    tasks.append(weakref.ref(_current_task()))
    with CancelScope() as scope:  # swallowed
        scope.cancel()
        try:
            await sleep(1)
        except get_cancelled_exc_class():
            pass

    async def child() -> None:
        tasks.append(weakref.ref(_current_task()))
        try:
            await sleep(10)
        except get_cancelled_exc_class():
            pass

    async with TaskGroup() as tg:  # a child swallows
        tg.start_soon(child)
        await wait_all_tasks_blocked()
        tg.cancel_scope.cancel()
    if unicancel.get_cancelled_exc_class() is asyncio.CancelledError:
        asyncio.create_task(sleep(10))  # noqa: RUF006 - outlives the run


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_finished_runs_keep_nothing_alive(backend: str) -> None:
    tasks: list[weakref.ref[Any]] = []
    for _ in range(3):
        unicancel.run(_everything, tasks, backend=backend)
    gc.collect()
    assert len(tasks) == 6
    assert [ref() for ref in tasks] == [None] * 6
    assert_globals_hold_nothing()


def test_no_reference_cycles_from_diagnosed_scopes() -> None:
    async def main() -> None:
        with CancelScope() as scope:
            scope.cancel()
            try:  # noqa: SIM105 - a swallow, diagnosed
                await asyncio.sleep(1)
            except asyncio.CancelledError:
                pass
        async with TaskGroup() as tg:
            tg.start_soon(asyncio.sleep, 10)
            await wait_all_tasks_blocked()
            tg.cancel_scope.cancel()

    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(main())  # warm up
        with no_cyclic_garbage(is_unicancel_object):
            loop.run_until_complete(main())
    finally:
        loop.close()
