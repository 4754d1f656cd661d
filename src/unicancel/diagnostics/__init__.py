"""Cancellation diagnostics: which code swallowed, stalled or
outlived a cancellation, on asyncio and trio.

Turn them on with :func:`enable` (or ``UNICANCEL_DEBUG=1`` in the
environment, read at ``import unicancel``); each finding is a :class:`Report`,
issued as a warning (a :class:`CancelDiagnosticWarning` subclass), logged on
the ``unicancel`` logger and handed to :func:`subscribe` callbacks. While
off, they cost nothing.
"""

from .._core._public import publish as _publish
from .._diagnostics._control import collect as collect
from .._diagnostics._control import disable as disable
from .._diagnostics._control import enable as enable
from .._diagnostics._control import is_enabled as is_enabled
from .._diagnostics._dispatch import subscribe as subscribe
from .._diagnostics._outlived import check_outlived as check_outlived
from .._diagnostics._report import CancelDiagnosticWarning as CancelDiagnosticWarning
from .._diagnostics._report import OutlivedTaskWarning as OutlivedTaskWarning
from .._diagnostics._report import Report as Report
from .._diagnostics._report import ReportKind as ReportKind
from .._diagnostics._report import StuckCancelWarning as StuckCancelWarning
from .._diagnostics._report import SwallowedCancelWarning as SwallowedCancelWarning

__all__ = [
    "CancelDiagnosticWarning",
    "OutlivedTaskWarning",
    "Report",
    "ReportKind",
    "StuckCancelWarning",
    "SwallowedCancelWarning",
    "check_outlived",
    "collect",
    "disable",
    "enable",
    "is_enabled",
    "subscribe",
]


_publish(globals())
