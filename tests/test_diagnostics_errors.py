"""Diagnostics: reports never get in the way of the program (the hostile
review of issue 13): a warning turned into an error never replaces an
exception already on its way out, and a subscriber that raises stops
neither the other subscribers nor the watchdog.
"""

from __future__ import annotations

import logging
import sys
import threading
import warnings
from collections.abc import Callable, Iterator

import pytest

import unicancel
from unicancel import CancelScope, diagnostics
from unicancel._diagnostics import _watchdog
from unicancel.diagnostics import CancelDiagnosticWarning, Report

from ._diag import Watch


@pytest.fixture
def seen() -> Iterator[Watch]:
    diagnostics.enable(stuck_after=60, warn=True, log=False)
    found = Watch()  # warnings on, as errors (the watch fixture turns them off)
    unsubscribe = diagnostics.subscribe(found)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", CancelDiagnosticWarning)
            yield found
    finally:
        unsubscribe()
        diagnostics.disable()


def _stuck(seen: Watch) -> None:
    """Block (no checkpoint) until the watchdog reported the task stuck."""
    threading.Thread(target=_watchdog.expedite, daemon=True).start()
    assert seen.seen["stuck"].wait(30)


async def test_werror_landed_report_does_not_replace_the_users_exception(seen: Watch) -> None:
    # The scope is left by the user's own exception after a stuck cancel:
    # the diagnostic (an error under -W error) is logged, the ValueError stays.
    with pytest.raises(ValueError, match="user error"):
        with CancelScope() as scope:
            scope.cancel()
            _stuck(seen)
            raise ValueError("user error")
    assert seen.kinds()[0] == "stuck"


async def test_werror_landed_report_in_a_finally_that_raises(seen: Watch) -> None:
    # The cancellation landed, then a `finally` raised: the user's error wins.
    with pytest.raises(ValueError, match="error in finally"):
        with CancelScope() as scope:
            scope.cancel()
            try:
                _stuck(seen)
                await unicancel.checkpoint()
            finally:
                raise ValueError("error in finally")
    assert seen.kinds()[:2] == ["stuck", "landed"], seen.kinds()
    assert seen.reports[1].latency is not None


async def test_a_subscriber_raising_systemexit_does_not_kill_the_watchdog(
    seen: Watch, caplog: pytest.LogCaptureFixture
) -> None:
    raised: list[str] = []

    def exits(report: Report) -> None:
        if report.kind == "stuck" and not raised:
            raised.append(report.kind)
            raise SystemExit("a subscriber exits")

    unsubscribe = diagnostics.subscribe(exits)
    try:
        for _ in range(2):  # the second stuck cancel is reported too
            seen.seen["stuck"].clear()
            with CancelScope() as scope:
                scope.cancel()
                threading.Thread(target=_watchdog.expedite, daemon=True).start()
                assert seen.seen["stuck"].wait(10), seen.kinds()
                await unicancel.checkpoint()  # it lands (and the scope catches it)
    finally:
        unsubscribe()
    assert raised == ["stuck"]
    assert seen.kinds().count("stuck") == 2, seen.kinds()
    assert any("a diagnostics subscriber" in r.getMessage() for r in caplog.records)


async def test_keyboardinterrupt_from_a_subscriber_in_the_loop_after_the_others(
    seen: Watch, backend_name: str
) -> None:
    if backend_name == "trio" and sys.version_info < (3, 12):
        pytest.skip("trio tells a swallow by its catch site: Python 3.12+")
    calls: list[str] = []

    def interrupts(report: Report) -> None:
        calls.append("interrupts")
        raise KeyboardInterrupt

    diagnostics.disable()  # the interrupting subscriber first, then `seen`
    diagnostics.enable(stuck_after=60, warn=False, log=False)
    unsubscribe = seen_after(interrupts, seen)
    try:
        with pytest.raises(KeyboardInterrupt):
            with CancelScope() as scope:
                scope.cancel()
                try:
                    await unicancel.checkpoint()
                except unicancel.get_cancelled_exc_class():
                    pass  # a swallow: reported at the scope's exit
    finally:
        unsubscribe()
    assert calls == ["interrupts"]
    assert seen.kinds() == ["swallowed"]  # the later subscriber ran first


def seen_after(first: Callable[[Report], object], seen: Watch) -> Callable[[], None]:
    """Subscribe *first*, then *seen* again (after it); one function undoes both."""
    from unicancel._diagnostics import _dispatch

    with _dispatch._lock:
        _dispatch._subscribers[:] = [s for s in _dispatch._subscribers if s is not seen]
    undo_first = diagnostics.subscribe(first)
    undo_seen = diagnostics.subscribe(seen)

    def undo() -> None:
        undo_first()
        undo_seen()

    return undo


def test_under_werror_a_watchdog_report_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from unicancel._diagnostics._dispatch import dispatch

    report = Report("stuck", "T", "asyncio", "f.py:1", None, None, 1.0, "")
    diagnostics.enable(stuck_after=60, warn=True, log=True)
    try:
        with warnings.catch_warnings(), caplog.at_level(logging.DEBUG, logger="unicancel"):
            warnings.simplefilter("error", CancelDiagnosticWarning)
            dispatch(report, in_loop=False)  # the watchdog thread: cannot raise
    finally:
        diagnostics.disable()
    texts = [r.getMessage() for r in caplog.records]
    assert len(texts) == 1, texts
    assert caplog.records[0].levelno == logging.ERROR
    assert report.format() in texts[0]


def test_a_subscriber_error_is_logged_without_the_exception_being_handled(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from unicancel._diagnostics._dispatch import dispatch

    def fails(report: Report) -> None:
        raise RuntimeError("subscriber bug")

    report = Report("landed", "T", "asyncio", None, None, None, 1.0, "")
    diagnostics.enable(stuck_after=60, warn=False, log=False)
    unsubscribe = diagnostics.subscribe(fails)
    try:
        with caplog.at_level(logging.ERROR, logger="unicancel"):
            try:
                raise ValueError("the cancellation being handled")
            except ValueError:
                dispatch(report, in_loop=True)  # a report made while one unwinds
    finally:
        unsubscribe()
        diagnostics.disable()
    assert caplog.records, "nothing logged"
    text = caplog.text
    assert "subscriber bug" in text
    assert "the cancellation being handled" not in text
    assert "During handling" not in text
