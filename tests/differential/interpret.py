"""Run one compiled program on one system and return its observable trace.

Systems:

* ``trio``: the oracle, native trio (:mod:`.oracle`);
* ``unicancel-trio``, ``unicancel-asyncio``, ``unicancel-uvloop``: unicancel's
  API on each backend.

The trace is per task (``{"main": [...], "main/c7": [...], ...}``), so the
order in which *different* tasks run never matters, only what each task saw
and when (virtual time, relative to the program's start). Events:

* ``(t, "await", n, "ok" | "X")``: await ``n`` completed, or raised the
  cancelled exception (``"X"``);
* ``(t, "scope", n, cancelled_caught, cancel_called, cancel_origin,
  cancel_reason, exception leaving the scope)``;
* ``(t, "group", n, tg.cancel_scope.cancelled_caught,
  tg.cancel_scope.cancel_called, exception leaving the group)``;
* ``(t, "cancel", n, found)``: a ``Cancel``/``CancelGroup`` statement ran
  (``found``: the target existed);
* ``(t, "deadline", n, current_effective_deadline() - T0)`` (``"inf"``,
  ``"-inf"`` or a number);
* ``(t, "end", exception)``: a child task finished;
* ``(t, "start", n, "ok" | "missing" | exception)``: ``await G[g].start(...)``
  returned, found no group ``g`` yet, or raised;
* ``(t, "started", n)``: a started child calls ``task_status.started()``.

Two checks are not part of the trace (they compare nothing with trio):

* after every run on a unicancel system, :class:`~.hygiene.Leftovers` looks
  for cyclic garbage and global-table entries the run left behind
  (``Trace.leftovers``);
* the *interrupt run* (``run(..., interrupts=True)``, unicancel-asyncio only)
  acts on ``Interrupt`` statements: ``Task.cancel()`` of another task. Its
  invariants (``Trace.violations``): every outside cancel is observed by its
  task (a CancelledError reaches a swallowing await, a ``finally`` block or
  the task's end, or at the latest the task's next await after its body,
  which the runner adds) and, once the run is over, the main task's
  ``cancelling()`` equals the number of outside cancels it received
  (unicancel's own requests are all withdrawn).

Exceptions are normalised: ``"Cancelled"`` for the backend's cancelled
exception, ``"ValueError(e5)"`` for the program's own errors (``e5``: the
``Raise`` statement), the type name for anything else, and an exception group
as ``"Group[...]"`` of its normalised members, sorted (the order in which
children failed is scheduling, not semantics). Cancel reasons: the
program's own (``"r<n>"``), ``"deadline exceeded"``, None, or ``"other"``
(a task group's internal text). Events after the run hung (virtual
:data:`~.clocks.HORIZON` reached, or a deadlock) are dropped and the outcome
is ``"hang"``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
import random
import re
import sys
import traceback
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import CodeType
from typing import Any, Literal, TypeAlias

import trio
import trio._core._run as _trio_run

import unicancel

from . import oracle
from .clocks import HORIZON, Abandon, VirtualClockLoop, trio_clock
from .hygiene import Leftovers

__all__ = ["SYSTEMS", "Event", "Recorder", "System", "Trace", "compile_program", "run"]

System: TypeAlias = Literal["trio", "unicancel-trio", "unicancel-asyncio", "unicancel-uvloop"]
SYSTEMS: tuple[System, ...] = ("trio", "unicancel-trio", "unicancel-asyncio", "unicancel-uvloop")

Event: TypeAlias = tuple[float | str | bool | None, ...]

#: Real seconds after which a uvloop run counts as hung.
UVLOOP_WATCHDOG = 5.0

_USER_REASON = re.compile(r"r\d+")


@dataclass(frozen=True)
class Trace:
    tasks: Mapping[str, tuple[Event, ...]]
    outcome: str  # "ok", "hang", or the normalised exception main raised
    notes: tuple[str, ...] = field(default=(), compare=False)  # diagnostics only
    #: Cyclic garbage and global-table entries left behind (unicancel systems).
    leftovers: tuple[str, ...] = field(default=(), compare=False)
    #: Broken invariants of the interrupt run (outside cancels).
    violations: tuple[str, ...] = field(default=(), compare=False)

    def describe(self) -> str:
        lines = [f"outcome: {self.outcome}"]
        for task in sorted(self.tasks):
            lines.append(f"  {task}:")
            lines.extend(f"    {event}" for event in self.tasks[task])
        lines.extend(f"  LEFT BEHIND: {item}" for item in self.leftovers)
        lines.extend(f"  VIOLATION: {item}" for item in self.violations)
        lines.extend(f"  note: {note}" for note in self.notes)
        return "\n".join(lines)


class Recorder:
    """``T`` in the generated source."""

    def __init__(
        self,
        cancelled: type[BaseException],
        now: Callable[[], float],
        current_task: Callable[[], Any] | None = None,
    ) -> None:
        self.cancelled = cancelled
        self._now = now
        # The interrupt run (asyncio): set, Interrupt statements cancel tasks.
        self._current = current_task
        self._hosts: dict[int, Any] = {}  # child label (0: main) -> latest task
        self._tasks: list[tuple[str, Any]] = []  # every hosted task, by name
        self._delivered: dict[Any, int] = {}  # task -> outside cancels it received
        self._unobserved: dict[Any, str] = {}  # task -> first outside cancel not yet seen
        self._killed: set[Any] = set()  # tasks that ended with a CancelledError
        self.violations: list[str] = []
        self.t0 = 0.0
        self.hung = False
        self.tasks: dict[str, list[Event]] = {"main": []}
        self.outcome = "unfinished"
        self.notes: list[str] = []
        self._spawned: dict[str, int] = {}

    # -- called by the program ------------------------------------------

    def a(self, me: str, n: int, what: str, *, swallowed: bool = False) -> None:
        self._ev(me, "await", n, what)
        if swallowed:
            self._observed()  # the program itself consumed the cancellation

    def x(self, me: str, n: int, scope: Any, exc: BaseException | None) -> None:
        origin = scope.cancel_origin
        self._ev(
            me,
            "scope",
            n,
            scope.cancelled_caught,
            scope.cancel_called,
            None if origin is None else str(getattr(origin, "value", origin)),
            self._reason(scope.cancel_reason),
            self.norm(exc),
        )

    def g(self, me: str, n: int, group: Any, exc: BaseException | None) -> None:
        scope = group.cancel_scope
        self._ev(me, "group", n, scope.cancelled_caught, scope.cancel_called, self.norm(exc))

    def c(self, me: str, n: int, target: Any) -> None:
        if target is not None:
            target.cancel(f"r{n}")
        self._ev(me, "cancel", n, target is not None)

    def d(self, me: str, n: int, value: float) -> None:
        shown: float | str
        if value == -math.inf:
            shown = "-inf"
        elif value >= HORIZON / 2:  # none, or only the runner's hang guard (trio)
            shown = "inf"
        else:
            shown = value
        self._ev(me, "deadline", n, shown)

    def end(self, me: str, exc: BaseException | None) -> None:
        self._ev(me, "end", self.norm(exc))

    def st(self, me: str, n: int, exc: BaseException | None, *, found: bool = True) -> None:
        self._ev(me, "start", n, "missing" if not found else self.norm(exc) or "ok")

    def s(self, me: str, n: int) -> None:
        self._ev(me, "started", n)

    # -- outside cancels (the interrupt run) -------------------------------

    def begin(self, me: str, label: int) -> None:
        """A task starts running child body *label* (0: main)."""
        if self._current is not None:
            task = self._current()
            self._hosts[label] = task
            self._tasks.append((me, task))

    def i(self, me: str, n: int, target: int) -> None:
        """``Task.cancel()`` of the latest task running body *target*."""
        if self._current is None:
            return
        task = self._hosts.get(target)
        if task is None or task is self._current() or task.done():
            return
        if task.cancel():
            self._delivered[task] = self._delivered.get(task, 0) + 1
            self._unobserved.setdefault(task, f"Interrupt {n} from {me} at t={self._t()}")

    def f(self, me: str) -> None:
        """A ``finally`` block starts: a cancellation in flight reached the program."""
        if self._current is not None and isinstance(sys.exc_info()[1], self.cancelled):
            self._observed()

    async def settle(self, me: str, exc: BaseException | None) -> None:
        """A task's body is over: an outside cancel it has not seen must
        land at its next await (this one), else it was dropped."""
        if self._current is None:
            return
        task = self._current()
        if isinstance(exc, self.cancelled):
            self._unobserved.pop(task, None)
            self._killed.add(task)
        if task not in self._unobserved:
            return
        try:
            await asyncio.sleep(0)
        except self.cancelled:
            self._unobserved.pop(task, None)
            self._killed.add(task)
            raise
        self.violations.append(
            f"outside cancel dropped: {self._unobserved.pop(task)} was never raised in {me}, "
            f"which ended with {self.norm(exc) or 'no exception'}; its next await was not "
            "cancelled"
        )

    def balance(self) -> None:
        """After the run: unicancel withdrew every Task.cancel() of its own
        from the main task, where every scope that charged one has exited.
        (Children are left out: a child cancelled through a scope of its
        parent is done before that scope exits, and asyncio's own TaskGroup
        leaves such a child's count at 1 as well.)"""
        for me, task in self._tasks:
            if me != "main" or task in self._killed:
                continue
            want = self._delivered.get(task, 0)
            if task.cancelling() != want:
                self.violations.append(
                    f"cancelling() unbalanced: {me} ended with cancelling() == "
                    f"{task.cancelling()}, received {want} outside cancel(s)"
                )

    def _observed(self) -> None:
        if self._current is not None:
            self._unobserved.pop(self._current(), None)

    def name(self, me: str, child: int) -> str:
        base = f"{me}/c{child}"
        count = self._spawned[base] = self._spawned.get(base, 0) + 1
        return base if count == 1 else f"{base}#{count}"

    # -- called by the runner -------------------------------------------

    def finish(self, exc: BaseException | None) -> None:
        self.outcome = "ok" if exc is None else self.norm(exc) or "?"

    def trace(self, leftovers: list[str] | None = None) -> Trace:
        outcome = "hang" if self.hung else self.outcome
        tasks = {task: tuple(events) for task, events in self.tasks.items()}
        return Trace(
            tasks, outcome, tuple(self.notes), tuple(leftovers or ()), tuple(self.violations)
        )

    # -- normalisation ---------------------------------------------------

    def _t(self) -> float:
        return self._now() - self.t0

    def _ev(self, me: str, *event: float | str | bool | None) -> None:
        t = self._t()
        if self.hung or t >= HORIZON:
            return
        self.tasks.setdefault(me, []).append((t, *event))

    def norm(self, exc: BaseException | None) -> str | None:
        if exc is None:
            return None
        if isinstance(exc, BaseExceptionGroup):
            inner = sorted(self.norm(e) or "?" for e in exc.exceptions)
            return "Group[" + ", ".join(inner) + "]"
        if isinstance(exc, self.cancelled):
            return "Cancelled"
        if (
            type(exc) in (ValueError, KeyError)
            and exc.args
            and isinstance(exc.args[0], str)
            and re.fullmatch(r"e\d+", exc.args[0])
        ):
            return f"{type(exc).__name__}({exc.args[0]})"
        if type(exc) is not TimeoutError:
            note = "".join(traceback.format_exception(exc)).rstrip()
            if note not in self.notes:
                self.notes.append(note)
        return type(exc).__name__

    @staticmethod
    def _reason(reason: str | None) -> str | None:
        if reason is None or reason == "deadline exceeded" or _USER_REASON.fullmatch(reason):
            return reason
        return "other"


def compile_program(source: str) -> CodeType:
    return compile(source, "<differential program>", "exec")


def _load(
    code: CodeType, names: Mapping[str, object]
) -> Callable[[Recorder, str], Awaitable[None]]:
    namespace: dict[str, Any] = dict(names)
    exec(code, namespace)
    program: Callable[[Recorder, str], Awaitable[None]] = namespace["program"]
    return program


_UNICANCEL: dict[str, object] = {
    name: getattr(unicancel, name)
    for name in (
        "CancelScope",
        "TaskGroup",
        "move_on_at",
        "move_on_after",
        "fail_at",
        "fail_after",
        "checkpoint",
        "checkpoint_if_cancelled",
        "cancel_shielded_checkpoint",
        "current_effective_deadline",
        "current_time",
    )
}
_UNICANCEL["inf"] = math.inf


def _trio_work(seconds: float) -> None:
    # CPU work on trio: MockClock time passes within the task's step.
    clock = trio.lowlevel.current_clock()
    assert isinstance(clock, trio.testing.MockClock)
    clock.jump(seconds)


def _asyncio_work(seconds: float) -> None:
    loop = asyncio.get_running_loop()
    assert isinstance(loop, VirtualClockLoop), "CPU work needs the virtual clock (not uvloop)"
    loop.work(seconds)


async def _asyncio_sleep_forever() -> None:
    await asyncio.get_running_loop().create_future()


async def _trio_sleep_forever() -> None:
    # Not trio.sleep_forever(): a shielded one would block a hung run for
    # ever, out of the hang guard's reach. Past HORIZON nothing is recorded,
    # so for the trace this is forever.
    await trio.sleep_until(2 * HORIZON)


_UNICANCEL_TRIO = {
    **_UNICANCEL,
    "sleep": trio.sleep,
    "sleep_forever": _trio_sleep_forever,
    "Cancelled": trio.Cancelled,
    "work": _trio_work,
}
_UNICANCEL_ASYNCIO = {
    **_UNICANCEL,
    "sleep": asyncio.sleep,
    "sleep_forever": _asyncio_sleep_forever,
    "Cancelled": asyncio.CancelledError,
    "work": _asyncio_work,
}


def run(
    system: System,
    code: CodeType,
    seed: int = 0,
    *,
    jitter: bool = False,
    interrupts: bool = False,
) -> Trace:
    """Run the compiled program on *system*. *seed* picks trio's scheduling
    order among tasks that are ready at the same time (trio systems only);
    *jitter* (the oracle only) adds schedule points at random, drawn from
    *seed* as well: a sample of the zero-time schedules trio allows.
    *interrupts* (unicancel-asyncio only): the interrupt run, in which
    ``Interrupt`` statements call ``Task.cancel()``. On the unicancel systems
    the trace also lists what the run left behind (:mod:`.hygiene`)."""
    if system == "trio":
        rng = random.Random(seed)
        names = oracle.namespace(_trio_sleep_forever, oracle.make_jitter(rng) if jitter else None)
        return _run_trio(code, names, seed)
    assert not interrupts or system == "unicancel-asyncio", system
    with Leftovers() as left:
        if system == "unicancel-trio":
            trace = _run_trio(code, _UNICANCEL_TRIO, seed)
        elif system == "unicancel-asyncio":
            trace = _run_asyncio(code, VirtualClockLoop(), virtual=True, interrupts=interrupts)
        else:
            import uvloop

            trace = _run_asyncio(code, uvloop.new_event_loop(), virtual=False)
    return dataclasses.replace(trace, leftovers=tuple(left.found))


def _seed_trio(seed: int) -> None:
    # What trio's own hypothesis plugin does: each batch of ready tasks is
    # sorted, then shuffled with trio's scheduler RNG, which we seed.
    setattr(_trio_run, "_ALLOW_DETERMINISTIC_SCHEDULING", True)  # noqa: B010 - Final
    _trio_run._r.seed(seed)


def _run_trio(code: CodeType, names: Mapping[str, object], seed: int) -> Trace:
    rec = Recorder(trio.Cancelled, trio.current_time)
    program = _load(code, names)

    async def main() -> None:
        rec.t0 = trio.current_time()
        # The hang guard: a native scope no program deadline comes near.
        with trio.move_on_at(rec.t0 + HORIZON) as guard:
            try:
                await program(rec, "main")
            except BaseException as exc:  # recorded, not re-raised
                rec.finish(exc)
            else:
                rec.finish(None)
        if guard.cancel_called:
            rec.hung = True

    _seed_trio(seed)
    try:
        trio.run(main, clock=trio_clock(), strict_exception_groups=True)
    except BaseException as exc:
        rec.outcome = f"crash: {type(exc).__name__}"
        rec.notes.append("".join(traceback.format_exception(exc)))
    return rec.trace()


def _run_asyncio(
    code: CodeType, loop: asyncio.AbstractEventLoop, *, virtual: bool, interrupts: bool = False
) -> Trace:
    # uvloop runs only programs that never read the clock: every event is at 0.
    rec = Recorder(
        asyncio.CancelledError,
        loop.time if virtual else lambda: 0.0,
        asyncio.current_task if interrupts else None,
    )
    program = _load(code, _UNICANCEL_ASYNCIO)

    async def main() -> None:
        rec.t0 = loop.time() if virtual else 0.0
        rec.begin("main", 0)
        try:
            await program(rec, "main")
        except BaseException as exc:  # recorded, not re-raised
            rec.finish(exc)
            await _settle(rec, exc)  # here: keeping exc past its block is a cycle
        else:
            rec.finish(None)
            await _settle(rec, None)

    def stall() -> None:
        rec.hung = True
        for task in asyncio.all_tasks(loop):
            task.cancel()

    if isinstance(loop, VirtualClockLoop):
        loop.on_stall = stall
    else:
        loop.call_later(UVLOOP_WATCHDOG, stall)
    try:
        loop.run_until_complete(main())
        if interrupts and not rec.hung:
            rec.balance()
    except Abandon:
        rec.hung = True
    except BaseException as exc:
        rec.outcome = f"crash: {type(exc).__name__}"
        rec.notes.append("".join(traceback.format_exception(exc)))
    finally:
        _close(loop, rec)
    return rec.trace()


async def _settle(rec: Recorder, exc: BaseException | None) -> None:
    # An outside cancel landing here is fine: main's outcome is already recorded.
    with contextlib.suppress(asyncio.CancelledError):
        await rec.settle("main", exc)


def _close(loop: asyncio.AbstractEventLoop, rec: Recorder) -> None:
    try:
        pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
        if pending:
            rec.notes.append(f"{len(pending)} task(s) still pending after the run")
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
    except Abandon:
        rec.notes.append("pending tasks did not finish after cancel()")
    finally:
        loop.close()
