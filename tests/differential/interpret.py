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
* ``(t, "end", exception)``: a child task finished.

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
import math
import random
import re
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

    def describe(self) -> str:
        lines = [f"outcome: {self.outcome}"]
        for task in sorted(self.tasks):
            lines.append(f"  {task}:")
            lines.extend(f"    {event}" for event in self.tasks[task])
        lines.extend(f"  note: {note}" for note in self.notes)
        return "\n".join(lines)


class Recorder:
    """``T`` in the generated source."""

    def __init__(self, cancelled: type[BaseException], now: Callable[[], float]) -> None:
        self.cancelled = cancelled
        self._now = now
        self.t0 = 0.0
        self.hung = False
        self.tasks: dict[str, list[Event]] = {"main": []}
        self.outcome = "unfinished"
        self.notes: list[str] = []
        self._spawned: dict[str, int] = {}

    # -- called by the program ------------------------------------------

    def a(self, me: str, n: int, what: str) -> None:
        self._ev(me, "await", n, what)

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

    def name(self, me: str, child: int) -> str:
        base = f"{me}/c{child}"
        count = self._spawned[base] = self._spawned.get(base, 0) + 1
        return base if count == 1 else f"{base}#{count}"

    # -- called by the runner -------------------------------------------

    def finish(self, exc: BaseException | None) -> None:
        self.outcome = "ok" if exc is None else self.norm(exc) or "?"

    def trace(self) -> Trace:
        outcome = "hang" if self.hung else self.outcome
        tasks = {task: tuple(events) for task, events in self.tasks.items()}
        return Trace(tasks, outcome, tuple(self.notes))

    # -- normalisation ---------------------------------------------------

    def _ev(self, me: str, *event: float | str | bool | None) -> None:
        t = self._now() - self.t0
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
}
_UNICANCEL_ASYNCIO = {
    **_UNICANCEL,
    "sleep": asyncio.sleep,
    "sleep_forever": _asyncio_sleep_forever,
    "Cancelled": asyncio.CancelledError,
}


def run(system: System, code: CodeType, seed: int = 0, *, jitter: bool = False) -> Trace:
    """Run the compiled program on *system*. *seed* picks trio's scheduling
    order among tasks that are ready at the same time (trio systems only);
    *jitter* (the oracle only) adds schedule points at random, drawn from
    *seed* as well: a sample of the zero-time schedules trio allows."""
    if system == "trio":
        rng = random.Random(seed)
        names = oracle.namespace(_trio_sleep_forever, oracle.make_jitter(rng) if jitter else None)
        return _run_trio(code, names, seed)
    if system == "unicancel-trio":
        return _run_trio(code, _UNICANCEL_TRIO, seed)
    if system == "unicancel-asyncio":
        return _run_asyncio(code, VirtualClockLoop(), virtual=True)
    import uvloop

    return _run_asyncio(code, uvloop.new_event_loop(), virtual=False)


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


def _run_asyncio(code: CodeType, loop: asyncio.AbstractEventLoop, *, virtual: bool) -> Trace:
    # uvloop runs only programs that never read the clock: every event is at 0.
    rec = Recorder(asyncio.CancelledError, loop.time if virtual else lambda: 0.0)
    program = _load(code, _UNICANCEL_ASYNCIO)

    async def main() -> None:
        rec.t0 = loop.time() if virtual else 0.0
        try:
            await program(rec, "main")
        except BaseException as exc:  # recorded, not re-raised
            rec.finish(exc)
        else:
            rec.finish(None)

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
    except Abandon:
        rec.hung = True
    except BaseException as exc:
        rec.outcome = f"crash: {type(exc).__name__}"
        rec.notes.append("".join(traceback.format_exception(exc)))
    finally:
        _close(loop, rec)
    return rec.trace()


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
