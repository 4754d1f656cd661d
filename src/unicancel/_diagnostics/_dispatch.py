"""Where reports go: ``warnings``, the ``unicancel`` logger, subscribers.

Settings and subscribers are module state of this layer (no task, loop or
frame is ever kept here: reports hold only text).
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from collections.abc import Callable

from ._report import Report

__all__ = ["dispatch", "settings", "subscribe"]

_logger = logging.getLogger("unicancel")


class _Settings:
    __slots__ = ("disables", "enabled", "log", "stuck_after", "warn")

    def __init__(self) -> None:
        self.enabled = False
        #: How many times disable() turned them off: a runner (the pytest
        #: plugin, ``diagnose``) tells the program turned them off meanwhile,
        #: even if it turned them on again.
        self.disables = 0
        self.stuck_after = 1.0
        self.warn = True
        self.log = True


settings = _Settings()

_lock = threading.Lock()


def _new_lock() -> None:
    global _lock
    _lock = threading.Lock()  # a forked child: the watchdog may have held it


os.register_at_fork(after_in_child=_new_lock)
_subscribers: list[Callable[[Report], object]] = []
#: Swallowed reports already made, by catch site (or scope site): once per site.
_seen_swallows: set[tuple[str | None, str | None]] = set()


def subscribe(callback: Callable[[Report], object]) -> Callable[[], None]:
    """Call *callback* with every :class:`Report` from now on; returns a
    function that unsubscribes it. A callback that raises is reported on the
    ``unicancel`` logger and does not stop the others. Callbacks run in the
    thread that made the report: the event loop's, or the watchdog thread's
    for "stuck" reports."""
    if not callable(callback):
        raise TypeError(f"unicancel: subscribe() needs a callable, got {callback!r}")
    with _lock:
        _subscribers.append(callback)

    def unsubscribe() -> None:
        with _lock:
            for i, known in enumerate(_subscribers):
                if known is callback:
                    del _subscribers[i]
                    return

    return unsubscribe


def first_report(report: Report) -> bool:
    """Whether this swallowed report is the first for its site (once per site)."""
    key = (report.catch_site, None if report.catch_site else report.scope_site)
    with _lock:
        if key in _seen_swallows:
            return False
        _seen_swallows.add(key)
        return True


def forget_sites() -> None:
    with _lock:
        _seen_swallows.clear()


def dispatch(report: Report, *, in_loop: bool = True) -> None:
    """Send *report* everywhere it goes. *in_loop*: whether a warning
    filtered as an error may be raised here (``-W error::...`` makes the code
    fail where the problem shows): only in the event loop's thread, where no
    other exception is on its way out (it must never replace the program's
    own); elsewhere it is logged instead, once."""
    with _lock:
        callbacks = list(_subscribers)
    deferred: BaseException | None = None
    for callback in callbacks:
        try:
            callback(report)
        except BaseException as exc:
            # Whatever a callback raises (SystemExit too) must not stop the
            # other subscribers, nor kill the watchdog thread: logged, and
            # KeyboardInterrupt/SystemExit re-raised on the loop's thread
            # once every subscriber ran.
            _log_callback_error(callback, exc)
            if in_loop and deferred is None and not isinstance(exc, Exception):
                deferred = exc
    try:
        _emit(report, in_loop)
    finally:
        if deferred is not None:
            try:
                raise deferred
            finally:
                deferred = None


def _log_callback_error(callback: Callable[[Report], object], exc: BaseException) -> None:
    # Without the exception being handled now (a "landed" report made while a
    # cancellation unwinds): logged on its own, not "during handling of" it.
    context = exc.__context__
    exc.__context__ = None
    try:
        _logger.error(
            "unicancel: a diagnostics subscriber (%r) raised",
            callback,
            exc_info=(type(exc), exc, exc.__traceback__),
        )
    finally:
        exc.__context__ = context


def _emit(report: Report, in_loop: bool) -> None:
    """The warning, then the log record: one record per report (an ERROR
    one if the warning is an error that cannot be raised here)."""
    if settings.warn:
        filename, lineno = _split(report.catch_site or report.scope_site)
        try:
            warnings.warn_explicit(report.format(), report.category, filename, lineno)
        except Warning:
            if in_loop:
                raise
            _logger.error("unicancel: a diagnostic warning is an error here:\n%s", report.format())
            return
    if settings.log:
        _logger.warning("%s", report.format())


def _split(site: str | None) -> tuple[str, int]:
    if site:
        path, sep, line = site.rpartition(":")
        if sep and line.isdigit():
            return path, int(line)
    return "<unicancel>", 0
