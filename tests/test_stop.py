"""Stop tokens, the backend-neutral core: requesting, observing, callbacks,
linking. Plain synchronous tests (no event loop is needed for any of this)."""

from __future__ import annotations

import gc
import math
import time
import weakref

import pytest

from unicancel import StopRegistration, StopRequested, StopSource, StopToken


# Read through functions: mypy would otherwise narrow a property across calls
# that change it (assert not token.stop_requested; request_stop(); ...).
def stopped(token: StopToken) -> bool:
    return token.stop_requested


def possible(token: StopToken) -> bool:
    return token.stop_possible


def reason(token: StopToken) -> str | None:
    return token.reason


# -- requesting and observing ---------------------------------------------------------


def test_request_stop_is_idempotent_and_keeps_the_first_reason_and_time() -> None:
    source = StopSource()
    token = source.token
    assert (token.stop_requested, token.reason, token.stop_time) == (False, None, None)
    before = time.monotonic()
    assert source.request_stop("first") is True
    after = time.monotonic()
    assert source.request_stop("second") is False
    assert source.request_stop() is False
    assert stopped(token)
    assert source.stop_requested
    assert reason(token) == "first"
    stop_time = token.stop_time
    assert stop_time is not None
    assert before <= stop_time <= after


def test_token_is_always_the_same_object() -> None:
    source = StopSource()
    assert source.token is source.token


def test_reason_is_optional() -> None:
    source = StopSource()
    assert source.request_stop()
    assert source.token.stop_requested
    assert source.token.reason is None


def test_raise_if_stop_requested() -> None:
    source = StopSource()
    source.token.raise_if_stop_requested()  # nothing yet
    source.request_stop("disk full")
    with pytest.raises(StopRequested, match=r"^unicancel: stop requested: disk full$") as info:
        source.token.raise_if_stop_requested()
    assert info.value.reason == "disk full"
    assert isinstance(info.value, Exception)


def test_raise_if_stop_requested_without_reason() -> None:
    source = StopSource()
    source.request_stop()
    with pytest.raises(StopRequested, match=r"stop requested \(no reason given\)") as info:
        source.token.raise_if_stop_requested()
    assert info.value.reason is None


def test_reason_must_be_a_string() -> None:
    source = StopSource()
    with pytest.raises(TypeError, match=r"^unicancel: reason must be a str or None, got 5$"):
        source.request_stop(5)  # type: ignore[arg-type]
    assert not source.token.stop_requested


def test_a_default_token_never_stops() -> None:
    token = StopToken()
    assert not token.stop_possible
    assert not token.stop_requested
    assert token.deadline == math.inf
    ran: list[int] = []
    registration = token.on_stop(lambda: ran.append(1))
    assert registration.cancel() is False
    assert ran == []
    token.raise_if_stop_requested()
    assert "never stops" in repr(token)


def test_stop_possible_follows_the_source() -> None:
    source = StopSource()
    token = source.token
    assert token.stop_possible
    del source
    gc.collect()
    assert not possible(token)  # nobody can request it any more
    assert not stopped(token)


def test_stop_possible_stays_true_once_stopped() -> None:
    source = StopSource()
    token = source.token
    source.request_stop()
    del source
    gc.collect()
    assert token.stop_possible
    assert token.stop_requested


def test_close_makes_stop_impossible_and_later_requests_do_nothing() -> None:
    source = StopSource()
    ran: list[int] = []
    source.token.on_stop(lambda: ran.append(1))
    source.close()
    assert not source.token.stop_possible
    assert source.request_stop("too late") is False
    assert not source.token.stop_requested
    assert ran == []
    source.close()  # idempotent


def test_close_after_stop_keeps_the_stop() -> None:
    source = StopSource()
    source.request_stop("done")
    source.close()
    assert source.token.stop_requested
    assert source.token.reason == "done"


def test_source_as_context_manager_closes() -> None:
    with StopSource() as source:
        assert possible(source.token)
    assert not possible(source.token)
    assert source.request_stop() is False


def test_reprs() -> None:
    source = StopSource()
    assert "running" in repr(source.token)
    assert "StopSource" in repr(source)
    source.request_stop("why")
    assert "stopped ('why')" in repr(source.token)


# -- callbacks --------------------------------------------------------------------------


def test_callback_runs_once_inside_request_stop() -> None:
    source = StopSource()
    seen: list[bool] = []
    source.token.on_stop(lambda: seen.append(source.token.stop_requested))
    assert seen == []
    source.request_stop()
    assert seen == [True]  # ran before request_stop returned, and saw the stop
    source.request_stop()
    assert seen == [True]


