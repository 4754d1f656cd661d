"""The reason a scope records when a deadline from outside cancelled its body.

A unicancel scope's deadline is "deadline exceeded"; a foreign one
(``asyncio.timeout``, ``trio.move_on_after``) carries no reason. On trio the
backend tells them apart by walking the scopes that really enclose the code
(trio's own tree), so a deadline that does not enclose it, or sits behind a
shield, is not taken for the one that cancelled it.
"""

from __future__ import annotations

import pytest

from unicancel import CancelOrigin, CancelScope, current_time, move_on_after

from ._helpers import sleep_forever


@pytest.mark.anyio
async def test_a_deadline_set_after_entry_reaches_inner_scopes_as_deadline_exceeded() -> None:
    # The outer scope is entered without a deadline and given one later; its
    # expiry is still unicancel's, on every backend.
    with CancelScope() as outer:
        outer.deadline = current_time()
        with CancelScope() as inner:
            await sleep_forever()
    assert outer.cancelled_caught
    assert (inner.cancel_origin, inner.cancel_reason) == (
        CancelOrigin.ENCLOSING,
        "deadline exceeded",
    )


def test_trio_foreign_deadline_behind_a_shield_is_not_taken_for_ours() -> None:
    # Our deadline passes first, but the shield keeps it out; what reaches the
    # inner scope is trio.move_on_after's, which carries no reason.
    import trio
    import trio.testing

    seen: list[tuple[CancelOrigin | None, str | None]] = []

    async def main() -> None:
        with move_on_after(1):
            with trio.CancelScope(shield=True):
                with trio.move_on_after(2):
                    with CancelScope() as inner:
                        await trio.sleep_forever()
        seen.append((inner.cancel_origin, inner.cancel_reason))

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert seen == [(CancelOrigin.ENCLOSING, None)]


def test_trio_child_started_from_inside_our_scope_is_not_enclosed_by_it() -> None:
    # The child runs in a nursery opened outside our scope: our scope's
    # deadline (passed) does not enclose it; the foreign one that cancels it
    # carries no reason.
    import trio
    import trio.testing

    seen: list[tuple[CancelOrigin | None, str | None]] = []

    async def child() -> None:
        with trio.move_on_after(2):
            with CancelScope() as inner:
                await trio.sleep_forever()
        seen.append((inner.cancel_origin, inner.cancel_reason))

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            with move_on_after(1):
                nursery.start_soon(child)
                await trio.sleep_forever()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert seen == [(CancelOrigin.ENCLOSING, None)]
