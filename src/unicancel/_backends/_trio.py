"""trio backend: a thin layer over ``trio.CancelScope``.

trio already has the semantics unicancel promises (it is the reference), so
this module only creates the native scope at ``__enter__``, mirrors state the
facade reports (origin, reason), and rewrites trio's misnesting errors into
the text every backend shares.
"""

from __future__ import annotations

from math import inf

import trio
from trio.lowlevel import current_task

from .. import _errors
from .._scope import CancelOrigin, CancelScope

__all__ = ["TrioBackend"]


class TrioBackend:
    name: str = "trio"
    cancelled_exc_class: type[BaseException] = trio.Cancelled

    def enter(self, scope: CancelScope) -> None:
        if scope._relative != inf:
            scope._deadline = trio.current_time() + scope._relative
            scope._relative = inf
        native = trio.CancelScope(deadline=scope._deadline, shield=scope._shield)
        if scope._cancel_called and scope._origin is CancelOrigin.EXPLICIT:
            native.cancel(scope._reason)
        scope._host = current_task()
        scope._native = native
        native.__enter__()

    def exit(self, scope: CancelScope, exc: BaseException | None) -> BaseException | None:
        native: trio.CancelScope = scope._native  # type: ignore[assignment]
        task = current_task()
        if task is not scope._host:
            raise RuntimeError(
                _errors.exited_in_other_task(scope, scope._host.name, task.name)  # type: ignore[attr-defined]
            ) from exc
        try:
            if exc is None:
                swallowed = native.__exit__(None, None, None)
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
        self._record(scope, native, None if swallowed else exc)
        return None if swallowed else exc

    def _record(
        self, scope: CancelScope, native: trio.CancelScope, remaining: BaseException | None
    ) -> None:
        from .._scope import _EXITED

        scope._state = _EXITED
        scope._cancelled_caught = native.cancelled_caught
        if not scope._cancel_called and native.cancel_called:
            # trio's own deadline machinery cancelled the scope.
            scope._cancel_called = True
            scope._origin = CancelOrigin.DEADLINE
        elif not scope._cancel_called and isinstance(remaining, trio.Cancelled):
            scope._set_enclosing(getattr(remaining, "reason", None))

    def cancel(self, scope: CancelScope) -> None:
        native: trio.CancelScope = scope._native  # type: ignore[assignment]
        if scope._origin is CancelOrigin.EXPLICIT:
            native.cancel(scope._reason)
        else:
            # The facade saw the deadline pass before trio's run loop did.
            # Reading cancel_called makes trio apply it now, as a deadline.
            native.cancel_called  # noqa: B018 - the read has the effect

    def deadline_changed(self, scope: CancelScope) -> None:
        scope._native.deadline = scope._deadline  # type: ignore[attr-defined]

    def shield_changed(self, scope: CancelScope) -> None:
        scope._native.shield = scope._shield  # type: ignore[attr-defined]

    def current_time(self) -> float:
        return trio.current_time()

    def current_effective_deadline(self) -> float:
        return trio.current_effective_deadline()

    async def checkpoint(self) -> None:
        await trio.lowlevel.checkpoint()

    async def checkpoint_if_cancelled(self) -> None:
        await trio.lowlevel.checkpoint_if_cancelled()

    async def cancel_shielded_checkpoint(self) -> None:
        await trio.lowlevel.cancel_shielded_checkpoint()
