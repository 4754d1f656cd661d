"""Build the comparison report: a JSON-able dict that every renderer (and the
generated docs page) reads. Nothing in it depends on timing except the
``elapsed`` fields, which no renderer compares."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

from ._model import SYSTEMS, Result, Scenario, System, comparable
from ._runner import DEFAULT_TIMEOUT, missing_module, python_info, run_one, versions

__all__ = [
    "BUG_NOTE",
    "NATIVE_DISAGREEMENTS",
    "SCHEMA",
    "Report",
    "Verdict",
    "build_report",
    "classes",
    "disagreement_note",
    "unicancel_agree",
    "verdict",
]

#: Bumped when the JSON layout changes incompatibly.
SCHEMA = 1
Report = dict[str, Any]

_UNICANCEL = ("unicancel-asyncio", "unicancel-trio")


def _owned_by(primitive: str) -> str:
    return f"behaviour owned by the native {primitive}, see docs/semantics.md difference 7"


#: The scenarios on which unicancel's two columns disagree, and why: the
#: behaviour belongs to a native primitive that the scenario's unicancel
#: variant uses on purpose (``Scenario.native``), and unicancel could only
#: change it by monkeypatching the event loop or the native groups. This is
#: the only list of them: the exit status of ``python -m unicancel compare``,
#: the renderers and the tests read it. Any other disagreement is a
#: unicancel bug (exit status 1), and an entry whose columns agree is stale
#: (tests/test_compare.py fails on it).
NATIVE_DISAGREEMENTS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "asyncgen-cleanup-gc": _owned_by("generator finaliser"),
        "lost-cancel-native-group": _owned_by("task group"),
    }
)

#: What a row says when unicancel's columns disagree for no documented reason.
BUG_NOTE = "unicancel's two columns disagree: a bug to fix in unicancel"


def classes(results: dict[str, dict[str, Any]], exclude: Sequence[str] = ()) -> dict[str, str]:
    """Letter per system: systems whose traces are equal (info entries left
    out) share a letter, in column order (A = the first column that ran).
    Systems that did not run get none."""
    letters: dict[str, str] = {}
    seen: dict[str, str] = {}
    for system, result in results.items():
        if result["status"] == "missing" or system in exclude:
            continue
        key = repr((result["status"], comparable(result["trace"])))
        if key not in seen:
            seen[key] = chr(ord("A") + len(seen))
        letters[system] = seen[key]
    return letters


def unicancel_agree(results: dict[str, dict[str, Any]]) -> bool | None:
    """Whether unicancel's two columns have identical traces, info entries
    included: they run the same code (None: one of them did not run)."""
    pair = [results.get(name) for name in _UNICANCEL]
    if any(r is None or r["status"] == "missing" for r in pair):
        return None
    a, b = pair
    assert a is not None
    assert b is not None
    return bool(a["status"] == b["status"] and a["trace"] == b["trace"])


def disagreement_note(entry: Mapping[str, Any]) -> str | None:
    """What a scenario's row says about unicancel's two columns: None if they
    agree (or did not both run), the documented reason if the scenario is in
    :data:`NATIVE_DISAGREEMENTS`, else :data:`BUG_NOTE`."""
    if entry["unicancel_agree"] is not False:
        return None
    reason = NATIVE_DISAGREEMENTS.get(entry["name"])
    return BUG_NOTE if reason is None else f"unicancel's columns disagree: {reason}"


@dataclass(frozen=True)
class Verdict:
    """unicancel's two columns over a whole report."""

    #: Scenarios on which both columns ran.
    checked: int
    #: Disagreements listed in :data:`NATIVE_DISAGREEMENTS`: name -> reason.
    documented: dict[str, str]
    #: Disagreements not listed there: unicancel bugs.
    bugs: list[str]
    #: Listed scenarios whose columns agree: the entry is stale.
    stale: list[str]

    @property
    def exit_status(self) -> int:
        """1 if there is a disagreement that is not documented, else 0."""
        return 1 if self.bugs else 0


def verdict(report: Report) -> Verdict:
    """Sort the disagreements of *report* by :data:`NATIVE_DISAGREEMENTS`
    (the list in the code, not one saved in the report: ``--from-json``
    renders old reports with today's list)."""
    checked = [e for e in report["scenarios"] if e["unicancel_agree"] is not None]
    disagree = [e["name"] for e in checked if e["unicancel_agree"] is False]
    return Verdict(
        checked=len(checked),
        documented={n: NATIVE_DISAGREEMENTS[n] for n in disagree if n in NATIVE_DISAGREEMENTS},
        bugs=[n for n in disagree if n not in NATIVE_DISAGREEMENTS],
        stale=[
            e["name"]
            for e in checked
            if e["unicancel_agree"] is True and e["name"] in NATIVE_DISAGREEMENTS
        ],
    )


def _result_json(result: Result) -> dict[str, Any]:
    return {
        "status": result.status,
        "headline": result.headline,
        "trace": [list(entry) for entry in result.trace],
        "elapsed": round(result.elapsed, 4),
        "detail": result.detail,
    }


def _system_json(system: System) -> dict[str, Any]:
    missing = missing_module(system)
    return {
        "name": system.name,
        "model": system.model,
        "loop": system.loop,
        "header": list(system.header),
        "available": missing is None,
        "missing": missing,
    }


def build_report(
    scenarios: Sequence[Scenario],
    systems: Sequence[System] = SYSTEMS,
    timeout: float = DEFAULT_TIMEOUT,
) -> Report:
    """Run every scenario on every system and return the report."""
    start = time.perf_counter()
    entries = []
    for scenario in scenarios:
        results = {sy.name: _result_json(run_one(scenario, sy, timeout)) for sy in systems}
        letters = classes(results)
        headlines = {r["headline"] for r in results.values() if r["status"] != "missing"}
        entries.append(
            {
                "name": scenario.name,
                "title": scenario.title,
                "description": scenario.description,
                "covers": list(scenario.covers),
                "headline": scenario.headline,
                "python_dependent": dict(scenario.python_dependent),
                "results": results,
                "classes": letters,
                "differs": len(set(letters.values())) > 1,
                "headline_differs": len(headlines) > 1,
                "unicancel_agree": unicancel_agree(results),
            }
        )
    report: Report = {
        "schema": SCHEMA,
        "generator": "python -m unicancel compare",
        "python": python_info(),
        "versions": versions(),
        "systems": [_system_json(sy) for sy in systems],
        "scenarios": entries,
        # Every disagreement; the next key has those of NATIVE_DISAGREEMENTS.
        "unicancel_disagreements": [e["name"] for e in entries if e["unicancel_agree"] is False],
        "unicancel_documented_disagreements": {},
        "elapsed": round(time.perf_counter() - start, 3),
    }
    report["unicancel_documented_disagreements"] = verdict(report).documented
    return report
