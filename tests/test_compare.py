"""``python -m unicancel compare``: the scenario catalogue, its pinned outcomes,
the agreement of unicancel's two columns, the generated docs page and the CLI.

The pins below are what each system does today (trio 0.35, anyio 4.16,
CPython 3.11-3.13). A failure here after an upgrade means a library changed
its cancellation behaviour: check the scenario with ``--explain NAME``, then
update the pin and regenerate the docs page (on Python 3.13):
``python -m unicancel compare --write-docs docs/backend-semantics.md``.
The headline pins are the short form; the docs staleness test compares every
full trace.

unicancel's two columns must agree on every scenario, except those listed in
``NATIVE_DISAGREEMENTS`` (src/unicancel/_tools/compare/_report.py), where the
behaviour belongs to a native primitive unicancel does not wrap: for those,
``NATIVE_SPLIT`` pins how the columns differ, and an entry whose columns agree
fails (the list cannot go stale).
"""

from __future__ import annotations

import copy
import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from unicancel.__main__ import main
from unicancel._tools.compare import (
    SCENARIOS,
    SYSTEMS,
    Report,
    Scenario,
    build_report,
    docs_differences,
    render,
    render_docs,
    select_scenarios,
    select_systems,
)
from unicancel._tools.compare._model import UVLOOP, Trace, comparable, exc_name
from unicancel._tools.compare._report import NATIVE_DISAGREEMENTS, unicancel_agree, verdict
from unicancel._tools.compare._runner import run_one

DOCS = Path(__file__).parent.parent / "docs" / "backend-semantics.md"
MINOR = f"{sys.version_info[0]}.{sys.version_info[1]}"
NAMES = tuple(s.name for s in SYSTEMS)
#: Marks a cell that depends on the Python minor version (see BY_PYTHON).
PY = "<by python>"

# Headline per system, in column order: asyncio, uvloop, trio, anyio-asyncio,
# anyio-trio, unicancel-asyncio, unicancel-trio.
EXPECTED: dict[str, tuple[str, ...]] = {
    "edge-vs-level": ("1 of 3", "1 of 3", "3 of 3", "3 of 3", "3 of 3", "3 of 3", "3 of 3"),
    "await-that-does-not-suspend": (
        *("a later await", "a later await", "the set event", "the set event"),
        *("the set event", "the set event", "the set event"),
    ),
    "cancel-before-entering": ("never ran", "never ran", "ran", "ran", "ran", "ran", "ran"),
    "except-exception": ("no",) * 7,
    "swallowed-cancel": ("1 of 3", "1 of 3", *("3 of 3",) * 5),
    "double-cancel": ("first",) * 7,
    "cancel-finished-task": ("no effect",) * 7,
    "cpu-loop-no-checkpoint": ("10000",) * 7,
    "cpu-loop-with-checkpoint": ("1000",) * 7,
    "await-in-finally": ("returned", "returned", *("Cancelled",) * 5),
    "shield-vs-asyncio-shield": ("yes", "yes", "no", "no", "no", "no", "no"),
    "asyncgen-cleanup-aclosing": ("returned", "returned", *("Cancelled",) * 5),
    "asyncgen-cleanup-gc": (
        *("returned", "returned", "Cancelled", "returned"),
        *("Cancelled", "returned", "Cancelled"),
    ),
    "timeout-expires": ("TimeoutError", "TimeoutError", "TooSlowError", *("TimeoutError",) * 4),
    "fail-after-explicit-cancel": ("Cancelled", "Cancelled", "TooSlowError", *("nothing",) * 4),
    "wait-for-timeout": (PY, PY, "TooSlowError", *("TimeoutError",) * 4),
    "timeout-swallowed": (
        *("partial result", "partial result", "TooSlowError"),
        *("TimeoutError",) * 4,
    ),
    "nested-timeouts-outer-fires": ("outer",) * 7,
    "nested-timeouts-inner-fires": ("inner",) * 7,
    "nested-timeouts-both-expired": ("outer",) * 7,
    "deadline-in-past": ("Cancelled",) * 7,
    "deadline-in-past-no-checkpoint": ("nothing",) * 7,
    "deadline-moved-into-past": ("Cancelled",) * 7,
    "bare-task-orphaned": ("yes", "yes", "no", "no", "no", "no", "no"),
    "group-child-error": ("EG[ValueError]",) * 7,
    "gather-return-exceptions": ("2 / 1 / 0", "2 / 1 / 0", *("1 / 1 / 1",) * 5),
    "group-errors-win": ("EG[ValueError]",) * 7,
    "group-errors-win-lost-cancel": (PY, PY, "yes", "yes", "yes", "yes", "yes"),
    "lost-cancel-native-group": (PY, PY, "yes", PY, "yes", "yes", "yes"),
    "cancel-leaving-group": ("caught it", "caught it", "missed it", *("caught it",) * 4),
    "shutdown-leftover-tasks": ("after main", "after main", *("before main",) * 5),
    "stop-flag-graceful": ("gracefully",) * 7,
    "stop-flag-forced": ("the grace wait", "the grace wait", *("the forced cancel",) * 5),
    "cancel-from-thread": ("Cancelled",) * 7,
    "cancel-during-thread-call": (
        *("immediately", "immediately", "after the thread", "after the thread"),
        *("after the thread", "after the thread", "after the thread"),
    ),
    "spin-while-cancelled": ("bounded",) * 7,
    "spin-native-group": ("bounded", "bounded", "bounded", "every iteration", *("bounded",) * 3),
    "two-cancels-one-iteration": ("yes",) * 7,
    "uncancel-balance-after-swallow": ("yes",) * 7,
    "stray-cancel-after-uncancel": (PY, PY, *("returned",) * 5),
    "cross-task-cancel-not-counted": ("yes",) * 7,
    "misnesting-out-of-order": ("accepted", "accepted", *("RuntimeError",) * 5),
    "misnesting-async-generator": ("accepted", "accepted", *("RuntimeError",) * 5),
    "stuck-cancel-detection": (
        *("yes: stubborn", "yes: stubborn", "no API", "yes: stubborn"),
        *("yes: stubborn", "yes: stubborn + site", "yes: stubborn + site"),
    ),
    "swallowed-cancel-detection": (
        *("yes: worker", "yes: worker", "no API", "no API", "no API", PY, PY),
    ),
}

