"""The ``compare`` subcommand of ``python -m unicancel``."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

from .._args import positive_seconds
from . import SCENARIOS, build_report, render, select_scenarios, select_systems
from ._docs import docs_differences, render_docs
from ._explain import render_explain
from ._model import SYSTEMS
from ._report import SCHEMA, Report, verdict
from ._runner import DEFAULT_TIMEOUT

__all__ = ["DOCS_PATH", "add_parser", "run"]

DOCS_PATH = "docs/backend-semantics.md"


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``compare`` and its options to the subcommands of the main parser."""
    systems = ", ".join([*(s.name for s in SYSTEMS), "anyio", "unicancel", "all"])
    parser = commands.add_parser(
        "compare",
        help="run the scenario catalogue on every backend and compare the traces",
        description="Run each scenario, written idiomatically for plain asyncio, trio, anyio "
        "and unicancel, on every installed system; print a scenario x system table. Exit "
        "status 1 if unicancel's two columns disagree (a unicancel bug), except on the "
        "scenarios where the behaviour belongs to a native primitive unicancel does not "
        "wrap (documented, marked with a warning sign in the table).",
    )
    parser.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    parser.add_argument(
        "--scenario",
        action="append",
        default=[],
        metavar="NAME",
        help="only this scenario (repeat, or separate names with commas)",
    )
    parser.add_argument(
        "--systems",
        nargs="+",
        default=[],
        metavar="SYSTEM",
        help=f"only these columns (space or comma separated): {systems}",
    )
    parser.add_argument(
        "--explain", metavar="NAME", help="show each system's code next to its trace"
    )
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    parser.add_argument(
        "--wide",
        action="store_true",
        help="print every column side by side, however wide (default: fit the terminal)",
    )
    parser.add_argument(
        "--timeout",
        type=positive_seconds,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help="safety timeout per run; a run that exceeds it is a HANG "
        f"(default {DEFAULT_TIMEOUT:g})",
    )
    parser.add_argument(
        "--from-json",
        metavar="FILE",
        type=Path,
        help="render a report saved with --format json instead of running the scenarios",
    )
    docs = parser.add_mutually_exclusive_group()
    docs.add_argument(
        "--write-docs",
        nargs="?",
        const=DOCS_PATH,
        metavar="PATH",
        help=f"write the generated backend-semantics page (default {DOCS_PATH})",
    )
    docs.add_argument(
        "--check-docs",
        nargs="?",
        const=DOCS_PATH,
        metavar="PATH",
        help="exit 1 if the backend-semantics page is stale",
    )


#: Keys every saved report has (``--format json``, SCHEMA 1).
_REPORT_KEYS = ("python", "versions", "systems", "scenarios", "elapsed")


def _load(path: Path) -> Report:
    """The report saved in *path*; ValueError with a user-facing message if it
    cannot be read or is not one."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"--from-json: cannot read {path}: {exc.strerror or exc}") from None
    try:
        report = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"--from-json: {path} is not JSON ({exc})") from None
    hint = "save one with `python -m unicancel compare --format json > FILE`"
    if not isinstance(report, dict) or report.get("schema") != SCHEMA:
        raise ValueError(f"--from-json: {path} is not a compare report of schema {SCHEMA}: {hint}")
    missing = [key for key in _REPORT_KEYS if key not in report]
    if missing:
        raise ValueError(f"--from-json: {path} lacks {', '.join(missing)}: {hint}")
    return report


def _width(args: argparse.Namespace) -> int | None:
    """Columns the text table may use: the terminal's (or $COLUMNS); None
    (no limit) with --wide or when the output goes to a pipe or a file."""
    if args.wide:
        return None
    if "COLUMNS" not in os.environ and not sys.stdout.isatty():
        return None
    return max(40, shutil.get_terminal_size().columns)


def _split(values: list[str]) -> list[str]:
    return [part for value in values for part in value.split(",") if part]


def _fail(message: str) -> int:
    # argparse's style: the usage line, then "prog: error: message", exit status 2.
    print("usage: python -m unicancel compare [-h] [options]", file=sys.stderr)
    print(f"python -m unicancel compare: error: {message}", file=sys.stderr)
    return 2


def _docs(args: argparse.Namespace, report: Report) -> int:
    missing = [s["name"] for s in report["systems"] if not s["available"]]
    complete = len(report["scenarios"]) == len(SCENARIOS) and len(report["systems"]) == len(SYSTEMS)
    if missing or not complete:
        why = f"not installed: {', '.join(missing)}" if missing else "--scenario/--systems given"
        return _fail(f"the docs page needs every scenario on every system ({why})")
    page = render_docs(report)
    if args.write_docs:
        Path(args.write_docs).write_text(page, encoding="utf-8")
        print(f"wrote {args.write_docs} (Python {report['python']['version']})")
        return 0
    try:
        on_disk = Path(args.check_docs).read_text(encoding="utf-8")
    except OSError as exc:
        return _fail(f"cannot read {args.check_docs}: {exc}")
    diff = docs_differences(on_disk, page, report["python"]["minor"])
    if diff:
        print("\n".join(diff))
        print(
            f"\n{args.check_docs} is stale: regenerate it with "
            f"`python -m unicancel compare --write-docs {args.check_docs}`"
        )
        return 1
    print(f"{args.check_docs} is up to date")
    return 0


def run(args: argparse.Namespace) -> int:
    """Run ``compare`` with parsed *args*; return the exit status."""
    if args.list:
        width = max(len(s.name) for s in SCENARIOS)
        for s in SCENARIOS:
            print(f"{s.name:{width}}  {s.title}")
        return 0
    try:
        names = _split(args.scenario) + ([args.explain] if args.explain else [])
        scenarios = select_scenarios(names)
        systems = select_systems(_split(args.systems))
    except ValueError as exc:
        return _fail(str(exc))
    if args.from_json:
        try:
            report = _load(args.from_json)
        except ValueError as exc:
            return _fail(str(exc))
    else:
        report = build_report(scenarios, systems, args.timeout)
    if args.write_docs or args.check_docs:
        return _docs(args, report)
    if args.explain:
        sys.stdout.write(render_explain(select_scenarios([args.explain])[0], report, args.format))
        return 0
    sys.stdout.write(render(report, args.format, _width(args)))
    return verdict(report).exit_status
