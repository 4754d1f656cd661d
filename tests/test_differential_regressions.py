"""Minimal reproducers found by the differential test, kept as regular tests.

Each program below was found by the generator (docs/differential-testing.md),
shrunk by hypothesis and then by hand, and must give a trace trio can
produce on every system (``assert_agrees``; on failure the assertion message
shows the generated source, every system's trace and the first difference).

Tests marked ``xfail`` still diverge and have been reported; the marks are
strict, so a fix turns them into failures until the mark is removed.
"""

from __future__ import annotations

import pytest

from .differential.check import assert_agrees
from .differential.program import (
    Await,
    Cancel,
    CancelGroup,
    Child,
    Group,
    MoveDeadline,
    Probe,
    Program,
    Raise,
    Scope,
    SetShield,
    Spawn,
    TryFinally,
)

# -- task groups -------------------------------------------------------------


@pytest.mark.xfail(
    strict=True,
    reason="asyncio TaskGroup.aexit raises CancelledError whenever the block is cancelled",
)
def test_group_exit_raises_no_cancellation_nobody_raised() -> None:
    """A task group whose body and children never saw the cancellation does
    not raise one at exit: trio's nursery exit is a schedule point but no
    cancel point, so ``s1.cancelled_caught`` stays False. unicancel on asyncio
    raised a fresh CancelledError in ``aexit``."""
    assert_agrees(Program(main=(Scope(n=1, body=(Group(n=2, body=(Cancel(n=3, target=1),)),)),)))


@pytest.mark.xfail(
    strict=True,
    reason="asyncio TaskGroup.aexit raises CancelledError whenever the block is cancelled",
)
def test_group_cancel_without_checkpoint_is_not_caught() -> None:
    """``tg.cancel()`` and no await: ``tg.cancel_scope.cancelled_caught`` is
    False (as for any scope cancelled after its last checkpoint)."""
    assert_agrees(Program(main=(Group(n=1, body=(CancelGroup(n=2, target=1),)),)))


@pytest.mark.xfail(
    strict=True,
    reason="asyncio: a child's error cancels the group from a done-callback, a loop "
    "iteration after the child finished",
)
def test_sibling_error_is_seen_by_a_checkpoint_in_progress() -> None:
    """Two children start together; c6 raises while c3 is in ``checkpoint()``.
    On trio c3 resumes after c6 has failed and its checkpoint raises
    (whatever order the two run in). On asyncio the group learns of the error
    in a done-callback that runs after c3 has resumed."""
    assert_agrees(
        Program(
            main=(Group(n=1, body=(Spawn(n=2, group=1, child=3), Spawn(n=5, group=1, child=6))),),
            children=(
                Child(n=3, body=(Await(n=4, kind="checkpoint"),)),
                Child(n=6, body=(Raise(n=7),)),
            ),
        )
    )


@pytest.mark.xfail(
    strict=True,
    reason="asyncio TaskGroup.aexit raises CancelledError whenever the block is cancelled",
)
def test_code_after_a_cancelled_group_runs() -> None:
    """The same bug, worse: the exit of the inner group raises, so the
    statement after it (here an error) never runs."""
    assert_agrees(
        Program(
            main=(
                Group(
                    n=1,
                    body=(Group(n=2, body=(CancelGroup(n=3, target=1),)), Raise(n=4)),
                ),
            )
        )
    )


@pytest.mark.xfail(
    strict=True,
    reason="asyncio TaskGroup.aexit has no schedule point when there are no children",
)
def test_group_exit_is_a_schedule_point() -> None:
    """trio's nursery exit always yields once: c8 runs while c3 leaves its
    (childless) group, so it finds s4 still open and cancels it. On asyncio c3
    ran to its end first."""
    assert_agrees(
        Program(
            main=(Group(n=1, body=(Spawn(n=2, group=1, child=3), Spawn(n=7, group=1, child=8))),),
            children=(
                Child(n=3, body=(Scope(n=4, body=(Group(n=5, body=()),)),)),
                Child(n=8, body=(Cancel(n=9, target=4),)),
            ),
        )
    )


# -- checkpoints -------------------------------------------------------------


