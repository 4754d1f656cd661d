"""asyncio: the downward index, and cancellation reaching every task in a scope.

Scopes only point up (``_parent``); a task group's children are attached
below a scope that is not theirs. :class:`Members` registers such tasks with
every scope above their root, so that :func:`reach`, run when a scope is
cancelled or its shield changes, finds its host and every attached task and
hands each to delivery (:mod:`._delivery`).
"""

from __future__ import annotations

from asyncio import Task
from types import CoroutineType
from typing import TYPE_CHECKING, Any

from ._delivery import (
    _batch,
    _Delivery,
    _delivery,
    _Light,
    catcher,
    schedule,
)
from ._private import fut_waiter

if TYPE_CHECKING:
    from ..._core._contract import Scope as CancelScope  # the facade's scope, as backends see it

__all__ = ["Members", "members_under", "reach", "reparented"]


def members_under(scope: CancelScope) -> set[Members] | None:
    """The Members registered below *scope* (None: none). Kept on the scope
    itself (``_below``), not in a module-level table that would keep every
    scope, and so its task and loop, alive."""
    below: set[Members] | None = getattr(scope, "_below", None)
    return below


class Members:
    """Tasks attached below a scope that is not theirs (a task group's
    children, a child inside ``start()``). Registered with every scope above
    *root*, so that cancelling any of them reaches the tasks: scopes only
    point up, and this is the downward index, kept per group, not per task."""

    __slots__ = ("native", "registered", "root", "tasks")

    def __init__(self, root: CancelScope | None) -> None:
        self.root = root
        # A dict as an ordered set: a cancellation reaches the tasks in the
        # order they were added, that is, their memory in the order it was
        # allocated; a set's hash order scatters it (with 10,000 children,
        # cache misses then took a large share of the time).
        self.tasks: dict[Task[Any], None] = {}
        # Every task added runs a native coroutine, so one suspended on a
        # future is not running (_nudge_members relies on it); a task factory
        # could have wrapped it in some other awaitable.
        self.native = True
        self.registered: list[CancelScope] = []
        self._register()

    def _register(self) -> None:
        scope = self.root
        while scope is not None:
            below = members_under(scope)
            if below is None:
                below = scope._below = set()
            below.add(self)
            self.registered.append(scope)
            scope = scope._parent

    def add(self, task: Task[Any]) -> None:
        self.tasks[task] = None
        if type(task.get_coro()) is not CoroutineType:
            self.native = False

    def close(self) -> None:
        self._unregister()
        # Its tasks are done (or moved to a group): they may keep an error
        # whose traceback holds a frame that holds us.
        self.tasks.clear()

    def _unregister(self) -> None:
        for scope in self.registered:
            below = members_under(scope)
            if below is not None:
                below.discard(self)
                if not below:
                    scope._below = None
        self.registered.clear()


def reparented(scope: CancelScope) -> None:
    """*scope* got a new ``_parent`` (``task_status.started()`` moved it into
    the group): every Members below it was registered with the old chain
    above it, so register it with the new one, or cancelling the new parent
    would not reach the tasks of groups opened inside *scope* (nor deeper)."""
    below = members_under(scope)
    if below:
        for members in list(below):
            members._unregister()  # not close(): the tasks stay members
            members._register()


#: Counts reach() calls: a scope of some chain was cancelled or changed its
#: shield since the count was read (see _nudge_members).
_reaches = 0


def reach(scope: CancelScope) -> None:
    """Check every task inside *scope*: its host, and every task attached
    below it. The checks decide (shields are respected there)."""
    global _reaches
    _reaches += 1
    followed: list[_Delivery | _Light] = []
    running: list[Task[Any]] = []
    _nudge(scope._host, followed, running)  # type: ignore[arg-type]
    below = members_under(scope)
    if below:
        for members in below:
            _nudge_members(members, followed, running)
    # Checks are queued only now, behind every wake-up the cancels above
    # queued: a batch opened first (say by the host's own check) would run
    # before those wake-ups and check every task twice.
    loop = None
    queue: list[_Delivery | _Light] = []
    for entry in followed:
        if isinstance(entry, tuple):
            # A light record is new, so not queued yet: what schedule() does.
            entry_loop = entry[0].get_loop()
            if entry_loop is not loop:
                loop = entry_loop
                queue = _batch(loop)
            queue.append(entry)
        else:
            entry.schedule()
    for task in running:
        schedule(task)


def _nudge(task: Task[Any], followed: list[_Delivery | _Light], running: list[Task[Any]]) -> None:
    # A suspended task is checked now, as trio does: one already queued to
    # resume (from sleep(0), or woken) must get the cancellation at that
    # await, not at its next one. A task whose step is on the stack (the
    # caller itself, or a parent running an eager child) gets a check after
    # its step: cancel() from inside it would leave _must_cancel behind.
    if getattr(task.get_coro(), "cr_running", True):
        running.append(task)
    else:
        delivery = _delivery(task)
        if delivery.deliver(False):
            followed.append(delivery)


def _nudge_members(
    members: Members, followed: list[_Delivery | _Light], running: list[Task[Any]]
) -> None:
    """_nudge() each task of *members*, inlined for the common case (once per
    child of a cancelled group): a task reached for the first time, suspended
    on a future, and in no scope of its own. Its chain is then the members'
    chain, whose catcher is found once (again only if a reach() ran since,
    which may have changed it), and its state is a light record."""
    root = members.root
    assert root is not None  # registered below some scope: root is one
    host = root._host
    native = members.native
    seen = -1
    target = None
    message = ""
    for task in members.tasks:
        waiter = fut_waiter(task)
        if (
            waiter is not None
            and native  # so it is not running: no cr_running check (see _nudge)
            and getattr(task, "_unicancel_delivery", None) is None
            and getattr(task, "_unicancel_scope", None) is root
            and task is not host
        ):
            if seen != _reaches:
                seen = _reaches
                target = catcher(root)
                if target is not None:
                    message = target._cancel_message()
            if target is not None:
                # What deliver() would do (inner is root, not the task's own).
                light = task._unicancel_delivery = (task, target, waiter)  # type: ignore[attr-defined]
                followed.append(light)
                task.cancel(message)
                continue
        _nudge(task, followed, running)
