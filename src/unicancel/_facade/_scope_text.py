"""What a :class:`~unicancel.CancelScope` says: its ``repr()``, the text of the
``TimeoutError`` that ``fail_after``/``fail_at`` raise, and the message of the
asyncio cancellation it delivers. Installed as the scope's methods (no frame
in between), so backends keep calling ``scope._cancel_message()``.
"""

from __future__ import annotations

from math import inf
from typing import TYPE_CHECKING

from .._core._scope_state import DEADLINE_TAIL, MESSAGE_HEAD, CancelOrigin

if TYPE_CHECKING:
    from .._core._contract import Scope as CancelScope  # the facade's scope, as backends see it

__all__ = ["cancel_message", "scope_repr", "timeout_message"]


def scope_repr(scope: CancelScope) -> str:
    state = ("unbound", "active", "exited", "exited")[scope._state]
    extra = ""
    if scope._cancel_called:
        # cancel() after exit records only cancel_called: no origin then.
        origin = scope.cancel_origin
        extra = f", cancelled ({origin.value if origin else 'after exit'})"
    elif scope._deadline != inf:
        extra = f", deadline={scope._deadline:.3f}"
    elif scope._relative != inf:
        extra = f", relative_deadline={scope._relative:.3f}"
    if scope._shield:
        extra += ", shielded"
    return f"<unicancel.CancelScope at {id(scope):#x}, {state}{extra}>"


def timeout_message(scope: CancelScope) -> str:
    """The TimeoutError text of fail_after/fail_at: the call and its time."""
    seconds = getattr(scope, "_timeout", None)  # fail_after's, kept past entry
    if seconds is not None:
        return (
            f"unicancel: fail_after({seconds:g}) timed out: the block did not finish "
            f"within {seconds:g} s"
        )
    return (
        f"unicancel: fail_at({scope._deadline:g}) timed out: the block did not finish by "
        f"its deadline, {scope._deadline:.3f} on the backend clock (current_time())"
    )


def cancel_message(scope: CancelScope) -> str:
    """Text for the native cancelled exception (asyncio message); built once
    per scope, even when it cancels 10,000 children."""
    # Every cancelled scope has _message (set to None when cancelled); only
    # cancelled scopes deliver.
    message = scope._message
    if message is None:
        if scope._origin is CancelOrigin.DEADLINE:
            message = MESSAGE_HEAD + hex(id(scope)) + DEADLINE_TAIL
        else:
            reason = scope._reason
            tail = ": " + reason if reason else ""
            message = MESSAGE_HEAD + hex(id(scope)) + " cancelled" + tail
        scope._message = message
    return message
