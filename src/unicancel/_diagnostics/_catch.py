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
import itertools
import os
import sys
import weakref
from asyncio import CancelledError as _AsyncioCancelled
from contextlib import suppress
from types import CodeType, FrameType
from typing import Any, NamedTuple

from ._sites import TOOLS_DIR, Entry, handler_line, is_library, short

__all__ = [
    "Caught",
    "available",
    "caught_in",
    "forget",
    "forget_since",
    "start_catch_monitoring",
]


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
    #: The mark put on the exception caught (see _mark; no reference: it
    #: holds frames), to tell it re-raised from another cancellation.
    exc_id: int = 0
    #: The catch this one came after, still standing (an ``except`` that
    #: caught another cancellation and may re-raise it); a short chain.
    prior: Caught | None = None


#: The opcode after PUSH_EXC_INFO in a with statement's handler (3.12-3.15).
_WITH_EXCEPT_START = bytes([dis.opmap["WITH_EXCEPT_START"]])

#: trio tasks' records, by id(task): (a weak reference to it, its record);
#: the weak reference's callback drops the entry when the task goes. (By id:
#: a WeakKeyDictionary makes a weak reference at every lookup.)
_trio_records: dict[int, tuple[weakref.ref[Any], Caught]] = {}
_tool: int | None = None
available = sys.version_info >= (3, 12)


def caught_in(task: object) -> Caught | None:
    """The last cancellation caught in *task* (and forget it). asyncio tasks
    keep theirs on themselves (see _backends/asyncio/_private), trio's are
    in a table by id (trio tasks take no attributes)."""
    record: Caught | None = getattr(task, "_unicancel_caught", None)
    if record is not None:
        task._unicancel_caught = None  # type: ignore[attr-defined]
        return record
    entry = _trio_records.get(id(task))
    if entry is not None and entry[0]() is task:
        del _trio_records[id(task)]
        return entry[1]
    return None


def forget(task: object) -> None:
    caught_in(task)


def forget_since(task: object, since: float) -> None:
    """trio: forget *task*'s catches made at or after *since* (a scope that
    caught its cancellation, cancelled then: they were that cancellation's);
    an older swallow (an enclosing scope's, before a shielded inner scope
    caught its own) stands."""
    entry = _trio_records.get(id(task))
    if entry is None or entry[0]() is not task:
        return
    record: Caught | None = entry[1]
    while record is not None and record.when >= since:
        record = record.prior
    if record is None:
        _drop(id(task))
    else:
        _trio_records[id(task)] = (entry[0], record)


def _on_handled(code: CodeType, offset: int, exc: BaseException) -> Any:
    # Runs for every exception handled in the process: return early and
    # cheaply for anything but a cancellation.
    cls = type(exc)
    if cls is not _AsyncioCancelled:  # (the common case first: one test)
        name = cls.__name__
        if name != "CancelledError" and name != "Cancelled":
            return None
        module = cls.__module__
        if module.startswith("trio"):
            known = _handlers.get((id(code), offset))
            trusted = known is not None and known[3] is code and known[1] == _TRUSTED
            if trusted and not _trio_records:
                return None  # trio's own, no record to end: what _trio_handled does
            _trio_handled(code, offset, exc, sys._getframe(1))
            return None
        if not module.startswith(("asyncio", "concurrent")):
            return None
    known = _handlers.get((id(code), offset))  # _handler(), inlined
    if known is None or known[3] is not code:
        known = _handler(code, offset)
    here, kind, by_with, _ = known
    if kind >= _TRUSTED:  # _TRUSTED or _ASYNCIO
        # asyncio's own code and unicancel's handle it and re-raise (the
        # delivery counts tell a swallow exactly): skip the common case
        # (an asyncio.sleep() cancelled is four handlers) cheaply.
        return None
    found = _asyncio_task()
    if found is not None:
        old = getattr(found, "_unicancel_caught", None)
        if by_with and old is not None and old.exc_id != getattr(exc, "_unicancel_mark", 0):
            return None  # _stack() would keep *old*: a scope catching its own
        new = _record(here, kind, by_with, exc, 0.0, sys._getframe(1))
        found._unicancel_caught = _stack(old, new)
    return None


_marks = itertools.count(1)


def _mark(exc: BaseException) -> int:
    """A number that names *exc* while it lives (id() does not: a swallowed
    cancellation is freed at once, and the next one often gets its id)."""
    mark: int | None = getattr(exc, "_unicancel_mark", None)
    if mark is None:
        mark = next(_marks)
        with suppress(AttributeError):  # every exception takes attributes; just in case
            exc._unicancel_mark = mark  # type: ignore[attr-defined]
    return mark


