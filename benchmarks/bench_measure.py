"""Running the cases: fresh event loops, warm-ups, repeats and medians."""

from __future__ import annotations

import asyncio
import gc
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from bench_cases import _cases
from bench_common import BenchError, CpuBench, OpBench
from bench_params import CPU_REPEATS, N_OPS, REPEATS, WORKLOAD_REPEATS, installed
from bench_registry import WORKLOADS, Case, Workload


async def _timed_asyncio(fn: OpBench, n: int) -> int:
    await fn(max(1, n // 10))  # warm-up
    gc.collect()
    gc.disable()
    try:
        elapsed = await fn(n)
    finally:
        gc.enable()
    task = asyncio.current_task()
    assert task is not None
    if task.cancelling():
        raise BenchError(f"task.cancelling() is {task.cancelling()} after the loop, not 0")
    try:
        await asyncio.sleep(0)
    except asyncio.CancelledError:
        raise BenchError("a stray CancelledError hit the next await after the loop") from None
    return elapsed


async def _timed_trio(fn: OpBench, n: int) -> int:
    import trio

    await fn(max(1, n // 10))
    gc.collect()
    gc.disable()
    try:
        elapsed = await fn(n)
    finally:
        gc.enable()
    await trio.lowlevel.checkpoint()
    return elapsed


def _loop_factory(backend: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    if backend == "uvloop":
        import uvloop

        factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
        return factory
    return None


def run_op(backend: str, fn: OpBench, n: int) -> int:
    if backend == "trio":
        import trio

        return trio.run(_timed_trio, fn, n)
    with asyncio.Runner(loop_factory=_loop_factory(backend)) as runner:
        return runner.run(_timed_asyncio(fn, n))


def run_cpu(backend: str, fn: CpuBench) -> tuple[float, float]:
    if backend == "trio":
        import trio

        return trio.run(fn)
    with asyncio.Runner(loop_factory=_loop_factory(backend)) as runner:
        return runner.run(fn())


@dataclass
class Result:
    case: Case
    samples: list[float] = field(default_factory=list)
    #: Wall seconds of each sample (CPU workloads only).
    walls: list[float] = field(default_factory=list)
    error: str | None = None
    missing: str | None = None

    @property
    def value(self) -> float | None:
        if self.error or self.missing or not self.samples:
            return None
        return statistics.median(self.samples)

    @property
    def wall(self) -> float | None:
        if self.error or self.missing or not self.walls:
            return None
        return statistics.median(self.walls)

    @property
    def spread(self) -> float | None:
        value = self.value
        if value is None or len(self.samples) < 2 or value == 0:
            return None
        return (max(self.samples) - min(self.samples)) / value


def measure(
    quick: bool,
    repeats: int | None,
    log: Callable[[str], None],
    only: frozenset[str] | None = None,
) -> list[Result]:
    """Run every case (of the workloads in *only*, if given); results in registry order.

    asyncio and uvloop run first, before anything imports trio (as in a plain
    asyncio program), then trio, then unicancel on asyncio once more with trio
    imported. Within a phase and workload the systems are interleaved per repeat.
    """
    mode = 1 if quick else 0
    results = [Result(case) for case in _cases() if only is None or case.workload in only]
    for result in results:
        absent = [name for name in result.case.requires if not installed(name)]
        if absent:
            result.missing = f"{', '.join(absent)} not installed"
    for phase, title in enumerate(("asyncio", "trio", "asyncio with trio imported")):
        if phase == 1 and "trio" in sys.modules:
            log("  note: trio was imported during the asyncio phase")
        if phase == 2 and installed("trio"):
            import trio  # noqa: F401  (normally already imported by phase 1)
        for workload in WORKLOADS:
            group = [
                r for r in results if r.case.phase == phase and r.case.workload == workload.key
            ]
            if not group:
                continue
            reps = repeats or _repeats(workload)[mode]
            n = N_OPS.get(workload.key, (0, 0))[mode]
            log(f"  [{title}] {workload.title} ...")
            for _ in range(reps):
                for result in group:
                    if not (result.missing or result.error):
                        _measure_once(result, n)
    return results


def _repeats(workload: Workload) -> tuple[int, int]:
    """Default repeats of *workload*: (full, quick)."""
    if workload.key in WORKLOAD_REPEATS:
        return WORKLOAD_REPEATS[workload.key]
    return CPU_REPEATS if workload.cpu else REPEATS


def _measure_once(result: Result, n: int) -> None:
    case = result.case
    try:
        if case.cpu is not None:
            cpu, wall = run_cpu(case.backend, case.cpu)
            result.samples.append(cpu / wall)
            result.walls.append(wall)
        else:
            assert case.op is not None
            result.samples.append(run_op(case.backend, case.op, n) / n)
    except Exception as exc:  # a broken system must not stop the others
        result.error = f"{type(exc).__name__}: {exc}"
