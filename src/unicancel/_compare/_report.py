"""Build the comparison report: a JSON-able dict that every renderer (and the
generated docs page) reads. Nothing in it depends on timing except the
``elapsed`` fields, which no renderer compares."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from ._model import SYSTEMS, Result, Scenario, System, comparable
from ._runner import DEFAULT_TIMEOUT, missing_module, python_info, run_one, versions

__all__ = ["SCHEMA", "Report", "build_report", "classes", "unicancel_agree"]

#: Bumped when the JSON layout changes incompatibly.
SCHEMA = 1
Report = dict[str, Any]

_UNICANCEL = ("unicancel-asyncio", "unicancel-trio")


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
    return {
        "schema": SCHEMA,
        "generator": "python -m unicancel compare",
        "python": python_info(),
        "versions": versions(),
        "systems": [_system_json(sy) for sy in systems],
        "scenarios": entries,
        "unicancel_disagreements": [e["name"] for e in entries if e["unicancel_agree"] is False],
        "elapsed": round(time.perf_counter() - start, 3),
    }
