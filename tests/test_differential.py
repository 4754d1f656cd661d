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
import sys
import types

import pytest
from hypothesis import HealthCheck, given, seed, settings

from .differential.check import INTERRUPT_RUN, check
from .differential.clocks import HORIZON, VirtualClockLoop
from .differential.codegen import to_source
from .differential.generate import programs
from .differential.hygiene import Leftovers
from .differential.interpret import compile_program, run
from .differential.program import (
    Await,
    Cancel,
    Child,
    Group,
    Interrupt,
    Program,
    Repeat,
    Scope,
    Spawn,
    Start,
    Started,
    Work,
    walk,
)
from .differential.rules import depends_on_difference, uvloop_can_run

#: Hypothesis runs and programs per run (>= 500 programs per Python). 800:
#: the run's former time, now that programs are bigger (focused mixes) and
#: every run is also checked for leftovers and outside cancels.
PARTS = 5
EXAMPLES = 160
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
    assert not uvloop_can_run(Program(main=(Work(1, 1.0),)))


def test_cpu_work_moves_the_clock_without_a_schedule_point() -> None:
    """Work: time passes inside the task's step on every clock; nothing
    else runs meanwhile (the child starts only at main's next await)."""
    program = Program(
        main=(Group(1, (Spawn(2, 1, 3), Work(4, 1.5), Await(5, "checkpoint"))),),
        children=(Child(3, (Await(6, "checkpoint"),)),),
    )
    code = compile_program(to_source(program))
    for system in ("trio", "unicancel-trio", "unicancel-asyncio"):
        trace = run(system, code)
        assert trace.tasks["main"][0] == (1.5, "await", 5, "ok"), system
        assert trace.tasks["main/c3"][0] == (1.5, "await", 6, "ok"), system


def test_start_runs_a_child_until_started_everywhere() -> None:
    """Start/Started are traced alike on every system; a group that does
    not exist yet is recorded as missing, not an error."""
    program = Program(
        main=(Start(1, 2, 3), Group(2, (Start(4, 2, 5),))),
        children=(Child(3, (Started(6),), started=True), Child(5, (Started(7),), started=True)),
    )
    code = compile_program(to_source(program))
    for system in ("trio", "unicancel-trio", "unicancel-asyncio"):
        trace = run(system, code)
        assert trace.tasks["main"][:2] == ((0.0, "start", 1, "missing"), (0.0, "start", 4, "ok"))
        assert trace.tasks["main/c5"][0] == (0.0, "started", 7), system


def test_an_observed_outside_cancel_breaks_no_invariant() -> None:
    """The interrupt run: Task.cancel() of a sleeping child is raised in it
    and reaches its end; nothing is reported. Elsewhere Interrupt does nothing."""
    program = Program(
        main=(Group(1, (Spawn(2, 1, 3), Await(4, "sleep", 0.5), Interrupt(5, 3))),),
        children=(Child(3, (Await(6, "sleep", 1.0),)),),
    )
    code = compile_program(to_source(program))
    interrupted = run("unicancel-asyncio", code, interrupts=True)
    assert interrupted.tasks["main/c3"] == ((0.5, "await", 6, "X"), (0.5, "end", "Cancelled"))
    assert interrupted.violations == ()
    assert run("trio", code).tasks["main/c3"][0] == (1.0, "await", 6, "ok")
    verdict = check(program)
    assert verdict.interrupted is not None
    assert verdict.interrupted.violations == (), verdict.report()
    assert INTERRUPT_RUN in verdict.report()


def test_leftovers_finds_a_cycle_and_a_table_entry() -> None:
    """The leftover check itself, on a stand-in module named like unicancel's:
    an object of it on a reference cycle, and an entry a run adds to its
    module-level table, are both reported; a constant entry is not."""
    module = types.ModuleType("unicancel._differential_probe")
    table: dict[object, object] = {}
    module.TABLE = table  # type: ignore[attr-defined]

    class Node:
        me: object

    Node.__module__ = module.__name__
    sys.modules[module.__name__] = module
    try:
        with Leftovers() as left:
            node = Node()
            node.me = node  # a reference cycle through a "unicancel" object
            del node
            table["name"] = "constant"
            table[object()] = VirtualClockLoop  # a runtime object kept by a global table
        assert len(left.found) == 2, left.found
        assert left.found[0].startswith("cyclic garbage: 1 unicancel object"), left.found
        assert left.found[1].startswith("global table unicancel._differential_probe.TABLE"), (
            left.found
        )
        with Leftovers() as clean:
            Node()
        assert clean.found == []
    finally:
        del sys.modules[module.__name__]


def test_the_generator_reaches_the_new_statements() -> None:
    """Start/started() inside scopes and groups, CPU work and outside cancels
    all occur in the programs CI runs (docs/differential-testing.md)."""
    seen: set[str] = set()

    @settings(max_examples=300, deadline=None, database=None, print_blob=False)
    @seed(SEED)
    @given(programs())
    def collect(program: Program) -> None:
        for child in program.children:
            for stmt, _ in walk(child.body):
                if isinstance(stmt, (Scope, Group)) and any(
                    isinstance(inner, Started) for inner, _ in walk(stmt.body)
                ):
                    seen.add("started inside a scope or group")
        for block in (program.main, *(c.body for c in program.children)):
            seen.update(type(stmt).__name__ for stmt, _ in walk(block))

    collect()
    for wanted in ("Start", "Started", "Work", "Interrupt", "started inside a scope or group"):
        assert wanted in seen, wanted


def test_the_generated_source_compiles() -> None:
    @settings(max_examples=50, deadline=None, database=None, print_blob=False)
    @seed(SEED)
    @given(programs())
    def compiles(program: Program) -> None:
        compile_program(to_source(program))

    compiles()
