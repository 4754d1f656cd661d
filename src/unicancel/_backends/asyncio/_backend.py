"""asyncio backend: scope bookkeeping and deadlines (origination side).

Delivery lives in :mod:`._delivery`. The counting rules follow
CPython's ``asyncio.timeout``: every ``Task.cancel()`` we issue is matched by
exactly one ``uncancel()`` when the scope that was charged for it exits, even
if the body swallowed the error; a scope swallows ``CancelledError`` only when
``cancelling()`` is back at its entry value, i.e. nobody else (an outer
``asyncio.timeout``, ``TaskGroup``, a direct ``task.cancel()``) also wants the
task cancelled. Our own cancellation is never recognised by message text.
"""

from __future__ import annotations

import sys
from asyncio import AbstractEventLoop, CancelledError, Task, sleep
from math import inf
from threading import get_ident
from types import FrameType
from typing import Any

from ..._core import _contract, _diag_hooks, _errors
from ..._core._contract import Scope as CancelScope  # the facade's scope, as backends see it
from ..._core._scope_state import (
    _ABANDONED,
    _EXITED,
    _NEW,
    DEADLINE_TAIL,
    MESSAGE_HEAD,
    CancelOrigin,
)
from . import _deadlines as deadlines
from ._anyio import enter_companion, exit_companion, lowered, set_companion_shield
from ._delivery import (
    catcher,
    effectively_cancelled,
    force,
    innermost,
    schedule,
)
from ._private import current_task, running_loop, task_here, task_running_in
from ._reach import reach
from ._reasons import carried_reason, note_shield_change, order
from ._taskgroup import AsyncioTaskGroup

__all__ = ["AsyncioBackend"]

_DEADLINE = CancelOrigin.DEADLINE


def _task_name(task: object) -> str:
    if task is None:
        return "<no task: a loop callback, or a coroutine closed by the garbage collector>"
    return task.get_name() if isinstance(task, Task) else repr(task)


