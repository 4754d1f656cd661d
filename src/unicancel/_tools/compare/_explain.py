"""``--explain NAME``: each system's code side by side with what it observed."""

from __future__ import annotations

import inspect
import json
import textwrap
import types
from collections.abc import Callable, Iterator, Sequence
from itertools import zip_longest
from typing import Any

from ._model import Scenario
from ._render import Format, mark, sentence, trace_text, versions_line
from ._report import disagreement_note

__all__ = ["render_explain", "variant_source"]

#: Which columns run which variant.
GROUPS = (
    ("asyncio", ("asyncio", "uvloop")),
    ("trio", ("trio",)),
    ("anyio", ("anyio-asyncio", "anyio-trio")),
    ("unicancel", ("unicancel-asyncio", "unicancel-trio")),
)
CODE_WIDTH = 100
KIT_NOTE = "the backend's own sleep, loop hand-off and native group (see _kit.py)"


def _names(code: types.CodeType) -> Iterator[str]:
    yield from code.co_names
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _names(const)


def variant_source(fn: Callable[..., Any]) -> str:
    """The source of *fn*, followed by the module-level helpers it calls
    (e.g. the shared body of the nested-timeout scenarios)."""
    sources: list[str] = []
    seen: set[str] = set()
    todo: list[Callable[..., Any]] = [fn]
    while todo:
        current = todo.pop(0)
        sources.append(textwrap.dedent(inspect.getsource(current)).rstrip())
        for name in _names(current.__code__):
            helper = current.__globals__.get(name)
            if (
                inspect.isfunction(helper)
                and helper.__module__ == fn.__module__
                and name not in seen
                and helper is not fn
            ):
                seen.add(name)
                todo.append(helper)
    return "\n\n\n".join(sources)


def _trace_lines(entry: dict[str, Any], members: Sequence[str]) -> list[str]:
    results = [entry["results"][m] for m in members]
    lines: list[str] = []
    same = len({repr((r["status"], r["trace"])) for r in results}) == 1
    groups = (
        [(members, results[0])]
        if same
        else [([m], r) for m, r in zip(members, results, strict=True)]
    )
    for names, result in groups:
        letter = entry["classes"].get(names[0], "")
        lines.append(f"[{', '.join(names)}]" + (f" trace {letter}" if entry["differs"] else ""))
        if result["status"] == "missing":
            lines.append("  not installed")
            continue
        for what, value, *info in result["trace"]:
            lines.append(f"  {what}: {value}" + ("  (info)" if info else ""))
        if result["status"] != "ok":
            lines.append(f"  [{result['status']}: {result['detail']}]")
        lines.append("")
    return lines


def _text(scenario: Scenario, entry: dict[str, Any], groups: list[tuple[str, list[str]]]) -> str:
    out = [
        f"{scenario.name}: {scenario.title}",
        "",
        *textwrap.wrap(scenario.description, 100),
        f"Covers: {', '.join(scenario.covers)}. Table cell: {scenario.headline!r}.",
    ]
    for model, members in groups:
        code = variant_source(getattr(scenario, model)).splitlines()
        width = min(CODE_WIDTH, max(len(line) for line in code))
        title = f"== {model} ({', '.join(members)}) "
        out += ["", title + "=" * max(0, width + 40 - len(title))]
        if model == "unicancel":
            out.append(f"# k: {KIT_NOTE}")
        for left, right in zip_longest(code, _trace_lines(entry, members), fillvalue=""):
            out.append(f"{left[:width]:{width}} | {right}".rstrip())
    note = disagreement_note(entry)
    if note:
        out += ["", f"{mark(entry)} {sentence(note)}"]
    return "\n".join(out) + "\n"


def _markdown(
    scenario: Scenario, entry: dict[str, Any], groups: list[tuple[str, list[str]]]
) -> str:
    out = [
        f"## {scenario.name}",
        "",
        f"**{sentence(scenario.title)}** {scenario.description} "
        f"*(covers: {', '.join(scenario.covers)})*",
    ]
    for model, members in groups:
        out += ["", f"### {model} ({', '.join(members)})", ""]
        if model == "unicancel":
            out += [f"`k`: {KIT_NOTE}.", ""]
        out.append("```python")
        out += [variant_source(getattr(scenario, model)), "```", ""]
        for name in members:
            out.append(f"- {name}: {trace_text(entry['results'][name])}")
    return "\n".join(out) + "\n"


def render_explain(scenario: Scenario, report: dict[str, Any], fmt: Format = "text") -> str:
    """Explain *scenario* using its entry in *report* (built with it)."""
    entry = next(e for e in report["scenarios"] if e["name"] == scenario.name)
    ran = [s["name"] for s in report["systems"]]
    groups = [(model, [m for m in members if m in ran]) for model, members in GROUPS]
    groups = [(model, members) for model, members in groups if members]
    if fmt == "json":
        sources = {model: variant_source(getattr(scenario, model)) for model, _ in groups}
        doc = {"python": report["python"], "versions": report["versions"], "scenario": entry}
        return json.dumps({**doc, "sources": sources}, indent=2) + "\n"
    header = versions_line(report)
    if fmt == "markdown":
        return _markdown(scenario, entry, groups) + f"\n{header}.\n"
    return _text(scenario, entry, groups) + f"\n{header}\n"
