"""Every public name is explicitly re-exported, listed in __all__, documented
and typed (after trio's _tests/test_exports.py)."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import unicancel

INIT = Path(unicancel.__file__)


def test_all_matches_explicit_reexports() -> None:
    tree = ast.parse(INIT.read_text())
    reexported = {
        alias.asname
        for node in tree.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
        if alias.asname == alias.name  # the `import X as X` form
    }
    assert reexported == set(unicancel.__all__)
    assert sorted(unicancel.__all__) == list(unicancel.__all__)


def test_public_names_are_documented() -> None:
    for name in unicancel.__all__:
        obj = getattr(unicancel, name)
        doc = inspect.getdoc(obj)
        assert doc and len(doc) > 20, f"{name} lacks a docstring"
        if inspect.isclass(obj):
            members = getattr(obj, "__members__", {})  # enum members carry no docs
            for attr, value in vars(obj).items():
                if attr.startswith("_") or attr in members:
                    continue
                assert inspect.getdoc(value), f"{name}.{attr} lacks a docstring"


def test_public_callables_are_annotated() -> None:
    for name in unicancel.__all__:
        obj = getattr(unicancel, name)
        if inspect.isclass(obj):
            continue
        sig = inspect.signature(obj)
        assert sig.return_annotation is not inspect.Signature.empty, name
        for param in sig.parameters.values():
            assert param.annotation is not inspect.Parameter.empty, f"{name}({param.name})"


def test_public_classes_report_the_package_as_their_module() -> None:
    """Reprs, tracebacks, pickles and docs name ``unicancel.CancelScope``, not
    the private module that defines it (which may move)."""
    classes = [name for name in unicancel.__all__ if inspect.isclass(getattr(unicancel, name))]
    assert "CancelScope" in classes and "StopRequested" in classes
    for name in classes:
        cls = getattr(unicancel, name)
        assert (cls.__module__, cls.__qualname__) == ("unicancel", name)


def test_py_typed_marker_ships() -> None:
    assert (INIT.parent / "py.typed").exists()
