"""Deadline validation and arithmetic shared by every backend.

Deadlines are absolute times on the running backend's clock
(``loop.time()`` on asyncio, ``trio.current_time()`` on trio); timeouts are
relative seconds. Validation happens here, before any backend is involved, so
the error text is the same everywhere.
"""

from __future__ import annotations

from math import isnan

__all__ = ["check_deadline", "check_timeout"]


#: What a timeout's "past time" hint says, by parameter: only the *_after
#: helpers have an absolute (*_at) twin.
_PAST_HINTS = {
    "seconds": "use 0 to expire at once, or the *_at variant with an absolute deadline",
    "relative_deadline": "use 0 to expire at once, or deadline= for an absolute time",
}


def _short(value: object) -> str:
    """repr() of a bad value, cut short (10**400 has 401 digits)."""
    text = repr(value)
    return text if len(text) <= 40 else text[:20] + "..." + text[-8:]


def _as_float(value: object, name: str, what: str, none_hint: str) -> float:
    """*value* as a float; a clear TypeError/ValueError naming *name* otherwise.

    Strings and bytes are refused although float() would parse them: a
    timeout read from a config file must be converted on purpose, as trio
    and asyncio.timeout() refuse them too.
    """
    if isinstance(value, (str, bytes, bytearray)):
        raise TypeError(
            f"unicancel: {name} must be {what}, got the {type(value).__name__} {_short(value)}; "
            "convert it with float() first"
        )
    try:
        return float(value)  # type: ignore[arg-type]
    except OverflowError:
        raise ValueError(
            f"unicancel: {name}={_short(value)} is too large for a clock (a float); "
            f"pass math.inf for {none_hint}"
        ) from None
    except (TypeError, ValueError, ArithmeticError):
        # ArithmeticError: float(Decimal('sNaN')) raises decimal.InvalidOperation.
        raise TypeError(f"unicancel: {name} must be {what}, got {_short(value)}") from None


def check_deadline(value: float, name: str = "deadline") -> float:
    """Return *value* as a float, or raise if it is not a usable deadline.

    Absolute deadlines may be negative or ``-inf`` (a time in the past is a
    valid deadline: it means "already expired"), but never NaN.
    """
    if value.__class__ is float and value == value:  # the usual case; NaN != NaN
        return value
    value = _as_float(
        value,
        name,
        "a number of seconds on the backend clock (unicancel.current_time() + seconds builds one)",
        "'no deadline'",
    )
    if isnan(value):
        raise ValueError(
            f"unicancel: {name} must not be NaN; pass math.inf for 'no deadline' "
            "or unicancel.current_time() + seconds for a real one"
        )
    return value


def check_timeout(value: float, name: str = "timeout", past_hint: str | None = None) -> float:
    """Return *value* as a float, or raise if it is not a usable timeout.

    A timeout is a duration: NaN and negative values are rejected (``0``
    means "expire at once", ``math.inf`` means "never"). *past_hint* says
    what to use instead of a negative value, when the default for *name*
    does not fit.
    """
    if value.__class__ is float and value >= 0:  # the usual case; NaN fails the test
        return value
    value = _as_float(value, name, "a number of seconds", "'no timeout'")
    if isnan(value):
        raise ValueError(f"unicancel: {name} must not be NaN; pass math.inf for 'no timeout'")
    if value < 0:
        hint = past_hint or _PAST_HINTS.get(name, "use 0 for 'at once'")
        raise ValueError(f"unicancel: {name} must be non-negative, got {value!r}; {hint}")
    return value
