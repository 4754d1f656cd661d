"""The :class:`CancelScope` facade (the ``move_on_*``/``fail_*`` helpers are in ``_timeouts``).

A scope *originates* cancellation (``cancel()``, its deadline) and records
what happened; the backend chosen at ``__enter__`` *propagates* it through the
native mechanism. State every backend shares lives here so that properties,
validation and error text are identical everywhere.
"""

from __future__ import annotations

from math import inf
from typing import TYPE_CHECKING, Any

from .._backends import current_backend, enter_scope, exit_scope
from .._core import _contract, _errors
from .._core._deadline import check_deadline, check_timeout
from .._core._scope_state import (
    _ACTIVE,
    _EXITED,
    _NEW,
    DEADLINE_EXCEEDED,
    CancelOrigin,
)
from ._scope_text import cancel_message, scope_repr, timeout_message

if TYPE_CHECKING:
    from .._core._contract import Backend, Scope

__all__ = ["CancelOrigin", "CancelScope"]


# Not @final for the type checkers, only so that the typing-only
# _TimeoutScope below can narrow __exit__; subclassing fails at run time.
class CancelScope:
    """A region of code that can be cancelled, with trio's semantics on every backend.

    Use it as a ``with`` block inside async code. Cancelling the scope (by
    :meth:`cancel`, or when its :attr:`deadline` passes) makes every
    checkpoint (``await``) inside it raise the backend's cancelled exception
    (:func:`get_cancelled_exc_class`), again and again until the block is
    left; the scope then swallows that exception and the code after the
    ``with`` block runs. Inner code can be protected with ``shield=True``.

    Args:
        deadline: absolute time on the backend clock (:func:`current_time`)
            at which the scope cancels itself. ``math.inf`` means never.
        relative_deadline: seconds, counted from ``__enter__``; exclusive with
            *deadline*.
        shield: if true, cancellations of enclosing scopes do not reach the body.

    A scope may be cancelled before it is entered (the body is then cancelled
    at its first checkpoint) and may be entered only once. The backend
    (asyncio or trio) is detected when the scope is entered.
    """

    __slots__ = (
        "__weakref__",
        "_backend",
        "_below",
        "_busy",
        "_cancel_called",
        "_cancel_seq",
        "_cancelled_caught",
        "_deadline",
        "_delivered",
        "_diag",
        "_entry_cancelling",
        "_fail",
        "_host",
        "_message",
        "_native",
        "_origin",
        "_parent",
        "_reason",
        "_relative",
        "_shield",
        "_shield_log",
        "_state",
        "_timeout",
        "_timer",
    )

    # Backend slots: asyncio uses _host/_parent/_timer/_entry_cancelling/
    # _delivered/_busy/_cancel_seq/_shield_log/_below; trio uses
    # _native/_host/_timer (a weak reference marking its native scope). They are
    # declared here (not on per-backend subclasses) so entering a scope allocates
    # nothing extra.
    _backend: Backend
    _host: object
    _parent: Scope | None
    _native: object
    _timer: object
    _entry_cancelling: int
    _delivered: int
    _cancel_seq: int
    _shield_log: tuple[int, tuple[float, Scope] | None]
    _below: set[Any] | None  # asyncio: the Members registered below (_backends/asyncio/_reach)
    _busy: bool
    _origin: CancelOrigin | None
    _reason: str | None
    _cancelled_caught: bool
    _fail: bool
    _timeout: float
    _message: str | None
    # Diagnostics only (unset unless they are on and the scope was cancelled).
    _diag: object

    def __init_subclass__(cls) -> None:
        raise TypeError("unicancel: CancelScope cannot be subclassed; wrap it instead")

    def __init__(
        self, *, deadline: float = inf, relative_deadline: float = inf, shield: bool = False
    ) -> None:
        # The defaults are these very objects: three identity tests rule out
        # the common CancelScope() (the checks below cost a third of a scope).
        if deadline is not inf or relative_deadline is not inf or shield is not False:
            # Anything but a float is checked before any comparison: a str or
            # Decimal('sNaN') must not reach "!=" (it would pass, or raise raw).
            if deadline.__class__ is not float or deadline != inf:
                deadline = check_deadline(deadline)
            if relative_deadline.__class__ is not float or relative_deadline != inf:
                relative_deadline = check_timeout(relative_deadline, "relative_deadline")
                if deadline != inf and relative_deadline != inf:
                    raise ValueError(
                        "unicancel: pass either deadline= (absolute) or relative_deadline= "
                        "(seconds from entry), not both"
                    )
            if shield is not False and shield is not True:
                raise TypeError(f"unicancel: shield must be a bool, got {shield!r}")
            self._fail = False  # read at exit when a deadline cancelled the scope (_may_expire)
            # A scope with a deadline or a shield is usually asked at its end
            # whether it caught anything: a stored answer is a plain read.
            self._cancelled_caught = False
            self._origin = None
        self._deadline = deadline
        self._relative = relative_deadline
        self._shield = shield
        self._cancel_called = False
        self._state = _NEW
        # _origin/_reason and _cancelled_caught are only stored once they have
        # a value (every store counts on the enter/exit hot path); read them
        # through the properties.

    # Entry and exit are functions of the backend layer, used as the methods
    # themselves (no facade frame around them: they are the hot path); while
    # a backend with fast ones runs, those are installed here instead (see
    # unicancel._backends).
    __enter__ = enter_scope
    __exit__ = exit_scope

    # -- origination -----------------------------------------------------

    def cancel(self, reason: str | None = None) -> None:
        """Cancel this scope, now or, if not yet entered, from entry on.

        Idempotent: only the first call (or the deadline, if it passed first)
        decides :attr:`cancel_origin` and :attr:`cancel_reason`. Once entered,
        it must be called from the thread running the event loop (RuntimeError
        otherwise); from another thread, use a StopSource and
        :func:`move_on_when`.
        """
        if reason is not None and not isinstance(reason, str):
            raise TypeError(f"unicancel: reason must be a str or None, got {reason!r}")
        if self._state == _ACTIVE and self._wrong_loop():
            raise RuntimeError(_errors.wrong_thread("CancelScope.cancel()"))
        if self.cancel_called:  # the property: a deadline that already passed wins
            return
        if self._state >= _EXITED:
            # Too late to affect the body: record the call (as trio does) but
            # keep cancel_origin/cancel_reason about what the body saw.
            self._cancel_called = True
            return
        self._cancel_called = True
        self._origin = CancelOrigin.EXPLICIT
        self._reason = reason
        self._message = None
        if self._state == _ACTIVE:
            self._backend.cancel(self)

    def _wrong_loop(self) -> bool:
        """Whether this is another thread than the one running the scope's
        loop (misuse). The backend answers: the loop may have moved to this
        thread since entry (asyncio allows it)."""
        return self._backend.outside_loop(self)

    def _expire(self) -> None:
        """Deadline reached (called by the backend)."""
        if not self._cancel_called:
            self._cancel_called = True
            self._origin = CancelOrigin.DEADLINE
            self._reason = None
            self._message = None
            if self._state == _ACTIVE:
                self._backend.cancel(self)

    # -- properties ------------------------------------------------------

    @property
    def deadline(self) -> float:
        """Absolute deadline on the backend clock (read-write; ``inf`` = none).

        For a scope created with ``relative_deadline`` this is only known once
        the scope has been entered; reading it before raises RuntimeError.
        """
        if self._relative != inf and self._state == _NEW:
            raise RuntimeError(
                "unicancel: this scope has a relative deadline, which becomes absolute "
                "when the scope is entered; read relative_deadline before that"
            )
        return self._deadline

    @deadline.setter
    def deadline(self, value: float) -> None:
        if self._state == _ACTIVE and self._wrong_loop():
            raise RuntimeError(_errors.wrong_thread("setting CancelScope.deadline"))
        value = check_deadline(value)
        if self._state == _NEW and self._relative != inf:
            # As trio: no silent switch from "seconds from entry" to absolute.
            raise RuntimeError(
                "unicancel: this scope has a relative deadline, counted from entry; before "
                "entry set relative_deadline instead, or create the scope with deadline="
            )
        self._deadline = value
        self._may_expire()
        if self._state == _ACTIVE:
            self._backend.deadline_changed(self)

    @property
    def relative_deadline(self) -> float:
        """Seconds left before the deadline (read-write).

        Before entry it is the value given to the constructor (counted from
        entry); once entered it is ``deadline - current_time()``, and setting
        it moves the deadline to ``current_time() + value``.
        """
        if self._state == _NEW:
            if self._relative == inf and self._deadline != inf:
                raise RuntimeError(
                    "unicancel: this scope has an absolute deadline; its relative "
                    "deadline is only known once it is entered"
                )
            return self._relative
        return self._deadline - self._backend.current_time()

    @relative_deadline.setter
    def relative_deadline(self, value: float) -> None:
        if self._state == _ACTIVE and self._wrong_loop():
            raise RuntimeError(_errors.wrong_thread("setting CancelScope.relative_deadline"))
        value = check_timeout(value, "relative_deadline")
        if self._state == _NEW:
            if self._deadline != inf:
                # As trio: no silent switch from absolute to relative.
                raise RuntimeError(
                    "unicancel: this scope has an absolute deadline; before entry set "
                    "deadline instead, or create the scope with relative_deadline="
                )
            self._relative = value
            self._may_expire()
            return
        self.deadline = self._backend.current_time() + value

    def _may_expire(self) -> None:
        """A deadline was set: give a scope made without one (``CancelScope()``
        skips the store) its ``_fail``, which the exits read directly once
        a deadline cancelled the scope (a getattr() call costs more)."""
        try:
            self._fail  # noqa: B018 - only whether the slot is set
        except AttributeError:
            self._fail = False

    @property
    def shield(self) -> bool:
        """Whether cancellations of enclosing scopes are kept out (read-write)."""
        return self._shield

    @shield.setter
    def shield(self, value: bool) -> None:
        if value is not True and value is not False:
            raise TypeError(f"unicancel: shield must be a bool, got {value!r}")
        if self._state == _ACTIVE and self._wrong_loop():
            raise RuntimeError(_errors.wrong_thread("setting CancelScope.shield"))
        if self._state == _ACTIVE and self._deadline != inf:
            # trio recalculates the scope's cancel status here, which reads
            # cancel_called: a deadline that passed during CPU work is noticed
            # (even when the value does not change). So do we, on every backend.
            self.cancel_called  # noqa: B018
        if value is self._shield:
            return
        self._shield = value
        if self._state == _ACTIVE:
            self._backend.shield_changed(self)

    @property
    def cancel_called(self) -> bool:
        """True once :meth:`cancel` was called or the deadline passed.

        This does not mean the body saw a cancellation; see
        :attr:`cancelled_caught`.
        """
        if not self._cancel_called and self._deadline != inf:
            state = self._state
            if state == _ACTIVE:
                if self._backend.current_time() >= self._deadline:
                    # The timer may not have fired yet; answer as trio does.
                    self._expire()
            elif state == _NEW and _clock_here() >= self._deadline:
                # An absolute deadline can pass before entry (trio answers
                # the same); then it, not a later cancel(), is the origin.
                self._expire()
        return self._cancel_called

    @property
    def cancelled_caught(self) -> bool:
        """True if this scope swallowed a cancellation when its block exited."""
        # Stored by the constructors that take a deadline or a shield, and by
        # every exit that swallows: a plain read, where getattr() with a
        # default on an empty slot raises and catches inside (about 15 times
        # the cost; a plain CancelScope() never cancelled still pays it).
        try:
            caught: bool = self._cancelled_caught
        except AttributeError:
            caught = False
        return caught

    @property
    def cancel_origin(self) -> CancelOrigin | None:
        """Why the body was cancelled: EXPLICIT, DEADLINE, ENCLOSING, or None.

        EXPLICIT/DEADLINE are this scope's own cancellation (``cancel_called``).
        ENCLOSING is recorded at exit when a cancellation from outside the scope
        passed through it.
        """
        try:  # a plain read, as cancelled_caught
            origin: CancelOrigin | None = self._origin
        except AttributeError:
            origin = None
        return origin

    @property
    def cancel_reason(self) -> str | None:
        """The reason given to :meth:`cancel`, "deadline exceeded" for a
        deadline, or the enclosing cancellation's reason; None if unknown."""
        origin = self.cancel_origin
        if origin is None:
            return None
        if origin is CancelOrigin.DEADLINE:
            return getattr(self, "_reason", None) or DEADLINE_EXCEEDED
        return self._reason

    def _set_enclosing(self, reason: str | None) -> None:
        """Record that a cancellation from outside passed through (backends)."""
        if self.cancel_origin is None:
            self._origin = CancelOrigin.ENCLOSING
            self._reason = reason

    def __reduce_ex__(self, protocol: Any) -> Any:
        # copy, deepcopy, pickle: an entered scope's copy would be "active", bound to no task.
        if self._state:
            raise TypeError(_errors.cannot_copy_entered(self))
        return super().__reduce_ex__(protocol)

    # What a scope says (its repr, its TimeoutError, its asyncio cancel
    # message): _scope_text, as methods.
    __repr__ = scope_repr
    _timeout_message = timeout_message
    _cancel_message = cancel_message


# Backends open scopes of their own (a task group's, a shielded wait) through
# the contract, so that they never import this module.
_contract.new_scope = CancelScope
_contract.scope_class = CancelScope


def _clock_here() -> float:
    """The running backend's clock, for a scope not entered yet; ``-inf`` where
    no backend runs (no clock: a deadline cannot be known to have passed)."""
    try:
        return current_backend().current_time()
    except RuntimeError:
        return -inf
