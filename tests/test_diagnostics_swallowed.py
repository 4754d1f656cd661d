"""Diagnostics: a cancellation that a unicancel scope delivered was caught,
not re-raised, and the task went on (issue 13, SCENARIOS 2)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import unicancel
from unicancel import CancelScope, TaskGroup, get_cancelled_exc_class, move_on_after
from unicancel._diagnostics import _sites
from unicancel.diagnostics import Report, SwallowedCancelWarning

from ._diag import CATCH_SITES, at, line, reports
from ._helpers import Event, sleep, wait_all_tasks_blocked

__all__ = ["reports"]  # the fixture

FILE = os.path.basename(__file__)


@pytest.fixture
def detectable(backend_name: str) -> None:
    """trio swallows are told from "no checkpoint reached" by the catch record,
    which needs sys.monitoring (3.12+); on 3.11 trio reports none."""
    if backend_name == "trio" and not CATCH_SITES:
        pytest.skip("trio on Python 3.11: swallowed cancellations are not detected")


def _only(found: list[Report]) -> Report:
    assert [r.kind for r in found] == ["swallowed"], [r.format() for r in found]
    return found[0]


def _catch_site_is(report: Report, lineno: int) -> None:
    if CATCH_SITES:
        assert at(report.catch_site, FILE, lineno), report.format()
    else:
        assert report.catch_site is None
        assert "3.11 cannot tell" in report.format()


async def test_except_cancelled_pass_is_reported(
    detectable: None, reports: list[Report], backend_name: str
) -> None:
    start = line()
    with CancelScope() as scope:
        scope.cancel("time to go")
        try:
            await sleep(1)
        except get_cancelled_exc_class():
            pass
    assert not scope.cancelled_caught
    report = _only(reports)
    assert report.backend == backend_name
    assert at(report.scope_site, FILE, start + 1)
    assert report.reason == "time to go"
    _catch_site_is(report, start + 5)
    assert "re-raise" in report.format()


async def test_broad_except_base_exception_is_reported(
    detectable: None, reports: list[Report]
) -> None:
    start = line()
    with move_on_after(0):
        try:  # noqa: SIM105 - the bug under test
            await sleep(1)
        except BaseException:
            pass
    report = _only(reports)
    assert report.reason == "deadline exceeded"
    _catch_site_is(report, start + 4)


async def test_catch_and_reraise_is_not_reported(reports: list[Report]) -> None:
    cleaned = False
    with CancelScope() as scope:
        scope.cancel()
        try:
            await sleep(1)
        except get_cancelled_exc_class():
            cleaned = True
            raise
    assert cleaned and scope.cancelled_caught
    assert reports == []


async def test_no_checkpoint_after_the_cancel_is_not_a_swallow(reports: list[Report]) -> None:
    with CancelScope() as scope:
        await sleep(0)
        scope.cancel()  # the body ends without another checkpoint
    assert not scope.cancelled_caught
    with CancelScope() as late:
        await sleep(0)
    late.cancel()  # after the body: nothing to deliver
    assert reports == []


async def test_body_finished_before_the_deadline_is_not_reported(reports: list[Report]) -> None:
    with move_on_after(100):
        await sleep(0)
    assert reports == []


async def test_swallow_in_a_library_is_reported_at_the_users_call(
    detectable: None, reports: list[Report], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "swallowlib.py").write_text(
        "async def fetch(sleep, cancelled):\n"
        "    try:\n"
        "        await sleep(10)\n"
        "    except cancelled:\n"
        "        return None\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(_sites, "EXTRA_LIBRARY_DIRS", [str(tmp_path)])
    import swallowlib  # type: ignore[import-not-found]

    start = line()
    with CancelScope() as scope:
        scope.cancel()
        await swallowlib.fetch(sleep, get_cancelled_exc_class())
    report = _only(reports)
    assert at(report.scope_site, FILE, start + 1)
    _catch_site_is(report, start + 3)
    if CATCH_SITES:
        assert "caught inside a library, at " in report.stack
        assert "swallowlib.py:4" in report.stack
    sys.modules.pop("swallowlib", None)


async def test_swallow_in_a_task_group_child_is_reported(
    detectable: None, reports: list[Report]
) -> None:
    started = Event()
    catch_line = 0

    async def child() -> None:
        nonlocal catch_line
        started.set()
        try:
            await sleep(10)
        except get_cancelled_exc_class():
            catch_line = line() - 1
        # returns normally: the group's cancellation is gone

    start = line()
    async with TaskGroup() as tg:
        tg.start_soon(child, name="swallower")
        await started.wait()
        await wait_all_tasks_blocked()
        tg.cancel_scope.cancel("group done")
    report = _only(reports)
    assert report.task == "swallower"
    assert report.reason in ("group done", None)  # trio: from the Cancelled, if it says
    assert at(report.scope_site, FILE, start + 1), report.format()
    _catch_site_is(report, catch_line)


async def test_child_that_dies_of_the_group_cancel_is_not_reported(reports: list[Report]) -> None:
    async with TaskGroup() as tg:
        tg.start_soon(sleep, 10)
        await wait_all_tasks_blocked()
        tg.cancel_scope.cancel()
    assert reports == []


async def test_swallow_in_an_inner_scope_reported_at_the_cancelled_outer(
    detectable: None,
    reports: list[Report],
) -> None:
    start = line()
    with CancelScope() as outer:
        outer.cancel("outer")
        with CancelScope():
            try:
                await sleep(1)
            except get_cancelled_exc_class():
                pass
        # no checkpoint before the outer scope exits
    report = _only(reports)
    assert at(report.scope_site, FILE, start + 1)
    assert report.reason == "outer"
    _catch_site_is(report, start + 6)


async def test_swallow_then_a_checkpoint_in_the_cancelled_scope_is_not_reported(
    reports: list[Report],
) -> None:
    # Level-triggered: the next checkpoint raises again, and that one
    # propagates; the task never went on as if not cancelled.
    with CancelScope() as scope:
        scope.cancel()
        try:
            await sleep(1)
        except get_cancelled_exc_class():
            pass
        await sleep(1)
    assert scope.cancelled_caught
    assert reports == []


async def test_each_catch_site_is_reported_once(detectable: None, reports: list[Report]) -> None:
    for _ in range(3):
        with CancelScope() as scope:
            scope.cancel()
            try:
                await sleep(1)
            except get_cancelled_exc_class():
                pass
    assert len(reports) == 1


async def _swallow_once() -> None:
    with CancelScope() as scope:
        scope.cancel()
        try:
            await sleep(1)
        except get_cancelled_exc_class():
            pass


async def test_reported_as_a_warning(detectable: None, backend_name: str) -> None:
    from unicancel import diagnostics

    diagnostics.enable(log=False)
    try:
        with pytest.warns(SwallowedCancelWarning, match="cancellation swallowed") as record:
            await _swallow_once()
    finally:
        diagnostics.disable()
    assert record[0].filename.endswith(FILE)


async def test_nothing_is_reported_while_off(backend_name: str) -> None:
    from unicancel import diagnostics

    found: list[Report] = []
    unsubscribe = diagnostics.subscribe(found.append)
    try:
        with CancelScope() as scope:
            scope.cancel()
            try:
                await sleep(1)
            except get_cancelled_exc_class():
                pass
    finally:
        unsubscribe()
    assert found == []


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_asyncio_retry_loops_are_not_reported(reports: list[Report]) -> None:
    # asyncio's own code catches the cancellation and waits again
    # (Condition.wait re-acquiring its lock, TaskGroup.__aexit__), then re-raises.
    condition = asyncio.Condition()
    holder_may_go = asyncio.Event()

    async def holder() -> None:
        async with condition:
            await holder_may_go.wait()

    with CancelScope() as scope:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(asyncio.sleep(10))
            async with condition:
                other = asyncio.create_task(holder())
                waiting = asyncio.create_task(asyncio.sleep(0))
                await waiting
                asyncio.get_running_loop().call_soon(scope.cancel)
                asyncio.get_running_loop().call_soon(holder_may_go.set)
                await condition.wait()
    await other
    assert scope.cancelled_caught
    assert reports == []


def test_unicancel_run_reports_on_both_backends() -> None:
    from unicancel import diagnostics

    async def main() -> None:
        with CancelScope() as scope:
            scope.cancel()
            try:
                await unicancel.checkpoint()
            except get_cancelled_exc_class():
                pass

    with diagnostics.collect() as found:
        diagnostics.enable(warn=False, log=False)
        unicancel.run(main, backend="asyncio")
        unicancel.run(main, backend="trio")
    assert [(r.kind, r.backend) for r in found] == [("swallowed", "asyncio")]  # once per site


async def test_native_trio_scope_catching_its_own_behind_a_shield_is_not_reported(
    reports: list[Report], backend_name: str
) -> None:
    # Our deadline passed, but behind a shield a native scope's own deadline
    # cancels and catches; our scope then exits without a checkpoint.
    with move_on_after(0) as outer:
        with CancelScope(shield=True):
            if backend_name == "trio":
                import trio

                with trio.move_on_after(0.01):
                    await trio.sleep_forever()
            else:
                try:
                    async with asyncio.timeout(0.01):
                        await asyncio.sleep(10)
                except TimeoutError:
                    pass
    assert not outer.cancelled_caught
    assert reports == []


_WERROR_PROGRAM = """
import sys, unicancel, unicancel.diagnostics as d
d.enable(log=False, stuck_after=float("inf"))
got = []
d.subscribe(lambda r: got.append(r.task))
cancelled = unicancel.get_cancelled_exc_class

