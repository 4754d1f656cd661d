"""Run one interop program on a virtual-clock asyncio loop and check it.

Checks, made while the program runs:

* ``escaped``: a cancellation leaves a node (scope, group, task) although no
  enclosing part of the program asked for one: no enclosing scope, timeout or
  task group (a failed child) was cancelled or expired, and no outside
  ``Task.cancel()`` reached the task or a task it runs under;
* ``unbalanced``: a node exits without a cancellation leaving it, but the
  task's ``cancelling()`` differs from its value at entry plus the outside
  cancels that arrived meanwhile (a request left behind, or one taken away);
* ``lost``: an outside ``Task.cancel()`` of the main task was neither seen as
  a ``CancelledError`` leaving the program nor left pending (``cancelling()``);
* ``early-timeout``: ``fail_after``/``asyncio.timeout``/``wait_for`` raised
  ``TimeoutError`` before its own deadline;
* ``hang``: the program did not finish within the virtual horizon;
* ``crash``: something raised out of the event loop itself.

Every timeout node swallows its own ``TimeoutError`` (so one that reaches a
node was raised by it) and records it; nothing else catches anything.
"""

from __future__ import annotations

import asyncio
import sys
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from math import inf
from typing import Any

import anyio

import unicancel

from ..differential.clocks import Abandon, VirtualClockLoop
from .program import CANCELLABLE, Cancel, Checkpoint, Fail, Group, Program, Scope, Sleep, Stmt

__all__ = ["Failure", "Result", "run_program"]


@dataclass(frozen=True)
class Failure:
    check: str
    node: int  # 0: the program as a whole
    detail: str
    #: Whether the task where it happened ran any unicancel part (a unicancel
    #: scope, group or checkpoint, or it is a unicancel group's child). A
    #: failure in a task that never did is asyncio's or anyio's.
    unicancel: bool = True

    def __str__(self) -> str:
        where = _where(self.node)
        return f"{self.check} at {where}: {self.detail}"


@dataclass
class Result:
    failures: list[Failure] = field(default_factory=list)
    outcome: str = ""
    outside_fired: int = 0
    log: list[str] = field(default_factory=list)


class _TaskInfo:
    __slots__ = ("inside", "outside", "parent", "swallowed", "task", "uni")

    def __init__(self, task: asyncio.Task[Any], parent: _Frame | None, uni: bool = False) -> None:
        self.task = task
        self.parent = parent  # the group frame the task was started from
        self.outside = 0  # outside Task.cancel() calls that reached it
        self.uni = uni  # ran a unicancel part (see Failure.unicancel)
        self.inside: list[bool] = []  # open nodes, innermost last: unicancel's?
        self.swallowed = False  # asyncio (3.11's wait_for) dropped a cancellation


class _Frame:
    """One running node, linked to the enclosing one (across task spawns)."""

    __slots__ = ("cancelled", "failed_below", "info", "n", "obj", "parent")

    def __init__(
        self, n: int, parent: _Frame | None, info: _TaskInfo, cancelled: Callable[[], bool]
    ) -> None:
        self.n = n
        self.parent = parent
        self.info = info
        self.cancelled = cancelled
        self.failed_below = False
        self.obj: Any = None  # the scope, for Cancel


def _where(node: int) -> str:
    if node > 0:
        return f"node {node}"
    return f"a child task of group {-node}" if node else "program"


def _never() -> bool:
    return False


def _has_cancel(exc: BaseException | None) -> bool:
    if isinstance(exc, asyncio.CancelledError):
        return True
    if isinstance(exc, BaseExceptionGroup):
        return any(_has_cancel(e) for e in exc.exceptions)
    return False


def _asked(frame: _Frame | None) -> bool:
    """Whether anything enclosing *frame* (itself included) asked for a
    cancellation: a cancelled or expired scope, a group in which something
    failed, or an outside cancel of a task it runs in."""
    seen: set[int] = set()
    while frame is not None:
        if frame.cancelled():
            return True
        info = frame.info
        if id(info) not in seen:
            seen.add(id(info))
            if info.outside:
                return True
        frame = frame.parent
    return False


