"""TaskHandle: what TaskGroup.create_task() returns where the backend has no
task object to hand out (trio)."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, final

from ..._core import _contract
from ..._core._contract import Scope as CancelScope  # the facade's scope, as backends see it

if TYPE_CHECKING:
    import trio

__all__ = ["TaskHandle"]


@final
class TaskHandle:
    """A child started with :meth:`TaskGroup.create_task` on trio.

    Cancel the child alone with :meth:`cancel`, wait for it with
    :meth:`wait`, and read its outcome with :meth:`result`/:meth:`exception`,
    as with an ``asyncio.Task``.
    """

    __slots__ = ("_coro", "_done", "_exc", "_name", "_result", "_scope")

    _coro: Coroutine[Any, Any, Any]
    _name: object
    _scope: CancelScope
    _done: trio.Event
    _result: Any
    _exc: BaseException | None

    def __init__(self, *args: object, **kwargs: object) -> None:
        raise TypeError(
            "unicancel: TaskHandle objects are created by TaskGroup.create_task(coro) on "
            "trio, not directly; call tg.create_task(coro) inside 'async with TaskGroup()'"
        )

    @classmethod
    def _create(cls, coro: Coroutine[Any, Any, Any], name: object) -> TaskHandle:
        """The constructor used by the trio task group."""
        import trio  # only ever built on trio

        self = object.__new__(cls)
        self._coro = coro
        self._name = name
        self._scope = _contract.new_scope()
        self._done = trio.Event()
        self._result = None
        self._exc = None
        return self

    async def _run(self) -> None:
        done = self._done
        try:
            with self._scope:
                self._result = await self._coro
        except BaseException as exc:
            self._exc = exc
            # The handle keeps the exception, whose traceback keeps this
            # frame: without the handle in it, that is no cycle.
            del self
            raise
        finally:
            done.set()

    def cancel(self, reason: str | None = None) -> None:
        """Cancel this child only."""
        self._scope.cancel(reason)

    def done(self) -> bool:
        """Whether the child has finished."""
        return self._done.is_set()

    def cancelled(self) -> bool:
        """Whether the child ended because it was cancelled (by :meth:`cancel`
        or by an enclosing scope), like ``asyncio.Task.cancelled()``."""
        import trio

        return self._scope.cancelled_caught or isinstance(self._exc, trio.Cancelled)

    def result(self) -> Any:
        """The child's return value. Raises the child's exception, or
        RuntimeError if it has not finished yet. A child ended by its own
        :meth:`cancel` returns None (its scope swallowed the cancellation)."""
        if not self.done():
            raise RuntimeError("unicancel: the task has not finished yet")
        if self._exc is not None:
            raise self._exc
        return self._result

    def exception(self) -> BaseException | None:
        """The exception the child raised, if any."""
        return self._exc

    async def wait(self) -> None:
        """Wait until the child has finished."""
        await self._done.wait()

    def __repr__(self) -> str:
        return f"<unicancel.TaskHandle {self._name or self._coro!r}>"
