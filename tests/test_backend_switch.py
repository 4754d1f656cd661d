"""Scopes of both backends open at once in one thread: trio in guest mode on
an asyncio loop, the two taking turns while each has scopes open.

``CancelScope.__enter__``/``__exit__`` are those of the backend that answered
last (asyncio's own while it answers, the generic ones for trio), and a
``with`` statement looks ``__exit__`` up before ``__enter__`` runs: so here
scopes are entered on one backend by the other's methods and exited by
methods installed before the switch. Each must still behave as on its own
backend.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trio

from unicancel import CancelScope, fail_after, move_on_after


class _Turns:
    """Hand the turn between an asyncio task (the host) and trio's main task
    (the guest): trio's code runs in loop callbacks, so it may set an asyncio
    Event; the asyncio side sets trio's through trio's token."""

    def __init__(self) -> None:
        self._host_turn = asyncio.Event()
        self._guest_started = asyncio.Event()
        self._guest_turn: trio.Event | None = None
        self._token: trio.lowlevel.TrioToken | None = None

    async def guest_started(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        self._guest_turn = trio.Event()
        self._guest_started.set()

    async def to_guest(self) -> None:
        """Host: give the guest its turn and wait until it gives it back."""
        await self._guest_started.wait()
        assert self._token is not None and self._guest_turn is not None
        self._token.run_sync_soon(self._guest_turn.set)
        await self._host_turn.wait()
        self._host_turn.clear()

    async def to_host(self) -> None:
        """Guest: give the host its turn and wait until it gives it back."""
        self._host_turn.set()
        await self.wait_turn()

    def to_host_last(self) -> None:
        """Guest: give the host its turn for good (the guest is done)."""
        self._host_turn.set()

    async def wait_turn(self) -> None:
        """Guest: wait for the host to give it the turn."""
        assert self._guest_turn is not None
        await self._guest_turn.wait()
        self._guest_turn = trio.Event()


def _run_with_trio_guest(
    host: Callable[[_Turns], Awaitable[Any]], guest: Callable[[_Turns], Awaitable[Any]]
) -> tuple[Any, Any]:
    """Run *host* as an asyncio task and *guest* as trio's main task (guest
    mode, same thread); they take turns through a :class:`_Turns`."""

    async def main() -> tuple[Any, Any]:
        loop = asyncio.get_running_loop()
        turns = _Turns()
        done: asyncio.Future[Any] = loop.create_future()

        async def trio_main() -> Any:
            await turns.guest_started()
            return await guest(turns)

        trio.lowlevel.start_guest_run(
            trio_main,
            run_sync_soon_threadsafe=loop.call_soon_threadsafe,
            run_sync_soon_not_threadsafe=loop.call_soon,
            done_callback=done.set_result,
        )
        host_result = await host(turns)
        guest_outcome = await done
        return host_result, guest_outcome.unwrap()

    return asyncio.run(main())


def test_scopes_of_both_backends_interleaved_in_one_thread() -> None:
    async def host(turns: _Turns) -> list[object]:
        seen: list[object] = []
        with CancelScope() as outer:  # asyncio's methods, or the generic ones
            await turns.to_guest()  # the guest enters trio scopes meanwhile
            # Entered with the methods trio left installed (generic exit).
            with move_on_after(0) as scope:
                await asyncio.sleep(3600)
            seen.append(scope.cancelled_caught)
            try:
                with fail_after(0):
                    await asyncio.sleep(3600)
            except TimeoutError:
                seen.append("timeout")
            await turns.to_guest()
        seen.append(outer.cancelled_caught)
        return seen

    async def guest(turns: _Turns) -> list[object]:
        seen: list[object] = []
        await turns.wait_turn()
        # Entered while asyncio's methods are installed: asyncio's probe
        # fails, trio's answers; the exit was looked up before the switch.
        with move_on_after(0) as scope:
            await trio.sleep(3600)
        seen.append(scope.cancelled_caught)
        with CancelScope() as outer:
            await turns.to_host()  # asyncio enters its scopes meanwhile
            try:
                with fail_after(0):
                    await trio.sleep(3600)
            except TimeoutError:
                seen.append("timeout")
        seen.append(outer.cancelled_caught)
        turns.to_host_last()
        return seen

    assert _run_with_trio_guest(host, guest) == (
        [True, "timeout", False],
        [True, "timeout", False],
    )


def test_misuse_across_a_switch_is_still_reported() -> None:
    """Exiting a scope that was never entered, or twice, raises the usual
    error whichever backend's methods are installed."""

    async def host(turns: _Turns) -> str:
        with CancelScope():
            pass  # asyncio answered last: its methods are installed
        await turns.to_guest()  # trio answered since
        scope = CancelScope()
        with scope:
            pass
        with pytest.raises(RuntimeError) as info:
            scope.__exit__(None, None, None)  # asyncio's methods again
        return str(info.value)

    async def guest(turns: _Turns) -> str:
        await turns.wait_turn()
        with pytest.raises(RuntimeError) as info:
            CancelScope().__exit__(None, None, None)  # installed: asyncio's
        with CancelScope():
            pass
        turns.to_host_last()
        return str(info.value)

    host_error, guest_error = _run_with_trio_guest(host, guest)
    assert "which had already been exited" in host_error
    assert "which was never entered" in guest_error


