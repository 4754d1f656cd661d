"""The programs the differential test generates: a small tree of statements.

A program is a ``main`` block plus child task bodies (``Child``), each a
tuple of statements. Every node carries a label ``n`` unique in the program;
the trace refers to awaits, scopes, groups and probes by it. All nodes are
frozen dataclasses whose ``repr`` is valid Python, so a shrunk program can be
pasted into a regression test as is (``dump`` indents it for reading).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import MISSING, dataclass, fields
from typing import Literal, TypeAlias

__all__ = [
    "Await",
    "AwaitKind",
    "Cancel",
    "CancelGroup",
    "Child",
    "Group",
    "Interrupt",
    "MoveDeadline",
    "Probe",
    "Program",
    "Raise",
    "Repeat",
    "Scope",
    "SetShield",
    "Spawn",
    "Start",
    "Started",
    "Stmt",
    "TryFinally",
    "Work",
    "dump",
    "walk",
]

AwaitKind: TypeAlias = Literal[
    "sleep",  # sleep(seconds) of the backend: asyncio.sleep / trio.sleep
    "checkpoint",
    "checkpoint_if_cancelled",
    "cancel_shielded_checkpoint",
    "sleep_forever",
]


@dataclass(frozen=True)
class Await:
    """One traced await. With ``swallow`` it sits in ``try/except Cancelled``
    and the block continues after a cancellation."""

    n: int
    kind: AwaitKind
    seconds: float = 0.0
    swallow: bool = False


@dataclass(frozen=True)
class Scope:
    """``with <scope>:`` around ``body``.

    ``deadline`` is "none", "abs" (``deadline=T0 + at``, T0 being the
    program's start time; may lie in the past) or "rel" (``relative_deadline=at``).
    ``style`` picks the constructor: ``CancelScope(...)``, ``move_on_*`` or
    ``fail_*`` (the last two need a deadline). ``precancel`` calls ``cancel()``
    before entry.
    """

    n: int
    body: tuple[Stmt, ...]
    deadline: Literal["none", "abs", "rel"] = "none"
    at: float = 0.0
    shield: bool = False
    precancel: bool = False
    style: Literal["CancelScope", "move_on", "fail"] = "CancelScope"


@dataclass(frozen=True)
class SetShield:
    """``s<target>.shield = value`` on a scope enclosing it in the same task."""

    n: int
    target: int
    value: bool


@dataclass(frozen=True)
class MoveDeadline:
    """Move the deadline of a scope enclosing it in the same task:
    ``deadline = T0 + at`` ("abs"), ``relative_deadline = at`` ("rel") or
    ``deadline = inf`` ("none")."""

    n: int
    target: int
    kind: Literal["abs", "rel", "none"]
    at: float = 0.0


@dataclass(frozen=True)
class Cancel:
    """``cancel("r<n>")`` the latest instance of scope ``target``: an enclosing
    scope, one in another task, or one not entered yet / already left (then
    nothing happens, or only ``cancel_called`` changes)."""

    n: int
    target: int


@dataclass(frozen=True)
class CancelGroup:
    """``tg<target>.cancel("r<n>")`` on the latest instance of a task group."""

    n: int
    target: int


@dataclass(frozen=True)
class Probe:
    """Record ``current_effective_deadline()`` (relative to T0)."""

    n: int


@dataclass(frozen=True)
class Raise:
    """``raise <exc>("e<n>")``."""

    n: int
    exc: Literal["ValueError", "KeyError"] = "ValueError"


@dataclass(frozen=True)
class TryFinally:
    """``try: body finally: final`` (``final`` may await)."""

    n: int
    body: tuple[Stmt, ...]
    final: tuple[Stmt, ...]


@dataclass(frozen=True)
class Repeat:
    """``for _ in range(count): body``."""

    n: int
    count: int
    body: tuple[Stmt, ...]


@dataclass(frozen=True)
class Group:
    """``async with TaskGroup() as tg<n>: body``."""

    n: int
    body: tuple[Stmt, ...]


@dataclass(frozen=True)
class Spawn:
    """``tg<group>.start_soon(child_<child>, name)`` inside that group's body."""

    n: int
    group: int
    child: int


@dataclass(frozen=True)
class Start:
    """``await G[group].start(child_<child>, name)``: the latest instance of
    task group ``group``, which may belong to another task (then it may not
    exist yet, or have finished: ``start()`` raises RuntimeError). The child's
    body holds at most one :class:`Started`; until it runs, the child lives in
    the caller's scopes, afterwards in the group."""

    n: int
    group: int
    child: int


@dataclass(frozen=True)
class Started:
    """``task_status.started()`` in the body of a child run by :class:`Start`
    (never inside a ``Repeat``: calling it twice is a plain error)."""

    n: int


@dataclass(frozen=True)
class Work:
    """CPU work: the virtual clock advances by ``seconds`` during the task's
    step, without a schedule point (``time.sleep`` in real code). Deadlines
    pass between two checkpoints."""

    n: int
    seconds: float


@dataclass(frozen=True)
class Interrupt:
    """An outside cancel: ``Task.cancel()`` of the latest task running child
    body ``target`` (0: the main task), from another task. Only the asyncio
    invariant run acts on it (asyncio's edge-triggered ``Task.cancel()`` has no
    trio counterpart that a trace could be compared with); everywhere else it
    does nothing."""

    n: int
    target: int


Stmt: TypeAlias = (
    Await
    | Scope
    | SetShield
    | MoveDeadline
    | Cancel
    | CancelGroup
    | Probe
    | Raise
    | TryFinally
    | Repeat
    | Group
    | Spawn
    | Start
    | Started
    | Work
    | Interrupt
)


@dataclass(frozen=True)
class Child:
    """The body of a child task function ``child_<n>``."""

    n: int
    body: tuple[Stmt, ...]
    started: bool = False  # run by Start: takes task_status


@dataclass(frozen=True)
class Program:
    main: tuple[Stmt, ...]
    children: tuple[Child, ...] = ()

    def child(self, n: int) -> Child:
        for child in self.children:
            if child.n == n:
                return child
        raise KeyError(n)


def _blocks(stmt: Stmt) -> tuple[tuple[Stmt, ...], ...]:
    if isinstance(stmt, TryFinally):
        return (stmt.body, stmt.final)
    if isinstance(stmt, (Scope, Repeat, Group)):
        return (stmt.body,)
    return ()


def walk(block: tuple[Stmt, ...], loops: int = 1) -> Iterator[tuple[Stmt, int]]:
    """Every statement of *block*, depth first, with how many times it runs per
    run of the block because of enclosing ``Repeat`` loops (in one task)."""
    for stmt in block:
        yield stmt, loops
        inner = loops * stmt.count if isinstance(stmt, Repeat) else loops
        for sub in _blocks(stmt):
            yield from walk(sub, inner)


def dump(program: Program) -> str:
    """``repr(program)`` indented: valid Python, for reproducers."""
    return _dump(program, 0)


def _dump(value: object, indent: int) -> str:
    pad = "    " * (indent + 1)
    if isinstance(value, tuple):
        if not value:
            return "()"
        items = [pad + _dump(v, indent + 1) + "," for v in value]
        return "(\n" + "\n".join(items) + "\n" + "    " * indent + ")"
    if hasattr(value, "__dataclass_fields__"):
        parts = []
        for f in fields(value):  # type: ignore[arg-type]
            v = getattr(value, f.name)
            if f.default is not MISSING and v == f.default:
                continue  # leave defaults out
            parts.append(f"{f.name}={_dump(v, indent)}")
        return f"{type(value).__name__}({', '.join(parts)})"
    return repr(value)
