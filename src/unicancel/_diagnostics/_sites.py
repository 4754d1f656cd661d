"""Sites and stacks as users read them: user frames first, library frames
(unicancel, the standard library, installed packages) named after them."""

from __future__ import annotations

import gc
import os
import sys
import sysconfig
from types import CodeType, FrameType
from typing import Any

__all__ = [
    "asyncio_task_name",
    "await_chain",
    "format_stack",
    "frame_stack",
    "handler_line",
    "is_library",
    "site_of",
]

Entry = tuple[str, int, str]  # (filename, line, function)

#: Extra library directories (tests use it to stand in for an installed package).
EXTRA_LIBRARY_DIRS: list[str] = []


def _library_dirs() -> tuple[str, ...]:
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the unicancel package
    dirs = {here}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = sysconfig.get_paths().get(key)
        if path:
            dirs.add(os.path.abspath(path))
    return tuple(d.rstrip(os.sep) + os.sep for d in dirs)


#: Found at the first question, not at import: ``python -W
#: error::unicancel.diagnostics.CancelDiagnosticWarning`` imports this before
#: the ``site`` module has run, when sysconfig does not know a virtual
#: environment's site-packages yet (trio's frames then looked like the user's:
#: a group child's swallow named its scope in trio's code).
_LIBRARY_DIRS: tuple[str, ...] | None = None
#: Installed packages, wherever they are (another environment's too).
_PACKAGES = (f"{os.sep}site-packages{os.sep}", f"{os.sep}dist-packages{os.sep}")
#: unicancel's command-line tools run example programs (the compare catalogue,
#: the demo): their code is the user's code, wherever unicancel is installed.
TOOLS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "_tools", "")
#: ...except the runner of ``python -m unicancel diagnose``: below a running
#: program's frames (a CPU loop's stack), it is library code.
_DIAGNOSE_RUNNER = os.path.join(TOOLS_DIR, "diagnose.py")
_classified: dict[str, bool] = {}


def is_library(filename: str) -> bool:
    """Whether *filename* is library code (not the user's)."""
    known = _classified.get(filename)
    if known is None:
        if filename.startswith("<"):  # <frozen ...>, <string>
            known = True
        else:
            global _LIBRARY_DIRS
            if _LIBRARY_DIRS is None:
                _LIBRARY_DIRS = _library_dirs()
            path = os.path.abspath(filename)
            extra = tuple(d.rstrip(os.sep) + os.sep for d in EXTRA_LIBRARY_DIRS)
            known = (
                path.startswith(_LIBRARY_DIRS + extra) or any(p in path for p in _PACKAGES)
            ) and (not path.startswith(TOOLS_DIR) or path == _DIAGNOSE_RUNNER)
        if not EXTRA_LIBRARY_DIRS:  # the test knob changes answers: cache only without it
            _classified[filename] = known
    return known


_shortened: dict[str, str] = {}


def short(filename: str) -> str:
    """*filename* relative to the working directory if below it (cached:
    relpath costs tens of microseconds, and a catch record needs it)."""
    known = _shortened.get(filename)
    if known is None:
        try:
            rel = os.path.relpath(filename)
        except ValueError:  # another drive (Windows)
            rel = filename
        known = filename if rel.startswith("..") else rel
        if len(_shortened) < 10_000:
            _shortened[filename] = known
    return known


def site(entry: Entry) -> str:
    return f"{short(entry[0])}:{entry[1]}"


def site_of(entries: list[Entry]) -> str | None:
    """The innermost user site of *entries* (innermost first), else the innermost one."""
    for entry in entries:
        if not is_library(entry[0]):
            return site(entry)
    return site(entries[0]) if entries else None


def frame_stack(frame: FrameType | None, limit: int = 60) -> list[Entry]:
    """Entries of *frame* and its callers, innermost first."""
    entries: list[Entry] = []
    while frame is not None and len(entries) < limit:
        code = frame.f_code
        entries.append((code.co_filename, frame.f_lineno or code.co_firstlineno, code.co_name))
        frame = frame.f_back
    return entries


def await_chain(coro: Any, limit: int = 60) -> tuple[list[Entry], str]:
    """Where a suspended coroutine waits: its await chain, innermost first,
    and a description of what the innermost awaits (a future, a task...)."""
    outer_first: list[Entry] = []
    obj = coro
    bottom = ""
    while obj is not None and len(outer_first) < limit:
        frame = getattr(obj, "cr_frame", None) or getattr(obj, "gi_frame", None)
        if frame is None:
            frame = getattr(obj, "ag_frame", None)
        if frame is None:
            inner = _delegate(obj)
            if inner is None:
                bottom = _describe(obj)
                break
            obj = inner
            continue
        code = frame.f_code
        outer_first.append((code.co_filename, frame.f_lineno or code.co_firstlineno, code.co_name))
        obj = (
            getattr(obj, "cr_await", None)
            or getattr(obj, "gi_yieldfrom", None)
            or getattr(obj, "ag_await", None)
        )
    outer_first.reverse()
    return outer_first, bottom


def _delegate(wrapper: object) -> Any:
    """The coroutine behind a frameless wrapper (``coro.__await__()``, an
    async generator's asend()): reachable only through its referents."""
    name = type(wrapper).__name__
    if name in ("coroutine_wrapper", "async_generator_asend", "async_generator_athrow"):
        for ref in gc.get_referents(wrapper):
            if hasattr(ref, "cr_frame") or hasattr(ref, "ag_frame") or hasattr(ref, "gi_frame"):
                return ref
    return None


def _describe(obj: object) -> str:
    text = repr(obj)
    return text if len(text) <= 200 else text[:197] + "..."


def format_stack(entries: list[Entry], *, title: str, bottom: str = "") -> str:
    """*entries* (innermost first) as text: user frames first, then the library ones."""
    user = [e for e in entries if not is_library(e[0])]
    library = [e for e in entries if is_library(e[0])]
    lines = [f"  {title} (innermost first):"]
    if bottom:
        lines.append(f"    awaiting {bottom}")
    lines.extend(f"    {site(e)} in {e[2]}" for e in user)
    if library:
        lines.append("  library frames:")
        lines.extend(f"    {site(e)} in {e[2]}" for e in library)
    return "\n".join(lines)


def handler_line(code: CodeType, offset: int) -> int | None:
    """The line of the handler (``except``, ``finally``, ``with``) starting at
    *offset* in *code*, as sys.monitoring's EXCEPTION_HANDLED reports it: the
    first instruction with a line at or after it (PUSH_EXC_INFO has none)."""
    for _start, end, line in code.co_lines():
        if end > offset and line is not None:
            return line
    return None


def this_frame_site(depth: int) -> str | None:
    """The innermost user site of the caller's stack (*depth* frames up)."""
    return site_of(frame_stack(sys._getframe(depth + 1)))


def asyncio_task_name(task: Any) -> str:
    """*task*'s name, for a report. Python 3.13.0's ``create_task`` through a
    task factory calls ``set_name(None)`` when no name was given, naming the
    task 'None' (3.11, 3.12 and 3.14 name it Task-N): such a task is named
    after its coroutine, as trio names tasks."""
    name = str(task.get_name())
    if name == "None":
        qualname = getattr(task.get_coro(), "__qualname__", None)
        if qualname:
            return f"<unnamed task: {qualname}>"
    return name
