"""Issue 11's bugs as programs of the extended differential generator.

Each program is written in the generator's own statements (CPU work,
start()/started(), outside cancels, the leftover checks; see
docs/differential-testing.md) and must agree with trio and break no
invariant on every system (``assert_agrees``). The random programs of
``tests/test_differential.py`` found bugs 1, 4 and 5 and the start() finding
below by themselves; bug 2's shape is hand-built from the same statements.

These fail until the fixes of issue 11 are merged (no xfail marks, on
purpose): each docstring names the signature it shows on the unfixed code.
"""

from __future__ import annotations

import pytest

from .differential.check import assert_agrees
from .differential.program import (
    Await,
    CancelGroup,
    Child,
    Group,
    Interrupt,
    Program,
    Raise,
    Scope,
    Spawn,
    Start,
    Started,
    Work,
)


@pytest.mark.parametrize("scopes_before", [0, 1])
def test_a_deadline_passed_during_cpu_work_is_seen_by_checkpoint(scopes_before: int) -> None:
    """Bug 1. The deadline passes during CPU work; the next ``checkpoint()``
    raises (trio applies it at the schedule point). Unfixed:
    ``unicancel-asyncio: await outcome`` (ok instead of X)."""
    before = (Scope(n=2, body=()),) * scopes_before
    assert_agrees(
        Program(
            main=(
                Scope(
                    n=1,
                    body=(*before, Work(n=3, seconds=1.0), Await(n=4, kind="checkpoint")),
                    deadline="rel",
                    at=1.0,
                ),
            )
        )
    )


def test_cancelling_the_destination_reaches_a_grandchild_opened_before_started() -> None:
    """Bug 2. c8 opens group 9, starts grandchild c11 in it, calls
    ``started()`` inside it: it now lives in group 4, another task's. Cancelling
    group 4 must end c8 and c11. Unfixed: ``unicancel-asyncio: group missing``
    (the run hangs)."""
    assert_agrees(
        Program(
            main=(
                Group(
                    n=1,
                    body=(
                        Spawn(n=2, group=1, child=3),
                        Await(n=16, kind="checkpoint"),
                        Start(n=7, group=4, child=8),
                        CancelGroup(n=12, target=4),
                    ),
                ),
            ),
            children=(
                Child(n=3, body=(Group(n=4, body=(Await(n=6, kind="sleep_forever"),)),)),
                Child(
                    n=8,
                    body=(
                        Group(
                            n=9,
                            body=(
                                Spawn(n=10, group=9, child=11),
                                Started(n=13),
                                Await(n=14, kind="sleep_forever"),
                            ),
                        ),
                    ),
                    started=True,
                ),
                Child(n=11, body=(Await(n=15, kind="sleep_forever"),)),
            ),
        )
    )


def test_an_outside_cancel_of_a_group_exiting_with_an_error_lands() -> None:
    """Bug 4. c3 cancels the main task from outside while main waits in the
    group's exit, then fails: the group raises its ExceptionGroup and the
    outside cancel must still land at main's next await. Unfixed:
    ``unicancel-asyncio+interrupts: outside cancel dropped``."""
    assert_agrees(
        Program(
            main=(Group(n=1, body=(Spawn(n=2, group=1, child=3),)),),
            children=(Child(n=3, body=(Interrupt(n=4, target=0), Raise(n=5))),),
        )
    )


def test_an_outside_cancel_during_a_shielded_cleanup_lands() -> None:
    """Bug 4, the issue's shape: c6 fails, c7 is in a shielded cleanup, and
    c3 (waiting in the group's exit) is cancelled from outside by main.
    Unfixed: ``unicancel-asyncio+interrupts: outside cancel dropped``."""
    assert_agrees(
        Program(
            main=(
                Group(
                    n=1,
                    body=(
                        Spawn(n=2, group=1, child=3),
                        Await(n=8, kind="sleep", seconds=0.5),
                        Interrupt(n=9, target=3),
                    ),
                ),
            ),
            children=(
                Child(
                    n=3,
                    body=(
                        Group(
                            n=4, body=(Spawn(n=5, group=4, child=6), Spawn(n=10, group=4, child=7))
                        ),
                    ),
                ),
                Child(n=6, body=(Raise(n=11),)),
                Child(
                    n=7,
                    body=(
                        Scope(n=13, body=(Await(n=14, kind="sleep", seconds=1.0),), shield=True),
                    ),
                ),
            ),
        )
    )


@pytest.mark.parametrize("how", ["cancelled", "failed"])
def test_a_group_leaves_no_cyclic_garbage(how: str) -> None:
    """Bug 5. A cancelled or failed group leaves no reference cycle through a
    unicancel object. Unfixed: ``<system>: cyclic garbage`` on every unicancel
    system (frames of ``TrioTaskGroup.aexit`` / ``AsyncioTaskGroup._child``)."""
    child = Await(n=4, kind="sleep_forever") if how == "cancelled" else Raise(n=4)
    body = (Spawn(n=2, group=1, child=3), CancelGroup(n=5, target=1))
    assert_agrees(
        Program(
            main=(Group(n=1, body=body if how == "cancelled" else body[:1]),),
            children=(Child(n=3, body=(child,)),),
        )
    )


def test_start_follows_a_child_that_swallowed_the_callers_cancellation() -> None:
    """Found by the generator, not one of the issue's bugs: until
    ``started()`` the child runs in the caller's scopes, and trio's
    ``start()`` is no cancel point of its own (it waits in a nursery exit).
    The deadline of s1 cancels the child, which swallows it and calls
    ``started()``: ``start()`` returns and s1 catches nothing. Unfixed:
    ``unicancel-asyncio: start outcome`` (start() raises the cancellation)."""
    assert_agrees(
        Program(
            main=(
                Scope(
                    n=1,
                    body=(Group(n=3, body=(Start(n=4, group=3, child=5),)),),
                    deadline="rel",
                    at=1.0,
                ),
            ),
            children=(
                Child(
                    n=5,
                    body=(Await(n=6, kind="sleep", seconds=1.0, swallow=True), Started(n=7)),
                    started=True,
                ),
            ),
        )
    )
