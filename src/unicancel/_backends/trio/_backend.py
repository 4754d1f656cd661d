"""trio backend: a thin layer over ``trio.CancelScope``.

trio already has the semantics unicancel promises (it is the reference), so
this backend only creates the native scope at ``__enter__``, mirrors state
the facade reports (origin, reason), and rewrites trio's misnesting errors
into the text every backend shares. Entry and exit are in :mod:`._scopes`.
"""

from __future__ import annotations

from math import inf, nan
from weakref import ref

import trio
from trio import current_time
from trio.lowlevel import in_trio_task

from ..._core import _diag_hooks
from ..._core._contract import Scope as CancelScope  # the facade's scope, as backends see it
from ..._core._scope_state import CancelOrigin
from . import _scopes
from ._private import cancel_recorded, run_context
from ._scopes import _ours, _root, scope_enter, scope_exit
from ._taskgroup import TrioTaskGroup

__all__ = ["BACKEND", "TrioBackend"]


class TrioBackend:
    name: str = "trio"
    cancelled_exc_class: type[BaseException] = trio.Cancelled

    def running(self) -> bool:
        return in_trio_task()

    # While trio answers, these two are CancelScope.__enter__/__exit__ (the
    # hot path; see _scopes).
    scope_enter = staticmethod(scope_enter)
    scope_exit = staticmethod(scope_exit)

    def try_enter(self, scope: CancelScope) -> bool:
        # Detection's probe (scope_enter is CancelScope.__enter__ while trio
        # answers; it comes back here only when its own probe fails).
        try:
            run_context.task  # noqa: B018 - unset outside a trio task
        except AttributeError:
            return False
        scope_enter(scope)
        return True

    def exit(self, scope: CancelScope, exc: BaseException | None) -> BaseException | None:
        # Only for a scope exited while another backend's __exit__ was
        # installed (through the generic one): scope_exit does the work.
        try:
            swallowed = scope_exit(scope, None if exc is None else type(exc), exc, None)
        except BaseException as error:  # what to propagate, raised
            return error
        return None if swallowed else exc

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


def _note_deadline(scope: CancelScope, native: trio.CancelScope) -> None:
    """Record a deadline trio applied (or applies now: the read of
    ``cancel_called`` does) unless the scope was already cancelled."""
    if not scope._cancel_called and native.cancel_called:
        scope._cancel_called = True
        scope._origin = CancelOrigin.DEADLINE
        scope._reason = None


BACKEND = TrioBackend()
_scopes.BACKEND = BACKEND  # what entry stores in a scope's _backend, and exit tests
