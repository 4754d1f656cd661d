"""asyncio: a unicancel shield keeps anyio's cancellations out too.

anyio cancels asyncio tasks with ``Task.cancel()`` and never consults
unicancel's scopes, so on its own a unicancel shield only keeps unicancel
cancellations out (docs/semantics.md, difference 4). anyio has a public
shield, though: a scope entered with ``shield=True`` on asyncio holds an
anyio ``CancelScope(shield=True)`` alongside (its *companion*), entered right
after ours and exited right before, so anyio defers its cancellations until
our shield ends, as it does for its own shields (and as trio does for every
shield). Only where anyio is imported: otherwise nothing here runs.

The companion lives in the scope's ``_native`` slot (trio's; unused on
asyncio). A scope whose ``_native`` is set to False before entry gets none
(the task group's exit wait: anyio's cancellation must reach the host there,
since it is how it reaches the group's children).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..._core._contract import Scope as CancelScope

__all__ = [
    "enter_companion",
    "exit_companion",
    "lowered",
    "open_anyio_shield",
    "set_companion_shield",
]

#: id() of entered scopes that hold a companion although their shield is
#: down now (lowered while entered; rare). Exit looks for a companion only in
#: shielded scopes and these, so that no other scope pays for a lookup.
lowered: set[int] = set()


def open_anyio_shield() -> Any:
    """Enter an anyio shield in the running task and return it, or None
    where anyio is not imported."""
    anyio = sys.modules.get("anyio")
    if anyio is None:
        return None
    shield = anyio.CancelScope(shield=True)
    shield.__enter__()
    return shield


def enter_companion(scope: CancelScope) -> None:
    """*scope* is being entered with a shield: enter its companion."""
    if getattr(scope, "_native", None) is None:
        scope._native = open_anyio_shield()


def exit_companion(scope: CancelScope, exc: BaseException | None) -> BaseException | None:
    """Exit *scope*'s companion, if it has one. Returns *exc*, or anyio's
    error (chained to *exc*) if anyio's scopes were left out of order."""
    lowered.discard(id(scope))
    companion: Any = getattr(scope, "_native", None)
    if not companion:
        return exc
    scope._native = None
    try:
        # Never cancelled itself, so it never swallows: no exception to pass.
        companion.__exit__(None, None, None)
    except RuntimeError as error:
        # An anyio scope entered inside ours is still open (misnesting).
        error.__context__ = exc
        return error
    return exc


def set_companion_shield(scope: CancelScope) -> None:
    """*scope*'s shield was raised or lowered while entered: follow suit."""
    companion: Any = getattr(scope, "_native", None)
    if companion:
        companion.shield = scope._shield
        if scope._shield:
            lowered.discard(id(scope))
        else:
            lowered.add(id(scope))
