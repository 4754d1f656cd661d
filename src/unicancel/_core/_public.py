"""Public classes name the package they are used from."""

from __future__ import annotations

__all__ = ["publish"]


def publish(namespace: dict[str, object]) -> None:
    """Set ``__module__`` of the classes in *namespace*'s ``__all__`` to the
    package's name, not the private module that defines them: reprs,
    tracebacks, pickles and docs then say ``unicancel.CancelScope``, whatever
    the layout inside (as trio does). Pickles find them there too."""
    package = namespace["__name__"]
    assert isinstance(package, str)
    for name in namespace["__all__"]:  # type: ignore[attr-defined]
        obj = namespace[name]
        if isinstance(obj, type):
            obj.__module__ = package
