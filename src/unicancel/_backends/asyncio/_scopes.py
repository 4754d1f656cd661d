"""asyncio: entering and exiting a scope, the hot path of every program.

:func:`scope_enter` and :func:`scope_exit` are ``CancelScope.__enter__`` and
``__exit__`` themselves while asyncio is the backend that answered last (see
:mod:`unicancel._backends`): each is the whole entry or exit in one frame,
with no dispatch in front of it. They hand what is not theirs (no asyncio
task running here, a scope of another backend, a scope not active) to the
generic entry and exit (``_contract.enter_scope``/``exit_scope``).

The counting rules follow CPython's ``asyncio.timeout``: every
``Task.cancel()`` we issue is matched by exactly one ``uncancel()`` when the
scope that was charged for it exits, even if the body swallowed the error; a
scope swallows ``CancelledError`` only when ``cancelling()`` is back at its
entry value, i.e. nobody else (an outer ``asyncio.timeout``, ``TaskGroup``, a
direct ``task.cancel()``) also wants the task cancelled. Our own cancellation
is never recognised by message text.
"""

from __future__ import annotations

import sys
from asyncio import CancelledError, Task
from math import inf
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any

from ..._core import _contract, _diag_hooks, _errors
from ..._core._scope_state import (
    _ABANDONED,
    _EXITED,
    DEADLINE_TAIL,
    MESSAGE_HEAD,
    CancelOrigin,
)
from . import _deadlines as deadlines
from ._anyio import enter_companion, exit_companion, lowered
from ._delivery import effectively_cancelled, schedule
from ._private import running_loop, task_here
from ._reasons import carried_reason

if TYPE_CHECKING:
    from ..._core._contract import Backend
    from ..._core._contract import Scope as CancelScope  # the facade's scope, as backends see it

__all__ = ["BACKEND", "scope_enter", "scope_exit"]

#: The asyncio backend object, what an asyncio scope's ``_backend`` is (set
#: by _backend, which creates it and imports this module).
BACKEND: Backend = None  # type: ignore[assignment]

_DEADLINE = CancelOrigin.DEADLINE


def scope_enter(scope: CancelScope) -> CancelScope:
    """``CancelScope.__enter__`` on asyncio: bind *scope* to the running task."""
    if scope._state:
        raise RuntimeError(_errors.already_entered(scope))
    try:
        host = task_here()  # one C call finds loop and task (3.11: see _private)
    except RuntimeError:  # no loop runs in this thread
        # Not a return: one in an except block makes 3.14's compiler give up
        # borrowed loads (LOAD_FAST_BORROW) in the whole function.
        host = None
    if host is None:
        return _contract.enter_scope(scope)
    scope._host = host
    # The task's innermost scope is kept on the task (see _delivery). Read
    # directly, not by getattr(host, name, None), a call that costs a fifth
    # of the whole entry; only a task's first scope pays for the exception.
    try:
        scope._parent = host._unicancel_scope  # type: ignore[attr-defined]
    except AttributeError:
        scope._parent = None
    host._unicancel_scope = scope  # type: ignore[attr-defined]
    scope._entry_cancelling = host.cancelling()
    # _busy: exit has work beyond unlinking (a timer, cancels to balance,
    # a shield to leave). Only a busy scope has _timer and _delivered (see
    # make_busy()): an unarmed one skips the two stores.
    shield = scope._busy = scope._shield
    scope._backend = BACKEND
    scope._state = 1  # _ACTIVE (a literal: no global lookup on the hot path)
    # At most one of the two deadlines is finite, so they differ exactly
    # when the scope has one (one comparison instead of two).
    if not (shield or scope._cancel_called or scope._relative != scope._deadline):
        return scope
    # The rest of a scope with a deadline, a shield or a cancel, in the
    # same frame: the cancel round trip and armed scopes pass here.
    scope._timer = None
    scope._delivered = 0
    if shield and "anyio" in sys.modules:
        enter_companion(scope)
    loop = host.get_loop()
    now = loop.time()
    if scope._relative != inf:
        scope._deadline = now + scope._relative
        scope._relative = inf
    if not scope._cancel_called:
        # arm(), inlined for the entry.
        if scope._deadline == inf:
            return scope
        if now < scope._deadline:
            deadlines.arm(scope, loop, scope._deadline)
            scope._busy = True
            if _diag_hooks.hooks is not None:  # a deadline the loop may be too busy to apply
                _diag_hooks.hooks.deadline_armed("asyncio", scope, host, now)
            return scope
        # scope._expire(), inlined (its delivery is scheduled below), and the
        # message deliver() would ask _cancel_message() for: the round
        # trip's entry, two Python calls fewer.
        scope._cancel_called = True
        scope._origin = _DEADLINE
        scope._reason = None
        scope._message = MESSAGE_HEAD + hex(id(scope)) + DEADLINE_TAIL
    # A task cancelled again and again (a loop of timeouts) usually has
    # its check queued already (the last delivery's follow-up): then
    # there is nothing to schedule, and no call to make.
    try:  # a direct read (see above)
        delivery = host._unicancel_delivery  # type: ignore[attr-defined]
    except AttributeError:  # the task's first cancellation
        delivery = None
    if delivery is None or delivery.__class__ is tuple or not delivery._pending:
        schedule(host)
    return scope


