"""The hypothesis strategy: small random programs (see :mod:`.program`).

Size is bounded (:class:`Limits`) so that a run takes milliseconds and
shrinking ends in a handful of statements. Every choice is made so that it
shrinks towards the simplest program: fewer statements (a block ends when a
"continue?" draw shrinks to 0), plain awaits first, no deadline, no shield.

A third of the programs are *timeless*: no deadlines and only zero-length
sleeps. Only those can run on uvloop, whose clock cannot be virtualised
(:func:`.rules.uvloop_can_run`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from hypothesis import strategies as st

from .program import (
    Await,
    AwaitKind,
    Cancel,
    CancelGroup,
    Child,
    Group,
    Interrupt,
    MoveDeadline,
    Probe,
    Program,
    Raise,
    Repeat,
    Scope,
    SetShield,
    Spawn,
    Start,
    Started,
    Stmt,
    TryFinally,
    Work,
)

__all__ = ["Limits", "programs"]

#: Durations and deadline offsets, simplest first. Dyadic fractions only, so
#: every sum of them is exact in binary floating point on every system.
SLEEPS = (1.0, 0.0, 0.5, 2.0, 1.5, 3.0, 0.25)
RELATIVE = (1.0, 0.0, 0.5, 2.0, 1.5, 3.0)
ABSOLUTE = (1.0, 0.0, 2.0, 0.5, 3.0, -1.0, 1.5)
AWAITS: tuple[AwaitKind, ...] = (
    "sleep",
    "checkpoint",
    "sleep_forever",
    "checkpoint_if_cancelled",
    "cancel_shielded_checkpoint",
)
#: CPU work (virtual seconds that pass inside one task step).
WORK = (1.0, 0.5, 2.0, 0.25, 3.0, 1.5)


@dataclass(frozen=True)
class Limits:
    statements: int = 14  # in the whole program
    focused: int = 6  # more statements in a focused program (its shapes are bigger)
    depth: int = 4  # nesting of blocks
    block: int = 4  # statements per block
    children: int = 4  # child task bodies
    groups: int = 3


@dataclass
class _Ctx:
    limits: Limits
    timeless: bool
    budget: int
    focus: Focus = None
    next_n: int = 1
    scopes: list[int] = field(default_factory=list)
    groups: list[int] = field(default_factory=list)
    children: list[Child] = field(default_factory=list)
    started: set[int] = field(default_factory=set)  # started children that called started()

    def label(self) -> int:
        n = self.next_n
        self.next_n += 1
        return n


@dataclass(frozen=True)
class _Frame:
    """Where a statement is generated: lexical context inside one task."""

    depth: int = 0
    scopes: tuple[int, ...] = ()  # enclosing scopes of this task
    groups: tuple[int, ...] = ()  # task groups whose body this is
    #: The child run by Start whose own body this is (not inside a Repeat):
    #: where task_status.started() may go.
    status: int | None = None

    def inner(
        self,
        *,
        scopes: tuple[int, ...] | None = None,
        groups: tuple[int, ...] | None = None,
        loop: bool = False,
    ) -> _Frame:
        """The frame of a nested block, one level deeper (*loop*: a Repeat's body)."""
        return _Frame(
            self.depth + 1,
            self.scopes if scopes is None else scopes,
            self.groups if groups is None else groups,
            None if loop else self.status,
        )


Kind = Literal[
    "await",
    "scope",
    "cancel",
    "group",
    "probe",
    "raise",
    "try_finally",
    "repeat",
    "spawn",
    "set_shield",
    "move_deadline",
    "cancel_group",
    "start",
    "started",
    "work",
    "interrupt",
]
_KINDS: tuple[Kind, ...] = (
    "await",
    "await",
    "scope",
    "cancel",
    "await",
    "group",
    "probe",
    "raise",
    "try_finally",
    "repeat",
    "spawn",
    "set_shield",
    "move_deadline",
    "cancel_group",
    "scope",
    "spawn",
    "start",
    "started",
    "started",
    "work",
    "interrupt",
)
Focus = Literal["start", "interrupt"] | None
#: Statement mixes of the *focused* programs (a sixth each): the shapes of
#: issue 11's bugs 2 and 4 need several statements of a few kinds together,
#: which the general mix above rarely draws in one program.
_FOCUS: dict[Focus, tuple[Kind, ...]] = {
    None: _KINDS,
    # Groups opened by started children before started(), with grandchildren,
    # and start() into another task's group, then cancelled.
    "start": (
        *("group", "start", "await", "cancel_group", "group", "start", "spawn", "start"),
        *("await", "cancel_group", "scope", "cancel", "work", "raise"),
    ),
    # Groups exiting with errors while a sibling is in shielded cleanup, and
    # outside cancels of tasks waiting in them.
    "interrupt": (
        *("group", "spawn", "raise", "scope", "await", "interrupt", "try_finally", "spawn"),
        *("interrupt", "await", "cancel", "start", "started"),
    ),
}


@st.composite
def programs(draw: st.DrawFn, limits: Limits | None = None) -> Program:
    """A strategy for :class:`~.program.Program`."""
    limits = limits or Limits()
    timeless = draw(st.integers(0, 2)) == 2
    focus: Focus = (None, None, None, None, "start", "interrupt")[draw(st.integers(0, 5))]
    budget = limits.statements + (limits.focused if focus else 0)
    ctx = _Ctx(limits=limits, timeless=timeless, budget=budget, focus=focus)
    main = _block(draw, ctx, _Frame(), first=True)
    return Program(main=main, children=tuple(sorted(ctx.children, key=lambda c: c.n)))


def _more(draw: st.DrawFn) -> bool:
    # P(continue) = 0.7; shrinks to 0, i.e. to "stop here".
    return draw(st.integers(0, 9)) >= 3


def _block(draw: st.DrawFn, ctx: _Ctx, frame: _Frame, *, first: bool = False) -> tuple[Stmt, ...]:
    stmts: list[Stmt] = []
    while ctx.budget > 0 and len(stmts) < ctx.limits.block and (first or _more(draw)):
        first = False
        stmt = _stmt(draw, ctx, frame)
        stmts.append(stmt)
        if isinstance(stmt, Raise):
            break  # what follows would be unreachable
    return tuple(stmts)


def _available(ctx: _Ctx, frame: _Frame, kind: Kind) -> bool:
    deep_ok = frame.depth < ctx.limits.depth
    if kind in ("scope", "try_finally", "repeat"):
        return deep_ok
    if kind == "group":
        return deep_ok and len(ctx.groups) < ctx.limits.groups + (1 if ctx.focus else 0)
    if kind == "spawn":
        return bool(frame.groups) and deep_ok and len(ctx.children) < ctx.limits.children
    if kind == "start":
        return bool(ctx.groups) and deep_ok and len(ctx.children) < ctx.limits.children
    if kind == "started":
        return frame.status is not None and frame.status not in ctx.started
    if kind == "work":
        return not ctx.timeless
    if kind == "interrupt":
        return bool(ctx.children)
    if kind == "cancel":
        return bool(ctx.scopes)
    if kind == "cancel_group":
        return bool(ctx.groups)
    if kind == "set_shield":
        return bool(frame.scopes)
    if kind == "move_deadline":
        return bool(frame.scopes) and not ctx.timeless
    return True


def _stmt(draw: st.DrawFn, ctx: _Ctx, frame: _Frame) -> Stmt:
    ctx.budget -= 1
    kinds = _FOCUS[ctx.focus]
    kind = draw(st.sampled_from([k for k in kinds if _available(ctx, frame, k)]))
    n = ctx.label()
    if kind == "await":
        what = draw(st.sampled_from(AWAITS))
        seconds = 0.0
        if what == "sleep" and not ctx.timeless:
            seconds = draw(st.sampled_from(SLEEPS))
        return Await(n, what, seconds, swallow=draw(st.booleans()))
    if kind == "scope":
        deadline: Literal["none", "abs", "rel"] = "none"
        if not ctx.timeless:
            deadline = draw(st.sampled_from(("none", "rel", "abs")))
        at = 0.0
        style: Literal["CancelScope", "move_on", "fail"] = "CancelScope"
        if deadline != "none":
            at = draw(st.sampled_from(RELATIVE if deadline == "rel" else ABSOLUTE))
            style = draw(st.sampled_from(("CancelScope", "move_on", "fail")))
        shield = draw(st.booleans())
        precancel = draw(st.integers(0, 4)) == 4
        ctx.scopes.append(n)
        body = _block(draw, ctx, frame.inner(scopes=(*frame.scopes, n)))
        return Scope(n, body, deadline, at, shield, precancel, style)
    if kind == "cancel":
        # Own enclosing scopes first (the common case), then any scope.
        targets = list(reversed(frame.scopes)) + [s for s in ctx.scopes if s not in frame.scopes]
        return Cancel(n, draw(st.sampled_from(targets)))
    if kind == "cancel_group":
        targets = list(reversed(frame.groups)) + [g for g in ctx.groups if g not in frame.groups]
        return CancelGroup(n, draw(st.sampled_from(targets)))
    if kind == "set_shield":
        return SetShield(n, draw(st.sampled_from(frame.scopes[::-1])), draw(st.booleans()))
    if kind == "move_deadline":
        target = draw(st.sampled_from(frame.scopes[::-1]))
        how: Literal["abs", "rel", "none"] = draw(st.sampled_from(("rel", "abs", "none")))
        at = 0.0
        if how != "none":
            at = draw(st.sampled_from(RELATIVE if how == "rel" else ABSOLUTE))
        return MoveDeadline(n, target, how, at)
    if kind == "probe":
        return Probe(n)
    if kind == "raise":
        return Raise(n, draw(st.sampled_from(("ValueError", "KeyError"))))
    if kind == "try_finally":
        body = _block(draw, ctx, frame.inner())
        final = _block(draw, ctx, frame.inner())
        return TryFinally(n, body, final)
    if kind == "repeat":
        count = draw(st.sampled_from((2, 3)))
        return Repeat(n, count, _block(draw, ctx, frame.inner(loop=True)))
    if kind == "group":
        ctx.groups.append(n)
        inner = frame.inner(groups=(*frame.groups, n))
        return Group(n, _block(draw, ctx, inner, first=True))
    if kind == "spawn":
        return _spawn(draw, ctx, frame, n, draw(st.sampled_from(frame.groups[::-1])))
    if kind == "start":
        # Any group, of this task (innermost first) or of another one: a
        # group opened by a started child is a destination that lives in
        # another task (the shape of issue 11's bug 2).
        own = list(reversed(frame.groups))
        other = [g for g in ctx.groups if g not in frame.groups]
        # Half the time another task's group, when there are both kinds.
        use_other = bool(own) and bool(other) and draw(st.booleans())
        targets = other if use_other or not own else own
        group = draw(st.sampled_from(targets))
        child = ctx.label()
        inner = _Frame(depth=frame.depth + 1, status=child)
        if (
            ctx.focus == "start"
            and ctx.budget >= 2
            and _available(ctx, inner, "group")
            and len(ctx.children) + 1 < ctx.limits.children
            and draw(st.booleans())
        ):
            body = _started_in_a_group(draw, ctx, inner)
        else:
            body = _block(draw, ctx, inner, first=True)
        if child not in ctx.started and not (body and isinstance(body[-1], Raise)):
            body = (*body, Started(ctx.label()))  # started() after all the rest
        ctx.children.append(Child(child, body, started=True))
        return Start(n, group, child)
    if kind == "started":
        assert frame.status is not None
        ctx.started.add(frame.status)
        return Started(n)
    if kind == "work":
        return Work(n, draw(st.sampled_from(WORK)))
    if kind == "interrupt":
        # The main task (0) or any child body's latest task (maybe finished).
        return Interrupt(n, draw(st.sampled_from([0] + [c.n for c in ctx.children])))
    raise AssertionError(kind)  # pragma: no cover


def _spawn(draw: st.DrawFn, ctx: _Ctx, frame: _Frame, n: int, group: int) -> Spawn:
    child = ctx.label()
    # A child's body is a fresh task: no enclosing scopes or groups of its
    # own; it is one level deeper so the whole program stays bounded.
    body = _block(draw, ctx, _Frame(depth=frame.depth + 1), first=True)
    ctx.children.append(Child(child, body))
    return Spawn(n, group, child)


def _started_in_a_group(draw: st.DrawFn, ctx: _Ctx, frame: _Frame) -> tuple[Stmt, ...]:
    """A started child's body (start focus): it opens a group, starts a
    grandchild in it, and calls started() inside the group, with random
    statements before and after (issue 11, bug 2)."""
    assert frame.status is not None
    ctx.budget -= 2
    group = ctx.label()
    ctx.groups.append(group)
    inner = frame.inner(groups=(group,))
    spawn = _spawn(draw, ctx, inner, ctx.label(), group)
    before = _block(draw, ctx, inner)
    if before and isinstance(before[-1], Raise):
        return (Group(group, (spawn, *before)),)  # started() would be unreachable
    ctx.started.add(frame.status)
    started = Started(ctx.label())
    after = _block(draw, ctx, inner)
    return (Group(group, (spawn, *before, started, *after)),)
