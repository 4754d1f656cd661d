"""What a diagnostic says: the warning categories and the :class:`Report` record."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "CancelDiagnosticWarning",
    "OutlivedTaskWarning",
    "Report",
    "ReportKind",
    "StuckCancelWarning",
    "SwallowedCancelWarning",
]


class CancelDiagnosticWarning(RuntimeWarning):
    """Base category of every unicancel diagnostic: ``-W
    error::unicancel.diagnostics.CancelDiagnosticWarning`` turns them all into errors."""


class SwallowedCancelWarning(CancelDiagnosticWarning):
    """A cancellation delivered by a unicancel scope was caught and not re-raised,
    and the task went on as if nothing happened."""


class StuckCancelWarning(CancelDiagnosticWarning):
    """A cancellation was requested but has not landed within the threshold
    (``stuck_after``); also used for the later "landed" report."""


class OutlivedTaskWarning(CancelDiagnosticWarning):
    """A task was still running when the program's main function finished."""


#: What a :class:`Report` is about.
ReportKind = Literal["swallowed", "stuck", "landed", "outlived"]

_CATEGORIES: dict[str, type[CancelDiagnosticWarning]] = {
    "swallowed": SwallowedCancelWarning,
    "stuck": StuckCancelWarning,
    "landed": StuckCancelWarning,
    "outlived": OutlivedTaskWarning,
}

_TITLES = {
    "swallowed": "cancellation swallowed",
    "stuck": "cancellation stuck",
    "landed": "stuck cancellation landed",
    "outlived": "task outlived its run",
}


@dataclass(frozen=True, slots=True)
class Report:
    """One diagnostic, as handed to subscribers (and formatted for warnings and logs).

    Sites are ``"path/file.py:LINE"`` in user code (library frames are skipped,
    and named in :attr:`stack`), or None when unknown.
    """

    #: "swallowed", "stuck", "landed" or "outlived".
    kind: ReportKind
    #: The task's name ("Task-3"; on trio the task's name).
    task: str
    #: "asyncio" or "trio".
    backend: str
    #: Where the scope or task group was entered (or, for outlived tasks,
    #: where the task was created).
    scope_site: str | None
    #: The scope's cancel reason (or deadline text), if known.
    reason: str | None
    #: swallowed: the ``except`` clause that caught the cancellation.
    catch_site: str | None
    #: stuck: seconds since the request so far; landed: total seconds, or
    #: None if the scope was left before the cancellation reached the task
    #: (the body finished first: nothing was cancelled).
    latency: float | None
    #: Where the task is (or was), user frames first; "" when not applicable.
    stack: str

    @property
    def category(self) -> type[CancelDiagnosticWarning]:
        """The warning category this report is issued with."""
        return _CATEGORIES[self.kind]

    def format(self) -> str:
        """Multi-line human text; the first line names the kind, the task and the sites."""
        title = _TITLES[self.kind]
        advice = _ADVICE[self.kind]
        if self.kind == "landed" and self.latency is None:
            title, advice = _NEVER_LANDED
        first = f"unicancel: {title} in task {self.task!r} ({self.backend})"
        sites = sites_of(self)
        if sites:
            first += f", {sites}"
        if self.latency is not None:
            verb = "after" if self.kind == "landed" else "pending for"
            first += f", {verb} {self.latency:.3f} s"
        lines = [first]
        if self.reason:
            lines.append(f"  reason: {self.reason}")
        lines.append("  " + advice)
        if self.stack:
            lines.append(self.stack.rstrip("\n"))
        return "\n".join(lines)


#: What scope_site is, per kind (see docs/api.md).
_WHERE = {"outlived": "created at", "stuck": "now at"}


def sites_of(report: Report) -> str:
    """Where *report* points, in the order a reader looks: the code that
    caught it (swallowed), then the scope, or where a stuck task is now, or
    where an outlived task was created; "" when neither is known."""
    sites = []
    if report.catch_site:
        sites.append(f"caught at {report.catch_site}")
    if report.scope_site:
        sites.append(f"{_WHERE.get(report.kind, 'scope at')} {report.scope_site}")
    return ", ".join(sites)


_ADVICE = {
    "swallowed": (
        "the task went on as if not cancelled: re-raise the cancellation "
        "(`except Exception` does not catch it; `except BaseException`/"
        "`except CancelledError` must end with `raise`)"
    ),
    "stuck": (
        "the task has not reached a checkpoint since: add `await unicancel.checkpoint()` "
        "to CPU loops, move blocking calls to `unicancel.to_thread`, check shielded waits"
    ),
    "landed": "the cancellation finally reached the task",
    "outlived": (
        "nothing owned this task: start it in a unicancel.TaskGroup so that it is "
        "cancelled and awaited with its parent"
    ),
}

#: A "landed" report without latency: the end of a stuck cancellation that
#: never reached the task (title, advice).
_NEVER_LANDED = (
    "stuck cancellation never landed",
    "the scope was left before the cancellation reached the task (its body finished "
    "first, say a deadline passed during a blocking call): nothing was cancelled",
)
