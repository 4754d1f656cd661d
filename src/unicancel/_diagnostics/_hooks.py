"""The object :func:`enable` puts in the core's slot (``_core._diag_hooks``)."""

from __future__ import annotations

from math import inf
from typing import Any

from .._core._scope_state import CancelOrigin
from . import _swallow, _watchdog
from ._outlived import check_outlived, install_task_factory

__all__ = ["HOOKS"]


class _Hooks:
    def cancel_requested(self, scope: Any, host: object) -> None:
        backend = scope._backend.name
        trio_time = 0.0
        if backend == "trio":
            import trio

            trio_time = trio.current_time()
        scope._diag = _watchdog.watch(scope, host, backend, trio_time)

    def exited_after_delivery(self, scope: Any, host: Any, exc: BaseException | None) -> None:
        entry = getattr(scope, "_diag", None)
        if entry is not None:
            _watchdog.landed(entry)
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
        _swallow.trio_scope_exited(scope, host, remaining, since)
        if entry is not None:
            _watchdog.landed(entry)

    def run_started(self, backend: str) -> None:
        if backend == "asyncio":
            install_task_factory()

    def run_finished(self, backend: str) -> None:
        check_outlived()


HOOKS = _Hooks()
