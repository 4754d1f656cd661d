"""MkDocs hooks for the documentation site (see mkdocs.yml).

The site reuses files that live outside ``docs/`` rather than copying them:

* ``docs/index.md`` is the README, with its ``docs/...`` links made relative
  to the docs folder (the README keeps links that work on GitHub);
* ``docs/changelog.md`` is CHANGELOG.md;
* ``docs/reference.md`` gets one ``::: unicancel.NAME`` block (rendered by
  mkdocstrings from the docstrings) per name in ``unicancel.__all__``, so a new
  public name cannot be left out.

A page opts in with a marker line, ``<!-- include: README.md -->`` or
``<!-- api-reference -->``; everything else is untouched.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
_INCLUDE = re.compile(r"^<!-- include: (?P<path>[\w./-]+) -->$", re.M)
_REFERENCE = "<!-- api-reference -->"
# Links from a top-level file into docs/ ("docs/api.md#x") and to top-level files.
_DOCS_LINK = re.compile(r"\]\(docs/")
_TOP_LINKS = {"](CHANGELOG.md)": "](changelog.md)", "](README.md)": "](index.md)"}


def _included(path: str) -> str:
    text = (ROOT / path).read_text(encoding="utf-8")
    text = _DOCS_LINK.sub("](", text)
    for old, new in _TOP_LINKS.items():
        text = text.replace(old, new)
    return text


def _public_names() -> list[str]:
    # Read __all__ from the source rather than importing the package, so the
    # site builds from the checkout it documents.
    source = (ROOT / "src" / "unicancel" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r"^__all__ = \[(.*?)\]", source, re.M | re.S)
    assert match, "src/unicancel/__init__.py has no __all__ list"
    return re.findall(r'"(\w+)"', match.group(1))


def reference_markdown() -> str:
    return "\n\n".join(f"::: unicancel.{name}" for name in _public_names()) + "\n"


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    markdown = _INCLUDE.sub(lambda m: _included(m.group("path")), markdown)
    return markdown.replace(_REFERENCE, reference_markdown())
