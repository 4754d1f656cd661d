"""Where a stuck cancellation's tasks are, for the watchdog's report: the
event loop thread's stack for the task that is running (a CPU loop, a
blocking call), the await chain for suspended ones. Runs in the watchdog
thread, reading the loop thread's frames without stopping it."""

from __future__ import annotations

import sys
from time import monotonic
from typing import Any

from ._entry import Entry
from ._report import Report
from ._sites import asyncio_task_name, await_chain, format_stack, frame_stack, site_of

__all__ = ["ended", "task_name", "where"]

#: Tasks named in one stuck report batch at most.
MAX_TASKS = 5


def task_name(task: Any, backend: str) -> str:
    if task is None:
        return "<finished task>"
    return asyncio_task_name(task) if backend == "asyncio" else str(task.name)


def _tasks_in(entry: Entry, scope: Any) -> list[Any]:
    host = entry.task() if entry.task is not None else None
    tasks: list[Any] = [host] if host is not None else []
    if entry.backend == "asyncio":
        for members in list(getattr(scope, "_below", None) or ()):
            tasks.extend(t for t in list(members.tasks) if t is not host)
        return [t for t in tasks if not t.done()]
    from .._backends.trio._private import tasks_inside

    tasks.extend(t for t in tasks_inside(scope._native) if t is not host)
    return tasks


def _coro(task: Any, backend: str) -> Any:
    return task.get_coro() if backend == "asyncio" else task.coro


def _innermost_running(running: list[Any], frame: Any, backend: str) -> list[Any]:
    """Of several tasks whose coroutines run (an eager task's first step runs
    inside the step of the task that created it), the one the loop thread is
    in: its coroutine's frame comes first, from the innermost frame out."""
    by_frame = {id(getattr(_coro(t, backend), "cr_frame", None)): t for t in running}
    while frame is not None:
        task = by_frame.get(id(frame))
        if task is not None:
            return [task]
        frame = frame.f_back
    return running


def where(entry: Entry, scope: Any) -> list[Report]:
    latency = monotonic() - entry.requested
    tasks = _tasks_in(entry, scope)
    running = [t for t in tasks if getattr(_coro(t, entry.backend), "cr_running", False)]
    frame = sys._current_frames().get(entry.thread) if running else None
    if len(running) > 1:
        running = _innermost_running(running, frame, entry.backend)
    busy = "" if running else _busy_elsewhere(entry)
    reports = []
    for task in running or tasks[:MAX_TASKS]:
        coro = _coro(task, entry.backend)
        if task in running:
            entries = frame_stack(frame)
            stack = format_stack(entries, title="running; the event loop thread's stack")
        else:
            entries, bottom = await_chain(coro)
            stack = format_stack(entries, title="suspended; its await chain", bottom=bottom)
            if busy:
                stack += "\n" + busy
        reports.append(
            Report(
                kind="stuck",
                task=task_name(task, entry.backend),
                backend=entry.backend,
                scope_site=site_of(entries),
                reason=entry.reason,
                catch_site=None,
                latency=latency,
                stack=stack,
            )
        )
    return reports


def _busy_elsewhere(entry: Entry) -> str:
    """The loop thread's stack when it is running a step of some other task
    (a coroutine frame is on it): that task holds the loop, so the suspended
    tasks of the stuck scope cannot be resumed to receive the cancellation.
    "" when the loop thread waits for I/O (no coroutine frame)."""
    frame = sys._current_frames().get(entry.thread)
    entries = frame_stack(frame)
    probe = frame
    while probe is not None:
        if probe.f_code.co_flags & _CO_COROUTINE:
            return format_stack(
                entries, title="the event loop is held by other code; its thread's stack"
            )
        probe = probe.f_back
    return ""


_CO_COROUTINE = 0x80  # inspect.CO_COROUTINE (inspect is a heavy import)


def ended(entry: Entry, how: str) -> list[Report]:
    """The end of a stuck cancellation, one report per task its stuck
    reports named (a group's scope: its children too): it landed (after its
    latency), or *how* says the scope was left first (its body finished
    before the cancellation could reach the task, say a deadline that passed
    during a blocking call): then no latency, since nothing landed."""
    task = entry.task() if entry.task is not None else None
    return [
        Report(
            kind="landed",
            task=name,
            backend=entry.backend,
            scope_site=None,
            reason=entry.reason,
            catch_site=None,
            latency=None if how else monotonic() - entry.requested,
            stack=how,
        )
        for name in entry.names or [task_name(task, entry.backend)]
    ]
