"""The differential check: run one program everywhere, compare, explain.

:func:`check` returns a :class:`Verdict`:

* ``excluded``: the program may depend on a documented asyncio difference
  (:func:`.rules.depends_on_difference`); nothing is run;
* ``agree``: every system's trace is one trio can produce;
* ``diverged``: some system's trace is not, or a run broke an invariant
  that needs no oracle: it left cyclic garbage or global-table entries
  behind (:mod:`.hygiene`), or, in the asyncio *interrupt run* of a program
  with ``Interrupt`` statements, an outside ``Task.cancel()`` was dropped or
  ``cancelling()`` was left unbalanced (:mod:`.interpret`).

What "trio can produce" means: a program with one task is deterministic, so
its trace must equal the oracle's. With child tasks, trio leaves open the
order in which tasks that are ready at the same instant run, and how many
schedule points each operation takes (any task may run a little longer
between two awaits). The first oracle run is plain trio; when a system's
trace differs from it, up to :data:`SAMPLES` more oracle runs sample other
zero-time schedules (trio's own shuffle of each batch of ready tasks with a
seeded RNG, plus extra schedule points at random before and after awaits,
:func:`.oracle.make_jitter`). The system agrees if one of them produced its
trace, exactly (every task's events and the outcome together).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from .codegen import to_source
from .interpret import SYSTEMS, System, Trace, compile_program, run
from .program import Interrupt, Program, dump, walk
from .rules import depends_on_difference, uvloop_can_run

__all__ = [
    "INTERRUPT_RUN",
    "SAMPLES",
    "Status",
    "Verdict",
    "assert_agrees",
    "check",
    "first_difference",
    "has_interrupts",
    "regression_test_source",
]

#: Oracle schedules sampled before a trace is declared impossible on trio.
SAMPLES = 200

Status: TypeAlias = Literal["agree", "excluded", "diverged"]

_FIELDS = {
    "await": ("outcome",),
    "scope": ("cancelled_caught", "cancel_called", "cancel_origin", "cancel_reason", "exception"),
    "group": ("cancelled_caught", "cancel_called", "exception"),
    "cancel": ("found",),
    "deadline": ("value",),
    "end": ("exception",),
    "start": ("outcome",),
    "started": (),
}

#: The name of the asyncio interrupt run in reports and signatures.
INTERRUPT_RUN = "unicancel-asyncio+interrupts"


@dataclass
class Verdict:
    program: Program
    status: Status
    detail: str = ""  # exclusion rule, or the diverging systems
    traces: dict[System, Trace] = field(default_factory=dict)
    signatures: tuple[str, ...] = ()  # one per diverging system, for grouping
    #: A system's trace differed from plain trio's but another trio schedule
    #: produced it (the program's result depends on zero-time scheduling).
    schedule_dependent: bool = False
    #: The asyncio interrupt run (programs with ``Interrupt`` statements).
    interrupted: Trace | None = None

    @property
    def systems(self) -> tuple[System, ...]:
        return tuple(self.traces)

    def report(self) -> str:
        lines = [f"status: {self.status} {self.detail}".rstrip(), "", "program (generated source):"]
        lines.append(to_source(self.program))
        oracle = self.traces.get("trio")
        for system, trace in self.traces.items():
            if system != "trio" and oracle is not None and trace != oracle:
                lines.append(f"{system} differs from trio: {first_difference(oracle, trace)[1]}")
        lines.append("")
        for system, trace in self.traces.items():
            lines.append(f"--- {system}")
            lines.append(trace.describe())
        if self.interrupted is not None:
            lines.append(f"--- {INTERRUPT_RUN} (Interrupt statements call Task.cancel())")
            lines.append(self.interrupted.describe())
        lines.append("")
        lines.append("regression test:")
        lines.append(regression_test_source(self.program, self.signatures))
        return "\n".join(lines)


def check(program: Program, *, samples: int = SAMPLES) -> Verdict:
    rule = depends_on_difference(program)
    if rule is not None:
        return Verdict(program, "excluded", rule)
    code = compile_program(to_source(program))
    oracle = run("trio", code)
    traces: dict[System, Trace] = {"trio": oracle}
    for system in SYSTEMS[1:]:
        if system == "unicancel-uvloop" and (
            not uvloop_can_run(program) or oracle.outcome == "hang"
        ):
            continue
        traces[system] = run(system, code)
    interrupted = None
    if has_interrupts(program):
        interrupted = run("unicancel-asyncio", code, interrupts=True)
    problems = _problems(traces, interrupted)
    unmatched = {s for s, t in traces.items() if t != oracle}
    detail = ""
    if unmatched and program.children:  # several tasks: look for another trio schedule
        for seed in range(1, samples + 1):
            other = run("trio", code, seed, jitter=True)
            unmatched -= {s for s in unmatched if traces[s] == other}
            if not unmatched:
                detail = f"trio schedule {seed}"
                break
    if not unmatched and not problems:
        return Verdict(program, "agree", detail, traces, (), bool(detail), interrupted)
    diverging = [s for s in traces if s in unmatched]
    signatures = tuple(f"{s}: {first_difference(oracle, traces[s])[0]}" for s in diverging)
    signatures += tuple(dict.fromkeys(problems))
    where = ", ".join(dict.fromkeys([*diverging, *(p.split(":")[0] for p in problems)]))
    return Verdict(program, "diverged", where, traces, signatures, False, interrupted)


def has_interrupts(program: Program) -> bool:
    blocks = (program.main, *(child.body for child in program.children))
    return any(isinstance(stmt, Interrupt) for block in blocks for stmt, _ in walk(block))


def _problems(traces: dict[System, Trace], interrupted: Trace | None) -> list[str]:
    """Signatures of broken invariants: "<system>: <what>" (what: "cyclic
    garbage", "global table <name>", "outside cancel dropped",
    "cancelling() unbalanced")."""
    found = []
    runs: list[tuple[str, Trace]] = list(traces.items())
    if interrupted is not None:
        runs.append((INTERRUPT_RUN, interrupted))
    for system, trace in runs:
        for item in (*trace.leftovers, *trace.violations):
            what = item.split(":")[0]
            if what.startswith("global table"):
                what = " ".join(what.split()[:3])
            found.append(f"{system}: {what}")
    return found


def first_difference(expected: Trace, actual: Trace) -> tuple[str, str]:
    """(short signature, description) of the first difference, task by task."""
    for task in sorted(set(expected.tasks) | set(actual.tasks)):
        a = expected.tasks.get(task, ())
        b = actual.tasks.get(task, ())
        for i in range(max(len(a), len(b))):
            x = a[i] if i < len(a) else None
            y = b[i] if i < len(b) else None
            if x == y:
                continue
            where = f"task {task}, event {i}: expected {x}, got {y}"
            if x is None or y is None:
                kind = str((x or y or (None, "?"))[1])
                return f"{kind} {'extra' if x is None else 'missing'}", where
            if x[1:3] != y[1:3]:
                return f"{x[1]} instead of {y[1]}", where
            if x[0] != y[0]:
                return f"{x[1]} time", where
            names = _FIELDS.get(str(x[1]), ())
            changed = [name for name, u, v in zip(names, x[3:], y[3:], strict=False) if u != v] or [
                "?"
            ]
            return f"{x[1]} {'+'.join(changed)}", where
    if expected.outcome != actual.outcome:
        return "outcome", f"outcome: expected {expected.outcome}, got {actual.outcome}"
    return "?", "no visible difference"


def assert_agrees(program: Program) -> None:
    """For regression tests: the program must be compared and agree."""
    verdict = check(program)
    assert verdict.status == "agree", verdict.report()


def regression_test_source(program: Program, signatures: tuple[str, ...] = ()) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", (signatures[0] if signatures else "divergence").lower())
    body = dump(program).replace("\n", "\n    ")
    doc = "; ".join(signatures) or "divergence"
    return (
        f"def test_{slug.strip('_')}() -> None:\n"
        f'    """{doc}"""\n'
        f"    assert_agrees(\n        {body.replace(chr(10), chr(10) + '    ')}\n    )\n"
    )
