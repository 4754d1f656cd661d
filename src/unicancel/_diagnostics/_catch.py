"""Where a cancellation was caught: ``sys.monitoring``'s EXCEPTION_HANDLED
event (Python 3.12+) tells which handler caught each cancelled exception.

The per-task record keeps only text and a time, in a table with weak keys
(no task, frame or code object is kept alive by it). Python 3.11 has no
sys.monitoring: catch sites are then unknown (reports say so), and trio's
swallowed cancellations cannot be told from ones that never reached a
checkpoint, so they are not reported there.
"""

from __future__ import annotations

import dis
import os
import sys
import weakref
from contextlib import suppress
from types import CodeType, FrameType
from typing import Any, NamedTuple

from ._sites import Entry, handler_line, is_library, short

__all__ = ["Caught", "available", "caught_in", "forget", "start_catch_monitoring"]


class Caught(NamedTuple):
    #: "file:line" of the handler, or of the user's call into the library that caught.
    site: str
    #: The library handler when a library frame caught ("" otherwise).
    library_site: str
    #: trio: trio.current_time() when it was caught (0.0 on asyncio).
    when: float
    #: Whether a user frame caught it or called the library that did.
    user: bool
    #: The cancellation's reason (trio's ``Cancelled.reason``), if any.
    reason: str | None
    #: Caught by a ``with`` statement (a context manager's ``__exit__``
    #: returned true), not by an ``except`` clause.
    by_with: bool


_TRIO_RUNNER = os.path.join("trio", "_core", "_run.py")
#: The opcode after PUSH_EXC_INFO in a with statement's handler (3.12-3.15).
_WITH_EXCEPT_START = bytes([dis.opmap["WITH_EXCEPT_START"]])

_records: weakref.WeakKeyDictionary[Any, Caught] = weakref.WeakKeyDictionary()
_tool: int | None = None
available = sys.version_info >= (3, 12)


def caught_in(task: object) -> Caught | None:
    """The last cancellation caught in *task* (and forget it)."""
    try:
        return _records.pop(task, None)
    except TypeError:  # not weakly referenceable
        return None


def forget(task: object) -> None:
    with suppress(TypeError):
        _records.pop(task, None)


def _on_handled(code: CodeType, offset: int, exc: BaseException) -> Any:
    name = type(exc).__name__
    if name != "CancelledError" and name != "Cancelled":
        return None
    module = type(exc).__module__
    when = 0.0
    if module.startswith("trio"):
        import trio

        try:
            task: object = trio.lowlevel.current_task()
            when = trio.current_time()
        except RuntimeError:
            return None
        if code.co_name == "unrolled_run" and code.co_filename.endswith(_TRIO_RUNNER):
            # trio's run loop caught it as it left the task: the task died of
            # it, so whatever caught it before re-raised it.
            forget(task)
            return None
    elif module.startswith(("asyncio", "concurrent")):
        from .._backends.asyncio._private import task_or_none

        found = task_or_none()
        if found is None:
            return None
        task = found
    else:
        return None
    frame = sys._getframe(1)
    line = handler_line(code, offset) or frame.f_lineno
    here = f"{short(code.co_filename)}:{line}"
    by_with = code.co_code[offset + 2 : offset + 3] == _WITH_EXCEPT_START
    reason = getattr(exc, "reason", None)
    reason = reason if isinstance(reason, str) else None
    if code.co_filename.startswith(_trusted_dirs()):
        # trio's or unicancel's own handling (a nursery, a task group): right
        # by construction, never a swallow; it replaces an older record.
        record = Caught(here, here, when, False, reason, by_with)
    elif is_library(code.co_filename):
        user = _first_user(_task_frames(frame.f_back))
        record = Caught(user or here, here, when, user is not None, reason, by_with)
    else:
        record = Caught(here, "", when, True, reason, by_with)
    with suppress(TypeError):  # not weakly referenceable
        _records[task] = record
    return None


#: Code flags of coroutines and generators (inspect.CO_*): the frames of a task.
_ASYNC_FLAGS = 0x20 | 0x80 | 0x100 | 0x200


def _task_frames(frame: FrameType | None) -> list[Entry]:
    """The frames of the running task above *frame*: its coroutines, up to
    the event loop's code that steps it (whose callers are not the task's)."""
    entries: list[Entry] = []
    while frame is not None and frame.f_code.co_flags & _ASYNC_FLAGS:
        entries.append((frame.f_code.co_filename, frame.f_lineno or 0, frame.f_code.co_name))
        frame = frame.f_back
    return entries


def _trusted_dirs() -> tuple[str, ...]:
    global _trusted
    if _trusted is None:
        dirs = [os.path.dirname(os.path.dirname(os.path.abspath(__file__)))]
        trio = sys.modules.get("trio")
        if trio is not None and trio.__file__:
            dirs.append(os.path.dirname(trio.__file__))
        else:
            return (dirs[0] + os.sep,)  # trio may come later: do not cache yet
        _trusted = tuple(d + os.sep for d in dirs)
    return _trusted


_trusted: tuple[str, ...] | None = None


def _first_user(entries: list[Entry]) -> str | None:
    for filename, line, _ in entries:
        if not is_library(filename):
            return f"{short(filename)}:{line}"
    return None


def start_catch_monitoring() -> None:
    global _tool
    if not available or _tool is not None:
        return
    monitoring = sys.monitoring  # type: ignore[attr-defined,unused-ignore]
    for tool in (4, 3):  # the ids Python leaves unnamed (debuggers, coverage use 0-2, 5)
        if monitoring.get_tool(tool) is None:
            monitoring.use_tool_id(tool, "unicancel.diagnostics")
            break
    else:
        return  # every free id is taken: catch sites stay unknown
    _tool = tool
    event = monitoring.events.EXCEPTION_HANDLED
    monitoring.register_callback(tool, event, _on_handled)
    monitoring.set_events(tool, event)


def stop_catch_monitoring() -> None:
    global _tool
    if _tool is None:
        return
    monitoring = sys.monitoring  # type: ignore[attr-defined,unused-ignore]
    monitoring.set_events(_tool, 0)
    monitoring.register_callback(_tool, monitoring.events.EXCEPTION_HANDLED, None)
    monitoring.free_tool_id(_tool)
    _tool = None
    _records.clear()
