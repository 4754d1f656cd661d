"""Scope state every layer shares: the life cycle, the origins of a
cancellation, the reason a deadline gives.

The facade's :class:`~unicancel.CancelScope` stores these; backends read and
advance them. Kept here, below both, so a backend never imports the facade.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final, final

__all__ = ["DEADLINE_EXCEEDED", "DEADLINE_TAIL", "MESSAGE_HEAD", "CancelOrigin"]

# Scope life cycle. ABANDONED: an enclosing scope was exited while this one
# was still open (misnesting); our own __exit__ then only finishes the job.
_NEW: Final = 0
_ACTIVE: Final = 1
_EXITED: Final = 2
_ABANDONED: Final = 3

#: cancel_reason of a deadline, on every backend.
DEADLINE_EXCEEDED: Final = "deadline exceeded"

#: A scope's asyncio cancel message: MESSAGE_HEAD + hex(id(scope)) + a tail
#: (CancelScope._cancel_message; the asyncio backend builds the deadline one
#: itself when a scope is entered past its deadline: the round trip's path).
MESSAGE_HEAD: Final = "unicancel: CancelScope at "
DEADLINE_TAIL: Final = ": deadline exceeded"


@final
class CancelOrigin(StrEnum):
    """Why a scope's body was cancelled (see :attr:`CancelScope.cancel_origin`)."""

    #: :meth:`CancelScope.cancel` was called on this scope.
    EXPLICIT = "explicit"
    #: This scope's deadline passed.
    DEADLINE = "deadline"
    #: The cancellation came from outside this scope: an enclosing scope, a
    #: task group, ``asyncio.timeout``, ``Task.cancel()`` or a trio scope.
    ENCLOSING = "enclosing"
