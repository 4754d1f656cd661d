"""The stop-token exception, and the messages of the stop-token errors, built
in one place (as ``_errors``) so that every backend raises the same text."""

from __future__ import annotations

__all__ = [
    "StopRequested",
    "bad_reason",
    "bad_signals",
    "callbacks_raised",
    "forced_shutdown",
    "not_a_token",
    "shutdown_reused",
    "signals_need_main_thread",
    "stop_requested",
    "uncatchable_signal",
]


def not_a_token(where: str, obj: object, is_source: bool, param: str = "token") -> str:
    hint = "; pass source.token" if is_source else ""
    return f"unicancel: {where}() takes StopToken arguments for {param}, got {obj!r}{hint}"


def bad_reason(reason: object) -> str:
    return f"unicancel: reason must be a str or None, got {reason!r}"


def stop_requested(reason: str | None) -> str:
    return f"unicancel: stop requested{f': {reason}' if reason else ' (no reason given)'}"


def callbacks_raised(failed: int, ran: int) -> str:
    return f"unicancel: {failed} of {ran} stop callbacks raised; every callback ran"


def forced_shutdown(why: str, stop_reason: str | None, unfinished: tuple[str, ...]) -> str:
    lines = "".join(f"\n  {line}" for line in unfinished) or "\n  (no task found)"
    return (
        f"unicancel: graceful shutdown forced: {why} after the stop request "
        f"({stop_reason or 'no reason given'}); these had not finished and were "
        f"cancelled:{lines}"
    )


def bad_signals(signals: object) -> str:
    return f"unicancel: signals must be signal numbers such as signal.SIGTERM, got {signals!r}"


def uncatchable_signal(name: str) -> str:
    return (
        f"unicancel: signals cannot include {name}: the operating system does not let a "
        "program handle it; use SIGTERM or SIGINT"
    )


def shutdown_reused() -> str:
    return (
        "unicancel: this GracefulShutdown has already been used; create a new one for "
        "every 'async with' block"
    )


def signals_need_main_thread() -> str:
    return (
        "unicancel: GracefulShutdown installs signal handlers, which Python allows only "
        "in the main thread; use it in the main thread, or pass signals=() and call "
        "request_stop() yourself"
    )


class StopRequested(Exception):
    """Raised by :meth:`StopToken.raise_if_stop_requested` once a stop was
    requested, and when leaving a :func:`fail_when` block that the token's
    stop cut short. :attr:`reason` is the reason given to ``request_stop()``.

    An ordinary ``Exception``: it means "this work was abandoned because a
    stop was requested", for the code that started the work to catch.
    """

    def __init__(self, reason: str | None) -> None:
        self.reason = reason
        super().__init__(stop_requested(reason))
