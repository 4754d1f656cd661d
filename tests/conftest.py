"""Run every test on each backend: asyncio, asyncio+uvloop, asyncio with the
eager task factory (3.12+), and trio. Tests use anyio's pytest plugin."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import Any

import pytest

_params: list[Any] = [
    pytest.param(("asyncio", {}), id="asyncio"),
]
try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is not built for every platform
    pass
else:
    _params.append(pytest.param(("asyncio", {"loop_factory": uvloop.new_event_loop}), id="uvloop"))

if sys.version_info >= (3, 12):

    def _eager_loop() -> asyncio.AbstractEventLoop:
        loop = asyncio.new_event_loop()
        loop.set_task_factory(asyncio.eager_task_factory)
        return loop

    _params.append(pytest.param(("asyncio", {"loop_factory": _eager_loop}), id="eager"))

_params.append(pytest.param(("trio", {}), id="trio"))


@pytest.fixture(params=_params)
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    backend: tuple[str, dict[str, Any]] = request.param
    return backend


@pytest.fixture
def backend_name(anyio_backend: tuple[str, dict[str, Any]]) -> str:
    """ "asyncio" or "trio" (uvloop and eager count as asyncio)."""
    return anyio_backend[0]


LoopFactory = Callable[[], asyncio.AbstractEventLoop]