async def swallows():                     # reported
    try:
        await unicancel.Event().wait()
    except cancelled():
        return

async def swallows_too():                 # another site: reported too
    try:
        await unicancel.Event().wait()
    except cancelled():
        return

async def reraises_after_an_await():      # the cancel must hit its second await at once
    try:
        await unicancel.Event().wait()
    except cancelled():
        await unicancel.Event().wait()
        raise

async def group(*children):
    async with unicancel.TaskGroup() as tg:
        for child in children:
            tg.start_soon(child)
        await unicancel.checkpoint()
        await unicancel.checkpoint()
        tg.cancel()

async def main():
    await group(swallows, reraises_after_an_await)
    await group(swallows_too)
    print("reported:", sorted(name.rpartition(".")[2] for name in got))

unicancel.run(main, backend=sys.argv[1])
"""


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_warnings_as_errors_never_break_delivery_or_detection(backend: str, tmp_path: Path) -> None:
    # -W error on the category: a swallow seen by unicancel's delivery batch
    # (asyncio) or trio's instrument must not cut them short (the sibling's
    # cancellation was lost: a hang) nor stop later reports; it is logged.
    if backend == "trio" and not CATCH_SITES:
        pytest.skip("trio tells a swallow by its catch site: Python 3.12+")
    script = tmp_path / "werror.py"
    script.write_text(_WERROR_PROGRAM)
    category = "error::unicancel.diagnostics.CancelDiagnosticWarning"
    result = subprocess.run(
        [sys.executable, "-W", category, str(script), backend],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    # Once per site: on 3.11 (no catch sites) both swallows share the group's site.
    expected = ["swallows", "swallows_too"] if CATCH_SITES else ["swallows"]
    assert f"reported: {expected}" in result.stdout, result.stdout + result.stderr


_CHILD_SITE_PROGRAM = """
import sys, unicancel, unicancel.diagnostics as d
d.enable(warn=False, log=False, stuck_after=float("inf"))
sites = []
d.subscribe(lambda r: sites.append((r.scope_site, r.catch_site)))

