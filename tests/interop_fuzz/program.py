"""Interop programs: random nests of unicancel and native cancellation parts.

A program is the body of the main task: a tuple of statements. Nodes:

* :class:`Scope`: ``with``/``async with`` one of :data:`SCOPES`: unicancel's
  ``CancelScope``/``move_on_after``/``fail_after`` (``shield`` optional),
  anyio's ``CancelScope``/``move_on_after``/``fail_after``,
  ``asyncio.timeout(d)``, ``asyncio.wait_for(body, d)``;
* :class:`Group`: a task group (unicancel's, ``asyncio.TaskGroup``, anyio's)
  with child bodies and a body of its own;
* leaves: :class:`Sleep`, :class:`Fail` (sleep, then raise ValueError),
  :class:`Checkpoint` (unicancel's), :class:`Cancel` (cancel the k-th
  enclosing cancellable scope of the same task chain, counted outwards).

Outside ``Task.cancel()`` calls of the main task happen at virtual times
``Program.outside``. :func:`stand_in` replaces every unicancel part with its
native stand-in (anyio scope, ``asyncio.TaskGroup``), :func:`render` prints a
program as readable pseudo-Python.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from typing import Literal, TypeAlias

__all__ = [
    "SCOPES",
    "Cancel",
    "Checkpoint",
    "Fail",
    "Group",
    "Program",
    "Scope",
    "Sleep",
    "Stmt",
    "generate",
    "has_unicancel",
    "render",
    "stand_in",
]

ScopeKind: TypeAlias = Literal[
    "uni", "uni_move_on", "uni_fail", "anyio", "anyio_move_on", "anyio_fail", "timeout", "wait_for"
]
GroupKind: TypeAlias = Literal["uni", "asyncio", "anyio"]
SCOPES: tuple[ScopeKind, ...] = (
    "uni", "uni_move_on", "uni_fail", "anyio", "anyio_move_on", "anyio_fail", "timeout", "wait_for"
)  # fmt: skip
#: Scope kinds a Cancel statement can target (they have .cancel()).
CANCELLABLE = frozenset(("uni", "uni_move_on", "uni_fail", "anyio", "anyio_move_on", "anyio_fail"))
#: Dyadic durations: every deadline and wake-up is exact on the virtual clock.
DURATIONS = (0.0, 0.25, 0.5, 1.0, 2.0)


@dataclass(frozen=True)
class Sleep:
    n: int
    seconds: float


@dataclass(frozen=True)
class Fail:
    n: int
    seconds: float


@dataclass(frozen=True)
class Checkpoint:
    n: int


@dataclass(frozen=True)
class Cancel:
    n: int
    outward: int  # 0: the innermost enclosing cancellable scope


@dataclass(frozen=True)
class Scope:
    n: int
    kind: ScopeKind
    body: tuple[Stmt, ...]
    seconds: float | None = None  # deadline, relative to entry
    shield: bool = False


@dataclass(frozen=True)
class Group:
    n: int
    kind: GroupKind
    children: tuple[tuple[Stmt, ...], ...]
    body: tuple[Stmt, ...]


Stmt: TypeAlias = Sleep | Fail | Checkpoint | Cancel | Scope | Group


@dataclass(frozen=True)
class Program:
    seed: int
    body: tuple[Stmt, ...]
    outside: tuple[float, ...] = ()  # times of Task.cancel() on the main task
    eager: bool = False  # run with asyncio.eager_task_factory (3.12+)
    notes: tuple[str, ...] = field(default=())


# -- generation ----------------------------------------------------------------


class _Gen:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.n = 0
        self.size = 0

    def label(self) -> int:
        self.n += 1
        return self.n

    def body(self, depth: int, cancellable: int) -> tuple[Stmt, ...]:
        count = self.rng.choice((1, 1, 2, 2, 3))
        return tuple(self.stmt(depth, cancellable) for _ in range(count))

    def stmt(self, depth: int, cancellable: int) -> Stmt:
        rng = self.rng
        self.size += 1
        nested = depth < 4 and self.size < 28
        roll = rng.random()
        if nested and roll < 0.30:
            return self.scope(depth, cancellable)
        if nested and roll < 0.48:
            return self.group(depth, cancellable)
        roll = rng.random()
        if roll < 0.40:
            return Sleep(self.label(), rng.choice((*DURATIONS, 4.0)))
        if roll < 0.55:
            return Fail(self.label(), rng.choice(DURATIONS))
        if roll < 0.65:
            return Checkpoint(self.label())
        if cancellable:
            return Cancel(self.label(), rng.randrange(cancellable))
        return Sleep(self.label(), rng.choice(DURATIONS))

    def scope(self, depth: int, cancellable: int) -> Scope:
        rng = self.rng
        kind: ScopeKind = rng.choice(SCOPES)
        n = self.label()
        seconds = None
        if (
            kind
            in (
                "uni_move_on",
                "uni_fail",
                "anyio_move_on",
                "anyio_fail",
                "timeout",
                "wait_for",
            )
            or rng.random() < 0.3
        ):
            seconds = rng.choice(DURATIONS)
        shield = kind.startswith(("uni", "anyio")) and rng.random() < 0.3
        inner = cancellable + (kind in CANCELLABLE)
        return Scope(n, kind, self.body(depth + 1, inner), seconds, shield)

    def group(self, depth: int, cancellable: int) -> Group:
        rng = self.rng
        kind: GroupKind = rng.choice(("uni", "uni", "asyncio", "anyio"))
        n = self.label()
        children = tuple(self.body(depth + 1, cancellable) for _ in range(rng.choice((1, 1, 2, 3))))
        return Group(n, kind, children, self.body(depth + 1, cancellable))


def generate(seed: int) -> Program:
    """The program for *seed* (same seed, same program, on every Python)."""
    rng = random.Random(seed)
    gen = _Gen(rng)
    body = gen.body(0, 0)
    outside: tuple[float, ...] = ()
    if rng.random() < 0.3:
        outside = (rng.choice((0.0, 0.25, 0.5, 1.0, 1.5)),)
    return Program(seed, body, outside, eager=rng.random() < 0.25)


# -- stand-ins -----------------------------------------------------------------

_SCOPE_STAND_IN: dict[str, ScopeKind] = {
    "uni": "anyio",
    "uni_move_on": "anyio_move_on",
    "uni_fail": "anyio_fail",
}


def _swap(stmt: Stmt) -> Stmt:
    if isinstance(stmt, Scope):
        return replace(
            stmt, kind=_SCOPE_STAND_IN.get(stmt.kind, stmt.kind), body=_swap_all(stmt.body)
        )
    if isinstance(stmt, Group):
        kind: GroupKind = "asyncio" if stmt.kind == "uni" else stmt.kind
        children = tuple(_swap_all(child) for child in stmt.children)
        return replace(stmt, kind=kind, children=children, body=_swap_all(stmt.body))
    if isinstance(stmt, Checkpoint):
        return Sleep(stmt.n, 0.0)
    return stmt


def _swap_all(body: tuple[Stmt, ...]) -> tuple[Stmt, ...]:
    return tuple(_swap(stmt) for stmt in body)


def stand_in(program: Program) -> Program:
    """*program* with every unicancel part replaced by its native stand-in."""
    return replace(program, body=_swap_all(program.body))


def has_unicancel(body: tuple[Stmt, ...]) -> bool:
    for stmt in body:
        if isinstance(stmt, Checkpoint):
            return True
        if isinstance(stmt, Scope) and (stmt.kind.startswith("uni") or has_unicancel(stmt.body)):
            return True
        if isinstance(stmt, Group) and (
            stmt.kind == "uni"
            or has_unicancel(stmt.body)
            or any(has_unicancel(child) for child in stmt.children)
        ):
            return True
    return False


# -- rendering -----------------------------------------------------------------


def _fmt(seconds: float | None) -> str:
    return "inf" if seconds is None else f"{seconds:g}"


def _scope_head(s: Scope) -> str:
    shield = ", shield=True" if s.shield else ""
    dl = _fmt(s.seconds)
    return {
        "uni": f"with unicancel.CancelScope(relative_deadline={dl}{shield}) as s{s.n}:",
        "uni_move_on": f"with unicancel.move_on_after({dl}{shield}) as s{s.n}:",
        "uni_fail": f"with unicancel.fail_after({dl}{shield}) as s{s.n}:",
        "anyio": f"with anyio.CancelScope(deadline=now+{dl}{shield}) as s{s.n}:",
        "anyio_move_on": f"with anyio.move_on_after({dl}{shield}) as s{s.n}:",
        "anyio_fail": f"with anyio.fail_after({dl}{shield}) as s{s.n}:",
        "timeout": f"async with asyncio.timeout({dl}):  # s{s.n}",
        "wait_for": f"await asyncio.wait_for(<block s{s.n}>, {dl}):",
    }[s.kind]


def _render(body: tuple[Stmt, ...], indent: int, out: list[str], scopes: list[int]) -> None:
    pad = "    " * indent
    if not body:
        out.append(f"{pad}pass")
    for stmt in body:
        if isinstance(stmt, Sleep):
            out.append(f"{pad}await asyncio.sleep({_fmt(stmt.seconds)})  # {stmt.n}")
        elif isinstance(stmt, Fail):
            out.append(
                f"{pad}await asyncio.sleep({_fmt(stmt.seconds)}); raise ValueError({stmt.n})"
            )
        elif isinstance(stmt, Checkpoint):
            out.append(f"{pad}await unicancel.checkpoint()  # {stmt.n}")
        elif isinstance(stmt, Cancel):
            target = scopes[-1 - stmt.outward] if stmt.outward < len(scopes) else None
            out.append(f"{pad}s{target}.cancel()  # {stmt.n}")
        elif isinstance(stmt, Scope):
            out.append(pad + _scope_head(stmt))
            inner = [*scopes, stmt.n] if stmt.kind in CANCELLABLE else scopes
            _render(stmt.body, indent + 1, out, inner)
        else:
            head = {
                "uni": "async with unicancel.TaskGroup() as",
                "asyncio": "async with asyncio.TaskGroup() as",
                "anyio": "async with anyio.create_task_group() as",
            }[stmt.kind]
            out.append(f"{pad}{head} g{stmt.n}:")
            for i, child in enumerate(stmt.children):
                out.append(f"{pad}    async def child_{stmt.n}_{i}():")
                _render(child, indent + 2, out, scopes)
                out.append(f"{pad}    g{stmt.n}.start(child_{stmt.n}_{i})")
            _render(stmt.body, indent + 1, out, scopes)


def render(program: Program) -> str:
    out = [
        f"# interop fuzz program, seed {program.seed}" + (" (eager tasks)" if program.eager else "")
    ]
    if program.outside:
        out.append("# outside: main_task.cancel() at t=" + ", ".join(map(_fmt, program.outside)))
    out.append("async def main():")
    _render(program.body, 1, out, [])
    return "\n".join(out)
