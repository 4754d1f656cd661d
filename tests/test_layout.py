"""The package layout (issue 12): no import circles, type-only imports
included, and the runtime never loads the command-line tools. The layering
itself is checked by ``lint-imports`` (contracts in pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest


def _graph() -> Any:
    """unicancel's import graph: every import, lazy ones and ``if TYPE_CHECKING:`` ones too."""
    grimp = pytest.importorskip("grimp")  # installed with import-linter (the test extra)
    return grimp.build_graph("unicancel", exclude_type_checking_imports=False, cache_dir=None)


def _circles(graph: Any) -> list[list[str]]:
    """Strongly connected components of more than one module in *graph*."""
    edges = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    # Tarjan's algorithm, iterative (no recursion limit to worry about).
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(edges[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(edges[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_circles() -> None:
    assert _circles(_graph()) == []


def test_circle_search_finds_a_planted_circle() -> None:
    """The check above can fail: one upward import (the registry back to the
    facade that uses it) closes a circle through the lazy backend imports."""
    graph = _graph()
    graph.add_import(
        importer="unicancel._backends.asyncio._reach", imported="unicancel._facade._scope"
    )
    (circle,) = _circles(graph)
    assert {
        "unicancel._backends",
        "unicancel._facade._scope",
        "unicancel._backends.asyncio._reach",
    } <= set(circle)


def test_import_unicancel_loads_no_tools_and_no_other_backend() -> None:
    program = (
        "import sys, unicancel\n"
        "print(sorted(m for m in sys.modules if m.startswith('unicancel._tools')"
        " or m.startswith('unicancel._backends.') or m == 'trio'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True
    )
    loaded = result.stdout
    # TaskHandle (public) lives with the trio backend but imports trio lazily.
    assert "_tools" not in loaded and "asyncio" not in loaded and "'trio'" not in loaded
