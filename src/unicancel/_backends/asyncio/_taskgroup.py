"""asyncio: unicancel's task group, a trio nursery built on asyncio tasks.

It keeps ``asyncio.TaskGroup``'s guarantees (a child's error cancels the body
and the siblings, errors leave as one ExceptionGroup, the parent waits for
every child) and adds what asyncio lacks: the children live inside every
scope that encloses the group. Each child's scope chain starts at the group's
cancel scope (``innermost(child)``), and the group's :class:`Members` index
lets a cancellation of any enclosing scope reach the children.
"""

from __future__ import annotations

from asyncio import CancelledError, Future, Task, wait
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from ..._core import _contract, _diag_hooks, _errors
from ..._core._callables import check_coro, child_name, coroutine_or_error
from ..._core._contract import Scope as CancelScope  # the facade's scope, as backends see it
from ._anyio import open_anyio_shield
from ._deadlines import schedule_point
from ._delivery import (
    catcher,
    innermost,
    schedule,
    set_innermost,
)
from ._outside import keep_pending
from ._private import current_task, task_running_in
from ._reach import Members
from ._start import Status, wait_started

__all__ = ["AsyncioTaskGroup"]


class AsyncioTaskGroup:
    def __init__(self) -> None:
        self.cancel_scope = _contract.new_scope()
        # Errors cancel the body and the children through this inner scope,
        # as trio's nursery does through its own: tg.cancel_scope reports
        # only what the user (or an enclosing deadline) did to it.
        self._abort = _contract.new_scope()
        self._members: Members | None = None
        self._errors: list[BaseException] = []
        # The scope whose cancellation a child raised (trio: Cancelled in the
        # nursery's exceptions), so that the exit raises it; None: no child did.
        self._child_cancel: CancelScope | None = None
        self._waiter: Future[None] | None = None
        self._closed = False
        self._starting = 0  # start() calls in progress
        # Children whose first step has not run, with their coroutine: a
        # Task.cancel() before it ends them without running _child, so the
        # exit watches these.
        self._fresh: dict[Task[Any], Coroutine[Any, Any, Any]] = {}

    async def aenter(self) -> None:
        self.cancel_scope.__enter__()
        self._abort.__enter__()
        # The host task is not kept: it keeps its exception, whose traceback
        # keeps the frame that holds this group (a cycle).
        self._loop = current_task().get_loop()
        # A task factory may start tasks eagerly, running their first step
        # inside create_task(): then the child attaches itself (_child).
        self._eager = self._loop.get_task_factory() is not None
        self._members = Members(self._abort)

    # -- children ----------------------------------------------------------

    def _spawn(
        self,
        coro: Coroutine[Any, Any, Any],
        name: object,
        root: CancelScope | None,
        members: Members,
        status: Status | None = None,
    ) -> Task[Any]:
        if self._closed or self._members is None:
            coro.close()
            raise RuntimeError(_errors.group_finished())
        label = child_name(name, coro)
        if self._eager:
            task = self._loop.create_task(self._child(coro, status, root, members), name=label)
            # A factory may also be lazy: then attach here, as below.
            started = task.done() or getattr(task.get_coro(), "cr_suspended", True)
        else:
            task = self._loop.create_task(self._child(coro, status), name=label)
            started = False
        if not started:
            # Even None: a task's first scope reads the attribute directly,
            # and an attribute never set costs it an AttributeError (_scopes).
            set_innermost(task, root)
            members.add(task)
            self._fresh[task] = coro
            if self._waiter is not None:  # the host already waits in aexit
                task.add_done_callback(self._fresh_done)
        if catcher(root) is not None and not task.done():
            schedule(task)  # born inside a cancelled scope: cancel it at its first await
        return task

    async def _child(
        self,
        coro: Coroutine[Any, Any, Any],
        status: Status | None,
        root: CancelScope | None = None,
        members: Members | None = None,
    ) -> Any:
        """Every child runs in this wrapper, so that its end is handled in its
        own last step, as trio's nursery does: a done-callback would abort the
        group one loop iteration late, after siblings' checkpoints passed."""
        task = task_running_in(self._loop)
        assert task is not None
        self._fresh.pop(task, None)
        if members is not None:
            # A task factory that starts tasks eagerly runs this inside
            # create_task(): attach before the child's first line runs.
            set_innermost(task, root)  # even None: see _spawn
            members.add(task)
        try:
            result = await coro
        except GeneratorExit:
            # Destroyed unfinished (loop teardown): detach, wake nobody.
            set_innermost(task, None)
            if self._members is not None:
                self._members.tasks.pop(task, None)
            raise
        except BaseException as exc:
            self._child_ended(task, exc, status)
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                # asyncio re-raises these out of the event loop from the
                # task's step, ending the run while siblings' (shielded)
                # cleanup is still pending. trio's nursery treats them as
                # any error: the siblings are cancelled and waited for, and
                # the group raises them in its BaseExceptionGroup. So do we:
                # the group has recorded it (or, before started(), start()'s
                # caller raises it), the task ends quietly.
                if status is not None and not status._started.done():
                    status._error = exc
                return None
            # The exception's traceback keeps this frame, and the task keeps
            # the exception: without this the task would be in a cycle with
            # itself (and its locals with it) until the garbage collector ran.
            # The group goes too: it keeps the loop, and whatever the loop
            # keeps that holds the task (a user's registry) would close a cycle.
            del task, status, members, root, coro, self
            raise
        self._child_ended(task, None, None)
        return result

    def _child_ended(
        self, task: Task[Any], exc: BaseException | None, status: Status | None
    ) -> None:
        # Detached first: an abort below then reaches the siblings only.
        root = innermost(task)
        set_innermost(task, None)
        members = self._members
        if members is not None:
            members.tasks.pop(task, None)
        if exc is None:
            pass
        elif status is not None and not status._started.done():
            # Before started(), the outcome belongs to start()'s caller.
            if not isinstance(exc, CancelledError):
                task.add_done_callback(_retrieve)
        elif isinstance(exc, CancelledError):
            # Ours only if one of our scopes above it is cancelled; a native
            # cancel() of the child's task is the child's own business.
            if self._child_cancel is None:
                self._child_cancel = catcher(root)
        else:
            task.add_done_callback(_retrieve)
            self._errors.append(exc)
            self._abort.cancel(f"child task {task.get_name()!r} raised {exc!r}")
        if members is None or not members.tasks:  # else children are left: no wake-up
            self._wake_host()

    def _fresh_done(self, task: Task[Any]) -> None:
        coro = self._fresh.pop(task, None)
        if coro is not None:
            # Cancelled (Task.cancel()) before its first step: the exception
            # was thrown in before _child's first line, which never ran.
            coro.close()  # never started: no "never awaited" warning
            self._child_ended(task, None, None)

    def _wake_host(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done() and not self._live_children():
            self._closed = True  # as trio's nursery: closed once the last child is done
            waiter.set_result(None)

    def _live_children(self) -> bool:
        return bool(self._members and self._members.tasks) or bool(self._starting)

    def start_soon(
        self, fn: Callable[..., Awaitable[Any]], args: tuple[Any, ...], name: object
    ) -> None:
        assert self._members is not None
        if self._closed:
            raise RuntimeError(_errors.group_finished())
        coro = coroutine_or_error(fn, args, "start_soon", "fn")
        self._spawn(coro, child_name(name, fn), self._abort, self._members)

    def create_task(self, coro: Coroutine[Any, Any, Any], name: object) -> Task[Any]:
        assert self._members is not None
        check_coro(coro, "create_task", "coro")
        return self._spawn(coro, name, self._abort, self._members)

    async def start(
        self, fn: Callable[..., Awaitable[Any]], args: tuple[Any, ...], name: object
    ) -> Any:
        """Until ``started()``, the child lives in the caller's scopes."""
        if self._closed:
            raise RuntimeError(_errors.group_finished())
        root = innermost(current_task())  # the task is not kept: see _start.wait_started
        members = Members(root)
        started: Future[Any] = self._loop.create_future()
        status = Status(self, members, started)
        self._starting += 1
        try:
            # In the try: a wrong fn must not leave `members` registered.
            coro = coroutine_or_error(fn, args, "start", "fn", {"task_status": status})
            task = self._spawn(coro, child_name(name, fn), root, members, status)
            try:
                return await wait_started(started, task, status)
            except GeneratorExit:
                # The coroutine is being closed (its task was dropped, say with
                # its loop): nothing may be awaited now, nor scheduled on a
                # closed loop; the child goes the same way.
                if not task.done() and not self._loop.is_closed():
                    task.cancel()
                del task
                raise
            except BaseException:
                # As trio does: a start() that fails takes its child down and
                # waits for it, so no child outlives the call unaccounted for
                # (a child that started belongs to the group now: spared).
                if not task.done() and not started.done():
                    task.cancel()
                    with _contract.new_scope(shield=True):
                        await wait([task])
                del task  # it keeps the error, whose traceback keeps this frame
                raise
        finally:
            self._starting -= 1
            members.close()
            self._wake_host()

    # -- exit --------------------------------------------------------------

    async def aexit(self, exc: BaseException | None) -> bool:
        if isinstance(exc, GeneratorExit):
            return self._closing(exc)
        if exc is not None and not isinstance(exc, CancelledError):
            self._errors.append(exc)
            self._abort.cancel("the task group's body raised an exception")
        host = current_task()
        for task in self._fresh:
            task.add_done_callback(self._fresh_done)
        external: CancelledError | None = None
        if isinstance(exc, CancelledError) and catcher(innermost(host)) is None:
            # A cancellation unicancel did not make (asyncio.timeout,
            # Task.cancel(), anyio): the children are not inside it, so cancel
            # them as asyncio.TaskGroup does; the error propagates at the end.
            # Never through our scopes' exits: they could take it for their
            # own where someone else miscounted cancelling() (anyio's group).
            self._abort.cancel("the task group's host task was cancelled")
            external = exc
        # As trio's nursery, the exit only waits: a schedule point, never a
        # cancel point (a cancellation nobody raised here is raised by the
        # next checkpoint). Our own scopes cannot interrupt the wait (the
        # shield): the children carry the cancellation and we just wait for
        # them, which is why there is no retry loop to spin here (ANCHORS
        # trap 1). What ignores shields (Task.cancel(), asyncio.timeout)
        # cancels the children and is re-raised at the end, as
        # asyncio.TaskGroup does.
        #
        # anyio's cancellations must reach this wait too (they reach the
        # children only through it), so this shield holds no anyio shield
        # (_asyncio_anyio) until the first one arrived: anyio re-cancels a
        # waiting task at every loop iteration, which would spin here for as
        # long as a child's shielded cleanup runs.
        wait_shield = _contract.new_scope(shield=True)
        wait_shield._native = False
        anyio_shield = None
        with wait_shield:
            if not self._live_children():
                # Nothing to wait for: trio's cancel_shielded_checkpoint().
                self._closed = True
                try:
                    await schedule_point()
                except CancelledError as cancelled:
                    external = cancelled
            while self._live_children():
                self._waiter = self._loop.create_future()
                try:
                    await self._waiter
                except CancelledError as cancelled:
                    external = external or cancelled
                    self._abort.cancel("the task group's host task was cancelled")
                    if anyio_shield is None:
                        anyio_shield = open_anyio_shield()
            if anyio_shield is not None:
                anyio_shield.__exit__(None, None, None)
        self._closed = True
        self._waiter = None  # a cancelled waiter holds its CancelledError
        if self._members is not None:
            self._members.close()
        scope_exc: BaseException | None = None
        if isinstance(exc, CancelledError) and exc is not external:
            scope_exc = exc
        if scope_exc is None and self._child_cancel is not None:
            # A child raised a cancellation: it leaves the block (bare), for
            # the scope that owns it to catch, as trio's nursery re-raises it.
            target = catcher(innermost(host)) or self._child_cancel
            scope_exc = CancelledError(target._cancel_message())
        # Leave the abort scope, then the group's scope; each swallows its own.
        for scope in (self._abort, self.cancel_scope):
            if scope.__exit__(type(scope_exc) if scope_exc else None, scope_exc, None):
                scope_exc = None
        if _diag_hooks.hooks is not None:  # a stuck cancel of the group landed
            _diag_hooks.hooks.group_left((self._abort, self.cancel_scope))
        # What is raised below keeps this frame (its traceback): the group
        # and this frame must not keep the exceptions, or they would form a
        # cycle with it (freed only by the garbage collector, with the
        # children's locals).
        errors, self._errors = self._errors, []
        try:
            if errors:
                # Also when the body's CancelledError looked like ours (the
                # group was cancelled too) but was a Task.cancel() raised by
                # start(): keep_pending counts the cancels nobody took back.
                keep_pending(host, external)
                raise BaseExceptionGroup(_errors.GROUP_ERRORS, errors) from None
            if external is not None:
                if external is exc:
                    return False
                raise external
            if scope_exc is not None:
                if scope_exc is exc:
                    return False
                raise scope_exc
            return exc is not None  # the body's CancelledError was swallowed
        finally:
            del errors, external, scope_exc, exc, host

    def _closing(self, exc: GeneratorExit) -> bool:
        """The body's coroutine is being closed: by the garbage collector
        (its task was dropped unfinished: its loop closed, or it waited on a
        future nobody holds), or by hand. Nothing can be awaited now: cancel
        the children (where their loop still runs), leave the scopes and let
        GeneratorExit go on, so that the enclosing ``finally`` blocks run."""
        self._closed = True
        if not self._loop.is_closed():
            self._abort.cancel("the task group's host coroutine was closed")
        if self._members is not None:
            self._members.close()
        for scope in (self._abort, self.cancel_scope):
            scope.__exit__(GeneratorExit, exc, None)
        return False


def _retrieve(task: Task[Any]) -> None:
    """Mark a failed child's exception retrieved: the group reports it."""
    if not task.cancelled():
        task.exception()
