"""What run.py and the workload modules share (run.py is the one command)."""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine
from typing import Any

__all__ = ["BenchError", "CpuBench", "OpBench", "cpu_result"]

# An "op" benchmark: run *n* operations and return the elapsed nanoseconds.
OpBench = Callable[[int], Coroutine[Any, Any, int]]
# A CPU benchmark: return (CPU seconds, wall seconds) of the measured wait.
CpuBench = Callable[[], Coroutine[Any, Any, tuple[float, float]]]


class BenchError(Exception):
    """A system misbehaved during a benchmark (the result is not reported)."""


def cpu_result(
    c0: float, w0: float, caught: bool, *, expected: float, at_least: float = 0.0
) -> tuple[float, float]:
    """(CPU s, wall s) since ``(time.process_time(), time.perf_counter()) == (c0, w0)``.

    Checks that the scope caught its cancellation, that the wait did not
    outlast *expected* by a second (nothing cancelled it), and that it lasted
    at least *at_least* (the scenario really waited, rather than being cut
    short, which would measure nothing).
    """
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    if not caught:
        raise BenchError("the scope did not report the cancellation as caught")
    if wall > expected + 1.0:
        raise BenchError(f"the cancelled scope took {wall:.2f} s to exit")
    if wall < at_least:
        raise BenchError(
            f"the wait lasted {wall * 1000:.1f} ms, less than the {at_least:g} s "
            "the scenario needs: the work was cut short"
        )
    return cpu, wall
