"""The deep check: many programs in chunks, a summary, shrunk reproducers.

Divergences include the checks that need no oracle (leftovers: cyclic
garbage, global-table entries; the asyncio interrupt run's invariants), each
with its own signature.

Each chunk is one hypothesis run (``max_examples=chunk``, its own seed,
generation only) whose property never fails: it only records verdicts and,
per divergence *signature* (diverging system + first differing field), the
first program that showed it. Then, for every signature, the chunk that
found it is replayed with a property that fails exactly on that signature:
hypothesis generates the same programs (same seed, same results so far)
up to the first failure and shrinks it to a minimal reproducer, printed as
ready-to-paste regression-test source.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field

from hypothesis import HealthCheck, Phase, given, seed, settings

from .check import INTERRUPT_RUN, Verdict, check
from .codegen import to_source
from .generate import programs
from .program import Program

__all__ = ["ChunkResult", "run_chunk", "shrink"]


@dataclass
class ChunkResult:
    seed: int
    programs: int = 0
    status: Counter[str] = field(default_factory=Counter)
    rules: Counter[str] = field(default_factory=Counter)
    systems: Counter[str] = field(default_factory=Counter)  # runs compared, per system
    signatures: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)  # signature -> report
    sources: set[str] = field(default_factory=set)  # hashes, to count distinct programs
    seconds: float = 0.0


def _settings(examples: int, phases: tuple[Phase, ...]) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=False,
        phases=phases,
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
        print_blob=False,
    )


def run_chunk(chunk_seed: int, examples: int) -> ChunkResult:
    result = ChunkResult(chunk_seed)
    start = time.perf_counter()

    @_settings(examples, (Phase.generate,))
    @seed(chunk_seed)
    @given(programs())
    def explore(program: Program) -> None:
        verdict = check(program)
        result.programs += 1
        result.sources.add(hashlib.sha1(to_source(program).encode()).hexdigest()[:16])
        result.status[verdict.status] += 1
        if verdict.schedule_dependent:
            result.status["schedule-dependent"] += 1
        if verdict.status == "excluded":
            result.rules[verdict.detail] += 1
        if verdict.status in ("agree", "diverged"):
            result.systems.update(verdict.systems)
            if verdict.interrupted is not None:
                result.systems[INTERRUPT_RUN] += 1
        for signature in verdict.signatures:
            result.signatures[signature] += 1
            result.examples.setdefault(signature, verdict.report())

    explore()
    result.seconds = time.perf_counter() - start
    return result


def shrink(chunk_seed: int, examples: int, signature: str) -> Verdict | None:
    """Replay a chunk, failing on *signature*; return the shrunk verdict."""
    found: list[Verdict] = []

    class Diverged(AssertionError):
        pass

    @_settings(examples, (Phase.generate, Phase.shrink))
    @seed(chunk_seed)
    @given(programs())
    def replay(program: Program) -> None:
        verdict = check(program)
        if signature in verdict.signatures:
            found.append(verdict)
            raise Diverged(signature)

    try:
        replay()
    except Diverged:
        return found[-1]  # hypothesis runs the minimal example last
    return None


def _chunk(args: tuple[int, int]) -> ChunkResult:
    return run_chunk(*args)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m tests.differential", description=__doc__)
    parser.add_argument(
        "--programs",
        type=int,
        default=int(os.environ.get("DIFFERENTIAL_PROGRAMS", "100000")),
        help="programs to generate (default: $DIFFERENTIAL_PROGRAMS or 100000)",
    )
    parser.add_argument("--chunk", type=int, default=5000, help="programs per hypothesis run")
    parser.add_argument("--seed", type=int, default=int(os.environ.get("DIFFERENTIAL_SEED", "0")))
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--no-shrink", action="store_true", help="skip shrinking divergences")
    parser.add_argument("--json", help="also write the summary to this file")
    args = parser.parse_args(argv)

    chunks = []
    left = args.programs
    index = 0
    while left > 0:
        size = min(args.chunk, left)
        chunks.append((args.seed * 1_000_003 + index, size))
        left -= size
        index += 1
    start = time.perf_counter()
    results: list[ChunkResult] = []
    print(f"deep check: {args.programs} programs in {len(chunks)} chunks, {args.jobs} jobs")
    if args.jobs > 1 and len(chunks) > 1:
        with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
            for result in pool.imap_unordered(_chunk, chunks):
                results.append(result)
                _progress(result, len(results), len(chunks))
    else:
        for item in chunks:
            results.append(_chunk(item))
            _progress(results[-1], len(results), len(chunks))
    elapsed = time.perf_counter() - start

    total = ChunkResult(args.seed)
    first_chunk: dict[str, tuple[int, int]] = {}
    sizes = dict(chunks)
    for result in sorted(results, key=lambda r: r.seed):
        total.programs += result.programs
        total.status.update(result.status)
        total.rules.update(result.rules)
        total.systems.update(result.systems)
        total.signatures.update(result.signatures)
        total.sources |= result.sources
        for signature, report in result.examples.items():
            total.examples.setdefault(signature, report)
            first_chunk.setdefault(signature, (result.seed, sizes[result.seed]))

    print()
    print("=" * 78)
    print(f"programs run:        {total.programs} ({len(total.sources)} distinct)")
    for status in ("agree", "diverged", "excluded"):
        print(f"  {status:18} {total.status[status]}")
    print(f"    agreed with another trio schedule: {total.status['schedule-dependent']}")
    for rule, count in sorted(total.rules.items()):
        print(f"    excluded by rule {rule}: {count}")
    print("runs compared per system: " + ", ".join(f"{s} {n}" for s, n in total.systems.items()))
    print(f"divergent programs:  {total.status['diverged']}")
    print(f"distinct signatures: {len(total.signatures)}")
    for signature, count in total.signatures.most_common():
        print(f"  {count:7}  {signature}")
    print(f"time: {elapsed:.0f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "programs": total.programs,
                    "distinct": len(total.sources),
                    "status": dict(total.status),
                    "rules": dict(total.rules),
                    "systems": dict(total.systems),
                    "signatures": dict(total.signatures),
                    "seconds": elapsed,
                },
                f,
                indent=2,
            )
    if total.signatures and not args.no_shrink:
        for signature in total.signatures:
            chunk_seed, size = first_chunk[signature]
            print()
            print("=" * 78)
            print(f"shrinking: {signature} (chunk seed {chunk_seed})")
            verdict = shrink(chunk_seed, size, signature)
            if verdict is None:
                print("could not replay; first program seen:")
                print(total.examples[signature])
            else:
                print(verdict.report())
    return 1 if total.signatures else 0


def _progress(result: ChunkResult, done: int, total: int) -> None:
    diverged = result.status["diverged"]
    print(
        f"  chunk {done}/{total}: {result.programs} programs in {result.seconds:.0f} s, "
        f"{diverged} divergent",
        flush=True,
    )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
