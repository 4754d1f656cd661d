"""The switch: enable()/disable()/is_enabled()/collect() and UNICANCEL_DEBUG."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from contextlib import contextmanager

from .._core import _diag_hooks
from ._dispatch import forget_sites, settings, subscribe
from ._report import Report

__all__ = [
    "collect",
    "disable",
    "enable",
    "enable_from_environment",
    "is_enabled",
    "stuck_after_from_text",
]


def stuck_after_from_text(text: str, what: str) -> float:
    """*text* (an environment variable, a command-line or ini option) as a
    threshold: the same rule and error text as enable(stuck_after=...)."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(
            f"unicancel: {what} must be a number of seconds, got {text.strip()!r}"
        ) from None
    return _check_stuck_after(value, what, shown=text.strip())


def _check_stuck_after(value: object, what: str = "stuck_after", shown: str = "") -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"unicancel: {what} must be a number of seconds, got {value!r}")
    try:
        seconds = float(value)
    except OverflowError:  # an int past float's range (10**400)
        raise ValueError(
            f"unicancel: {what} is too large for a number of seconds; use math.inf "
            "to never report stuck cancellations"
        ) from None
    if math.isnan(seconds) or seconds <= 0:
        raise ValueError(
            f"unicancel: {what} must be a positive number of seconds (or inf to never "
            f"report stuck cancellations), got {shown or repr(value)}"
        )
    return seconds


def enable(*, stuck_after: float = 1.0, warn: bool = True, log: bool = True) -> None:
    """Turn cancellation diagnostics on (all of them), for the whole process.

    Args:
        stuck_after: seconds after which a requested cancellation that has not
            landed is reported as stuck (``inf``: never).
        warn: issue each report as a warning (:class:`CancelDiagnosticWarning`
            subclasses; ``-W error::unicancel.diagnostics.CancelDiagnosticWarning``
            makes them errors).
        log: log each report on the ``unicancel`` logger (level WARNING).

    Calling it again changes the settings. Costs nothing until a scope is
    cancelled; the watchdog thread starts at the first cancellation.
    """
    seconds = _check_stuck_after(stuck_after)
    for name, flag in (("warn", warn), ("log", log)):
        if flag is not True and flag is not False:
            raise TypeError(f"unicancel: {name} must be a bool, got {flag!r}")
    from ._catch import start_catch_monitoring
    from ._hooks import HOOKS

    settings.stuck_after = seconds
    settings.warn = warn
    settings.log = log
    if not settings.enabled:
        settings.enabled = True
        start_catch_monitoring()
        _diag_hooks.hooks = HOOKS


def disable() -> None:
    """Turn diagnostics off. Pending watchdog checks are dropped; the
    watchdog thread ends. Subscribers stay subscribed."""
    if not settings.enabled:
        return
    from ._catch import stop_catch_monitoring
    from ._watchdog import flush, stop_watchdog

    flush()  # stuck reports whose scopes were left get their end report first

    _diag_hooks.hooks = None
    settings.enabled = False
    settings.disables += 1
    stop_catch_monitoring()
    stop_watchdog()
    forget_sites()


def is_enabled() -> bool:
    """Whether diagnostics are on."""
    return settings.enabled


@contextmanager
def collect() -> Iterator[list[Report]]:
    """``with collect() as reports:`` appends every report made in the block
    to *reports* (diagnostics are enabled for the block if they were off,
    and turned off again after it)."""
    reports: list[Report] = []
    # Each block sees its own swallows, even at a site reported before it (a
    # helper that swallows in every test): once per site is per block.
    forget_sites()
    was_on = settings.enabled
    if not was_on:
        enable()
    unsubscribe = subscribe(reports.append)
    try:
        yield reports
    finally:
        from ._watchdog import flush

        flush()  # the end reports of stuck cancellations whose scopes were left
        unsubscribe()
        if not was_on:
            disable()


def enable_from_environment() -> None:
    """``UNICANCEL_DEBUG=1`` (and optionally ``UNICANCEL_DEBUG_STUCK_AFTER``)
    enable diagnostics at ``import unicancel``."""
    flag = os.environ.get("UNICANCEL_DEBUG", "").strip()
    if flag in ("", "0"):
        return
    if flag != "1":
        raise ValueError(
            f"unicancel: UNICANCEL_DEBUG must be 1 (diagnostics on) or 0/empty (off), got {flag!r}"
        )
    raw = os.environ.get("UNICANCEL_DEBUG_STUCK_AFTER", "").strip()
    stuck_after = stuck_after_from_text(raw, "UNICANCEL_DEBUG_STUCK_AFTER") if raw else 1.0
    enable(stuck_after=stuck_after)
