"""Swallowed cancellations: a cancellation a unicancel scope delivered was
caught and not re-raised, and the task went on.

asyncio counts its deliveries per scope, so the answer is exact: a scope
that exits normally (no exception) although it delivered a cancellation,
and a task that returns normally after a cancellation of an enclosing,
still-open scope (a task group's) reached it. trio delivers by itself: a
cancelled scope that exits normally either swallowed a ``Cancelled`` or
never reached a checkpoint; the catch record (3.12+, see _catch) tells them
apart: an ``except`` clause caught a ``Cancelled`` in that task after the
scope was cancelled (a ``with`` statement's context manager is not counted:
it is usually a native trio scope catching its own).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from .._core._contract import effectively_cancelled
from .._core._scope_state import _ACTIVE
from ._catch import Caught, available, caught_in, forget_since, monitoring_active
from ._dispatch import dispatch, first_report
from ._report import Report
from ._sites import asyncio_task_name, await_chain, frame_stack, site_of

__all__ = [
    "asyncio_scope_exited",
    "asyncio_task_done",
    "carries",
    "scope_site",
    "trio_scope_exited",
]


def scope_site(scope: Any, host: object, coro: Any) -> str | None:
    """Where *scope* was entered, as far as we can see: the user frame that
    exits it (when called from its exit), else the innermost user frame of
    its task's await chain (where the `with`/`async with` block waits)."""
    if coro is None:
        return site_of(frame_stack(sys._getframe(2)))
    if getattr(coro, "cr_running", False) or getattr(coro, "gi_running", False):
        return None
    entries, _ = await_chain(coro)
    return site_of(entries)


def _report(
    task_name: str,
    backend: str,
    site: str | None,
    reason: str | None,
    caught: Caught | None,
    *,
    in_user_code: bool = True,
) -> None:
    if caught is None:
        detail = (
            "  catch site unknown: Python 3.11 cannot tell which handler caught it (3.12+ can)"
            if not available
            else "  catch site unknown: no Python handler caught it (a C extension?)"
            if monitoring_active()
            else "  catch site unknown: sys.monitoring tool ids 3 and 4 were taken by other tools"
        )
        catch_site = None
    else:
        catch_site = caught.site
        detail = (
            f"  caught inside a library, at {caught.library_site}, called from {caught.site}"
            if caught.library_site
            else ""
        )
    report = Report(
        kind="swallowed",
        task=task_name,
        backend=backend,
        scope_site=site,
        reason=reason,
        catch_site=catch_site,
        latency=None,
        stack=detail,
    )
    if first_report(report):
        # A warning filtered as an error is raised only where user code runs
        # (a scope's exit); from a loop callback or a trio instrument it would
        # cut unicancel's delivery batch short or disable the instrument.
        dispatch(report, in_loop=in_user_code)


def asyncio_scope_exited(scope: Any, host: Any, exc: BaseException | None) -> None:
    if exc is not None:
        return
    if not scope._cancel_called and effectively_cancelled(scope._parent):
        # Still inside a cancelled scope: the next await is cancelled again
        # (level-triggered); whether that one is swallowed is judged later.
        return
    reason = scope.cancel_reason
    site = scope_site(scope, host, None)
    _report(asyncio_task_name(host), "asyncio", site, reason, caught_in(host))


def asyncio_task_done(task: Any, target: Any) -> None:
    if target._state != _ACTIVE or task.cancelled() or task.exception() is not None:
        return  # died of it, failed, or the scope that cancelled it caught it
    host = target._host
    site = scope_site(target, host, host.get_coro() if host is not None else None)
    _report(
        asyncio_task_name(task),
        "asyncio",
        site,
        target.cancel_reason,
        caught_in(task),
        in_user_code=False,  # called from unicancel's delivery batch (a loop callback)
    )


def trio_task_exited(task: Any) -> None:
    """trio: *task* finished; it swallowed a cancellation if an ``except``
    clause caught a Cancelled last and none left the task after it."""
    caught = caught_in(task)
    if caught is None or caught.by_with or not caught.user:
        # Nothing caught; a cancel scope (or other context manager) did; or
        # trio's own code did in a task of its own (a system task).
        return
    parent = task.parent_nursery.parent_task if task.parent_nursery is not None else None
    site = scope_site(None, parent, parent.coro) if parent is not None else None
    _report(task.name, "trio", site, caught.reason, caught, in_user_code=False)  # an Instrument


def carries(exc: BaseException | None, cancelled: type[BaseException]) -> bool:
    """Whether *exc* is a *cancelled*, holds one (a group), or was raised
    while one was handled (a `finally` that raised after the cancellation
    landed): whether the cancellation reached the task."""
    seen = 0
    while exc is not None and seen < 50:  # a context chain can be long (or cyclic)
        if isinstance(exc, cancelled):
            return True
        if isinstance(exc, BaseExceptionGroup) and exc.subgroup(cancelled) is not None:
            return True
        exc = exc.__context__
        seen += 1
    return False


def _trio_cancelled() -> type[BaseException]:
    import trio

    return trio.Cancelled


def trio_scope_exited(
    scope: Any,
    host: Any,
    remaining: BaseException | None,
    since: float,
    ended: Callable[[bool], None],
) -> None:
    """*scope*, cancelled, exits in *host*: report a swallow, after calling
    *ended* with whether the cancellation reached the task (the order of
    asyncio's reports: "landed" first, then "swallowed")."""
    native = scope._native
    if remaining is not None or native.cancelled_caught or not native.cancel_called:
        # A cancellation handled as it should be: forget where, but not a
        # swallow from before it was cancelled (a shielded inner scope that
        # caught its own deadline inside an enclosing scope that swallowed).
        forget_since(host, since)
        ended(native.cancelled_caught or carries(remaining, _trio_cancelled()))
        return
    caught = caught_in(host)
    if caught is None or not caught.user or caught.when < since:
        ended(False)  # never reached a checkpoint while cancelled: nothing was swallowed
        return
    if caught.by_with:
        # A context manager's __exit__ swallowed it: most likely a native
        # trio scope (trio.move_on_after) catching its own cancellation
        # while ours was shielded away, which is right. (contextlib.suppress
        # of Cancelled goes unreported on trio; asyncio's counts catch it.)
        ended(False)
        return
    ended(True)
    _report(host.name, "trio", scope_site(scope, host, None), scope.cancel_reason, caught)
