"""What a program leaves behind: cyclic garbage and global-table entries.

After every run on a unicancel system (docs/differential-testing.md,
"Leftovers"):

* ``gc.collect()`` with ``gc.DEBUG_SAVEALL`` must find no reference cycle
  through a unicancel object in ``gc.garbage``: an instance of a class
  defined in unicancel (``type(obj).__module__`` starts with "unicancel") or
  a frame of unicancel's code (the classic exception -> traceback -> frame ->
  exception cycle). A cancelled or failed scope or group must be freed by
  reference counting alone (issue 11, bug 5). Objects that merely hang off
  somebody else's cycle (trio's runner keeps one) are not unicancel's.
* no module-level table of unicancel (a dict, set, list or deque found by
  introspection) may hold an entry the run added, once the run's loop is
  closed: a task, loop or frame kept there outlives the program (bug 3).
  Weak containers (``WeakKeyDictionary``...) are checked the same way after
  the collection: an entry left there is kept alive by something else.

Cost: before the run, ``gc.freeze()`` moves every existing object to the
permanent generation, so the collection afterwards looks only at what the run
created (well under a millisecond), and the garbage of earlier programs or of
the test runner is never blamed on this one. The garbage collector is
disabled during the run (nothing is collected behind the check's back) and
its state (enabled, debug flags, frozen objects, ``gc.garbage``) is restored.
"""

from __future__ import annotations

import gc
import sys
import weakref
from collections import Counter, deque
from collections.abc import Iterator
from types import FrameType, FunctionType, ModuleType
from typing import Any

__all__ = ["Leftovers"]

_TABLES = (
    dict,
    set,
    list,
    deque,
    weakref.WeakKeyDictionary,
    weakref.WeakValueDictionary,
    weakref.WeakSet,
)
#: Entries of these types are constants (registries of names and factories).
_CONSTANT = (str, bytes, int, float, bool, type(None), type, FunctionType, ModuleType)


#: (qualified name, module, attribute) of every module-level table; recomputed
#: when a module is imported (scanning every module at every run would cost
#: more than the run).
_found: list[tuple[str, ModuleType, str]] = []
_modules_seen = -1  # len(sys.modules) when _found was computed


def _tables() -> Iterator[tuple[str, Any]]:
    global _modules_seen
    if len(sys.modules) != _modules_seen:
        _modules_seen = len(sys.modules)
        _found[:] = [
            (f"{name}.{attr}", module, attr)
            for name, module in list(sys.modules.items())
            if (name == "unicancel" or name.startswith("unicancel."))
            # the comparison catalogue: constant tables, not runtime state
            and not name.startswith("unicancel._compare")
            for attr, value in list(vars(module).items())
            if not attr.startswith("__") and isinstance(value, _TABLES)
        ]
    for qualified, module, attr in _found:
        value = getattr(module, attr, None)
        if isinstance(value, _TABLES):
            yield qualified, value


def _entries(table: Any) -> list[tuple[tuple[int, ...], Any]]:
    """(identity, entry) of every entry: a dict's (key, value) pair, or an item."""
    if isinstance(table, (dict, weakref.WeakKeyDictionary, weakref.WeakValueDictionary)):
        return [((id(k), id(v)), (k, v)) for k, v in list(table.items())]
    return [((id(e),), e) for e in list(table)]


def _is_constant(entry: Any) -> bool:
    parts = entry if isinstance(entry, tuple) else (entry,)
    return all(isinstance(p, _CONSTANT) for p in parts)


class Leftovers:
    """``with Leftovers() as left: run()``; then ``left.found`` lists what the
    run left behind (empty when clean)."""

    def __init__(self) -> None:
        self.found: list[str] = []
        self._before: dict[str, set[tuple[int, ...]]] = {}

    def __enter__(self) -> Leftovers:
        self._enabled = gc.isenabled()
        self._debug = gc.get_debug()
        gc.disable()
        gc.freeze()
        self._before = {name: {i for i, _ in _entries(t)} for name, t in _tables()}
        return self

    def __exit__(self, *exc_info: object) -> None:
        saved = list(gc.garbage)
        gc.garbage.clear()
        try:
            gc.set_debug(gc.DEBUG_SAVEALL)
            gc.collect()
            kinds = Counter(_kind(obj) for obj in _on_cycles(gc.garbage))
            if kinds:
                total = sum(kinds.values())
                listed = ", ".join(f"{k} x{n}" for k, n in sorted(kinds.items()))
                self.found.append(
                    f"cyclic garbage: {total} unicancel object(s) on reference cycles "
                    f"({len(gc.garbage)} unreachable objects in all): {listed}"
                )
        finally:
            gc.set_debug(self._debug)
            gc.garbage.clear()
            gc.collect()  # free what DEBUG_SAVEALL kept
            gc.garbage.extend(saved)
            gc.unfreeze()
            if self._enabled:
                gc.enable()
        for name, table in _tables():
            before = self._before.get(name, set())
            added = [e for i, e in _entries(table) if i not in before and not _is_constant(e)]
            if added:
                shown = ", ".join(_describe(e) for e in added[:3])
                self.found.append(
                    f"global table {name} holds {len(added)} new entr(y/ies): {shown}"
                )


def _ours(obj: object) -> bool:
    if isinstance(obj, FrameType):
        return str(obj.f_globals.get("__name__", "")).startswith("unicancel")
    return type(obj).__module__.startswith("unicancel")


def _kind(obj: object) -> str:
    if isinstance(obj, FrameType):
        return f"frame of {obj.f_globals.get('__name__')}.{obj.f_code.co_qualname}"
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def _on_cycles(garbage: list[Any]) -> list[Any]:
    """The unicancel objects of *garbage* that lie on a reference cycle."""
    inside = {id(obj) for obj in garbage}
    found = []
    for obj in garbage:
        if not _ours(obj):
            continue
        seen: set[int] = set()
        todo = [r for r in gc.get_referents(obj) if id(r) in inside]
        while todo:
            ref = todo.pop()
            if ref is obj:
                found.append(obj)
                break
            if id(ref) in seen:
                continue
            seen.add(id(ref))
            todo.extend(r for r in gc.get_referents(ref) if id(r) in inside)
    return found


def _describe(entry: Any) -> str:
    parts = entry if isinstance(entry, tuple) else (entry,)
    return "(" + ", ".join(type(p).__qualname__ for p in parts) + ")"
