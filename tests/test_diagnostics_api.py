"""unicancel.diagnostics: the switch, the Report record and where reports go
(warnings, the ``unicancel`` logger, subscribers). Detectors: the other
tests/test_diagnostics_*.py files."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator

import pytest

import unicancel
from unicancel import diagnostics
from unicancel._core import _diag_hooks
from unicancel._diagnostics._dispatch import dispatch
from unicancel.diagnostics import (
    CancelDiagnosticWarning,
    OutlivedTaskWarning,
    Report,
    StuckCancelWarning,
    SwallowedCancelWarning,
)

from ._diag import python


@pytest.fixture(autouse=True)
def _off() -> Iterator[None]:
    assert not diagnostics.is_enabled()
    yield
    diagnostics.disable()


def _report(kind: str = "swallowed", **fields: object) -> Report:
    values: dict[str, object] = {
        "kind": kind,
        "task": "Task-7",
        "backend": "asyncio",
        "scope_site": "app/jobs.py:10",
        "reason": "shutting down",
        "catch_site": "app/jobs.py:14",
        "latency": None,
        "stack": "",
    }
    values.update(fields)
    return Report(**values)  # type: ignore[arg-type]


def _slot() -> object:
    return _diag_hooks.hooks


def test_enable_fills_the_core_slot_and_disable_empties_it() -> None:
    assert _slot() is None
    diagnostics.enable(stuck_after=0.5)
    assert diagnostics.is_enabled()
    assert _slot() is not None
    diagnostics.disable()
    assert not diagnostics.is_enabled()
    assert _slot() is None
    diagnostics.disable()  # idempotent


@pytest.mark.parametrize("bad", [0, -1.0, float("nan")])
def test_enable_rejects_a_bad_threshold(bad: float) -> None:
    with pytest.raises(ValueError, match=r"unicancel: stuck_after must be a positive number"):
        diagnostics.enable(stuck_after=bad)
    assert not diagnostics.is_enabled()


def test_enable_rejects_wrong_types() -> None:
    with pytest.raises(TypeError, match="unicancel: stuck_after must be a number"):
        diagnostics.enable(stuck_after="1")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="unicancel: warn must be a bool"):
        diagnostics.enable(warn=1)  # type: ignore[arg-type]


def test_warning_categories() -> None:
    for category in (SwallowedCancelWarning, StuckCancelWarning, OutlivedTaskWarning):
        assert issubclass(category, CancelDiagnosticWarning)
    assert issubclass(CancelDiagnosticWarning, RuntimeWarning)
    assert CancelDiagnosticWarning.__module__ == "unicancel.diagnostics"
    assert _report("landed").category is StuckCancelWarning


def test_format_names_kind_task_and_sites_on_the_first_line() -> None:
    text = _report(stack="  some stack").format()
    first = text.splitlines()[0]
    assert "swallowed" in first and "'Task-7'" in first
    assert "app/jobs.py:14" in first and "app/jobs.py:10" in first
    assert "reason: shutting down" in text and text.endswith("  some stack")
    landed = _report("landed", latency=2.5, catch_site=None).format().splitlines()[0]
    assert "after 2.500 s" in landed


def test_report_is_frozen() -> None:
    report = _report()
    with pytest.raises(AttributeError):
        report.task = "other"  # type: ignore[misc]


def test_dispatch_warns_logs_and_calls_subscribers(caplog: pytest.LogCaptureFixture) -> None:
    diagnostics.enable()
    seen: list[Report] = []
    unsubscribe = diagnostics.subscribe(seen.append)
    report = _report()
    with pytest.warns(SwallowedCancelWarning, match="swallowed") as record:
        with caplog.at_level(logging.WARNING, logger="unicancel"):
            dispatch(report)
    assert seen == [report]
    assert record[0].filename == "app/jobs.py" and record[0].lineno == 14
    assert [r.getMessage() for r in caplog.records] == [report.format()]
    unsubscribe()
    unsubscribe()  # twice is harmless
    with pytest.warns(SwallowedCancelWarning):
        dispatch(report)
    assert seen == [report]


def test_warn_and_log_can_be_turned_off(caplog: pytest.LogCaptureFixture) -> None:
    diagnostics.enable(warn=False, log=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with caplog.at_level(logging.DEBUG, logger="unicancel"):
            dispatch(_report())
    assert caplog.records == []


def test_a_raising_subscriber_is_logged_and_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    diagnostics.enable(warn=False, log=False)
    seen: list[Report] = []

    def broken(report: Report) -> None:
        raise ZeroDivisionError

    diagnostics.subscribe(broken)
    unsubscribe = diagnostics.subscribe(seen.append)
    try:
        with caplog.at_level(logging.ERROR, logger="unicancel"):
            dispatch(_report())
    finally:
        unsubscribe()
        from unicancel._diagnostics import _dispatch

        _dispatch._subscribers.clear()
    assert len(seen) == 1
    assert "a diagnostics subscriber" in caplog.records[0].getMessage()
    assert caplog.records[0].exc_info is not None


def test_subscribe_needs_a_callable() -> None:
    with pytest.raises(TypeError, match="unicancel: subscribe"):
        diagnostics.subscribe(42)  # type: ignore[arg-type]


def test_collect_enables_for_the_block_only() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CancelDiagnosticWarning)
        with diagnostics.collect() as reports:
            assert diagnostics.is_enabled()
            dispatch(_report())
        assert not diagnostics.is_enabled()
        dispatch(_report())  # after the block: not collected
    assert [r.kind for r in reports] == ["swallowed"]


def test_collect_keeps_diagnostics_on_if_they_were() -> None:
    diagnostics.enable(warn=False, log=False)
    with diagnostics.collect():
        pass
    assert diagnostics.is_enabled()


def test_stuck_reports_from_the_watchdog_thread_never_raise_there(
    caplog: pytest.LogCaptureFixture,
) -> None:
    diagnostics.enable(log=False)
    with caplog.at_level(logging.ERROR, logger="unicancel"):
        dispatch(_report("stuck", latency=1.0), in_loop=False)  # filters: error
    assert "a diagnostic warning is an error here" in caplog.records[0].getMessage()


def test_unicancel_debug_enables_at_import() -> None:
    code = (
        "import unicancel.diagnostics as d, unicancel._diagnostics._dispatch as s;"
        "print(d.is_enabled(), s.settings.stuck_after)"
    )
    assert python(code, UNICANCEL_DEBUG="1").stdout.split() == ["True", "1.0"]
    on = python(code, UNICANCEL_DEBUG="1", UNICANCEL_DEBUG_STUCK_AFTER="0.25")
    assert on.stdout.split() == ["True", "0.25"]
    assert python(code, UNICANCEL_DEBUG="0").stdout.split() == ["False", "1.0"]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"UNICANCEL_DEBUG": "yes"}, "UNICANCEL_DEBUG must be 1"),
        (
            {"UNICANCEL_DEBUG": "1", "UNICANCEL_DEBUG_STUCK_AFTER": "soon"},
            "UNICANCEL_DEBUG_STUCK_AFTER must be a number",
        ),
        (
            {"UNICANCEL_DEBUG": "1", "UNICANCEL_DEBUG_STUCK_AFTER": "-1"},
            "UNICANCEL_DEBUG_STUCK_AFTER must be a positive number",
        ),
    ],
)
def test_unicancel_debug_bad_values_fail_clearly(env: dict[str, str], message: str) -> None:
    result = python("import unicancel", **env)
    assert result.returncode != 0
    assert f"ValueError: unicancel: {message}" in result.stderr


def test_public_names_are_exported_documented_and_in_the_api_reference() -> None:
    import inspect
    from pathlib import Path

    api = (Path(__file__).parent.parent / "docs" / "api.md").read_text(encoding="utf-8")
    section = api[api.index("## Diagnostics") : api.index("## Errors at a glance")]
    assert sorted(diagnostics.__all__) == list(diagnostics.__all__)
    for name in diagnostics.__all__:
        obj = getattr(diagnostics, name)
        assert f"`{name}`" in section, name
        if name != "ReportKind":  # a type alias
            assert (inspect.getdoc(obj) or "").strip(), name
        if inspect.isclass(obj):
            assert obj.__module__ == "unicancel.diagnostics"


def test_enable_rejects_a_threshold_past_floats_range() -> None:
    with pytest.raises(ValueError, match=r"unicancel: stuck_after is too large .* math\.inf"):
        diagnostics.enable(stuck_after=10**400)
    assert not diagnostics.is_enabled()


def _swallowing_run() -> None:
    async def main() -> None:
        with unicancel.move_on_after(0):
            try:
                await unicancel.Event().wait()
            except unicancel.get_cancelled_exc_class():
                pass  # the same site in every block below

    unicancel.run(main)


def test_each_collect_block_reports_a_site_seen_before() -> None:
    # Once per site holds within a block, not for the process: a helper that
    # swallows in every test must fail every test (the pytest plugin collects
    # per test), also when diagnostics were already on (UNICANCEL_DEBUG=1).
    diagnostics.enable(warn=False, log=False)
    try:
        counts = []
        for _ in range(3):
            with diagnostics.collect() as found:
                _swallowing_run()
            counts.append(sum(r.kind == "swallowed" for r in found))
    finally:
        diagnostics.disable()
    assert counts == [1, 1, 1]


def test_a_huge_threshold_leaves_the_watchdog_working() -> None:
    # 1e10 s is accepted (as inf is); the watchdog's wait for a pending
    # cancellation must not overflow the lock's timeout and kill the thread.
    import threading

    from unicancel._diagnostics import _watchdog

    alive: list[bool] = []

    async def main() -> None:
        with unicancel.CancelScope() as scope:
            scope.cancel()
            with unicancel.CancelScope(shield=True):  # the cancel stays pending
                await unicancel.cancel_shielded_checkpoint()
                _watchdog.expedite(wait=True)  # it has looked and now waits
                await unicancel.cancel_shielded_checkpoint()
                alive.append(any(t.name == "unicancel-watchdog" for t in threading.enumerate()))

    errors: list[BaseException | None] = []
    previous = threading.excepthook
    threading.excepthook = lambda args: errors.append(args.exc_value)
    try:
        diagnostics.enable(stuck_after=1e10, warn=False, log=False)
        unicancel.run(main)
    finally:
        diagnostics.disable()
        threading.excepthook = previous
    assert errors == []
    assert alive == [True]
