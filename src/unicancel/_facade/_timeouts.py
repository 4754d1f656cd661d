"""``move_on_at``/``move_on_after``/``fail_at``/``fail_after``: scopes with a
deadline, built without ``__init__``'s checks (they are the hot path of most
programs; the timeout is validated here, inline for a plain float or int).
"""

from __future__ import annotations

from math import inf
from types import TracebackType
from typing import TYPE_CHECKING

from .._core._deadline import check_deadline, check_timeout
from .._core._scope_state import _NEW
from ._scope import CancelScope

__all__ = ["fail_after", "fail_at", "move_on_after", "move_on_at"]


def _new_scope(deadline: float, seconds: float, shield: bool, fail: bool) -> CancelScope:
    """Build a scope from a validated *deadline* and a timeout in *seconds*
    that is validated here (skips __init__'s checks)."""
    cls = seconds.__class__
    # The usual float or int is checked inline: one call per timeout fewer.
    if (cls is float or cls is int) and seconds >= 0:  # NaN fails the test
        try:
            seconds = float(seconds)
        except OverflowError:  # an int such as 10**400: check_timeout explains
            seconds = check_timeout(seconds, "seconds")
    else:
        seconds = check_timeout(seconds, "seconds")
    if shield is not False and shield is not True:
        raise TypeError(f"unicancel: shield must be a bool, got {shield!r}")
    scope = object.__new__(CancelScope)
    scope._deadline = deadline
    scope._relative = seconds
    scope._shield = shield
    scope._cancel_called = False
    scope._state = _NEW
    scope._fail = fail  # stored either way: the exits read it directly (see _may_expire)
    # What the block's end is then asked (see CancelScope.cancelled_caught).
    scope._cancelled_caught = False
    scope._origin = None
    return scope


if TYPE_CHECKING:

    class _TimeoutScope(CancelScope):
        """What :func:`fail_at`/:func:`fail_after` return, for type checkers only
        (at run time it is :class:`CancelScope`). Its ``__exit__`` is declared
        ``bool | None``, as trio types ``fail_after`` and typeshed
        ``asyncio.timeout``: such a block only swallows after an explicit
        ``cancel()`` (a deadline raises ``TimeoutError``), so checkers treat a
        ``return`` inside it as leaving the function (no "missing return")."""

        def __enter__(self) -> _TimeoutScope: ...

        def __exit__(  # type: ignore[override]  # pyright: ignore[reportIncompatibleMethodOverride]
            self,
            exc_type: type[BaseException] | None,
            exc: BaseException | None,
            tb: TracebackType | None,
        ) -> bool | None: ...

else:
    _TimeoutScope = CancelScope


def move_on_at(deadline: float, *, shield: bool = False) -> CancelScope:
    """A scope cancelled at absolute *deadline*; the block is simply left.

    Check :attr:`CancelScope.cancelled_caught` to find out whether it was cut short.
    """
    return _new_scope(check_deadline(deadline), inf, shield, False)


def move_on_after(seconds: float, *, shield: bool = False) -> CancelScope:
    """A scope cancelled *seconds* after entry; the block is simply left."""
    return _new_scope(inf, seconds, shield, False)


def fail_at(deadline: float, *, shield: bool = False) -> _TimeoutScope:
    """Like :func:`move_on_at`, but raise builtin :exc:`TimeoutError` if the
    deadline cancelled the block (an explicit ``cancel()`` just moves on)."""
    return _new_scope(check_deadline(deadline), inf, shield, True)  # type: ignore[return-value]


def fail_after(seconds: float, *, shield: bool = False) -> _TimeoutScope:
    """Like :func:`move_on_after`, but raise builtin :exc:`TimeoutError` if the
    deadline cancelled the block (an explicit ``cancel()`` just moves on).

    The same on every backend: trio's own ``fail_after`` raises
    ``trio.TooSlowError`` instead.
    """
    scope = _new_scope(inf, seconds, shield, True)
    scope._timeout = scope._relative  # for the TimeoutError text (entry clears _relative)
    return scope  # type: ignore[return-value]