def scope_exit(
    scope: CancelScope,
    exc_type: type[BaseException] | None,
    exc: BaseException | None,
    tb: TracebackType | None,
) -> bool:
    """``CancelScope.__exit__`` on asyncio: unbind *scope*, balance its
    cancels, and decide whether it swallows *exc*."""
    if scope._state != 1:  # _ACTIVE (a literal: no global lookup on the hot path)
        return _contract.exit_scope(scope, exc_type, exc, tb)
    host: Task[Any] = scope._host  # type: ignore[assignment]
    # The thread test: from another thread the host may be running right
    # now (its own thread busy), and unlinking would race with it. This
    # thread's running task is the host only in the loop's thread.
    try:
        running = task_here()
    except RuntimeError:  # no loop runs in this thread
        running = None
    if running is not host:
        # A scope entered on trio (through the generic __enter__, asyncio's
        # __exit__ having been looked up first) lands here: its host is a
        # trio task, never asyncio's running one.
        if scope._backend is not BACKEND:
            return _contract.exit_scope(scope, exc_type, exc, tb)
        if isinstance(exc, GeneratorExit) and _closing_a_coroutine():
            # A coroutine is being closed outside its task: the task was
            # dropped unfinished (its loop closed, or it waited on a
            # future nobody holds) and the garbage collector is closing
            # it, in whatever task it interrupted, or none. As with
            # asyncio.timeout, unwind quietly so its `finally` runs. (An
            # async generator closed from another task: misnesting, below.)
            _unwind_closed(scope, host)
            return False
        error = _exit_error(scope, host, running, exc)
        if error is not None:
            del host, running  # see _exit_error
            try:
                raise error
            finally:
                del error, exc
    if host._unicancel_scope is not scope:  # type: ignore[attr-defined]
        # Scopes it encloses are still open: close them, exit this one as
        # the innermost (a RuntimeError is never swallowed), then raise.
        error = _abandon_inner(scope, host, host._unicancel_scope, exc)  # type: ignore[attr-defined]
        host._unicancel_scope = scope  # type: ignore[attr-defined]
        scope_exit(scope, RuntimeError, error, None)
        del host, running  # as below: no local may refer to the error or the task
        context = error.__context__
        try:
            raise error
        finally:
            error.__context__ = context
            del error, context, exc
    parent = host._unicancel_scope = scope._parent  # type: ignore[attr-defined]
    scope._state = 2  # _EXITED
    # An exited scope lets go of its task: an exception raised from a
    # frame that holds the scope (__exit__ raising TimeoutError, the body
    # of a group child) may end up stored on that task, and the two
    # would form a cycle (freed, with every local, only by the gc).
    scope._host = None
    raised = exc
    if scope._busy:
        # The rest, in the same frame: a cancelled scope's exit (the round
        # trip) is hot too. A scope that is not busy has no timer, no
        # cancels to balance and no shield (nor a lowered one): no companion.
        # Only shielded scopes can hold an anyio shield (_anyio), or those
        # whose shield was lowered since: no lookup for the others.
        if (scope._shield and "anyio" in sys.modules) or lowered:
            exc = exit_companion(scope, exc)  # a RuntimeError if anyio's misnested
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
        return True
    # A bare CancelledError first (the round trip), then exception groups.
    if isinstance(exc, CancelledError):
        if not scope._cancel_called:
            scope._set_enclosing(carried_reason(scope, exc))
            return False
        if not scope._shield and parent is not None and effectively_cancelled(parent):
            carried_reason(scope, exc)  # for the scopes it leaves next
            return False  # an enclosing cancellation is visible: it catches, not us
        if host.cancelling() > scope._entry_cancelling:
            return False  # someone else also asked for this task to be cancelled
        scope._cancelled_caught = True
        # A scope that swallowed was cancelled: it has _origin; one that a
        # deadline cancelled had a deadline set, so it has _fail (see the
        # facade's _may_expire).
        if scope._origin is _DEADLINE and scope._fail:
            # This frame is in the error's traceback, and the task may keep
            # the error (its result): no local may refer to the task.
            del host, running
            raise TimeoutError(scope._timeout_message()) from exc
        return True
    if isinstance(exc, BaseExceptionGroup) and scope._cancel_called:
        if not scope._shield and parent is not None and effectively_cancelled(parent):
            return False
        if host.cancelling() > scope._entry_cancelling:
            return False
        matched, left = exc.split(CancelledError)
        if matched is None:
            return False
        scope._cancelled_caught = True
        if left is None:
            if scope._origin is _DEADLINE and scope._fail:
                del host, running  # as above
                raise TimeoutError(scope._timeout_message()) from exc
            return True
        exc = left
        del left
    elif exc is raised:
        return False
    # A new error (anyio's misnesting) or a smaller exception group: raise
    # it, keeping the context Python would give the original exception, and
    # with no local left referring to it or to the task (this frame is in
    # its traceback: a reference cycle).
    del host, running
    context = exc.__context__
    try:
        raise exc
    finally:
        exc.__context__ = context
        del exc, raised, context


