"""Which programs are compared on which systems: the one place for exclusions.

Every rule inspects the *program*, never a list of programs, and points to
the documented difference it stands for (docs/semantics.md).

There is no semantic exclusion left: the one documented asyncio difference
the generator could reach (docs/semantics.md difference 1, retry loops) now
applies only to asyncio's and anyio's own code, which generated programs do
not contain. ``depends_on_difference`` stays the single hook for the next one.
"""

from __future__ import annotations

from .program import Await, MoveDeadline, Program, Scope, Work, walk

__all__ = ["DIFFERENCES", "depends_on_difference", "uvloop_can_run"]

#: Rule name -> where it is documented.
DIFFERENCES: dict[str, str] = {}


def depends_on_difference(program: Program) -> str | None:
    """The documented difference *program* depends on (a key of
    DIFFERENCES), or None. Currently always None."""
    del program
    return None


def uvloop_can_run(program: Program) -> bool:
    """uvloop's clock is libuv's (real time, cannot be virtualised): it runs
    only *timeless* programs, those with no deadline, no sleep longer than
    zero and no CPU work, whose trace cannot depend on the clock. (The runner also skips
    programs that hang on the oracle: uvloop would wait for a real watchdog.)
    """
    for block in (program.main, *(child.body for child in program.children)):
        for stmt, _ in walk(block):
            if isinstance(stmt, Scope) and stmt.deadline != "none":
                return False
            if isinstance(stmt, (MoveDeadline, Work)):
                return False
            if isinstance(stmt, Await) and stmt.kind == "sleep" and stmt.seconds != 0:
                return False
    return True
