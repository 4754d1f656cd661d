#!/usr/bin/env python3
"""Mutation testing: how much of a module's behaviour do its tests pin?

    python scripts/mutate.py [MODULE ...] [--sample N] [--workers N] [--timeout S] [--list]

Each mutant is one small change to one module (an operator flipped, a
comparison or condition negated, a statement replaced by ``pass``, a constant
changed, ``break``/``continue`` swapped, a return value dropped). The mutant is
written into a temporary copy of the source tree (never the working tree) and
the module's related tests run against it with ``PYTHONPATH`` pointing at the
copy. A mutant is *killed* when a test fails, *timed out* when the tests hang
past the per-mutant timeout (counted as killed: a hang is a detection), and
*survived* otherwise. Survivors are printed as ``file:line: mutation``.

Configuration lives in ``[tool.unicancel-mutate]`` of pyproject.toml; every
module names its related tests (the most related files, not the whole suite:
the run is slow). Mutants listed under a module's ``equivalent`` (by their
key, printed with each survivor) are reported apart and left out of the score.

Why not mutmut: mutmut 3 rewrites every function of the module into a
"trampoline" that dispatches to the mutants; the signatures, ``__qualname__``
and module attributes that the API tests check then change, and its test
selection is by function, not by module. This runner is small, needs nothing
but the standard library and pytest, and keeps the module as it is except for
the one mutation.

Not run in CI (it takes minutes to hours); docs/mutation-testing.md has the
last results.
"""

from __future__ import annotations

import argparse
import ast
import concurrent.futures
import dataclasses
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from pathlib import Path
from typing import Any

# --- mutants ------------------------------------------------------------------

_BINOPS: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Div,
    ast.Div: ast.Mult,
    ast.FloorDiv: ast.Mult,
    ast.Mod: ast.FloorDiv,
    ast.BitOr: ast.BitAnd,
    ast.BitAnd: ast.BitOr,
    ast.LShift: ast.RShift,
    ast.RShift: ast.LShift,
}
# Negations, then the off-by-one boundary of the ordering comparisons.
_CMP_NEGATE: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Lt: ast.GtE,
    ast.GtE: ast.Lt,
    ast.Gt: ast.LtE,
    ast.LtE: ast.Gt,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
}
_CMP_BOUNDARY: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
}


@dataclasses.dataclass(frozen=True)
class Mutant:
    """One change: replace source[start:end] (character offsets) by *new*."""

    path: str  # relative to the project root
    line: int
    scope: str  # qualified name of the enclosing function/class, or <module>
    kind: str
    old: str
    new: str
    start: int
    end: int
    nth: int = 1  # the same change at the same place in one scope: the nth one

    @property
    def key(self) -> str:
        """Stable across unrelated edits (no line number): for `equivalent` lists."""
        same = f" #{self.nth}" if self.nth > 1 else ""
        return f"{self.scope}: {_short(self.old)} -> {_short(self.new)}{same}"

    def describe(self) -> str:
        return f"{self.path}:{self.line}: [{self.kind}] {self.key}"


