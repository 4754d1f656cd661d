"""pytest plugin: run tests with unicancel's cancellation diagnostics on.

Registered through the ``pytest11`` entry point, so an installed unicancel
offers it to every pytest run; it does nothing until asked:

* ``--unicancel-diagnose`` (or ``unicancel_diagnose = true`` in the ini file)
  runs every test with diagnostics on;
* ``@pytest.mark.unicancel_diagnose`` (optionally ``(stuck_after=SECONDS)``)
  runs one test with them on;
* ``--unicancel-stuck-after SECONDS`` (ini ``unicancel_stuck_after``) sets the
  threshold after which an undelivered cancellation is reported as stuck.

A test that swallowed a cancellation, stalled one past the threshold, or left
a task running past its shutdown fails, with the reports (the code sites
first) as its message. A test that turns diagnostics off itself
(``unicancel.diagnostics.disable()``) gets a ``PytestWarning`` naming it:
nothing it did after that was checked. The test's own body runs under
:func:`unicancel.diagnostics.collect`, so it works with any runner of async
tests (anyio's plugin on asyncio, uvloop, the eager task factory and trio):
the diagnostics watch unicancel's scopes, whatever starts the event loop.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from . import Report

__all__ = [
    "pytest_addoption",
    "pytest_configure",
    "pytest_runtest_call",
]

MARKER = "unicancel_diagnose"
#: Reports that fail a test; "landed" only completes a "stuck" one.
FAILING = ("swallowed", "stuck", "outlived")
_VERBS = {"swallowed": "swallowed", "stuck": "stalled", "outlived": "left running"}


def _seconds(text: str, what: str = "--unicancel-stuck-after") -> float:
    """A threshold: a positive number of seconds, or inf (never stuck); the
    same rule and error text as enable(stuck_after=...)."""
    from .._diagnostics._control import stuck_after_from_text

    return stuck_after_from_text(text, what)


def _option_seconds(text: str) -> float:
    import argparse

    try:
        return _seconds(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def pytest_addoption(parser: pytest.Parser) -> None:
    """The command-line and ini options."""
    group = parser.getgroup("unicancel", "unicancel cancellation diagnostics")
    group.addoption(
        "--unicancel-diagnose",
        action="store_true",
        default=None,
        help="run every test with unicancel's cancellation diagnostics on; fail a test that "
        "swallowed or stalled a cancellation, naming the code that did it",
    )
    group.addoption(
        "--unicancel-stuck-after",
        type=_option_seconds,
        default=None,
        metavar="SECONDS",
        help="with diagnostics on: report a cancellation not delivered after this long as "
        "stuck (default: unicancel_stuck_after in the ini file, else 1)",
    )
    parser.addini(
        "unicancel_diagnose",
        type="bool",
        default=False,
        help="run every test with unicancel's cancellation diagnostics on",
    )
    parser.addini(
        "unicancel_stuck_after",
        default="1",
        help="seconds after which an undelivered cancellation is reported as stuck",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker; check the threshold once, before any test runs."""
    config.addinivalue_line(
        "markers",
        f"{MARKER}(stuck_after=None): run this test with unicancel's cancellation "
        "diagnostics on; fail it if it swallowed or stalled a cancellation",
    )
    _default_stuck_after(config)


def _default_stuck_after(config: pytest.Config) -> float:
    option = config.getoption("unicancel_stuck_after")
    if option is not None:
        value: float = option
        return value
    text = str(config.getini("unicancel_stuck_after"))
    try:
        return _seconds(text, "the ini option unicancel_stuck_after")
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None


def _settings(item: pytest.Item) -> float | None:
    """The stuck threshold if *item* runs with diagnostics on, else None."""
    marker = item.get_closest_marker(MARKER)
    on = item.config.getoption("unicancel_diagnose")
    if on is None:
        on = bool(item.config.getini("unicancel_diagnose"))
    if marker is None:
        return _default_stuck_after(item.config) if on else None
    if marker.args or set(marker.kwargs) - {"stuck_after"}:
        pytest.fail(
            f"unicancel: @pytest.mark.{MARKER} takes only stuck_after=SECONDS "
            f"(got args={marker.args!r}, kwargs={marker.kwargs!r})",
            pytrace=False,
        )
    stuck_after = marker.kwargs.get("stuck_after")
    if stuck_after is None:
        return _default_stuck_after(item.config)
    try:
        return _seconds(str(stuck_after), f"@pytest.mark.{MARKER}(stuck_after=...)")
    except ValueError as exc:
        pytest.fail(str(exc), pytrace=False)


def _site(report: Report) -> str:
    from .._diagnostics._report import sites_of

    return sites_of(report) or f"in task {report.task}"


def failure_text(reports: Sequence[Report]) -> str:
    """What a failing test shows: one line per problem (its sites), then each
    report in full."""
    problems = [report for report in reports if report.kind in FAILING]
    counts = {kind: sum(r.kind == kind for r in problems) for kind in FAILING}
    what = ", ".join(f"{_VERBS[kind]} {n}" for kind, n in counts.items() if n)
    lines = [f"unicancel diagnostics: this test {what} cancellation(s)"]
    lines.extend(f"  {report.kind}: {_site(report)}" for report in problems)
    for report in reports:
        lines.append("")
        lines.append(report.format())
    return "\n".join(lines)


def _turned_off(item: pytest.Item) -> str:
    return (
        f"unicancel: {item.nodeid} turned diagnostics off while it ran "
        "(unicancel.diagnostics.disable()): nothing after that was checked; remove "
        "the call, or run this test without unicancel's diagnostics"
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    """Run the test's body under :func:`unicancel.diagnostics.collect` when
    asked to; fail it if a cancellation was swallowed, stalled or outlived."""
    stuck_after = _settings(item)
    if stuck_after is None:
        return (yield)
    from .._diagnostics._dispatch import settings
    from . import collect, disable, enable, is_enabled

    was_enabled = is_enabled()
    if not was_enabled:
        # Reports fail the test; as warnings they would also be raised inside
        # the event loop under `-W error` (and pytest shows them again).
        enable(stuck_after=stuck_after, warn=False, log=False)
    disables = settings.disables
    try:
        with collect() as reports:
            try:
                result = yield
            except BaseException:
                # The test failed anyway: show the reports next to its error.
                text = [failure_text(reports)] if reports else []
                if settings.disables != disables:
                    text.append(_turned_off(item))
                if text:
                    item.add_report_section("call", "unicancel diagnostics", "\n\n".join(text))
                raise
            turned_off = settings.disables != disables  # by the test itself
    finally:
        if not was_enabled:
            disable()
    if any(report.kind in FAILING for report in reports):
        note = f"\n\n{_turned_off(item)}" if turned_off else ""
        pytest.fail(failure_text(reports) + note, pytrace=False)
    if turned_off:
        # Its pass would claim a check that did not happen. A warning, as
        # `diagnose` prints a note: turning them off is no cancellation bug
        # (under filterwarnings = error, the test fails).
        item.warn(pytest.PytestWarning(_turned_off(item)))
    return result