_WAIT_FOR = [["inner await saw", "Cancelled"], ["inner cleanup", "ran"]]
_WAIT_FOR_311 = [["inner runs in the caller's task", "no"], *_WAIT_FOR]
_WAIT_FOR_312 = [["inner runs in the caller's task", "yes"], *_WAIT_FOR]
_LOST = [["parent caught", "the ValueError"], ["parent's next await", "returned"]]
_KEPT = [["parent caught", "the ValueError"], ["parent's next await", "Cancelled"]]
_LOST_BY_PYTHON = {
    "3.11": [*_LOST, ["cancellation survived", "no"]],
    "3.12": [*_LOST, ["cancellation survived", "no"]],
    "3.13": [*_KEPT, ["cancellation survived", "yes"]],
}
_STRAY_BY_PYTHON = {
    "3.11": [["next await", "stray Cancelled"]],
    "3.12": [["next await", "stray Cancelled"]],
    "3.13": [["next await", "returned"]],
}
#: Full traces (info entries left out) of the cells that differ between
#: Python minor versions. A newer minor is held to the newest pin.
BY_PYTHON: dict[tuple[str, str], dict[str, list[list[str]]]] = {
    ("wait-for-timeout", system): {
        "3.11": [*_WAIT_FOR_311, ["caller saw", "TimeoutError"]],
        "3.12": [*_WAIT_FOR_312, ["caller saw", "TimeoutError"]],
        "3.13": [*_WAIT_FOR_312, ["caller saw", "TimeoutError"]],
    }
    for system in ("asyncio", "uvloop")
}
BY_PYTHON |= {
    (name, s): _LOST_BY_PYTHON
    for name in ("group-errors-win-lost-cancel", "lost-cancel-native-group")
    for s in ("asyncio", "uvloop")
}
BY_PYTHON[("lost-cancel-native-group", "anyio-asyncio")] = {
    "3.11": [*_KEPT, ["cancellation survived", "yes"]],
    "3.12": [*_KEPT, ["cancellation survived", "yes"]],
    "3.13": [*_KEPT, ["escaped the run", "Cancelled"]],
}
BY_PYTHON |= {("stray-cancel-after-uncancel", s): _STRAY_BY_PYTHON for s in ("asyncio", "uvloop")}
_SWALLOW_FOUND = [
    ["worker", "caught its cancellation and returned"],
    ["swallow found", "yes: worker + site"],
    ["site named", "`except cancelled:`"],
]
#: unicancel.diagnostics names the except clause from sys.monitoring (3.12+).
BY_PYTHON |= {
    ("swallowed-cancel-detection", s): {
        "3.11": [*_SWALLOW_FOUND[:1], ["swallow found", "needs Python 3.12+"]],
        "3.12": _SWALLOW_FOUND,
        "3.13": _SWALLOW_FOUND,
    }
    for s in ("unicancel-asyncio", "unicancel-trio")
}

