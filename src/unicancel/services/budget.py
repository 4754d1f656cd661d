"""Time budgets on the wire: the ``grpc-timeout`` format and Envoy's header.

A budget crosses a process boundary as a *relative* time (the clocks of two
machines differ, and the backend clocks are monotonic with arbitrary origins).
Writing always rounds up and reading is strict: a malformed value raises a
``ValueError`` that names the header's rule, never a silent default.
No dependencies: used by the ASGI, httpx and gRPC integrations alike.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from fractions import Fraction

import unicancel

__all__ = [
    "ENVOY_HEADER",
    "GRPC_TIMEOUT_HEADER",
    "decode_envoy_timeout",
    "decode_timeout",
    "encode_timeout",
    "outgoing_timeout",
    "read_budget",
    "remaining_budget",
]

#: The header gRPC uses, also the default for HTTP here.
GRPC_TIMEOUT_HEADER = "grpc-timeout"
#: What Envoy sets on a request it forwards: the route's timeout in milliseconds.
ENVOY_HEADER = "x-envoy-expected-rq-timeout-ms"

_MAX_DIGITS = 8
_MAX_VALUE = 10**_MAX_DIGITS - 1
# Finest first: the first unit whose count fits in 8 digits rounds up the least.
_UNITS: tuple[tuple[str, Fraction], ...] = (
    ("n", Fraction(1, 10**9)),
    ("u", Fraction(1, 10**6)),
    ("m", Fraction(1, 10**3)),
    ("S", Fraction(1)),
    ("M", Fraction(60)),
    ("H", Fraction(3600)),
)
# Unit -> (numerator, denominator) of its seconds: int / int is correctly
# rounded, as float(Fraction) is, at a fraction of its cost (read per request).
_UNIT_RATIOS = tuple((unit, (size.numerator, size.denominator)) for unit, size in _UNITS)
_UNIT_RATIO = dict(_UNIT_RATIOS)
_GRPC_RULE = "1 to 8 digits followed by one unit of H, M, S, m, u, n (e.g. '250m')"
_ENVOY_MAX_DIGITS = 12  # about 31 years in ms: anything longer is not a timeout
_GRPC_VALUE = re.compile(r"([0-9]+)([A-Za-z]?)")
_DIGITS = re.compile(r"[0-9]+")
_NEGATIVE = re.compile(r"-[0-9]+")
_ENVOY_RULE = f"1 to {_ENVOY_MAX_DIGITS} digits, a number of milliseconds (e.g. '1500')"


def encode_timeout(seconds: float) -> str:
    """Write *seconds* (> 0) in the ``grpc-timeout`` format, rounded up.

    The finest unit whose count fits in 8 digits is used, so the value is
    never below *seconds* and exceeds it by less than one unit. Budgets beyond
    ``99999999H`` are written as that maximum.
    """
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise TypeError(f"unicancel: a timeout must be a number of seconds, got {seconds!r}")
    if math.isnan(seconds) or seconds <= 0:
        raise ValueError(
            f"unicancel: cannot encode a timeout of {seconds!r} s; only a positive budget "
            "is sent (a spent budget means: do not send the request)"
        )
    if math.isinf(seconds):
        raise ValueError("unicancel: an infinite budget is not encoded; send no header instead")
    # Exact integer arithmetic on the float's ratio: rounding up is exact too.
    num, den = float(seconds).as_integer_ratio()
    for unit, (unit_num, unit_den) in _UNIT_RATIOS:
        count = -(-num * unit_den // (den * unit_num))  # ceil
        if count <= _MAX_VALUE:
            return f"{count}{unit}"
    return f"{_MAX_VALUE}H"


def decode_timeout(value: str | bytes, *, header: str = GRPC_TIMEOUT_HEADER) -> float:
    """Read a ``grpc-timeout`` value as seconds; ``ValueError`` if malformed."""
    text = _text(value, header)
    match = _GRPC_VALUE.fullmatch(text)
    if match is None:
        what = "a negative value" if text.startswith("-") else "a malformed value"
        raise ValueError(f"unicancel: {header}: {what} {text!r}; expected {_GRPC_RULE}")
    digits, unit = match.groups()
    if len(digits) > _MAX_DIGITS:
        raise ValueError(
            f"unicancel: {header}: {text!r} has {len(digits)} digits, more than the "
            f"{_MAX_DIGITS} allowed; expected {_GRPC_RULE}"
        )
    ratio = _UNIT_RATIO.get(unit)
    if ratio is None:
        shown = repr(unit) if unit else "no unit"
        raise ValueError(f"unicancel: {header}: {text!r} has {shown}; expected {_GRPC_RULE}")
    return int(digits) * ratio[0] / ratio[1]


def decode_envoy_timeout(value: str | bytes, *, header: str = ENVOY_HEADER) -> float:
    """Read Envoy's ``x-envoy-expected-rq-timeout-ms`` as seconds; strict."""
    text = _text(value, header)
    if not _DIGITS.fullmatch(text):
        what = "a negative value" if _NEGATIVE.fullmatch(text) else "a malformed value"
        raise ValueError(f"unicancel: {header}: {what} {text!r}; expected {_ENVOY_RULE}")
    if len(text) > _ENVOY_MAX_DIGITS:
        raise ValueError(
            f"unicancel: {header}: {text!r} has {len(text)} digits; expected {_ENVOY_RULE}"
        )
    return int(text) / 1000