class _Runner:
    def __init__(self, program: Program, loop: VirtualClockLoop, result: Result) -> None:
        self.program = program
        self.loop = loop
        self.result = result

        self.infos: dict[asyncio.Task[Any], _TaskInfo] = {}

    def info(self, task: asyncio.Task[Any], parent: _Frame | None, uni: bool = False) -> _TaskInfo:
        info = self.infos[task] = _TaskInfo(task, parent, uni)
        return info

    def fail(self, check: str, node: int, detail: str, info: _TaskInfo | None = None) -> None:
        uni = info is None or (info.uni and not info.swallowed)
        self.result.failures.append(Failure(check, node, detail, uni))

    async def body(self, stmts: tuple[Stmt, ...], frame: _Frame) -> None:
        for stmt in stmts:
            await self.stmt(stmt, frame)

    async def stmt(self, stmt: Stmt, frame: _Frame) -> None:
        if isinstance(stmt, Sleep):
            await asyncio.sleep(stmt.seconds)
        elif isinstance(stmt, Fail):
            await asyncio.sleep(stmt.seconds)
            f: _Frame | None = frame
            while f is not None:
                f.failed_below = True
                f = f.parent
            raise ValueError(stmt.n)
        elif isinstance(stmt, Checkpoint):
            # Not a unicancel part for Failure.unicancel: outside a unicancel
            # scope it is a sleep(0), and it never touches cancelling().
            await unicancel.checkpoint()
        elif isinstance(stmt, Cancel):
            target = self._target(frame, stmt.outward)
            if target is not None:
                target.cancel()
        elif isinstance(stmt, Scope):
            uni = stmt.kind.startswith("uni")
            await self.checked(stmt.n, frame, lambda inner: self.scope(stmt, inner), uni)
        else:
            uni = stmt.kind == "uni"
            await self.checked(stmt.n, frame, lambda inner: self.group(stmt, inner), uni)

    def _target(self, frame: _Frame | None, outward: int) -> Any:
        while frame is not None:
            if frame.obj is not None:
                if outward == 0:
                    return frame.obj
                outward -= 1
            frame = frame.parent
        return None

    async def checked(
        self, n: int, parent: _Frame, run: Callable[[_Frame], Awaitable[None]], uni: bool = False
    ) -> None:
        """Run node *n* with the escape and balance checks around it."""
        info = parent.info
        task = info.task
        frame = _Frame(n, parent, info, _never)
        entry = task.cancelling()
        outside = info.outside
        info.inside.append(uni)
        try:
            await run(frame)
        except BaseException as exc:
            info.inside.pop()
            self._exit_log(n, task, entry, exc)
            if not uni and task.cancelling() < entry + info.outside - outside:
                # A native part took away a request it did not make (anyio's
                # group moves a child task's pending uncancel() to the host's
                # scope): what this task does with cancelling() from here on is
                # not unicancel's to answer for.
                info.swallowed = True
                self.fail("unbalanced", n, "a native part dropped a cancel request", info)
            if _has_cancel(exc):
                if not _asked(parent) and not frame.cancelled():
                    self.fail("escaped", n, "a cancellation left a node nobody cancelled", info)
                elif not _asked(parent):
                    self.fail("escaped", n, "the node was cancelled but let it out", info)
            elif uni or not info.swallowed:
                self._balance(n, parent, entry + info.outside - outside, uni)
            raise
        info.inside.pop()
        self._exit_log(n, task, entry, None)
        self._balance(n, parent, entry + info.outside - outside, uni)

    def _exit_log(
        self, n: int, task: asyncio.Task[Any], entry: int, exc: BaseException | None
    ) -> None:
        what = "ok" if exc is None else _describe(exc)
        self.result.log.append(
            f"t={self.loop.time():g} {task.get_name()}: {_where(n)} exits: {what}"
            f" (cancelling {entry} -> {task.cancelling()})"
        )

    def _balance(self, n: int, parent: _Frame, expected: int, uni: bool) -> None:
        got = parent.info.task.cancelling()
        # More requests are fine while an enclosing part has asked for a
        # cancellation (its own request is still pending); fewer never are.
        if got < expected or (got > expected and not _asked(parent)):
            if not uni:
                # A native part miscounted (3.11's TaskGroup leaves the
                # cancel() of its host made during its exit wait pending):
                # see checked().
                parent.info.swallowed = True
            detail = f"cancelling() is {got} after exit, expected {expected}"
            self.fail("unbalanced", n, detail, parent.info)

    async def scope(self, s: Scope, frame: _Frame) -> None:
        loop = self.loop
        seconds = inf if s.seconds is None else s.seconds
        deadline = loop.time() + seconds
        kind = s.kind
        if kind.startswith("uni"):
            frame.info.uni = True
        if kind in CANCELLABLE:
            cm: Any
            if kind == "uni":
                cm = unicancel.CancelScope(relative_deadline=seconds, shield=s.shield)
            elif kind == "uni_move_on":
                cm = unicancel.move_on_after(seconds, shield=s.shield)
            elif kind == "uni_fail":
                cm = unicancel.fail_after(seconds, shield=s.shield)
            elif kind == "anyio":
                cm = anyio.CancelScope(deadline=deadline, shield=s.shield)
            elif kind == "anyio_move_on":
                cm = anyio.move_on_after(seconds, shield=s.shield)
            else:
                cm = anyio.fail_after(seconds, shield=s.shield)
            frame.cancelled = lambda: loop.time() >= deadline
            try:
                with cm as entered:
                    # anyio's move_on_after/fail_after yield the scope.
                    frame.obj = entered
                    frame.cancelled = lambda: entered.cancel_called or loop.time() >= deadline
                    await self.body(s.body, frame)
            except TimeoutError:
                if not kind.endswith("_fail"):
                    raise
                self._timed_out(s.n, deadline, frame.info)
        elif kind == "timeout":
            frame.cancelled = lambda: loop.time() >= deadline
            try:
                async with asyncio.timeout(seconds):
                    await self.body(s.body, frame)
            except TimeoutError:
                self._timed_out(s.n, deadline, frame.info)
        else:
            frame.cancelled = lambda: loop.time() >= deadline
            task = frame.info.task
            entry = task.cancelling()
            try:
                await asyncio.wait_for(self.wait_for_body(s, frame), seconds)
            except TimeoutError:
                self._timed_out(s.n, deadline, frame.info)
            else:
                if sys.version_info < (3, 12) and task.cancelling() > entry:
                    # 3.11's wait_for returns the result of an inner task that
                    # finished in the same iteration as the cancel() of the
                    # outer one, dropping the cancellation (gh-86296): what
                    # follows in this task is asyncio's doing.
                    frame.info.swallowed = True
                    self.result.log.append(f"node {s.n}: wait_for dropped a cancellation")

    async def wait_for_body(self, s: Scope, frame: _Frame) -> None:
        # On 3.11 wait_for runs this in a task of its own.
        task = asyncio.current_task()
        assert task is not None
        if task is not frame.info.task:
            info = self.info(task, frame)
            frame = _Frame(s.n, frame, info, _never)
            await self.checked(s.n, frame, lambda inner: self.body(s.body, inner))
        else:
            await self.body(s.body, frame)

    def _timed_out(self, n: int, deadline: float, info: _TaskInfo) -> None:
        self.result.log.append(f"t={self.loop.time():g} node {n}: TimeoutError")
        if self.loop.time() < deadline:
            now = self.loop.time()
            self.fail("early-timeout", n, f"TimeoutError at t={now:g}, deadline {deadline:g}", info)

    async def group(self, g: Group, frame: _Frame) -> None:
        # A failed child (or body) cancels the group's other parts.
        frame.cancelled = lambda: frame.failed_below
        if g.kind == "uni":
            frame.info.uni = True
            async with unicancel.TaskGroup() as tg:
                for child in g.children:
                    tg.start_soon(self.child, child, frame, True)
                await self.body(g.body, frame)
        elif g.kind == "asyncio":
            async with asyncio.TaskGroup() as atg:
                for child in g.children:
                    atg.create_task(self.child(child, frame))
                await self.body(g.body, frame)
        else:
            async with anyio.create_task_group() as ntg:
                for child in g.children:
                    ntg.start_soon(self.child, child, frame, True)
                await self.body(g.body, frame)

    async def child(self, body: tuple[Stmt, ...], group: _Frame, uni: bool = False) -> None:
        task = asyncio.current_task()
        assert task is not None
        info = self.info(task, group, uni)
        root = _Frame(0, group, info, _never)
        await self.checked(-group.n, root, lambda inner: self.body(body, inner))


