"""The ``diagnose`` subcommand: ``python -m unicancel diagnose script.py [args]``
(or ``-m module [args]``) runs a user's program as ``python`` would, with
cancellation diagnostics on (:mod:`unicancel.diagnostics`), and prints what
they found when the program exits: swallowed, stuck and outlived
cancellations, grouped by kind, the code sites first. The program's own exit
status is kept.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import runpy
import sys
import traceback
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from ..diagnostics import Report

__all__ = ["add_parser", "format_summary", "run"]

DEFAULT_STUCK_AFTER = 1.0
#: The order of the report's sections: the problems first, their aftermath last.
KINDS = ("swallowed", "stuck", "landed", "outlived")
_TITLES = {
    "swallowed": "cancellations swallowed (caught and not re-raised)",
    "stuck": "cancellations stuck (requested, not delivered within the threshold)",
    "landed": "stuck cancellations that ended (landed, or their scope was left first)",
    "outlived": "tasks that outlived their shutdown",
}


def _stuck_after(text: str) -> float:
    """--stuck-after: as enable(stuck_after=...) takes it (inf: never stuck)."""
    from .._diagnostics._control import stuck_after_from_text

    try:
        return stuck_after_from_text(text, "--stuck-after")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``diagnose`` and its options to the subcommands of the main parser."""
    parser = commands.add_parser(
        "diagnose",
        help="run a program with cancellation diagnostics on and report at exit",
        # argparse prints REMAINDER arguments as "...": say what goes there.
        usage="%(prog)s [-h] [--stuck-after SECONDS] (SCRIPT | -m MODULE) [ARG ...]",
        description="Run a Python program as `python script.py [args]` or `python -m module "
        "[args]` would, with unicancel's cancellation diagnostics on, and print at exit which "
        "code swallowed, stalled or outlived a cancellation (to stderr). The exit status is "
        "the program's. Options of diagnose come before the program; everything after the "
        "script or the module name is the program's.",
    )
    parser.add_argument(
        "--stuck-after",
        type=_stuck_after,
        default=DEFAULT_STUCK_AFTER,
        metavar="SECONDS",
        help="report a cancellation not delivered after this long as stuck "
        f"(default {DEFAULT_STUCK_AFTER:g}; inf: never)",
    )
    # REMAINDER: like python's own -m, everything after the module name is the
    # program's, options included (`-m pkg --verbose`).
    parser.add_argument(
        "-m",
        dest="module",
        nargs=argparse.REMAINDER,
        metavar="MODULE",
        help="-m MODULE [ARG ...]: run a module as a script, as `python -m MODULE` does",
    )
    parser.add_argument(
        "program",
        nargs=argparse.REMAINDER,
        metavar="SCRIPT",
        help="SCRIPT [ARG ...]: the script to run, followed by its arguments",
    )
    # run() reports a bad command line through this parser: its usage, exit status 2.
    parser.set_defaults(diagnose_parser=parser)


def _target(
    args: argparse.Namespace, parser: argparse.ArgumentParser
) -> tuple[str, bool, list[str]]:
    """(script path or module name, is a module, the program's arguments);
    argparse's error (exit 2) when the command line names no program."""
    if args.module is not None:
        if not args.module or args.module[0].startswith("-"):
            parser.error("argument -m: expected a module name (-m MODULE [ARG ...])")
        name, *rest = args.module
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        if spec is None:
            parser.error(f"no module named {name!r} (-m takes a module name, not a file path)")
        return name, True, rest
    program: list[str] = list(args.program)
    if program[:1] == ["--"]:
        program = program[1:]
    if not program:
        parser.error("name the program to run: diagnose SCRIPT [ARG ...] or -m MODULE [ARG ...]")
    script, *rest = program
    if not Path(script).is_file():
        parser.error(f"cannot open {script!r}: no such file (give the path of a Python script)")
    return script, False, rest


def _exit_status(exc: SystemExit) -> int:
    """The status Python exits with for *exc* (a non-int code is printed, status 1)."""
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return 1


