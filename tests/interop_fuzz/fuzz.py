"""One seed end to end: generate, run, and on failure run the stand-in."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from .program import Group, Program, Scope, Stmt, generate, has_unicancel, render, stand_in
from .run import Result, run_program

__all__ = ["Verdict", "check", "shrink"]


@dataclass
class Verdict:
    program: Program
    result: Result
    #: "ok", "ours" (only the unicancel program fails) or "native" (the
    #: stand-in program fails too: asyncio's or anyio's behaviour).
    status: str
    native: Result | None = None

    def report(self) -> str:
        lines = [render(self.program), f"# outcome: {self.result.outcome}"]
        lines += [
            f"# FAIL {f}" + ("" if f.unicancel else " (a task that ran no unicancel part)")
            for f in self.result.failures
        ]
        lines += [f"# {entry}" for entry in self.result.log]
        if self.native is not None:
            lines.append(f"# with native stand-ins: {self.native.outcome}")
            lines += [f"#   FAIL {f}" for f in self.native.failures] or ["#   no failure"]
        lines.append(
            f"# reproduce: python -m tests.interop_fuzz --seed {self.program.seed} --programs 1 -v"
        )
        return "\n".join(lines)


def check(seed: int) -> Verdict:
    program = generate(seed)
    result = run_program(program)
    if not result.failures:
        return Verdict(program, result, "ok")
    if not has_unicancel(program.body):
        return Verdict(program, result, "native")
    native = run_program(stand_in(program))
    checks = {f.check for f in native.failures}
    ours = any(f.check not in checks and f.unicancel for f in result.failures)
    return Verdict(program, result, "ours" if ours else "native", native)


def _variants(body: tuple[Stmt, ...]) -> Iterator[tuple[Stmt, ...]]:
    """Bodies one step smaller: a statement removed, or one replaced by a
    smaller version of itself."""
    for i, stmt in enumerate(body):
        yield body[:i] + body[i + 1 :]
        if isinstance(stmt, Scope):
            yield body[:i] + stmt.body + body[i + 1 :]  # the scope removed, its body kept
            for inner in _variants(stmt.body):
                yield (*body[:i], replace(stmt, body=inner), *body[i + 1 :])
        elif isinstance(stmt, Group):
            for j, child in enumerate(stmt.children):
                rest = stmt.children[:j] + stmt.children[j + 1 :]
                yield (*body[:i], replace(stmt, children=rest), *body[i + 1 :])
                for inner in _variants(child):
                    children = (*stmt.children[:j], inner, *stmt.children[j + 1 :])
                    yield (*body[:i], replace(stmt, children=children), *body[i + 1 :])
            for inner in _variants(stmt.body):
                yield (*body[:i], replace(stmt, body=inner), *body[i + 1 :])


def shrink(program: Program, fails: Callable[[Program], bool]) -> Program:
    """A smaller program for which *fails* still holds (greedy, one
    statement at a time, until no removal keeps it failing)."""
    smaller = True
    while smaller:
        smaller = False
        for body in _variants(program.body):
            candidate = replace(program, body=body)
            if fails(candidate):
                program, smaller = candidate, True
                break
        else:
            if program.outside:
                candidate = replace(program, outside=())
                if fails(candidate):
                    program, smaller = candidate, True
    return program
