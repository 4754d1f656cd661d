"""trio: entering and exiting a scope, the hot path of every program.

:func:`scope_enter` and :func:`scope_exit` are ``CancelScope.__enter__`` and
``__exit__`` themselves while trio is the backend that answered last (see
:mod:`unicancel._backends`): each is the whole entry or exit in one frame,
with no dispatch in front of it. They hand what is not theirs (no trio task
running here, a scope of another backend, a scope not active) to the
generic entry and exit (``_contract.enter_scope``/``exit_scope``).

The work is trio's own: a native ``trio.CancelScope`` per scope, entered
and exited with it; here we only mirror what the facade reports (origin,
reason) and restate trio's misnesting errors in the text every backend shares.
"""

from __future__ import annotations

from math import inf, nan
from types import TracebackType
from typing import TYPE_CHECKING
from weakref import ReferenceType, getweakrefs, ref

import trio
from trio import CancelScope as _NativeScope
from trio import current_time

from ..._core import _contract, _diag_hooks, _errors
from ..._core._scope_state import _EXITED, DEADLINE_EXCEEDED, CancelOrigin
from ._private import cancel_recorded, enclosing_natives, now, run_context

if TYPE_CHECKING:
    from ..._core._contract import Backend
    from ..._core._contract import Scope as CancelScope  # the facade's scope, as backends see it

__all__ = ["BACKEND", "scope_enter", "scope_exit"]

#: The trio backend object, what a trio scope's ``_backend`` is (set by
#: _backend, which creates it and imports this module).
BACKEND: Backend = None  # type: ignore[assignment]

_DEADLINE = CancelOrigin.DEADLINE


def scope_enter(scope: CancelScope) -> CancelScope:
    """``CancelScope.__enter__`` on trio: bind *scope* to the running task
    through a new native scope."""
    if scope._state:
        raise RuntimeError(_errors.already_entered(scope))
    try:
        host = run_context.task  # also the probe: unset outside a trio task
    except AttributeError:
        # Not a return: one in an except block makes 3.14's compiler give up
        # borrowed loads (LOAD_FAST_BORROW) in the whole function.
        host = None
    if host is None:
        return _contract.enter_scope(scope)
    # Only pass what differs from trio's defaults: its constructor
    # validates every argument it is given. (At most one deadline is
    # finite, so the two differ exactly when there is one.)
    if scope._relative == scope._deadline:  # no deadline: the hot path
        native = _NativeScope(shield=True) if scope._shield else _NativeScope()
        if scope._cancel_called:
            _cancel_at_entry(scope, native)
        scope._host = host
        scope._native = native
        native.__enter__()
        scope._backend = BACKEND
        scope._state = 1  # _ACTIVE, set last: a failed enter leaves the scope unused
        return scope
    if scope._relative != inf:
        deadline = now(host) + scope._relative
        scope._deadline = deadline
        scope._relative = inf
    else:
        deadline = scope._deadline
    if scope._shield:
        native = _NativeScope(deadline=deadline, shield=True)
    else:
        native = _NativeScope(deadline=deadline)
    scope._timer = ref(native, _ours)  # kept as long as the scope
    if scope._cancel_called:
        _cancel_at_entry(scope, native)
    scope._host = host
    scope._native = native
    native.__enter__()
    scope._backend = BACKEND
    scope._state = 1  # _ACTIVE
    hooks = _diag_hooks.hooks
    if hooks is not None and not scope._cancel_called:
        # A deadline the run may be too busy to apply (a CPU loop).
        hooks.deadline_armed("trio", scope, host, nan)
    return scope