def _stack(old: Caught | None, new: Caught) -> Caught | None:
    """The record after *new* (a catch by a user or library frame),
    given the one before. The same exception caught again was re-raised: the
    earlier catch did not swallow it (the new one may). A ``with`` statement
    that catches another cancellation is a scope catching its own (a shielded
    inner scope, a timeout behind a shield): the swallow before it stands.
    With none before it, the ``with`` is recorded (asyncio's counts name it
    as the catch site of a contextlib.suppress; trio does not judge it: too
    many scopes catch their own this way)."""
    if old is not None and old.exc_id == new.exc_id:
        old = old.prior
    if old is None:
        return new  # (_record leaves prior None)
    if new.by_with:
        return old
    if _depth(old) >= 8:
        return new  # bounded: an except re-raising into eight more
    # Not new._replace(prior=old): a catch of every cancellation pays this.
    return Caught(
        new.site, new.library_site, new.when, new.user, new.reason, new.by_with, new.exc_id, old
    )


def _depth(record: Caught) -> int:
    depth = 0
    prior: Caught | None = record
    while prior is not None:
        depth += 1
        prior = prior.prior
    return depth


def _trio_handled(code: CodeType, offset: int, exc: BaseException, frame: FrameType) -> None:
    here, kind, by_with, _ = _handler(code, offset)
    if kind == _THROUGH:
        return
    trio: Any = sys.modules["trio"]
    if kind == _TRUSTED:
        # trio's own handling or unicancel's, right by construction. It ends
        # a swallow's record only when it catches the swallowed Cancelled
        # itself (re-raised after all: user code did not swallow it) or the
        # run loop catches one leaving the task (the task died of it). Any
        # other is a Cancelled of trio's own: a native scope inside
        # trio.sleep() catching its deadline behind a shield, the abort code
        # of a cancel this task delivers to another: not a re-delivery.
        if _trio_records:
            with suppress(RuntimeError):  # not in a task
                key = id(trio.lowlevel.current_task())
                held = _trio_records.get(key)
                if held is None:
                    pass
                elif _run_loop(frame):
                    _drop(key)  # whatever it swallowed before, it died of one
                elif held[1].exc_id == getattr(exc, "_unicancel_mark", None):
                    if held[1].prior is None:
                        _drop(key)
                    else:
                        _trio_records[key] = (held[0], held[1].prior)
        return
    try:
        task = trio.lowlevel.current_task()
    except RuntimeError:
        return
    key = id(task)
    entry = _trio_records.get(key)
    old = entry[1] if entry is not None and entry[0]() is task else None
    if by_with:
        # A with statement catching (a scope its own cancellation, every
        # round trip): trio judges its record as no record (see _swallow), so
        # none is made; what _stack() would do to the one before, done here.
        if old is not None and old.exc_id == getattr(exc, "_unicancel_mark", 0):
            if old.prior is None:
                _drop(key)
            else:
                _trio_records[key] = (entry[0], old.prior)  # type: ignore[index]
        return
    try:
        when = trio.current_time()
    except RuntimeError:
        return
    record = _stack(old, _record(here, kind, by_with, exc, when, frame))
    if record is None:
        _drop(key)
    elif entry is not None and entry[0]() is task:
        _trio_records[key] = (entry[0], record)
    else:
        _trio_records[key] = (weakref.ref(task, lambda _: _drop(key)), record)


def _run_loop(frame: FrameType | None) -> bool:
    """Whether *frame* (a trusted handler's) is trio's run loop catching what
    a task's step raised: a plain generator (unrolled_run), with no
    coroutine among its callers. (Not outcome.capture() run by the loop for
    a cancel it delivers: a plain function.)"""
    if frame is None or not frame.f_code.co_flags & 0x20:  # CO_GENERATOR
        return False
    while frame is not None:
        if frame.f_code.co_flags & _COROUTINE_FLAGS:
            return False
        frame = frame.f_back
    return True


def _drop(key: int) -> None:
    _trio_records.pop(key, None)


def _record(
    here: str, kind: int, by_with: bool, exc: BaseException, when: float, frame: FrameType
) -> Caught:
    """The record of a catch by *frame*'s handler at *here*."""
    reason = getattr(exc, "reason", None)
    reason = reason if isinstance(reason, str) else None
    if kind == _TRUSTED:
        # trio's or unicancel's own handling (a nursery, a task group): right
        # by construction, never a swallow; it replaces an older record.
        return Caught(here, here, when, False, reason, by_with, _mark(exc))
    if kind in (_LIBRARY, _ASYNCIO):
        # _getframe(2): the handler's frame (above _on_handled).
        user = _first_user(_task_frames(frame.f_back))
        return Caught(user or here, here, when, user is not None, reason, by_with, _mark(exc))
    return Caught(here, "", when, True, reason, by_with, _mark(exc))


