"""Render a report (the dict from :func:`build_report`, or its JSON) as a
text table, markdown or JSON.

Cells show each scenario's headline observation. Where the systems differ,
each cell is prefixed with a letter: the same letter means the same full
trace. A ``!`` marks rows where unicancel's two columns disagree (a bug), a
``⚠`` those where they disagree for a documented reason
(``NATIVE_DISAGREEMENTS``: behaviour owned by a native primitive).
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Sequence
from typing import Any, Literal

from ._model import comparable
from ._report import NATIVE_DISAGREEMENTS, Report, classes, disagreement_note, verdict

__all__ = [
    "Format",
    "cell",
    "mark",
    "missing_lines",
    "render",
    "scenario_section",
    "sentence",
    "summary_table",
    "systems_line",
    "trace_text",
    "versions_line",
]

Format = Literal["text", "markdown", "json"]

#: Longest cell text in the text table; longer headlines are cut with "~".
CELL_WIDTH = 22


def versions_line(report: Report) -> str:
    py = report["python"]
    libs = ", ".join(
        f"{name} {version or 'not installed'}" for name, version in report["versions"].items()
    )
    return f"Python {py['version']} ({py['implementation']}); {libs}"


def systems_line(report: Report) -> list[str]:
    """One note per system that could not run."""
    return [
        f"{s['name']}: {s['missing']} is not installed, so its column is empty"
        for s in report["systems"]
        if not s["available"]
    ]


def cell(result: dict[str, Any], letter: str | None) -> str:
    """The text of one cell (without width handling)."""
    status = result["status"]
    text = {"missing": "-", "hang": "HANG"}.get(status, result["headline"])
    return f"{letter} {text}" if letter else text


def mark(entry: dict[str, Any]) -> str:
    """``⚠`` if unicancel's two columns disagree for a documented reason,
    ``!`` if they disagree otherwise (a bug), else ""."""
    if entry["unicancel_agree"] is not False:
        return ""
    return "⚠" if entry["name"] in NATIVE_DISAGREEMENTS else "!"


def _row_cells(entry: dict[str, Any], names: Sequence[str]) -> list[str]:
    letters = entry["classes"] if entry["differs"] else {}
    return [cell(entry["results"][name], letters.get(name)) for name in names]


def _same_as(report: Report, names: Sequence[str], reference: str) -> list[str]:
    """Per system: on how many scenarios its trace equals *reference*'s."""
    counts = []
    for name in names:
        same = total = 0
        for entry in report["scenarios"]:
            a, b = entry["results"].get(name), entry["results"].get(reference)
            if a is None or b is None or "missing" in (a["status"], b["status"]):
                continue
            total += 1
            same += comparable(a["trace"]) == comparable(b["trace"]) and a["status"] == b["status"]
        counts.append(f"{same}/{total}" if total else "-")
    return counts


def _verdict(report: Report) -> list[str]:
    entries = report["scenarios"]
    differ = sum(e["headline_differs"] for e in entries)
    detail = sum(e["differs"] and not e["headline_differs"] for e in entries)
    lines = [
        f"{len(entries)} scenarios: the table's cells differ between systems on {differ}; "
        f"on {detail} more the cells agree but the traces differ in detail."
    ]
    found = verdict(report)
    pair = "unicancel-asyncio and unicancel-trio"
    if not found.checked:
        lines.append("unicancel's two columns were not both run: nothing to check.")
        return lines
    agree = found.checked - len(found.documented) - len(found.bugs)
    if agree == found.checked:
        lines.append(f"{pair} agree on all {found.checked}.")
    elif not found.documented:
        lines.append(f"{pair} agree on {agree} of {found.checked}.")
    else:
        lines.append(
            f"{pair} agree on {agree} of {found.checked}; they disagree because of native "
            "primitives unicancel does not wrap (documented): " + ", ".join(found.documented) + "."
        )
    if found.bugs:
        lines.append(
            f"{pair} DISAGREE on {len(found.bugs)} of {found.checked}: "
            + ", ".join(found.bugs)
            + " (each is a unicancel bug; see --explain NAME)."
        )
    if found.stale:
        lines.append(
            "Listed as documented disagreements, but the columns agree: "
            + ", ".join(found.stale)
            + " (remove them from NATIVE_DISAGREEMENTS in unicancel/_tools/compare/_report.py)."
        )
    return lines