def _short(text: str, limit: int = 70) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_docstring(node: ast.stmt, parent: ast.AST) -> bool:
    body = getattr(parent, "body", None)
    return (
        isinstance(body, list)
        and bool(body)
        and body[0] is node
        and isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
        and isinstance(parent, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
    )


class _Collector:
    """Walk a module's AST and list its mutants, in source order."""

    def __init__(self, source: str, path: str) -> None:
        self.source = source
        self.path = path
        self.lines = source.splitlines(keepends=True)
        self.offsets = [0]
        for line in self.lines:
            self.offsets.append(self.offsets[-1] + len(line))
        self.mutants: list[Mutant] = []
        self.no_mutate = {i + 1 for i, line in enumerate(self.lines) if "pragma: no mutate" in line}

    def _span(self, node: ast.AST) -> tuple[int, int, int] | None:
        """(first line, start offset, end offset) of *node* in the source."""
        line: int | None = getattr(node, "lineno", None)
        end_line: int | None = getattr(node, "end_lineno", None)
        end_col: int | None = getattr(node, "end_col_offset", None)
        if line is None or end_line is None or end_col is None:
            return None

        # col offsets are in UTF-8 bytes: convert through the line's bytes.
        def at(line: int, col: int) -> int:
            text = self.lines[line - 1]
            return self.offsets[line - 1] + len(text.encode()[:col].decode(errors="ignore"))

        return line, at(line, getattr(node, "col_offset", 0)), at(end_line, end_col)

    def add(self, node: ast.AST, scope: str, kind: str, new: str, paren: bool = True) -> None:
        span = self._span(node)
        if span is None or span[0] in self.no_mutate:
            return
        line, start, end = span
        old = self.source[start:end]
        if paren:
            new = f"({new})"
        self.mutants.append(Mutant(self.path, line, scope, kind, old, new, start, end))

    def visit(self, node: ast.AST, scope: str, parent: ast.AST | None = None) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            return
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            scope = node.name if scope == "<module>" else f"{scope}.{node.name}"
            # Decorators, defaults: visit; annotations: never (types only).
            for deco in node.decorator_list:
                self.visit(deco, scope, node)
            if not isinstance(node, ast.ClassDef):
                for default in [*node.args.defaults, *node.args.kw_defaults]:
                    if default is not None:
                        self.visit(default, scope, node)
            for stmt in node.body:
                self.visit(stmt, scope, node)
            return
        if isinstance(node, ast.AnnAssign):
            if node.value is not None:
                self.visit(node.value, scope, node)
            return
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id in ("__all__", "__slots__") for t in node.targets
        ):
            return  # names for import *, memory layout: not behaviour
        if isinstance(node, ast.Import | ast.ImportFrom | ast.Global | ast.Nonlocal):
            return
        if isinstance(node, ast.stmt):
            if parent is not None and _is_docstring(node, parent):
                return
            self.statement(node, scope, parent)
        self.expression(node, scope)
        if isinstance(node, ast.JoinedStr):
            return  # its parts are mutated as a whole above
        for child in ast.iter_child_nodes(node):
            self.visit(child, scope, node)

    def statement(self, node: ast.stmt, scope: str, parent: ast.AST | None) -> None:
        if isinstance(node, ast.Break):
            self.add(node, scope, "swap", "continue", paren=False)
        elif isinstance(node, ast.Continue):
            self.add(node, scope, "swap", "break", paren=False)
        if (
            isinstance(node, ast.Return)
            and node.value is not None
            and not (isinstance(node.value, ast.Constant) and node.value.value is None)
        ):
            self.add(node, scope, "return", "return None", paren=False)
        if isinstance(node, ast.If | ast.While):
            self.add(node.test, scope, "negate", f"not ({ast.unparse(node.test)})")
        if isinstance(node, ast.Return) and node.value is not None:
            return  # deleting it is the "return None" mutant again
        if not isinstance(node, ast.Pass | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            # Deleting the statement (pass keeps the block valid).
            self.add(node, scope, "delete", "pass", paren=False)

    def expression(self, node: ast.AST, scope: str) -> None:
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            new = ast.BinOp(node.left, _BINOPS[type(node.op)](), node.right)
            self.add(node, scope, "operator", ast.unparse(new))
        elif isinstance(node, ast.BoolOp):
            op: ast.boolop = ast.Or() if isinstance(node.op, ast.And) else ast.And()
            self.add(node, scope, "operator", ast.unparse(ast.BoolOp(op, node.values)))
        elif isinstance(node, ast.Compare) and len(node.ops) == 1:
            op_type = type(node.ops[0])
            for table, kind in ((_CMP_NEGATE, "compare"), (_CMP_BOUNDARY, "boundary")):
                if op_type in table:
                    swapped = ast.Compare(node.left, [table[op_type]()], node.comparators)
                    self.add(node, scope, kind, ast.unparse(swapped))
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            self.add(node, scope, "negate", ast.unparse(node.operand))
        elif isinstance(node, ast.IfExp):
            self.add(node.test, scope, "negate", f"not ({ast.unparse(node.test)})")
        elif isinstance(node, ast.Constant):
            new_value = _changed_constant(node.value)
            if new_value is not _NO_CHANGE:
                self.add(node, scope, "constant", repr(new_value))
        elif isinstance(node, ast.JoinedStr):
            # An f-string (error text): prefix it, as a test matching it would notice.
            new_node = ast.JoinedStr([ast.Constant("XX"), *node.values])
            self.add(node, scope, "constant", ast.unparse(new_node))


_NO_CHANGE = object()


def _changed_constant(value: object) -> object:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value + 1.0 if value == value and abs(value) != float("inf") else 0.0
    if isinstance(value, str):
        return "XX" + value + "XX"
    return _NO_CHANGE


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def collect(root: Path, rel: str) -> list[Mutant]:
    """Every mutant of the module at *root*/*rel*, in source order."""
    source = (root / rel).read_text()
    collector = _Collector(source, rel)
    tree = ast.parse(source)
    collector.visit(tree, "<module>")
    # Keep only mutants that still compile (e.g. `pass` for an expression
    # statement inside a match guard would not): a syntax error is no test.
    good = []
    seen: dict[str, int] = {}
    for mutant in collector.mutants:
        try:
            compile(apply(source, mutant), rel, "exec")
        except SyntaxError:
            continue
        seen[mutant.key] = nth = seen.get(mutant.key, 0) + 1
        good.append(dataclasses.replace(mutant, nth=nth))
    return good


def apply(source: str, mutant: Mutant) -> str:
    return source[: mutant.start] + mutant.new + source[mutant.end :]


# --- running ------------------------------------------------------------------


@dataclasses.dataclass
class Config:
    root: Path
    python: str
    src: str
    timeout: float
    workers: int
    pytest_args: list[str]
    modules: dict[str, dict[str, Any]]


def load_config(root: Path) -> Config:
    data = tomllib.loads((root / "pyproject.toml").read_text())
    section = data.get("tool", {}).get("unicancel-mutate")
    if section is None:
        raise SystemExit(f"mutate: no [tool.unicancel-mutate] in {root / 'pyproject.toml'}")
    return Config(
        root=root,
        python=section.get("python", sys.executable),
        src=section.get("src", "src"),
        timeout=float(section.get("timeout", 60)),
        workers=int(section.get("workers", 1)),
        pytest_args=list(section.get("pytest-args", ["-x", "-q", "-p", "no:cacheprovider"])),
        modules=dict(section.get("modules", {})),
    )


class Worker:
    """A private copy of the source tree in which one mutant at a time is applied."""

    def __init__(self, config: Config, base: Path, index: int) -> None:
        self.config = config
        self.copy = base / f"w{index}"
        shutil.copytree(
            config.root / config.src,
            self.copy / config.src,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"),
        )

    def run(
        self,
        tests: list[str],
        extra: list[str],
        mutant: Mutant | None,
        timeout: float,
        niceness: int,
    ) -> tuple[str, float]:
        """("killed" | "survived" | "timeout", seconds)."""
        target = self.copy / mutant.path if mutant else None
        original = target.read_text() if target else ""
        if target and mutant:
            target.write_text(apply(original, mutant))
        env = dict(os.environ)
        env["PYTHONPATH"] = str(self.copy / self.config.src)
        # No bytecode cache in the copy: a mutant of the same size written in the
        # same second as the previous one would otherwise run the stale .pyc.
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        cmd = [self.config.python, "-m", "pytest", *self.config.pytest_args, *extra, *tests]
        start = time.monotonic()
        proc = subprocess.Popen(
            cmd,
            cwd=self.config.root,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # so a hung run is killed with its children
            preexec_fn=(lambda: os.nice(niceness)) if niceness else None,
        )
        try:
            rc = proc.wait(timeout)
            outcome = "survived" if rc == 0 else "killed"
            if rc in (2, 3, 4, 5) and mutant is None:
                outcome = f"error (pytest exit {rc})"
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            outcome = "timeout"
        except BaseException:  # interrupted: leave no test run behind
            os.killpg(proc.pid, signal.SIGKILL)
            raise
        finally:
            if target:
                target.write_text(original)
        return outcome, time.monotonic() - start


def run_module(config: Config, rel: str, args: argparse.Namespace, base: Path) -> dict[str, object]:
    settings = config.modules.get(rel)
    if settings is None:
        raise SystemExit(f"mutate: {rel} is not configured in [tool.unicancel-mutate.modules]")
    tests = args.tests or [str(t) for t in settings.get("tests", [])]
    extra = [str(a) for a in settings.get("pytest-args", [])]
    equivalent = set(settings.get("equivalent", []))
    timeout = float(args.timeout or settings.get("timeout", config.timeout))
    sample = args.sample if args.sample is not None else settings.get("sample")
    every = collect(config.root, rel)
    mutants = every
    if sample and int(sample) < len(every):
        mutants = sorted(
            random.Random(f"{args.seed}:{rel}").sample(every, int(sample)),
            key=lambda m: m.start,
        )
    previous: dict[str, Any] = {}
    if args.rerun:
        # Only the survivors of an earlier run (--json): after adding tests.
        previous = next((r for r in json.loads(args.rerun.read_text()) if r["module"] == rel), {})
        again = set(previous.get("survivors", []))
        mutants = [m for m in every if m.describe() in again]
    if args.only:  # from all the mutants, not only the sample
        mutants = [m for m in every if re.search(args.only, m.describe())]
    how = "all"
    if args.rerun or args.only:
        how = "selected"
    elif len(mutants) < len(every):
        how = f"sampled, seed {args.seed}"
    print(
        f"\n== {rel}: {len(mutants)} of {len(every)} mutants ({how}); "
        f"tests: {' '.join(tests)} {' '.join(extra)}",
        flush=True,
    )
    if args.list:
        for m in mutants:
            print("  " + m.describe())
        return {}
    workers = [Worker(config, base / rel.replace("/", "_"), i) for i in range(args.workers)]
    outcome, baseline = workers[0].run(tests, extra, None, timeout * 3, args.nice)
    if outcome != "survived":
        raise SystemExit(f"mutate: the tests fail without any mutant ({outcome}): fix them first")
    print(f"   baseline: tests pass in {baseline:.1f}s", flush=True)
    results: dict[str, list[Mutant | None]] = {
        "killed": [],
        "timeout": [],
        "survived": [],
        "equivalent": [],
    }
    free = list(workers)
    lock = threading.Lock()
    done = 0

    def one(mutant: Mutant) -> None:
        nonlocal done
        with lock:
            worker = free.pop()
        try:
            result, _ = worker.run(tests, extra, mutant, timeout, args.nice)
        finally:
            with lock:
                free.append(worker)
        with lock:
            if result == "survived" and mutant.key in equivalent:
                result = "equivalent"
            results[result].append(mutant)
            done += 1
            if args.verbose or result == "survived":
                print(f"   [{done}/{len(mutants)}] {result}: {mutant.describe()}", flush=True)

    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(args.workers) as pool:
        for future in [pool.submit(one, m) for m in mutants]:
            future.result()
    sampled = len(mutants)
    if previous:  # the earlier run's killed mutants stay killed
        sampled = int(previous["sampled"])
        for kind in ("killed", "timeout", "equivalent"):
            results[kind] += [None] * int(previous[kind])
    killed = len(results["killed"]) + len(results["timeout"])
    counted = sampled - len(results["equivalent"])
    score = 100.0 * killed / counted if counted else 100.0
    print(
        f"   {rel}: killed {len(results['killed'])}, timed out {len(results['timeout'])}, "
        f"survived {len(results['survived'])}, equivalent {len(results['equivalent'])}; "
        f"score {score:.1f}% ({killed}/{counted}) in {time.monotonic() - start:.0f}s",
        flush=True,
    )
    survivors = [m.describe() for m in results["survived"] if m is not None]
    equivalents = [m.describe() for m in results["equivalent"] if m is not None]
    for text in survivors:
        print(f"   SURVIVED {text}")
    for text in equivalents:
        print(f"   equivalent {text}")
    return {
        "module": rel,
        "mutants": len(every),
        "sampled": sampled,
        "killed": len(results["killed"]),
        "timeout": len(results["timeout"]),
        "survived": len(results["survived"]),
        "equivalent": len(results["equivalent"]),
        "score": round(score, 1),
        "seconds": round(time.monotonic() - start),
        "survivors": survivors,
        "equivalents": equivalents,
        "python": sys.version.split()[0],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("modules", nargs="*", help="paths as in the config (default: all)")
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--sample", type=int, help="at most N mutants per module (random)")
    parser.add_argument("--seed", default="0", help="sampling seed (default 0)")
    parser.add_argument("--workers", type=int, help="parallel test runs (default: config)")
    parser.add_argument("--timeout", type=float, help="seconds per mutant (default: config)")
    parser.add_argument("--nice", type=int, default=0, help="run the tests with this niceness")
    parser.add_argument("--list", action="store_true", help="list the mutants, run nothing")
    parser.add_argument("--json", type=Path, help="write the results to this file")
    parser.add_argument("--rerun", type=Path, help="run only the survivors in this --json file")
    parser.add_argument("--only", help="only the mutants whose description matches this regex")
    parser.add_argument("--tests", nargs="+", help="run these tests instead of the configured ones")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every mutant's fate")
    args = parser.parse_args(argv)
    # A terminated run still restores and removes its copies and kills its tests.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    config = load_config(args.root.resolve())
    args.workers = args.workers or config.workers
    modules = args.modules or list(config.modules)
    summary = []
    with tempfile.TemporaryDirectory(prefix="unicancel-mutate-") as tmp:
        for rel in modules:
            result = run_module(config, rel, args, Path(tmp))
            if result:
                summary.append(result)
    if summary:
        print("\n== summary")
        for r in summary:
            print(
                f"   {r['module']}: {r['score']}% ({r['killed']} killed + {r['timeout']} "
                f"timed out of {r['sampled']} - {r['equivalent']} equivalent; "
                f"{r['survived']} survived; {r['sampled']}/{r['mutants']} run)"
            )
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    return 1 if any(r["survived"] for r in summary) else 0


if __name__ == "__main__":
    sys.exit(main())