def test_checkpoint_sees_a_cancel_made_during_its_schedule_point() -> None:
    """trio's checkpoint is a schedule point, then a cancel point: c6's
    ``tg.cancel()`` (made while c3 waits in the schedule point) raises in c3's
    checkpoint. (Diverged at first: asyncio checked before yielding.)"""
    assert_agrees(
        Program(
            main=(Group(n=1, body=(Spawn(n=2, group=1, child=3), Spawn(n=5, group=1, child=6))),),
            children=(
                Child(n=3, body=(Await(n=4, kind="checkpoint"),)),
                Child(n=6, body=(CancelGroup(n=7, target=1),)),
            ),
        )
    )


def test_checkpoint_if_cancelled_is_a_schedule_point_when_cancelled() -> None:
    """trio's ``checkpoint_if_cancelled()`` in a cancelled scope is a full
    checkpoint: other tasks run before it raises. Here c4 cancels s1 in the
    meantime, so the cancellation that leaves s5 belongs to s1 and s5 does not
    catch it. (Diverged at first: asyncio raised without yielding.)"""
    assert_agrees(
        Program(
            main=(
                Scope(
                    n=1,
                    body=(
                        Group(
                            n=2,
                            body=(
                                Spawn(n=3, group=2, child=4),
                                Scope(
                                    n=5,
                                    body=(Await(n=6, kind="checkpoint_if_cancelled"),),
                                    precancel=True,
                                ),
                            ),
                        ),
                    ),
                ),
            ),
            children=(Child(n=4, body=(Cancel(n=7, target=1),)),),
        )
    )


@pytest.mark.xfail(
    strict=True,
    reason="asyncio: a task already queued to resume from sleep(0) is cancelled at its next await",
)
def test_cancel_reaches_a_task_resuming_from_sleep_zero() -> None:
    """c6 cancels the group while c3 is queued to resume from ``sleep(0)``.
    On trio ``sleep(0)`` is a checkpoint and raises; on asyncio the delivery
    is a loop callback queued behind c3's resumption, so ``sleep(0)`` returns
    and the cancellation lands at the next await."""
    assert_agrees(
        Program(
            main=(Group(n=1, body=(Spawn(n=2, group=1, child=3), Spawn(n=5, group=1, child=6))),),
            children=(
                Child(n=3, body=(Await(n=4, kind="sleep", seconds=0.0),)),
                Child(n=6, body=(CancelGroup(n=7, target=1),)),
            ),
        )
    )


# -- deadlines ---------------------------------------------------------------


def test_deadline_expired_at_entry_then_moved_is_still_the_origin() -> None:
    """The deadline passed at entry (trio cancels at once), then it is
    removed and ``cancel()`` called: the deadline came first, so
    ``cancel_origin`` is DEADLINE. (Diverged at first on trio: the facade
    did not record trio's expiry at entry and took the cancel() for the first.)"""
    assert_agrees(
        Program(
            main=(
                Scope(
                    n=1,
                    body=(MoveDeadline(n=2, target=1, kind="none"), Cancel(n=3, target=1)),
                    deadline="abs",
                ),
            )
        )
    )


def test_deadline_that_fired_is_kept_when_moved_away() -> None:
    """The deadline fires (the body swallows it), then the deadline is
    removed: ``cancel_called`` stays True, origin DEADLINE. (Diverged at first
    on trio: the exit fast path for scopes without a deadline skipped the
    record.)"""
    assert_agrees(
        Program(
            main=(
                Scope(
                    n=1,
                    body=(
                        Await(n=2, kind="sleep", seconds=2.0, swallow=True),
                        MoveDeadline(n=3, target=1, kind="none"),
                    ),
                    deadline="rel",
                    at=1.0,
                ),
            )
        )
    )


@pytest.mark.xfail(
    strict=True,
    reason="trio backend: a deadline moved into the past is applied at the next schedule point",
)
def test_deadline_moved_into_the_past_cancels_at_once() -> None:
    """docs/semantics.md: "a deadline in the past cancels at once". On trio
    the native scope applies it only at the next schedule point (or when
    ``cancel_called`` is read): meanwhile ``current_effective_deadline()``
    returns the past deadline and ``checkpoint_if_cancelled()`` passes."""
    assert_agrees(
        Program(
            main=(
                Scope(
                    n=1,
                    body=(
                        MoveDeadline(n=2, target=1, kind="rel"),
                        Probe(n=3),
                        Await(n=4, kind="checkpoint_if_cancelled"),
                    ),
                ),
            )
        )
    )


