"""A griffe extension for the API reference (mkdocs.yml): the docstrings are
written with Sphinx roles (``:class:`StopToken```, ``:meth:`cancel```) and
reST literals (````x````); mkdocstrings renders markdown. This turns roles that
name a public object into cross-references (``[`StopToken`][unicancel.StopToken]``)
and everything else into inline code, so no role text reaches the page and no
link points at something the reference does not document.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:class|meth|func|attr|exc|mod|data|obj):`~?(?P<target>[^`]+)`")
_LITERAL = re.compile(r"``(?P<code>[^`]+)``")


class RstRoles(griffe.Extension):
    """Rewrite each docstring of the ``unicancel`` package once it is loaded."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        if pkg.name != "unicancel":
            return
        public = set(pkg.exports or ())
        for obj in _walk(pkg):
            if obj.docstring is not None:
                obj.docstring.value = _rewrite(obj.docstring.value, obj, public, pkg)


def _walk(obj: griffe.Object) -> list[griffe.Object]:
    found = [obj]
    for member in obj.members.values():
        if not member.is_alias:
            found.extend(_walk(member))  # type: ignore[arg-type]
    return found


def _resolve(target: str, obj: griffe.Object, public: set[str], pkg: griffe.Module) -> str | None:
    """The public path ``unicancel.X[.member]`` *target* names, if any."""
    target = target.removeprefix("unicancel.")
    head, _, rest = target.partition(".")
    if head in public:
        try:
            found = pkg[target]
        except (KeyError, griffe.AliasResolutionError):
            return None
        # Members without a docstring are not rendered: nothing to link to.
        return f"unicancel.{target}" if not rest or found.docstring else None
    # A bare member name in a class's docstring (":meth:`cancel`"): a sibling.
    cls = obj if obj.is_class else obj.parent
    if cls is not None and cls.is_class and cls.name in public and "." not in target:
        member = cls.members.get(target)
        if member is not None and member.docstring and not target.startswith("_"):
            return f"unicancel.{cls.name}.{target}"
    return None


def _rewrite(text: str, obj: griffe.Object, public: set[str], pkg: griffe.Module) -> str:
    def role(match: re.Match[str]) -> str:
        target = match.group("target")
        shown = target.rsplit(".", 1)[-1] if match.group(0).count("~") else target
        path = _resolve(target, obj, public, pkg)
        return f"[`{shown}`][{path}]" if path else f"`{shown}`"

    text = _ROLE.sub(role, text)
    return _LITERAL.sub(lambda m: f"`{m.group('code')}`", text)
