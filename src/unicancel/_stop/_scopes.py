"""``move_on_when``/``fail_when``: cancel scopes that a stop token cancels
(the binding itself is in :mod:`._binding`)."""

from __future__ import annotations

from contextlib import AbstractContextManager

from .._facade._scope import CancelScope
from ._binding import _StopScope
from ._token import StopToken, _check_token

__all__ = ["fail_when", "move_on_when"]


def move_on_when(token: StopToken, *, shield: bool = False) -> AbstractContextManager[CancelScope]:
    """A :class:`CancelScope` cancelled when *token* stops; the block is left.

    ``with move_on_when(token) as scope:`` enters a new scope (given to the
    ``as`` target) that is cancelled, through the backend's native mechanism,
    as soon as a stop is requested, with the token's reason as
    :attr:`CancelScope.cancel_reason` (``cancel_origin`` is ``EXPLICIT``).
    The request may come from any thread or a signal handler: the scope is
    cancelled on its event loop, at its next turn. A token already stopped
    at entry cancels the scope before the block's first checkpoint.
    """
    state = _check_token(token, "move_on_when")
    return _StopScope(state, CancelScope(shield=shield), False)


def fail_when(token: StopToken, *, shield: bool = False) -> AbstractContextManager[CancelScope]:
    """Like :func:`move_on_when`, but if the token's stop cut the block short,
    leaving it raises :exc:`StopRequested` (chained to the cancelled
    exception). An explicit ``scope.cancel()`` that came first just leaves
    the block, as with :func:`fail_after`."""
    state = _check_token(token, "fail_when")
    return _StopScope(state, CancelScope(shield=shield), True)
