"""What diagnostics cost: scope enter/exit and the cancel round trip with
diagnostics off and on, and the watchdog's CPU use while idle (issue 13).

    python benchmarks/bench_diagnostics.py [--bursts 40] [--n 2000] [--idle 5]

Off and on are measured in one process, burst by burst in turn (``enable()``
and ``disable()`` between bursts, outside the timed part), so that drift on a
shared machine hits both alike; each figure is the fastest burst's ns per
operation, which is what the code costs when nothing else runs. Workloads
(run.py's 1-3, the functions of bench_scopes.py),
on asyncio, asyncio on uvloop and trio: an unarmed scope (``with
CancelScope(): pass``), an armed one (``with move_on_after(10): pass``) and
the round trip (``with move_on_after(0): await sleep(1)``). With diagnostics
on, every cancellation also starts the watchdog's watch and every caught
exception passes through ``sys.monitoring`` (3.12+), so the round trip pays
most. Idle: after an armed deadline has started the watchdog thread, the
process's CPU time over ``--idle`` seconds of sleep, per second (the bar is
0.01 CPU s per s).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import threading
import time
from collections.abc import Awaitable, Callable

from bench_scopes import (
    a_roundtrip_unicancel,
    armed_unicancel,
    t_roundtrip_unicancel,
    unarmed_unicancel,
)

import unicancel
from unicancel import diagnostics, move_on_after

#: An op loop of bench_scopes.py: runs n ops, returns the ns they took.
Workload = Callable[[int], Awaitable[int]]


def workloads(backend: str) -> dict[str, Workload]:
    """Workloads 1-3 of run.py, unicancel's own functions (bench_scopes.py)."""
    roundtrip = t_roundtrip_unicancel if backend == "trio" else a_roundtrip_unicancel
    return {"unarmed": unarmed_unicancel, "armed": armed_unicancel, "roundtrip": roundtrip}


async def measure(work: dict[str, Workload], n: int, bursts: int) -> dict[str, tuple[float, float]]:
    """For each workload, the fastest burst's ns per op, (off, on)."""
    best: dict[str, list[float]] = {name: [float("inf"), float("inf")] for name in work}
    for name, run in work.items():
        await run(n // 10)  # warm-up, both ways
        diagnostics.enable(stuck_after=60, warn=False, log=False)
        await run(n // 10)
        diagnostics.disable()
        for _ in range(bursts):
            for on in (False, True):
                if on:
                    diagnostics.enable(stuck_after=60, warn=False, log=False)
                gc.disable()
                elapsed = await run(n)
                gc.enable()
                if on:
                    diagnostics.disable()
                best[name][on] = min(best[name][on], elapsed / n)
    return {name: (off, on) for name, (off, on) in best.items()}


def run_backend(backend: str, n: int, bursts: int) -> dict[str, tuple[float, float]]:
    if backend == "trio":
        import trio

        return trio.run(measure, workloads(backend), n, bursts)
    if backend == "uvloop":
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:  # 3.11 too
            return runner.run(measure(workloads(backend), n, bursts))
    return asyncio.run(measure(workloads(backend), n, bursts))


def idle_cpu(seconds: float) -> tuple[float, bool]:
    """CPU s per s of this process while the started watchdog has nothing to
    watch, and whether its thread was running."""

    async def main() -> None:
        with move_on_after(0.01):  # an armed deadline starts the watchdog
            await asyncio.sleep(1)

    diagnostics.enable(stuck_after=1.0, warn=False, log=False)
    try:
        asyncio.run(main())
        running = any(t.name == "unicancel-watchdog" for t in threading.enumerate())
        c0, t0 = time.process_time(), time.perf_counter()
        time.sleep(seconds)
        return (time.process_time() - c0) / (time.perf_counter() - t0), running
    finally:
        diagnostics.disable()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=2000, help="operations per burst")
    parser.add_argument("--bursts", type=int, default=40, help="bursts per way (off, on)")
    parser.add_argument("--idle", type=float, default=5.0, help="seconds of idle watchdog")
    parser.add_argument("--backends", default="asyncio,uvloop,trio")
    args = parser.parse_args()
    if diagnostics.is_enabled():
        parser.error("run without UNICANCEL_DEBUG: this script turns diagnostics on and off")
    print(
        f"Python {sys.version.split()[0]}, unicancel {unicancel.__version__}: ns per op, "
        f"fastest of {args.bursts} bursts of {args.n}, diagnostics off and on in turn"
    )
    print(f"  {'backend':8s} {'workload':10s} {'off':>9s} {'on':>9s}  on/off")
    for backend in args.backends.split(","):
        for name, (off, on) in run_backend(backend, args.n, args.bursts).items():
            print(f"  {backend:8s} {name:10s} {off:9,.0f} {on:9,.0f}  {on / off:.2f}x")
    if args.idle > 0:
        cpu, running = idle_cpu(args.idle)
        state = "running" if running else "NOT running"
        print(f"  idle watchdog ({state}): {cpu:.6f} CPU s per s over {args.idle:g} s (bar 0.01)")


if __name__ == "__main__":
    main()