def _program_frames(tb: TracebackType | None) -> TracebackType | None:
    """*tb* without the frames of this tool and of runpy, as Python would show it."""
    # By module name: runpy is frozen on recent Pythons ("<frozen runpy>").
    tools = (__name__, runpy.__name__)
    while tb is not None and tb.tb_frame.f_globals.get("__name__") in tools:
        tb = tb.tb_next
    return tb


def _run_program(target: str, is_module: bool, argv: list[str]) -> int:
    """Run the program as ``python`` would; return its exit status."""
    saved_argv, saved_path = sys.argv, sys.path[:]
    # Python puts the script's directory (for -m: the current directory) first on the path.
    first = os.getcwd() if is_module else os.path.dirname(os.path.realpath(target))
    sys.argv = [target, *argv]
    sys.path[0:1] = [first]
    try:
        if is_module:
            runpy.run_module(target, run_name="__main__", alter_sys=True)
        else:
            runpy.run_path(target, run_name="__main__")
    except SystemExit as exc:
        return _exit_status(exc)
    except BaseException as exc:
        traceback.print_exception(type(exc), exc, _program_frames(exc.__traceback__))
        # A shell reports a program killed by SIGINT as 128 + 2.
        return 130 if isinstance(exc, KeyboardInterrupt) else 1
    finally:
        sys.argv = saved_argv
        sys.path[:] = saved_path
    return 0


def _site(report: Report) -> str:
    from .._diagnostics._report import sites_of

    return sites_of(report) or f"task {report.task}"


def format_summary(reports: Sequence[Report], program: str) -> str:
    """The report printed at exit: a count per kind, then per kind the sites
    (with how often each was reported), then every report in full."""
    if not reports:
        return (
            f"unicancel diagnose: {program}: no cancellation was swallowed, stuck "
            "or outlived its shutdown.\n"
        )
    counts: Counter[str] = Counter(report.kind for report in reports)
    kinds = [kind for kind in KINDS if counts[kind]] + sorted(set(counts) - set(KINDS))
    total = ", ".join(f"{counts[kind]} {kind}" for kind in kinds)
    lines = [f"unicancel diagnose: {program}: {len(reports)} report(s): {total}"]
    for kind in kinds:
        of_kind = [report for report in reports if report.kind == kind]
        lines.append("")
        lines.append(f"{_TITLES.get(kind, kind)}: {len(of_kind)}")
        sites = Counter(_site(report) for report in of_kind)
        for site, count in sites.items():
            lines.append(f"  {site}" + (f" ({count} times)" if count > 1 else ""))
    lines.append("")
    lines.append("details:")
    for kind in kinds:
        for report in reports:
            if report.kind == kind:
                lines.append("")
                lines.extend("  " + line if line else "" for line in report.format().splitlines())
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run the program of *args* with diagnostics on; print the report to
    *out* (default stderr) at exit; return the program's exit status."""
    target, is_module, argv = _target(args, args.diagnose_parser)
    from .. import diagnostics
    from .._diagnostics._dispatch import settings

    was_enabled = diagnostics.is_enabled()
    # Reports are printed at exit, not as warnings or log lines while the program runs.
    diagnostics.enable(stuck_after=args.stuck_after, warn=False, log=False)
    try:
        # unicancel.run reports the tasks that outlived the program's main itself.
        disables = settings.disables
        with diagnostics.collect() as reports:
            status = _run_program(target, is_module, argv)
            # By the program itself (even if it turned them on again after).
            turned_off = settings.disables != disables
    finally:
        if not was_enabled:
            diagnostics.disable()
    sys.stdout.flush()  # the program's output first, then the report
    stream = out if out is not None else sys.stderr
    program = f"-m {target}" if is_module else target
    stream.write(format_summary(list(reports), program))
    if turned_off:
        stream.write(
            f"unicancel diagnose: {program} turned diagnostics off while it ran "
            "(unicancel.diagnostics.disable()): nothing after that was checked.\n"
        )
    stream.flush()
    return status
