"""Side-by-side benchmarks: unicancel against asyncio, anyio, quattro and trio.

One command, one process::

    python benchmarks/run.py [--quick] [--repeats N] [--markdown docs/benchmarks.md]

Every workload runs inside a fresh event loop (``asyncio.Runner``, the same
with uvloop's loop factory, or ``trio.run``), loops N times and reports
nanoseconds per operation: the MEDIAN over several repeats, the systems of one
workload interleaved repeat by repeat so that machine drift hits them all
alike. Each timed loop is preceded by a warm-up of N/10 iterations in the same
loop and runs with the cyclic garbage collector paused (as ``timeit`` does).
Workload 6 (a group of N children) runs "N operations" as one group of N
children and reports nanoseconds per child. The CPU workloads (5, 7, 8)
instead report process CPU seconds per wall-clock second
(``time.process_time`` / ``time.perf_counter``) and the wall time.

This file is the command line; the rest lives beside it, by concern:
bench_params.py (sizes, repeats, backends), the workloads (bench_scopes.py:
1-4, bench_cpu.py: 5, bench_taskgroups.py: 6-8, bench_stop.py: 9-10, helpers
in bench_common.py), bench_registry.py (workloads, notes, targets),
bench_cases.py (who runs what), bench_measure.py, bench_report.py and
bench_render.py (text and Markdown).

Ratios are unicancel divided by the anchor, measured in the same run: lower is
better, and below 1.00x means unicancel is faster. Targets come from the
project's performance issue; each ratio that has one is marked PASS or FAIL.
Anchor libraries that are not installed are reported as "not installed" and
skipped.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from bench_measure import measure
from bench_params import installed
from bench_registry import WORKLOADS
from bench_render import render_markdown, render_text
from bench_report import build_report

# Run from a checkout without installing: fall back to the source tree.
if importlib.util.find_spec("unicancel") is None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small N: a smoke run under 30 s")
    parser.add_argument("--repeats", type=int, default=None, help="repeats per measurement")
    parser.add_argument(
        "--markdown",
        type=Path,
        default=None,
        metavar="PATH",
        help="also write the results as a Markdown page",
    )
    parser.add_argument(
        "--only",
        default=None,
        metavar="KEYS",
        help="comma-separated workloads to run: "
        + ", ".join(w.key for w in WORKLOADS)
        + " (default: all)",
    )
    args = parser.parse_args(argv)
    only: frozenset[str] | None = None
    if args.only is not None:
        only = frozenset(key.strip() for key in args.only.split(","))
        unknown = only - {w.key for w in WORKLOADS}
        if unknown:
            parser.error(f"--only: unknown workload(s) {', '.join(sorted(unknown))}")
    quick: bool = args.quick
    repeats: int | None = args.repeats
    if repeats is not None and repeats < 1:
        parser.error("--repeats must be at least 1")

    for name in ("anyio", "trio", "quattro", "uvloop"):
        if not installed(name):
            print(f"{name}: not installed (its rows are skipped)", file=sys.stderr)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    log(f"running {'quick' if quick else 'full'} benchmarks ...")
    start = time.perf_counter()
    results = measure(quick, repeats, log, only)
    elapsed = time.perf_counter() - start
    sections, verdicts = build_report(results, quick, repeats)
    sys.stdout.write(render_text(sections, verdicts, elapsed))
    if args.markdown is not None:
        path: Path = args.markdown
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render_markdown(sections, verdicts, quick, repeats, elapsed, path, only))
        log(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
