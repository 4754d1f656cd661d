"""Shared by tests/test_diagnostics_*.py: diagnostics on, reports collected."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from math import inf

import pytest

import unicancel
from unicancel import CancelScope, diagnostics, to_thread
from unicancel._diagnostics import _watchdog
from unicancel.diagnostics import Report

from ._helpers import Event, wait_all_tasks_blocked

#: sys.monitoring (3.12+) tells which handler caught a cancellation.
CATCH_SITES = sys.version_info >= (3, 12)


def line() -> int:
    """The caller's line number."""
    return sys._getframe(1).f_lineno


@pytest.fixture
def reports() -> Iterator[list[Report]]:
    """Diagnostics on (no warnings, no log, no watchdog) for the test; its reports."""
    assert not diagnostics.is_enabled()
    diagnostics.enable(warn=False, log=False, stuck_after=inf)
    found: list[Report] = []
    unsubscribe = diagnostics.subscribe(found.append)
    try:
        yield found
    finally:
        unsubscribe()
        diagnostics.disable()


def at(site: str | None, filename: str, lineno: int) -> bool:
    return site is not None and site.endswith(f"{filename}:{lineno}")


class Watch:
    """Reports, and a threading.Event per kind set when one arrives."""

    def __init__(self) -> None:
        self.reports: list[Report] = []
        self.seen = {kind: threading.Event() for kind in ("stuck", "landed", "swallowed")}

    def __call__(self, report: Report) -> None:
        self.reports.append(report)
        self.seen[report.kind].set()

    def kinds(self) -> list[str]:
        return [r.kind for r in self.reports]

    def wait(self, kind: str) -> None:
        assert self.seen[kind].wait(30), f"no {kind} report: {self.kinds()}"

    def expedite_when(self, entered: threading.Event) -> None:
        """From a helper thread: once *entered* is set (the loop thread is
        about to block), make the watchdog look now."""

        def helper() -> None:
            entered.wait(30)
            _watchdog.expedite()

        threading.Thread(target=helper, daemon=True).start()


@pytest.fixture
def watch() -> Iterator[Watch]:
    diagnostics.enable(stuck_after=60, warn=False, log=False)
    found = Watch()
    unsubscribe = diagnostics.subscribe(found)
    try:
        yield found
    finally:
        unsubscribe()
        diagnostics.disable()


async def cancel_then_release(watch: Watch, outer: CancelScope, release: Event) -> None:
    """Once the host waits in its shield: cancel *outer* around it, make the
    watchdog look, and when it has reported the cancellation stuck, set
    *release* (what the host waits for)."""
    await wait_all_tasks_blocked()
    outer.cancel("shutdown")
    _watchdog.expedite()
    await to_thread(watch.wait, "stuck")
    release.set()


def python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run *code* in a fresh interpreter with this unicancel and *env* added."""
    src = os.path.dirname(os.path.dirname(unicancel.__file__))
    environ = {**os.environ, "PYTHONPATH": src, **env}
    return subprocess.run(
        [sys.executable, "-c", code], env=environ, capture_output=True, text=True, timeout=60
    )
