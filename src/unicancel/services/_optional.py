"""The error raised when an integration's optional dependency is missing."""

from __future__ import annotations


def missing(module: str, extra: str, integration: str) -> ImportError:
    return ImportError(
        f"unicancel: {integration} needs the {module!r} package, which is not installed; "
        f"install it with: pip install 'unicancel[{extra}]'"
    )
