"""KeyboardInterrupt and SystemExit inside a TaskGroup: trio's behaviour on
every backend (issue 11, bug 8).

trio's nursery treats them as any error: the siblings are cancelled, their
(shielded) cleanup runs to the end, and the group raises a
BaseExceptionGroup holding them. asyncio re-raises them out of the event loop
from the task's step, so unicancel's asyncio group used to end the run at
once: a sibling's shielded cleanup was cut short and a bare exception left.

Each case runs in a subprocess: a KeyboardInterrupt that escapes an event
loop (the old behaviour) must not reach pytest, and a cleanup that never ends
must fail by the timeout, not hang the suite.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

_LOOPS = ["asyncio", "uvloop", "trio"] + (["eager"] if sys.version_info >= (3, 12) else [])

_PROGRAM = textwrap.dedent(
    """
    import asyncio, sys
    import unicancel

    LOOP, WHERE, EXC = sys.argv[1:4]
    exc_class = {"KeyboardInterrupt": KeyboardInterrupt, "SystemExit": SystemExit}[EXC]
    log = []

    async def main():
        async def fail():
            await unicancel.checkpoint()
            raise exc_class("boom")

        async def cleanup():
            try:
                await unicancel.Event().wait()
            finally:
                with unicancel.CancelScope(shield=True):
                    log.append("cleanup started")
                    for _ in range(20):  # many loop iterations
                        await unicancel.checkpoint()
                    log.append("cleanup finished")

        async with unicancel.TaskGroup() as tg:
            tg.start_soon(cleanup)
            if WHERE == "child":
                tg.start_soon(fail)
            else:
                await fail()

    def run():
        if LOOP == "trio":
            import trio
            return trio.run(main)
        factory = None
        if LOOP == "uvloop":
            import uvloop
            factory = uvloop.new_event_loop
        if LOOP == "eager":
            def factory():
                loop = asyncio.new_event_loop()
                loop.set_task_factory(asyncio.eager_task_factory)
                return loop
        with asyncio.Runner(loop_factory=factory) as runner:  # 3.11: no asyncio.run(loop_factory=)
            return runner.run(main())

    try:
        run()
    except BaseException as exc:
        leaves = [type(e).__name__ for e in getattr(exc, "exceptions", [])]
        print(type(exc).__name__, leaves, log)
    else:
        print("nothing raised", log)
    """
)


@pytest.mark.parametrize("exc", ["KeyboardInterrupt", "SystemExit"])
@pytest.mark.parametrize("where", ["child", "body"])
@pytest.mark.parametrize("loop", _LOOPS)
def test_base_exception_in_a_group_waits_for_cleanup_and_leaves_in_a_group(
    loop: str, where: str, exc: str
) -> None:
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run(
        [sys.executable, "-c", _PROGRAM, loop, where, exc],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
        check=False,
    )
    expected = f"BaseExceptionGroup ['{exc}'] ['cleanup started', 'cleanup finished']"
    assert done.stdout.strip() == expected, done.stdout + done.stderr
