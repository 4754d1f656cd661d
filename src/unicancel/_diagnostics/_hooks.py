"""The object :func:`enable` puts in the core's slot (``_core._diag_hooks``)."""

from __future__ import annotations

import asyncio
import weakref
from math import inf
from typing import Any

from .._core import _diag_hooks
from .._core._scope_state import CancelOrigin
from . import _swallow, _watchdog
from ._outlived import check_outlived, install_task_factory

__all__ = ["HOOKS"]

_LEFT = "  (the scope was left without the cancellation landing)"
_GROUP_EXIT = RuntimeError("a task group's exit")
_CAUGHT = RuntimeError("the scope's own cancellation")


class _Hooks:
    def cancel_requested(self, scope: Any, host: object) -> None:
        backend = scope._backend.name
        trio_time = 0.0
        if backend == "trio":
            import trio

            trio_time = trio.current_time()
            _instrument_trio_run()
        scope._diag = _watchdog.watch(scope, host, backend, trio_time)

    # A plain function (one call less for every armed scope's entry).
    deadline_armed = staticmethod(_watchdog.deadline_armed)

    def group_left(self, scopes: tuple[Any, ...]) -> None:
        # A group's scope delivers to its children, not to the task that
        # leaves it: exited_after_delivery does not run for it.
        for scope in scopes:
            entry = getattr(scope, "_diag", None)
            if entry is not None:
                # Not raised as an error: the group may be leaving with its
                # children's exceptions, which it must not lose.
                _watchdog.landed(entry, scope, exc=_GROUP_EXIT)

    def exited_after_delivery(self, scope: Any, host: Any, exc: BaseException | None) -> None:
        entry = getattr(scope, "_diag", None)
        if entry is not None:
            # It delivered; the cancellation reached the task unless another
            # exception left first (the CancelledError was never thrown in).
            reached = exc is None or _swallow.carries(exc, asyncio.CancelledError)
            _watchdog.landed(entry, scope, how="" if reached else _LEFT, exc=exc)
        _swallow.asyncio_scope_exited(scope, host, exc)

    def task_done_after_delivery(self, task: Any, target: Any) -> None:
        _swallow.asyncio_task_done(task, target)

    def trio_exited(self, scope: Any, host: Any, remaining: BaseException | None) -> None:
        entry = getattr(scope, "_diag", None)
        if entry is not None:
            since = entry.trio_time
        elif scope.cancel_origin is CancelOrigin.DEADLINE:
            since = scope._deadline
        else:
            since = -inf

        def ended(reached: bool) -> None:
            # Left before the cancellation reached the task (asyncio tells
            # by its delivery count), or it landed (a swallow: it did).
            how = "" if reached else _LEFT
            # What reached the scope's exit (as asyncio's hook sees it): its
            # own Cancelled, caught there, counts as an exception on its way.
            exc = remaining
            if exc is None and scope._native.cancelled_caught:
                exc = _CAUGHT
            deadline = _watchdog.entry_of(scope)
            if deadline is not None and deadline is not entry:
                # Its watched deadline (trio applies deadlines itself: no
                # cancel_requested): landed, if it was reported stuck.
                _watchdog.landed(deadline, scope, how=how, exc=exc)
            if entry is not None:
                _watchdog.landed(entry, scope, how=how, exc=exc)

        _swallow.trio_scope_exited(scope, host, remaining, since, ended)

    def run_started(self, backend: str) -> None:
        if backend == "asyncio":
            install_task_factory()

    def run_finished(self, backend: str) -> None:
        _watchdog.flush()
        check_outlived()


HOOKS = _Hooks()

#: Root tasks of the trio runs we added our instrument to (weak: runs end).
_instrumented: weakref.WeakSet[Any] = weakref.WeakSet()


def _instrument_trio_run() -> None:
    """Add a trio Instrument (public API) to this run, once: a task that
    finishes after catching a Cancelled it did not re-raise swallowed it (a
    task group's child that returns normally; its group's scope cannot tell)."""
    import trio

    root = trio.lowlevel.current_root_task()
    if root is None or root in _instrumented:
        return
    _instrumented.add(root)

    class TaskExits(trio.abc.Instrument):
        def task_exited(self, task: trio.lowlevel.Task) -> None:
            if _diag_hooks.hooks is not None:
                _swallow.trio_task_exited(task)

    trio.lowlevel.add_instrument(TaskExits())