async def child():
    try:
        await unicancel.Event().wait()
    except unicancel.get_cancelled_exc_class():
        return

async def main():
    async with unicancel.TaskGroup() as tg:   # line 14
        tg.start_soon(child)
        await unicancel.checkpoint()
        await unicancel.checkpoint()
        tg.cancel()

unicancel.run(main, backend=sys.argv[1])
print("sites:", sites)
"""


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_group_childs_swallow_names_the_users_group_under_w_error(
    backend: str, tmp_path: Path
) -> None:
    # `-W error::unicancel.diagnostics.CancelDiagnosticWarning` imports
    # unicancel before the site module runs, when the virtual environment's
    # site-packages is not known yet: trio's frames were taken for the
    # user's, and the scope site was a line inside trio (_traps.py:71).
    if backend == "trio" and not CATCH_SITES:
        pytest.skip("trio tells a swallow by its catch site: Python 3.12+")
    script = tmp_path / "childsite.py"
    script.write_text(_CHILD_SITE_PROGRAM)
    category = "error::unicancel.diagnostics.CancelDiagnosticWarning"
    result = subprocess.run(
        [sys.executable, "-W", category, script.name, backend],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    catch = "'childsite.py:10'" if CATCH_SITES else "None"
    assert f"sites: [('childsite.py:14', {catch})]" in result.stdout, result.stdout


@pytest.mark.skipif(not CATCH_SITES, reason="sys.monitoring: Python 3.12+")
def test_a_catch_site_lost_to_other_monitoring_tools_says_so() -> None:
    monitoring = sys.monitoring  # type: ignore[attr-defined,unused-ignore]
    taken = [tool for tool in (3, 4) if monitoring.get_tool(tool) is None]
    for tool in taken:
        monitoring.use_tool_id(tool, "another tool")
    try:
        with unicancel.diagnostics.collect() as found:
            unicancel.diagnostics.enable(warn=False, log=False)

            async def main() -> None:
                with move_on_after(0):
                    try:
                        await Event().wait()
                    except get_cancelled_exc_class():
                        pass

            unicancel.run(main)
    finally:
        for tool in taken:
            monitoring.free_tool_id(tool)
    (report,) = found
    assert report.catch_site is None
    assert "sys.monitoring tool ids 3 and 4 were taken by other tools" in report.stack


async def _shielded_sleep() -> None:
    with CancelScope(shield=True):
        await sleep(0.001)  # trio: a native deadline inside trio.sleep cancels and catches


async def _shielded_inner_deadline() -> None:
    with CancelScope(shield=True), move_on_after(0) as inner:
        await sleep(1)
    assert inner.cancelled_caught


async def _shielded_nested_shields() -> None:
    with CancelScope(shield=True):
        with CancelScope(shield=False):
            with CancelScope(shield=True):
                await sleep(0.001)


async def _cancel_another_scope() -> None:
    # A cancel delivered to another task runs trio's abort code in this one.
    async with TaskGroup() as tg:
        tg.start_soon(sleep, 10)
        await wait_all_tasks_blocked()
        tg.cancel_scope.cancel()


@pytest.mark.parametrize(
    "after",
    [_shielded_sleep, _shielded_inner_deadline, _shielded_nested_shields, _cancel_another_scope],
)
async def test_swallow_then_an_await_that_is_not_cancelled_is_reported(
    detectable: None, reports: list[Report], after: Any
) -> None:
    # Only a checkpoint where the task is cancelled re-delivers: a shielded
    # await (or one in a scope of its own) after the swallow does not, and
    # the scope still exits as if never cancelled.
    start = line()
    with CancelScope() as scope:
        scope.cancel("stop")
        try:
            await sleep(1)
        except get_cancelled_exc_class():
            pass
        with CancelScope(shield=True):
            await after()
    assert not scope.cancelled_caught
    report = _only(reports)
    assert at(report.scope_site, FILE, start + 1), report.format()
    _catch_site_is(report, start + 5)


@pytest.mark.parametrize("before", [_shielded_sleep, _shielded_inner_deadline])
async def test_swallow_then_a_shielded_await_then_a_checkpoint_is_not_reported(
    reports: list[Report], before: Any
) -> None:
    # The unshielded checkpoint re-delivers (level-triggered): nothing lost.
    with CancelScope() as scope:
        scope.cancel()
        try:
            await sleep(1)
        except get_cancelled_exc_class():
            pass
        await before()
        await sleep(0.001)
    assert scope.cancelled_caught
    assert reports == []


async def test_contextlib_suppress_is_reported_at_its_with_on_asyncio(
    reports: list[Report], backend_name: str
) -> None:
    # asyncio's delivery counts see the swallow; the catch site is the
    # `with` (trio takes a `with` that catches a cancellation for a scope
    # catching its own, and does not judge it: a documented limit).
    start = line()
    with CancelScope() as scope:
        scope.cancel()
        with contextlib.suppress(get_cancelled_exc_class()):
            await sleep(1)
    assert not scope.cancelled_caught
    if backend_name == "trio":
        assert reports == []
        return
    report = _only(reports)
    assert at(report.scope_site, FILE, start + 1), report.format()
    _catch_site_is(report, start + 3)


async def test_group_child_swallow_then_a_shielded_await_is_reported(
    detectable: None, reports: list[Report]
) -> None:
    # The child caught the group's cancellation, awaited behind a shield
    # (nothing raised again) and returned: a swallow, on every backend.
    # asyncio forgot the delivery once the shield hid the group's scope.
    catch_line = 0

    async def child() -> None:
        nonlocal catch_line
        try:
            await sleep(10)
        except get_cancelled_exc_class():
            catch_line = line() - 1
        with CancelScope(shield=True):
            await sleep(0.001)

    async with TaskGroup() as tg:
        tg.start_soon(child, name="shielded swallower")
        await wait_all_tasks_blocked()
        tg.cancel_scope.cancel()
    report = _only(reports)
    assert report.task == "shielded swallower"
    _catch_site_is(report, catch_line)


async def test_group_child_swallow_shielded_await_then_a_checkpoint_is_not_reported(
    reports: list[Report],
) -> None:
    # The unshielded await after the shield raises again; the child dies of it.
    async def child() -> None:
        try:
            await sleep(10)
        except get_cancelled_exc_class():
            pass
        with CancelScope(shield=True):
            await sleep(0.001)
        await sleep(10)

    async with TaskGroup() as tg:
        tg.start_soon(child)
        await wait_all_tasks_blocked()
        tg.cancel_scope.cancel()
    assert reports == []
