"""Diagnostics in the process (the hostile review of issue 13): reachable as
``unicancel.diagnostics`` after ``import unicancel``, a forked child still
reports, and the threshold reads the same from every place it is given.
"""

from __future__ import annotations

import os
import threading
import warnings

import pytest

import unicancel
from unicancel import CancelScope, diagnostics
from unicancel._diagnostics import _watchdog
from unicancel.diagnostics import Report

from ._diag import python


def test_unicancel_diagnostics_after_a_bare_import_without_loading_it_eagerly() -> None:
    code = (
        "import sys, unicancel\n"
        "print('unicancel.diagnostics' in sys.modules, "
        "'unicancel._diagnostics._watchdog' in sys.modules)\n"
        "print(unicancel.diagnostics.is_enabled())\n"
        "unicancel.diagnostics.enable(stuck_after=2); print(unicancel.diagnostics.is_enabled())\n"
        "try:\n    unicancel.no_such_name\nexcept AttributeError as e:\n    print(e)\n"
    )
    result = python(code)
    assert result.stdout.splitlines() == [
        "False False",
        "False",
        "True",
        "module 'unicancel' has no attribute 'no_such_name'",
    ], result.stderr


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork here")
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_forked_child_still_reports_stuck_cancellations(backend: str) -> None:
    def stuck_once(reports: list[Report]) -> bool:
        seen = threading.Event()

        def found(report: Report) -> None:
            reports.append(report)
            if report.kind == "stuck":
                seen.set()

        async def main() -> bool:
            with CancelScope() as scope:
                scope.cancel()
                threading.Thread(target=_watchdog.expedite, daemon=True).start()
                return seen.wait(10)  # blocks: stuck until the watchdog reports it
            return False  # (the scope never catches before the return)

        unsubscribe = diagnostics.subscribe(found)
        try:
            return unicancel.run(main, backend=backend)
        finally:
            unsubscribe()

    diagnostics.enable(stuck_after=60, warn=False, log=False)
    try:
        assert stuck_once([])  # the watchdog thread runs in this process
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads
            pid = os.fork()
        if pid == 0:  # the child: report by exit status only
            status = 3
            try:
                status = 0 if stuck_once([]) else 1
            finally:
                os._exit(status)
        _, status = os.waitpid(pid, 0)
    finally:
        diagnostics.disable()
    assert os.waitstatus_to_exitcode(status) == 0


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            "-1",
            "must be a positive number of seconds (or inf to never report stuck "
            "cancellations), got -1",
        ),
        (
            "0.0",
            "must be a positive number of seconds (or inf to never report stuck "
            "cancellations), got 0.0",
        ),
        ("soon", "must be a number of seconds, got 'soon'"),
    ],
)
def test_the_environment_threshold_is_shown_as_written(raw: str, message: str) -> None:
    result = python("import unicancel", UNICANCEL_DEBUG="1", UNICANCEL_DEBUG_STUCK_AFTER=raw)
    assert f"ValueError: unicancel: UNICANCEL_DEBUG_STUCK_AFTER {message}\n" in result.stderr


def test_inf_is_accepted_from_the_environment_as_by_enable() -> None:
    code = (
        "import unicancel._diagnostics._dispatch as s;"
        "print(s.settings.enabled, s.settings.stuck_after)"
    )
    result = python(code, UNICANCEL_DEBUG="1", UNICANCEL_DEBUG_STUCK_AFTER="inf")
    assert result.stdout.split() == ["True", "inf"], result.stderr