def run_program(program: Program) -> Result:
    """Run *program* on a fresh virtual-clock loop; return what the checks found."""
    result = Result()
    loop = VirtualClockLoop()
    if program.eager and sys.version_info >= (3, 12):
        loop.set_task_factory(asyncio.eager_task_factory)
    # 3.11's wait_for drops the exception of an inner task it gave up on, so
    # asyncio reports "Task exception was never retrieved" (gh-86296): keep
    # that in the program's log, not on stderr.
    loop.set_exception_handler(lambda _, context: result.log.append(str(context["message"])))
    runner = _Runner(program, loop, result)
    hung = False
    spin: list[_TaskInfo] = []

    async def main() -> None:
        task = asyncio.current_task()
        assert task is not None
        info = runner.info(task, None)
        root = _Frame(0, None, info, _never)

        def outside() -> None:
            if not task.done():
                info.outside += 1
                result.outside_fired += 1
                result.log.append(f"t={loop.time():g} outside cancel")
                task.cancel("outside")

        handles = [loop.call_at(t, outside) for t in program.outside]
        try:
            await runner.checked(0, root, lambda inner: runner.body(program.body, inner))
        except BaseException as exc:
            result.outcome = _describe(exc)
            odd = _unexpected(exc)
            if odd is not None:
                runner.fail("crash", 0, "".join(traceback.format_exception(odd)))
        else:
            result.outcome = "ok"
        finally:
            for handle in handles:
                handle.cancel()
        if info.outside and "CancelledError" not in result.outcome and not task.cancelling():
            detail = "the outside Task.cancel() was neither raised nor left pending"
            runner.fail("lost", 0, detail, info)

    def stall() -> None:
        nonlocal hung
        if not hung:
            # A task cancelled over and over without progress: a retry loop
            # spinning (whose, decides the classification).
            for task, info in runner.infos.items():
                if task.cancelling() > 1000:
                    spin.append(info)
        hung = True
        for task in asyncio.all_tasks(loop):
            task.cancel()

    loop.on_stall = stall
    try:
        loop.run_until_complete(main())
    except Abandon:
        hung = True
    except asyncio.CancelledError as exc:
        # A cancel() still pending when main() returned ends the task
        # cancelled: the outside cancel observed at last, else a crash.
        if not result.outside_fired:
            runner.fail("crash", 0, "".join(traceback.format_exception(exc)))
    except BaseException as exc:
        runner.fail("crash", 0, "".join(traceback.format_exception(exc)))
    finally:
        _close(loop)
    if hung:
        # The failures a stall causes (cancelled tasks) say nothing more.
        result.failures = [Failure("hang", 0, "the program did not finish")]
        if spin:
            # Whose retry loop: that of the innermost node the task is in.
            names = ", ".join(info.task.get_name() for info in spin)
            uni = any(info.inside[-1:] == [True] for info in spin)
            result.failures = [Failure("hang", 0, f"a retry loop spins in {names}", uni)]
    return result


def _unexpected(exc: BaseException) -> BaseException | None:
    """An exception no program statement raises (a bug of the harness or of
    the code under test), or None."""
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            odd = _unexpected(inner)
            if odd is not None:
                return odd
        return None
    return None if isinstance(exc, (ValueError, asyncio.CancelledError)) else exc


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup):
        return f"{type(exc).__name__}[{', '.join(_describe(e) for e in exc.exceptions)}]"
    return type(exc).__name__


def _close(loop: VirtualClockLoop) -> None:
    try:
        pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
    except Abandon:
        pass
    finally:
        loop.close()
