"""asyncio: which cancellation reached a scope first, for ``cancel_reason``.

trio keeps the reason of the first cancellation that reached a region for
the whole region (a later cancel of an inner scope does not replace it),
and a shield going up or down changes what can reach it. asyncio's
``CancelledError`` carries no such thing, so the backend logs the order of
cancels and shield changes here and works the reason out when a
cancellation leaves a scope.
"""

from __future__ import annotations

from asyncio import CancelledError
from itertools import count
from math import inf
from typing import Any

from ..._core._contract import Scope as CancelScope  # the facade's scope, as backends see it

__all__ = ["carried_reason", "note_shield_change", "order"]


def _message(exc: BaseException) -> str | None:
    return str(exc.args[0]) if exc.args and exc.args[0] is not None else None


#: Orders the cancels (``scope._cancel_seq = next(order)``, set by the
#: backend inline) and shield changes of entered scopes (see _first_reached).
order = count()
_UNSET: Any = object()


def carried_reason(scope: CancelScope, exc: CancelledError) -> str | None:
    """The reason *exc* carries, as trio's ``Cancelled.reason`` would: worked
    out at the first scope it leaves (where it was raised, as far as we know)
    and kept on the exception for the scopes it leaves next."""
    reason: str | None = getattr(exc, "_unicancel_reason", _UNSET)
    if reason is _UNSET:
        source = _first_reached(scope)[1]
        reason = source.cancel_reason if source is not None else _message(exc)
        exc._unicancel_reason = reason  # type: ignore[attr-defined]
    return reason


def note_shield_change(scope: CancelScope) -> None:
    """Log a shield change. A shield going up ends an unshielded stretch: if
    a cancellation from above reached the scope in it, trio keeps that one as
    the scope's reason for good, so it is kept here too."""
    kept = getattr(scope, "_shield_log", None)
    since, first = kept if kept is not None else (-inf, None)
    if scope._shield and first is None and scope._parent is not None:
        reached, source = _first_reached(scope._parent)
        if source is not None:
            first = (max(reached, since), source)
    scope._shield_log = (next(order), first)


def _first_reached(scope: CancelScope) -> tuple[float, CancelScope | None]:
    """When a cancellation first reached code running in *scope*, and whose
    (trio keeps that scope's reason for the whole cancelled region: a later
    cancel of an inner scope does not replace it). Times are `order` numbers;
    a cancel before entry counts as first."""
    chain: list[CancelScope] = []
    level: CancelScope | None = scope
    while level is not None:
        chain.append(level)
        level = level._parent
    reached = inf  # when a cancellation from above reached this level
    source = None
    for level in reversed(chain):
        kept = getattr(level, "_shield_log", None)
        if kept is not None or level._shield:
            since, first = kept if kept is not None else (-inf, None)
            if level._shield:
                reached, source = inf, None  # nothing gets in now...
            else:
                reached = max(reached, since)  # ...or got in while shielded
            if first is not None and first[0] <= reached:
                reached, source = first  # ...but what got in before stays
        if level._cancel_called:
            cancelled_at: float = getattr(level, "_cancel_seq", -inf)
            if cancelled_at <= reached:
                reached, source = cancelled_at, level
    return reached, source
