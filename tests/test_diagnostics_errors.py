"""Diagnostics: reports never get in the way of the program (the hostile
review of issue 13): a warning turned into an error never replaces an
exception already on its way out, and a subscriber that raises stops
neither the other subscribers nor the watchdog.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator

import pytest

import unicancel
from unicancel import CancelScope, diagnostics
from unicancel._diagnostics import _watchdog
from unicancel.diagnostics import CancelDiagnosticWarning, Report


class Seen:
    def __init__(self) -> None:
        self.reports: list[Report] = []
        self.stuck = threading.Event()

    def __call__(self, report: Report) -> None:
        self.reports.append(report)
        if report.kind == "stuck":
            self.stuck.set()

    def kinds(self) -> list[str]:
        return [r.kind for r in self.reports]


@pytest.fixture
def seen() -> Iterator[Seen]:
    diagnostics.enable(stuck_after=60, warn=True, log=False)
    found = Seen()
    unsubscribe = diagnostics.subscribe(found)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", CancelDiagnosticWarning)
            yield found
    finally:
        unsubscribe()
        diagnostics.disable()


def _stuck(seen: Seen) -> None:
    """Block (no checkpoint) until the watchdog reported the task stuck."""
    threading.Thread(target=_watchdog.expedite, daemon=True).start()
    assert seen.stuck.wait(30)


async def test_werror_landed_report_does_not_replace_the_users_exception(seen: Seen) -> None:
    # The scope is left by the user's own exception after a stuck cancel:
    # the diagnostic (an error under -W error) is logged, the ValueError stays.
    with pytest.raises(ValueError, match="user error"):
        with CancelScope() as scope:
            scope.cancel()
            _stuck(seen)
            raise ValueError("user error")
    assert seen.kinds()[0] == "stuck"


async def test_werror_landed_report_in_a_finally_that_raises(seen: Seen) -> None:
    # The cancellation landed, then a `finally` raised: the user's error wins.
    with pytest.raises(ValueError, match="error in finally"):
        with CancelScope() as scope:
            scope.cancel()
            try:
                _stuck(seen)
                await unicancel.checkpoint()
            finally:
                raise ValueError("error in finally")  # noqa: B012
    assert seen.kinds()[:2] == ["stuck", "landed"], seen.kinds()
    assert seen.reports[1].latency is not None
