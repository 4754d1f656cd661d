"""asyncio: how a scope's cancellation reaches its tasks (propagation).

Scopes form chains through ``_parent``; :func:`innermost` gives the innermost
scope a task is in. A task is *effectively cancelled* when walking up
from there meets a cancelled scope before a shielded one (trio's rule).

Delivery is ``Task.cancel(msg)`` and nothing else. A suspended task is
cancelled at once, as trio does (:func:`._reach.reach`). It never runs from inside
the task's own step: a ``cancel()`` of the running task only sets
``_must_cancel``, which on 3.11/3.12 survives ``uncancel()`` and would hit an
unrelated later await (gh-116720). So the running task's delivery goes
through a ``call_soon`` callback that runs between steps: :func:`_flush`,
which runs a batch of checks, or a single check queued on its own.

Level-triggered without polling: after each delivery one more check runs
right after the task's next step (its wake-up callback was queued first). If
the task is still inside a cancelled scope it caught the cancellation, and is
cancelled again at the await it is now suspended on. asyncio's and anyio's
own code that *defers* cancellation in a retry loop (``TaskGroup.__aexit__``,
``Condition.wait`` re-acquiring its lock) would turn that into a busy loop, so
after :data:`SAME_SITE_LIMIT` re-deliveries in a row at the same await site in
such code we wait until the task is woken by something else before delivering
again (:mod:`._retry`; docs/semantics.md, difference 1).
"""

from __future__ import annotations

import weakref
from asyncio import AbstractEventLoop, Future, Task
from typing import TYPE_CHECKING, Any, TypeAlias

from ..._core import _diag_hooks
from ..._core._contract import effectively_cancelled as effectively_cancelled
from . import _diag_bridge
from ._chain import catcher as catcher
from ._chain import charge
from ._chain import innermost as innermost
from ._chain import set_innermost as set_innermost
from ._private import NOT_PENDING, fut_waiter, pending_cancel_message
from ._retry import SAME_SITE_LIMIT, await_site, retried_by_edge_triggered_code

if TYPE_CHECKING:
    from ..._core._contract import Scope as CancelScope  # the facade's scope, as backends see it

__all__ = [
    "catcher",
    "deliver_now",
    "delivery_state",
    "effectively_cancelled",
    "force",
    "innermost",
    "schedule",
    "set_innermost",
]

# The per-task and per-loop state (task._unicancel_delivery: the task's
# delivery state, a _Delivery or a light record; loop._unicancel_batch: its
# batch of pending checks, see _batch()) lives on the task and the loop, as
# the task's innermost scope does (see _chain for why). The hot paths read
# them inline; everything else uses the functions below and _chain's.


def delivery_state(task: Task[Any]) -> _Delivery | _Light | None:
    """The delivery state of *task* (tests and reach() read it)."""
    state: _Delivery | _Light | None = getattr(task, "_unicancel_delivery", None)
    return state


#: A light record, (task, target, waiter): what a cancelled group's child gets
#: on its first delivery (_reach._nudge_members) instead of a _Delivery. It is the
#: same state as a _Delivery that has cancelled *waiter* for *target* and has
#: its check queued, at a tuple's cost: most children die of that
#: cancellation, and their check then only drops the record. Whatever else
#: needs the state makes it a _Delivery first (_delivery()).
_Light: TypeAlias = "tuple[Task[Any], CancelScope, Future[Any]]"

# Delivery state of a task cancelled by a scope (task._unicancel_delivery),
# until it finishes.


def _delivery(task: Task[Any]) -> _Delivery:
    state: _Delivery | _Light | None = getattr(task, "_unicancel_delivery", None)
    if state is None:
        return _new_delivery(task)
    if isinstance(state, tuple):
        # A light record's check is queued (by reach()): it is now this
        # delivery's, at the same place in its batch.
        delivery = _new_delivery(*state)
        delivery._pending = True
        return delivery
    return state