_GC_START = [
    ["generator cleaned up when the caller saw it", "no"],
    ["generator cleanup", "started"],
]
_GC_DONE = ["cleanup finished within 10 loop iterations", "yes"]
_GC_WARNING = (  # trio's warning, as the runner records it (first 100 characters)
    "ResourceWarning: Async generator '...' was garbage collected before it had been exhausted. "
    "Surround "
)
#: How unicancel's two columns differ on the scenarios of NATIVE_DISAGREEMENTS
#: (comparable traces; the same on every Python): each column follows what
#: its backend's native primitive does (docs/semantics.md difference 7).
NATIVE_SPLIT: dict[str, dict[str, list[list[str]]]] = {
    # The loop's finaliser closes the abandoned generator: asyncio in a plain
    # task (its await returns), trio inside a cancelled scope, with a warning.
    "asyncgen-cleanup-gc": {
        "unicancel-asyncio": [*_GC_START, ["await in generator cleanup", "returned"], _GC_DONE],
        "unicancel-trio": [
            *_GC_START,
            ["await in generator cleanup", "Cancelled"],
            _GC_DONE,
            ["warning", _GC_WARNING],
        ],
    },
    # asyncio.TaskGroup drops Cancelled from its ExceptionGroup, so the scope
    # delivers it again at the next await; a trio nursery keeps it, so
    # except* re-raises it at once. The scope catches it either way.
    "lost-cancel-native-group": {
        "unicancel-asyncio": [*_KEPT, ["cancellation survived", "yes"]],
        "unicancel-trio": [["parent caught", "the ValueError"], ["cancellation survived", "yes"]],
    },
}

_SHUTDOWN_CLEANUP = [
    ["worker saw", "Cancelled"],
    ["worker cleanup ran", "before main"],
    ["await in worker cleanup", "Cancelled"],
]
#: Full traces (info entries included) of the unicancel variants written with
#: stop tokens and GracefulShutdown (SCENARIOS.md items 5 and 8); the same on
#: both backends and on Python 3.11, 3.12 and 3.13.
STOP_TOKEN_TRACES: dict[str, list[list[str]]] = {
    "stop-flag-graceful": [
        ["worker", "saw the stop flag and returned"],
        ["stop reason", "shutting down", "info"],
        ["worker cleanup", "ran"],
        ["worker stopped", "gracefully"],
    ],
    "stop-flag-forced": [
        ["worker stopped", "forced"],
        ["worker cancelled by", "the forced cancel"],
        ["not finished when forced", "main, worker", "info"],
    ],
    "shutdown-leftover-tasks": [
        *_SHUTDOWN_CLEANUP,
        ["reported as not finished", "main, worker"],
        ["main", "returned"],
    ],
}

#: Every item the catalogue must cover: SCENARIOS.md items, ANCHORS traps, and
#: the situations named in issue 6, each with the scenario that shows it.
REQUIRED = {
    "edge vs level triggering": "edge-vs-level",
    "a swallowed cancel": "swallowed-cancel",
    "awaiting in finally": "await-in-finally",
    "scope shield vs asyncio.shield": "shield-vs-asyncio-shield",
    "nested timeouts": "nested-timeouts-both-expired",
    "wait_for converting to TimeoutError": "wait-for-timeout",
    "task-group error-vs-cancel priority": "group-errors-win",
    "cancel before entering": "cancel-before-entering",
    "a deadline already in the past": "deadline-in-past",
    "cancel of a finished task": "cancel-finished-task",
    "async-generator cleanup under cancellation": "asyncgen-cleanup-aclosing",
    "a CPU-bound loop with no checkpoint": "cpu-loop-no-checkpoint",
    "cancel requested from another thread": "cancel-from-thread",
    "shutdown of leftover tasks": "shutdown-leftover-tasks",
    "gather(return_exceptions=True)": "gather-return-exceptions",
    "trap 1: spin while cancelled": "spin-native-group",
    "trap 2: uncancel counting": "two-cancels-one-iteration",
    "trap 3: stray cancel": "stray-cancel-after-uncancel",
    "trap 4: errors win": "group-errors-win",
    "trap 5: cancels of other tasks": "cross-task-cancel-not-counted",
    "trap 6: misnesting": "misnesting-async-generator",
    "trap 7: fail_after exception type": "fail-after-explicit-cancel",
    "trap 8: cancellation leaving a task group": "cancel-leaving-group",
}


