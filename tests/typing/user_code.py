"""User code that must type-check cleanly under mypy --strict and pyright.

Not collected by pytest: tests/test_typing.py runs both checkers on this file
(and mypy's normal run over tests/ checks it too). Each function is a pattern
a user writes; the checkers must reason about it as they do about the same
code with ``asyncio.timeout``/``asyncio.TaskGroup`` or trio's ``fail_after``/
nursery.
"""

from __future__ import annotations

from typing import assert_type

import unicancel


def return_inside_fail_after() -> int:
    # fail_after only swallows after an explicit cancel(): a deadline raises
    # TimeoutError. Checkers must not ask for a return after the block.
    with unicancel.fail_after(1):
        return 1


def return_inside_fail_at(deadline: float) -> int:
    with unicancel.fail_at(deadline):
        return 1


async def assigned_inside_task_group() -> int:
    async with unicancel.TaskGroup() as tg:
        x = 1
    assert_type(tg, unicancel.TaskGroup)
    return x  # not "possibly unbound"


def return_inside_move_on_after() -> int:
    # move_on_after swallows its deadline's cancellation: the block may be
    # left early, so the function needs a return after it.
    with unicancel.move_on_after(1):
        return 1
    return 0  # reachable


def return_inside_cancel_scope() -> int:
    with unicancel.CancelScope() as scope:
        assert_type(scope, unicancel.CancelScope)
        return 1
    return 0  # reachable


def fail_scopes_are_cancel_scopes() -> None:
    scope: unicancel.CancelScope = unicancel.fail_after(1)
    at: unicancel.CancelScope = unicancel.fail_at(scope.deadline)
    with unicancel.fail_after(1) as entered:
        entered.cancel("done")
        assert_type(entered.cancel_called, bool)
        assert_type(entered.cancel_origin, unicancel.CancelOrigin | None)
        assert_type(entered.cancel_reason, str | None)
    assert_type(at.deadline, float)


def typed_results() -> None:
    assert_type(unicancel.__version__, str)
    assert_type(unicancel.move_on_after(1), unicancel.CancelScope)
    assert_type(unicancel.move_on_at(1), unicancel.CancelScope)
    assert_type(unicancel.current_time(), float)
    assert_type(unicancel.current_effective_deadline(), float)