def test_callback_runs_at_once_when_already_stopped() -> None:
    source = StopSource()
    source.request_stop()
    seen: list[int] = []
    registration = source.token.on_stop(lambda: seen.append(1))
    assert seen == [1]
    assert registration.cancel() is True


def test_callbacks_run_newest_first() -> None:
    source = StopSource()
    order: list[int] = []
    for i in range(4):
        source.token.on_stop(lambda i=i: order.append(i))  # type: ignore[misc]
    source.request_stop()
    assert order == [3, 2, 1, 0]


def test_cancel_before_stop_prevents_the_callback_and_reports_it() -> None:
    source = StopSource()
    ran: list[int] = []
    registration = source.token.on_stop(lambda: ran.append(1))
    assert registration.cancel() is False
    assert registration.cancel() is False  # idempotent
    source.request_stop()
    assert ran == []


def test_cancel_after_the_callback_ran_returns_true() -> None:
    source = StopSource()
    registration = source.token.on_stop(lambda: None)
    source.request_stop()
    assert registration.cancel() is True
    assert registration.cancel() is True


def test_registration_as_context_manager() -> None:
    source = StopSource()
    ran: list[int] = []
    with source.token.on_stop(lambda: ran.append(1)) as registration:
        assert isinstance(registration, StopRegistration)
        assert "pending" in repr(registration)
    source.request_stop()
    assert ran == []
    assert "cancelled" in repr(registration)


def test_cancel_from_inside_the_callback_does_not_wait_for_itself() -> None:
    source = StopSource()
    answers: list[bool] = []
    registration: StopRegistration | None = None

    def callback() -> None:
        assert registration is not None
        answers.append(registration.cancel())

    registration = source.token.on_stop(callback)
    source.request_stop()
    assert answers == [True]
    assert "ran" in repr(registration)


def test_callback_may_register_another_callback() -> None:
    source = StopSource()
    order: list[str] = []

    def outer() -> None:
        order.append("outer")
        source.token.on_stop(lambda: order.append("inner"))

    source.token.on_stop(outer)
    source.request_stop()
    assert order == ["outer", "inner"]


def test_callback_may_request_stop_again() -> None:
    source = StopSource()
    answers: list[bool] = []
    source.token.on_stop(lambda: answers.append(source.request_stop("again")))
    assert source.request_stop("first")
    assert answers == [False]
    assert source.token.reason == "first"


def test_callback_errors_are_aggregated_and_every_callback_runs() -> None:
    source = StopSource()
    ran: list[str] = []

    def fail(name: str) -> None:
        ran.append(name)
        raise ValueError(name)

    source.token.on_stop(lambda: fail("a"))
    source.token.on_stop(lambda: ran.append("b"))
    source.token.on_stop(lambda: fail("c"))
    with pytest.raises(ExceptionGroup) as info:
        source.request_stop("x")
    assert sorted(ran) == ["a", "b", "c"]
    assert sorted(str(e) for e in info.value.exceptions) == ["a", "c"]
    assert str(info.value).startswith("unicancel: 2 of 3 stop callbacks raised; every callback ran")
    assert source.token.stop_requested  # the stop happened all the same
    assert source.request_stop() is False


def test_a_base_exception_in_a_callback_is_not_lost_either() -> None:
    source = StopSource()
    ran: list[int] = []
    source.token.on_stop(lambda: ran.append(1))

    def interrupt() -> None:
        raise KeyboardInterrupt

    source.token.on_stop(interrupt)
    with pytest.raises(BaseExceptionGroup) as info:
        source.request_stop()
    assert ran == [1]
    assert isinstance(info.value.exceptions[0], KeyboardInterrupt)


def test_error_of_a_callback_run_at_once_propagates_from_on_stop() -> None:
    source = StopSource()
    source.request_stop()

    def fail() -> None:
        raise ValueError("now")

    with pytest.raises(ValueError, match="now"):
        source.token.on_stop(fail)


def test_on_stop_needs_a_callable() -> None:
    with pytest.raises(
        TypeError, match=r"on_stop\(\) needs a sync callable .*for fn.*functools\.partial"
    ):
        StopSource().token.on_stop(5)  # type: ignore[arg-type]


def test_callback_is_released_once_it_ran_or_was_cancelled() -> None:
    """A registration does not keep what its callback holds alive."""

    class Payload:
        def __call__(self) -> None:
            pass

    source = StopSource()
    payload = Payload()
    ref = weakref.ref(payload)
    registration = source.token.on_stop(payload)
    del payload
    assert ref() is not None
    registration.cancel()
    gc.collect()
    assert ref() is None
    assert not source._state.regs  # nothing left registered