@pytest.fixture(scope="module")
def report() -> Report:
    """Every scenario on every system, run once for the whole module."""
    return build_report(SCENARIOS, SYSTEMS)


def _entry(report: Report, name: str) -> dict[str, Any]:
    return next(e for e in report["scenarios"] if e["name"] == name)


def _pin(scenario: str, system: str) -> list[list[str]]:
    pins = BY_PYTHON[(scenario, system)]
    return pins.get(MINOR) or pins[max(pins, key=lambda v: tuple(map(int, v.split("."))))]


def _available(report: Report) -> set[str]:
    return {s["name"] for s in report["systems"] if s["available"]}


# -- the catalogue -----------------------------------------------------------------------


def test_catalogue_has_at_least_30_well_formed_scenarios() -> None:
    names = [s.name for s in SCENARIOS]
    assert len(names) >= 30
    assert len(set(names)) == len(names)
    for scenario in SCENARIOS:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", scenario.name), scenario.name
        assert scenario.title and scenario.description and scenario.covers
        assert set(scenario.python_dependent) <= set(NAMES), scenario.name


#: The topics the catalogue must cover: the ten asyncio cancellation problems
#: of docs/migrating-from-asyncio.md, the traps other libraries fell into
#: (docs/semantics.md), level triggering and shields.
TOPICS = {
    # the migration guide's problems 1-10
    "checkpoints",
    "swallowed-cancel",
    "cleanup",
    "task-trees",
    "stop-tokens",
    "timeouts",
    "task-state",
    "shutdown",
    "gather",
    "debugging",
    # traps: re-delivery busy-waits, asyncio's cancel counting, the stray cancel
    # of 3.11/3.12, 'errors win', cancels aimed at other tasks, misnesting,
    # fail_after's exception, what leaves a cancelled task group
    "busy-wait",
    "cancel-counting",
    "stray-cancel",
    "errors-win",
    "cross-task-cancel",
    "misnesting",
    "fail-after-exception",
    "cancel-leaving-group",
    "level",
    "shield",
}


def test_catalogue_covers_every_required_situation() -> None:
    names = {s.name for s in SCENARIOS}
    for situation, name in REQUIRED.items():
        assert name in names, situation
    covered = {tag for s in SCENARIOS for tag in s.covers}
    assert covered >= TOPICS, TOPICS - covered
    # Tags are words a user can read, not codes of internal documents.
    assert all(re.fullmatch(r"[a-z]+(-[a-z]+)*", tag) for tag in covered), sorted(covered)


def test_every_scenario_has_pins() -> None:
    assert set(EXPECTED) == {s.name for s in SCENARIOS}
    assert all(len(cells) == len(NAMES) for cells in EXPECTED.values())
    declared = {(s.name, system) for s in SCENARIOS for system in s.python_dependent}
    marked = {
        (name, system)
        for name, cells in EXPECTED.items()
        for system, cell in zip(NAMES, cells, strict=True)
        if cell == PY
    }
    assert declared == marked == set(BY_PYTHON)
    assert all({"3.11", "3.12", "3.13"} <= set(pins) for pins in BY_PYTHON.values())


# -- pinned behaviour ---------------------------------------------------------------------


@pytest.mark.parametrize("name", list(EXPECTED))
def test_pinned_outcomes(report: Report, name: str) -> None:
    """What every system does in this scenario (its table cells)."""
    entry = _entry(report, name)
    for system, expected in zip(NAMES, EXPECTED[name], strict=True):
        result = entry["results"][system]
        if result["status"] == "missing":
            continue
        if expected == PY:
            assert comparable(result["trace"]) == _pin(name, system), system
            continue
        assert result["status"] == "ok", (system, result["detail"], result["trace"])
        assert result["headline"] == expected, (system, result["trace"])


@pytest.mark.parametrize("name", [s.name for s in SCENARIOS if s.name not in NATIVE_DISAGREEMENTS])
def test_unicancel_columns_agree(report: Report, name: str) -> None:
    """unicancel runs the same code on both backends: the traces must match."""
    if not {"unicancel-asyncio", "unicancel-trio"} <= _available(report):
        pytest.skip("trio is not installed")
    results = _entry(report, name)["results"]
    assert results["unicancel-asyncio"]["trace"] == results["unicancel-trio"]["trace"]


