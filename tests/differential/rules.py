"""Which programs are compared on which systems: the one place for exclusions.

Every rule inspects the *program*, never a list of programs, and points to
the documented difference it stands for (docs/semantics.md).
"""

from __future__ import annotations

from unicancel._backends._asyncio_delivery import SAME_SITE_LIMIT

from .program import Await, MoveDeadline, Program, Scope, walk

__all__ = ["DIFFERENCES", "depends_on_difference", "uvloop_can_run"]

#: Rule name -> where it is documented.
DIFFERENCES = {
    "same-site-retry": (
        "docs/semantics.md, 'Where unicancel on asyncio differs from trio, on purpose', "
        "1. Retry loops at one await are re-cancelled once, then left alone"
    ),
}


def depends_on_difference(program: Program) -> str | None:
    """The documented asyncio difference *program* may depend on, or None.

    ``same-site-retry``: on asyncio a task that catches a scope's cancellation
    and suspends again at the same await site is re-cancelled at most
    ``SAME_SITE_LIMIT`` times in a row there; after that the await behaves
    normally until woken. trio cancels every time. A swallowed await that
    suspends through ``Task.cancel()`` delivery (``sleep``, ``sleep_forever``;
    ``checkpoint()``/``checkpoint_if_cancelled()`` raise directly and are not
    affected) and runs more than ``SAME_SITE_LIMIT`` times per run of its task
    because of enclosing loops can meet that limit: the program is excluded.
    (The first delivery may land at another await, so every execution of the
    loop's await can be a re-delivery: the bound is SAME_SITE_LIMIT, not
    SAME_SITE_LIMIT + 1.)
    """
    for block in (program.main, *(child.body for child in program.children)):
        for stmt, runs in walk(block):
            if (
                isinstance(stmt, Await)
                and stmt.swallow
                and stmt.kind in ("sleep", "sleep_forever")
                and runs > SAME_SITE_LIMIT
            ):
                return "same-site-retry"
    return None


def uvloop_can_run(program: Program) -> bool:
    """uvloop's clock is libuv's (real time, cannot be virtualised): it runs
    only *timeless* programs, those with no deadline and no sleep longer than
    zero, whose trace cannot depend on the clock. (The runner also skips
    programs that hang on the oracle: uvloop would wait for a real watchdog.)
    """
    for block in (program.main, *(child.body for child in program.children)):
        for stmt, _ in walk(block):
            if isinstance(stmt, Scope) and stmt.deadline != "none":
                return False
            if isinstance(stmt, MoveDeadline):
                return False
            if isinstance(stmt, Await) and stmt.kind == "sleep" and stmt.seconds != 0:
                return False
    return True
