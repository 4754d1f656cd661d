"""Leaks and reference cycles (issue 11, bugs 3 and 5).

* Nothing unicancel keeps (module-level state included) may keep a task, a
  loop or a frame alive: a task left pending in a closed loop must be
  collected, and its ``finally`` run, exactly as plain asyncio does.
* A scope or a task group must leave no reference cycles: what the body and
  the children held (a 1 MiB buffer, a socket) is freed when they finish,
  not at the next run of the garbage collector. trio's own tests ask the
  same of nurseries and cancel scopes (test_nursery_cancel_doesnt_create_
  cyclic_garbage, test_locals_destroyed_promptly_on_cancel).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import sys
import weakref
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from types import FrameType, ModuleType
from typing import Any

import pytest

import unicancel
from unicancel import (
    CancelScope,
    StopSource,
    TaskGroup,
    TaskStatus,
    fail_after,
    move_on_after,
    move_on_when,
)

from ._helpers import (
    backend,
    is_unicancel_object,
    no_cyclic_garbage,
    sleep,
    sleep_forever,
    wait_all_tasks_blocked,
)
from .conftest import LoopFactory

# -- reference cycles, on every backend ---------------------------------------


async def _cancelled_group() -> None:
    async with TaskGroup() as tg:
        tg.start_soon(sleep_forever)
        tg.start_soon(sleep_forever)
        await wait_all_tasks_blocked()
        tg.cancel_scope.cancel()


async def _failed_group() -> None:
    async def fails() -> None:
        # After a checkpoint: a child failing in an *eager* first step is
        # caught up in asyncio's own cycles on 3.12/3.13 (the frame of
        # create_task holds it; asyncio.TaskGroup has the same).
        await sleep(0)
        raise ValueError("boom")

    with pytest.raises(ExceptionGroup):
        async with TaskGroup() as tg:
            tg.start_soon(sleep_forever)
            tg.start_soon(fails)
            await sleep_forever()


async def _cancelled_scope() -> None:
    with CancelScope() as scope:
        scope.cancel()
        await sleep_forever()


async def _fired_fail_after() -> None:
    with pytest.raises(TimeoutError):
        with fail_after(0.001):
            await sleep_forever()


async def _fail_after_fired_in_child() -> None:
    # The child's TimeoutError leaves it (asyncio: the task keeps it).
    async def child() -> None:
        with fail_after(0.001):
            await sleep_forever()

    with pytest.raises(ExceptionGroup):
        async with TaskGroup() as tg:
            tg.start_soon(child)


async def _fired_move_on_after() -> None:
    with move_on_after(0.001) as scope:
        await sleep_forever()
    assert scope.cancelled_caught


async def _started_child() -> None:
    async def child(*, task_status: TaskStatus[int]) -> None:
        task_status.started(1)
        await sleep_forever()

    async with TaskGroup() as tg:
        await tg.start(child)
        tg.cancel_scope.cancel()


async def _start_fails() -> None:
    async def child(*, task_status: TaskStatus[None]) -> None:
        await sleep(0)
        raise KeyError("before started()")

    with pytest.raises(ExceptionGroup):
        async with TaskGroup() as tg:
            await tg.start(child)


async def _stopped_token_scope() -> None:
    source = StopSource()
    with move_on_when(source.token) as scope:
        source.request_stop("done")
        await sleep_forever()
    assert scope.cancelled_caught


async def _misnested_scopes() -> None:
    outer, inner = CancelScope(), CancelScope()
    outer.__enter__()
    inner.__enter__()
    with pytest.raises(RuntimeError, match="nested inside it was still open"):
        outer.__exit__(None, None, None)
    inner.__exit__(None, None, None)


async def _misnesting_error_leaves_a_child() -> None:
    # The error leaves the child (asyncio: its task keeps it).
    async def child() -> None:
        outer, inner = CancelScope(), CancelScope()
        outer.__enter__()
        inner.__enter__()
        await sleep(0)
        outer.__exit__(None, None, None)

    with pytest.raises(ExceptionGroup):
        async with TaskGroup() as tg:
            tg.start_soon(child)


async def _exited_in_another_task() -> None:
    # The wrong task's error stays on that task (asyncio); the frames that
    # raised it must not hold a task (a hostile review: they held both).
    scope = CancelScope()

    async def wrong_task() -> None:
        # Not in its first step: under an eager task factory (3.12, 3.13)
        # the frames that spawned it would be in its traceback's f_back chain.
        await sleep(0)
        scope.__exit__(None, None, None)

    scope.__enter__()
    message = ""
    try:
        async with TaskGroup() as tg:
            tg.start_soon(wrong_task)
    except ExceptionGroup as group:
        message = str(group.exceptions[0])
    assert "exited in task" in message
    scope.__exit__(None, None, None)


SCENARIOS: dict[str, Callable[[], Awaitable[None]]] = {
    "cancelled group": _cancelled_group,
    "failed group": _failed_group,
    "cancelled scope": _cancelled_scope,
    "fired fail_after": _fired_fail_after,
    "fail_after fired in a child": _fail_after_fired_in_child,
    "fired move_on_after": _fired_move_on_after,
    "start()ed child": _started_child,
    "start() whose child fails": _start_fails,
    "move_on_when, token stopped": _stopped_token_scope,
    "misnested scopes": _misnested_scopes,
    "misnesting error leaving a child": _misnesting_error_leaves_a_child,
    "scope exited in another task": _exited_in_another_task,
}


@pytest.mark.anyio
@pytest.mark.parametrize("name", SCENARIOS)
async def test_no_reference_cycles(name: str) -> None:
    """Before the fix (3.13, as this test measured it): cancelled group 39-42
    objects in cycles on asyncio / 97 on trio, failed group 35-39 / 76,
    fail_after fired in a child 62-66 / 77, start()ed child 34-36 / 82,
    start() whose child fails 34-36 / 58, a misnesting error leaving a child
    45-49 / (trio's own: 8 with native scopes); the other five were 0
    already (kept as guards)."""
    if name == "misnesting error leaving a child" and backend() == "trio":
        pytest.skip("trio's own misnesting error leaves cycles when it leaves a task")
    scenario = SCENARIOS[name]
    await scenario()  # warm up: first-use caches are not garbage
    only = None
    if name == "scope exited in another task" and backend() == "trio":
        # Under pytest only (not under trio.run or anyio.run) trio's side
        # leaves 25 objects of others' code (an attrs _ClassBuilder, cells):
        # hold unicancel's own to the rule.
        only = is_unicancel_object
    with no_cyclic_garbage(only):
        await scenario()
        await wait_all_tasks_blocked()  # let done-callbacks run


@pytest.mark.anyio
async def test_native_control_leaves_no_reference_cycles() -> None:
    """What the test above asks is reachable: the native nursery leaves no
    cycles (asyncio.TaskGroup only from 3.14: 13-17 objects before)."""

    async def native_cancelled_group() -> None:
        if backend() == "trio":
            import trio

            async with trio.open_nursery() as nursery:
                nursery.start_soon(sleep_forever)
                await wait_all_tasks_blocked()
                nursery.cancel_scope.cancel()
        else:
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.001), asyncio.TaskGroup() as tg:
                    tg.create_task(sleep_forever())
                    await sleep_forever()

    if backend() == "asyncio" and sys.version_info < (3, 14):
        pytest.skip("asyncio.TaskGroup leaves reference cycles before Python 3.14")
    await native_cancelled_group()
    with no_cyclic_garbage():
        await native_cancelled_group()
        await wait_all_tasks_blocked()


def test_no_cyclic_garbage_helper_sees_a_cycle() -> None:
    """The helper used above can fail."""

    class Node:
        me: object

    def make_cycle() -> None:
        node = Node()
        node.me = node

    with pytest.raises(AssertionError, match="1 objects left in reference cycles"):
        with no_cyclic_garbage():
            make_cycle()
    assert gc.isenabled()


# -- locals freed promptly ----------------------------------------------------


class _Buffer:
    def __init__(self) -> None:
        self.data = bytearray(1 << 20)


@pytest.fixture
def gc_disabled() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@pytest.mark.anyio
@pytest.mark.usefixtures("gc_disabled")
async def test_cancelled_group_body_locals_freed_without_gc() -> None:
    """Before the fix, on trio, the 1 MiB buffer lived until gc.collect()."""
    refs: list[weakref.ref[_Buffer]] = []

    async def body() -> None:
        buffer = _Buffer()
        refs.append(weakref.ref(buffer))
        async with TaskGroup() as tg:
            tg.start_soon(sleep_forever)
            await wait_all_tasks_blocked()
            tg.cancel_scope.cancel()
            await sleep_forever()

    await body()
    await wait_all_tasks_blocked()
    assert refs[0]() is None


@pytest.mark.anyio
@pytest.mark.usefixtures("gc_disabled")
async def test_cancelled_child_locals_freed_without_gc() -> None:
    refs: list[weakref.ref[_Buffer]] = []

    async def child() -> None:
        buffer = _Buffer()
        refs.append(weakref.ref(buffer))
        await sleep_forever()

    async def failing_child() -> None:
        buffer = _Buffer()
        refs.append(weakref.ref(buffer))
        await sleep(0)
        raise ValueError("boom")

    with CancelScope() as scope:
        async with TaskGroup() as tg:
            tg.start_soon(child)
            await wait_all_tasks_blocked()
            scope.cancel()
    with pytest.raises(ExceptionGroup):
        async with TaskGroup() as tg:
            tg.start_soon(child)
            tg.start_soon(failing_child)
    await wait_all_tasks_blocked()
    assert [ref() for ref in refs] == [None, None, None]


def test_task_group_is_weak_referenceable() -> None:
    group = TaskGroup()
    assert weakref.ref(group)() is group


# -- nothing kept alive after its loop is closed -----------------------------

ROUNDS = 200


class _Program:
    """Tasks left pending, each inside a different kind of block, in a loop
    that is then closed. *native*: the same with asyncio's own blocks, the
    control that shows what plain asyncio does."""

    def __init__(self, *, native: bool) -> None:
        self.native = native
        self.finally_ran: Counter[str] = Counter()
        self.tasks: list[weakref.ref[asyncio.Task[Any]]] = []
        self.loops: list[weakref.ref[asyncio.AbstractEventLoop]] = []
        # An application's long-lived token (a shutdown token, say).
        self.source = StopSource()
        self.token = self.source.token

    async def _blocked(self, kind: str) -> None:
        try:
            if self.native and kind == "group":
                async with asyncio.TaskGroup() as native_tg:
                    native_tg.create_task(asyncio.Event().wait())
                    await asyncio.Event().wait()
            elif self.native:
                async with asyncio.timeout(1000 if kind != "cancelled" else None):
                    await asyncio.Event().wait()
            elif kind == "scope":
                with CancelScope():
                    await asyncio.Event().wait()
            elif kind == "deadline":
                with move_on_after(1000):
                    await asyncio.Event().wait()
            elif kind == "cancelled":
                with CancelScope() as scope:
                    scope.cancel()
                    # Swallowed: the task goes on, still inside the scope.
                    with contextlib.suppress(asyncio.CancelledError):
                        await asyncio.sleep(0)
                    await asyncio.Event().wait()
            elif kind == "group":
                async with TaskGroup() as tg:
                    tg.start_soon(asyncio.Event().wait)
                    await asyncio.Event().wait()
            else:
                with move_on_when(self.token):
                    await asyncio.Event().wait()
        finally:
            self.finally_ran[kind] += 1

    KINDS = ("scope", "deadline", "cancelled", "group", "token")

    def run_once(self, factory: LoopFactory) -> None:
        loop = factory()
        # "Task was destroyed but it is pending!": expected here.
        loop.set_exception_handler(lambda loop, context: None)

        async def main() -> None:
            for kind in self.KINDS:
                self.tasks.append(weakref.ref(loop.create_task(self._blocked(kind))))
            for _ in range(5):
                await asyncio.sleep(0)

        loop.run_until_complete(main())
        self.loops.append(weakref.ref(loop))
        loop.close()

    def alive(self) -> tuple[int, int]:
        gc.collect()
        return (
            sum(ref() is not None for ref in self.tasks),
            sum(ref() is not None for ref in self.loops),
        )


def _loop_factories() -> Iterator[Any]:
    yield pytest.param(asyncio.new_event_loop, id="asyncio")
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        pass
    else:
        yield pytest.param(uvloop.new_event_loop, id="uvloop")
    if sys.version_info >= (3, 12):

        def eager() -> asyncio.AbstractEventLoop:
            loop = asyncio.new_event_loop()
            loop.set_task_factory(asyncio.eager_task_factory)
            return loop

        yield pytest.param(eager, id="eager")


@pytest.fixture
def unraisable() -> Iterator[list[str]]:
    """Errors raised while the collector closes the abandoned coroutines.
    asyncio's own group raises one of its own there ("Event loop is closed"),
    and so does ours, the same: recorded (as text: the exception would keep
    the frames alive), not turned into test failures."""
    found: list[str] = []
    previous = sys.unraisablehook
    sys.unraisablehook = lambda report: found.append(repr(report.exc_value))
    try:
        yield found
    finally:
        sys.unraisablehook = previous


@pytest.mark.parametrize("factory", list(_loop_factories()))
def test_closed_loops_keep_no_task_alive(factory: LoopFactory, unraisable: list[str]) -> None:
    """Bug 3: before the fix, each of the 200 tasks left pending in a scope,
    a group or a bound scope stayed alive with its loop, and its finally
    never ran (1,000 tasks and 200 loops alive here)."""
    native = _Program(native=True)
    ours = _Program(native=False)
    for _ in range(ROUNDS):
        native.run_once(factory)
    native_errors = set(unraisable)
    for _ in range(ROUNDS):
        ours.run_once(factory)
    every = dict.fromkeys(_Program.KINDS, ROUNDS)
    assert native.alive() == (0, 0)  # what plain asyncio does...
    # (With eager tasks, asyncio.TaskGroup's exit sometimes awaits while its
    # coroutine is closed: "coroutine ignored GeneratorExit", and the
    # enclosing finally does not run. Ours unwinds without awaiting.)
    assert native.finally_ran["group"] <= ROUNDS
    assert {**native.finally_ran, "group": ROUNDS} == every
    assert ours.alive() == (0, 0)  # ...unicancel does too
    assert ours.finally_ran == every
    # asyncio.TaskGroup's exit fails while its coroutine is closed (it
    # cannot wake its child: the loop is closed); ours adds no error.
    assert set(unraisable) <= native_errors
    assert_globals_hold_nothing()


def test_finished_trio_runs_keep_nothing_alive() -> None:
    pytest.importorskip("trio")
    import trio
    import trio.testing

    tasks: list[weakref.ref[Any]] = []
    finally_ran = 0
    source = StopSource()  # long-lived

    async def blocked() -> None:
        nonlocal finally_ran
        tasks.append(weakref.ref(trio.lowlevel.current_task()))
        try:
            with CancelScope(), move_on_when(source.token):
                await trio.sleep_forever()
        finally:
            finally_ran += 1

    async def main() -> None:
        with move_on_after(1):  # ends the run with everything still pending
            async with TaskGroup() as tg:
                tg.start_soon(blocked)
                tg.start_soon(blocked)
                await blocked()

    for _ in range(ROUNDS // 4):
        trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    gc.collect()
    assert sum(ref() is not None for ref in tasks) == 0
    assert finally_ran == len(tasks) == 3 * (ROUNDS // 4)
    assert_globals_hold_nothing()


def assert_globals_hold_nothing() -> None:
    """No module-level object of unicancel refers to a task, a loop, a frame,
    a coroutine or a scope (what would keep a task alive), two levels deep."""
    held = [
        f"{module.__name__}.{name}: {type(found).__name__}"
        for module in _unicancel_modules()
        for name, value in vars(module).items()
        if not name.startswith("__")
        for found in _reachable(value)
    ]
    assert not held, held


_KEEPS_ALIVE = (asyncio.Task, asyncio.AbstractEventLoop, FrameType, CancelScope, TaskGroup)


def _unicancel_modules() -> list[ModuleType]:
    return [
        module
        for name, module in list(sys.modules.items())
        if module is not None
        and (name == "unicancel" or name.startswith("unicancel."))
        and not name.startswith("unicancel._tools.compare")  # the catalogue: static tables
    ]


def _reachable(value: object, depth: int = 2) -> Iterator[object]:
    if isinstance(value, (type, ModuleType)) or (
        callable(value) and not hasattr(value, "__self__")
    ):
        return  # classes, modules and plain functions are code, not state
    if isinstance(value, _KEEPS_ALIVE) or type(value).__name__ in ("coroutine", "Task"):
        yield value
        return
    if depth and (isinstance(value, (dict, list, tuple, set, frozenset)) or hasattr(value, "data")):
        items: Any = getattr(value, "data", value)
        if isinstance(items, dict):
            items = [*items.keys(), *items.values()]
        if isinstance(items, (list, tuple, set, frozenset)):
            for item in items:
                yield from _reachable(item, depth - 1)


def test_globals_check_sees_a_task() -> None:
    """The module scan above can fail: a task in a module-level table."""

    async def main() -> None:
        task = asyncio.current_task()
        unicancel._leak_probe = {task: None}  # type: ignore[attr-defined]
        try:
            with pytest.raises(AssertionError, match=r"unicancel\._leak_probe: Task"):
                assert_globals_hold_nothing()
        finally:
            del unicancel._leak_probe  # type: ignore[attr-defined]

    asyncio.run(main())


def test_unicancel_objects_filter() -> None:
    assert is_unicancel_object(CancelScope())
    assert not is_unicancel_object(object())


def test_context_copied_from_a_task_does_not_keep_its_loop() -> None:
    """On 3.11 unicancel caches the running loop in the task's context (the
    getpid() shortcut); a copy of that context that outlives the task (a
    thread's, a callback's) must not keep the loop alive."""
    import contextvars

    kept: list[contextvars.Context] = []

    async def main() -> None:
        with CancelScope():  # looks the running loop up
            await asyncio.sleep(0)
        kept.append(contextvars.copy_context())

    loop = asyncio.new_event_loop()
    loop.run_until_complete(main())
    loop.close()
    ref = weakref.ref(loop)
    del loop
    gc.collect()
    assert ref() is None
    assert kept
