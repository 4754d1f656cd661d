"""Core CancelScope semantics, identical on every backend (trio is the reference)."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable

import pytest

from unicancel import (
    CancelOrigin,
    CancelScope,
    cancel_shielded_checkpoint,
    checkpoint,
    checkpoint_if_cancelled,
    current_effective_deadline,
    current_time,
    fail_after,
    fail_at,
    get_cancelled_exc_class,
    move_on_after,
    move_on_at,
)

from ._helpers import (
    Event,
    backend,
    run_concurrently,
    sleep,
    sleep_forever,
    wait_all_tasks_blocked,
)

pytestmark = pytest.mark.anyio


async def test_uncancelled_scope_is_transparent() -> None:
    with CancelScope() as scope:
        await checkpoint()
        await sleep(0)
    assert not scope.cancel_called
    assert not scope.cancelled_caught
    assert scope.cancel_origin is None
    assert scope.cancel_reason is None


async def test_cancel_before_first_await_raises_at_checkpoint() -> None:
    reached_after = False
    with CancelScope() as scope:
        scope.cancel()
        await sleep_forever()
        reached_after = True  # pragma: no cover
    assert not reached_after
    assert scope.cancel_called
    assert scope.cancelled_caught


async def test_cancel_before_entry() -> None:
    scope = CancelScope()
    scope.cancel("early")
    assert scope.cancel_called
    with scope:
        await sleep_forever()
    assert scope.cancelled_caught
    assert scope.cancel_origin is CancelOrigin.EXPLICIT
    assert scope.cancel_reason == "early"


async def test_cancel_without_checkpoint_is_not_caught() -> None:
    with CancelScope() as scope:
        scope.cancel()
    assert scope.cancel_called
    assert not scope.cancelled_caught
    # Nothing lingers: the next await outside the scope runs normally.
    await sleep(0)
    await checkpoint()


async def test_level_triggered_every_await_raises_until_exit() -> None:
    """After the body catches one cancellation, the next await raises again."""
    exc = get_cancelled_exc_class()
    seen = []
    with CancelScope() as scope:
        scope.cancel()
        try:
            await sleep_forever()
        except exc:
            seen.append("first")
        try:
            await sleep(10)
        except exc:
            seen.append("second")
        try:
            await checkpoint()
        except exc:
            seen.append("checkpoint")
        try:
            await checkpoint_if_cancelled()
        except exc:
            seen.append("checkpoint_if_cancelled")
        await sleep_forever()
    assert seen == ["first", "second", "checkpoint", "checkpoint_if_cancelled"]
    assert scope.cancelled_caught


async def test_await_in_finally_is_cancelled_too() -> None:
    exc = get_cancelled_exc_class()
    cleanup_raised = False
    with CancelScope() as scope:
        scope.cancel()
        try:
            await sleep_forever()
        finally:
            try:
                await sleep(10)
            except exc:
                cleanup_raised = True
                raise
    assert cleanup_raised
    assert scope.cancelled_caught


async def test_shielded_cleanup_runs_then_cancellation_resumes() -> None:
    """SCENARIOS 3: commit under a shield, then the cancellation continues."""
    exc = get_cancelled_exc_class()
    committed = False
    with CancelScope() as outer:
        outer.cancel()
        try:
            await sleep_forever()
        except exc:
            with CancelScope(shield=True) as shield:
                await sleep(0.001)
                await checkpoint()
                committed = True
            assert not shield.cancelled_caught
            raise
    assert committed
    assert outer.cancelled_caught


async def test_leaving_a_shield_into_a_cancelled_scope_raises_at_next_await() -> None:
    exc = get_cancelled_exc_class()
    with CancelScope() as outer:
        with CancelScope(shield=True):
            outer.cancel()
            await checkpoint()  # shielded: no raise
            await sleep(0)
        with pytest.raises(exc):
            await sleep(0)
        await checkpoint()
    assert outer.cancelled_caught


async def test_shield_can_be_dropped_and_restored_while_entered() -> None:
    exc = get_cancelled_exc_class()
    with CancelScope() as outer:
        with CancelScope(shield=True) as inner:
            outer.cancel()
            await checkpoint()
            inner.shield = False
            with pytest.raises(exc):
                await checkpoint()
            inner.shield = True
            await checkpoint()
            assert current_effective_deadline() == math.inf
        assert not inner.cancelled_caught
    assert not outer.cancelled_caught  # the body never hit an unshielded await after exit


async def test_inner_scope_does_not_catch_outer_cancellation() -> None:
    with CancelScope() as outer:
        with CancelScope() as inner:
            outer.cancel()
            await sleep_forever()
        pytest.fail("unreachable")  # pragma: no cover
    assert outer.cancelled_caught
    assert not inner.cancelled_caught
    assert not inner.cancel_called
    assert inner.cancel_origin is CancelOrigin.ENCLOSING


async def test_both_cancelled_outer_catches() -> None:
    with CancelScope() as outer:
        with CancelScope() as inner:
            inner.cancel("inner")
            outer.cancel("outer")
            await sleep_forever()
    assert outer.cancelled_caught
    assert not inner.cancelled_caught
    assert inner.cancel_called


async def test_inner_cancel_does_not_leak_to_outer() -> None:
    with CancelScope() as outer:
        with CancelScope() as inner:
            inner.cancel()
            await sleep_forever()
        await checkpoint()
        await sleep(0)
    assert inner.cancelled_caught
    assert not outer.cancel_called
    assert not outer.cancelled_caught


async def test_cancel_from_another_task() -> None:
    started = Event()
    scope = CancelScope()

    async def worker() -> None:
        with scope:
            started.set()
            await sleep_forever()

    async def canceller() -> None:
        await started.wait()
        scope.cancel("from sibling")

    await run_concurrently(worker, canceller)
    assert scope.cancelled_caught
    assert scope.cancel_reason == "from sibling"


async def test_cancel_reason_is_visible_in_exception() -> None:
    exc = get_cancelled_exc_class()
    with CancelScope() as scope:
        scope.cancel("shutting down")
        try:
            await sleep_forever()
        except exc as e:
            text = getattr(e, "reason", None) or str(e)
            assert "shutting down" in text
            raise


async def test_first_cancel_decides_origin_and_reason() -> None:
    with CancelScope() as scope:
        scope.cancel("one")
        scope.cancel("two")
        await checkpoint()
    assert scope.cancel_reason == "one"
    assert scope.cancel_origin is CancelOrigin.EXPLICIT


# -- deadlines -------------------------------------------------------------


async def test_deadline_in_the_past_cancels_at_first_checkpoint() -> None:
    with CancelScope(deadline=current_time() - 1) as scope:
        assert scope.cancel_called
        await sleep_forever()
    assert scope.cancelled_caught
    assert scope.cancel_origin is CancelOrigin.DEADLINE
    assert scope.cancel_reason == "deadline exceeded"


async def test_deadline_expires_while_waiting() -> None:
    with move_on_after(0.01) as scope:
        await sleep_forever()
    assert scope.cancelled_caught
    assert scope.cancel_origin is CancelOrigin.DEADLINE


async def test_relative_deadline_counts_from_entry() -> None:
    scope = CancelScope(relative_deadline=1000)
    assert scope.relative_deadline == 1000
    with pytest.raises(RuntimeError, match="relative deadline"):
        scope.deadline  # noqa: B018
    before = current_time()
    with scope:
        assert before + 1000 <= scope.deadline <= current_time() + 1000
        assert 999 < scope.relative_deadline <= 1000 + 1e-6


async def test_deadline_can_be_moved_while_entered() -> None:
    with CancelScope(deadline=current_time() + 1000) as scope:
        await checkpoint()
        scope.deadline = current_time() + 2000
        await checkpoint()
        assert not scope.cancel_called
        scope.relative_deadline = 0
        await sleep_forever()
    assert scope.cancelled_caught
    assert scope.cancel_origin is CancelOrigin.DEADLINE


@pytest.mark.parametrize(
    "how", ["deadline before entry", "relative before entry", "deadline inside", "relative inside"]
)
@pytest.mark.parametrize("passed", [True, False], ids=["passed", "due later"])
async def test_a_plain_scope_given_a_deadline_is_cancelled_by_it(how: str, passed: bool) -> None:
    # CancelScope() with no arguments gets its deadline only from a setter;
    # its exit must still tell a deadline's cancellation from fail_after's.
    seconds = -1.0 if passed else 0.01
    scope = CancelScope()
    if how == "deadline before entry":
        scope.deadline = current_time() + seconds
    elif how == "relative before entry":
        scope.relative_deadline = max(seconds, 0)
    with scope:
        if how == "deadline inside":
            scope.deadline = current_time() + seconds
        elif how == "relative inside":
            scope.relative_deadline = max(seconds, 0)
        await sleep_forever()
    assert scope.cancelled_caught
    assert scope.cancel_origin is CancelOrigin.DEADLINE


async def test_deadline_can_be_removed_while_entered() -> None:
    with CancelScope(relative_deadline=0.01) as scope:
        scope.deadline = math.inf
        await sleep(0.03)
    assert not scope.cancel_called


async def test_move_on_at_and_after() -> None:
    with move_on_at(current_time() - 5) as scope:
        await sleep_forever()
    assert scope.cancelled_caught
    with move_on_after(0) as scope:
        await sleep_forever()
    assert scope.cancelled_caught
    with move_on_after(100) as scope:
        await checkpoint()
    assert not scope.cancel_called


async def test_fail_after_raises_builtin_timeout_error() -> None:
    """ANCHORS trap 7: one rule on every backend: builtin TimeoutError."""
    with pytest.raises(TimeoutError):
        with fail_after(0):
            await sleep_forever()
    with pytest.raises(TimeoutError):
        with fail_at(current_time() - 1):
            await sleep_forever()


async def test_fail_timeout_error_says_how_long() -> None:
    """The TimeoutError names the call and its time, not a scope repr; the
    same text on every backend."""
    with pytest.raises(TimeoutError) as info:
        with fail_after(0.01):
            await sleep_forever()
    assert str(info.value) == (
        "unicancel: fail_after(0.01) timed out: the block did not finish within 0.01 s"
    )
    deadline = current_time() + 0.01
    with pytest.raises(TimeoutError) as info:
        with fail_at(deadline):
            await sleep_forever()
    assert str(info.value) == (
        f"unicancel: fail_at({deadline:g}) timed out: the block did not finish by its "
        f"deadline, {deadline:.3f} on the backend clock (current_time())"
    )


async def test_fail_after_explicit_cancel_moves_on() -> None:
    """ANCHORS trap 7: an explicit cancel() of a fail_* scope does not raise."""
    with fail_after(100) as scope:
        scope.cancel()
        await sleep_forever()
    assert scope.cancelled_caught


async def test_fail_after_without_checkpoint_does_not_raise() -> None:
    with fail_after(0) as scope:
        pass
    assert scope.cancel_called
    assert not scope.cancelled_caught


async def test_fail_after_deadline_before_explicit_cancel_still_raises() -> None:
    with pytest.raises(TimeoutError):
        with fail_at(current_time() - 1) as scope:
            scope.cancel("too late")
            await sleep_forever()
    assert scope.cancel_origin is CancelOrigin.DEADLINE


async def test_fail_after_success_returns_normally() -> None:
    with fail_after(100) as scope:
        await checkpoint()
    assert not scope.cancel_called


# -- effective deadlines ---------------------------------------------------


async def test_current_effective_deadline() -> None:
    now = current_time()
    assert current_effective_deadline() == math.inf
    with CancelScope(deadline=now + 100):
        assert current_effective_deadline() == now + 100
        with CancelScope(deadline=now + 50):
            assert current_effective_deadline() == now + 50
        with CancelScope(deadline=now + 200):
            assert current_effective_deadline() == now + 100
        with CancelScope(deadline=now + 300, shield=True):
            assert current_effective_deadline() == now + 300
        with CancelScope(shield=True):
            assert current_effective_deadline() == math.inf
    assert current_effective_deadline() == math.inf


async def test_effective_deadline_is_minus_inf_when_cancelled() -> None:
    with CancelScope() as outer:
        outer.cancel()
        assert current_effective_deadline() == -math.inf
        with CancelScope(shield=True):
            assert current_effective_deadline() == math.inf
        with CancelScope():
            assert current_effective_deadline() == -math.inf


# -- checkpoints -----------------------------------------------------------


async def test_checkpoint_if_cancelled_does_nothing_when_not_cancelled() -> None:
    await checkpoint_if_cancelled()
    with CancelScope():
        await checkpoint_if_cancelled()


async def test_cancel_shielded_checkpoint_never_raises() -> None:
    with CancelScope() as scope:
        scope.cancel()
        await cancel_shielded_checkpoint()
        await cancel_shielded_checkpoint()
    assert not scope.cancelled_caught


async def test_checkpoint_lets_other_tasks_run() -> None:
    order: list[str] = []

    async def a() -> None:
        order.append("a1")
        await checkpoint()
        order.append("a2")

    async def b() -> None:
        order.append("b1")
        await checkpoint()
        order.append("b2")

    await run_concurrently(a, b)
    assert order.index("b1") < order.index("a2")


async def test_cpu_loop_with_checkpoints_is_cancellable() -> None:
    """SCENARIOS 1: a CPU-bound loop needs checkpoints to be cancellable."""
    iterations = 0
    with CancelScope() as scope:
        while True:
            iterations += 1
            if iterations == 100:
                scope.cancel()
            await checkpoint_if_cancelled()
    assert iterations == 100
    assert scope.cancelled_caught


async def test_repr() -> None:
    scope = CancelScope(relative_deadline=5, shield=True)
    assert repr(scope).startswith("<unicancel.CancelScope at 0x")
    assert "unbound" in repr(scope) and "shielded" in repr(scope)
    with scope:
        assert "active" in repr(scope)
        scope.cancel()
        assert "cancelled (explicit)" in repr(scope)
    assert "exited" in repr(scope)


async def test_repr_after_cancel_after_exit() -> None:
    """Regression: cancel() after exit records cancel_called but no origin,
    and repr() (also used in assertion messages) raised AttributeError."""
    with CancelScope() as scope:
        pass
    scope.cancel()
    assert scope.cancel_called and scope.cancel_origin is None
    assert "cancelled (after exit)" in repr(scope)


async def test_cancelled_exc_class_matches_backend(backend_name: str) -> None:
    import asyncio

    expected = asyncio.CancelledError
    if backend_name == "trio":
        import trio

        expected = trio.Cancelled  # type: ignore[assignment]
    assert get_cancelled_exc_class() is expected
    assert get_cancelled_exc_class(backend_name) is expected


async def test_many_sequential_scopes_leave_no_state() -> None:
    for i in range(200):
        with CancelScope() as scope:
            if i % 2:
                scope.cancel()
            await checkpoint()
    await wait_all_tasks_blocked()
    await sleep(0)


async def test_deadline_moved_into_the_past_is_seen_at_once() -> None:
    with CancelScope() as scope:
        scope.deadline = current_time() - 1
        assert scope.cancel_called
        assert current_effective_deadline() == -math.inf
        await sleep_forever()
    assert scope.cancelled_caught
    assert scope.cancel_origin is CancelOrigin.DEADLINE


async def test_consecutive_precancelled_scopes_at_the_same_await() -> None:
    """Regression: retry-loop detection must not carry over from one scope to
    the next. Every fresh cancelled scope cancels its await, however many run
    back to back at the same line."""
    makers: list[Callable[[], CancelScope]] = [
        lambda: move_on_after(0),
        lambda: move_on_at(current_time() - 1),
        _precancelled,
    ]
    for make in makers:
        for _ in range(5):
            with make() as scope:
                await sleep_forever()
            assert scope.cancelled_caught


def _precancelled() -> CancelScope:
    scope = CancelScope()
    scope.cancel()
    return scope


async def test_nested_deadlines_expire_innermost_first() -> None:
    now = current_time()
    with CancelScope(deadline=now + 100) as outer:
        with CancelScope(deadline=now + 0.02) as middle:
            with CancelScope(deadline=now + 50) as inner:
                await sleep_forever()
    assert middle.cancelled_caught
    assert not inner.cancel_called
    assert not outer.cancel_called


async def test_deadline_moved_earlier_and_later_while_waiting() -> None:
    scopes = [CancelScope(relative_deadline=100) for _ in range(3)]
    done: list[int] = []

    async def waiter(i: int) -> None:
        with scopes[i]:
            await sleep_forever()
        done.append(i)

    async def mover() -> None:
        await wait_all_tasks_blocked()
        scopes[0].deadline = current_time() + 1000  # later: stays asleep
        scopes[1].deadline = current_time() + 0.01  # earlier: fires soon
        scopes[2].deadline = current_time() - 1  # in the past: fires now
        await wait_all_tasks_blocked()
        await sleep(0.03)
        scopes[0].cancel()

    await run_concurrently(lambda: waiter(0), lambda: waiter(1), lambda: waiter(2), mover)
    assert sorted(done) == [0, 1, 2]
    assert done[-1] == 0
    assert [s.cancel_origin for s in scopes] == [
        CancelOrigin.EXPLICIT,
        CancelOrigin.DEADLINE,
        CancelOrigin.DEADLINE,
    ]


async def test_many_armed_scopes_then_one_expiry() -> None:
    for _ in range(500):
        with move_on_after(1000):
            await checkpoint()
    with move_on_after(0.01) as scope:
        await sleep_forever()
    assert scope.cancelled_caught


async def _enclosed_by_native_deadline(*, outer: float | None, shield: bool) -> CancelScope:
    """A unicancel scope inside a native deadline scope (0.01 s), itself
    inside an optional unicancel scope with deadline *outer* and a shield."""
    inner = CancelScope()

    async def body() -> None:
        with CancelScope(shield=shield):
            if backend() == "trio":
                import trio

                with trio.move_on_after(0.01):
                    with inner:
                        await trio.sleep_forever()
            else:
                import asyncio

                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.01):
                        with inner:
                            await asyncio.sleep(10)

    if outer is None:
        await body()
    else:
        with move_on_after(outer):
            await body()
    return inner


async def test_enclosing_reason_of_a_native_deadline_is_none() -> None:
    """asyncio.timeout and trio.move_on_after cancel a unicancel scope inside
    them: ENCLOSING with reason None on every backend (trio said "deadline
    exceeded", asyncio None: asyncio.timeout cancels without a message, so
    its deadline cannot be told from a bare Task.cancel()). A unicancel
    deadline that passed around them still gives "deadline exceeded"."""
    scope = await _enclosed_by_native_deadline(outer=None, shield=False)
    assert scope.cancel_origin is CancelOrigin.ENCLOSING
    assert scope.cancel_reason is None
    # Our deadline had passed, but behind a shield: the native one cancelled it.
    scope = await _enclosed_by_native_deadline(outer=0, shield=True)
    assert (scope.cancel_origin, scope.cancel_reason) == (CancelOrigin.ENCLOSING, None)
    # Our deadline passed first, in reach: it is the reason.
    scope = await _enclosed_by_native_deadline(outer=0, shield=False)
    assert (scope.cancel_origin, scope.cancel_reason) == (
        CancelOrigin.ENCLOSING,
        "deadline exceeded",
    )