def _new_delivery(
    task: Task[Any], target: CancelScope | None = None, waiter: Future[Any] | None = None
) -> _Delivery:
    """State for a task never reached before or, with *target* and *waiter*,
    for one as after deliver() cancelled *waiter* for *target*."""
    # Not an __init__: a class call would run it as a second frame on 3.11.
    delivery = task._unicancel_delivery = _Delivery()  # type: ignore[attr-defined]
    delivery._task = task
    delivery._loop = task.get_loop()
    delivery._pending = delivery._kept = False
    delivery._target = target
    delivery._waiter = waiter
    delivery._site = delivery._hooked = delivery._watched = None
    delivery._repeats = 0
    return delivery


def _forget(task: Task[Any]) -> None:
    state = task._unicancel_delivery  # type: ignore[attr-defined]
    task._unicancel_delivery = None  # type: ignore[attr-defined]
    if _diag_hooks.hooks is not None and state is not None:
        _diag_bridge.diag_task_end(task, state)


# Checks waiting to run, per loop (loop._unicancel_batch); one call_soon
# serves a whole batch (a cancelled group of 10,000 children costs one loop
# callback, not 10,000).


def _flush(loop: AbstractEventLoop) -> None:
    # Checks scheduled while this batch runs go to a new batch whose callback
    # is queued only once the batch is done, i.e. behind every wake-up the
    # deliveries below caused: "after the step that receives it" holds.
    queue: list[_Delivery | _Light] = loop._unicancel_batch  # type: ignore[attr-defined]
    loop._unicancel_batch = _FLUSHING  # type: ignore[attr-defined]
    try:
        for entry in queue:
            if isinstance(entry, tuple):
                task = entry[0]
                if task.done():
                    # The usual end of a light record: its task died of the
                    # cancellation (all that deliver() would do).
                    task._unicancel_delivery = None  # type: ignore[attr-defined]
                    if _diag_hooks.hooks is not None:
                        _diag_bridge.diag_task_done(task, entry[1])
                    continue
                entry = _delivery(task)
            entry._pending = False
            entry.deliver()
    finally:
        later = loop._unicancel_batch  # type: ignore[attr-defined]
        if later is _FLUSHING:
            loop._unicancel_batch = None  # type: ignore[attr-defined]
        elif len(later) == 1 and later[0].__class__ is _Delivery:
            # A batch of one (a task cancelled again and again: the cancel
            # round trip): the check gets a callback of its own, one frame
            # cheaper, and its follow-ups stay so (see deliver()).
            loop._unicancel_batch = None  # type: ignore[attr-defined]
            loop.call_soon(later[0].deliver, True, True)
        else:
            loop.call_soon(_flush, loop)


_FLUSHING: list[_Delivery | _Light] = []  # marks a loop whose batch is running


def deliver_now(task: Task[Any]) -> None:
    """Deliver to *task* at once. Only for callers that run between task
    steps (a timer callback), never from inside a task."""
    _delivery(task).deliver()


def schedule(task: Task[Any]) -> None:
    """Make sure *task* is checked for delivery once the current step ends."""
    delivery = getattr(task, "_unicancel_delivery", None)
    if not isinstance(delivery, _Delivery):  # None, or a light record
        delivery = _delivery(task)
    # delivery.schedule(), inlined (the cancel round trip's entry).
    if not delivery._pending:
        delivery._pending = True
        _batch(delivery._loop).append(delivery)


def _batch(loop: AbstractEventLoop) -> list[_Delivery | _Light]:
    """The batch of checks that runs after the callbacks queued so far."""
    queue: list[_Delivery | _Light] | None = getattr(loop, "_unicancel_batch", None)
    if queue is None:
        queue = loop._unicancel_batch = []  # type: ignore[attr-defined]
        loop.call_soon(_flush, loop)
    elif queue is _FLUSHING:
        queue = loop._unicancel_batch = []  # type: ignore[attr-defined]  # _flush queues the callback
    return queue


