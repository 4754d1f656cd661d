"""Deadline validation and arithmetic shared by every backend.

Deadlines are absolute times on the running backend's clock
(``loop.time()`` on asyncio, ``trio.current_time()`` on trio); timeouts are
relative seconds. Validation happens here, before any backend is involved, so
the error text is the same everywhere.
"""

from __future__ import annotations

from math import inf, isnan

__all__ = ["check_deadline", "check_timeout", "relative_to_absolute"]


def check_deadline(value: float, name: str = "deadline") -> float:
    """Return *value* as a float, or raise if it is not a usable deadline.

    Absolute deadlines may be negative or ``-inf`` (a time in the past is a
    valid deadline: it means "already expired"), but never NaN.
    """
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise TypeError(
            f"unicancel: {name} must be a number of seconds on the backend clock, got {value!r}; "
            "use unicancel.current_time() + seconds to build one"
        ) from None
    if isnan(value):
        raise ValueError(
            f"unicancel: {name} must not be NaN; pass math.inf for 'no deadline' "
            "or unicancel.current_time() + seconds for a real one"
        )
    return value


def check_timeout(value: float, name: str = "timeout") -> float:
    """Return *value* as a float, or raise if it is not a usable timeout.

    A timeout is a duration: NaN and negative values are rejected (``0``
    means "expire at once", ``math.inf`` means "never").
    """
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"unicancel: {name} must be a number of seconds, got {value!r}") from None
    if isnan(value):
        raise ValueError(f"unicancel: {name} must not be NaN; pass math.inf for 'no timeout'")
    if value < 0:
        raise ValueError(
            f"unicancel: {name} must be non-negative, got {value!r}; "
            "use 0 to expire at once or an absolute deadline (the *_at variant) for a past time"
        )
    return value


def relative_to_absolute(now: float, seconds: float) -> float:
    """Turn a validated timeout into a deadline; ``inf`` stays ``inf``."""
    if seconds == inf:
        return inf
    return now + seconds