def _check_native_split(report: Report, name: str) -> None:
    """The documented disagreement *name* still stands, as pinned."""
    entry = _entry(report, name)
    assert entry["unicancel_agree"] is not True, (
        f"{name}: unicancel's columns agree now: remove it from NATIVE_DISAGREEMENTS "
        "(src/unicancel/_tools/compare/_report.py) and from NATIVE_SPLIT"
    )
    for system, pinned in NATIVE_SPLIT[name].items():
        result = entry["results"][system]
        assert result["status"] == "ok", (system, result["detail"])
        assert comparable(result["trace"]) == pinned, system


@pytest.mark.parametrize("name", sorted(NATIVE_DISAGREEMENTS))
def test_documented_disagreement_still_stands(report: Report, name: str) -> None:
    """The scenarios whose unicancel columns may disagree: each column does
    what its backend's native primitive does, exactly as pinned. An explicit
    pin, not a strict xfail: an xfail also "passes" when the scenario errors or
    hangs, or when the columns differ in some new way."""
    if not {"unicancel-asyncio", "unicancel-trio"} <= _available(report):
        pytest.skip("trio is not installed")
    _check_native_split(report, name)
    assert name in verdict(report).documented
    assert name in report["unicancel_documented_disagreements"]


def test_documented_disagreements_are_scenarios_using_native_primitives() -> None:
    """Each entry of NATIVE_DISAGREEMENTS is a scenario whose unicancel variant
    uses a native primitive on purpose (Scenario.native), says which primitive
    owns the behaviour, and points at the section of docs/semantics.md that
    names the scenario."""
    assert set(NATIVE_DISAGREEMENTS) == set(NATIVE_SPLIT)
    by_name = {s.name: s for s in SCENARIOS}
    semantics = (DOCS.parent / "semantics.md").read_text(encoding="utf-8")
    section = semantics.partition("### 7. ")[2].partition("\n## ")[0]
    for name, reason in NATIVE_DISAGREEMENTS.items():
        assert name in by_name, name
        assert by_name[name].native, f"{name}: its unicancel variant uses no native primitive"
        assert re.fullmatch(
            r"behaviour owned by the native [a-z -]+, see docs/semantics\.md difference 7", reason
        ), reason
        assert f"`{name}`" in section, f"docs/semantics.md difference 7 does not name {name}"


def _doctored(report: Report, name: str, *, agree: bool) -> Report:
    """A copy of *report* in which unicancel's columns on *name* agree (the
    asyncio trace copied to trio) or disagree (a step added to trio's)."""
    fake = copy.deepcopy(report)
    results = _entry(fake, name)["results"]
    if agree:
        results["unicancel-trio"] = copy.deepcopy(results["unicancel-asyncio"])
    else:
        results["unicancel-trio"]["trace"].append(["injected", "a step only trio took"])
    _entry(fake, name)["unicancel_agree"] = unicancel_agree(results)
    return fake


