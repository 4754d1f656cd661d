"""Diagnostics: tasks that outlive their run (issue 13, SCENARIOS 4 and 8).

asyncio.run cancels what is left when main returns and drops the
CancelledError: nothing says a worker never finished. unicancel.run and
run_graceful report those tasks first; under plain asyncio.run,
check_outlived() at the end of main does the same.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator

import pytest

import unicancel
from unicancel import CancelScope, TaskGroup, diagnostics
from unicancel.diagnostics import OutlivedTaskWarning, Report

from ._diag import line

FILE = os.path.basename(__file__)


@pytest.fixture
def found() -> Iterator[list[Report]]:
    diagnostics.enable(warn=False, log=False, stuck_after=60)
    reports: list[Report] = []
    unsubscribe = diagnostics.subscribe(reports.append)
    try:
        yield reports
    finally:
        unsubscribe()
        diagnostics.disable()


async def worker() -> None:
    # Runs until cancelled. A timer, not an Event nobody else holds: the loop
    # keeps the timer and so the task; waiting on a private Event leaves the
    # task in a cycle only it references, which the garbage collector may
    # destroy ("Task was destroyed but it is pending!") before the run ends.
    await asyncio.sleep(3600)


WORKER_LINE = worker.__code__.co_firstlineno + 5  # the await


def test_bare_create_task_left_running_is_reported(found: list[Report]) -> None:
    create_line = 0

    async def main() -> None:
        nonlocal create_line
        create_line = line() + 1
        asyncio.create_task(worker(), name="forgotten")  # noqa: RUF006 - the bug under test
        await asyncio.sleep(0)

    unicancel.run(main)
    assert [(r.kind, r.task, r.backend) for r in found] == [("outlived", "forgotten", "asyncio")]
    report = found[0]
    assert report.scope_site == f"tests/{FILE}:{create_line}"
    assert report.reason is not None and "bare create_task" in report.reason
    assert f"tests/{FILE}:{WORKER_LINE} in worker" in report.stack
    assert "task outlived its run" in report.format().splitlines()[0]


def test_child_that_escaped_a_cancelled_scope_is_named_with_it(found: list[Report]) -> None:
    async def main() -> None:
        with CancelScope() as scope:
            asyncio.create_task(worker(), name="escaped")  # noqa: RUF006
            scope.cancel("request aborted")
            await asyncio.sleep(0)
        assert scope.cancelled_caught

    unicancel.run(main)
    assert [r.task for r in found] == ["escaped"]
    reason = found[0].reason
    assert reason is not None
    assert "inside a unicancel scope that was cancelled (request aborted)" in reason
    assert "escaped" in reason


def test_run_graceful_reports_what_outlived_main(found: list[Report]) -> None:
    async def main(token: unicancel.StopToken) -> int:
        asyncio.create_task(worker(), name="straggler")  # noqa: RUF006
        await asyncio.sleep(0)
        return 7

    assert unicancel.run_graceful(main, signals=()) == 7
    assert [(r.kind, r.task) for r in found] == [("outlived", "straggler")]


def test_reported_even_when_main_raises(found: list[Report]) -> None:
    async def main() -> None:
        asyncio.create_task(worker(), name="orphan")  # noqa: RUF006
        await asyncio.sleep(0)
        raise ValueError("main failed")

    with pytest.raises(ValueError, match="main failed"):
        unicancel.run(main)
    assert [r.task for r in found] == ["orphan"]


def test_structured_programs_report_nothing(found: list[Report]) -> None:
    async def main() -> None:
        async with TaskGroup() as tg:
            tg.start_soon(unicancel.checkpoint)
            task = asyncio.create_task(asyncio.sleep(0))
        await task

    unicancel.run(main)

    async def trio_main() -> None:
        async with TaskGroup() as tg:
            tg.start_soon(unicancel.checkpoint)
        assert diagnostics.check_outlived() == []

    unicancel.run(trio_main, backend="trio")
    assert found == []


def test_check_outlived_under_plain_asyncio_run(found: list[Report]) -> None:
    async def main() -> list[Report]:
        asyncio.create_task(worker(), name="left-behind")  # noqa: RUF006
        await asyncio.sleep(0)
        return diagnostics.check_outlived()  # the documented opt-in, last in main

    returned = asyncio.run(main())
    assert [r.task for r in returned] == ["left-behind"]
    assert found == returned  # also dispatched
    # No task factory here: where it was created is unknown, where it waits is not.
    assert returned[0].scope_site is None
    assert f"{FILE}:{WORKER_LINE} in worker" in returned[0].stack


def test_check_outlived_given_tasks_skips_finished_ones(found: list[Report]) -> None:
    async def main() -> list[Report]:
        done = asyncio.create_task(asyncio.sleep(0))
        await done
        pending = asyncio.create_task(worker(), name="given")
        await asyncio.sleep(0)
        reports = diagnostics.check_outlived([done, pending])
        pending.cancel()
        return reports

    assert [r.task for r in asyncio.run(main())] == ["given"]


def test_check_outlived_rejects_what_is_not_tasks_and_reports_a_task_once(
    found: list[Report],
) -> None:
    async def main() -> list[Report]:
        pending = asyncio.create_task(worker(), name="twice")
        await asyncio.sleep(0)
        for bad in (5, "abc", [pending, "x"]):
            with pytest.raises(TypeError, match=r"^unicancel: check_outlived\(\)"):
                diagnostics.check_outlived(bad)  # type: ignore[arg-type]
        reports = diagnostics.check_outlived([pending, pending])
        pending.cancel()
        return reports

    assert [r.task for r in asyncio.run(main())] == ["twice"]


def test_outlived_warning_fails_the_run_when_warnings_are_errors() -> None:
    async def main() -> None:
        asyncio.create_task(worker(), name="loose")  # noqa: RUF006
        await asyncio.sleep(0)

    diagnostics.enable(log=False, stuck_after=60)
    try:
        with pytest.raises(OutlivedTaskWarning, match="'loose'"):
            unicancel.run(main)  # filterwarnings = error (pyproject.toml)
    finally:
        diagnostics.disable()


def test_nothing_reported_while_off() -> None:
    found: list[Report] = []
    unsubscribe = diagnostics.subscribe(found.append)

    async def main() -> None:
        asyncio.create_task(worker())  # noqa: RUF006
        await asyncio.sleep(0)

    try:
        unicancel.run(main)
    finally:
        unsubscribe()
    assert found == []


def test_a_task_created_outside_any_task_says_so_once(found: list[Report]) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.call_soon(lambda: loop.create_task(worker(), name="from-a-callback"))
        await asyncio.sleep(0)
        await asyncio.sleep(0)

    unicancel.run(main)
    assert [r.task for r in found] == ["from-a-callback"]
    text = found[0].format()
    assert "created outside any task, with a bare create_task" in text, text
    assert "outside any unicancel scope" not in text, text
