"""The :class:`TaskGroup` facade: structured children on every backend.

The backend is chosen at ``__aenter__``. On asyncio the group is unicancel's
own (children are attached to the scope tree, so every enclosing scope
reaches them); on trio it is a nursery inside the group's cancel scope.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast, final

from .._backends import current_backend
from .._core import _errors
from .._core._scope_state import _ACTIVE

if TYPE_CHECKING:
    from typing import Self

    from .._core._contract import GroupImpl
    from ._scope import CancelScope

__all__ = ["TaskGroup", "TaskStatus"]

T = TypeVar("T")
T_contra = TypeVar("T_contra", contravariant=True)


class TaskStatus(Protocol[T_contra]):
    """Passed as ``task_status=`` to a function run with :meth:`TaskGroup.start`."""

    def started(self, value: T_contra | None = None) -> None:
        """Tell :meth:`TaskGroup.start` that initialisation is done, handing it *value*."""


@final
class TaskGroup:
    """Run child tasks that live inside every scope enclosing the group.

    ``async with TaskGroup() as tg:`` then :meth:`start_soon`, :meth:`start` or
    :meth:`create_task`. The block does not finish until every child has.

    * A child raising an exception cancels the group (the body and every
      sibling); the exceptions then leave the block as one
      :class:`ExceptionGroup` (errors win over cancellations).
    * Cancelling any enclosing :class:`CancelScope`, or its deadline passing,
      cancels the children level-triggered, exactly as trio does; a shield
      opened inside a child protects it; :func:`current_effective_deadline`
      inside a child sees the enclosing deadlines.
    * Cancellations never leave the block wrapped in an exception group: when
      only cancellations happened, the bare cancelled exception propagates
      (what ``asyncio.timeout``/``wait_for`` and enclosing scopes recognise).
    """

    __slots__ = ("__weakref__", "_entered", "_impl")

    def __init__(self) -> None:
        self._impl: GroupImpl | None = None
        self._entered = False

    async def __aenter__(self) -> Self:
        if self._entered:
            raise RuntimeError(_errors.group_reentered())
        self._entered = True
        impl = current_backend().task_group()
        await impl.aenter()
        self._impl = impl
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        # bool | None, as trio's open_nursery() and typeshed's asyncio.TaskGroup
        # declare: the group swallows only its own scope's cancellation (an
        # explicit tg.cancel()), so checkers treat the body as always run through.
        return await self._live().aexit(exc)

    def _live(self) -> GroupImpl:
        if self._impl is None:
            raise RuntimeError(_errors.group_not_active())
        return self._impl

    def _here(self, what: str) -> GroupImpl:
        """The live group, checked to be used from its own loop's thread."""
        impl = self._live()
        scope = impl.cancel_scope
        if scope._state == _ACTIVE and scope._wrong_loop():
            raise RuntimeError(_errors.wrong_thread(what))
        return impl

    @property
    def cancel_scope(self) -> CancelScope:
        """The group's own scope: cancelling it cancels the body and every child."""
        # Backends build it with new_scope(): the facade's CancelScope.
        return cast("CancelScope", self._live().cancel_scope)

    def cancel(self, reason: str | None = None) -> None:
        """Cancel the body and every child (same as ``cancel_scope.cancel(reason)``)."""
        self._live().cancel_scope.cancel(reason)

    def start_soon(
        self, fn: Callable[..., Awaitable[Any]], *args: Any, name: object = None
    ) -> None:
        """Start ``fn(*args)`` as a child task; returns at once."""
        self._here("TaskGroup.start_soon()").start_soon(fn, args, name)

    async def start(
        self, fn: Callable[..., Awaitable[Any]], *args: Any, name: object = None
    ) -> Any:
        """Start ``fn(*args, task_status=...)`` as a child and wait until it calls
        ``task_status.started(value)``; return that value.

        Until then the child runs inside the caller's scopes (a cancellation of
        the caller cancels it too); afterwards it lives in the group. A child
        that returns or fails before calling ``started()`` makes this raise.
        """
        return await self._here("TaskGroup.start()").start(fn, args, name)

    def create_task(self, coro: Coroutine[Any, Any, T], *, name: object = None) -> Any:
        """Start *coro* as a child and return it: the ``asyncio.Task`` on asyncio,
        a :class:`TaskHandle` on trio (trio has no task objects to hand out)."""
        return self._here("TaskGroup.create_task()").create_task(coro, name)