def _unwind_closed(scope: CancelScope, host: Task[Any]) -> None:
    if scope._busy and scope._timer is not None:
        deadlines.disarm(scope, host.get_loop())
    scope._state = _EXITED
    scope._host = None
    # The scopes are closed innermost first: this one is innermost now.
    host._unicancel_scope = scope._parent  # type: ignore[attr-defined]


def _task_name(task: object) -> str:
    if task is None:
        return "<no task: a loop callback, or a coroutine closed by the garbage collector>"
    return task.get_name() if isinstance(task, Task) else repr(task)


def _exit_error(
    scope: CancelScope, host: Task[Any], running: object, exc: BaseException | None
) -> BaseException | None:
    """The error to raise, or None if the scope may be exited here after all
    (its loop now runs in another thread than at entry). The caller raises
    it with no task or error left in its locals: the task that gets the
    error keeps it, its traceback keeps the raising frame, and a task there
    would be kept alive by the cycle until the gc runs (a hostile review
    found it for a scope exited from the wrong task)."""
    here = running_loop() is host.get_loop()
    if running is host and here:
        return None
    if host.done():
        # Its generator is being closed after the task ended: nothing
        # can exit these scopes any more, so do not keep the task.
        host._unicancel_scope = None  # type: ignore[attr-defined]
    if not here:
        error: BaseException = RuntimeError(_errors.wrong_thread("exiting CancelScope"))
        error.__cause__ = exc
        return error
    return _errors.misnesting_error(
        _errors.exited_in_other_task(scope, _task_name(host), _task_name(running)), exc
    )


def _abandon_inner(
    scope: CancelScope,
    host: Task[Any],
    top: CancelScope | None,
    exc: BaseException | None,
) -> BaseException:
    """*scope* is exiting while scopes it encloses (from *top*, the task's
    innermost) are still open: close those, balancing their cancel counts,
    and return the misnesting error to raise."""
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
        if abandoned._busy:  # else it has no timer and no cancels (see make_busy)
            if abandoned._timer is not None:  # before letting go of the host: it has the loop
                deadlines.disarm(abandoned, host.get_loop())
            for _ in range(abandoned._delivered):
                host.uncancel()
            abandoned._delivered = 0
        abandoned._host = None
    return error


def _diag_exit(
    scope: CancelScope, host: Task[Any], parent: CancelScope | None, exc: BaseException | None
) -> None:
    """Diagnostics (on) at the exit of a scope that delivered. What exit
    does next for a normal exit is done first: a report may raise (a
    warning filtered as an error), and scheduling twice is harmless."""
    if exc is None and scope._shield and effectively_cancelled(parent):
        schedule(host)
    hooks = _diag_hooks.hooks
    if hooks is not None:
        hooks.exited_after_delivery(scope, host, exc)


# Code flags (inspect.CO_COROUTINE / CO_ASYNC_GENERATOR; inspect is a heavy import).
_CO_COROUTINE = 0x80
_CO_ASYNC_GENERATOR = 0x200


def _closing_a_coroutine() -> bool:
    """Whether the block being exited is in a coroutine (not an async
    generator): the first such frame above the scope's exit. A coroutine
    whose scope is exited with GeneratorExit outside its task is being
    closed (by the garbage collector: its task was dropped); an async
    generator closed from another task is the misnesting case."""
    frame: FrameType | None = sys._getframe(1)  # scope_exit(), and whatever called it
    while frame is not None:
        flags = frame.f_code.co_flags
        if flags & _CO_ASYNC_GENERATOR:
            return False
        if flags & _CO_COROUTINE:
            return True
        frame = frame.f_back
    return False
