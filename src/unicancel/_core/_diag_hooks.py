"""The diagnostics slot (issue 13): how the backends and the facade tell the
diagnostics layer about cancellations without importing it.

:data:`hooks` is None unless :func:`unicancel.diagnostics.enable` filled it.
It is read only on cold paths: when a scope is cancelled, when a scope exits
after a delivery, when a task finishes after a delivery, at the end of
``unicancel.run``, and when a deadline is armed (a scope with a deadline is
entered, or its deadline moved earlier; once, next to the timer work). A
plain scope's entry and exit never look at it, so diagnostics cost nothing
while they are off.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ._contract import Scope

__all__ = ["DiagHooks", "hooks"]


class DiagHooks(Protocol):
    def cancel_requested(self, scope: Scope, host: object) -> None:
        """*scope* (entered, run by *host*) has just been cancelled."""

    def deadline_armed(self, backend: str, scope: Scope, host: object, now: float) -> None:
        """*scope* (being entered or entered, run by *host*) has its deadline
        armed; *now*: the backend's clock (asyncio; trio: NaN, the hook reads it)."""

    def group_left(self, scopes: tuple[Scope, ...]) -> None:
        """asyncio: a task group left its *scopes* (its children are done)."""

    def exited_after_delivery(self, scope: Scope, host: object, exc: BaseException | None) -> None:
        """asyncio: *scope* exits after it delivered cancellations to *host*."""

    def task_done_after_delivery(self, task: object, target: Scope) -> None:
        """asyncio: *task* finished after *target*'s cancellation reached it."""

    def trio_exited(self, scope: Scope, host: object, remaining: BaseException | None) -> None:
        """trio: a scope that was cancelled (or caught) exits."""

    def run_started(self, backend: str) -> None:
        """``unicancel.run``: the main task starts (in it)."""

    def run_finished(self, backend: str) -> None:
        """``unicancel.run``: the main function returned or raised (in its task)."""


#: Filled by unicancel.diagnostics.enable(), emptied by disable().
hooks: DiagHooks | None = None