class AsyncioBackend:
    name: str = "asyncio"
    cancelled_exc_class: type[BaseException] = CancelledError

    # enter/exit are the hot path (every scope, armed or not): the common case
    # is a few dict operations, everything else is behind one test.

    def running(self) -> bool:
        loop = running_loop()
        return loop is not None and task_running_in(loop) is not None

    def try_enter(self, scope: CancelScope) -> bool:
        found: Task[Any] | None
        if _THREAD_BY_IDENT:  # 3.11 (see _THREAD_BY_IDENT)
            loop = running_loop()
            if loop is None:
                return False
            found = task_running_in(loop)
            if found is None:
                return False
            scope._loop = loop  # for exit's test; later readers ask the host
            scope._thread = get_ident()
        else:
            try:
                found = task_here()  # one C call finds loop and task
            except RuntimeError:  # no loop runs in this thread
                return False
            if found is None:
                return False
        host: Task[Any] = found
        scope._host = host
        # The task's innermost scope is kept on the task (see _delivery).
        scope._parent = getattr(host, "_unicancel_scope", None)
        host._unicancel_scope = scope  # type: ignore[attr-defined]
        scope._entry_cancelling = host.cancelling()
        # _busy: exit has work beyond unlinking (a timer, cancels to balance,
        # a shield to leave).
        shield = scope._busy = scope._shield
        scope._timer = None
        # Stored, not left missing: getattr() of a missing slot raises inside
        # (0.7 us on 3.13), and every exit that is not trivial reads it.
        scope._delivered = 0
        # At most one of the two deadlines is finite, so they differ exactly
        # when the scope has one (one comparison instead of two).
        if not (shield or scope._cancel_called or scope._relative != scope._deadline):
            return True
        # The rest of a scope with a deadline, a shield or a cancel, in the
        # same frame: the cancel round trip and armed scopes pass here.
        if shield and "anyio" in sys.modules:
            enter_companion(scope)
        loop = host.get_loop()
        now = loop.time()
        if scope._relative != inf:
            scope._deadline = now + scope._relative
            scope._relative = inf
        if not scope._cancel_called:
            # _arm(), inlined for the entry.
            if scope._deadline == inf:
                return True
            if now < scope._deadline:
                deadlines.arm(scope, loop, scope._deadline)
                scope._busy = True
                if _diag_hooks.hooks is not None:  # a deadline the loop may be too busy to apply
                    _diag_hooks.hooks.deadline_armed("asyncio", scope, host, now)
                return True
            # scope._expire(), inlined (not entered yet: it would deliver
            # nothing), and the message deliver() would ask _cancel_message()
            # for: the round trip's entry, two Python calls fewer.
            scope._cancel_called = True
            scope._origin = _DEADLINE
            scope._reason = None
            scope._message = MESSAGE_HEAD + hex(id(scope)) + DEADLINE_TAIL
        # A task cancelled again and again (a loop of timeouts) usually has
        # its check queued already (the last delivery's follow-up): then
        # there is nothing to schedule, and no call to make.
        delivery = getattr(host, "_unicancel_delivery", None)
        if delivery is None or delivery.__class__ is tuple or not delivery._pending:
            schedule(host)
        return True

    def _arm(self, scope: CancelScope, loop: AbstractEventLoop, now: float) -> None:
        if now >= scope._deadline:
            scope._expire()
            if scope._state == _NEW:  # expired at entry; else _expire delivered
                schedule(scope._host)  # type: ignore[arg-type]
        else:
            deadlines.arm(scope, loop, scope._deadline)
            scope._busy = True
            if _diag_hooks.hooks is not None:
                _diag_hooks.hooks.deadline_armed("asyncio", scope, scope._host, now)

    def _disarm(self, scope: CancelScope) -> None:
        if scope._timer is not None:
            deadlines.disarm(scope, scope._host.get_loop())  # type: ignore[attr-defined]

    def exit(self, scope: CancelScope, exc: BaseException | None) -> BaseException | None:
        host: Task[Any] = scope._host  # type: ignore[assignment]
        # The thread test: from another thread the host may be running right
        # now (its own thread busy), and unlinking would race with it.
        if _THREAD_BY_IDENT:
            running = task_running_in(scope._loop)
            here = running is host and get_ident() == scope._thread
        else:
            # This thread's running task: the host only in the loop's thread.
            try:
                running = task_here()
            except RuntimeError:  # no loop runs in this thread
                running = None
            here = running is host
        if not here:
            if running is not host and isinstance(exc, GeneratorExit) and _closing_a_coroutine():
                # A coroutine is being closed outside its task: the task was
                # dropped unfinished (its loop closed, or it waited on a
                # future nobody holds) and the garbage collector is closing
                # it, in whatever task it interrupted, or none. As with
                # asyncio.timeout, unwind quietly so its `finally` runs. (An
                # async generator closed from another task: misnesting, below.)
                return self._unwind_closed(scope, host, exc)
            self._check_exit(scope, host, running, exc)
        parent = scope._parent
        top = host._unicancel_scope  # type: ignore[attr-defined]
        if top is not scope:
            exc = self._abandon_inner(scope, host, top, exc)
        host._unicancel_scope = parent  # type: ignore[attr-defined]
        scope._state = _EXITED
        # An exited scope lets go of its task: an exception raised from a
        # frame that holds the scope (__exit__ raising TimeoutError, the body
        # of a group child) may end up stored on that task, and the two
        # would form a cycle (freed, with every local, only by the gc).
        scope._host = None
        if exc is None and not scope._busy:
            return None
        # The rest, in the same frame: a cancelled scope's exit (the round
        # trip) is hot too.
        # Only shielded scopes can hold an anyio shield (_asyncio_anyio), or
        # those whose shield was lowered since: no lookup for the others.
        if (scope._shield and "anyio" in sys.modules) or lowered:
            exc = exit_companion(scope, exc)
        if scope._timer is not None:
            deadlines.disarm(scope, host.get_loop())
        delivered = scope._delivered
        if delivered:
            host.uncancel()
            if delivered > 1:
                for _ in range(delivered - 1):
                    host.uncancel()
            scope._delivered = 0
            if _diag_hooks.hooks is not None:
                _diag_exit(scope, host, parent, exc)
        if scope._shield and effectively_cancelled(parent):
            # Leaving a shield into a cancelled scope: the next await raises.
            schedule(host)
        if exc is None:
            return None
        # A bare CancelledError first (the round trip), then exception groups.
        if isinstance(exc, CancelledError):
            if not scope._cancel_called:
                scope._set_enclosing(carried_reason(scope, exc))
                return exc
            if not scope._shield and parent is not None and effectively_cancelled(parent):
                carried_reason(scope, exc)  # for the scopes it leaves next
                return exc  # an enclosing cancellation is visible: it catches, not us
            if host.cancelling() > scope._entry_cancelling:
                return exc  # someone else also asked for this task to be cancelled
            scope._cancelled_caught = True
            return None
        if not isinstance(exc, BaseExceptionGroup) or not scope._cancel_called:
            return exc
        if not scope._shield and parent is not None and effectively_cancelled(parent):
            return exc
        if host.cancelling() > scope._entry_cancelling:
            return exc
        matched, rest = exc.split(CancelledError)
        if matched is None:
            return exc
        scope._cancelled_caught = True
        return rest

    def _unwind_closed(
        self, scope: CancelScope, host: Task[Any], exc: GeneratorExit
    ) -> BaseException:
        if scope._timer is not None:
            deadlines.disarm(scope, host.get_loop())
        scope._state = _EXITED
        scope._host = None
        # The scopes are closed innermost first: this one is innermost now.
        host._unicancel_scope = scope._parent  # type: ignore[attr-defined]
        return exc

    def _check_exit(
        self, scope: CancelScope, host: Task[Any], running: object, exc: BaseException | None
    ) -> None:
        """Raise unless the scope may be exited here after all (its loop now
        runs in another thread than at entry)."""
        here = running_loop() is host.get_loop()
        if running is host and here:
            if _THREAD_BY_IDENT:
                scope._thread = get_ident()
            return
        if host.done():
            # Its generator is being closed after the task ended: nothing
            # can exit these scopes any more, so do not keep the task.
            host._unicancel_scope = None  # type: ignore[attr-defined]
        if not here:
            raise RuntimeError(_errors.wrong_thread("exiting CancelScope")) from exc
        raise _errors.misnesting_error(
            _errors.exited_in_other_task(scope, _task_name(host), _task_name(running)), exc
        )

    def _abandon_inner(
        self,
        scope: CancelScope,
        host: Task[Any],
        top: CancelScope | None,
        exc: BaseException | None,
    ) -> BaseException:
        """*scope* is exiting while scopes it encloses (from *top*, the task's
        innermost) are still open: close those, balancing their cancel
        counts, and return the misnesting error to raise (exit() then
        unlinks them all)."""
        chain = []
        inner = top
        while inner is not None and inner is not scope and inner._host is host:
            chain.append(inner)
            inner = inner._parent
        error = RuntimeError(_errors.exited_out_of_order(scope, _task_name(host)))
        error.__context__ = exc
        if inner is not scope:
            raise error  # not in this task's stack at all: change nothing
        if any(abandoned._shield for abandoned in chain) and effectively_cancelled(scope):
            schedule(host)  # an abandoned shield was hiding a cancellation
        for abandoned in chain:
            if (abandoned._shield and "anyio" in sys.modules) or lowered:
                exit_companion(abandoned, None)  # innermost first; errors: already misnested
            abandoned._state = _ABANDONED
            self._disarm(abandoned)  # before letting go of the host: it has the loop
            abandoned._host = None
            for _ in range(getattr(abandoned, "_delivered", 0)):
                host.uncancel()
            abandoned._delivered = 0
        return error

    def outside_loop(self, scope: CancelScope) -> bool:
        if _THREAD_BY_IDENT and get_ident() == scope._thread:
            return False
        # The running loop is per thread: another thread has none, or its own.
        if running_loop() is not scope._host.get_loop():  # type: ignore[attr-defined]
            return True
        if _THREAD_BY_IDENT:
            scope._thread = get_ident()  # the loop moved to this thread
        return False

    def cancel(self, scope: CancelScope) -> None:
        scope._cancel_seq = next(order)
        self._disarm(scope)
        reach(scope)
        if _diag_hooks.hooks is not None:
            _diag_hooks.hooks.cancel_requested(scope, scope._host)

    def deadline_changed(self, scope: CancelScope) -> None:
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
        scope._busy = True
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


