"""Shared by tests/test_diagnostics_*.py: diagnostics on, reports collected."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from math import inf

import pytest

from unicancel import diagnostics
from unicancel.diagnostics import Report

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
