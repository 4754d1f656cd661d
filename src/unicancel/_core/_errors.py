"""Error messages, built in one place so every backend raises the same text.

Each message says what was wrong and what to do about it; misnesting errors
carry the advice below because the likely causes are not obvious from the
traceback (the scope is usually closed far from where it was opened).
"""

from __future__ import annotations

from contextvars import ContextVar

__all__ = [
    "MISNESTING_ADVICE",
    "already_entered",
    "already_exited",
    "exited_in_other_task",
    "exited_out_of_order",
    "misnesting_error",
    "never_entered",
    "no_running_backend",
    "no_task",
    "unknown_backend",
    "unseen_misnesting",
    "wrong_thread",
]

MISNESTING_ADVICE = """\
This usually means one of:
  - a cancel scope or task group was opened inside an async generator and the
    generator yielded while it was open; use @asynccontextmanager, or
    restructure so the scope opens and closes between yields;
  - __enter__/__exit__ were called by hand, or an AsyncExitStack/ExitStack
    closed scopes in a different order than they were opened;
  - a scope object was handed to another task, which tried to exit it.
Cancel scopes must be exited by the task that entered them, innermost first."""


def no_running_backend() -> str:
    return (
        "unicancel: no running asyncio event loop or trio run in this thread. "
        "Cancel scopes, checkpoints and current_time() only work inside async code "
        "run by asyncio (asyncio.run / asyncio.Runner) or trio (trio.run); "
        "call them from a coroutine, not at import time or from a plain thread."
    )


def no_task() -> str:
    return (
        "unicancel: cancel scopes must be used inside an asyncio task, not in a plain "
        "callback (loop.call_soon / call_later); wrap the code in a coroutine run with "
        "asyncio.create_task() or asyncio.run()"
    )


def unknown_backend(name: object) -> str:
    return f"unicancel: unknown backend {name!r}; supported backends are 'asyncio' and 'trio'."


def already_entered(scope: object) -> str:
    return (
        f"unicancel: {scope!r} has already been entered; each CancelScope can be used "
        "for a single 'with' block. Create a new CancelScope (or call "
        "move_on_after()/fail_after() again) for every block."
    )


def cannot_copy_entered(scope: object) -> str:
    return (
        f"unicancel: {scope!r} cannot be copied or pickled once entered: it is bound to "
        "the task that entered it, and a copy would look active without being so. Copy "
        "it before entering it, or create a new CancelScope with the same arguments."
    )


def never_entered(scope: object) -> str:
    return f"unicancel: attempted to exit {scope!r}, which was never entered."


def already_exited(scope: object) -> str:
    return (
        f"unicancel: attempted to exit {scope!r}, which had already been exited "
        "(was __exit__ called twice, or by hand?)."
    )


def exited_in_other_task(scope: object, entered_in: str, exiting_in: str) -> str:
    return (
        f"unicancel: {scope!r} was entered in task {entered_in!r} but exited in "
        f"task {exiting_in!r}; a cancel scope must be exited by the task that "
        "entered it. Nothing was changed: the scope is still open in the task that "
        f"entered it.\n{MISNESTING_ADVICE}"
    )


def exited_out_of_order(scope: object, task: str) -> str:
    return (
        f"unicancel: {scope!r} was exited in task {task!r} while a cancel scope or "
        "task group nested inside it was still open; scopes must be exited in the "
        "reverse order of entry. The nested scopes have been closed with it, so the "
        f"task's state is consistent again.\n{MISNESTING_ADVICE}"
    )


def wrong_thread(what: str) -> str:
    return (
        f"unicancel: {what} was called outside the event loop (or trio run) running the "
        "scope, e.g. from another thread; cancel scopes and task groups are not "
        "thread-safe. From another thread, use a StopSource: bind the scope with "
        "'with unicancel.move_on_when(source.token):' and call source.request_stop(), "
        "which is thread-safe; or hand the call to the loop: "
        "loop.call_soon_threadsafe(scope.cancel) on asyncio, "
        "trio.from_thread.run_sync(scope.cancel, trio_token=token) on trio"
    )


#: Misnesting errors raised where the user does not see them: a scope exited
#: by another task, typically an async generator's finaliser after the task
#: that entered the scope was ended by that scope's cancellation. unicancel.run()
#: sets a list here (its own, in the context the run copies) and raises the
#: first one in place of the bare cancellation that escaped.
unseen_misnesting: ContextVar[list[BaseException] | None] = ContextVar(
    "unicancel_unseen_misnesting", default=None
)


def misnesting_error(message: str, exc: BaseException | None) -> RuntimeError:
    """A misnesting RuntimeError raised in another task than the scope's:
    also recorded for unicancel.run() (see unseen_misnesting)."""
    error = RuntimeError(message)
    error.__cause__ = exc
    found = unseen_misnesting.get()
    if found is not None:
        found.append(error)
    return error


GROUP_ERRORS = "unhandled errors in a TaskGroup"


def group_finished() -> str:
    return (
        "unicancel: this TaskGroup has finished; start children only while its "
        "'async with' block (or its children) are running"
    )


def group_not_active() -> str:
    return (
        "unicancel: this TaskGroup is not active; use it inside its "
        "'async with TaskGroup() as tg:' block"
    )


def group_reentered() -> str:
    return (
        "unicancel: this TaskGroup has already been entered; create a new TaskGroup "
        "for every 'async with' block"
    )


def never_started() -> str:
    return (
        "unicancel: the child passed to TaskGroup.start() finished without calling "
        "task_status.started()"
    )


def started_twice() -> str:
    return "unicancel: task_status.started() called more than once"
