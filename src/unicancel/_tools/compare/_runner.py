"""Run scenario variants: one fresh event loop per run, in a worker thread,
with a safety timeout so that a hang becomes a "hang" cell, not a stuck CLI.

Each run also captures what the run printed through side channels (asyncio's
logger, warnings, unraisable exceptions): "Task was destroyed but it is
pending!" is part of what a user observes.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import platform
import re
import sys
import threading
import time
import warnings
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from ._kit import AsyncioKit, TrioKit
from ._model import Result, Scenario, System, Trace, exc_name

__all__ = ["DEFAULT_TIMEOUT", "missing_module", "python_info", "run_one", "versions"]

#: Seconds a single run may take before it is reported as a hang.
DEFAULT_TIMEOUT = 5.0
#: Distributions whose versions the report records.
DISTRIBUTIONS = ("unicancel", "trio", "anyio", "uvloop")


def missing_module(system: System) -> str | None:
    """The first module *system* needs that cannot be imported, or None."""
    for module in system.requires:
        try:
            importlib.import_module(module)
        except ImportError:
            return module
    return None


def versions() -> dict[str, str | None]:
    """Installed versions of the libraries under comparison (None: absent)."""
    found: dict[str, str | None] = {}
    for dist in DISTRIBUTIONS:
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            found[dist] = None
    return found


def python_info() -> dict[str, str]:
    """The interpreter: version, minor version and implementation."""
    info = sys.version_info
    return {
        "version": platform.python_version(),
        "minor": f"{info.major}.{info.minor}",
        "implementation": platform.python_implementation(),
    }


@dataclass
class _Handle:
    """Filled in by the run's main function: a thread-safe way to cancel it."""

    rescue: Callable[[], object] | None = None


async def _asyncio_main(handle: _Handle, fn: Callable[..., Awaitable[None]], *args: Any) -> None:
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    handle.rescue = lambda: loop.call_soon_threadsafe(task.cancel)
    await fn(*args)


async def _trio_main(handle: _Handle, fn: Callable[..., Awaitable[None]], *args: Any) -> None:
    import trio

    token = trio.lowlevel.current_trio_token()
    with trio.CancelScope() as scope:
        handle.rescue = lambda: token.run_sync_soon(scope.cancel)
        await fn(*args)


async def _anyio_main(handle: _Handle, fn: Callable[..., Awaitable[None]], *args: Any) -> None:
    import sniffio

    if sniffio.current_async_library() == "trio":
        await _trio_main(handle, fn, *args)
    else:
        await _asyncio_main(handle, fn, *args)


def _start(system: System, scenario: Scenario, trace: Trace, handle: _Handle) -> None:
    """Run *scenario*'s variant for *system* to completion in this thread."""
    fn = scenario.variant(system.model)
    if system.model == "anyio":
        import anyio

        anyio.run(_anyio_main, handle, fn, trace, backend=system.loop)
        return
    args: tuple[Any, ...] = (trace,)
    if system.model == "unicancel":
        args = (trace, TrioKit() if system.loop == "trio" else AsyncioKit())
    if system.loop == "trio":
        import trio

        trio.run(_trio_main, handle, fn, *args)
    elif system.loop == "uvloop":
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(_asyncio_main(handle, fn, *args))
    else:
        asyncio.run(_asyncio_main(handle, fn, *args))


_VOLATILE = re.compile(r" at 0x[0-9a-fA-F]+|Task-\d+|'[^']*'")


def _clean(text: str) -> str:
    """First line of a side-channel message, without addresses, counters and
    quoted names (which name the variant, so differ between systems)."""
    first = text.strip().splitlines()[0] if text.strip() else ""
    return _VOLATILE.sub(lambda m: "'...'" if m[0].startswith("'") else "", first)[:100]


#: Loggers through which the event loops report problems (unretrieved task
#: exceptions, errors while finalizing async generators).
LOGGERS = ("asyncio", "trio")


class _LogCapture(logging.Handler):
    def __init__(self, trace: Trace) -> None:
        super().__init__(logging.DEBUG)
        self._trace = trace

    def emit(self, record: logging.LogRecord) -> None:
        self._trace(f"{record.name.split('.')[0]} logged", _clean(record.getMessage()))


def run_one(scenario: Scenario, system: System, timeout: float = DEFAULT_TIMEOUT) -> Result:
    """Run *scenario* on *system* in a fresh event loop and report what happened."""
    missing = missing_module(system)
    if missing is not None:
        return Result(system.name, "missing", "not installed", [], 0.0, f"{missing} not installed")
    trace = Trace()
    handle = _Handle()
    failure: list[BaseException] = []

    def target() -> None:
        try:
            _start(system, scenario, trace, handle)
        except BaseException as exc:
            failure.append(exc)

    loggers = [logging.getLogger(name) for name in LOGGERS]
    capture = _LogCapture(trace)
    old_hook = sys.unraisablehook

    def unraisable(info: sys.UnraisableHookArgs) -> None:
        trace("unraisable", _clean(f"{exc_name(info.exc_value)} in {info.object!r}"))

    start = time.perf_counter()
    propagate = [logger.propagate for logger in loggers]
    for logger in loggers:
        logger.addHandler(capture)
        logger.propagate = False
    sys.unraisablehook = unraisable
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            thread = threading.Thread(target=target, name=f"compare {scenario.name}", daemon=True)
            thread.start()
            thread.join(timeout)
            if thread.is_alive() and handle.rescue is not None:
                handle.rescue()
                thread.join(1.0)
        for warning in caught:
            trace("warning", _clean(f"{warning.category.__name__}: {warning.message}"))
    finally:
        sys.unraisablehook = old_hook
        for logger, old in zip(loggers, propagate, strict=True):
            logger.removeHandler(capture)
            logger.propagate = old
    elapsed = time.perf_counter() - start
    if thread.is_alive():
        return _hang(system, trace, elapsed, timeout, rescued=False)
    if failure:
        exc = failure[0]
        if elapsed >= timeout:
            return _hang(system, trace, elapsed, timeout, rescued=True)
        trace("escaped the run", exc)
        return Result(
            system.name,
            "error",
            f"error: {exc_name(exc)}",
            trace.entries,
            elapsed,
            f"{type(exc).__name__}: {exc}",
        )
    if elapsed >= timeout:
        return _hang(system, trace, elapsed, timeout, rescued=True)
    headline = trace.get(scenario.headline)
    if headline is None:
        return Result(
            system.name,
            "error",
            "no headline",
            trace.entries,
            elapsed,
            f"the variant never recorded {scenario.headline!r}",
        )
    return Result(system.name, "ok", headline, trace.entries, elapsed)


def _hang(system: System, trace: Trace, elapsed: float, timeout: float, *, rescued: bool) -> Result:
    how = "cancelled by the safety net" if rescued else "abandoned (still running)"
    return Result(
        system.name, "hang", "hang", trace.entries, elapsed, f"no result after {timeout:g}s; {how}"
    )


def run_many(
    scenarios: Sequence[Scenario], systems: Sequence[System], timeout: float = DEFAULT_TIMEOUT
) -> dict[str, dict[str, Result]]:
    """Every scenario on every system: scenario name -> system name -> result."""
    return {sc.name: {sy.name: run_one(sc, sy, timeout) for sy in systems} for sc in scenarios}