@pytest.mark.xfail(
    strict=True,
    reason="cancel() before entry ignores an absolute deadline that already passed",
)
def test_cancel_before_entry_after_the_deadline_passed_is_a_deadline() -> None:
    """docs/semantics.md: "If the deadline had already passed when cancel()
    was called, the deadline wins." Also before entry: ``fail_at(now)`` then
    ``cancel()`` raises TimeoutError. unicancel took the cancel() for the
    first (``cancel_called`` only checks the deadline of an entered scope)."""
    assert_agrees(
        Program(
            main=(
                Scope(
                    n=1,
                    body=(Await(n=2, kind="checkpoint"),),
                    deadline="abs",
                    precancel=True,
                    style="fail",
                ),
            )
        )
    )


@pytest.mark.xfail(strict=True, reason="asyncio: outer deliveries counted as foreign at inner exit")
def test_inner_scope_catches_its_deadline_after_an_outer_delivery() -> None:
    """s3 (shielded by then) catches its own deadline, although s1's
    cancellation was delivered (and swallowed) inside s3 after s3 was
    entered. On asyncio that delivery is still outstanding when s3 exits
    (it is uncancelled when s1 exits), so ``cancelling()`` is above s3's
    entry count and s3 concludes someone else cancelled the task."""
    assert_agrees(
        Program(
            main=(
                Scope(
                    n=1,
                    body=(
                        Cancel(n=2, target=1),
                        Scope(
                            n=3,
                            body=(
                                Await(n=4, kind="sleep", seconds=0.0, swallow=True),
                                SetShield(n=5, target=3, value=True),
                                Await(n=6, kind="sleep_forever"),
                            ),
                            deadline="rel",
                            at=1.0,
                        ),
                    ),
                ),
            )
        )
    )


@pytest.mark.xfail(strict=True, reason="asyncio: outer deliveries counted as foreign at inner exit")
def test_scope_shielded_after_the_fact_catches_its_own_cancellation() -> None:
    """The same counting bug: s2's cancellation raises in the ``try``; the
    ``finally`` cancels s3 and shields it, so the cancellation leaving s3 is
    s3's own (trio: ``cancelled_caught``). On asyncio s2's delivery is still
    outstanding and s3 lets the exception through."""
    assert_agrees(
        Program(
            main=(
                Scope(
                    n=2,
                    body=(
                        Scope(
                            n=3,
                            body=(
                                TryFinally(
                                    n=4,
                                    body=(Await(n=5, kind="sleep"),),
                                    final=(
                                        Cancel(n=6, target=3),
                                        SetShield(n=7, target=3, value=True),
                                    ),
                                ),
                            ),
                        ),
                    ),
                    precancel=True,
                ),
            )
        )
    )


# -- cancel reasons ----------------------------------------------------------


@pytest.mark.xfail(strict=True, reason="trio backend: ENCLOSING reason of a deadline is None")
def test_enclosing_cancel_reason_of_a_deadline() -> None:
    """s2 is left by s1's deadline: ``s2.cancel_reason`` is "deadline
    exceeded" (asyncio); on trio it was None (trio's ``Cancelled.reason`` is
    None for a deadline, ``Cancelled.source`` says "deadline")."""
    assert_agrees(
        Program(
            main=(
                Scope(
                    n=1,
                    body=(Scope(n=2, body=(Await(n=3, kind="sleep", seconds=1.0),)),),
                    deadline="rel",
                    at=1.0,
                ),
            )
        )
    )


@pytest.mark.xfail(strict=True, reason="backends disagree on the ENCLOSING reason; to decide")
def test_enclosing_cancel_reason_with_two_cancelled_scopes() -> None:
    """s1 and s3 are both cancelled; the cancellation passing s2 is s1's (s1
    catches it) but the exception trio raises carries s3's reason, which the
    trio backend reports (and the oracle expects); asyncio reports s1's."""
    assert_agrees(
        Program(
            main=(
                Scope(
                    n=1,
                    body=(
                        Scope(
                            n=2,
                            body=(Scope(n=3, body=(Await(n=4, kind="sleep"),), precancel=True),),
                        ),
                    ),
                    precancel=True,
                ),
            )
        )
    )
