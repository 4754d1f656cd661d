"""Differential testing, the bounded CI run (docs/differential-testing.md).

Random cancellation programs run on native trio (the oracle) and on
unicancel over trio, asyncio (virtual clock) and asyncio+uvloop; every
system's trace must be one trio can produce. ``PARTS`` x ``EXAMPLES``
programs, each part with its own fixed hypothesis seed, so a run is
reproducible and a failure shrinks to a minimal program whose report
(source, traces, ready-to-paste regression test) is the assertion message.

These are plain sync tests: each program starts its own event loops.
The deep check (100,000 programs) is ``scripts/deep-check.sh``.
"""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, given, seed, settings

from .differential.check import check
from .differential.clocks import HORIZON, VirtualClockLoop
from .differential.codegen import to_source
from .differential.generate import programs
from .differential.interpret import compile_program, run
from .differential.program import Await, Cancel, Program, Repeat, Scope
from .differential.rules import depends_on_difference, uvloop_can_run

#: Hypothesis runs and programs per run (>= 500 programs per Python).
PARTS = 5
EXAMPLES = 200
SEED = 20_251_105


@pytest.mark.timeout(300)
@pytest.mark.parametrize("part", range(PARTS))
def test_random_programs_agree_with_trio(part: int) -> None:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=False,
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @seed(SEED + part)
    @given(programs())
    def agrees(program: Program) -> None:
        verdict = check(program)
        assert verdict.status != "diverged", verdict.report()

    agrees()


# -- the harness itself ------------------------------------------------------


def test_virtual_clock_jumps_to_the_next_timer() -> None:
    loop = VirtualClockLoop()
    try:

        async def main() -> list[float]:
            seen = [loop.time()]
            await asyncio.sleep(1.5)
            seen.append(loop.time())
            await asyncio.sleep(0)
            seen.append(loop.time())
            return seen

        assert loop.run_until_complete(main()) == [0.0, 1.5, 1.5]
    finally:
        loop.close()


def test_virtual_clock_stalls_instead_of_blocking_forever() -> None:
    loop = VirtualClockLoop()
    stalled: list[float] = []
    try:

        async def main() -> None:
            await loop.create_future()  # nothing will ever complete it

        task = loop.create_task(main())

        def on_stall() -> None:
            stalled.append(loop.time())
            task.cancel()

        loop.on_stall = on_stall
        with pytest.raises(asyncio.CancelledError):
            loop.run_until_complete(task)
        assert stalled == [HORIZON]
    finally:
        loop.close()


def test_a_hanging_program_hangs_everywhere() -> None:
    program = Program(main=(Await(1, "sleep_forever"),))
    code = compile_program(to_source(program))
    for system in ("trio", "unicancel-trio", "unicancel-asyncio"):
        assert run(system, code).outcome == "hang", system
    assert check(program).status == "agree"


def test_a_swallowing_retry_loop_agrees_without_exclusion() -> None:
    """A cancellation swallowed in a loop around one sleep is re-delivered at
    every iteration on asyncio as on trio (the retry-loop rule only covers
    asyncio's and anyio's own loops; it used to exclude such programs)."""
    program = Program(
        main=(
            Scope(
                1,
                (
                    Cancel(2, 1),
                    Repeat(3, 3, (Await(4, "sleep", 1.0, swallow=True),)),
                ),
            ),
        )
    )
    assert depends_on_difference(program) is None
    assert check(program).status == "agree"
    code = compile_program(to_source(program))
    for system in ("trio", "unicancel-asyncio"):
        awaits = [e[3] for e in run(system, code).tasks["main"] if e[1] == "await"]
        assert awaits == ["X", "X", "X"], system


def test_uvloop_runs_only_timeless_programs() -> None:
    assert uvloop_can_run(Program(main=(Await(1, "sleep", 0.0), Await(2, "sleep_forever"))))
    assert not uvloop_can_run(Program(main=(Await(1, "sleep", 1.0),)))
    assert not uvloop_can_run(Program(main=(Scope(1, (), deadline="rel", at=1.0),)))


def test_the_generated_source_compiles() -> None:
    @settings(max_examples=50, deadline=None, database=None, print_blob=False)
    @seed(SEED)
    @given(programs())
    def compiles(program: Program) -> None:
        compile_program(to_source(program))

    compiles()