def _diag_exit(
    scope: CancelScope, host: Task[Any], parent: CancelScope | None, exc: BaseException | None
) -> None:
    """Diagnostics (on) at the exit of a scope that delivered. What exit()
    does next for a normal exit is done first: a report may raise (a
    warning filtered as an error), and scheduling twice is harmless."""
    if exc is None and scope._shield and effectively_cancelled(parent):
        schedule(host)
    hooks = _diag_hooks.hooks
    if hooks is not None:
        hooks.exited_after_delivery(scope, host, exc)


#: How exit() (and outside_loop()) tell the loop's thread from another one.
#: From 3.12 on the running loop is kept in the thread state (a C call): a
#: scope whose loop is not this thread's running loop is in another thread,
#: and entering stores nothing for it. On 3.11 finding the running loop costs
#: a getpid() call (see _private), so entering records the thread's ident.
_THREAD_BY_IDENT = sys.version_info < (3, 12)

# Code flags (inspect.CO_COROUTINE / CO_ASYNC_GENERATOR; inspect is a heavy import).
_CO_COROUTINE = 0x80
_CO_ASYNC_GENERATOR = 0x200


def _closing_a_coroutine() -> bool:
    """Whether the block being exited is in a coroutine (not an async
    generator): the first such frame above the scope's ``__exit__``. A
    coroutine whose scope is exited with GeneratorExit outside its task is
    being closed (by the garbage collector: its task was dropped); an async
    generator closed from another task is the misnesting case."""
    frame: FrameType | None = sys._getframe(2)  # above exit() and __exit__()
    while frame is not None:
        flags = frame.f_code.co_flags
        if flags & _CO_ASYNC_GENERATOR:
            return False
        if flags & _CO_COROUTINE:
            return True
        frame = frame.f_back
    return False