def scope_exit(
    scope: CancelScope,
    exc_type: type[BaseException] | None,
    exc: BaseException | None,
    tb: TracebackType | None,
) -> bool:
    """``CancelScope.__exit__`` on trio: exit the native scope, record what
    it did, and decide whether *exc* is swallowed."""
    if scope._state != 1:  # _ACTIVE (a literal: no global lookup on the hot path)
        return _contract.exit_scope(scope, exc_type, exc, tb)
    try:
        task = run_context.task
    except AttributeError:  # not in a trio task: an asyncio scope, or another thread
        task = None  # (not a return: see scope_enter)
    if task is not scope._host:
        # A scope entered on asyncio (its host an asyncio task, never trio's
        # running one) lands here too: the generic exit hands it over.
        if scope._backend is not BACKEND:
            return _contract.exit_scope(scope, exc_type, exc, tb)
        if task is None:
            raise RuntimeError(_errors.wrong_thread("exiting CancelScope")) from exc
        _wrong_task(scope, task, exc)
    native: trio.CancelScope = scope._native  # type: ignore[assignment]
    left: BaseException | None
    try:
        if exc is None:
            native.__exit__(None, None, None)  # nothing to swallow: returns True
            if not scope._cancel_called and (scope._deadline == inf or not cancel_recorded(native)):
                # The hot path ends here: without a deadline only our
                # facade can cancel the scope, and it has recorded that;
                # with one, trio's record after exit is what cancel_called
                # returns (it no longer checks the clock, so skip the
                # property's frame), and nothing was caught (exc is None).
                # A cancelled scope goes on to _record(): diagnostics judge
                # a cancelled block that ended normally.
                scope._state = 2  # _EXITED
                return True
            swallowed = True
        else:
            swallowed = native.__exit__(exc_type, exc, exc.__traceback__)
    except RuntimeError as error:
        if "Cancel scope stack corrupted" not in str(error):
            raise
        # trio closed the inner scopes (as we do on asyncio); restate it.
        left = RuntimeError(_errors.exited_out_of_order(scope, task.name))
        left.__context__ = exc
        _record(scope, native, exc)
    except BaseException as remaining:  # what is left of an exception group
        left = remaining
        _record(scope, native, remaining)
    else:
        left = None if swallowed else exc
        if left is None and not native.cancelled_caught and not cancel_recorded(native):
            # Nothing happened (after exit trio's record is what
            # cancel_called returns: it no longer checks the clock).
            scope._state = 2  # _EXITED
            return True
        _record(scope, native, left)
    # This frame is in the traceback of what is raised below: no local may
    # refer to the task (a cycle through the error it may keep).
    del task, native
    if left is None:
        # A scope that swallowed was cancelled: it has _origin; one that a
        # deadline cancelled has _fail (see the facade's _may_expire).
        if exc is not None and scope._origin is _DEADLINE and scope._fail:
            raise TimeoutError(scope._timeout_message()) from exc
        return True
    if left is exc:
        return False
    # A new error (misnesting) or a smaller exception group: raise it, but
    # keep the context Python would give the original exception.
    context = left.__context__
    try:
        raise left
    finally:
        left.__context__ = context
        del left, context, exc


def _wrong_task(scope: CancelScope, task: object, exc: BaseException | None) -> None:
    """Raise the error for a scope exited in another trio task than its own."""
    host = scope._host
    if _root(task) is not _root(host):  # another trio run: another thread
        raise RuntimeError(_errors.wrong_thread("exiting CancelScope")) from exc
    raise _errors.misnesting_error(
        _errors.exited_in_other_task(scope, host.name, task.name),  # type: ignore[attr-defined]
        exc,
    )


def _record(scope: CancelScope, native: trio.CancelScope, remaining: BaseException | None) -> None:
    scope._state = _EXITED
    scope._cancelled_caught = native.cancelled_caught
    if not scope._cancel_called and native.cancel_called:
        # trio's own deadline machinery cancelled the scope.
        scope._cancel_called = True
        scope._origin = CancelOrigin.DEADLINE
    elif not scope._cancel_called and isinstance(remaining, trio.Cancelled):
        scope._set_enclosing(_reason_carried(remaining))
    if _diag_hooks.hooks is not None:
        _diag_hooks.hooks.trio_exited(scope, scope._host, remaining)


def _root(task: object) -> object:
    """The root task of *task*'s trio run (a few parent hops)."""
    nursery = task.parent_nursery  # type: ignore[attr-defined]
    while nursery is not None:
        task = nursery.parent_task
        nursery = task.parent_nursery  # type: ignore[attr-defined]
    return task


def _cancel_at_entry(scope: CancelScope, native: trio.CancelScope) -> None:
    """Carry a cancellation from before entry over to the new native scope."""
    if scope._origin is CancelOrigin.EXPLICIT:
        native.cancel(scope._reason)
    else:
        # Its deadline passed before entry, and may have moved since (even
        # back to none): trio's __enter__ applies a past deadline, as a deadline.
        native.deadline = -inf


def _reason_carried(exc: trio.Cancelled) -> str | None:
    """The reason a native Cancelled carries, worded as on asyncio: trio gives
    a deadline no reason, only ``source == "deadline"``. That is "deadline
    exceeded" when the deadline is a unicancel scope's, and None when it is a
    foreign scope's (``trio.move_on_after``, anyio's), as on asyncio, where
    ``asyncio.timeout`` cancels without a message."""
    reason: str | None = getattr(exc, "reason", None)
    if reason is None and getattr(exc, "source", None) == "deadline":
        return DEADLINE_EXCEEDED if _our_deadline_passed() else None
    return reason


def _ours(mark: ReferenceType[trio.CancelScope]) -> None:
    """Marks a native scope made for a unicancel scope with a deadline (from
    entry, or from when one was set): the callback of a weak reference to it,
    kept in the scope's ``_timer`` slot. Tells our deadlines from foreign ones
    when a cancellation from outside passes through a scope. trio's scope is
    final and slotted, so the mark hangs on its list of weak references: one
    small object at entry, nothing at exit, no global table (a ContextVar
    link cost a third more per armed scope, and saw the spawner's scopes, not
    the enclosing ones). Called if the native scope dies first: nothing to do."""


def _is_ours(native: trio.CancelScope) -> bool:
    return any(mark.__callback__ is _ours for mark in getweakrefs(native))


def _our_deadline_passed() -> bool:
    """Whether the deadline of a unicancel scope enclosing the running code,
    up to the first shield, has passed (so it can be what cancelled it)."""
    now = current_time()
    for native in enclosing_natives():
        if native.deadline <= now and _is_ours(native):
            return True
        if native.shield:
            return False
    return False
