"""Stop tokens with deadlines (``stop_at``/``stop_after``), on virtual clocks:
trio's ``MockClock`` with autojump and an asyncio loop whose clock jumps to
the next timer (tests/differential/clocks.py). Nothing here waits in real time.
"""

from __future__ import annotations

import asyncio
import logging
import math
import sys
from typing import Any

import pytest

from unicancel import (
    StopSource,
    current_time,
    move_on_when,
)

from ._helpers import sleep, sleep_forever
from .differential.clocks import VirtualClockLoop, trio_clock

pytestmark = pytest.mark.anyio

_PARAMS = ["asyncio", "trio"] + (["eager"] if sys.version_info >= (3, 12) else [])


def _eager_virtual_loop() -> asyncio.AbstractEventLoop:
    loop = VirtualClockLoop()
    if sys.version_info >= (3, 12):  # only parametrized there: the factory is new in 3.12
        loop.set_task_factory(asyncio.eager_task_factory)
    return loop


@pytest.fixture(params=_PARAMS)
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    if request.param == "trio":
        return ("trio", {"clock": trio_clock()})
    factory = _eager_virtual_loop if request.param == "eager" else VirtualClockLoop
    return ("asyncio", {"loop_factory": factory})


async def test_stop_after_stops_the_token_at_the_deadline() -> None:
    source = StopSource()
    start = current_time()
    source.stop_after(5)
    assert source.token.deadline == start + 5
    await source.token.wait()
    assert current_time() - start >= 5
    assert source.token.reason == "deadline exceeded"
    assert source.token.deadline == start + 5  # still reported once stopped


async def test_stop_at_uses_the_backend_clock() -> None:
    source = StopSource()
    deadline = current_time() + 2
    source.stop_at(deadline)
    await sleep(1)
    assert not source.token.stop_requested
    await source.token.wait()
    assert current_time() >= deadline


async def test_a_bound_scope_leaves_at_the_tokens_deadline() -> None:
    source = StopSource()
    source.stop_after(3)
    start = current_time()
    with move_on_when(source.token) as scope:
        await sleep_forever()
    assert scope.cancelled_caught
    assert scope.cancel_reason == "deadline exceeded"
    assert current_time() - start >= 3


async def test_moving_the_deadline_later_and_earlier() -> None:
    source = StopSource()
    start = current_time()
    source.stop_after(1)
    source.stop_after(10)  # later: the first timer must not fire
    await sleep(5)
    assert not source.token.stop_requested
    source.stop_after(1)  # earlier again
    await source.token.wait()
    assert 6 <= current_time() - start < 10


async def test_infinite_deadline_disarms() -> None:
    source = StopSource()
    source.stop_after(1)
    source.stop_at(math.inf)
    await sleep(5)
    assert not source.token.stop_requested
    assert source.token.deadline == math.inf
    assert source.token.stop_possible


async def test_deadline_already_passed_stops_in_the_call() -> None:
    source = StopSource()
    source.stop_at(current_time() - 1)
    assert source.token.stop_requested
    assert source.token.reason == "deadline exceeded"
    other = StopSource()
    other.stop_after(0)
    assert other.token.stop_requested


async def test_close_drops_the_timer() -> None:
    source = StopSource()
    source.stop_after(1)
    source.close()
    await sleep(5)
    assert not source.token.stop_requested
    assert not source.token.stop_possible
    assert source.token.deadline == math.inf


async def test_explicit_stop_before_the_deadline_keeps_its_reason() -> None:
    source = StopSource()
    source.stop_after(1)
    source.request_stop("explicit")
    await sleep(5)
    assert source.token.reason == "explicit"


async def test_an_armed_deadline_makes_stop_possible_without_the_source() -> None:
    source = StopSource()
    source.stop_after(2)
    token = source.token
    del source
    assert token.stop_possible  # the timer can still stop it
    await token.wait()
    assert token.reason == "deadline exceeded"


async def test_a_token_carries_the_earliest_deadline_of_its_parents() -> None:
    a, b = StopSource(), StopSource()
    now = current_time()
    a.stop_at(now + 5)
    b.stop_at(now + 3)
    child = StopSource(a.token, b.token)
    assert child.token.deadline == now + 3
    child.stop_at(now + 1)
    assert child.token.deadline == now + 1
    child.stop_at(now + 4)
    assert child.token.deadline == now + 3  # b's
    b.stop_at(math.inf)
    assert child.token.deadline == now + 4  # its own
    await child.token.wait()
    assert child.token.reason == "deadline exceeded"
    assert current_time() - now >= 4


async def test_a_parents_deadline_stops_the_child() -> None:
    parent = StopSource()
    parent.stop_after(2)
    child = parent.token.child()
    await child.token.wait()
    assert child.token.reason == "deadline exceeded"


async def test_errors_of_callbacks_run_by_a_deadline_are_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Nobody called request_stop(): the errors go to the 'unicancel' logger,
    all of them, and the other callbacks still run."""
    source = StopSource()
    ran: list[str] = []

    def fail() -> None:
        raise ValueError("callback failed")

    source.token.on_stop(fail)
    source.token.on_stop(lambda: ran.append("other"))
    source.stop_after(1)
    with caplog.at_level(logging.ERROR, logger="unicancel"):
        await source.token.wait()
        await sleep(1)
    assert ran == ["other"]
    records = [r for r in caplog.records if r.name == "unicancel"]
    assert len(records) == 1
    assert "a deadline stopped a token" in records[0].getMessage()
    assert records[0].exc_info is not None
    group = records[0].exc_info[1]
    assert isinstance(group, ExceptionGroup)
    assert str(group.exceptions[0]) == "callback failed"


async def test_deadline_arguments_are_checked() -> None:
    source = StopSource()
    with pytest.raises(ValueError, match="deadline must not be NaN"):
        source.stop_at(math.nan)
    with pytest.raises(ValueError, match="seconds must be non-negative"):
        source.stop_after(-1)
    with pytest.raises(TypeError, match="seconds must be a number"):
        source.stop_after("soon")  # type: ignore[arg-type]