async def _plain(sleep: Callable[[float], Awaitable[Any]]) -> object:
    with CancelScope() as scope:
        pass
    return scope.cancel_called, scope.cancelled_caught


async def _cancelled_inside(sleep: Callable[[float], Awaitable[Any]]) -> object:
    with CancelScope() as scope:
        scope.cancel("enough")
        await sleep(3600)
    return scope.cancelled_caught, scope.cancel_reason


async def _deadline_passed(sleep: Callable[[float], Awaitable[Any]]) -> object:
    with move_on_after(0) as scope:
        await sleep(3600)
    return scope.cancelled_caught


async def _deadline_fails(sleep: Callable[[float], Awaitable[Any]]) -> object:
    try:
        with fail_after(0):
            await sleep(3600)
    except TimeoutError:
        return "timeout"
    return "no timeout"


async def _armed(sleep: Callable[[float], Awaitable[Any]]) -> object:
    with move_on_after(3600) as scope:
        await sleep(0)
    return scope.cancel_called, scope.cancelled_caught


async def _error_passes(sleep: Callable[[float], Awaitable[Any]]) -> object:
    try:
        with CancelScope(shield=True):
            raise ValueError("mine")
    except ValueError as error:
        return str(error)
    return "swallowed"


_KINDS = [_plain, _cancelled_inside, _deadline_passed, _deadline_fails, _armed, _error_passes]
_EXPECTED = [(False, False), (True, "enough"), True, "timeout", (False, False), "mine"]


def test_each_backends_exit_hands_the_others_scopes_over() -> None:
    """Every kind of scope entered while the OTHER backend's methods are
    installed: its ``__exit__`` (looked up before the entry switched the
    methods) is the other backend's own, which must hand the scope to its
    backend: asyncio's exit with trio's scopes, trio's with asyncio's."""
    from unicancel._backends.asyncio._scopes import scope_exit as asyncio_exit
    from unicancel._backends.trio._scopes import scope_exit as trio_exit

    async def host(turns: _Turns) -> list[object]:
        seen: list[object] = []
        for kind in _KINDS:
            await turns.to_guest()  # the guest enters a trio scope meanwhile
            assert CancelScope.__exit__ is trio_exit
            seen.append(await kind(asyncio.sleep))
        for _ in _KINDS:
            with CancelScope():  # asyncio's methods again, for the guest's turn
                pass
            await turns.to_guest()
        return seen

    async def guest(turns: _Turns) -> list[object]:
        await turns.wait_turn()
        for _ in _KINDS:
            with CancelScope():  # trio's methods, for the host's turn
                pass
            await turns.to_host()
        seen: list[object] = []
        for i, kind in enumerate(_KINDS):
            assert CancelScope.__exit__ is asyncio_exit
            seen.append(await kind(trio.sleep))
            if i < len(_KINDS) - 1:
                await turns.to_host()
        turns.to_host_last()
        return seen

    assert _run_with_trio_guest(host, guest) == (_EXPECTED, _EXPECTED)
