"""What a comparison is made of: systems, scenarios, traces and results.

A *scenario* is one small program written four times, once per programming
model (plain asyncio, plain trio, anyio, unicancel); the anyio and unicancel
variants are each written once and run on both of their backends. A variant
records what it observes in a :class:`Trace`, in backend-neutral words, so
that equal behaviour gives equal text on every system.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Literal

if TYPE_CHECKING:
    from ._kit import Kit

__all__ = [
    "ANYIO_ASYNCIO",
    "ANYIO_TRIO",
    "ASYNCIO",
    "SYSTEMS",
    "TRIO",
    "UNICANCEL_ASYNCIO",
    "UNICANCEL_TRIO",
    "UVLOOP",
    "Entry",
    "PlainVariant",
    "Result",
    "Scenario",
    "Status",
    "System",
    "Trace",
    "UnicancelVariant",
    "comparable",
    "exc_name",
]

PlainVariant = Callable[["Trace"], Awaitable[None]]
UnicancelVariant = Callable[["Trace", "Kit"], Awaitable[None]]
Model = Literal["asyncio", "trio", "anyio", "unicancel"]
Status = Literal["ok", "error", "hang", "missing"]


@dataclass(frozen=True)
class System:
    """One column of the table: a programming model on an event loop."""

    name: str
    #: Which variant of a scenario runs (anyio/unicancel: one variant, two loops).
    model: Model
    #: The event loop underneath: "asyncio", "uvloop" or "trio".
    loop: str
    #: Modules that must be importable; the first missing one is reported.
    requires: tuple[str, ...]
    #: Table header, two short lines.
    header: tuple[str, str]


ASYNCIO: Final = System("asyncio", "asyncio", "asyncio", (), ("asyncio", ""))
UVLOOP: Final = System("uvloop", "asyncio", "uvloop", ("uvloop",), ("asyncio", "+uvloop"))
TRIO: Final = System("trio", "trio", "trio", ("trio",), ("trio", ""))
ANYIO_ASYNCIO: Final = System(
    "anyio-asyncio", "anyio", "asyncio", ("anyio",), ("anyio", "/asyncio")
)
ANYIO_TRIO: Final = System("anyio-trio", "anyio", "trio", ("anyio", "trio"), ("anyio", "/trio"))
UNICANCEL_ASYNCIO: Final = System(
    "unicancel-asyncio", "unicancel", "asyncio", (), ("unicancel", "/asyncio")
)
UNICANCEL_TRIO: Final = System(
    "unicancel-trio", "unicancel", "trio", ("trio",), ("unicancel", "/trio")
)
SYSTEMS: Final = (
    ASYNCIO,
    UVLOOP,
    TRIO,
    ANYIO_ASYNCIO,
    ANYIO_TRIO,
    UNICANCEL_ASYNCIO,
    UNICANCEL_TRIO,
)


@dataclass(frozen=True)
class Scenario:
    """One situation, written idiomatically for each programming model."""

    name: str
    title: str
    #: What the scenario shows, and how each variant is written when that is
    #: not obvious (e.g. a unicancel variant using a native task group).
    description: str
    #: Topics it covers, in words ("timeouts", "cancel-counting"); shown to users.
    covers: tuple[str, ...]
    #: The trace entry whose value is shown in the table.
    headline: str
    asyncio: PlainVariant
    trio: PlainVariant
    anyio: PlainVariant
    unicancel: UnicancelVariant
    #: Systems whose trace differs between Python minor versions, with why.
    python_dependent: Mapping[str, str] = field(default_factory=dict)
    #: The native primitive that the unicancel variant uses on purpose, left
    #: to the backend ("" if none): the scenario shows unicancel next to
    #: behaviour that belongs to the event loop or its own task group, which
    #: may differ between unicancel's two columns (see
    #: ``_report.NATIVE_DISAGREEMENTS``).
    native: str = ""

    def variant(self, model: Model) -> Callable[..., Awaitable[None]]:
        """The function that runs for *model*."""
        fn: Callable[..., Awaitable[None]] = getattr(self, model)
        return fn


def exc_name(exc: BaseException | None) -> str:
    """A backend-neutral name: both cancelled exceptions are "Cancelled";
    exception groups read ``EG[...]`` and list their leaves, sorted (the
    order of children is a scheduling detail)."""
    if exc is None:
        return "nothing"
    if isinstance(exc, BaseExceptionGroup):
        leaves = sorted(exc_name(e) for e in exc.exceptions)
        return f"EG[{', '.join(leaves)}]"
    if isinstance(exc, asyncio.CancelledError):
        return "Cancelled"
    cls = type(exc)
    if cls.__name__ == "Cancelled" and cls.__module__.startswith("trio"):
        return "Cancelled"
    return cls.__name__


def _show(value: object) -> str:
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if isinstance(value, BaseException):
        return exc_name(value)
    return str(value)


#: One trace entry: [what, value] or, for system-specific details that are
#: shown but not compared across systems, [what, value, "info"].
Entry = list[str]


class Trace:
    """What one run observed: an ordered list of entries (see :data:`Entry`)."""

    def __init__(self) -> None:
        self.entries: list[Entry] = []

    def __call__(self, what: str, value: object = "") -> None:
        """Record that *what* was observed with *value* (bools read yes/no,
        exceptions by :func:`exc_name`)."""
        self.entries.append([what, _show(value)])

    def info(self, what: str, value: object = "") -> None:
        """Record a detail only some systems have (``cancelling()``, a scope's
        ``cancelled_caught``...): shown, but left out when traces of
        different systems are compared."""
        self.entries.append([what, _show(value), "info"])

    @staticmethod
    def show(value: object) -> str:
        """How :meth:`__call__` renders *value*."""
        return _show(value)

    def get(self, what: str) -> str | None:
        """The last value recorded for *what*, or None."""
        for entry in reversed(self.entries):
            if entry[0] == what:
                return entry[1]
        return None


def comparable(trace: list[Entry]) -> list[Entry]:
    """The entries compared across systems (without info entries)."""
    return [entry for entry in trace if len(entry) == 2]


@dataclass
class Result:
    """One scenario run on one system."""

    system: str
    status: Status
    #: Value of the scenario's headline entry (or "hang", "missing", ...).
    headline: str
    trace: list[Entry]
    #: Wall time of the run in seconds (not part of any comparison).
    elapsed: float = 0.0
    #: Why the run could not give a trace (missing module, error text).
    detail: str = ""
