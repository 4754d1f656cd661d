"""The hot-path figures that the machine's load barely moves (issue 16), for
docs/benchmarks-overview.md: run.py's workloads 1-3 (its own functions, from
bench_scopes.py and bench_floor.py), unicancel beside the reference.

    python benchmarks/bench_steady.py [--loop asyncio|uvloop|trio] [--bursts 150]
                                      [--n 2000] [--instr]

Two measures, each a ratio unicancel / reference:

- ``min``: the fastest of ``--bursts`` short bursts of ``--n`` operations
  (an eighth of that for the round trip), every system in turn in one
  process, so that drift on a shared machine hits all alike; the cyclic
  garbage collector is paused while a burst is timed, as in run.py. The
  fastest burst is what the code costs when nothing else runs.
- ``instr`` (``--instr``, needs valgrind): the CPU instructions per
  operation, counted by callgrind in a process of its own that runs the
  workload once with N and once with 2N operations (the difference, over
  N: no start-up, no first-use imports). Deterministic; not time (a cache
  miss costs many instructions' worth).

The results pages' medians (run.py) carry the load of the machine they ran
on; these two do not, which is why the overview gives them beside the pages.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import bench_floor
import bench_scopes

#: An op loop of bench_scopes.py: runs n ops, returns the ns they took.
Workload = Callable[[int], Awaitable[int]]

#: (row, unicancel's function, the reference's function, reference label), per loop.
ROWS: dict[str, list[tuple[str, str, str, str]]] = {
    "asyncio": [
        ("unarmed", "unarmed_unicancel", "a_unarmed_asyncio", "asyncio.timeout(None)"),
        ("unarmed floor", "a_unarmed_floor", "a_unarmed_asyncio", "asyncio.timeout(None)"),
        ("armed", "armed_unicancel", "a_armed_asyncio", "asyncio.timeout(10)"),
        ("round trip", "a_roundtrip_unicancel", "a_roundtrip_asyncio", "asyncio.timeout(0)"),
        ("round trip", "a_roundtrip_unicancel", "a_roundtrip_anyio", "anyio.move_on_after(0)"),
    ],
    "trio": [
        ("unarmed", "unarmed_unicancel", "t_unarmed_trio", "trio.CancelScope()"),
        ("unarmed floor", "t_unarmed_floor", "t_unarmed_trio", "trio.CancelScope()"),
        ("armed", "armed_unicancel", "t_armed_trio", "trio.move_on_after(10)"),
        ("round trip", "t_roundtrip_unicancel", "t_roundtrip_trio", "trio.move_on_after(0)"),
    ],
}
ROWS["uvloop"] = ROWS["asyncio"]


def function(name: str) -> Workload:
    found: Workload = getattr(bench_scopes, name, None) or getattr(bench_floor, name)
    return found


def ops(name: str, n: int) -> int:
    """The round trip runs an eighth of the operations (each is a loop turn)."""
    return max(1, n // 8) if "roundtrip" in name else n


def run(loop: str, main: Callable[[], Coroutine[Any, Any, object]]) -> object:
    if loop == "trio":
        import trio

        return trio.run(main)
    if loop == "uvloop":
        import uvloop

        return uvloop.run(main())
    return asyncio.run(main())


def fastest(loop: str, names: list[str], n: int, bursts: int) -> dict[str, float]:
    """The fastest burst's ns per operation of each workload, all in turn."""

    async def main() -> dict[str, float]:
        best = dict.fromkeys(names, float("inf"))
        for name in names:
            await function(name)(ops(name, n) // 10 or 1)  # warm-up (imports, caches)
        for _ in range(bursts):
            for name in names:
                count = ops(name, n)
                gc.collect()  # as run.py: the cyclic collector paused while timed
                gc.disable()
                try:
                    elapsed = await function(name)(count)
                finally:
                    gc.enable()
                best[name] = min(best[name], elapsed / count)
        return best

    result: dict[str, float] = run(loop, main)  # type: ignore[assignment]
    return result


def instructions(loop: str, name: str, n: int) -> float:
    """Instructions per operation of *name* (callgrind: 2N run minus N run)."""
    totals = []
    for count in (n, 2 * n):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "callgrind.out"
            subprocess.run(
                [
                    "valgrind",
                    "--tool=callgrind",
                    f"--callgrind-out-file={out}",
                    sys.executable,
                    __file__,
                    "--count",
                    name,
                    str(count),
                    "--loop",
                    loop,
                ],
                check=True,
                capture_output=True,
                env={**os.environ, "PYTHONHASHSEED": "0"},
            )
            found = re.search(r"^(?:summary|totals): (\d+)", out.read_text(), re.M)
            assert found, f"no total in callgrind's output for {name}"
            totals.append(int(found.group(1)))
    return (totals[1] - totals[0]) / n


def count_once(loop: str, name: str, n: int) -> None:
    """Body of an --instr process: warm up, then run *n* operations once."""

    async def main() -> None:
        await function(name)(10)
        if n:
            await function(name)(n)

    run(loop, main)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loop", choices=("asyncio", "uvloop", "trio"), default="asyncio")
    parser.add_argument("--bursts", type=int, default=150)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--instr", action="store_true", help="also count instructions (valgrind)")
    parser.add_argument("--count", nargs=2, metavar=("FUNCTION", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.count:
        count_once(args.loop, args.count[0], int(args.count[1]))
        return
    if args.instr and shutil.which("valgrind") is None:
        parser.error("--instr needs valgrind on PATH")
    rows = ROWS[args.loop]
    names = sorted({name for _, mine, ref, _ in rows for name in (mine, ref)})
    best = fastest(args.loop, names, args.n, args.bursts)
    counted = {}
    if args.instr:
        # As many operations as a burst: trio's deadline heap prunes its stale
        # entries every so often, and too few operations make that step show.
        counted = {name: instructions(args.loop, name, ops(name, args.n)) for name in names}
    version = ".".join(map(str, sys.version_info[:3]))
    print(f"Python {version}, {args.loop}: fastest of {args.bursts} bursts of {args.n} ops")
    print(f"  {'row':14} {'reference':24} {'unicancel ns':>12} {'ref ns':>8} {'min':>6}", end="")
    print(f" {'instr':>8} {'ref instr':>10} {'instr':>6}" if counted else "")
    for row, mine, ref, label in rows:
        line = f"  {row:14} {label:24} {best[mine]:12,.0f} {best[ref]:8,.0f}"
        line += f" {best[mine] / best[ref]:5.2f}x"
        if counted:
            line += f" {counted[mine]:8,.0f} {counted[ref]:10,.0f}"
            line += f" {counted[mine] / counted[ref]:5.2f}x"
        print(line)


if __name__ == "__main__":
    main()