_USER, _LIBRARY, _TRUSTED, _ASYNCIO, _THROUGH = 0, 1, 2, 3, 4
#: Handlers that always re-raise: an await's CLEANUP_THROW (what is thrown
#: into the awaited coroutine passes through it) and an except block's
#: cleanup (COPY, POP_EXCEPT, RERAISE). Never a catch: not recorded (every
#: cancelled await would pay a record otherwise).
_CLEANUP_THROW = dis.opmap["CLEANUP_THROW"] if available else -1
_COPY, _POP_EXCEPT = dis.opmap["COPY"], dis.opmap["POP_EXCEPT"]
_ASYNCIO_DIR = os.path.join(os.path.dirname(os.__file__), "asyncio", "")
#: (id(code), offset) -> (site, kind, by_with, code): a handler is
#: classified once. Keyed by id: hashing a code object hashes its contents.
_handlers: dict[tuple[int, int], tuple[str, int, bool, CodeType]] = {}


def _handler(code: CodeType, offset: int) -> tuple[str, int, bool, CodeType]:
    key = (id(code), offset)
    known = _handlers.get(key)
    if known is None or known[3] is not code:
        filename = code.co_filename
        site = f"{short(filename)}:{handler_line(code, offset) or code.co_firstlineno}"
        if filename.startswith(_trusted_dirs()) and not filename.startswith(TOOLS_DIR):
            kind = _TRUSTED
        elif filename.startswith(_ASYNCIO_DIR):
            kind = _ASYNCIO
        elif is_library(filename):
            kind = _LIBRARY
        else:
            kind = _USER
        by_with = code.co_code[offset + 2 : offset + 3] == _WITH_EXCEPT_START
        ops = code.co_code[offset : offset + 3]
        through = len(ops) == 3 and (
            ops[0] == _CLEANUP_THROW or (ops[0] == _COPY and ops[2] == _POP_EXCEPT)
        )
        if through and kind in (_USER, _LIBRARY):
            kind = _THROUGH
        known = (site, kind, by_with, code)
        if len(_handlers) >= 10_000:
            _handlers.clear()  # bounded; code objects only, never a frame
        _handlers[key] = known
    return known


def _asyncio_task() -> Any:
    from .._backends.asyncio._private import task_or_none

    global _asyncio_task
    _asyncio_task = task_or_none  # once imported, call it directly
    return task_or_none()


#: Code flags of coroutines and generators (inspect.CO_*): the frames of a task.
_ASYNC_FLAGS = 0x20 | 0x80 | 0x100 | 0x200
#: ...of coroutines only (trio's run loop is a plain generator).
_COROUTINE_FLAGS = 0x80 | 0x100 | 0x200


def _task_frames(frame: FrameType | None) -> list[Entry]:
    """The frames of the running task above *frame*: its coroutines, up to
    the event loop's code that steps it (whose callers are not the task's)."""
    entries: list[Entry] = []
    while frame is not None and frame.f_code.co_flags & _ASYNC_FLAGS:
        entries.append((frame.f_code.co_filename, frame.f_lineno or 0, frame.f_code.co_name))
        frame = frame.f_back
    return entries


def _trusted_dirs() -> tuple[str, ...]:
    """unicancel's directory, and trio's (with outcome, which trio uses to
    deliver Cancelled) once trio is imported."""
    global _trusted
    if _trusted is None or (len(_trusted) == 1 and "trio" in sys.modules):
        dirs = [os.path.dirname(os.path.dirname(os.path.abspath(__file__)))]
        for name in ("trio", "outcome"):
            module = sys.modules.get(name)
            if module is not None and module.__file__:
                dirs.append(os.path.dirname(module.__file__))
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


def monitoring_active() -> bool:
    """Whether catch sites are being recorded (False on 3.11, or when every
    sys.monitoring tool id we may use was taken by another tool)."""
    return _tool is not None


def stop_catch_monitoring() -> None:
    global _tool
    if _tool is None:
        return
    monitoring = sys.monitoring  # type: ignore[attr-defined,unused-ignore]
    monitoring.set_events(_tool, 0)
    monitoring.register_callback(_tool, monitoring.events.EXCEPTION_HANDLED, None)
    monitoring.free_tool_id(_tool)
    _tool = None
    _trio_records.clear()
    _handlers.clear()
