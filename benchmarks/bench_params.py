"""Benchmark parameters (sizes, repeats) and the backends measured."""

from __future__ import annotations

import importlib.metadata
import importlib.util

# ----------------------------------------------------------------------------
# Parameters

#: Nesting depth of workload 4.
DEPTH = 1000
#: How long the child of workload 5 keeps cleaning up after being cancelled (s).
CLEANUP = 0.2
#: A deadline that never fires during a benchmark (s).
FAR = 10.0
#: How long a "blocking" await would block if the scope did not cancel it (s).
BLOCK = 1.0

#: Operations per timed loop, per workload: (full, quick).
N_OPS: dict[str, tuple[int, int]] = {
    "unarmed": (40_000, 1_000),
    "armed": (40_000, 1_000),
    "roundtrip": (10_000, 300),
    "nesting": (40 * DEPTH, 2 * DEPTH),
    # Children in the group (one group per timed "loop").
    "group": (10_000, 1_000),
    # Children stopped at once (workload 9); register+unregister (workload 10).
    "stop": (10_000, 1_000),
    "onstop": (40_000, 1_000),
}
#: Repeats (the median is reported): (full, quick).
REPEATS = (9, 3)
CPU_REPEATS = (5, 1)
#: Workloads with their own repeats: (full, quick).
WORKLOAD_REPEATS: dict[str, tuple[int, int]] = {"group": (5, 3), "stop": (5, 3)}

BACKENDS = ("asyncio", "uvloop", "trio")
BACKEND_TITLES = {
    "asyncio": "asyncio (default loop)",
    "uvloop": "asyncio on uvloop",
    "trio": "trio",
}


def installed(dist: str) -> bool:
    return importlib.util.find_spec(dist) is not None


def dist_version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "(source tree)" if installed(dist) else "not installed"
