"""``python -m tests.interop_fuzz``: the deep mode (see scripts/interop-fuzz.sh)."""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter

from .fuzz import check


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.interop_fuzz")
    parser.add_argument("--programs", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0, help="first seed; program i uses seed+i")
    parser.add_argument("--show", type=int, default=3, help="reports printed per failure kind")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every program")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    status: Counter[str] = Counter()
    kinds: Counter[tuple[str, str]] = Counter()
    first: dict[tuple[str, str], int] = {}
    shown: Counter[tuple[str, str]] = Counter()
    for seed in range(args.seed, args.seed + args.programs):
        verdict = check(seed)
        status[verdict.status] += 1
        if args.verbose:
            print(verdict.report(), end="\n\n")
        for kind in sorted({f.check for f in verdict.result.failures}):
            key = (verdict.status, kind)
            kinds[key] += 1
            first.setdefault(key, seed)
            if not args.verbose and verdict.status == "ours" and shown[key] < args.show:
                shown[key] += 1
                print(verdict.report(), end="\n\n")
    seconds = time.perf_counter() - start
    print(
        f"{args.programs} programs (seeds {args.seed}..{args.seed + args.programs - 1}) "
        f"in {seconds:.1f} s: " + ", ".join(f"{k} {v}" for k, v in sorted(status.items()))
    )
    for (who, kind), count in sorted(kinds.items()):
        print(f"  {who:6} {kind:14} {count:6}  first seed {first[(who, kind)]}")
    return 1 if status["ours"] else 0


if __name__ == "__main__":
    sys.exit(main())