def force(task: Task[Any]) -> None:
    """Like schedule(), for an explicit checkpoint of a cancelled task: the
    delivery ignores the retry-loop rule (the caller asked to be cancelled)."""
    delivery = _delivery(task)
    # A delivery for a target other than the last one is never held back:
    # forgetting the last target is all that skipping the rule takes.
    delivery._target = None
    delivery.schedule()


class _Delivery:
    """Per-task delivery state, created at a task's first cancellation (tasks
    never cancelled by a scope pay nothing) and dropped when it finishes."""

    __slots__ = (
        "_chain",
        "_diag_target",
        "_hooked",
        "_kept",
        "_loop",
        "_pending",
        "_repeats",
        "_site",
        "_target",
        "_task",
        "_waiter",
        "_watched",
    )

    _task: Task[Any]
    _loop: AbstractEventLoop
    _pending: bool
    # Registered to be dropped when the task finishes (see deliver()).
    _kept: bool
    # Scope whose cancellation we delivered last (None: deliver the next one
    # whatever it is), and the future we cancelled for it (None: the task
    # was runnable).
    _target: CancelScope | None
    _waiter: Future[Any] | None
    # Where the task was re-cancelled last for that same target, and how
    # many times in a row at that site; weak references to the coroutines of
    # that site's await chain (set with _site, read only after).
    _site: tuple[tuple[object, int], ...] | None
    _repeats: int
    _chain: list[weakref.ref[Any]]
    # Future we watch for a wake-up that is not ours.
    _hooked: Future[Any] | None
    # Future we already have a done-callback on (never add a second).
    _watched: Future[Any] | None
    # Diagnostics only (set only while on): the target a shield hid.
    _diag_target: CancelScope | None

    def schedule(self) -> None:
        if not self._pending:
            self._pending = True
            _batch(self._loop).append(self)

    def _on_wake(self, fut: Future[Any]) -> None:
        # The task's own wake-up callback was added before this one, so the
        # task has just run its step. Check now, not in a later batch: if
        # that step ended in a bare yield, a batch would run after the next
        # step too, and one await would slip through uncancelled.
        if fut is self._watched:
            self._watched = None
        if fut is self._hooked:
            self._hooked = None
            self._repeats = 0
        self.deliver()

    def _hook(self, fut: Future[Any] | None, *, progress: bool) -> None:
        if fut is None:
            # Runnable: its step is already queued ahead of this callback.
            if progress:
                self._repeats = 0
            self.schedule()
            return
        if progress:
            if self._hooked is fut:
                return
            self._hooked = fut
        elif fut.done():
            # Its wake-up is queued already; the next batch runs after it.
            self.schedule()
            return
        if self._watched is not fut:
            self._watched = fut
            fut.add_done_callback(self._on_wake)

    def deliver(self, follow: bool = True, queued: bool = False) -> bool:
        """Cancel the task if it is inside a cancelled scope and has not
        received that cancellation yet; then make sure a check follows the
        step in which it does (with *follow* False the caller schedules it:
        True is returned when one is needed). *queued*: this is the check
        a follow-up queued as a loop callback of its own (below)."""
        if queued:
            self._pending = False
        task = self._task
        if task.done():
            task._unicancel_delivery = None  # type: ignore[attr-defined]
            if _diag_hooks.hooks is not None:
                _diag_bridge.diag_task_end(task, self)
            return False
        inner: CancelScope | None
        try:  # a direct read, not getattr(): see _scopes.scope_enter
            inner = task._unicancel_scope  # type: ignore[attr-defined]
        except AttributeError:
            inner = None
        target = None  # catcher(inner), inlined: this runs once per delivery
        scope = inner
        while scope is not None:
            if scope._cancel_called:
                target = scope
            if scope._shield:
                break
            scope = scope._parent
        if target is None:
            if self._target is not None and _diag_hooks.hooks is not None:
                # A shield hides the scope it delivered for: diagnostics judge
                # at the task's end whether it swallowed (_forget).
                self._diag_target = self._target
            self._target = self._waiter = self._site = None
            self._repeats = 0
            if not self._kept:
                # The task outlived its cancellation. Keep this state (it is
                # likely to be cancelled again: a loop of timeouts) until it
                # finishes. Tasks that die of their cancellation never get
                # here and cost no done-callback.
                self._kept = True
                task.add_done_callback(_forget)
            return False
        waiter = fut_waiter(task)
        if waiter is None and not getattr(task.get_coro(), "cr_suspended", True):
            # Not started yet (a child spawned into a cancelled scope): as on
            # trio, it runs up to its first await, which then raises. Its
            # first step is queued ahead of the next batch.
            self.schedule()
            return False
        if waiter is not None and waiter is self._waiter:
            # The task has not run since our last delivery: its wake-up is
            # queued (waiter done) or the waiter is a Task ignoring cancel().
            self._hook(waiter, progress=False)
            return False
        if target is self._target:
            # The task caught the cancellation and is suspended again inside
            # the same cancelled scope: level-triggered, so cancel again,
            # unless this is a retry loop at the same await.
            site, chain = await_site(task)
            if site == self._site:
                if self._repeats >= SAME_SITE_LIMIT and retried_by_edge_triggered_code(
                    self._chain, chain
                ):
                    self._hook(waiter, progress=True)
                    return False
                self._repeats += 1
            else:
                self._site = site
                self._repeats = 1
            self._chain = [weakref.ref(obj) for obj in chain]
        else:
            self._target = target
            self._site = None
            self._repeats = 0
        # _message: built once per scope (below: 10,000 children, one message).
        message = target._message or target._cancel_message()
        if waiter is None:
            # A cancel() already pending (anyio's, in this loop iteration):
            # keep its message, which anyio needs to recognise its own
            # cancellation; ours is counted, never recognised by text.
            pending = pending_cancel_message(task)
            if pending is not NOT_PENDING:
                message = pending
                self._foreign_pending(task)
        elif waiter.cancelled() and self._site is None:
            self._foreign_pending(task)
        self._waiter = waiter
        task.cancel(message)
        # Below target, only the task's own scopes can be charged: if its
        # innermost is not one (a group's child), there is nothing to do.
        if inner._host is task:  # type: ignore[union-attr]
            if target is inner:
                # The common case of charge(): the task's own innermost
                # scope, cancelled, so it has _delivered (see make_busy).
                target._delivered += 1
                target._busy = True
            else:
                charge(task, target)
        # Runs after the step that receives this cancellation (schedule(),
        # inlined: once per delivery).
        if follow and not self._pending:
            self._pending = True
            # _batch(), inlined: inside _flush the batch is the marker, and
            # this starts the next one. Outside a batch (a timer, a wake-up,
            # or this check queued on its own: a task cancelled again and
            # again, the cancel round trip), a check of its own is queued,
            # one frame cheaper than a batch of one (no _flush); it runs
            # after the wake-up that task.cancel() has just queued.
            loop = self._loop
            queue: list[_Delivery | _Light] | None
            try:  # a direct read, not getattr(): see _scopes.scope_enter
                queue = loop._unicancel_batch  # type: ignore[attr-defined]
            except AttributeError:  # the loop's first
                queue = None
            if queue is _FLUSHING:
                queue = loop._unicancel_batch = [self]  # type: ignore[attr-defined]
            elif queue is None:
                loop.call_soon(self.deliver, True, True)
            else:
                queue.append(self)
        return True

    def _foreign_pending(self, task: Task[Any]) -> None:
        """Someone else's cancellation (anyio's) reaches the task together
        with this first delivery, so the CancelledError it gets is theirs:
        if edge-triggered code catches it and waits again at the same site,
        hold our re-delivery at once (difference 1) instead of after one
        more. anyio's task-group exit keeps the last CancelledError that is
        not anyio's, and would then raise ours past the anyio scope that
        needs to catch its own."""
        site, chain = await_site(task)
        self._site = site
        self._chain = [weakref.ref(obj) for obj in chain]
        self._repeats = SAME_SITE_LIMIT
