"""trio backend: a thin layer over ``trio.CancelScope``.

trio already has the semantics unicancel promises (it is the reference), so
this module only creates the native scope at ``__enter__``, mirrors state the
facade reports (origin, reason), and rewrites trio's misnesting errors into
the text every backend shares.
"""

from __future__ import annotations

from contextvars import ContextVar
from math import inf, nan

import trio
from trio import CancelScope as _NativeScope
from trio import current_time
from trio.lowlevel import in_trio_task

from ..._core import _diag_hooks, _errors
from ..._core._contract import Scope as CancelScope  # the facade's scope, as backends see it
from ..._core._scope_state import _EXITED, DEADLINE_EXCEEDED, CancelOrigin
from ._private import cancel_recorded, now, run_context
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
        if scope._relative != scope._deadline:
            if scope._relative != inf:
                scope._deadline = now() + scope._relative
                scope._relative = inf
            if scope._shield:
                native = _NativeScope(deadline=scope._deadline, shield=True)
            else:
                native = _NativeScope(deadline=scope._deadline)
            scope._parent = _marked.get()
            _marked.set(scope)
            scope._busy = True  # marked: exit unlinks it
        elif scope._shield:
            native = _NativeScope(shield=True)
            scope._parent = _marked.get()
            _marked.set(scope)
            scope._busy = True
        else:
            native = _NativeScope()
            scope._busy = False
        if scope._cancel_called:
            if scope._origin is CancelOrigin.EXPLICIT:
                native.cancel(scope._reason)
            else:
                # Its deadline passed before entry, and may have moved since:
                # trio's __enter__ applies a past deadline, as a deadline.
                native.deadline = -inf
        scope._host = host
        scope._native = native
        native.__enter__()
        hooks = _diag_hooks.hooks if scope._busy else None
        if hooks is not None and scope._deadline != inf and not scope._cancel_called:
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
        if scope._busy and _marked.get() is scope:
            _marked.set(scope._parent)
            scope._parent = None  # an exited scope keeps no enclosing one alive
        try:
            if exc is None:
                native.__exit__(None, None, None)  # nothing to swallow: returns True
                if not scope._cancel_called and (
                    scope._deadline == inf or not native.cancel_called
                ):
                    # The hot path ends here: without a deadline only our
                    # facade can cancel the scope, and it has recorded that;
                    # with one, trio's record is a plain read after exit (it
                    # no longer checks the clock), and nothing was caught
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
        if left is None and not native.cancelled_caught and not native.cancel_called:
            # Nothing happened: cancel_called is a plain read after exit
            # (trio no longer checks the clock).
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


#: The innermost unicancel scope of this task (trio copies it into children)
#: entered with a deadline or a shield; each links to the next one out by
#: ``_parent``. Only read to tell our deadlines from foreign ones.
_marked: ContextVar[CancelScope | None] = ContextVar("unicancel_trio_marked", default=None)


def _our_deadline_passed() -> bool:
    """Whether the deadline of a unicancel scope enclosing the running code,
    up to the first shield, has passed (so it can be what cancelled it)."""
    now = current_time()
    scope = _marked.get()
    while scope is not None:
        if scope._deadline <= now:
            return True
        if scope._shield:
            return False
        scope = scope._parent
    return False