def read_budget(
    headers: Mapping[str, str] | Iterable[tuple[bytes, bytes]],
    *,
    header: str | None = GRPC_TIMEOUT_HEADER,
    envoy_header: str | None = ENVOY_HEADER,
) -> float | None:
    """The incoming budget in seconds: the smaller of the two headers present,
    None if neither is. *headers* is a ``str`` mapping or ASGI's list of
    ``(name, value)`` byte pairs; names are matched case-insensitively. A
    header given twice must carry the same value (two budgets are ambiguous)."""
    wanted = {
        name.lower(): decode
        for name, decode in ((header, decode_timeout), (envoy_header, decode_envoy_timeout))
        if name is not None
    }
    items: Iterable[tuple[str | bytes, str | bytes]] = (
        headers.items() if isinstance(headers, Mapping) else headers
    )
    seen: dict[str, str] = {}
    budget: float | None = None
    for raw_name, raw_value in items:
        name = (raw_name.decode("latin-1") if isinstance(raw_name, bytes) else raw_name).lower()
        if name not in wanted:
            continue
        text = _text(raw_value, name)
        if seen.setdefault(name, text) != text:
            raise ValueError(
                f"unicancel: {name} was sent twice with different values "
                f"({seen[name]!r}, {text!r}); send one budget"
            )
        seconds = wanted[name](text, header=name)
        budget = seconds if budget is None else min(budget, seconds)
    return budget


def remaining_budget(margin: float = 0.0) -> float:
    """Seconds left before the current effective deadline, less *margin*;
    ``inf`` when no deadline applies, ``<= 0`` when it is spent. Must be called
    in async code (it reads the backend clock)."""
    if math.isnan(margin) or margin < 0:
        raise ValueError(
            f"unicancel: margin must be a non-negative number of seconds, got {margin!r}"
        )
    deadline = unicancel.current_effective_deadline()
    if math.isinf(deadline):
        return deadline
    return deadline - unicancel.current_time() - margin


def outgoing_timeout(margin: float = 0.0, *, what: str = "the request") -> str | None:
    """The ``grpc-timeout`` value to send with an outgoing call: None without a
    deadline; raises ``TimeoutError`` when the budget (less *margin*) is spent,
    so that *what* is not sent."""
    remaining = remaining_budget(margin)
    if math.isinf(remaining):
        return None
    if remaining <= 0:
        raise TimeoutError(no_budget(margin, what))
    return encode_timeout(remaining)


def no_budget(margin: float, what: str) -> str:
    """The error text when the budget (less *margin*) is spent: *what* was not sent."""
    return f"unicancel: the deadline leaves no budget (margin {margin} s); {what} was not sent"


def _text(value: str | bytes, header: str) -> str:
    if isinstance(value, bytes):
        try:
            return value.decode("ascii")
        except UnicodeDecodeError:
            raise ValueError(f"unicancel: {header}: {value!r} is not ASCII") from None
    return value
