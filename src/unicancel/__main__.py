"""Command line: ``python -m unicancel demo``, ``compare`` and ``diagnose``.

The demo runs the same cancellation code (:mod:`unicancel._tools.demo`) on asyncio,
on asyncio with uvloop and on trio (each when installed), prints what each run
observed side by side, and exits with status 1 if the runs disagree.

``compare`` (:mod:`unicancel._tools.compare`) runs a catalogue of scenarios, each
written idiomatically for plain asyncio, trio, anyio and unicancel, on every
installed system, and prints a scenario x system table.

``diagnose`` (:mod:`unicancel._tools.diagnose`) runs a user's program (a script,
or ``-m module``) with cancellation diagnostics on and reports at exit which code
swallowed, stalled or outlived a cancellation.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import sys
from collections.abc import Callable, Sequence
from importlib import metadata

from . import __version__, run
from ._tools import demo as _demo

__all__ = ["main"]

Runner = Callable[[], list[_demo.Step]]


def _run_uvloop() -> list[_demo.Step]:
    """Run the demo on asyncio with uvloop's event loop."""
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(_demo.collect())


def _runners() -> tuple[dict[str, Runner], list[str]]:
    """The backends to run (name -> runner) and notes about the missing ones."""
    runners: dict[str, Runner] = {"asyncio": lambda: run(_demo.collect, backend="asyncio")}
    missing: list[str] = []
    if importlib.util.find_spec("uvloop") is not None:
        runners["uvloop"] = _run_uvloop
    else:
        missing.append("uvloop is not installed: skipping asyncio+uvloop (pip install uvloop)")
    if importlib.util.find_spec("trio") is not None:
        runners["trio"] = lambda: run(_demo.collect, backend="trio")
    else:
        missing.append("trio is not installed: skipping trio (pip install 'unicancel[trio]')")
    return runners, missing


def _versions(names: list[str]) -> str:
    """Versions of unicancel and of the packages behind *names* (uvloop, trio)."""
    dists = ["unicancel", *(name for name in names if name != "asyncio")]
    found = []
    for dist in dists:
        try:
            found.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            found.append(f"{dist} (version unknown)")
    return ", ".join(found)


def demo() -> int:
    """Run the demo on every available backend, print the traces side by side,
    and return 0 if they are identical, 1 if not."""
    runners, missing = _runners()
    for line in missing:
        print(f"note: {line}")
    traces = {name: runner() for name, runner in runners.items()}
    names = list(traces)
    first = traces[names[0]]
    length = max(len(trace) for trace in traces.values())
    what_width = max(len(what) for trace in traces.values() for _, what, _ in trace)
    col = max([18, *(len(v) for trace in traces.values() for _, _, v in trace)]) + 2

    print(f"Python {sys.version.split()[0]}; {_versions(names)}")
    # The module and its file where it really is (an installed package has no src/).
    print(f"Each column ran the same code: {_demo.__name__} ({_demo.__file__}).")
    print(f"\n{'':{what_width + 4}}" + "".join(f"{name:{col}}" for name in names).rstrip())
    title = None
    differences = 0
    for i in range(length):
        rows = [trace[i] if i < len(trace) else ("", "", "(missing)") for trace in traces.values()]
        ref = next(row for row in rows if row[0])  # the label of a trace that has step i
        if ref[0] != title:
            title = ref[0]
            print(f"\n{title}")
        same = all(row == ref for row in rows)
        differences += not same
        values = "".join(f"{value:{col}}" for _, _, value in rows)
        print(f"  {ref[1]:{what_width}}  {values}{'' if same else '<-- differs'}".rstrip())

    print()
    if len(traces) == 1:
        print(f"Only {names[0]} ran ({len(first)} steps): nothing to compare it with.")
        return 0
    verdict = ", ".join(names[:-1]) + f" and {names[-1]}"
    if differences:
        print(f"Traces DIFFER on {verdict}: {differences} of {length} steps differ.")
        return 1
    print(f"Traces identical on {verdict} ({length} steps each).")
    return 0


def _parser() -> argparse.ArgumentParser:
    """The argument parser for ``python -m unicancel``."""
    parser = argparse.ArgumentParser(
        prog="python -m unicancel",
        description="unicancel: one cancellation API over asyncio and trio.",
    )
    parser.add_argument("--version", action="version", version=f"unicancel {__version__}")
    # required: without a command, print the usage and exit 2 (argparse's error).
    commands = parser.add_subparsers(dest="command", metavar="command", required=True)
    commands.add_parser(
        "demo",
        help="run the same scope code on every backend and compare the traces",
        description="Run the same cancel-scope code on asyncio (and uvloop) and trio, "
        "print what each observed side by side, and exit 1 if they differ.",
    )
    from ._tools import diagnose as _diagnose
    from ._tools.compare import _cli

    _cli.add_parser(commands)
    _diagnose.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m unicancel``; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        return demo()
    if args.command == "compare":
        from ._tools.compare import _cli

        return _cli.run(args)
    if args.command == "diagnose":
        from ._tools import diagnose as _diagnose

        return _diagnose.run(args)
    parser.error(f"unknown command {args.command!r}")  # unreachable: argparse checks


if __name__ == "__main__":
    sys.exit(main())
