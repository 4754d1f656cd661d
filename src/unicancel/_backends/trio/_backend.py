"""trio backend: a thin layer over ``trio.CancelScope``.

trio already has the semantics unicancel promises (it is the reference), so
this module only creates the native scope at ``__enter__``, mirrors state the
facade reports (origin, reason), and rewrites trio's misnesting errors into
the text every backend shares.
"""

from __future__ import annotations

from math import inf, nan
from weakref import ReferenceType, getweakrefs, ref

import trio
from trio import CancelScope as _NativeScope
from trio import current_time
from trio.lowlevel import in_trio_task

from ..._core import _diag_hooks, _errors
from ..._core._contract import Scope as CancelScope  # the facade's scope, as backends see it
from ..._core._scope_state import _EXITED, DEADLINE_EXCEEDED, CancelOrigin
from ._private import cancel_recorded, enclosing_natives, now, run_context
from ._taskgroup import TrioTaskGroup

__all__ = ["TrioBackend"]


class TrioBackend:
    name: str = "trio"
    cancelled_exc_class: type[BaseException] = trio.Cancelled

    def running(self) -> bool:
        return in_trio_task()

    def try_enter(self, scope: CancelScope) -> bool:
        try:
            host = run_context.task  # also the probe: unset outside a trio task
        except AttributeError:
            return False
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
            return True
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
        hooks = _diag_hooks.hooks
        if hooks is not None and not scope._cancel_called:
            # A deadline the run may be too busy to apply (a CPU loop).
            hooks.deadline_armed("trio", scope, host, nan)
        return True

    def exit(self, scope: CancelScope, exc: BaseException | None) -> BaseException | None:
        native: trio.CancelScope = scope._native  # type: ignore[assignment]
        try:
            task: trio.lowlevel.Task = run_context.task
        except AttributeError:  # not in a trio task: another thread, say
            raise RuntimeError(_errors.wrong_thread("exiting CancelScope")) from exc
        if task is not scope._host:
            if _root(task) is not _root(scope._host):  # another trio run: another thread
                raise RuntimeError(_errors.wrong_thread("exiting CancelScope")) from exc
            raise _errors.misnesting_error(
                _errors.exited_in_other_task(scope, scope._host.name, task.name),  # type: ignore[attr-defined]
                exc,
            )
        try:
            if exc is None:
                native.__exit__(None, None, None)  # nothing to swallow: returns True
                if not scope._cancel_called and (
                    scope._deadline == inf or not cancel_recorded(native)
                ):
                    # The hot path ends here: without a deadline only our
                    # facade can cancel the scope, and it has recorded that;
                    # with one, trio's record after exit is what
                    # cancel_called returns (it no longer checks the clock,
                    # so skip the property's frame), and nothing was caught
                    # (exc is None). A cancelled scope goes on to _record():
                    # diagnostics judge a cancelled block that ended normally.
                    scope._state = _EXITED
                    return None
                swallowed = True
            else:
                swallowed = native.__exit__(type(exc), exc, exc.__traceback__)
        except RuntimeError as error:
            if "Cancel scope stack corrupted" not in str(error):
                raise
            # trio closed the inner scopes (as we do on asyncio); restate it.
            new = RuntimeError(_errors.exited_out_of_order(scope, task.name))
            new.__context__ = exc
            self._record(scope, native, exc)
            return new
        except BaseException as remaining:  # what is left of an exception group
            self._record(scope, native, remaining)
            return remaining
        left = None if swallowed else exc
        if left is None and not native.cancelled_caught and not cancel_recorded(native):
            # Nothing happened (after exit trio's record is what
            # cancel_called returns: it no longer checks the clock).
            scope._state = _EXITED
            return None
        self._record(scope, native, left)
        return left

    def _record(
        self, scope: CancelScope, native: trio.CancelScope, remaining: BaseException | None
    ) -> None:
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

    def outside_loop(self, scope: CancelScope) -> bool:
        # trio's run state is per thread: outside a task of this run (another
        # thread, or another run there) current_task() raises or differs.
        try:
            task = run_context.task
        except AttributeError:
            return True
        host = scope._host
        return task is not host and _root(task) is not _root(host)  # host: the common case

    def cancel(self, scope: CancelScope) -> None:
        native: trio.CancelScope = scope._native  # type: ignore[assignment]
        if scope._origin is CancelOrigin.EXPLICIT:
            native.cancel(scope._reason)
        else:
            # The facade saw the deadline pass before trio's run loop did.
            # Reading cancel_called makes trio apply it now, as a deadline.
            native.cancel_called  # noqa: B018 - the read has the effect
        if _diag_hooks.hooks is not None:
            _diag_hooks.hooks.cancel_requested(scope, scope._host)

    def deadline_changed(self, scope: CancelScope) -> None:
        native: trio.CancelScope = scope._native  # type: ignore[assignment]
        # The old deadline may already have cancelled the scope: keep that on
        # record, but do not apply it now if it passed unnoticed (trio's
        # setter does not, so moving it first means it never cancels).
        if not scope._cancel_called and cancel_recorded(native):
            _note_deadline(scope, native)
        native.deadline = scope._deadline
        if scope._deadline != inf and getattr(scope, "_timer", None) is None:
            # Entered without a deadline: from now on its deadline is ours
            # too (see _ours).
            scope._timer = ref(native, _ours)
        # trio applies a deadline moved into the past at the next schedule
        # point; reading cancel_called applies it now ("cancels at once").
        _note_deadline(scope, native)
        if _diag_hooks.hooks is not None and scope._deadline != inf and not scope._cancel_called:
            _diag_hooks.hooks.deadline_armed("trio", scope, scope._host, nan)

    def shield_changed(self, scope: CancelScope) -> None:
        scope._native.shield = scope._shield  # type: ignore[attr-defined]

    def current_time(self) -> float:
        return current_time()

    def current_effective_deadline(self) -> float:
        return trio.current_effective_deadline()

    async def checkpoint(self) -> None:
        await trio.lowlevel.checkpoint()

    async def checkpoint_if_cancelled(self) -> None:
        await trio.lowlevel.checkpoint_if_cancelled()

    async def cancel_shielded_checkpoint(self) -> None:
        await trio.lowlevel.cancel_shielded_checkpoint()

    def task_group(self) -> TrioTaskGroup:
        return TrioTaskGroup()


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


def _note_deadline(scope: CancelScope, native: trio.CancelScope) -> None:
    """Record a deadline trio applied (or applies now: the read of
    ``cancel_called`` does) unless the scope was already cancelled."""
    if not scope._cancel_called and native.cancel_called:
        scope._cancel_called = True
        scope._origin = CancelOrigin.DEADLINE
        scope._reason = None


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
