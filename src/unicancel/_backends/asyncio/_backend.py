"""asyncio backend: the :class:`~unicancel._core._contract.Backend` object
(origination side: cancel, deadline and shield changes, clocks, checkpoints).

Entering and exiting scopes lives in :mod:`._scopes` (with the counting
rules), delivery in :mod:`._delivery`.
"""

from __future__ import annotations

import sys
from asyncio import AbstractEventLoop, CancelledError, sleep
from math import inf

from ..._core import _contract, _diag_hooks, _errors
from ..._core._contract import Scope as CancelScope  # the facade's scope, as backends see it
from ..._core._scope_state import _NEW
from . import _deadlines as deadlines
from . import _scopes
from ._anyio import set_companion_shield
from ._chain import make_busy
from ._delivery import catcher, force, innermost, schedule
from ._private import current_task, running_loop, task_or_none, task_running_in
from ._reach import reach
from ._reasons import note_shield_change, order
from ._scopes import scope_enter, scope_exit
from ._taskgroup import AsyncioTaskGroup

__all__ = ["BACKEND", "AsyncioBackend"]


class AsyncioBackend:
    name: str = "asyncio"
    cancelled_exc_class: type[BaseException] = CancelledError

    # While asyncio answers, these two are CancelScope.__enter__/__exit__
    # (the hot path; see _scopes).
    scope_enter = staticmethod(scope_enter)
    scope_exit = staticmethod(scope_exit)

    def running(self) -> bool:
        loop = running_loop()
        return loop is not None and task_running_in(loop) is not None

    def try_enter(self, scope: CancelScope) -> bool:
        # Detection's probe (scope_enter is CancelScope.__enter__ while
        # asyncio answers; it comes back here only when its own probe fails).
        if task_or_none() is None:
            return False
        scope_enter(scope)
        return True

    def _arm(self, scope: CancelScope, loop: AbstractEventLoop, now: float) -> None:
        if now >= scope._deadline:
            scope._expire()
            if scope._state == _NEW:  # expired at entry; else _expire delivered
                schedule(scope._host)  # type: ignore[arg-type]
        else:
            deadlines.arm(scope, loop, scope._deadline)
            if _diag_hooks.hooks is not None:
                _diag_hooks.hooks.deadline_armed("asyncio", scope, scope._host, now)

    def _disarm(self, scope: CancelScope) -> None:
        if scope._timer is not None:
            deadlines.disarm(scope, scope._host.get_loop())  # type: ignore[attr-defined]

    def exit(self, scope: CancelScope, exc: BaseException | None) -> BaseException | None:
        # Only for a scope entered while the generic __exit__ was installed
        # (the first one after a switch from trio): scope_exit does the work.
        try:
            swallowed = scope_exit(scope, None if exc is None else type(exc), exc, None)
        except BaseException as error:  # what to propagate, raised
            return error
        return None if swallowed else exc

    def outside_loop(self, scope: CancelScope) -> bool:
        # The running loop is per thread: another thread has none, or its own.
        return running_loop() is not scope._host.get_loop()  # type: ignore[attr-defined]

    def cancel(self, scope: CancelScope) -> None:
        make_busy(scope)
        scope._cancel_seq = next(order)
        self._disarm(scope)
        reach(scope)
        if _diag_hooks.hooks is not None:
            _diag_hooks.hooks.cancel_requested(scope, scope._host)

    def deadline_changed(self, scope: CancelScope) -> None:
        make_busy(scope)
        if scope._cancel_called or deadlines.moved_later(scope):
            return  # a later deadline: the armed entry re-files itself when due
        self._disarm(scope)
        if scope._deadline != inf:
            loop = scope._host.get_loop()  # type: ignore[attr-defined]
            self._arm(scope, loop, loop.time())

    def shield_changed(self, scope: CancelScope) -> None:
        if "anyio" in sys.modules:
            set_companion_shield(scope)  # rare: a getattr is fine here
        note_shield_change(scope)
        make_busy(scope)
        reach(scope)

    def current_time(self) -> float:
        loop = running_loop()
        if loop is None:
            raise RuntimeError(_errors.no_running_backend())
        return loop.time()

    def current_effective_deadline(self) -> float:
        scope = innermost(current_task())
        deadline = inf
        while scope is not None:
            if scope._cancel_called:
                return -inf
            if scope._deadline < deadline:
                deadline = scope._deadline
            if scope._shield:
                break
            scope = scope._parent
        return deadline

    async def checkpoint(self) -> None:
        # Yield first, then look (as trio does): a cancel made, or a deadline
        # passed, while we were away must raise here, not at the next await.
        await deadlines.schedule_point()
        await self.checkpoint_if_cancelled()

    async def checkpoint_if_cancelled(self) -> None:
        task = current_task()
        if catcher(innermost(task)) is not None:
            # A counted delivery, not a bare raise: asyncio.timeout and
            # TaskGroup judge a CancelledError by cancelling(), so an
            # uncounted one would be taken for theirs. The forced check
            # ignores the retry-loop rule and lands on this sleep(0).
            force(task)
            del task  # the CancelledError's traceback keeps this frame; the task keeps it
            await sleep(0)

    async def cancel_shielded_checkpoint(self) -> None:
        with _contract.new_scope(shield=True):
            await deadlines.schedule_point()

    def task_group(self) -> AsyncioTaskGroup:
        return AsyncioTaskGroup()


BACKEND = AsyncioBackend()
_scopes.BACKEND = BACKEND  # what entry stores in a scope's _backend, and exit tests
