"""Tasks that outlive their run: still running when the main function of
``unicancel.run``/``run_graceful`` finished (``asyncio.run`` would then
cancel them silently, SCENARIOS 8), or after :func:`check_outlived` is
called at the end of a main run by ``asyncio.run`` (the opt-in there).

While diagnostics are on, ``unicancel.run`` installs a task factory on its
loop (chaining any factory already set) that notes, on each new task, who
created it, where, and inside which unicancel scope: a bare ``create_task``
child that escaped a cancelled scope (SCENARIOS 4) is then named with it.
"""

from __future__ import annotations

import sys
import weakref
from collections.abc import Iterable
from contextlib import suppress
from typing import Any

from ._dispatch import dispatch
from ._report import Report
from ._sites import asyncio_task_name, await_chain, format_stack, frame_stack, site_of

__all__ = ["check_outlived", "install_task_factory"]


def install_task_factory() -> None:
    import asyncio

    from .._backends.asyncio._delivery import innermost

    loop = asyncio.get_running_loop()
    previous = loop.get_task_factory()

    def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> Any:
        creator = asyncio.current_task(loop)
        site = site_of(frame_stack(sys._getframe(1)))
        scope = innermost(creator) if creator is not None else None
        task: Any
        if previous is not None:
            task = previous(loop, coro, **kwargs)
        else:
            task = asyncio.Task(coro, loop=loop, **kwargs)
        with suppress(AttributeError):  # a factory's own task class without a __dict__
            task._unicancel_origin = (
                creator.get_name() if creator is not None else None,
                site,
                weakref.ref(scope) if scope is not None else None,
            )
        return task

    loop.set_task_factory(factory)


def _ownership(task: Any) -> tuple[str | None, str]:
    origin = getattr(task, "_unicancel_origin", None)
    if origin is None:
        return None, "no task group owned it (created with a bare create_task?)"
    creator, site, scope_ref = origin
    scope = scope_ref() if scope_ref is not None else None
    by = f"created by task {creator!r}" if creator else "created outside any task"
    if scope_ref is None:
        # (Outside any task is outside any scope: said once.)
        where = "" if not creator else " outside any unicancel scope"
        return site, by + where + ", with a bare create_task"
    if scope is not None and scope.cancel_called:
        reason = scope.cancel_reason
        return site, (
            by
            + " inside a unicancel scope that was cancelled"
            + (f" ({reason})" if reason else "")
            + ", which a bare create_task child does not follow: it escaped"
        )
    return site, by + " inside a unicancel scope, with a bare create_task (not owned by it)"


def check_outlived(tasks: Iterable[Any] | None = None) -> list[Report]:
    """Report tasks still running now (call it at the end of your main, e.g.
    under ``asyncio.run``; ``unicancel.run`` calls it for you while
    diagnostics are on). With *tasks*, check those; otherwise every task of
    the running asyncio loop but the current one (on trio nothing can
    outlive the main task: its nurseries wait for their children, so only
    *tasks* given are checked). Each report is also dispatched."""
    reports: list[Report] = []
    if tasks is None:
        tasks = _leftovers()
    elif isinstance(tasks, (str, bytes)) or not hasattr(tasks, "__iter__"):
        raise TypeError(
            f"unicancel: check_outlived() takes an iterable of tasks (or None for every "
            f"task of the running asyncio loop), got {tasks!r}"
        )
    checked: list[Any] = []
    for task in tasks:
        if not _is_task(task):
            raise TypeError(
                f"unicancel: check_outlived() checks asyncio or trio tasks, got {task!r}"
            )
        if any(task is seen for seen in checked):
            continue  # listed twice: one report
        checked.append(task)
    for task in checked:
        report = _describe(task)
        if report is not None:
            reports.append(report)
            dispatch(report)
    return reports


def _is_task(task: object) -> bool:
    if "asyncio" in sys.modules:
        import asyncio

        if isinstance(task, asyncio.Task):
            return True
    if "trio" in sys.modules:
        import trio

        return isinstance(task, trio.lowlevel.Task)
    return False


def _leftovers() -> list[Any]:
    if "asyncio" not in sys.modules:
        return []
    import asyncio

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return []
    current = asyncio.current_task(loop)
    found = [t for t in asyncio.all_tasks(loop) if t is not current]
    found.sort(key=lambda t: t.get_name())
    return found


def _describe(task: Any) -> Report | None:
    if hasattr(task, "get_coro"):  # asyncio
        if task.done():
            return None
        name, backend, coro = asyncio_task_name(task), "asyncio", task.get_coro()
        site, owner = _ownership(task)
    else:  # trio
        coro = getattr(task, "coro", None)
        if coro is None or getattr(coro, "cr_frame", None) is None:
            return None
        name, backend, site, owner = task.name, "trio", None, "still running"
    entries, bottom = await_chain(coro)
    return Report(
        kind="outlived",
        task=name,
        backend=backend,
        scope_site=site,
        reason=owner,
        catch_site=None,
        latency=None,
        stack=format_stack(entries, title="where it was; its await chain", bottom=bottom),
    )
