"""Scale benchmarks: how the cost grows with the work (issue 16).

Measure on this Python, all backends, and save the results::

    python benchmarks/scale.py [--quick] [--repeats N] \\
        [--json benchmarks/scale-results/scale-py3.13.json]

Build the docs page and its chart from saved results (one file per Python)::

    python benchmarks/scale.py --render docs/benchmarks-scale.md \\
        benchmarks/scale-results/scale-*.json

Workloads (sizes: full / ``--quick``): park (100,000 / 2,000 parked tasks in
armed scopes: time and tracemalloc'd memory per task), slide (100,000 / 2,000
scopes, each deadline moved 10 times: cost per move and the deadline heap's
size afterwards), churn (1,000,000 / 20,000 armed scopes entered and exited in
a long loop: RSS), group (cancel a group of 100,000 / 2,000 children) and
token (10,000 / 1,000 scopes bound to one stop token, stopped at once). See
bench_scale.py. The systems of a workload are interleaved repeat by repeat,
each measurement in a fresh event loop; the asyncio and uvloop rows run before
anything imports trio, as in run.py. The values are medians of the repeats.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.util
import json
import statistics
import sys
import time
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

# Run from a checkout without installing: fall back to the source tree.
if importlib.util.find_spec("unicancel") is None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from bench_common import OpBench
from bench_measure import run_op
from bench_params import BACKENDS, installed
from bench_report import environment
from bench_scale import churn, park_memory, park_time, slide
from bench_scale_page import render_page
from bench_scale_report import render_text, write_chart
from bench_stop import (
    a_stop_event,
    a_stop_scopes,
    a_stop_task_cancel,
    a_stop_unicancel,
    t_stop_event,
    t_stop_scopes,
    t_stop_uc_scopes,
    t_stop_unicancel,
)
from bench_taskgroups import (
    a_group_anyio,
    a_group_asyncio,
    a_group_unicancel,
    t_group_anyio,
    t_group_trio,
    t_group_unicancel,
)

#: Sizes: full, quick.
SIZES: dict[str, tuple[int, int]] = {
    "park": (100_000, 2_000),
    "slide": (100_000, 2_000),
    "moves": (10, 10),
    "churn": (1_000_000, 20_000),
    "group": (100_000, 2_000),
    "token": (10_000, 1_000),
}
REPEATS = (3, 1)
WORKLOAD_ORDER = ("park", "slide", "churn", "group", "token")

#: The systems measured beside unicancel, per backend ("none": a task without a scope).
SCOPES = {
    "asyncio": ("asyncio", "anyio"),
    "uvloop": ("asyncio", "anyio"),
    "trio": ("trio", "anyio"),
}
GROUPS: dict[str, dict[str, OpBench]] = {
    "asyncio": {"unicancel": a_group_unicancel, "asyncio": a_group_asyncio, "anyio": a_group_anyio},
    "trio": {"unicancel": t_group_unicancel, "trio": t_group_trio, "anyio": t_group_anyio},
}
TOKENS: dict[str, dict[str, OpBench]] = {
    "asyncio": {
        "unicancel": a_stop_unicancel,
        "unicancel scopes": a_stop_scopes,
        "asyncio": a_stop_task_cancel,
        "asyncio.Event": a_stop_event,
    },
    "trio": {
        "unicancel": t_stop_unicancel,
        "unicancel scopes": t_stop_uc_scopes,
        "trio": t_stop_scopes,
        "trio.Event": t_stop_event,
    },
}

Row = dict[str, Any]


def _run(
    backend: str, fn: Callable[..., Coroutine[Any, Any, Any]], *args: Any, quiet_gc: bool
) -> Any:
    """``fn(backend, *args)`` in a fresh event loop of *backend*; with
    *quiet_gc* the cyclic collector is paused (as timeit does)."""
    gc.collect()
    if quiet_gc:
        gc.disable()
    try:
        if backend == "trio":
            import trio

            return trio.run(fn, backend, *args)
        factory = None
        if backend == "uvloop":
            import uvloop

            factory = uvloop.new_event_loop
        with asyncio.Runner(loop_factory=factory) as runner:
            return runner.run(fn(backend, *args))
    finally:
        gc.enable()


def _systems(backend: str, workload: str) -> list[str]:
    if workload == "group":
        return list(GROUPS["trio" if backend == "trio" else "asyncio"])
    if workload == "token":
        return list(TOKENS["trio" if backend == "trio" else "asyncio"])
    base = ["unicancel", *SCOPES[backend]]
    return ["none", *base] if workload == "park" else base


def _available(backend: str, system: str) -> bool:
    runtime = {"uvloop": "uvloop", "trio": "trio"}.get(backend)
    return (runtime is None or installed(runtime)) and (system != "anyio" or installed("anyio"))


def measure(quick: bool, repeats: int, log: Callable[[str], None], only: set[str]) -> list[Row]:
    mode = 1 if quick else 0
    size = {key: value[mode] for key, value in SIZES.items()}
    rows: list[Row] = []
    for backend in BACKENDS:  # asyncio, uvloop, then trio
        for workload in WORKLOAD_ORDER:
            if workload not in only:
                continue
            systems = [s for s in _systems(backend, workload) if _available(backend, s)]
            if not systems:
                continue
            log(f"  [{backend}] {workload} ({', '.join(systems)}) ...")
            found: dict[str, Row] = {
                s: {"workload": workload, "backend": backend, "system": s, "samples": []}
                for s in systems
            }
            try:
                _measure_workload(backend, workload, systems, found, size, repeats)
            except Exception as exc:  # a broken system must not stop the others
                for row in found.values():
                    row.setdefault("error", f"{type(exc).__name__}: {exc}")
            for row in found.values():
                if row["samples"]:
                    row["value"] = statistics.median(row["samples"])
                rows.append(row)
    return rows


def _measure_workload(
    backend: str,
    workload: str,
    systems: list[str],
    found: dict[str, Row],
    size: dict[str, int],
    repeats: int,
) -> None:
    n = size[workload]
    for row in found.values():
        row["n"] = n
    if workload == "park":
        for _ in range(repeats):
            for system in systems:
                found[system]["samples"].append(_run(backend, park_time, system, n, quiet_gc=True))
        for system in systems:  # memory: once, tracemalloc slows everything down
            found[system]["bytes"] = _run(backend, park_memory, system, n, quiet_gc=False)
    elif workload == "slide":
        moves = size["moves"]
        for row in found.values():
            row["moves"] = moves
        for _ in range(repeats):
            for system in systems:
                per_move, heap = _run(backend, slide, system, n, moves, quiet_gc=True)
                found[system]["samples"].append(per_move)
                found[system]["heap"] = heap
    elif workload == "churn":
        for system in systems:  # once: a million scopes is its own repeat
            per_scope, marks = _run(backend, churn, system, n, quiet_gc=False)
            found[system]["samples"].append(per_scope)
            found[system]["rss"] = marks
    else:
        table = (GROUPS if workload == "group" else TOKENS)[
            "trio" if backend == "trio" else "asyncio"
        ]
        for _ in range(repeats):
            for system in systems:
                found[system]["samples"].append(run_op(backend, table[system], n) / n)


def _row_order(row: Row) -> tuple[int, int]:
    """Rows as measure() lists them: by backend, then by workload."""
    return BACKENDS.index(row["backend"]), WORKLOAD_ORDER.index(row["workload"])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--repeats", type=int, default=None, help="repeats of the timed runs")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="save the results")
    parser.add_argument(
        "--only", default=None, metavar="KEYS", help="park,slide,churn,group,token (default: all)"
    )
    parser.add_argument(
        "--render",
        type=Path,
        default=None,
        metavar="PAGE",
        help="instead of measuring, write PAGE (and its chart) from the RESULTS files",
    )
    parser.add_argument(
        "--update",
        type=Path,
        default=None,
        metavar="PATH",
        help="measure the --only workloads again and replace their rows in saved results",
    )
    parser.add_argument("results", nargs="*", type=Path, help="saved results (with --render)")
    args = parser.parse_args(argv)
    if args.render is not None:
        runs = [json.loads(path.read_text(encoding="utf-8")) for path in args.results]
        if not runs:
            parser.error("--render needs the saved results files")
        page: Path = args.render
        chart = write_chart(runs, page)
        page.write_text(render_page(runs, page, chart), encoding="utf-8")
        print(f"wrote {page} and {chart}", file=sys.stderr)
        return 0
    everything = set(WORKLOAD_ORDER)
    only = everything if args.only is None else {key.strip() for key in args.only.split(",")}
    if only - everything:
        parser.error(f"--only: unknown workload(s) {', '.join(sorted(only - everything))}")
    repeats = args.repeats or REPEATS[1 if args.quick else 0]

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    log(f"running {'quick' if args.quick else 'full'} scale benchmarks ...")
    start = time.perf_counter()
    rows = measure(args.quick, repeats, log, only)
    run = {
        "python": sys.version.split()[0],
        "environment": environment(),
        "quick": args.quick,
        "repeats": repeats,
        "seconds": round(time.perf_counter() - start, 1),
        "rows": rows,
    }
    if args.update is not None:
        saved = json.loads(args.update.read_text(encoding="utf-8"))
        if saved["python"] != run["python"] or saved["quick"] != run["quick"]:
            parser.error(f"--update: {args.update} holds another Python or mode")
        kept = [row for row in saved["rows"] if row["workload"] not in only]
        saved["rows"] = sorted(kept + rows, key=_row_order)
        saved.setdefault("updates", []).append(
            {
                "workloads": sorted(only),
                "date": run["environment"][-1][1],
                "seconds": run["seconds"],
            }
        )
        run, args.json = saved, args.update
    sys.stdout.write(render_text(run))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(run, indent=1) + "\n", encoding="utf-8")
        log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