#: Narrowest a cell gets when the table is shrunk to fit the terminal.
MIN_CELL_WIDTH = 12
#: The label of the footer row; the first column is at least this wide.
FOOTER = "same trace as trio"


def missing_lines(report: Report) -> list[str]:
    """One line per package that is not installed: which columns it would add
    and how to install it (the text table leaves those columns out)."""
    columns: dict[str, list[str]] = {}
    for s in report["systems"]:
        if not s["available"]:
            columns.setdefault(s["missing"], []).append(s["name"])
    return [
        f"{package} not installed, so no {', '.join(names)} column"
        f"{'s' if len(names) > 1 else ''}: pip install 'unicancel[compare]'"
        for package, names in columns.items()
    ]


def _blocks(
    names: list[str], first: int, cell: int, width: int | None
) -> tuple[int, list[list[str]]]:
    """The cell width and the groups of columns printed side by side: all in
    one block if they fit *width* (shrinking cells down to MIN_CELL_WIDTH),
    else several blocks of whole cells, one under the other."""
    if width is None or not names:
        return cell, [names]
    room = width - (first + 4) + 2  # each column takes cell + 2, the last one no gap
    fitting = room // len(names) - 2
    if fitting >= min(cell, MIN_CELL_WIDTH):
        return min(cell, fitting), [names]
    per = max(1, room // (cell + 2))
    return cell, [names[i : i + per] for i in range(0, len(names), per)]


def _wrap(lines: list[str], width: int | None) -> list[str]:
    """*lines* wrapped to *width* (continuations indented like the line)."""
    if width is None:
        return lines
    out: list[str] = []
    for text in lines:
        indent = " " * (len(text) - len(text.lstrip(" ")) + 3)
        out += textwrap.wrap(text, width, subsequent_indent=indent, break_on_hyphens=False) or [""]
    return out


def _text(report: Report, width: int | None = None) -> str:
    shown = [s for s in report["systems"] if s["available"]]
    names = [s["name"] for s in shown]
    rows = [(e, _row_cells(e, names)) for e in report["scenarios"]]
    footer = _same_as(report, names, "trio")
    cell = max([12, *(len(c) for _, cells in rows for c in cells), *(len(c) for c in footer)])
    cell = min(cell, CELL_WIDTH)
    first = max([len("scenario"), len(FOOTER), *(len(e["name"]) for e, _ in rows)])
    cell, blocks = _blocks(names, first, cell, width)

    def fit(text: str) -> str:
        return text if len(text) <= cell else text[: cell - 1] + "~"

    def line(mark: str, name: str, cells: Sequence[str]) -> str:
        return f"{mark:2}{name:{first}}  " + "  ".join(f"{fit(c):{cell}}" for c in cells)

    out = [
        "unicancel compare: the same situations, written idiomatically for each system",
        *_wrap([versions_line(report)], width),
        *_wrap([f"note: {note}" for note in missing_lines(report)], width),
    ]
    for number, block in enumerate(blocks):
        index = [names.index(name) for name in block]
        headers = [shown[i]["header"] for i in index]
        out += [
            "",
            line("", "", [h[0] for h in headers]).rstrip(),
            line("", "scenario", [h[1] for h in headers]).rstrip(),
            line("", "-" * first, ["-" * cell] * len(block)),
        ]
        for entry, cells in rows:
            flag = mark(entry) + ("*" if entry["headline_differs"] else "")
            out.append(line(flag, entry["name"], [cells[i] for i in index]).rstrip())
            if flag.startswith("⚠") and number == 0:
                out += _wrap([f"    ⚠ {disagreement_note(entry)}"], width)
        out.append(line("", "-" * first, ["-" * cell] * len(block)))
        out.append(line("", FOOTER, [footer[i] for i in index]).rstrip())
    out += [
        "",
        *_wrap(
            [
                "*  the cells differ between systems",
                "!  unicancel's two columns disagree (a bug in unicancel)",
                "⚠  unicancel's two columns disagree because of a native primitive unicancel does",
                "   not wrap (documented: the line under the row says which)",
                "A  letters, where traces differ: the same letter means an identical trace",
                "   (system-specific details such as cancelling() counts left out)",
                "HANG: no result within the safety timeout; EG = ExceptionGroup",
                "",
                "What each cell shows:",
                *(f"  {e['name']}: {e['headline']}" for e in report["scenarios"]),
                "",
                *_verdict(report),
                f"Ran {len(rows) * len(names)} runs in {report['elapsed']:.1f}s; "
                "`--explain NAME` shows each system's code next to its trace.",
            ],
            width,
        ),
    ]
    return "\n".join(out) + "\n"


def sentence(text: str) -> str:
    """*text* ending with a full stop, unless it already ends with punctuation."""
    return text if text[-1:] in ".?!" else text + "."


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def _markdown(report: Report) -> str:
    names = [s["name"] for s in report["systems"]]
    out = [
        "# unicancel compare",
        "",
        versions_line(report) + ".",
        "",
        *(f"- note: {note}" for note in systems_line(report)),
        "",
        summary_table(report, names),
        "",
        *_verdict(report),
        "",
    ]
    for entry in report["scenarios"]:
        out += scenario_section(entry, names)
    return "\n".join(out).rstrip() + "\n"


def summary_table(
    report: Report, names: Sequence[str], hidden: dict[str, set[str]] | None = None
) -> str:
    """The scenario x system table in markdown. *hidden* maps a scenario to
    systems whose cell is replaced by a pointer (Python-dependent cells)."""
    hidden = hidden or {}
    head = "| scenario (cell shows) | " + " | ".join(
        " ".join(s["header"]).strip() for s in report["systems"] if s["name"] in names
    )
    rows = [head + " |", "|---" * (len(names) + 1) + "|"]
    for entry in report["scenarios"]:
        skip = hidden.get(entry["name"], set())
        letters = classes(entry["results"], exclude=sorted(skip))
        differs = len(set(letters.values())) > 1
        shown = {r["headline"] for n, r in entry["results"].items() if n not in skip}
        cells = []
        for name in names:
            if name in skip:
                cells.append("varies by Python ‡")
            else:
                cells.append(
                    _md_escape(cell(entry["results"][name], letters.get(name) if differs else None))
                )
        flag = " ≠" if len(shown) > 1 else ""
        unicancel = {"unicancel-asyncio", "unicancel-trio"}
        if mark(entry) and not unicancel & skip:
            flag += f" {mark(entry)}"
        rows.append(
            f"| [`{entry['name']}`](#{entry['name']}){flag}<br>{_md_escape(entry['headline'])} | "
            + " | ".join(cells)
            + " |"
        )
    return "\n".join(rows)


def trace_text(result: dict[str, Any]) -> str:
    """A trace on one line: ``what: value; (what: value)``, info in parentheses."""
    parts = []
    for what, value, *info in result["trace"]:
        text = f"{what}: {value}" if value else what
        parts.append(f"({text})" if info else text)
    if result["status"] != "ok":
        parts.append(f"[{result['status']}: {result['detail']}]")
    return "; ".join(parts) or "(no trace)"


def scenario_section(
    entry: dict[str, Any], names: Sequence[str], skip: Sequence[str] = ()
) -> list[str]:
    """Markdown for one scenario: description and traces grouped by class."""
    out = [
        f'<a id="{entry["name"]}"></a>',
        f"### {entry['name']}",
        "",
        f"**{sentence(entry['title'])}** {entry['description']} "
        f"*(covers: {', '.join(entry['covers'])})*",
        "",
    ]
    letters = classes({n: entry["results"][n] for n in names}, exclude=skip)
    groups: dict[str, list[str]] = {}
    for name, letter in letters.items():
        groups.setdefault(letter, []).append(name)
    for letter, members in groups.items():
        result = entry["results"][members[0]]
        tag = f"**{letter}** " if len(groups) > 1 else ""
        out.append(f"- {tag}{', '.join(members)}: {_md_escape(trace_text(result))}")
    missing = [n for n in names if entry["results"][n]["status"] == "missing"]
    if missing:
        out.append(f"- not installed: {', '.join(missing)}")
    if skip:
        out.append(
            f"- {', '.join(skip)}: depends on the Python version, see [below](#python-dependent)."
        )
    note = disagreement_note(entry)
    if note and not {"unicancel-asyncio", "unicancel-trio"} & set(skip):
        out.append(f"- {mark(entry)} {sentence(note)}")
    out.append("")
    return out


def render(report: Report, fmt: Format = "text", width: int | None = None) -> str:
    """The report as text, markdown or JSON; the text table fits in *width*
    columns (None: every column side by side, cells up to CELL_WIDTH)."""
    if fmt == "json":
        return json.dumps(report, indent=2) + "\n"
    if fmt == "markdown":
        return _markdown(report)
    return _text(report, width)