def test_a_documented_scenario_whose_columns_agree_fails(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """An entry of NATIVE_DISAGREEMENTS whose columns agree is stale: the pin
    test fails on it and the summary says so (the exit status stays 0: the
    columns agree, nothing is wrong with unicancel)."""
    name = "lost-cancel-native-group"
    real = build_report(select_scenarios([name]), select_systems(["unicancel"]))
    fake = _doctored(real, name, agree=True)
    assert _entry(fake, name)["unicancel_agree"] is True
    with pytest.raises(AssertionError, match="columns agree now: remove it"):
        _check_native_split(fake, name)
    assert verdict(fake).stale == [name]
    path = tmp_path / "report.json"
    path.write_text(render(fake, "json"))
    status, out, _ = _run(capsys, "--from-json", str(path))
    assert status == 0
    assert f"but the columns agree: {name} (remove them from NATIVE_DISAGREEMENTS" in out
    assert "⚠" not in _table(out)  # the row is not flagged


@pytest.mark.parametrize("name", list(STOP_TOKEN_TRACES))
def test_stop_token_variants(report: Report, name: str) -> None:
    """SCENARIOS.md items 5 and 8 in unicancel: a StopToken the worker polls,
    GracefulShutdown's forced cancel after the grace period, and the
    ForcedShutdown report of what had not finished."""
    for system in ("unicancel-asyncio", "unicancel-trio"):
        result = _entry(report, name)["results"][system]
        if result["status"] == "missing":
            continue
        assert result["trace"] == STOP_TOKEN_TRACES[name], system
    # Same behaviour as the hand-written protocols of trio and anyio (the
    # shutdown scenario adds the report, which none of the others has).
    trio = _entry(report, name)["results"]["trio"]
    if trio["status"] == "missing":
        return
    expected = comparable(STOP_TOKEN_TRACES[name])
    if name == "shutdown-leftover-tasks":
        expected = [e for e in expected if e[0] != "reported as not finished"]
    assert comparable(trio["trace"]) == expected


@pytest.mark.parametrize("system", ["unicancel-asyncio", "unicancel-trio"])
def test_stuck_cancel_detection_names_the_line_where_the_task_waits(
    report: Report, system: str
) -> None:
    """unicancel.diagnostics' report of the stuck cancellation names the task
    and the line where it waits (the shielded await), on both backends; the
    other systems name the task at best."""
    results = _entry(report, "stuck-cancel-detection")["results"]
    if results[system]["status"] == "missing":
        pytest.skip("trio is not installed")
    trace = comparable(results[system]["trace"])
    assert ["stuck task found", "yes: stubborn + site"] in trace, trace
    assert ["site named", "`await release.wait()`"] in trace, trace
    for other in ("asyncio", "trio", "anyio-asyncio"):
        if results[other]["status"] != "missing":
            assert ["site named", "no API"] in comparable(results[other]["trace"]), other


def test_traces_do_not_depend_on_timing_or_scheduling(report: Report) -> None:
    """A second run gives the same traces (trio shuffles its run queue, so this
    also catches scenarios that depend on the order of runnable tasks)."""
    again = build_report(SCENARIOS, SYSTEMS)
    for first, second in zip(report["scenarios"], again["scenarios"], strict=True):
        for system in NAMES:
            a, b = first["results"][system], second["results"][system]
            assert (a["status"], a["trace"]) == (b["status"], b["trace"]), (first["name"], system)


def test_docs_page_is_current(report: Report) -> None:
    """docs/backend-semantics.md is generated from the report and must be
    regenerated when behaviour changes (see the page's header for the rules)."""
    if len(_available(report)) < len(NAMES):
        pytest.skip("the docs page needs every system installed")
    diff = docs_differences(DOCS.read_text(encoding="utf-8"), render_docs(report), MINOR)
    assert not diff, (
        "docs/backend-semantics.md is stale; regenerate it on Python 3.13 with "
        "`python -m unicancel compare --write-docs docs/backend-semantics.md`:\n"
        + "\n".join(diff[:60])
    )


def test_docs_check_ignores_versions_and_other_pythons_section(report: Report) -> None:
    page = render_docs(report)
    bumped = re.sub(r"^Versions: .*$", "Versions: Python 9.9.9", page, flags=re.M)
    assert docs_differences(bumped, page, MINOR) == []
    head, marker, section = page.partition(f"generated on Python {MINOR} -->")
    assert marker and "parent caught: the ValueError" in section
    other = head + "generated on Python 3.99 -->" + section.replace("the ValueError", "another")
    assert docs_differences(other, page, MINOR) == []
    assert docs_differences(head + marker + "\n", page, MINOR)  # same minor: compared
    assert docs_differences(page.replace("10000", "9999"), page, MINOR) != []


# -- the runner -----------------------------------------------------------------------------


async def _hangs_asyncio(t: Trace) -> None:
    import asyncio

    t("started")
    await asyncio.Event().wait()


async def _hangs_trio(t: Trace) -> None:
    import trio

    t("started")
    await trio.sleep_forever()


async def _fails(t: Trace) -> None:
    t("started")
    raise ValueError("boom")


async def _fails_unicancel(t: Trace, k: object) -> None:
    raise ValueError("boom")


_BROKEN = Scenario(
    name="broken",
    title="A scenario that hangs or fails",
    description="Only for the tests of the runner.",
    covers=(),
    headline="never recorded",
    asyncio=_hangs_asyncio,
    trio=_hangs_trio,
    anyio=_fails,
    unicancel=_fails_unicancel,
)


@pytest.mark.parametrize("system", ["asyncio", "trio"])
def test_a_hang_becomes_a_hang_cell(system: str) -> None:
    (target,) = select_systems([system])
    if target.requires and not _importable(target.requires[0]):
        pytest.skip(f"{target.requires[0]} is not installed")
    result = run_one(_BROKEN, target, timeout=0.2)
    assert result.status == "hang"
    assert result.trace == [["started", ""]]
    assert "cancelled by the safety net" in result.detail


def test_an_exception_becomes_an_error_cell() -> None:
    (anyio_asyncio,) = select_systems(["anyio-asyncio"])
    result = run_one(_BROKEN, anyio_asyncio)
    assert result.status == "error"
    assert result.headline == "error: ValueError"
    (unicancel_asyncio,) = select_systems(["unicancel-asyncio"])
    assert run_one(_BROKEN, unicancel_asyncio).detail == "ValueError: boom"


def test_neutral_exception_names() -> None:
    import asyncio

    assert exc_name(asyncio.CancelledError()) == "Cancelled"
    group = BaseExceptionGroup("g", [ValueError(), asyncio.CancelledError()])
    assert exc_name(group) == "EG[Cancelled, ValueError]"
    assert exc_name(None) == "nothing"


def _importable(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


# -- the command line -------------------------------------------------------------------------


def _table(out: str) -> str:
    """The rows of a text table, without the legend below them."""
    return out.partition("\n*  the cells differ between systems")[0]


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(["compare", *args])
    out, err = capsys.readouterr()
    return status, out, err


def test_cli_text_table(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run(
        capsys, "--scenario", "edge-vs-level,await-in-finally", "--systems", "asyncio", "trio"
    )
    assert status == 0
    assert re.search(r"^\* edge-vs-level +A 1 of 3 +B 3 of 3$", out, re.M), out
    assert re.search(r"^\* await-in-finally +A returned +B Cancelled$", out, re.M), out
    assert f"Python {sys.version.split()[0]}" in out
    assert "trio 0." in out and "anyio " in out
    assert "swallowed-cancel" not in out


def test_cli_json_and_markdown(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run(
        capsys,
        "--format",
        "json",
        "--scenario",
        "cpu-loop-with-checkpoint",
        "--systems",
        "unicancel",
    )
    assert status == 0
    data = json.loads(out)
    assert data["python"]["minor"] == MINOR
    assert set(data["versions"]) == {"unicancel", "trio", "anyio", "uvloop"}
    assert [s["name"] for s in data["systems"]] == ["unicancel-asyncio", "unicancel-trio"]
    (entry,) = data["scenarios"]
    assert entry["results"]["unicancel-asyncio"]["headline"] == "1000"
    assert entry["unicancel_agree"] is True
    status, out, _ = _run(capsys, "--format", "markdown", "--scenario", "except-exception")
    assert status == 0
    assert "| [`except-exception`](#except-exception)" in out


def test_cli_explain_shows_code_next_to_trace(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run(capsys, "--explain", "nested-timeouts-outer-fires")
    assert status == 0
    assert "async def outer_fires_asyncio(t: Trace) -> None:" in out
    # the shared helper the variant calls is shown too
    assert re.search(r"^async def _nested_trio\(.*\| ", out, re.M) or "_nested_trio" in out
    assert re.search(r"asyncio\.timeout_at\(now \+ outer\):.*\|", out)
    assert "timeout reported by: outer" in out
    status, out, _ = _run(capsys, "--explain", "stray-cancel-after-uncancel", "--format", "json")
    data = json.loads(out)
    assert set(data["sources"]) == {"asyncio", "trio", "anyio", "unicancel"}
    assert "task.uncancel()" in data["sources"]["asyncio"]
    status, out, _ = _run(capsys, "--explain", "cancel-from-thread", "--format", "markdown")
    assert "```python" in out and "loop.call_soon_threadsafe" in out


def test_cli_reports_a_missing_system(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop now fails
    assert run_one(SCENARIOS[0], UVLOOP).status == "missing"
    status, out, _ = _run(capsys, "--scenario", "edge-vs-level", "--systems", "asyncio,uvloop")
    assert status == 0
    # No column of "-": the missing system is named, with how to install it.
    note = "note: uvloop not installed, so no uvloop column: pip install 'unicancel[compare]'"
    assert note in out
    assert re.search(r"^  edge-vs-level +1 of 3$", out, re.M), out
    monkeypatch.setitem(sys.modules, "trio", None)
    status, out, _ = _run(capsys, "--scenario", "edge-vs-level", "--format", "json")
    data = json.loads(out)
    missing = {s["name"]: s["missing"] for s in data["systems"] if not s["available"]}
    assert missing == {
        "uvloop": "uvloop",
        "trio": "trio",
        "anyio-trio": "trio",
        "unicancel-trio": "trio",
    }
    assert data["scenarios"][0]["unicancel_agree"] is None


def test_cli_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = _run(capsys, "--scenario", "no-such-thing")
    assert status == 2 and "unknown scenario(s): no-such-thing" in err
    status, _, err = _run(capsys, "--systems", "curio")
    assert status == 2 and "unknown system(s): curio" in err
    status, _, err = _run(capsys, "--write-docs", "x.md", "--systems", "asyncio")
    assert status == 2 and "every scenario on every system" in err
    status, out, _ = _run(capsys, "--list")
    assert status == 0 and len(out.splitlines()) == len(SCENARIOS)


def test_cli_exit_status_flags_undocumented_disagreements(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Exit status 1 for a disagreement that is not in NATIVE_DISAGREEMENTS
    (injected: unicancel-trio's trace gets a step the other column lacks),
    0 for the documented ones alone."""
    names = ["except-exception", "lost-cancel-native-group"]
    small = build_report(select_scenarios(names), select_systems(["unicancel"]))
    path = tmp_path / "report.json"

    def cli(report: Report) -> tuple[int, str]:
        path.write_text(render(report, "json"))
        status, out, _ = _run(capsys, "--from-json", str(path))
        return status, out

    documented = "unicancel's columns disagree: behaviour owned by the native task group, "
    status, out = cli(small)
    assert status == 0, out
    assert re.search(r"^⚠ lost-cancel-native-group ", out, re.M), out
    assert f"    ⚠ {documented}see docs/semantics.md difference 7\n" in out
    assert (
        "agree on 1 of 2; they disagree because of native primitives unicancel does not "
        "wrap (documented): lost-cancel-native-group." in out
    )
    assert "DISAGREE" not in out

    bad = _doctored(small, "except-exception", agree=False)
    status, out = cli(bad)
    assert status == 1
    assert re.search(r"^! +except-exception", out, re.M), out
    assert "DISAGREE on 1 of 2: except-exception (each is a unicancel bug" in out
    assert "(documented): lost-cancel-native-group." in out
    status, out, _ = _run(capsys, "--from-json", str(path), "--format", "markdown")
    assert status == 1
    assert "[`except-exception`](#except-exception) !<br>" in out
    assert "- ! unicancel's two columns disagree: a bug to fix in unicancel." in out
    assert f"- ⚠ {documented}see docs/semantics.md difference 7." in out

    only_bug = _doctored(
        build_report(select_scenarios(names[:1]), select_systems(["unicancel"])),
        "except-exception",
        agree=False,
    )
    status, out = cli(only_bug)
    assert status == 1
    assert "agree on 0 of 1.\n" in out and "DISAGREE on 1 of 1" in out


def test_cli_exits_0_on_the_full_catalogue(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, report: Report
) -> None:
    """The main job (scripts/demo.sh) passes: the only disagreements are the
    documented ones, each flagged in the table with its reason."""
    if not {"unicancel-asyncio", "unicancel-trio"} <= _available(report):
        pytest.skip("trio is not installed")
    saved = tmp_path / "report.json"
    saved.write_text(render(report, "json"))
    status, out, _ = _run(capsys, "--from-json", str(saved))
    assert status == 0
    for name, reason in NATIVE_DISAGREEMENTS.items():
        assert re.search(rf"^⚠\*?{name} ", out, re.M), name
        assert f"    ⚠ unicancel's columns disagree: {reason}\n" in out
    documented = ", ".join(sorted(NATIVE_DISAGREEMENTS, key=[s.name for s in SCENARIOS].index))
    assert (
        f"agree on {len(SCENARIOS) - len(NATIVE_DISAGREEMENTS)} of {len(SCENARIOS)}; they "
        f"disagree because of native primitives unicancel does not wrap (documented): "
        f"{documented}." in out
    )
    assert not re.search(r"^!", _table(out), re.M), out


def test_cli_writes_and_checks_the_docs(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, report: Report
) -> None:
    if len(_available(report)) < len(NAMES):
        pytest.skip("the docs page needs every system installed")
    page = tmp_path / "backend-semantics.md"
    saved = tmp_path / "report.json"
    saved.write_text(render(report, "json"))
    status, out, _ = _run(capsys, "--from-json", str(saved), "--write-docs", str(page))
    assert status == 0 and page.read_text() == render_docs(report)
    status, out, _ = _run(capsys, "--from-json", str(saved), "--check-docs", str(page))
    assert status == 0 and "up to date" in out
    page.write_text(page.read_text().replace("| 10000 |", "| 9999 |", 1))
    status, out, _ = _run(capsys, "--from-json", str(saved), "--check-docs", str(page))
    assert status == 1 and "is stale" in out


def test_demo_still_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    assert "Traces identical" in capsys.readouterr().out