def test_closing_releases_pending_callbacks() -> None:
    class Payload:
        def __call__(self) -> None:
            pass

    source = StopSource()
    payload = Payload()
    ref = weakref.ref(payload)
    registration = source.token.on_stop(payload)  # kept: it must not keep the callback
    del payload
    source.close()
    gc.collect()
    assert ref() is None
    assert registration.cancel() is False
    assert "cancelled" in repr(registration)


# -- linking ----------------------------------------------------------------------------


def test_linked_source_stops_when_any_parent_stops() -> None:
    a, b = StopSource(), StopSource()
    linked = StopSource(a.token, b.token)
    assert not linked.token.stop_requested
    b.request_stop("b went away")
    assert stopped(linked.token)
    assert linked.token.reason == "b went away"
    assert not a.token.stop_requested


def test_linked_source_can_stop_on_its_own_without_its_parents() -> None:
    parent = StopSource()
    child = parent.token.child()
    child.request_stop("child only")
    assert child.token.stop_requested
    assert not parent.token.stop_requested


def test_child_of_a_stopped_parent_is_born_stopped() -> None:
    parent = StopSource()
    parent.request_stop("early")
    child = StopSource(parent.token)
    assert child.token.stop_requested
    assert child.token.reason == "early"


def test_linking_to_a_stopped_parent_leaves_no_registration_on_the_others() -> None:
    stopped, live = StopSource(), StopSource()
    stopped.request_stop("gone")
    child = StopSource(stopped.token, live.token)
    assert child.token.reason == "gone"
    assert not live._state.regs


def test_stop_reaches_grandchildren_and_their_callbacks() -> None:
    root = StopSource()
    mid = StopSource(root.token)
    leaf = StopSource(mid.token)
    seen: list[str | None] = []
    leaf.token.on_stop(lambda: seen.append(leaf.token.reason))
    root.request_stop("root")
    assert seen == ["root"]


def test_chain_keeps_working_when_the_middle_source_is_dropped() -> None:
    root = StopSource()
    leaf = StopSource(StopSource(root.token).token)
    gc.collect()
    assert leaf.token.stop_possible
    root.request_stop("through the dropped middle")
    assert leaf.token.reason == "through the dropped middle"


def test_errors_of_a_childs_callbacks_reach_the_root_request() -> None:
    root = StopSource()
    child = StopSource(root.token)

    def fail() -> None:
        raise ValueError("in child")

    child.token.on_stop(fail)
    with pytest.raises(ExceptionGroup) as info:
        root.request_stop()
    assert info.value.subgroup(ValueError) is not None
    assert child.token.stop_requested


def test_closed_child_is_unregistered_and_does_not_keep_its_parent() -> None:
    parent = StopSource()
    child = StopSource(parent.token)
    assert len(parent._state.regs) == 1
    child.close()
    assert not parent._state.regs  # no registration leaks
    parent_ref = weakref.ref(parent._state)
    del parent
    gc.collect()
    assert parent_ref() is None  # the closed child does not keep it alive
    assert not child.token.stop_possible


def test_stopped_child_unregisters_from_its_other_parents() -> None:
    a, b = StopSource(), StopSource()
    child = StopSource(a.token, b.token)
    a.request_stop()
    assert child.token.stop_requested
    assert not b._state.regs


def test_child_dropped_without_close_unregisters_itself() -> None:
    parent = StopSource()
    for _ in range(100):
        StopSource(parent.token)
    gc.collect()
    assert not parent._state.regs


def test_child_token_keeps_the_link_while_the_child_source_is_gone() -> None:
    parent = StopSource()
    token = StopSource(parent.token).token  # only the token is kept
    gc.collect()
    assert token.stop_possible  # the parent can still stop it
    parent.request_stop("parent")
    assert token.reason == "parent"


def test_stop_possible_through_parents() -> None:
    parent = StopSource()
    token = StopSource(parent.token).token
    gc.collect()
    assert token.stop_possible
    parent.close()
    assert not token.stop_possible


def test_parents_must_be_tokens() -> None:
    source = StopSource()
    with pytest.raises(
        TypeError, match=r"takes StopToken arguments for parents, .*; pass source\.token$"
    ):
        StopSource(source)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"takes StopToken arguments for parents, got 3$"):
        StopSource(3)  # type: ignore[arg-type]


def test_linking_to_a_never_stopping_token() -> None:
    child = StopSource(StopToken())
    assert child.token.stop_possible  # its own source can
    child.close()
    assert not child.token.stop_possible


def test_deadlines_need_a_running_event_loop() -> None:
    source = StopSource()
    with pytest.raises(RuntimeError, match="no running asyncio event loop or trio run"):
        source.stop_after(1)
    with pytest.raises(RuntimeError, match="no running asyncio event loop or trio run"):
        source.stop_at(0)
