"""The scenarios behind ``python -m unicancel demo``.

Every scenario is written once, against the public unicancel API only; the
sole backend-specific code is :func:`_wait_forever`. :func:`collect` runs them
all and returns what they observed, which must be the same on every backend.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from enum import Enum
from math import inf

import unicancel
from unicancel import CancelScope

__all__ = ["SCENARIOS", "Step", "collect", "sleep"]

#: One observation: (scenario title, what was looked at, what was seen).
Step = tuple[str, str, str]
Note = Callable[[str, object], None]


async def _wait_forever() -> None:
    """Block until cancelled, with the running backend's own primitive."""
    if unicancel.get_cancelled_exc_class() is asyncio.CancelledError:
        await asyncio.get_running_loop().create_future()
    else:
        import trio

        await trio.sleep_forever()


async def sleep(seconds: float) -> None:
    """Sleep for *seconds* on any backend: a wait cut short by a unicancel scope."""
    with unicancel.move_on_after(seconds):
        await _wait_forever()


def _show(value: object) -> str:
    """Render an observation so that equal behaviour gives equal text."""
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, float):
        return "inf" if value == inf else "-inf" if value == -inf else f"{value:.2f}"
    return str(value)


async def level_triggered(note: Note) -> None:
    """(a) cancel() before any await: every await in the block raises."""
    cancelled = unicancel.get_cancelled_exc_class()
    with CancelScope() as scope:
        scope.cancel("stop requested")
        note("cancel_called after cancel()", scope.cancel_called)
        waits: tuple[tuple[str, Callable[[], Awaitable[None]]], ...] = (
            ("sleep(1)", lambda: sleep(1)),
            ("checkpoint()", unicancel.checkpoint),
        )
        for what, wait in waits:
            try:
                await wait()
            except cancelled:
                note(f"await {what}", "raised cancelled")
                if what == "checkpoint()":
                    raise
            else:
                note(f"await {what}", "returned")
    note("cancelled_caught", scope.cancelled_caught)
    note("cancel_origin", scope.cancel_origin)
    note("cancel_reason", repr(scope.cancel_reason))


async def move_on(note: Note) -> None:
    """(b) move_on_after(0.05) around sleep(10): the block is left early."""
    start = unicancel.current_time()
    with unicancel.move_on_after(0.05) as scope:
        note("deadline - entry time", scope.deadline - start)
        await sleep(10)
        note("after sleep(10)", "reached")
    elapsed = unicancel.current_time() - start
    note("block left after", "~0.05s" if 0.045 <= elapsed < 1 else f"{elapsed:.3f}s")
    note("cancelled_caught", scope.cancelled_caught)
    note("cancel_origin", scope.cancel_origin)
    note("cancel_reason", repr(scope.cancel_reason))


async def fail(note: Note) -> None:
    """(c) fail_after raises builtin TimeoutError; cancel() just moves on."""
    scope = unicancel.fail_after(0.01)
    try:
        with scope:
            await sleep(10)
    except TimeoutError as exc:
        note("fail_after(0.01) raised", type(exc).__qualname__)
        note("... is builtin TimeoutError", type(exc) is TimeoutError)
        cause = exc.__cause__
        note("... caused by cancelled exc", isinstance(cause, unicancel.get_cancelled_exc_class()))
    else:
        note("fail_after(0.01) raised", "nothing")
    note("cancelled_caught", scope.cancelled_caught)
    note("cancel_origin", scope.cancel_origin)
    try:
        with unicancel.fail_after(10) as scope:
            scope.cancel()
            await sleep(1)
    except TimeoutError:
        note("fail_after(10) + cancel()", "raised TimeoutError")
    else:
        note("fail_after(10) + cancel()", "moved on")
    note("cancel_origin", scope.cancel_origin)


async def shielded_cleanup(note: Note) -> None:
    """(d) a shielded cleanup runs inside a cancelled scope; the next await raises."""
    cancelled = unicancel.get_cancelled_exc_class()
    with CancelScope() as scope:
        scope.cancel("shutting down")
        try:
            await sleep(10)
        except cancelled:
            note("body: await sleep(10)", "raised cancelled")
            with CancelScope(shield=True) as shield:
                note("shield: effective deadline", unicancel.current_effective_deadline())
                await sleep(0.01)
                note("shield: await sleep(0.01)", "completed")
            note("shield: cancelled_caught", shield.cancelled_caught)
            note("effective deadline after shield", unicancel.current_effective_deadline())
            try:
                await unicancel.checkpoint()
            except cancelled:
                note("next await after the shield", "raised cancelled")
                raise
            note("next await after the shield", "returned")
            raise
    note("cancelled_caught", scope.cancelled_caught)
    note("cancel_reason", repr(scope.cancel_reason))


async def enclosing(note: Note) -> None:
    """(e) an outer cancel passes through an inner scope, which records it."""
    with CancelScope() as outer:
        with CancelScope() as inner:
            outer.cancel("outer gave up")
            await sleep(1)
            note("inner: after sleep(1)", "reached")
        note("after inner block", "reached")
    note("inner: cancelled_caught", inner.cancelled_caught)
    note("inner: cancel_origin", inner.cancel_origin)
    note("inner: cancel_reason", repr(inner.cancel_reason))
    note("outer: cancelled_caught", outer.cancelled_caught)


async def deadlines(note: Note) -> None:
    """(f) current_effective_deadline() in nested scopes, as seconds from now."""

    def show(where: str) -> None:
        note(where, unicancel.current_effective_deadline() - now)

    now = unicancel.current_time()
    show("no scope")
    with unicancel.move_on_after(10):
        show("move_on_after(10)")
        with unicancel.move_on_after(5):
            show("  > move_on_after(5)")
            with unicancel.move_on_after(20):
                show("    > move_on_after(20)")
                with CancelScope(shield=True):
                    show("      > shield")
                    with unicancel.move_on_after(30):
                        show("        > move_on_after(30)")
        with CancelScope() as scope:
            scope.cancel()
            show("  > cancelled scope")
            with CancelScope(shield=True):
                show("    > shield")
        note("  left cancelled scope, no await", scope.cancelled_caught)
        await unicancel.checkpoint()
        note("  next await outside it", "returned")
        show("  back in move_on_after(10)")


SCENARIOS: tuple[Callable[[Note], Awaitable[None]], ...] = (
    level_triggered,
    move_on,
    fail,
    shielded_cleanup,
    enclosing,
    deadlines,
)


async def collect() -> list[Step]:
    """Run every scenario on the running backend and return the observations.

    A scenario that raises is recorded as an observation, not propagated, so
    that one misbehaviour does not hide the rest of the trace.
    """
    steps: list[Step] = []
    for scenario in SCENARIOS:
        title = (scenario.__doc__ or scenario.__name__).strip()

        def note(what: str, value: object, title: str = title) -> None:
            steps.append((title, what, _show(value)))

        try:
            await scenario(note)
        except (Exception, unicancel.get_cancelled_exc_class()) as exc:
            note("scenario escaped with", type(exc).__name__)
    return steps
