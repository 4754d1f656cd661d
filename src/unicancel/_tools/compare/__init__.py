"""``python -m unicancel compare``: how cancellation behaves on every backend.

A catalogue of scenarios, each written idiomatically for plain asyncio, plain
trio, anyio and unicancel, run on every system (anyio and unicancel on both
of their backends, plain asyncio also on uvloop) in a fresh event loop. Each
run records a backend-neutral trace; the report compares them.

Internal API (used by ``__main__`` and the tests):

* :data:`SCENARIOS`, :data:`SYSTEMS`, :func:`select_scenarios`,
  :func:`select_systems`;
* :func:`build_report` -> a JSON-able report;
* :func:`render` (text, markdown, json), :func:`render_explain`;
* :func:`render_docs`, :func:`docs_differences` for docs/backend-semantics.md.
"""

from __future__ import annotations

from collections.abc import Iterable

from . import (
    _sc_asyncgen,
    _sc_basics,
    _sc_checkpoints,
    _sc_cleanup,
    _sc_counting,
    _sc_deadlines,
    _sc_diagnostics,
    _sc_group_errors,
    _sc_group_exits,
    _sc_groups,
    _sc_lifecycle,
    _sc_misnesting,
    _sc_nested,
    _sc_stop,
    _sc_tasks,
    _sc_threads,
    _sc_timeouts,
    _sc_traps,
)
from ._docs import docs_differences, render_docs
from ._explain import render_explain
from ._model import SYSTEMS, Scenario, System
from ._render import render
from ._report import Report, build_report

__all__ = [
    "SCENARIOS",
    "SYSTEMS",
    "Report",
    "Scenario",
    "System",
    "build_report",
    "docs_differences",
    "render",
    "render_docs",
    "render_explain",
    "select_scenarios",
    "select_systems",
]

#: Every scenario, in reading order (basics first, traps last).
SCENARIOS: tuple[Scenario, ...] = (
    *_sc_basics.SCENARIOS,
    *_sc_tasks.SCENARIOS,
    *_sc_checkpoints.SCENARIOS,
    *_sc_cleanup.SCENARIOS,
    *_sc_asyncgen.SCENARIOS,
    *_sc_timeouts.SCENARIOS,
    *_sc_nested.SCENARIOS,
    *_sc_deadlines.SCENARIOS,
    *_sc_groups.SCENARIOS,
    *_sc_group_errors.SCENARIOS,
    *_sc_group_exits.SCENARIOS,
    *_sc_lifecycle.SCENARIOS,
    *_sc_stop.SCENARIOS,
    *_sc_threads.SCENARIOS,
    *_sc_traps.SCENARIOS,
    *_sc_counting.SCENARIOS,
    *_sc_misnesting.SCENARIOS,
    *_sc_diagnostics.SCENARIOS,
)

#: Names that stand for several systems in ``--systems``.
ALIASES: dict[str, tuple[str, ...]] = {
    "all": tuple(s.name for s in SYSTEMS),
    "anyio": ("anyio-asyncio", "anyio-trio"),
    "unicancel": ("unicancel-asyncio", "unicancel-trio"),
}


def select_scenarios(names: Iterable[str] = ()) -> tuple[Scenario, ...]:
    """The scenarios called *names* (all if empty), in catalogue order.
    Raises ValueError naming the unknown ones."""
    wanted = set(names)
    unknown = wanted - {s.name for s in SCENARIOS}
    if unknown:
        raise ValueError(
            f"unknown scenario(s): {', '.join(sorted(unknown))}; "
            "see `python -m unicancel compare --list`"
        )
    return tuple(s for s in SCENARIOS if not wanted or s.name in wanted)


def select_systems(names: Iterable[str] = ()) -> tuple[System, ...]:
    """The systems called *names* or aliases (all if empty), in column order."""
    wanted: set[str] = set()
    for name in names:
        wanted.update(ALIASES.get(name, (name,)))
    unknown = wanted - {s.name for s in SYSTEMS}
    if unknown:
        valid = ", ".join([*(s.name for s in SYSTEMS), *ALIASES])
        raise ValueError(f"unknown system(s): {', '.join(sorted(unknown))}; choose from {valid}")
    return tuple(s for s in SYSTEMS if not wanted or s.name in wanted)
