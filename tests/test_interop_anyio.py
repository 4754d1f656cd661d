"""unicancel mixed with anyio: anyio's scopes keep working around and inside
unicancel's, and a unicancel shield keeps anyio's cancellations out on every
backend (issue 11: bug 7, "Interop with anyio"; docs/semantics.md, difference 4).
"""

from __future__ import annotations

import asyncio

import anyio
import anyio.lowlevel
import pytest

import unicancel

from ._helpers import backend

pytestmark = pytest.mark.anyio


def _cancelling() -> int:
    """cancelling() of the running asyncio task; 0 on trio (no counts there)."""
    if backend() == "trio":
        return 0
    task = asyncio.current_task()
    assert task is not None
    return task.cancelling()


# -- bug 7: an anyio scope lets its own cancellation escape ----------------------


async def test_anyio_scope_catches_its_cancel_when_ours_lands_in_the_same_iteration() -> None:
    """anyio's cancel() and a unicancel delivery reach a runnable task in the
    same loop iteration. The second Task.cancel() used to replace the message
    of the coming CancelledError, by which alone anyio recognises its own
    cancellation: the anyio scope let it escape (the fuzzer's first find)."""
    with anyio.CancelScope() as outer:
        outer.cancel()  # the host is running: anyio delivers in a callback
        with unicancel.move_on_after(0) as inner:  # so do we, after it
            await anyio.lowlevel.checkpoint()
    assert outer.cancelled_caught
    assert not inner.cancelled_caught  # anyio's arrived first; ours passes through it
    assert _cancelling() == 0
