"""Compile a :class:`~.program.Program` to Python source.

Why source and not a tree-walking interpreter: on asyncio, unicancel tells a
retry loop from fresh code by the *await site* (code object and instruction
of every frame in the await chain, docs/semantics.md difference 1). In a
tree-walking interpreter every await of the program would be the same site;
generated source gives each await of the program its own line, exactly as
hand-written code has, and a ``Repeat`` becomes a real ``for`` loop.

The source is written once, in unicancel's API. The names it uses
(``CancelScope``, ``TaskGroup``, ``checkpoint``, ``sleep``, ``Cancelled``...)
are supplied per system by :mod:`.interpret`: unicancel's own on the
unicancel systems, native trio (:mod:`.oracle`) for the oracle. ``T`` is the
trace recorder; ``me`` the name of the running task.
"""

from __future__ import annotations

from .program import (
    Await,
    Cancel,
    CancelGroup,
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

__all__ = ["to_source"]


def to_source(program: Program) -> str:
    """The program as the source of ``async def program(T, me)``."""
    w = _Writer()
    w.line("async def program(T, me):")
    w.indent += 1
    w.line("T0 = current_time()")
    w.line("S = {}  # scope label -> latest instance")
    w.line("G = {}  # task group label -> latest instance")
    for child in program.children:
        w.line("")
        status = ", task_status" if child.started else ""
        w.line(f"async def child_{child.n}(me{status}):")
        w.indent += 1
        w.line(f"T.begin(me, {child.n})")
        w.line("try:")
        w.block(child.body)
        w.line("except BaseException as exc:")
        w.line("    T.end(me, exc)")
        w.line("    await T.settle(me, exc)")
        w.line("    raise")
        w.line("T.end(me, None)")
        w.line("await T.settle(me, None)")
        w.indent -= 1
    w.line("")
    w.line("# main")
    w.block(program.main, indent=False)
    return "\n".join(w.lines) + "\n"


def _num(value: float) -> str:
    return repr(float(value))


def _deadline_args(stmt: Scope) -> str:
    shield = ", shield=True" if stmt.shield else ""
    at = _num(stmt.at)
    if stmt.style == "CancelScope":
        if stmt.deadline == "abs":
            return f"CancelScope(deadline=T0 + {at}{shield})"
        if stmt.deadline == "rel":
            return f"CancelScope(relative_deadline={at}{shield})"
        return f"CancelScope({shield[2:]})"
    prefix = "move_on" if stmt.style == "move_on" else "fail"
    if stmt.deadline == "abs":
        return f"{prefix}_at(T0 + {at}{shield})"
    if stmt.deadline == "rel":
        return f"{prefix}_after({at}{shield})"
    raise ValueError(f"{stmt.style} needs a deadline: {stmt!r}")


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.indent = 0

    def line(self, text: str) -> None:
        self.lines.append("    " * self.indent + text if text else "")

    def block(self, stmts: tuple[Stmt, ...], *, indent: bool = True) -> None:
        if indent:
            self.indent += 1
        if not stmts:
            self.line("pass")
        for stmt in stmts:
            self.stmt(stmt)
        if indent:
            self.indent -= 1

    def stmt(self, stmt: Stmt) -> None:  # one branch per statement kind
        n = stmt.n
        if isinstance(stmt, Await):
            call = {
                "sleep": f"sleep({_num(stmt.seconds)})",
                "checkpoint": "checkpoint()",
                "checkpoint_if_cancelled": "checkpoint_if_cancelled()",
                "cancel_shielded_checkpoint": "cancel_shielded_checkpoint()",
                "sleep_forever": "sleep_forever()",
            }[stmt.kind]
            self.line("try:")
            self.line(f"    await {call}")
            self.line("except Cancelled:")
            self.line(
                f"    T.a(me, {n}, 'X', swallowed=True)"
                if stmt.swallow
                else f"    T.a(me, {n}, 'X')"
            )
            if not stmt.swallow:
                self.line("    raise")
            self.line("else:")
            self.line(f"    T.a(me, {n}, 'ok')")
        elif isinstance(stmt, Scope):
            self.line(f"s{n} = S[{n}] = {_deadline_args(stmt)}")
            if stmt.precancel:
                self.line(f"s{n}.cancel('r{n}')")
            self.line("try:")
            self.line(f"    with s{n}:")
            self.indent += 1
            self.block(stmt.body)
            self.indent -= 1
            self.line(f"except BaseException as e{n}:")
            self.line(f"    T.x(me, {n}, s{n}, e{n})")
            self.line("    raise")
            self.line("else:")
            self.line(f"    T.x(me, {n}, s{n}, None)")
        elif isinstance(stmt, SetShield):
            self.line(f"s{stmt.target}.shield = {stmt.value}")
        elif isinstance(stmt, MoveDeadline):
            if stmt.kind == "abs":
                self.line(f"s{stmt.target}.deadline = T0 + {_num(stmt.at)}")
            elif stmt.kind == "rel":
                self.line(f"s{stmt.target}.relative_deadline = {_num(stmt.at)}")
            else:
                self.line(f"s{stmt.target}.deadline = inf")
        elif isinstance(stmt, Cancel):
            self.line(f"T.c(me, {n}, S.get({stmt.target}))  # S[{stmt.target}].cancel('r{n}')")
        elif isinstance(stmt, CancelGroup):
            self.line(f"T.c(me, {n}, G.get({stmt.target}))  # G[{stmt.target}].cancel('r{n}')")
        elif isinstance(stmt, Probe):
            self.line(f"T.d(me, {n}, current_effective_deadline() - T0)")
        elif isinstance(stmt, Raise):
            self.line(f"raise {stmt.exc}('e{n}')")
        elif isinstance(stmt, TryFinally):
            self.line("try:")
            self.block(stmt.body)
            self.line("finally:")
            self.line("    T.f(me)")
            self.block(stmt.final)
        elif isinstance(stmt, Repeat):
            self.line(f"for _ in range({stmt.count}):")
            self.block(stmt.body)
        elif isinstance(stmt, Group):
            self.line(f"tg{n} = G[{n}] = TaskGroup()")
            self.line("try:")
            self.line(f"    async with tg{n}:")
            self.indent += 1
            self.block(stmt.body)
            self.indent -= 1
            self.line(f"except BaseException as e{n}:")
            self.line(f"    T.g(me, {n}, tg{n}, e{n})")
            self.line("    raise")
            self.line("else:")
            self.line(f"    T.g(me, {n}, tg{n}, None)")
        elif isinstance(stmt, Spawn):
            self.line(f"tg{stmt.group}.start_soon(child_{stmt.child}, T.name(me, {stmt.child}))")
        elif isinstance(stmt, Start):
            # The destination may be another task's group: the latest
            # instance, which may not exist yet (recorded as not found).
            self.line(f"dest{n} = G.get({stmt.group})")
            self.line(f"if dest{n} is None:")
            self.line(f"    T.st(me, {n}, None, found=False)  # G[{stmt.group}] does not exist yet")
            self.line("else:")
            self.line("    try:")
            self.line(f"        await dest{n}.start(child_{stmt.child}, T.name(me, {stmt.child}))")
            self.line(f"    except BaseException as e{n}:")
            self.line(f"        T.st(me, {n}, e{n})")
            self.line("        raise")
            self.line("    else:")
            self.line(f"        T.st(me, {n}, None)")
        elif isinstance(stmt, Started):
            self.line(f"T.s(me, {n})")
            self.line("task_status.started()")
        elif isinstance(stmt, Work):
            self.line(f"work({_num(stmt.seconds)})  # CPU work: no schedule point")
        elif isinstance(stmt, Interrupt):
            self.line(f"T.i(me, {n}, {stmt.target})  # Task.cancel() (asyncio invariant run only)")
        else:  # pragma: no cover
            raise TypeError(stmt)
